//! The record of a `replay mutate` run: each mutant killed (by which cell),
//! survived (with the cells that ran) or stillborn, the kill rates per file,
//! function and endpoint, and the triage of the survivors.
//!
//! Pure data; the job fills it in, the report renders it.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::mutate::{Reason, Triage, TriageEntry};
use crate::results::record::CommitInfo;
use crate::results::{SuiteInfo, TargetInfo};

/// What became of one mutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fate {
    /// A cell's outcome differed from the base revision's.
    Killed,
    /// Every cell ran and none differed.
    Survived,
    /// It did not build or boot (or was not ready in time): not counted.
    Stillborn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutantResult {
    pub id: String,
    pub file: String,
    pub function: String,
    pub operator: String,
    pub line: usize,
    pub column: usize,
    pub original: String,
    pub mutated: String,
    /// The composed tree: the mutant's identity (and its cell-cache key).
    pub tree: String,
    pub fate: Fate,
    /// The first cell, in the order they were run, whose outcome differed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killed_by: Option<String>,
    /// Its 1-based place in that order (1: decided by the first cell run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killed_at: Option<usize>,
    /// Every cell that ran and differed (all of them with `--exhaustive`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differing: Vec<String>,
    /// How many cells ran (from the cache or booted).
    pub cells_run: usize,
    /// For a survivor: the cells that ran, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<String>,
    /// For a stillborn mutant: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For an accepted survivor: the triage entry's reason and note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triage: Option<Triaged>,
    /// Whether its outcomes all came from the cell cache.
    #[serde(skip)]
    pub cached: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triaged {
    pub reason: Reason,
    pub note: String,
}

/// Killed of counted (killed + survived), for one file, function or endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub mutants: usize,
    pub killed: usize,
    pub survived: usize,
    pub stillborn: usize,
    /// killed / (killed + survived); `None` when nothing was counted.
    pub kill_rate: Option<f64>,
}

impl Rate {
    fn add(&mut self, fate: Fate) {
        self.mutants += 1;
        match fate {
            Fate::Killed => self.killed += 1,
            Fate::Survived => self.survived += 1,
            Fate::Stillborn => self.stillborn += 1,
        }
        let counted = self.killed + self.survived;
        self.kill_rate = (counted > 0).then(|| self.killed as f64 / counted as f64);
    }
}

/// What an endpoint's cells did: the mutants one of its cells killed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointKills {
    pub cells: usize,
    /// Mutants that one of its cells killed first.
    pub killed_first: usize,
    /// Mutants that one of its cells differed on (every differing cell with
    /// `--exhaustive`; otherwise only the first, so a lower bound).
    pub killed: usize,
    /// `killed` / counted mutants.
    pub kill_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub total: Rate,
    /// Mutants decided by the first cell they ran (killed by it).
    pub decided_by_first_cell: usize,
    pub files: IndexMap<String, Rate>,
    /// `file:function`.
    pub functions: IndexMap<String, Rate>,
    pub endpoints: IndexMap<String, EndpointKills>,
}

