//! The Docker runtime against the real engine (`scripts/setup --docker` starts
//! one): the same answers as the local runtime, and nothing left behind on
//! success, on error, on Ctrl-C and on SIGKILL. Every test that needs the
//! engine says `docker` in its name.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

/// The labelled containers, networks, volumes and images of a run, seen by
/// the docker CLI. Images are caches shared by runs (base, revision and
/// template images say so in `replay.cache`); one without it is the run's.
fn docker_objects(run_id: &str) -> Vec<String> {
    let filter = format!("label=replay.run={run_id}");
    let mut found = Vec::new();
    for (kind, args) in [
        ("container", vec!["ps", "-a", "-q", "--filter", &filter]),
        ("network", vec!["network", "ls", "-q", "--filter", &filter]),
        ("volume", vec!["volume", "ls", "-q", "--filter", &filter]),
        (
            "image",
            vec!["image", "ls", "-a", "-q", "--no-trunc", "--filter", &filter],
        ),
    ] {
        let (ids, _) = Command::new("docker").args(&args).run_expect(0);
        for id in ids.lines().filter(|l| !l.trim().is_empty()) {
            if kind == "image" && !image_label(id, "replay.cache").is_empty() {
                continue;
            }
            found.push(format!("{kind} {id}"));
        }
    }
    found
}

/// One label of an image ("" when it has none).
fn image_label(image: &str, label: &str) -> String {
    let format = format!("{{{{index .Config.Labels \"{label}\"}}}}");
    let output = Command::new("docker")
        .args(["image", "inspect", "--format", &format, image])
        .output()
        .unwrap();
    text(&output).0.trim().replace("<no value>", "")
}

/// What `docker inspect` shows of every container of a run.
fn inspect_containers(run_id: &str) -> String {
    let filter = format!("label=replay.run={run_id}");
    let output = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter", &filter])
        .output()
        .unwrap();
    let ids: Vec<String> = text(&output)
        .0
        .split_whitespace()
        .map(String::from)
        .collect();
    assert!(!ids.is_empty(), "the run has no container");
    let output = Command::new("docker")
        .arg("inspect")
        .args(&ids)
        .output()
        .unwrap();
    text(&output).0
}

/// The pid of a run's reaper (`replay __reap RUN_ID`), if it runs.
fn reaper_of(run_id: &str) -> Option<i32> {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        // `replay [--cache-dir DIR] __reap RUN_ID`
        if args
            .windows(2)
            .any(|pair| pair[0] == b"__reap" && pair[1] == run_id.as_bytes())
        {
            return Some(pid);
        }
    }
    None
}

/// Wait (up to `within`) until the run has nothing left on the engine. A run
/// that tears down itself (success, error, Ctrl-C, `gc`) has nothing left
/// when it exits: `Duration::ZERO` looks once. The reaper (SIGKILL, panic)
/// gets a minute.
fn assert_no_docker_objects(run_id: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = docker_objects(run_id);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left on the engine: {left:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `replay check` of testdata/twin's working tree under the Docker runtime,
/// with one variable set in the tool's environment: its exit code and stderr.
fn docker_check_with(env: &Env, (name, value): (&str, &str)) -> (Option<i32>, String) {
    let output = env
        .check_twin()
        .env(name, value)
        .args(["--runtime", "docker"])
        .output()
        .unwrap();
    (output.status.code(), text(&output).1)
}

/// The base images, built once (the first test to get here builds, the others wait).
fn images(env: &Env) {
    env.replay()
        .args(["images", "--suite", "matrices/litellm", "--target", "twin"])
        .run_expect(0);
}

fn check(env: &Env, runtime: &str, suite: &Path) -> Command {
    env.check_suite(suite, &["--format", "json", "--runtime", runtime])
}

/// Each cell's verdict and observed status, in order.
fn cells(report: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["verdict"].as_str().unwrap_or_default().to_string(),
                c["outcome"]["status"].clone(),
            )
        })
        .collect()
}

