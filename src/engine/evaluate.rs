//! Evaluate revisions: build, migrate and seed a template database, clone it,
//! boot, make the world, run the cells, tear down.
//!
//! One engine per run. It owns the run's Postgres; every revision it evaluates
//! gets its own database cloned from a template that is migrated and seeded
//! once per schema, so revisions with the same schema share that work.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{Mutex, OnceCell};

use crate::engine::run::Run;
use crate::engine::runner::{self, Matrix};
use crate::engine::world::{WorldError, WorldState, database_message};
use crate::results::outcome::CellOutcome;
use crate::runtime::{
    Build, Checkout, Database, Holder, KeptTemplate, Postgres, RunContext, Runtime, RuntimeError,
    RuntimeKind, Server,
};
use crate::spec::target::{Ready, Stage, Target};
use crate::suite::{Cell, Suite};
use crate::support::progress::Progress;

/// How many times a server is booted when another process holds the port
/// it was given (each time on another port) before the run gives up.
const BOOT_ATTEMPTS: u32 = 3;

/// How long each phase of one revision took.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub build_ms: u128,
    pub migrate_ms: u128,
    pub seed_ms: u128,
    pub boot_ms: u128,
    pub matrix_ms: u128,
    /// Cloning the revision's database from its template.
    pub clone_ms: u128,
    /// The world's API steps and logins on the booted server.
    pub world_ms: u128,
    /// Stopping the server (0 when it is stopped with Postgres, at the
    /// run's end: see [`Use`]).
    pub stop_ms: u128,
}

/// How a run uses its engine; what it can skip follows from that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// Revisions after revisions (bisect, mutate): each server is stopped as
    /// soon as its cells ran, each revision gets a copy of its template.
    Many,
    /// Each revision once, then the engine stops (a fix: two sides): the
    /// servers are stopped together with Postgres, at once.
    Once,
    /// One revision, then the engine stops (a check): [`Use::Once`], and the
    /// revision's database is its seeded template itself (made for this run
    /// in the run's own cluster, used by nothing else), not a copy of it.
    Single,
}

/// Which caches a revision hit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CacheHits {
    pub build: bool,
    pub template: bool,
}

/// The outcome of every planned cell at one revision.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub label: String,
    pub outcomes: Vec<Option<CellOutcome>>,
    pub timings: Timings,
    pub caches: CacheHits,
    pub interrupted: bool,
    /// The target's `[[variant]]` this revision was built with; `None` for
    /// the target's own recipe.
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Revision(#[from] crate::revisions::revision::RevisionError),
    #[error("failed to make the world on {revision}")]
    World {
        revision: String,
        #[source]
        source: WorldError,
    },
    /// SQL of the suite that the migrated schema refuses (found before any boot).
    #[error("the suite's SQL does not fit the schema of {revision} ({} refused)", crate::support::words::count(problems.len(), "statement"))]
    Sql {
        revision: String,
        problems: Vec<crate::spec::source::Problem>,
    },
}

impl EngineError {
    pub fn is_revision_failure(&self) -> bool {
        match self {
            EngineError::Runtime(error) => error.is_revision_failure(),
            EngineError::World { .. } => true,
            EngineError::Revision(_) | EngineError::Sql { .. } => false,
        }
    }
}

/// A template database, made once per schema.
type Templates = Mutex<HashMap<String, Arc<OnceCell<(String, Duration, Duration)>>>>;

pub(crate) struct Engine<'a> {
    run: &'a Run,
    suite: &'a Suite,
    target: &'a Target,
    runtime: Box<dyn Runtime>,
    postgres: Option<Box<dyn Postgres>>,
    pub cluster_cached: bool,
    /// Copying the cached cluster (or initdb), then starting Postgres.
    pub cluster_copy: Duration,
    pub postgres_start: Duration,
    pub world: WorldState,
    client: reqwest::Client,
    templates: Templates,
    /// The migrated template the cluster came with (kept by an earlier run).
    preloaded: Option<KeptTemplate>,
    /// A template migrated in this run, to keep for later runs.
    kept: std::sync::Mutex<Option<KeptTemplate>>,
    databases: AtomicUsize,
    progress: &'a Progress,
    redactor: Arc<crate::support::redact::Redactor>,
    usage: Use,
    /// Servers whose cells ran, stopped with Postgres by [`Engine::stop`]
    /// (not [`Use::Many`]).
    finished: std::sync::Mutex<Vec<Box<dyn Server>>>,
}

