//! A `replay mutate` record for people: the kill rates per file, function and
//! endpoint, then every survivor with its location, its line before and
//! after, and the cells that ran — a list a reviewer can work through.

use std::fmt::Write;

use crate::results::mutants::{EndpointKills, Fate, MutantResult, MutantsRecord, Rate};

fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn triage_label(mutant: &MutantResult) -> String {
    match &mutant.triage {
        Some(t) => format!("accepted: {}", t.reason.name()),
        None => "UNTRIAGED".into(),
    }
}

fn headline(record: &MutantsRecord) -> String {
    let total = &record.summary.total;
    format!(
        "{} mutant{} of {} at {} (suite {}, target {}{}): {} killed, {} survived, {} stillborn; kill rate {}",
        total.mutants,
        if total.mutants == 1 { "" } else { "s" },
        record.paths.join(", "),
        record.base.short,
        record.suite.name,
        record.target.name,
        record
            .shard
            .as_deref()
            .map(|s| format!(", shard {s}"))
            .unwrap_or_default(),
        total.killed,
        total.survived,
        total.stillborn,
        percent(total.kill_rate)
    )
}

fn survivors(record: &MutantsRecord) -> Vec<&MutantResult> {
    record
        .mutants
        .iter()
        .filter(|m| m.fate == Fate::Survived)
        .collect()
}

/// The record as text for a terminal.
pub fn human(record: &MutantsRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(record));
    let counted = record.summary.total.killed + record.summary.total.survived;
    let _ = writeln!(
        out,
        "decided by the first cell run: {} of {counted}\n",
        record.summary.decided_by_first_cell
    );
    let rates = |out: &mut String, title: &str, rows: Vec<(&String, &Rate)>| {
        let width = rows
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(0)
            .max(title.len());
        let _ = writeln!(
            out,
            "{title:width$}  mutants  killed  survived  stillborn  kill rate"
        );
        for (name, rate) in rows {
            let _ = writeln!(
                out,
                "{name:width$}  {:>7}  {:>6}  {:>8}  {:>9}  {:>9}",
                rate.mutants,
                rate.killed,
                rate.survived,
                rate.stillborn,
                percent(rate.kill_rate)
            );
        }
        out.push('\n');
    };
    rates(&mut out, "file", record.summary.files.iter().collect());
    rates(
        &mut out,
        "function",
        record.summary.functions.iter().collect(),
    );
    let endpoints: Vec<(&String, &EndpointKills)> = record.summary.endpoints.iter().collect();
    let width = endpoints
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let _ = writeln!(
        out,
        "{:width$}  cells  killed first  killed  of counted",
        "endpoint"
    );
    for (name, kills) in endpoints {
        let _ = writeln!(
            out,
            "{name:width$}  {:>5}  {:>12}  {:>6}  {:>10}",
            kills.cells,
            kills.killed_first,
            kills.killed,
            percent(kills.kill_rate)
        );
    }
    out.push('\n');
    let survivors = survivors(record);
    let _ = writeln!(out, "survivors ({}):", survivors.len());
    for mutant in &survivors {
        let _ = writeln!(
            out,
            "  {}:{}:{} {}  {}  [{}]",
            mutant.file,
            mutant.line,
            mutant.column,
            mutant.function,
            mutant.id,
            triage_label(mutant)
        );
        for line in mutant.original.lines() {
            let _ = writeln!(out, "    - {}", line.trim());
        }
        for line in mutant.mutated.lines() {
            let _ = writeln!(out, "    + {}", line.trim());
        }
        let _ = writeln!(
            out,
            "    ran {}: {}",
            crate::support::words::count(mutant.cells_run, "cell"),
            cells_list(&mutant.cells, 6)
        );
        if let Some(t) = &mutant.triage {
            let _ = writeln!(out, "    note: {}", t.note);
        }
    }
    let stillborn: Vec<&MutantResult> = record
        .mutants
        .iter()
        .filter(|m| m.fate == Fate::Stillborn)
        .collect();
    if !stillborn.is_empty() {
        let _ = writeln!(out, "\nstillborn ({}, not counted):", stillborn.len());
        for mutant in stillborn {
            let _ = writeln!(
                out,
                "  {}:{} {}: {}",
                mutant.file,
                mutant.line,
                mutant.id,
                mutant.error.as_deref().unwrap_or("did not boot")
            );
        }
    }
    let triage = &record.triage;
    let _ = writeln!(
        out,
        "\ntriage ({}): {} accepted, {} untriaged, {} stale",
        triage.file.as_deref().unwrap_or("no mutants.toml"),
        triage.accepted,
        triage.untriaged.len(),
        triage.stale.len()
    );
    for stale in &triage.stale {
        let _ = writeln!(
            out,
            "  stale: line {}: {} ({}:{}): {}",
            stale.line, stale.id, stale.file, stale.function, stale.why
        );
    }
    out
}

