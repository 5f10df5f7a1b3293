//! The command line: clap types, dispatch, and how results and errors are printed.
//! Only `main.rs` imports it; clap types stay here (the library takes plain option structs).
//!
//! stdout carries the result (a grid, JSON); stderr carries progress, errors
//! and hints. Every flag CI sets has an environment variable.

mod args;
mod man;
mod output;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use crate::jobs::check::{CheckOptions, Checked, accepted_pins, check};
use crate::jobs::error::Error;
use crate::jobs::fix::{FixOptions, Replayed, replay_fix};
use crate::support::exit_codes;
pub(crate) use args::Format;
use args::{BisectArgs, CheckArgs, Cli, Command, FixArgs, RunArgs};

pub fn main() -> ExitCode {
    crate::support::clock::mark_process_start();
    let cli = Cli::parse();
    init_tracing(cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(exit_codes::ENVIRONMENT);
        }
    };
    let code = runtime.block_on(async {
        let cancel = CancellationToken::new();
        crate::engine::run::install_interrupt(cancel.clone());
        match dispatch(cli, cancel).await {
            Ok(code) => code,
            Err(error) => {
                print_error(&error);
                error.exit_code()
            }
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    // A third Ctrl-C that is removing the run's folders exits when it is done.
    crate::engine::run::wait_for_hard_stop();
    ExitCode::from(code)
}

/// Diagnostics, the tool's and its libraries', go through one subscriber:
/// filtered by `REPLAY_LOG`, else warnings (errors only with `--quiet`), and
/// coloured only on a terminal without `NO_COLOR`. The database driver's
/// "slow statement" warnings are about the throwaway Postgres on a busy
/// machine, nothing to act on: they show with `REPLAY_LOG=sqlx=warn`.
fn init_tracing(quiet: bool) {
    let default = if quiet { "error" } else { "warn,sqlx=error" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("REPLAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

async fn dispatch(cli: Cli, cancel: CancellationToken) -> Result<u8, Error> {
    let cache_dir = cli
        .cache_dir
        .clone()
        .unwrap_or_else(crate::support::cache::default_dir);
    match cli.command {
        Command::Check(args) => json_errors(
            args.run.format,
            run_check(&args, cache_dir, cli.quiet, cancel).await,
        ),
        Command::Fix(args) => json_errors(
            args.run.format,
            run_fix(&args, cache_dir, cli.quiet, cancel).await,
        ),
        Command::Bisect(args) => json_errors(
            args.run.format,
            run_bisect(&args, cache_dir, cli.quiet, cancel).await,
        ),
        Command::Mutate(args) => json_errors(
            args.run.format,
            run_mutate(&args, cache_dir, cli.quiet, cancel).await,
        ),
        Command::Rev(words) => {
            // `replay <REV> [flags]` is `replay fix <REV> [flags]`.
            let mut argv = vec!["replay".to_string(), "fix".to_string()];
            argv.extend(words);
            match Cli::try_parse_from(&argv) {
                Ok(Cli {
                    command: Command::Fix(args),
                    cache_dir: inner_cache,
                    quiet,
                }) => json_errors(
                    args.run.format,
                    run_fix(
                        &args,
                        inner_cache.unwrap_or(cache_dir),
                        cli.quiet || quiet,
                        cancel,
                    )
                    .await,
                ),
                Ok(_) => unreachable!("parsed as fix"),
                Err(error) => {
                    let _ = error.print();
                    Ok(exit_codes::BAD_INPUT)
                }
            }
        }
        Command::Completions { shell } => {
            let mut buffer = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "replay",
                &mut buffer,
            );
            out(&String::from_utf8_lossy(&buffer));
            Ok(exit_codes::SUCCESS)
        }
        Command::Man(args) => {
            let pages = man::pages();
            if let Some(dir) = &args.dir {
                std::fs::create_dir_all(dir).map_err(|source| Error::Write {
                    path: dir.clone(),
                    source,
                })?;
                for (name, text) in &pages {
                    let path = dir.join(name);
                    crate::support::files::write_atomically(&path, text.as_bytes())
                        .map_err(|source| Error::Write { path, source })?;
                }
                if !cli.quiet {
                    eprintln!(
                        "replay: wrote {} man pages into {}",
                        pages.len(),
                        dir.display()
                    );
                }
                return Ok(exit_codes::SUCCESS);
            }
            let wanted = match &args.command {
                Some(command) => format!("replay-{command}.1"),
                None => "replay.1".to_string(),
            };
            let Some((_, text)) = pages.iter().find(|(name, _)| *name == wanted) else {
                let names: Vec<&str> = pages
                    .iter()
                    .skip(1)
                    .map(|(n, _)| n.trim_start_matches("replay-").trim_end_matches(".1"))
                    .collect();
                return Err(Error::usage(
                    format!("no command `{}`", args.command.as_deref().unwrap_or("")),
                    Some(format!("the commands are {}", names.join(", "))),
                ));
            };
            out(text);
            Ok(exit_codes::SUCCESS)
        }
        Command::Plan(args) => {
            let query = crate::jobs::plan::PlanQuery {
                from: args.from.clone(),
                paths: args.paths.clone(),
                grep: args.grep.clone(),
                since: args.since.clone(),
            };
            let mut commits = crate::jobs::plan::plan(&args.repo, &query)?;
            if let Some(shard) = args.shard {
                commits = shard.take(commits);
            }
            out(&commits.iter().map(|c| format!("{c}\n")).collect::<String>());
            Ok(exit_codes::SUCCESS)
        }
        Command::Merge(args) => {
            let suite = crate::suite::load(&args.records.suite)?;
            let (table, merged) =
                crate::jobs::plan::merge(&args.sources, &args.records.records, &suite.name)?;
            for path in crate::jobs::mutate::merge_shards(
                &args.sources,
                &args.records.records,
                &args.records.suite,
            )? {
                if !cli.quiet {
                    eprintln!("replay: merged the mutant shards into {}", path.display());
                }
            }
            if !cli.quiet {
                eprintln!(
                    "replay: merged {merged} record{} into {}",
                    if merged == 1 { "" } else { "s" },
                    table.parent().unwrap_or(&table).display()
                );
            }
            out(&std::fs::read_to_string(&table).unwrap_or_default());
            Ok(exit_codes::SUCCESS)
        }
        Command::Report(args) => {
            let page =
                crate::report::html::render_file(&args.record).map_err(|source| Error::Html {
                    path: args.record.clone(),
                    source,
                })?;
            crate::support::files::write_atomically(&args.html, page.as_bytes()).map_err(
                |source| Error::Write {
                    path: args.html.clone(),
                    source,
                },
            )?;
            if !cli.quiet {
                eprintln!("replay: wrote {}", args.html.display());
            }
            Ok(exit_codes::SUCCESS)
        }
        Command::List(args) => {
            let listing = crate::jobs::list::list(&args.suite, &args.filter.filter())?;
            out(&match args.format {
                args::ListFormat::Json => {
                    let mut text = serde_json::to_string_pretty(&listing).expect("JSON serialises");
                    text.push('\n');
                    text
                }
                args::ListFormat::Human => crate::report::listing::human(&listing),
            });
            Ok(exit_codes::SUCCESS)
        }
        Command::Diff(args) => {
            let diff = crate::jobs::diff::run(&args.a, &args.b)?;
            out(&match args.format {
                args::ListFormat::Json => {
                    let mut text = serde_json::to_string_pretty(&diff).expect("JSON serialises");
                    text.push('\n');
                    text
                }
                args::ListFormat::Human => crate::report::diff::human(&diff),
            });
            Ok(if diff.differs() {
                exit_codes::RESULT
            } else {
                exit_codes::SUCCESS
            })
        }
        Command::Coverage(args) => {
            let coverage =
                crate::jobs::coverage::coverage(&args.suite, args.openapi.as_deref()).await?;
            out(&match args.format {
                args::ListFormat::Json => {
                    let mut text =
                        serde_json::to_string_pretty(&coverage).expect("JSON serialises");
                    text.push('\n');
                    text
                }
                args::ListFormat::Human => crate::report::coverage::human(&coverage),
            });
            match args.fail_under {
                Some(percent) if coverage.under(percent) => {
                    eprintln!(
                        "error: {} of {} endpoints covered ({:.1}%), under --fail-under {percent}%",
                        coverage.summary.covered,
                        coverage.summary.endpoints,
                        coverage.summary.percent.unwrap_or(0.0)
                    );
                    eprintln!(
                        "hint: add a scenario (with a pinned cell) for each uncovered endpoint: {}",
                        coverage.uncovered.join(", ")
                    );
                    Ok(exit_codes::RESULT)
                }
                _ => Ok(exit_codes::SUCCESS),
            }
        }
        Command::Init(args) => {
            let done = crate::jobs::init::init(&args.dir, args.openapi.as_deref()).await?;
            out(&done
                .files
                .iter()
                .map(|p| format!("{}\n", p.display()))
                .collect::<String>());
            if !cli.quiet {
                eprintln!(
                    "replay: wrote a suite with {} (pinned \"?\") into {}; fill in targets/local.toml and world.toml, then `replay check --suite {} --target local`",
                    crate::support::words::count(done.cells, "cell"),
                    args.dir.display(),
                    args.dir.display()
                );
            }
            Ok(exit_codes::SUCCESS)
        }
        Command::Table(args) => {
            let suite = crate::suite::load(&args.suite)?;
            let dir = crate::results::record::records_dir(&args.records, &suite.name);
            let path = crate::results::record::write_table(&dir, &suite.name)?;
            out(&std::fs::read_to_string(&path).unwrap_or_default());
            Ok(exit_codes::SUCCESS)
        }
        Command::Gc(args) => {
            let report = crate::jobs::gc::gc(&cache_dir, args.keep_cache).await;
            for (run, prefix, rows) in &report.rows {
                eprintln!("replay: deleted {rows} rows with prefix {prefix} that run {run} wrote");
            }
            for run in &report.runs {
                eprintln!("replay: removed what run {run} left behind");
            }
            for (run, why) in &report.failed {
                eprintln!("warning: kept what run {run} left behind: {why}");
            }
            for (run, why) in &report.live {
                eprintln!("replay: run {run} is still running ({why}); left its folders alone");
            }
            if !report.live.is_empty() && !args.keep_cache && report.caches.is_empty() {
                eprintln!("replay: kept the caches, which a live run uses");
            }
            if report.killed > 0 {
                eprintln!(
                    "replay: killed {} leftover process{}",
                    report.killed,
                    if report.killed == 1 { "" } else { "es" }
                );
            }
            for dir in &report.caches {
                eprintln!("replay: removed {}", dir.display());
            }
            for dir in &report.builds {
                eprintln!(
                    "replay: removed what a killed base-image build left: {}",
                    dir.display()
                );
            }
            if let Some(swept) = crate::jobs::gc::docker(args.keep_cache).await {
                let objects = swept.containers + swept.networks + swept.volumes;
                if objects > 0 {
                    eprintln!(
                        "replay: removed {} container(s), {} network(s), {} volume(s) of dead runs from the Docker engine",
                        swept.containers, swept.networks, swept.volumes
                    );
                }
                if swept.images > 0 {
                    eprintln!("replay: removed {} Docker image(s)", swept.images);
                }
            }
            if report.failed.is_empty() {
                Ok(exit_codes::SUCCESS)
            } else {
                Ok(exit_codes::ENVIRONMENT)
            }
        }
        Command::Images(args) => {
            if args.list {
                let images = crate::jobs::images::list().await?;
                let mut text = String::new();
                for image in &images {
                    text.push_str(&format!(
                        "{:<40} {:<9} {:>6} MB\n",
                        image.reference, image.kind, image.size_mb
                    ));
                }
                out(&text);
                return Ok(exit_codes::SUCCESS);
            }
            let built = crate::jobs::images::build(
                &args.suite.dir,
                args.suite.target.as_deref(),
                &cache_dir,
                cli.quiet,
                cancel,
            )
            .await?;
            let mut text = String::new();
            for image in &built {
                text.push_str(&format!(
                    "{} {} ({})\n",
                    image.reference,
                    if image.cached { "present" } else { "built" },
                    image.packages.join(" ")
                ));
            }
            out(&text);
            Ok(exit_codes::SUCCESS)
        }
        Command::Reap { run_id, pid } => {
            crate::jobs::gc::reap(&run_id, pid, &cache_dir).await;
            Ok(exit_codes::SUCCESS)
        }
        Command::TwinHistory {
            dir,
            commits,
            flips,
        } => {
            let hint = |e: crate::revisions::history::HistoryError| {
                let hint = match e {
                    crate::revisions::history::HistoryError::Size { .. } => {
                        "pass --flips 1 to 5 and --commits greater than --flips"
                    }
                    _ => "pick a folder that does not exist yet",
                };
                Error::usage(e.to_string(), Some(hint.to_string()))
            };
            let (history, flipped) = match commits {
                None => (
                    crate::revisions::history::generate(&dir).map_err(hint)?,
                    vec![],
                ),
                Some(commits) => crate::revisions::history::generate_bisect(&dir, commits, flips)
                    .map_err(hint)?,
            };
            let mut text = String::new();
            for commit in &history.commits {
                let tag = commit
                    .tag
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default();
                let cell = flipped
                    .iter()
                    .find(|(_, id)| *id == commit.id)
                    .map(|(cell, _)| format!(": {cell} turns RED"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "{} {}{tag}{cell}\n",
                    &commit.id.to_string()[..7],
                    commit.subject
                ));
            }
            out(&text);
            Ok(exit_codes::SUCCESS)
        }
        Command::Demo { runtime } => {
            let mut replayed =
                crate::jobs::demo::run(&cache_dir, cli.quiet, runtime, cancel).await?;
            if replayed.unrecorded.is_some() {
                let result =
                    output::emit_unrecorded(output::Document::Fix(&replayed), Format::Human, None);
                return Err(fix_not_recorded(&mut replayed, result));
            }
            output::emit(output::Document::Fix(&replayed), Format::Human, None)?;
            Ok(fix_exit_code(&replayed))
        }
    }
}

/// [`not_recorded`] for a fix, whose record may be written though its table was not.
fn fix_not_recorded(replayed: &mut Replayed, result: Option<Box<serde_json::Value>>) -> Error {
    let written = replayed
        .record_written
        .then(|| replayed.record_path.clone());
    not_recorded(replayed.unrecorded.take(), result, written)
}

/// The error a run whose result was printed but not recorded ends with.
fn not_recorded(
    unrecorded: Option<Error>,
    result: Option<Box<serde_json::Value>>,
    written: Option<PathBuf>,
) -> Error {
    Error::NotRecorded {
        source: Box::new(unrecorded.expect("checked by the caller")),
        result,
        written,
    }
}

/// With `--format json`, an error is a JSON document on stdout too (and the
/// usual `error:` and `hint:` lines on stderr).
fn json_errors(format: Format, result: Result<u8, Error>) -> Result<u8, Error> {
    if format == Format::Json
        && let Err(error) = &result
    {
        out(&output::error_document(error));
    }
    result
}

async fn run_check(
    args: &CheckArgs,
    cache_dir: std::path::PathBuf,
    quiet: bool,
    cancel: CancellationToken,
) -> Result<u8, Error> {
    if args.accept && std::env::var_os("CI").is_some_and(|v| !v.is_empty()) && !args.force {
        return Err(Error::usage(
            "--accept rewrites pins, and CI is set",
            Some("review the change locally, or pass --force to accept in CI anyway".to_string()),
        ));
    }
    // clap's `requires` gives way when a flag that conflicts with --url is
    // present (`--master-key K --target T`): say it here, naming both.
    if args.url.is_none() {
        for (given, flag) in [
            (args.master_key.is_some(), "--master-key"),
            (args.database_url.is_some(), "--database-url"),
        ] {
            if given {
                return Err(Error::usage(
                    format!("{flag} does nothing without --url"),
                    Some(format!(
                        "{flag} is for a server you started: pass --url URL with it, or drop it"
                    )),
                ));
            }
        }
    }
    let options = CheckOptions {
        run: run_options(&args.run, cache_dir, quiet),
        target: args.run.suite.target.clone(),
        rev: args.rev.clone(),
        cells: args.filter.filter(),
        url: args.url.clone(),
        database_url: args.database_url.clone(),
        master_key: args.master_key.clone(),
    };
    let checked = check(&options, cancel.clone()).await?;
    output::emit(
        output::Document::Check(&checked),
        args.run.format,
        args.run.report_dir.as_deref(),
    )?;
    // A partial run never rewrites a pin: what did not run could differ too.
    if args.accept && (checked.report.interrupted || cancel.is_cancelled()) {
        eprintln!(
            "replay: interrupted: no pin was accepted; run `check --accept` again to the end"
        );
        return Ok(exit_codes::INTERRUPTED);
    }
    if args.accept {
        accept(&checked)?;
        return Ok(exit_codes::SUCCESS);
    }
    if checked.report.summary.new > 0 {
        eprintln!(
            "hint: {} NEW cell{} (pinned \"?\"): review what the server did and pass --accept to pin it",
            checked.report.summary.new,
            if checked.report.summary.new == 1 {
                ""
            } else {
                "s"
            }
        );
    }
    Ok(check_exit_code(&checked))
}

async fn run_fix(
    args: &FixArgs,
    cache_dir: std::path::PathBuf,
    quiet: bool,
    cancel: CancellationToken,
) -> Result<u8, Error> {
    output::sarif_is_for_check(args.run.format, "fix")?;
    let options = FixOptions {
        run: run_options(&args.run, cache_dir, quiet),
        rev: args.rev.clone(),
        parent: args.parent.clone(),
        paths: args.paths.clone(),
        base: args.base.clone(),
        target: target_of(&args.run)?,
        records: args.records.clone(),
        sequential: args.sequential,
    };
    let mut replayed = replay_fix(&options, cancel).await?;
    if replayed.unrecorded.is_some() {
        let result = output::emit_unrecorded(
            output::Document::Fix(&replayed),
            args.run.format,
            args.run.report_dir.as_deref(),
        );
        return Err(fix_not_recorded(&mut replayed, result));
    }
    output::emit(
        output::Document::Fix(&replayed),
        args.run.format,
        args.run.report_dir.as_deref(),
    )?;
    if replayed.record.interrupted {
        eprintln!(
            "replay: interrupted: partial results were written to {} (marked interrupted, not in the table)",
            replayed.record_path.display()
        );
    }
    Ok(fix_exit_code(&replayed))
}

async fn run_bisect(
    args: &BisectArgs,
    cache_dir: std::path::PathBuf,
    quiet: bool,
    cancel: CancellationToken,
) -> Result<u8, Error> {
    output::sarif_is_for_check(args.run.format, "bisect")?;
    let options = crate::jobs::bisect::BisectOptions {
        run: run_options(&args.run, cache_dir, quiet),
        good: args.good.clone(),
        bad: args.bad.clone(),
        cells: args.filter.filter(),
        paths: args.paths.clone(),
        all_commits: args.all_commits,
        repeat: args.repeat as usize,
        probes: args.probes.map(|k| k as usize).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get().clamp(1, 4))
                .unwrap_or(1)
        }),
        target: target_of(&args.run)?,
        records: args.records.clone(),
    };
    let mut bisected = crate::jobs::bisect::bisect(&options, cancel).await?;
    if bisected.unrecorded.is_some() {
        let result = output::emit_unrecorded(
            output::Document::Bisect(&bisected),
            args.run.format,
            args.run.report_dir.as_deref(),
        );
        return Err(not_recorded(bisected.unrecorded.take(), result, None));
    }
    output::emit(
        output::Document::Bisect(&bisected),
        args.run.format,
        args.run.report_dir.as_deref(),
    )?;
    if bisected.record.interrupted {
        eprintln!(
            "replay: interrupted: partial results (the ranges measured so far) were written to {}",
            bisected.record_path.display()
        );
        return Ok(exit_codes::INTERRUPTED);
    }
    Ok(exit_codes::SUCCESS)
}

async fn run_mutate(
    args: &args::MutateArgs,
    cache_dir: std::path::PathBuf,
    quiet: bool,
    cancel: CancellationToken,
) -> Result<u8, Error> {
    if matches!(args.run.format, Format::Junit | Format::Sarif) {
        return Err(Error::usage(
            "replay mutate prints human, json or markdown",
            Some("pass --format human, --format json or --format markdown".to_string()),
        ));
    }
    let options = crate::jobs::mutate::MutateOptions {
        run: run_options(&args.run, cache_dir, quiet),
        rev: args.rev.clone(),
        paths: args.paths.clone(),
        functions: args.functions.clone(),
        operators: args.operators.clone(),
        target: target_of(&args.run)?,
        probes: args.probes.map(|k| k as usize).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get().clamp(1, 4))
                .unwrap_or(1)
        }),
        records: args.records.clone(),
        exhaustive: args.exhaustive,
        shard: args.shard,
    };
    let mutated = crate::jobs::mutate::mutate(&options, cancel).await?;
    let record = &mutated.record;
    out(&match args.run.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(record).expect("records serialise");
            text.push('\n');
            text
        }
        Format::Markdown => crate::report::mutants::markdown(record),
        _ => crate::report::mutants::human(record),
    });
    if !quiet {
        eprintln!("replay: wrote {}", mutated.record_path.display());
        for stale in &record.triage.stale {
            eprintln!(
                "warning: {}:{}: triage entry `{}` is stale ({}): remove it",
                record.triage.file.as_deref().unwrap_or("mutants.toml"),
                stale.line,
                stale.id,
                stale.why
            );
        }
    }
    if args.check && !record.triage.untriaged.is_empty() {
        eprintln!(
            "error: {} survivor{} not triaged: {}",
            record.triage.untriaged.len(),
            if record.triage.untriaged.len() == 1 {
                " is"
            } else {
                "s are"
            },
            record.triage.untriaged.join(", ")
        );
        eprintln!(
            "hint: add a cell that kills it to the suite, or accept it in {}/mutants.toml with a reason (equivalent, out-of-scope, known-gap) and a note",
            args.run.suite.dir.display()
        );
        return Ok(exit_codes::RESULT);
    }
    Ok(exit_codes::SUCCESS)
}

