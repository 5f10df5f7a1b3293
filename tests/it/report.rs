//! The reports: golden JUnit and Markdown for a check, a fix and a bisect,
//! and the JUnit valid against the JUnit XML schema.

use std::path::{Path, PathBuf};

use replay::report::{junit, markdown};
use replay::results::BisectRecord;
use replay::results::CheckReport;
use replay::results::record::FixRecord;

use crate::support::{RunExt, repo_root};

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = repo_root().join("tests/data").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every rendering, by golden file name.
fn renderings() -> Vec<(&'static str, String)> {
    let check: CheckReport = fixture("check-report.json");
    let fix: FixRecord = fixture("fix-record.json");
    let bisect: BisectRecord = fixture("bisect-record.json");
    vec![
        ("check.xml", junit::check(&check)),
        ("check.md", markdown::check(&check)),
        ("fix.xml", junit::fix(&fix)),
        ("fix.md", markdown::fix(&fix)),
        ("bisect.xml", junit::bisect(&bisect)),
        ("bisect.md", markdown::bisect(&bisect)),
    ]
}

/// Compare with tests/golden/NAME; `REPLAY_BLESS=1` writes the new text instead.
#[test]
fn junit_and_markdown_match_their_golden_files() {
    let golden = repo_root().join("tests/golden");
    let mut differ = Vec::new();
    for (name, text) in renderings() {
        let path = golden.join(name);
        if std::env::var_os("REPLAY_BLESS").is_some() {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != text {
            differ.push(format!(
                "{}:\n{}",
                path.display(),
                similar::TextDiff::from_lines(&expected, &text)
                    .unified_diff()
                    .context_radius(2)
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "differs from the golden files (REPLAY_BLESS=1 rewrites them):\n{}",
        differ.join("\n")
    );
}

#[test]
fn the_markdown_marks_exactly_the_changed_cells() {
    let check: CheckReport = fixture("check-report.json");
    let text = markdown::check(&check);
    let in_grids = |text: &str, mark: &str| {
        text.lines()
            .filter(|l| l.starts_with("| "))
            .map(|l| l.matches(mark).count())
            .sum::<usize>()
    };
    assert_eq!(in_grids(&text, "🔴"), check.summary.red);
    let fix: FixRecord = fixture("fix-record.json");
    let text = markdown::fix(&fix);
    assert_eq!(in_grids(&text, "✅"), fix.transitions.red_to_green.len());
}

fn xmllint() -> PathBuf {
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("xmllint").is_file() {
            return dir.join("xmllint");
        }
    }
    panic!(
        "xmllint is not installed: run scripts/setup --test (it installs Debian's libxml2-utils)"
    );
}

#[test]
fn the_junit_validates_against_the_junit_schema() {
    let schema = repo_root().join("tests/data/junit.xsd");
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in renderings()
        .into_iter()
        .filter(|(n, _)| n.ends_with(".xml"))
    {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let output = std::process::Command::new(xmllint())
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name} does not validate: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // The schema does reject what is not JUnit.
    let bad: &Path = &dir.path().join("bad.xml");
    std::fs::write(
        bad,
        "<testsuites><testsuite tests=\"1\"><testcase/></testsuite></testsuites>",
    )
    .unwrap();
    let output = std::process::Command::new(xmllint())
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(bad)
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[test]
fn report_dir_holds_every_format() {
    let env = crate::support::Env::new("report-dir");
    let dir = env.tmp.path().join("report");
    let output = env
        .replay()
        .args([
            "check",
            "--target",
            "twin",
            "--repo",
            "testdata/twin",
            "--cell",
            "key_update/self/owner",
            "--cell",
            "key_list/any/owner",
            "--report-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let report: CheckReport = serde_json::from_str(&read("report.json")).unwrap();
    assert_eq!(report.summary.green, 2);
    assert!(read("junit.xml").contains("testcase name=\"key_update/self/owner\""));
    assert!(read("summary.md").contains("**2 cells: 2 GREEN, 0 RED, 0 ERROR**"));
    let html = read("report.html");
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("data-cell=\"key_update/self/owner\""),
        "{}",
        &html[..200.min(html.len())]
    );
    env.assert_nothing_left();
}

/// The counts on the root `<testsuites>` element of a JUnit document.
fn junit_counts(xml: &str) -> (usize, usize, usize) {
    let root = xml.lines().find(|l| l.contains("<testsuites")).unwrap();
    let count = |name: &str| -> usize {
        let start = root.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        root[start..].split('"').next().unwrap().parse().unwrap()
    };
    (count("failures"), count("errors"), count("skipped"))
}

/// A fix's JUnit fails exactly when its exit code does: a CAUGHT fix with a
/// RED→RED cell has no failure (the cell is skipped, with the reason); a
/// GREEN→RED or an ERROR cell fails, and so does the verdict of a fix NOT CAUGHT.
#[test]
fn a_fix_junit_fails_exactly_when_the_fix_is_not_caught() {
    use replay::results::record::{FixVerdict, Transition};
    let caught: FixRecord = fixture("fix-record.json");
    assert_eq!(caught.verdict, FixVerdict::Caught);
    assert_eq!(caught.transitions.red_to_red.len(), 1);
    let xml = junit::fix(&caught);
    assert_eq!(junit_counts(&xml), (0, 0, 1), "{xml}");
    assert!(xml.contains("RED→RED: RED at the parent and at the fix"));

    let mut broke = caught.clone();
    let cell = broke
        .cells
        .iter_mut()
        .find(|c| c.transition == Transition::GreenToGreen)
        .unwrap();
    cell.transition = Transition::GreenToRed;
    broke.verdict = FixVerdict::NotCaught;
    broke.reason = Some("1 cell went GREEN→RED: the fix broke a pin".into());
    let xml = junit::fix(&broke);
    assert_eq!(junit_counts(&xml).0, 2, "the cell and the verdict: {xml}");
    assert!(xml.contains("NOT CAUGHT: 1 cell went GREEN→RED"));

    let mut errored = caught.clone();
    let cell = errored
        .cells
        .iter_mut()
        .find(|c| c.transition == Transition::GreenToGreen)
        .unwrap();
    cell.transition = Transition::Error;
    errored.verdict = FixVerdict::NotCaught;
    let (failures, errors, _) = junit_counts(&junit::fix(&errored));
    assert_eq!((failures, errors), (1, 1));
}

/// `--format sarif`: SARIF 2.1.0 with one result per RED cell, at the line of
/// its pin in its scenario file (relative to the root of this checkout, which
/// holds the suite), and the same document as report.sarif in --report-dir.
/// At `update-fix` of the twin's history, key_info/owner_key/org_admin is RED.
#[test]
fn sarif_has_a_result_per_red_cell_at_its_pin_line() {
    let env = crate::support::Env::new("sarif");
    let repo = env.tmp.path().join("twin");
    env.replay().arg("twin-history").arg(&repo).run_expect(0);
    let dir = env.tmp.path().join("report");
    let (stdout, _) = env
        .replay()
        .args(["check", "--target", "twin", "--rev", "update-fix"])
        .args(["--cell", "key_info/*/*", "--format", "sarif", "--repo"])
        .arg(&repo)
        .arg("--report-dir")
        .arg(&dir)
        .run_expect(1);
    let sarif: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "replay");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{results:#?}");
    let result = &results[0];
    assert_eq!(result["ruleId"], "key_info");
    assert_eq!(result["level"], "error");
    let message = result["message"]["text"].as_str().unwrap();
    assert!(
        message.starts_with("key_info/owner_key/org_admin is RED: status 200 (pinned 403)"),
        "{message}"
    );
    let physical = &result["locations"][0]["physicalLocation"];
    let uri = physical["artifactLocation"]["uri"].as_str().unwrap();
    assert_eq!(uri, "matrices/litellm/scenarios/key_info.toml");
    let line = physical["region"]["startLine"].as_u64().unwrap() as usize;
    let text = std::fs::read_to_string(repo_root().join(uri)).unwrap();
    let row = text.lines().nth(line - 1).unwrap();
    assert!(row.starts_with("org_admin "), "line {line}: {row}");
    assert_eq!(
        std::fs::read_to_string(dir.join("report.sarif")).unwrap(),
        stdout
    );
    // SARIF is the drift of one revision: fix and bisect refuse it before booting.
    let refused = env
        .replay()
        .args([
            "fix",
            "update-fix",
            "--target",
            "twin",
            "--format",
            "sarif",
            "--repo",
        ])
        .arg(&repo)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        crate::support::text(&refused)
            .1
            .contains("SARIF is for replay check")
    );
    env.assert_nothing_left();
}
