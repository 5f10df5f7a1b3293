//! Cell results cached by what determines them: the build of the tool that
//! evaluated them, the revision's tree, the suite, the target and the
//! runtime. Replaying a fix again, or probing a commit a bisect already
//! probed, boots nothing; a build of the tool whose source changed, like any
//! other change of those inputs, boots again.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::results::outcome::CellOutcome;
use crate::suite::Cell;

/// What a revision's cell results were computed from: each of these decides
/// an outcome. An entry's file is named by their digest and holds them; one
/// whose inputs are not these (written by another build of the tool under a
/// colliding name, or edited) is a miss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CellKey {
    /// The build of the tool ([`crate::support::version::identity`]): a
    /// build that evaluates a check or compares a status differently must
    /// not answer with what an older one measured.
    tool: String,
    /// The tree id of the revision (a commit's, or an overlay's).
    tree: String,
    /// The suite's hash: its world, scenarios and pins.
    suite: String,
    /// The target's hash (its file, the helpers beside it, the variables it
    /// passes) and, locally, the programs its build runs from `PATH` (the
    /// jobs compute it with the runtime's `cells_target_key`).
    target: String,
    runtime: String,
}

impl CellKey {
    /// The file name of the entry: the digest of the inputs.
    fn name(&self) -> String {
        crate::support::cache::key(&[
            self.tool.as_bytes(),
            self.tree.as_bytes(),
            self.suite.as_bytes(),
            self.target.as_bytes(),
            self.runtime.as_bytes(),
        ])
    }
}

/// One cell's cached outcome, with how many runs of it agreed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    outcome: CellOutcome,
    /// Repetitions that agreed (`replay bisect --repeat N`); a request for
    /// more is not answered from this entry.
    runs: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    format_version: u32,
    /// What the cells were computed from.
    key: CellKey,
    /// sha256 of `key` and `cells` as serialised: an entry changed since it
    /// was written is a miss.
    digest: String,
    cells: BTreeMap<String, Stored>,
}

fn digest(key: &CellKey, cells: &BTreeMap<String, Stored>) -> String {
    let key = serde_json::to_vec(key).expect("a key serialises");
    let cells = serde_json::to_vec(cells).expect("outcomes serialise");
    crate::support::cache::key(&[&key, &cells])
}

#[derive(Debug, Clone)]
pub(crate) struct CellCache {
    dir: PathBuf,
    enabled: bool,
    /// How many agreeing runs an outcome this cache answers with (or stores) has.
    runs: usize,
}

impl CellCache {
    pub(crate) fn new(cache_dir: &std::path::Path, enabled: bool) -> Self {
        Self {
            dir: cache_dir.join("cells"),
            enabled,
            runs: 1,
        }
    }

    /// The cache of a caller whose every outcome is agreed by `runs`
    /// repetitions: it stores them as such, and answers only with outcomes
    /// agreed by at least as many (one run is not `--repeat 3`).
    pub(crate) fn repeated(self, runs: usize) -> Self {
        Self {
            runs: runs.max(1),
            ..self
        }
    }

    /// The key of a revision's results, as this build of the tool computes
    /// them: tree id, suite hash, target hash, runtime.
    pub(crate) fn key(tree: &str, suite_hash: &str, target_hash: &str, runtime: &str) -> CellKey {
        Self::key_of(
            crate::support::version::identity(),
            tree,
            suite_hash,
            target_hash,
            runtime,
        )
    }

    fn key_of(tool: &str, tree: &str, suite: &str, target: &str, runtime: &str) -> CellKey {
        CellKey {
            tool: tool.into(),
            tree: tree.into(),
            suite: suite.into(),
            target: target.into(),
            runtime: runtime.into(),
        }
    }

