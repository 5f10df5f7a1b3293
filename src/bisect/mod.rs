//! `replay bisect`: which commit flipped each cell.

pub mod search;