/// How long [`Engine::stop`] took: the servers it stopped and Postgres, at once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stopped {
    pub total: Duration,
    /// The steps the runtime timed over the whole run ([`Runtime::steps`]).
    pub steps: serde_json::Value,
}

impl<'a> Engine<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start(
        run: &'a Run,
        suite: &'a Suite,
        target: &'a Target,
        runtime: Box<dyn Runtime>,
        progress: &'a Progress,
        preload: Option<&Checkout>,
        ahead: &[Checkout],
        usage: Use,
    ) -> Result<Self, EngineError> {
        let mut world = WorldState::new(suite, &run.prefix, &run.master_key).map_err(|source| {
            EngineError::World {
                revision: "the world".into(),
                source,
            }
        })?;
        world.redactor.know(&run.db_password, "db_password");
        let started = Instant::now();
        let redactor = Arc::new(world.redactor.clone());
        let preload = match preload {
            // A checkout no variant fits preloads nothing; evaluating it says why.
            Some(checkout) => match runtime.kind().resolve(target, checkout) {
                Ok(resolved) => Some(migrate_key(&resolved, runtime.kind(), checkout)?),
                Err(_) => None,
            },
            None => None,
        };
        // The checkouts known ahead get ready (their images, their server
        // containers) while Postgres starts.
        let run_context = context(run, &redactor);
        let prepares = ahead.iter().map(|checkout| {
            let (runtime, run_context) = (&runtime, &run_context);
            async move {
                if let Ok(resolved) = runtime.kind().resolve(target, checkout) {
                    runtime.prepare(run_context, &resolved, checkout).await;
                }
            }
        });
        let (started_postgres, _) = futures::join!(
            runtime.postgres(&run_context, preload.as_deref()),
            futures::future::join_all(prepares)
        );
        let started_postgres = started_postgres?;
        let cluster_cached = started_postgres.cached;
        progress.phase(
            "postgres",
            &format!(
                "started{}",
                if cluster_cached {
                    " (cached cluster)"
                } else {
                    ""
                }
            ),
            started.elapsed(),
        );
        // The servers it talks to are the run's own, on 127.0.0.1: never
        // through a proxy of the caller's environment (HTTP_PROXY, ALL_PROXY),
        // which could answer, rewrite or refuse the matrix's requests.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .map_err(|e| RuntimeError::Io {
                context: format!("http client: {e}"),
                source: std::io::Error::other("reqwest"),
            })?;
        Ok(Self {
            run,
            suite,
            target,
            runtime,
            postgres: Some(started_postgres.postgres),
            cluster_cached,
            cluster_copy: started_postgres.copy,
            postgres_start: started_postgres.start,
            world,
            client,
            templates: Mutex::new(HashMap::new()),
            preloaded: started_postgres.preloaded,
            kept: std::sync::Mutex::new(None),
            databases: AtomicUsize::new(0),
            progress,
            redactor,
            usage,
            finished: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn postgres(&self) -> &dyn Postgres {
        self.postgres.as_deref().expect("the engine is running")
    }

    /// Build, migrate, boot and run `cells` at one checkout.
    pub(crate) async fn evaluate(
        &self,
        checkout: &Checkout,
        cells: &[Cell],
        jobs: usize,
    ) -> Result<Evaluation, EngineError> {
        self.evaluate_until(checkout, cells, jobs, None).await
    }

    /// [`Engine::evaluate`], starting no more cells once `stop` says so (the
    /// cells that did not run are `None`; the evaluation is not interrupted).
    /// With a `stop` it is a probe of many (a mutant): its database is dropped
    /// afterwards, so a run of hundreds of them does not fill the disk.
    pub(crate) async fn evaluate_until(
        &self,
        checkout: &Checkout,
        cells: &[Cell],
        jobs: usize,
        stop: Option<runner::Stop<'_>>,
    ) -> Result<Evaluation, EngineError> {
        let run = context(self.run, &self.redactor);
        let redact = |e: RuntimeError| e.redacted(|t| self.world.redactor.apply(t));
        let mut timings = Timings::default();
        let tracker = self.progress.revision(&checkout.label);
        let target = self.runtime.kind().resolve(self.target, checkout)?;
        let target: &Target = &target;
        if let Some(variant) = &target.variant {
            self.progress
                .line(&format!("{}: variant `{variant}`", checkout.label));
        }
        tracker.stage("build");
        let build = self
            .runtime
            .build(&run, target, checkout)
            .await
            .map_err(redact)?;
        timings.build_ms = build.duration.as_millis();
        self.progress.phase(
            "build",
            &format!(
                "{}{}",
                checkout.label,
                if build.cache_hit {
                    ": environment cached"
                } else {
                    ""
                }
            ),
            build.duration,
        );

        tracker.stage("migrate and seed");
        let (template, migrate, seed, template_hit) = self.template(&run, target, &build).await?;
        timings.migrate_ms = migrate.as_millis();
        timings.seed_ms = seed.as_millis();
        let cloning = Instant::now();
        let database = self.revision_database(template).await?;
        timings.clone_ms = cloning.elapsed().as_millis();

        self.progress.line(&format!("booting {}", checkout.label));
        tracker.stage("boot");
        let started = Instant::now();
        let mut server = self
            .runtime
            .boot(&run, target, &build, &database)
            .await
            .map_err(redact)?;
        let result = async {
            let mut attempt = 1;
            while let Err(error) = wait_ready(
                server.as_mut(),
                &target.ready,
                &self.client,
                &database,
                &checkout.label,
                self.run,
            )
            .await
            {
                let RuntimeError::PortTaken { holder, base_url, .. } = &error else {
                    return Err(redact(error).into());
                };
                if attempt == BOOT_ATTEMPTS {
                    return Err(redact(error).into());
                }
                attempt += 1;
                self.progress.line(&format!(
                    "boot     {}: {base_url} is answered by {holder}; booting again on another port",
                    checkout.label
                ));
                let again = self
                    .runtime
                    .boot(&run, target, &build, &database)
                    .await
                    .map_err(redact)?;
                std::mem::replace(&mut server, again).stop().await;
            }
            timings.boot_ms = started.elapsed().as_millis();
            self.progress.phase(
                "boot",
                &format!("{} ready at {}", checkout.label, server.base_url()),
                started.elapsed(),
            );
            maybe_fault("after-boot");

            let making_world = Instant::now();
            let world = self
                .world
                .on_server(self.suite, &self.client, server.base_url())
                .await
                .map_err(|source| EngineError::World {
                    revision: checkout.label.clone(),
                    source,
                })?;
            timings.world_ms = making_world.elapsed().as_millis();
            let pool = PgPoolOptions::new()
                .max_connections(jobs.clamp(1, 16) as u32)
                .connect(&database.url)
                .await
                .map_err(|source| RuntimeError::Database {
                    context: format!("connect to {}", database.name),
                    source,
                })?;
            self.progress.line(&format!(
                "running {} on {}",
                crate::support::words::count(cells.len(), "cell"),
                checkout.label
            ));
            let started = Instant::now();
            let done = AtomicUsize::new(0);
            tracker.cells(cells.len());
            let on_cell = || {
                done.fetch_add(1, Ordering::Relaxed);
                tracker.cell_done();
            };
            let matrix = Matrix {
                suite: self.suite,
                world: &world,
                client: &self.client,
                base_url: server.base_url(),
                pool: &pool,
            };
            let outcomes =
                runner::run_until(&matrix, cells, jobs, &self.run.cancel, &on_cell, stop).await;
            pool.close().await;
            timings.matrix_ms = started.elapsed().as_millis();
            let finished = done.load(Ordering::Relaxed);
            self.progress.phase(
                "matrix",
                &format!(
                    "{finished} of {} on {}",
                    crate::support::words::count(cells.len(), "cell"),
                    checkout.label
                ),
                started.elapsed(),
            );
            Ok::<_, EngineError>(outcomes)
        }
        .await;
        if self.usage == Use::Many {
            let stopping = Instant::now();
            server.stop().await;
            timings.stop_ms = stopping.elapsed().as_millis();
        } else {
            // Stopped with Postgres, at once, by `stop` (the engine's owner
            // calls it next; a panic drops the server, which kills it).
            self.finished
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(server);
        }
        if stop.is_some()
            && let Err(error) = self
                .admin(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    database.name
                ))
                .await
        {
            tracing::debug!("cannot drop {}: {error}", database.name);
        }
        let outcomes = result?;
        Ok(Evaluation {
            label: checkout.label.clone(),
            interrupted: outcomes.iter().any(Option::is_none) && self.run.cancel.is_cancelled(),
            outcomes,
            timings,
            caches: CacheHits {
                build: build.cache_hit,
                template: template_hit,
            },
            variant: target.variant.clone(),
        })
    }

    /// The template database for this build's schema: migrated and seeded once.
    async fn template(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        build: &Build,
    ) -> Result<(Database, Duration, Duration, bool), EngineError> {
        // The migrated database is the same for every run with the same
        // migrate key; the seeded one also depends on the suite's world.
        let migrated_key = migrate_key(target, self.runtime.kind(), &build.checkout)?;
        let key =
            crate::support::cache::key(&[migrated_key.as_bytes(), self.suite.hash.as_bytes()]);
        let cell = self
            .templates
            .lock()
            .await
            .entry(key.clone())
            .or_default()
            .clone();
        let mut made_here = false;
        let mut seeded_here = false;
        let (name, migrate, seed) = cell
            .get_or_try_init(|| async {
                seeded_here = true;
                let kept = self
                    .preloaded
                    .as_ref()
                    .filter(|kept| kept.key == migrated_key);
                let (name, migrate) = if let Some(kept) = kept {
                    // The run's own copy of the kept cluster: seed straight into it.
                    self.progress.phase(
                        "migrate",
                        &format!("{}: template kept by an earlier run", build.checkout.label),
                        Duration::ZERO,
                    );
                    (kept.database.clone(), Duration::ZERO)
                } else {
                    made_here = true;
                    let migrated = KeptTemplate::of(&migrated_key);
                    let database = self.postgres().database(&migrated.database);
                    self.admin(&format!("CREATE DATABASE \"{}\"", migrated.database))
                        .await?;
                    let started = Instant::now();
                    self.runtime
                        .migrate(run, target, build, &database)
                        .await
                        .map_err(|e| e.redacted(|t| self.world.redactor.apply(t)))?;
                    let migrate = started.elapsed();
                    self.progress.phase(
                        "migrate",
                        &format!("{}: template database", build.checkout.label),
                        migrate,
                    );
                    let name = format!("template_{}", &key[..16]);
                    self.admin(&format!(
                        "CREATE DATABASE \"{name}\" TEMPLATE \"{}\" STRATEGY FILE_COPY",
                        migrated.database
                    ))
                    .await?;
                    // REPLAY_KEEP_TEMPLATES=0: keep nothing (the benchmark's
                    // manual baseline migrates on every run, as a person would).
                    let keep = std::env::var("REPLAY_KEEP_TEMPLATES").map_or(true, |v| v != "0");
                    if !self.run.no_cache && keep {
                        let mut kept = self.kept.lock().expect("not poisoned");
                        kept.get_or_insert(migrated);
                    }
                    (name, migrate)
                };
                let database = self.postgres().database(&name);
                let started = Instant::now();
                self.world
                    .seed(self.suite, &database.url)
                    .await
                    .map_err(|source| EngineError::World {
                        revision: build.checkout.label.clone(),
                        source,
                    })?;
                let seed = started.elapsed();
                self.progress.phase(
                    "seed",
                    &format!("{} actors", self.suite.world.actors.len()),
                    seed,
                );
                // Before any boot: the suite's SQL against this schema.
                let problems = crate::engine::prepare::prepare_sql(
                    self.suite,
                    &database.url,
                    &build.checkout.label,
                )
                .await
                .map_err(|source| RuntimeError::Database {
                    context: format!("prepare the suite's SQL on {name}"),
                    source,
                })?;
                if !problems.is_empty() {
                    return Err(EngineError::Sql {
                        revision: build.checkout.label.clone(),
                        problems,
                    });
                }
                Ok::<_, EngineError>((name, migrate, seed))
            })
            .await?
            .clone();
        let hit = !made_here;
        let (migrate, seed) = if !seeded_here {
            (Duration::ZERO, Duration::ZERO)
        } else {
            (migrate, seed)
        };
        Ok((self.postgres().database(&name), migrate, seed, hit))
    }

    /// A fresh database for one revision: a copy of its template, or with
    /// [`Use::Single`] the template itself (seeded in this run, used by no one
    /// else: the copy would be the same rows, and one more database to write).
    async fn revision_database(&self, template: Database) -> Result<Database, EngineError> {
        let number = self.databases.fetch_add(1, Ordering::SeqCst) + 1;
        if self.usage == Use::Single && number == 1 {
            return Ok(template);
        }
        let name = format!("revision_{number}");
        let started = Instant::now();
        self.admin(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{}\" STRATEGY FILE_COPY",
            template.name
        ))
        .await?;
        tracing::debug!(database = %name, ms = started.elapsed().as_millis() as u64, "cloned the template");
        Ok(self.postgres().database(&name))
    }

    async fn admin(&self, sql: &str) -> Result<(), EngineError> {
        let url = self.postgres().url("postgres");
        let database = |source| RuntimeError::Database {
            context: sql.to_string(),
            source,
        };
        let mut connection = sqlx::PgConnection::connect(&url).await.map_err(database)?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut connection)
            .await
            .map_err(database)?;
        connection.close().await.ok();
        Ok(())
    }

    /// Stop the servers whose stop waited for this and the run's Postgres
    /// (removing its data), at once; how long that took. A template migrated
    /// in this run is kept for later runs first (not when the run was
    /// interrupted).
    pub(crate) async fn stop(mut self) -> Stopped {
        let started = Instant::now();
        let keep = match self.run.cancel.is_cancelled() {
            true => None,
            false => self.kept.lock().expect("not poisoned").take(),
        };
        let servers = std::mem::take(&mut *self.finished.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(postgres) = self.postgres.take() {
            postgres.stop_with(servers, keep.as_ref()).await;
        }
        Stopped {
            total: started.elapsed(),
            steps: self.runtime.steps().to_json(),
        }
    }
}

