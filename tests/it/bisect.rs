//! `replay bisect` over the twin's generated history.

use std::path::{Path, PathBuf};

use crate::support::*;

fn history(env: &Env) -> PathBuf {
    let dir = env.tmp.path().join("twin");
    env.replay().arg("twin-history").arg(&dir).run_expect(0);
    dir
}

fn bisect(env: &Env, repo: &Path, args: &[&str]) -> std::process::Command {
    let mut command = env.replay();
    command
        .arg("bisect")
        .args(args)
        .args([
            "--target", "twin", "--format", "json", "--probes", "1", "--repo",
        ])
        .arg(repo)
        .arg("--records")
        .arg(env.tmp.path().join("replays"));
    command
}

fn subject(record: &serde_json::Value, cell: &str) -> String {
    let answer = record["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == cell)
        .unwrap_or_else(|| panic!("no {cell} in {record}"));
    assert_eq!(answer["result"], "found", "{answer}");
    answer["commit"]["subject"].as_str().unwrap().to_string()
}

const DELETE_CELLS: [&str; 3] = [
    "key_delete/owner/internal_user",
    "key_delete/owner/unrelated_same_org",
    "key_delete/owner/service_account",
];

#[test]
fn finds_the_regression_then_its_fix_and_reuses_probes() {
    let mut env = Env::new("bisect-regression");
    // Probes must really boot here, not come from other tests' results.
    env.private_cache();
    let repo = history(&env);
    let (record, _) = bisect(
        &env,
        &repo,
        &["--good", "teams-module", "--bad", "unbootable-repair"],
    )
    .run_json(0);
    for cell in DELETE_CELLS {
        assert_eq!(
            subject(&record, cell),
            "key delete: let team members delete their team's keys"
        );
    }
    assert_eq!(record["cells"].as_array().unwrap().len(), 3);
    let answer = &record["cells"][0];
    assert_eq!(answer["before"]["status"], 403);
    assert_eq!(answer["outcome_after"]["status"], 200);
    // Pinned 403: letting team members delete is a regression, never told like a fix.
    assert_eq!(answer["pin"]["status"], 403, "{answer}");
    assert_eq!(answer["movement"], "regressed", "{answer}");
    assert!(
        answer["changes"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("status 403 → 200")),
        "{answer}"
    );
    let probes = &record["probes"];
    assert!(
        probes["booted"].as_u64().unwrap() <= probes["bound"].as_u64().unwrap(),
        "{probes}"
    );
    assert!(
        env.tmp
            .path()
            .join("replays/litellm")
            .read_dir()
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("bisect-"))
    );

    // A second search over a slightly different range boots no commit inside it:
    // the probes of the first come from the cell cache.
    let (again, _) = bisect(
        &env,
        &repo,
        &["--good", "teams-module~1", "--bad", "unbootable-repair"],
    )
    .run_json(0);
    assert_eq!(
        subject(&again, DELETE_CELLS[0]),
        "key delete: let team members delete their team's keys"
    );
    assert_eq!(again["probes"]["booted"], 0, "{}", again["probes"]);
    assert!(again["probes"]["cached"].as_u64().unwrap() > 0);
    // For people: the same answer says which way each cell moved (all cached, nothing boots).
    let (stdout, _) = env
        .replay()
        .args([
            "bisect",
            "--good",
            "teams-module~1",
            "--bad",
            "unbootable-repair",
        ])
        .args(["--target", "twin", "--probes", "1", "--repo"])
        .arg(&repo)
        .arg("--records")
        .arg(env.tmp.path().join("replays"))
        .run_expect(0);
    assert!(
        stdout.contains("regressed (no longer matches pin): status 403 → 200"),
        "{stdout}"
    );

    // The fix, with the unbootable commit in the middle of the range: skipped.
    // (Forget the probes so far, so that the search has to go there.)
    std::fs::remove_dir_all(env.cache.join("cells")).unwrap();
    let (record, _) = bisect(
        &env,
        &repo,
        &["--good", "delete-regression", "--bad", "delete-fix"],
    )
    .run_json(0);
    for cell in DELETE_CELLS {
        assert_eq!(
            subject(&record, cell),
            "key delete: only team admins may delete their members' keys"
        );
    }
    assert_eq!(record["probes"]["unbootable"], 1, "{}", record["probes"]);
    for answer in record["cells"].as_array().unwrap() {
        assert_eq!(answer["movement"], "fixed", "{answer}");
    }
    env.assert_nothing_left();
}

