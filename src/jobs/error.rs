//! The errors a command can end with, their exit codes and their hints.

use std::path::PathBuf;

use crate::engine::EngineError;
use crate::engine::world::WorldError;
use crate::report::html::HtmlError;
use crate::results::record::RecordError;
use crate::revisions::revision::RevisionError;
use crate::runtime::RuntimeError;
use crate::spec::source::Problem;
use crate::spec::target::TargetError;
use crate::suite::{AcceptError, SuiteError};
use crate::support::exit_codes;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Revision(#[from] RevisionError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    World(#[from] WorldError),
    #[error(transparent)]
    Accept(#[from] AcceptError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Mutate(#[from] crate::mutate::MutateError),
    /// An overlay (`--paths`) that did not build or boot.
    #[error("the overlay of {paths} on {base} did not boot")]
    Overlay {
        paths: String,
        base: String,
        #[source]
        source: EngineError,
    },
    /// A flag or argument that does not make sense.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// `replay report`: a document that cannot be read or rendered.
    #[error("cannot render {}", path.display())]
    Html {
        path: PathBuf,
        #[source]
        source: HtmlError,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A run that measured its result but could not write its record: the
    /// result is printed (with `--format json`, under `result` in the error
    /// document), then the run fails.
    #[error("{}", match written {
        Some(_) => "the result was recorded but the replay table was not updated",
        None => "the result was measured but not recorded",
    })]
    NotRecorded {
        #[source]
        source: Box<Error>,
        result: Option<Box<serde_json::Value>>,
        /// The record, when it was written and only the table was not.
        written: Option<PathBuf>,
    },
    #[error("cannot set up the run: {context}")]
    Setup {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted")]
    Interrupted,
    /// `check --url`: the server or its database does not answer.
    #[error("the {what} at {address} is unreachable: {reason}")]
    Unreachable {
        what: &'static str,
        address: String,
        reason: String,
        hint: String,
    },
}

impl From<RuntimeError> for Error {
    fn from(error: RuntimeError) -> Self {
        Error::Engine(EngineError::Runtime(error))
    }
}

