//! Helpers shared by the integration tests: the binary, a shared cache, a
//! fresh run id and temp folder per test, and the search for leftovers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One test's view of the tool: its own run id and temp folder, and a cache
/// shared by all tests (so the twin's virtualenv is built once).
pub struct Env {
    pub run_id: String,
    pub tmp: tempfile::TempDir,
    pub cache: PathBuf,
}

impl Env {
    pub fn new(name: &str) -> Self {
        sweep_dead_tests();
        // Named by this test process: a test killed at its timeout (nextest
        // terminates it; no destructor runs) leaves its folder, and the next
        // test removes it.
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{TMP_PREFIX}{}-", std::process::id()))
            .tempdir()
            .unwrap();
        let run_id = format!("it-{name}-{}", std::process::id());
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache");
        Env { run_id, tmp, cache }
    }

    /// A cache of this test's own for cell results and worktrees, sharing the
    /// build environments and the initdb'd cluster (slow to make) with the
    /// other tests. Use it where probes must really boot.
    pub fn private_cache(&mut self) {
        let cache = self.tmp.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        for shared in ["docker", "envs", "postgres"] {
            std::fs::create_dir_all(self.cache.join(shared)).unwrap();
            std::os::unix::fs::symlink(self.cache.join(shared), cache.join(shared)).unwrap();
        }
        self.cache = cache;
    }

    /// The tool, with this test's environment.
    pub fn replay(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_replay"));
        command
            .env("REPLAY_RUN_ID", &self.run_id)
            .env("REPLAY_CACHE_DIR", &self.cache)
            .env("TMPDIR", self.scratch())
            .env("NO_COLOR", "1")
            .env_remove("CI")
            .current_dir(repo_root());
        command
    }

    /// `replay check` of the twin (`testdata/twin`'s working tree under the
    /// suite's `twin` target), to add arguments to.
    pub fn check_twin(&self) -> Command {
        let mut command = self.replay();
        command.args(["check", "--target", "twin", "--repo", "testdata/twin"]);
        command
    }

    /// `replay check` of the suite at `suite` against the twin, with `extra`.
    pub fn check_suite(&self, suite: impl AsRef<Path>, extra: &[&str]) -> Command {
        let mut command = self.check_twin();
        command.arg("--suite").arg(suite.as_ref()).args(extra);
        command
    }

    /// Where the tool's temp folders go.
    pub fn scratch(&self) -> PathBuf {
        let dir = self.tmp.path().join("scratch");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A copy of a suite of this repository, to edit.
    pub fn suite_copy(&self, name: &str) -> PathBuf {
        let to = self.tmp.path().join("suites").join(name);
        copy_dir(&repo_root().join("matrices").join(name), &to);
        to
    }

    /// Processes that carry this test's run id or work inside the tool's
    /// scratch folder (Postgres's own processes overwrite their environment),
    /// and folders the run left. (A test's own fixtures, such as the Postgres
    /// of an attach test, live beside it and are not the run's.)
    pub fn leftovers(&self) -> Vec<String> {
        let mut found = processes_of_run(&self.run_id);
        for process in processes_in(&self.scratch()) {
            if !found.contains(&process) {
                found.push(process);
            }
        }
        for entry in std::fs::read_dir(self.scratch()).unwrap() {
            found.push(format!("temp folder {}", entry.unwrap().path().display()));
        }
        for point in mounts_below(self.tmp.path()) {
            found.push(format!("mount {}", point.display()));
        }
        found
    }

    /// Leftovers, waiting a moment for processes that are on their way out.
    pub fn assert_nothing_left(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = self.leftovers();
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "left behind: {left:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn logs_kept(&self) -> bool {
        self.cache.join("logs").join(&self.run_id).exists()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.cache.join("logs").join(&self.run_id));
        // What a killed build mounted below the test's folder (mmdebstrap's
        // chroot: the host's /proc, /sys, /dev/shm) is unmounted first, and
        // the removal never walks into another file system: `remove_dir_all`
        // would delete the host's files through the bind mount.
        if let Err(error) = replay::support::mounts::remove_tree(self.tmp.path()) {
            self.tmp.disable_cleanup(true);
            eprintln!("kept {}: {error}", self.tmp.path().display());
        }
    }
}

const TMP_PREFIX: &str = "replay-it-";

/// Remove the temp folders of test processes that are gone (killed at a
/// timeout), unless a process still works in one: unmounting what is
/// mounted there first, never walking into another file system.
fn sweep_dead_tests() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(TMP_PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() || !processes_in(&entry.path()).is_empty() {
            continue;
        }
        let _ = replay::support::mounts::remove_tree(&entry.path());
    }
}

