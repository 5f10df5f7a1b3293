//! Bad input gets a clear answer, and output a machine can rely on: flags
//! that conflict or do nothing, unreachable servers and databases, wrong
//! messages, special files, and a JSON document on every exit.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run the tool, killing it (and failing) if it does not end in time.
fn run_within(mut command: std::process::Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", text(&output).1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn bad_flags(env: &Env, args: &[&str], flags: &[&str]) {
    let (_, stderr) = env.replay().args(args).run_expect(2);
    for flag in flags {
        assert!(
            stderr.contains(flag),
            "{args:?} should name {flag}: {stderr}"
        );
    }
}

#[test]
fn flags_that_conflict_or_do_nothing_are_refused_naming_both() {
    let env = Env::new("flags");
    let attach = [
        "check",
        "--url",
        "http://127.0.0.1:9",
        "--database-url",
        "postgresql://127.0.0.1:9/x",
    ];
    for (extra, flag) in [
        (&["--rev", "HEAD"][..], "--rev"),
        (&["--target", "twin"][..], "--target"),
        (&["--repo", "testdata/twin"][..], "--repo"),
        (&["--no-cache"][..], "--no-cache"),
        (&["--accept"][..], "--accept"),
    ] {
        let args: Vec<&str> = attach.iter().chain(extra).copied().collect();
        bad_flags(&env, &args, &["--url", flag]);
    }
    bad_flags(
        &env,
        &["check", "--target", "twin", "--master-key", "sk-x"],
        &["--master-key", "--url"],
    );
    bad_flags(
        &env,
        &[
            "check",
            "--target",
            "twin",
            "--database-url",
            "postgresql://127.0.0.1:9/x",
        ],
        &["--database-url", "--url"],
    );
    bad_flags(
        &env,
        &["check", "--target", "twin", "--jobs", "0"],
        &["--jobs"],
    );
    env.assert_nothing_left();
}

#[test]
fn an_unreachable_database_is_an_environment_error_before_the_first_cell() {
    let env = Env::new("no-db");
    let database = format!(
        "postgresql://someone:the-db-password@127.0.0.1:{}/litellm",
        free_port()
    );
    let (stdout, stderr) = env
        .replay()
        .args(["check", "--format", "json", "--url"])
        .arg(format!("http://127.0.0.1:{}", free_port()))
        .arg("--database-url")
        .arg(&database)
        .run_expect(3);
    let address = database.replace(":the-db-password", "");
    assert!(
        stderr.contains(&format!("error: the database at {address} is unreachable")),
        "{stderr}"
    );
    assert!(stderr.contains("hint: check --database-url"), "{stderr}");
    assert!(!stderr.contains("ERROR"), "no cell ran: {stderr}");
    assert!(!stdout.contains("the-db-password") && !stderr.contains("the-db-password"));
    // --format json: the error is a document on stdout too.
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(document["kind"], "error");
    assert_eq!(document["exit_code"], 3);
    env.assert_nothing_left();
}

#[test]
fn wrong_messages_are_right() {
    let env = Env::new("messages");
    // --repo naming a file: it exists, it is not a folder.
    let (_, stderr) = env
        .replay()
        .args(["check", "--target", "twin", "--repo", "Cargo.toml"])
        .run_expect(2);
    assert!(
        stderr.contains("error: Cargo.toml is a file, not a folder"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: --repo takes the folder"), "{stderr}");
    // --repo naming nothing: the path is named, and the hint says what --repo takes.
    let (_, stderr) = env
        .replay()
        .args(["check", "--target", "twin", "--repo", "no-such-checkout"])
        .run_expect(2);
    assert!(
        stderr.contains("error: no-such-checkout does not exist"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: --repo takes the folder of the server's git checkout"),
        "{stderr}"
    );

    // Equal ends of a bisect are not "reversed".
    let repo = env.tmp.path().join("twin");
    env.replay().arg("twin-history").arg(&repo).run_expect(0);
    let (_, stderr) = env
        .replay()
        .args([
            "bisect", "--good", "HEAD", "--bad", "HEAD", "--target", "twin",
        ])
        .arg("--repo")
        .arg(&repo)
        .run_expect(2);
    assert!(stderr.contains("are the same commit"), "{stderr}");
    assert!(!stderr.contains("newer than"), "{stderr}");
    env.assert_nothing_left();
}

#[test]
fn a_fifo_in_the_suite_is_refused_at_once() {
    let env = Env::new("fifo");
    let suite = env.suite_copy("litellm");
    let fifo = suite.join("scenarios/zz_fifo.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let command = env.check_suite(&suite, &[]);
    let output = run_within(command, Duration::from_secs(30));
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot read {}", fifo.display())),
        "{stderr}"
    );
    assert!(stderr.contains("a FIFO, not a regular file"), "{stderr}");
    env.assert_nothing_left();
}

#[test]
fn with_format_json_every_exit_writes_a_json_document() {
    let env = Env::new("json-errors");
    // Bad input (exit 2).
    let (document, _) = env
        .replay()
        .args([
            "check",
            "--suite",
            "no/such/suite",
            "--target",
            "twin",
            "--format",
            "json",
        ])
        .run_json(2);
    assert_eq!(document["kind"], "error");
    assert_eq!(document["exit_code"], 2);
    assert!(
        document["error"]
            .as_str()
            .unwrap()
            .contains("no/such/suite"),
        "{document}"
    );

    // A revision that fails to boot (exit 4): which revision, which stage,
    // the command, the log and its last lines.
    let suite = env.suite_copy("litellm");
    edit(
        &suite.join("targets/twin.toml"),
        "run = \"{{env}}/bin/python server.py --host {{host}} --port {{port}}\"",
        "run = \"{{env}}/bin/python -c 'import sys; print(\\\"the twin gives up\\\"); sys.exit(3)' {{master_key}}\"",
    );
    let (document, stderr) = env.check_suite(&suite, &["--format", "json"]).run_json(4);
    assert_eq!(document["kind"], "error", "{document}");
    assert_eq!(document["exit_code"], 4);
    assert_eq!(document["revision"], "working tree", "{document}");
    assert_eq!(document["stage"], "boot", "{document}");
    // The command is there, with the run's master key replaced.
    let command = document["command"].as_str().unwrap();
    assert!(command.contains("sys.exit(3)"), "{command}");
    assert!(command.contains("<master_key>"), "{command}");
    assert!(
        !command.contains("sk-") && !stderr.contains(" sk-"),
        "{command}\n{stderr}"
    );
    assert!(
        document["tail"]
            .as_str()
            .unwrap()
            .contains("the twin gives up"),
        "{document}"
    );
    let log = document["log"].as_str().unwrap();
    assert!(std::path::Path::new(log).is_file(), "{log}");
    assert!(stderr.contains("logs kept in"), "{stderr}");
    env.assert_nothing_left();
}
