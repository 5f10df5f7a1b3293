//! `replay list`: the cells of a suite (id, endpoint, pin), as the filters
//! select them. Nothing is booted.

use std::path::Path;

use crate::jobs::error::Error;
use crate::results::listing::CellListing;
use crate::suite::CellFilter;

pub fn list(suite_dir: &Path, filter: &CellFilter) -> Result<CellListing, Error> {
    let suite = crate::suite::load(suite_dir)?;
    let cells = crate::jobs::check::plan_cells(&suite, filter)?;
    Ok(CellListing::of(&suite, &cells, filter.describe()))
}
