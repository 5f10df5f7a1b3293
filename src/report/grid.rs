//! The human report: one grid per scenario, actors down, targets across.
//!
//! A GREEN cell shows its status; a RED cell shows what it did and what was
//! pinned (`200≠403`); the cells that are not GREEN are listed under the grid
//! with every difference.

use std::collections::HashMap;
use std::fmt::Write;

use console::Style;

use crate::results::outcome::Verdict;
use crate::results::{CellReport, Summary};
use crate::suite::Suite;

/// Colours, or none (NO_COLOR, not a terminal).
#[derive(Debug, Clone)]
pub struct Palette {
    green: Style,
    red: Style,
    yellow: Style,
    dim: Style,
    bold: Style,
}

impl Palette {
    pub fn new(color: bool) -> Self {
        let style = |s: Style| s.force_styling(color);
        Self {
            green: style(Style::new().green()),
            red: style(Style::new().red().bold()),
            yellow: style(Style::new().yellow()),
            dim: style(Style::new().dim()),
            bold: style(Style::new().bold()),
        }
    }

    pub(crate) fn verdict(&self, verdict: Verdict) -> String {
        match verdict {
            Verdict::Green => self.green.apply_to("GREEN").to_string(),
            Verdict::Red => self.red.apply_to("RED").to_string(),
            Verdict::Error => self.yellow.apply_to("ERROR").to_string(),
            Verdict::New => self.yellow.apply_to("NEW").to_string(),
        }
    }
}

/// The text of one cell in the grid, and its style.
fn cell_text(cell: &CellReport, palette: &Palette) -> (String, Style) {
    let observed = cell.outcome.as_ref().and_then(|o| o.status);
    match (cell.verdict, observed) {
        (None, _) => ("…".into(), palette.dim.clone()),
        (Some(Verdict::Error), _) => ("ERR".into(), palette.yellow.clone()),
        (Some(Verdict::New), status) => (
            format!("{}?", status.map_or("none".into(), |s| s.to_string())),
            palette.yellow.clone(),
        ),
        (Some(Verdict::Green), _) => (cell.pin.status.to_string(), palette.green.clone()),
        (Some(Verdict::Red), Some(status)) if status != cell.pin.status => {
            (format!("{status}≠{}", cell.pin.status), palette.red.clone())
        }
        // The status matches; a check, a followup or a response value does not.
        (Some(Verdict::Red), _) => (format!("{}!", cell.pin.status), palette.red.clone()),
    }
}

/// Grids for every scenario that has a cell in `cells`.
pub fn grids(suite: &Suite, cells: &[CellReport], palette: &Palette) -> String {
    let by_id: HashMap<&str, &CellReport> = cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut out = String::new();
    for scenario in &suite.scenarios {
        let prefix = format!("{}/", scenario.name);
        if !cells.iter().any(|c| c.id.starts_with(&prefix)) {
            continue;
        }
        let pinned_rows: Vec<_> = scenario
            .pins
            .rows
            .iter()
            .filter(|(_, row)| row.iter().any(Option::is_some))
            .collect();
        let actors: Vec<&String> = pinned_rows.iter().map(|(a, _)| *a).collect();
        // A pinned cell that is not in `cells` was left out (--cell): drawn
        // apart from a cell that is not pinned.
        let mut left_out = false;
        let actor_width = actors.iter().map(|a| a.len()).max().unwrap_or(0).max(5) + 2;
        let texts: Vec<Vec<Option<(String, Style)>>> = actors
            .iter()
            .map(|actor| {
                scenario
                    .pins
                    .targets
                    .iter()
                    .map(|target| {
                        by_id
                            .get(format!("{}/{target}/{actor}", scenario.name).as_str())
                            .map(|c| cell_text(c, palette))
                    })
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = scenario
            .pins
            .targets
            .iter()
            .enumerate()
            .map(|(column, target)| {
                texts
                    .iter()
                    .filter_map(|row| row[column].as_ref())
                    .map(|(t, _)| t.chars().count())
                    .chain([target.len()])
                    .max()
                    .unwrap_or(0)
                    + 2
            })
            .collect();

        let _ = write!(out, "{}", palette.bold.apply_to(&scenario.name));
        if let Some(endpoint) = &scenario.endpoint {
            let _ = write!(out, "  {}", palette.dim.apply_to(endpoint));
        }
        out.push('\n');
        let _ = write!(out, "  {:actor_width$}", "");
        for (target, width) in scenario.pins.targets.iter().zip(&widths) {
            let _ = write!(out, "{target:width$}");
        }
        out.push('\n');
        for ((actor, row), (_, pins)) in actors.iter().zip(&texts).zip(&pinned_rows) {
            let _ = write!(out, "  {actor:actor_width$}");
            for ((text, width), pin) in row.iter().zip(&widths).zip(pins.iter()) {
                let (text, style) = text.clone().unwrap_or_else(|| {
                    if pin.is_some() {
                        left_out = true;
                        ("~".into(), palette.dim.clone())
                    } else {
                        ("·".into(), palette.dim.clone())
                    }
                });
                let pad = width.saturating_sub(text.chars().count());
                let _ = write!(out, "{}{}", style.apply_to(text), " ".repeat(pad));
            }
            out.push('\n');
        }
        if left_out {
            let _ = writeln!(
                out,
                "  {}",
                palette
                    .dim
                    .apply_to("· not pinned   ~ pinned, not run this time (left out by --cell)")
            );
        }
        for cell in cells.iter().filter(|c| c.id.starts_with(&prefix)) {
            let Some(verdict) = cell.verdict.filter(|v| *v != Verdict::Green) else {
                continue;
            };
            let _ = writeln!(
                out,
                "  {} {}  {}",
                palette.verdict(verdict),
                cell.id,
                cell.differences.join("; ")
            );
            // Why, and how to ask again: the reason, the body, a curl line.
            for line in cell.why() {
                let _ = writeln!(out, "      {}", palette.dim.apply_to(line));
            }
            if let Some(curl) = cell.outcome.as_ref().and_then(|o| o.curl.as_ref()) {
                let _ = writeln!(out, "      {curl}");
            }
        }
        out.push('\n');
    }
    out
}

/// `113 cells: 113 GREEN, 0 RED, 0 ERROR`
pub fn summary_line(summary: &Summary, palette: &Palette) -> String {
    let mut line = format!(
        "{}: {} {}, {} {}, {} {}",
        crate::support::words::count(summary.cells, "cell"),
        summary.green,
        palette.verdict(Verdict::Green),
        summary.red,
        palette.verdict(Verdict::Red),
        summary.error,
        palette.verdict(Verdict::Error)
    );
    if summary.new > 0 {
        let _ = write!(line, ", {} {}", summary.new, palette.verdict(Verdict::New));
    }
    if summary.not_run > 0 {
        let _ = write!(line, ", {} not run (interrupted)", summary.not_run);
    }
    line
}
