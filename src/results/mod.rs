//! Results: what a cell showed against its pin, fix and bisect records, the
//! replay table, and the cell cache.
//!
//! Pure data and its comparisons; the only I/O is reading and writing the
//! record and cache files given to it. Imports `suite`, `spec`, `revisions`
//! and `support`, never `engine`, `report`, `jobs` or `cli`.

pub mod bisect;
pub(crate) mod cell_cache;
pub mod check;
pub mod coverage;
pub mod diff;
pub mod info;
pub mod listing;
pub mod mutants;
pub mod outcome;
pub mod record;
pub mod upstream;

pub use bisect::{BisectRecord, BisectResult, CellAnswer, Dropped, Movement, ProbeCounts};
pub use check::{
    CellReport, CheckCaches, CheckReport, CheckTimings, RevisionInfo, Summary, compare,
};
pub use info::{FORMAT_VERSION, PinJson, ScenarioInfo, SuiteInfo, TargetInfo};
