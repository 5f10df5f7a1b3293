//! Results, as a machine reads them (JSON) and as a person does (a grid per scenario).

pub mod grid;
pub mod html;
pub mod junit;
pub mod markdown;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::outcome::{CellOutcome, Verdict, differences, verdict};
use crate::suite::{Cell, Pin, Suite};

/// The version of every JSON document the tool writes.
pub const FORMAT_VERSION: u32 = 1;

/// A pin as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinJson {
    pub status: u16,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub responses: IndexMap<String, serde_json::Value>,
}

impl From<&Pin> for PinJson {
    fn from(pin: &Pin) -> Self {
        Self {
            status: pin.status,
            responses: pin.responses.clone(),
        }
    }
}

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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub cells: usize,
    pub green: usize,
    pub red: usize,
    pub error: usize,
    pub not_run: usize,
}

impl Summary {
    pub fn all_green(&self) -> bool {
        self.green == self.cells
    }
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
                outcome: outcome.clone(),
            }
        })
        .collect();
    (reports, summary)
}

/// A scenario, as reports name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl ScenarioInfo {
    pub fn of(suite: &Suite) -> Vec<Self> {
        suite
            .scenarios
            .iter()
            .map(|s| Self {
                name: s.name.clone(),
                endpoint: s.endpoint.clone(),
            })
            .collect()
    }
}

/// The shape of one scenario's grid, read off cell ids (`scenario/target/actor`):
/// targets and actors in the order they first appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub scenario: String,
    pub targets: Vec<String>,
    pub actors: Vec<String>,
}

/// The grids of a list of cell ids, scenarios in the order they first appear.
pub fn grids_of<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<Grid> {
    let mut grids: Vec<Grid> = Vec::new();
    for id in ids {
        let Some(cell) = crate::suite::CellId::parse(id) else {
            continue;
        };
        let index = match grids.iter().position(|g| g.scenario == cell.scenario) {
            Some(index) => index,
            None => {
                grids.push(Grid {
                    scenario: cell.scenario.clone(),
                    targets: Vec::new(),
                    actors: Vec::new(),
                });
                grids.len() - 1
            }
        };
        let grid = &mut grids[index];
        if !grid.targets.contains(&cell.target) {
            grid.targets.push(cell.target);
        }
        if !grid.actors.contains(&cell.actor) {
            grid.actors.push(cell.actor);
        }
    }
    grids
}

/// The endpoint of a scenario, when a report names it.
pub fn endpoint_of<'a>(scenarios: &'a [ScenarioInfo], scenario: &str) -> Option<&'a str> {
    scenarios
        .iter()
        .find(|s| s.name == scenario)
        .and_then(|s| s.endpoint.as_deref())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteInfo {
    pub name: String,
    pub hash: String,
}

impl SuiteInfo {
    pub fn of(suite: &Suite) -> Self {
        Self {
            name: suite.name.clone(),
            hash: suite.hash.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub name: String,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevisionInfo {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
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
    pub caches: CheckCaches,
    pub timings: CheckTimings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_follow_the_order_of_the_ids() {
        let grids = grids_of([
            "a/self/x",
            "a/self/y",
            "a/other/x",
            "b/any/y",
            "a/other/z",
            "not-an-id",
        ]);
        assert_eq!(
            grids,
            [
                Grid {
                    scenario: "a".into(),
                    targets: vec!["self".into(), "other".into()],
                    actors: vec!["x".into(), "y".into(), "z".into()]
                },
                Grid {
                    scenario: "b".into(),
                    targets: vec!["any".into()],
                    actors: vec!["y".into()]
                },
            ]
        );
    }
}