    fn path(&self, key: &CellKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.name()))
    }

    fn read(&self, key: &CellKey) -> Option<Entry> {
        let path = self.path(key);
        let bytes = std::fs::read(&path).ok()?;
        // An entry of another format (one written before the key was kept in
        // it, by a build that did not key on itself) is a miss.
        let mut entry = serde_json::from_slice::<Entry>(&bytes)
            .ok()
            .filter(|e| e.format_version == crate::results::FORMAT_VERSION)?;
        if entry.digest != digest(&entry.key, &entry.cells) {
            tracing::warn!(
                "{} does not match its digest (changed since it was written): ignored, the cells run again",
                path.display()
            );
            return None;
        }
        if entry.key != *key {
            tracing::warn!(
                "{} was computed from other inputs ({}): ignored, the cells run again",
                path.display(),
                entry.key.tool
            );
            return None;
        }
        // An ERROR is never an answer (an entry written before this rule).
        entry.cells.retain(|_, stored| !is_error(&stored.outcome));
        Some(entry)
    }

    /// The cached outcome of `cell` that answers for this cache's runs.
    fn answer(&self, entry: &Entry, cell: &Cell) -> Option<CellOutcome> {
        entry
            .cells
            .get(&cell.id.to_string())
            .filter(|stored| stored.runs >= self.runs)
            .map(|stored| stored.outcome.clone())
    }

    /// The outcomes of `cells`, when every one of them is cached (a side is
    /// answered wholly from one entry, or evaluated wholly).
    pub(crate) fn load(&self, key: &CellKey, cells: &[Cell]) -> Option<Vec<CellOutcome>> {
        if !self.enabled {
            return None;
        }
        let entry = self.read(key)?;
        cells.iter().map(|c| self.answer(&entry, c)).collect()
    }

    /// The outcome of each of `cells` that is cached, all from the one entry
    /// of `key`.
    pub(crate) fn load_some(&self, key: &CellKey, cells: &[Cell]) -> Vec<Option<CellOutcome>> {
        let entry = self.enabled.then(|| self.read(key)).flatten();
        cells
            .iter()
            .map(|c| entry.as_ref().and_then(|e| self.answer(e, c)))
            .collect()
    }

    /// Add the outcomes of a revision whose every planned cell ran to the
    /// entry; `None` is a cell that ran but did not settle (its repetitions
    /// disagreed) and is left out. When any outcome is an ERROR (the server
    /// died, a setup step failed) nothing is stored: the revision is run
    /// again next time rather than answered from a broken run. Callers never
    /// pass the outcomes of an interrupted evaluation. An outcome replaces the
    /// one stored for its cell; an entry of other inputs is replaced whole,
    /// never added to. Returns whether anything was stored.
    pub(crate) fn store(
        &self,
        key: &CellKey,
        cells: &[Cell],
        outcomes: &[Option<CellOutcome>],
    ) -> bool {
        if !self.enabled || cells.len() != outcomes.len() {
            return false;
        }
        if outcomes.iter().flatten().any(is_error) {
            tracing::debug!("not caching {}: a cell ended in ERROR", key.name());
            return false;
        }
        let mut entry = self.read(key).unwrap_or_else(|| Entry {
            format_version: crate::results::FORMAT_VERSION,
            key: key.clone(),
            digest: String::new(),
            cells: BTreeMap::new(),
        });
        for (cell, outcome) in cells.iter().zip(outcomes) {
            if let Some(outcome) = outcome {
                let stored = Stored {
                    outcome: outcome.clone(),
                    runs: self.runs,
                };
                entry.cells.insert(cell.id.to_string(), stored);
            }
        }
        entry.digest = digest(&entry.key, &entry.cells);
        let bytes = serde_json::to_vec(&entry).expect("outcomes serialise");
        if let Err(error) = crate::support::files::write_atomically(&self.path(key), &bytes) {
            tracing::warn!("cannot write the cell cache: {error}");
            return false;
        }
        true
    }
}

