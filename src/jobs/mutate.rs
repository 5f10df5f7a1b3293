//! `replay mutate`: how strong is the matrix? Lay each authorization mutant
//! of the handler files on the base revision, boot it, and run the suite's
//! cells until one differs from the base: killed. None differs: survived. It
//! does not boot: stillborn (not counted).
//!
//! A mutant is a git tree (the base with one changed blob), so its cells are
//! cached by that tree like any revision's, and it shares the base's build
//! environment and template database (both keyed by what they are made of).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use futures::StreamExt;
use git2::Oid;
use serde_json::json;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::engine::run::Run;
use crate::engine::{Engine, EngineError, Use};
use crate::jobs::bisect::signature;
use crate::jobs::error::Error;
use crate::jobs::plan::Shard;
use crate::mutate::{Mutant, Triage};
use crate::results::cell_cache::{CellCache, CellKey};
use crate::results::mutants::{self, Fate, MutantResult, MutantsRecord};
use crate::results::outcome::CellOutcome;
use crate::results::record::CommitInfo;
use crate::results::{FORMAT_VERSION, SuiteInfo, TargetInfo};
use crate::revisions::revision;
use crate::runtime::{RuntimeKind, runtime};
use crate::spec::target::Target;
use crate::suite::{Cell, Suite};
use crate::support::progress::Progress;

#[derive(Debug, Clone)]
pub struct MutateOptions {
    pub run: crate::engine::run::RunOptions,
    /// The base revision the mutants are laid on.
    pub rev: String,
    /// The files to mutate, relative to --repo.
    pub paths: Vec<String>,
    /// Only the mutants of these functions (`name` or `Class.name`).
    pub functions: Vec<String>,
    /// Only the mutants of these operators (`drop-raise`, `condition-false`, ...).
    pub operators: Vec<String>,
    pub target: String,
    /// Mutants booted at once.
    pub probes: usize,
    pub records: PathBuf,
    /// Run every cell of every mutant, not only up to the first that differs.
    pub exhaustive: bool,
    pub shard: Option<Shard>,
}

pub struct Mutated {
    pub record: MutantsRecord,
    pub record_path: PathBuf,
}

/// Where one mutant stands, from the outcomes seen so far.
#[derive(Debug, PartialEq)]
enum Decision {
    /// The cells (indices into the plan) that differed, in the order run.
    Killed(Vec<usize>),
    Survived,
    /// The cells still to run, in order.
    Pending(Vec<usize>),
}

/// Decide a mutant from the outcomes of the planned cells seen so far
/// (`seen[i]` for cell `i`), taken in `order`.
fn decide(
    base: &[CellOutcome],
    seen: &[Option<CellOutcome>],
    order: &[usize],
    exhaustive: bool,
) -> Decision {
    let differing: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| {
            seen[i]
                .as_ref()
                .is_some_and(|o| signature(o) != signature(&base[i]))
        })
        .collect();
    let pending: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| seen[i].is_none())
        .collect();
    match (differing.is_empty(), pending.is_empty()) {
        (false, _) if !exhaustive => Decision::Killed(differing),
        (false, true) => Decision::Killed(differing),
        (true, true) => Decision::Survived,
        (_, false) => Decision::Pending(pending),
    }
}

/// Kills so far per cell (by its index in the plan): overall, and per
/// function (mutants of one function tend to die by the same cells).
#[derive(Debug, Default, Clone)]
struct Kills {
    cells: HashMap<usize, usize>,
    by_function: HashMap<(String, usize), usize>,
}

impl Kills {
    fn add(&mut self, function: &str, cell: usize) {
        *self.cells.entry(cell).or_default() += 1;
        *self
            .by_function
            .entry((function.to_string(), cell))
            .or_default() += 1;
    }

    /// The cells in the order to run them for a mutant of `function`: those
    /// that killed most of its function's mutants first, then most of all,
    /// the suite's order among equals.
    fn order(&self, function: &str, cells: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..cells).collect();
        order.sort_by_key(|i| {
            std::cmp::Reverse((
                self.by_function
                    .get(&(function.to_string(), *i))
                    .copied()
                    .unwrap_or(0),
                self.cells.get(i).copied().unwrap_or(0),
            ))
        });
        order
    }
}

