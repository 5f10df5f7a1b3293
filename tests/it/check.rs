//! `replay check` end to end against the twin.

use crate::support::*;

#[test]
fn the_twin_is_all_green_and_nothing_is_left() {
    let env = Env::new("green");
    let (stdout, stderr) = env
        .check_suite(repo_root().join("matrices/litellm"), &["--format", "json"])
        .run_expect(0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["format_version"], 1);
    let cells = suite_cells("litellm");
    assert_eq!(report["summary"]["cells"], cells);
    assert_eq!(
        report["summary"]["green"],
        cells,
        "{}",
        cells_with(&report, "RED").join("\n")
    );
    assert_eq!(report["revision"]["label"], "working tree");
    // The run's secrets (its master key, the actors' keys) never reach output.
    let secret = regex::Regex::new(r"sk-[0-9a-f]{32}").unwrap();
    assert!(
        !secret.is_match(&stdout) && !secret.is_match(&stderr),
        "a key in the output"
    );
    env.assert_nothing_left();
    assert!(!env.logs_kept());
}

#[test]
fn a_changed_pin_exits_1_naming_that_cell_and_accept_restores_it() {
    let env = Env::new("pin");
    let suite = env.suite_copy("litellm");
    let scenario = suite.join("scenarios/key_update.toml");
    let original = std::fs::read_to_string(&scenario).unwrap();
    edit(
        &scenario,
        "team_admin         =   [403,    403,     403]",
        "team_admin         =   [200,    403,     403]",
    );

    let (report, _) = env.check_suite(&suite, &["--format", "json"]).run_json(1);
    assert_eq!(cells_with(&report, "RED"), ["key_update/self/team_admin"]);
    assert_eq!(
        report["summary"]["green"],
        suite_cells("litellm") as u64 - 1
    );
    let red = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["verdict"] == "RED")
        .unwrap();
    assert_eq!(red["differences"][0], "status 403 (pinned 200)");
    assert_eq!(
        red["outcome"]["reason"],
        "Only proxy admins, team admins, or org admins can call /key/update"
    );

    let (stdout, stderr) = env.check_suite(&suite, &["--accept"]).run_expect(0);
    assert!(
        stdout.contains("200≠403") || stdout.contains("403≠200"),
        "{stdout}"
    );
    assert!(stderr.contains("-team_admin         =   [200,    403,     403]\n+team_admin         =   [403,    403,     403]"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&scenario).unwrap(), original);
    env.assert_nothing_left();
}

#[test]
fn accept_refuses_in_ci_without_force() {
    let env = Env::new("ci");
    let (_, stderr) = env
        .check_twin()
        .env("CI", "true")
        .arg("--accept")
        .run_expect(2);
    assert!(stderr.contains("hint: review the change locally, or pass --force"));
    env.assert_nothing_left();
}

