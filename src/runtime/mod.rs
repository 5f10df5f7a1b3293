//! Runtimes: where a revision is built, migrated and booted, and where the
//! run's Postgres lives.
//!
//! One trait, chosen with `--runtime`: the local backend runs processes and an
//! initdb'd cluster on this machine; a Docker backend (images, a Postgres
//! container and the server container on a private network) fits the same
//! trait: it hands out different URLs to the tool and to the server, which is
//! why `Database` carries both.
//!
//! Imports `spec`, `revisions` and `support`; never `engine`, `results`, `jobs`,
//! `report` or `cli`.

pub(crate) mod docker;
pub(crate) mod environment;
pub(crate) mod local;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

pub use crate::revisions::revision::Checkout;
use crate::spec::target::{Recipe, Stage, Target, TargetError};
use crate::spec::template::Vars;
use crate::support::files::absolute;
pub(crate) use local::listener::Holder;
use local::process::SpawnError;

/// The runtime backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// Processes and a throwaway Postgres cluster on this machine.
    Local,
    /// Containers: an image per revision, a Postgres container, a private network.
    Docker,
}

impl RuntimeKind {
    /// The name records and cache keys use.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Local => "local",
            RuntimeKind::Docker => "docker",
        }
    }

    /// Fail when the target has no recipe for this runtime (of its own, or
    /// in one of its variants), or, under Docker, when a host file it names
    /// (`host_files`) is unset or no file on this machine.
    pub fn check_target(self, target: &Target) -> Result<(), TargetError> {
        self.check_recipe(target)?;
        if self == RuntimeKind::Docker {
            target.check_host_files()?;
        }
        Ok(())
    }

    /// Fail when the target has no recipe for this runtime (all that
    /// building its base images needs).
    pub fn check_recipe(self, target: &Target) -> Result<(), TargetError> {
        if target.has_recipe(self == RuntimeKind::Docker) {
            return Ok(());
        }
        self.stages(target).map(|_| ())
    }

    /// The target as it builds this checkout on this runtime: its first
    /// `[[variant]]` whose condition the checkout's files meet, else its own
    /// recipe ([`RuntimeError::NoVariant`] when it has none).
    pub(crate) fn resolve<'t>(
        self,
        target: &'t Target,
        checkout: &Checkout,
    ) -> Result<std::borrow::Cow<'t, Target>, RuntimeError> {
        let exists = |path: &str| checkout.dir.join(path).exists();
        target
            .for_revision(self == RuntimeKind::Docker, &exists)
            .map_err(|none| RuntimeError::NoVariant {
                target: none.target,
                path: none.path,
                revision: checkout.label.clone(),
                conditions: none.conditions,
            })
    }

    /// The target's build and migrate recipes on this runtime: with the
    /// target's hash, what a migrated template database is keyed by.
    pub(crate) fn stages(self, target: &Target) -> Result<Stages<'_>, TargetError> {
        match self {
            RuntimeKind::Local => target.local().map(|local| Stages {
                build: &local.build,
                migrate: &local.migrate,
            }),
            RuntimeKind::Docker => target.docker().map(|docker| Stages {
                build: &docker.build,
                migrate: &docker.migrate,
            }),
        }
    }
}

