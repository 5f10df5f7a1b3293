//! Driving the search: boot the probed commits, compare each searched cell
//! with the good end, feed the state machine, report per cell.
//!
//! Probes come from the cell cache when the commit's tree was evaluated
//! before (by this or any earlier run); otherwise up to `--probes` commits are
//! booted at once, each running only the cells still searched there.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use git2::Oid;

use serde_json::json;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::engine::bisect_search::{Answer, Next, Observation, Probe, Search, log2_ceil};
use crate::engine::run::Run;
use crate::engine::{Engine, EngineError, Use};
use crate::jobs::error::Error;
use crate::results::cell_cache::{CellCache, CellKey};
use crate::results::outcome::CellOutcome;
use crate::results::record::CommitInfo;
use crate::results::{
    BisectRecord, BisectResult, CellAnswer, Dropped, FORMAT_VERSION, PinJson, ProbeCounts,
    SuiteInfo, TargetInfo,
};
use crate::revisions::revision::{self, Commit};
use crate::runtime::{RuntimeKind, runtime};
use crate::spec::target::Target;
use crate::suite::{Cell, Suite};
use crate::support::progress::Progress;

#[derive(Debug, Clone)]
pub struct BisectOptions {
    pub run: crate::engine::run::RunOptions,
    pub good: String,
    pub bad: String,
    pub cells: crate::suite::CellFilter,
    pub paths: Vec<String>,
    pub all_commits: bool,
    pub repeat: usize,
    pub probes: usize,
    pub target: String,
    pub records: PathBuf,
}

pub struct Bisected {
    pub record: BisectRecord,
    pub record_path: PathBuf,
    /// Why the record could not be written, when it could not.
    pub unrecorded: Option<Error>,
}

/// What a cell's outcome is, for telling whether it changed: status, check
/// and followup values, response values, and whether it could run at all.
/// Bodies and denial reasons are left out.
pub(crate) fn signature(outcome: &CellOutcome) -> serde_json::Value {
    json!({
        "status": outcome.status,
        "checks": outcome.checks.iter().map(|c| (&c.name, &c.observed)).collect::<Vec<_>>(),
        "followups": outcome.followups.iter().map(|c| (&c.name, &c.observed)).collect::<Vec<_>>(),
        "responses": outcome.responses,
        "error": outcome.error.is_some(),
    })
}

/// `outcomes` holds `cells` outcomes per repetition, repetition after
/// repetition: each cell's outcome when all its repetitions agree, else `None`.
fn agreed(outcomes: &[CellOutcome], cells: usize) -> Vec<Option<CellOutcome>> {
    (0..cells)
        .map(|c| {
            let first = &outcomes[c];
            outcomes
                .iter()
                .skip(c)
                .step_by(cells)
                .all(|o| signature(o) == signature(first))
                .then(|| first.clone())
        })
        .collect()
}

/// A probe's outcome for each cell it ran: `None` when its repetitions disagreed.
type Seen = Result<Vec<Option<CellOutcome>>, EngineError>;

struct Prober<'a> {
    run: &'a Run,
    repo: &'a git2::Repository,
    suite: &'a Suite,
    target: &'a Target,
    /// The target's part of the cell-cache key ([`crate::runtime::cells_target_key`]).
    target_key: String,
    trees: Vec<Oid>,
    labels: Vec<String>,
    cache: CellCache,
    runtime_name: &'static str,
    engine: OnceCell<Engine<'a>>,
    runtime_kind: RuntimeKind,
    options: &'a BisectOptions,
    progress: &'a Progress,
    /// Where the booted probes' time went, summed.
    times: std::sync::Mutex<ProbeTimes>,
}

/// The booted probes' time (the ends' included), summed over them (ms): each
/// probe's whole time (materialise, clone, boot, cells, stop, cache; not the
/// run's Postgres start), the server's boot and the cells; what neither holds
/// is the tool's overhead.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
struct ProbeTimes {
    booted: usize,
    total_ms: u128,
    boot_ms: u128,
    matrix_ms: u128,
    clone_ms: u128,
    stop_ms: u128,
    overhead_ms: u128,
}

