//! Nothing is left behind, on every exit path: a signal matrix over `check`,
//! `fix` and `bisect` (SIGINT once, twice and three times, SIGTERM, SIGHUP; at
//! postgres start, build, boot and mid-matrix; SIGKILL then `replay gc`), runs
//! that share a cache folder or a run id, and `gc` during a live run.
//!
//! The twin is slowed through the target, never through testdata/twin (whose
//! files make the commit ids of the generated history): a test's copy of the
//! suite wraps the target's commands, and a debug build pauses its copy
//! of the cached cluster on `REPLAY_TEST_PAUSE_COPY`.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::*;

const BOOT: &str = "run = \"{{env}}/bin/python server.py --host {{host}} --port {{port}}\"";
const BUILD: &str = "run = [\n  \"python3 -m venv {{env}}\",";

/// A copy of the LiteLLM suite whose twin sleeps `boot_delay` seconds before
/// it listens, and, with `build_sleep`, whose build first makes a temp folder
/// (as pip does) and then sleeps (a fresh recipe, so the build really runs).
fn slow_suite(env: &Env, boot_delay: u32, build_sleep: bool) -> PathBuf {
    let suite = env.suite_copy("litellm");
    let target = suite.join("targets/twin.toml");
    edit(
        &target,
        BOOT,
        &format!(
            "run = \"{{{{env}}}}/bin/python -c 'import time, runpy, sys; time.sleep({boot_delay}); sys.argv = sys.argv[1:]; runpy.run_path(\\\"server.py\\\", run_name=\\\"__main__\\\")' server.py --host {{{{host}}}} --port {{{{port}}}}\""
        ),
    );
    if build_sleep {
        edit(
            &target,
            BUILD,
            "run = [\n  \"sh -c 'mktemp -d; exec sleep 120'\",\n  \"python3 -m venv {{env}}\",",
        );
    }
    suite
}

/// Wait until a process of the run shows `needle` in its command line.
fn wait_for_process(env: &Env, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !processes_of_run(&env.run_id)
        .iter()
        .any(|p| p.contains(needle))
    {
        assert!(
            Instant::now() < deadline,
            "no process with {needle:?}: {:#?}",
            processes_of_run(&env.run_id)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the tool says when it gets its first, second and third signal.
const SAID: [&str; 3] = [
    "interrupted: tearing down",
    "interrupted again",
    "interrupted a third time",
];

/// Send the signals one after the other, each once the tool said it got the
/// one before (or stop early when it has exited); its exit code and stderr.
fn send(child: &mut Child, rest: &Receiver<String>, signals: &[Signal]) -> (i32, Vec<String>) {
    let mut stderr = Vec::new();
    for (n, signal) in signals.iter().enumerate() {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        kill(Pid::from_raw(child.id() as i32), *signal).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rest.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    let said = line.contains(SAID[n.min(2)]);
                    stderr.push(line);
                    if said {
                        break;
                    }
                }
                Err(_) if child.try_wait().unwrap().is_some() => break,
                Err(_) => assert!(Instant::now() < deadline, "{stderr:#?}"),
            }
        }
    }
    let status = child.wait().unwrap();
    // The reader thread ends with the pipe.
    while let Ok(line) = rest.recv_timeout(Duration::from_secs(5)) {
        stderr.push(line);
    }
    (status.code().unwrap_or(-1), stderr)
}

/// Interrupt `replay check` once `process` runs, with `signals`; exit 130,
/// said so, and nothing left: no process, port, cluster, temp folder.
fn check_interrupted(name: &str, phase: Phase, signals: &[Signal]) -> Vec<String> {
    let mut env = Env::new(name);
    let mut command;
    match phase {
        Phase::Postgres => {
            env.private_cache();
            let suite = slow_suite(&env, 0, false);
            command = env.check_suite(&suite, &[]);
        }
        Phase::Build => command = env.check_suite(slow_suite(&env, 0, true), &[]),
        Phase::Boot => command = env.check_suite(slow_suite(&env, 60, false), &[]),
        // The cells before /key/regenerate's run; that one hangs.
        Phase::Matrix => {
            let suite = suite_with_launcher(&env);
            let hang = env.tmp.path().join("hanging");
            steer(
                &suite,
                &[
                    ("HANG_PATH", "/key/regenerate"),
                    ("HANG_FILE", hang.to_str().unwrap()),
                ],
            );
            command = env.check_suite(suite, &[]);
            command.args(["--jobs", "1"]);
        }
    }
    if let Phase::Postgres = phase {
        // The cluster is copied in the tool's own process: a debug build
        // pauses the copy, once its folders are made, and says so.
        command.env("REPLAY_TEST_PAUSE_COPY", env.tmp.path().join("never"));
    }
    let marker = match phase {
        Phase::Postgres => "replay: test pause: copying".to_string(),
        Phase::Matrix => format!("replay: running {} cells", suite_cells("litellm")),
        _ => "replay: run ".to_string(),
    };
    let (mut child, seen, rest) = start_until(command, &marker);
    match phase {
        // The signal lands while the copy is under way: its folders are
        // there, its files not yet.
        Phase::Postgres => {
            let line = seen.last().unwrap();
            let into = line
                .split("copying into ")
                .nth(1)
                .and_then(|rest| rest.split(" (waiting").next())
                .unwrap_or_else(|| panic!("{line}"));
            let into = Path::new(into);
            assert!(into.is_dir(), "{line}");
            assert!(!into.join("PG_VERSION").exists(), "{line}");
        }
        Phase::Build => wait_for_process(&env, ": sleep 120"),
        Phase::Boot => wait_for_process(&env, "time.sleep"),
        // Mid-matrix: a cell's request is in flight, and stays there.
        Phase::Matrix => wait_for_hanging(&env.tmp.path().join("hanging"), 1),
    }
    // Read stdout meanwhile: the report an interrupted check prints may not
    // fit in a pipe.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut printed = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut printed).unwrap();
        printed
    });
    let (code, stderr) = send(&mut child, &rest, signals);
    reader.join().unwrap();
    assert_eq!(code, 130, "{stderr:#?}");
    assert!(stderr.iter().any(|l| l.contains(SAID[0])), "{stderr:#?}");
    eprintln!("the tool said: {stderr:#?}");
    env.assert_nothing_left();
    stderr
}