/// A target's build and migrate recipes on one runtime.
pub(crate) struct Stages<'t> {
    pub build: &'t Recipe,
    pub migrate: &'t Recipe,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("no Postgres server binaries (initdb, postgres) found")]
    PostgresMissing { searched: Vec<PathBuf> },
    #[error("running as root, and there is no user `{name}` to run initdb and postgres as")]
    NoServerUser { name: String },
    #[error("postgres failed: {action}")]
    Postgres {
        action: String,
        command: String,
        log: PathBuf,
        tail: String,
    },
    #[error("failed to {} {revision}: `{command}` {status}", stage.as_str())]
    Stage {
        stage: Stage,
        revision: String,
        command: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("failed to boot {revision}: not ready after {}s (waited for {probe}; last: {last})", waited.as_secs())]
    NotReady {
        revision: String,
        probe: String,
        /// What the probe saw last: a status, a refused connection, no row.
        last: String,
        waited: Duration,
        command: String,
        log: PathBuf,
        tail: String,
    },
    /// What answered the server's probes is another process: the port it
    /// was given was taken before it could listen (the machine, not the revision).
    #[error(
        "failed to boot {revision}: {base_url} is answered by {holder}, not by the server this run started"
    )]
    PortTaken {
        revision: String,
        base_url: String,
        holder: String,
        command: String,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot start a process")]
    Spawn(#[source] SpawnError),
    #[error("database: {context}")]
    Database {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Target(#[from] crate::spec::target::TargetError),
    #[error("no Docker engine answers at {host}: {reason}")]
    EngineUnreachable { host: String, reason: String },
    #[error("docker: failed to {action}")]
    Docker {
        action: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    #[error("failed to build the base image {image} ({packages}): {why} (its log: {})", log.display())]
    BaseImage {
        image: String,
        packages: String,
        command: String,
        why: String,
        log: PathBuf,
        tail: String,
    },
    #[error("interrupted")]
    Interrupted,
    /// A revision that meets no `[[variant]]` of a target without a recipe of
    /// its own: it cannot be built (exit 4).
    #[error("{revision} meets the condition of no [[variant]] of the target `{target}` ({}), which has no recipe of its own", path.display())]
    NoVariant {
        target: String,
        path: PathBuf,
        revision: String,
        /// Each variant's condition, in file order.
        conditions: Vec<String>,
    },
    /// A stage's input that the revision does not have (a typo, or a file
    /// some revisions lack: then it belongs in `optional_inputs`).
    #[error("{location}: {key} names `{pattern}`, which {revision} does not have")]
    MissingInput {
        location: crate::spec::source::Location,
        key: String,
        pattern: String,
        revision: String,
    },
}

/// The key of a checkout's build environment: the build commands, the
/// variables the target passes through, the files beside the target that the
/// commands name (a launcher), the programs they run from `PATH` (a new
/// Python is a new environment), and the contents of the build inputs.
pub(crate) fn build_key(
    target: &Target,
    kind: RuntimeKind,
    checkout: &Checkout,
) -> Result<String, RuntimeError> {
    let recipe = kind.stages(target)?.build;
    let mut parts: Vec<Vec<u8>> = recipe
        .run
        .iter()
        .map(|c| c.source.as_bytes().to_vec())
        .collect();
    // Each part only when there is something, so that targets without it
    // keep their keys.
    for extra in [
        target.ambient_key(),
        target.variant_key(),
        recipe.helpers.clone(),
        programs_key(&recipe.run, std::env::var_os("PATH")),
    ] {
        if !extra.is_empty() {
            parts.push(extra);
        }
    }
    stage_key(target, kind, checkout, Stage::Build, &parts)
}

/// The target's part of a revision's cell-cache key on this runtime: its
/// hash (its file, its helpers, its `pass_env` values) and, on the local
/// runtime, the programs its build commands run from `PATH` (its own recipe's
/// and its variants'): a new `python3` builds another environment
/// ([`build_key`]), and the cells measured on it are other cells. In a
/// container the programs are the image's, keyed by its contents.
pub(crate) fn cells_target_key(target: &Target, kind: RuntimeKind) -> String {
    cells_target_key_on(target, kind, std::env::var_os("PATH"))
}

fn cells_target_key_on(
    target: &Target,
    kind: RuntimeKind,
    path: Option<std::ffi::OsString>,
) -> String {
    if kind != RuntimeKind::Local {
        return target.hash.clone();
    }
    let programs = programs_key(&target.local_build_commands(), path);
    if programs.is_empty() {
        return target.hash.clone();
    }
    crate::support::cache::key(&[target.hash.as_bytes(), &programs])
}

/// The key of a stage's inputs in a checkout, over `parts`: an input the
/// checkout lacks (and that is not optional) is [`RuntimeError::MissingInput`].
pub(crate) fn stage_key(
    target: &Target,
    kind: RuntimeKind,
    checkout: &Checkout,
    stage: Stage,
    parts: &[Vec<u8>],
) -> Result<String, RuntimeError> {
    let stages = kind.stages(target)?;
    let recipe = match stage {
        Stage::Migrate => stages.migrate,
        _ => stages.build,
    };
    // A revision without the target's workdir fails at its build, saying
    // so (exit 4): its inputs are not each reported missing.
    let lacks_workdir = !target.workdir(&checkout.dir).is_dir();
    let files: Vec<(&str, bool)> = recipe
        .inputs
        .iter()
        .map(|i| (i.pattern.as_str(), i.optional || lacks_workdir))
        .collect();
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    crate::support::cache::files_key(&target.workdir(&checkout.dir), &files, &parts).map_err(
        |missing| {
            let input = recipe.inputs.iter().find(|i| i.pattern == missing.name);
            RuntimeError::MissingInput {
                location: input.map_or_else(
                    || crate::spec::source::Location::file(&target.path),
                    |i| i.location.clone(),
                ),
                key: recipe.inputs_key(stage, false),
                pattern: missing.name,
                revision: checkout.label.clone(),
            }
        },
    )
}

/// What identifies the programs the commands run from `PATH` or by absolute
/// path: the file each resolves to, its size and its modification time
/// (`{{env}}/bin/python` is made by the build and named by the build's own key).
fn programs_key(
    run: &[crate::spec::target::CommandLine],
    path: Option<std::ffi::OsString>,
) -> Vec<u8> {
    use std::os::unix::fs::MetadataExt;
    let mut key = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for command in run {
        let Some(program) = command.program() else {
            continue;
        };
        if seen.contains(&program) {
            continue;
        }
        seen.push(program);
        let found = if program.contains('/') {
            Some(PathBuf::from(program)).filter(|p| p.is_absolute())
        } else {
            path.as_ref().and_then(|path| {
                std::env::split_paths(path)
                    .map(|dir| dir.join(program))
                    .find(|p| p.is_file())
            })
        };
        let Some(found) = found else {
            // A path inside the checkout (an input of its own), or not found.
            continue;
        };
        let resolved = std::fs::canonicalize(&found).unwrap_or(found);
        let line = match std::fs::metadata(&resolved) {
            Ok(meta) => format!(
                "program {program} = {} {} {}.{}\n",
                resolved.display(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec()
            ),
            Err(_) => format!("program {program} = {}\n", resolved.display()),
        };
        key.extend(line.into_bytes());
    }
    key
}

impl RuntimeError {
    pub(crate) fn spawn(error: SpawnError) -> Self {
        Self::Spawn(error)
    }

    /// Did the revision itself fail (as opposed to this machine)?
    pub fn is_revision_failure(&self) -> bool {
        matches!(
            self,
            Self::Stage { .. } | Self::NotReady { .. } | Self::NoVariant { .. }
        )
    }

    /// The log that tells more, and its last lines.
    pub fn log(&self) -> Option<(&Path, &str, &str)> {
        match self {
            Self::Postgres {
                command, log, tail, ..
            }
            | Self::BaseImage {
                command, log, tail, ..
            }
            | Self::Stage {
                command, log, tail, ..
            }
            | Self::NotReady {
                command, log, tail, ..
            }
            | Self::PortTaken {
                command, log, tail, ..
            } => Some((log.as_path(), command.as_str(), tail.as_str())),
            _ => None,
        }
    }

    /// Pass every log excerpt and command line through `redact` (server logs
    /// may print secrets; a target may put the master key in a command).
    pub(crate) fn redacted(mut self, redact: impl Fn(&str) -> String) -> Self {
        match &mut self {
            Self::Postgres { tail, command, .. }
            | Self::Stage { tail, command, .. }
            | Self::NotReady { tail, command, .. }
            | Self::PortTaken { tail, command, .. } => {
                *tail = redact(tail);
                *command = redact(command);
            }
            _ => {}
        }
        self
    }
}

/// A built revision: its checkout and its build environment.
#[derive(Debug, Clone)]
pub(crate) struct Build {
    pub checkout: Checkout,
    pub env_dir: PathBuf,
    pub cache_hit: bool,
    pub duration: Duration,
}

/// A database of the run's Postgres, as the tool and as the server reach it.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    pub name: String,
    pub url: String,
    pub server_url: String,
}

/// The run's Postgres service.
#[async_trait]
pub(crate) trait Postgres: Send + Sync {
    /// The URL the tool connects with.
    fn url(&self, database: &str) -> String;
    /// The URL the server connects with.
    fn server_url(&self, database: &str) -> String;
    fn database(&self, name: &str) -> Database {
        Database {
            name: name.into(),
            url: self.url(name),
            server_url: self.server_url(name),
        }
    }
    /// Stop it. With `keep`, first keep a copy of the cluster that holds only
    /// that migrated (never seeded) template database, for later runs to start
    /// from; a failure to keep it is only logged.
    async fn stop(self: Box<Self>, keep: Option<&KeptTemplate>);
    /// Stop `servers` (their cells ran) and then this, at once when nothing
    /// is kept: the cluster is thrown away, so neither waits for the other.
    /// A template is kept from a cluster that no server uses any more.
    async fn stop_with(
        self: Box<Self>,
        servers: Vec<Box<dyn Server>>,
        keep: Option<&KeptTemplate>,
    ) {
        let servers = futures::future::join_all(servers.into_iter().map(|s| s.stop()));
        if keep.is_some() {
            servers.await;
            self.stop(keep).await;
        } else {
            futures::join!(servers, self.stop(None));
        }
    }
}

/// A migrated template database worth keeping across runs: its cache key
/// (everything that determines it) and its name in the cluster.
#[derive(Debug, Clone)]
pub(crate) struct KeptTemplate {
    pub key: String,
    pub database: String,
}

impl KeptTemplate {
    /// The template of `key`, named by it.
    pub(crate) fn of(key: &str) -> Self {
        Self {
            key: key.into(),
            database: format!("migrated_{}", &key[..16]),
        }
    }
}

/// The run's Postgres, just started, and what starting it took.
pub(crate) struct PostgresStarted {
    pub postgres: Box<dyn Postgres>,
    /// A cached cluster was copied (no initdb).
    pub cached: bool,
    /// Copying the cached cluster (or running initdb).
    pub copy: Duration,
    /// Starting the server until it takes connections.
    pub start: Duration,
    /// The migrated template the cluster was started with (a kept cluster).
    pub preloaded: Option<KeptTemplate>,
}

/// What a booted server is, whatever runs it: where it answers, the command
/// it runs (errors name it) and the log its output goes to.
pub(crate) struct ServerInfo {
    pub base_url: String,
    pub command: String,
    pub log: PathBuf,
}

/// A booted server.
#[async_trait]
pub(crate) trait Server: Send + Sync {
    fn info(&self) -> &ServerInfo;
    fn base_url(&self) -> &str {
        &self.info().base_url
    }
    fn command(&self) -> &str {
        &self.info().command
    }
    fn log(&self) -> &Path {
        &self.info().log
    }
    /// The last `lines` lines of its log.
    fn log_tail(&self, lines: usize) -> String {
        local::process::log_tail(&self.info().log, lines)
    }
    /// `Some(status)` once the server has exited.
    fn exited(&mut self) -> Option<String>;
    /// Who holds the port its probes reach: a server that could not listen
    /// (another process bound the port first) must never be measured through
    /// the other's answers. A port the engine publishes is the server's own.
    fn holder(&self) -> Holder {
        Holder::Itself
    }
    /// Wait until what the server printed is in its log.
    async fn flush_log(&mut self);
    async fn stop(self: Box<Self>);
}

/// Everything a runtime needs from the run that owns it.
pub(crate) struct RunContext<'a> {
    pub id: &'a str,
    /// Scratch space, removed when the run ends.
    pub dir: &'a Path,
    /// Where logs go; kept when the run fails.
    pub logs: &'a Path,
    pub cache_dir: &'a Path,
    pub master_key: &'a str,
    /// The superuser password of the run's Postgres (set by the runtime).
    pub db_password: &'a str,
    pub cancel: &'a CancellationToken,
    /// Build anew even when a cached environment exists.
    pub no_cache: bool,
    /// Keeps the run's secrets out of the logs of the commands it runs.
    pub redactor: std::sync::Arc<crate::support::redact::Redactor>,
}

/// The steps a runtime timed, finer than the engine's phases (the Docker
/// runtime's engine requests: network, containers, readiness, removal), in
/// the order they ended; concurrent steps (the two sides of a fix) each have
/// their own name. Shared by the runtime and the Postgres it started.
#[derive(Debug, Clone, Default)]
pub(crate) struct Steps(std::sync::Arc<std::sync::Mutex<Vec<(String, u128)>>>);

impl Steps {
    pub(crate) fn add(&self, name: impl Into<String>, took: Duration) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.into(), took.as_millis()));
    }

    /// Time `future` as the step `name`.
    pub(crate) async fn time<T>(
        &self,
        name: impl Into<String>,
        future: impl std::future::Future<Output = T>,
    ) -> T {
        let started = std::time::Instant::now();
        let out = future.await;
        self.add(name, started.elapsed());
        out
    }

    /// The steps so far, as a JSON object in their order.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let steps = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut map = serde_json::Map::new();
        for (name, ms) in steps.iter() {
            // A name timed twice (a retry) adds up.
            let total = map
                .get(name)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            map.insert(name.clone(), serde_json::json!(total + *ms as u64));
        }
        serde_json::Value::Object(map)
    }
}

