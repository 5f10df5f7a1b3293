//! `replay coverage`: the endpoints of an OpenAPI document no scenario covers,
//! and the cells each scenario leaves unpinned. Nothing is booted.

use std::path::Path;

use crate::jobs::error::Error;
use crate::results::coverage::Coverage;

pub async fn coverage(suite_dir: &Path, openapi: Option<&str>) -> Result<Coverage, Error> {
    let suite = crate::suite::load(suite_dir)?;
    let Some(source) = openapi else {
        return Ok(Coverage::of(&suite, None));
    };
    // The reader `replay init --openapi` scaffolds from.
    let document = crate::jobs::openapi::read(source).await?;
    if document.operations.is_empty() {
        return Err(Error::usage(
            format!(
                "{} has no operation (get, post, put, patch or delete) under `paths`",
                document.name
            ),
            Some(
                "an empty document would count as fully covered: pass the server's document"
                    .to_string(),
            ),
        ));
    }
    Ok(Coverage::of(
        &suite,
        Some((&document.name, &document.operations)),
    ))
}