/// A mutant, laid on the base.
struct Planned {
    mutant: Mutant,
    tree: Oid,
    key: CellKey,
}

pub async fn mutate(options: &MutateOptions, cancel: CancellationToken) -> Result<Mutated, Error> {
    let started = Instant::now();
    let suite = crate::suite::load(&options.run.suite)?;
    let target = Target::find(&options.run.suite, &options.target)?;
    options.run.runtime.check_target(&target)?;
    let triage = Triage::load(&options.run.suite)?;
    let repo = revision::open(&options.run.repo)?;
    let base = revision::resolve(&repo, &options.rev)?;
    let base_tree = revision::tree_at(&repo, &base, &options.run.repo)?;
    let runtime_name = options.run.runtime.name();
    let cache = CellCache::new(&options.run.cache_dir, !options.run.no_cache);
    let target_key = crate::runtime::cells_target_key(&target, options.run.runtime);
    let key = |tree: Oid| CellCache::key(&tree.to_string(), &suite.hash, &target_key, runtime_name);

    let mut operators = Vec::new();
    for name in &options.operators {
        operators.push(crate::mutate::Operator::parse(name).ok_or_else(|| {
            Error::usage(
                format!("no mutation operator `{name}`"),
                Some(format!(
                    "the operators are: {}",
                    crate::mutate::Operator::ALL.map(|o| o.name()).join(", ")
                )),
            )
        })?);
    }
    // Every mutant of every file, laid on the base, before anything boots.
    let mut all: Vec<Mutant> = Vec::new();
    for path in &options.paths {
        let source = revision::read_file(&repo, base_tree, path).ok_or_else(|| {
            Error::usage(
                format!(
                    "`{path}` is not a text file of {} at {}",
                    options.run.repo.display(),
                    base.short()
                ),
                Some("--paths takes files relative to --repo, e.g. --paths keys.py".to_string()),
            )
        })?;
        let found = crate::mutate::generate(path, &source)?;
        all.extend(found.into_iter().filter(|m| {
            wanted(&options.functions, &m.function)
                && (operators.is_empty() || operators.contains(&m.operator))
        }));
    }
    for function in &options.functions {
        if !all.iter().any(|m| matches_function(function, &m.function)) {
            return Err(Error::usage(
                format!("no mutant in function `{function}` of {}", options.paths.join(", ")),
                Some("--function takes a function's name as written after `def` (e.g. --function check_update); a function with no if, raise, return of a verdict, comparison or check call has no mutants".to_string()),
            ));
        }
    }
    if let Some(shard) = &options.shard {
        all = shard.take(all);
    }
    let mut planned = Vec::new();
    for mutant in all {
        let source = revision::read_file(&repo, base_tree, &mutant.file).unwrap_or_default();
        let tree = revision::with_file(
            &repo,
            base_tree,
            &mutant.file,
            mutant.apply(&source).as_bytes(),
        )?;
        planned.push(Planned {
            key: key(tree),
            tree,
            mutant,
        });
    }

    let endpoint_names: Vec<String> = (0..suite.scenarios.len())
        .map(|s| endpoint_name(&suite, s))
        .collect();
    for serves in &triage.serves {
        for endpoint in &serves.endpoints {
            if !endpoint_names.contains(endpoint) {
                return Err(Error::usage(
                    format!(
                        "{}:{}: `{endpoint}` is no endpoint of suite {}",
                        triage
                            .path
                            .as_deref()
                            .unwrap_or(std::path::Path::new("mutants.toml"))
                            .display(),
                        serves.line,
                        suite.name
                    ),
                    Some(format!("the endpoints are: {}", endpoint_names.join(", "))),
                ));
            }
        }
    }

    let progress = Progress::new(options.run.quiet);
    let cells = suite.cells();
    progress.line(&format!(
        "mutate {} at {} \"{}\": {}, {}, {} at once{}",
        options.paths.join(", "),
        base.short(),
        base.subject,
        crate::support::words::count(planned.len(), "mutant"),
        crate::support::words::count(cells.len(), "cell"),
        options.probes,
        if options.exhaustive {
            ", every cell"
        } else {
            ""
        }
    ));
    let run = super::start_run(&options.run, cancel, &progress)?;
    // The context borrows the run; it is gone by the end of this block.
    let result = {
        let context = Context {
            run: &run,
            repo: &repo,
            suite: &suite,
            target: &target,
            runtime_kind: options.run.runtime,
            engine: OnceCell::new(),
            progress: &progress,
            options,
            cache: &cache,
            triage: &triage,
        };
        let result = drive(&context, &cells, base_tree, &key(base_tree), &planned).await;
        if let Some(engine) = context.engine.into_inner() {
            engine.stop().await;
        }
        result
    };
    let (mut results, base_ms, cells_run) = match result {
        Ok(found) => found,
        Err(error) => {
            let mut run = run;
            if error.log().is_some() {
                run.logs.keep();
            }
            return Err(error);
        }
    };

    let endpoint_name = |scenario: usize| endpoint_name(&suite, scenario);
    let mut endpoints: Vec<(String, usize)> = Vec::new();
    for cell in &cells {
        let name = endpoint_name(cell.scenario);
        match endpoints.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => endpoints.push((name, 1)),
        }
    }
    let by_id: HashMap<String, usize> = cells
        .iter()
        .map(|c| (c.id.to_string(), c.scenario))
        .collect();
    let endpoint_of = |id: &str| by_id.get(id).map(|s| endpoint_name(*s)).unwrap_or_default();
    let summary = mutants::summarise(&results, &endpoints, &endpoint_of);
    let judged = |entry: &crate::mutate::TriageEntry| {
        options.shard.is_none()
            && options.paths.contains(&entry.file)
            && (options.functions.is_empty()
                || options
                    .functions
                    .iter()
                    .any(|f| matches_function(f, &entry.function)))
    };
    let triage_state = mutants::triage(&mut results, &triage, &judged);
    let booted = results.iter().filter(|m| !m.cached).count();
    let record = MutantsRecord {
        format_version: FORMAT_VERSION,
        kind: "mutants".into(),
        suite: SuiteInfo::of(&suite),
        target: TargetInfo::of(&target),
        runtime: runtime_name.into(),
        base: CommitInfo::of(&base),
        base_tree: base_tree.to_string(),
        paths: options.paths.clone(),
        functions: options.functions.clone(),
        exhaustive: options.exhaustive,
        shard: options
            .shard
            .as_ref()
            .map(|s| format!("{}/{}", s.index, s.count)),
        summary,
        triage: triage_state,
        mutants: results,
        run: json!({
            "timings": { "total_ms": started.elapsed().as_millis(), "base_ms": base_ms },
            "booted": booted,
            "cells_run": cells_run,
            "probes": options.probes,
        }),
    };
    let dir = crate::results::record::records_dir(&options.records, &suite.name);
    let shard = options
        .shard
        .as_ref()
        .map(|s| format!("-shard-{}-of-{}", s.index, s.count))
        .unwrap_or_default();
    let record_path = dir.join(format!("mutants-{}{shard}.json", base.short()));
    let mut text = serde_json::to_string_pretty(&record).expect("records serialise");
    text.push('\n');
    crate::support::files::write_atomically(&record_path, text.as_bytes()).map_err(|source| {
        Error::Write {
            path: record_path.clone(),
            source,
        }
    })?;
    Ok(Mutated {
        record,
        record_path,
    })
}

