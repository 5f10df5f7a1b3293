//! The example suites of the suite-format features, end to end against the twin:
//! `matrices/twin-keys` (anonymous callers, reason and response matchers, `"?"`
//! pins), `matrices/twin-setup` (SQL setup steps, targets from setup captures)
//! `matrices/twin-world` (login actors that build the world and learn their ids)
//! `matrices/twin-records` (integer ids named in records, the request sent) and
//! `matrices/twin-scratch` (scratch actors, made fresh for each of their cells).

use crate::support::*;

fn check(env: &Env, suite: &std::path::Path, extra: &[&str]) -> std::process::Command {
    let mut command = env.replay();
    command
        .args(["check", "--suite"])
        .arg(suite)
        .args(["--target", "twin", "--repo", "testdata/twin"])
        .args(extra);
    command
}

/// The JSON report of `check` of the example suite `matrices/NAME` against
/// the twin, which exits 0 with `green` GREEN cells (naming the RED ones if not).
fn green_report(env: &Env, name: &str, green: u64) -> serde_json::Value {
    let suite = repo_root().join("matrices").join(name);
    let (report, _) = check(env, &suite, &["--format", "json"]).run_json(0);
    assert_eq!(
        report["summary"]["green"],
        green,
        "{}",
        cells_with(&report, "RED").join("\n")
    );
    report
}

fn cell<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no cell {id}"))
}

#[test]
fn the_keys_suite_is_green_with_an_anonymous_caller_and_matchers() {
    let env = Env::new("suite-keys");
    let report = green_report(&env, "twin-keys", 14);
    // The anonymous caller sent no credentials: the twin says so.
    let anonymous = cell(&report, "key_info/alice_key/anonymous");
    assert_eq!(anonymous["outcome"]["status"], 401);
    assert_eq!(anonymous["outcome"]["reason"], "No api key passed in.");
    let why = &anonymous["outcome"]["checks"][0];
    assert_eq!(why["name"], "why");
    assert_eq!(why["passed"], true);
    assert!(why["expected"]["matches"].is_string(), "{why}");
    // map = "world": key hashes become the actors whose keys they are.
    let listed = cell(&report, "key_list/any/admin");
    assert_eq!(
        listed["outcome"]["responses"]["visible"],
        serde_json::json!(["alice", "bob"])
    );
    // A matcher sees the key as sent; the record shows it redacted.
    let generated = cell(&report, "key_generate/any/alice");
    let new_key = generated["outcome"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "new_key")
        .unwrap();
    assert_eq!(new_key["passed"], true);
    assert_eq!(new_key["observed"], "<redacted>");
    env.assert_nothing_left();
}

#[test]
fn a_question_mark_pin_is_new_until_accepted() {
    let env = Env::new("suite-new");
    let suite = env.suite_copy("twin-keys");
    let scenario = suite.join("scenarios/key_info.toml");
    let original = std::fs::read_to_string(&scenario).unwrap();
    edit(
        &scenario,
        "anonymous = [\"-\",   401]",
        "anonymous = [\"-\",   \"?\"]",
    );

    let (report, stderr) = check(&env, &suite, &["--format", "json"]).run_json(1);
    assert!(stderr.contains("hint: 1 NEW cell (pinned \"?\")"));
    assert_eq!(report["summary"]["new"], 1);
    assert_eq!(report["summary"]["green"], 13);
    assert_eq!(report["summary"]["red"], 0);
    assert_eq!(cells_with(&report, "NEW"), ["key_info/alice_key/anonymous"]);
    let new = cell(&report, "key_info/alice_key/anonymous");
    assert_eq!(new["pin"]["unknown"], true);
    assert_eq!(new["differences"][0], "not pinned yet: status 401");

    let (stdout, stderr) = check(&env, &suite, &["--accept"]).run_expect(0);
    assert!(stdout.contains("401?"), "{stdout}");
    assert!(
        stderr.contains("-anonymous = [\"-\",   \"?\"]\n+anonymous = [\"-\",   401]"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&scenario).unwrap(), original);
    check(&env, &suite, &[]).run_expect(0);
    env.assert_nothing_left();
}

