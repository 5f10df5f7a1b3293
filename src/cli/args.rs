//! clap types. They stay in the CLI: the library takes plain option structs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::runtime::RuntimeKind;
use crate::support::version::VERSION;

/// An `after_help` text: examples and notes, a blank line, then the exit
/// codes of a command (`exit_codes_help!`; none named: the general table).
macro_rules! help_with_exit_codes {
    ($text:literal $(, $codes:ident)? $(,)?) => {
        concat!($text, "\n", crate::exit_codes_help!($($codes)?))
    };
}

const MAIN_HELP: &str = help_with_exit_codes!(
    "Examples:
  replay demo
      Check the bundled twin of LiteLLM's key endpoints on this machine.
  replay check --suite matrices/litellm --target twin --repo testdata/twin
      Boot the working tree of testdata/twin and compare every cell with its pin.
",
);

const FIX_HELP: &str = help_with_exit_codes!(
    "Examples:
  replay twin-history /tmp/twin
      Make the twin's git history (it has fixes and regressions in it) to try this on.
  replay fix update-fix --suite matrices/litellm --target twin --repo /tmp/twin
      Replay a fix (a tag of that history): boot its parent and itself, and list the cells that
      go RED → GREEN.
  replay 7d1494a --target twin --repo /tmp/twin
      The same commit: `replay <REV>` is `replay fix <REV>`.
  replay 7d1494a --target twin --repo /tmp/twin --paths keys.py
      The handler swap: keys.py of the parent and of the fix, each on top of the fix.

The record goes to <records>/<suite>/<short-sha>.json and the replay table to
<records>/<suite>/README.md. A second replay of the same trees boots nothing: a side is
answered from the cell cache when every cell of it was measured by this build of replay
with this suite, target and runtime (a rebuilt replay measures afresh).
",
    fix,
);

const BISECT_HELP: &str = help_with_exit_codes!(
    "Examples:
  replay twin-history /tmp/twin
      Make the twin's git history to try this on.
  replay bisect --good HEAD~37 --bad HEAD --target twin --repo /tmp/twin
      Find, for every cell that differs between the ends, the commit that changed it.
  replay bisect --good delete-regression --bad delete-fix --cell key_delete/owner/internal_user \\
      --probes 1 --target twin --repo /tmp/twin
      One cell. The middle of this range is `unbootable`, a commit that cannot boot: a probe that
      has to boot it skips it, as `git bisect skip` does, and probes a neighbour (the probes line
      counts it; a commit whose cells are cached from an earlier bisect is not booted at all).

Each answer says which way the cell moved against its pin: fixed (now matches pin),
regressed (no longer matches pin) or changed (pin matches neither), and what changed.
Probes are cached by tree: a second bisect over an overlapping range reuses them (when
the same build of replay measured them, with at least as many --repeat runs).
The record goes to <records>/<suite>/bisect-<good>-<bad>.json.
",
    bisect,
);

const PLAN_HELP: &str = "Examples:
  replay twin-history /tmp/twin
      Make the twin's git history (it has fixes and regressions in it) to try this on.
  replay plan --repo /tmp/twin --paths keys.py --grep '^key (generate|info|delete)' > plan.txt
      The commits that touch keys.py with such a subject, oldest first, one full id per line.
      Root commits are left out: a fix needs a parent to compare with.
  replay plan --repo /tmp/twin --from plan.txt --shard 2/2 | while read -r rev; do \\
      replay fix \"$rev\" --target twin --repo /tmp/twin --records shard-2 || [ $? -eq 1 ]; done
      The second of two shards, replayed into a folder of its own (exit 1, not caught, is a
      result; any other code stops the loop).
  replay merge shard-* --records replays
      The shards' records, into replays/<suite>/, with the table rendered once.

For LiteLLM: --repo ../litellm --paths litellm/proxy/management_endpoints/key_management_endpoints.py
--grep '^fix\\(proxy\\)' --since 2026-01-01, and --target litellm.
";
const TWIN_HISTORY_HELP: &str = "\
Examples:
  replay twin-history /tmp/twin
  replay twin-history /tmp/twin-1000 --commits 1000 --flips 5
  replay bisect --good HEAD~999 --bad HEAD --target twin --repo /tmp/twin-1000 --format json

