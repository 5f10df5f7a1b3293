//! `replay diff A B`: read two documents and compare them cell by cell.

use std::path::Path;

use crate::jobs::error::Error;
use crate::results::diff::{Diff, diff};

fn read(path: &Path) -> Result<serde_json::Value, Error> {
    let bytes = crate::support::files::read_text(path).map_err(|source| {
        Error::usage(
            format!("cannot read {}: {source}", path.display()),
            Some(
                "pass two JSON documents replay wrote: `check --format json` output or fix records"
                    .to_string(),
            ),
        )
    })?;
    serde_json::from_str(&bytes).map_err(|e| {
        Error::usage(
            format!("{} is not JSON: {e}", path.display()),
            Some(
                "pass two JSON documents replay wrote: `check --format json` output or fix records"
                    .to_string(),
            ),
        )
    })
}

pub fn run(a: &Path, b: &Path) -> Result<Diff, Error> {
    let (name_a, name_b) = (a.display().to_string(), b.display().to_string());
    diff(&name_a, &read(a)?, &name_b, &read(b)?).map_err(|error| {
        Error::usage(
            error.to_string(),
            Some("replay diff compares two check reports, two fix records, or one of each, of one suite".to_string()),
        )
    })
}