/// A scenario's endpoint (`POST /key/update`), or its name when it has none.
fn endpoint_name(suite: &Suite, scenario: usize) -> String {
    let s = &suite.scenarios[scenario];
    s.endpoint.clone().unwrap_or_else(|| s.name.clone())
}

fn matches_function(wanted: &str, function: &str) -> bool {
    function == wanted || function.rsplit('.').next() == Some(wanted)
}

fn wanted(functions: &[String], function: &str) -> bool {
    functions.is_empty() || functions.iter().any(|f| matches_function(f, function))
}

struct Context<'a> {
    run: &'a Run,
    repo: &'a git2::Repository,
    suite: &'a Suite,
    target: &'a Target,
    runtime_kind: RuntimeKind,
    engine: OnceCell<Engine<'a>>,
    progress: &'a Progress,
    options: &'a MutateOptions,
    cache: &'a CellCache,
    triage: &'a Triage,
}

impl<'a> Context<'a> {
    async fn engine(&self) -> Result<&Engine<'a>, EngineError> {
        self.engine
            .get_or_try_init(|| async {
                Engine::start(
                    self.run,
                    self.suite,
                    self.target,
                    runtime(self.runtime_kind, &self.run.id, &self.run.cache_dir).await?,
                    self.progress,
                    None,
                    &[],
                    Use::Many,
                )
                .await
            })
            .await
    }

    /// Boot `tree` and run `cells` (stopping at the first that differs from
    /// `base` unless exhaustive); the outcomes of the cells that ran.
    async fn boot(
        &self,
        tree: Oid,
        label: &str,
        cells: &[Cell],
        base: Option<&[CellOutcome]>,
    ) -> Result<Vec<Option<CellOutcome>>, EngineError> {
        let engine = self.engine().await?;
        let (checkout, _) =
            revision::materialise_cached(self.repo, tree, &self.options.run.cache_dir, label)?;
        let differs = |index: usize, outcome: &CellOutcome| {
            base.is_some_and(|base| signature(outcome) != signature(&base[index]))
        };
        // A mutant is a probe of many (its database is dropped afterwards),
        // stopped at its first difference unless every cell is wanted.
        let never = |_: usize, _: &CellOutcome| false;
        let stop: Option<crate::engine::runner::Stop<'_>> = match base {
            None => None,
            Some(_) if self.options.exhaustive => Some(&never),
            Some(_) => Some(&differs),
        };
        let evaluation = engine
            .evaluate_until(&checkout, cells, self.options.run.jobs, stop)
            .await?;
        if evaluation.interrupted {
            return Err(EngineError::Runtime(
                crate::runtime::RuntimeError::Interrupted,
            ));
        }
        Ok(evaluation.outcomes)
    }
}

