//! `replay gc`: remove what killed runs left behind, and the caches.
//!
//! Every run writes `owner.json` (its id and pid) into its scratch and log
//! folders, and every process it starts carries `REPLAY_RUN_ID` in its
//! environment. A folder whose owner is no longer running belongs to a killed
//! run: its processes are killed (found by that variable, and everything
//! below them: Postgres's own processes hide it), gc waits until they are
//! gone, and only then removes the folder — and says so only when it went.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::engine::run::{AttachCleanup, Owner, RunLock, lock_path, start_time};
use crate::runtime::local::sweep;

#[derive(Debug, Default)]
pub struct GcReport {
    /// Runs whose leftovers were removed.
    pub runs: Vec<String>,
    /// Processes killed.
    pub killed: usize,
    /// Attach runs whose rows were deleted: run id, prefix, rows.
    pub rows: Vec<(String, String, u64)>,
    /// Runs whose leftovers could not all be removed (kept for the next gc): run id, why.
    pub failed: Vec<(String, String)>,
    /// Live runs, whose folders (and the caches they use) were left alone: run id, why live.
    pub live: Vec<(String, String)>,
    /// Cache folders removed.
    pub caches: Vec<PathBuf>,
    /// What killed base-image builds left (their chroots, unmounted first), removed.
    pub builds: Vec<PathBuf>,
}

/// How long a killed run's processes get to be gone, and its folders to go.
const SWEEP: Duration = Duration::from_secs(10);
/// How long a lock whose owner is dead may stay held (a child forked by the
/// run, on its way to `exec`, holds a copy for a moment) before the run
/// counts as live.
const LOCK_GRACE: Duration = Duration::from_secs(3);

pub async fn gc(cache_dir: &Path, keep_cache: bool) -> GcReport {
    gc_in(
        &crate::support::files::scratch_roots(),
        cache_dir,
        keep_cache,
    )
    .await
}

/// [`gc`] over the scratch folders below `scratch_roots` (the tests give
/// their own, and leave the machine's alone).
async fn gc_in(scratch_roots: &[PathBuf], cache_dir: &Path, keep_cache: bool) -> GcReport {
    let mut report = GcReport::default();
    // A run's folders (scratch and logs), by run id, in the order found.
    let mut runs: Vec<(Owner, Vec<PathBuf>)> = Vec::new();
    for dir in scratch_roots
        .iter()
        .flat_map(|root| leftover_dirs(root, "replay-"))
        .chain(leftover_dirs(&cache_dir.join("logs"), ""))
    {
        let Some(owner) = read_owner(&dir) else {
            continue;
        };
        match runs.iter_mut().find(|(o, _)| o.run_id == owner.run_id) {
            Some((known, dirs)) => {
                if known.attach.is_none() {
                    known.attach = owner.attach.clone();
                }
                dirs.push(dir);
            }
            None => runs.push((owner, vec![dir])),
        }
    }
    for (owner, dirs) in runs {
        let run_id = owner.run_id.clone();
        match sweep_run(owner, &dirs).await {
            Swept::Live(why) => report.live.push((run_id, why)),
            Swept::Failed { killed, why } => {
                report.killed += killed;
                report.failed.push((run_id, why));
            }
            Swept::Removed { killed, rows } => {
                report.killed += killed;
                if let Some((prefix, rows)) = rows {
                    report.rows.push((run_id.clone(), prefix, rows));
                }
                report.runs.push(run_id);
            }
        }
    }
    // A build killed with its run (or `replay images`) leaves mmdebstrap's
    // chroot, the host's /proc, /sys and /dev/shm maybe still mounted in it.
    for build in crate::runtime::docker::images::sweep_dead_builds(cache_dir) {
        match build.removed {
            Ok(()) => report.builds.push(build.scratch),
            Err(why) => report
                .failed
                .push((format!("base-image build {}", build.scratch.display()), why)),
        }
    }
    // A live run builds into, boots from and writes logs into the caches:
    // they stay while any run that uses this cache folder is alive (or a base
    // image is being built into it).
    let cache_in_use = leftover_dirs(&cache_dir.join("logs"), "")
        .iter()
        .filter_map(|dir| read_owner(dir))
        .any(|owner| report.live.iter().any(|(id, _)| *id == owner.run_id))
        || crate::runtime::docker::images::building(cache_dir);
    if !keep_cache && !cache_in_use {
        for name in ["cells", "docker", "envs", "logs", "postgres", "worktrees"] {
            let dir = cache_dir.join(name);
            if dir.exists() && crate::support::mounts::remove_tree(&dir).is_ok() {
                report.caches.push(dir);
            }
        }
    }
    report
}