/// The generated history for bisect at scale (`twin-history --commits N
/// --flips K`): one shared search finds each flipped cell at its own flip
/// commit, within k·⌈log2 N⌉ probes.
#[test]
fn a_generated_history_bisects_each_flipped_cell_to_its_flip_commit() {
    let mut env = Env::new("bisect-generated");
    env.private_cache();
    let repo = env.tmp.path().join("generated");
    let (listing, _) = env
        .replay()
        .args(["twin-history", "--commits", "24", "--flips", "5"])
        .arg(&repo)
        .run_expect(0);
    // `abc1234 subject (flip-1): key_list_team/team_beta/internal_user turns RED`
    let flips: Vec<(String, String)> = listing
        .lines()
        .filter_map(|line| {
            let (before, cell) = line.strip_suffix(" turns RED")?.rsplit_once("): ")?;
            let tag = before.rsplit_once(" (")?.1;
            Some((tag.to_string(), cell.to_string()))
        })
        .collect();
    assert_eq!(flips.len(), 5, "{listing}");
    assert_eq!(listing.lines().count(), 24);

    let (record, _) = bisect(&env, &repo, &["--good", "HEAD~23", "--bad", "HEAD"]).run_json(0);
    let answers = record["cells"].as_array().unwrap();
    assert_eq!(answers.len(), 5, "{record}");
    for (tag, cell) in &flips {
        let answer = answers
            .iter()
            .find(|a| a["id"] == cell.as_str())
            .unwrap_or_else(|| panic!("{cell} was not searched: {record}"));
        assert_eq!(answer["result"], "found", "{answer}");
        assert_eq!(answer["commit"]["tag"], tag.as_str(), "{answer}");
    }
    let probes = &record["probes"];
    assert_eq!(probes["bound"], 5 * 5, "{probes}");
    assert!(
        probes["booted"].as_u64().unwrap() <= probes["bound"].as_u64().unwrap(),
        "{probes}"
    );
    // Where the probes' time went is in the record's run section.
    let times = &record["run"]["timings"]["probes"];
    assert_eq!(
        times["booted"].as_u64().unwrap(),
        probes["booted"].as_u64().unwrap() + 2,
        "{times}"
    );
    env.assert_nothing_left();
}

#[test]
fn ends_that_do_not_differ_are_said_so() {
    let env = Env::new("bisect-same");
    let repo = history(&env);
    let (record, stderr) =
        bisect(&env, &repo, &["--good", "delete-fix", "--bad", "HEAD"]).run_json(0);
    assert!(
        stderr.contains("the ends do not differ on any cell"),
        "{stderr}"
    );
    assert_eq!(record["cells"], serde_json::json!([]));
    env.assert_nothing_left();
}

#[test]
fn unknown_revisions_and_reversed_ends_exit_2() {
    let env = Env::new("bisect-bad");
    let repo = history(&env);
    let (_, stderr) = bisect(&env, &repo, &["--good", "nope", "--bad", "HEAD"]).run_expect(2);
    assert!(stderr.contains("unknown revision `nope`"));
    let (_, stderr) = bisect(&env, &repo, &["--good", "HEAD", "--bad", "HEAD~4"]).run_expect(2);
    assert!(
        stderr.contains("the ends are reversed") && stderr.contains("hint: swap --good and --bad"),
        "{stderr}"
    );
    bisect(
        &env,
        &repo,
        &[
            "--good",
            "HEAD~4",
            "--bad",
            "HEAD",
            "--cell",
            "key_info/nope/owner",
        ],
    )
    .run_expect(2);
    env.assert_nothing_left();
}

/// A bisect record that cannot be written (here `--records` is a file) keeps
/// the answers: the JSON error document carries them under `result`, and the
/// run exits 3 naming the path it could not write.
#[test]
fn a_record_that_cannot_be_written_keeps_the_answers_and_exits_3() {
    let env = Env::new("bisect-unwritable");
    let repo = history(&env);
    std::fs::write(env.tmp.path().join("replays"), "a file, not a folder\n").unwrap();
    let (document, stderr) = bisect(
        &env,
        &repo,
        &["--good", "teams-module", "--bad", "unbootable-repair"],
    )
    .run_json(3);
    assert_eq!(document["kind"], "error", "{document}");
    for cell in DELETE_CELLS {
        assert_eq!(
            subject(&document["result"], cell),
            "key delete: let team members delete their team's keys"
        );
    }
    let replays = env.tmp.path().join("replays").display().to_string();
    assert!(
        document["causes"].to_string().contains(&replays),
        "{document}"
    );
    assert!(
        stderr.contains("hint: the result is under `result`"),
        "{stderr}"
    );
    env.assert_nothing_left();
}
