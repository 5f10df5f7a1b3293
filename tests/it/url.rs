//! `replay check --url`: against a server the user started, nothing is built
//! or booted, and every row the run wrote is gone afterwards.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A process killed when the test ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .map(|e| e.unwrap().path().join("bin"))
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("Debian's PostgreSQL server is installed")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Postgres of the test's own, run as `postgres` when the test runs as root.
fn start_postgres(dir: &Path) -> (Guard, String) {
    let user = nix::unistd::Uid::effective()
        .is_root()
        .then(|| nix::unistd::User::from_name("postgres").unwrap().unwrap());
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(
        dir.parent().unwrap(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    if let Some(user) = &user {
        nix::unistd::chown(dir, Some(user.uid), Some(user.gid)).unwrap();
    }
    let as_user = |command: &mut Command| {
        if let Some(user) = &user {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
    };
    let data = dir.join("data");
    let mut initdb = Command::new(pg_bin().join("initdb"));
    initdb
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
        .arg(&data)
        .stdout(Stdio::null());
    as_user(&mut initdb);
    assert!(initdb.status().unwrap().success());
    let port = free_port();
    let mut postgres = Command::new(pg_bin().join("postgres"));
    postgres
        .arg("-D")
        .arg(&data)
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
        ])
        .stderr(Stdio::null());
    as_user(&mut postgres);
    let guard = Guard(postgres.spawn().unwrap());
    let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    while psql(&url, "SELECT 1").is_none() {
        assert!(Instant::now() < deadline, "postgres did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, url)
}

fn psql(url: &str, sql: &str) -> Option<String> {
    let output = Command::new(pg_bin().join("psql"))
        .args([url, "-XAtc", sql])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The twin's cached virtualenv (a quick check builds it if needed).
fn twin_python(env: &Env) -> PathBuf {
    env.check_twin()
        .args(["--cell", "key_info/own/owner"])
        .run_expect(0);
    for entry in std::fs::read_dir(env.cache.join("envs")).unwrap() {
        let python = entry.unwrap().path().join("bin/python");
        if python.exists()
            && Command::new(&python)
                .args(["-c", "import psycopg2"])
                .status()
                .is_ok_and(|s| s.success())
        {
            return python;
        }
    }
    panic!("no twin environment in the cache");
}

fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")
}

const MASTER_KEY: &str = "sk-url-test-master-key-0123456789";

/// A Postgres and a migrated twin of the test's own, as a user runs them:
/// the guards, the twin's URL and its database URL.
fn attached_twin(env: &Env) -> (Guard, Guard, String, String) {
    let python = twin_python(env);
    let (postgres, database_url) = start_postgres(&env.tmp.path().join("pg/cluster"));
    let twin = repo_root().join("testdata/twin");
    let master_key = MASTER_KEY;
    let migrate = Command::new(&python)
        .arg("migrate.py")
        .current_dir(&twin)
        .env("DATABASE_URL", &database_url)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .status()
        .unwrap();
    assert!(migrate.success());
    let port = free_port();
    let server = Command::new(&python)
        .args([
            "server.py",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(&twin)
        .env("DATABASE_URL", &database_url)
        .env("TWIN_MASTER_KEY", master_key)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Guard(server);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http_ok(port, "/health/liveliness") {
        assert!(Instant::now() < deadline, "the twin did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("http://127.0.0.1:{port}");
    (postgres, server, url, database_url)
}

/// The keys the twin archived: every key a cell deletes (the suite's first
/// cells delete keys); nothing else writes that table.
fn deleted_keys(database_url: &str) -> u64 {
    let sql = "SELECT count(*) FROM \"LiteLLM_DeletedVerificationToken\"";
    psql(database_url, sql)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Wait until a cell of the run has deleted a key (`before`: the archived
/// keys before the run started): the run is then mid-matrix.
fn wait_for_a_cell_write(database_url: &str, before: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while deleted_keys(database_url) <= before {
        assert!(Instant::now() < deadline, "no cell deleted a key");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The rows of the twin's tables: `table count` lines, or None.
fn counts(database_url: &str) -> Vec<(String, String)> {
    [
        "LiteLLM_VerificationToken",
        "LiteLLM_TeamTable",
        "LiteLLM_UserTable",
        "LiteLLM_OrganizationTable",
    ]
    .iter()
    .map(|table| {
        (
            table.to_string(),
            psql(database_url, &format!("SELECT count(*) FROM \"{table}\"")).unwrap(),
        )
    })
    .collect()
}

#[test]
fn gc_deletes_the_rows_of_a_killed_attach_run_and_only_then_says_so() {
    let env = Env::new("url-killed");
    let (_postgres, _server, url, database_url) = attached_twin(&env);
    let before = counts(&database_url);
    let archived = deleted_keys(&database_url);
    let mut command = env.replay();
    command.args([
        "check",
        "--suite",
        "matrices/litellm",
        "--jobs",
        "1",
        "--url",
        &url,
        "--database-url",
        &database_url,
    ]);
    let (mut child, seen, _) = start_until(
        command,
        &format!("replay: running {} cells", suite_cells("litellm")),
    );
    wait_for_a_cell_write(&database_url, archived);
    // SIGKILL: the run deletes nothing; its owner file says what to delete.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_ne!(counts(&database_url), before, "the world was seeded");
    let prefix = seen
        .iter()
        .find_map(|l| l.split("prefix ").nth(1))
        .unwrap()
        .to_string();

    let (_, stderr) = env
        .replay()
        .env_remove("REPLAY_RUN_ID")
        .args(["gc", "--keep-cache"])
        .run_expect(0);
    assert!(
        stderr.contains(&format!(
            "rows with prefix {prefix} that run {} wrote",
            env.run_id
        )),
        "{stderr}"
    );
    assert_eq!(counts(&database_url), before, "{stderr}");
    env.assert_nothing_left();

    // Nothing is left to delete, and gc does not claim it again.
    let again = env
        .replay()
        .env_remove("REPLAY_RUN_ID")
        .args(["gc", "--keep-cache"])
        .output()
        .unwrap();
    assert!(!text(&again).1.contains(&prefix), "{}", text(&again).1);
}

#[test]
fn a_server_that_does_not_answer_is_an_environment_error_before_the_first_cell() {
    let env = Env::new("url-down");
    let (_postgres, database_url) = start_postgres(&env.tmp.path().join("pg/cluster"));
    let url = format!("http://127.0.0.1:{}", free_port());
    let (_, stderr) = env
        .replay()
        .args([
            "check",
            "--suite",
            "matrices/litellm",
            "--url",
            &url,
            "--database-url",
            &database_url,
        ])
        .run_expect(3);
    assert!(
        stderr.contains(&format!("error: the server at {url} is unreachable")),
        "{stderr}"
    );
    assert!(stderr.contains("hint: start the server first"), "{stderr}");
    // Not one ERROR line per cell, and nothing was seeded.
    assert!(!stderr.contains("ERROR"), "{stderr}");
    env.assert_nothing_left();
}

#[test]
fn a_running_server_is_checked_and_the_run_leaves_no_row() {
    let env = Env::new("url");
    let (_postgres, _server, url, database_url) = attached_twin(&env);
    let master_key = MASTER_KEY;
    // A row of somebody else, which the cleanup must not touch.
    psql(&database_url, "INSERT INTO \"LiteLLM_UserTable\" (user_id, user_email) VALUES ('someone-else', 'someone@example.test')").unwrap();

    // A suite that says nothing about its rows would leave them all: refused
    // before the first write.
    let bare = env.suite_copy("litellm");
    let text = std::fs::read_to_string(bare.join("suite.toml")).unwrap();
    let cut = text.find("[[cleanup]]").unwrap();
    std::fs::write(bare.join("suite.toml"), &text[..cut]).unwrap();
    let before = counts(&database_url);
    let (_, stderr) = env
        .replay()
        .arg("check")
        .arg("--suite")
        .arg(&bare)
        .args(["--url", &url, "--database-url", &database_url])
        .run_expect(2);
    assert!(
        stderr.contains("suite.toml: the suite has no [[cleanup]], so every row this run writes"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: list the tables and columns"),
        "{stderr}"
    );
    assert_eq!(counts(&database_url), before);

    let (report, stderr) = env
        .replay()
        .args([
            "check",
            "--suite",
            "matrices/litellm",
            "--format",
            "json",
            "--url",
            &url,
            "--database-url",
            &database_url,
        ])
        .run_json(0);
    assert_eq!(report["summary"]["green"], suite_cells("litellm"));
    assert!(stderr.contains("cleanup: removed"), "{stderr}");

    let (report, _) = env
        .replay()
        .args([
            "check",
            "--suite",
            "matrices/twin-login",
            "--format",
            "json",
            "--url",
            &url,
            "--database-url",
            &database_url,
            "--master-key",
            master_key,
        ])
        .run_json(0);
    assert_eq!(report["summary"]["green"], 5);

    // Interrupted in the middle of the matrix, the run still removes its rows.
    let archived = deleted_keys(&database_url);
    let mut command = env.replay();
    command.args([
        "check",
        "--suite",
        "matrices/litellm",
        "--jobs",
        "1",
        "--url",
        &url,
        "--database-url",
        &database_url,
    ]);
    let (mut child, _, rest) = start_until(
        command,
        &format!("replay: running {} cells", suite_cells("litellm")),
    );
    wait_for_a_cell_write(&database_url, archived);
    let (code, _, stderr) = interrupt_and_collect(&mut child, rest);
    assert_eq!(code, 130, "{stderr:#?}");
    assert!(
        stderr.iter().any(|l| l.contains("cleanup: removed")),
        "{stderr:#?}"
    );

    for table in [
        "LiteLLM_VerificationToken",
        "LiteLLM_DeletedVerificationToken",
        "LiteLLM_TeamTable",
        "LiteLLM_TeamMembership",
        "LiteLLM_OrganizationMembership",
        "LiteLLM_OrganizationTable",
        "LiteLLM_BudgetTable",
    ] {
        assert_eq!(
            psql(&database_url, &format!("SELECT count(*) FROM \"{table}\"")).as_deref(),
            Some("0"),
            "{table}"
        );
    }
    assert_eq!(
        psql(
            &database_url,
            "SELECT string_agg(user_id, ',') FROM \"LiteLLM_UserTable\""
        )
        .as_deref(),
        Some("someone-else")
    );
    env.assert_nothing_left();
}
