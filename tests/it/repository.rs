//! The user's repository is only read: a replay on a clone with work in
//! progress leaves its index, work tree, HEAD and refs as they were.

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Everything a user could lose, by name: staged and unstaged changes,
/// untracked files, where HEAD points, every ref, the worktrees git knows of.
fn state(repo: &Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "status",
            git(repo, &["status", "--porcelain=v1", "--untracked-files=all"]),
        ),
        ("staged changes", git(repo, &["diff", "--cached"])),
        ("unstaged changes", git(repo, &["diff"])),
        ("HEAD", git(repo, &["rev-parse", "HEAD"])),
        ("branch", git(repo, &["symbolic-ref", "HEAD"])),
        ("refs", git(repo, &["for-each-ref"])),
        ("worktrees", git(repo, &["worktree", "list", "--porcelain"])),
        (
            "untracked file",
            std::fs::read_to_string(repo.join("untracked.txt")).unwrap(),
        ),
    ]
}

#[test]
fn a_fix_and_a_check_on_the_users_own_clone_with_work_in_progress_leave_it_as_it_was() {
    let env = Env::new("user-clone");
    let history = env.tmp.path().join("twin");
    env.replay().arg("twin-history").arg(&history).run_expect(0);

    // The user's clone, at the newest commit, with work in progress: a staged
    // edit, an unstaged edit of another file, and an untracked file.
    let clone = env.tmp.path().join("clone");
    Command::new("git")
        .args(["clone", "-q"])
        .arg(&history)
        .arg(&clone)
        .run_expect(0);
    let keys = clone.join("keys.py");
    let staged = std::fs::read_to_string(&keys).unwrap() + "\n# staged work\n";
    std::fs::write(&keys, &staged).unwrap();
    git(&clone, &["add", "keys.py"]);
    let server = clone.join("server.py");
    let unstaged = std::fs::read_to_string(&server).unwrap() + "\n# unstaged work\n";
    std::fs::write(&server, &unstaged).unwrap();
    std::fs::write(clone.join("untracked.txt"), "mine\n").unwrap();
    let before = state(&clone);

    let records = env.tmp.path().join("replays");
    let (record, _) = env
        .replay()
        .args([
            "fix",
            "update-fix",
            "--target",
            "twin",
            "--format",
            "json",
            "--repo",
        ])
        .arg(&clone)
        .arg("--records")
        .arg(&records)
        .run_json(0);
    assert_eq!(record["verdict"], "CAUGHT");
    let output = env
        .replay()
        .args([
            "check",
            "--target",
            "twin",
            "--format",
            "json",
            "--rev",
            "update-fix^",
            "--repo",
        ])
        .arg(&clone)
        .output()
        .unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        text(&output).1
    );

    for ((what, after), (_, was)) in state(&clone).into_iter().zip(before) {
        if what == "status" {
            assert_eq!(after, was, "the user's clone changed: its git status");
        }
        assert!(after == was, "the user's clone changed: its {what}");
    }
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), staged);
    assert_eq!(std::fs::read_to_string(&server).unwrap(), unstaged);
    env.assert_nothing_left();
}
