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
        let mut command = env.check_twin();
        command.args(["--format", "json"]).args(filters);
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
        .check_suite(&suite, &["--endpoint", "/key/update", "--report-dir"])
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
    let (report, _) = env.check_suite(&dir, &["--format", "json"]).run_json(1);
    assert_eq!(report["summary"]["new"], 14, "{}", report["summary"]);
    env.assert_nothing_left();
}

/// A server on 127.0.0.1 that answers each path it is given with its
/// `Content-Type` and body (404 else), for `connections` requests.
fn serve(
    routes: Vec<(&'static str, &'static str, String)>,
    connections: usize,
) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, content_type, body) = match routes.iter().find(|(p, _, _)| *p == path) {
                Some((_, content_type, body)) => ("200 OK", *content_type, body.clone()),
                None => ("404 Not Found", "text/plain", "not found".to_string()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (address, handle)
}

/// `--openapi` reads YAML as it reads JSON: the same document in either
/// gives the same scaffold and the same coverage, from a file (by its
/// extension) or a URL (by its Content-Type, or its first character).
#[test]
fn the_same_openapi_document_in_json_and_yaml_gives_the_same_scaffold_and_coverage() {
    let env = Env::new("openapi-yaml");
    let init = |from: &str, into: &std::path::Path| {
        let output = env
            .replay()
            .arg("init")
            .arg(into)
            .args(["--openapi", from])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{from}: {}", text(&output).1);
        files_below(into)
    };
    let json_suite = init("tests/data/openapi.json", &env.tmp.path().join("json/api"));
    let yaml_suite = init("tests/data/openapi.yaml", &env.tmp.path().join("yaml/api"));
    assert_eq!(json_suite.len(), 3 + 7);
    assert_eq!(json_suite, yaml_suite);

    let coverage = |from: &str| {
        let output = env
            .replay()
            .args([
                "coverage",
                "--suite",
                "matrices/litellm",
                "--format",
                "json",
                "--openapi",
                from,
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{from}: {}", text(&output).1);
        let mut found = json(&output);
        assert_eq!(found["openapi"], from, "the document is named as given");
        found.as_object_mut().unwrap().remove("openapi");
        found
    };
    let from_json = coverage("tests/data/openapi.json");
    assert_eq!(from_json["summary"]["covered"], 6, "{from_json}");
    assert_eq!(from_json["summary"]["endpoints"], 7, "{from_json}");
    assert_eq!(coverage("tests/data/openapi.yaml"), from_json);

    // Over HTTP: a name without an extension, YAML by its Content-Type, and
    // JSON served as text/plain by its first character.
    let yaml = std::fs::read_to_string(repo_root().join("tests/data/openapi.yaml")).unwrap();
    let json_text = std::fs::read_to_string(repo_root().join("tests/data/openapi.json")).unwrap();
    let (address, server) = serve(
        vec![
            ("/openapi", "application/yaml", yaml),
            ("/spec", "text/plain; charset=utf-8", json_text),
        ],
        4,
    );
    assert_eq!(coverage(&format!("{address}/openapi")), from_json);
    assert_eq!(coverage(&format!("{address}/spec")), from_json);
    let from_url = init(
        &format!("{address}/openapi"),
        &env.tmp.path().join("url/api"),
    );
    assert_eq!(from_url, json_suite);
    // A path the server does not have: exit 2, naming the URL and the status.
    let output = env
        .replay()
        .args(["coverage", "--suite", "matrices/litellm", "--openapi"])
        .arg(format!("{address}/missing.yaml"))
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("error: {address}/missing.yaml answered 404")),
        "{stderr}"
    );
    server.join().unwrap();
}

/// A malformed YAML document is exit 2 naming its file and line (and what
/// it was read as), for `coverage` and for `init`, which then writes
/// nothing; a URL that does not answer is exit 3, naming it.
#[test]
fn a_malformed_yaml_document_names_its_file_and_line() {
    let env = Env::new("openapi-bad-yaml");
    let bad = env.tmp.path().join("openapi.yaml");
    // Line 5 is indented under nothing: `post` belongs to no mapping.
    std::fs::write(
        &bad,
        "openapi: 3.0.0\npaths:\n  /key/info:\n    get: {}\n   post: {}\n",
    )
    .unwrap();
    let coverage = || {
        env.replay()
            .args(["coverage", "--suite", "matrices/litellm", "--openapi"])
            .arg(&bad)
            .run_expect(2)
    };
    let (stdout, stderr) = coverage();
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "error: {}:5: not valid YAML (column 4): ",
            bad.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: it was read as YAML (by its extension)"),
        "{stderr}"
    );

    let dir = env.tmp.path().join("from-bad");
    let output = env
        .replay()
        .arg("init")
        .arg(&dir)
        .arg("--openapi")
        .arg(&bad)
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:5: not valid YAML", bad.display())),
        "{stderr}"
    );
    assert!(!dir.exists(), "init wrote into {}", dir.display());

    // Valid YAML that is not a document with paths: exit 2, no line to name.
    std::fs::write(&bad, "- just\n- a list\n").unwrap();
    let (_, stderr) = coverage();
    assert!(stderr.contains("has no `paths` object"), "{stderr}");

    // Nothing listens on a port just freed: exit 3, naming the URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/openapi.yaml");
    let output = env
        .replay()
        .args(["coverage", "--suite", "matrices/litellm", "--openapi", &url])
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
}
