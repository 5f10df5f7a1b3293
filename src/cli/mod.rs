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
use crate::fix::{FixOptions, Replayed, replay_fix};
use crate::report::grid::{Palette, grids, summary_line};
pub(crate) use args::Format;
use args::{BisectArgs, CheckArgs, Cli, Command, FixArgs, RunArgs};

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
        Command::Fix(args) => run_fix(&args, cache_dir, cli.quiet, cancel).await,
        Command::Bisect(args) => run_bisect(&args, cache_dir, cli.quiet, cancel).await,
        Command::Rev(words) => {
            // `replay <REV> [flags]` is `replay fix <REV> [flags]`.
            let mut argv = vec!["replay".to_string(), "fix".to_string()];
            argv.extend(words);
            match Cli::try_parse_from(&argv) {
                Ok(Cli {
                    command: Command::Fix(args),
                    cache_dir: inner_cache,
                    quiet,
                }) => {
                    run_fix(
                        &args,
                        inner_cache.unwrap_or(cache_dir),
                        cli.quiet || quiet,
                        cancel,
                    )
                    .await
                }
                Ok(_) => unreachable!("parsed as fix"),
                Err(error) => {
                    let _ = error.print();
                    Ok(exit_codes::BAD_INPUT)
                }
            }
        }
        Command::Report(args) => {
            let page =
                crate::report::html::render_file(&args.record).map_err(|source| Error::Html {
                    path: args.record.clone(),
                    source,
                })?;
            crate::files::write_atomically(&args.html, page.as_bytes()).map_err(|source| {
                Error::Write {
                    path: args.html.clone(),
                    source,
                }
            })?;
            if !cli.quiet {
                eprintln!("replay: wrote {}", args.html.display());
            }
            Ok(exit_codes::SUCCESS)
        }
        Command::Table(args) => {
            let suite = crate::suite::load(&args.suite)?;
            let dir = crate::record::records_dir(&args.records, &suite.name);
            let path = crate::record::write_table(&dir, &suite.name)?;
            out(&std::fs::read_to_string(&path).unwrap_or_default());
            Ok(exit_codes::SUCCESS)
        }
        Command::Gc(args) => {
            let report = crate::gc::gc(&cache_dir, args.keep_cache);
            for run in &report.runs {
                eprintln!("replay: removed what run {run} left behind");
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
            Ok(exit_codes::SUCCESS)
        }
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
        Command::Demo => crate::demo::run(&cache_dir, cli.quiet, cancel).await,
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
        suite: args.run.suite.clone(),
        target: args.run.target.clone(),
        repo: args.run.repo.clone(),
        rev: args.rev.clone(),
        cells: args.cells.clone(),
        jobs: args.run.jobs.unwrap_or_else(default_jobs),
        runtime: args.run.runtime,
        cache_dir,
        no_cache: args.run.no_cache,
        url: args.url.clone(),
        database_url: args.database_url.clone(),
        master_key: args.master_key.clone(),
        keep_logs: args.run.keep_logs,
        quiet,
    };
    let checked = check(&options, cancel).await?;
    print_check(&checked, args.run.format);
    if args.accept {
        accept(&checked)?;
        return Ok(exit_codes::SUCCESS);
    }
    Ok(check_exit_code(&checked))
}

async fn run_fix(
    args: &FixArgs,
    cache_dir: std::path::PathBuf,
    quiet: bool,
    cancel: CancellationToken,
) -> Result<u8, Error> {
    let options = FixOptions {
        rev: args.rev.clone(),
        parent: args.parent.clone(),
        paths: args.paths.clone(),
        base: args.base.clone(),
        suite: args.run.suite.clone(),
        target: target_of(&args.run)?,
        repo: args.run.repo.clone(),
        records: args.records.clone(),
        jobs: args.run.jobs.unwrap_or_else(default_jobs),
        runtime: args.run.runtime,
        cache_dir,
        no_cache: args.run.no_cache,
        sequential: args.sequential,
        keep_logs: args.run.keep_logs,
        quiet,
    };
    let replayed = replay_fix(&options, cancel).await?;
    print_fix(&replayed, args.run.format);
    Ok(fix_exit_code(&replayed))
}

