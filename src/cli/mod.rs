//! The command line: clap types, dispatch, and how results and errors are printed.
//!
//! stdout carries the result (a grid, JSON); stderr carries progress, errors
//! and hints. Every flag CI sets has an environment variable.

mod args;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use crate::check::{CheckOptions, Checked, accepted_pins, check};
use crate::error::Error;
use crate::exit_codes;
use crate::report::grid::{Palette, grids, summary_line};
pub(crate) use args::Format;
use args::{CheckArgs, Cli, Command};

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
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
        crate::run::install_interrupt(cancel.clone());
        match dispatch(cli, cancel).await {
            Ok(code) => code,
            Err(error) => {
                print_error(&error);
                error.exit_code()
            }
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    ExitCode::from(code)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REPLAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn dispatch(cli: Cli, cancel: CancellationToken) -> Result<u8, Error> {
    let cache_dir = cli
        .cache_dir
        .clone()
        .unwrap_or_else(crate::cache::default_dir);
    match cli.command {
        Command::Check(args) => run_check(&args, cache_dir, cli.quiet, cancel).await,
        Command::TwinHistory { dir } => {
            let history = crate::history::generate(&dir).map_err(|e| {
                Error::usage(
                    e.to_string(),
                    Some("pick a folder that does not exist yet".to_string()),
                )
            })?;
            let mut text = String::new();
            for commit in &history.commits {
                let tag = commit
                    .tag
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "{} {}{tag}\n",
                    &commit.id.to_string()[..7],
                    commit.subject
                ));
            }
            out(&text);
            Ok(exit_codes::SUCCESS)
        }
        Command::Demo => {
            crate::demo::run(&cache_dir, cli.quiet, cancel, &Palette::new(color_stdout())).await
        }
    }
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
    let options = CheckOptions {
        suite: args.suite.clone(),
        target: args.target.clone(),
        repo: args.repo.clone(),
        rev: args.rev.clone(),
        cells: args.cells.clone(),
        jobs: args.jobs.unwrap_or_else(default_jobs),
        runtime: args.runtime,
        cache_dir,
        no_cache: args.no_cache,
        url: args.url.clone(),
        database_url: args.database_url.clone(),
        master_key: args.master_key.clone(),
        quiet,
    };
    let checked = check(&options, cancel).await?;
    print_check(&checked, args.format);
    if args.accept {
        accept(&checked)?;
        return Ok(exit_codes::SUCCESS);
    }
    Ok(check_exit_code(&checked))
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

/// Cells run at once: enough to keep a small server busy, bounded for big machines.
pub(crate) fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| (n.get() * 4).clamp(4, 16))
        .unwrap_or(8)
}

pub(crate) fn print_check(checked: &Checked, format: Format) {
    match format {
        Format::Json => out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&checked.report).expect("reports serialise")
        )),
        Format::Human => {
            let palette = Palette::new(color_stdout());
            let report = &checked.report;
            let mut text = grids(&checked.suite, &report.cells, &palette);
            let t = &report.timings;
            text.push_str(&format!(
                "{} · {} on {} at {}\n",
                summary_line(&report.summary, &palette),
                report.suite.name,
                report
                    .target
                    .as_ref()
                    .map_or("a running server", |t| t.name.as_str()),
                report.revision.label
            ));
            text.push_str(&format!(
                "time {:.2}s: build {:.2}s, migrate {:.2}s, seed {:.2}s, boot {:.2}s, matrix {:.2}s ({} cells/s), other {:.2}s\n",
                secs(t.total_ms),
                secs(t.build_ms),
                secs(t.migrate_ms),
                secs(t.seed_ms),
                secs(t.boot_ms),
                secs(t.matrix_ms),
                t.cells_per_second,
                secs(t.overhead_ms)
            ));
            out(&text);
        }
    }
}

fn secs(ms: u128) -> f64 {
    ms as f64 / 1000.0
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
        eprint!("{}", edit.diff());
        edit.write().map_err(|source| Error::Write {
            path: edit.path.clone(),
            source,
        })?;
    }
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

fn color_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Write to stdout; a closed pipe (`replay check | head`) ends quietly.
pub(crate) fn out(text: &str) {
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
    let mut err = std::io::stderr().lock();
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
