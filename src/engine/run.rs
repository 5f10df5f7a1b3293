//! One run of the tool: its id, its secrets, its directories, its interrupt.
//!
//! The run owns a scratch directory (Postgres data, materialised checkouts),
//! removed when the run ends however it ends, and a log directory, removed
//! when the run succeeds and kept when it fails so that the logs it pointed
//! at are still there. Both carry an `owner.json` naming the run and its
//! process, so `replay gc` can remove what a killed run left behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

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
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Owner {
    pub run_id: String,
    pub pid: u32,
}

/// A directory removed on drop (the backstop) or by [`RunDir::remove`].
#[derive(Debug)]
pub(crate) struct RunDir {
    path: PathBuf,
    keep: bool,
}

impl RunDir {
    pub(crate) fn create(path: PathBuf, run_id: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(&path)?;
        let owner = Owner {
            run_id: run_id.into(),
            pid: std::process::id(),
        };
        std::fs::write(
            path.join("owner.json"),
            serde_json::to_vec(&owner).expect("owner serialises"),
        )?;
        Ok(Self { path, keep: false })
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
        if self.keep {
            let _ = std::fs::remove_file(self.path.join("owner.json"));
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
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
    ) -> std::io::Result<Self> {
        let id = std::env::var("REPLAY_RUN_ID")
            .ok()
            .filter(|id| {
                !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .unwrap_or_else(|| hex::encode(rand::random::<[u8; 4]>()));
        let scratch = RunDir::create(std::env::temp_dir().join(format!("replay-{id}")), &id)?;
        let mut logs = RunDir::create(cache_dir.join("logs").join(&id), &id)?;
        if keep_logs {
            logs.keep();
        }
        std::fs::create_dir_all(logs.path())?;
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
        })
    }
}

impl Run {
    /// A new run (its folders made); says where its logs are when they are kept.
    pub(crate) fn start(
        options: &RunOptions,
        cancel: CancellationToken,
        progress: &crate::support::progress::Progress,
    ) -> Result<Self, std::io::Error> {
        let run = Self::new(
            &options.cache_dir,
            options.no_cache,
            options.keep_logs,
            cancel,
        )?;
        if run.logs.kept() {
            progress.line(&format!("logs {}", run.logs.path().display()));
        }
        Ok(run)
    }
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
                _ => std::process::exit(crate::support::exit_codes::INTERRUPTED.into()),
            }
        }
    });
}
