//! Replay records: the JSON result of one fix replay, and the replay table
//! rendered from all the records of a suite.
//!
//! A record is ordered and diffs cleanly: cells in suite order, everything that
//! varies from run to run (timings, cache hits) in its own `run` section.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::results::outcome::{CellOutcome, Verdict, verdict};
use crate::results::upstream::Upstream;
use crate::results::{PinJson, SuiteInfo, TargetInfo};
use crate::suite::Cell;

/// How a cell moved from the parent to the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    /// RED at the parent, GREEN at the fix: the fix is caught here.
    #[serde(rename = "RED→GREEN")]
    RedToGreen,
    #[serde(rename = "GREEN→GREEN")]
    GreenToGreen,
    #[serde(rename = "RED→RED")]
    RedToRed,
    /// GREEN at the parent, RED at the fix: the fix broke a pin.
    #[serde(rename = "GREEN→RED")]
    GreenToRed,
    /// Could not run at one side or the other.
    #[serde(rename = "ERROR")]
    Error,
    /// Pinned `"?"`: what it does at both sides, not yet a pin.
    #[serde(rename = "NEW")]
    New,
}

impl Transition {
    pub fn of(parent: Verdict, fix: Verdict) -> Self {
        match (parent, fix) {
            (Verdict::Red, Verdict::Green) => Self::RedToGreen,
            (Verdict::Green, Verdict::Green) => Self::GreenToGreen,
            (Verdict::Red, Verdict::Red) => Self::RedToRed,
            (Verdict::Green, Verdict::Red) => Self::GreenToRed,
            (Verdict::New, Verdict::New) => Self::New,
            _ => Self::Error,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RedToGreen => "RED→GREEN",
            Self::GreenToGreen => "GREEN→GREEN",
            Self::RedToRed => "RED→RED",
            Self::GreenToRed => "GREEN→RED",
            Self::Error => "ERROR",
            Self::New => "NEW",
        }
    }
}

/// A commit, as a record names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub commit: String,
    pub short: String,
    pub subject: String,
    /// Committer date, RFC 3339 in UTC.
    pub date: String,
    /// A tag that points at the commit (`v1.84.0`); absent when none does, and
    /// in records written before tags were named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl CommitInfo {
    pub fn of(commit: &crate::revisions::revision::Commit) -> Self {
        Self {
            commit: commit.id.to_string(),
            short: commit.short(),
            subject: commit.subject.clone(),
            date: iso_date(commit.time),
            tag: commit.tag.clone(),
        }
    }

    /// How output names it: `v1.84.0 (ab50285)` when it is tagged, else the short sha.
    pub fn name(&self) -> String {
        crate::revisions::revision::display_name(&self.short, self.tag.as_deref())
    }
}

pub(crate) fn iso_date(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// What was booted at each side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revisions {
    /// "whole" (the commits themselves) or "overlay" (`paths` from each side on `base`).
    pub mode: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<CommitInfo>,
    /// The git tree booted at the parent side and at the fix side.
    pub parent_tree: String,
    pub fix_tree: String,
    /// The target's `[[variant]]` each side is built with (chosen by the
    /// files of its tree); absent for the target's own recipe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix_variant: Option<String>,
}

/// One cell at both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    pub id: String,
    pub pin: PinJson,
    pub transition: Transition,
    pub parent: CellOutcome,
    pub fix: CellOutcome,
}

impl CellRecord {
    /// How to ask again each side that is not GREEN: its curl line, by the
    /// side it is for (`parent`, `fix`, or `both sides` when they are one
    /// line). A side that is GREEN keeps none, so a RED→GREEN cell gives the
    /// parent's, a GREEN→RED the fix's.
    pub fn curl_lines(&self) -> Vec<(&'static str, &str)> {
        match (&self.parent.curl, &self.fix.curl) {
            (Some(parent), Some(fix)) if parent == fix => vec![("both sides", parent.as_str())],
            (parent, fix) => [("parent", parent), ("fix", fix)]
                .into_iter()
                .filter_map(|(side, curl)| curl.as_deref().map(|curl| (side, curl)))
                .collect(),
        }
    }
}

/// A denial whose status stayed but whose reason changed: informational.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasonChange {
    pub id: String,
    pub status: u16,
    pub parent: Option<String>,
    pub fix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transitions {
    pub red_to_green: Vec<String>,
    pub green_to_red: Vec<String>,
    pub red_to_red: Vec<String>,
    pub error: Vec<String>,
    pub green_to_green: usize,
    /// Cells pinned `"?"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FixVerdict {
    #[serde(rename = "CAUGHT")]
    Caught,
    #[serde(rename = "NOT CAUGHT")]
    NotCaught,
}