impl<'a> Prober<'a> {
    fn key(&self, position: usize) -> CellKey {
        CellCache::key(
            &self.trees[position].to_string(),
            &self.suite.hash,
            &self.target_key,
            self.runtime_name,
        )
    }

    fn cached(&self, position: usize, cells: &[Cell]) -> Option<Vec<CellOutcome>> {
        self.cache.load(&self.key(position), cells)
    }

    /// Boot `position` and run `cells` (`repeat` times each).
    async fn boot(&self, position: usize, cells: &[Cell]) -> Seen {
        let started = Instant::now();
        let (checkout, _) = revision::materialise_cached(
            self.repo,
            self.trees[position],
            &self.options.run.cache_dir,
            &self.labels[position],
        )?;
        let engine_started = Instant::now();
        let engine = self
            .engine
            .get_or_try_init(|| async {
                Engine::start(
                    self.run,
                    self.suite,
                    self.target,
                    runtime(self.runtime_kind, &self.run.id, &self.run.cache_dir).await?,
                    self.progress,
                    Some(&checkout),
                    &[],
                    Use::Many,
                )
                .await
            })
            .await?;
        // The run's Postgres starts with the first probe: not a probe's own time.
        let engine_ms = engine_started.elapsed().as_millis();
        let repeated: Vec<Cell> = (0..self.options.repeat)
            .flat_map(|_| cells.iter().cloned())
            .collect();
        let evaluation = engine
            .evaluate(&checkout, &repeated, self.options.run.jobs)
            .await?;
        if evaluation.interrupted || self.run.cancel.is_cancelled() {
            return Err(EngineError::Runtime(
                crate::runtime::RuntimeError::Interrupted,
            ));
        }
        let outcomes: Vec<CellOutcome> = evaluation
            .outcomes
            .into_iter()
            .map(|o| o.expect("a finished evaluation has every cell"))
            .collect();
        let seen = agreed(&outcomes, cells.len());
        self.cache.store(&self.key(position), cells, &seen);
        let total_ms = started.elapsed().as_millis().saturating_sub(engine_ms);
        let t = &evaluation.timings;
        let mut times = self.times.lock().unwrap_or_else(|e| e.into_inner());
        times.booted += 1;
        times.total_ms += total_ms;
        times.boot_ms += t.boot_ms;
        times.matrix_ms += t.matrix_ms;
        times.clone_ms += t.clone_ms;
        times.stop_ms += t.stop_ms;
        times.overhead_ms += total_ms.saturating_sub(t.build_ms + t.boot_ms + t.matrix_ms);
        Ok(seen)
    }

    /// Cached results, or a boot.
    async fn probe(&self, position: usize, cells: &[Cell]) -> (Seen, bool) {
        match self.cached(position, cells) {
            Some(outcomes) => (Ok(outcomes.into_iter().map(Some).collect()), true),
            None => (self.boot(position, cells).await, false),
        }
    }
}

