//! The result of `replay check`: every cell of one revision against its pin.

use serde::{Deserialize, Serialize};

use super::info::{PinJson, ScenarioInfo, SuiteInfo, TargetInfo};
use super::outcome::{CellOutcome, Verdict, differences, verdict};
use crate::suite::Cell;

/// One cell of a report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellReport {
    pub id: String,
    /// `None` when the cell did not run (the run was interrupted).
    pub verdict: Option<Verdict>,
    pub pin: PinJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CellOutcome>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

impl CellReport {
    /// Why the cell is not GREEN, beyond its differences with the pin: the
    /// server's denial reason and the start of the response body.
    pub fn why(&self) -> Vec<String> {
        self.outcome
            .as_ref()
            .map(CellOutcome::why)
            .unwrap_or_default()
    }

    /// What the cell's failure looks like, for grouping cells that fail alike:
    /// its differences and the reason, without ids or bodies.
    pub fn failure_key(&self) -> String {
        let mut key = self.differences.join("; ");
        if let Some(reason) = self.outcome.as_ref().and_then(|o| o.reason.as_ref()) {
            key.push_str(&format!(" — reason {reason:?}"));
        }
        key
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub cells: usize,
    pub green: usize,
    pub red: usize,
    pub error: usize,
    /// Cells pinned `"?"`: they ran and await `--accept`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub new: usize,
    pub not_run: usize,
}

impl Summary {
    pub fn all_green(&self) -> bool {
        self.green == self.cells
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The cells of one revision, compared with their pins.
pub fn compare(cells: &[Cell], outcomes: &[Option<CellOutcome>]) -> (Vec<CellReport>, Summary) {
    let mut summary = Summary {
        cells: cells.len(),
        ..Summary::default()
    };
    let reports = cells
        .iter()
        .zip(outcomes)
        .map(|(cell, outcome)| {
            let verdict = outcome.as_ref().map(|o| verdict(&cell.pin, o));
            match verdict {
                Some(Verdict::Green) => summary.green += 1,
                Some(Verdict::Red) => summary.red += 1,
                Some(Verdict::Error) => summary.error += 1,
                Some(Verdict::New) => summary.new += 1,
                None => summary.not_run += 1,
            }
            CellReport {
                id: cell.id.to_string(),
                verdict,
                pin: PinJson::from(&cell.pin),
                differences: outcome
                    .as_ref()
                    .map(|o| differences(&cell.pin, o))
                    .unwrap_or_default(),
                // The reproduction is kept for the cells to look into.
                outcome: match verdict {
                    Some(Verdict::Green) => outcome.clone().map(CellOutcome::without_curl),
                    _ => outcome.clone(),
                },
            }
        })
        .collect();
    (reports, summary)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevisionInfo {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A tag that points at the commit; absent when none does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The target's `[[variant]]` it was built with; absent for the target's own recipe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckCaches {
    pub cluster: bool,
    pub build: bool,
    pub template: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckTimings {
    pub total_ms: u128,
    pub postgres_ms: u128,
    pub build_ms: u128,
    pub migrate_ms: u128,
    pub seed_ms: u128,
    pub boot_ms: u128,
    pub matrix_ms: u128,
    /// Everything that is not build, boot or matrix: the tool's own cost.
    pub overhead_ms: u128,
    pub cells_per_second: f64,
    /// Where the whole time went, in order, phase by phase (`load`,
    /// `run_dirs`, `materialise`, `cluster_copy`, `postgres_start`, `build`,
    /// `migrate`, `seed`, `clone`, `boot`, `world`, `matrix`, `stop` (the
    /// server and Postgres at once), `run_dirs_remove`, and `other`: what none of them holds).
    #[serde(default)]
    pub phases: indexmap::IndexMap<String, u128>,
}

/// The result of `replay check`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    pub format_version: u32,
    pub kind: String,
    pub suite: SuiteInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetInfo>,
    pub runtime: String,
    pub revision: RevisionInfo,
    /// The scenarios, in order, with their endpoints (for grids per endpoint).
    #[serde(default)]
    pub scenarios: Vec<ScenarioInfo>,
    pub summary: Summary,
    pub interrupted: bool,
    pub cells: Vec<CellReport>,
    /// The pinned cells a filter (`--cell`, `--endpoint`, ...) left out, so
    /// that grids draw them apart from cells that are not pinned (absent in
    /// reports written before it, and when nothing was left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    pub caches: CheckCaches,
    pub timings: CheckTimings,
}

/// The ids of the suite's pinned cells that are not in `cells` (left out by a filter).
pub fn left_out(suite: &crate::suite::Suite, cells: &[Cell]) -> Vec<String> {
    let chosen: std::collections::HashSet<String> =
        cells.iter().map(|c| c.id.to_string()).collect();
    suite
        .cells()
        .iter()
        .map(|c| c.id.to_string())
        .filter(|id| !chosen.contains(id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_red_cell_says_why_with_the_reason_and_the_start_of_the_body() {
        let cell = CellReport {
            id: "a/t/x".into(),
            verdict: Some(Verdict::Red),
            pin: PinJson {
                status: 403,
                unknown: false,
                responses: Default::default(),
            },
            outcome: Some(CellOutcome {
                status: Some(404),
                reason: Some("Route not found".into()),
                body: format!("{{\"detail\":\n\"Route not found\"{}}}", " ".repeat(200)),
                ..CellOutcome::default()
            }),
            differences: vec!["status 404 (pinned 403)".into()],
        };
        let why = cell.why();
        assert_eq!(why[0], "reason \"Route not found\"");
        assert!(
            why[1].starts_with("body {\"detail\": \"Route not found\""),
            "{}",
            why[1]
        );
        assert!(why[1].ends_with('…'));
        assert_eq!(
            cell.failure_key(),
            "status 404 (pinned 403) — reason \"Route not found\""
        );
    }
}
