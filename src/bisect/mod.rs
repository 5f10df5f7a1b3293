//! `replay bisect`: which commit flipped each cell, for many cells in one search.

mod run;
pub mod search;

pub use run::{BisectOptions, BisectRecord, BisectResult, Bisected, CellAnswer, bisect};