/// The mutants' results in their order, the base's time (ms), the cells run.
type Driven = (Vec<MutantResult>, u128, usize);

async fn drive(
    context: &Context<'_>,
    cells: &[Cell],
    base_tree: Oid,
    base_key: &CellKey,
    planned: &[Planned],
) -> Result<Driven, Error> {
    // The base first: every cell, from the cache or booted.
    let base_started = Instant::now();
    let base = match context.cache.load(base_key, cells) {
        Some(outcomes) => {
            context.progress.line(&format!(
                "base: every cell cached (tree {})",
                &base_tree.to_string()[..10]
            ));
            outcomes
        }
        None => {
            let outcomes = context
                .boot(
                    base_tree,
                    &format!("base {}", &base_tree.to_string()[..7]),
                    cells,
                    None,
                )
                .await?;
            context.cache.store(base_key, cells, &outcomes);
            outcomes
                .into_iter()
                .map(|o| o.expect("a finished evaluation has every cell"))
                .collect()
        }
    };
    let base_ms = base_started.elapsed().as_millis();
    // A cell that cannot run at the base cannot tell a mutant from it.
    let mut plan_cells = Vec::new();
    let mut plan_base = Vec::new();
    for (cell, outcome) in cells.iter().zip(base) {
        match &outcome.error {
            Some(error) => context.progress.line(&format!(
                "warning: {} is left out: it could not run at the base: {error}",
                cell.id
            )),
            None => {
                plan_cells.push(cell.clone());
                plan_base.push(outcome);
            }
        }
    }
    let cells = plan_cells.as_slice();
    let base = plan_base.as_slice();

    let kills: Mutex<Kills> = Mutex::new(Kills::default());
    let cells_run = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = planned.len();
    let one = |index: usize| {
        let kills = &kills;
        let cells_run = &cells_run;
        let done = &done;
        async move {
            let planned = &planned[index];
            // Only the cells of the endpoints its function serves, when said.
            let serves = context
                .triage
                .serves(&planned.mutant.file, &planned.mutant.function);
            let order: Vec<usize> = kills
                .lock()
                .expect("kills")
                .order(&planned.mutant.function, cells.len())
                .into_iter()
                .filter(|&i| {
                    serves.is_none_or(|s| {
                        s.endpoints
                            .contains(&endpoint_name(context.suite, cells[i].scenario))
                    })
                })
                .collect();
            let mut seen = context.cache.load_some(&planned.key, cells);
            let mut cached = true;
            let mut error = None;
            let decision = loop {
                match decide(base, &seen, &order, context.options.exhaustive) {
                    Decision::Pending(pending) if cached => {
                        cached = false;
                        let run: Vec<Cell> = pending.iter().map(|&i| cells[i].clone()).collect();
                        let run_base: Vec<CellOutcome> =
                            pending.iter().map(|&i| base[i].clone()).collect();
                        let label = format!("mutant {}/{total}", index + 1);
                        match context
                            .boot(planned.tree, &label, &run, Some(&run_base))
                            .await
                        {
                            Ok(outcomes) => {
                                context.cache.store(&planned.key, &run, &outcomes);
                                for (i, outcome) in pending.iter().zip(outcomes) {
                                    if outcome.is_some() {
                                        seen[*i] = outcome;
                                    }
                                }
                            }
                            Err(e) if e.is_revision_failure() => {
                                error = Some(e);
                                break None;
                            }
                            Err(e) => return Err(Error::from(e)),
                        }
                    }
                    // Booted once and still pending: cells were dropped
                    // without a difference (it cannot happen without an interrupt).
                    Decision::Pending(_) => return Err(Error::Interrupted),
                    decided => break Some(decided),
                }
            };
            let ran: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| seen[i].is_some())
                .collect();
            cells_run.fetch_add(ran.len(), std::sync::atomic::Ordering::Relaxed);
            let m = &planned.mutant;
            let mut result = MutantResult {
                id: m.id.clone(),
                file: m.file.clone(),
                function: m.function.clone(),
                operator: m.operator.name().into(),
                line: m.line,
                column: m.column,
                original: m.original.clone(),
                mutated: m.mutated.clone(),
                tree: planned.tree.to_string(),
                fate: Fate::Stillborn,
                killed_by: None,
                killed_at: None,
                differing: vec![],
                cells_run: ran.len(),
                cells: vec![],
                error: None,
                triage: None,
                cached,
            };
            match decision {
                Some(Decision::Killed(differing)) => {
                    let first = differing[0];
                    kills.lock().expect("kills").add(&m.function, first);
                    result.fate = Fate::Killed;
                    result.killed_by = Some(cells[first].id.to_string());
                    result.killed_at = order.iter().position(|&i| i == first).map(|p| p + 1);
                    result.differing = differing.iter().map(|&i| cells[i].id.to_string()).collect();
                }
                Some(Decision::Survived) => {
                    result.fate = Fate::Survived;
                    result.cells = ran.iter().map(|&i| cells[i].id.to_string()).collect();
                }
                _ => {
                    result.cells_run = 0;
                    result.error = error.map(|e| describe(&e));
                }
            }
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            context.progress.line(&format!(
                "mutant {n}/{total} {} ({}:{}): {}{}",
                m.id,
                m.file,
                m.line,
                match result.fate {
                    Fate::Killed => format!(
                        "killed by {} ({} cell{})",
                        result.killed_by.as_deref().unwrap_or(""),
                        result.cells_run,
                        if result.cells_run == 1 { "" } else { "s" }
                    ),
                    Fate::Survived => format!(
                        "SURVIVED {}",
                        crate::support::words::count(result.cells_run, "cell")
                    ),
                    Fate::Stillborn => "stillborn (did not boot)".into(),
                },
                if cached { ", cached" } else { "" }
            ));
            Ok::<_, Error>((index, result))
        }
    };
    let mut results: Vec<Option<MutantResult>> = vec![None; planned.len()];
    let mut stream = std::pin::pin!(
        futures::stream::iter(0..planned.len())
            .map(one)
            .buffer_unordered(context.options.probes.max(1))
    );
    while let Some(found) = stream.next().await {
        let (index, result) = found?;
        results[index] = Some(result);
        if context.run.cancel.is_cancelled() {
            return Err(Error::Interrupted);
        }
    }
    Ok((
        results
            .into_iter()
            .map(|r| r.expect("every mutant ran"))
            .collect(),
        base_ms,
        cells_run.load(std::sync::atomic::Ordering::Relaxed),
    ))
}