pub async fn bisect(options: &BisectOptions, cancel: CancellationToken) -> Result<Bisected, Error> {
    let started = Instant::now();
    let suite = crate::suite::load(&options.run.suite)?;
    let cells = crate::jobs::check::plan_cells(&suite, &options.cells)?;
    let target = Target::find(&options.run.suite, &options.target)?;
    options.run.runtime.check_target(&target)?;
    let repo = revision::open(&options.run.repo)?;
    let good = revision::resolve(&repo, &options.good)?;
    let bad = revision::resolve(&repo, &options.bad)?;
    let commits = revision::range(&repo, &good, &bad, options.all_commits)?;
    let n = commits.len() - 1;
    let offset = revision::depth(&repo, &good)?;
    let trees: Vec<Oid> = if options.paths.is_empty() {
        commits.iter().map(|c| c.tree).collect()
    } else {
        commits
            .iter()
            .map(|c| revision::overlay(&repo, bad.tree, c.tree, &options.paths))
            .collect::<Result<_, _>>()?
    };
    let labels: Vec<String> = commits.iter().map(|c| c.short()).collect();
    // The `[[variant]]` of the target each commit is built with (its tree's
    // files decide): the record names it for the ends and the answers.
    let docker = options.run.runtime == crate::runtime::RuntimeKind::Docker;
    let variant_of: std::collections::HashMap<String, String> = labels
        .iter()
        .zip(&trees)
        .filter_map(|(label, tree)| {
            super::fix::variant_at(&repo, *tree, &target, docker).map(|v| (label.clone(), v))
        })
        .collect();
    let runtime_name = options.run.runtime.name();
    let progress = Progress::new(options.run.quiet);
    progress.line(&format!(
        "bisect {} (good) .. {} (bad): {n} commits{}, {}, {} probe{} at once",
        good.short(),
        bad.short(),
        if options.all_commits {
            ""
        } else {
            " on the first-parent line"
        },
        crate::support::words::count(cells.len(), "cell"),
        options.probes,
        if options.probes == 1 { "" } else { "s" }
    ));
    let run = super::start_run(&options.run, cancel.clone(), &progress)?;
    // The prober borrows the run; it is gone by the end of this block.
    let result = {
        let prober = Prober {
            run: &run,
            repo: &repo,
            suite: &suite,
            target: &target,
            target_key: crate::runtime::cells_target_key(&target, options.run.runtime),
            trees,
            labels,
            // Each outcome stored or answered is agreed by `--repeat` runs.
            cache: CellCache::new(&options.run.cache_dir, !options.run.no_cache)
                .repeated(options.repeat),
            runtime_name,
            engine: OnceCell::new(),
            runtime_kind: options.run.runtime,
            options,
            progress: &progress,
            times: Default::default(),
        };
        let result = search(&prober, &commits, &cells, n, offset, options, &progress).await;
        if let Some(engine) = prober.engine.into_inner() {
            engine.stop().await;
        }
        let times = *prober.times.lock().unwrap_or_else(|e| e.into_inner());
        result.map(|found| (found, times))
    };
    let ((answers, dropped, counts, ends_ms, interrupted), probe_times) = match result {
        Ok(found) => found,
        Err(error) => {
            let mut run = run;
            if error.log().is_some() {
                run.logs.keep();
            }
            return Err(error);
        }
    };

    let distinct = answers
        .iter()
        .filter_map(|a| a.commit.as_ref().map(|c| c.commit.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut variants = std::collections::BTreeMap::new();
    let named = [good.short(), bad.short()].into_iter().chain(
        answers
            .iter()
            .flat_map(|a| [a.commit.as_ref(), a.after.as_ref()])
            .flatten()
            .map(|c| c.short.clone()),
    );
    for short in named {
        if let Some(variant) = variant_of.get(&short) {
            variants.insert(short, variant.clone());
        }
    }
    let record = BisectRecord {
        format_version: FORMAT_VERSION,
        kind: "bisect".into(),
        suite: SuiteInfo::of(&suite),
        target: TargetInfo::of(&target),
        runtime: runtime_name.into(),
        good: CommitInfo::of(&good),
        bad: CommitInfo::of(&bad),
        walk: if options.all_commits {
            "all-commits"
        } else {
            "first-parent"
        }
        .into(),
        paths: options.paths.clone(),
        commits: n,
        repeat: options.repeat,
        parallel: options.probes,
        cells: answers,
        dropped,
        probes: ProbeCounts {
            bound: distinct * log2_ceil(n),
            ..counts
        },
        interrupted,
        variants,
        run: json!({ "timings": {
            "total_ms": started.elapsed().as_millis(),
            "ends_ms": ends_ms,
            "probes": probe_times,
        } }),
    };
    let dir = crate::results::record::records_dir(&options.records, &suite.name);
    // An interrupted search never replaces a finished record.
    let record_path = dir.join(format!(
        "bisect-{}-{}{}.json",
        good.short(),
        bad.short(),
        if interrupted { "-interrupted" } else { "" }
    ));
    let mut text = serde_json::to_string_pretty(&record).expect("records serialise");
    text.push('\n');
    // A record that cannot be written keeps the answers: the caller prints
    // them, then fails with why.
    let unrecorded = crate::support::files::write_atomically(&record_path, text.as_bytes())
        .err()
        .map(|source| Error::Write {
            path: record_path.clone(),
            source,
        });
    Ok(Bisected {
        record,
        record_path,
        unrecorded,
    })
}

/// The answers, the cells left out, the probe counts, how long the ends took
/// (ms), and whether the search was interrupted (the answers are then ranges).
type Found = (Vec<CellAnswer>, Vec<Dropped>, ProbeCounts, u128, bool);

#[allow(clippy::too_many_arguments)]
async fn search(
    prober: &Prober<'_>,
    commits: &[Commit],
    cells: &[Cell],
    n: usize,
    offset: usize,
    options: &BisectOptions,
    progress: &Progress,
) -> Result<Found, Error> {
    let mut counts = ProbeCounts {
        ends: 2,
        ..ProbeCounts::default()
    };
    // The ends first, at once; they must both boot.
    let ends_started = Instant::now();
    let ((good, _), (bad, _)) = tokio::join!(prober.probe(0, cells), prober.probe(n, cells));
    // Interrupted at the ends: nothing to search, nothing to write.
    if prober.run.cancel.is_cancelled() {
        return Err(Error::Interrupted);
    }
    let (good, bad) = (good?, bad?);
    let mut dropped = Vec::new();
    let mut searched: Vec<Cell> = Vec::new();
    let mut good_outcomes: Vec<CellOutcome> = Vec::new();
    let mut bad_outcomes: Vec<CellOutcome> = Vec::new();
    for ((cell, at_good), at_bad) in cells.iter().zip(good).zip(bad) {
        match (at_good, at_bad) {
            (Some(g), Some(b)) if g.error.is_none() && b.error.is_none() => {
                if signature(&g) != signature(&b) {
                    searched.push(cell.clone());
                    good_outcomes.push(g);
                    bad_outcomes.push(b);
                }
            }
            (at_good, at_bad) => {
                let why = match (at_good, at_bad) {
                    (Some(g), Some(b)) => format!(
                        "it could not run at an end: {}",
                        g.error.or(b.error).unwrap_or_default()
                    ),
                    _ => "its runs disagree at an end (FLAKY)".to_string(),
                };
                progress.line(&format!("warning: {} is left out: {why}", cell.id));
                dropped.push(Dropped {
                    id: cell.id.to_string(),
                    why,
                });
            }
        }
    }
    if searched.is_empty() {
        progress.line("the ends do not differ on any cell: nothing to search");
        return Ok((
            Vec::new(),
            dropped,
            counts,
            ends_started.elapsed().as_millis(),
            false,
        ));
    }
    progress.line(&format!(
        "{} {} between the ends",
        crate::support::words::count(searched.len(), "cell"),
        crate::support::words::agree(searched.len(), "differs", "differ")
    ));

    let ends_ms = ends_started.elapsed().as_millis();
    let mut search = Search::new(n, searched.len(), offset);
    let mut seen: HashMap<(usize, usize), CellOutcome> = HashMap::new();
    for (index, outcome) in good_outcomes.iter().enumerate() {
        seen.insert((0, index), outcome.clone());
    }
    for (index, outcome) in bad_outcomes.iter().enumerate() {
        seen.insert((n, index), outcome.clone());
    }
    let observe = |index: usize, outcome: &Option<CellOutcome>| match outcome {
        None => Observation::Flaky,
        Some(o) if signature(o) == signature(&good_outcomes[index]) => Observation::Same,
        Some(_) => Observation::Changed,
    };
    // What earlier runs already probed in this range costs nothing.
    for position in 1..n {
        let present: Vec<(usize, CellOutcome)> = prober
            .cache
            .load_some(&prober.key(position), &searched)
            .into_iter()
            .enumerate()
            .filter_map(|(index, o)| Some((index, o?)))
            .collect();
        if present.is_empty() {
            continue;
        }
        counts.cached += 1;
        let observations = present
            .iter()
            .map(|(index, outcome)| (*index, observe(*index, &Some(outcome.clone()))))
            .collect();
        for (index, outcome) in present {
            seen.insert((position, index), outcome);
        }
        search.record(position, &Probe::Cells(observations));
    }

    let mut interrupted = false;
    let answers = loop {
        if prober.run.cancel.is_cancelled() {
            interrupted = true;
            break Vec::new();
        }
        let points = match search.next(options.probes) {
            Next::Done(answers) => break answers,
            Next::Probe(points) => points,
        };
        counts.rounds += 1;
        let batch: Vec<(usize, Vec<usize>)> =
            points.iter().map(|&p| (p, search.cells_at(p))).collect();
        let futures = batch.iter().map(|(position, indices)| {
            let subset: Vec<Cell> = indices.iter().map(|&i| searched[i].clone()).collect();
            async move { (*position, prober.probe(*position, &subset).await) }
        });
        let results = futures::future::join_all(futures).await;
        // What a round interrupted midway measured is left out: only whole probes count.
        if prober.run.cancel.is_cancelled() {
            interrupted = true;
            break Vec::new();
        }
        for ((position, indices), (_, (result, from_cache))) in batch.iter().zip(results) {
            let commit = &commits[*position];
            match result {
                Ok(outcomes) => {
                    if from_cache {
                        counts.cached += 1;
                    } else {
                        counts.booted += 1;
                    }
                    let mut observations = std::collections::BTreeMap::new();
                    for (index, outcome) in indices.iter().zip(&outcomes) {
                        observations.insert(*index, observe(*index, outcome));
                        if let Some(outcome) = outcome {
                            seen.insert((*position, *index), outcome.clone());
                        }
                    }
                    let changed = observations
                        .values()
                        .filter(|o| **o == Observation::Changed)
                        .count();
                    progress.line(&format!(
                        "probe    {} ({}/{n}) for {} cell{}: {changed} changed",
                        commit.short(),
                        position,
                        indices.len(),
                        if indices.len() == 1 { "" } else { "s" }
                    ));
                    search.record(*position, &Probe::Cells(observations));
                }
                Err(error) if error.is_revision_failure() => {
                    counts.unbootable += 1;
                    progress.line(&format!(
                        "skip     {} ({}/{n}): {error}",
                        commit.short(),
                        position
                    ));
                    search.record(*position, &Probe::Skip);
                }
                Err(error) => return Err(error.into()),
            }
        }
    };

    let info = |position: usize| CommitInfo::of(&commits[position]);
    if interrupted {
        let ranges = (0..searched.len())
            .map(|index| {
                let (last, first) = measured_range(&seen, index, n, |o| {
                    signature(o) == signature(&good_outcomes[index])
                });
                CellAnswer {
                    id: searched[index].id.to_string(),
                    result: BisectResult::Interrupted,
                    commit: Some(info(first)),
                    after: Some(info(last)),
                    unbootable: Vec::new(),
                    before: seen.get(&(last, index)).cloned(),
                    outcome_after: seen.get(&(first, index)).cloned(),
                    pin: None,
                    movement: None,
                    changes: Vec::new(),
                }
                .against(PinJson::from(&searched[index].pin))
            })
            .collect();
        return Ok((ranges, dropped, counts, ends_ms, true));
    }
    let mut results = Vec::new();
    for (index, answer) in answers.into_iter().enumerate() {
        let id = searched[index].id.to_string();
        results.push(
            match answer {
                Answer::Found { first } => CellAnswer {
                    id,
                    result: BisectResult::Found,
                    commit: Some(info(first)),
                    after: None,
                    unbootable: Vec::new(),
                    before: seen.get(&(first - 1, index)).cloned(),
                    outcome_after: seen.get(&(first, index)).cloned(),
                    pin: None,
                    movement: None,
                    changes: Vec::new(),
                },
                Answer::Range { last, first } => CellAnswer {
                    id,
                    result: BisectResult::Range,
                    commit: Some(info(first)),
                    after: Some(info(last)),
                    unbootable: (last + 1..first).map(|p| commits[p].short()).collect(),
                    before: seen.get(&(last, index)).cloned(),
                    outcome_after: seen.get(&(first, index)).cloned(),
                    pin: None,
                    movement: None,
                    changes: Vec::new(),
                },
                Answer::Flaky { at } => {
                    progress.line(&format!(
                        "warning: {id} is FLAKY: its runs disagreed at {}",
                        commits[at].short()
                    ));
                    CellAnswer {
                        id,
                        result: BisectResult::Flaky,
                        commit: Some(info(at)),
                        after: None,
                        unbootable: Vec::new(),
                        before: None,
                        outcome_after: None,
                        pin: None,
                        movement: None,
                        changes: Vec::new(),
                    }
                }
            }
            .against(PinJson::from(&searched[index].pin)),
        );
    }
    Ok((results, dropped, counts, ends_ms, false))
}

/// For one searched cell, the narrowest range measured: the last position
/// that still shows the good end's outcome before the first that shows
/// another one (the good end is `0`, the bad end `n`).
fn measured_range(
    seen: &HashMap<(usize, usize), CellOutcome>,
    index: usize,
    n: usize,
    same: impl Fn(&CellOutcome) -> bool,
) -> (usize, usize) {
    let first = (1..=n)
        .find(|p| seen.get(&(*p, index)).is_some_and(|o| !same(o)))
        .unwrap_or(n);
    let last = (0..first)
        .rev()
        .find(|p| seen.get(&(*p, index)).is_some_and(&same))
        .unwrap_or(0);
    (last, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Old revisions number their ids, new ones give UUIDs: the same check,
    /// passing at both, is one outcome (no flip); another id is another.
    #[test]
    fn an_outcome_that_differs_only_in_a_named_id_is_the_same() {
        use crate::results::outcome::Expectation;
        use crate::support::redact::Redactor;
        let outcome = |observed: serde_json::Value, name: &str| {
            let mut redactor = Redactor::default();
            redactor.know_value(&observed, name);
            CellOutcome {
                status: Some(200),
                checks: vec![Expectation::new(
                    "whoami",
                    redactor.value(observed.clone()),
                    redactor.value(observed),
                    true,
                )],
                ..CellOutcome::default()
            }
        };
        let old = outcome(json!(42), "actors.alice.id");
        let new = outcome(
            json!("3f2a9c1e-0000-4000-8000-000000000001"),
            "actors.alice.id",
        );
        assert_eq!(signature(&old), signature(&new));
        let other = outcome(json!(43), "actors.bob.id");
        assert_ne!(signature(&old), signature(&other));
    }

    fn seen(status: u16, body: &str) -> CellOutcome {
        CellOutcome {
            status: Some(status),
            body: body.into(),
            ..CellOutcome::default()
        }
    }

    #[test]
    fn an_interrupted_search_answers_the_narrowest_range_measured() {
        let mut seen = HashMap::new();
        for (position, status) in [(0, 403), (3, 403), (5, 200), (8, 200)] {
            seen.insert((position, 0), self::seen(status, ""));
        }
        let same = |o: &CellOutcome| o.status == Some(403);
        assert_eq!(measured_range(&seen, 0, 8, same), (3, 5));
        // Nothing probed inside: the ends.
        let ends: HashMap<_, _> = seen
            .into_iter()
            .filter(|((p, _), _)| *p == 0 || *p == 8)
            .collect();
        assert_eq!(measured_range(&ends, 0, 8, same), (0, 8));
    }

    #[test]
    fn repetitions_that_disagree_make_a_cell_flaky() {
        // Two cells, three repetitions: the first cell always 403, the second 200, 500, 200.
        let outcomes = [
            seen(403, "a"),
            seen(200, ""),
            seen(403, "b"),
            seen(500, ""),
            seen(403, "c"),
            seen(200, ""),
        ];
        let agreed = agreed(&outcomes, 2);
        // Bodies do not count: the first cell agrees.
        assert_eq!(agreed[0].as_ref().and_then(|o| o.status), Some(403));
        assert_eq!(agreed[1], None);
        assert_eq!(
            super::agreed(&outcomes[..2], 2)
                .iter()
                .filter(|o| o.is_some())
                .count(),
            2
        );
    }
}
