//! `replay diff A B`: two documents the tool wrote (check reports or fix
//! records), cell by cell: which cells' outcomes changed, and how.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bisect::changes;
use super::check::CheckReport;
use super::info::{FORMAT_VERSION, PinJson, SuiteInfo};
use super::outcome::{CellOutcome, Verdict, verdict};
use super::record::FixRecord;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiffError {
    #[error("{name} is not a document replay wrote: {message}")]
    Invalid { name: String, message: String },
    #[error("{name} is a {kind} document; replay diff compares check reports and fix records")]
    Kind { name: String, kind: String },
    #[error("{a} is of suite {suite_a} and {b} of suite {suite_b}")]
    Suites {
        a: String,
        b: String,
        suite_a: String,
        suite_b: String,
    },
}

/// One side of a diff: what the document is, and its cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffSide {
    pub name: String,
    pub kind: String,
    /// The revision it measured (a check's label, a fix's fix commit).
    pub revision: String,
    pub suite: SuiteInfo,
}

/// A cell whose outcome differs between the two documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellChange {
    pub id: String,
    pub pin: PinJson,
    /// GREEN, RED, ERROR or NEW at each side.
    pub verdict_a: Verdict,
    pub verdict_b: Verdict,
    /// What changed, with both values: `status 403 → 200`, `check x: 1 → 0`.
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub format_version: u32,
    pub kind: String,
    pub a: DiffSide,
    pub b: DiffSide,
    /// The suites' hashes differ: pins or requests may have changed in between.
    pub suite_changed: bool,
    pub changed: Vec<CellChange>,
    /// Cells only one side ran.
    pub only_a: Vec<String>,
    pub only_b: Vec<String>,
    /// Cells both ran with the same outcome.
    pub same: usize,
}

impl Diff {
    pub fn differs(&self) -> bool {
        !self.changed.is_empty() || !self.only_a.is_empty() || !self.only_b.is_empty()
    }
}

type Cells = Vec<(String, PinJson, CellOutcome)>;

/// A document's side and its cells that ran (a fix record: the fix's side).
fn side(name: &str, document: &Value) -> Result<(DiffSide, Cells), DiffError> {
    let invalid = |message: String| DiffError::Invalid {
        name: name.into(),
        message,
    };
    let kind = document
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("no \"kind\"".into()))?;
    match kind {
        "check" => {
            let report: CheckReport =
                serde_json::from_value(document.clone()).map_err(|e| invalid(e.to_string()))?;
            let cells = report
                .cells
                .into_iter()
                .filter_map(|c| Some((c.id, c.pin, c.outcome?)))
                .collect();
            Ok((
                DiffSide {
                    name: name.into(),
                    kind: kind.into(),
                    revision: crate::revisions::revision::display_name(
                        &report.revision.label,
                        report.revision.tag.as_deref(),
                    ),
                    suite: report.suite,
                },
                cells,
            ))
        }
        "fix" => {
            let record: FixRecord =
                serde_json::from_value(document.clone()).map_err(|e| invalid(e.to_string()))?;
            let cells = record
                .cells
                .into_iter()
                .map(|c| (c.id, c.pin, c.fix))
                .collect();
            Ok((
                DiffSide {
                    name: name.into(),
                    kind: kind.into(),
                    revision: record.fix.name(),
                    suite: record.suite,
                },
                cells,
            ))
        }
        other => Err(DiffError::Kind {
            name: name.into(),
            kind: other.into(),
        }),
    }
}