/// Why a mutant did not boot: the error and the last line of its log.
fn describe(error: &EngineError) -> String {
    let mut text = error.to_string();
    if let EngineError::Runtime(runtime) = error
        && let Some((_, _, tail)) = runtime.log()
        && let Some(last) = tail.lines().rev().find(|l| !l.trim().is_empty())
    {
        text.push_str(": ");
        text.push_str(last.trim());
    }
    text
}

/// `replay merge`: the shards (`--shard i/n`) of mutant runs found under
/// `sources`, each set of n shards of one run gathered into one record
/// (`mutants-<rev>.json`) with its rates and triage worked out again. The
/// paths of the records written; an incomplete set is an error naming the
/// shard that is missing.
pub fn merge_shards(
    sources: &[PathBuf],
    records: &std::path::Path,
    suite_dir: &std::path::Path,
) -> Result<Vec<PathBuf>, Error> {
    let suite = crate::suite::load(suite_dir)?;
    let triage = Triage::load(suite_dir)?;
    let mut found: Vec<(PathBuf, MutantsRecord)> = Vec::new();
    for source in sources {
        for path in json_files(source) {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            if value["kind"] != "mutants" || value["shard"].is_null() {
                continue;
            }
            let record: MutantsRecord = serde_json::from_value(value).map_err(|e| {
                Error::usage(
                    format!(
                        "{} is not a mutants record this replay can read: {e}",
                        path.display()
                    ),
                    Some("merge the shards with the replay that wrote them".to_string()),
                )
            })?;
            if record.suite.name != suite.name {
                return Err(Error::usage(
                    format!(
                        "{} is a record of suite `{}`, not `{}`",
                        path.display(),
                        record.suite.name,
                        suite.name
                    ),
                    Some("merge the records of one suite at a time (--suite)".to_string()),
                ));
            }
            found.push((path, record));
        }
    }
    // One run: the same base, files, functions, suite, target and mode.
    let run_of = |r: &MutantsRecord| {
        (
            r.base.commit.clone(),
            r.paths.clone(),
            r.functions.clone(),
            r.suite.hash.clone(),
            r.target.hash.clone(),
            r.exhaustive,
        )
    };
    let mut runs: Vec<(_, Vec<(PathBuf, MutantsRecord)>)> = Vec::new();
    for (path, record) in found {
        let key = run_of(&record);
        match runs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, shards)) => shards.push((path, record)),
            None => runs.push((key, vec![(path, record)])),
        }
    }
    let cells = suite.cells();
    let mut endpoints: Vec<(String, usize)> = Vec::new();
    for cell in &cells {
        let name = endpoint_name(&suite, cell.scenario);
        match endpoints.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => endpoints.push((name, 1)),
        }
    }
    let by_id: HashMap<String, usize> = cells
        .iter()
        .map(|c| (c.id.to_string(), c.scenario))
        .collect();
    let endpoint_of = |id: &str| {
        by_id
            .get(id)
            .map(|s| endpoint_name(&suite, *s))
            .unwrap_or_default()
    };
    let mut written = Vec::new();
    for (_, mut shards) in runs {
        let shard_of = |r: &MutantsRecord| -> Option<Shard> { r.shard.as_deref()?.parse().ok() };
        shards.sort_by_key(|(_, r)| shard_of(r).map(|s| s.index));
        let count = shard_of(&shards[0].1).map(|s| s.count).unwrap_or(0);
        for index in 1..=count {
            let have = shards
                .iter()
                .filter(|(_, r)| shard_of(r).is_some_and(|s| s.index == index && s.count == count))
                .count();
            if have != 1 {
                return Err(Error::usage(
                    format!(
                        "shard {index}/{count} of the mutants of {} at {} is {}",
                        shards[0].1.paths.join(", "),
                        shards[0].1.base.short,
                        if have == 0 { "missing" } else { "there twice" }
                    ),
                    Some(format!(
                        "run `replay mutate --shard {index}/{count}` with the same flags, or pass its records folder"
                    )),
                ));
            }
        }
        if shards.len() != count {
            return Err(Error::usage(
                format!(
                    "the shards of the mutants at {} do not agree on n",
                    shards[0].1.base.short
                ),
                Some("merge the shards of one run, all made with the same --shard i/n".to_string()),
            ));
        }
        let mut record = shards[0].1.clone();
        let mut mutants: Vec<MutantResult> =
            shards.iter().flat_map(|(_, r)| r.mutants.clone()).collect();
        let paths = record.paths.clone();
        // The order they were made in: file, place, operator, change.
        mutants.sort_by_key(|m| {
            (
                paths.iter().position(|p| *p == m.file),
                m.line,
                m.column,
                crate::mutate::Operator::parse(&m.operator),
                m.mutated.clone(),
            )
        });
        for mutant in &mut mutants {
            mutant.triage = None;
        }
        let functions = record.functions.clone();
        let judged = |entry: &crate::mutate::TriageEntry| {
            paths.contains(&entry.file)
                && (functions.is_empty()
                    || functions
                        .iter()
                        .any(|f| matches_function(f, &entry.function)))
        };
        record.triage = mutants::triage(&mut mutants, &triage, &judged);
        record.summary = mutants::summarise(&mutants, &endpoints, &endpoint_of);
        record.shard = None;
        record.run = json!({
            "shards": shards.iter().map(|(p, r)| json!({ "path": p.display().to_string(), "shard": r.shard, "run": r.run })).collect::<Vec<_>>(),
        });
        record.mutants = mutants;
        let dir = crate::results::record::records_dir(records, &suite.name);
        let path = dir.join(format!("mutants-{}.json", record.base.short));
        let mut text = serde_json::to_string_pretty(&record).expect("records serialise");
        text.push('\n');
        crate::support::files::write_atomically(&path, text.as_bytes()).map_err(|source| {
            Error::Write {
                path: path.clone(),
                source,
            }
        })?;
        written.push(path);
    }
    Ok(written)
}

