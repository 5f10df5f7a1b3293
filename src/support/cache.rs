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

/// The key of a set of files under `root` (missing files count as empty, by name).
pub(crate) fn files_key(root: &Path, files: &[String], extra: &[&[u8]]) -> String {
    let contents: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(root.join(f)).unwrap_or_default())
        .collect();
    let mut parts: Vec<&[u8]> = extra.to_vec();
    for (name, content) in files.iter().zip(&contents) {
        parts.push(name.as_bytes());
        parts.push(content);
    }
    key(&parts)
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
}
