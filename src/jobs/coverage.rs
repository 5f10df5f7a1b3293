//! `replay coverage`: the endpoints of an OpenAPI document no scenario covers,
//! and the cells each scenario leaves unpinned. Nothing is booted.

use std::path::Path;

use crate::jobs::error::Error;
use crate::results::coverage::Coverage;
use crate::suite::scaffold;

pub fn coverage(suite_dir: &Path, openapi: Option<&Path>) -> Result<Coverage, Error> {
    let suite = crate::suite::load(suite_dir)?;
    let Some(path) = openapi else {
        return Ok(Coverage::of(&suite, None));
    };
    let text = crate::support::files::read_text(path).map_err(|e| {
        Error::usage(
            format!("cannot read {}: {e}", path.display()),
            Some(
                "--openapi takes the path of an OpenAPI (or Swagger) document in JSON".to_string(),
            ),
        )
    })?;
    // The parser `replay init --openapi` scaffolds from.
    let operations = scaffold::operations(&text).map_err(|e| {
        Error::usage(
            format!("{}: {e}", path.display()),
            Some(
                "pass an OpenAPI (or Swagger) document in JSON, with a `paths` object".to_string(),
            ),
        )
    })?;
    if operations.is_empty() {
        return Err(Error::usage(
            format!(
                "{} has no operation (get, post, put, patch or delete) under `paths`",
                path.display()
            ),
            Some(
                "an empty document would count as fully covered: pass the server's document"
                    .to_string(),
            ),
        ));
    }
    let name = path.display().to_string();
    Ok(Coverage::of(&suite, Some((&name, &operations))))
}
