//! Markdown, for `$GITHUB_STEP_SUMMARY` and pull-request comments: a grid per
//! endpoint with the changed cells marked, and the differences listed under it.

use std::collections::HashMap;
use std::fmt::Write;

use super::grids_of;
use crate::results::CheckReport;
use crate::results::outcome::Verdict;
use crate::results::record::{CellRecord, FixRecord, TABLE_HEADER, Transition, table_row};
use crate::results::{BisectRecord, BisectResult};

/// `|` would end a table cell.
use crate::support::markdown::escape;

fn heading(scenario: &str, endpoint: Option<&str>) -> String {
    match endpoint {
        Some(endpoint) => format!("#### {scenario} · `{endpoint}`\n\n"),
        None => format!("#### {scenario}\n\n"),
    }
}

/// A table with actors down and targets across; `cell` gives each cell's text
/// (`None` where the grid has no cell).
fn table(
    targets: &[String],
    actors: &[String],
    cell: impl Fn(&str, &str) -> Option<String>,
) -> String {
    let mut out = format!(
        "| actor | {} |\n|---|{}\n",
        targets.join(" | "),
        "---|".repeat(targets.len())
    );
    for actor in actors {
        let row: Vec<String> = targets
            .iter()
            .map(|t| cell(t, actor).unwrap_or_else(|| "·".into()))
            .collect();
        let _ = writeln!(out, "| {actor} | {} |", row.join(" | "));
    }
    out
}

pub fn check(report: &CheckReport) -> String {
    let target = report
        .target
        .as_ref()
        .map_or("a running server", |t| t.name.as_str());
    let s = &report.summary;
    let mark = if s.all_green() { "✅" } else { "❌" };
    let mut out = format!(
        "### {mark} replay check: {} on {target} at {}\n\n**{}: {} GREEN, {} RED, {} ERROR**{}\n\n",
        report.suite.name,
        crate::revisions::revision::display_name(
            &report.revision.label,
            report.revision.tag.as_deref()
        ),
        crate::support::words::count(s.cells, "cell"),
        s.green,
        s.red,
        s.error,
        if s.not_run > 0 {
            format!(", {} not run (interrupted)", s.not_run)
        } else {
            String::new()
        }
    );
    let by_id: HashMap<&str, &crate::results::CellReport> =
        report.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    for grid in grids_of(report.cells.iter().map(|c| c.id.as_str())) {
        out.push_str(&heading(
            &grid.scenario,
            super::endpoint_of(&report.scenarios, &grid.scenario),
        ));
        out.push_str(&table(&grid.targets, &grid.actors, |target, actor| {
            let id = format!("{}/{target}/{actor}", grid.scenario);
            let Some(cell) = by_id.get(id.as_str()) else {
                // Pinned but left out by a filter: not drawn like a cell that is not pinned.
                return report.left_out.contains(&id).then(|| "~".to_string());
            };
            let observed = cell
                .outcome
                .as_ref()
                .and_then(|o| o.status)
                .map_or("?".to_string(), |s| s.to_string());
            Some(match cell.verdict {
                Some(Verdict::Green) => observed,
                Some(Verdict::Red) if observed != cell.pin.status.to_string() => {
                    format!("🔴 **{observed}** (pinned {})", cell.pin.status)
                }
                Some(Verdict::Red) => format!("🔴 **{observed}**!"),
                Some(Verdict::Error) => "⚠️ ERROR".into(),
                Some(Verdict::New) => format!("🆕 {observed}?"),
                None => "…".into(),
            })
        }));
        let has_left_out = grid.targets.iter().any(|t| {
            grid.actors.iter().any(|a| {
                report
                    .left_out
                    .contains(&format!("{}/{t}/{a}", grid.scenario))
            })
        });
        if has_left_out {
            out.push_str("\n· not pinned · ~ pinned, not run this time (left out by a filter)\n");
        }
        let prefix = format!("{}/", grid.scenario);
        let changed: Vec<&crate::results::CellReport> = report
            .cells
            .iter()
            .filter(|c| c.id.starts_with(&prefix) && c.verdict.is_some_and(|v| v != Verdict::Green))
            .collect();
        if !changed.is_empty() {
            out.push('\n');
            for cell in changed {
                let _ = writeln!(
                    out,
                    "- `{}`: {}",
                    cell.id,
                    escape(&cell.differences.join("; "))
                );
                for line in cell.why() {
                    let _ = writeln!(out, "  - {}", escape(&line));
                }
                if let Some(curl) = cell
                    .outcome
                    .as_ref()
                    .and_then(|o| o.curl.as_deref())
                    .filter(|c| fits_a_code_block(c))
                {
                    let _ = writeln!(out, "\n  ```sh\n  {curl}\n  ```");
                }
            }
        }
        out.push('\n');
    }
    out
}

