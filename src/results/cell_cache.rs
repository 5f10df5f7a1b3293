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
    cells: BTreeMap<String, CellOutcome>,
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
        serde_json::from_slice::<Entry>(&bytes)
            .ok()
            .filter(|e| e.format_version == crate::results::FORMAT_VERSION)
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

    /// Add finished outcomes to the entry (cells that did not run are left out).
    pub(crate) fn store(&self, key: &str, cells: &[Cell], outcomes: &[Option<CellOutcome>]) {
        if !self.enabled {
            return;
        }
        let mut entry = self.read(key).unwrap_or(Entry {
            format_version: crate::results::FORMAT_VERSION,
            cells: BTreeMap::new(),
        });
        for (cell, outcome) in cells.iter().zip(outcomes) {
            if let Some(outcome) = outcome {
                entry.cells.insert(cell.id.to_string(), outcome.clone());
            }
        }
        let bytes = serde_json::to_vec(&entry).expect("outcomes serialise");
        if let Err(error) = crate::support::files::write_atomically(&self.path(key), &bytes) {
            tracing::warn!("cannot write the cell cache: {error}");
        }
    }
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
}
