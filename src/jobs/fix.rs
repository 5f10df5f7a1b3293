//! `replay <fix>`: is this fix caught? Boot the fix's parent and the fix, run
//! the suite on both, and see which cells go RED → GREEN.
//!
//! Whole-commit mode boots the two commits. Overlay mode (`--paths`) boots a
//! base commit (default: the fix) with those paths taken from the parent, and
//! from the fix: the "handler swap", automated. Each side is a git tree; the
//! cell cache is keyed by it, so a second replay boots nothing.

use std::path::PathBuf;
use std::time::Instant;

use git2::Oid;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::engine::run::Run;
use crate::engine::{Engine, EngineError, Evaluation, Use};
use crate::jobs::error::Error;
use crate::results::cell_cache::{CellCache, CellKey};
use crate::results::outcome::CellOutcome;
use crate::results::record::{self, CommitInfo, FixRecord, Revisions};
use crate::results::{FORMAT_VERSION, SuiteInfo, TargetInfo};
use crate::revisions::revision;
use crate::runtime::runtime;
use crate::spec::target::Target;
use crate::suite::{Cell, Suite};
use crate::support::progress::Progress;

#[derive(Debug, Clone)]
pub struct FixOptions {
    pub run: crate::engine::run::RunOptions,
    pub rev: String,
    pub parent: Option<String>,
    pub paths: Vec<String>,
    pub base: Option<String>,
    pub target: String,
    /// The folder of replay records (a folder per suite inside).
    pub records: PathBuf,
    /// Evaluate the two sides one after the other.
    pub sequential: bool,
}

pub struct Replayed {
    pub suite: Suite,
    pub record: FixRecord,
    pub record_path: PathBuf,
    pub table_path: PathBuf,
    /// Why the record or the table could not be written (`record_path` then
    /// names where the record would have gone, and the table is not updated):
    /// the caller prints the result, then fails with it.
    pub unrecorded: Option<Error>,
    /// The record was written and only the table was not.
    pub record_written: bool,
}

/// One side of the replay: what gets booted.
struct Side {
    label: String,
    tree: Oid,
    cache_key: CellKey,
    cached: Option<Vec<CellOutcome>>,
    /// What an interrupted evaluation measured (`None`: the cell did not finish).
    partial: Option<Vec<Option<CellOutcome>>>,
}

