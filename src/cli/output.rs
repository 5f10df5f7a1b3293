//! What commands print and write: the result as text for people, JSON,
//! JUnit XML or Markdown on stdout, and with `--report-dir` every format at once.

use std::path::Path;

use super::Format;
use crate::jobs::bisect::Bisected;
use crate::jobs::check::Checked;
use crate::jobs::error::Error;
use crate::jobs::fix::Replayed;
use crate::report::grid::{Palette, grids, summary_line};
use crate::report::{junit, markdown};
use crate::results::BisectResult;

/// A command's result, in every format it can be written in.
pub(crate) enum Document<'a> {
    Check(&'a Checked),
    Fix(&'a Replayed),
    Bisect(&'a Bisected),
}

impl Document<'_> {
    fn json(&self) -> String {
        let mut text = match self {
            Document::Check(c) => serde_json::to_string_pretty(&c.report),
            Document::Fix(f) => serde_json::to_string_pretty(&f.record),
            Document::Bisect(b) => serde_json::to_string_pretty(&b.record),
        }
        .expect("reports serialise");
        text.push('\n');
        text
    }

    fn junit(&self) -> String {
        match self {
            Document::Check(c) => junit::check(&c.report),
            Document::Fix(f) => junit::fix(&f.record),
            Document::Bisect(b) => junit::bisect(&b.record),
        }
    }

    fn markdown(&self) -> String {
        match self {
            Document::Check(c) => markdown::check(&c.report),
            Document::Fix(f) => markdown::fix(&f.record),
            Document::Bisect(b) => markdown::bisect(&b.record),
        }
    }

    fn human(&self, palette: &Palette) -> String {
        match self {
            Document::Check(c) => check_text(c, palette),
            Document::Fix(f) => fix_text(f, palette),
            Document::Bisect(b) => bisect_text(b),
        }
    }

    /// SARIF for a check; fix and bisect refuse `--format sarif` before they
    /// run (`sarif_is_for_check`), and write no .sarif into --report-dir.
    fn sarif(&self) -> Option<String> {
        let Document::Check(checked) = self else {
            return None;
        };
        let root = crate::revisions::revision::worktree_root(&checked.suite.dir)
            .or_else(|| std::env::current_dir().ok())
            .and_then(|r| r.canonicalize().ok());
        let files: std::collections::HashMap<String, (String, Option<usize>)> = checked
            .cells
            .iter()
            .map(|cell| {
                let (file, line) = checked.suite.pin_location(cell);
                let absolute = file.canonicalize().unwrap_or(file.clone());
                let relative = root
                    .as_ref()
                    .and_then(|r| absolute.strip_prefix(r).ok())
                    .unwrap_or(&file);
                let uri = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                (cell.id.to_string(), (uri, line))
            })
            .collect();
        let locate = |id: &str| files.get(id).cloned();
        Some(crate::report::sarif::check(&checked.report, &locate))
    }

    pub(crate) fn render(&self, format: Format, palette: &Palette) -> String {
        match format {
            Format::Human => self.human(palette),
            Format::Json => self.json(),
            Format::Junit => self.junit(),
            Format::Markdown => self.markdown(),
            Format::Sarif => self.sarif().unwrap_or_else(|| self.json()),
        }
    }

    /// The self-contained HTML page of the result.
    fn html(&self, json: &str) -> Result<String, Error> {
        let value: serde_json::Value = serde_json::from_str(json).expect("the report is JSON");
        crate::report::html::render(&value).map_err(|source| Error::Html {
            path: "report.html".into(),
            source,
        })
    }

    /// Write every format into `dir`: report.json, junit.xml, summary.md,
    /// report.html, and for a check report.sarif.
    pub(crate) fn write_all(&self, dir: &Path) -> Result<(), Error> {
        let json = self.json();
        for (name, text) in [
            ("report.html", self.html(&json)?),
            ("report.json", json),
            ("junit.xml", self.junit()),
            ("summary.md", self.markdown()),
        ]
        .into_iter()
        .chain(self.sarif().map(|sarif| ("report.sarif", sarif)))
        {
            let path = dir.join(name);
            crate::support::files::write_atomically(&path, text.as_bytes())
                .map_err(|source| Error::Write { path, source })?;
        }
        Ok(())
    }
}

/// Print the result on stdout in `format`, and write every format into `report_dir`.
pub(crate) fn emit(
    document: Document<'_>,
    format: Format,
    report_dir: Option<&Path>,
) -> Result<(), Error> {
    super::out(&document.render(format, &Palette::new(super::color_stdout())));
    if let Some(dir) = report_dir {
        document.write_all(dir)?;
    }
    Ok(())
}

/// Emit a fix or bisect result whose record could not be written, before
/// the run fails with why (exit 3): the result is never lost. As text on
/// stdout, or with `--format json` returned, for the one error document to
/// carry under `result`.
pub(crate) fn emit_unrecorded(
    document: Document<'_>,
    format: Format,
    report_dir: Option<&Path>,
) -> Option<Box<serde_json::Value>> {
    if format != Format::Json {
        if let Err(error) = emit(document, format, report_dir) {
            super::print_error(&error);
        }
        return None;
    }
    if let Some(dir) = report_dir
        && let Err(error) = document.write_all(dir)
    {
        super::print_error(&error);
    }
    Some(Box::new(
        serde_json::from_str(&document.json()).expect("the result is JSON"),
    ))
}

fn secs(ms: u128) -> f64 {
    ms as f64 / 1000.0
}

fn check_text(checked: &Checked, palette: &Palette) -> String {
    let report = &checked.report;
    let mut text = grids(&checked.suite, &report.cells, palette);
    let t = &report.timings;
    let target = report
        .target
        .as_ref()
        .map_or("a running server", |t| t.name.as_str());
    let revision = crate::revisions::revision::display_name(
        &report.revision.label,
        report.revision.tag.as_deref(),
    );
    text.push_str(&format!(
        "{} · {} on {target} at {revision}\n",
        summary_line(&report.summary, palette),
        report.suite.name,
    ));
    text.push_str(&format!(
        "time {:.2}s: build {:.2}s, migrate {:.2}s, seed {:.2}s, boot {:.2}s, matrix {:.2}s ({} cells/s), other {:.2}s\n",
        secs(t.total_ms),
        secs(t.build_ms),
        secs(t.migrate_ms),
        secs(t.seed_ms),
        secs(t.boot_ms),
        secs(t.matrix_ms),
        t.cells_per_second,
        secs(t.overhead_ms)
    ));
    let hit = |hit: bool| if hit { "hit" } else { "miss" };
    if report.target.is_some() {
        let c = &report.caches;
        text.push_str(&format!(
            "caches: postgres cluster {}, build environment {}, template database {}\n",
            hit(c.cluster),
            hit(c.build),
            hit(c.template)
        ));
    }
    text
}

fn fix_text(replayed: &Replayed, palette: &Palette) -> String {
    let record = &replayed.record;
    let mut text = format!(
        "fix {} \"{}\" ({})\nparent {} \"{}\"\n",
        record.fix.name(),
        record.fix.subject,
        &record.fix.date[..10],
        record.parent.name(),
        record.parent.subject
    );
    if record.revisions.mode == "overlay" {
        let base = record
            .revisions
            .base
            .as_ref()
            .map_or("?".to_string(), |b| b.name());
        text.push_str(&format!(
            "overlay: {} from each side, on {base}\n",
            record.revisions.paths.join(", ")
        ));
    }
    text.push('\n');
    let by_id: std::collections::HashMap<&str, &crate::results::record::CellRecord> =
        record.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let status = |o: &crate::results::outcome::CellOutcome| {
        o.status.map_or("none".to_string(), |s| s.to_string())
    };
    for (name, ids) in [
        ("RED→GREEN", &record.transitions.red_to_green),
        ("GREEN→RED", &record.transitions.green_to_red),
        ("RED→RED", &record.transitions.red_to_red),
        ("ERROR", &record.transitions.error),
    ] {
        text.push_str(&format!("{name} ({})\n", ids.len()));
        let width = ids.iter().map(|id| id.len()).max().unwrap_or(0);
        for id in ids {
            let cell = by_id[id.as_str()];
            text.push_str(&format!(
                "  {id:width$}  {} → {} (pinned {})\n",
                status(&cell.parent),
                status(&cell.fix),
                cell.pin.status
            ));
            // How to ask a side that is not GREEN again (the record keeps it too).
            for (side, curl) in cell.curl_lines() {
                text.push_str(&format!("      {side}: {curl}\n"));
            }
        }
    }
    text.push_str(&format!(
        "GREEN→GREEN: {}\n",
        crate::support::words::count(record.transitions.green_to_green, "cell")
    ));
    if !record.reason_changes.is_empty() {
        text.push_str(&format!(
            "reason changes ({}), not transitions:\n",
            record.reason_changes.len()
        ));
        for change in &record.reason_changes {
            text.push_str(&format!(
                "  {}  {}: {:?} → {:?}\n",
                change.id,
                change.status,
                change.parent.as_deref().unwrap_or(""),
                change.fix.as_deref().unwrap_or("")
            ));
        }
    }
    let verdict = match record.verdict {
        _ if record.interrupted => "INTERRUPTED".to_string(),
        crate::results::record::FixVerdict::Caught => palette
            .verdict(crate::results::outcome::Verdict::Green)
            .replace("GREEN", "CAUGHT"),
        crate::results::record::FixVerdict::NotCaught => palette
            .verdict(crate::results::outcome::Verdict::Red)
            .replace("RED", "NOT CAUGHT"),
    };
    text.push_str(&format!(
        "\n{verdict}: {} cell{} RED→GREEN",
        record.transitions.red_to_green.len(),
        if record.transitions.red_to_green.len() == 1 {
            ""
        } else {
            "s"
        }
    ));
    if let Some(reason) = &record.reason {
        text.push_str(&format!(" ({reason})"));
    }
    if replayed.unrecorded.is_some() && replayed.record_written {
        text.push_str(&format!(
            "\nrecord {}\ntable {}: NOT UPDATED (the error below says why)\n",
            replayed.record_path.display(),
            replayed.table_path.display()
        ));
        return text;
    }
    if replayed.unrecorded.is_some() {
        text.push_str(&format!(
            "\nrecord {}: NOT WRITTEN (the error below says why; the table is unchanged)\n",
            replayed.record_path.display()
        ));
        return text;
    }
    if record.interrupted {
        text.push_str(&format!("\nrecord {}\n", replayed.record_path.display()));
        return text;
    }
    text.push_str(&format!("\ncaches: {}", fix_caches(&record.run)));
    text.push_str(&format!(
        "\nrecord {}\ntable  {}\n{}\n{}\n",
        replayed.record_path.display(),
        replayed.table_path.display(),
        crate::results::record::TABLE_HEADER,
        crate::results::record::table_row(record)
    ));
    text
}

/// Which caches each side of a replay hit, from the record's `run` section.
fn fix_caches(run: &serde_json::Value) -> String {
    let hit = |v: &serde_json::Value| {
        if v.as_bool() == Some(true) {
            "hit"
        } else {
            "miss"
        }
    };
    let sides = ["parent", "fix"].map(|side| {
        let c = &run["caches"]["sides"][side];
        if c["cells"].as_bool() == Some(true) {
            format!("{side}: cell results hit")
        } else {
            format!(
                "{side}: cell results miss, worktree {}, build {}, template {}",
                hit(&c["worktree"]),
                hit(&c["build"]),
                hit(&c["template"])
            )
        }
    });
    let cluster = match run["caches"]["cluster"].as_bool() {
        Some(cached) => format!("; postgres cluster {}", if cached { "hit" } else { "miss" }),
        None => String::new(),
    };
    format!("{}{cluster}", sides.join("; "))
}

fn bisect_text(bisected: &Bisected) -> String {
    let record = &bisected.record;
    let status = |o: &Option<crate::results::outcome::CellOutcome>| {
        o.as_ref()
            .and_then(|o| o.status)
            .map_or("?".to_string(), |s| s.to_string())
    };
    let mut text = format!(
        "bisect {} (good) .. {} (bad): {} commits, {}{}\n\n",
        record.good.name(),
        record.bad.name(),
        record.commits,
        record.walk,
        if record.interrupted {
            " (INTERRUPTED: the ranges measured so far)"
        } else {
            ""
        }
    );
    if record.cells.is_empty() {
        text.push_str("the ends do not differ on any cell: nothing to search\n");
    } else {
        let width = record
            .cells
            .iter()
            .map(|c| c.id.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let name = |c: &Option<crate::results::record::CommitInfo>| {
            c.as_ref().map_or("?".to_string(), |c| c.name())
        };
        let rows: Vec<(String, String, String)> = record
            .cells
            .iter()
            .map(|cell| {
                let commit = name(&cell.commit);
                let (at, subject) = match cell.result {
                    BisectResult::Found => (
                        commit,
                        cell.commit
                            .as_ref()
                            .map(|c| c.subject.clone())
                            .unwrap_or_default(),
                    ),
                    BisectResult::Range => (
                        format!("{}..{commit}", name(&cell.after)),
                        format!(
                            "one of these; unbootable between: {}",
                            cell.unbootable.join(", ")
                        ),
                    ),
                    BisectResult::Flaky => {
                        ("FLAKY".to_string(), format!("runs disagreed at {commit}"))
                    }
                    BisectResult::Interrupted => (
                        format!("{}..{commit}", name(&cell.after)),
                        "search interrupted: one of these".to_string(),
                    ),
                };
                let change = format!("{} → {}", status(&cell.before), status(&cell.outcome_after));
                (at, change, subject)
            })
            .collect();
        // A tagged commit is named `tag (sha)`: the column grows to fit it.
        let at_width = rows
            .iter()
            .map(|(at, _, _)| at.chars().count())
            .max()
            .unwrap_or(0)
            .max(18);
        text.push_str(&format!(
            "{:width$}  {:<at_width$}  {:<12}  subject\n",
            "cell", "changed at", "before → after"
        ));
        for (cell, (at, change, subject)) in record.cells.iter().zip(&rows) {
            text.push_str(&format!(
                "{:width$}  {at:<at_width$}  {change:<14}  {subject}\n",
                cell.id
            ));
            if let Some(detail) = movement_line(cell) {
                text.push_str(&format!("{:width$}  {detail}\n", ""));
            }
        }
    }
    for dropped in &record.dropped {
        text.push_str(&format!("left out: {} ({})\n", dropped.id, dropped.why));
    }
    let p = &record.probes;
    text.push_str(&format!(
        "\nprobes: {} ends + {} booted, {} from the cache, {} unbootable; {} round{} of up to {} at once (bound k × ceil(log2 N) = {})\nrecord {}{}\n",
        p.ends,
        p.booted,
        p.cached,
        p.unbootable,
        p.rounds,
        if p.rounds == 1 { "" } else { "s" },
        record.parallel,
        p.bound,
        bisected.record_path.display(),
        if bisected.unrecorded.is_some() {
            ": NOT WRITTEN (the error below says why)"
        } else {
            ""
        }
    ));
    text
}

/// Under a bisect answer: which way the cell moved against its pin, and what
/// changed (`regressed (no longer matches pin): check models_flipped: false → true`).
fn movement_line(cell: &crate::results::CellAnswer) -> Option<String> {
    let changes = cell.changes.join(", ");
    match (cell.movement, changes.is_empty()) {
        (Some(movement), true) => Some(movement.label().to_string()),
        (Some(movement), false) => Some(format!("{}: {changes}", movement.label())),
        (None, false) => Some(changes),
        (None, true) => None,
    }
}

/// `--format sarif` is for `replay check`: other commands refuse it before
/// they boot anything.
pub(crate) fn sarif_is_for_check(format: Format, command: &str) -> Result<(), Error> {
    if format == Format::Sarif {
        return Err(Error::usage(
            format!("replay {command} prints human, json, junit or markdown; SARIF is for replay check"),
            Some("pass another --format (the RED cells of one revision are `replay check --format sarif`)".to_string()),
        ));
    }
    Ok(())
}

/// With `--format json`, a command that ends in an error still prints one
/// JSON document, so that a CI job parsing stdout always gets one: kind
/// "error", the exit code, the message and its causes, and for a revision
/// that failed its revision, stage, command, log and (redacted) last lines.
pub(crate) fn error_document(error: &Error) -> String {
    use crate::engine::EngineError;
    use crate::runtime::RuntimeError;
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let runtime = match error {
        Error::Engine(EngineError::Runtime(e))
        | Error::Overlay {
            source: EngineError::Runtime(e),
            ..
        } => Some(e),
        _ => None,
    };
    let (revision, stage) = match runtime {
        Some(RuntimeError::Stage {
            revision, stage, ..
        }) => (Some(revision.clone()), Some(stage.as_str().to_string())),
        Some(RuntimeError::NotReady { revision, .. })
        | Some(RuntimeError::PortTaken { revision, .. }) => {
            (Some(revision.clone()), Some("boot".to_string()))
        }
        _ => match error {
            Error::Engine(EngineError::World { revision, .. }) => {
                (Some(revision.clone()), Some("world".to_string()))
            }
            _ => (None, None),
        },
    };
    let (log, command, tail) = match error.log() {
        Some((log, command, tail)) => (
            Some(log.display().to_string()),
            Some(command.to_string()),
            Some(tail.to_string()),
        ),
        None => (None, None, None),
    };
    let document = serde_json::json!({
        "format_version": crate::results::FORMAT_VERSION,
        "kind": "error",
        "exit_code": error.exit_code(),
        "error": error.to_string(),
        "causes": causes,
        "problems": error.problems().iter().map(|p| serde_json::json!({
            "location": p.location.to_string(),
            "message": p.message,
            "hint": p.hint,
        })).collect::<Vec<_>>(),
        "revision": revision,
        "stage": stage,
        "command": command,
        "log": log,
        "tail": tail,
        "hints": error.hints(),
    });
    let mut document = document;
    if let Error::NotRecorded {
        result: Some(result),
        ..
    } = error
    {
        document["result"] = (**result).clone();
    }
    let mut text = serde_json::to_string_pretty(&document).expect("JSON serialises");
    text.push('\n');
    text
}
