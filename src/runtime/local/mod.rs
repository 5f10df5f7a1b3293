//! The local runtime: processes and an initdb'd Postgres on this machine.

pub(crate) mod listener;
pub(crate) mod postgres;
pub(crate) mod process;
pub(crate) mod sweep;

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::Signal;

use super::{
    Build, Checkout, Database, KeptTemplate, Postgres, PostgresStarted, RunContext, Runtime,
    RuntimeError, Server, ServerInfo, environment, placeholders,
};
use crate::spec::target::{CommandLine, Stage, Target};
use crate::spec::template::Vars;
use listener::Holder;
use postgres::{Binaries, Cluster};
use process::{ProcessGroup, Spec};

pub(crate) struct LocalRuntime {
    binaries: Binaries,
}

impl LocalRuntime {
    pub(crate) fn new() -> Result<Self, RuntimeError> {
        Ok(Self {
            binaries: Binaries::find()?,
        })
    }
}

struct LocalPostgres {
    cluster: Cluster,
}

#[async_trait]
impl Postgres for LocalPostgres {
    fn url(&self, database: &str) -> String {
        self.cluster.url(database)
    }

    fn server_url(&self, database: &str) -> String {
        self.cluster.server_url(database)
    }

    async fn stop(mut self: Box<Self>, keep: Option<&KeptTemplate>) {
        if let Some(keep) = keep
            && let Err(error) = self.cluster.keep(keep).await
        {
            tracing::warn!("could not keep the migrated template for later runs: {error}");
        }
        self.cluster.stop().await;
    }
}

struct LocalServer {
    group: Option<ProcessGroup>,
    /// The port it was told to listen on.
    port: u16,
    info: ServerInfo,
}

#[async_trait]
impl Server for LocalServer {
    fn info(&self) -> &ServerInfo {
        &self.info
    }

    fn exited(&mut self) -> Option<String> {
        self.group
            .as_mut()
            .and_then(|g| g.try_exit())
            .map(|status| status.to_string())
    }

    fn holder(&self) -> Holder {
        match self.group.as_ref().and_then(ProcessGroup::pid) {
            Some(group) => listener::holder(self.port, group),
            None => Holder::Nobody,
        }
    }

    async fn flush_log(&mut self) {
        if let Some(group) = self.group.as_mut() {
            group.flush_log().await;
        }
    }

    async fn stop(mut self: Box<Self>) {
        if let Some(group) = self.group.take() {
            group
                .stop(Signal::SIGTERM, false, Duration::from_secs(5))
                .await;
        }
    }
}

/// The whole environment of a target's command ([`environment::local`]):
/// nothing of the tool's own beyond its small base, with a `TMPDIR` inside the
/// run's scratch folder unless the target gives one.
fn command_env(run: &RunContext<'_>, target: &Target, vars: &Vars) -> Vec<(String, String)> {
    let tmp = run.dir.join("tmp");
    let env = environment::local(target, vars, &tmp);
    if env
        .iter()
        .any(|(key, value)| key == "TMPDIR" && Path::new(value) == tmp)
    {
        let _ = std::fs::create_dir_all(&tmp);
    }
    env
}

/// A file name for a revision's logs.
fn log_name(label: &str, stage: &str) -> String {
    let clean: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{clean}-{stage}.log")
}