/// Mount points at or below `dir`.
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    replay::support::mounts::below(
        &std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        &dir,
    )
}

/// Live processes whose environment holds `REPLAY_RUN_ID=<run_id>`.
pub fn processes_of_run(run_id: &str) -> Vec<String> {
    let needle = format!("REPLAY_RUN_ID={run_id}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name();
        if !pid.to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
        {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            if stat.contains(") Z ") {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!(
                "pid {}: {}",
                pid.to_string_lossy(),
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found
}

/// Live processes whose working folder is inside `dir`.
pub fn processes_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name();
        if !pid.to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if !std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir)) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        found.push(format!(
            "pid {}: {}",
            pid.to_string_lossy(),
            String::from_utf8_lossy(&cmdline).replace('\0', " ")
        ));
    }
    found
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every file below `dir` (none if it does not exist): its path relative to
/// `dir` and its contents read as text, in path order.
pub fn files_below(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((relative, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out.sort();
    out
}

/// Every text a run showed or wrote, by name: its stdout and stderr, the
/// files of its report folder `reports`, and the logs it kept.
pub fn texts_of_run(
    env: &Env,
    stdout: String,
    stderr: String,
    reports: &Path,
) -> Vec<(String, String)> {
    let mut texts = vec![
        ("stdout".to_string(), stdout),
        ("stderr".to_string(), stderr),
    ];
    texts.extend(files_below(reports));
    texts.extend(files_below(&env.cache.join("logs").join(&env.run_id)));
    texts
}

/// Replace `from` by `to` in a file, which must contain it exactly once.
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} in {}",
        path.display()
    );
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// Running a command to its end and checking how it ended, in one call:
/// `env.replay().args([...]).run_expect(2)`.
pub trait RunExt {
    /// Run to the end and panic, naming the command and showing its stderr,
    /// unless it exits `code`. Its stdout and stderr.
    fn run_expect(&mut self, code: i32) -> (String, String);
    /// The same, with stdout read as one JSON document.
    fn run_json(&mut self, code: i32) -> (serde_json::Value, String);
}

impl RunExt for Command {
    fn run_expect(&mut self, code: i32) -> (String, String) {
        let output = self.output().unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{}: {stderr}",
            command_line(self)
        );
        (stdout, stderr)
    }

    fn run_json(&mut self, code: i32) -> (serde_json::Value, String) {
        let (stdout, stderr) = self.run_expect(code);
        let document = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"));
        (document, stderr)
    }
}

/// `program arg arg…`, for a failure message.
fn command_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|arg| arg.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// How many pinned cells the suite in `matrices/NAME` has, counted by the
/// loader itself, so tests follow the suite as it grows.
pub fn suite_cells(name: &str) -> usize {
    let dir = repo_root().join("matrices").join(name);
    replay::suite::load(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .cells()
        .len()
}

/// `check --format json` of the example suite `matrices/NAME` against the
/// twin, which exits 0 with `green` GREEN cells (naming the RED ones if not):
/// the report, and the run's stdout and stderr.
pub fn green_check(env: &Env, name: &str, green: u64) -> (serde_json::Value, String, String) {
    let suite = repo_root().join("matrices").join(name);
    let (stdout, stderr) = env.check_suite(suite, &["--format", "json"]).run_expect(0);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"));
    assert_eq!(
        report["summary"]["green"],
        green,
        "{}",
        cells_with(&report, "RED").join("\n")
    );
    (report, stdout, stderr)
}

/// The ids of the cells of a JSON report with the given verdict.
pub fn cells_with(report: &serde_json::Value, verdict: &str) -> Vec<String> {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == verdict)
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The cell `id` of a JSON report.
pub fn cell<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no cell {id} in {report}"))
}

/// Start the tool and return it once stderr shows a line containing `marker`,
/// with the stderr lines read so far and a channel of the rest.
pub fn start_until(
    mut command: std::process::Command,
    marker: &str,
) -> (Child, Vec<String>, mpsc::Receiver<String>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        match receive.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                let found = line.contains(marker);
                seen.push(line);
                if found {
                    return (child, seen, receive);
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("never saw {marker:?}; stderr: {seen:#?}");
            }
        }
    }
}

