//! Docs that cannot go stale: every shell block of README.md and docs/*.md, and
//! every example of every `--help` page, runs here against the twin's
//! generated history, and must exit 0.
//!
//! How a block runs: the blocks of one document (or the examples of one help
//! page) run in order, each as a `bash -e -o pipefail` script, in one sandbox
//! folder of their own that holds a copy of `matrices/` and `replays/` (they
//! are written to) and links to `testdata/` and `tests/`. `replay` on the PATH
//! is the binary under test. `/tmp/twin` in a block means the sandbox's
//! `twin/`; when a document never makes it (`replay twin-history /tmp/twin`),
//! it is made before its first block.
//!
//! A block that cannot run here says so, with its reason, on the line before
//! its fence: `<!-- doc-test: skip: needs a clone of LiteLLM -->`. A help
//! example that cannot run is listed in `HELP_SKIPS` with its reason. A marker
//! without a reason, a marker before no shell block, and a skip entry that no
//! longer matches an example are failures.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Env, copy_dir, repo_root};

/// Help examples that cannot run on this machine, and why (a prefix of the
/// example's command line).
const HELP_SKIPS: &[(&str, &str)] = &[
    (
        "replay images --suite matrices/litellm --target twin",
        "needs the Docker engine and builds base images (minutes cold); tests/it/docker.rs builds them",
    ),
    (
        "replay images --list",
        "needs the Docker engine; tests/it/docker.rs runs the Docker runtime",
    ),
    (
        "replay check --cell key_update/self/owner --url http://127.0.0.1:4000",
        "needs a server you started on 127.0.0.1:4000 and its database",
    ),
    (
        "replay twin-history /tmp/twin-1000 --commits 1000 --flips 5",
        "writes 1,000 commits (a minute in a debug build); the unit test and tests/it/bisect.rs generate small ones",
    ),
    (
        "replay bisect --good HEAD~999 --bad HEAD --target twin --repo /tmp/twin-1000",
        "boots some 40 probes (minutes on two cores); tests/it/bisect.rs bisects a small generated history, scripts/bench this one",
    ),
    (
        "replay mutate --paths keys.py --target twin --repo /tmp/twin",
        "boots every mutant of keys.py (minutes); tests/it/mutate.rs and .ci/run's gate run mutate",
    ),
    (
        "replay mutate --paths keys.py --function check_update --exhaustive",
        "boots every mutant of check_update on every cell (minutes); tests/it/mutate.rs covers it",
    ),
];

/// The prefix of a skip marker; the rest of the comment is the reason.
const SKIP: &str = "<!-- doc-test: skip:";

/// One shell block (or one help page's examples) to run.
#[derive(Debug)]
struct Block {
    /// `README.md:41`, or `replay fix --help`.
    origin: String,
    script: String,
    /// Why it is not run, when it is not.
    skip: Option<String>,
}

/// The shell blocks of a Markdown document, with their skip markers.
fn markdown_blocks(name: &str, text: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut pending_skip: Option<(usize, String)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(SKIP) {
            let reason = rest.trim_end().trim_end_matches("-->").trim().to_string();
            if reason.is_empty() {
                return Err(format!("{name}:{}: a skip marker without a reason", i + 1));
            }
            pending_skip = Some((i + 1, reason));
            i += 1;
            continue;
        }
        if let Some(info) = trimmed.strip_prefix("```") {
            let indent = line.len() - trimmed.len();
            let shell = matches!(info.trim(), "sh" | "bash" | "shell");
            let start = i + 1;
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                body.push(lines[i].get(indent..).unwrap_or("").to_string());
                i += 1;
            }
            i += 1;
            if shell {
                blocks.push(Block {
                    origin: format!("{name}:{start}"),
                    script: body.join("\n") + "\n",
                    skip: pending_skip.take().map(|(_, reason)| reason),
                });
            } else if let Some((at, _)) = pending_skip.take() {
                return Err(format!(
                    "{name}:{at}: a skip marker before a block that is not sh"
                ));
            }
            continue;
        }
        if !trimmed.is_empty()
            && let Some((at, _)) = pending_skip.take()
        {
            return Err(format!(
                "{name}:{at}: a skip marker that is not right before a block"
            ));
        }
        i += 1;
    }
    if let Some((at, _)) = pending_skip {
        return Err(format!("{name}:{at}: a skip marker before no block"));
    }
    Ok(blocks)
}

