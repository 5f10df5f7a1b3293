//! `replay check`: boot one revision, run the suite, compare with the pins.
//!
//! Or, with `--url`, run the suite against a server the user started: nothing
//! is built or booted, the world and every scratch write carry the run's
//! prefix, and the rows holding it are deleted at the end, however it ends.

use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

use crate::engine::run::{AttachCleanup, CleanupDelete, Run};
use crate::engine::runner::{self, Matrix};
use crate::engine::world::{WorldState, database_message};
use crate::engine::{Engine, EngineError, Use};
use crate::jobs::error::Error;
use crate::results::outcome::{CellOutcome, Verdict};
use crate::results::{
    CheckCaches, CheckReport, CheckTimings, FORMAT_VERSION, RevisionInfo, ScenarioInfo, SuiteInfo,
    TargetInfo, compare,
};
use crate::revisions::revision;
use crate::runtime::{Checkout, runtime};
use crate::spec::target::Target;
use crate::spec::template::Vars;
use crate::suite::{Cell, CellFilter, CellId, CleanupFilter, Pin, Suite};
use crate::support::progress::Progress;

/// Everything `replay check` was asked to do.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub run: crate::engine::run::RunOptions,
    pub target: Option<String>,
    pub rev: Option<String>,
    pub cells: CellFilter,
    pub url: Option<String>,
    pub database_url: Option<String>,
    pub master_key: Option<String>,
}

/// What was checked, and how it went.
pub struct Checked {
    pub suite: Suite,
    pub cells: Vec<Cell>,
    pub outcomes: Vec<Option<CellOutcome>>,
    pub report: CheckReport,
}

/// The planned cells: all of them, or those the filter selects (exit 2
/// naming the filter when it selects none).
pub fn plan_cells(suite: &Suite, filter: &CellFilter) -> Result<Vec<Cell>, Error> {
    filter
        .select(suite)
        .map_err(|error| Error::usage(error.to_string(), Some(error.hint())))
}