/// The options every command that boots revisions shares.
fn run_options(
    args: &RunArgs,
    cache_dir: std::path::PathBuf,
    quiet: bool,
) -> crate::engine::run::RunOptions {
    crate::engine::run::RunOptions {
        suite: args.suite.dir.clone(),
        repo: args.repo.clone(),
        jobs: args.jobs.unwrap_or_else(crate::engine::run::default_jobs),
        runtime: args.runtime,
        cache_dir,
        no_cache: args.no_cache,
        keep_logs: args.keep_logs,
        quiet,
    }
}

/// `--target`, which commands that boot revisions need.
fn target_of(run: &RunArgs) -> Result<String, Error> {
    run.suite.target.clone().ok_or_else(|| {
        let hint = match std::fs::read_dir(run.suite.dir.join("targets")) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(|e| {
                        e.ok()?
                            .path()
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                    })
                    .filter(|n| !n.ends_with("_launcher"))
                    .collect();
                names.sort();
                format!(
                    "pass --target NAME (or set REPLAY_TARGET); the targets of {} are: {}",
                    run.suite.dir.display(),
                    names.join(", ")
                )
            }
            Err(_) => "pass --target NAME (or set REPLAY_TARGET)".to_string(),
        };
        Error::usage("no target", Some(hint))
    })
}

