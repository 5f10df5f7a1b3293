//! clap types. They stay in the CLI: the library takes plain option structs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::runtime::RuntimeKind;

const MAIN_HELP: &str = concat!(
    "Examples:
  replay demo
      Check the bundled twin of LiteLLM's key endpoints on this machine.
  replay check --suite matrices/litellm --target twin --repo testdata/twin
      Boot the working tree of testdata/twin and compare every cell with its pin.

",
    crate::exit_codes_help!()
);

const CHECK_HELP: &str = concat!(
    "Examples:
  replay check --suite matrices/litellm --target twin --repo testdata/twin
      Boot the working tree of testdata/twin and compare every cell with its pin.
  replay check --suite matrices/litellm --target twin --repo ../twin --rev HEAD~3 --format json
      The same at a commit, as JSON on stdout.
  replay check --cell key_update/self/owner --url http://127.0.0.1:4000 --database-url postgresql://127.0.0.1/litellm
      Run one cell against a server you started; the rows it writes are removed after.
  replay check --suite matrices/litellm --target twin --repo testdata/twin --accept
      Rewrite the pins of the RED cells from what the server did, and show the diff.

Environment:
  REPLAY_CACHE_DIR  cache folder (default ~/.cache/replay)
  REPLAY_PG_BIN     folder with initdb and postgres (default: PATH, then /usr/lib/postgresql/*/bin)
  REPLAY_PG_USER    user that runs initdb and postgres when replay runs as root (default postgres)
  REPLAY_RUN_ID     name of the run (default: random); every process it starts carries it
  REPLAY_LOG        diagnostics on stderr (e.g. debug)
  NO_COLOR          no colours

",
    crate::exit_codes_help!()
);

#[derive(Debug, Parser)]
#[command(
    name = "replay",
    version,
    about = "Pin the authorization behaviour of an API server in a matrix, and replay it over the server's history."
)]
#[command(after_help = MAIN_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Cache folder: build environments, Postgres clusters, logs of failed runs.
    #[arg(long, global = true, env = "REPLAY_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long, short, global = true, env = "REPLAY_QUIET")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check the bundled twin on the local runtime (the embedded default).
    Demo,
    /// Boot one revision, run the pinned matrix, fail on any cell that differs from its pin.
    #[command(after_help = CHECK_HELP)]
    Check(Box<CheckArgs>),
    /// Write the twin's generated git history into DIR (tests, the demo and benchmarks use it).
    TwinHistory {
        /// A folder that does not exist yet, or is empty.
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A grid per scenario.
    Human,
    /// One JSON document (format_version 1).
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The suite folder (suite.toml, world.toml, scenarios/, targets/).
    #[arg(
        long,
        env = "REPLAY_SUITE",
        default_value = "matrices/litellm",
        value_name = "DIR"
    )]
    pub suite: PathBuf,
    /// The target: a name under the suite's targets/ folder, or a path to a .toml file.
    #[arg(long, env = "REPLAY_TARGET", value_name = "NAME")]
    pub target: Option<String>,
    /// The server's checkout.
    #[arg(long, env = "REPLAY_REPO", default_value = ".", value_name = "PATH")]
    pub repo: PathBuf,
    /// A commit to check instead of the working tree (sha, branch, tag, HEAD~2).
    #[arg(long, env = "REPLAY_REV", value_name = "REV")]
    pub rev: Option<String>,
    /// Run only this cell (scenario/target/actor); repeatable.
    #[arg(long = "cell", value_name = "ID")]
    pub cells: Vec<String>,
    /// Rewrite the pins of RED cells from what was observed, keeping comments and layout.
    #[arg(long)]
    pub accept: bool,
    /// With --accept: accept even when CI is set.
    #[arg(long, requires = "accept")]
    pub force: bool,
    /// How the result is printed on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "REPLAY_FORMAT")]
    pub format: Format,
    /// Cells run at once (default: 4 per core, 4 to 16).
    #[arg(long, short, env = "REPLAY_JOBS", value_name = "N", value_parser = clap::value_parser!(usize))]
    pub jobs: Option<usize>,
    /// Where revisions run.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Local, env = "REPLAY_RUNTIME")]
    pub runtime: RuntimeKind,
    /// Build anew instead of reusing a cached environment.
    #[arg(long, env = "REPLAY_NO_CACHE")]
    pub no_cache: bool,
    /// Run against a server you started (nothing is built or booted).
    #[arg(long, env = "REPLAY_URL", value_name = "URL")]
    pub url: Option<String>,
    /// With --url: the server's database, for the world and the checks.
    #[arg(
        long,
        env = "REPLAY_DATABASE_URL",
        value_name = "URL",
        requires = "url"
    )]
    pub database_url: Option<String>,
    /// With --url: the server's master key, for actors with key = "master".
    #[arg(
        long,
        env = "REPLAY_MASTER_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub master_key: Option<String>,
}
