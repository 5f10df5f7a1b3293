//! Cell results cached by what determines them: the revision's tree, the suite
//! and the target (and the runtime). Replaying a fix again, or probing a commit
//! a bisect already probed, boots nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::results::outcome::CellOutcome;
use crate::suite::Cell;

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    format_version: u32,
    /// sha256 of `cells` as serialised: an entry changed since it was
    /// written is a miss.
    digest: String,
    cells: BTreeMap<String, CellOutcome>,
}

fn digest(cells: &BTreeMap<String, CellOutcome>) -> String {
    let bytes = serde_json::to_vec(cells).expect("outcomes serialise");
    crate::support::cache::key(&[&bytes])
}

#[derive(Debug, Clone)]
pub(crate) struct CellCache {
    dir: PathBuf,
    enabled: bool,
}

impl CellCache {
    pub(crate) fn new(cache_dir: &std::path::Path, enabled: bool) -> Self {
        Self {
            dir: cache_dir.join("cells"),
            enabled,
        }
    }

    /// The key of a revision's results: tree id, suite hash, target hash, runtime.
    pub(crate) fn key(tree: &str, suite_hash: &str, target_hash: &str, runtime: &str) -> String {
        crate::support::cache::key(&[
            tree.as_bytes(),
            suite_hash.as_bytes(),
            target_hash.as_bytes(),
            runtime.as_bytes(),
        ])
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn read(&self, key: &str) -> Option<Entry> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let mut entry = serde_json::from_slice::<Entry>(&bytes)
            .ok()
            .filter(|e| e.format_version == crate::results::FORMAT_VERSION)?;
        if entry.digest != digest(&entry.cells) {
            tracing::warn!(
                "{} does not match its digest (changed since it was written): ignored, the cells run again",
                self.path(key).display()
            );
            return None;
        }
        // An ERROR is never an answer (an entry written before this rule).
        entry.cells.retain(|_, outcome| !is_error(outcome));
        Some(entry)
    }

    /// The outcomes of `cells`, when every one of them is cached.
    pub(crate) fn load(&self, key: &str, cells: &[Cell]) -> Option<Vec<CellOutcome>> {
        if !self.enabled {
            return None;
        }
        let entry = self.read(key)?;
        cells
            .iter()
            .map(|c| entry.cells.get(&c.id.to_string()).cloned())
            .collect()
    }

    /// The outcome of each of `cells` that is cached.
    pub(crate) fn load_some(&self, key: &str, cells: &[Cell]) -> Vec<Option<CellOutcome>> {
        let entry = self.enabled.then(|| self.read(key)).flatten();
        cells
            .iter()
            .map(|c| {
                entry
                    .as_ref()
                    .and_then(|e| e.cells.get(&c.id.to_string()).cloned())
            })
            .collect()
    }

    /// Add the outcomes of a revision whose every planned cell ran to the
    /// entry; `None` is a cell that ran but did not settle (its repetitions
    /// disagreed) and is left out. When any outcome is an ERROR (the server
    /// died, a setup step failed) nothing is stored: the revision is run
    /// again next time rather than answered from a broken run. Callers never
    /// pass the outcomes of an interrupted evaluation. Returns whether
    /// anything was stored.
    pub(crate) fn store(
        &self,
        key: &str,
        cells: &[Cell],
        outcomes: &[Option<CellOutcome>],
    ) -> bool {
        if !self.enabled || cells.len() != outcomes.len() {
            return false;
        }
        if outcomes.iter().flatten().any(is_error) {
            tracing::debug!("not caching {key}: a cell ended in ERROR");
            return false;
        }
        let mut entry = self.read(key).unwrap_or(Entry {
            format_version: crate::results::FORMAT_VERSION,
            digest: String::new(),
            cells: BTreeMap::new(),
        });
        for (cell, outcome) in cells.iter().zip(outcomes) {
            if let Some(outcome) = outcome {
                entry.cells.insert(cell.id.to_string(), outcome.clone());
            }
        }
        entry.digest = digest(&entry.cells);
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

    #[test]
    fn stores_and_loads_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CellCache::new(dir.path(), true);
        let key = CellCache::key("tree", "suite", "target", "local");
        let cells = [cell("s/t/a"), cell("s/t/b")];
        let seen = CellOutcome {
            status: Some(403),
            ..CellOutcome::default()
        };
        cache.store(&key, &cells, &[Some(seen.clone()), None]);
        assert_eq!(cache.load(&key, &cells[..1]), Some(vec![seen.clone()]));
        assert_eq!(cache.load(&key, &cells), None);
        cache.store(&key, &cells[1..], &[Some(seen.clone())]);
        assert_eq!(cache.load(&key, &cells), Some(vec![seen.clone(), seen]));
        assert_eq!(CellCache::new(dir.path(), false).load(&key, &cells), None);
        assert_ne!(
            key,
            CellCache::key("tree", "suite", "other target", "local")
        );
    }

    #[test]
    fn a_revision_with_an_error_cell_is_not_stored_and_old_errors_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CellCache::new(dir.path(), true);
        let key = CellCache::key("tree", "suite", "target", "local");
        let cells = [cell("s/t/a"), cell("s/t/b")];
        let seen = CellOutcome {
            status: Some(403),
            ..CellOutcome::default()
        };
        let died = CellOutcome::errored("connection refused");
        assert!(!cache.store(&key, &cells, &[Some(seen.clone()), Some(died.clone())]));
        assert_eq!(cache.load(&key, &cells[..1]), None);
        // An entry holding an ERROR (written by an older version) is a miss for that cell.
        let cells_with_error: BTreeMap<String, CellOutcome> = [
            ("s/t/a".to_string(), seen.clone()),
            ("s/t/b".to_string(), died),
        ]
        .into_iter()
        .collect();
        let entry = Entry {
            format_version: crate::results::FORMAT_VERSION,
            digest: digest(&cells_with_error),
            cells: cells_with_error,
        };
        std::fs::create_dir_all(dir.path().join("cells")).unwrap();
        std::fs::write(cache.path(&key), serde_json::to_vec(&entry).unwrap()).unwrap();
        assert_eq!(cache.load(&key, &cells), None);
        assert_eq!(cache.load_some(&key, &cells), vec![Some(seen), None]);
    }

    #[test]
    fn an_entry_changed_after_it_was_written_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CellCache::new(dir.path(), true);
        let key = CellCache::key("tree", "suite", "target", "local");
        let cells = [cell("s/t/a")];
        let seen = CellOutcome {
            status: Some(403),
            ..CellOutcome::default()
        };
        assert!(cache.store(&key, &cells, &[Some(seen.clone())]));
        assert_eq!(cache.load(&key, &cells), Some(vec![seen]));
        let path = cache.path(&key);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"status\":403"), "{text}");
        std::fs::write(&path, text.replace("\"status\":403", "\"status\":200")).unwrap();
        assert_eq!(cache.load(&key, &cells), None);
        assert_eq!(cache.load_some(&key, &cells), vec![None]);
    }
}