pub(crate) fn fix_exit_code(replayed: &Replayed) -> u8 {
    if replayed.record.interrupted {
        return exit_codes::INTERRUPTED;
    }
    match replayed.record.verdict {
        crate::results::record::FixVerdict::Caught => exit_codes::SUCCESS,
        crate::results::record::FixVerdict::NotCaught => exit_codes::RESULT,
    }
}

pub(crate) fn check_exit_code(checked: &Checked) -> u8 {
    if checked.report.interrupted {
        exit_codes::INTERRUPTED
    } else if checked.report.summary.all_green() {
        exit_codes::SUCCESS
    } else {
        exit_codes::RESULT
    }
}

fn accept(checked: &Checked) -> Result<(), Error> {
    let (pins, not_pins) = accepted_pins(checked);
    for id in &not_pins {
        eprintln!(
            "warning: {id} is RED by a check or followup, which --accept cannot rewrite: those hold whatever the pin is"
        );
    }
    let edits = crate::suite::accept(&checked.suite, &pins)?;
    if edits.is_empty() {
        eprintln!("replay: no pin to change");
    }
    for edit in &edits {
        eprint!("{}", crate::support::redact::scrub(&edit.diff()));
    }
    crate::suite::write_pins(&edits)?;
    if !edits.is_empty() {
        eprintln!(
            "replay: accepted {} pin{} in {} file{}",
            pins.len(),
            if pins.len() == 1 { "" } else { "s" },
            edits.len(),
            if edits.len() == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

pub(crate) fn color_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Write to stdout; a closed pipe (`replay check | head`) ends quietly.
pub(crate) fn out(text: &str) {
    let text = &crate::support::redact::scrub(text);
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
        && error.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// `error:`, the cause chain, the problems, the log, then `hint:` lines.
pub(crate) fn print_error(error: &Error) {
    // Built whole, then scrubbed: a target can put a secret in any field.
    let mut err = String::new();
    write_error(&mut err, error);
    let _ = std::io::stderr()
        .lock()
        .write_all(crate::support::redact::scrub(&err).as_bytes());
}

fn write_error(err: &mut String, error: &Error) {
    use std::fmt::Write;
    let _ = writeln!(err, "error: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = writeln!(err, "  caused by: {cause}");
        source = cause.source();
    }
    for problem in error.problems() {
        let _ = writeln!(err, "error: {}: {}", problem.location, problem.message);
        if let Some(hint) = &problem.hint {
            let _ = writeln!(err, "  hint: {hint}");
        }
    }
    if let Some((log, command, tail)) = error.log() {
        let _ = writeln!(err, "command: {command}");
        let _ = writeln!(err, "log: {} (last lines):", log.display());
        for line in tail.lines() {
            let _ = writeln!(err, "  | {line}");
        }
    }
    for hint in error.hints() {
        let _ = writeln!(err, "hint: {hint}");
    }
}
