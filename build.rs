//! Name the build: the git description of the source for `replay --version`,
//! and a digest of the source itself (src/, build.rs, Cargo.toml, Cargo.lock)
//! that the cell cache keys on. Two builds of a dirty tree share a
//! description; they share a digest only when they were built from the same
//! source, so a build whose evaluation changed never answers with cells an
//! earlier build measured.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|d| !d.is_empty())
    };
    let describe =
        git(&["describe", "--always", "--tags", "--dirty"]).unwrap_or_else(|| "no git".into());
    println!("cargo:rustc-env=REPLAY_GIT_DESCRIBE={describe}");
    let digest = source_digest(&root);
    println!("cargo:rustc-env=REPLAY_SOURCE_DIGEST={digest}");
    println!("cargo:rustc-env=REPLAY_SOURCE_SHORT={}", &digest[..12]);

    // Run again when the source changes, and describe again when HEAD moves
    // or the index changes (a commit, a checkout, an add). In a linked
    // worktree `.git` is a file: HEAD and the index are in its own git
    // folder, the refs in the common one. Only paths that exist are named (a
    // missing one would make cargo run this script, and rebuild the crate,
    // on every build).
    for path in ["src", "build.rs", "Cargo.toml", "Cargo.lock"] {
        if root.join(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let absolute = |dir: String| {
        let dir = PathBuf::from(dir);
        if dir.is_absolute() {
            dir
        } else {
            root.join(dir)
        }
    };
    let git_dir = git(&["rev-parse", "--git-dir"]).map(absolute);
    let common_dir = git(&["rev-parse", "--git-common-dir"]).map(absolute);
    let watched = git_dir
        .iter()
        .flat_map(|dir| [dir.join("HEAD"), dir.join("index")])
        .chain(
            common_dir
                .iter()
                .flat_map(|dir| [dir.join("refs"), dir.join("packed-refs")]),
        );
    for path in watched {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// sha256 over every source file (its path relative to the package, its
/// length, its bytes), in path order, in hex.
fn source_digest(root: &Path) -> String {
    let mut files = Vec::new();
    files_below(&root.join("src"), &mut files);
    for name in ["build.rs", "Cargo.toml", "Cargo.lock"] {
        files.push(root.join(name));
    }
    files.sort();
    let mut hasher = Sha256::new();
    for path in &files {
        let name = path.strip_prefix(root).unwrap_or(path);
        let bytes = std::fs::read(path).unwrap_or_default();
        hasher.update(name.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_below(&path, out);
        } else {
            out.push(path);
        }
    }
}
