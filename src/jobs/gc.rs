//! `replay gc`: remove what killed runs left behind, and the caches.
//!
//! Every run writes `owner.json` (its id and pid) into its scratch and log
//! folders, and every process it starts carries `REPLAY_RUN_ID` in its
//! environment. A folder whose owner is no longer running belongs to a killed
//! run: its processes are killed (found by that variable) and the folder goes.

use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::engine::run::Owner;

#[derive(Debug, Default)]
pub struct GcReport {
    /// Runs whose leftovers were removed.
    pub runs: Vec<String>,
    /// Processes killed.
    pub killed: usize,
    /// Cache folders removed.
    pub caches: Vec<PathBuf>,
}

pub fn gc(cache_dir: &Path, keep_cache: bool) -> GcReport {
    let mut report = GcReport::default();
    let scratch = std::env::temp_dir();
    for dir in leftover_dirs(&scratch, "replay-")
        .into_iter()
        .chain(leftover_dirs(&cache_dir.join("logs"), ""))
    {
        let Some(owner) = read_owner(&dir) else {
            continue;
        };
        if running(owner.pid) {
            continue;
        }
        report.killed += kill_run(&owner.run_id);
        let _ = std::fs::remove_dir_all(&dir);
        if !report.runs.contains(&owner.run_id) {
            report.runs.push(owner.run_id);
        }
    }
    if !keep_cache {
        for name in ["cells", "envs", "logs", "postgres", "worktrees"] {
            let dir = cache_dir.join(name);
            if dir.exists() && std::fs::remove_dir_all(&dir).is_ok() {
                report.caches.push(dir);
            }
        }
    }
    report
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

/// Is a replay process with this pid still running?
fn running(pid: u32) -> bool {
    let alive = kill(Pid::from_raw(pid as i32), None).is_ok();
    alive
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("replay"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_runs_folders_go_and_a_live_ones_stay() {
        let cache = tempfile::tempdir().unwrap();
        let logs = cache.path().join("logs");
        let dead = logs.join("dead-run");
        let live = logs.join("live-run");
        for (dir, pid) in [(&dead, 999_999_u32), (&live, std::process::id())] {
            std::fs::create_dir_all(dir).unwrap();
            let owner = Owner {
                run_id: dir.file_name().unwrap().to_string_lossy().into(),
                pid,
            };
            std::fs::write(dir.join("owner.json"), serde_json::to_vec(&owner).unwrap()).unwrap();
        }
        let report = gc(cache.path(), true);
        assert!(report.runs.contains(&"dead-run".to_string()));
        assert!(!dead.exists());
        // This test runs in a binary cargo names after the crate (replay-...):
        // a live replay process, whose folder stays.
        assert!(live.exists());
    }
}