pub async fn replay_fix(
    options: &FixOptions,
    cancel: CancellationToken,
) -> Result<Replayed, Error> {
    let started = Instant::now();
    // Plan everything before anything starts.
    let suite = crate::suite::load(&options.run.suite)?;
    let cells = suite.cells();
    let target = Target::find(&options.run.suite, &options.target)?;
    options.run.runtime.check_target(&target)?;
    let repo = revision::open(&options.run.repo)?;
    let fix = revision::resolve(&repo, &options.rev)?;
    let parent = match &options.parent {
        Some(rev) => revision::resolve(&repo, rev)?,
        None => revision::first_parent(&repo, &fix)?,
    };
    let runtime_name = options.run.runtime.name();
    let (revisions, parent_tree, fix_tree, base) = if options.paths.is_empty() {
        (
            Revisions {
                mode: "whole".into(),
                paths: vec![],
                base: None,
                parent_tree: parent.tree.to_string(),
                fix_tree: fix.tree.to_string(),
                parent_variant: None,
                fix_variant: None,
            },
            parent.tree,
            fix.tree,
            None,
        )
    } else {
        let base = match &options.base {
            Some(rev) => revision::resolve(&repo, rev)?,
            None => fix.clone(),
        };
        for path in &options.paths {
            if !revision::has_path(&repo, parent.tree, path)
                && !revision::has_path(&repo, fix.tree, path)
            {
                return Err(revision::RevisionError::NoSuchPath {
                    path: path.clone(),
                    parent: parent.short(),
                    fix: fix.short(),
                }
                .into());
            }
        }
        let parent_tree = revision::overlay(&repo, base.tree, parent.tree, &options.paths)?;
        let fix_tree = revision::overlay(&repo, base.tree, fix.tree, &options.paths)?;
        let revisions = Revisions {
            mode: "overlay".into(),
            paths: options.paths.clone(),
            base: Some(CommitInfo::of(&base)),
            parent_tree: parent_tree.to_string(),
            fix_tree: fix_tree.to_string(),
            parent_variant: None,
            fix_variant: None,
        };
        (revisions, parent_tree, fix_tree, Some(base))
    };
    let mut revisions = revisions;
    let docker = options.run.runtime == crate::runtime::RuntimeKind::Docker;
    revisions.parent_variant = variant_at(&repo, parent_tree, &target, docker);
    revisions.fix_variant = variant_at(&repo, fix_tree, &target, docker);
    let cache = CellCache::new(&options.run.cache_dir, !options.run.no_cache);
    let suffix = if base.is_some() { "-overlay" } else { "" };
    let target_key = crate::runtime::cells_target_key(&target, options.run.runtime);
    let side = |label: String, tree: Oid| {
        let cache_key = CellCache::key(&tree.to_string(), &suite.hash, &target_key, runtime_name);
        let cached = cache.load(&cache_key, &cells);
        Side {
            label,
            tree,
            cache_key,
            cached,
            partial: None,
        }
    };
    let mut sides = [
        side(format!("parent-{}{suffix}", parent.short()), parent_tree),
        side(format!("fix-{}{suffix}", fix.short()), fix_tree),
    ];

    // A rerun served wholly from the cell cache measures nothing of the servers.
    let fully_cached = sides.iter().all(|s| s.cached.is_some());
    let progress = Progress::new(options.run.quiet);
    progress.line(&format!(
        "fix {} \"{}\" · parent {} · {} · suite {} ({}) · target {}",
        fix.short(),
        fix.subject,
        parent.short(),
        if base.is_some() {
            format!("overlay of {}", options.paths.join(", "))
        } else {
            "whole commits".into()
        },
        suite.name,
        crate::support::words::count(cells.len(), "cell"),
        target.name
    ));
    for side in &sides {
        if side.cached.is_some() {
            progress.line(&format!(
                "{}: every cell cached (tree {})",
                side.label,
                &side.tree.to_string()[..10]
            ));
        }
    }

    let mut timings = serde_json::Map::new();
    let mut caches = serde_json::Map::new();
    let mut cluster_cached = serde_json::Value::Null;
    // The run's own phases (starting the runtime and Postgres, stopping) and
    // the runtime's finer steps.
    let mut run_timings = serde_json::Map::new();
    if sides.iter().any(|s| s.cached.is_none()) {
        let run = super::start_run(&options.run, cancel, &progress)?;
        let starting = Instant::now();
        let runtime = runtime(options.run.runtime, &run.id, &run.cache_dir).await?;
        run_timings.insert(
            "runtime_start_ms".into(),
            json!(starting.elapsed().as_millis()),
        );
        let outcome = evaluate_sides(
            &run,
            &repo,
            &suite,
            &target,
            runtime,
            &cells,
            &mut sides,
            options,
            &progress,
            &mut timings,
            &mut caches,
            &mut run_timings,
        )
        .await;
        match outcome {
            Ok(cached_cluster) => cluster_cached = json!(cached_cluster),
            Err(Error::Interrupted) => {
                return interrupted(
                    suite,
                    &target,
                    &cells,
                    &sides,
                    options,
                    Written {
                        runtime: runtime_name,
                        fix: &fix,
                        parent: &parent,
                        revisions,
                        started,
                    },
                );
            }
            Err(error) => {
                let mut run = run;
                if error.log().is_some() {
                    run.logs.keep();
                }
                return Err(match base {
                    Some(base) if matches!(&error, Error::Engine(e) if e.is_revision_failure()) => {
                        let Error::Engine(source) = error else {
                            unreachable!()
                        };
                        Error::Overlay {
                            paths: options.paths.join(", "),
                            base: base.short(),
                            source,
                        }
                    }
                    _ => error,
                });
            }
        }
    }
    for side in &sides {
        let name = if side.label.starts_with("parent") {
            "parent"
        } else {
            "fix"
        };
        caches
            .entry(name)
            .or_insert_with(|| json!({ "cells": true }));
    }

    let [parent_side, fix_side] = sides;
    let parent_outcomes = parent_side.cached.expect("evaluated");
    let fix_outcomes = fix_side.cached.expect("evaluated");
    let (cell_records, transitions, reason_changes) =
        record::classify(&cells, &parent_outcomes, &fix_outcomes);
    let (verdict, reason) = record::judge(&transitions);
    let record = FixRecord {
        format_version: FORMAT_VERSION,
        kind: "fix".into(),
        suite: SuiteInfo::of(&suite),
        target: TargetInfo::of(&target),
        runtime: runtime_name.into(),
        fix: CommitInfo::of(&fix),
        parent: CommitInfo::of(&parent),
        revisions,
        scenarios: crate::results::ScenarioInfo::of(&suite),
        verdict,
        reason,
        endpoints: endpoints(&suite, &cells, &transitions),
        transitions,
        reason_changes,
        cells: cell_records,
        interrupted: false,
        run: json!({
            "timings": { "total_ms": started.elapsed().as_millis(), "sides": timings, "run": run_timings },
            "caches": { "cluster": cluster_cached, "sides": caches },
        }),
    };
    let dir = record::records_dir(&options.records, &suite.name);
    let mut record = record;
    if fully_cached {
        // Keep the timings the record it reproduces measured (a record that
        // cannot be read is replaced, as any other).
        let path = record::record_path(&dir, &record);
        if let Ok(Some((previous, _))) = record::read_fix(&path) {
            record::keep_first_measurement(&mut record, &previous);
        }
    }
    Ok(recorded(suite, &dir, record))
}

