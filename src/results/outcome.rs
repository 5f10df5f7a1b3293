//! What a cell showed, and how it compares with its pin.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::suite::Pin;

/// One check or followup: the value expected for the observed side
/// (allowed or denied), and the value seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    pub name: String,
    pub expected: Value,
    /// For a followup: its status, or `null` when it was not sent (it needs a
    /// capture of an earlier step that did not get its expected status).
    pub observed: Value,
    pub passed: bool,
    /// A followup's place among the scenario's followups, from 1 (absent for
    /// checks, and in records written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// The actor a followup was sent as, when it says (`as`).
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub as_: Option<String>,
    /// A followup's request as sent, secrets replaced (for one not sent: its
    /// method and its path as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<SentRequest>,
}

impl Expectation {
    /// A check's result, or a followup's without the step's details.
    pub fn new(name: impl Into<String>, expected: Value, observed: Value, passed: bool) -> Self {
        Self {
            name: name.into(),
            expected,
            observed,
            passed,
            step: None,
            as_: None,
            request: None,
        }
    }

    /// How a followup is named in a reason: `followup 2 (POST /key/update as
    /// admin)`, with its name when it has one; `followup NAME` in records that
    /// do not say which step it was.
    fn followup_label(&self) -> String {
        let Some(step) = self.step else {
            return format!("followup {}", self.name);
        };
        let mut label = format!("followup {step}");
        if self.name != step.to_string() {
            label.push_str(&format!(" `{}`", self.name));
        }
        if let Some(request) = &self.request {
            label.push_str(&format!(" ({} {}", request.method, request.path));
            if let Some(actor) = &self.as_ {
                label.push_str(&format!(" as {actor}"));
            }
            label.push(')');
        }
        label
    }
}

/// The observed outcome of one cell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CellOutcome {
    /// The status of the request under test (`None` when it never got one).
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Expectation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followups: Vec<Expectation>,
    /// Response values, by response name, as sets.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub responses: IndexMap<String, Value>,
    /// Why the request was denied, from the suite's `reason` pointers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The start of the response body, with secrets replaced.
    #[serde(default)]
    pub body: String,
    /// Why the cell could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The request under test as it was sent, with secrets replaced (absent in
    /// records written before it was kept, and when the cell failed before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<SentRequest>,
    /// The request under test as a `curl` command line, secrets and run
    /// values as environment variables (`${REPLAY_URL}`, `${REPLAY_ACTORS_OWNER_KEY}`).
    /// Reports and records keep it for the cells (or sides) that are not GREEN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curl: Option<String>,
    #[serde(skip)]
    pub duration: Duration,
}

/// A request as sent: method, path, query and body, with secrets and the run's
/// values replaced by their names (`<target_key>`, `<prefix>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentRequest {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub query: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub form: IndexMap<String, String>,
}

impl CellOutcome {
    /// The outcome without its `curl` line (GREEN cells).
    pub fn without_curl(mut self) -> Self {
        self.curl = None;
        self
    }

    /// The outcome as a record keeps it: with its `curl` line when it is not
    /// GREEN against `pin` (a way to ask that side again), without when it is.
    pub fn kept_for(self, pin: &Pin) -> Self {
        if verdict(pin, &self) == Verdict::Green {
            self.without_curl()
        } else {
            self
        }
    }

    /// Why an outcome is what it is, beyond its differences with the pin:
    /// the server's denial reason and the start of the response body.
    pub fn why(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(reason) = &self.reason {
            out.push(format!("reason {reason:?}"));
        }
        let body = self.body.trim();
        if !body.is_empty() && self.error.is_none() {
            out.push(format!(
                "body {}",
                crate::support::redact::excerpt(&body.replace('\n', " "), 120)
            ));
        }
        out
    }

    pub fn errored(message: impl Into<String>) -> Self {
        Self {
            error: Some(message.into()),
            ..Self::default()
        }
    }
}

/// GREEN: the outcome equals the pin. RED: it differs. ERROR: the cell could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Green,
    Red,
    Error,
    /// A `"?"` pin: the cell ran and shows what it does, to be accepted.
    New,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Green => "GREEN",
            Verdict::Red => "RED",
            Verdict::Error => "ERROR",
            Verdict::New => "NEW",
        }
    }
}

pub fn verdict(pin: &Pin, outcome: &CellOutcome) -> Verdict {
    if outcome.error.is_some() || outcome.status.is_none() {
        return Verdict::Error;
    }
    if pin.unknown {
        return Verdict::New;
    }
    let status_matches = outcome.status == Some(pin.status);
    let responses_match = pin
        .responses
        .iter()
        .all(|(name, value)| outcome.responses.get(name) == Some(value));
    let expectations_hold = outcome
        .checks
        .iter()
        .chain(&outcome.followups)
        .all(|e| e.passed);
    if status_matches && responses_match && expectations_hold {
        Verdict::Green
    } else {
        Verdict::Red
    }
}

