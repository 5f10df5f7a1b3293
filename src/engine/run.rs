//! One run of the tool: its id, its secrets, its directories, its interrupt.
//!
//! The run owns a scratch directory (Postgres data, materialised checkouts),
//! removed when the run ends however it ends, and a log directory, removed
//! when the run succeeds and kept when it fails so that the logs it pointed
//! at are still there. Both carry an `owner.json` naming the run and its
//! process, so `replay gc` can remove what a killed run left behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::Mutex;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::engine::world::fresh_key;
use crate::runtime::local::process::kill_all_groups;

/// What every command that boots revisions is told: where the suite, the
/// repository and the cache are, how much at once, and how loudly.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub suite: PathBuf,
    pub repo: PathBuf,
    /// Cells run at once.
    pub jobs: usize,
    pub runtime: crate::runtime::RuntimeKind,
    pub cache_dir: PathBuf,
    pub no_cache: bool,
    /// Keep the run's logs (the path is printed) even when it succeeds.
    pub keep_logs: bool,
    pub quiet: bool,
}

/// What a run leaves in its directories, for `replay gc`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Owner {
    pub run_id: String,
    pub pid: u32,
    /// When the process started (clock ticks since boot, from `/proc`): a pid
    /// reused by another process after the run died does not count as the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    /// Attach mode (`check --url`): the rows the run writes into a database it
    /// does not own, and how to delete them. Written before the first write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<AttachCleanup>,
}

