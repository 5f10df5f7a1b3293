//! `replay gc`: remove what killed runs left behind, and the caches.
//!
//! Every run writes `owner.json` (its id and pid) into its scratch and log
//! folders, and every process it starts carries `REPLAY_RUN_ID` in its
//! environment. A folder whose owner is no longer running belongs to a killed
//! run: its processes are killed (found by that variable) and the folder goes.

use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::engine::run::{AttachCleanup, Owner, RunLock, lock_path, start_time};

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
    /// Live runs, whose folders (and the caches they use) were left alone.
    pub live: Vec<String>,
    /// Cache folders removed.
    pub caches: Vec<PathBuf>,
}

pub async fn gc(cache_dir: &Path, keep_cache: bool) -> GcReport {
    let mut report = GcReport::default();
    let scratch = crate::support::files::scratch_roots();
    let mut cleaned: Vec<String> = Vec::new();
    for dir in scratch
        .iter()
        .flat_map(|root| leftover_dirs(root, "replay-"))
        .chain(leftover_dirs(&cache_dir.join("logs"), ""))
    {
        let Some(owner) = read_owner(&dir) else {
            continue;
        };
        // Hold the run's lock while removing its folder, so that a run
        // starting with the same id meanwhile waits for us or is refused.
        let lock = if running(&owner) {
            None
        } else {
            RunLock::try_take(&lock_path(&dir)).ok().flatten()
        };
        let Some(lock) = lock else {
            if !report.live.contains(&owner.run_id) {
                report.live.push(owner.run_id);
            }
            continue;
        };
        report.killed += kill_run(&owner.run_id);
        if let Some(attach) = &owner.attach
            && !cleaned.contains(&owner.run_id)
        {
            match delete_rows(attach).await {
                Ok(rows) => {
                    report
                        .rows
                        .push((owner.run_id.clone(), attach.prefix.clone(), rows));
                    cleaned.push(owner.run_id.clone());
                }
                Err(message) => {
                    // The folder (and its owner file) stays for the next gc.
                    report.failed.push((owner.run_id.clone(), message));
                    continue;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        drop(lock);
        if !report.runs.contains(&owner.run_id) {
            report.runs.push(owner.run_id);
        }
    }
    // A live run builds into, boots from and writes logs into the caches:
    // they stay while any run that uses this cache folder is alive.
    let cache_in_use = leftover_dirs(&cache_dir.join("logs"), "")
        .iter()
        .filter_map(|dir| read_owner(dir))
        .any(|owner| report.live.contains(&owner.run_id));
    if !keep_cache && !cache_in_use {
        for name in ["cells", "docker", "envs", "logs", "postgres", "worktrees"] {
            let dir = cache_dir.join(name);
            if dir.exists() && std::fs::remove_dir_all(&dir).is_ok() {
                report.caches.push(dir);
            }
        }
    }
    report
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

/// Is the process that wrote this owner file still running? The same pid
/// and the same start time; an owner file without a start time (an older
/// replay) falls back to the pid and a command line naming replay.
fn running(owner: &Owner) -> bool {
    let pid = owner.pid;
    if kill(Pid::from_raw(pid as i32), None).is_err() {
        return false;
    }
    match owner.start_time {
        Some(started) => start_time(pid) == Some(started),
        None => std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("replay")),
    }
}

/// Kill every process (and its group) whose environment names this run.
pub(crate) fn kill_run(run_id: &str) -> usize {
    let needle = format!("REPLAY_RUN_ID={run_id}");
    let me = std::process::id() as i32;
    let my_group = nix::unistd::getpgrp();
    let mut killed = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
        {
            let pid = Pid::from_raw(pid);
            // The groups replay starts are led by the process it started;
            // never signal a group that is not, or that holds this process.
            if let Ok(pgid) = nix::unistd::getpgid(Some(pid))
                && pgid == pid
                && pgid != my_group
            {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            if kill(pid, Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
    }
    killed
}

/// The Docker engine's part of `replay gc`: the containers, networks and
/// volumes of dead runs and, unless `keep_cache`, the base and revision
/// images. `None` when no engine answers (there is nothing to sweep then).
pub async fn docker(keep_cache: bool) -> Option<crate::runtime::docker::cleanup::Swept> {
    crate::runtime::docker::cleanup::gc(keep_cache).await.ok()
}

/// The reaper of a Docker run (`replay __reap RUN_ID`, started by the run).
pub async fn reap(run_id: &str) {
    crate::runtime::docker::cleanup::reap(run_id).await
}

/// The labelled containers, networks and volumes a run left on the engine (tests use it).
pub async fn docker_leftovers(run_id: &str) -> Result<Vec<String>, crate::jobs::Error> {
    Ok(crate::runtime::docker::cleanup::leftovers(run_id).await?)
}

#[cfg(test)]
mod tests {
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
        let report = gc(cache.path(), true).await;
        assert!(report.runs.contains(&"dead-run".to_string()));
        assert!(!dead.exists());
        assert!(live.exists());
        // (Runs of others on this machine may be live too: /tmp is shared.)
        assert!(report.live.contains(&"live-run".to_string()));
    }

    #[tokio::test]
    async fn a_reused_pid_is_not_the_run() {
        // This process, but started at another time: the run that wrote the
        // file is dead, whatever runs under its pid now.
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("logs").join("reused");
        let me = std::process::id();
        owner_file(&dir, me, start_time(me).map(|t| t + 1));
        let report = gc(cache.path(), true).await;
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
        let report = gc(cache.path(), false).await;
        assert!(dir.exists());
        assert!(cache.path().join("envs").exists());
        assert!(report.caches.is_empty(), "{:?}", report.caches);
        assert!(report.live.contains(&"locked".to_string()));
    }
}
