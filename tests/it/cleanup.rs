//! Nothing the tool starts outlives it: on Ctrl-C during boot, during the
//! matrix, and on a panic.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

const BOOT: &str = "run = \"{{env}}/bin/python server.py --host {{host}} --port {{port}}\"";

/// A copy of the suite whose twin sleeps ten minutes before it listens, and
/// is waited for as long: an interrupt sent once its process is seen lands
/// during the boot however long the test takes to send it.
fn slow_boot_suite(env: &Env) -> PathBuf {
    let suite = env.suite_copy("litellm");
    let target = suite.join("targets/twin.toml");
    edit(
        &target,
        BOOT,
        "run = \"{{env}}/bin/python -c 'import time, runpy, sys; time.sleep(600); sys.argv = sys.argv[1:]; runpy.run_path(\\\"server.py\\\", run_name=\\\"__main__\\\")' server.py --host {{host}} --port {{port}}\"",
    );
    edit(&target, "timeout = \"30s\"", "timeout = \"900s\"");
    suite
}

/// A copy of the suite whose twin, at the first request to /key/list,
/// creates `paused` and never answers: that is a cell of key_list.toml, and
/// no scenario before it asks /key/list, so with `--jobs 1` (cells in file
/// order) the cells before it are done, and it and those after it are not.
fn suite_paused_at_key_list(env: &Env, paused: &Path) -> PathBuf {
    let suite = env.suite_copy("litellm");
    let wrapper = suite.join("targets/pause_at_key_list.py");
    std::fs::write(
        &wrapper,
        format!(
            "import http.server, runpy, sys, time\n\
             parse = http.server.BaseHTTPRequestHandler.parse_request\n\
             def parse_or_pause(self):\n\
             \x20   parsed = parse(self)\n\
             \x20   if parsed and self.path.startswith('/key/list'):\n\
             \x20       open({paused:?}, 'w').close()\n\
             \x20       time.sleep(3600)\n\
             \x20   return parsed\n\
             http.server.BaseHTTPRequestHandler.parse_request = parse_or_pause\n\
             sys.argv = sys.argv[1:]\n\
             sys.path[0] = ''\n\
             runpy.run_path('server.py', run_name='__main__')\n"
        ),
    )
    .unwrap();
    edit(
        &suite.join("targets/twin.toml"),
        BOOT,
        "run = \"{{env}}/bin/python {{target_dir}}/pause_at_key_list.py server.py --host {{host}} --port {{port}}\"",
    );
    suite
}

/// Wait (up to two minutes) until `ready` says so, failing if the tool ends first.
fn wait_until(child: &mut std::process::Child, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the tool ended before {what}"
        );
        assert!(Instant::now() < deadline, "never {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_during_boot_tears_everything_down() {
    let env = Env::new("int-boot");
    let suite = slow_boot_suite(&env);
    let command = env.check_suite(&suite, &[]);
    let (mut child, _, rest) = start_until(command, "replay: booting working tree");
    // The server process exists, still sleeping before it listens.
    wait_until(&mut child, "the server process ran", || {
        processes_of_run(&env.run_id)
            .iter()
            .any(|p| p.contains("time.sleep"))
    });
    let (code, _, stderr) = interrupt_and_collect(&mut child, rest);
    assert_eq!(code, 130, "{stderr:#?}");
    assert!(
        stderr.iter().any(|l| l.contains("interrupted")),
        "{stderr:#?}"
    );
    env.assert_nothing_left();
}

#[test]
fn ctrl_c_during_the_matrix_writes_partial_results_and_tears_down() {
    let env = Env::new("int-matrix");
    let paused = env.tmp.path().join("paused");
    let suite = suite_paused_at_key_list(&env, &paused);
    let command = env.check_suite(&suite, &["--format", "json", "--jobs", "1"]);
    let (mut child, _, rest) = start_until(
        command,
        &format!("replay: running {} cells", suite_cells("litellm")),
    );
    wait_until(&mut child, "a cell asked /key/list", || paused.exists());
    let (code, text, stderr) = interrupt_and_collect(&mut child, rest);
    assert_eq!(code, 130, "{stderr:#?}");
    let report: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(report["interrupted"], true);
    let not_run = report["summary"]["not_run"].as_u64().unwrap();
    let cells = suite_cells("litellm") as u64;
    assert!(not_run > 0 && not_run < cells, "{}", report["summary"]);
    env.assert_nothing_left();
}

#[test]
fn a_panic_after_boot_leaves_nothing() {
    let env = Env::new("panic");
    let (_, stderr) = env
        .check_twin()
        .env("REPLAY_FAULT", "panic-after-boot")
        .run_expect(101);
    assert!(
        stderr.contains("REPLAY_FAULT: panic after-boot"),
        "{stderr}"
    );
    env.assert_nothing_left();
}

#[test]
fn gc_removes_what_a_killed_run_left_behind() {
    let env = Env::new("gc");
    let mut command = env.check_twin();
    command.args(["--jobs", "1"]);
    let (mut child, _, _) = start_until(
        command,
        &format!("replay: running {} cells", suite_cells("litellm")),
    );
    // SIGKILL: the run gets no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let left = env.leftovers();
    assert!(left.iter().any(|l| l.contains("postgres")), "{left:#?}");
    assert!(left.iter().any(|l| l.contains("temp folder")), "{left:#?}");

    let (_, stderr) = env
        .replay()
        .env_remove("REPLAY_RUN_ID")
        .args(["gc", "--keep-cache"])
        .run_expect(0);
    assert!(
        stderr.contains(&format!("removed what run {} left behind", env.run_id)),
        "{stderr}"
    );
    env.assert_nothing_left();
    assert!(
        env.cache.join("envs").exists(),
        "--keep-cache kept the caches"
    );
}

#[test]
fn a_killed_tests_temp_folder_goes_with_its_mounts_and_the_mounted_files_stay() {
    // A test terminated at its timeout runs no destructor: its folder stays,
    // maybe with a killed image build's chroot mounts in it (the host's
    // /dev/shm). The next test removes it, unmounting first. Needs root.
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: cannot mount, this test checks nothing");
        return;
    }
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let left = std::env::temp_dir().join(format!("replay-it-{dead_pid}-left"));
    let point = left.join("scratch/mmdebstrap.x/dev/shm");
    std::fs::create_dir_all(&point).unwrap();
    let host = tempfile::tempdir_in("/dev/shm").unwrap();
    std::fs::write(host.path().join("sentinel"), b"host file").unwrap();
    nix::mount::mount(
        Some(host.path()),
        &point,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    let env = Env::new("swept");
    let still_mounted = !mounts_below(&left).is_empty();
    let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
    assert_eq!(
        std::fs::read(host.path().join("sentinel")).unwrap(),
        b"host file",
        "the mounted folder's files were deleted"
    );
    assert!(!still_mounted, "the killed test's mount stayed");
    assert!(!left.exists(), "the killed test's folder stayed");
    env.assert_nothing_left();
}