fn cells_list(cells: &[String], at_most: usize) -> String {
    let mut text = cells
        .iter()
        .take(at_most)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if cells.len() > at_most {
        let _ = write!(text, ", … ({} more)", cells.len() - at_most);
    }
    text
}

/// The record as the body of one HTML page (`replay report RECORD --html OUT`):
/// the rates, then a survivor list a reviewer can work through.
pub fn html(record: &MutantsRecord) -> maud::Markup {
    use maud::html;
    let survivors = survivors(record);
    html! {
        h1 { "Mutants of " (record.paths.join(", ")) " at " span.sha { (record.base.short) } }
        p { (headline(record)) }
        h2 { "Per function" }
        table.grid {
            thead { tr { th { "function" } th { "mutants" } th { "killed" } th { "survived" } th { "stillborn" } th { "kill rate" } } }
            tbody {
                @for (name, rate) in &record.summary.functions {
                    tr { th { code { (name) } } td.cell { (rate.mutants) } td.cell { (rate.killed) } td.cell { (rate.survived) } td.cell { (rate.stillborn) } td.cell { (percent(rate.kill_rate)) } }
                }
            }
        }
        h2 { "Per endpoint" }
        table.grid {
            thead { tr { th { "endpoint" } th { "cells" } th { "killed first" } th { "killed" } th { "of counted" } } }
            tbody {
                @for (name, kills) in &record.summary.endpoints {
                    tr { th { code { (name) } } td.cell { (kills.cells) } td.cell { (kills.killed_first) } td.cell { (kills.killed) } td.cell { (percent(kills.kill_rate)) } }
                }
            }
        }
        h2 { "Survivors (" (survivors.len()) ")" }
        @for mutant in &survivors {
            section.survivor id=(mutant.id) {
                p {
                    code { (mutant.file) ":" (mutant.line) ":" (mutant.column) } " in " code { (mutant.function) } " · "
                    code { (mutant.id) } " · "
                    @match &mutant.triage {
                        Some(t) => span.key.green { "accepted: " (t.reason.name()) },
                        None => span.key.red { "untriaged" },
                    }
                }
                pre.code { "- " (mutant.original.trim()) "\n+ " (mutant.mutated.trim()) }
                @if let Some(t) = &mutant.triage { p.muted { (t.note) } }
                details { summary { (mutant.cells_run) " cells ran" } p.muted { code { (mutant.cells.join(", ")) } } }
            }
        }
        @if !record.triage.stale.is_empty() {
            h2 { "Stale triage entries" }
            ul.notes { @for stale in &record.triage.stale { li { code { (stale.id) } " (line " (stale.line) "): " (stale.why) } } }
        }
    }
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The record as Markdown (for a pull request or `$GITHUB_STEP_SUMMARY`).
pub fn markdown(record: &MutantsRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### Mutants\n\n{}\n", headline(record));
    let _ = writeln!(
        out,
        "| function | mutants | killed | survived | stillborn | kill rate |\n|---|---:|---:|---:|---:|---:|"
    );
    for (name, rate) in &record.summary.functions {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            md_escape(name),
            rate.mutants,
            rate.killed,
            rate.survived,
            rate.stillborn,
            percent(rate.kill_rate)
        );
    }
    let _ = writeln!(
        out,
        "\n| endpoint | cells | killed first | killed | of counted |\n|---|---:|---:|---:|---:|"
    );
    for (name, kills) in &record.summary.endpoints {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            md_escape(name),
            kills.cells,
            kills.killed_first,
            kills.killed,
            percent(kills.kill_rate)
        );
    }
    let survivors = survivors(record);
    let _ = writeln!(out, "\n#### Survivors ({})\n", survivors.len());
    for mutant in survivors {
        let _ = writeln!(
            out,
            "- [{}] `{}` — `{}:{}` in `{}`, {} ran",
            if mutant.triage.is_some() { "x" } else { " " },
            mutant.id,
            mutant.file,
            mutant.line,
            mutant.function,
            crate::support::words::count(mutant.cells_run, "cell")
        );
        let _ = writeln!(out, "\n  ```diff");
        for line in mutant.original.lines() {
            let _ = writeln!(out, "  - {}", line.trim());
        }
        for line in mutant.mutated.lines() {
            let _ = writeln!(out, "  + {}", line.trim());
        }
        let _ = writeln!(out, "  ```");
        if let Some(t) = &mutant.triage {
            let _ = writeln!(out, "\n  {}: {}", t.reason.name(), t.note);
        }
        out.push('\n');
    }
    if !record.triage.stale.is_empty() {
        let _ = writeln!(out, "#### Stale triage entries\n");
        for stale in &record.triage.stale {
            let _ = writeln!(out, "- `{}` (line {}): {}", stale.id, stale.line, stale.why);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::mutants::{Summary, TriageState, summarise};
    use crate::results::{SuiteInfo, TargetInfo, record::CommitInfo};

    fn record() -> MutantsRecord {
        let mutant = |id: &str, fate| MutantResult {
            id: id.into(),
            file: "keys.py".into(),
            function: "check_update".into(),
            operator: "condition-false".into(),
            line: 223,
            column: 12,
            original: "        if update_needs_admin(body):".into(),
            mutated: "        if False:".into(),
            tree: "0".repeat(40),
            fate,
            killed_by: (fate == Fate::Killed).then(|| "key_update/self/owner".into()),
            killed_at: (fate == Fate::Killed).then_some(1),
            differing: vec![],
            cells_run: 2,
            cells: vec!["key_update/self/owner".into(), "key_info/self/owner".into()],
            error: None,
            triage: None,
            cached: false,
        };
        let mutants = vec![mutant("a", Fate::Killed), mutant("b|c", Fate::Survived)];
        let summary: Summary = summarise(&mutants, &[("POST /key/update".into(), 24)], &|_| {
            "POST /key/update".into()
        });
        MutantsRecord {
            format_version: 1,
            kind: "mutants".into(),
            suite: SuiteInfo {
                name: "litellm".into(),
                hash: "h".into(),
            },
            target: TargetInfo {
                name: "twin".into(),
                hash: "t".into(),
            },
            runtime: "local".into(),
            base: CommitInfo {
                commit: "f".repeat(40),
                short: "fffffff".into(),
                subject: "tip".into(),
                date: "2026-01-01T00:00:00Z".into(),
                tag: None,
            },
            base_tree: "0".repeat(40),
            paths: vec!["keys.py".into()],
            functions: vec![],
            exhaustive: false,
            shard: None,
            summary,
            triage: TriageState {
                untriaged: vec!["b|c".into()],
                ..TriageState::default()
            },
            mutants,
            run: serde_json::Value::Null,
        }
    }

    #[test]
    fn the_text_lists_rates_and_each_survivor() {
        let text = human(&record());
        assert!(text.starts_with("2 mutants of keys.py at fffffff (suite litellm, target twin): 1 killed, 1 survived, 0 stillborn; kill rate 50.0%"), "{text}");
        assert!(
            text.contains("keys.py:check_update        2       1         1          0      50.0%"),
            "{text}"
        );
        assert!(text.contains("  keys.py:223:12 check_update  b|c  [UNTRIAGED]\n    - if update_needs_admin(body):\n    + if False:\n    ran 2 cells: key_update/self/owner, key_info/self/owner\n"), "{text}");
        assert!(text.contains("1 untriaged, 0 stale"), "{text}");
    }

    #[test]
    fn the_page_lists_each_survivor_with_its_lines() {
        let record = serde_json::to_value(record()).unwrap();
        let page = crate::report::html::render(&record).unwrap();
        assert!(
            page.contains("<code>keys.py:223:12</code> in <code>check_update</code>"),
            "{page}"
        );
        assert!(
            page.contains("- if update_needs_admin(body):\n+ if False:"),
            "{page}"
        );
        assert!(page.contains("untriaged"), "{page}");
    }

    #[test]
    fn the_markdown_is_a_checklist_of_survivors() {
        let text = markdown(&record());
        assert!(
            text.contains("| `keys.py:check_update` | 2 | 1 | 1 | 0 | 50.0% |"),
            "{text}"
        );
        assert!(text.contains("- [ ] `b|c` — `keys.py:223` in `check_update`, 2 cells ran\n\n  ```diff\n  - if update_needs_admin(body):\n  + if False:\n  ```"), "{text}");
    }
}