#[test]
fn a_suite_error_exits_2_before_anything_boots() {
    let env = Env::new("bad-world");
    let suite = env.suite_copy("litellm");
    edit(
        &suite.join("world.toml"),
        "VALUES ({{world.budget}}, 'replay-seeder'",
        "VALUES ({{world.budgte}}, 'replay-seeder'",
    );
    let (stdout, stderr) = env.check_suite(&suite, &["--format", "json"]).run_expect(2);
    // With --format json, stdout holds the error document and nothing else.
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(document["kind"], "error", "{stdout}");
    assert_eq!(document["exit_code"], 2, "{stdout}");
    assert!(
        stderr.contains("world.toml:48: `{{world.budgte}}` is not defined"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: defined names that look close: "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("replay: postgres"),
        "something started: {stderr}"
    );
    env.assert_nothing_left();
    assert!(!env.logs_kept());
}

#[test]
fn a_commit_is_checked_and_bad_revisions_are_refused() {
    let env = Env::new("rev");
    let repo = env.tmp.path().join("twin");
    copy_dir(&repo_root().join("testdata/twin"), &repo);
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.test")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.test")
            .status()
            .unwrap();
        assert!(status.success());
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "the twin"]);
    git(&["tag", "v1.0.0"]);
    // The working tree changes after the commit; the commit is what is checked.
    edit(
        &repo.join("keys.py"),
        "TEAM_MEMBER_DENIED = ",
        "TEAM_MEMBER_DENIED = 'changed' or ",
    );

    let (report, _) = env
        .replay()
        .args([
            "check", "--target", "twin", "--format", "json", "--rev", "HEAD", "--repo",
        ])
        .arg(&repo)
        .run_json(0);
    assert_eq!(report["summary"]["green"], suite_cells("litellm"));
    assert_eq!(report["revision"]["subject"], "the twin");
    assert_eq!(report["revision"]["tag"], "v1.0.0");
    let short = report["revision"]["label"].as_str().unwrap().to_string();
    let (stdout, _) = env
        .replay()
        .args(["check", "--target", "twin", "--rev", "v1.0.0", "--repo"])
        .arg(&repo)
        .args(["--cell", "key_info/own/proxy_admin"])
        .run_expect(0);
    assert!(
        stdout.contains(&format!("litellm on twin at v1.0.0 ({short})\n")),
        "{stdout}"
    );

    let (_, stderr) = env
        .replay()
        .args(["check", "--target", "twin", "--rev", "nope", "--repo"])
        .arg(&repo)
        .run_expect(2);
    assert!(stderr.contains("error: unknown revision `nope`"));

    let plain = env.tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let (_, stderr) = env
        .replay()
        .args(["check", "--target", "twin", "--rev", "HEAD", "--repo"])
        .arg(&plain)
        .run_expect(3);
    assert!(stderr.contains("is not inside a git repository"));
    env.assert_nothing_left();
}

#[test]
fn the_login_suite_is_all_green() {
    let env = Env::new("login");
    let (report, _) = env
        .check_suite(
            repo_root().join("matrices/twin-login"),
            &["--format", "json"],
        )
        .run_json(0);
    assert_eq!(report["summary"]["green"], 5);
    // Server-assigned ids are replaced by the names they were captured as.
    let info = cell(&report, "key_info/any/alice");
    assert_eq!(info["outcome"]["checks"][0]["observed"], "<world.alice_id>");
    env.assert_nothing_left();
}

#[test]
fn a_boot_failure_exits_4_with_the_command_and_its_log() {
    let env = Env::new("boot-fails");
    let suite = env.suite_copy("litellm");
    edit(
        &suite.join("targets/twin.toml"),
        "run = \"{{env}}/bin/python server.py --host {{host}} --port {{port}}\"",
        "run = \"{{env}}/bin/python -c 'import sys; print(\\\"cannot import handlers\\\"); sys.exit(3)'\"",
    );
    let (_, stderr) = env.check_suite(&suite, &["--format", "json"]).run_expect(4);
    assert!(
        stderr.contains("error: failed to boot working tree: `"),
        "{stderr}"
    );
    assert!(
        stderr.contains("exited (exit status: 3) before it was ready"),
        "{stderr}"
    );
    assert!(stderr.contains("  | cannot import handlers"), "{stderr}");
    env.assert_nothing_left();
    // The log the error points at is still there.
    assert!(env.logs_kept());
}

#[test]
fn a_seed_statement_the_database_refuses_names_its_file_and_line() {
    let env = Env::new("seed-typo");
    let suite = env.suite_copy("litellm");
    edit(
        &suite.join("world.toml"),
        "INSERT INTO \"LiteLLM_OrganizationTable\"",
        "INSERT INTO \"LiteLLM_OrganisationTable\"",
    );
    let (_, stderr) = env.check_suite(&suite, &[]).run_expect(4);
    assert!(
        stderr.contains(
            "world.toml:52: [[seed]] statement failed: relation \"LiteLLM_OrganisationTable\" does not exist"
        ),
        "{stderr}"
    );
    env.assert_nothing_left();
}

