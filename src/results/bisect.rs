//! The record of a bisect: for each searched cell, the commit that changed it.

use serde::{Deserialize, Serialize};

use super::info::{SuiteInfo, TargetInfo};
use super::outcome::CellOutcome;
use super::record::CommitInfo;

/// What the search found for a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BisectResult {
    /// The first commit with the changed outcome.
    Found,
    /// A range: unbootable commits hide the exact one.
    Range,
    /// The cell's runs disagreed; it was dropped from the search.
    Flaky,
    /// The search was interrupted: the change is after `after` and at or
    /// before `commit`, the narrowest range measured.
    Interrupted,
}

impl BisectResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Found => "found",
            Self::Range => "range",
            Self::Flaky => "flaky",
            Self::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for BisectResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cell's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellAnswer {
    pub id: String,
    pub result: BisectResult,
    /// The first commit with the changed outcome ("found"), or the last of the range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitInfo>,
    /// For a range: the last commit that still shows the good end's outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<CommitInfo>,
    /// For a range: the commits in between, which could not be booted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unbootable: Vec<String>,
    /// The outcome just before the change, and just after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<CellOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_after: Option<CellOutcome>,
}

/// A cell left out of the search, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropped {
    pub id: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeCounts {
    /// The two ends, booted (or cached) first.
    pub ends: usize,
    /// Commits inside the range booted for the search.
    pub booted: usize,
    /// Commits inside the range whose results came from the cell cache.
    pub cached: usize,
    /// Commits that could not be built or booted.
    pub unbootable: usize,
    /// Batches of probes (each batch at once).
    pub rounds: usize,
    /// k × ceil(log2 N): k distinct flip points over N commits.
    pub bound: usize,
}

/// The record of a bisect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BisectRecord {
    pub format_version: u32,
    pub kind: String,
    pub suite: SuiteInfo,
    pub target: TargetInfo,
    pub runtime: String,
    pub good: CommitInfo,
    pub bad: CommitInfo,
    /// "first-parent" or "all-commits".
    pub walk: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Commits from good to bad (N).
    pub commits: usize,
    pub repeat: usize,
    pub parallel: usize,
    pub cells: Vec<CellAnswer>,
    pub dropped: Vec<Dropped>,
    pub probes: ProbeCounts,
    /// The search was interrupted: each cell's answer is the range measured so far.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub run: serde_json::Value,
}
