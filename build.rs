//! Put the git description of the source into `replay --version`.

use std::process::Command;

fn main() {
    let describe = Command::new("git")
        .args(["describe", "--always", "--tags", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "no git".into());
    println!("cargo:rustc-env=REPLAY_GIT_DESCRIBE={describe}");
    // Describe again when HEAD moves or the index changes (a commit, a checkout, an add).
    for path in [".git/HEAD", ".git/index", ".git/refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
