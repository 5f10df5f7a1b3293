//! Jobs: what each command does, from a plan to a result — `check`, `fix`,
//! `bisect`, `mutate`, `plan` and `merge`, `gc`, `demo`.
//!
//! Jobs are the only callers of `engine/` and the only producers of records;
//! they turn every module's error into [`Error`]. They never import `cli`.

pub mod bisect;
pub mod check;
pub mod coverage;
pub mod demo;
pub mod diff;
pub mod error;
pub mod fix;
pub mod gc;
pub mod images;
pub mod init;
pub mod list;
pub mod mutate;
pub(crate) mod openapi;
pub mod plan;

pub use error::Error;

/// A new run for a job, or the error to end the command with.
pub(crate) fn start_run(
    options: &crate::engine::run::RunOptions,
    cancel: tokio_util::sync::CancellationToken,
    progress: &crate::support::progress::Progress,
) -> Result<crate::engine::run::Run, Error> {
    use crate::engine::run::RunError;
    crate::engine::run::Run::start(options, cancel, progress).map_err(|error| match error {
        RunError::InUse { .. } => Error::usage(
            error.to_string(),
            Some(
                "REPLAY_RUN_ID names one run at a time: unset it, or give each concurrent run its own"
                    .to_string(),
            ),
        ),
        RunError::Io(source) => Error::Setup {
            context: "create the run's directories".into(),
            source,
        },
    })
}