/// The key of a revision's migrated (not yet seeded) template database,
/// across runs: the target (its file and helpers, which hold the migrate
/// commands and the environment), the build environment's inputs, and the
/// files the migrate stage names as its inputs. The Postgres version keys
/// the cluster the template is kept in.
pub(crate) fn migrate_key(
    target: &Target,
    kind: RuntimeKind,
    checkout: &Checkout,
) -> Result<String, RuntimeError> {
    let stages = kind.stages(target)?;
    let build = crate::runtime::build_key(target, kind, checkout)?;
    let mut parts: Vec<Vec<u8>> = vec![
        b"migrate".to_vec(),
        target.hash.as_bytes().to_vec(),
        build.into_bytes(),
    ];
    if kind != RuntimeKind::Local {
        parts.push(kind.name().as_bytes().to_vec());
    }
    parts.extend(
        stages
            .migrate
            .run
            .iter()
            .map(|c| c.source.as_bytes().to_vec()),
    );
    crate::runtime::stage_key(target, kind, checkout, Stage::Migrate, &parts)
}

pub(crate) fn context<'a>(
    run: &'a Run,
    redactor: &Arc<crate::support::redact::Redactor>,
) -> RunContext<'a> {
    RunContext {
        redactor: redactor.clone(),
        id: &run.id,
        dir: run.scratch.path(),
        logs: run.logs.path(),
        cache_dir: &run.cache_dir,
        master_key: &run.master_key,
        db_password: &run.db_password,
        cancel: &run.cancel,
        no_cache: run.no_cache,
    }
}

