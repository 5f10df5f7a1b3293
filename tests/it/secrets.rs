//! Security: the run's Postgres trusts no one, and no secret of a run is
//! printed or written anywhere (issue 9, items 1–3).

use std::io::{Read, Write};

use crate::support::*;

/// The `-p PORT` of the run's postmaster.
fn postgres_port(run_id: &str) -> u16 {
    let postmaster = processes_of_run(run_id)
        .into_iter()
        .find(|p| p.contains("postgres -D") && p.contains(" -p "))
        .expect("the run's postgres");
    let words: Vec<&str> = postmaster.split(' ').collect();
    let at = words.iter().position(|w| *w == "-p").unwrap();
    words[at + 1].parse().unwrap()
}

/// What the server asks for when `postgres` connects without a password: the
/// authentication request code (0 = let in, 10 = SASL, i.e. scram-sha-256).
fn authentication_asked(port: u16) -> u32 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut body = Vec::new();
    body.extend(196608u32.to_be_bytes()); // protocol 3.0
    for part in ["user", "postgres", "database", "postgres", ""] {
        body.extend(part.as_bytes());
        body.push(0);
    }
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend(body);
    stream.write_all(&message).unwrap();
    let mut header = [0u8; 9];
    stream.read_exact(&mut header).unwrap();
    assert_eq!(header[0], b'R', "not an authentication request: {header:?}");
    let mut code = [0u8; 4];
    code.copy_from_slice(&header[5..9]);
    u32::from_be_bytes(code)
}

/// The environment variable `name` of a live process of the run whose
/// command line contains `what`.
fn environment_of(run_id: &str, what: &str, name: &str) -> String {
    let process = processes_of_run(run_id)
        .into_iter()
        .find(|p| p.contains(what))
        .unwrap_or_else(|| panic!("no {what}: {:#?}", processes_of_run(run_id)));
    let pid = process
        .strip_prefix("pid ")
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    environ
        .split(|b| *b == 0)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")).map(String::from))
        .unwrap_or_else(|| panic!("{name} not set for {process}"))
}

/// Item 1: while a run is live, its Postgres asks every connection for a
/// password (scram-sha-256), on a cluster copied from the cache as on a fresh
/// one; the password is on no command line and in no output or log.
#[test]
fn the_runs_postgres_asks_for_a_password_that_is_never_shown() {
    let env = Env::new("pg-password");
    let suite = env.suite_copy("litellm");
    std::fs::write(
        suite.join("targets/hang.py"),
        "import os, time\nopen(os.environ['HANG_FILE'], 'w').close()\nwhile True:\n    time.sleep(1)\n",
    )
    .unwrap();
    // The server never gets ready: the run stays live while the test looks.
    edit(
        &suite.join("targets/twin.toml"),
        r#"run = "{{env}}/bin/python server.py --host {{host}} --port {{port}}""#,
        r#"run = "{{env}}/bin/python {{target_dir}}/hang.py --host {{host}} --port {{port}}""#,
    );
    edit(
        &suite.join("targets/twin.toml"),
        "[env]\n",
        "pass_env = [\"HANG_FILE\"]\n\n[env]\n",
    );
    let hang = env.tmp.path().join("hanging");
    let mut passwords = Vec::new();
    for round in 0..2 {
        let _ = std::fs::remove_file(&hang);
        let mut command = env.check_suite(&suite, &["--keep-logs"]);
        command.env("HANG_FILE", &hang);
        let (mut child, mut stderr, rest) = start_until(command, "replay: booting");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !hang.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(
            authentication_asked(postgres_port(&env.run_id)),
            10,
            "round {round}"
        );
        let url = environment_of(&env.run_id, "hang.py", "DATABASE_URL");
        let password = url
            .strip_prefix("postgresql://postgres:")
            .and_then(|rest| rest.split('@').next())
            .unwrap_or_else(|| panic!("no password in the server's database URL"))
            .to_string();
        assert!(password.len() >= 16, "{password}");
        for process in processes_of_run(&env.run_id) {
            assert!(
                !process.contains(&password),
                "the password on a command line: {process}"
            );
        }
        // The cache's credential, which the copied cluster started with, no
        // longer opens it: the run's own password replaced it on the first
        // connection.
        let credentials: Vec<String> = std::fs::read_dir(env.cache.join("postgres"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("credential")).ok())
            .collect();
        assert!(!credentials.is_empty(), "no cache entry has a credential");
        let port = postgres_port(&env.run_id);
        let connect = |secret: &str| {
            let url = format!("postgresql://postgres:{secret}@127.0.0.1:{port}/postgres");
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async { <sqlx::PgConnection as sqlx::Connection>::connect(&url).await })
                .map(|_| ())
        };
        for credential in &credentials {
            assert_ne!(credential, &password);
            assert!(connect(credential).is_err(), "a credential still logs in");
        }
        connect(&password).expect("the run's password logs in");
        let (code, stdout, rest) = interrupt_and_collect(&mut child, rest);
        assert_eq!(code, 130, "{rest:#?}");
        stderr.extend(rest);
        let mut texts = vec![
            ("stderr".to_string(), stderr.join("\n")),
            ("stdout".to_string(), stdout),
        ];
        texts.extend(files_below(&env.cache.join("logs").join(&env.run_id)));
        for (name, text) in &texts {
            assert!(!text.contains(&password), "the password in {name}");
        }
        passwords.push(password);
        let _ = std::fs::remove_dir_all(env.cache.join("logs").join(&env.run_id));
    }
    // The second run copied the cached cluster: it still got a password of its own.
    assert_ne!(passwords[0], passwords[1]);
    env.assert_nothing_left();
}