/// How `replay gc` deletes the rows of an attach run that was killed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AttachCleanup {
    pub prefix: String,
    /// The server's database, without its password.
    pub database_url: String,
    /// The environment variable that held the URL with the password, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// `DELETE FROM "table" WHERE condition`, with the condition's parameters.
    pub deletes: Vec<CleanupDelete>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CleanupDelete {
    pub table: String,
    pub condition: String,
    pub params: Vec<String>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Another live run holds this run id (two runs with one id would share,
    /// and destroy, each other's folders and cluster).
    #[error("run id `{run_id}` is in use by a live run (lock {})", lock.display())]
    InUse { run_id: String, lock: PathBuf },
    #[error("cannot create the run's directories")]
    Io(#[from] std::io::Error),
}

/// When process `pid` started, in clock ticks since boot (`/proc/PID/stat`, field 22).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: skip past its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// An exclusive `flock` on `<dir>.lock`, held for as long as the run lives;
/// `replay gc` and a second run with the same id test it.
#[derive(Debug)]
pub(crate) struct RunLock {
    path: PathBuf,
    _lock: Flock<std::fs::File>,
}

/// The lock file of a run folder: a sibling, `<folder>.lock`.
pub(crate) fn lock_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    dir.with_file_name(name)
}

impl RunLock {
    /// Take the lock without waiting; `Ok(None)` when someone holds it.
    pub(crate) fn try_take(path: &Path) -> std::io::Result<Option<Self>> {
        use std::os::unix::fs::MetadataExt;
        loop {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let file = std::fs::File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)?;
            let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => lock,
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Ok(None),
                Err((_, errno)) => return Err(errno.into()),
            };
            // A holder that was finishing may have removed the file between our
            // open and our lock: then we hold a lock nobody else can see. Retry.
            let held = lock.metadata()?;
            match std::fs::metadata(path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(Some(Self {
                        path: path.to_path_buf(),
                        _lock: lock,
                    }));
                }
                _ => continue,
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock; a waiter that opened
        // it meanwhile sees the inode change and retries.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Folders of live runs, for the third Ctrl-C (which cannot wait for the
/// run's own teardown): scratch folders to remove, log folders to name.
/// The lock is also held while a run folder is removed, so that the third
/// Ctrl-C and the run's own teardown never remove one folder at once, and the
/// process does not exit halfway through either (see [`wait_for_hard_stop`]).
static REGISTERED: Mutex<Vec<(PathBuf, bool)>> = Mutex::new(Vec::new());

/// Wait until a third Ctrl-C that is tearing down has finished (it exits the
/// process); `main` calls it before returning.
pub(crate) fn wait_for_hard_stop() {
    drop(REGISTERED.lock().unwrap_or_else(|e| e.into_inner()));
}

fn register(path: &Path, scratch: bool) {
    REGISTERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((path.to_path_buf(), scratch));
}

/// A run's directory, removed when the run ends unless it is kept.
#[derive(Debug)]
pub(crate) struct RunDir {
    path: PathBuf,
    keep: bool,
    owner: Owner,
    lock: Option<RunLock>,
}

impl RunDir {
    pub(crate) fn create(path: PathBuf, run_id: &str) -> Result<Self, RunError> {
        let lock_file = lock_path(&path);
        let lock = RunLock::try_take(&lock_file)?.ok_or_else(|| RunError::InUse {
            run_id: run_id.into(),
            lock: lock_file.clone(),
        })?;
        std::fs::create_dir_all(&path)?;
        let owner = Owner {
            run_id: run_id.into(),
            pid: std::process::id(),
            start_time: start_time(std::process::id()),
            attach: None,
        };
        let dir = Self {
            path,
            keep: false,
            owner,
            lock: Some(lock),
        };
        dir.write_owner()?;
        Ok(dir)
    }

    fn write_owner(&self) -> std::io::Result<()> {
        crate::support::files::write_atomically(
            &self.path.join("owner.json"),
            &serde_json::to_vec(&self.owner).expect("owner serialises"),
        )
    }

    /// Record what an attach run will write, before it writes anything.
    pub(crate) fn set_attach(&mut self, attach: Option<AttachCleanup>) -> std::io::Result<()> {
        self.owner.attach = attach;
        self.write_owner()
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Keep the directory when the run ends (its logs explain a failure).
    pub(crate) fn keep(&mut self) {
        self.keep = true;
    }

    pub(crate) fn kept(&self) -> bool {
        self.keep
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let mut registered = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
        registered.retain(|(p, _)| p != &self.path);
        // A kept folder keeps its owner file (with a pid that is gone by
        // then), so that `replay gc` removes it once nobody needs it.
        if !self.keep {
            // Never into what a command of the run mounted below it.
            let _ = crate::support::mounts::remove_tree(&self.path);
        }
        drop(self.lock.take());
        drop(registered);
    }
}

pub(crate) struct Run {
    pub id: String,
    pub prefix: String,
    pub master_key: String,
    /// The superuser password of the run's own Postgres: fresh every run.
    pub db_password: String,
    pub cache_dir: PathBuf,
    pub no_cache: bool,
    pub cancel: CancellationToken,
    pub scratch: RunDir,
    pub logs: RunDir,
    /// The log folder's path was printed already.
    logs_named: bool,
    /// `-q`: stderr holds only errors. A RED result is none (and an error
    /// that has a log names it), so the kept logs go unmentioned unless the
    /// run was interrupted.
    quiet: bool,
}

impl Run {
    /// `REPLAY_RUN_ID` names the run when set (CI and tests use it to find what
    /// the run started); otherwise a random id.
    /// `keep_logs` keeps the run's log folder even when it succeeds.
    pub(crate) fn new(
        cache_dir: &Path,
        no_cache: bool,
        keep_logs: bool,
        cancel: CancellationToken,
    ) -> Result<Self, RunError> {
        let id = std::env::var("REPLAY_RUN_ID")
            .ok()
            .filter(|id| {
                !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .unwrap_or_else(|| hex::encode(rand::random::<[u8; 4]>()));
        let scratch = RunDir::create(
            crate::support::files::scratch_root().join(format!("replay-{id}")),
            &id,
        )?;
        let mut logs = RunDir::create(cache_dir.join("logs").join(&id), &id)?;
        if keep_logs {
            logs.keep();
        }
        std::fs::create_dir_all(logs.path())?;
        // Every command the run starts gets a TMPDIR inside the scratch folder,
        // so what an interrupted build left there goes with it.
        std::fs::create_dir_all(scratch.path().join("tmp"))?;
        register(scratch.path(), true);
        register(logs.path(), false);
        let master_key = fresh_key("sk-");
        let db_password = fresh_key("pg-");
        crate::support::redact::keep_secret(&master_key, "master_key");
        crate::support::redact::keep_secret(&db_password, "db_password");
        Ok(Self {
            prefix: format!("replay-{}-", hex::encode(rand::random::<[u8; 4]>())),
            master_key,
            db_password,
            id,
            cache_dir: cache_dir.to_path_buf(),
            no_cache,
            cancel,
            scratch,
            logs,
            logs_named: false,
            quiet: false,
        })
    }
}

impl Run {
    /// A new run (its folders made); says where its logs are when they are kept.
    pub(crate) fn start(
        options: &RunOptions,
        cancel: CancellationToken,
        progress: &crate::support::progress::Progress,
    ) -> Result<Self, RunError> {
        let mut run = Self::new(
            &options.cache_dir,
            options.no_cache,
            options.keep_logs,
            cancel,
        )?;
        if run.logs.kept() {
            progress.line(&format!("logs {}", run.logs.path().display()));
            run.logs_named = true;
        }
        run.quiet = options.quiet;
        Ok(run)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // A failed or interrupted run keeps its logs: say where (once).
        let silent = self.quiet && !self.cancel.is_cancelled();
        if self.logs.kept() && !self.logs_named && !silent {
            eprintln!(
                "replay: logs kept in {} (`replay gc` removes them)",
                self.logs.path().display()
            );
        }
    }
}

/// The third Ctrl-C: the run's own teardown did not finish, so do its
/// essentials here, synchronously: kill every process group the run started,
/// remove its scratch folders (the cluster, checkouts, temp files), and say
/// where its logs are. What this cannot do (delete an attach run's rows) is
/// left in the owner file for `replay gc`.
/// The registry stays locked (returned) until the caller exits.
pub(crate) fn hard_stop() -> std::sync::MutexGuard<'static, Vec<(PathBuf, bool)>> {
    kill_all_groups();
    // And what left those groups: Postgres's own processes lead sessions of
    // their own (a backend copying a database writes on after the postmaster died).
    crate::runtime::local::sweep::kill_children(std::time::Duration::from_secs(2));
    // Held until the process exits: the run's teardown waits, never races.
    let mut registered = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    for (dir, scratch) in std::mem::take(&mut *registered) {
        if scratch {
            // A killed process may still be on its way out and hold files open;
            // removal is retried for a moment.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while crate::support::mounts::remove_tree(&dir).is_err()
                && dir.exists()
                && std::time::Instant::now() < deadline
            {
                kill_all_groups();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        } else if dir.exists() {
            eprintln!(
                "replay: logs kept in {} (`replay gc` removes them)",
                dir.display()
            );
        }
        // The process is about to exit, which releases its locks.
        let _ = std::fs::remove_file(lock_path(&dir));
    }
    registered
}

/// The third Ctrl-C: [`hard_stop`], then exit 130 before anyone else can
/// touch the run's folders.
fn hard_stop_and_exit() -> ! {
    let _registered = hard_stop();
    std::process::exit(crate::support::exit_codes::INTERRUPTED.into())
}

/// Cells run at once: enough to keep a small server busy, bounded for big machines.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| (n.get() * 4).clamp(4, 16))
        .unwrap_or(8)
}

/// Ctrl-C, SIGTERM and SIGHUP: the first stops scheduling and lets the run tear
/// down and write what it has; the second kills every process group at once;
/// the third exits.
pub(crate) fn install_interrupt(cancel: CancellationToken) {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            match COUNT.fetch_add(1, Ordering::SeqCst) {
                0 => {
                    eprintln!("interrupted: tearing down (again to kill at once)");
                    cancel.cancel();
                }
                1 => {
                    eprintln!("interrupted again: killing every process of the run");
                    kill_all_groups();
                }
                _ => {
                    eprintln!(
                        "interrupted a third time: killing the run's processes, removing its folders, exiting"
                    );
                    hard_stop_and_exit();
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_is_held_until_its_folder_goes() {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("replay-same");
        let first = RunDir::create(path.clone(), "same").unwrap();
        let second = RunDir::create(path.clone(), "same");
        assert!(
            matches!(&second, Err(RunError::InUse { run_id, .. }) if run_id == "same"),
            "{second:?}"
        );
        drop(first);
        assert!(!path.exists() && !lock_path(&path).exists());
        // Released: the id can be used again.
        drop(RunDir::create(path.clone(), "same").unwrap());
    }

    #[test]
    fn the_owner_file_names_the_process_and_when_it_started() {
        let parent = tempfile::tempdir().unwrap();
        let dir = RunDir::create(parent.path().join("replay-owner"), "owner").unwrap();
        let owner: Owner =
            serde_json::from_slice(&std::fs::read(dir.path().join("owner.json")).unwrap()).unwrap();
        assert_eq!(owner.pid, std::process::id());
        assert!(owner.start_time.is_some());
        assert_eq!(owner.start_time, start_time(std::process::id()));
    }

    #[tokio::test]
    async fn the_third_ctrl_c_kills_the_groups_and_removes_the_scratch_folder() {
        use crate::runtime::local::process::{ProcessGroup, Spec};
        let parent = tempfile::tempdir().unwrap();
        let scratch = RunDir::create(parent.path().join("replay-hard"), "hard").unwrap();
        register(scratch.path(), true);
        std::fs::write(scratch.path().join("cluster-copy"), b"data").unwrap();
        let group = ProcessGroup::spawn(
            &Spec {
                argv: vec!["sleep".into(), "300".into()],
                cwd: parent.path().to_path_buf(),
                env: crate::runtime::environment::base(),
                user: None,
                log: parent.path().join("log"),
                redact: None,
            },
            "hard",
        )
        .unwrap();
        let pid = group.pid().unwrap().as_raw();
        drop(hard_stop());
        assert!(!scratch.path().exists());
        // Killed: a zombie until reaped, or gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let dead = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
        };
        while !dead() {
            assert!(std::time::Instant::now() < deadline, "pid {pid} survived");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        drop(group);
    }
}
