//! JUnit XML, for the test tab of a CI system: one testcase per cell, named
//! `scenario/target/actor`, one testsuite per scenario.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::endpoint_of;
use crate::results::CheckReport;
use crate::results::outcome::{CellOutcome, Verdict};
use crate::results::record::{FixRecord, FixVerdict, Transition};
use crate::results::{BisectRecord, BisectResult};
use crate::support::redact::excerpt;

fn suite_name(scenario: &str, endpoint: Option<&str>) -> String {
    match endpoint {
        Some(endpoint) => format!("{scenario} ({endpoint})"),
        None => scenario.to_string(),
    }
}

/// The testsuite of each scenario, in the order the cells name them.
fn suites<T>(
    cells: &[T],
    id: impl Fn(&T) -> &str,
    name: impl Fn(&str) -> String,
) -> Vec<(String, TestSuite, Vec<&T>)> {
    let mut out: Vec<(String, TestSuite, Vec<&T>)> = Vec::new();
    for cell in cells {
        let scenario = id(cell).split('/').next().unwrap_or_default().to_string();
        match out.iter_mut().find(|(s, _, _)| *s == scenario) {
            Some((_, _, members)) => members.push(cell),
            None => {
                let suite = TestSuite::new(name(&scenario));
                out.push((scenario, suite, vec![cell]));
            }
        }
    }
    out
}

fn render(mut report: Report, suites: Vec<TestSuite>) -> String {
    report.add_test_suites(suites);
    report.to_string().expect("JUnit serialises")
}

fn failure(kind: NonSuccessKind, message: String, description: String) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    status.set_message(message);
    if !description.is_empty() {
        status.set_description(description);
    }
    status
}

/// What a failure's text says about an outcome: the differences and the start of the body.
fn details(differences: &[String], outcome: Option<&CellOutcome>) -> String {
    let mut text = differences.join("\n");
    if let Some(outcome) = outcome
        && !outcome.body.is_empty()
    {
        text.push_str(&format!("\nresponse: {}", excerpt(&outcome.body, 300)));
    }
    text
}

pub fn check(report: &CheckReport) -> String {
    let target = report
        .target
        .as_ref()
        .map_or("a running server", |t| t.name.as_str());
    let mut junit = Report::new(format!("replay check {} on {target}", report.suite.name));
    junit.set_time(Duration::from_millis(report.timings.total_ms as u64));
    let mut out = Vec::new();
    for (scenario, mut suite, cells) in suites(
        &report.cells,
        |c| &c.id,
        |s| suite_name(s, endpoint_of(&report.scenarios, s)),
    ) {
        for cell in cells {
            let observed = cell.outcome.as_ref().and_then(|o| o.status);
            let status = match cell.verdict {
                Some(Verdict::Green) => TestCaseStatus::success(),
                None => {
                    let mut skipped = TestCaseStatus::skipped();
                    skipped.set_message("not run: the check was interrupted");
                    skipped
                }
                Some(Verdict::Error) => failure(
                    NonSuccessKind::Error,
                    cell.differences
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "the cell could not run".into()),
                    details(&cell.differences, None),
                ),
                Some(Verdict::New) => {
                    let mut skipped = TestCaseStatus::skipped();
                    skipped.set_message(format!(
                        "NEW: observed {}, pinned \"?\" (accept it with --accept)",
                        observed.map_or("no status".into(), |s| s.to_string())
                    ));
                    skipped
                }
                Some(Verdict::Red) => failure(
                    NonSuccessKind::Failure,
                    format!(
                        "observed {}, pinned {}",
                        observed.map_or("no status".into(), |s| s.to_string()),
                        cell.pin.status
                    ),
                    details(&cell.differences, cell.outcome.as_ref()),
                ),
            };
            let mut case = TestCase::new(cell.id.clone(), status);
            case.set_classname(format!("{}.{scenario}", report.suite.name));
            if let Some(outcome) = &cell.outcome {
                case.set_time(outcome.duration);
            }
            suite.add_test_case(case);
        }
        out.push(suite);
    }
    render(junit, out)
}

