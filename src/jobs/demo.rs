//! `replay demo`: the embedded default, runnable from any folder.
//!
//! It writes the bundled LiteLLM suite and the twin's generated history into a
//! temp folder and replays the twin's fix "extend /key/update admin check to
//! non-budget fields" on the local runtime: six cells go RED → GREEN. The
//! record and the replay table go to `<cache>/demo/replays`, to look at after.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::jobs::error::Error;
use crate::jobs::fix::{FixOptions, Replayed, replay_fix};
use crate::runtime::RuntimeKind;
use crate::support::progress::Progress;

/// The tag of the twin's commit the demo replays.
pub const DEMO_FIX: &str = "update-fix";

/// Replay the demo fix; the caller prints what it measured.
pub async fn run(
    cache_dir: &Path,
    quiet: bool,
    runtime: RuntimeKind,
    cancel: CancellationToken,
) -> Result<Replayed, Error> {
    let setup = |context: &str| {
        let context = context.to_string();
        move |source| Error::Setup { context, source }
    };
    let dir = tempfile::Builder::new()
        .prefix("replay-demo-")
        .tempdir()
        .map_err(setup("create the demo folder"))?;
    crate::support::embedded::extract(dir.path()).map_err(setup("write the bundled suite"))?;
    let history = crate::revisions::history::generate(&dir.path().join("twin")).map_err(|e| {
        Error::Setup {
            context: e.to_string(),
            source: std::io::Error::other("history"),
        }
    })?;
    let fix = history
        .tagged(DEMO_FIX)
        .expect("the history tags the demo's fix");
    Progress::new(quiet).line(&format!(
        "the twin's history: {} commits in {}",
        history.commits.len(),
        history.dir.display()
    ));
    let options = FixOptions {
        run: crate::engine::run::RunOptions {
            suite: dir.path().join("matrices/litellm"),
            repo: history.dir.clone(),
            jobs: crate::engine::run::default_jobs(),
            runtime,
            cache_dir: cache_dir.to_path_buf(),
            no_cache: false,
            keep_logs: false,
            quiet,
        },
        rev: fix.id.to_string(),
        parent: None,
        paths: Vec::new(),
        base: None,
        target: "twin".into(),
        records: cache_dir.join("demo").join("replays"),
        sequential: false,
    };
    replay_fix(&options, cancel).await
}
