//! `matrices/twin-creds`: keys sent in a header of their own, in a cookie and
//! with basic auth (issue 11, item 5), against the twin and a real Postgres;
//! and none of what they send is ever printed or written.

use base64::Engine as _;

use crate::support::*;

/// basil's password in matrices/twin-creds/world.toml.
const BASIL_PASSWORD: &str = "basil-pw-3f9d2c7e1a";

#[test]
fn the_creds_suite_is_green_with_keys_in_a_header_a_cookie_and_basic_auth() {
    let env = Env::new("suite-creds");
    let (report, stdout, stderr) = green_check(&env, "twin-creds", 32);
    // The twin took each caller for who it is, whichever way its key came:
    // x-api-key, a cookie, basic auth (with the key, or a password of the
    // world's), an Authorization header of its own, a bearer.
    for actor in ["alice", "carol", "bob", "basil", "dana", "erin"] {
        let who = cell(&report, &format!("whoami/any/{actor}"));
        assert_eq!(who["outcome"]["status"], 200, "{who}");
        let check = &who["outcome"]["checks"][0];
        assert_eq!(check["name"], "who");
        assert_eq!(check["passed"], true, "{who}");
        assert_eq!(check["observed"], format!("<prefix>{actor}"), "{who}");
    }
    // A prefix the server does not strip is another key; no key at all is 401 too.
    let mallory = cell(&report, "whoami/any/mallory");
    assert_eq!(mallory["outcome"]["status"], 401);
    assert_eq!(
        mallory["outcome"]["reason"],
        "Authentication Error, Invalid proxy server token passed."
    );
    let anonymous = cell(&report, "key_info/any/anonymous");
    assert_eq!(anonymous["outcome"]["reason"], "No api key passed in.");
    // Known callers that may not read alice's key are 403, not 401.
    for actor in ["carol", "bob", "basil", "dana", "erin"] {
        assert_eq!(
            cell(&report, &format!("key_info/any/{actor}"))["outcome"]["status"],
            403
        );
    }
    // The new key of a followup goes the suite's way (x-api-key) and works.
    for id in ["key_generate/self/carol", "key_generate/none/basil"] {
        let generated = cell(&report, id);
        assert_eq!(generated["outcome"]["followups"][0]["name"], "new_key");
        assert_eq!(
            generated["outcome"]["followups"][0]["observed"], 200,
            "{generated}"
        );
    }
    for text in [&stdout, &stderr] {
        assert!(!text.contains(BASIL_PASSWORD), "{text}");
    }
    env.assert_nothing_left();
}

#[test]
fn what_each_kind_of_credential_sends_is_redacted_in_records_reports_curl_lines_and_logs() {
    let env = Env::new("creds-redacted");
    let suite = env.suite_copy("twin-creds");
    // Pins the twin disagrees with: each of these cells is RED, so its curl
    // line is kept in every report.
    let scenario = suite.join("scenarios/key_info.toml");
    for (from, to) in [
        ("alice     = [200]", "alice     = [403]"),
        ("carol     = [403]", "carol     = [200]"),
        ("bob       = [403]", "bob       = [200]"),
        ("basil     = [403]", "basil     = [200]"),
        ("dana      = [403]", "dana      = [200]"),
        ("erin      = [403]", "erin      = [200]"),
        ("mallory   = [401]", "mallory   = [200]"),
    ] {
        edit(&scenario, from, to);
    }
    let reports = env.tmp.path().join("reports");
    let output = env
        .check_suite(
            &suite,
            &[
                "--format",
                "json",
                "--keep-logs",
                "--report-dir",
                reports.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report = json(&output);
    let mut red = cells_with(&report, "RED");
    red.sort();
    assert_eq!(red.len(), 7, "{red:?}");
    let curl = |actor: &str| {
        cell(&report, &format!("key_info/any/{actor}"))["outcome"]["curl"]
            .as_str()
            .unwrap_or_else(|| panic!("no curl line for {actor}"))
            .to_string()
    };
    let sent = [
        ("alice", "-H \"x-api-key: ${REPLAY_ACTORS_ALICE_KEY}\""),
        ("carol", "--cookie \"twin_key=${REPLAY_ACTORS_CAROL_KEY}\""),
        ("bob", "-u \"${REPLAY_PREFIX}bob:${REPLAY_ACTORS_BOB_KEY}\""),
        ("basil", "-u \"basil:${REPLAY_ACTORS_BASIL_PASSWORD}\""),
        (
            "dana",
            "-H \"Authorization: Bearer ${REPLAY_ACTORS_DANA_KEY}\"",
        ),
        (
            "erin",
            "-H \"Authorization: Bearer ${REPLAY_ACTORS_ERIN_KEY}\"",
        ),
        (
            "mallory",
            "-H \"x-api-key: Token ${REPLAY_ACTORS_MALLORY_KEY}\"",
        ),
    ];
    for (actor, words) in sent {
        let line = curl(actor);
        assert!(line.contains(words), "{actor}: {line}");
        assert!(
            line.contains("?key=${REPLAY_ACTORS_ALICE_KEY}"),
            "{actor}: {line}"
        );
    }
    // The reports that show curl lines show these; JUnit names the RED cells.
    for name in ["report.json", "junit.xml", "summary.md", "report.html"] {
        let written =
            std::fs::read_to_string(reports.join(name)).unwrap_or_else(|_| panic!("no {name}"));
        let shown = if name == "junit.xml" {
            "key_info/any/basil"
        } else {
            "REPLAY_ACTORS_BASIL_PASSWORD"
        };
        assert!(written.contains(shown), "{name} has no {shown}");
    }

    // Nothing sent is anywhere: no generated key, not basil's password, not
    // the encoded `basil:password` basic auth sends.
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("basil:{BASIL_PASSWORD}"));
    let key = regex::Regex::new(r"sk-[0-9a-f]{32}").unwrap();
    let texts = texts_of_run(&env, stdout, stderr, &reports);
    let logs = env.cache.join("logs").join(&env.run_id);
    assert!(
        texts.iter().any(|(name, _)| name.ends_with("-boot.log")),
        "the logs are kept: {:?}",
        texts.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for (name, text) in &texts {
        assert!(!key.is_match(text), "a key in {name}");
        assert!(!text.contains(BASIL_PASSWORD), "basil's password in {name}");
        assert!(!text.contains(&encoded), "basil's basic auth in {name}");
    }
    let _ = std::fs::remove_dir_all(&logs);
    env.assert_nothing_left();
}
