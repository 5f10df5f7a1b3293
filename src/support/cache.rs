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

/// The key of a set of files under `root`, each named by a path or a glob
/// (`*`, `?`, `[abc]`), with whether it may be missing. A folder counts as
/// every file below it (names relative to `root` and contents, sorted by
/// name); a glob as every path it matches, sorted. A missing path (a glob
/// that matches nothing) counts by name when it is optional, and is an error
/// naming it when it is not.
pub(crate) fn files_key(
    root: &Path,
    files: &[(&str, bool)],
    extra: &[&[u8]],
) -> Result<String, MissingInput> {
    let mut contents: Vec<(String, Vec<u8>)> = Vec::new();
    let names: Vec<&str> = files.iter().map(|&(name, _)| name).collect();
    for (&(name, optional), paths) in files.iter().zip(expand_inputs(root, &names)) {
        if paths.is_empty() {
            if !optional {
                return Err(MissingInput { name: name.into() });
            }
            contents.push((format!("{name} (absent)"), Vec::new()));
            continue;
        }
        for path in paths {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                let mut below = Vec::new();
                files_below(root, &path, &mut below);
                below.sort();
                contents.push((format!("{relative}/"), Vec::new()));
                contents.extend(below);
            } else {
                contents.push((relative, std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    let mut parts: Vec<&[u8]> = extra.to_vec();
    for (name, content) in &contents {
        parts.push(name.as_bytes());
        parts.push(content);
    }
    Ok(key(&parts))
}

/// The paths each input names under `root`, one list per input, in order: a
/// glob (`*`, `?`, `[abc]`) as every path it matches, sorted; a plain name as
/// itself when it is there (a dangling symlink is). An empty list: missing.
pub(crate) fn expand_inputs(root: &Path, inputs: &[&str]) -> Vec<Vec<PathBuf>> {
    inputs
        .iter()
        .map(|name| {
            if name.contains(['*', '?', '[']) {
                let pattern = format!("{}/{name}", glob::Pattern::escape(&root.to_string_lossy()));
                let mut matched: Vec<PathBuf> = glob::glob(&pattern)
                    .map(|paths| paths.flatten().collect())
                    .unwrap_or_default();
                matched.sort();
                matched
            } else {
                let path = root.join(name);
                if path.symlink_metadata().is_ok() {
                    vec![path]
                } else {
                    Vec::new()
                }
            }
        })
        .collect()
}

/// An input that is not there (and not optional).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not there")]
pub(crate) struct MissingInput {
    pub name: String,
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
        let req = [("req.txt", false)];
        let one = files_key(dir.path(), &req, &[b"recipe"]).unwrap();
        assert_eq!(one, files_key(dir.path(), &req, &[b"recipe"]).unwrap());
        assert_ne!(
            one,
            files_key(dir.path(), &req, &[b"other recipe"]).unwrap()
        );
        std::fs::write(dir.path().join("req.txt"), "a==2\n").unwrap();
        assert_ne!(one, files_key(dir.path(), &req, &[b"recipe"]).unwrap());
    }

    #[test]
    fn a_folder_counts_as_every_file_below_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("migrations/v1")).unwrap();
        std::fs::write(dir.path().join("migrations/v1/a.sql"), "create table a();").unwrap();
        let folder = [("migrations", false)];
        let one = files_key(dir.path(), &folder, &[]).unwrap();
        let empty = tempfile::tempdir().unwrap();
        std::fs::create_dir(empty.path().join("migrations")).unwrap();
        assert_ne!(one, files_key(empty.path(), &folder, &[]).unwrap());
        std::fs::write(dir.path().join("migrations/v1/a.sql"), "create table b();").unwrap();
        let two = files_key(dir.path(), &folder, &[]).unwrap();
        assert_ne!(one, two);
        std::fs::write(dir.path().join("migrations/b.sql"), "").unwrap();
        assert_ne!(two, files_key(dir.path(), &folder, &[]).unwrap());
    }

    #[test]
    fn a_missing_input_is_an_error_unless_it_is_optional() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            files_key(dir.path(), &[("requirments.txt", false)], &[]),
            Err(MissingInput {
                name: "requirments.txt".into()
            })
        );
        // Optional: absent counts by name, and differs from an empty file.
        let absent = files_key(dir.path(), &[("poetry.lock", true)], &[]).unwrap();
        std::fs::write(dir.path().join("poetry.lock"), "").unwrap();
        assert_ne!(
            absent,
            files_key(dir.path(), &[("poetry.lock", true)], &[]).unwrap()
        );
    }

    #[test]
    fn the_key_of_a_fixed_set_of_inputs_stays_what_it_was() {
        // Keys name cache entries: a change here throws every cache away.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("migrations/v1")).unwrap();
        std::fs::write(dir.path().join("migrations/v1/a.sql"), "create table a();").unwrap();
        std::fs::write(dir.path().join("migrations/2.sql"), "b").unwrap();
        std::fs::write(dir.path().join("migrations/1.sql"), "a").unwrap();
        std::fs::write(dir.path().join("req.txt"), "a==1\n").unwrap();
        let inputs = [
            ("req.txt", false),
            ("migrations/*.sql", false),
            ("migrations", false),
            ("poetry.lock", true),
        ];
        assert_eq!(
            files_key(dir.path(), &inputs, &[b"recipe"]).unwrap(),
            "1cd9f06c65ed2b22046b072c4d8491ed142b0395d66fd3c0dba46acd524e3e89"
        );
    }

    #[test]
    fn a_glob_counts_as_every_path_it_matches() {
        let dir = tempfile::tempdir().unwrap();
        let glob = [("migrations/*.sql", false)];
        // Matching nothing is missing.
        assert!(files_key(dir.path(), &glob, &[]).is_err());
        std::fs::create_dir(dir.path().join("migrations")).unwrap();
        std::fs::write(dir.path().join("migrations/1.sql"), "a").unwrap();
        std::fs::write(dir.path().join("migrations/notes.txt"), "x").unwrap();
        let one = files_key(dir.path(), &glob, &[]).unwrap();
        // What it does not match does not count; what it matches does.
        std::fs::write(dir.path().join("migrations/notes.txt"), "y").unwrap();
        assert_eq!(one, files_key(dir.path(), &glob, &[]).unwrap());
        std::fs::write(dir.path().join("migrations/2.sql"), "b").unwrap();
        let two = files_key(dir.path(), &glob, &[]).unwrap();
        assert_ne!(one, two);
        std::fs::write(dir.path().join("migrations/1.sql"), "c").unwrap();
        assert_ne!(two, files_key(dir.path(), &glob, &[]).unwrap());
    }
}