pub async fn check(options: &CheckOptions, cancel: CancellationToken) -> Result<Checked, Error> {
    let now = Instant::now();
    // The timings count from the process's start when this is its first job.
    let started = crate::support::clock::take_process_start()
        .filter(|s| *s <= now)
        .unwrap_or(now);
    let mut phases = Phases::new(started);
    phases.lap("startup");
    // Plan: everything that can be wrong with the input is found here, before
    // anything starts.
    let suite = crate::suite::load(&options.run.suite)?;
    let cells = plan_cells(&suite, &options.cells)?;
    let progress = Progress::new(options.run.quiet);
    if let Some(url) = &options.url {
        let database_url = options.database_url.as_ref().ok_or_else(|| Error::usage("--url needs --database-url", Some("the world is seeded into the server's database: pass --database-url postgresql://...".to_string())))?;
        return check_url(options, suite, cells, url, database_url, cancel, &progress).await;
    }
    let target_name = options.target.as_deref().ok_or_else(|| Error::usage("no target", Some("pass --target NAME (a file under the suite's targets/ folder), or --url for a server you started".to_string())))?;
    let target = Target::find(&options.run.suite, target_name)?;
    options.run.runtime.check_target(&target)?;
    let (checkout_source, commit) = match &options.rev {
        None => (
            Source::WorkingTree(revision::working_tree(&options.run.repo)?),
            None,
        ),
        Some(rev) => {
            let repo = revision::open(&options.run.repo)?;
            let commit = revision::resolve(&repo, rev)?;
            (Source::Commit(repo, commit.clone()), Some(commit))
        }
    };
    phases.lap("load");

    let run = super::start_run(&options.run, cancel, &progress)?;
    let runtime = match runtime(options.run.runtime, &run.id, &run.cache_dir).await {
        Ok(runtime) => runtime,
        Err(error) => return Err(fail(run, error.into())),
    };
    phases.lap("run_dirs");
    progress.line(&format!(
        "run {} · suite {} ({}) · target {} · {} runtime",
        run.id,
        suite.name,
        crate::support::words::count(cells.len(), "cell"),
        target.name,
        options.runtime_name()
    ));
    let checkout = match checkout_source {
        Source::WorkingTree(checkout) => checkout,
        Source::Commit(repo, commit) => revision::materialise(
            &repo,
            commit.tree,
            &run.scratch.path().join("checkouts").join(commit.short()),
            &commit.short(),
        )?,
    };
    phases.lap("materialise");
    let postgres_started = Instant::now();
    let engine = Engine::start(
        &run,
        &suite,
        &target,
        runtime,
        &progress,
        Some(&checkout),
        std::slice::from_ref(&checkout),
        Use::Single,
    )
    .await;
    let engine = match engine {
        Ok(engine) => engine,
        Err(error) => return Err(fail(run, error.into())),
    };
    let postgres_ms = postgres_started.elapsed().as_millis();
    phases.add("cluster_copy", engine.cluster_copy.as_millis());
    phases.add("postgres_start", engine.postgres_start.as_millis());
    phases.lap_rest();
    let evaluation = engine.evaluate(&checkout, &cells, options.run.jobs).await;
    let cluster_cached = engine.cluster_cached;
    let stopped = engine.stop().await;
    if let Ok(evaluation) = &evaluation {
        let t = &evaluation.timings;
        for (name, ms) in [
            ("build", t.build_ms),
            ("migrate", t.migrate_ms),
            ("seed", t.seed_ms),
            ("clone", t.clone_ms),
            ("boot", t.boot_ms),
            ("world", t.world_ms),
            ("matrix", t.matrix_ms),
        ] {
            phases.add(name, ms);
        }
    }
    // The server and Postgres, stopped at once.
    phases.add("stop", stopped.total.as_millis());
    phases.lap_rest();
    let evaluation = match evaluation {
        Ok(evaluation) => evaluation,
        Err(EngineError::Runtime(crate::runtime::RuntimeError::Interrupted)) => {
            return Err(fail(run, Error::Interrupted));
        }
        Err(error) => return Err(fail(run, error.into())),
    };

    let (reports, summary) = compare(&cells, &evaluation.outcomes);
    let t = &evaluation.timings;
    let failed = !summary.all_green();
    let mut run = run;
    if failed {
        run.logs.keep();
    }
    // The run's folders go now, inside the timed run.
    drop(run);
    phases.lap("run_dirs_remove");
    let total_ms = started.elapsed().as_millis();
    let phases = phases.finish(total_ms);
    let report = CheckReport {
        format_version: FORMAT_VERSION,
        kind: "check".into(),
        suite: SuiteInfo::of(&suite),
        target: Some(TargetInfo::of(&target)),
        runtime: options.runtime_name().into(),
        revision: RevisionInfo {
            label: checkout.label.clone(),
            commit: commit.as_ref().map(|c| c.id.to_string()),
            tag: commit.as_ref().and_then(|c| c.tag.clone()),
            subject: commit.map(|c| c.subject),
            variant: evaluation.variant.clone(),
        },
        scenarios: ScenarioInfo::of(&suite),
        summary,
        interrupted: evaluation.interrupted,
        cells: reports,
        left_out: crate::results::check::left_out(&suite, &cells),
        caches: CheckCaches {
            cluster: cluster_cached,
            build: evaluation.caches.build,
            template: evaluation.caches.template,
        },
        timings: CheckTimings {
            total_ms,
            postgres_ms,
            build_ms: t.build_ms,
            migrate_ms: t.migrate_ms,
            seed_ms: t.seed_ms,
            boot_ms: t.boot_ms,
            matrix_ms: t.matrix_ms,
            overhead_ms: total_ms.saturating_sub(t.build_ms + t.boot_ms + t.matrix_ms),
            cells_per_second: cells_per_second(cells.len(), t.matrix_ms),
            phases,
        },
    };
    Ok(Checked {
        suite,
        cells,
        outcomes: evaluation.outcomes,
        report,
    })
}