#[test]
fn the_setup_suite_makes_rows_with_sql_and_targets_from_captures() {
    let env = Env::new("suite-setup");
    let report = green_report(&env, "twin-setup", 16);
    // The key written with SQL is alice's; the one deleted in setup is gone.
    let sql_key = cell(&report, "key_info/sql_key/alice");
    assert_eq!(sql_key["outcome"]["status"], 200);
    assert_eq!(sql_key["outcome"]["checks"][0]["observed"], "<prefix>alice");
    assert_eq!(
        cell(&report, "key_info/deleted/admin")["outcome"]["status"],
        404
    );
    // A denied delete leaves the row the setup SQL wrote.
    let denied = cell(&report, "key_delete/any/bob");
    assert_eq!(denied["outcome"]["status"], 403);
    assert_eq!(denied["outcome"]["checks"][0]["observed"], 1);
    // Each cell keeps the request it sent, the run's values by their names.
    assert_eq!(
        denied["outcome"]["request"],
        serde_json::json!({"method": "POST", "path": "/key/delete", "json": {"keys": ["<scratch>"]}})
    );
    assert_eq!(
        cell(&report, "key_info/api_key/bob")["outcome"]["request"],
        serde_json::json!({"method": "GET", "path": "/key/info", "query": {"key": "<api_key>"}})
    );
    env.assert_nothing_left();
}

#[test]
fn a_target_with_a_workdir_boots_a_server_in_a_subfolder() {
    let env = Env::new("suite-workdir");
    let repo = env.scratch().parent().unwrap().join("repo");
    copy_dir(&repo_root().join("testdata/twin"), &repo.join("server"));
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "--quiet"]);
    let suite = env.suite_copy("twin-keys");
    let target = suite.join("targets/twin.toml");
    edit(&target, "[env]", "workdir = \"server\"\n\n[env]");
    let (report, _) = env
        .replay()
        .args(["check", "--suite"])
        .arg(&suite)
        .args(["--target", "twin", "--repo"])
        .arg(&repo)
        .args(["--format", "json"])
        .run_json(0);
    assert_eq!(report["summary"]["green"], 14);

    // A revision without that folder fails to build, saying why.
    edit(&target, "workdir = \"server\"", "workdir = \"backend\"");
    let output = env
        .replay()
        .args(["check", "--suite"])
        .arg(&suite)
        .args(["--target", "twin", "--repo"])
        .arg(&repo)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(
        text(&output)
            .1
            .contains("the target's workdir `backend` is not a folder in this revision"),
        "{}",
        text(&output).1
    );
    env.assert_nothing_left();
}

#[test]
fn the_world_suite_is_made_by_login_actors_that_learn_their_ids() {
    let env = Env::new("suite-world");
    let report = green_report(&env, "twin-world", 13);
    // The id whoami learnt is the one the server reports for the login token,
    // and the record shows it by its name.
    let me = cell(&report, "whoami/any/alice");
    assert_eq!(me["outcome"]["checks"][0]["observed"], "<actors.alice.id>");
    assert_eq!(me["outcome"]["checks"][0]["passed"], true);
    // The world step alice ran (after logging in just for it) made her key:
    // she and the superuser may read it, bob may not.
    assert_eq!(
        cell(&report, "key_info/spare/alice")["outcome"]["status"],
        200
    );
    assert_eq!(
        cell(&report, "key_info/spare/root")["outcome"]["status"],
        200
    );
    assert_eq!(
        cell(&report, "key_info/spare/bob")["outcome"]["status"],
        403
    );
    // The superuser's id (from whoami) is a user id the server knows: root
    // creates keys for alice, bob may not.
    assert_eq!(
        cell(&report, "key_generate/alice/root")["outcome"]["checks"][0]["observed"],
        1
    );
    env.assert_nothing_left();
}