async fn run_bisect(
    args: &BisectArgs,
    cache_dir: std::path::PathBuf,
    quiet: bool,
    cancel: CancellationToken,
) -> Result<u8, Error> {
    let options = crate::bisect::BisectOptions {
        good: args.good.clone(),
        bad: args.bad.clone(),
        cells: args.cells.clone(),
        paths: args.paths.clone(),
        all_commits: args.all_commits,
        repeat: args.repeat as usize,
        probes: args.probes.map(|k| k as usize).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get().clamp(1, 4))
                .unwrap_or(1)
        }),
        suite: args.run.suite.clone(),
        target: target_of(&args.run)?,
        repo: args.run.repo.clone(),
        records: args.records.clone(),
        jobs: args.run.jobs.unwrap_or_else(default_jobs),
        runtime: args.run.runtime,
        cache_dir,
        no_cache: args.run.no_cache,
        keep_logs: args.run.keep_logs,
        quiet,
    };
    let bisected = crate::bisect::bisect(&options, cancel).await?;
    print_bisect(&bisected, args.run.format);
    Ok(exit_codes::SUCCESS)
}

fn print_bisect(bisected: &crate::bisect::Bisected, format: Format) {
    let record = &bisected.record;
    if format == Format::Json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(record).expect("records serialise")
        ));
        return;
    }
    let status = |o: &Option<crate::outcome::CellOutcome>| {
        o.as_ref()
            .and_then(|o| o.status)
            .map_or("?".to_string(), |s| s.to_string())
    };
    let mut text = format!(
        "bisect {} (good) .. {} (bad): {} commits, {}\n\n",
        record.good.short, record.bad.short, record.commits, record.walk
    );
    if record.cells.is_empty() {
        text.push_str("the ends do not differ on any cell: nothing to search\n");
    } else {
        let width = record
            .cells
            .iter()
            .map(|c| c.id.len())
            .max()
            .unwrap_or(4)
            .max(4);
        text.push_str(&format!(
            "{:width$}  {:<18}  {:<12}  subject\n",
            "cell", "changed at", "before → after"
        ));
        for cell in &record.cells {
            let commit = cell
                .commit
                .as_ref()
                .map(|c| c.short.as_str())
                .unwrap_or("?");
            let (at, subject) = match cell.result.as_str() {
                "found" => (
                    commit.to_string(),
                    cell.commit
                        .as_ref()
                        .map(|c| c.subject.clone())
                        .unwrap_or_default(),
                ),
                "range" => (
                    format!(
                        "{}..{commit}",
                        cell.after.as_ref().map(|c| c.short.as_str()).unwrap_or("?")
                    ),
                    format!(
                        "one of these; unbootable between: {}",
                        cell.unbootable.join(", ")
                    ),
                ),
                _ => ("FLAKY".to_string(), format!("runs disagreed at {commit}")),
            };
            let change = format!("{} → {}", status(&cell.before), status(&cell.outcome_after));
            text.push_str(&format!(
                "{:width$}  {at:<18}  {change:<14}  {subject}\n",
                cell.id
            ));
        }
    }
    for dropped in &record.dropped {
        text.push_str(&format!("left out: {} ({})\n", dropped.id, dropped.why));
    }
    let p = &record.probes;
    text.push_str(&format!(
        "\nprobes: {} ends + {} booted, {} from the cache, {} unbootable; {} round{} of up to {} at once (bound k × ceil(log2 N) = {})\nrecord {}\n",
        p.ends,
        p.booted,
        p.cached,
        p.unbootable,
        p.rounds,
        if p.rounds == 1 { "" } else { "s" },
        record.parallel,
        p.bound,
        bisected.record_path.display()
    ));
    out(&text);
}

