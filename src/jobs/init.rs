//! `replay init DIR`: write a new suite's files, then load them the way every
//! command does, so that the scaffold is known to validate.

use std::path::{Path, PathBuf};

use crate::jobs::error::Error;
use crate::suite::scaffold;

pub struct Initialised {
    pub files: Vec<PathBuf>,
    pub cells: usize,
}

pub fn init(dir: &Path, openapi: Option<&Path>) -> Result<Initialised, Error> {
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Error::usage(
            format!("{} is not empty", dir.display()),
            Some("replay init writes a new suite: name a folder that does not exist yet, or an empty one".to_string()),
        ));
    }
    let operations = match openapi {
        None => Vec::new(),
        Some(path) => {
            let text = crate::support::files::read_text(path)
                .map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display()), None))?;
            scaffold::operations(&text).map_err(|e| {
                Error::usage(
                    format!("{}: {e}", path.display()),
                    Some(
                        "pass an OpenAPI (or Swagger) document in JSON, with a `paths` object"
                            .to_string(),
                    ),
                )
            })?
        }
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "suite".into());
    let mut written = Vec::new();
    for (relative, text) in scaffold::files(&name, &operations) {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        crate::support::files::write_atomically(&path, text.as_bytes()).map_err(|source| {
            Error::Write {
                path: path.clone(),
                source,
            }
        })?;
        written.push(path);
    }
    // What was written must load like any suite and target.
    let suite = crate::suite::load(dir)?;
    crate::spec::target::Target::find(dir, "local")?;
    Ok(Initialised {
        files: written,
        cells: suite.cells().len(),
    })
}