#[test]
fn docker_check_of_the_twin_gives_the_same_cells_as_local_and_leaves_nothing() {
    let env = Env::new("docker-check");
    images(&env);
    let suite = repo_root().join("matrices/litellm");
    let (local, _) = check(&env, "local", &suite).run_json(0);
    let (docker, _) = check(&env, "docker", &suite).run_json(0);
    assert_eq!(docker["runtime"], "docker");
    assert_eq!(local["runtime"], "local");
    assert_eq!(cells(&docker), cells(&local));
    assert_eq!(cells(&docker).len(), suite_cells("litellm"));
    assert_eq!(docker["summary"], local["summary"]);
    assert_no_docker_objects(&env.run_id, Duration::ZERO);
    env.assert_nothing_left();
}

/// The twin's history, generated by the tool into the test's folder.
fn history(env: &Env) -> PathBuf {
    let dir = env.tmp.path().join("twin");
    env.replay().arg("twin-history").arg(&dir).run_expect(0);
    dir
}

#[test]
fn docker_fix_and_bisect_of_the_twin_give_the_same_transitions_and_verdicts_as_local() {
    let mut env = Env::new("docker-fix");
    env.private_cache();
    images(&env);
    let repo = history(&env);
    let run = |runtime: &str, args: &[&str]| {
        env.replay()
            .args(args)
            .args(["--target", "twin", "--format", "json", "--runtime", runtime])
            .arg("--repo")
            .arg(&repo)
            .arg("--records")
            .arg(env.tmp.path().join(format!("replays-{runtime}")))
            .run_json(0)
            .0
    };
    let local = run("local", &["fix", "update-fix"]);
    let docker = run("docker", &["fix", "update-fix"]);
    assert_eq!(docker["verdict"], "CAUGHT");
    assert_eq!(docker["transitions"], local["transitions"]);
    assert_eq!(docker["verdict"], local["verdict"]);
    assert_eq!(docker["runtime"], "docker");
    assert_eq!(local["runtime"], "local");
    assert_no_docker_objects(&env.run_id, Duration::ZERO);

    let bisect = [
        "bisect",
        "--good",
        "update-fix~1",
        "--bad",
        "update-fix",
        "--cell",
        "key_update/self/owner",
    ];
    let local = run("local", &bisect);
    let docker = run("docker", &bisect);
    assert_eq!(docker["cells"], local["cells"]);
    assert_eq!(docker["runtime"], "docker");
    assert_no_docker_objects(&env.run_id, Duration::ZERO);
    env.assert_nothing_left();
}

#[test]
fn docker_image_build_failure_exits_4_with_the_build_steps_output() {
    let env = Env::new("docker-build-fails");
    images(&env);
    let suite = env.suite_copy("litellm");
    edit(
        &suite.join("targets/twin.toml"),
        "run = [\"python3 -m venv {{env}}\", ",
        "run = [\"python3 -c 'import sys; print(\\\"the build step says no\\\"); sys.exit(3)'\", ",
    );
    let (_, stderr) = check(&env, "docker", &suite).run_expect(4);
    assert!(stderr.contains("failed to build working tree"), "{stderr}");
    assert!(stderr.contains("the build step says no"), "{stderr}");
    assert_no_docker_objects(&env.run_id, Duration::ZERO);
    env.assert_nothing_left();
}