fn is_error(outcome: &CellOutcome) -> bool {
    outcome.error.is_some() || outcome.status.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{CellId, Pin};

    fn cell(id: &str) -> Cell {
        Cell {
            id: CellId::parse(id).unwrap(),
            scenario: 0,
            pin: Pin {
                status: 200,
                unknown: false,
                responses: Default::default(),
            },
        }
    }

    fn seen(status: u16) -> CellOutcome {
        CellOutcome {
            status: Some(status),
            ..CellOutcome::default()
        }
    }

    /// Write the entry of `key` by hand, holding `cells` under `stored_key`.
    fn write_entry(
        cache: &CellCache,
        key: &CellKey,
        stored_key: CellKey,
        cells: BTreeMap<String, Stored>,
    ) {
        let entry = Entry {
            format_version: crate::results::FORMAT_VERSION,
            digest: digest(&stored_key, &cells),
            key: stored_key,
            cells,
        };
        std::fs::create_dir_all(&cache.dir).unwrap();
        std::fs::write(cache.path(key), serde_json::to_vec(&entry).unwrap()).unwrap();
    }

    #[test]
    fn stores_and_loads_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CellCache::new(dir.path(), true);
        let key = CellCache::key("tree", "suite", "target", "local");
        let cells = [cell("s/t/a"), cell("s/t/b")];
        cache.store(&key, &cells, &[Some(seen(403)), None]);
        assert_eq!(cache.load(&key, &cells[..1]), Some(vec![seen(403)]));
        assert_eq!(cache.load(&key, &cells), None);
        cache.store(&key, &cells[1..], &[Some(seen(403))]);
        assert_eq!(cache.load(&key, &cells), Some(vec![seen(403), seen(403)]));
        assert_eq!(CellCache::new(dir.path(), false).load(&key, &cells), None);
        for other in [
            CellCache::key("other tree", "suite", "target", "local"),
            CellCache::key("tree", "other suite", "target", "local"),
            CellCache::key("tree", "suite", "other target", "local"),
            CellCache::key("tree", "suite", "target", "docker"),
        ] {
            assert_ne!(key.name(), other.name());
            assert_eq!(cache.load(&other, &cells), None);
            assert_eq!(cache.load_some(&other, &cells), vec![None, None]);
        }
    }

    #[test]
    fn the_key_names_this_build_of_the_tool_and_another_builds_cells_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CellCache::new(dir.path(), true);
        let key = CellCache::key("tree", "suite", "target", "local");
        assert_eq!(key.tool, crate::support::version::identity());
        assert!(
            key.tool.contains(env!("REPLAY_SOURCE_DIGEST")),
            "{}",
            key.tool
        );
        let cells = [cell("s/t/a")];
        // What an older build measured, under its own key: not this build's answer.
        let older = CellCache::key_of(
            "replay 0.1.0 source 0123",
            "tree",
            "suite",
            "target",
            "local",
        );
        assert_ne!(older.name(), key.name());
        assert!(cache.store(&older, &cells, &[Some(seen(200))]));
        assert_eq!(cache.load(&older, &cells), Some(vec![seen(200)]));
        assert_eq!(cache.load(&key, &cells), None);
        assert_eq!(cache.load_some(&key, &cells), vec![None]);
        // Its entry, found under this build's name (a collision, a copied
        // file): the inputs it holds decide, and it is a miss.
        let stored: BTreeMap<String, Stored> = [(
            "s/t/a".to_string(),
            Stored {
                outcome: seen(200),
                runs: 1,
            },
        )]
        .into_iter()
        .collect();
        write_entry(&cache, &key, older.clone(), stored);
        assert_eq!(cache.load(&key, &cells), None);
        assert_eq!(cache.load_some(&key, &cells), vec![None]);
        // Storing replaces it whole: none of its cells join this build's.
        let two = [cell("s/t/a"), cell("s/t/b")];
        assert!(cache.store(&key, &two[1..], &[Some(seen(403))]));
        assert_eq!(cache.load_some(&key, &two), vec![None, Some(seen(403))]);
        // An entry in the format before the key was kept in it is a miss.
        let before = serde_json::json!({
            "format_version": crate::results::FORMAT_VERSION,
            "digest": "",
            "cells": { "s/t/a": seen(200) },
        });
        std::fs::write(cache.path(&key), serde_json::to_vec(&before).unwrap()).unwrap();
        assert_eq!(cache.load_some(&key, &two), vec![None, None]);
    }

    #[test]
    fn an_outcome_of_fewer_runs_than_asked_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let key = CellCache::key("tree", "suite", "target", "local");
        let cells = [cell("s/t/a"), cell("s/t/b")];
        let once = CellCache::new(dir.path(), true);
        let thrice = CellCache::new(dir.path(), true).repeated(3);
        assert!(once.store(&key, &cells[..1], &[Some(seen(200))]));
        assert!(thrice.store(&key, &cells[1..], &[Some(seen(403))]));
        assert_eq!(once.load(&key, &cells), Some(vec![seen(200), seen(403)]));
        assert_eq!(thrice.load(&key, &cells), None);
        assert_eq!(thrice.load_some(&key, &cells), vec![None, Some(seen(403))]);
        // A later single run replaces the agreed one, and says it ran once.
        assert!(once.store(&key, &cells[1..], &[Some(seen(404))]));
        assert_eq!(thrice.load_some(&key, &cells), vec![None, None]);
        assert_eq!(once.load(&key, &cells), Some(vec![seen(200), seen(404)]));
    }

    #[test]
    fn a_revision_with_an_error_cell_is_not_stored_and_old_errors_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CellCache::new(dir.path(), true);
        let key = CellCache::key("tree", "suite", "target", "local");
        let cells = [cell("s/t/a"), cell("s/t/b")];
        let died = CellOutcome::errored("connection refused");
        assert!(!cache.store(&key, &cells, &[Some(seen(403)), Some(died.clone())]));
        assert_eq!(cache.load(&key, &cells[..1]), None);
        // An entry holding an ERROR (written by an older version) is a miss for that cell.
        let stored: BTreeMap<String, Stored> = [("s/t/a", seen(403)), ("s/t/b", died)]
            .into_iter()
            .map(|(id, outcome)| (id.to_string(), Stored { outcome, runs: 1 }))
            .collect();
        write_entry(&cache, &key, key.clone(), stored);
        assert_eq!(cache.load(&key, &cells), None);
        assert_eq!(cache.load_some(&key, &cells), vec![Some(seen(403)), None]);
    }

    #[test]
    fn an_entry_changed_after_it_was_written_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CellCache::new(dir.path(), true);
        let key = CellCache::key("tree", "suite", "target", "local");
        let cells = [cell("s/t/a")];
        assert!(cache.store(&key, &cells, &[Some(seen(403))]));
        assert_eq!(cache.load(&key, &cells), Some(vec![seen(403)]));
        let path = cache.path(&key);
        let text = std::fs::read_to_string(&path).unwrap();
        for (from, to) in [
            ("\"status\":403", "\"status\":200"),
            ("\"runs\":1", "\"runs\":3"),
        ] {
            assert!(text.contains(from), "{text}");
            std::fs::write(&path, text.replace(from, to)).unwrap();
            assert_eq!(cache.load(&key, &cells), None);
            assert_eq!(cache.load_some(&key, &cells), vec![None]);
        }
        // And so is one whose inputs were edited to pass for another build's.
        let tool = &key.tool;
        assert!(text.contains(tool.as_str()), "{text}");
        std::fs::write(&path, text.replace(tool.as_str(), "replay 0.0.1 source 0")).unwrap();
        assert_eq!(cache.load(&key, &cells), None);
    }
}
