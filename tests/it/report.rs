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

/// "1 cell", never "1 cells", in the reports' counts.
#[test]
fn one_cell_is_counted_in_the_singular() {
    let mut check: CheckReport = fixture("check-report.json");
    let first = check.cells[0].clone();
    check.cells = vec![first];
    check.summary.cells = 1;
    let text = markdown::check(&check);
    assert!(text.contains("**1 cell: "), "{text}");
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

/// `check` of the twin's `cells` with `--report-dir`, which exits 0: a
/// reader of the report folder's files by name.
fn check_into_report_dir(env: &crate::support::Env, cells: &[&str]) -> impl Fn(&str) -> String {
    let dir = env.tmp.path().join("report");
    let mut command = env.check_twin();
    for cell in cells {
        command.args(["--cell", cell]);
    }
    command.arg("--report-dir").arg(&dir).run_expect(0);
    move |name| std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn report_dir_holds_every_format() {
    let env = crate::support::Env::new("report-dir");
    let read = check_into_report_dir(&env, &["key_update/self/owner", "key_list/any/owner"]);
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

/// The curl lines a fix's record keeps (the side each is for, and the line),
/// as the reports must show them: one per side that is not GREEN, or one for
/// both sides when they are the same line.
fn curl_lines(cell: &serde_json::Value) -> Vec<(String, String)> {
    let side = |name: &str| cell[name]["curl"].as_str().map(str::to_string);
    match (side("parent"), side("fix")) {
        (Some(parent), Some(fix)) if parent == fix => vec![("both sides".into(), parent)],
        (parent, fix) => [("parent", parent), ("fix", fix)]
            .into_iter()
            .filter_map(|(name, curl)| curl.map(|curl| (name.to_string(), curl)))
            .collect(),
    }
}

/// `replay fix update-fix --report-dir DIR` on the twin's history: the
/// summary.md and report.html it writes give, under each cell that did not
/// stay GREEN (the six RED→GREEN cells, the RED→RED one), the curl line of
/// each side that is not GREEN — the record's line, secrets as environment
/// variables — and none for a GREEN→GREEN cell.
#[test]
fn a_fix_report_gives_the_curl_line_of_each_side_that_is_not_green() {
    let env = crate::support::Env::new("fix-report-curl");
    let repo = env.tmp.path().join("twin");
    let made = env
        .replay()
        .arg("twin-history")
        .arg(&repo)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", crate::support::text(&made).1);
    let dir = env.tmp.path().join("report");
    let output = env
        .replay()
        .args(["fix", "update-fix", "--target", "twin", "--repo"])
        .arg(&repo)
        .arg("--records")
        .arg(env.tmp.path().join("replays"))
        .arg("--report-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let (_, stderr) = crate::support::text(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let record: serde_json::Value = serde_json::from_str(&read("report.json")).unwrap();
    assert_eq!(record["verdict"], "CAUGHT");
    let summary = read("summary.md");
    let page = scraper::Html::parse_document(&read("report.html"));
    let notes = scraper::Selector::parse("ul.notes li").unwrap();
    let curl = scraper::Selector::parse("code.curl").unwrap();
    let secret = regex::Regex::new(r"sk-[0-9a-f]{32}").unwrap();
    assert!(!secret.is_match(&summary), "a key in summary.md");
    assert!(
        !secret.is_match(&read("report.html")),
        "a key in report.html"
    );

    let mut shown = 0;
    let mut both = 0;
    for cell in record["cells"].as_array().unwrap() {
        let id = cell["id"].as_str().unwrap();
        let transition = cell["transition"].as_str().unwrap();
        let lines = curl_lines(cell);
        if transition == "GREEN→GREEN" {
            assert!(lines.is_empty(), "{id}: a GREEN side keeps no curl line");
            assert!(
                !summary.contains(&format!("- `{id}` ")),
                "{id} in {summary}"
            );
            continue;
        }
        assert!(!lines.is_empty(), "{id} {transition} keeps no curl line");
        if transition == "RED→GREEN" {
            assert_eq!(lines.len(), 1, "{id}: {lines:?}");
            assert_eq!(lines[0].0, "parent", "{id}: the fix side is GREEN");
        }
        both += lines
            .iter()
            .filter(|(side, _)| side == "both sides")
            .count();

        // summary.md: the cell's note, then a sh block with a line per side.
        let note = format!("- `{id}` **{transition}** — ");
        let start = summary
            .find(&note)
            .unwrap_or_else(|| panic!("no note {note:?} in {summary}"));
        let rest = &summary[start + note.len()..];
        let end = rest.find("\n- `").unwrap_or(rest.len());
        let block = &rest[..end];
        for (side, line) in &lines {
            assert!(line.starts_with("curl -sS -X "), "{id}: {line}");
            assert!(line.contains("\"${REPLAY_URL}\""), "{id}: {line}");
            assert!(line.contains("Bearer ${REPLAY_ACTORS_"), "{id}: {line}");
            assert!(
                block.contains(&format!("  ```sh\n  # {side}\n  {line}\n")),
                "{id}: {side}'s line not in its note: {block}"
            );
        }

        // report.html: the cell's note holds the same lines, by side.
        let li = page
            .select(&notes)
            .find(|li| li.text().collect::<String>().starts_with(id))
            .unwrap_or_else(|| panic!("{id}: no note in report.html"));
        let found: Vec<(String, String)> = li
            .select(&curl)
            .map(|c| {
                (
                    c.value().attr("data-side").unwrap_or("").to_string(),
                    c.text().collect::<String>(),
                )
            })
            .collect();
        assert_eq!(found, lines, "{id} in report.html");
        shown += lines.len();
    }
    assert_eq!(page.select(&curl).count(), shown, "a curl line per side");
    assert_eq!(summary.matches("  ```sh\n").count(), {
        let cells = record["cells"].as_array().unwrap();
        cells.iter().filter(|c| !curl_lines(c).is_empty()).count()
    });
    // key_info/owner_key/org_admin is RED at both sides, with one request.
    assert!(both >= 1, "no cell RED at both sides: {summary}");
    env.assert_nothing_left();
}

/// `·` means one thing in every report: a cell that is not pinned. A pinned
/// cell that a filter left out is `~` in summary.md and report.html, as in
/// the terminal grid, and report.json lists it under `left_out`.
#[test]
fn a_filtered_check_draws_the_cells_it_left_out_apart_from_unpinned_ones() {
    let env = crate::support::Env::new("report-left-out");
    // key_update: owner × cross_org and team_admin × self are pinned (403),
    // owner × owner is not; the two cells chosen put all three in one grid.
    let read = check_into_report_dir(
        &env,
        &[
            "key_update/self/owner",
            "key_update/cross_org/team_admin",
            "key_update/owner/team_admin",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&read("report.json")).unwrap();
    let left_out: Vec<&str> = report["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        left_out.contains(&"key_update/cross_org/owner"),
        "{left_out:?}"
    );
    assert!(
        left_out.contains(&"key_update/self/team_admin"),
        "{left_out:?}"
    );
    assert!(
        !left_out.contains(&"key_update/owner/owner"),
        "not pinned: {left_out:?}"
    );
    assert_eq!(
        left_out.len() + 3,
        crate::support::suite_cells("litellm"),
        "every pinned cell is run or left out"
    );
    let summary = read("summary.md");
    assert!(summary.contains("| owner | 403 | · | ~ |"), "{summary}");
    assert!(
        summary.contains("| team_admin | ~ | 403 | 403 |"),
        "{summary}"
    );
    assert!(
        summary.contains("~ pinned, not run this time (left out by a filter)"),
        "{summary}"
    );
    let page = scraper::Html::parse_document(&read("report.html"));
    let select = |css: &str| page.select(&scraper::Selector::parse(css).unwrap()).count();
    assert_eq!(select("table.grid td.left-out"), 2);
    assert_eq!(select("table.grid td.unpinned"), 1);
    env.assert_nothing_left();
}