/// `--target`, which commands that boot revisions need.
fn target_of(run: &RunArgs) -> Result<String, Error> {
    run.target.clone().ok_or_else(|| {
        let hint = match std::fs::read_dir(run.suite.join("targets")) {
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
                    run.suite.display(),
                    names.join(", ")
                )
            }
            Err(_) => "pass --target NAME (or set REPLAY_TARGET)".to_string(),
        };
        Error::usage("no target", Some(hint))
    })
}

pub(crate) fn fix_exit_code(replayed: &Replayed) -> u8 {
    match replayed.record.verdict {
        crate::record::FixVerdict::Caught => exit_codes::SUCCESS,
        crate::record::FixVerdict::NotCaught => exit_codes::RESULT,
    }
}

pub(crate) fn print_fix(replayed: &Replayed, format: Format) {
    let record = &replayed.record;
    if format == Format::Json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(record).expect("records serialise")
        ));
        return;
    }
    let palette = Palette::new(color_stdout());
    let mut text = format!(
        "fix {} \"{}\" ({})\nparent {} \"{}\"\n",
        record.fix.short,
        record.fix.subject,
        &record.fix.date[..10],
        record.parent.short,
        record.parent.subject
    );
    if record.revisions.mode == "overlay" {
        let base = record
            .revisions
            .base
            .as_ref()
            .map(|b| b.short.as_str())
            .unwrap_or("?");
        text.push_str(&format!(
            "overlay: {} from each side, on {base}\n",
            record.revisions.paths.join(", ")
        ));
    }
    text.push('\n');
    let by_id: std::collections::HashMap<&str, &crate::record::CellRecord> =
        record.cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let status =
        |o: &crate::outcome::CellOutcome| o.status.map_or("none".to_string(), |s| s.to_string());
    for (name, ids) in [
        ("RED→GREEN", &record.transitions.red_to_green),
        ("GREEN→RED", &record.transitions.green_to_red),
        ("RED→RED", &record.transitions.red_to_red),
        ("ERROR", &record.transitions.error),
    ] {
        text.push_str(&format!("{name} ({})\n", ids.len()));
        let width = ids.iter().map(|id| id.len()).max().unwrap_or(0);
        for id in ids {
            let cell = by_id[id.as_str()];
            text.push_str(&format!(
                "  {id:width$}  {} → {} (pinned {})\n",
                status(&cell.parent),
                status(&cell.fix),
                cell.pin.status
            ));
        }
    }
    text.push_str(&format!(
        "GREEN→GREEN: {} cells\n",
        record.transitions.green_to_green
    ));
    if !record.reason_changes.is_empty() {
        text.push_str(&format!(
            "reason changes ({}), not transitions:\n",
            record.reason_changes.len()
        ));
        for change in &record.reason_changes {
            text.push_str(&format!(
                "  {}  {}: {:?} → {:?}\n",
                change.id,
                change.status,
                change.parent.as_deref().unwrap_or(""),
                change.fix.as_deref().unwrap_or("")
            ));
        }
    }
    let verdict = match record.verdict {
        crate::record::FixVerdict::Caught => palette
            .verdict(crate::outcome::Verdict::Green)
            .replace("GREEN", "CAUGHT"),
        crate::record::FixVerdict::NotCaught => palette
            .verdict(crate::outcome::Verdict::Red)
            .replace("RED", "NOT CAUGHT"),
    };
    text.push_str(&format!(
        "\n{verdict}: {} cell{} RED→GREEN",
        record.transitions.red_to_green.len(),
        if record.transitions.red_to_green.len() == 1 {
            ""
        } else {
            "s"
        }
    ));
    if let Some(reason) = &record.reason {
        text.push_str(&format!(" ({reason})"));
    }
    text.push_str(&format!(
        "\nrecord {}\ntable  {}\n{}\n{}\n",
        replayed.record_path.display(),
        replayed.table_path.display(),
        crate::record::TABLE_HEADER,
        crate::record::table_row(record)
    ));
    out(&text);
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