/// Item 2: a target that puts every secret of the run (the master key, the
/// database URL with its password) in every place it can (a command's argv,
/// the environment, the output of a command, a failing command) gets none of
/// them printed or written: not on stdout or stderr (`command:` lines
/// included), not in the logs, not in the reports (JSON, JUnit, Markdown, HTML).
#[test]
fn no_secret_is_printed_or_written_wherever_a_target_puts_it() {
    let env = Env::new("secrets-everywhere");
    let suite = env.suite_copy("litellm");
    // Says every secret it was given, then runs the twin (or fails, with LEAK_FAIL set).
    std::fs::write(
        suite.join("targets/leak.py"),
        r#"import os, runpy, sys
print("argv", sys.argv[1:], "env", os.environ["LEAK"], os.environ["DATABASE_URL"], flush=True)
sys.stderr.write(f"leaking {os.environ['LEAK']} {os.environ['DATABASE_URL']}\n")
if os.environ.get("LEAK_FAIL"):
    sys.exit(f"failing with {sys.argv[1]} {sys.argv[2]}")
at = sys.argv.index("--")
sys.path.insert(0, os.getcwd())
sys.argv = sys.argv[at + 1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"#,
    )
    .unwrap();
    let target = suite.join("targets/twin.toml");
    edit(
        &target,
        r#"run = "{{env}}/bin/python server.py --host"#,
        r#"run = "{{env}}/bin/python {{target_dir}}/leak.py {{master_key}} {{database_url}} -- server.py --host"#,
    );
    edit(
        &target,
        r#"TWIN_MASTER_KEY = "{{master_key}}""#,
        "TWIN_MASTER_KEY = \"{{master_key}}\"\nLEAK = \"{{master_key}}\"",
    );
    edit(&target, "[env]\n", "pass_env = [\"LEAK_FAIL\"]\n\n[env]\n");
    let secret = regex::Regex::new(r"(sk|pg)-[0-9a-f]{32}").unwrap();
    for fail in [false, true] {
        let reports = env.tmp.path().join(format!("reports-{fail}"));
        let mut command = env.check_suite(&suite, &["--keep-logs", "--format", "json"]);
        command.arg("--report-dir").arg(&reports);
        if fail {
            command.env("LEAK_FAIL", "1");
        }
        let output = command.output().unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(
            output.status.code(),
            Some(if fail { 4 } else { 0 }),
            "{stderr}"
        );
        if fail {
            assert!(stderr.contains("command: "), "{stderr}");
            assert!(stderr.contains("<master_key>"), "{stderr}");
            assert!(stderr.contains("<db_password>"), "{stderr}");
        } else {
            for name in ["report.json", "junit.xml", "summary.md", "report.html"] {
                assert!(reports.join(name).is_file(), "no {name}");
            }
        }
        let texts = texts_of_run(&env, stdout, stderr, &reports);
        let logs = env.cache.join("logs").join(&env.run_id);
        assert!(
            texts
                .iter()
                .any(|(name, text)| name.ends_with("-boot.log") && text.contains("leaking")),
            "the boot log is kept: {:?}",
            texts.iter().map(|(n, _)| n).collect::<Vec<_>>()
        );
        for (name, text) in &texts {
            assert!(!secret.is_match(text), "a secret in {name}: {text}");
        }
        let _ = std::fs::remove_dir_all(&logs);
    }
    env.assert_nothing_left();
}