impl LocalRuntime {
    /// Run commands one after the other; the first failure stops the stage.
    async fn run_stage(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        stage: Stage,
        checkout: &Checkout,
        commands: &[CommandLine],
        vars: &Vars,
    ) -> Result<(), RuntimeError> {
        let log = run.logs.join(log_name(&checkout.label, stage.as_str()));
        let env = command_env(run, target, vars);
        let workdir = target.workdir(&checkout.dir);
        if !workdir.is_dir() {
            return Err(RuntimeError::Stage {
                stage,
                revision: checkout.label.clone(),
                command: format!("cd {}", target.workdir.display()),
                status: format!(
                    "the target's workdir `{}` is not a folder in this revision",
                    target.workdir.display()
                ),
                log: log.clone(),
                tail: String::new(),
            });
        }
        for line in commands {
            let argv = line.render(vars).map_err(|e| RuntimeError::Stage {
                stage,
                revision: checkout.label.clone(),
                command: line.source.clone(),
                status: format!("cannot be filled in: {e}"),
                log: log.clone(),
                tail: String::new(),
            })?;
            let spec = Spec {
                argv,
                cwd: target.workdir(&checkout.dir),
                env: env.clone(),
                user: None,
                log: log.clone(),
                redact: Some(run.redactor.clone()),
            };
            tracing::debug!(command = %spec.display(), "{}", stage.as_str());
            let failed = |status: String| RuntimeError::Stage {
                stage,
                revision: checkout.label.clone(),
                command: spec.display(),
                status,
                log: log.clone(),
                tail: process::log_tail(&log, 20),
            };
            let mut group = match ProcessGroup::spawn(&spec, run.id) {
                Ok(group) => group,
                Err(error) => {
                    return Err(failed(format!(
                        "could not start: {}",
                        std::error::Error::source(&error)
                            .map(|s| s.to_string())
                            .unwrap_or_default()
                    )));
                }
            };
            match group.wait(run.cancel).await {
                None => {
                    group.stop(Signal::SIGKILL, false, Duration::ZERO).await;
                    return Err(RuntimeError::Interrupted);
                }
                Some(status) if !status.success() => {
                    return Err(failed(format!("exited with {status}")));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Runtime for LocalRuntime {
    async fn postgres(
        &self,
        run: &RunContext<'_>,
        preload: Option<&str>,
    ) -> Result<PostgresStarted, RuntimeError> {
        let (cluster, cached, timings) = Cluster::start(
            &self.binaries,
            run.dir,
            run.logs,
            run.cache_dir,
            run.id,
            run.db_password,
            run.cancel,
            preload.filter(|_| !run.no_cache),
        )
        .await?;
        Ok(PostgresStarted {
            preloaded: cluster.preloaded.clone(),
            postgres: Box::new(LocalPostgres { cluster }),
            cached,
            copy: timings.copy,
            start: timings.start,
        })
    }

    async fn build(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        checkout: &Checkout,
    ) -> Result<Build, RuntimeError> {
        let started = Instant::now();
        let recipe = &target.local()?.build;
        let key = super::build_key(target, super::RuntimeKind::Local, checkout)?;
        // Without the cache, the run builds into a folder of its own, still
        // shared by its revisions with the same inputs.
        let envs = if run.no_cache {
            run.dir.join("envs")
        } else {
            run.cache_dir.join("envs")
        };
        std::fs::create_dir_all(&envs).map_err(|source| RuntimeError::Io {
            context: format!("create {}", envs.display()),
            source,
        })?;
        let env_dir = envs.join(&key[..16]);
        let complete = env_dir.join(".replay-complete");

        // One builder per environment; the others wait and then reuse it.
        let lock_path = envs.join(format!("{}.lock", &key[..16]));
        let _lock = lock(&lock_path, run).await?;
        if complete.is_file() {
            return Ok(Build {
                checkout: checkout.clone(),
                env_dir,
                cache_hit: true,
                duration: started.elapsed(),
            });
        }
        let _ = std::fs::remove_dir_all(&env_dir);
        let vars = placeholders(run, target, checkout, &env_dir);
        if let Err(error) = self
            .run_stage(run, target, Stage::Build, checkout, &recipe.run, &vars)
            .await
        {
            let _ = std::fs::remove_dir_all(&env_dir);
            return Err(error);
        }
        std::fs::create_dir_all(&env_dir)
            .and_then(|_| std::fs::write(&complete, &key))
            .map_err(|source| RuntimeError::Io {
                context: format!("write {}", complete.display()),
                source,
            })?;
        Ok(Build {
            checkout: checkout.clone(),
            env_dir,
            cache_hit: false,
            duration: started.elapsed(),
        })
    }

    fn kind(&self) -> super::RuntimeKind {
        super::RuntimeKind::Local
    }

    async fn migrate(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        build: &Build,
        database: &Database,
    ) -> Result<(), RuntimeError> {
        let recipe = &target.local()?.migrate;
        let mut vars = placeholders(run, target, &build.checkout, &build.env_dir);
        vars.set("database_url", database.server_url.clone());
        self.run_stage(
            run,
            target,
            Stage::Migrate,
            &build.checkout,
            &recipe.run,
            &vars,
        )
        .await
    }

    async fn boot(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        build: &Build,
        database: &Database,
    ) -> Result<Box<dyn Server>, RuntimeError> {
        let boot = &target.local()?.boot;
        let port = listener::free_port()?;
        let mut vars = placeholders(run, target, &build.checkout, &build.env_dir);
        vars.set("database_url", database.server_url.clone());
        vars.set("host", "127.0.0.1");
        vars.set("port", port.to_string());
        let log = run.logs.join(log_name(&build.checkout.label, "boot"));
        let failed = |command: String, status: String| RuntimeError::Stage {
            stage: Stage::Boot,
            revision: build.checkout.label.clone(),
            command,
            status,
            log: log.clone(),
            tail: process::log_tail(&log, 20),
        };
        let argv = boot
            .render(&vars)
            .map_err(|e| failed(boot.source.clone(), format!("cannot be filled in: {e}")))?;
        let spec = Spec {
            argv,
            cwd: target.workdir(&build.checkout.dir),
            env: command_env(run, target, &vars),
            user: None,
            log: log.clone(),
            redact: Some(run.redactor.clone()),
        };
        let group = ProcessGroup::spawn(&spec, run.id).map_err(|e| {
            failed(
                spec.display(),
                format!(
                    "could not start: {}",
                    std::error::Error::source(&e)
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                ),
            )
        })?;
        Ok(Box::new(LocalServer {
            group: Some(group),
            port,
            info: ServerInfo {
                base_url: format!("http://127.0.0.1:{port}"),
                command: spec.display(),
                log,
            },
        }))
    }
}

/// Take an exclusive lock on `path`, waiting (cancellably) while another run holds it.
async fn lock(path: &Path, run: &RunContext<'_>) -> Result<Flock<std::fs::File>, RuntimeError> {
    lock_file(path, run.cancel).await
}

/// Take an exclusive lock on `path`, waiting (cancellably) while another process holds it.
pub(crate) async fn lock_file(
    path: &Path,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Flock<std::fs::File>, RuntimeError> {
    let io = |source| RuntimeError::Io {
        context: format!("lock {}", path.display()),
        source,
    };
    let mut file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io)?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((returned, nix::errno::Errno::EWOULDBLOCK)) => {
                file = returned;
                if cancel.is_cancelled() {
                    return Err(RuntimeError::Interrupted);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err((_, errno)) => return Err(io(errno.into())),
        }
    }
}
