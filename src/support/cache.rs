//! Content-addressed caches under one directory that can be moved.
//!
//! `REPLAY_CACHE_DIR` (or `--cache-dir`) names it; otherwise it is
//! `$XDG_CACHE_HOME/replay` or `~/.cache/replay`. Every entry is named by the
//! sha256 of what it was made from, so a stale entry is never reused and any
//! entry can be deleted at any time (`replay gc`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// sha256 hex over parts, each length-prefixed so that parts cannot run together.
pub(crate) fn key(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// The default cache directory.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("replay");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("replay");
    }
    std::env::temp_dir().join("replay-cache")
}

/// The key of a set of files under `root`. A folder counts as every file below
/// it (names relative to `root` and contents, sorted by name); a missing path
/// counts as empty, by name.
pub(crate) fn files_key(root: &Path, files: &[String], extra: &[&[u8]]) -> String {
    let mut contents: Vec<(String, Vec<u8>)> = Vec::new();
    for name in files {
        let path = root.join(name);
        if path.is_dir() {
            let mut below = Vec::new();
            files_below(root, &path, &mut below);
            below.sort();
            contents.push((format!("{name}/"), Vec::new()));
            contents.extend(below);
        } else {
            contents.push((name.clone(), std::fs::read(&path).unwrap_or_default()));
        }
    }
    let mut parts: Vec<&[u8]> = extra.to_vec();
    for (name, content) in &contents {
        parts.push(name.as_bytes());
        parts.push(content);
    }
    key(&parts)
}

/// Every file below `dir`, named relative to `root`, with its contents.
fn files_below(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_below(root, &path, out);
        } else {
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            out.push((name, std::fs::read(&path).unwrap_or_default()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_their_parts() {
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
        assert_eq!(key(&[b"x"]), key(&[b"x"]));
        assert_eq!(key(&[b"x"]).len(), 64);
    }

    #[test]
    fn file_keys_follow_contents() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("req.txt"), "a==1\n").unwrap();
        let one = files_key(dir.path(), &["req.txt".into()], &[b"recipe"]);
        assert_eq!(
            one,
            files_key(dir.path(), &["req.txt".into()], &[b"recipe"])
        );
        assert_ne!(
            one,
            files_key(dir.path(), &["req.txt".into()], &[b"other recipe"])
        );
        std::fs::write(dir.path().join("req.txt"), "a==2\n").unwrap();
        assert_ne!(
            one,
            files_key(dir.path(), &["req.txt".into()], &[b"recipe"])
        );
    }

    #[test]
    fn a_folder_counts_as_every_file_below_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("migrations/v1")).unwrap();
        std::fs::write(dir.path().join("migrations/v1/a.sql"), "create table a();").unwrap();
        let folder = ["migrations".to_string()];
        let one = files_key(dir.path(), &folder, &[]);
        assert_ne!(
            one,
            files_key(tempfile::tempdir().unwrap().path(), &folder, &[])
        );
        std::fs::write(dir.path().join("migrations/v1/a.sql"), "create table b();").unwrap();
        let two = files_key(dir.path(), &folder, &[]);
        assert_ne!(one, two);
        std::fs::write(dir.path().join("migrations/b.sql"), "").unwrap();
        assert_ne!(two, files_key(dir.path(), &folder, &[]));
    }
}