/// The survivors no triage entry accepts, and the entries whose mutant is gone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriageState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub accepted: usize,
    pub untriaged: Vec<String>,
    pub stale: Vec<StaleEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaleEntry {
    pub id: String,
    pub file: String,
    pub function: String,
    pub line: usize,
    /// "no such mutant" or "killed now".
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutantsRecord {
    pub format_version: u32,
    pub kind: String,
    pub suite: SuiteInfo,
    pub target: TargetInfo,
    pub runtime: String,
    pub base: CommitInfo,
    /// The base revision's tree the mutants are laid on.
    pub base_tree: String,
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
    /// Every cell ran on every mutant (no stop at the first difference).
    pub exhaustive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    pub summary: Summary,
    pub triage: TriageState,
    pub mutants: Vec<MutantResult>,
    pub run: serde_json::Value,
}

/// The endpoint of a cell id (`scenario/target/actor`), from the scenarios.
pub type EndpointOf<'a> = &'a dyn Fn(&str) -> String;

/// Kill rates per file, function and endpoint. `endpoints` lists every
/// endpoint with its number of cells, in the suite's order.
pub fn summarise(
    mutants: &[MutantResult],
    endpoints: &[(String, usize)],
    endpoint_of: EndpointOf<'_>,
) -> Summary {
    let mut summary = Summary::default();
    for (endpoint, cells) in endpoints {
        summary.endpoints.insert(
            endpoint.clone(),
            EndpointKills {
                cells: *cells,
                ..EndpointKills::default()
            },
        );
    }
    for mutant in mutants {
        summary.total.add(mutant.fate);
        summary
            .files
            .entry(mutant.file.clone())
            .or_default()
            .add(mutant.fate);
        summary
            .functions
            .entry(format!("{}:{}", mutant.file, mutant.function))
            .or_default()
            .add(mutant.fate);
        if mutant.killed_at == Some(1) {
            summary.decided_by_first_cell += 1;
        }
        if let Some(cell) = &mutant.killed_by {
            summary
                .endpoints
                .entry(endpoint_of(cell))
                .or_default()
                .killed_first += 1;
        }
        let mut seen: Vec<String> = Vec::new();
        for cell in mutant.differing.iter().chain(&mutant.killed_by) {
            let endpoint = endpoint_of(cell);
            if !seen.contains(&endpoint) {
                summary
                    .endpoints
                    .entry(endpoint.clone())
                    .or_default()
                    .killed += 1;
                seen.push(endpoint);
            }
        }
    }
    let counted = summary.total.killed + summary.total.survived;
    for kills in summary.endpoints.values_mut() {
        kills.kill_rate = (counted > 0).then(|| kills.killed as f64 / counted as f64);
    }
    summary
}

/// Mark the accepted survivors, and find the untriaged survivors and the
/// stale entries (of the files that were mutated: an entry of another file,
/// or of a function that was left out with `--function`, is not judged).
pub fn triage(
    mutants: &mut [MutantResult],
    triage: &Triage,
    judged: &dyn Fn(&TriageEntry) -> bool,
) -> TriageState {
    let mut state = TriageState {
        file: triage.path.as_ref().map(|p| p.display().to_string()),
        ..TriageState::default()
    };
    for mutant in mutants.iter_mut() {
        if mutant.fate != Fate::Survived {
            continue;
        }
        match triage.find(&mutant.file, &mutant.id) {
            Some(entry) => {
                state.accepted += 1;
                mutant.triage = Some(Triaged {
                    reason: entry.reason,
                    note: entry.note.clone(),
                });
            }
            None => state.untriaged.push(mutant.id.clone()),
        }
    }
    for entry in &triage.accepted {
        if !judged(entry) {
            continue;
        }
        let found = mutants
            .iter()
            .find(|m| m.file == entry.file && m.id == entry.id);
        let why = match found {
            None => "no such mutant",
            Some(m) if m.fate == Fate::Killed => "killed now",
            Some(_) => continue,
        };
        state.stale.push(StaleEntry {
            id: entry.id.clone(),
            file: entry.file.clone(),
            function: entry.function.clone(),
            line: entry.line,
            why: why.into(),
        });
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutant(id: &str, function: &str, fate: Fate, killed_by: Option<&str>) -> MutantResult {
        MutantResult {
            id: id.into(),
            file: "keys.py".into(),
            function: function.into(),
            operator: "drop-raise".into(),
            line: 1,
            column: 1,
            original: "raise x".into(),
            mutated: "pass".into(),
            tree: "0".repeat(40),
            fate,
            killed_by: killed_by.map(String::from),
            killed_at: killed_by.map(|_| 1),
            differing: vec![],
            cells_run: 1,
            cells: vec![],
            error: None,
            triage: None,
            cached: false,
        }
    }

    #[test]
    fn rates_count_killed_of_killed_and_survived() {
        let mutants = [
            mutant(
                "a",
                "check_update",
                Fate::Killed,
                Some("key_update/self/owner"),
            ),
            mutant("b", "check_update", Fate::Survived, None),
            mutant("c", "check_view", Fate::Stillborn, None),
            mutant(
                "d",
                "check_view",
                Fate::Killed,
                Some("key_info/owner_key/team_admin"),
            ),
        ];
        let endpoint_of = |cell: &str| {
            if cell.starts_with("key_update") {
                "POST /key/update".to_string()
            } else {
                "GET /key/info".to_string()
            }
        };
        let summary = summarise(
            &mutants,
            &[
                ("GET /key/info".into(), 10),
                ("POST /key/update".into(), 20),
            ],
            &endpoint_of,
        );
        assert_eq!(summary.total.kill_rate, Some(2.0 / 3.0));
        assert_eq!(summary.total.stillborn, 1);
        assert_eq!(
            summary.functions["keys.py:check_update"].kill_rate,
            Some(0.5)
        );
        assert_eq!(summary.functions["keys.py:check_view"].kill_rate, Some(1.0));
        assert_eq!(summary.endpoints["POST /key/update"].killed_first, 1);
        assert_eq!(summary.endpoints["GET /key/info"].cells, 10);
        assert_eq!(summary.decided_by_first_cell, 2);
    }

    #[test]
    fn survivors_are_triaged_and_stale_entries_reported() {
        let mut mutants = [
            mutant("kept", "f", Fate::Survived, None),
            mutant("open", "f", Fate::Survived, None),
            mutant("dead", "f", Fate::Killed, Some("s/t/a")),
        ];
        let entry = |id: &str, line| TriageEntry {
            file: "keys.py".into(),
            function: "f".into(),
            id: id.into(),
            reason: Reason::Equivalent,
            note: "n".into(),
            line,
        };
        let file = Triage {
            path: Some("mutants.toml".into()),
            accepted: vec![entry("kept", 1), entry("dead", 7), entry("gone", 13)],
            serves: vec![],
        };
        let state = triage(&mut mutants, &file, &|_| true);
        assert_eq!(state.untriaged, ["open"]);
        assert_eq!(state.accepted, 1);
        assert_eq!(
            state
                .stale
                .iter()
                .map(|s| (s.id.as_str(), s.why.as_str()))
                .collect::<Vec<_>>(),
            [("dead", "killed now"), ("gone", "no such mutant")]
        );
        assert_eq!(
            mutants[0].triage.as_ref().unwrap().reason,
            Reason::Equivalent
        );
        let none = triage(&mut mutants, &file, &|_| false);
        assert!(none.stale.is_empty());
    }
}
