//! What the server under test sees of the tool's environment: a small base,
//! the target's `pass_env` (whose values key the cells) and `[env]`, and
//! nothing else of the caller's (docs/format.md, Targets).

use std::path::{Path, PathBuf};

use crate::support::*;

/// Set in the tool's environment by the tests and declared by no target.
const UNDECLARED: &[(&str, &str)] = &[
    ("REPLAY_TEST_UNDECLARED", "1"),
    ("PYTHONPATH", "/nowhere"),
    ("VIRTUAL_ENV", "/nowhere"),
    ("DATABASE_HOST", "elsewhere"),
    ("LC_ALL", "C"),
    ("LANG", "C"),
    ("TZ", "America/New_York"),
];

/// What a command may see on each runtime, besides the target's `[env]` and
/// `pass_env`: the base (local), or what the engine gives a container.
const LOCAL: &str =
    "PATH HOME USER LOGNAME SSL_CERT_FILE SSL_CERT_DIR LANG TZ TMPDIR REPLAY_RUN_ID";
const DOCKER: &str = "PATH HOME HOSTNAME PWD LANG TZ";

/// A copy of the LiteLLM suite whose twin target runs every stage through a
/// probe: a command that sees a variable outside `PROBE_ALLOWED` (the
/// runtime's base, the target's `[env]` and `pass_env`), or another locale or
/// time zone than the fixed ones, fails; the server answers 418 to every
/// request whose path starts with `REPLAY_TEST_SWITCH` (the target passes it).
fn suite_with_probe(env: &Env, base: &str) -> PathBuf {
    let suite = env.suite_copy("litellm");
    std::fs::write(
        suite.join("targets/probe.py"),
        r#"import http.server, os, runpy, sys
stage = sys.argv[1]
allowed = set(os.environ["PROBE_ALLOWED"].split())
unexpected = sorted(n for n in os.environ if n not in allowed)
if unexpected or os.environ.get("LANG") != "C.UTF-8" or os.environ.get("TZ") != "UTC":
    sys.exit(f"probe: the {stage} sees {unexpected}, LANG={os.environ.get('LANG')!r}, TZ={os.environ.get('TZ')!r}")
print(f"probe: the {stage} sees {sorted(os.environ)}", file=sys.stderr, flush=True)
switch = os.environ.get("REPLAY_TEST_SWITCH")
if stage == "boot" and switch:
    original = http.server.BaseHTTPRequestHandler.send_response
    def send_response(self, code, message=None):
        original(self, 418 if self.path.startswith(switch) else code, message)
    http.server.BaseHTTPRequestHandler.send_response = send_response
if len(sys.argv) > 2:
    sys.path.insert(0, os.getcwd())
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
"#,
    )
    .unwrap();
    let path = suite.join("targets/twin.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let declared =
        "DATABASE_URL TWIN_MASTER_KEY PYTHONDONTWRITEBYTECODE PROBE_ALLOWED REPLAY_TEST_SWITCH";
    for (from, to) in [
        (
            "[env]\n".to_string(),
            format!(
                "pass_env = [\"REPLAY_TEST_SWITCH\"]\n\n[env]\nPROBE_ALLOWED = \"{base} {declared}\"\n"
            ),
        ),
        (
            r#""python3 -m venv {{env}}","#.to_string(),
            r#""python3 -m venv {{env}}", "{{env}}/bin/python {{target_dir}}/probe.py build","#
                .to_string(),
        ),
        (
            r#""{{env}}/bin/python migrate.py""#.to_string(),
            r#""{{env}}/bin/python {{target_dir}}/probe.py migrate migrate.py""#.to_string(),
        ),
        (
            r#""{{env}}/bin/python server.py "#.to_string(),
            r#""{{env}}/bin/python {{target_dir}}/probe.py boot server.py "#.to_string(),
        ),
    ] {
        assert!(text.contains(&from), "{from} in {}", path.display());
        text = text.replace(&from, &to);
    }
    std::fs::write(&path, text).unwrap();
    suite
}

/// `check` of one cell of the twin's working tree through the probe, built,
/// migrated and booted afresh (`--no-cache`: every stage's probe runs), with
/// the undeclared variables set and the switch as given: the report.
fn probed_check(
    env: &Env,
    suite: &Path,
    runtime: &str,
    switch: Option<&str>,
    code: i32,
) -> serde_json::Value {
    let mut command = env.check_suite(
        suite,
        &["--format", "json", "--no-cache", "--runtime", runtime],
    );
    command.args(["--cell", "key_info/own/proxy_admin"]);
    command.envs(UNDECLARED.iter().copied());
    match switch {
        Some(value) => command.env("REPLAY_TEST_SWITCH", value),
        None => command.env_remove("REPLAY_TEST_SWITCH"),
    };
    let report = command.run_json(code).0;
    // Its reaper too (docker): one still sweeping the run id would remove
    // what the next run under the same id makes.
    env.assert_nothing_left();
    report
}

/// The status the cell `key_info/own/proxy_admin` observed.
fn observed(report: &serde_json::Value) -> serde_json::Value {
    cell(report, "key_info/own/proxy_admin")["outcome"]["status"].clone()
}

#[test]
fn a_variable_of_the_callers_environment_that_the_target_does_not_declare_reaches_no_command() {
    let env = Env::new("env-undeclared");
    let suite = suite_with_probe(&env, LOCAL);
    // The build, the migration and the server see only the base, [env] and
    // pass_env: none of the variables above, LANG=C.UTF-8 and TZ=UTC.
    let report = probed_check(&env, &suite, "local", None, 0);
    assert_eq!(report["summary"]["green"], 1, "{report}");
    // A declared one does reach the server.
    let report = probed_check(&env, &suite, "local", Some("/key/info"), 1);
    assert_eq!(observed(&report), 418, "{report}");
    env.assert_nothing_left();
}

#[test]
fn docker_a_variable_of_the_callers_environment_that_the_target_does_not_declare_reaches_no_container()
 {
    let env = Env::new("docker-env-undeclared");
    env.replay()
        .args(["images", "--suite", "matrices/litellm", "--target", "twin"])
        .run_expect(0);
    let suite = suite_with_probe(&env, DOCKER);
    let report = probed_check(&env, &suite, "docker", None, 0);
    assert_eq!(report["summary"]["green"], 1, "{report}");
    let report = probed_check(&env, &suite, "docker", Some("/key/info"), 1);
    assert_eq!(observed(&report), 418, "{report}");
    env.assert_nothing_left();
}

/// The statuses the parent side of a fix record observed for the cells of
/// `/key/info`, and whether its cells came from the cache.
fn key_info_side(record: &serde_json::Value) -> (Vec<serde_json::Value>, bool) {
    let statuses = record["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["parent"]["request"]["path"] == "/key/info")
        .map(|c| c["parent"]["status"].clone())
        .collect::<Vec<_>>();
    assert!(!statuses.is_empty(), "no /key/info cell in {record}");
    let cached = record["run"]["caches"]["sides"]["parent"]["cells"]
        .as_bool()
        .unwrap();
    (statuses, cached)
}

/// A `pass_env` value keys the cell cache: a fix replayed with another value
/// is measured afresh (never answered with cells measured under the first),
/// and each value is answered from its own cells afterwards.
#[test]
fn a_declared_variable_reaches_the_server_and_its_value_keys_the_cell_cache() {
    let mut env = Env::new("env-keys-cells");
    env.private_cache();
    let repo = env.tmp.path().join("twin");
    env.replay().arg("twin-history").arg(&repo).run_expect(0);
    let suite = suite_with_probe(&env, LOCAL);
    let records = env.tmp.path().join("replays");
    let fix = |switch: Option<&str>| {
        let mut command = env.replay();
        command
            .args(["fix", "update-fix", "--target", "twin", "--format", "json"])
            .arg("--suite")
            .arg(&suite)
            .arg("--repo")
            .arg(&repo)
            .arg("--records")
            .arg(&records)
            .envs(UNDECLARED.iter().copied());
        match switch {
            Some(value) => command.env("REPLAY_TEST_SWITCH", value),
            None => command.env_remove("REPLAY_TEST_SWITCH"),
        };
        let output = command.output().unwrap();
        let (stdout, stderr) = text(&output);
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{stdout}\n{stderr}"
        );
        let record: serde_json::Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
        key_info_side(&record)
    };
    let (plain, cached) = fix(None);
    assert!(!cached);
    assert!(plain.iter().all(|s| s != 418), "{plain:?}");
    let (switched, cached) = fix(Some("/key/info"));
    assert!(!cached, "answered with cells measured without the switch");
    assert!(switched.iter().all(|s| s == 418), "{switched:?}");
    assert_eq!(fix(None), (plain, true));
    assert_eq!(fix(Some("/key/info")), (switched, true));
    env.assert_nothing_left();
}

/// A proxy of the caller's environment never sees the matrix: the tool's
/// requests go to the run's own server on 127.0.0.1. The "proxy" here answers
/// 502 to anything it gets and counts the connections.
#[test]
fn a_proxy_in_the_callers_environment_is_not_used_for_the_runs_own_servers() {
    use std::io::{Read, Write};
    let env = Env::new("env-proxy");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let mut command = env.check_twin();
    command.args(["--format", "json", "--cell", "key_info/*/*"]);
    for name in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        command.env(name, &proxy);
    }
    command.env_remove("NO_PROXY").env_remove("no_proxy");
    let report = command.run_json(0).0;
    assert!(report["summary"]["green"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);
    env.assert_nothing_left();
}

/// The connection library fills what a URL leaves out from the caller's
/// `PG*` variables: a shell set up for a TLS database elsewhere
/// (`PGSSLMODE=require`, its certificates) must not refuse the run's own
/// Postgres, which speaks no TLS (it waited out the start and exited 3).
#[test]
fn a_pgsslmode_in_the_callers_environment_does_not_refuse_the_runs_own_postgres() {
    let mut env = Env::new("env-pgsslmode");
    env.private_cache();
    let (report, stderr) = env
        .check_twin()
        .args(["--cell", "key_update/self/owner", "--format", "json"])
        .env("PGSSLMODE", "require")
        .env("PGSSLROOTCERT", "/nonexistent/root.crt")
        .run_json(0);
    assert_eq!(report["summary"]["green"], 1, "{stderr}");
    env.assert_nothing_left();
}