#[test]
fn docker_sigint_during_boot_and_sigkill_during_the_matrix_leave_nothing_on_the_engine() {
    let env = Env::new("docker-signals");
    images(&env);
    let suite = env.suite_copy("litellm");
    // A twin that takes a while to come up, so that the interrupt lands during boot.
    edit(
        &suite.join("targets/twin.toml"),
        "run = \"{{env}}/bin/python server.py --port {{port}} --host {{host}}\"\nport = 4000",
        "run = \"{{env}}/bin/python -c 'import time, runpy, sys; time.sleep(5); sys.argv = sys.argv[1:]; runpy.run_path(\\\"server.py\\\", run_name=\\\"__main__\\\")' server.py --port {{port}} --host {{host}}\"\nport = 4000",
    );
    let command = |env: &Env| env.check_suite(&suite, &["--runtime", "docker", "--jobs", "1"]);

    // SIGINT while the server container boots: the run tears down and exits 130.
    let (mut child, _, _) = start_until(command(&env), "replay: booting working tree");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !docker_objects(&env.run_id)
        .iter()
        .any(|o| o.starts_with("container"))
    {
        assert!(Instant::now() < deadline, "no container appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The run's secrets reach its containers as files: `docker inspect`
    // shows neither the database URL (with the password) nor the master key.
    let inspected = inspect_containers(&env.run_id);
    assert!(!inspected.contains("postgresql://"), "{inspected}");
    assert!(!inspected.contains("MASTER_KEY"), "{inspected}");
    assert_eq!(interrupt_and_wait(&mut child), 130);
    assert_no_docker_objects(&env.run_id, Duration::ZERO);

    // SIGKILL while the cells run: nothing of the tool survives to tear down;
    // the reaper removes the run's containers and network.
    let env = Env::new("docker-sigkill");
    let (mut child, _, _) = start_until(command(&env), "replay: running ");
    assert!(!docker_objects(&env.run_id).is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_no_docker_objects(&env.run_id, Duration::from_secs(60));
}

#[test]
fn docker_sigkill_of_the_tool_and_its_reaper_then_gc_leaves_nothing_on_the_engine() {
    let env = Env::new("docker-kill-gc");
    images(&env);
    let mut command = env.check_twin();
    command.args(["--runtime", "docker", "--jobs", "1"]);
    let (mut child, _, _) = start_until(command, "replay: running ");
    let reaper = reaper_of(&env.run_id).expect("the run has a reaper");
    // Both die at once: nothing of the run is left to tear down.
    for pid in [reaper, child.id() as i32] {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
    child.wait().unwrap();
    assert!(
        docker_objects(&env.run_id)
            .iter()
            .any(|o| o.starts_with("container")),
        "the killed run left nothing to sweep"
    );
    let (_, stderr) = env.replay().args(["gc", "--keep-cache"]).run_expect(0);
    assert!(
        stderr.contains("of dead runs from the Docker engine"),
        "{stderr}"
    );
    assert_no_docker_objects(&env.run_id, Duration::ZERO);
}

#[test]
fn docker_a_panic_after_boot_leaves_nothing_on_the_engine() {
    let env = Env::new("docker-panic");
    images(&env);
    let (code, stderr) = docker_check_with(&env, ("REPLAY_FAULT", "panic-after-boot"));
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("REPLAY_FAULT: panic after-boot"),
        "{stderr}"
    );
    // The run cannot tear down in a panic; its reaper does.
    assert_no_docker_objects(&env.run_id, Duration::from_secs(60));
}

#[test]
fn no_docker_engine_exits_3_with_the_setup_hint() {
    let env = Env::new("docker-none");
    let (code, stderr) =
        docker_check_with(&env, ("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("error: no Docker engine answers at unix:///nonexistent/docker.sock"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: start a Docker engine: scripts/setup --docker"),
        "{stderr}"
    );
    env.assert_nothing_left();
}

#[test]
fn a_target_without_a_docker_section_is_refused_under_docker_with_exit_2() {
    let env = Env::new("docker-no-section");
    let suite = env.suite_copy("litellm");
    let path = suite.join("targets/twin.toml");
    let text_before = std::fs::read_to_string(&path).unwrap();
    let start = text_before.find("[docker.image]").unwrap();
    let end = text_before.find("[ready]").unwrap();
    std::fs::write(
        &path,
        format!("{}{}", &text_before[..start], &text_before[end..]),
    )
    .unwrap();
    let (_, stderr) = check(&env, "docker", &suite).run_expect(2);
    assert!(
        stderr.contains("error: the target `twin` has no [docker] recipe"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: add [docker.image]"), "{stderr}");
    // The environment variable chooses the runtime too.
    env.check_suite(&suite, &[])
        .env("REPLAY_RUNTIME", "docker")
        .run_expect(2);
}

#[test]
fn docker_gc_and_the_start_up_sweep_remove_the_objects_of_dead_runs_only() {
    let env = Env::new("docker-gc");
    // A network and a container as a dead run (no such pid) would have left them.
    let dead = format!("{}-dead", env.run_id);
    let labels = |run: &str, pid: &str| {
        vec![
            "--label".to_string(),
            "managed-by=replay".into(),
            "--label".into(),
            format!("replay.run={run}"),
            "--label".into(),
            format!("replay.pid={pid}"),
            "--label".into(),
            "replay.started=1".into(),
        ]
    };
    let docker = |args: Vec<String>| {
        Command::new("docker").args(&args).run_expect(0);
    };
    let mut args = vec!["network".to_string(), "create".into()];
    args.extend(labels(&dead, "999999999"));
    args.push(format!("replay-{dead}"));
    docker(args);
    // One whose run is alive (this test's pid, but a start time that is not its own:
    // a reused pid) is dead too; one with our real start time is alive.
    let alive = format!("{}-alive", env.run_id);
    let start = std::fs::read_to_string("/proc/self/stat").unwrap();
    let start = start[start.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .to_string();
    let mut args = vec!["network".to_string(), "create".into()];
    let mut alive_labels = labels(&alive, &std::process::id().to_string());
    alive_labels[7] = format!("replay.started={start}");
    args.extend(alive_labels);
    args.push(format!("replay-{alive}"));
    docker(args);
    assert_eq!(docker_objects(&dead).len(), 1);

    let (_, stderr) = env.replay().args(["gc", "--keep-cache"]).run_expect(0);
    assert_no_docker_objects(&dead, Duration::ZERO);
    assert_eq!(docker_objects(&alive).len(), 1, "{stderr}");
    docker(vec![
        "network".into(),
        "rm".into(),
        format!("replay-{alive}"),
    ]);
}

#[test]
fn docker_a_stalled_base_image_build_is_exit_3_naming_its_log_and_leaves_no_image() {
    let env = Env::new("docker-stall");
    images(&env);
    let suite = env.suite_copy("litellm");
    // A recipe no image exists for, and a deadline no mmdebstrap can meet.
    edit(
        &suite.join("targets/twin.toml"),
        "packages = [\"python3\", \"python3-venv\", \"python3-psycopg2\"]",
        "packages = [\"python3\", \"python3-venv\", \"python3-psycopg2\", \"less\"]",
    );
    let base_images = || {
        let output = Command::new("docker")
            .args([
                "image",
                "ls",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "replay/base",
            ])
            .output()
            .unwrap();
        let mut tags: Vec<String> = text(&output).0.lines().map(String::from).collect();
        tags.sort();
        tags
    };
    let before = base_images();
    let started = Instant::now();
    let (_, stderr) = env
        .replay()
        .env("REPLAY_IMAGE_DEADLINE", "1")
        .args(["images", "--target", "twin", "--suite"])
        .arg(&suite)
        .run_expect(3);
    assert!(
        stderr.contains("error: failed to build the base image replay/base:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mmdebstrap did not finish within 1s (REPLAY_IMAGE_DEADLINE), twice"),
        "{stderr}"
    );
    // The log it names is there, with both attempts.
    let log = stderr
        .split("its log: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the error names the log");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("attempt 2 of 2"), "{log}");
    // It ended well before the two deadlines and the 20 s grace each could take.
    assert!(started.elapsed() < Duration::from_secs(300));
    // No image under the recipe's tag, nor a partial one, nor its mmdebstrap.
    assert_eq!(base_images(), before);
    let mmdebstrap = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("python3-psycopg2,less"))
        })
        .count();
    assert_eq!(mmdebstrap, 0, "mmdebstrap still runs");
}

/// An untagged image as the engine loads it from `docker save`'s format: one
/// empty layer, `labels`, dated 2001 (before any live run).
fn load_dangling_image(dir: &Path, labels: &[(&str, &str)]) -> String {
    use sha2::Digest;
    let layer = tar::Builder::new(Vec::new()).into_inner().unwrap();
    let diff_id = hex::encode(sha2::Sha256::digest(&layer));
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2001-01-01T00:00:00Z",
        "config": { "Labels": labels },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] },
        "history": [{ "created": "2001-01-01T00:00:00Z" }],
    }))
    .unwrap();
    let id = hex::encode(sha2::Sha256::digest(&config));
    let manifest = serde_json::to_vec(&serde_json::json!([
        { "Config": format!("{id}.json"), "RepoTags": null, "Layers": ["layer/layer.tar"] }
    ]))
    .unwrap();
    let mut archive = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        (format!("{id}.json"), &config),
        ("layer/layer.tar".to_string(), &layer),
        ("manifest.json".to_string(), &manifest),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    let path = dir.join(format!("{id}.tar"));
    std::fs::write(&path, archive.into_inner().unwrap()).unwrap();
    Command::new("docker")
        .args(["load", "--quiet", "--input"])
        .arg(&path)
        .run_expect(0);
    format!("sha256:{id}")
}