#[test]
fn a_world_step_that_needs_a_login_before_its_user_exists_fails_naming_it() {
    let env = Env::new("suite-world-order");
    let suite = env.suite_copy("twin-world");
    // Bob's login is needed by a step that runs before root creates him.
    edit(
        &suite.join("world.toml"),
        "# Alice makes a second key",
        "[[api]]\nas = \"bob\"\nmethod = \"GET\"\npath = \"/key/info\"\nexpect = 200\n\n# Alice makes a second key",
    );
    let world = std::fs::read_to_string(suite.join("world.toml")).unwrap();
    let first_root_step = world.find("[[api]]\nas = \"root\"").unwrap();
    let bob_step = world.find("[[api]]\nas = \"bob\"").unwrap();
    let moved = format!(
        "{}{}{}",
        &world[..first_root_step],
        &world[bob_step..world.find("# Alice makes").unwrap()],
        &world[first_root_step..bob_step]
    ) + &world[world.find("# Alice makes").unwrap()..];
    std::fs::write(suite.join("world.toml"), moved).unwrap();
    let (_, stderr) = check(&env, &suite, &[]).run_expect(4);
    assert!(
        stderr.contains("actor `bob` could not log in (POST /login): returned 401"),
        "{stderr}"
    );
    env.assert_nothing_left();
}

#[test]
fn integer_ids_the_database_makes_up_are_named_so_two_runs_record_the_same() {
    let env = Env::new("suite-records");
    let suite = repo_root().join("matrices/twin-records");
    let run = || check(&env, &suite, &["--format", "json"]).run_json(0).0;
    let first = run();
    assert_eq!(first["summary"]["green"], 4);
    let admin = cell(&first, "key_update_limit/any/admin");
    // The id (a new number every cell and run) by its name, on both sides of
    // the check and in the request; the count beside it stays a number.
    assert_eq!(
        admin["outcome"]["checks"][0],
        serde_json::json!({"name": "limit_echoed", "expected": "<limit>", "observed": "<limit>", "passed": true})
    );
    assert_eq!(admin["outcome"]["checks"][1]["observed"], 1);
    assert_eq!(
        admin["outcome"]["request"]["json"],
        serde_json::json!({"key": "<scratch>", "max_parallel_requests": "<limit>"})
    );
    let second = run();
    for id in [
        "key_update_limit/any/admin",
        "key_update_limit/any/alice",
        "key_update_limit/any/anonymous",
    ] {
        assert_eq!(
            cell(&first, id)["outcome"],
            cell(&second, id)["outcome"],
            "{id}"
        );
    }
    env.assert_nothing_left();
}

#[test]
fn scratch_actors_are_made_fresh_for_each_cell_so_deleting_their_own_key_breaks_no_other() {
    let env = Env::new("suite-scratch");
    let suite = env.suite_copy("twin-scratch");
    // One cell at a time, in file order: key_delete runs before key_info.
    let (stdout, stderr) = check(&env, &suite, &["--format", "json", "--jobs", "1"]).run_expect(0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["summary"]["green"],
        5,
        "{}",
        cells_with(&report, "RED").join("\n")
    );
    // Carol deleted her key, and the key is rejected afterwards; her next cell
    // has a key of its own, and an id of its own, named by the cell's scratch.
    let deleted = cell(&report, "key_delete/any/carol");
    assert_eq!(deleted["outcome"]["followups"][0]["observed"], 401);
    assert_eq!(
        deleted["outcome"]["request"]["json"],
        serde_json::json!({"keys": ["<actors.carol.key>"]})
    );
    let info = cell(&report, "key_info/any/carol");
    assert_eq!(info["outcome"]["checks"][0]["observed"], "<scratch>-carol");
    // Dave is a user the admin creates for the cell; he logs in and learns his id.
    let dave = cell(&report, "key_info/any/dave");
    assert_eq!(dave["outcome"]["status"], 200);
    assert_eq!(dave["outcome"]["checks"][0]["passed"], true);
    assert!(
        !stdout.contains("sk-") && !stderr.contains("sk-"),
        "{stdout}"
    );

    // The same world without `scratch`: one carol and one dave for the run,
    // whose keys are gone once key_delete ran.
    let world = suite.join("world.toml");
    let text_of = std::fs::read_to_string(&world).unwrap();
    std::fs::write(
        &world,
        text_of
            .replace("scratch = true\n", "")
            .replace("{{scratch}}", "{{prefix}}"),
    )
    .unwrap();
    let (report, _) = check(&env, &suite, &["--format", "json", "--jobs", "1"]).run_json(1);
    let mut red = cells_with(&report, "RED");
    red.sort();
    assert_eq!(red, ["key_info/any/carol", "key_info/any/dave"]);
    assert_eq!(
        cell(&report, "key_info/any/carol")["outcome"]["status"],
        401
    );
    env.assert_nothing_left();
}