/// How an outcome differs from its pin, in a few words per difference.
pub fn differences(pin: &Pin, outcome: &CellOutcome) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(error) = &outcome.error {
        out.push(error.clone());
        return out;
    }
    if pin.unknown {
        out.push(format!(
            "not pinned yet: status {}{}",
            outcome.status.map_or("none".into(), |s| s.to_string()),
            outcome
                .responses
                .iter()
                .map(|(name, value)| format!(", {name} {value}"))
                .collect::<String>()
        ));
    } else if outcome.status != Some(pin.status) {
        out.push(format!(
            "status {} (pinned {})",
            outcome.status.map_or("none".into(), |s| s.to_string()),
            pin.status
        ));
    }
    for (name, pinned) in pin.responses.iter().filter(|_| !pin.unknown) {
        let observed = outcome.responses.get(name).cloned().unwrap_or(Value::Null);
        if &observed != pinned {
            out.push(format!("{name} {} (pinned {})", observed, pinned));
        }
    }
    for e in outcome.checks.iter().filter(|e| !e.passed) {
        out.push(format!(
            "check {}: {} (expected {})",
            e.name, e.observed, e.expected
        ));
    }
    for e in outcome.followups.iter().filter(|e| !e.passed) {
        let label = e.followup_label();
        if e.observed.is_null() {
            out.push(format!(
                "{label}: not sent, it needs a capture of an earlier step that failed (expected {})",
                e.expected
            ));
        } else {
            out.push(format!("{label}: {} (expected {})", e.observed, e.expected));
        }
    }
    out
}

/// Equal as JSON, with numbers compared by value (1 == 1.0).
pub(crate) fn same(expected: &Value, observed: &Value) -> bool {
    match (expected, observed) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        _ => expected == observed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pin(status: u16) -> Pin {
        Pin {
            status,
            unknown: false,
            responses: IndexMap::new(),
        }
    }

    fn seen(status: u16) -> CellOutcome {
        CellOutcome {
            status: Some(status),
            ..CellOutcome::default()
        }
    }

    #[test]
    fn status_decides_when_there_is_nothing_else() {
        assert_eq!(verdict(&pin(403), &seen(403)), Verdict::Green);
        assert_eq!(verdict(&pin(403), &seen(200)), Verdict::Red);
        assert_eq!(
            differences(&pin(403), &seen(200)),
            ["status 200 (pinned 403)"]
        );
        assert_eq!(
            verdict(&pin(403), &CellOutcome::errored("setup failed")),
            Verdict::Error
        );
    }

    #[test]
    fn a_failed_check_makes_a_cell_red() {
        let mut outcome = seen(403);
        outcome.checks.push(Expectation::new(
            "models_flipped",
            json!(false),
            json!(true),
            false,
        ));
        assert_eq!(verdict(&pin(403), &outcome), Verdict::Red);
        assert_eq!(
            differences(&pin(403), &outcome),
            ["check models_flipped: true (expected false)"]
        );
    }

    #[test]
    fn a_followup_that_differs_is_named_by_its_step_and_request() {
        let step = |number: usize, name: &str, observed: Value, as_: Option<&str>| Expectation {
            step: Some(number),
            as_: as_.map(str::to_string),
            request: Some(SentRequest {
                method: "POST".into(),
                path: "/key/update".into(),
                query: IndexMap::new(),
                json: None,
                form: IndexMap::new(),
            }),
            ..Expectation::new(name, json!(200), observed.clone(), observed == json!(200))
        };
        let mut outcome = seen(200);
        outcome.followups.push(step(1, "1", json!(200), None));
        assert_eq!(verdict(&pin(200), &outcome), Verdict::Green);
        outcome
            .followups
            .push(step(2, "2", json!(403), Some("admin")));
        outcome.followups.push(step(3, "bump", json!(401), None));
        outcome.followups.push(step(4, "4", Value::Null, None));
        assert_eq!(verdict(&pin(200), &outcome), Verdict::Red);
        assert_eq!(
            differences(&pin(200), &outcome),
            [
                "followup 2 (POST /key/update as admin): 403 (expected 200)",
                "followup 3 `bump` (POST /key/update): 401 (expected 200)",
                "followup 4 (POST /key/update): not sent, it needs a capture of an earlier step that failed (expected 200)",
            ]
        );
        // Records from before steps were numbered name the followup only.
        let old = CellOutcome {
            followups: vec![Expectation::new("old_key", json!(401), json!(200), false)],
            ..seen(200)
        };
        assert_eq!(
            differences(&pin(200), &old),
            ["followup old_key: 200 (expected 401)"]
        );
        let text = serde_json::to_value(&outcome.followups[1]).unwrap();
        assert_eq!(text["step"], 2);
        assert_eq!(text["as"], "admin");
        assert_eq!(text["request"]["path"], "/key/update");
        assert!(
            serde_json::to_value(&old.followups[0])
                .unwrap()
                .get("step")
                .is_none()
        );
    }

    #[test]
    fn response_sets_are_compared() {
        let mut p = pin(200);
        p.responses.insert("visible".into(), json!(["a", "b"]));
        let mut outcome = seen(200);
        outcome
            .responses
            .insert("visible".into(), json!(["a", "b"]));
        assert_eq!(verdict(&p, &outcome), Verdict::Green);
        outcome.responses.insert("visible".into(), json!(["a"]));
        assert_eq!(verdict(&p, &outcome), Verdict::Red);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(same(&json!(1), &json!(1.0)));
        assert!(same(&json!([1, "a"]), &json!([1.0, "a"])));
        assert!(!same(&json!(1), &json!("1")));
    }

    #[test]
    fn a_question_mark_pin_is_new_never_green_or_red() {
        let unknown = Pin {
            status: 0,
            unknown: true,
            responses: IndexMap::new(),
        };
        assert_eq!(verdict(&unknown, &seen(200)), Verdict::New);
        assert_eq!(verdict(&unknown, &seen(0)), Verdict::New);
        assert_eq!(
            verdict(&unknown, &CellOutcome::errored("boom")),
            Verdict::Error
        );
        assert_eq!(
            differences(&unknown, &seen(401)),
            ["not pinned yet: status 401"]
        );
    }
}