impl Error {
    pub(crate) fn usage(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Accept(AcceptError::Write { .. }) | Error::NotRecorded { .. } => {
                exit_codes::ENVIRONMENT
            }
            Error::Suite(_)
            | Error::Target(_)
            | Error::Usage { .. }
            | Error::Accept(_)
            | Error::Html { .. } => exit_codes::BAD_INPUT,
            Error::Revision(
                RevisionError::Unknown { .. }
                | RevisionError::Ambiguous { .. }
                | RevisionError::NoDirectory { .. }
                | RevisionError::NoParent { .. }
                | RevisionError::Reversed { .. }
                | RevisionError::NotAncestor { .. }
                | RevisionError::NotFirstParent { .. }
                | RevisionError::NoSuchPath { .. }
                | RevisionError::NotAFolder { .. }
                | RevisionError::SameEnds { .. },
            ) => exit_codes::BAD_INPUT,
            Error::Overlay { .. } => exit_codes::REVISION_FAILED,
            Error::Record(RecordError::Disagrees { .. } | RecordError::Upstream { .. }) => {
                exit_codes::BAD_INPUT
            }
            Error::Record(_) => exit_codes::ENVIRONMENT,
            Error::Mutate(_) => exit_codes::BAD_INPUT,
            Error::Revision(_) => exit_codes::ENVIRONMENT,
            Error::Engine(EngineError::Sql { .. })
            | Error::Engine(EngineError::Runtime(RuntimeError::MissingInput { .. })) => {
                exit_codes::BAD_INPUT
            }
            Error::Engine(EngineError::Runtime(RuntimeError::Interrupted)) | Error::Interrupted => {
                exit_codes::INTERRUPTED
            }
            Error::Engine(error) if error.is_revision_failure() => exit_codes::REVISION_FAILED,
            Error::World(_) => exit_codes::REVISION_FAILED,
            Error::Engine(_) | Error::Write { .. } | Error::Setup { .. } => exit_codes::ENVIRONMENT,
            Error::Unreachable { .. } => exit_codes::ENVIRONMENT,
        }
    }

    /// Problems in files people wrote, each with its own location and hint.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Suite(SuiteError::Invalid { problems, .. })
            | Error::Target(TargetError::Invalid { problems, .. })
            | Error::Engine(EngineError::Sql { problems, .. }) => problems,
            _ => &[],
        }
    }

    /// The log behind a failure: its path, the command, its last lines.
    pub fn log(&self) -> Option<(&std::path::Path, &str, &str)> {
        match self {
            Error::Engine(EngineError::Runtime(error))
            | Error::Overlay {
                source: EngineError::Runtime(error),
                ..
            } => error.log(),
            _ => None,
        }
    }

    /// What to do about it.
    pub fn hints(&self) -> Vec<String> {
        match self {
            Error::NotRecorded { source, result, written } => {
                let shown = if result.is_some() { "under `result` in this document" } else { "printed above" };
                let mut hints = vec![match written {
                    Some(record) => format!(
                        "the result is {shown} and in {}; the replay table is unchanged: fix what the error names, then `replay table --records DIR` renders it from the records",
                        record.display()
                    ),
                    None => format!(
                        "the result is {shown} and the replay table is unchanged: make the folder writable or pass --records DIR, then run again (cells already measured come from the cell cache)"
                    ),
                }];
                hints.extend(source.hints().into_iter().filter(|h| !h.contains("(--records) is writable")));
                hints
            }
            Error::Suite(SuiteError::NotFound { .. }) => vec!["point --suite at a folder with suite.toml, world.toml and scenarios/ (e.g. --suite matrices/litellm)".into()],
            Error::Target(TargetError::NotFound { available, .. }) if available.is_empty() => vec!["add a target file under the suite's targets/ folder".into()],
            Error::Target(TargetError::NotFound { available, .. }) => vec![format!("the targets of this suite are: {}", available.join(", "))],
            Error::Target(TargetError::NoLocalRecipe { .. }) => vec!["add [local.build], [local.migrate] and [local.boot] to the target".into()],
            Error::Target(TargetError::NoDockerRecipe { .. }) => vec![
                "add [docker.image], [docker.build], [docker.migrate] and [docker.boot] to the target (docs/format.md, \"Targets\"), or run it with --runtime local".into(),
            ],
            Error::Target(TargetError::HostFile { key, variable, problem, .. }) => vec![match problem {
                crate::spec::target::HostFileProblem::Unset => format!(
                    "export {variable}=/path/to/the/file (the Docker runtime copies it into the image), or move `{variable}` to docker.build.optional_host_files if the build works without it"
                ),
                crate::spec::target::HostFileProblem::NotAFile(_) => format!(
                    "point {variable} at an existing file on this machine, or unset it{}",
                    if key.ends_with(".optional_host_files") { "" } else { " and move it to docker.build.optional_host_files" }
                ),
            }],
            Error::Revision(RevisionError::NotARepository { .. }) => vec!["pass --repo with the path of the server's git checkout".into()],
            Error::Revision(RevisionError::Unknown { .. }) => vec!["use a commit id (short is fine), a branch, a tag or an expression like HEAD~3; `git log --oneline` lists them".into()],
            Error::Revision(RevisionError::Ambiguous { .. }) => vec!["give more digits of the commit id".into()],
            Error::Revision(RevisionError::Reversed { .. }) => vec!["swap --good and --bad: --good is the older end, whose outcomes the search looks for the change from".into()],
            Error::Revision(RevisionError::NoDirectory { .. }) => vec!["--repo takes the folder of the server's git checkout: check the path (relative paths start at the current folder), or `git clone` the server there first".into()],
            Error::Revision(RevisionError::NotAFolder { .. }) => vec!["--repo takes the folder of the server's git checkout, not a file in it".into()],
            Error::Revision(RevisionError::SameEnds { .. }) => vec!["--good is the older end, where the cells still had their old outcome: pick a commit before --bad".into()],
            Error::Revision(RevisionError::NotAncestor { .. }) => vec!["--good must be an ancestor of --bad (git merge-base --is-ancestor GOOD BAD)".into()],
            Error::Revision(RevisionError::NotFirstParent { .. }) => vec!["the search follows first parents; pass --all-commits to search every commit in between".into()],
            Error::Revision(RevisionError::NoParent { .. }) => vec!["name the commit to compare with: --parent REV".into()],
            Error::Revision(RevisionError::NoSuchPath { .. }) => vec!["--paths takes paths relative to the repository root, e.g. --paths litellm/proxy/management_endpoints/key_management_endpoints.py".into()],
            Error::Overlay { source, .. } => {
                let mut hints = vec!["a path the overlaid files import may have moved between the two commits: replay the whole commits instead (drop --paths)".to_string()];
                if let EngineError::Runtime(error) = source {
                    hints.extend(runtime_hints(error));
                }
                hints
            }
            Error::Record(RecordError::Disagrees { path, .. }) => vec![format!(
                "replay the fix again to rewrite {}, or remove it",
                path.display()
            )],
            Error::Record(RecordError::Upstream { .. }) => vec!["upstream.toml takes `record = \"...\"` and [[fix]] tables with `name` and `cells` (cell ids or globs); docs/format.md has an example".into()],
            Error::Record(_) => vec!["check that the records folder (--records) is writable".into()],
            Error::Mutate(crate::mutate::MutateError::Parse { .. }) => vec!["replay mutate parses Python 3 files; pass the handler files with --paths (e.g. --paths keys.py)".into()],
            Error::Mutate(_) => vec!["mutants.toml lists [[accepted]] tables with file, function, id, reason (equivalent, out-of-scope, known-gap) and note; docs/format.md has an example".into()],
            Error::Html { source: HtmlError::Read(_), .. } => vec!["RECORD is the path of a JSON document replay wrote, e.g. replays/litellm/7d1494a.json".into()],
            Error::Html { source: HtmlError::FormatVersion { .. }, .. } => vec!["render it with the replay that wrote it, or write it again with this one".into()],
            Error::Html { .. } => vec!["replay report renders the JSON of `replay check --format json`, the fix records of `replay <fix>` (replays/<suite>/<sha>.json) and the records of `replay bisect`".into()],
            Error::Usage { hint: Some(hint), .. } => vec![hint.clone()],
            Error::Engine(EngineError::Runtime(error)) => runtime_hints(error),
            Error::Engine(EngineError::World { source, .. }) | Error::World(source) => world_hints(source),
            Error::Write { .. } => vec!["check that the folder exists and is writable".into()],
            Error::Accept(AcceptError::Changed { .. }) => vec![
                "no pin was accepted, and your edits are kept: run `replay check --accept` again to measure the file as it is now".into(),
            ],
            Error::Accept(AcceptError::Write { left, .. }) if left.is_empty() => vec![
                "no pin was accepted (files already rewritten got their old text back): check that the suite's folder is writable and has space, then run `replay check --accept` again".into(),
            ],
            Error::Accept(AcceptError::Write { left, .. }) => vec![format!(
                "these files hold the new pins although the accept failed, and could not be put back: {}",
                left.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )],
            // A run interrupted after measuring something returns its partial
            // results instead of this error; this one has written nothing.
            Error::Interrupted => vec!["nothing was measured yet, so nothing was written; run again to finish".into()],
            Error::Unreachable { hint, .. } => vec![hint.clone()],
            _ => vec![],
        }
    }
}