The generated history's first commit is the twin's last (every cell GREEN); each flip commit
(tagged flip-1 … flip-K, oldest first) turns one cell RED, so a bisect of the whole range finds
K cells, each at its flip commit. `scripts/bench` measures that bisect.
";

const LIST_HELP: &str = help_with_exit_codes!(
    "Examples:
  replay list --suite matrices/litellm
      Every pinned cell: its id (scenario/target/actor), endpoint and pin.
  replay list --suite matrices/litellm --cell 'key_update/*/owner'
      A glob: the owner's cells of every target shape of key_update.
  replay list --suite matrices/litellm --endpoint /key/info --actor 'team_*' --format json
      The filters narrow each other; as JSON (with each cell's file and line).

The same filters choose the cells of `replay check` and `replay bisect`.
",
    list,
);

const DIFF_HELP: &str = help_with_exit_codes!(
    "Examples:
  replay check --suite matrices/litellm --target twin --repo testdata/twin --format json > a.json
  replay diff tests/data/check-report.json a.json || [ $? -eq 1 ]
      An older check against this one: each cell whose status, checks, followups or response
      values changed, its verdict at each side, and both values (exit 1: they differ).
  replay diff replays/litellm/46e6f4a.json replays/litellm/7d1494a.json --format json || [ $? -eq 1 ]
      Two fix records (their fix sides), as JSON.
",
    diff,
);

const INIT_HELP: &str = help_with_exit_codes!(
    "Examples:
  replay init matrices/my-api
      suite.toml, world.toml (the master key and an anonymous caller), scenarios/get_health.toml
      pinned \"?\", and targets/local.toml to fill in with your server's commands.
  replay init matrices/from-openapi --openapi tests/data/openapi.json
      One scenario per operation of the document (method and path), every pin \"?\".
  replay init matrices/from-yaml --openapi tests/data/openapi.yaml
      The same from a YAML document (by its extension; a URL by its Content-Type; else
      by its first character: `{` is JSON). `--openapi http://127.0.0.1:4000/openapi.json`
      fetches the server's own.
  replay list --suite matrices/from-openapi
      The scaffold loads like any suite; `replay check --accept` pins what the server does.
",
    init,
);

const COVERAGE_HELP: &str = help_with_exit_codes!(
    "Examples:
  replay coverage --suite matrices/litellm --openapi tests/data/openapi.json
      Covered / total endpoints of the document, the ones no scenario covers, and per
      scenario the actor × target cells left unpinned (\"-\") or not pinned yet (\"?\").
  replay coverage --suite matrices/litellm --openapi tests/data/openapi.json --fail-under 80
      For CI: exit 1 when fewer than 80% of the document's endpoints are covered (6 of 7 are).
  replay coverage --suite matrices/litellm --openapi tests/data/openapi.json --fail-under 90 || [ $? -eq 1 ]
      Under 90%: the report is printed all the same, and the exit code is 1.
  replay coverage --suite matrices/litellm --openapi tests/data/openapi.yaml --format json
      The same document in YAML, the coverage as JSON.
  replay coverage --suite matrices/litellm --format json
      Without a document: the cells left unpinned, as JSON.

An endpoint is covered by a scenario whose request has its method and a path of its
template (`/key/{key}` by `/key/{{target.key}}`), and that pins a cell with a status.
",
    coverage,
);

const MAN_HELP: &str = "Examples:
  replay man check > replay-check.1
      The page of one command.
  replay man --dir man/man1
      Every page into a folder; then `MANPATH=$PWD/man man replay-fix` reads one.
";
const REPORT_HELP: &str = help_with_exit_codes!(
    "Examples:
  replay report replays/litellm/7d1494a.json --html 7d1494a.html
      A fix record: parent and fix side by side, the cells it caught marked.
  replay check --suite matrices/litellm --target twin --repo testdata/twin --format json > check.json
  replay report check.json --html check.html
      A check report: a grid per scenario, each cell against its pin.
  replay report tests/data/bisect-18274e5-f5580bf.json --html bisect.html
      A bisect record (of the twin's history): each cell with the commit that changed it.

The page is one file: its CSS is inline, it has no script and loads nothing.
",
    report,
);

const CHECK_HELP: &str = help_with_exit_codes!(
    "Examples:
  replay check --suite matrices/litellm --target twin --repo testdata/twin
      Boot the working tree of testdata/twin and compare every cell with its pin.
  replay twin-history /tmp/twin
      Make the twin's git history (it has fixes and regressions in it) to try this on.
  replay check --suite matrices/litellm --target twin --repo /tmp/twin --rev HEAD~4 --format json
      The same at a commit of that history, as JSON on stdout.
  replay check --suite matrices/litellm --target twin --repo /tmp/twin --rev update-fix --cell 'key_info/*/*' \\
      --format sarif > drift.sarif || [ $? -eq 1 ]
      SARIF 2.1.0 for code scanning: a result per RED cell at the line of its pin (one is RED there).
  replay check --cell key_update/self/owner --url http://127.0.0.1:4000 --database-url postgresql://127.0.0.1/litellm
      Run one cell against a server you started; the rows it writes are removed after.
  replay check --suite matrices/litellm --target twin --repo testdata/twin --accept
      Rewrite the pins of the RED cells from what the server did, and show the diff.

check always boots and runs every planned cell: it neither reads nor writes the cell results
that fix, bisect and mutate cache. It reuses the build environment, the migrated template
and the initdb'd cluster (each keyed by what makes it); --no-cache builds and migrates anew.

Environment:
  REPLAY_CACHE_DIR  cache folder (default ~/.cache/replay)
  REPLAY_PG_BIN     folder with initdb and postgres (default: PATH, then /usr/lib/postgresql/*/bin)
  REPLAY_PG_USER    user that runs initdb and postgres when replay runs as root (default postgres)
  REPLAY_RUN_ID     name of the run (default: random, one live run per id); its processes carry it
  REPLAY_LOG        diagnostics on stderr (e.g. debug)
  NO_COLOR          no colours
",
    check,
);

const MUTATE_HELP: &str = help_with_exit_codes!(
    "Examples:
  replay twin-history /tmp/twin
      Make the twin's git history to try this on.
  replay mutate --paths keys.py --target twin --repo /tmp/twin
      Every mutant of keys.py at HEAD: killed (by which cell), survived, or stillborn.
  replay mutate --paths keys.py --function check_update --exhaustive --target twin --repo /tmp/twin
      One function's mutants, each run on every cell: which cells tell it from the original.
  replay mutate --check --paths keys.py --function check_view --target twin --repo testdata/twin
      The gate: exit 1 when a survivor is not accepted in <suite>/mutants.toml.

A mutant is the base commit with one change in one file; its tree id is its
identity, so its cells are cached like any revision's. The record goes to
<records>/<suite>/mutants-<rev>.json.
",
);

#[derive(Debug, Parser)]
#[command(
    name = "replay",
    version = VERSION,
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
    /// Replay the bundled twin's history and its fix on the local runtime (the embedded default).
    Demo {
        /// Where revisions run.
        #[arg(long, value_enum, default_value_t = RuntimeKind::Local, env = "REPLAY_RUNTIME")]
        runtime: RuntimeKind,
    },
    /// Boot one revision, run the pinned matrix, fail on any cell that differs from its pin.
    #[command(after_help = CHECK_HELP)]
    #[command(mut_arg("repo", |a| a.help("The server's repository: its working tree is checked, or the commit --rev names")))]
    Check(Box<CheckArgs>),
    /// Is this fix caught? Boot its parent and the fix, report the cells that go RED → GREEN.
    #[command(after_help = FIX_HELP)]
    #[command(mut_arg("repo", |a| a.help("The server's git repository, where the fix and its parent are resolved")))]
    Fix(Box<FixArgs>),
    /// Which commit flipped each cell? One search for every cell that differs between the ends.
    #[command(after_help = BISECT_HELP)]
    #[command(mut_arg("repo", |a| a.help("The server's git repository, whose history between --good and --bad is searched")))]
    Bisect(Box<BisectArgs>),
    /// How strong is the matrix? Boot authorization mutants of handler files; killed or survived.
    #[command(after_help = MUTATE_HELP)]
    Mutate(Box<MutateArgs>),
    /// List the fix commits to replay (from a file or a history query), or a shard of them.
    #[command(after_help = PLAN_HELP)]
    Plan(PlanArgs),
    /// Gather the records of many runners into the suite's records folder, and render the table.
    Merge(MergeArgs),
    /// Render a check report, a fix, bisect or mutants record (JSON) as one HTML page.
    #[command(after_help = REPORT_HELP)]
    Report(ReportArgs),
    /// List the cells of a suite (id, endpoint, pin), as the filters select them.
    #[command(after_help = LIST_HELP)]
    List(ListArgs),
    /// Compare two check reports or fix records: the cells whose outcome changed, and how.
    #[command(after_help = DIFF_HELP)]
    Diff(DiffArgs),
    /// Which endpoints of an OpenAPI document no scenario covers, and which cells are left unpinned.
    #[command(after_help = COVERAGE_HELP)]
    Coverage(CoverageArgs),
    /// Scaffold a new suite: suite.toml, world.toml, a scenario (or one per OpenAPI operation), a target.
    #[command(after_help = INIT_HELP)]
    Init(InitArgs),
    /// Render the replay table of a suite from its records.
    Table(RecordsArgs),
    /// Remove the caches, and whatever killed runs left behind.
    Gc(GcArgs),
    /// Build the Docker runtime's base images a suite's targets name (or list them).
    #[command(after_help = IMAGES_HELP)]
    #[command(mut_arg("suite", |a| a.help("The suite folder whose targets name the images")))]
    #[command(mut_arg("target", |a| a.help("Only this target's image (and Postgres's)")))]
    Images(ImagesArgs),
    /// The reaper of a Docker run: removes the run's containers when the run ends.
    #[command(name = "__reap", hide = true)]
    Reap { run_id: String, pid: u32 },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff), or write every page into a folder.
    #[command(after_help = MAN_HELP)]
    Man(ManArgs),
    /// Write the twin's generated git history into DIR (tests, the demo and benchmarks use it).
    #[command(after_help = TWIN_HISTORY_HELP)]
    TwinHistory {
        /// A folder that does not exist yet, or is empty.
        dir: PathBuf,
        /// Instead, a history of N commits for bisect at scale: the twin's last
        /// commit, then commits that only rewrite NOTES.md, some of which also
        /// turn one cell RED (`--flips`).
        #[arg(long, value_name = "N")]
        commits: Option<usize>,
        /// With --commits: how many commits flip a cell (each its own, tagged flip-1, flip-2, …; at most 5).
        #[arg(long, value_name = "K", default_value_t = 5, requires = "commits")]
        flips: usize,
    },
    /// `replay <REV>` is `replay fix <REV>`.
    #[command(external_subcommand)]
    Rev(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// For people: a grid per scenario (check, fix); the cells and the commits that changed them (bisect).
    Human,
    /// One JSON document (format_version 1).
    Json,
    /// JUnit XML: a testcase per cell, named scenario/target/actor.
    Junit,
    /// Markdown: a grid per endpoint with the changed cells marked (for $GITHUB_STEP_SUMMARY).
    Markdown,
    /// SARIF 2.1.0 (check only), for code scanning: a result per RED or ERROR cell at the line
    /// of its pin, paths relative to the root of the git checkout that holds the suite.
    Sarif,
}

/// The suite, and the target in it: what the commands that boot revisions
/// and `images` are pointed at (`images` words the help of both its own way).
#[derive(Debug, Args)]
pub(crate) struct SuiteArgs {
    /// The suite folder (suite.toml, world.toml, scenarios/, targets/).
    #[arg(
        id = "suite",
        long = "suite",
        env = "REPLAY_SUITE",
        default_value = "matrices/litellm",
        value_name = "DIR"
    )]
    pub dir: PathBuf,
    /// The target: a name under the suite's targets/ folder, or a path to a .toml file.
    #[arg(long, env = "REPLAY_TARGET", value_name = "NAME")]
    pub target: Option<String>,
}

/// What every command that boots revisions takes.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// The server's repository (each command says what it reads there).
    #[arg(long, env = "REPLAY_REPO", default_value = ".", value_name = "PATH")]
    pub repo: PathBuf,
    /// How the result is printed on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "REPLAY_FORMAT")]
    pub format: Format,
    /// Cells run at once (default: 4 per core, 4 to 16).
    #[arg(long, short, env = "REPLAY_JOBS", value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: Option<usize>,
    /// Where revisions run.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Local, env = "REPLAY_RUNTIME")]
    pub runtime: RuntimeKind,
    /// Use no cache: build anew, boot even when cell results are cached.
    #[arg(long, env = "REPLAY_NO_CACHE")]
    pub no_cache: bool,
    /// Keep the logs of the run (build, migrate, boot, Postgres) even when it succeeds.
    #[arg(long, env = "REPLAY_KEEP_LOGS")]
    pub keep_logs: bool,
    /// Also write every format into DIR: report.json, junit.xml, summary.md, report.html
    /// (and report.sarif for check).
    #[arg(long, env = "REPLAY_REPORT_DIR", value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// A commit to check instead of the working tree (sha, branch, tag, HEAD~2).
    #[arg(long, env = "REPLAY_REV", value_name = "REV")]
    pub rev: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Rewrite the pins of RED cells from what was observed, keeping comments and layout.
    #[arg(long)]
    pub accept: bool,
    /// With --accept: accept even when CI is set.
    #[arg(long, requires = "accept")]
    pub force: bool,
    /// Run against a server you started (nothing is built or booted).
    #[arg(
        long,
        env = "REPLAY_URL",
        value_name = "URL",
        conflicts_with_all = ["rev", "target", "repo", "no_cache", "accept"]
    )]
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

#[derive(Debug, Args)]
pub(crate) struct FixArgs {
    /// The fix: a commit id (short is fine), a branch or a tag.
    pub rev: String,
    /// Compare with this commit instead of the fix's first parent.
    #[arg(long, value_name = "REV")]
    pub parent: Option<String>,
    /// Overlay mode: take only these paths from the parent and from the fix, on --base.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub paths: Vec<String>,
    /// With --paths: the commit the paths are laid on (default: the fix).
    #[arg(long, value_name = "REV", requires = "paths")]
    pub base: Option<String>,
    /// Where records go: <records>/<suite>/<short-sha>.json and the table README.md.
    #[arg(
        long,
        env = "REPLAY_RECORDS",
        default_value = "replays",
        value_name = "DIR"
    )]
    pub records: PathBuf,
    /// Boot the parent and the fix one after the other instead of at once.
    #[arg(long)]
    pub sequential: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BisectArgs {
    /// The older end: its outcomes are what the search looks for the change from.
    #[arg(long, value_name = "REV")]
    pub good: String,
    /// The newer end.
    #[arg(long, value_name = "REV")]
    pub bad: String,
    /// Search only the cells these filters select. Default: every cell that differs.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Probe only these paths of each commit, laid on the bad end.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub paths: Vec<String>,
    /// Search every commit between the ends, not just the first-parent line.
    #[arg(long)]
    pub all_commits: bool,
    /// Run each probed cell N times; a cell whose runs disagree is FLAKY and dropped.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repeat: u32,
    /// Commits probed at once (default: one per core, at most 4).
    #[arg(long, env = "REPLAY_PROBES", value_name = "K", value_parser = clap::value_parser!(u32).range(1..=16))]
    pub probes: Option<u32>,
    /// Where the record goes: <records>/<suite>/bisect-<good>-<bad>.json.
    #[arg(
        long,
        env = "REPLAY_RECORDS",
        default_value = "replays",
        value_name = "DIR"
    )]
    pub records: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// The server's git repository: its first-parent history is queried, or --from's revisions resolved.
    #[arg(long, env = "REPLAY_REPO", default_value = ".", value_name = "PATH")]
    pub repo: PathBuf,
    /// Revisions listed in a file, one per line (`#` starts a comment).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["paths", "grep", "since"])]
    pub from: Option<PathBuf>,
    /// Commits on the first-parent line that touch any of these paths.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub paths: Vec<String>,
    /// Commits whose message matches this regular expression.
    #[arg(long, value_name = "PATTERN")]
    pub grep: Option<String>,
    /// Commits made on or after this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only the i-th of n shards (every n-th commit, from the i-th).
    #[arg(long, env = "REPLAY_SHARD", value_name = "I/N")]
    pub shard: Option<crate::jobs::plan::Shard>,
}

#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// Folders holding records (searched recursively).
    #[arg(required = true, value_name = "DIR")]
    pub sources: Vec<PathBuf>,
    #[command(flatten)]
    pub records: RecordsArgs,
}

/// Where a suite's records are.
#[derive(Debug, Args)]
pub(crate) struct RecordsArgs {
    /// The suite the records belong to.
    #[arg(
        long,
        env = "REPLAY_SUITE",
        default_value = "matrices/litellm",
        value_name = "DIR"
    )]
    pub suite: PathBuf,
    /// The records folder: <records>/<suite>/ holds the records and the table README.md.
    #[arg(
        long,
        env = "REPLAY_RECORDS",
        default_value = "replays",
        value_name = "DIR"
    )]
    pub records: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The JSON document: the output of `replay check --format json`, a fix record, a bisect record.
    #[arg(value_name = "RECORD")]
    pub record: PathBuf,
    /// Write the page to this file (replaced atomically).
    #[arg(long, required = true, value_name = "OUT")]
    pub html: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The command whose page to print (replay-COMMAND(1)); default: replay(1).
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Option<String>,
    /// Write every page (replay.1, replay-check.1, ...) into this folder.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// List the images replay made (base and revision images) instead.
    #[arg(long)]
    pub list: bool,
}

const IMAGES_HELP: &str = "Examples:
  replay images --suite matrices/litellm --target twin
      Build the PostgreSQL 15 image and the twin's Python image from Debian packages.
  replay images --list
      The base and revision images replay made; `replay gc` removes them.

A base image is tagged by a hash of its recipe ([docker.image]: suite and packages)
and built once; check, fix and bisect --runtime docker build a missing one themselves.
";

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Only remove what killed runs left behind; keep the caches.
    #[arg(long)]
    pub keep_cache: bool,
}

#[derive(Debug, Args)]
pub(crate) struct MutateArgs {
    /// The handler files to mutate (Python), relative to --repo.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub paths: Vec<String>,
    /// Only the mutants of these functions (as named after `def`); repeatable.
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
    /// Only the mutants of these operators (negate-condition, condition-true, condition-false,
    /// drop-raise, drop-return, and-or, eq-ne, in-not-in, is-is-not, predicate-return, drop-call,
    /// swap-role); repeatable.
    #[arg(long = "operator", value_name = "NAME")]
    pub operators: Vec<String>,
    /// The base commit the mutants are laid on.
    #[arg(long, env = "REPLAY_REV", default_value = "HEAD", value_name = "REV")]
    pub rev: String,
    /// Mutants booted at once (default: one per core, at most 4).
    #[arg(long, env = "REPLAY_PROBES", value_name = "K", value_parser = clap::value_parser!(u32).range(1..=16))]
    pub probes: Option<u32>,
    /// Run every cell on every mutant instead of stopping at the first that differs.
    #[arg(long)]
    pub exhaustive: bool,
    /// Exit 1 when a survivor is not accepted in <suite>/mutants.toml.
    #[arg(long, env = "REPLAY_MUTATE_CHECK")]
    pub check: bool,
    /// Only the i-th of n shards of the mutants (every n-th, from the i-th).
    #[arg(long, env = "REPLAY_SHARD", value_name = "I/N")]
    pub shard: Option<crate::jobs::plan::Shard>,
    /// Where the record goes: <records>/<suite>/mutants-<rev>.json.
    #[arg(
        long,
        env = "REPLAY_RECORDS",
        default_value = "replays",
        value_name = "DIR"
    )]
    pub records: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
}

/// The cells a command runs or lists. Values of one flag add up; different
/// flags narrow; a filter that selects no cell is exit 2, naming it.
#[derive(Debug, Args)]
pub(crate) struct FilterArgs {
    /// Only this cell (scenario/target/actor), or a glob over cell ids: `*` is any text within
    /// one part, `?` one character (`key_update/*/owner`); repeatable.
    #[arg(long = "cell", value_name = "ID")]
    pub cells: Vec<String>,
    /// Only the cells of this endpoint: `POST /key/update`, its path `/key/update`, or a glob
    /// (`/key/*`); repeatable.
    #[arg(long = "endpoint", value_name = "ENDPOINT")]
    pub endpoints: Vec<String>,
    /// Only the cells of this actor (a glob: `team_*`); repeatable.
    #[arg(long = "actor", value_name = "NAME")]
    pub actors: Vec<String>,
    /// Only the cells of this target shape, a column of the grid (`self`, `owner`; a glob); repeatable.
    #[arg(long = "target-shape", value_name = "NAME")]
    pub target_shapes: Vec<String>,
}

impl FilterArgs {
    pub(crate) fn filter(&self) -> crate::suite::CellFilter {
        crate::suite::CellFilter {
            cells: self.cells.clone(),
            endpoints: self.endpoints.clone(),
            actors: self.actors.clone(),
            target_shapes: self.target_shapes.clone(),
        }
    }
}

/// `replay list`: how it prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ListFormat {
    /// One line per cell: id, endpoint, pin.
    Human,
    /// One JSON document (kind "list").
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The suite folder (suite.toml, world.toml, scenarios/, targets/).
    #[arg(
        long,
        env = "REPLAY_SUITE",
        default_value = "matrices/litellm",
        value_name = "DIR"
    )]
    pub suite: PathBuf,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// How the list is printed on stdout.
    #[arg(long, value_enum, default_value_t = ListFormat::Human)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The older document: `check --format json` output, or a fix record.
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// The newer document.
    #[arg(value_name = "B")]
    pub b: PathBuf,
    /// How the differences are printed on stdout.
    #[arg(long, value_enum, default_value_t = ListFormat::Human)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The new suite's folder (it must not exist yet, or be empty); its name names the suite.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// An OpenAPI (or Swagger) document, JSON or YAML, a file or an http:// URL: one scenario
    /// per operation, pins "?".
    #[arg(long, value_name = "FILE|URL")]
    pub openapi: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CoverageArgs {
    /// The suite folder (suite.toml, world.toml, scenarios/, targets/).
    #[arg(
        long,
        env = "REPLAY_SUITE",
        default_value = "matrices/litellm",
        value_name = "DIR"
    )]
    pub suite: PathBuf,
    /// The server's OpenAPI (or Swagger) document, JSON or YAML, a file or an http:// URL: the
    /// endpoints to cover.
    #[arg(long, env = "REPLAY_OPENAPI", value_name = "FILE|URL")]
    pub openapi: Option<String>,
    /// Exit 1 when fewer than PERCENT of the document's endpoints are covered (0 to 100).
    #[arg(long, env = "REPLAY_FAIL_UNDER", value_name = "PERCENT", requires = "openapi", value_parser = percent)]
    pub fail_under: Option<f64>,
    /// How the coverage is printed on stdout.
    #[arg(long, value_enum, default_value_t = ListFormat::Human)]
    pub format: ListFormat,
}

fn percent(text: &str) -> Result<f64, String> {
    match text.trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("`{text}` is not a percentage from 0 to 100")),
    }
}
