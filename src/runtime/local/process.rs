//! Child processes in their own process groups, owned and torn down.
//!
//! Every process the local runtime starts leads a new process group, and is
//! signalled as a group, so that grandchildren (a server's workers, a shell's
//! children) go with it. The owner stops it explicitly; `Drop` kills the group
//! as a backstop; the registry lets a second Ctrl-C kill every live group at once.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::redact::Redactor;

/// Process groups that are alive, for a hard kill on the second Ctrl-C.
static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Kill every live process group at once (the second Ctrl-C).
pub(crate) fn kill_all_groups() {
    let groups: Vec<i32> = LIVE_GROUPS
        .lock()
        .map(|g| g.iter().copied().collect())
        .unwrap_or_default();
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// The whole environment of the process, but `REPLAY_RUN_ID`: nothing of
    /// the tool's own environment reaches it unless it is here (a target's
    /// commands: [`crate::runtime::environment::local`]).
    pub env: Vec<(String, String)>,
    /// Run as this user (when the tool runs as root and the program refuses to).
    pub user: Option<(Uid, Gid)>,
    /// Where stdout and stderr go.
    pub log: PathBuf,
    /// Pass every line through this on its way to the log (a server may print
    /// a key it was given).
    pub redact: Option<Arc<Redactor>>,
}

impl Spec {
    /// The command line, for messages.
    pub(crate) fn display(&self) -> String {
        shell_words::join(&self.argv)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot open the log {}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start `{command}`")]
    Start {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// A running process group, led by `child`.
pub(crate) struct ProcessGroup {
    pub command: String,
    pub log: PathBuf,
    child: Child,
    pgid: Option<Pid>,
    copiers: Vec<JoinHandle<()>>,
}

impl ProcessGroup {
    pub(crate) fn spawn(spec: &Spec, run_id: &str) -> Result<Self, SpawnError> {
        let log_error = |source| SpawnError::Log {
            path: spec.log.clone(),
            source,
        };
        let stdout = File::options()
            .create(true)
            .append(true)
            .open(&spec.log)
            .map_err(log_error)?;
        let stderr = stdout.try_clone().map_err(log_error)?;
        let (stdout, stderr): (Stdio, Stdio) = match spec.redact {
            Some(_) => (Stdio::piped(), Stdio::piped()),
            None => (stdout.into(), stderr.into()),
        };
        let (program, args) = spec.argv.split_first().expect("a command has a program");
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env("REPLAY_RUN_ID", run_id)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        if let Some((uid, gid)) = spec.user {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        // Register before the process exists, so a Ctrl-C in between still finds it.
        let mut live = LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = command.spawn().map_err(|source| SpawnError::Start {
            command: spec.display(),
            source,
        })?;
        let mut copiers = Vec::new();
        if let Some(redactor) = &spec.redact {
            let log = Arc::new(Mutex::new(
                File::options()
                    .append(true)
                    .open(&spec.log)
                    .map_err(log_error)?,
            ));
            if let Some(out) = child.stdout.take() {
                copiers.push(tokio::spawn(copy_lines(out, log.clone(), redactor.clone())));
            }
            if let Some(err) = child.stderr.take() {
                copiers.push(tokio::spawn(copy_lines(err, log, redactor.clone())));
            }
        }
        let pgid = child.id().map(|id| Pid::from_raw(id as i32));
        if let Some(pgid) = pgid {
            live.insert(pgid.as_raw());
        }
        drop(live);
        Ok(Self {
            command: spec.display(),
            log: spec.log.clone(),
            child,
            pgid,
            copiers,
        })
    }

    /// Wait (briefly) until everything the process printed is in the log.
    pub(crate) async fn flush_log(&mut self) {
        for copier in self.copiers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), copier).await;
        }
    }

    /// The leader's pid, which is also the group's id (`None` once stopped).
    pub(crate) fn pid(&self) -> Option<Pid> {
        self.pgid
    }

    /// The exit status, if the leader has exited.
    pub(crate) fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Wait for the leader to exit; on cancellation, stop the group and return `None`.
    pub(crate) async fn wait(&mut self, cancel: &CancellationToken) -> Option<ExitStatus> {
        tokio::select! {
            status = self.child.wait() => {
                // The leader is gone; take down anything it left in its group.
                self.kill_group(Signal::SIGKILL);
                self.forget();
                self.flush_log().await;
                status.ok()
            }
            _ = cancel.cancelled() => None,
        }
    }

    /// Send `signal` to the leader only (Postgres shuts down on SIGINT to the postmaster).
    pub(crate) fn signal_leader(&self, signal: Signal) {
        if let Some(pid) = self.pgid {
            let _ = nix::sys::signal::kill(pid, signal);
        }
    }

    fn kill_group(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, signal);
        }
    }

    fn forget(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            LIVE_GROUPS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&pgid.as_raw());
        }
    }

    /// Stop the group: `first` to the group (or the leader), up to `grace` for
    /// the leader to exit, then SIGKILL to whatever is left.
    pub(crate) async fn stop(mut self, first: Signal, leader_only: bool, grace: Duration) {
        if self.pgid.is_none() {
            return;
        }
        if leader_only {
            self.signal_leader(first)
        } else {
            self.kill_group(first)
        }
        let _ = tokio::time::timeout(grace, self.child.wait()).await;
        self.kill_group(Signal::SIGKILL);
        let _ = self.child.wait().await;
        self.forget();
        self.flush_log().await;
    }

    /// The last `lines` lines of the log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // The backstop: an owner that did not stop its group (an error path, a
        // panic) still leaves nothing running.
        if self.pgid.is_some() {
            self.kill_group(Signal::SIGKILL);
            let _ = self.child.start_kill();
            self.forget();
        }
    }
}

