//! `replay demo`: the embedded default, runnable from any folder.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::check::{CheckOptions, check};
use crate::error::Error;
use crate::report::grid::Palette;
use crate::runtime::RuntimeKind;

/// Check the bundled twin against the bundled LiteLLM suite on the local runtime.
pub async fn run(
    cache_dir: &Path,
    quiet: bool,
    cancel: CancellationToken,
    palette: &Palette,
) -> Result<u8, Error> {
    let _ = palette;
    let dir = tempfile::Builder::new()
        .prefix("replay-demo-")
        .tempdir()
        .map_err(|source| Error::Setup {
            context: "create the demo folder".into(),
            source,
        })?;
    crate::embedded::extract(dir.path()).map_err(|source| Error::Setup {
        context: "write the bundled twin".into(),
        source,
    })?;
    let options = CheckOptions {
        suite: dir.path().join("matrices/litellm"),
        target: Some("twin".into()),
        repo: dir.path().join("testdata/twin"),
        rev: None,
        cells: Vec::new(),
        jobs: crate::cli::default_jobs(),
        runtime: RuntimeKind::Local,
        cache_dir: cache_dir.to_path_buf(),
        no_cache: false,
        url: None,
        database_url: None,
        master_key: None,
        keep_logs: false,
        quiet,
    };
    let checked = check(&options, cancel).await?;
    crate::cli::print_check(&checked, crate::cli::Format::Human);
    Ok(crate::cli::check_exit_code(&checked))
}