/// The named phases of a run, in order, each timed; `other` is what the
/// wall clock saw that none of them holds (the gaps between them).
struct Phases {
    /// When the last lapped phase ended.
    mark: Instant,
    /// The parts added since the mark (a step that timed its own parts).
    since_mark: u128,
    phases: indexmap::IndexMap<String, u128>,
}

impl Phases {
    fn new(started: Instant) -> Self {
        Self {
            mark: started,
            since_mark: 0,
            phases: indexmap::IndexMap::new(),
        }
    }

    /// A phase that took from the mark until now.
    fn lap(&mut self, name: &str) {
        let now = Instant::now();
        let ms = now.duration_since(self.mark).as_millis();
        *self.phases.entry(name.into()).or_default() += ms.saturating_sub(self.since_mark);
        self.since_mark = 0;
        self.mark = now;
    }

    /// A phase timed by the step that ran it.
    fn add(&mut self, name: &str, ms: u128) {
        *self.phases.entry(name.into()).or_default() += ms;
        self.since_mark += ms;
    }

    /// Move the mark to now: the parts were added, the rest goes to `other`.
    fn lap_rest(&mut self) {
        self.since_mark = 0;
        self.mark = Instant::now();
    }

    /// The phases, with `other` making up the rest of `total` (ms since `started`).
    fn finish(mut self, total: u128) -> indexmap::IndexMap<String, u128> {
        let named: u128 = self.phases.values().sum();
        self.phases
            .insert("other".into(), total.saturating_sub(named));
        self.phases
    }
}

enum Source {
    WorkingTree(Checkout),
    Commit(git2::Repository, revision::Commit),
}

/// The run failed: keep its logs (errors point at them), remove the rest.
fn fail(mut run: Run, error: Error) -> Error {
    if error.log().is_some() {
        run.logs.keep();
    }
    error
}

fn cells_per_second(cells: usize, matrix_ms: u128) -> f64 {
    if matrix_ms == 0 {
        0.0
    } else {
        (cells as f64 * 1000.0 / matrix_ms as f64 * 10.0).round() / 10.0
    }
}

impl CheckOptions {
    fn runtime_name(&self) -> &'static str {
        if self.url.is_some() {
            return "none (--url)";
        }
        self.run.runtime.name()
    }
}