enum Swept {
    /// The run is alive (why): nothing was touched.
    Live(String),
    /// Its processes were killed, but something stays (why), for the next gc.
    Failed { killed: usize, why: String },
    /// Everything it left is gone: processes, rows (prefix, count), folders.
    Removed {
        killed: usize,
        rows: Option<(String, u64)>,
    },
}

/// Remove what one run left, unless it is alive: kill its processes and wait
/// until they are gone, delete an attach run's rows, then remove its folders
/// — holding the run's locks throughout, so that a run starting with the same
/// id meanwhile is refused.
async fn sweep_run(mut owner: Owner, dirs: &[PathBuf]) -> Swept {
    let mut locks = Vec::new();
    for dir in dirs {
        let path = lock_path(dir);
        let deadline = Instant::now() + LOCK_GRACE;
        let lock = loop {
            if let Some(why) = running(&owner) {
                return Swept::Live(why);
            }
            match RunLock::try_take(&path) {
                Ok(Some(lock)) => break lock,
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    // A new run with this id writes its own owner file.
                    if let Some(now) = read_owner(dir) {
                        owner.pid = now.pid;
                        owner.start_time = now.start_time;
                    }
                }
                Ok(None) => {
                    let holders = sweep::holders_of(&path);
                    let by = if holders.is_empty() {
                        String::new()
                    } else {
                        format!(" by {}", holders.join(", "))
                    };
                    return Swept::Live(format!("its lock {} is held{by}", path.display()));
                }
                Err(e) => {
                    return Swept::Live(format!("cannot take its lock {}: {e}", path.display()));
                }
            }
        };
        locks.push(lock);
    }
    let run_id = owner.run_id.clone();
    let killed = tokio::task::spawn_blocking(move || sweep::kill_run(&run_id, SWEEP))
        .await
        .unwrap_or_default();
    if !killed.survivors.is_empty() {
        return Swept::Failed {
            killed: killed.count,
            why: format!(
                "its processes survived SIGKILL: {}",
                killed.survivors.join(", ")
            ),
        };
    }
    let mut rows = None;
    if let Some(attach) = &owner.attach {
        match delete_rows(attach).await {
            Ok(count) => rows = Some((attach.prefix.clone(), count)),
            // The folders (and the owner file) stay for the next gc.
            Err(why) => {
                return Swept::Failed {
                    killed: killed.count,
                    why,
                };
            }
        }
    }
    for dir in dirs {
        if let Err(why) = remove_dir(dir).await {
            return Swept::Failed {
                killed: killed.count,
                why,
            };
        }
    }
    drop(locks);
    Swept::Removed {
        killed: killed.count,
        rows,
    }
}

