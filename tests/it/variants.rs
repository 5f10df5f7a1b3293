//! A target across a history whose layout changes: `[[variant]]`s chosen by
//! the files of each revision, on a repository where the twin moves into a
//! subfolder and renames its requirements file at one commit.

use std::path::Path;

use crate::support::*;

/// The variant for the moved layout: its own workdir and build; migrate and
/// boot stay the target's own.
const NESTED: &str = r#"
[[variant]]
name = "flat"
exists = ["server.py", "requirements.txt"]

[[variant]]
name = "nested"
exists = ["server/server.py"]
workdir = "server"
[variant.local.build]
inputs = ["requirements-server.txt"]
run = [
  "python3 -m venv {{env}}",
  "{{env}}/bin/python -m pip install --quiet --disable-pip-version-check --no-input -r requirements-server.txt",
]
"#;

fn git(repo: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn check_rev(
    env: &Env,
    suite: &Path,
    target: &str,
    repo: &Path,
    rev: &str,
) -> std::process::Output {
    env.replay()
        .args(["check", "--suite"])
        .arg(suite)
        .args(["--target", target, "--repo"])
        .arg(repo)
        .args(["--rev", rev, "--format", "json"])
        .output()
        .unwrap()
}

#[test]
fn one_target_with_variants_boots_revisions_before_and_after_a_move() {
    let env = Env::new("variants");
    let repo = env.scratch().parent().unwrap().join("repo");
    copy_dir(&repo_root().join("testdata/twin"), &repo);
    git(&repo, &["init", "--quiet"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "the twin at the root"]);
    std::fs::create_dir_all(repo.join("server")).unwrap();
    for entry in std::fs::read_dir(&repo).unwrap() {
        let name = entry.unwrap().file_name();
        let name = name.to_string_lossy().into_owned();
        if name == ".git" || name == "server" {
            continue;
        }
        let to = if name == "requirements.txt" {
            "server/requirements-server.txt".to_string()
        } else {
            format!("server/{name}")
        };
        git(&repo, &["mv", &name, &to]);
    }
    git(
        &repo,
        &["commit", "--quiet", "-m", "move the server into server/"],
    );

    let suite = env.suite_copy("twin-keys");
    let target = suite.join("targets/twin.toml");
    let recipe = std::fs::read_to_string(&target).unwrap();
    std::fs::write(&target, format!("{recipe}{NESTED}")).unwrap();

    let mut variants = Vec::new();
    for rev in ["HEAD~1", "HEAD"] {
        let output = check_rev(&env, &suite, "twin", &repo, rev);
        assert_eq!(output.status.code(), Some(0), "{rev}: {}", text(&output).1);
        let report = json(&output);
        assert_eq!(report["summary"]["green"], 14, "{rev}");
        variants.push(report["revision"]["variant"].clone());
        assert!(
            text(&output).1.contains(&format!(
                ": variant `{}`",
                report["revision"]["variant"].as_str().unwrap()
            )),
            "{}",
            text(&output).1
        );
    }
    assert_eq!(
        variants,
        [serde_json::json!("flat"), serde_json::json!("nested")]
    );

    // A target with only variants: a revision none fits fails to build (exit
    // 4), naming the revision and each variant's condition.
    let only = suite.join("targets/only.toml");
    let without_own: String = recipe
        .split("\n[local.build]")
        .next()
        .unwrap()
        .replace("name = \"twin\"", "name = \"only\"");
    std::fs::write(
        &only,
        format!(
            "{without_own}\n[ready]\nhttp = \"/health/liveliness\"\n{}",
            "[[variant]]\nname = \"nested\"\nexists = [\"server/server.py\"]\nworkdir = \"server\"\n[variant.local.build]\nrun = [\"true\"]\n[variant.local.migrate]\nrun = [\"true\"]\n[variant.local.boot]\nrun = \"true\"\n"
        ),
    )
    .unwrap();
    let output = check_rev(&env, &suite, "only", &repo, "HEAD~1");
    let stderr = text(&output).1;
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("meets the condition of no [[variant]] of the target `only`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("variant `nested`: exists server/server.py"),
        "{stderr}"
    );
    env.assert_nothing_left();
}
