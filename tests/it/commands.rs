//! The commands that read suites and documents without booting anything
//! (`list`, `diff`, `init`, `coverage`), and the cell filters of `check`
//! against the twin.

use crate::support::*;

#[test]
fn list_shows_each_cell_with_its_endpoint_and_pin() {
    let env = Env::new("list");
    let (stdout, _) = env
        .replay()
        .args(["list", "--suite", "matrices/litellm"])
        .run_expect(0);
    let cells = suite_cells("litellm");
    assert!(
        stdout.contains(&format!("{cells} cells of suite litellm\n")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["key_update/self/owner", "POST", "/key/update", "403"]),
        "{stdout}"
    );

    let (listing, _) = env
        .replay()
        .args(["list", "--cell", "key_update/*/owner", "--format", "json"])
        .run_json(0);
    assert_eq!(listing["kind"], "list");
    let ids: Vec<&str> = listing["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["key_update/self/owner", "key_update/cross_org/owner"]);
    assert_eq!(listing["cells"][0]["file"], "scenarios/key_update.toml");

    // The filters narrow each other; values of one flag add up.
    let (listing, _) = env
        .replay()
        .args([
            "list",
            "--endpoint",
            "/key/info",
            "--endpoint",
            "post /key/delete",
            "--actor",
            "team_*",
            "--target-shape",
            "own*",
            "--format",
            "json",
        ])
        .run_json(0);
    let cells = listing["cells"].as_array().unwrap();
    assert!(!cells.is_empty());
    for cell in cells {
        assert!(
            cell["actor"].as_str().unwrap().starts_with("team_"),
            "{cell}"
        );
        assert!(
            cell["target"].as_str().unwrap().starts_with("own"),
            "{cell}"
        );
        assert!(
            ["GET /key/info", "POST /key/delete"].contains(&cell["endpoint"].as_str().unwrap()),
            "{cell}"
        );
    }
}

#[test]
fn a_filter_that_selects_nothing_is_exit_2_naming_it() {
    let env = Env::new("list-nothing");
    for (args, named) in [
        (
            vec!["--actor", "nobody"],
            "--actor nobody selects no cell of suite litellm",
        ),
        (
            vec!["--endpoint", "/nope"],
            "--endpoint /nope selects no cell of suite litellm",
        ),
        (
            vec!["--target-shape", "x*"],
            "--target-shape x* selects no cell of suite litellm",
        ),
        (
            vec!["--cell", "key_*/nope/*"],
            "--cell key_*/nope/* selects no cell of suite litellm",
        ),
        (
            vec!["--cell", "key_info/nope/owner"],
            "no pinned cell `key_info/nope/owner` in suite litellm",
        ),
        (
            vec!["--cell", "key_info/*/*", "--endpoint", "/key/update"],
            "--cell key_info/*/* --endpoint /key/update together select no cell",
        ),
    ] {
        let (stdout, stderr) = env.replay().arg("list").args(&args).run_expect(2);
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains(&format!("error: {named}")),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("hint: "), "{stderr}");
    }
    // check and bisect choose their cells the same way, before anything boots.
    for command in ["check", "bisect"] {
        let mut replay = env.replay();
        replay.args([
            command,
            "--target",
            "twin",
            "--repo",
            "testdata/twin",
            "--actor",
            "nobody",
        ]);
        if command == "bisect" {
            replay.args(["--good", "HEAD~1", "--bad", "HEAD"]);
        }
        let (_, stderr) = replay.run_expect(2);
        assert!(
            stderr.contains("error: --actor nobody selects no cell of suite litellm"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn check_runs_only_the_cells_its_filters_select() {
    let env = Env::new("check-filters");
    let check = |filters: &[&str]| {
        let mut command = env.replay();
        command
            .args([
                "check",
                "--target",
                "twin",
                "--repo",
                "testdata/twin",
                "--format",
                "json",
            ])
            .args(filters);
        command
    };
    // --cell and --endpoint narrow each other: key_update's cells are not /key/info's.
    check(&[
        "--endpoint",
        "/key/info",
        "--actor",
        "owner",
        "--cell",
        "key_update/*/owner",
    ])
    .run_expect(2);
    let (report, _) = check(&[
        "--endpoint",
        "/key/info",
        "--actor",
        "owner",
        "--actor",
        "proxy_admin",
    ])
    .run_json(0);
    let ids: Vec<&str> = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(!ids.is_empty());
    for id in &ids {
        assert!(
            id.starts_with("key_info/") && (id.ends_with("/owner") || id.ends_with("/proxy_admin")),
            "{id}"
        );
    }
    assert_eq!(report["summary"]["cells"], ids.len());
    env.assert_nothing_left();
}

/// A RED cell says why (status against pin, the server's reason, the start of
/// the body) and how to ask again: a curl line whose secrets are environment
/// variables — in the human output, the JSON, the Markdown and the HTML.
#[test]
fn a_red_cell_says_why_and_gives_a_curl_line_without_secrets() {
    let env = Env::new("check-why");
    let suite = env.suite_copy("litellm");
    edit(
        &suite.join("scenarios/key_update.toml"),
        "owner              =   [403,    \"-\",     403]",
        "owner              =   [200,    \"-\",     403]",
    );
    let reports = env.tmp.path().join("reports");
    let (stdout, _) = env
        .replay()
        .args([
            "check",
            "--target",
            "twin",
            "--repo",
            "testdata/twin",
            "--suite",
        ])
        .arg(&suite)
        .args(["--endpoint", "/key/update", "--report-dir"])
        .arg(&reports)
        .run_expect(1);
    let red = stdout
        .lines()
        .position(|l| l.contains("RED key_update/self/owner"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let detail: Vec<&str> = stdout.lines().skip(red).take(4).collect();
    assert!(detail[0].contains("status 403 (pinned 200)"), "{detail:#?}");
    assert!(
        detail.iter().any(|l| l.trim_start().starts_with("reason ")),
        "{detail:#?}"
    );
    assert!(
        detail.iter().any(|l| l.trim_start().starts_with("body ")),
        "{detail:#?}"
    );
    let curl = detail
        .iter()
        .find(|l| l.trim_start().starts_with("curl "))
        .unwrap_or_else(|| panic!("{detail:#?}"))
        .trim();
    assert!(
        curl.starts_with(r#"curl -sS -X POST "${REPLAY_URL}""/key/update""#),
        "{curl}"
    );
    assert!(curl.contains("Bearer ${REPLAY_ACTORS_OWNER_KEY}"), "{curl}");
    // The key under update is a capture of a setup step: a variable too.
    assert!(curl.contains("${REPLAY_TARGET_KEY}"), "{curl}");
    assert!(!curl.contains("sk-"), "{curl}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
    for cell in report["cells"].as_array().unwrap() {
        let has_curl = cell["outcome"]["curl"].is_string();
        assert_eq!(has_curl, cell["verdict"] != "GREEN", "{cell}");
    }
    let summary = std::fs::read_to_string(reports.join("summary.md")).unwrap();
    assert!(summary.contains("  ```sh\n  curl -sS -X POST"), "{summary}");
    assert!(summary.contains("  - reason "), "{summary}");
    let page = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(
        page.contains("<code class=\"curl\">curl -sS -X POST"),
        "{page}"
    );
    assert!(
        page.contains("RED</strong> 1 cell: status 403 (pinned 200)"),
        "{page}"
    );
    env.assert_nothing_left();
}

#[test]
fn diff_lists_the_cells_whose_outcome_changed_with_both_values() {
    let env = Env::new("diff");
    let diff = |args: &[&str], code| env.replay().arg("diff").args(args).run_expect(code);
    // Two fix records of the twin's history: the delete fix, then the update fix.
    let (stdout, _) = diff(
        &[
            "replays/litellm/46e6f4a.json",
            "replays/litellm/7d1494a.json",
            "--format",
            "json",
        ],
        1,
    );
    let found: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(found["kind"], "diff");
    let changed = found["changed"].as_array().unwrap();
    assert!(!changed.is_empty(), "{found}");
    for change in changed {
        assert_ne!(change["changes"], serde_json::json!([]), "{change}");
        for line in change["changes"].as_array().unwrap() {
            assert!(line.as_str().unwrap().contains(" → "), "{change}");
        }
    }
    let (stdout, _) = diff(
        &[
            "replays/litellm/46e6f4a.json",
            "replays/litellm/7d1494a.json",
        ],
        1,
    );
    let first = changed[0]["id"].as_str().unwrap();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(first) && l.contains(" → ")),
        "{stdout}"
    );
    assert!(stdout.contains(" the same\n"), "{stdout}");

    // A document against itself: nothing differs, exit 0.
    let (stdout, _) = diff(
        &[
            "tests/data/check-report.json",
            "tests/data/check-report.json",
        ],
        0,
    );
    assert!(stdout.contains("0 cells differ"), "{stdout}");

    // A bisect record is not compared: exit 2, naming it.
    let (_, stderr) = diff(
        &[
            "tests/data/check-report.json",
            "tests/data/bisect-record.json",
        ],
        2,
    );
    assert!(
        stderr.contains("error: tests/data/bisect-record.json is a bisect document"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
}

/// `replay init --openapi`: one scenario per operation, pins "?", a suite that
/// loads; given the twin's target it runs, every cell NEW.
#[test]
fn init_scaffolds_a_suite_that_loads_and_runs() {
    let env = Env::new("init");
    let dir = env.tmp.path().join("my-api");
    let (stdout, stderr) = env
        .replay()
        .arg("init")
        .arg(&dir)
        .args(["--openapi", "tests/data/openapi.json"])
        .run_expect(0);
    assert_eq!(stdout.lines().count(), 3 + 7, "{stdout}");
    assert!(stderr.contains("14 cells"), "{stderr}");
    let (listing, _) = env
        .replay()
        .args(["list", "--format", "json", "--suite"])
        .arg(&dir)
        .run_json(0);
    let endpoints: Vec<&str> = listing["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["endpoint"].as_str().unwrap())
        .collect();
    assert!(
        endpoints.contains(&"POST /key/{key}/regenerate"),
        "{endpoints:?}"
    );
    assert!(
        listing["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["pin"]["unknown"] == true)
    );

    // A folder that is not empty is refused, and left as it was.
    let (_, stderr) = env.replay().arg("init").arg(&dir).run_expect(2);
    assert!(stderr.contains("is not empty"), "{stderr}");

    std::fs::copy(
        repo_root().join("matrices/litellm/targets/twin.toml"),
        dir.join("targets/twin.toml"),
    )
    .unwrap();
    let (report, _) = env
        .replay()
        .args([
            "check",
            "--target",
            "twin",
            "--repo",
            "testdata/twin",
            "--format",
            "json",
        ])
        .arg("--suite")
        .arg(&dir)
        .run_json(1);
    assert_eq!(report["summary"]["new"], 14, "{}", report["summary"]);
    env.assert_nothing_left();
}