/// A curl line goes into a `sh` block as it is: one that could end the
/// block (or the list item) is left out rather than broken.
fn fits_a_code_block(curl: &str) -> bool {
    !curl.contains('\n') && !curl.contains("```")
}

/// What one side of a fix's cell did against the pin: `as pinned`, or its
/// differences.
fn side_text(
    side: &str,
    cell: &CellRecord,
    outcome: &crate::results::outcome::CellOutcome,
) -> String {
    let found = crate::results::outcome::differences(&cell.pin.pin(), outcome);
    if found.is_empty() {
        format!("{side}: as pinned")
    } else {
        format!("{side}: {}", found.join("; "))
    }
}

/// The cells of a fix's scenario that did not stay GREEN — those that went
/// RED→GREEN or GREEN→RED, stayed RED, could not run, or are not pinned yet:
/// what each side did, why, and the curl line of each side that is not GREEN.
fn fix_notes(out: &mut String, record: &FixRecord, scenario: &str) {
    let prefix = format!("{scenario}/");
    let notes: Vec<&CellRecord> = record
        .cells
        .iter()
        .filter(|c| c.id.starts_with(&prefix) && c.transition != Transition::GreenToGreen)
        .collect();
    if notes.is_empty() {
        return;
    }
    out.push('\n');
    for cell in notes {
        let _ = writeln!(
            out,
            "- `{}` **{}** — {}; {}",
            cell.id,
            cell.transition.as_str(),
            escape(&side_text("parent", cell, &cell.parent)),
            escape(&side_text("fix", cell, &cell.fix))
        );
        for (side, outcome) in [("parent", &cell.parent), ("fix", &cell.fix)] {
            if crate::results::outcome::verdict(&cell.pin.pin(), outcome) == Verdict::Green {
                continue;
            }
            for line in outcome.why() {
                let _ = writeln!(out, "  - {side}: {}", escape(&line));
            }
        }
        let lines: Vec<(&str, &str)> = cell
            .curl_lines()
            .into_iter()
            .filter(|(_, curl)| fits_a_code_block(curl))
            .collect();
        if !lines.is_empty() {
            out.push_str("\n  ```sh\n");
            for (side, curl) in lines {
                let _ = writeln!(out, "  # {side}\n  {curl}");
            }
            out.push_str("  ```\n");
        }
    }
}

fn transition_text(cell: &CellRecord) -> String {
    let status = |s: Option<u16>| s.map_or("none".to_string(), |s| s.to_string());
    let (before, after) = (status(cell.parent.status), status(cell.fix.status));
    match cell.transition {
        Transition::GreenToGreen if before == after => after,
        Transition::GreenToGreen => format!("{before} → {after}"),
        Transition::RedToGreen => format!("✅ {before} → **{after}**"),
        Transition::GreenToRed => format!("❌ {before} → **{after}** (pinned {})", cell.pin.status),
        Transition::RedToRed => format!("🔴 {before} → {after} (pinned {})", cell.pin.status),
        Transition::Error => "⚠️ ERROR".into(),
        Transition::New => format!("🆕 {before} → {after}"),
    }
}