#[allow(clippy::too_many_arguments)]
async fn check_url(
    options: &CheckOptions,
    suite: Suite,
    cells: Vec<Cell>,
    url: &str,
    database_url: &str,
    cancel: CancellationToken,
    progress: &Progress,
) -> Result<Checked, Error> {
    let started = Instant::now();
    // Against a server you started nothing throws the database away: without
    // [[cleanup]] every row of the run (the world, setup rows, what the server
    // made for the cells) would stay there, while the run said "removed 0 rows".
    if suite.cleanup.is_empty() {
        return Err(Error::usage(
            format!(
                "{}: the suite has no [[cleanup]], so every row this run writes into {} would stay there",
                suite.dir.join("suite.toml").display(),
                without_password(database_url)
            ),
            Some(
                "list the tables and columns that hold the run's prefix in suite.toml, children before parents: \
                 [[cleanup]] table = \"...\" columns = [\"...\"] (docs/format.md, [[cleanup]]); \
                 or run it on a fresh database with --target"
                    .to_string(),
            ),
        ));
    }
    let mut run = super::start_run(
        &crate::engine::run::RunOptions {
            no_cache: true,
            ..options.run.clone()
        },
        cancel,
        progress,
    )?;
    if let Some(key) = &options.master_key {
        run.master_key = key.clone();
    }
    progress.line(&format!(
        "run {} · suite {} ({}) · server {url} · prefix {}",
        run.id,
        suite.name,
        crate::support::words::count(cells.len(), "cell"),
        run.prefix
    ));
    let world = WorldState::new(&suite, &run.prefix, &run.master_key)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Setup {
            context: format!("http client: {e}"),
            source: std::io::Error::other("reqwest"),
        })?;
    let base_url = url.trim_end_matches('/');
    reachable(database_url, &client, url).await?;
    // Before the first write: the suite's SQL against the server's schema.
    let problems = crate::engine::prepare::prepare_sql(&suite, database_url, url)
        .await
        .map_err(|source| crate::runtime::RuntimeError::Database {
            context: "prepare the suite's SQL".into(),
            source,
        })?;
    if !problems.is_empty() {
        return Err(EngineError::Sql {
            revision: url.into(),
            problems,
        }
        .into());
    }
    // Before the first write: what the run will write, and how to delete it,
    // so that `replay gc` can delete it if this process is killed.
    let deletes = cleanup_plan(&suite, &run.prefix)
        .map_err(|message| Error::usage(format!("the suite's [[cleanup]]: {message}"), None))?;
    run.logs
        .set_attach(Some(AttachCleanup {
            prefix: run.prefix.clone(),
            database_url: without_password(database_url),
            password_env: (without_password(database_url) != database_url)
                .then(|| "REPLAY_DATABASE_URL".to_string()),
            deletes: deletes.clone(),
        }))
        .map_err(|source| Error::Setup {
            context: "write the run's owner file".into(),
            source,
        })?;

    let result = async {
        let seeded = Instant::now();
        world.seed(&suite, database_url).await?;
        progress.phase(
            "seed",
            &format!(
                "{} actors with prefix {}",
                suite.world.actors.len(),
                run.prefix
            ),
            seeded.elapsed(),
        );
        let world = world.on_server(&suite, &client, base_url).await?;
        let pool = PgPoolOptions::new()
            .max_connections(options.run.jobs.clamp(1, 16) as u32)
            .connect(database_url)
            .await
            .map_err(|e| Error::World(crate::engine::world::WorldError::Connect(e)))?;
        progress.line(&format!(
            "running {} on {base_url}",
            crate::support::words::count(cells.len(), "cell")
        ));
        let matrix_started = Instant::now();
        let matrix = Matrix {
            suite: &suite,
            world: &world,
            client: &client,
            base_url,
            pool: &pool,
        };
        let outcomes = runner::run(&matrix, &cells, options.run.jobs, &run.cancel, &|| {}).await;
        pool.close().await;
        progress.phase(
            "matrix",
            &crate::support::words::count(cells.len(), "cell"),
            matrix_started.elapsed(),
        );
        Ok::<_, Error>((outcomes, matrix_started.elapsed()))
    }
    .await;
    // Whatever happened, the rows the run wrote go.
    let removed = run_deletes(database_url, &deletes).await;
    match &removed {
        Ok(count) => {
            progress.line(&format!(
                "cleanup: removed {count} rows with prefix {}",
                run.prefix
            ));
            // Nothing is left for `replay gc` to delete.
            let _ = run.logs.set_attach(None);
        }
        Err(message) => {
            // The owner file keeps the plan: `replay gc` tries again.
            run.logs.keep();
            eprintln!(
                "warning: cleanup of prefix {} failed: {message}",
                run.prefix
            );
            eprintln!("hint: `replay gc` deletes them once the database is reachable");
        }
    }
    let (outcomes, matrix) = result?;
    let (reports, summary) = compare(&cells, &outcomes);
    let total_ms = started.elapsed().as_millis();
    let report = CheckReport {
        format_version: FORMAT_VERSION,
        kind: "check".into(),
        suite: SuiteInfo::of(&suite),
        target: None,
        runtime: options.runtime_name().into(),
        revision: RevisionInfo {
            label: url.into(),
            commit: None,
            subject: None,
            tag: None,
            variant: None,
        },
        interrupted: outcomes.iter().any(Option::is_none),
        scenarios: ScenarioInfo::of(&suite),
        summary,
        cells: reports,
        left_out: crate::results::check::left_out(&suite, &cells),
        caches: CheckCaches::default(),
        timings: CheckTimings {
            total_ms,
            matrix_ms: matrix.as_millis(),
            overhead_ms: total_ms.saturating_sub(matrix.as_millis()),
            cells_per_second: cells_per_second(cells.len(), matrix.as_millis()),
            ..CheckTimings::default()
        },
    };
    Ok(Checked {
        suite,
        cells,
        outcomes,
        report,
    })
}