fn runtime_hints(error: &RuntimeError) -> Vec<String> {
    match error {
        RuntimeError::PostgresMissing { searched } => vec![
            "install Debian's PostgreSQL server (apt-get install postgresql), or point REPLAY_PG_BIN at the folder with initdb and postgres".into(),
            format!("searched: {}", searched.iter().take(8).map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")),
        ],
        RuntimeError::NoServerUser { .. } => vec!["initdb and postgres refuse to run as root: create an unprivileged user (useradd postgres) or name one with REPLAY_PG_USER".into()],
        RuntimeError::Stage { stage: crate::spec::target::Stage::Boot, .. } => vec!["the server's own log is above; run the boot command by hand in the checkout to reproduce it".into()],
        RuntimeError::NotReady { .. } => vec![
            "the server's own log is above; run the boot command by hand in the checkout to reproduce it".into(),
            "raise [ready] timeout in the target if the server is just slow to start".into(),
        ],
        RuntimeError::PortTaken { .. } => vec![
            "another process took the port this run chose for the server, three times: run again, and look for a program that binds ports in the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range)".into(),
            "if the holder named above is the server itself, its boot command starts it in a session of its own (setsid, a daemon mode): run it in the foreground, in the process group replay starts".into(),
        ],
        RuntimeError::Stage { .. } => vec!["the command's log is above; fix the revision or the target's recipe, or run with --no-cache to rebuild".into()],
        RuntimeError::EngineUnreachable { .. } => vec![
            "start a Docker engine: scripts/setup --docker installs docker.io and starts dockerd".into(),
            "or run with --runtime local".into(),
        ],
        RuntimeError::BaseImage { .. } => vec!["the base image is built with mmdebstrap from this machine's apt sources: scripts/setup --docker installs it; check that the Debian mirror answers".into()],
        RuntimeError::Docker { .. } => vec!["the engine's log says more (scripts/setup --docker prints where it is); `replay gc` removes what earlier runs left".into()],
        RuntimeError::Interrupted => vec![],
        RuntimeError::NoVariant { conditions, .. } => {
            let mut hints: Vec<String> = conditions.iter().map(|c| format!("variant {c}")).collect();
            hints.push("add a [[variant]] whose `exists`/`absent` this revision meets, or give the target a recipe of its own to use as the default (docs/format.md, \"[[variant]]\")".into());
            hints
        }
        RuntimeError::MissingInput { key, pattern, .. } => vec![format!(
            "fix the path in {key}, or move `{pattern}` to {} if some revisions do not have it",
            key.replace(".inputs", ".optional_inputs")
        )],
        _ => vec![],
    }
}

fn world_hints(error: &WorldError) -> Vec<String> {
    match error {
        WorldError::Seed { .. } => vec!["the world's SQL does not fit the schema this revision's migration made: compare world.toml with the revision's schema".into()],
        WorldError::Api { .. } | WorldError::Login { .. } => vec!["the server refused a step that makes the world; check the step's path, body and actor in world.toml".into()],
        _ => vec![],
    }
}