#[async_trait]
pub(crate) trait Runtime: Send + Sync {
    /// The steps it timed (none for a runtime that times nothing finer).
    fn steps(&self) -> Steps {
        Steps::default()
    }
    /// Start the run's Postgres; from a kept cluster holding the migrated
    /// template `preload` names, when there is one.
    async fn postgres(
        &self,
        run: &RunContext<'_>,
        preload: Option<&str>,
    ) -> Result<PostgresStarted, RuntimeError>;
    /// Get a checkout ready to boot while the run's Postgres starts (called
    /// at once with [`Runtime::postgres`], for the checkouts known ahead);
    /// nothing by default. Never fails: what it could not do, the build and
    /// the boot do, and they say why.
    async fn prepare(&self, _run: &RunContext<'_>, _target: &Target, _checkout: &Checkout) {}
    /// The build environment of a checkout (shared by every checkout with the same inputs).
    async fn build(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        checkout: &Checkout,
    ) -> Result<Build, RuntimeError>;
    /// Which backend this is (its recipes key the template database).
    fn kind(&self) -> RuntimeKind;
    /// Run the target's migrate commands against `database`.
    async fn migrate(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        build: &Build,
        database: &Database,
    ) -> Result<(), RuntimeError>;
    /// Start the server against `database`; readiness is the caller's to wait for.
    async fn boot(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        build: &Build,
        database: &Database,
    ) -> Result<Box<dyn Server>, RuntimeError>;
}

/// The backend of `kind`; the Docker one connects to the engine, starts the
/// run's reaper (which also cleans up a base-image build into `cache_dir`
/// that dies with the run) and sweeps what dead runs left.
pub(crate) async fn runtime(
    kind: RuntimeKind,
    run_id: &str,
    cache_dir: &Path,
) -> Result<Box<dyn Runtime>, RuntimeError> {
    match kind {
        RuntimeKind::Local => Ok(Box::new(local::LocalRuntime::new()?)),
        RuntimeKind::Docker => Ok(Box::new(
            docker::DockerRuntime::start(run_id, cache_dir).await?,
        )),
    }
}

/// The tool's own URL for a database of the run's Postgres (on 127.0.0.1:`port`).
/// The connection library fills what a URL leaves out from the caller's `PG*`
/// variables: `sslmode=disable` keeps a `PGSSLMODE=require` (or the
/// certificates of another database) in the caller's shell from refusing the
/// run's own cluster, which speaks no TLS.
pub(crate) fn own_cluster_url(password: &str, port: u16, database: &str) -> String {
    format!("postgresql://postgres:{password}@127.0.0.1:{port}/{database}?sslmode=disable")
}

/// The placeholders of a target's commands, for a stage of a build.
pub(crate) fn placeholders(
    run: &RunContext<'_>,
    target: &Target,
    checkout: &Checkout,
    env_dir: &Path,
) -> Vars {
    let mut vars = Vars::default();
    vars.set("checkout", checkout.dir.to_string_lossy().into_owned());
    vars.set("env", env_dir.to_string_lossy().into_owned());
    vars.set(
        "target_dir",
        absolute(&target.dir).to_string_lossy().into_owned(),
    );
    vars.set("master_key", run.master_key.to_string());
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The LiteLLM target and its launcher, copied to a folder of their own.
    fn litellm_target(dir: &Path) -> Target {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("matrices/litellm/targets");
        for name in ["litellm.toml", "litellm_launcher.py"] {
            std::fs::copy(from.join(name), dir.join(name)).unwrap();
        }
        Target::load(&dir.join("litellm.toml")).unwrap()
    }

    fn checkout(dir: &Path) -> Checkout {
        std::fs::write(dir.join("pyproject.toml"), "[project]\n").unwrap();
        std::fs::create_dir_all(dir.join("litellm/proxy")).unwrap();
        std::fs::write(dir.join("litellm/proxy/schema.prisma"), "").unwrap();
        Checkout {
            dir: dir.to_path_buf(),
            label: "working tree".into(),
        }
    }

    #[test]
    fn host_files_are_checked_under_docker_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut target = litellm_target(dir.path());
        // Every passed variable unset, the engines' host files among them.
        for (_, value) in target.pass_env.iter_mut() {
            *value = None;
        }
        assert!(RuntimeKind::Local.check_target(&target).is_ok());
        assert!(matches!(
            RuntimeKind::Docker.check_target(&target),
            Err(TargetError::HostFile { .. })
        ));
    }

