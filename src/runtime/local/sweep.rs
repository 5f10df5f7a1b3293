//! Finding and killing, through `/proc`, what a run that is gone started.
//!
//! Every process the tool starts carries `REPLAY_RUN_ID` in its environment,
//! but that is not enough to find them all: Postgres's own processes (the
//! checkpointer, the walwriter, a backend still copying a database) lead
//! sessions of their own and overwrite their environment with their process
//! title, so neither the variable nor the postmaster's group reaches them.
//! They are the postmaster's children, though: a run's processes are those
//! that name it and everything below them, taken while their parents are
//! stopped (so none forks a new one meanwhile), then killed, then waited for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// One process, as `/proc` shows it.
#[derive(Debug, Clone)]
struct Proc {
    ppid: i32,
    pgid: i32,
    /// Its environment names the run (or it is marked otherwise: [`kill_build`]).
    names_run: bool,
}

/// What [`kill_run`] did.
#[derive(Debug, Default)]
pub(crate) struct Killed {
    /// Processes killed.
    pub count: usize,
    /// Processes still there at the deadline: `pid N: command line`.
    pub survivors: Vec<String>,
}

/// `pid`'s state letter (`R`, `S`, `Z`, ...), `None` when it is gone.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Gone, or a zombie: it runs nothing any more and holds no file (a zombie
/// waits only for its parent, or init, to reap it).
pub(crate) fn is_gone(pid: i32) -> bool {
    !matches!(state(pid), Some(s) if s != 'Z' && s != 'X')
}

/// `pid N: its command line`, for messages.
pub(crate) fn describe(pid: i32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let cmdline = cmdline.trim();
    let cut: String = cmdline.chars().take(120).collect();
    if cut.is_empty() {
        format!("pid {pid}")
    } else if cut.len() < cmdline.len() {
        format!("pid {pid}: {cut}…")
    } else {
        format!("pid {pid}: {cut}")
    }
}

/// Does the process whose `/proc` folder this is belong to what is swept?
type Marks<'a> = &'a dyn Fn(&Path) -> bool;

/// Its environment holds `REPLAY_RUN_ID=<run_id>`.
fn names_run(proc_dir: &Path, run_id: &str) -> bool {
    let needle = format!("REPLAY_RUN_ID={run_id}");
    std::fs::read(proc_dir.join("environ")).is_ok_and(|environ| {
        environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
    })
}

fn scan(marks: Marks<'_>) -> BTreeMap<i32, Proc> {
    let mut procs = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return procs;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        // After the command name: state, ppid, pgrp, ...
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let (Some(ppid), Some(pgid)) = (
            fields.get(1).and_then(|f| f.parse().ok()),
            fields.get(2).and_then(|f| f.parse().ok()),
        ) else {
            continue;
        };
        let names_run = marks(&entry.path());
        procs.insert(
            pid,
            Proc {
                ppid,
                pgid,
                names_run,
            },
        );
    }
    procs
}

/// This process and its ancestors: never signalled, even when their
/// environment names the run (a CI job that exports `REPLAY_RUN_ID` and then
/// runs `replay gc` in the same shell).
fn me_and_mine(procs: &BTreeMap<i32, Proc>) -> BTreeSet<i32> {
    let mut mine = BTreeSet::new();
    let mut pid = std::process::id() as i32;
    while pid > 1 && mine.insert(pid) {
        match procs.get(&pid) {
            Some(p) => pid = p.ppid,
            None => break,
        }
    }
    mine
}

/// The run's processes: those whose environment names it (or, with
/// `children_of`, the children of that process), and every process below
/// one of them.
fn of_run(
    procs: &BTreeMap<i32, Proc>,
    children_of: Option<i32>,
    spare: &BTreeSet<i32>,
) -> BTreeSet<i32> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (pid, p) in procs {
        children.entry(p.ppid).or_default().push(*pid);
    }
    let mut found = BTreeSet::new();
    let mut todo: Vec<i32> = procs
        .iter()
        .filter(|(_, p)| match children_of {
            Some(parent) => p.ppid == parent,
            None => p.names_run,
        })
        .map(|(pid, _)| *pid)
        .collect();
    while let Some(pid) = todo.pop() {
        if spare.contains(&pid) || !found.insert(pid) {
            continue;
        }
        todo.extend(children.get(&pid).into_iter().flatten());
    }
    found
}

/// Kill every process of the run `run_id` and wait, until `deadline`, for
/// each to be gone: first stop them (a stopped postmaster forks no new
/// backend), again until a scan finds no new one, then kill them all.
pub(crate) fn kill_run(run_id: &str, deadline: Duration) -> Killed {
    kill_tree(&|proc_dir| names_run(proc_dir, run_id), None, deadline)
}