/// A fix's JUnit agrees with its exit code: only GREEN→RED and ERROR cells
/// fail; a RED→RED cell is skipped (this fix does not address it), and one
/// testcase `verdict` fails when the fix is NOT CAUGHT, with the reason.
pub fn fix(record: &FixRecord) -> String {
    let junit = Report::new(format!(
        "replay fix {} {}",
        record.fix.short, record.suite.name
    ));
    let mut out = Vec::new();
    let mut verdict = TestSuite::new("verdict");
    verdict.add_property(("fix", record.fix.commit.as_str()));
    let mut case = TestCase::new(
        format!("fix {}", record.fix.short),
        match record.verdict {
            FixVerdict::Caught => TestCaseStatus::success(),
            FixVerdict::NotCaught => failure(
                NonSuccessKind::Failure,
                format!(
                    "NOT CAUGHT: {}",
                    record.reason.as_deref().unwrap_or("no reason recorded")
                ),
                String::new(),
            ),
        },
    );
    case.set_classname(format!("{}.verdict", record.suite.name));
    case.add_property(("verdict", record.verdict.as_str()));
    verdict.add_test_case(case);
    out.push(verdict);
    for (scenario, mut suite, cells) in suites(
        &record.cells,
        |c| &c.id,
        |s| suite_name(s, endpoint_of(&record.scenarios, s)),
    ) {
        suite.add_property(("fix", record.fix.commit.as_str()));
        for cell in cells {
            let change = format!(
                "{} → {} (pinned {})",
                cell.parent.status.map_or("none".into(), |s| s.to_string()),
                cell.fix.status.map_or("none".into(), |s| s.to_string()),
                cell.pin.status
            );
            let status = match cell.transition {
                Transition::RedToGreen | Transition::GreenToGreen => TestCaseStatus::success(),
                Transition::New => {
                    let mut skipped = TestCaseStatus::skipped();
                    skipped.set_message(format!("NEW: pinned \"?\", {change}"));
                    skipped
                }
                Transition::GreenToRed => failure(
                    NonSuccessKind::Failure,
                    format!("GREEN→RED: the fix broke the pin, {change}"),
                    details(&[], Some(&cell.fix)),
                ),
                Transition::RedToRed => {
                    let mut skipped = TestCaseStatus::skipped();
                    skipped.set_message(format!(
                        "RED→RED: RED at the parent and at the fix, not this fix's to change, {change}"
                    ));
                    let text = details(&[], Some(&cell.fix));
                    if !text.is_empty() {
                        skipped.set_description(text);
                    }
                    skipped
                }
                Transition::Error => failure(
                    NonSuccessKind::Error,
                    format!(
                        "ERROR: {}",
                        cell.parent
                            .error
                            .as_ref()
                            .or(cell.fix.error.as_ref())
                            .cloned()
                            .unwrap_or_default()
                    ),
                    String::new(),
                ),
            };
            let mut case = TestCase::new(cell.id.clone(), status);
            case.set_classname(format!("{}.{scenario}", record.suite.name));
            case.add_property(("transition", cell.transition.as_str()));
            if cell.transition == Transition::RedToGreen {
                case.set_system_out(format!("RED→GREEN: caught, {change}"));
            }
            suite.add_test_case(case);
        }
        out.push(suite);
    }
    render(junit, out)
}

pub fn bisect(record: &BisectRecord) -> String {
    let junit = Report::new(format!(
        "replay bisect {}..{} {}",
        record.good.short, record.bad.short, record.suite.name
    ));
    let mut out = Vec::new();
    for (scenario, mut suite, cells) in suites(&record.cells, |c| &c.id, |s| s.to_string()) {
        for cell in cells {
            let commit = cell
                .commit
                .as_ref()
                .map(|c| format!("{} {}", c.short, c.subject))
                .unwrap_or_default();
            let status = match cell.result {
                BisectResult::Flaky => failure(
                    NonSuccessKind::Failure,
                    format!("FLAKY: its runs disagreed at {commit}"),
                    String::new(),
                ),
                _ => TestCaseStatus::success(),
            };
            let mut case = TestCase::new(cell.id.clone(), status);
            case.set_classname(format!("{}.{scenario}", record.suite.name));
            match cell.result {
                BisectResult::Found => {
                    case.set_system_out(format!("first changed at {commit}"));
                }
                BisectResult::Range => {
                    case.set_system_out(format!(
                        "changed at one of the commits up to {commit}; unbootable between: {}",
                        cell.unbootable.join(", ")
                    ));
                }
                BisectResult::Interrupted => {
                    case.set_system_out(format!(
                        "search interrupted: changed at one of the commits after {} up to {commit}",
                        cell.after.as_ref().map(|c| c.short.as_str()).unwrap_or("?")
                    ));
                }
                BisectResult::Flaky => {}
            }
            if let Some(movement) = cell.movement {
                case.add_property(Property::new("movement", movement.label()));
            }
            if !cell.changes.is_empty() {
                case.add_property(Property::new("changes", cell.changes.join(", ")));
            }
            suite.add_test_case(case);
        }
        out.push(suite);
    }
    render(junit, out)
}