/// Send SIGINT to a tool `start_until` started and wait for it to end: its
/// exit code, stdout, and the rest of its stderr (`rest`). Both are read to
/// the end: stdout while the tool runs (a report larger than the pipe would
/// block it), stderr until the pipe closes (the tool's last lines may still
/// be on their way through the reader thread when it has exited).
pub fn interrupt_and_collect(
    child: &mut Child,
    rest: mpsc::Receiver<String>,
) -> (i32, String, Vec<String>) {
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let code = interrupt_and_wait(child);
    let mut stderr = Vec::new();
    loop {
        match rest.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => stderr.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("stderr still open 30 s after the tool exited: {stderr:#?}")
            }
        }
    }
    (code, reader.join().unwrap(), stderr)
}

/// Send SIGINT and wait: the exit code only. Nothing is drained here: use it
/// only where nothing waits in the pipes (stderr read by `start_until`'s
/// thread, stdout small or read elsewhere); else [`interrupt_and_collect`].
pub fn interrupt_and_wait(child: &mut Child) -> i32 {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    status.code().unwrap_or(-1)
}

/// A copy of the LiteLLM suite whose twin target boots through a launcher
/// that the test steers with [`steer`]: variables in a file beside the
/// launcher that the target does not name, so that runs steered differently
/// share one target hash and one cell-cache key (the tool's own environment
/// would not reach the server, and a `pass_env` variable keys the cells):
/// `DIE_AFTER=N` kills the server after N requests (health probes included),
/// a server that dies mid-matrix; `HANG_PATH=/p` makes every request to `/p`
/// hang, after creating the file `HANG_FILE.<pid>`: a run stuck mid-matrix.
/// With `HANG_AFTER_BOOTS=K` only the servers booted after the first K of
/// the test (counted in `HANG_FILE.boots`) hang.
pub fn suite_with_launcher(env: &Env) -> PathBuf {
    let suite = env.suite_copy("litellm");
    std::fs::write(
        suite.join("targets/steered.py"),
        r#"import fcntl, http.server, json, os, runpy, sys, threading, time
steering = os.path.join(os.path.dirname(os.path.abspath(__file__)), "steering.json")
if os.path.exists(steering):
    with open(steering) as f:
        os.environ.update(json.load(f))
limit = int(os.environ.get("DIE_AFTER") or 0)
hang = os.environ.get("HANG_PATH")
if hang and os.environ.get("HANG_AFTER_BOOTS"):
    with open(os.environ["HANG_FILE"] + ".boots", "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.write("boot\n")
        counter.flush()
        counter.seek(0)
        boots = len(counter.readlines())
    if boots <= int(os.environ["HANG_AFTER_BOOTS"]):
        hang = None
lock, seen = threading.Lock(), [0]
handle = http.server.BaseHTTPRequestHandler.handle_one_request
def steered(self):
    if hang:
        original = self.send_response
        def send_response(code, message=None):
            if self.path.startswith(hang):
                open(os.environ["HANG_FILE"] + "." + str(os.getpid()), "w").close()
                while True:
                    time.sleep(1)
            original(code, message)
        self.send_response = send_response
    handle(self)
    with lock:
        seen[0] += 1
        if limit and seen[0] >= limit:
            os._exit(9)
http.server.BaseHTTPRequestHandler.handle_one_request = steered
sys.path.insert(0, os.getcwd())
sys.argv = ["server.py"] + sys.argv[1:]
runpy.run_path("server.py", run_name="__main__")
"#,
    )
    .unwrap();
    edit(
        &suite.join("targets/twin.toml"),
        r#"run = "{{env}}/bin/python server.py --host"#,
        r#"run = "{{env}}/bin/python {{target_dir}}/steered.py --host"#,
    );
    suite
}

/// Steer the launcher of a [`suite_with_launcher`] suite with these variables
/// from the next boot on (none: not steered).
pub fn steer(suite: &Path, vars: &[(&str, &str)]) {
    let file = suite.join("targets/steering.json");
    if vars.is_empty() {
        let _ = std::fs::remove_file(file);
        return;
    }
    let vars: serde_json::Map<String, serde_json::Value> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string().into()))
        .collect();
    std::fs::write(file, serde_json::to_vec(&vars).unwrap()).unwrap();
}

/// Wait until `count` servers hang (`HANG_FILE.<pid>` files next to `hang`).
pub fn wait_for_hanging(hang: &Path, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let name = hang.file_name().unwrap().to_string_lossy().into_owned();
    loop {
        let hanging = std::fs::read_dir(hang.parent().unwrap())
            .unwrap()
            .flatten()
            .filter(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                file.starts_with(&format!("{name}."))
                    && file[name.len() + 1..].chars().all(|c| c.is_ascii_digit())
            })
            .count();
        if hanging >= count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{hanging} of {count} servers hang"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