#[derive(Clone, Copy)]
enum Phase {
    Postgres,
    Build,
    Boot,
    Matrix,
}

use Signal::{SIGHUP, SIGINT, SIGTERM};

#[test]
fn check_three_ctrl_c_while_the_cluster_is_copied_leave_nothing() {
    // Ctrl-C while the run makes and copies its cluster (in the tool's own
    // process): the third Ctrl-C leaves no cluster or copy behind.
    check_interrupted("sig-pg-int3", Phase::Postgres, &[SIGINT, SIGINT, SIGINT]);
}

#[test]
fn check_sigterm_while_the_cluster_is_copied_leaves_nothing() {
    check_interrupted("sig-pg-term", Phase::Postgres, &[SIGTERM]);
}

#[test]
fn check_ctrl_c_during_the_build_leaves_no_temp_folder() {
    // The build made a temp folder (as pip and venv do): it was inside the
    // run's scratch folder, and went with it.
    check_interrupted("sig-build-int", Phase::Build, &[SIGINT]);
}

#[test]
fn check_sighup_during_the_build_leaves_nothing() {
    check_interrupted("sig-build-hup", Phase::Build, &[SIGHUP]);
}

#[test]
fn check_two_ctrl_c_during_the_boot_leave_nothing() {
    check_interrupted("sig-boot-int2", Phase::Boot, &[SIGINT, SIGINT]);
}

#[test]
fn check_three_ctrl_c_during_the_boot_leave_nothing() {
    check_interrupted("sig-boot-int3", Phase::Boot, &[SIGINT, SIGINT, SIGINT]);
}

#[test]
fn check_sigterm_during_the_boot_leaves_nothing() {
    check_interrupted("sig-boot-term", Phase::Boot, &[SIGTERM]);
}

#[test]
fn check_sighup_mid_matrix_leaves_nothing() {
    check_interrupted("sig-matrix-hup", Phase::Matrix, &[SIGHUP]);
}

#[test]
fn check_three_ctrl_c_mid_matrix_leave_nothing() {
    check_interrupted("sig-matrix-int3", Phase::Matrix, &[SIGINT, SIGINT, SIGINT]);
}

/// The twin's history, generated by the tool into the test's folder.
fn history(env: &Env) -> PathBuf {
    let dir = env.tmp.path().join("twin");
    let output = env.replay().arg("twin-history").arg(&dir).output().unwrap();
    assert!(output.status.success(), "{}", text(&output).1);
    dir
}

/// `replay fix` or `replay bisect` over the history, with a twin slow to boot.
fn history_command(env: &Env, args: &[&str]) -> std::process::Command {
    let repo = history(env);
    let suite = slow_suite(env, 60, false);
    let mut command = env.replay();
    command
        .args(args)
        .args(["--target", "twin", "--suite"])
        .arg(&suite)
        .arg("--repo")
        .arg(&repo)
        .arg("--records")
        .arg(env.tmp.path().join("replays"));
    command
}

fn history_interrupted(name: &str, args: &[&str], signals: &[Signal]) {
    let mut env = Env::new(name);
    env.private_cache();
    let (mut child, _, rest) = start_until(history_command(&env, args), "replay: ");
    wait_for_process(&env, "time.sleep");
    let (code, stderr) = send(&mut child, &rest, signals);
    assert_eq!(code, 130, "{stderr:#?}");
    env.assert_nothing_left();
}

#[test]
fn fix_ctrl_c_during_the_boot_leaves_nothing() {
    history_interrupted("sig-fix-int", &["fix", "update-fix"], &[SIGINT]);
}

#[test]
fn fix_three_ctrl_c_during_the_boot_leave_nothing() {
    history_interrupted(
        "sig-fix-int3",
        &["fix", "update-fix"],
        &[SIGINT, SIGINT, SIGINT],
    );
}

#[test]
fn fix_sigterm_during_the_boot_leaves_nothing() {
    history_interrupted("sig-fix-term", &["fix", "update-fix"], &[SIGTERM]);
}