fn json_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u16) -> CellOutcome {
        CellOutcome {
            status: Some(status),
            ..CellOutcome::default()
        }
    }

    #[test]
    fn a_mutant_is_killed_by_the_first_difference_in_order() {
        let base = [outcome(200), outcome(403), outcome(403)];
        let order = [2, 0, 1];
        let none = [None, None, None];
        assert_eq!(
            decide(&base, &none, &order, false),
            Decision::Pending(vec![2, 0, 1])
        );
        let seen = [Some(outcome(200)), None, Some(outcome(200))];
        assert_eq!(
            decide(&base, &seen, &order, false),
            Decision::Killed(vec![2])
        );
        // Exhaustive: every cell runs before the verdict.
        assert_eq!(
            decide(&base, &seen, &order, true),
            Decision::Pending(vec![1])
        );
        let all = [Some(outcome(200)), Some(outcome(200)), Some(outcome(200))];
        assert_eq!(
            decide(&base, &all, &order, true),
            Decision::Killed(vec![2, 1])
        );
        let same = base.clone().map(Some);
        assert_eq!(decide(&base, &same, &order, false), Decision::Survived);
        // A cell that errors where the base did not is a difference too.
        let errored = CellOutcome {
            error: Some("connection refused".into()),
            ..outcome(200)
        };
        let seen = [Some(errored), None, None];
        assert_eq!(
            decide(&base, &seen, &order, false),
            Decision::Killed(vec![0])
        );
    }

    #[test]
    fn cells_that_killed_most_run_first() {
        let mut kills = Kills::default();
        assert_eq!(kills.order("f", 3), [0, 1, 2]);
        for _ in 0..3 {
            kills.add("g", 2);
        }
        kills.add("f", 1);
        // The function's own kills first, then everyone's.
        assert_eq!(kills.order("f", 3), [1, 2, 0]);
        assert_eq!(kills.order("g", 3), [2, 1, 0]);
        assert_eq!(kills.order("h", 3), [2, 1, 0]);
        assert!(matches_function("check_view", "Keys.check_view"));
        assert!(!matches_function("check", "check_view"));
    }
}