pub fn fix(record: &FixRecord) -> String {
    let mark = match record.verdict {
        crate::results::record::FixVerdict::Caught => "✅",
        crate::results::record::FixVerdict::NotCaught => "❌",
    };
    let mut out = format!(
        "### {mark} replay fix `{}` — {}: {}\n\n{} · parent `{}` — {}{}\n\n{TABLE_HEADER}\n{}\n\n",
        record.fix.name(),
        escape(&record.fix.subject),
        record.verdict.as_str(),
        if record.revisions.mode == "overlay" {
            format!("overlay of {}", record.revisions.paths.join(", "))
        } else {
            "whole commits".to_string()
        },
        record.parent.name(),
        escape(&record.parent.subject),
        record
            .reason
            .as_ref()
            .map(|r| format!("\n\n{}", escape(r)))
            .unwrap_or_default(),
        table_row(record)
    );
    let t = &record.transitions;
    let _ = writeln!(
        out,
        "RED→GREEN {} · GREEN→RED {} · RED→RED {} · ERROR {} · GREEN→GREEN {}\n",
        t.red_to_green.len(),
        t.green_to_red.len(),
        t.red_to_red.len(),
        t.error.len(),
        t.green_to_green
    );
    let by_id: HashMap<&str, &CellRecord> =
        record.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    for grid in grids_of(record.cells.iter().map(|c| c.id.as_str())) {
        out.push_str(&heading(
            &grid.scenario,
            super::endpoint_of(&record.scenarios, &grid.scenario),
        ));
        out.push_str(&table(&grid.targets, &grid.actors, |target, actor| {
            Some(transition_text(by_id.get(
                format!("{}/{target}/{actor}", grid.scenario).as_str(),
            )?))
        }));
        fix_notes(&mut out, record, &grid.scenario);
        out.push('\n');
    }
    if !record.reason_changes.is_empty() {
        out.push_str("#### Reason changes (not transitions)\n\n");
        for change in &record.reason_changes {
            let _ = writeln!(
                out,
                "- `{}` {}: {} → {}",
                change.id,
                change.status,
                escape(change.parent.as_deref().unwrap_or("")),
                escape(change.fix.as_deref().unwrap_or(""))
            );
        }
    }
    out
}

pub fn bisect(record: &BisectRecord) -> String {
    let mut out = format!(
        "### replay bisect `{}` (good) .. `{}` (bad)\n\n{} commits, {}\n\n",
        record.good.name(),
        record.bad.name(),
        record.commits,
        record.walk
    );
    if record.cells.is_empty() {
        out.push_str("The ends do not differ on any cell.\n");
    } else {
        out.push_str(
            "| cell | changed at | before → after | against the pin | subject |\n|---|---|---|---|---|\n",
        );
        for cell in &record.cells {
            let status = |o: &Option<crate::results::outcome::CellOutcome>| {
                o.as_ref()
                    .and_then(|o| o.status)
                    .map_or("?".to_string(), |s| s.to_string())
            };
            let commit = cell.commit.as_ref().map(|c| c.name()).unwrap_or_default();
            let (at, subject) = match cell.result {
                BisectResult::Found => (
                    format!("`{commit}`"),
                    cell.commit
                        .as_ref()
                        .map(|c| escape(&c.subject))
                        .unwrap_or_default(),
                ),
                BisectResult::Range => (
                    format!(
                        "`{}`..`{commit}`",
                        cell.after.as_ref().map_or("?".to_string(), |c| c.name())
                    ),
                    format!("unbootable between: {}", cell.unbootable.join(", ")),
                ),
                BisectResult::Flaky => ("FLAKY".into(), format!("runs disagreed at `{commit}`")),
                BisectResult::Interrupted => (
                    format!(
                        "`{}`..`{commit}`",
                        cell.after.as_ref().map_or("?".to_string(), |c| c.name())
                    ),
                    "search interrupted: one of these".into(),
                ),
            };
            let mut moved = cell
                .movement
                .map(|m| format!("**{}**", m.label()))
                .unwrap_or_default();
            if !cell.changes.is_empty() {
                if !moved.is_empty() {
                    moved.push_str(": ");
                }
                moved.push_str(&escape(&cell.changes.join(", ")));
            }
            let _ = writeln!(
                out,
                "| `{}` | {at} | {} → {} | {moved} | {subject} |",
                cell.id,
                status(&cell.before),
                status(&cell.outcome_after)
            );
        }
    }
    let p = &record.probes;
    let _ = write!(
        out,
        "\nProbes: {} ends + {} booted, {} from the cache, {} unbootable, in {} rounds of up to {} (bound k·⌈log2 N⌉ = {}).\n",
        p.ends, p.booted, p.cached, p.unbootable, p.rounds, record.parallel, p.bound
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_or_a_reason_cannot_inject_markdown_into_the_summary() {
        let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("replays/litellm");
        let path = std::fs::read_dir(&committed)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "json"))
            .unwrap();
        let (mut record, _) = crate::results::record::read_fix(&path).unwrap().unwrap();
        record.fix.subject = "fix | [pwn](https://evil.test) <img src=x> @team\n# owned".into();
        record.reason = Some("<script>x</script> [a](b)".into());
        let summary = fix(&record);
        for raw in ["[pwn]", "<img", "<script>", "@team", "\n# owned", "[a]"] {
            assert!(!summary.contains(raw), "{raw} in {summary}");
        }
    }
}