/// Remove a folder, again for a moment while it fails (a process on its way
/// out may still write into it); why not, naming what still uses it.
async fn remove_dir(dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + SWEEP;
    loop {
        let error = match crate::support::mounts::remove_tree(dir) {
            Ok(()) => return Ok(()),
            Err(_) if !dir.exists() => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            let users = sweep::users_of(dir);
            let used = if users.is_empty() {
                String::new()
            } else {
                format!(" (in use by {})", users.join(", "))
            };
            return Err(format!("cannot remove {}: {error}{used}", dir.display()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Delete an attach run's rows, with the password from the variable the run
/// read its database URL from (the owner file holds the URL without it).
async fn delete_rows(attach: &AttachCleanup) -> Result<u64, String> {
    let mut url = attach.database_url.clone();
    if let Some(var) = &attach.password_env
        && let Ok(with_password) = std::env::var(var)
        && crate::jobs::check::without_password(&with_password) == attach.database_url
    {
        url = with_password;
    }
    crate::jobs::check::run_deletes(&url, &attach.deletes)
        .await
        .map_err(|message| match &attach.password_env {
            Some(var) if url == attach.database_url => format!(
                "{message} (the database may want the password: set {var} to the URL the run used)"
            ),
            _ => message,
        })
}

fn leftover_dirs(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .filter(|p| p.join("owner.json").is_file())
        .collect()
}

fn read_owner(dir: &Path) -> Option<Owner> {
    serde_json::from_slice(&std::fs::read(dir.join("owner.json")).ok()?).ok()
}

/// Is the process that wrote this owner file still running, and as what?
/// The same pid and the same start time, and not a zombie (killed, waiting to
/// be reaped); an owner file without a start time (an older replay) falls
/// back to the pid and a command line naming replay.
fn running(owner: &Owner) -> Option<String> {
    let pid = owner.pid;
    if sweep::is_gone(pid as i32) {
        return None;
    }
    let alive = match owner.start_time {
        Some(started) => start_time(pid) == Some(started),
        None => std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("replay")),
    };
    alive.then(|| format!("its process runs ({})", sweep::describe(pid as i32)))
}

/// The Docker engine's part of `replay gc`: the containers, networks and
/// volumes of dead runs and, unless `keep_cache`, the base and revision
/// images. `None` when no engine answers (there is nothing to sweep then).
pub async fn docker(keep_cache: bool) -> Option<crate::runtime::docker::cleanup::Swept> {
    crate::runtime::docker::cleanup::gc(keep_cache).await.ok()
}

/// The reaper of a Docker run (`replay __reap RUN_ID PID`, started by the
/// run's process PID): the run's objects on the engine, then what a
/// base-image build it was running when it died left in `cache_dir`.
pub async fn reap(run_id: &str, pid: u32, cache_dir: &Path) {
    crate::runtime::docker::cleanup::reap(run_id, pid).await;
    crate::runtime::docker::images::sweep_dead_builds(cache_dir);
}

/// The labelled containers, networks and volumes a run left on the engine (tests use it).
pub async fn docker_leftovers(run_id: &str) -> Result<Vec<String>, crate::jobs::Error> {
    Ok(crate::runtime::docker::cleanup::leftovers(run_id).await?)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    use super::*;

    fn owner_file(dir: &Path, pid: u32, start_time: Option<u64>) {
        std::fs::create_dir_all(dir).unwrap();
        let owner = Owner {
            run_id: dir.file_name().unwrap().to_string_lossy().into(),
            pid,
            start_time,
            attach: None,
        };
        std::fs::write(dir.join("owner.json"), serde_json::to_vec(&owner).unwrap()).unwrap();
    }

    #[tokio::test]
    async fn a_dead_runs_folders_go_and_a_live_ones_stay() {
        let cache = tempfile::tempdir().unwrap();
        let logs = cache.path().join("logs");
        let dead = logs.join("dead-run");
        let live = logs.join("live-run");
        owner_file(&dead, 999_999, Some(1));
        let me = std::process::id();
        owner_file(&live, me, start_time(me));
        let report = gc_in(&[], cache.path(), true).await;
        assert!(report.runs.contains(&"dead-run".to_string()));
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(report.live.iter().any(|(id, _)| id == "live-run"));
    }

    #[tokio::test]
    async fn a_reused_pid_is_not_the_run() {
        // This process, but started at another time: the run that wrote the
        // file is dead, whatever runs under its pid now.
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("logs").join("reused");
        let me = std::process::id();
        owner_file(&dir, me, start_time(me).map(|t| t + 1));
        let report = gc_in(&[], cache.path(), true).await;
        assert!(report.runs.contains(&"reused".to_string()));
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn a_held_lock_keeps_the_run_and_the_caches() {
        // The owner's pid is dead, but the lock is held: a live run (its
        // owner file may be stale); neither its folder nor the caches go.
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("logs").join("locked");
        owner_file(&dir, 999_999, Some(1));
        let _lock = RunLock::try_take(&lock_path(&dir)).unwrap().unwrap();
        std::fs::create_dir_all(cache.path().join("envs")).unwrap();
        let report = gc_in(&[], cache.path(), false).await;
        assert!(dir.exists());
        assert!(cache.path().join("envs").exists());
        assert!(report.caches.is_empty(), "{:?}", report.caches);
        let (_, why) = report.live.iter().find(|(id, _)| id == "locked").unwrap();
        // Named: who holds it.
        let me = format!("held by pid {}", std::process::id());
        assert!(why.contains(&me), "{why}");
    }

    #[tokio::test]
    async fn a_lock_held_a_moment_after_its_owner_died_is_waited_for() {
        // A child the run forked holds a copy of the lock until it execs:
        // for a moment after the run was killed. The run is dead, not live.
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("logs").join("forked");
        owner_file(&dir, 999_999, Some(1));
        let lock = RunLock::try_take(&lock_path(&dir)).unwrap().unwrap();
        let holder = std::thread::spawn(move || {
            // The child's way from fork to exec, made long.
            std::thread::sleep(Duration::from_millis(300));
            drop(lock);
        });
        let report = gc_in(&[], cache.path(), true).await;
        holder.join().unwrap();
        assert!(report.runs.contains(&"forked".to_string()), "{report:?}");
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn a_killed_owner_not_reaped_yet_is_not_live() {
        // Killed and not yet reaped by its parent (or by init, in a container
        // whose first process reaps nothing): a zombie, with its pid and its
        // start time still there. The run is dead.
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("logs").join("zombie");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let started = start_time(pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sweep::is_gone(pid as i32) {
            assert!(Instant::now() < deadline, "{pid} never exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        owner_file(&dir, pid, started);
        let report = gc_in(&[], cache.path(), true).await;
        child.wait().unwrap();
        assert!(report.runs.contains(&"zombie".to_string()), "{report:?}");
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn a_killed_base_image_build_is_unmounted_killed_and_removed_and_a_live_one_kept() {
        // As mmdebstrap leaves its chroot when it is killed at the image
        // deadline: the host's /dev/shm bind-mounted below it, a process still
        // working in it. Needs root (mount).
        if !nix::unistd::geteuid().is_root() {
            eprintln!("not root: cannot mount, this test checks nothing");
            return;
        }
        let cache = tempfile::tempdir().unwrap();
        let rootfs = cache.path().join("docker/rootfs");
        let dead = rootfs.join("replay-base-dead.scratch");
        let live = rootfs.join("replay-base-live.scratch");
        let host = tempfile::tempdir_in("/dev/shm").unwrap();
        std::fs::write(host.path().join("sentinel"), b"host file").unwrap();
        let point = dead.join("mmdebstrap.abc/dev/shm");
        std::fs::create_dir_all(&point).unwrap();
        std::fs::create_dir_all(&live).unwrap();
        std::fs::write(rootfs.join("replay-base-dead.tar"), b"partial").unwrap();
        nix::mount::mount(
            Some(host.path()),
            &point,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
        let mut orphan = std::process::Command::new("sleep")
            .arg("600")
            .current_dir(dead.join("mmdebstrap.abc"))
            .spawn()
            .unwrap();
        let live_lock = crate::runtime::local::lock_file(
            &cache.path().join("docker/replay-base-live.lock"),
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
        let report = gc_in(&[], cache.path(), true).await;
        let orphan_gone = sweep::is_gone(orphan.id() as i32);
        let _ = orphan.kill();
        orphan.wait().unwrap();
        let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
        assert_eq!(
            std::fs::read(host.path().join("sentinel")).unwrap(),
            b"host file",
            "gc deleted the files of the bind-mounted folder"
        );
        assert!(orphan_gone, "the build's process survived gc");
        assert_eq!(report.builds.len(), 1, "{report:?}");
        assert_eq!(report.builds[0], dead);
        assert!(!dead.exists());
        assert!(!rootfs.join("replay-base-dead.tar").exists());
        // A build whose recipe lock is held is running: left alone.
        assert!(live.exists());
        drop(live_lock);
    }

    #[tokio::test]
    async fn a_process_below_the_run_that_hides_it_is_killed_before_the_folder_goes() {
        // As Postgres's checkpointer or a backend copying a database: a child
        // of a process of the run, in a session of its own, its environment
        // not naming the run, writing into the run's folder. It dies before
        // the folder goes, and gc waits for it.
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("logs").join("hidden");
        owner_file(&dir, 999_999, Some(1));
        let pid_file = cache.path().join("writer.pid");
        let writer = format!(
            "echo $$ > {}; while :; do mkdir -p d; echo x > d/$RANDOM; done",
            pid_file.display()
        );
        let mut parent = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("env -i setsid sh -c '{writer}' & wait"))
            .env("REPLAY_RUN_ID", "hidden")
            .current_dir(&dir)
            .process_group(0)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let writer: i32 = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "the writer never started");
            std::thread::sleep(Duration::from_millis(5));
        };
        let report = gc_in(&[], cache.path(), true).await;
        let alive = !sweep::is_gone(writer);
        if alive {
            let _ = kill(Pid::from_raw(writer), Signal::SIGKILL);
        }
        let _ = kill(Pid::from_raw(parent.id() as i32), Signal::SIGKILL);
        parent.wait().unwrap();
        assert!(!alive, "the writer below the run survived gc");
        assert!(report.runs.contains(&"hidden".to_string()), "{report:?}");
        assert!(!dir.exists());
    }
}