/// Kill what a killed base-image build left running, and everything below:
/// mmdebstrap (its own process group, so it outlives the tool) is the
/// process whose command line holds `mention` (its output file), and what it
/// runs in its chroot has its root or working folder inside `dir`.
pub(crate) fn kill_build(dir: &Path, mention: &str, deadline: Duration) -> Killed {
    let marks = |proc_dir: &Path| {
        let inside = |link: &str| {
            std::fs::read_link(proc_dir.join(link)).is_ok_and(|to| to.starts_with(dir))
        };
        inside("root")
            || inside("cwd")
            || std::fs::read(proc_dir.join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(mention))
    };
    kill_tree(&marks, None, deadline)
}

/// Kill every process below this one (the third Ctrl-C: the groups the run
/// started, and Postgres's processes, which leave the postmaster's group).
pub(crate) fn kill_children(deadline: Duration) -> Killed {
    kill_tree(&|_| false, Some(std::process::id() as i32), deadline)
}

fn kill_tree(marks: Marks<'_>, children_of: Option<i32>, deadline: Duration) -> Killed {
    let until = Instant::now() + deadline;
    let my_group = nix::unistd::getpgrp().as_raw();
    let mut killed = Killed::default();
    let mut signalled: BTreeSet<i32> = BTreeSet::new();
    loop {
        // Stop, and look again for children made before the stop landed.
        let mut stopped: BTreeSet<i32> = BTreeSet::new();
        let mut procs;
        loop {
            procs = scan(marks);
            let spare = me_and_mine(&procs);
            let found = of_run(&procs, children_of, &spare);
            let new: Vec<i32> = found.difference(&stopped).copied().collect();
            if new.is_empty() {
                break;
            }
            for pid in new {
                let _ = kill(Pid::from_raw(pid), Signal::SIGSTOP);
                stopped.insert(pid);
            }
            if Instant::now() >= until {
                break;
            }
        }
        let targets: Vec<i32> = stopped
            .iter()
            .copied()
            .filter(|pid| !is_gone(*pid))
            .collect();
        if targets.is_empty() {
            break;
        }
        for pid in &targets {
            // The groups the tool starts are led by the process it started;
            // never signal a group that is not, or that holds this process.
            if let Some(p) = procs.get(pid)
                && p.pgid == *pid
                && p.pgid != my_group
            {
                let _ = killpg(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            if kill(Pid::from_raw(*pid), Signal::SIGKILL).is_ok() && signalled.insert(*pid) {
                killed.count += 1;
            }
        }
        while targets.iter().any(|pid| !is_gone(*pid)) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if Instant::now() >= until {
            killed.survivors = targets
                .iter()
                .copied()
                .filter(|pid| !is_gone(*pid))
                .map(describe)
                .collect();
            break;
        }
    }
    killed
}

/// Processes whose working folder or an open file is inside `dir`, as
/// `pid N: command line`: what keeps a folder from being removed.
pub(crate) fn users_of(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if is_gone(pid) {
            continue;
        }
        let inside = |link: &Path| std::fs::read_link(link).is_ok_and(|to| to.starts_with(dir));
        let uses = inside(&entry.path().join("cwd"))
            || std::fs::read_dir(entry.path().join("fd"))
                .is_ok_and(|fds| fds.flatten().any(|fd| inside(&fd.path())));
        if uses {
            found.push(describe(pid));
        }
    }
    found
}

/// Processes that hold `path` open (a lock file), as `pid N: command line`.
pub(crate) fn holders_of(path: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let holds = std::fs::read_dir(entry.path().join("fd")).is_ok_and(|fds| {
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|to| to == path))
        });
        if holds {
            found.push(describe(pid));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(ppid: i32, names_run: bool) -> Proc {
        Proc {
            ppid,
            pgid: 0,
            names_run,
        }
    }

    #[test]
    fn the_run_is_what_names_it_and_everything_below() {
        // 10 names the run; 11 (a postmaster's child: its own session, its
        // environment overwritten) and 12 below it belong to the run too;
        // 20 does not; 5 is spared (this process or an ancestor).
        let procs = BTreeMap::from([
            (1, proc(0, false)),
            (5, proc(1, true)),
            (10, proc(5, true)),
            (11, proc(10, false)),
            (12, proc(11, false)),
            (20, proc(1, false)),
        ]);
        let run = of_run(&procs, None, &BTreeSet::from([5]));
        assert_eq!(run, BTreeSet::from([10, 11, 12]));
        // Below a process: its children, and theirs.
        let run = of_run(&procs, Some(10), &BTreeSet::new());
        assert_eq!(run, BTreeSet::from([11, 12]));
        let run = of_run(&procs, Some(5), &BTreeSet::from([5]));
        assert_eq!(run, BTreeSet::from([10, 11, 12]));
    }

    #[test]
    fn a_zombie_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Exited and not reaped yet: a zombie.
        let deadline = Instant::now() + Duration::from_secs(10);
        while state(pid) != Some('Z') {
            assert!(Instant::now() < deadline, "{pid} never exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(is_gone(pid));
        child.wait().unwrap();
        assert!(is_gone(pid));
        assert!(!is_gone(std::process::id() as i32));
    }
}