#[test]
fn a_ready_probe_that_never_passes_says_what_it_got_last() {
    let env = Env::new("never-ready");
    let suite = env.suite_copy("litellm");
    let target = suite.join("targets/twin.toml");
    let text = std::fs::read_to_string(&target).unwrap();
    let text = regex::Regex::new(r#"(?m)^http = .*$"#)
        .unwrap()
        .replace(&text, "http = \"/health/nope\"");
    let text = regex::Regex::new(r#"(?m)^timeout = .*$"#)
        .unwrap()
        .replace(&text, "timeout = \"2s\"");
    std::fs::write(&target, text.as_ref()).unwrap();
    let (_, stderr) = env.check_suite(&suite, &[]).run_expect(4);
    assert!(
        stderr.contains(
            "error: failed to boot working tree: not ready after 2s (waited for GET /health/nope; \
             last: GET /health/nope answered 404 Not Found)"
        ),
        "{stderr}"
    );
    env.assert_nothing_left();
}

/// As a normal user the tool runs initdb and postgres as itself (as root it
/// runs them as `postgres`). The test runs it as `nobody`, from a folder
/// nobody can read, with a cache of its own.
#[test]
fn a_normal_user_can_run_it() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if !nix::unistd::Uid::effective().is_root() {
        // Not root: every other test already runs as a normal user.
        return;
    }
    let env = Env::new("nobody");
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("a nobody user");
    let home = env.tmp.path().join("home");
    for dir in [&home, &home.join("bin"), &home.join("tmp")] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::set_permissions(env.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = home.join("bin/replay");
    std::fs::copy(env!("CARGO_BIN_EXE_replay"), &binary).unwrap();
    copy_dir(&repo_root().join("testdata/twin"), &home.join("twin"));
    copy_dir(&repo_root().join("matrices/litellm"), &home.join("suite"));
    std::process::Command::new("chown")
        .args(["-R", "nobody:"])
        .arg(&home)
        .run_expect(0);

    let (report, _) = std::process::Command::new(&binary)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("TMPDIR", home.join("tmp"))
        .env("REPLAY_RUN_ID", &env.run_id)
        .env("REPLAY_CACHE_DIR", home.join("cache"))
        .args([
            "check",
            "--suite",
            "suite",
            "--target",
            "twin",
            "--repo",
            "twin",
            "--format",
            "json",
            "--cell",
            "key_update/self/owner",
            "--cell",
            "key_list/any/proxy_admin",
        ])
        .current_dir(&home)
        .uid(nobody.uid.as_raw())
        .gid(nobody.gid.as_raw())
        .run_json(0);
    assert_eq!(report["summary"]["green"], 2);
    assert!(processes_of_run(&env.run_id).is_empty());
    assert_eq!(std::fs::read_dir(home.join("tmp")).unwrap().count(), 0);
}

#[test]
fn the_demo_replays_the_twins_fix() {
    let env = Env::new("demo");
    let (stdout, _) = env.replay().arg("demo").run_expect(0);
    assert!(
        stdout.contains("fix ")
            && stdout.contains("\"extend /key/update admin check to non-budget fields\""),
        "{stdout}"
    );
    assert!(stdout.contains("RED→GREEN (6)"), "{stdout}");
    for cell in [
        "key_update/self/team_admin",
        "key_update/self/service_account",
    ] {
        assert!(stdout.contains(cell), "{stdout}");
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("| POST /key/update | 6 | ") && l.ends_with("| CAUGHT | whole |")),
        "{stdout}"
    );
    env.assert_nothing_left();
}

#[test]
fn a_migrated_template_is_kept_across_runs_and_a_changed_migration_input_is_a_miss() {
    let mut env = Env::new("template-cache");
    // A cluster cache of its own (kept templates live in it); the virtualenvs are shared.
    let cache = env.tmp.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(env.cache.join("envs")).unwrap();
    std::os::unix::fs::symlink(env.cache.join("envs"), cache.join("envs")).unwrap();
    env.cache = cache;
    let twin = env.tmp.path().join("twin");
    copy_dir(&repo_root().join("testdata/twin"), &twin);
    let check = |extra: &[&str]| -> (bool, u64) {
        let (report, _) = env
            .replay()
            .args(["check", "--suite", "matrices/litellm", "--target", "twin"])
            .arg("--repo")
            .arg(&twin)
            .args(["--format", "json"])
            .args(extra)
            .run_json(0);
        assert_eq!(report["summary"]["green"], suite_cells("litellm") as u64);
        // The named phases (and `other`) account for the whole run.
        let phases = report["timings"]["phases"].as_object().unwrap();
        for name in [
            "cluster_copy",
            "postgres_start",
            "migrate",
            "seed",
            "clone",
            "boot",
            "matrix",
            "stop",
            "other",
        ] {
            assert!(phases.contains_key(name), "no phase {name}: {phases:?}");
        }
        let sum: u64 = phases.values().map(|ms| ms.as_u64().unwrap()).sum();
        assert_eq!(sum, report["timings"]["total_ms"].as_u64().unwrap());
        (
            report["caches"]["template"].as_bool().unwrap(),
            report["timings"]["phases"]["migrate"].as_u64().unwrap(),
        )
    };
    let (hit, _) = check(&[]);
    assert!(!hit, "a fresh cache has no template");
    // The next run starts from the kept cluster: nothing is migrated, the
    // world is seeded into it afresh (every cell GREEN says it is there).
    let (hit, migrate_ms) = check(&[]);
    assert!(hit, "the second run reuses the kept template");
    assert_eq!(migrate_ms, 0);
    // Any migrate input that changes is a miss, then kept in its turn.
    let schema = twin.join("schema.sql");
    let mut text_of = std::fs::read_to_string(&schema).unwrap();
    text_of.push_str("\n-- a comment changes the input, not the schema\n");
    std::fs::write(&schema, text_of).unwrap();
    assert!(!check(&[]).0, "a changed schema.sql is a miss");
    assert!(check(&[]).0);
    std::fs::write(twin.join("migrate.py"), {
        let mut script = std::fs::read_to_string(twin.join("migrate.py")).unwrap();
        script.push_str("\n# a changed script\n");
        script
    })
    .unwrap();
    assert!(!check(&[]).0, "a changed migrate.py is a miss");
    env.assert_nothing_left();
}

/// A target's `pass_env` variables key its build environment: the same value
/// reuses the environment, another value builds a new one.
#[test]
fn pass_env_values_key_the_build_environment() {
    let mut env = Env::new("pass-env");
    // Build environments of its own, so the first build is a miss on every
    // machine; the initdb'd cluster is shared with the other tests.
    let shared = env.cache.clone();
    env.cache = env.tmp.path().join("cache");
    std::fs::create_dir_all(shared.join("postgres")).unwrap();
    std::fs::create_dir_all(&env.cache).unwrap();
    std::os::unix::fs::symlink(shared.join("postgres"), env.cache.join("postgres")).unwrap();
    let twin = std::fs::read_to_string(repo_root().join("matrices/litellm/targets/twin.toml"))
        .unwrap()
        .replace(
            "[env]\n",
            "pass_env = [\"REPLAY_TEST_TWIN_KNOB\"]\n\n[env]\n",
        );
    let target = env.tmp.path().join("knob.toml");
    std::fs::write(&target, twin).unwrap();
    let run = |value: &str| {
        let (report, _) = env
            .replay()
            .env("REPLAY_TEST_TWIN_KNOB", value)
            .args(["check", "--repo", "testdata/twin", "--format", "json"])
            .args(["--cell", "key_info/own/proxy_admin", "--target"])
            .arg(&target)
            .run_json(0);
        assert_eq!(report["summary"]["green"], 1);
        (
            report["caches"]["build"].as_bool().unwrap(),
            report["target"]["hash"].as_str().unwrap().to_string(),
        )
    };
    let (first, hash_a) = run("a");
    let (again, hash_again) = run("a");
    let (other, hash_b) = run("b");
    assert_eq!((first, again, other), (false, true, false));
    assert_eq!(hash_a, hash_again);
    assert_ne!(hash_a, hash_b, "cell results made with a must not serve b");
    env.assert_nothing_left();
}