    #[test]
    fn the_build_key_covers_the_launcher_beside_the_target() {
        let target_dir = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        let checkout = checkout(repo.path());
        let before = build_key(
            &litellm_target(target_dir.path()),
            RuntimeKind::Local,
            &checkout,
        )
        .unwrap();
        // An edited launcher (another prisma pinned) is another environment.
        let launcher = target_dir.path().join("litellm_launcher.py");
        let text = std::fs::read_to_string(&launcher).unwrap();
        std::fs::write(&launcher, format!("{text}\n# prisma==0.15.0\n")).unwrap();
        let target = Target::load(&target_dir.path().join("litellm.toml")).unwrap();
        assert_ne!(
            before,
            build_key(&target, RuntimeKind::Local, &checkout).unwrap()
        );
    }

    #[test]
    fn the_build_key_covers_the_programs_the_build_runs() {
        let target_dir = tempfile::tempdir().unwrap();
        let target = litellm_target(target_dir.path());
        let run = &target.local().unwrap().build.run;
        assert_eq!(run[0].program(), Some("python3"));
        let bin = tempfile::tempdir().unwrap();
        let python = bin.path().join("python3");
        std::fs::write(&python, "#!/bin/sh\nexec /usr/bin/python3 \"$@\"\n").unwrap();
        let path = Some(bin.path().as_os_str().to_owned());
        let one = programs_key(run, path.clone());
        assert!(
            String::from_utf8_lossy(&one).contains(&python.display().to_string()),
            "{}",
            String::from_utf8_lossy(&one)
        );
        assert_eq!(one, programs_key(run, path.clone()));
        // Another python3 first on PATH, or the same one replaced (upgraded).
        assert_ne!(one, programs_key(run, std::env::var_os("PATH")));
        std::fs::write(&python, "#!/bin/sh\nexec /usr/bin/python3.99 \"$@\"\n").unwrap();
        assert_ne!(one, programs_key(run, path));
    }

    #[test]
    fn the_cells_of_a_local_run_are_keyed_by_the_programs_its_build_runs() {
        let target_dir = tempfile::tempdir().unwrap();
        let target = litellm_target(target_dir.path());
        let bin = tempfile::tempdir().unwrap();
        std::fs::write(bin.path().join("python3"), "#!/bin/sh\n").unwrap();
        let here = Some(bin.path().as_os_str().to_owned());
        let local = cells_target_key_on(&target, RuntimeKind::Local, here.clone());
        assert_eq!(
            local,
            cells_target_key_on(&target, RuntimeKind::Local, here.clone())
        );
        assert_ne!(local, target.hash);
        // Another python3 first on PATH: other cells.
        assert_ne!(
            local,
            cells_target_key_on(&target, RuntimeKind::Local, std::env::var_os("PATH"))
        );
        // In a container the programs are the image's.
        assert_eq!(
            cells_target_key_on(&target, RuntimeKind::Docker, here),
            target.hash
        );
    }
}