fn image_exists(id: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", id])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn docker_gc_removes_the_dangling_images_with_the_tools_labels_and_no_others() {
    let env = Env::new("docker-dangling");
    let dir = tempfile::tempdir().unwrap();
    // What an interrupted build leaves: its last step, untagged, with the base image's labels.
    let ours = load_dangling_image(
        dir.path(),
        &[
            ("managed-by", "replay"),
            ("replay.cache", "base"),
            ("replay.test", &env.run_id),
        ],
    );
    let theirs = load_dangling_image(dir.path(), &[("replay.test", &env.run_id)]);
    // (`ours` may already be gone: a docker test running beside this one
    // sweeps and gcs the same engine, and its gc is the tool's too.)
    assert!(image_exists(&theirs));

    // gc leaves a dangling image newer than the oldest live run (it may be
    // that run's build step): the other docker tests' runs may be live, so
    // gc again until they are gone.
    let deadline = Instant::now() + Duration::from_secs(240);
    // The last gc's report, if that gc found `ours` still there.
    let mut report = None;
    while image_exists(&ours) && Instant::now() < deadline {
        let (_, stderr) = env.replay().args(["gc", "--keep-cache"]).run_expect(0);
        report = Some(stderr);
        std::thread::sleep(Duration::from_millis(500));
    }
    let stderr = report.unwrap_or_default();
    assert!(
        !image_exists(&ours),
        "the tool's dangling image is left: {stderr}"
    );
    assert!(
        image_exists(&theirs),
        "an image without the tool's labels went"
    );
    // The gc that removed it says so (unless a gc beside this test did).
    if !stderr.is_empty() {
        assert!(stderr.contains("Docker image"), "{stderr}");
    }
    Command::new("docker").args(["rmi", &theirs]).run_expect(0);
}