impl FixVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caught => "CAUGHT",
            Self::NotCaught => "NOT CAUGHT",
        }
    }
}

/// The record of one fix replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixRecord {
    pub format_version: u32,
    pub kind: String,
    pub suite: SuiteInfo,
    pub target: TargetInfo,
    pub runtime: String,
    pub fix: CommitInfo,
    pub parent: CommitInfo,
    pub revisions: Revisions,
    /// The scenarios, in order, with their endpoints.
    #[serde(default)]
    pub scenarios: Vec<crate::results::ScenarioInfo>,
    pub verdict: FixVerdict,
    /// Why it is not caught.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The endpoints of the cells that went RED→GREEN (records before this
    /// field was narrowed also list changed cells' endpoints when none did:
    /// the table uses `caught_endpoints`).
    pub endpoints: Vec<String>,
    pub transitions: Transitions,
    pub reason_changes: Vec<ReasonChange>,
    pub cells: Vec<CellRecord>,
    /// The run was interrupted: `cells` holds only those measured at both
    /// sides, and the verdict is not one. Such a record never enters the table.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// What varies from run to run.
    pub run: serde_json::Value,
}

/// Compare both sides cell by cell.
pub(crate) fn classify(
    cells: &[Cell],
    parent: &[CellOutcome],
    fix: &[CellOutcome],
) -> (Vec<CellRecord>, Transitions, Vec<ReasonChange>) {
    let mut records = Vec::new();
    let mut transitions = Transitions {
        red_to_green: vec![],
        green_to_red: vec![],
        red_to_red: vec![],
        error: vec![],
        green_to_green: 0,
        new: vec![],
    };
    let mut reasons = Vec::new();
    for ((cell, before), after) in cells.iter().zip(parent).zip(fix) {
        let id = cell.id.to_string();
        let transition = Transition::of(verdict(&cell.pin, before), verdict(&cell.pin, after));
        match transition {
            Transition::RedToGreen => transitions.red_to_green.push(id.clone()),
            Transition::GreenToRed => transitions.green_to_red.push(id.clone()),
            Transition::RedToRed => transitions.red_to_red.push(id.clone()),
            Transition::Error => transitions.error.push(id.clone()),
            Transition::GreenToGreen => transitions.green_to_green += 1,
            Transition::New => transitions.new.push(id.clone()),
        }
        if let (Some(a), Some(b)) = (before.status, after.status)
            && a == b
            && !(200..300).contains(&a)
            && before.reason != after.reason
        {
            reasons.push(ReasonChange {
                id: id.clone(),
                status: a,
                parent: before.reason.clone(),
                fix: after.reason.clone(),
            });
        }
        records.push(CellRecord {
            id,
            pin: PinJson::from(&cell.pin),
            transition,
            // A side that is not GREEN keeps how to ask it again: its curl
            // line, whose secrets and run values are environment variables
            // (the same at every run, so records still diff cleanly).
            parent: before.clone().kept_for(&cell.pin),
            fix: after.clone().kept_for(&cell.pin),
        });
    }
    (records, transitions, reasons)
}

/// CAUGHT: at least one cell RED→GREEN, none GREEN→RED, and none ERROR (a
/// cell that could not run may hide a GREEN→RED: a CAUGHT must not rest on it).
pub(crate) fn judge(transitions: &Transitions) -> (FixVerdict, Option<String>) {
    if !transitions.green_to_red.is_empty() {
        let n = transitions.green_to_red.len();
        return (
            FixVerdict::NotCaught,
            Some(format!(
                "{n} cell{} went GREEN→RED: the fix broke {}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "a pin" } else { "pins" }
            )),
        );
    }
    if !transitions.error.is_empty() {
        let n = transitions.error.len();
        return (
            FixVerdict::NotCaught,
            Some(format!(
                "{n} cell{} could not run (ERROR): {} hide a GREEN→RED",
                if n == 1 { "" } else { "s" },
                if n == 1 { "it could" } else { "they could" }
            )),
        );
    }
    if transitions.red_to_green.is_empty() {
        return (
            FixVerdict::NotCaught,
            Some("no cell went RED→GREEN: the suite does not see this change".into()),
        );
    }
    (FixVerdict::Caught, None)
}

/// Where the records of a suite live.
pub fn records_dir(root: &Path, suite: &str) -> PathBuf {
    root.join(suite)
}

