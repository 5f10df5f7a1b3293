//! `replay init DIR`: write a new suite's files, then load them the way every
//! command does, so that the scaffold is known to validate.

use std::path::{Path, PathBuf};

use crate::jobs::error::Error;
use crate::suite::scaffold;

pub struct Initialised {
    pub files: Vec<PathBuf>,
    pub cells: usize,
}

pub async fn init(dir: &Path, openapi: Option<&str>) -> Result<Initialised, Error> {
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Error::usage(
            format!("{} is not empty", dir.display()),
            Some("replay init writes a new suite: name a folder that does not exist yet, or an empty one".to_string()),
        ));
    }
    let operations = match openapi {
        None => Vec::new(),
        Some(source) => crate::jobs::openapi::read(source).await?.operations,
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
