//! The record of a bisect: for each searched cell, the commit that changed it.

use serde::{Deserialize, Serialize};

use super::info::{PinJson, SuiteInfo, TargetInfo};
use super::outcome::{CellOutcome, Verdict, verdict};
use super::record::CommitInfo;

/// What the search found for a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BisectResult {
    /// The first commit with the changed outcome.
    Found,
    /// A range: unbootable commits hide the exact one.
    Range,
    /// The cell's runs disagreed; it was dropped from the search.
    Flaky,
    /// The search was interrupted: the change is after `after` and at or
    /// before `commit`, the narrowest range measured.
    Interrupted,
}

impl BisectResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Found => "found",
            Self::Range => "range",
            Self::Flaky => "flaky",
            Self::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for BisectResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cell's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellAnswer {
    pub id: String,
    pub result: BisectResult,
    /// The first commit with the changed outcome ("found"), or the last of the range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitInfo>,
    /// For a range: the last commit that still shows the good end's outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<CommitInfo>,
    /// For a range: the commits in between, which could not be booted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unbootable: Vec<String>,
    /// The outcome just before the change, and just after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<CellOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_after: Option<CellOutcome>,
    /// The cell's pin, which `movement` is measured against (absent in
    /// records written before bisect answers named it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinJson>,
    /// Which way the cell moved against its pin, from `before` to `outcome_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub movement: Option<Movement>,
    /// What changed, value by value (`status 403 → 200`, `check models_flipped:
    /// false → true`): also when the status stayed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

impl CellAnswer {
    /// Fill `pin`, `movement` and `changes` from the pin and the outcomes
    /// before and after the change.
    pub fn against(mut self, pin: PinJson) -> Self {
        // The side that does not match the pin keeps its curl line.
        let pinned = pin.pin();
        self.before = self.before.map(|o| o.kept_for(&pinned));
        self.outcome_after = self.outcome_after.map(|o| o.kept_for(&pinned));
        if let (Some(before), Some(after)) = (&self.before, &self.outcome_after) {
            self.movement = movement(&pin, before, after);
            self.changes = changes(before, after);
        }
        self.pin = Some(pin);
        self
    }
}

/// Which way a cell moved against its pin across the commit that changed it.
/// A regression is never told like a fix: reports draw them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Movement {
    /// RED before, GREEN after: the commit made the cell match its pin.
    Fixed,
    /// GREEN before, RED after: the commit broke the pin.
    Regressed,
    /// RED before and after: the outcome changed, the pin matches neither.
    Changed,
    /// GREEN before and after: what changed is not pinned (a check value the pin holds either way).
    BothMatch,
}

impl Movement {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::Regressed => "regressed",
            Self::Changed => "changed",
            Self::BothMatch => "both-match",
        }
    }

    /// The words reports print: `fixed (now matches pin)`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Fixed => "fixed (now matches pin)",
            Self::Regressed => "regressed (no longer matches pin)",
            Self::Changed => "changed (pin matches neither)",
            Self::BothMatch => "changed (pin matches both)",
        }
    }
}

/// How a cell moved against `pin` from `before` to `after`; `None` for a
/// `"?"` pin or an outcome that could not run (nothing to measure against).
pub fn movement(pin: &PinJson, before: &CellOutcome, after: &CellOutcome) -> Option<Movement> {
    let pin = pin.pin();
    match (verdict(&pin, before), verdict(&pin, after)) {
        (Verdict::Red, Verdict::Green) => Some(Movement::Fixed),
        (Verdict::Green, Verdict::Red) => Some(Movement::Regressed),
        (Verdict::Red, Verdict::Red) => Some(Movement::Changed),
        (Verdict::Green, Verdict::Green) => Some(Movement::BothMatch),
        _ => None,
    }
}

/// What differs between two outcomes of one cell, each with both values:
/// the status, the error, each check and followup value, each response value.
pub fn changes(before: &CellOutcome, after: &CellOutcome) -> Vec<String> {
    let mut out = Vec::new();
    let status = |o: &CellOutcome| o.status.map_or("none".to_string(), |s| s.to_string());
    if before.status != after.status {
        out.push(format!("status {} → {}", status(before), status(after)));
    }
    if before.error != after.error {
        let error = |o: &CellOutcome| o.error.clone().unwrap_or_else(|| "none".into());
        out.push(format!("error {} → {}", error(before), error(after)));
    }
    for (kind, b, a) in [
        ("check", &before.checks, &after.checks),
        ("followup", &before.followups, &after.followups),
    ] {
        for e in a {
            let old = b.iter().find(|x| x.name == e.name).map(|x| &x.observed);
            match old {
                Some(old) if old == &e.observed => {}
                Some(old) => out.push(format!("{kind} {}: {old} → {}", e.name, e.observed)),
                None => out.push(format!("{kind} {}: none → {}", e.name, e.observed)),
            }
        }
        for e in b.iter().filter(|e| !a.iter().any(|x| x.name == e.name)) {
            out.push(format!("{kind} {}: {} → none", e.name, e.observed));
        }
    }
    let null = serde_json::Value::Null;
    let mut names: Vec<&String> = before.responses.keys().collect();
    names.extend(
        after
            .responses
            .keys()
            .filter(|k| !before.responses.contains_key(*k)),
    );
    for name in names {
        let (old, new) = (
            before.responses.get(name).unwrap_or(&null),
            after.responses.get(name).unwrap_or(&null),
        );
        if old != new {
            out.push(format!("{name} {old} → {new}"));
        }
    }
    out
}