/// Compare two documents cell by cell, in A's order (then B's new cells).
pub fn diff(name_a: &str, a: &Value, name_b: &str, b: &Value) -> Result<Diff, DiffError> {
    let (side_a, cells_a) = side(name_a, a)?;
    let (side_b, cells_b) = side(name_b, b)?;
    if side_a.suite.name != side_b.suite.name {
        return Err(DiffError::Suites {
            a: name_a.into(),
            b: name_b.into(),
            suite_a: side_a.suite.name,
            suite_b: side_b.suite.name,
        });
    }
    let mut changed = Vec::new();
    let mut only_a = Vec::new();
    let mut same = 0;
    for (id, pin_a, outcome_a) in &cells_a {
        let Some((_, pin_b, outcome_b)) = cells_b.iter().find(|(i, _, _)| i == id) else {
            only_a.push(id.clone());
            continue;
        };
        let (verdict_a, verdict_b) = (
            verdict(&pin_a.pin(), outcome_a),
            verdict(&pin_b.pin(), outcome_b),
        );
        let mut found = changes(outcome_a, outcome_b);
        if pin_a != pin_b {
            found.insert(
                0,
                format!(
                    "pin {} → {}",
                    super::listing::pin_text(pin_a),
                    super::listing::pin_text(pin_b)
                ),
            );
        }
        if found.is_empty() && verdict_a == verdict_b {
            same += 1;
            continue;
        }
        changed.push(CellChange {
            id: id.clone(),
            pin: pin_b.clone(),
            verdict_a,
            verdict_b,
            changes: found,
        });
    }
    let only_b = cells_b
        .iter()
        .filter(|(id, _, _)| !cells_a.iter().any(|(i, _, _)| i == id))
        .map(|(id, _, _)| id.clone())
        .collect();
    Ok(Diff {
        format_version: FORMAT_VERSION,
        kind: "diff".into(),
        suite_changed: side_a.suite.hash != side_b.suite.hash,
        a: side_a,
        b: side_b,
        changed,
        only_a,
        only_b,
        same,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(label: &str, cells: Value) -> Value {
        json!({
            "format_version": 1, "kind": "check",
            "suite": { "name": "s", "hash": "h" }, "runtime": "local",
            "revision": { "label": label },
            "summary": { "cells": 0, "green": 0, "red": 0, "error": 0, "not_run": 0 },
            "interrupted": false, "cells": cells,
            "caches": { "cluster": true, "build": true, "template": true },
            "timings": { "total_ms": 1, "postgres_ms": 0, "build_ms": 0, "migrate_ms": 0, "seed_ms": 0,
                         "boot_ms": 0, "matrix_ms": 0, "overhead_ms": 0, "cells_per_second": 0.0 }
        })
    }

    fn cell(id: &str, pin: u16, status: u16, check: bool) -> Value {
        json!({
            "id": id, "verdict": "GREEN", "pin": { "status": pin },
            "outcome": { "status": status, "body": "b",
                "checks": [{ "name": "kept", "expected": true, "observed": check, "passed": check }] }
        })
    }

    #[test]
    fn cells_whose_outcome_changed_are_listed_with_both_values() {
        let a = check(
            "aaaa",
            json!([
                cell("x/t/a", 403, 403, true),
                cell("x/t/b", 403, 403, true),
                cell("x/t/c", 200, 200, true)
            ]),
        );
        let b = check(
            "bbbb",
            json!([
                cell("x/t/a", 403, 200, true),
                cell("x/t/b", 403, 403, false),
                cell("x/t/d", 200, 200, true)
            ]),
        );
        let d = diff("A", &a, "B", &b).unwrap();
        assert!(d.differs());
        assert_eq!(d.changed.len(), 2);
        assert_eq!(d.changed[0].id, "x/t/a");
        assert_eq!(d.changed[0].verdict_a, Verdict::Green);
        assert_eq!(d.changed[0].verdict_b, Verdict::Red);
        assert_eq!(d.changed[0].changes, ["status 403 → 200"]);
        // The status stayed; a check value did not.
        assert_eq!(d.changed[1].changes, ["check kept: true → false"]);
        assert_eq!(d.only_a, ["x/t/c"]);
        assert_eq!(d.only_b, ["x/t/d"]);
        assert_eq!(d.same, 0);
        assert!(!diff("A", &a, "A", &a).unwrap().differs());
    }

    #[test]
    fn other_kinds_and_other_suites_are_refused() {
        let a = check("a", json!([]));
        let mut other = a.clone();
        other["suite"]["name"] = json!("t");
        assert!(matches!(
            diff("A", &a, "B", &other),
            Err(DiffError::Suites { .. })
        ));
        let bisect = json!({ "kind": "bisect" });
        assert_eq!(
            diff("A", &a, "B", &bisect).unwrap_err().to_string(),
            "B is a bisect document; replay diff compares check reports and fix records"
        );
    }
}
