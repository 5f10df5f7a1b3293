//! The HTML report: one self-contained page (inline CSS, no script, nothing
//! fetched) rendered from a JSON document the tool wrote.
//!
//! The document's `kind` picks the page: `check` (a grid per scenario, each
//! cell against its pin), `fix` (parent and fix in one grid per scenario, the
//! cells that went RED→GREEN marked `caught`, GREEN→RED `broke`) or `bisect`
//! (each searched cell with the commit that changed it).
//!
//! Grids are laid out from the cell ids alone (`scenario/target/actor`, in the
//! order they appear), so a record renders without its suite.

use std::collections::HashMap;
use std::path::Path;

use indexmap::{IndexMap, IndexSet};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use serde_json::Value;

use crate::results::outcome::{CellOutcome, Verdict, differences};
use crate::results::record::{CellRecord, CommitInfo, FixRecord, FixVerdict, Transition};
use crate::results::{BisectRecord, CellAnswer};
use crate::results::{CellReport, CheckReport, FORMAT_VERSION, PinJson};
use crate::suite::{CellId, Pin};

/// Why a document cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("cannot read it")]
    Read(#[source] std::io::Error),
    #[error("it is not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("the document is {found}, not a JSON object")]
    NotAnObject { found: &'static str },
    #[error("the document has no \"kind\"")]
    NoKind,
    #[error("unknown kind {kind} (replay renders \"check\", \"fix\", \"bisect\" and \"mutants\")")]
    UnknownKind {
        /// The kind as it is written in the document (JSON).
        kind: String,
    },
    #[error("format_version {found}, but this replay reads version {FORMAT_VERSION}")]
    FormatVersion { found: String },
    #[error("not a valid {kind} document: {message}")]
    Invalid { kind: &'static str, message: String },
    #[error("cell id {id:?} is not scenario/target/actor")]
    CellId { id: String },
}

/// Read a JSON document and render it.
pub fn render_file(path: &Path) -> Result<String, HtmlError> {
    let bytes = std::fs::read(path).map_err(HtmlError::Read)?;
    let document: Value = serde_json::from_slice(&bytes).map_err(HtmlError::NotJson)?;
    render(&document)
}

/// The page of a document written by `replay check --format json`,
/// `replay <fix>` or `replay bisect`, picked by its `kind`.
pub fn render(document: &Value) -> Result<String, HtmlError> {
    let Value::Object(fields) = document else {
        return Err(HtmlError::NotAnObject {
            found: json_type(document),
        });
    };
    let kind = match fields.get("kind") {
        None => return Err(HtmlError::NoKind),
        Some(Value::String(kind))
            if ["check", "fix", "bisect", "mutants"].contains(&kind.as_str()) =>
        {
            kind.as_str()
        }
        Some(other) => {
            return Err(HtmlError::UnknownKind {
                kind: other.to_string(),
            });
        }
    };
    if let Some(version) = fields.get("format_version")
        && version.as_u64() != Some(u64::from(FORMAT_VERSION))
    {
        return Err(HtmlError::FormatVersion {
            found: version.to_string(),
        });
    }
    let page = match kind {
        "check" => check_page(&parse(document, "check")?)?,
        "fix" => fix_page(&parse(document, "fix")?)?,
        "mutants" => page(
            "replay mutate",
            crate::report::mutants::html(&parse(document, "mutants")?),
        ),
        _ => bisect_page(&parse(document, "bisect")?),
    };
    Ok(page.into_string())
}

fn parse<'a, T: Deserialize<'a>>(document: &'a Value, kind: &'static str) -> Result<T, HtmlError> {
    T::deserialize(document).map_err(|e| HtmlError::Invalid {
        kind,
        message: e.to_string(),
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const CSS: &str = r#"
body { font-family: "DejaVu Sans", "Liberation Sans", system-ui, sans-serif; font-size: 15px;
  color: #1b1b1b; background: #fff; margin: 24px 32px; line-height: 1.35; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 17px; margin: 28px 0 6px; }
code, .code, td.cell, table.grid th { font-family: "DejaVu Sans Mono", "Liberation Mono", ui-monospace, monospace; }
table.facts { border-collapse: collapse; margin-bottom: 8px; }
table.facts th { text-align: left; color: #555; font-weight: 600; padding: 2px 16px 2px 0; vertical-align: top; }
table.facts td { padding: 2px 0; }
.sha { background: #eee; padding: 0 4px; border-radius: 3px; }
.tag { background: #e3ecfa; color: #1a3d7c; padding: 0 5px; border-radius: 3px; font-weight: 600; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 3px; font-weight: 700; }
.badge.caught { background: #1f7a1f; color: #fff; }
.badge.not-caught { background: #b01c1c; color: #fff; }
table.grid { border-collapse: collapse; margin: 4px 0 6px; }
table.grid th, table.grid td { border: 1px solid #c8c8c8; padding: 4px 8px; }
table.grid thead th { background: #f0f0f0; font-size: 13px; font-weight: 600; }
table.grid tbody th { background: #f7f7f7; font-size: 13px; font-weight: normal; text-align: left; }
table.grid th.corner { color: #777; font-weight: normal; }
td.cell { text-align: center; min-width: 64px; font-size: 14px; }
td.cell small { display: block; font-size: 11px; color: #333; }
td.cell .arrow { color: #666; }
td.green, .key.green { background: #d6efd6; }
td.red, .key.red { background: #f6c9c9; }
td.error, .key.error { background: #ffe1a6; }
td.not-run, .key.not-run { background: #e2e2e2; color: #555; }
td.unpinned, .key.unpinned { background: #fbfbfb; color: #aaa; text-align: center; }
td.left-out, .key.left-out { background: #fbfbfb; color: #777; text-align: center; }
td.caught, .key.caught { background: #7fcf7f; font-weight: 700; box-shadow: inset 0 0 0 2px #1f7a1f; }
td.broke, .key.broke { background: #e57373; font-weight: 700; box-shadow: inset 0 0 0 2px #8b0000; }
td.found, .key.found { background: #d6efd6; }
td.range, .key.range, td.interrupted { background: #ffe1a6; }
td.flaky, .key.flaky { background: #e2e2e2; }
td.fixed, .key.fixed { background: #d6efd6; }
td.regressed, .key.regressed { background: #f6c9c9; font-weight: 700; }
td.changed, td.both-match, .key.changed { background: #fff3c4; }
ul.notes { margin: 4px 0 0; padding-left: 20px; font-size: 13px; }
ul.notes code { font-size: 12px; }
ul.notes code.curl { display: inline-block; white-space: pre-wrap; word-break: break-all; background: #f4f4f4; padding: 2px 4px; margin: 2px 0; }
.legend { font-size: 13px; color: #444; margin: 8px 0; }
.key { display: inline-block; padding: 1px 8px; margin-right: 6px; border: 1px solid #c8c8c8; border-radius: 3px; }
.key.zero { background: #fff; color: #888; font-weight: normal; box-shadow: none; }
.scenarios { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 0 36px; }
section.scenario { max-width: 600px; }
.muted { color: #666; }
footer { margin-top: 28px; font-size: 12px; color: #777; }
"#;

/// The page around a body.
pub(crate) fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                (body)
                footer { "Rendered by replay " (env!("CARGO_PKG_VERSION")) " from a format_version " (FORMAT_VERSION) " document." }
            }
        }
    }
}

/// The cells of one scenario: targets across and actors down, each in the
/// order of its first appearance.
struct Grid<'a, C> {
    scenario: String,
    targets: IndexSet<String>,
    actors: IndexSet<String>,
    cells: HashMap<(String, String), &'a C>,
}

/// Grids for the scenarios of `cells`, in the order they first appear.
fn grids<'a, C>(cells: &'a [C], id: impl Fn(&C) -> &str) -> Result<Vec<Grid<'a, C>>, HtmlError> {
    let mut grids: IndexMap<String, Grid<'a, C>> = IndexMap::new();
    for cell in cells {
        let text = id(cell);
        let parsed = CellId::parse(text).ok_or_else(|| HtmlError::CellId { id: text.into() })?;
        let grid = grids
            .entry(parsed.scenario.clone())
            .or_insert_with(|| Grid {
                scenario: parsed.scenario.clone(),
                targets: IndexSet::new(),
                actors: IndexSet::new(),
                cells: HashMap::new(),
            });
        grid.targets.insert(parsed.target.clone());
        grid.actors.insert(parsed.actor.clone());
        grid.cells.insert((parsed.target, parsed.actor), cell);
    }
    Ok(grids.into_values().collect())
}

/// One grid as a table; `cell` renders each pinned position as a `<td>`.
/// A scenario's grid; a gap is a cell that is not pinned, or one that is
/// pinned but was `left_out` by a filter (drawn apart: `~`).
fn grid_table<C>(grid: &Grid<'_, C>, cell: impl Fn(&C) -> Markup, left_out: &[String]) -> Markup {
    html! {
        table.grid data-scenario=(grid.scenario) {
            thead {
                tr {
                    th.corner scope="col" { "actor \\ target" }
                    @for target in &grid.targets {
                        th scope="col" { (target) }
                    }
                }
            }
            tbody {
                @for actor in &grid.actors {
                    tr {
                        th scope="row" { (actor) }
                        @for target in &grid.targets {
                            @match grid.cells.get(&(target.clone(), actor.clone())) {
                                Some(c) => (cell(c)),
                                None if left_out.contains(&format!("{}/{target}/{actor}", grid.scenario)) => {
                                    td.left-out title="pinned, not run this time (left out by a filter)" { "~" }
                                }
                                None => td.unpinned title="not pinned" { "·" },
                            }
                        }
                    }
                }
            }
        }
    }
}

fn commit(info: &CommitInfo) -> Markup {
    html! {
        @if let Some(tag) = &info.tag { span.tag { (tag) } " " }
        code.sha title=(info.commit) { (info.short) } " " (info.subject)
        span.muted { " (" (info.date.get(..10).unwrap_or(&info.date)) ")" }
    }
}

/// A commit's tag before its sha, when it has one.
fn tag_of(info: &Option<CommitInfo>) -> Markup {
    html! {
        @if let Some(tag) = info.as_ref().and_then(|c| c.tag.as_ref()) { span.tag { (tag) } " " }
    }
}

fn status_text(status: Option<u16>) -> String {
    status.map_or_else(|| "none".to_string(), |s| s.to_string())
}

fn pin_of(pin: &PinJson) -> Pin {
    Pin {
        status: pin.status,
        unknown: pin.unknown,
        responses: pin.responses.clone(),
    }
}

// check

fn check_page(report: &CheckReport) -> Result<Markup, HtmlError> {
    let grids = grids(&report.cells, |c| &c.id)?;
    let target = report
        .target
        .as_ref()
        .map_or("a running server", |t| t.name.as_str());
    let s = &report.summary;
    // Named as everywhere else: `v1.84.0 (ab50285)` when a tag points at it.
    let title = format!(
        "replay check: {} on {target} at {}",
        report.suite.name,
        crate::revisions::revision::display_name(
            &report.revision.label,
            report.revision.tag.as_deref()
        )
    );
    let t = &report.timings;
    let body = html! {
        h1 { (title) }
        table.facts {
            tr { th { "suite" } td { (report.suite.name) " " span.muted { code { (short_hash(&report.suite.hash)) } } } }
            tr { th { "target" } td { (target) " " span.muted { "(" (report.runtime) " runtime)" } } }
            tr {
                th { "revision" }
                td {
                    @if let Some(tag) = &report.revision.tag { span.tag { (tag) } " " }
                    (report.revision.label)
                    @if let Some(commit) = &report.revision.commit {
                        @if !commit.starts_with(&report.revision.label) {
                            " " code.sha title=(commit) { (commit.get(..7).unwrap_or(commit)) }
                        }
                    }
                    @if let Some(subject) = &report.revision.subject {
                        " " (subject)
                    }
                }
            }
            tr {
                th { "cells" }
                td.counts {
                    (s.cells) " cells: "
                    (count(s.green, "GREEN", "green"))
                    (count(s.red, "RED", "red"))
                    (count(s.error, "ERROR", "error"))
                    @if s.not_run > 0 { (count(s.not_run, "not run", "not-run")) }
                    @if report.interrupted { strong { "interrupted" } }
                }
            }
        }
        p.legend {
            span.key.green { "GREEN" }
            span.key.red { "RED" }
            span.key.error { "ERROR" }
            span.key.not-run { "not run" }
            span.key.unpinned { "· not pinned" }
            @if !report.left_out.is_empty() { span.key.left-out { "~ pinned, left out by a filter" } }
            "Each cell shows the status seen; \"pinned\" is what the suite expects where it differs."
        }
        div.scenarios {
            @for grid in &grids {
                section.scenario data-scenario=(grid.scenario) {
                    h2 { (grid.scenario) }
                    (grid_table(grid, check_cell, &report.left_out))
                    (check_notes(&report.cells, &grid.scenario))
                }
            }
        }
        p.muted {
            "time " (secs(t.total_ms)) ": build " (secs(t.build_ms)) ", migrate " (secs(t.migrate_ms))
            ", seed " (secs(t.seed_ms)) ", boot " (secs(t.boot_ms)) ", matrix " (secs(t.matrix_ms))
            " (" (t.cells_per_second) " cells/s)"
        }
    };
    Ok(page(&title, body))
}

fn secs(ms: u128) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn check_cell(cell: &CellReport) -> Markup {
    let (class, label) = match cell.verdict {
        Some(Verdict::Green) => ("green", "GREEN"),
        Some(Verdict::Red) => ("red", "RED"),
        Some(Verdict::Error) => ("error", "ERROR"),
        Some(Verdict::New) => ("new", "NEW"),
        None => ("not-run", "not run"),
    };
    let mut title = format!("{}: {label}", cell.id);
    for difference in &cell.differences {
        title.push('\n');
        title.push_str(difference);
    }
    let observed = cell.outcome.as_ref().and_then(|o| o.status);
    let pinned = cell.pin.status;
    html! {
        td class={ "cell " (class) } data-cell=(cell.id) title=(title) {
            @match (cell.verdict, observed) {
                (None, _) => { span.code { "–" } small { "pinned " (pinned) } }
                (Some(Verdict::Error), _) => { span.code { "ERR" } small { "pinned " (pinned) } }
                (Some(Verdict::New), _) => { span.code { (status_text(observed)) } small { "new" } }
                (_, Some(status)) if status != pinned => { span.code { (status) } small { "pinned " (pinned) } }
                (Some(Verdict::Red), _) => {
                    span.code { (status_text(observed)) }
                    small { (plural(cell.differences.len(), "difference")) }
                }
                _ => span.code { (status_text(observed)) },
            }
        }
    }
}

/// The cells of a scenario that are not GREEN, grouped by how they fail
/// ("3 cells: status 404 (pinned 403) — reason "Route not found""), each
/// with the start of its body and a curl line to ask again.
fn check_notes(cells: &[CellReport], scenario: &str) -> Markup {
    let prefix = format!("{scenario}/");
    let mut groups: IndexMap<(String, String), Vec<&CellReport>> = IndexMap::new();
    for cell in cells
        .iter()
        .filter(|c| c.id.starts_with(&prefix) && c.verdict != Some(Verdict::Green))
    {
        let verdict = cell.verdict.map_or("not run", Verdict::as_str).to_string();
        groups
            .entry((verdict, cell.failure_key()))
            .or_default()
            .push(cell);
    }
    html! {
        @if !groups.is_empty() {
            ul.notes {
                @for ((verdict, key), members) in &groups {
                    li.group data-cells=(members.len()) {
                        strong { (verdict) } " " (plural(members.len(), "cell"))
                        @if !key.is_empty() { ": " (key) }
                        ul {
                            @for cell in members {
                                li {
                                    code { (cell.id) }
                                    @for line in cell.why().iter().filter(|l| l.starts_with("body ")) {
                                        " " span.muted { (line) }
                                    }
                                    @if let Some(curl) = cell.outcome.as_ref().and_then(|o| o.curl.as_ref()) {
                                        br; code.curl { (curl) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `6 RED→GREEN`, coloured like the cells it counts; a zero is not coloured.
fn count(n: usize, what: &str, class: &str) -> Markup {
    html! {
        span.key.(class).zero[n == 0] { (n) " " (what) }
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

// fix

fn transition_class(transition: Transition) -> &'static str {
    match transition {
        Transition::RedToGreen => "caught",
        Transition::GreenToRed => "broke",
        Transition::GreenToGreen => "green",
        Transition::RedToRed => "red",
        Transition::Error => "error",
        Transition::New => "new",
    }
}

fn fix_page(record: &FixRecord) -> Result<Markup, HtmlError> {
    let grids = grids(&record.cells, |c| &c.id)?;
    let t = &record.transitions;
    let (verdict_class, verdict) = match record.verdict {
        FixVerdict::Caught => ("caught", "CAUGHT"),
        FixVerdict::NotCaught => ("not-caught", "NOT CAUGHT"),
    };
    let title = format!(
        "replay {}: {} — {verdict}",
        record.fix.name(),
        record.fix.subject
    );
    let body = html! {
        h1 { "replay " @if let Some(tag) = &record.fix.tag { span.tag { (tag) } " " } code.sha { (record.fix.short) } " " span class={ "badge " (verdict_class) } { (verdict) } }
        table.facts {
            tr { th { "fix" } td { (commit(&record.fix)) } }
            tr { th { "parent" } td { (commit(&record.parent)) } }
            tr {
                th { "mode" }
                td {
                    (record.revisions.mode)
                    @if record.revisions.mode == "overlay" {
                        ": " code { (record.revisions.paths.join(", ")) } " from each side"
                        @if let Some(base) = &record.revisions.base { ", on " (commit(base)) }
                    }
                }
            }
            tr { th { "suite" } td { (record.suite.name) " on " (record.target.name) " " span.muted { "(" (record.runtime) " runtime)" } } }
            tr {
                th { "verdict" }
                td {
                    span class={ "badge " (verdict_class) } { (verdict) }
                    @if let Some(reason) = &record.reason { " " (reason) }
                }
            }
            tr {
                th { "cells" }
                td.counts {
                    (count(t.red_to_green.len(), "RED→GREEN", "caught"))
                    (count(t.green_to_red.len(), "GREEN→RED", "broke"))
                    (count(t.red_to_red.len(), "RED→RED", "red"))
                    (count(t.error.len(), "ERROR", "error"))
                    (count(t.green_to_green, "GREEN→GREEN", "green"))
                }
            }
            @let caught = record.caught_endpoints();
            @if !caught.is_empty() {
                tr { th { "caught on" } td { code { (caught.join(", ")) } } }
            }
        }
        p.legend {
            span.key.caught { "caught: RED→GREEN" }
            span.key.broke { "broke: GREEN→RED" }
            span.key.green { "GREEN→GREEN" }
            span.key.red { "RED→RED" }
            span.key.error { "ERROR" }
            "Each cell shows the status at the parent → at the fix."
        }
        div.scenarios {
            @for grid in &grids {
                section.scenario data-scenario=(grid.scenario) {
                    h2 { (grid.scenario) }
                    (grid_table(grid, fix_cell, &[]))
                    (fix_notes(&record.cells, &grid.scenario))
                }
            }
        }
        @if !record.reason_changes.is_empty() {
            h2 { "Denial reasons that changed (not transitions)" }
            ul.notes {
                @for change in &record.reason_changes {
                    li {
                        code { (change.id) } " " (change.status) ": "
                        q { (change.parent.as_deref().unwrap_or("")) } " → "
                        q { (change.fix.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    };
    Ok(page(&title, body))
}

fn side_title(side: &str, pin: &Pin, outcome: &CellOutcome) -> String {
    let found = differences(pin, outcome);
    if found.is_empty() {
        format!("{side}: as pinned")
    } else {
        format!("{side}: {}", found.join("; "))
    }
}

fn fix_cell(cell: &CellRecord) -> Markup {
    let pin = pin_of(&cell.pin);
    let title = format!(
        "{}: {}\n{}\n{}",
        cell.id,
        cell.transition.as_str(),
        side_title("parent", &pin, &cell.parent),
        side_title("fix", &pin, &cell.fix)
    );
    let status = |o: &CellOutcome| {
        if o.error.is_some() {
            "ERR".to_string()
        } else {
            status_text(o.status)
        }
    };
    let off_pin = cell.parent.status != Some(pin.status) || cell.fix.status != Some(pin.status);
    html! {
        td class={ "cell " (transition_class(cell.transition)) } data-cell=(cell.id) title=(title) {
            span.code.parent { (status(&cell.parent)) }
            span.arrow { " → " }
            span.code.fix { (status(&cell.fix)) }
            @if off_pin { small { "pinned " (pin.status) } }
        }
    }
}

/// The cells of a scenario that did not stay GREEN, with what each side did
/// and the curl line of each side that is not GREEN.
fn fix_notes(cells: &[CellRecord], scenario: &str) -> Markup {
    let prefix = format!("{scenario}/");
    let notes: Vec<&CellRecord> = cells
        .iter()
        .filter(|c| c.id.starts_with(&prefix) && c.transition != Transition::GreenToGreen)
        .collect();
    html! {
        @if !notes.is_empty() {
            ul.notes {
                @for cell in notes {
                    @let pin = pin_of(&cell.pin);
                    li {
                        code { (cell.id) } " " strong { (cell.transition.as_str()) } " — "
                        (side_title("parent", &pin, &cell.parent)) "; "
                        (side_title("fix", &pin, &cell.fix))
                        // How to ask again each side that is not GREEN.
                        @for (side, curl) in cell.curl_lines() {
                            br; span.muted.side { (side) ": " } code.curl data-side=(side) { (curl) }
                        }
                    }
                }
            }
        }
    }
}

// bisect

fn bisect_page(record: &BisectRecord) -> Markup {
    let title = format!(
        "replay bisect {}..{}: {}",
        record.good.name(),
        record.bad.name(),
        plural(record.cells.len(), "cell")
    );
    let p = &record.probes;
    let body = html! {
        h1 { "replay bisect " code.sha { (record.good.short) } " .. " code.sha { (record.bad.short) } }
        table.facts {
            tr { th { "good" } td { (commit(&record.good)) } }
            tr { th { "bad" } td { (commit(&record.bad)) } }
            tr {
                th { "range" }
                td {
                    (record.commits) " commits, " (record.walk)
                    @if !record.paths.is_empty() { "; only " code { (record.paths.join(", ")) } ", laid on the bad end" }
                    "; each probed cell run " (plural(record.repeat, "time"))
                }
            }
            tr { th { "suite" } td { (record.suite.name) " on " (record.target.name) " " span.muted { "(" (record.runtime) " runtime)" } } }
            tr {
                th { "probes" }
                td {
                    (p.ends) " ends + " (p.booted) " booted, " (p.cached) " from the cache, "
                    (p.unbootable) " unbootable; " (plural(p.rounds, "round")) " of up to " (record.parallel)
                    " at once (bound k × ⌈log2 N⌉ = " (p.bound) ")"
                }
            }
        }
        @if record.cells.is_empty() {
            p { "The ends do not differ on any cell: nothing to search." }
        } @else {
            p.legend {
                span.key.found { "found" } "the first commit with the changed outcome "
                span.key.range { "range" } "commits that could not boot hide which one "
                span.key.flaky { "FLAKY" } "the cell's runs disagreed"
                br;
                span.key.fixed { "fixed" } "now matches its pin "
                span.key.regressed { "regressed" } "no longer matches its pin "
                span.key.changed { "changed" } "the pin matches neither side (or both)"
            }
            table.grid.bisect {
                thead {
                    tr {
                        th scope="col" { "cell" }
                        th scope="col" { "before → after" }
                        th scope="col" { "against the pin" }
                        th scope="col" { "changed at" }
                        th scope="col" { "subject" }
                    }
                }
                tbody {
                    @for cell in &record.cells { (bisect_row(cell)) }
                }
            }
        }
        @if !record.dropped.is_empty() {
            h2 { "Left out" }
            ul.notes {
                @for dropped in &record.dropped {
                    li { code { (dropped.id) } ": " (dropped.why) }
                }
            }
        }
    };
    page(&title, body)
}

fn bisect_row(cell: &CellAnswer) -> Markup {
    let status = |o: &Option<CellOutcome>| status_text(o.as_ref().and_then(|o| o.status));
    let class = cell.result.as_str();
    // A regression is drawn red, a fix green: never the same colour.
    let cell_class = match cell.movement {
        Some(movement) => format!("cell {class} {}", movement.as_str()),
        None => format!("cell {class}"),
    };
    let short = cell.commit.as_ref().map_or("?", |c| c.short.as_str());
    let full = cell.commit.as_ref().map_or("", |c| c.commit.as_str());
    html! {
        tr {
            th scope="row" { (cell.id) }
            td class=(cell_class) data-cell=(cell.id) title={ (cell.id) ": " (cell.result) } {
                @if class == "flaky" { "FLAKY" } @else { (status(&cell.before)) span.arrow { " → " } (status(&cell.outcome_after)) }
            }
            @let moved = cell.movement.map_or("", |m| m.as_str());
            td class={ "movement " (moved) } data-movement=(moved) {
                @if let Some(movement) = cell.movement { strong { (movement.label()) } }
                @if !cell.changes.is_empty() {
                    @if cell.movement.is_some() { br; }
                    small { (cell.changes.join(", ")) }
                }
            }
            @match class {
                "found" => {
                    td { (tag_of(&cell.commit)) code.sha title=(full) { (short) } }
                    td { (cell.commit.as_ref().map_or("", |c| c.subject.as_str())) }
                }
                "range" | "interrupted" => {
                    td {
                        code.sha { (cell.after.as_ref().map_or("?", |c| c.short.as_str())) }
                        " .. " (tag_of(&cell.commit)) code.sha title=(full) { (short) }
                    }
                    td {
                        @if class == "interrupted" {
                            "one of these; the search was interrupted"
                        } @else {
                            "one of these; could not boot in between: "
                            code { (cell.unbootable.join(", ")) }
                        }
                    }
                }
                _ => {
                    td { code.sha title=(full) { (short) } }
                    td { "its runs disagreed here" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fix_document(subject: &str) -> Value {
        let commit = |short: &str, subject: &str| json!({ "commit": format!("{short}000"), "short": short, "subject": subject, "date": "2026-01-08T03:00:00Z" });
        let outcome = |status: u16| json!({ "status": status, "body": "" });
        json!({
            "format_version": 1,
            "kind": "fix",
            "suite": { "name": "s", "hash": "h" },
            "target": { "name": "twin", "hash": "h" },
            "runtime": "local",
            "fix": commit("b95d4bf", subject),
            "parent": commit("d8603a6", "parent"),
            "revisions": { "mode": "whole", "parent_tree": "a", "fix_tree": "b" },
            "verdict": "CAUGHT",
            "endpoints": ["POST /key/update"],
            "transitions": { "red_to_green": ["u/self/owner"], "green_to_red": [], "red_to_red": [], "error": [], "green_to_green": 1 },
            "reason_changes": [],
            "cells": [
                { "id": "u/self/owner", "pin": { "status": 403 }, "transition": "RED→GREEN", "parent": outcome(200), "fix": outcome(403) },
                { "id": "u/self/admin", "pin": { "status": 200 }, "transition": "GREEN→GREEN", "parent": outcome(200), "fix": outcome(200) },
                { "id": "u/other/admin", "pin": { "status": 200 }, "transition": "GREEN→GREEN", "parent": outcome(200), "fix": outcome(200) }
            ],
            "run": {}
        })
    }

    #[test]
    fn a_subject_is_escaped() {
        let page = render(&fix_document("<script>alert(1)</script> & co")).unwrap();
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    }

    #[test]
    fn a_fix_marks_the_cells_that_went_red_to_green_and_leaves_gaps_unpinned() {
        let page = render(&fix_document("s")).unwrap();
        assert_eq!(page.matches("class=\"cell caught\"").count(), 1);
        assert_eq!(page.matches("class=\"cell green\"").count(), 2);
        // u/other/owner is not pinned.
        assert_eq!(page.matches("class=\"unpinned\"").count(), 1);
        assert!(page.contains("data-cell=\"u/self/owner\""));
        assert!(page.contains("pinned 403"));
        assert!(page.contains("CAUGHT"));
        for external in ["<script", "<link", "src=", "http://", "https://"] {
            assert!(!page.contains(external), "{external} in the page");
        }
    }

    #[test]
    fn an_unknown_kind_is_named() {
        let error = render(&json!({ "kind": "junit", "format_version": 1 })).unwrap_err();
        assert!(matches!(error, HtmlError::UnknownKind { .. }));
        assert_eq!(
            error.to_string(),
            "unknown kind \"junit\" (replay renders \"check\", \"fix\", \"bisect\" and \"mutants\")"
        );
        assert!(matches!(
            render(&json!({ "format_version": 1 })),
            Err(HtmlError::NoKind)
        ));
        assert_eq!(
            render(&json!([1])).unwrap_err().to_string(),
            "the document is an array, not a JSON object"
        );
        assert_eq!(
            render(&json!({ "kind": 7 })).unwrap_err().to_string(),
            "unknown kind 7 (replay renders \"check\", \"fix\", \"bisect\" and \"mutants\")"
        );
    }

    #[test]
    fn a_document_of_another_version_or_shape_is_refused() {
        let mut document = fix_document("s");
        document["format_version"] = json!(2);
        assert_eq!(
            render(&document).unwrap_err().to_string(),
            "format_version 2, but this replay reads version 1"
        );
        let error = render(&json!({ "kind": "check", "format_version": 1 })).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("not a valid check document: missing field"),
            "{error}"
        );
        let mut document = fix_document("s");
        document["cells"][0]["id"] = json!("no-slashes");
        assert!(matches!(
            render(&document),
            Err(HtmlError::CellId { id }) if id == "no-slashes"
        ));
    }

    fn check_cell_json(id: &str, verdict: Value, pinned: u16, seen: Value) -> Value {
        let mut cell = json!({ "id": id, "verdict": verdict, "pin": { "status": pinned } });
        if !seen.is_null() {
            cell["outcome"] = seen;
        }
        cell
    }

    #[test]
    fn a_check_shows_each_verdict_and_the_pin_where_it_differs() {
        let document = json!({
            "format_version": 1,
            "kind": "check",
            "suite": { "name": "s", "hash": "h" },
            "runtime": "local",
            "revision": { "label": "working tree" },
            "summary": { "cells": 4, "green": 1, "red": 1, "error": 1, "not_run": 1 },
            "interrupted": true,
            "cells": [
                check_cell_json("a/t/x", json!("GREEN"), 200, json!({ "status": 200, "body": "" })),
                check_cell_json("a/t/y", json!("RED"), 403, json!({ "status": 200, "body": "" })),
                check_cell_json("a/u/x", json!("ERROR"), 403, json!({ "status": null, "body": "", "error": "connection refused" })),
                check_cell_json("b/t/x", Value::Null, 403, Value::Null),
            ],
            "caches": { "cluster": true, "build": true, "template": true },
            "timings": { "total_ms": 1, "postgres_ms": 0, "build_ms": 0, "migrate_ms": 0, "seed_ms": 0,
                         "boot_ms": 0, "matrix_ms": 0, "overhead_ms": 0, "cells_per_second": 0.0 }
        });
        let page = render(&document).unwrap();
        for class in ["green", "red", "error", "not-run"] {
            assert_eq!(
                page.matches(&format!("class=\"cell {class}\"")).count(),
                1,
                "{class}"
            );
        }
        // a/u/y is not pinned.
        assert_eq!(page.matches("class=\"unpinned\"").count(), 1);
        assert!(page.contains("<span class=\"code\">200</span><small>pinned 403</small>"));
        assert!(page.contains("a running server"));
        assert!(page.contains("interrupted"));
    }

    #[test]
    fn a_check_page_title_names_the_tag_of_its_revision() {
        let document = json!({
            "format_version": 1,
            "kind": "check",
            "suite": { "name": "s", "hash": "h" },
            "runtime": "local",
            "revision": { "label": "ab50285", "commit": "ab50285000", "tag": "v1.84.0" },
            "summary": { "cells": 1, "green": 1, "red": 0, "error": 0, "not_run": 0 },
            "interrupted": false,
            "cells": [
                check_cell_json("a/t/x", json!("GREEN"), 200, json!({ "status": 200, "body": "" })),
            ],
            "caches": { "cluster": true, "build": true, "template": true },
            "timings": { "total_ms": 1, "postgres_ms": 0, "build_ms": 0, "migrate_ms": 0, "seed_ms": 0,
                         "boot_ms": 0, "matrix_ms": 0, "overhead_ms": 0, "cells_per_second": 0.0 }
        });
        let page = render(&document).unwrap();
        let title = "replay check: s on a running server at v1.84.0 (ab50285)";
        assert!(page.contains(&format!("<title>{title}</title>")), "{page}");
        assert!(page.contains(&format!("<h1>{title}</h1>")), "{page}");
    }

    #[test]
    fn a_bisect_names_each_culprit_and_a_range_its_ends() {
        let commit = |short: &str| json!({ "commit": format!("{short}000"), "short": short, "subject": format!("subject of {short}"), "date": "2026-01-08T03:00:00Z" });
        let document = json!({
            "format_version": 1,
            "kind": "bisect",
            "suite": { "name": "s", "hash": "h" },
            "target": { "name": "twin", "hash": "h" },
            "runtime": "local",
            "good": commit("aaaaaaa"),
            "bad": commit("bbbbbbb"),
            "walk": "first-parent",
            "commits": 9,
            "repeat": 1,
            "parallel": 2,
            "cells": [
                { "id": "a/t/x", "result": "found", "commit": commit("ccccccc"),
                  "before": { "status": 403, "body": "" }, "outcome_after": { "status": 200, "body": "" } },
                { "id": "a/t/y", "result": "range", "commit": commit("eeeeeee"), "after": commit("ddddddd"),
                  "unbootable": ["1111111"],
                  "before": { "status": 403, "body": "" }, "outcome_after": { "status": 200, "body": "" } },
                { "id": "a/t/z", "result": "flaky", "commit": commit("fffffff") }
            ],
            "dropped": [{ "id": "a/t/w", "why": "its runs disagree at an end (FLAKY)" }],
            "probes": { "ends": 2, "booted": 3, "cached": 1, "unbootable": 1, "rounds": 2, "bound": 8 },
            "run": {}
        });
        let page = render(&document).unwrap();
        assert_eq!(page.matches("class=\"cell found\"").count(), 1);
        assert_eq!(page.matches("class=\"cell range\"").count(), 1);
        assert_eq!(page.matches("class=\"cell flaky\"").count(), 1);
        assert!(page.contains("subject of ccccccc"));
        assert!(page.contains("ddddddd"));
        assert!(page.contains("1111111"));
        assert!(page.contains("its runs disagree at an end"));
        assert!(page.contains("3 booted"));
    }

    #[test]
    fn a_bisect_draws_a_regression_apart_from_a_fix() {
        let commit = |short: &str| json!({ "commit": format!("{short}000"), "short": short, "subject": "s", "date": "2026-01-08T03:00:00Z", "tag": "v1.2" });
        let cell = |id: &str, pin: u16, movement: &str| {
            json!({
                "id": id, "result": "found", "commit": commit("ccccccc"),
                "before": { "status": 403, "body": "" }, "outcome_after": { "status": 200, "body": "" },
                "pin": { "status": pin }, "movement": movement, "changes": ["status 403 → 200"]
            })
        };
        let document = json!({
            "format_version": 1, "kind": "bisect",
            "suite": { "name": "s", "hash": "h" }, "target": { "name": "twin", "hash": "h" },
            "runtime": "local", "good": commit("aaaaaaa"), "bad": commit("bbbbbbb"),
            "walk": "first-parent", "commits": 9, "repeat": 1, "parallel": 2,
            "cells": [cell("a/t/x", 200, "fixed"), cell("a/t/y", 403, "regressed")],
            "dropped": [],
            "probes": { "ends": 2, "booted": 3, "cached": 1, "unbootable": 0, "rounds": 2, "bound": 8 },
            "run": {}
        });
        let page = render(&document).unwrap();
        assert_eq!(page.matches("class=\"cell found fixed\"").count(), 1);
        assert_eq!(page.matches("class=\"cell found regressed\"").count(), 1);
        assert!(page.contains("regressed (no longer matches pin)"));
        assert!(page.contains("fixed (now matches pin)"));
        assert!(page.contains("status 403 → 200"));
        // The tags of the ends and of the culprit are shown.
        assert!(page.contains("v1.2"), "{page}");
    }
}