/// Processes whose command line mentions `dir`, or whose working folder is
/// inside it.
fn processes_using(dir: &Path) -> Vec<String> {
    let mut found = processes_in(dir);
    let mention = dir.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if cmdline.contains(&mention) && !stat.contains(") Z ") {
            let line = format!("pid {pid}: {cmdline}");
            if !found.contains(&line) {
                found.push(line);
            }
        }
    }
    found
}

#[test]
fn docker_sigkill_of_images_mid_build_leaves_no_mmdebstrap_and_no_mount() {
    // The stand-in for mmdebstrap mounts a file system in its chroot, as
    // mmdebstrap does (the host's /proc, /sys, /dev): that needs root.
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: cannot mount, this test checks nothing");
        return;
    }
    let mut env = Env::new("docker-images-kill");
    // Recipe locks and build folders of its own (the engine is shared).
    env.cache = env.tmp.path().join("cache");
    std::fs::create_dir_all(&env.cache).unwrap();
    let suite = env.suite_copy("litellm");
    // A recipe no image exists for, so that `images` has a build to run.
    edit(
        &suite.join("targets/twin.toml"),
        "packages = [\"python3\", \"python3-venv\", \"python3-psycopg2\"]",
        "packages = [\"python3\", \"python3-venv\", \"python3-psycopg2\", \"ed\"]",
    );
    // mmdebstrap as the tool runs it (found on PATH, with the tool's
    // arguments and TMPDIR), quick to reach the state a real one is in
    // mid-build: its chroot in TMPDIR with a file system mounted there, and
    // a child working inside (apt, dpkg). Then it says so and waits.
    let bin = env.tmp.path().join("bin");
    let building = env.tmp.path().join("building");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("mmdebstrap");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nset -e\nroot=\"$TMPDIR/mmdebstrap.test\"\nmkdir -p \"$root/proc\"\n\
             mount -t tmpfs replay-test \"$root/proc\"\ncd \"$root\"\nsleep 600 &\n\
             touch {}\nwait\n",
            building.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut child = env
        .replay()
        .env("PATH", path)
        .args(["images", "--target", "twin", "--suite"])
        .arg(&suite)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let builds = env.cache.join("docker/rootfs");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !building.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "`replay images` ended before its build got under way"
        );
        assert!(Instant::now() < deadline, "the build never got under way");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !mounts_below(&builds).is_empty(),
        "the build mounted nothing"
    );
    assert!(!processes_using(&builds).is_empty());

    // SIGKILL: the tool stops nothing itself; its reaper sweeps the build.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = processes_using(&builds);
        let mounted = mounts_below(&builds);
        if running.is_empty() && mounted.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left by the killed build: {running:#?} {mounted:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    env.assert_nothing_left();
}

