//! The example suites of the suite-format features, end to end against the twin:
//! `matrices/twin-keys` (anonymous callers, reason and response matchers, `"?"`
//! pins), `matrices/twin-setup` (SQL setup steps, targets from setup captures)
//! `matrices/twin-world` (login actors that build the world and learn their ids)
//! `matrices/twin-records` (integer ids named in records, the request sent),
//! `matrices/twin-scratch` (scratch actors, made fresh for each of their cells)
//! and `matrices/twin-sequence` (ordered followup steps in one cell).

use crate::support::*;

/// The JSON report of `check` of the example suite `matrices/NAME` against
/// the twin, which exits 0 with `green` GREEN cells (naming the RED ones if not).
fn green_report(env: &Env, name: &str, green: u64) -> serde_json::Value {
    green_check(env, name, green).0
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

    let (report, stderr) = env.check_suite(&suite, &["--format", "json"]).run_json(1);
    assert!(stderr.contains("hint: 1 NEW cell (pinned \"?\")"));
    assert_eq!(report["summary"]["new"], 1);
    assert_eq!(report["summary"]["green"], 13);
    assert_eq!(report["summary"]["red"], 0);
    assert_eq!(cells_with(&report, "NEW"), ["key_info/alice_key/anonymous"]);
    let new = cell(&report, "key_info/alice_key/anonymous");
    assert_eq!(new["pin"]["unknown"], true);
    assert_eq!(new["differences"][0], "not pinned yet: status 401");

    let (stdout, stderr) = env.check_suite(&suite, &["--accept"]).run_expect(0);
    assert!(stdout.contains("401?"), "{stdout}");
    assert!(
        stderr.contains("-anonymous = [\"-\",   \"?\"]\n+anonymous = [\"-\",   401]"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&scenario).unwrap(), original);
    env.check_suite(&suite, &[]).run_expect(0);
    env.assert_nothing_left();
}

/// The ids of the cells of a JSON report that ended in ERROR, each with its error.
fn errored(report: &serde_json::Value) -> Vec<(String, String)> {
    cells_with(report, "ERROR")
        .into_iter()
        .map(|id| {
            let error = cell(report, &id)["outcome"]["error"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (id, error)
        })
        .collect()
}

#[test]
fn a_listing_pointer_the_allowed_response_lacks_is_an_error_not_an_empty_set() {
    let env = Env::new("suite-items");
    let suite = env.suite_copy("twin-keys");
    let scenario = suite.join("scenarios/key_list.toml");
    let original = std::fs::read_to_string(&scenario).unwrap();
    // A typo in `items`, and a pin of "sees nothing" that the typo would
    // make pass whatever the server lists.
    edit(&scenario, "items = \"/keys\"", "items = \"/kyes\"");
    edit(
        &scenario,
        "alice     = [{ status = 200, visible = [\"alice\"] }]",
        "alice     = [{ status = 200, visible = [] }]",
    );
    let (report, _) = env
        .check_suite(&suite, &["--format", "json", "--endpoint", "/key/list"])
        .run_json(1);
    let errors = errored(&report);
    let ids: Vec<&str> = errors.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "key_list/any/admin",
            "key_list/any/alice",
            "key_list/any/bob"
        ]
    );
    for (id, error) in &errors {
        assert!(
            error.starts_with("[response.visible]: the response (page 1) has no `/kyes` (items)"),
            "{id}: {error}"
        );
    }
    // A denied response is an error body: it lists nothing, as pinned.
    assert_eq!(cell(&report, "key_list/any/anonymous")["verdict"], "GREEN");

    // A `total` the response lacks would read the first page alone.
    std::fs::write(
        &scenario,
        original.replace("total = \"/total_pages\"", "total = \"/total_pagez\""),
    )
    .unwrap();
    let (report, _) = env
        .check_suite(&suite, &["--format", "json", "--endpoint", "/key/list"])
        .run_json(1);
    let errors = errored(&report);
    assert_eq!(errors.len(), 3, "{errors:?}");
    for (id, error) in &errors {
        assert!(
            error.starts_with("the response has no `/total_pagez` (pages.total)"),
            "{id}: {error}"
        );
    }
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
    let (_, stderr) = env.check_suite(&suite, &[]).run_expect(4);
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
    let run = || env.check_suite(&suite, &["--format", "json"]).run_json(0).0;
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
    let (stdout, stderr) = env
        .check_suite(&suite, &["--format", "json", "--jobs", "1"])
        .run_expect(0);
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
    let (report, _) = env
        .check_suite(&suite, &["--format", "json", "--jobs", "1"])
        .run_json(1);
    let mut red = cells_with(&report, "RED");
    red.sort();
    assert_eq!(red, ["key_info/any/carol", "key_info/any/dave"]);
    assert_eq!(
        cell(&report, "key_info/any/carol")["outcome"]["status"],
        401
    );
    env.assert_nothing_left();
}

