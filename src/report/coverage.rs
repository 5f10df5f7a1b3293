//! `replay coverage` for people: covered / total, the endpoints no scenario
//! covers, and per scenario the cells left unpinned.

use std::fmt::Write as _;

use crate::results::coverage::{Coverage, GridCell};
use crate::support::words::count;

pub fn human(coverage: &Coverage) -> String {
    let mut text = String::new();
    let s = &coverage.summary;
    if let (Some(openapi), Some(percent)) = (&coverage.openapi, s.percent) {
        let _ = writeln!(
            text,
            "endpoints: {} of {} covered ({percent:.1}%) by suite {}, from {openapi}",
            s.covered, s.endpoints, coverage.suite.name
        );
        let uncovered: Vec<_> = coverage
            .endpoints
            .iter()
            .filter(|e| e.scenarios.is_empty())
            .collect();
        if !uncovered.is_empty() {
            let _ = writeln!(text, "\nuncovered ({}):", uncovered.len());
            for endpoint in uncovered {
                let yet = if endpoint.not_pinned_yet.is_empty() {
                    String::new()
                } else {
                    format!(
                        "  ({}: no cell pinned with a status yet)",
                        endpoint.not_pinned_yet.join(", ")
                    )
                };
                let _ = writeln!(text, "  {} {}{yet}", endpoint.method, endpoint.path);
            }
        }
        if !coverage.outside.is_empty() {
            let _ = writeln!(
                text,
                "\nscenarios whose request is no operation of the document ({}):",
                coverage.outside.len()
            );
            for o in &coverage.outside {
                let _ = writeln!(
                    text,
                    "  {}  {} {}  ({})",
                    o.scenario, o.method, o.path, o.file
                );
            }
        }
        text.push('\n');
    }
    let _ = writeln!(
        text,
        "cells: {} pinned, {} unpinned (\"-\"), {} not pinned yet (\"?\")",
        s.pinned, s.unpinned, s.unknown
    );
    for scenario in &coverage.scenarios {
        let _ = writeln!(text, "  {} ({})", scenario.scenario, scenario.file);
        for (label, cells) in [
            ("unpinned", &scenario.unpinned),
            ("not pinned yet", &scenario.unknown),
        ] {
            for (actor, line, targets) in by_actor(cells) {
                let at = line.map(|l| format!(", line {l}")).unwrap_or_default();
                let _ = writeln!(text, "    {label}: {actor} × {}{at}", targets.join(", "));
            }
        }
        if !scenario.missing_actors.is_empty() {
            let _ = writeln!(
                text,
                "    no row: {} (every target)",
                scenario.missing_actors.join(", ")
            );
        }
    }
    if coverage.scenarios.is_empty() {
        let _ = writeln!(
            text,
            "every actor × target of every scenario is pinned ({})",
            count(s.pinned, "cell")
        );
    }
    text
}

/// Cells grouped by actor, in the order of the grid: (actor, line, targets).
fn by_actor(cells: &[GridCell]) -> Vec<(&str, Option<usize>, Vec<&str>)> {
    let mut out: Vec<(&str, Option<usize>, Vec<&str>)> = Vec::new();
    for cell in cells {
        match out.iter_mut().find(|(a, _, _)| *a == cell.actor) {
            Some((_, _, targets)) => targets.push(&cell.target),
            None => out.push((&cell.actor, cell.line, vec![&cell.target])),
        }
    }
    out
}