#[test]
fn bisect_ctrl_c_during_the_boot_leaves_nothing() {
    history_interrupted(
        "sig-bisect-int",
        &[
            "bisect",
            "--good",
            "teams-module",
            "--bad",
            "unbootable-repair",
        ],
        &[SIGINT],
    );
}

#[test]
fn bisect_sighup_twice_during_the_boot_leaves_nothing() {
    history_interrupted(
        "sig-bisect-hup2",
        &[
            "bisect",
            "--good",
            "teams-module",
            "--bad",
            "unbootable-repair",
        ],
        &[SIGHUP, SIGHUP],
    );
}

#[test]
fn fix_killed_then_gc_leaves_nothing() {
    let mut env = Env::new("sig-fix-kill");
    env.private_cache();
    let (mut child, _, _) = start_until(history_command(&env, &["fix", "update-fix"]), "replay: ");
    wait_for_process(&env, "time.sleep");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!env.leftovers().is_empty());
    let (_, stderr) = env
        .replay()
        .env_remove("REPLAY_RUN_ID")
        .args(["gc", "--keep-cache"])
        .run_expect(0);
    assert!(
        stderr.contains(&format!("removed what run {} left behind", env.run_id)),
        "{stderr}"
    );
    // Said only once it is so: no process (Postgres's own included: they
    // hide the run id), no folder, right after gc returns.
    assert!(env.leftovers().is_empty(), "{:#?}", env.leftovers());
    assert!(!env.logs_kept(), "gc removed the killed run's logs");
}

#[test]
fn a_run_id_that_a_live_run_holds_is_refused() {
    let env = Env::new("same-id");
    let suite = slow_suite(&env, 60, false);
    let (mut first, _, rest) = start_until(env.check_suite(&suite, &[]), "replay: run ");
    wait_for_process(&env, "time.sleep");
    let second = env.check_suite(&suite, &[]).output().unwrap();
    let (_, stderr) = text(&second);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("run id `{}` is in use by a live run", env.run_id)),
        "{stderr}"
    );
    assert!(stderr.contains("hint: REPLAY_RUN_ID"), "{stderr}");
    // The first run is untouched: still booting, and it tears down as usual.
    assert!(first.try_wait().unwrap().is_none());
    let (code, stderr) = send(&mut first, &rest, &[SIGINT]);
    assert_eq!(code, 130, "{stderr:#?}");
    env.assert_nothing_left();
}

#[test]
fn gc_during_a_live_run_leaves_the_run_and_its_caches_alone() {
    let mut env = Env::new("gc-live");
    env.private_cache();
    let suite = slow_suite(&env, 3, false);
    let mut command = env.check_suite(&suite, &[]);
    command.args(["--format", "json"]);
    let (child, _, _) = start_until(command, "replay: run ");
    wait_for_process(&env, "time.sleep");
    let gc = env
        .replay()
        .env_remove("REPLAY_RUN_ID")
        .arg("gc")
        .output()
        .unwrap();
    let (_, stderr) = text(&gc);
    assert_eq!(gc.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("run {} is still running", env.run_id)),
        "{stderr}"
    );
    assert!(stderr.contains("kept the caches"), "{stderr}");
    // The run goes on and ends as it would have: every cell GREEN.
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(json(&output)["summary"]["green"], suite_cells("litellm"));
    env.assert_nothing_left();
}

#[test]
fn two_cold_checks_on_one_cache_folder_both_pass() {
    // A cache folder of their own, empty: both build the environment and the
    // cluster at once (one builds, the other waits and reuses it).
    let env = Env::new("cold-a");
    let cache = env.tmp.path().join("cold-cache");
    let other = format!("{}-b", env.run_id);
    let start = |run_id: &str| {
        env.check_twin()
            .env("REPLAY_RUN_ID", run_id)
            .env("REPLAY_CACHE_DIR", &cache)
            .args(["--format", "json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(&env.run_id), start(&other));
    for child in [a, b] {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", text(&output).1);
        assert_eq!(json(&output)["summary"]["green"], suite_cells("litellm"));
    }
    env.assert_nothing_left();
    assert!(processes_of_run(&other).is_empty());
}

#[test]
fn two_fixes_on_one_cache_folder_agree() {
    let mut env = Env::new("two-fixes");
    env.private_cache();
    let repo = history(&env);
    let other = format!("{}-b", env.run_id);
    let start = |run_id: &str, records: &str| {
        env.replay()
            .env("REPLAY_RUN_ID", run_id)
            .args(["fix", "update-fix", "--target", "twin", "--format", "json"])
            .arg("--repo")
            .arg(&repo)
            .arg("--records")
            .arg(env.tmp.path().join(records))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(&env.run_id, "a"), start(&other, "b"));
    for child in [a, b] {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", text(&output).1);
        let record = json(&output);
        assert_eq!(record["verdict"], "CAUGHT");
        assert_eq!(
            record["transitions"]["red_to_green"]
                .as_array()
                .unwrap()
                .len(),
            6
        );
    }
    env.assert_nothing_left();
    assert!(processes_of_run(&other).is_empty());
}