/// The file of a record: `<short-sha>.json` (`<short-sha>-overlay.json` for overlays).
pub fn record_path(dir: &Path, record: &FixRecord) -> PathBuf {
    let suffix = if record.revisions.mode == "overlay" {
        "-overlay"
    } else {
        ""
    };
    // An interrupted replay never replaces a finished record.
    let partial = if record.interrupted {
        "-interrupted"
    } else {
        ""
    };
    dir.join(format!("{}{suffix}{partial}.json", record.fix.short))
}

/// The fix record in a file, with the file's bytes; `None` when the file is
/// JSON of another kind (a check report, a bisect record).
pub fn read_fix(path: &Path) -> Result<Option<(FixRecord, Vec<u8>)>, RecordError> {
    let bytes = std::fs::read(path).map_err(|source| RecordError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| RecordError::NotJson {
            path: path.to_path_buf(),
        })?;
    if value.get("kind").and_then(|k| k.as_str()) != Some("fix") {
        return Ok(None);
    }
    let record: FixRecord = serde_json::from_value(value).map_err(|e| RecordError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if !record.interrupted {
        recheck(&record).map_err(|message| RecordError::Disagrees {
            path: path.to_path_buf(),
            message,
        })?;
    }
    Ok(Some((record, bytes)))
}

/// Recompute a record's transitions and verdict from its cells' pins and
/// outcomes: a record whose verdict its own cells do not make (edited by hand,
/// written by a broken tool) is refused, never rendered.
pub(crate) fn recheck(record: &FixRecord) -> Result<(), String> {
    let mut transitions = Transitions {
        red_to_green: vec![],
        green_to_red: vec![],
        red_to_red: vec![],
        error: vec![],
        green_to_green: 0,
        new: vec![],
    };
    for cell in &record.cells {
        let pin = crate::suite::Pin {
            status: cell.pin.status,
            responses: cell.pin.responses.clone(),
            unknown: cell.pin.unknown,
        };
        let transition = Transition::of(verdict(&pin, &cell.parent), verdict(&pin, &cell.fix));
        if transition != cell.transition {
            return Err(format!(
                "cell {} says {} but its pin and outcomes make {}",
                cell.id,
                cell.transition.as_str(),
                transition.as_str()
            ));
        }
        let id = cell.id.clone();
        match transition {
            Transition::RedToGreen => transitions.red_to_green.push(id),
            Transition::GreenToRed => transitions.green_to_red.push(id),
            Transition::RedToRed => transitions.red_to_red.push(id),
            Transition::Error => transitions.error.push(id),
            Transition::GreenToGreen => transitions.green_to_green += 1,
            Transition::New => transitions.new.push(id),
        }
    }
    if transitions != record.transitions {
        return Err("its transitions are not those of its cells".into());
    }
    let (verdict, _) = judge(&transitions);
    if verdict != record.verdict {
        return Err(format!(
            "it says {} but its cells make {}",
            record.verdict.as_str(),
            verdict.as_str()
        ));
    }
    Ok(())
}

/// Every record in a folder, oldest fix first.
pub fn load_records(dir: &Path) -> Result<Vec<FixRecord>, RecordError> {
    let mut records = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(records);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for path in paths {
        if let Some((record, _)) = read_fix(&path)? {
            if record.interrupted {
                tracing::info!(
                    "{} is an interrupted replay: not in the table",
                    path.display()
                );
                continue;
            }
            records.push(record);
        }
    }
    records.sort_by(|a, b| {
        a.fix
            .date
            .cmp(&b.fix.date)
            .then(a.fix.commit.cmp(&b.fix.commit))
            .then(a.revisions.mode.cmp(&b.revisions.mode))
    });
    Ok(records)
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a replay record: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{} is not a replay record: not JSON", path.display())]
    NotJson { path: PathBuf },
    #[error("{}:{line}: {message}", path.display())]
    Upstream {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{} disagrees with itself: {message}", path.display())]
    Disagrees { path: PathBuf, message: String },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FixRecord {
    /// The endpoints of the cells that went RED→GREEN, in scenario order,
    /// from the cells themselves (so that older records render the same).
    pub fn caught_endpoints(&self) -> Vec<String> {
        if self.scenarios.is_empty() {
            return if self.transitions.red_to_green.is_empty() {
                Vec::new()
            } else {
                self.endpoints.clone()
            };
        }
        let mut out = Vec::new();
        for scenario in &self.scenarios {
            let caught = self
                .transitions
                .red_to_green
                .iter()
                .any(|id| id.split('/').next() == Some(scenario.name.as_str()));
            let endpoint = scenario
                .endpoint
                .clone()
                .unwrap_or_else(|| scenario.name.clone());
            if caught && !out.contains(&endpoint) {
                out.push(endpoint);
            }
        }
        out
    }
}

/// One row of the replay table.
pub fn table_row(record: &FixRecord) -> String {
    let mode = match record.revisions.mode.as_str() {
        "overlay" => format!("overlay: {}", record.revisions.paths.join(", ")),
        other => other.to_string(),
    };
    format!(
        "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
        record.fix.name(),
        &record.fix.date[..record.fix.date.len().min(10)],
        crate::support::markdown::escape(&record.fix.subject),
        match record.caught_endpoints() {
            endpoints if endpoints.is_empty() => "—".to_string(),
            endpoints => crate::support::markdown::escape(&endpoints.join(", ")),
        },
        record.transitions.red_to_green.len(),
        crate::support::markdown::escape(&changed_cells(record)),
        record.verdict.as_str(),
        mode
    )
}

pub const TABLE_HEADER: &str = "| fix | date | subject | endpoints | cells RED→GREEN | cells changed: before → after (against the pin) | verdict | mode |\n|---|---|---|---|---:|---|---|---|";

/// How one cell's outcome reads at one side, for the table: its status, or
/// (when the status is the same at both sides) the first check, followup or
/// response that differs.
fn before_after(cell: &CellRecord) -> (String, String) {
    let status = |s: Option<u16>| s.map_or("none".to_string(), |s| s.to_string());
    moved(cell).unwrap_or_else(|| (status(cell.parent.status), status(cell.fix.status)))
}

/// What differs between a cell's two sides, in what the pins can say (the
/// status, then the first check, followup or response): `None` when nothing
/// does (a denial's reason or body text may still differ).
fn moved(cell: &CellRecord) -> Option<(String, String)> {
    let status = |s: Option<u16>| s.map_or("none".to_string(), |s| s.to_string());
    let (before, after) = (&cell.parent, &cell.fix);
    if before.status != after.status {
        return Some((status(before.status), status(after.status)));
    }
    let pairs = before
        .checks
        .iter()
        .chain(&before.followups)
        .map(|e| (e.name.as_str(), &e.observed));
    for (name, seen) in pairs {
        let other = after
            .checks
            .iter()
            .chain(&after.followups)
            .find(|e| e.name == name)
            .map(|e| &e.observed);
        if other != Some(seen) {
            let other = other.map_or("none".to_string(), |v| v.to_string());
            return Some((format!("{name} {seen}"), format!("{name} {other}")));
        }
    }
    for (name, seen) in &before.responses {
        let other = after.responses.get(name);
        if other != Some(seen) {
            let other = other.map_or("none".to_string(), response_value);
            return Some((
                format!("{name} {}", response_value(seen)),
                format!("{name} {other}"),
            ));
        }
    }
    None
}

/// A response value as the table shows it: its JSON, cut at 60 characters.
fn response_value(value: &serde_json::Value) -> String {
    crate::support::redact::excerpt(&value.to_string(), 60)
}

/// The cells a replay changed, grouped by scenario/target and by the change:
/// `key_update/self/* 200 → 403 (fix)`, where `*` is every actor of that
/// scenario and target in the record (plain text: the table escapes it,
/// observed values included); a RED→GREEN cell is a fix (it now matches its
/// pin), a GREEN→RED one a regression (it stopped matching), a RED→RED one
/// whose outcome moved is changed (the pin matches neither side; the words
/// of `replay bisect`). Cells that could not run at a side are counted at the end.
pub fn changed_cells(record: &FixRecord) -> String {
    // (scenario/target, before, after, kind) → actors, in record order.
    type Change = (String, String, String, &'static str);
    let mut groups: Vec<(Change, Vec<String>)> = Vec::new();
    let mut errors = 0;
    for cell in &record.cells {
        let kind = match cell.transition {
            Transition::RedToGreen => "fix",
            Transition::GreenToRed => "regression",
            Transition::RedToRed if moved(cell).is_some() => "changed",
            Transition::Error => {
                errors += 1;
                continue;
            }
            _ => continue,
        };
        let (prefix, actor) = cell.id.rsplit_once('/').unwrap_or(("", cell.id.as_str()));
        let (before, after) = before_after(cell);
        let key = (prefix.to_string(), before, after, kind);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, actors)) => actors.push(actor.to_string()),
            None => groups.push((key, vec![actor.to_string()])),
        }
    }
    let mut parts: Vec<String> = groups
        .into_iter()
        .map(|((prefix, before, after, kind), actors)| {
            let all = record
                .cells
                .iter()
                .filter(|c| c.id.rsplit_once('/').is_some_and(|(p, _)| p == prefix))
                .count();
            let who = match actors.as_slice() {
                [one] if all > 1 => one.clone(),
                _ if actors.len() == all => "*".to_string(),
                many => format!("{{{}}}", many.join(",")),
            };
            format!("{prefix}/{who} {before} → {after} ({kind})")
        })
        .collect();
    if errors > 0 {
        parts.push(format!("{errors} ERROR"));
    }
    if parts.is_empty() {
        "—".to_string()
    } else {
        parts.join("; ")
    }
}

/// The replay table of a suite, rendered from its records; with the folder's
/// `upstream.toml`, the header compares the rows' cell flips with the cells
/// the upstream record names.
pub fn render_table(suite: &str, records: &[FixRecord], upstream: Option<&Upstream>) -> String {
    let mut out = format!(
        "# Replay table: {suite}\n\nEvery row is measured: `replay <fix>` booted the fix's parent and the fix against fresh\ndatabases and ran the pinned matrix on both. Rendered from the records in this folder by\n`replay table`; do not edit by hand.\n\n"
    );
    // Nothing to compare before the first row.
    if let Some(upstream) = upstream.filter(|_| !records.is_empty()) {
        out.push_str(&crate::results::upstream::header(upstream, records));
        out.push('\n');
    }
    out.push_str(TABLE_HEADER);
    out.push('\n');
    for record in records {
        out.push_str(&table_row(record));
        out.push('\n');
    }
    out
}

/// Write a record atomically (its folder's table is [`write_table`]'s).
pub fn write(dir: &Path, record: &FixRecord) -> Result<PathBuf, RecordError> {
    let path = record_path(dir, record);
    let mut text = serde_json::to_string_pretty(record).expect("records serialise");
    text.push('\n');
    crate::support::files::write_atomically(&path, text.as_bytes()).map_err(|source| {
        RecordError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// Regenerate `README.md` in a records folder.
pub fn write_table(dir: &Path, suite: &str) -> Result<PathBuf, RecordError> {
    let records = load_records(dir)?;
    let upstream = Upstream::load(dir)?;
    let path = dir.join("README.md");
    let table = render_table(suite, &records, upstream.as_ref());
    crate::support::files::write_atomically(&path, table.as_bytes()).map_err(|source| {
        RecordError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// A fully cached rerun reproduces `previous` (the record at its path): keep
/// the timings and caches `previous` measured, and put the rerun's own beside
/// them as `run.rerun`. A record that does not reproduce `previous` keeps its
/// own `run`.
pub fn keep_first_measurement(record: &mut FixRecord, previous: &FixRecord) -> bool {
    if without_run(record) != without_run(previous) || !previous.run.is_object() {
        return false;
    }
    let first = previous
        .run
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "rerun");
    let mut run: serde_json::Map<String, serde_json::Value> = first.collect();
    run.insert("rerun".into(), record.run.clone());
    record.run = serde_json::Value::Object(run);
    true
}

/// The record without what varies from run to run: for comparing two replays.
pub fn without_run(record: &FixRecord) -> FixRecord {
    FixRecord {
        run: serde_json::Value::Null,
        ..record.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_rerun_keeps_the_first_measurement() {
        let record = |run: serde_json::Value, verdict: FixVerdict| FixRecord {
            format_version: crate::results::info::FORMAT_VERSION,
            kind: "fix".into(),
            suite: crate::results::SuiteInfo {
                name: "s".into(),
                hash: "h".into(),
            },
            target: serde_json::from_value(serde_json::json!({"name": "t", "hash": "h"})).unwrap(),
            runtime: "local".into(),
            fix: serde_json::from_value(
                serde_json::json!({"commit": "c", "short": "c", "subject": "s", "date": "d"}),
            )
            .unwrap(),
            parent: serde_json::from_value(
                serde_json::json!({"commit": "p", "short": "p", "subject": "s", "date": "d"}),
            )
            .unwrap(),
            revisions: Revisions {
                mode: "whole".into(),
                paths: vec![],
                base: None,
                parent_tree: "a".into(),
                fix_tree: "b".into(),
                parent_variant: None,
                fix_variant: None,
            },
            scenarios: vec![],
            verdict,
            reason: None,
            endpoints: vec![],
            transitions: t(1, 0),
            reason_changes: vec![],
            cells: vec![],
            interrupted: false,
            run,
        };
        let measured =
            serde_json::json!({"timings": {"total_ms": 9000}, "caches": {"cluster": false}});
        let first = record(measured.clone(), FixVerdict::Caught);
        let rerun = serde_json::json!({"timings": {"total_ms": 40}, "caches": {"sides": {"parent": {"cells": true}}}});
        let mut again = record(rerun.clone(), FixVerdict::Caught);
        assert!(keep_first_measurement(&mut again, &first));
        assert_eq!(again.run["timings"], measured["timings"]);
        assert_eq!(again.run["caches"], measured["caches"]);
        assert_eq!(again.run["rerun"], rerun);
        // A third run keeps the first measurement, and its own rerun timing.
        let mut third = record(
            serde_json::json!({"timings": {"total_ms": 35}}),
            FixVerdict::Caught,
        );
        assert!(keep_first_measurement(&mut third, &again));
        assert_eq!(third.run["timings"]["total_ms"], 9000);
        assert_eq!(third.run["rerun"]["timings"]["total_ms"], 35);
        // A record that differs keeps its own run.
        let mut other = record(rerun.clone(), FixVerdict::NotCaught);
        assert!(!keep_first_measurement(&mut other, &first));
        assert_eq!(other.run, rerun);
    }

    fn t(red_to_green: usize, green_to_red: usize) -> Transitions {
        Transitions {
            red_to_green: (0..red_to_green).map(|i| format!("s/t/a{i}")).collect(),
            green_to_red: (0..green_to_red).map(|i| format!("s/t/b{i}")).collect(),
            red_to_red: vec![],
            error: vec![],
            green_to_green: 3,
            new: vec![],
        }
    }

    #[test]
    fn the_table_names_the_endpoints_of_the_red_to_green_cells_only() {
        let caught: FixRecord =
            serde_json::from_str(include_str!("../../tests/data/fix-record.json")).unwrap();
        assert!(!caught.transitions.red_to_red.is_empty());
        assert_eq!(caught.caught_endpoints(), ["POST /key/update"]);
        assert!(table_row(&caught).contains("| POST /key/update | 6 | key"));
        // Not caught: the RED→RED cell of /key/info is not where it shows up.
        let mut not_caught = caught.clone();
        not_caught.transitions.red_to_green.clear();
        not_caught.endpoints = vec!["GET /key/info".into()];
        not_caught.verdict = FixVerdict::NotCaught;
        assert!(not_caught.caught_endpoints().is_empty());
        let row = table_row(&not_caught);
        assert!(row.contains("| — | 0 | key"), "{row}");
        assert!(row.contains(" | NOT CAUGHT |"), "{row}");
    }

    #[test]
    fn the_table_names_each_changed_cell_with_before_after_and_fix_or_regression() {
        let caught: FixRecord =
            serde_json::from_str(include_str!("../../tests/data/fix-record.json")).unwrap();
        let six =
            "team_admin,internal_user,owner,unrelated_same_org,cross_org_user,service_account";
        assert_eq!(
            changed_cells(&caught),
            format!("key_update/self/{{{six}}} 200 → 403 (fix)")
        );
        assert!(
            table_row(&caught).contains(&format!(
                "| key\\_update/self/{{{}}} 200 → 403 (fix) | CAUGHT |",
                six.replace('_', "\\_")
            )),
            "{}",
            table_row(&caught)
        );
        // The same release read backwards: the cells stop matching their pins.
        let mut regressed = caught.clone();
        for cell in &mut regressed.cells {
            std::mem::swap(&mut cell.parent, &mut cell.fix);
            if cell.transition == Transition::RedToGreen {
                cell.transition = Transition::GreenToRed;
            }
        }
        assert_eq!(
            changed_cells(&regressed),
            format!("key_update/self/{{{six}}} 403 → 200 (regression)")
        );
        // Every actor of the scenario and target changed: `*`. A cell whose
        // status stayed shows the check that moved; one that could not run is counted.
        let mut all = caught.clone();
        all.cells.retain(|c| {
            !c.id.starts_with("key_update/self/") || c.transition == Transition::RedToGreen
        });
        all.cells[0].transition = Transition::Error;
        let first = all
            .cells
            .iter()
            .position(|c| c.transition == Transition::RedToGreen)
            .unwrap();
        all.cells[first].fix.status = all.cells[first].parent.status;
        assert_eq!(
            changed_cells(&all),
            format!(
                "key_update/self/{} models_flipped true → models_flipped false (fix); \
                 key_update/self/{{{}}} 200 → 403 (fix); 1 ERROR",
                all.cells[first].id.rsplit('/').next().unwrap(),
                six.split(',').skip(1).collect::<Vec<_>>().join(",")
            )
        );
        all.cells[first].fix.status = Some(403);
        assert!(changed_cells(&all).starts_with("key_update/self/* 200 → 403 (fix)"));
        // Nothing moved across a pin.
        let mut none = caught;
        none.cells
            .retain(|c| c.transition == Transition::GreenToGreen);
        assert_eq!(changed_cells(&none), "—");
    }

    #[test]
    fn the_table_names_a_red_cell_whose_outcome_moved_as_changed() {
        let caught: FixRecord =
            serde_json::from_str(include_str!("../../tests/data/fix-record.json")).unwrap();
        let six =
            "team_admin,internal_user,owner,unrelated_same_org,cross_org_user,service_account";
        // A RED→RED cell with the same outcome at both sides is not listed.
        let still = caught
            .cells
            .iter()
            .find(|c| c.transition == Transition::RedToRed)
            .expect("the record has a RED→RED cell")
            .id
            .clone();
        assert_eq!(
            changed_cells(&caught),
            format!("key_update/self/{{{six}}} 200 → 403 (fix)")
        );
        // One whose status moved, the pin matching neither side (v1.80.17's
        // cross-organisation /key/regenerate: 200 → 403, pinned 401), is.
        let mut moved = caught.clone();
        let cell = moved.cells.iter_mut().find(|c| c.id == still).unwrap();
        cell.fix.status = Some(403);
        let (prefix, actor) = still.rsplit_once('/').unwrap();
        assert_eq!(
            changed_cells(&moved),
            format!(
                "{prefix}/{actor} 200 → 403 (changed); key_update/self/{{{six}}} 200 → 403 (fix)"
            )
        );
        assert_eq!(moved.transitions.red_to_green.len(), 6, "no flip is added");
        // A response value that moved reads with its values (v1.83.7's alias filter).
        let mut listed = caught.clone();
        let cell = listed.cells.iter_mut().find(|c| c.id == still).unwrap();
        cell.parent
            .responses
            .insert("aliases".into(), serde_json::json!([]));
        cell.fix
            .responses
            .insert("aliases".into(), serde_json::json!(["<scratch>-sub-a"]));
        assert!(
            changed_cells(&listed).starts_with(&format!(
                "{prefix}/{actor} aliases [] → aliases [\"<scratch>-sub-a\"] (changed); "
            )),
            "{}",
            changed_cells(&listed)
        );
    }

    #[test]
    fn the_table_header_says_when_the_rows_flip_more_cells_than_the_upstream_record_names() {
        let caught: FixRecord =
            serde_json::from_str(include_str!("../../tests/data/fix-record.json")).unwrap();
        let upstream = crate::results::upstream::Upstream {
            path: PathBuf::from("upstream.toml"),
            record: "regression_replay/README.md".into(),
            fixes: vec![crate::results::upstream::UpstreamFix {
                name: "c7c3df2b02".into(),
                cells: vec!["key_update/self/*".into()],
            }],
        };
        // Without an upstream file, or without a row, no comparison.
        let plain = render_table("litellm", std::slice::from_ref(&caught), None);
        assert!(!plain.contains("upstream"), "{plain}");
        let empty = render_table("litellm", &[], Some(&upstream));
        assert!(!empty.contains("upstream"), "{empty}");
        // The upstream record names all six.
        let same = render_table("litellm", std::slice::from_ref(&caught), Some(&upstream));
        assert!(
            same.contains(
                "The upstream record (regression\\_replay/README.md) names every cell flip below: \
                 6 in 1 row (c7c3df2b02: `key_update/self/*`)."
            ),
            "{same}"
        );
        assert!(!same.contains("More flips"), "{same}");
        // A second release flips two cells it does not name, and one it does.
        let mut other = caught.clone();
        other.fix.tag = Some("v1.81.0".into());
        other.fix.short = "abc1234".into();
        other.transitions.red_to_green = vec!["key_delete/owner/internal_user".into()];
        other.transitions.green_to_red = vec![
            "key_regenerate/cross_org/owner".into(),
            "key_update/self/owner".into(),
        ];
        let more = render_table("litellm", &[other, caught], Some(&upstream));
        let header = more.lines().find(|l| l.contains("More flips")).unwrap();
        assert_eq!(
            header,
            "**More flips than the upstream record mentions.** The rows below hold 9 cell flips \
             (a cell RED→GREEN or GREEN→RED against its pin); the upstream record \
             (regression\\_replay/README.md) names 7 of them: c7c3df2b02: `key_update/self/*`. \
             The other 2, by row: `v1.81.0 (abc1234)` 2."
        );
        // The header stands above the table.
        assert!(more.find("More flips").unwrap() < more.find(TABLE_HEADER).unwrap());
    }

    #[test]
    fn caught_needs_a_red_to_green_and_no_green_to_red() {
        assert_eq!(judge(&t(6, 0)).0, FixVerdict::Caught);
        let (verdict, reason) = judge(&t(0, 0));
        assert_eq!(verdict, FixVerdict::NotCaught);
        assert!(reason.unwrap().contains("no cell went RED→GREEN"));
        let (verdict, reason) = judge(&t(2, 1));
        assert_eq!(verdict, FixVerdict::NotCaught);
        assert!(reason.unwrap().contains("1 cell went GREEN→RED"));
        let mut errored = t(6, 0);
        errored.error.push("s/t/c".into());
        let (verdict, reason) = judge(&errored);
        assert_eq!(verdict, FixVerdict::NotCaught);
        assert!(reason.unwrap().contains("1 cell could not run (ERROR)"));
    }

    #[test]
    fn transitions_follow_the_verdicts() {
        assert_eq!(
            Transition::of(Verdict::Red, Verdict::Green),
            Transition::RedToGreen
        );
        assert_eq!(
            Transition::of(Verdict::Green, Verdict::Red),
            Transition::GreenToRed
        );
        assert_eq!(
            Transition::of(Verdict::Error, Verdict::Green),
            Transition::Error
        );
        assert_eq!(
            serde_json::to_string(&Transition::RedToGreen).unwrap(),
            "\"RED→GREEN\""
        );
    }

    #[test]
    fn a_changed_denial_reason_is_listed_apart_from_the_transitions() {
        use crate::suite::{CellId, Pin};
        let cell = |id: &str, status| Cell {
            id: CellId::parse(id).unwrap(),
            scenario: 0,
            pin: Pin {
                status,
                unknown: false,
                responses: Default::default(),
            },
        };
        let seen = |status, reason: Option<&str>| CellOutcome {
            status: Some(status),
            reason: reason.map(String::from),
            ..CellOutcome::default()
        };
        let cells = [
            cell("s/t/denied", 403),
            cell("s/t/fixed", 403),
            cell("s/t/allowed", 200),
        ];
        let parent = [
            seen(403, Some("not yours")),
            seen(200, None),
            seen(200, None),
        ];
        let fix = [
            seen(403, Some("only the owner or a team admin")),
            seen(403, Some("only the owner or a team admin")),
            seen(200, None),
        ];
        let (records, transitions, reasons) = classify(&cells, &parent, &fix);
        assert_eq!(transitions.red_to_green, ["s/t/fixed"]);
        assert_eq!(transitions.green_to_green, 2);
        assert_eq!(
            reasons,
            [ReasonChange {
                id: "s/t/denied".into(),
                status: 403,
                parent: Some("not yours".into()),
                fix: Some("only the owner or a team admin".into())
            }]
        );
        assert_eq!(records[0].transition, Transition::GreenToGreen);
    }

    #[test]
    fn a_record_whose_verdict_its_cells_do_not_make_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("replays/litellm");
        let name = std::fs::read_dir(&committed)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(".json"))
            .unwrap();
        let text = std::fs::read_to_string(committed.join(&name)).unwrap();
        let path = dir.path().join(&name);
        std::fs::write(&path, &text).unwrap();
        let (record, _) = read_fix(&path).unwrap().unwrap();
        // The verdict flipped by hand.
        let mut flipped = record.clone();
        flipped.verdict = match record.verdict {
            FixVerdict::Caught => FixVerdict::NotCaught,
            FixVerdict::NotCaught => FixVerdict::Caught,
        };
        std::fs::write(&path, serde_json::to_string(&flipped).unwrap()).unwrap();
        let error = read_fix(&path).unwrap_err();
        assert!(matches!(error, RecordError::Disagrees { .. }), "{error}");
        assert!(error.to_string().contains(&name), "{error}");
        // A cell's outcome changed, its transition kept.
        let mut edited = record.clone();
        edited.cells[0].fix.status = Some(599);
        std::fs::write(&path, serde_json::to_string(&edited).unwrap()).unwrap();
        assert!(matches!(
            read_fix(&path),
            Err(RecordError::Disagrees { .. })
        ));
        assert!(matches!(
            load_records(dir.path()),
            Err(RecordError::Disagrees { .. })
        ));
    }

    #[test]
    fn a_subject_cannot_inject_markdown_into_the_table() {
        let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("replays/litellm");
        let path = std::fs::read_dir(&committed)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "json"))
            .unwrap();
        let (mut record, _) = read_fix(&path).unwrap().unwrap();
        record.fix.subject = "fix | [pwn](https://evil.test) <img src=x> @team\n# owned".into();
        let row = table_row(&record);
        assert!(
            row.contains(
                "fix \\| \\[pwn\\](https://evil.test) &lt;img src=x&gt; &#64;team &#35; owned"
            ),
            "{row}"
        );
        assert_eq!(row.matches(" | ").count(), 7, "{row}");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(iso_date(1_767_603_600), "2026-01-05T09:00:00Z");
    }
}