/// The twin's target with a host file: `REPLAY_TEST_HOST_FILE` in `pass_env`
/// and `[docker.build]` `host_files`, and a build step and a migrate step
/// that read the file the variable names inside the container and fail
/// unless it says "right".
fn suite_with_a_host_file(env: &Env) -> PathBuf {
    let suite = env.suite_copy("litellm");
    let target = suite.join("targets/twin.toml");
    edit(
        &target,
        "\n[env]\n",
        "\npass_env = [\"REPLAY_TEST_HOST_FILE\"]\n\n[env]\n",
    );
    let read = r#""python3 -c 'import os, sys; path = os.environ[\"REPLAY_TEST_HOST_FILE\"]; text = open(path).read(); print(\"the host file at\", path, \"says\", text); sys.exit(0 if text == \"right\" else 3)'""#;
    edit(
        &target,
        "wheels = [\"requirements.txt\"]\nrun = [",
        &format!(
            "wheels = [\"requirements.txt\"]\nhost_files = [\"REPLAY_TEST_HOST_FILE\"]\nrun = [{read}, "
        ),
    );
    edit(
        &target,
        "[docker.migrate]\ninputs = [\"schema.sql\", \"migrate.py\"]\nrun = [",
        &format!("[docker.migrate]\ninputs = [\"schema.sql\", \"migrate.py\"]\nrun = [{read}, "),
    );
    suite
}

#[test]
fn docker_a_host_file_is_copied_into_the_image_and_its_contents_name_the_image() {
    let env = Env::new("docker-host-file");
    images(&env);
    let suite = suite_with_a_host_file(&env);
    // A file of this machine, given by a path the container cannot see.
    let file = env.tmp.path().join("host-only").join("note.txt");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "right").unwrap();
    let (report, stderr) = check(&env, "docker", &suite)
        .arg("--keep-logs")
        .env("REPLAY_TEST_HOST_FILE", &file)
        .run_json(0);
    assert_eq!(
        report["summary"]["green"].as_u64(),
        Some(suite_cells("litellm") as u64),
        "{stderr}"
    );
    let logs = env.cache.join("logs").join(&env.run_id);
    let said: Vec<String> = files_below(&logs)
        .into_iter()
        .flat_map(|(_, text)| text.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|line| line.contains("the host file at"))
        .collect();
    // The build and the migrate container read the copy, not the host's path.
    assert!(
        said.iter()
            .any(|l| l.contains("/replay/files/REPLAY_TEST_HOST_FILE/note.txt says right")),
        "{said:?}"
    );
    assert!(
        said.iter().all(|l| !l.contains(&*file.to_string_lossy())),
        "{said:?}"
    );
    assert_no_docker_objects(&env.run_id, Duration::ZERO);
    // The same path with other contents: another image, built again, whose
    // build step reads the new contents.
    // A run id of its own: the first run's reaper may still be looking for
    // objects of its id.
    std::fs::write(&file, "wrong").unwrap();
    let second = format!("{}-again", env.run_id);
    let (_, stderr) = check(&env, "docker", &suite)
        .env("REPLAY_RUN_ID", &second)
        .env("REPLAY_TEST_HOST_FILE", &file)
        .run_expect(4);
    assert!(
        stderr.contains("/replay/files/REPLAY_TEST_HOST_FILE/note.txt says wrong"),
        "{stderr}"
    );
    assert_no_docker_objects(&second, Duration::ZERO);
    // A failed run keeps its logs; the Env removes only its own run's.
    std::fs::remove_dir_all(env.cache.join("logs").join(&second)).unwrap();
    env.assert_nothing_left();
}