/// Wait until the server answers its readiness probes, or fail with its log.
async fn wait_ready(
    server: &mut dyn Server,
    ready: &Ready,
    client: &reqwest::Client,
    database: &Database,
    label: &str,
    run: &Run,
) -> Result<(), RuntimeError> {
    let deadline = Instant::now() + ready.timeout;
    let probe = match (&ready.http, &ready.sql) {
        (Some(path), Some(_)) => format!("GET {path} and the ready SQL"),
        (Some(path), None) => format!("GET {path}"),
        (None, Some(_)) => "the ready SQL".into(),
        (None, None) => "the port".into(),
    };
    let failed = |server: &dyn Server, status: String| RuntimeError::Stage {
        stage: Stage::Boot,
        revision: label.into(),
        command: server.command().into(),
        status,
        log: server.log().to_path_buf(),
        tail: server.log_tail(20),
    };
    let port_taken = |server: &dyn Server, holder: String| RuntimeError::PortTaken {
        revision: label.into(),
        base_url: server.base_url().into(),
        holder,
        command: server.command().into(),
        log: server.log().to_path_buf(),
        tail: server.log_tail(20),
    };
    // What the probe saw last, for the error when the deadline passes.
    let mut last = "nothing answered yet".to_string();
    loop {
        if run.cancel.is_cancelled() {
            return Err(RuntimeError::Interrupted);
        }
        if let Some(status) = server.exited() {
            server.flush_log().await;
            // It could not listen because another process holds its port:
            // the machine's doing, not the revision's.
            if let Holder::Other(holder) = server.holder() {
                return Err(port_taken(server, holder));
            }
            return Err(failed(
                server,
                format!("exited ({status}) before it was ready"),
            ));
        }
        let http_ok = match &ready.http {
            Some(path) => match client
                .get(format!("{}{path}", server.base_url()))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => true,
                Ok(response) => {
                    last = format!("GET {path} answered {}", response.status());
                    false
                }
                Err(error) => {
                    last = format!("GET {path}: {}", http_failure(&error));
                    false
                }
            },
            None => {
                let connected =
                    tokio::net::TcpStream::connect(server.base_url().trim_start_matches("http://"))
                        .await;
                if let Err(error) = &connected {
                    last = format!("the port: {error}");
                }
                connected.is_ok()
            }
        };
        let sql_ok = match (&ready.sql, http_ok) {
            (Some(sql), true) => match sql_probe(&database.url, sql).await {
                Ok(true) => true,
                Ok(false) => {
                    last = "the ready SQL returned no row".into();
                    false
                }
                Err(message) => {
                    last = format!("the ready SQL: {message}");
                    false
                }
            },
            (_, ok) => ok,
        };
        if sql_ok {
            match server.holder() {
                Holder::Itself => return Ok(()),
                Holder::Other(holder) => return Err(port_taken(server, holder)),
                // What answered has let go of the port; the server may take it yet.
                Holder::Nobody => last = "what answered no longer listens on the port".into(),
            }
        }
        if Instant::now() > deadline {
            return Err(RuntimeError::NotReady {
                revision: label.into(),
                probe,
                last,
                waited: ready.timeout,
                command: server.command().into(),
                log: server.log().to_path_buf(),
                tail: server.log_tail(20),
            });
        }
        // A refused connection is cheap; every wait here is boot time.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether the ready SQL returns a row; `Err` with Postgres's message.
async fn sql_probe(url: &str, sql: &str) -> Result<bool, String> {
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| database_message(&e))?;
    let found = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_optional(&mut connection)
        .await
        .map(|row| row.is_some())
        .map_err(|e| {
            tracing::debug!("ready sql: {}", database_message(&e));
            database_message(&e)
        });
    connection.close().await.ok();
    found
}

/// Why a probe's request got no answer, in a few words.
fn http_failure(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "no answer within 2s"
    } else if error.is_connect() {
        "the connection was refused (nothing listens on the port yet)"
    } else {
        "the request failed"
    }
}

/// A test hook: `REPLAY_FAULT=<point>` panics at that point, to prove that a
/// panicking run still leaves nothing behind.
pub(crate) fn maybe_fault(point: &str) {
    if std::env::var("REPLAY_FAULT").is_ok_and(|f| f == format!("panic-{point}")) {
        panic!("REPLAY_FAULT: panic {point}");
    }
}