/// The deletes that remove every row the suite's cleanup tables hold with
/// the run's prefix (written into the run's owner file before the first write).
pub(crate) fn cleanup_plan(suite: &Suite, prefix: &str) -> Result<Vec<CleanupDelete>, String> {
    let mut vars = Vars::default();
    vars.set("prefix", prefix);
    let mut deletes = Vec::new();
    for entry in &suite.cleanup {
        let (condition, params) = match &entry.filter {
            CleanupFilter::Columns(columns) => {
                let condition: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        format!(
                            "left(\"{}\"::text, length($1)) = $1",
                            c.replace('"', "\"\"")
                        )
                    })
                    .collect();
                (condition.join(" OR "), vec![prefix.to_string()])
            }
            CleanupFilter::Where(template) => {
                template.render_sql(&vars).map_err(|e| e.to_string())?
            }
        };
        deletes.push(CleanupDelete {
            table: entry.table.clone(),
            condition,
            params,
        });
    }
    Ok(deletes)
}

/// Run a cleanup plan; the number of rows deleted.
pub(crate) async fn run_deletes(
    database_url: &str,
    deletes: &[CleanupDelete],
) -> Result<u64, String> {
    let mut connection = sqlx::PgConnection::connect(database_url)
        .await
        .map_err(|e| database_message(&e))?;
    let mut removed = 0;
    for delete in deletes {
        let table = format!("\"{}\"", delete.table.replace('"', "\"\""));
        let sql = format!("DELETE FROM {table} WHERE {}", delete.condition);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for param in &delete.params {
            query = query.bind(param);
        }
        removed += query
            .execute(&mut connection)
            .await
            .map_err(|e| format!("{}: {}", delete.table, database_message(&e)))?
            .rows_affected();
    }
    connection.close().await.ok();
    Ok(removed)
}

/// A database URL without its password (what owner files and messages hold).
pub(crate) fn without_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// Before the first cell: is the database there, and does the server answer?
/// Either missing is this machine's environment (exit 3), not a result.
async fn reachable(database_url: &str, client: &reqwest::Client, url: &str) -> Result<(), Error> {
    let database = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::PgConnection::connect(database_url),
    )
    .await;
    let reason = match database {
        Ok(Ok(connection)) => {
            connection.close().await.ok();
            None
        }
        Ok(Err(error)) => Some(database_message(&error)),
        Err(_) => Some("no answer within 10s".to_string()),
    };
    if let Some(reason) = reason {
        return Err(Error::Unreachable {
            what: "database",
            address: without_password(database_url),
            reason,
            hint: "check --database-url (REPLAY_DATABASE_URL): host, port, database name, user and password of the server's Postgres".into(),
        });
    }
    if let Err(error) = client
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            reason = format!("{reason}: {cause}");
            source = cause.source();
        }
        return Err(Error::Unreachable {
            what: "server",
            address: url.to_string(),
            reason,
            hint: "start the server first, or check --url (REPLAY_URL): scheme, host and port"
                .into(),
        });
    }
    Ok(())
}

/// The pins that `--accept` writes: each RED cell's observed status and response values.
pub fn accepted_pins(checked: &Checked) -> (Vec<(CellId, Pin)>, Vec<CellId>) {
    let mut pins = Vec::new();
    let mut not_pins = Vec::new();
    for (cell, report) in checked.cells.iter().zip(&checked.report.cells) {
        if !matches!(report.verdict, Some(Verdict::Red | Verdict::New)) {
            continue;
        }
        let Some(outcome) = &report.outcome else {
            continue;
        };
        let Some(status) = outcome.status else {
            continue;
        };
        let responses = cell
            .pin
            .responses
            .keys()
            .map(|name| {
                (
                    name.clone(),
                    outcome.responses.get(name).cloned().unwrap_or_default(),
                )
            })
            .collect();
        let pin = Pin {
            status,
            responses,
            unknown: false,
        };
        if pin == cell.pin {
            // Only a check or a followup failed: those are not pins.
            not_pins.push(cell.id.clone());
        } else {
            pins.push((cell.id.clone(), pin));
        }
    }
    (pins, not_pins)
}