#[test]
fn a_host_file_that_is_unset_or_no_file_is_exit_2_naming_the_target_key_and_variable() {
    let env = Env::new("host-file-missing");
    let suite = suite_with_a_host_file(&env);
    let target = suite.join("targets/twin.toml");
    let line = std::fs::read_to_string(&target)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("host_files = "))
        .unwrap()
        + 1;
    let at = format!("{}:{line}", target.display());
    let (_, stderr) = check(&env, "docker", &suite)
        .env_remove("REPLAY_TEST_HOST_FILE")
        .run_expect(2);
    assert!(
        stderr.contains(&format!(
            "error: {at}: docker.build.host_files names `REPLAY_TEST_HOST_FILE`, which is unset"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: export REPLAY_TEST_HOST_FILE=/path/to/the/file"),
        "{stderr}"
    );
    let missing = env.tmp.path().join("no-such-file");
    let (_, stderr) = check(&env, "docker", &suite)
        .env("REPLAY_TEST_HOST_FILE", &missing)
        .run_expect(2);
    assert!(
        stderr.contains(&format!(
            "error: {at}: docker.build.host_files names `REPLAY_TEST_HOST_FILE`, whose value {} is not a file",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: point REPLAY_TEST_HOST_FILE at an existing file on this machine"),
        "{stderr}"
    );
    // Refused before anything started: no run folder, no container.
    env.assert_nothing_left();
}

/// A run's reaper removes the objects its own process made, not those of
/// another run under the same `REPLAY_RUN_ID` (CI that reuses one id for
/// back-to-back runs): the next run's network survived the last one's
/// reaper only by luck before.
#[test]
fn docker_a_reaper_removes_its_own_process_objects_not_those_of_a_run_under_the_same_id() {
    let env = Env::new("docker-reaper-pid");
    let network = |pid: u32| {
        let name = format!("replay-{}-{pid}", env.run_id);
        Command::new("docker")
            .args([
                "network",
                "create",
                "--label",
                "managed-by=replay",
                "--label",
            ])
            .arg(format!("replay.run={}", env.run_id))
            .arg("--label")
            .arg(format!("replay.pid={pid}"))
            .args(["--label", "replay.started=1"])
            .arg(&name)
            .run_expect(0);
        name
    };
    let reaped_pid = std::process::id() + 1_000_000;
    let ours = network(reaped_pid);
    let others = network(std::process::id());
    // The reaper, its run's pipe already closed (stdin is empty).
    env.replay()
        .args(["__reap", &env.run_id, &reaped_pid.to_string()])
        .stdin(std::process::Stdio::null())
        .run_expect(0);
    let listed = |name: &str| {
        let (ids, _) = Command::new("docker")
            .args(["network", "ls", "-q", "--filter"])
            .arg(format!("name=^{name}$"))
            .run_expect(0);
        !ids.trim().is_empty()
    };
    let (ours_left, others_left) = (listed(&ours), listed(&others));
    Command::new("docker")
        .args(["network", "rm", &others])
        .output()
        .unwrap();
    assert!(!ours_left, "the reaper left its own run's network {ours}");
    assert!(
        others_left,
        "the reaper removed {others}, another process's"
    );
    assert_no_docker_objects(&env.run_id, Duration::ZERO);
}