/// The commands of a help page's `Examples:` section, in order: a line
/// indented by two spaces that starts with `replay `, with its `\` continuations.
fn help_examples(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_examples = false;
    let mut continued = false;
    for line in help.lines() {
        if line == "Examples:" {
            in_examples = true;
            continue;
        }
        if !in_examples {
            continue;
        }
        if !line.is_empty() && !line.starts_with(' ') {
            break;
        }
        if continued {
            let last: &mut String = out.last_mut().unwrap();
            last.push('\n');
            last.push_str(line);
        } else if let Some(command) = line.strip_prefix("  ")
            && command.starts_with("replay ")
        {
            out.push(line.to_string());
        } else {
            continued = false;
            continue;
        }
        continued = line.ends_with('\\');
    }
    out
}

fn replay_output(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_replay"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "replay {args:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The subcommands `replay --help` lists.
fn subcommands() -> Vec<String> {
    let help = replay_output(&["--help"]);
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

/// Every help page with examples, as one block each.
fn help_blocks() -> Vec<Block> {
    let mut pages = vec![(String::from("replay --help"), replay_output(&["--help"]))];
    for sub in subcommands() {
        pages.push((
            format!("replay {sub} --help"),
            replay_output(&[&sub, "--help"]),
        ));
    }
    let mut used = vec![false; HELP_SKIPS.len()];
    let mut blocks = Vec::new();
    for (origin, help) in pages {
        let mut script = String::new();
        for example in help_examples(&help) {
            let command = example.trim_start();
            match HELP_SKIPS.iter().position(|(p, _)| command.starts_with(p)) {
                Some(k) => {
                    used[k] = true;
                    script.push_str(&format!("# skipped ({}): {command}\n", HELP_SKIPS[k].1));
                }
                None => script.push_str(&format!("{command}\n")),
            }
        }
        if !script.is_empty() {
            blocks.push(Block {
                origin,
                script,
                skip: None,
            });
        }
    }
    for (k, (prefix, _)) in HELP_SKIPS.iter().enumerate() {
        assert!(
            used[k],
            "HELP_SKIPS names {prefix:?}, which no help example starts with"
        );
    }
    blocks
}

/// A folder to run one document's blocks in.
fn sandbox(env: &Env, name: &str) -> PathBuf {
    let dir = env
        .tmp
        .path()
        .join("docs")
        .join(name.replace(['/', ' '], "_"));
    std::fs::create_dir_all(&dir).unwrap();
    for copied in ["matrices", "replays"] {
        copy_dir(&repo_root().join(copied), &dir.join(copied));
    }
    for linked in ["testdata", "tests"] {
        std::os::unix::fs::symlink(repo_root().join(linked), dir.join(linked)).unwrap();
    }
    dir
}

/// Run blocks in order in one sandbox; the failures, described.
fn run_blocks(env: &Env, name: &str, blocks: &[Block]) -> Vec<String> {
    let dir = sandbox(env, name);
    let twin = dir.join("twin");
    let makes_twin = blocks
        .iter()
        .filter(|b| b.skip.is_none())
        .any(|b| b.script.contains("replay twin-history /tmp/twin"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_replay"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    let mut made = false;
    for block in blocks {
        if let Some(reason) = &block.skip {
            eprintln!("{}: skipped: {reason}", block.origin);
            continue;
        }
        if !makes_twin && !made {
            let status = env
                .replay()
                .arg("twin-history")
                .arg(&twin)
                .output()
                .unwrap();
            assert!(status.status.success());
            made = true;
        }
        let script = block
            .script
            .replace("/tmp/twin", &twin.display().to_string());
        let output = Command::new("bash")
            .args(["-e", "-o", "pipefail", "-c", &script])
            .current_dir(&dir)
            .env("PATH", &path)
            .env("REPLAY_RUN_ID", &env.run_id)
            .env("REPLAY_CACHE_DIR", &env.cache)
            .env("TMPDIR", env.scratch())
            .env("NO_COLOR", "1")
            .env_remove("CI")
            .output()
            .unwrap();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            failures.push(format!(
                "{} exited {:?}:\n{}\n--- stderr (end) ---\n{}",
                block.origin,
                output.status.code(),
                block.script,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
    }
    failures
}

fn documents() -> Vec<(String, String)> {
    let root = repo_root();
    let mut names = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| Path::new("docs").join(p.file_name().unwrap()))
        .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(root.join(&name)).unwrap();
            (name.display().to_string(), text)
        })
        .collect()
}

#[test]
fn the_markers_of_the_docs_are_well_formed_and_every_block_is_run_or_says_why_not() {
    for (name, text) in documents() {
        let blocks = markdown_blocks(&name, &text).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            blocks
                .iter()
                .all(|b| b.skip.is_some() || !b.script.trim().is_empty()),
            "{name}: an empty shell block"
        );
    }
    assert!(markdown_blocks("x.md", "<!-- doc-test: skip: -->\n```sh\nls\n```\n").is_err());
    assert!(
        markdown_blocks(
            "x.md",
            "<!-- doc-test: skip: why -->\ntext\n```sh\nls\n```\n"
        )
        .is_err()
    );
    assert!(markdown_blocks("x.md", "<!-- doc-test: skip: why -->\n```toml\n```\n").is_err());
    let ok = markdown_blocks("x.md", "<!-- doc-test: skip: why -->\n\n```sh\nls\n```\n").unwrap();
    assert_eq!(ok[0].skip.as_deref(), Some("why"));
    let examples = help_examples(
        "Examples:\n  replay a \\\n      --b\n      What it does.\n  replay c\n      C.\n\nExit codes:\n  0    ok\n",
    );
    assert_eq!(examples, ["  replay a \\\n      --b", "  replay c"]);
}

#[test]
fn the_readme_starts_with_its_two_commands() {
    let (_, readme) = &documents()[0];
    let blocks = markdown_blocks("README.md", readme).unwrap();
    let commands: Vec<&str> = blocks[0]
        .script
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .collect();
    assert_eq!(commands, ["scripts/demo", ".ci/run"]);
}

#[test]
fn every_shell_block_of_the_docs_runs() {
    let env = Env::new("docs-md");
    let mut failures = Vec::new();
    for (name, text) in documents() {
        let blocks = markdown_blocks(&name, &text).unwrap();
        failures.extend(run_blocks(&env, &name, &blocks));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    env.assert_nothing_left();
}

#[test]
fn every_help_example_runs() {
    let env = Env::new("docs-help");
    let mut failures = Vec::new();
    for block in help_blocks() {
        failures.extend(run_blocks(
            &env,
            &block.origin,
            std::slice::from_ref(&block),
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    env.assert_nothing_left();
}

/// What a help example says it shows, it shows: `replay bisect --help`'s
/// one-cell example names a range whose middle is the unbootable commit,
/// and run as written (on a cell cache of its own, so the search has to
/// boot its probes) it skips that commit and still finds the fix.
#[test]
fn the_bisect_help_example_skips_the_unbootable_commit_it_names() {
    let mut env = Env::new("docs-bisect-skip");
    env.private_cache();
    let example = help_examples(&replay_output(&["bisect", "--help"]))
        .into_iter()
        .find(|e| e.contains("--cell "))
        .expect("a one-cell example in replay bisect --help");
    let twin = env.tmp.path().join("twin");
    let made = env
        .replay()
        .arg("twin-history")
        .arg(&twin)
        .output()
        .unwrap();
    assert!(made.status.success());
    let words = shell_words::split(&example.replace("\\\n", " ")).unwrap();
    assert_eq!(words[0], "replay");
    let args: Vec<String> = words[1..]
        .iter()
        .map(|w| w.replace("/tmp/twin", &twin.display().to_string()))
        .collect();
    let output = env
        .replay()
        .args(&args)
        .args(["--format", "json", "--records"])
        .arg(env.tmp.path().join("replays"))
        .output()
        .unwrap();
    let (stdout, stderr) = crate::support::text(&output);
    assert_eq!(output.status.code(), Some(0), "{example}\n{stderr}");
    let record: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(record["probes"]["unbootable"], 1, "{example}\n{stderr}");
    let cells = record["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 1, "{record}");
    assert_eq!(cells[0]["result"], "found", "{record}");
    assert_eq!(cells[0]["commit"]["tag"], "delete-fix", "{record}");
    env.assert_nothing_left();
}
