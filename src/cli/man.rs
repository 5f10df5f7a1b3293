//! Man pages: `replay(1)` and one `replay-COMMAND(1)` per subcommand, made
//! from the command-line definitions (clap_mangen), with the sections a man
//! page reader looks for: EXAMPLES, EXIT STATUS, ENVIRONMENT, FILES, SEE ALSO.

use std::fmt::Write as _;

use clap::CommandFactory;

use super::args::Cli;

/// The environment every command reads, besides its flags' own variables.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "REPLAY_CACHE_DIR",
        "The cache folder (default ~/.cache/replay); also --cache-dir.",
    ),
    (
        "REPLAY_PG_BIN",
        "The folder with initdb and postgres (default: PATH, then /usr/lib/postgresql/*/bin).",
    ),
    (
        "REPLAY_PG_USER",
        "The user that runs initdb and postgres when replay runs as root (default postgres).",
    ),
    (
        "REPLAY_RUN_ID",
        "The name of the run (default: random); every process it starts carries it, so replay gc finds what a killed run left.",
    ),
    (
        "REPLAY_LOG",
        "Diagnostics on stderr, as a tracing filter (e.g. debug, replay=debug).",
    ),
    ("NO_COLOR", "No colours."),
    (
        "CI",
        "Plain progress lines instead of bars; check --accept refuses without --force.",
    ),
];

const FILES: &str = "\
SUITE/suite.toml, SUITE/world.toml, SUITE/scenarios/*.toml, SUITE/targets/*.toml
    A suite (default matrices/litellm); docs/format.md lists every key.
RECORDS/SUITE-NAME/*.json, RECORDS/SUITE-NAME/README.md
    Fix records, bisect records and the replay table (default RECORDS: replays).
$REPLAY_CACHE_DIR (default ~/.cache/replay)
    Build environments, the initdb'd Postgres cluster, materialised worktrees, cell results,
    and the logs of failed runs; replay gc removes them.
";

/// Every page, as (file name, roff text): `replay.1` first.
pub(crate) fn pages() -> Vec<(String, String)> {
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    let mut out = vec![page(&top, None)];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.push(page(sub, Some(&top)));
    }
    out
}

/// One page: clap_mangen's sections, then ours.
fn page(cmd: &clap::Command, parent: Option<&clap::Command>) -> (String, String) {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut buffer = Vec::new();
    let _ = man.render_title(&mut buffer);
    let _ = man.render_name_section(&mut buffer);
    let _ = man.render_synopsis_section(&mut buffer);
    let _ = man.render_description_section(&mut buffer);
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(&mut buffer);
    }
    if cmd.has_subcommands() {
        let _ = man.render_subcommands_section(&mut buffer);
    }
    let mut text = String::from_utf8_lossy(&buffer).into_owned();
    let after = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let (examples, exit) = match after.split_once("Exit codes:\n") {
        Some((examples, exit)) => (examples.to_string(), exit.to_string()),
        None => (after.clone(), String::new()),
    };
    let examples = examples
        .trim()
        .trim_start_matches("Examples:")
        .trim_matches('\n');
    if !examples.is_empty() {
        text.push_str(".SH EXAMPLES\n");
        preformatted(&mut text, examples);
    }
    let exit = if exit.trim().is_empty() {
        crate::exit_codes_help!()
            .trim_start_matches("Exit codes:\n")
            .to_string()
    } else {
        exit
    };
    text.push_str(".SH \"EXIT STATUS\"\n");
    preformatted(&mut text, exit.trim_end());
    text.push_str(".SH ENVIRONMENT\n");
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(env) = arg.get_env() {
            let flag = arg
                .get_long()
                .map(|l| format!("--{l}"))
                .unwrap_or_else(|| arg.get_id().to_string());
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            item(
                &mut text,
                &env.to_string_lossy(),
                &format!("{flag}: {help}"),
            );
        }
    }
    for (name, meaning) in ENVIRONMENT {
        item(&mut text, name, meaning);
    }
    text.push_str(".SH FILES\n");
    preformatted(&mut text, FILES.trim_end());
    text.push_str(".SH \"SEE ALSO\"\n");
    let see_also: Vec<String> = match parent {
        Some(parent) => std::iter::once("replay(1)".to_string())
            .chain(
                parent
                    .get_subcommands()
                    .filter(|s| !s.is_hide_set() && s.get_name() != cmd.get_name())
                    .map(|s| format!("replay-{}(1)", s.get_name())),
            )
            .collect(),
        None => cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| format!("replay-{}(1)", s.get_name()))
            .collect(),
    };
    text.push_str(&escape(&see_also.join(", ")));
    text.push('\n');
    if let Some(version) = cmd.get_version().or(parent.and_then(|p| p.get_version())) {
        let _ = writeln!(text, ".SH VERSION\n{}", escape(version));
    }
    (man.get_filename(), text)
}

fn item(text: &mut String, tag: &str, body: &str) {
    let _ = writeln!(text, ".TP\n\\fB{}\\fR\n{}", escape(tag), escape(body));
}

fn preformatted(text: &mut String, body: &str) {
    text.push_str(".nf\n");
    for line in body.lines() {
        text.push_str(&escape(line));
        text.push('\n');
    }
    text.push_str(".fi\n");
}

/// Roff-safe text: backslashes and hyphens escaped, no control character at
/// the start of a line.
fn escape(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_a_page_with_exit_status_environment_and_files() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "replay.1");
        for name in [
            "replay-check.1",
            "replay-fix.1",
            "replay-bisect.1",
            "replay-man.1",
        ] {
            assert!(names.contains(&name), "{names:?}");
        }
        let top = &pages[0].1;
        for (name, text) in &pages {
            for section in [
                ".SH NAME",
                ".SH \"EXIT STATUS\"",
                ".SH ENVIRONMENT",
                ".SH FILES",
            ] {
                assert!(text.contains(section), "{name} lacks {section}");
            }
            let stem = name.trim_end_matches(".1").replace('-', "\\-");
            if name != "replay.1" {
                assert!(
                    top.contains(&format!("{stem}(1)")),
                    "replay.1 does not name {name}"
                );
            }
        }
        let check = &pages.iter().find(|(n, _)| n == "replay-check.1").unwrap().1;
        assert!(
            check.contains("REPLAY_SUITE"),
            "a flag's own variable is listed"
        );
        assert!(check.contains("every cell GREEN"), "check's own exit codes");
        assert!(check.contains(".SH EXAMPLES"));
    }

    #[test]
    fn text_is_escaped_for_roff() {
        assert_eq!(escape(".hidden"), "\\&.hidden");
        assert_eq!(escape("a \\ b-c"), "a \\e b\\-c");
    }
}