/// A cell left out of the search, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    pub id: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeCounts {
    /// The two ends, booted (or cached) first.
    pub ends: usize,
    /// Commits inside the range booted for the search.
    pub booted: usize,
    /// Commits inside the range whose results came from the cell cache.
    pub cached: usize,
    /// Commits that could not be built or booted.
    pub unbootable: usize,
    /// Batches of probes (each batch at once).
    pub rounds: usize,
    /// k × ceil(log2 N): k distinct flip points over N commits.
    pub bound: usize,
}

/// The record of a bisect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BisectRecord {
    pub format_version: u32,
    pub kind: String,
    pub suite: SuiteInfo,
    pub target: TargetInfo,
    pub runtime: String,
    pub good: CommitInfo,
    pub bad: CommitInfo,
    /// "first-parent" or "all-commits".
    pub walk: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Commits from good to bad (N).
    pub commits: usize,
    pub repeat: usize,
    pub parallel: usize,
    pub cells: Vec<CellAnswer>,
    pub dropped: Vec<Dropped>,
    pub probes: ProbeCounts,
    /// The search was interrupted: each cell's answer is the range measured so far.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// The target's `[[variant]]` each named commit (the ends, and each
    /// answer's commits) was built with, by short id; a commit built with the
    /// target's own recipe is not listed.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub variants: std::collections::BTreeMap<String, String>,
    pub run: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::outcome::Expectation;
    use serde_json::json;

    fn pin(status: u16) -> PinJson {
        PinJson {
            status,
            unknown: false,
            responses: Default::default(),
        }
    }

    fn seen(status: u16) -> CellOutcome {
        CellOutcome {
            status: Some(status),
            ..CellOutcome::default()
        }
    }

    #[test]
    fn a_cell_moves_fixed_regressed_or_changed_against_its_pin() {
        let m = |p, b, a| movement(&pin(p), &seen(b), &seen(a));
        assert_eq!(m(403, 200, 403), Some(Movement::Fixed));
        assert_eq!(m(403, 403, 200), Some(Movement::Regressed));
        assert_eq!(m(404, 200, 403), Some(Movement::Changed));
        assert_eq!(Movement::Fixed.label(), "fixed (now matches pin)");
        assert_eq!(
            Movement::Regressed.label(),
            "regressed (no longer matches pin)"
        );
        assert_eq!(Movement::Changed.label(), "changed (pin matches neither)");
        let unknown = PinJson {
            unknown: true,
            ..pin(0)
        };
        assert_eq!(movement(&unknown, &seen(200), &seen(403)), None);
        assert_eq!(
            serde_json::to_value(Movement::BothMatch).unwrap(),
            json!("both-match")
        );
    }

    #[test]
    fn what_changed_names_both_values_also_when_the_status_stays() {
        let check = |observed: bool, passed: bool| {
            Expectation::new("models_flipped", json!(false), json!(observed), passed)
        };
        let mut before = seen(200);
        before.checks.push(check(false, true));
        let mut after = seen(200);
        after.checks.push(check(true, false));
        after.responses.insert("visible".into(), json!(["owner"]));
        assert_eq!(
            changes(&before, &after),
            [
                "check models_flipped: false → true",
                "visible null → [\"owner\"]"
            ]
        );
        // The status stayed, a check went against the pin: a regression.
        assert_eq!(
            movement(&pin(200), &before, &after),
            Some(Movement::Regressed)
        );
        let answer = CellAnswer {
            id: "a/b/c".into(),
            result: BisectResult::Found,
            commit: None,
            after: None,
            unbootable: Vec::new(),
            before: Some(seen(403)),
            outcome_after: Some(seen(200)),
            pin: None,
            movement: None,
            changes: Vec::new(),
        }
        .against(pin(200));
        assert_eq!(answer.movement, Some(Movement::Fixed));
        assert_eq!(answer.changes, ["status 403 → 200"]);
    }
}