/// Write the record and the table; a record that cannot be written keeps its
/// result, with why (the result a run measured is never lost to a write).
fn recorded(suite: Suite, dir: &std::path::Path, record: FixRecord) -> Replayed {
    let record_path = record::record_path(dir, &record);
    let table_path = dir.join("README.md");
    let written = record::write(dir, &record);
    let record_written = written.is_ok();
    let unrecorded = written
        .and_then(|_| record::write_table(dir, &record.suite.name))
        .err()
        .map(Error::Record);
    Replayed {
        suite,
        record,
        record_path,
        table_path,
        unrecorded,
        record_written,
    }
}

/// One side's evaluation, when it had to be evaluated.
type Evaluated = Option<Result<Evaluation, EngineError>>;

/// Boot and run the sides that are not cached, at once when the machine allows.
#[allow(clippy::too_many_arguments)]
async fn evaluate_sides(
    run: &Run,
    repo: &git2::Repository,
    suite: &Suite,
    target: &Target,
    runtime: Box<dyn crate::runtime::Runtime>,
    cells: &[Cell],
    sides: &mut [Side; 2],
    options: &FixOptions,
    progress: &Progress,
    timings: &mut serde_json::Map<String, serde_json::Value>,
    caches: &mut serde_json::Map<String, serde_json::Value>,
    run_timings: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<bool, Error> {
    let mut checkouts = Vec::new();
    for side in sides.iter() {
        if side.cached.is_some() {
            checkouts.push(None);
            continue;
        }
        let (checkout, hit) =
            revision::materialise_cached(repo, side.tree, &options.run.cache_dir, &side.label)?;
        checkouts.push(Some((checkout, hit)));
    }
    // The cluster starts with the template the first side migrates, when a run kept it.
    let first = checkouts
        .iter()
        .flatten()
        .next()
        .map(|(checkout, _)| checkout);
    let starting = Instant::now();
    // Both sides' servers start while Postgres does (one, for the same tree).
    let mut ahead: Vec<crate::runtime::Checkout> = Vec::new();
    for (checkout, _) in checkouts.iter().flatten() {
        if !ahead.iter().any(|c| c.dir == checkout.dir) {
            ahead.push(checkout.clone());
        }
    }
    let engine = Engine::start(
        run,
        suite,
        target,
        runtime,
        progress,
        first,
        &ahead,
        Use::Once,
    )
    .await?;
    run_timings.insert("postgres_ms".into(), json!(starting.elapsed().as_millis()));
    let evaluating = Instant::now();
    let result = async {
        let same_tree = sides[0].tree == sides[1].tree;
        let evaluate = |index: usize| {
            let checkout = checkouts[index].clone();
            let engine = &engine;
            async move {
                match checkout {
                    Some((checkout, _)) => Some(engine.evaluate(&checkout, cells, options.run.jobs).await),
                    None => None,
                }
            }
        };
        let concurrent = !options.sequential && std::thread::available_parallelism().map(|n| n.get() >= 2).unwrap_or(false);
        let (first, second): (Evaluated, Evaluated) = if same_tree {
            (evaluate(0).await, None)
        } else if concurrent {
            tokio::join!(evaluate(0), evaluate(1))
        } else {
            let first = evaluate(0).await;
            if matches!(first, Some(Err(_))) { (first, None) } else { (first, evaluate(1).await) }
        };
        let mut interrupted = false;
        for (index, evaluated) in [first, second].into_iter().enumerate() {
            let evaluation = match evaluated {
                None => continue,
                Some(Ok(evaluation)) => evaluation,
                // A Ctrl-C shows as whatever the revision then failed with.
                Some(Err(_)) if run.cancel.is_cancelled() => {
                    interrupted = true;
                    continue;
                }
                Some(Err(error)) => return Err(error.into()),
            };
            if evaluation.interrupted || run.cancel.is_cancelled() || evaluation.outcomes.iter().any(Option::is_none) {
                // Kept for the partial record; never cached.
                interrupted = true;
                sides[index].partial = Some(evaluation.outcomes);
                continue;
            }
            let name = if index == 0 { "parent" } else { "fix" };
            let worktree = checkouts[index].as_ref().map(|(_, hit)| *hit).unwrap_or(false);
            timings.insert(name.into(), serde_json::to_value(&evaluation.timings).expect("timings serialise"));
            caches.insert(name.into(), json!({ "cells": false, "worktree": worktree, "build": evaluation.caches.build, "template": evaluation.caches.template }));
            let side = &mut sides[index];
            let cache = CellCache::new(&options.run.cache_dir, !options.run.no_cache);
            // Only a revision whose every planned cell ran, none in ERROR.
            cache.store(&side.cache_key, cells, &evaluation.outcomes);
            side.cached = Some(evaluation.outcomes.into_iter().map(|o| o.expect("a finished evaluation has every cell")).collect());
        }
        if same_tree {
            sides[1].cached = sides[0].cached.clone();
            sides[1].partial = sides[0].partial.clone();
            if let Some(parent) = timings.get("parent").cloned() {
                timings.insert("fix".into(), parent);
            }
            if let Some(parent) = caches.get("parent").cloned() {
                caches.insert("fix".into(), parent);
            }
        }
        if interrupted {
            return Err(Error::Interrupted);
        }
        Ok::<_, Error>(())
    }
    .await;
    run_timings.insert("sides_ms".into(), json!(evaluating.elapsed().as_millis()));
    let cluster = engine.cluster_cached;
    let stopped = engine.stop().await;
    run_timings.insert("stop_ms".into(), json!(stopped.total.as_millis()));
    if stopped.steps.as_object().is_some_and(|s| !s.is_empty()) {
        run_timings.insert("steps".into(), stopped.steps);
    }
    result.map(|()| cluster)
}

/// What the record of an interrupted replay names.
struct Written<'a> {
    runtime: &'static str,
    fix: &'a revision::Commit,
    parent: &'a revision::Commit,
    revisions: Revisions,
    started: Instant,
}