fn followups(cell: &serde_json::Value) -> Vec<(u64, &str, u64)> {
    cell["outcome"]["followups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["step"].as_u64().unwrap(),
                f["as"].as_str().unwrap_or("-"),
                f["observed"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_sequence_of_followups_runs_in_order_as_each_steps_actor_and_is_green() {
    let env = Env::new("suite-sequence");
    let (report, stdout, stderr) = green_check(&env, "twin-sequence", 8);
    // Update as the admin, read and rotate as the cell's actor, then the old
    // key (401), the new one (200) and no credentials at all (401).
    let alice = cell(&report, "key_rotation/any/alice");
    assert_eq!(
        followups(alice),
        [
            (1, "admin", 200),
            (2, "-", 200),
            (3, "-", 200),
            (4, "-", 401),
            (5, "-", 200),
            (6, "anonymous", 401)
        ]
    );
    let steps = alice["outcome"]["followups"].as_array().unwrap();
    assert_eq!(steps[2]["name"], "rotate");
    // Each step keeps the request it sent, captures by their names.
    assert_eq!(
        steps[5]["request"],
        serde_json::json!({"method": "GET", "path": "/key/info", "query": {"key": "<second_key>"}})
    );
    // The check on the key step 3 made was read after the followups.
    assert_eq!(
        alice["outcome"]["checks"][0],
        serde_json::json!({"name": "models_kept", "expected": true, "observed": true, "passed": true})
    );
    // A denied request sends only the steps that expect a status on both
    // sides; the check compares what alice saw afterwards: the old alias.
    let anonymous = cell(&report, "key_rotation/any/anonymous");
    assert!(
        anonymous["outcome"].get("followups").is_none(),
        "{anonymous}"
    );
    let bob = cell(&report, "key_update_seen/any/bob");
    assert_eq!(followups(bob), [(1, "alice", 200), (2, "anonymous", 401)]);
    assert_eq!(bob["outcome"]["checks"][0]["observed"], false);
    let admin = cell(&report, "key_update_seen/any/admin");
    assert_eq!(admin["outcome"]["checks"][0]["observed"], true);
    assert!(
        !stdout.contains("sk-") && !stderr.contains("sk-"),
        "{stdout}"
    );
    env.assert_nothing_left();
}

#[test]
fn a_middle_step_with_another_status_makes_the_cell_red_naming_the_step_in_every_report() {
    let env = Env::new("suite-sequence-red");
    let suite = env.suite_copy("twin-sequence");
    let scenario = suite.join("scenarios/key_rotation.toml");
    edit(
        &scenario,
        "allowed = 200\ncapture = { second_key",
        "allowed = 201\ncapture = { second_key",
    );
    let dir = env.tmp.path().join("report");
    let output = env
        .check_suite(&suite, &["--report-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let reason = "followup 3 `rotate` (POST /key/regenerate): 200 (expected 201)";
    assert!(
        stdout.contains(&format!("RED key_rotation/any/alice  {reason}")),
        "{stdout}"
    );

    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let report: serde_json::Value = serde_json::from_str(&read("report.json")).unwrap();
    let mut red = cells_with(&report, "RED");
    red.sort();
    assert_eq!(
        red,
        [
            "key_rotation/any/admin",
            "key_rotation/any/alice",
            "key_rotation/any/bob"
        ]
    );
    assert_eq!(report["summary"]["green"], 5);
    // The pin is the request's: its status matched. The step that differs is
    // named with both statuses; the steps that need the key it should have
    // made are not sent, and neither is the check on that key read.
    let alice = cell(&report, "key_rotation/any/alice");
    assert_eq!(alice["outcome"]["status"], 200);
    assert_eq!(
        alice["differences"],
        serde_json::json!([
            reason,
            "followup 5 (GET /key/info): not sent, it needs a capture of an earlier step that failed (expected 200)",
            "followup 6 (GET /key/info as anonymous): not sent, it needs a capture of an earlier step that failed (expected 401)",
        ])
    );
    // Step 4 (the old key) did not need it, and ran: the rotation happened.
    assert_eq!(followups(alice)[3], (4, "-", 401));
    assert!(alice["outcome"].get("checks").is_none(), "{alice}");
    assert!(read("junit.xml").contains(reason), "{}", read("junit.xml"));
    assert!(read("report.html").contains(reason));
    assert!(
        read("summary.md").contains("followup 3 "),
        "{}",
        read("summary.md")
    );

    // A step that cannot take what it captures is an ERROR, never GREEN.
    edit(
        &scenario,
        "allowed = 201\ncapture = { second_key = \"/key\" }",
        "allowed = 200\ncapture = { second_key = \"/no_such_field\" }",
    );
    let output = env
        .check_suite(&suite, &["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output).1);
    let report = json(&output);
    assert_eq!(report["summary"]["error"], 3);
    assert_eq!(
        cell(&report, "key_rotation/any/bob")["outcome"]["error"],
        "followup 3 (POST /key/regenerate): the response has no /no_such_field to capture as `second_key`"
    );
    env.assert_nothing_left();
}

#[test]
fn a_followup_as_the_anonymous_actor_sends_no_credentials_and_the_default_is_the_cells_actor() {
    let env = Env::new("suite-sequence-anonymous");
    let suite = env.suite_copy("twin-sequence");
    let scenario = suite.join("scenarios/key_update_seen.toml");
    let run = |env: &Env| {
        let output = env
            .check_suite(
                &suite,
                &["--format", "json", "--cell", "key_update_seen/*/*"],
            )
            .output()
            .unwrap();
        json(&output)
    };
    // As written: `as = "anonymous"` gets 401 in every cell, whoever the
    // cell's actor is.
    let report = run(&env);
    assert_eq!(report["summary"]["green"], 4, "{report}");
    for actor in ["admin", "alice", "bob", "anonymous"] {
        let found = cell(&report, &format!("key_update_seen/any/{actor}"));
        assert_eq!(followups(found)[1], (2, "anonymous", 401), "{actor}");
    }
    // The same step as the admin is let in: the anonymous one sent nothing.
    edit(
        &scenario,
        "name = \"anonymous_reads\"\nas = \"anonymous\"",
        "name = \"anonymous_reads\"\nas = \"admin\"",
    );
    let report = run(&env);
    assert_eq!(report["summary"]["red"], 4, "{report}");
    assert_eq!(
        cell(&report, "key_update_seen/any/bob")["differences"],
        serde_json::json!([
            "followup 2 `anonymous_reads` (GET /key/info as admin): 200 (expected 401)"
        ])
    );
    // Without `as`, the step is sent as the cell's actor: the anonymous cell
    // gets its 401, the admin and alice read the key, bob is refused (403).
    edit(
        &scenario,
        "name = \"anonymous_reads\"\nas = \"admin\"\n",
        "name = \"anonymous_reads\"\n",
    );
    let report = run(&env);
    let mut red = cells_with(&report, "RED");
    red.sort();
    assert_eq!(
        red,
        [
            "key_update_seen/any/admin",
            "key_update_seen/any/alice",
            "key_update_seen/any/bob"
        ]
    );
    let bob = cell(&report, "key_update_seen/any/bob");
    assert_eq!(followups(bob)[1], (2, "-", 403));
    let anonymous = cell(&report, "key_update_seen/any/anonymous");
    assert_eq!(anonymous["verdict"], "GREEN");
    assert_eq!(followups(anonymous)[1], (2, "-", 401));
    env.assert_nothing_left();
}