/// Copy lines from a child's pipe into the log, redacted.
async fn copy_lines(pipe: impl AsyncRead + Unpin, log: Arc<Mutex<File>>, redactor: Arc<Redactor>) {
    use std::io::Write;
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = redactor.apply(&line);
        if let Ok(mut file) = log.lock() {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// Characters kept of one line of a log excerpt.
pub(crate) const EXCERPT_WIDTH: usize = 300;
/// Lines an excerpt has at most, whatever the caller asks for.
pub(crate) const EXCERPT_LINES: usize = 40;

/// The last `lines` lines of a log file (at most [`EXCERPT_LINES`]), each cut
/// to [`EXCERPT_WIDTH`] characters, saying what was cut (the log's path is
/// printed with it).
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    excerpt(&text, lines.min(EXCERPT_LINES), EXCERPT_WIDTH)
}

/// The last `lines` lines of `text`, each at most `width` characters.
pub(crate) fn excerpt(text: &str, lines: usize, width: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let skipped = all.len().saturating_sub(lines);
    let mut out = Vec::new();
    if skipped > 0 {
        out.push(format!(
            "[{skipped} earlier line{} not shown]",
            if skipped == 1 { "" } else { "s" }
        ));
    }
    for line in &all[skipped..] {
        match line.char_indices().nth(width) {
            Some((cut, _)) => {
                let more = line[cut..].chars().count();
                out.push(format!("{} [… {more} more characters]", &line[..cut]));
            }
            None => out.push(line.to_string()),
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, script: &str) -> Spec {
        Spec {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: dir.to_path_buf(),
            env: crate::runtime::environment::base(),
            user: None,
            log: dir.join("log"),
            redact: None,
        }
    }

    fn alive(pid: i32) -> bool {
        nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
    }

    #[tokio::test]
    async fn a_finished_command_leaves_its_output_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut group =
            ProcessGroup::spawn(&spec(dir.path(), "echo one; echo two >&2; exit 3"), "t").unwrap();
        let status = group.wait(&CancellationToken::new()).await.unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(group.log_tail(5), "one\ntwo");
        assert_eq!(group.log_tail(1), "[1 earlier line not shown]\ntwo");
    }

    #[test]
    fn an_excerpt_cuts_long_lines_and_says_how_much() {
        let long = "x".repeat(1000);
        let text = format!("first\n{long}\nlast");
        let cut = excerpt(&text, 40, 300);
        assert_eq!(
            cut,
            format!("first\n{} [… 700 more characters]\nlast", "x".repeat(300))
        );
        // Multi-byte characters are counted as characters, never split.
        let cut = excerpt(&"é".repeat(301), 40, 300);
        assert!(cut.ends_with("é [… 1 more characters]"), "{cut}");
    }

    #[test]
    fn an_excerpt_keeps_the_last_lines_and_says_how_many_it_left_out() {
        let text: String = (1..=100).map(|n| format!("line {n}\n")).collect();
        let cut = excerpt(&text, 3, 300);
        assert_eq!(
            cut,
            "[97 earlier lines not shown]\nline 98\nline 99\nline 100"
        );
        assert_eq!(excerpt("one\ntwo", 3, 300), "one\ntwo");
    }

    #[test]
    fn a_log_tail_is_bounded_whatever_the_log_holds() {
        // One failure printed a whole schema twice: 66 KB in 25 lines.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let line = "CREATE TABLE t (c text);".repeat(100);
        std::fs::write(&log, format!("{line}\n").repeat(500)).unwrap();
        let tail = log_tail(&log, 1000);
        assert_eq!(tail.lines().count(), EXCERPT_LINES + 1);
        assert!(
            tail.len() < (EXCERPT_LINES + 1) * (EXCERPT_WIDTH + 40),
            "{}",
            tail.len()
        );
    }

    #[tokio::test]
    async fn a_process_gets_its_spec_environment_and_the_run_id_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        // The test runner's own environment (CARGO_*, NEXTEST_*, RUST_*) is
        // what a process would inherit.
        assert!(std::env::vars().any(|(k, _)| k.starts_with("CARGO_")));
        let mut spec = spec(dir.path(), "");
        spec.argv = vec!["env".into()];
        spec.env = vec![
            ("PATH".into(), std::env::var("PATH").unwrap()),
            ("ONLY".into(), "this".into()),
        ];
        let mut group = ProcessGroup::spawn(&spec, "the-run").unwrap();
        assert!(
            group
                .wait(&CancellationToken::new())
                .await
                .unwrap()
                .success()
        );
        let printed = std::fs::read_to_string(dir.path().join("log")).unwrap();
        let mut names: Vec<&str> = printed
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, _)| k)
            .collect();
        names.sort();
        assert_eq!(names, ["ONLY", "PATH", "REPLAY_RUN_ID"], "{printed}");
        assert!(
            printed.lines().any(|l| l == "REPLAY_RUN_ID=the-run"),
            "{printed}"
        );
    }

    #[tokio::test]
    async fn a_redacted_log_never_holds_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let mut redactor = Redactor::default();
        redactor.know("sk-the-master-key", "master_key");
        let mut spec = spec(
            dir.path(),
            "echo starting with sk-the-master-key; echo oops sk-the-master-key >&2; exit 1",
        );
        spec.redact = Some(Arc::new(redactor));
        let mut group = ProcessGroup::spawn(&spec, "t").unwrap();
        group.wait(&CancellationToken::new()).await.unwrap();
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(
            log.contains("starting with <master_key>") && log.contains("oops <master_key>"),
            "{log}"
        );
        assert!(!log.contains("sk-the-master-key"));
    }

    #[tokio::test]
    async fn stopping_a_group_takes_its_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        let group =
            ProcessGroup::spawn(&spec(dir.path(), "sleep 300 & echo $! > child; wait"), "t")
                .unwrap();
        let child_file = dir.path().join("child");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !child_file.exists()
            || std::fs::read_to_string(&child_file)
                .unwrap()
                .trim()
                .is_empty()
        {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let grandchild: i32 = std::fs::read_to_string(&child_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(alive(grandchild));
        group
            .stop(Signal::SIGTERM, false, Duration::from_secs(2))
            .await;
        // The grandchild is reparented to init and reaped there; poll for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(grandchild) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!alive(grandchild));
    }

    #[tokio::test]
    async fn dropping_an_owner_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let group = ProcessGroup::spawn(&spec(dir.path(), "sleep 300"), "t").unwrap();
        let pid = group.pid().unwrap().as_raw();
        assert!(alive(pid));
        drop(group);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // A killed child stays a zombie until reaped; check its state instead.
        let gone = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
        };
        while !gone() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone());
    }
}
