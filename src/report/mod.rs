//! Reports: results rendered for people and tools — grids, JUnit, Markdown, HTML.
//!
//! Pure rendering of `results/` values; imports `results`, `suite` and `support`,
//! never `engine`, `jobs` or `cli`.

pub mod coverage;
pub mod diff;
pub mod grid;
pub mod html;
pub mod junit;
pub mod listing;
pub mod markdown;
pub mod mutants;
pub mod sarif;

use crate::results::info::ScenarioInfo;

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