/// An interrupted replay: record the cells measured at both sides, marked
/// `interrupted` (never a verdict, never in the table), or nothing when no
/// cell was.
fn interrupted(
    suite: Suite,
    target: &Target,
    cells: &[Cell],
    sides: &[Side; 2],
    options: &FixOptions,
    written: Written<'_>,
) -> Result<Replayed, Error> {
    let at = |side: &Side, index: usize| -> Option<CellOutcome> {
        match (&side.cached, &side.partial) {
            (Some(all), _) => all.get(index).cloned(),
            (None, Some(partial)) => partial.get(index).cloned().flatten(),
            (None, None) => None,
        }
    };
    let mut measured = Vec::new();
    let mut parent_outcomes = Vec::new();
    let mut fix_outcomes = Vec::new();
    for (index, cell) in cells.iter().enumerate() {
        if let (Some(p), Some(f)) = (at(&sides[0], index), at(&sides[1], index)) {
            measured.push(cell.clone());
            parent_outcomes.push(p);
            fix_outcomes.push(f);
        }
    }
    if measured.is_empty() {
        return Err(Error::Interrupted);
    }
    let (cell_records, transitions, reason_changes) =
        record::classify(&measured, &parent_outcomes, &fix_outcomes);
    let record = FixRecord {
        format_version: FORMAT_VERSION,
        kind: "fix".into(),
        suite: SuiteInfo::of(&suite),
        target: TargetInfo::of(target),
        runtime: written.runtime.into(),
        fix: CommitInfo::of(written.fix),
        parent: CommitInfo::of(written.parent),
        revisions: written.revisions,
        scenarios: crate::results::ScenarioInfo::of(&suite),
        verdict: record::FixVerdict::NotCaught,
        reason: Some(format!(
            "interrupted: {} of {} cells measured at both sides; this is not a verdict",
            measured.len(),
            cells.len()
        )),
        endpoints: endpoints(&suite, &measured, &transitions),
        transitions,
        reason_changes,
        cells: cell_records,
        interrupted: true,
        run: json!({ "timings": { "total_ms": written.started.elapsed().as_millis() } }),
    };
    let dir = record::records_dir(&options.records, &suite.name);
    Ok(recorded(suite, &dir, record))
}

/// The endpoints the fix is caught on: of the cells that went RED→GREEN only
/// (none when none did; RED→RED cells are not this fix's).
fn endpoints(suite: &Suite, cells: &[Cell], transitions: &record::Transitions) -> Vec<String> {
    let ids: Vec<&String> = transitions.red_to_green.iter().collect();
    let mut out: Vec<String> = Vec::new();
    for cell in cells {
        if ids.iter().any(|id| **id == cell.id.to_string()) {
            let scenario = suite.scenario(cell);
            let endpoint = scenario
                .endpoint
                .clone()
                .unwrap_or_else(|| scenario.name.clone());
            if !out.contains(&endpoint) {
                out.push(endpoint);
            }
        }
    }
    out
}

/// The `[[variant]]` of `target` that the git tree `tree` is built with (its
/// files decide, before anything is materialised); `None` for the target's
/// own recipe, and for a tree no variant fits (its build then says why).
pub(super) fn variant_at(
    repo: &git2::Repository,
    tree: Oid,
    target: &Target,
    docker: bool,
) -> Option<String> {
    let exists = |path: &str| revision::tree_has(repo, tree, path);
    target
        .for_revision(docker, &exists)
        .ok()
        .and_then(|t| t.variant.clone())
}
