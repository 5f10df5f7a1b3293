//! Nothing the tool starts outlives it: on Ctrl-C during boot, during the
//! matrix, and on a panic.

use std::time::Duration;

use crate::support::*;

/// A copy of the suite whose twin takes a while to come up.
fn slow_boot_suite(env: &Env) -> std::path::PathBuf {
    let suite = env.suite_copy("litellm");
    edit(
        &suite.join("targets/twin.toml"),
        "run = \"{{env}}/bin/python server.py --host {{host}} --port {{port}}\"",
        "run = \"{{env}}/bin/python -c 'import time, runpy, sys; time.sleep(5); sys.argv = sys.argv[1:]; runpy.run_path(\\\"server.py\\\", run_name=\\\"__main__\\\")' server.py --host {{host}} --port {{port}}\"",
    );
    suite
}

#[test]
fn ctrl_c_during_boot_tears_everything_down() {
    let env = Env::new("int-boot");
    let suite = slow_boot_suite(&env);
    let mut command = env.replay();
    command
        .args([
            "check",
            "--target",
            "twin",
            "--repo",
            "testdata/twin",
            "--suite",
        ])
        .arg(&suite);
    let (mut child, _, rest) = start_until(command, "replay: booting working tree");
    // The server process exists, still sleeping before it listens.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !processes_of_run(&env.run_id)
        .iter()
        .any(|p| p.contains("time.sleep"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{:#?}",
            processes_of_run(&env.run_id)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(interrupt_and_wait(&mut child), 130);
    let stderr: Vec<String> = rest.try_iter().collect();
    assert!(
        stderr.iter().any(|l| l.contains("interrupted")),
        "{stderr:#?}"
    );
    env.assert_nothing_left();
}

#[test]
fn ctrl_c_during_the_matrix_writes_partial_results_and_tears_down() {
    let env = Env::new("int-matrix");
    let mut command = env.replay();
    command.args([
        "check",
        "--target",
        "twin",
        "--repo",
        "testdata/twin",
        "--format",
        "json",
        "--jobs",
        "1",
    ]);
    let (mut child, _, _) = start_until(
        command,
        &format!("replay: running {} cells", suite_cells("litellm")),
    );
    std::thread::sleep(Duration::from_millis(200));
    let mut stdout = child.stdout.take().unwrap();
    assert_eq!(interrupt_and_wait(&mut child), 130);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
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
        .replay()
        .env("REPLAY_FAULT", "panic-after-boot")
        .args(["check", "--target", "twin", "--repo", "testdata/twin"])
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
    let mut command = env.replay();
    command.args([
        "check",
        "--target",
        "twin",
        "--repo",
        "testdata/twin",
        "--jobs",
        "1",
    ]);
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
