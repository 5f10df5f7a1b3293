//! The twin's git history, generated: a repository with real fixes and
//! regressions in it, the same on every machine.
//!
//! The history is written as text edits in `testdata/twin-history/history.toml`
//! (its commits are described in `testdata/twin-history/HISTORY.md`). The last
//! commit's tree is exactly `testdata/twin/`: the generator starts from those
//! files, undoes every edit from the last commit back to the second to find the
//! first commit's files, then commits forward, edit by edit. Names, emails and
//! dates are fixed, so commit ids are stable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Signature, Time};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history.toml: {0}")]
    Parse(String),
    #[error("history.toml, commit {commit:?}: {message}")]
    Edit { commit: String, message: String },
    #[error("cannot write the history into {}", dir.display())]
    Write {
        dir: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error(
        "a history of {commits} commits cannot hold {flips} flips (at most {MAX_FLIPS}, in as many commits after the first)"
    )]
    Size { commits: usize, flips: usize },
    #[error("{} already exists and is not empty", dir.display())]
    NotEmpty { dir: PathBuf },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    author: String,
    email: String,
    /// Seconds since the epoch of the first commit.
    start: i64,
    /// Seconds between commits.
    step: i64,
    commit: Vec<CommitSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitSpec {
    subject: String,
    body: Option<String>,
    /// A lightweight tag, for tests and the demo to find the commit by.
    tag: Option<String>,
    #[serde(default)]
    edit: Vec<EditSpec>,
}

/// One text edit: replace `find` by `with` (each must occur exactly once, in
/// the file before and after), or `append` text (a file that did not exist is
/// created).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditSpec {
    file: String,
    find: Option<String>,
    with: Option<String>,
    append: Option<String>,
}

/// A generated commit.
#[derive(Debug, Clone)]
pub struct HistoryCommit {
    pub id: Oid,
    pub subject: String,
    pub tag: Option<String>,
}

#[derive(Debug)]
pub struct TwinHistory {
    pub dir: PathBuf,
    pub commits: Vec<HistoryCommit>,
}

impl TwinHistory {
    pub fn tagged(&self, tag: &str) -> Option<&HistoryCommit> {
        self.commits.iter().find(|c| c.tag.as_deref() == Some(tag))
    }
}

pub(crate) const SPEC: &str = include_str!("../../testdata/twin-history/history.toml");

/// The twin's files as they are at the last commit: `testdata/twin/`.
fn final_files() -> BTreeMap<String, String> {
    crate::support::embedded::FILES
        .iter()
        .filter_map(|(path, text)| {
            Some((
                path.strip_prefix("testdata/twin/")?.to_string(),
                text.to_string(),
            ))
        })
        .collect()
}

type Files = BTreeMap<String, String>;

fn apply(files: &mut Files, edit: &EditSpec, forward: bool) -> Result<(), String> {
    match (&edit.find, &edit.with, &edit.append) {
        (Some(find), Some(with), None) => {
            let (from, to) = if forward { (find, with) } else { (with, find) };
            let text = files
                .get_mut(&edit.file)
                .ok_or_else(|| format!("{} does not exist here", edit.file))?;
            match text.matches(from.as_str()).count() {
                1 => {
                    *text = text.replacen(from.as_str(), to, 1);
                    Ok(())
                }
                n => Err(format!(
                    "{} holds {n} copies of {:?} (needs exactly one)",
                    edit.file,
                    crate::support::redact::excerpt(from, 60)
                )),
            }
        }
        (None, None, Some(append)) if forward => {
            files.entry(edit.file.clone()).or_default().push_str(append);
            Ok(())
        }
        (None, None, Some(append)) => {
            let text = files
                .get_mut(&edit.file)
                .ok_or_else(|| format!("{} does not exist here", edit.file))?;
            let kept = text
                .strip_suffix(append.as_str())
                .ok_or_else(|| format!("{} does not end with the appended text", edit.file))?
                .to_string();
            if kept.is_empty() {
                files.remove(&edit.file);
            } else {
                *text = kept;
            }
            Ok(())
        }
        _ => Err(format!(
            "an edit of {} needs `find` and `with`, or `append`",
            edit.file
        )),
    }
}

/// The files of every commit, first to last.
fn snapshots(spec: &Spec) -> Result<Vec<Files>, HistoryError> {
    let mut files = final_files();
    for commit in spec.commit.iter().skip(1).rev() {
        for edit in commit.edit.iter().rev() {
            apply(&mut files, edit, false).map_err(|message| HistoryError::Edit {
                commit: commit.subject.clone(),
                message: format!("undoing: {message}"),
            })?;
        }
    }
    let mut out = vec![files.clone()];
    for commit in spec.commit.iter().skip(1) {
        for edit in &commit.edit {
            apply(&mut files, edit, true).map_err(|message| HistoryError::Edit {
                commit: commit.subject.clone(),
                message,
            })?;
        }
        out.push(files.clone());
    }
    Ok(out)
}

/// Write the history into `dir` (created; must be empty) and check out its last commit.
pub fn generate(dir: &Path) -> Result<TwinHistory, HistoryError> {
    let spec: Spec = toml::from_str(SPEC).map_err(|e| HistoryError::Parse(e.to_string()))?;
    let snapshots = snapshots(&spec)?;
    write_history(dir, &spec, &snapshots)
}

/// Write `spec`'s commits, with the files of `snapshots`, into `dir` (created;
/// must be empty) and check out the last one.
fn write_history(
    dir: &Path,
    spec: &Spec,
    snapshots: &[Files],
) -> Result<TwinHistory, HistoryError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(HistoryError::NotEmpty {
            dir: dir.to_path_buf(),
        });
    }
    let write = |source| HistoryError::Write {
        dir: dir.to_path_buf(),
        source,
    };
    let mut options = git2::RepositoryInitOptions::new();
    options.initial_head("main");
    let repo = Repository::init_opts(dir, &options).map_err(write)?;
    let mut parent: Option<Oid> = None;
    let mut blobs = std::collections::HashMap::new();
    let mut commits = Vec::new();
    for (index, (commit, files)) in spec.commit.iter().zip(snapshots).enumerate() {
        let tree = write_tree(&repo, files, &mut blobs).map_err(write)?;
        let tree = repo.find_tree(tree).map_err(write)?;
        let time = Time::new(spec.start + spec.step * index as i64, 0);
        let signature = Signature::new(&spec.author, &spec.email, &time).map_err(write)?;
        let message = match &commit.body {
            Some(body) => format!("{}\n\n{}\n", commit.subject, body.trim()),
            None => format!("{}\n", commit.subject),
        };
        let parents: Vec<git2::Commit> = parent
            .iter()
            .map(|p| repo.find_commit(*p))
            .collect::<Result<_, _>>()
            .map_err(write)?;
        let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
        let id = repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                &message,
                &tree,
                &parent_refs,
            )
            .map_err(write)?;
        if let Some(tag) = &commit.tag {
            repo.reference(&format!("refs/tags/{tag}"), id, true, "twin history")
                .map_err(write)?;
        }
        commits.push(HistoryCommit {
            id,
            subject: commit.subject.clone(),
            tag: commit.tag.clone(),
        });
        parent = Some(id);
    }
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .map_err(write)?;
    Ok(TwinHistory {
        dir: dir.to_path_buf(),
        commits,
    })
}

/// One behaviour change of the generated bisect history: an edit of the
/// twin's last commit that turns exactly one pinned cell of the LiteLLM suite RED.
struct Flip {
    cell: &'static str,
    subject: &'static str,
    file: &'static str,
    find: &'static str,
    with: &'static str,
}

const FLIPS: [Flip; 5] = [
    Flip {
        cell: "key_update_missing_key/any/proxy_admin",
        subject: "key update: a missing key is a bad request",
        file: "keys.py",
        find: "    target = load_key_or_404(cur, key)\n\n    check_update(",
        with: "    target = load_key(cur, hash_key(key))\n    if target is None:\n        raise bad_request(\"Key not found\")\n\n    check_update(",
    },
    Flip {
        cell: "key_list_team/team_beta/internal_user",
        subject: "key list: a team filter the caller may not use is 401",
        file: "keys.py",
        find: "raise auth_error(403, \"You are not authorized to check this team's keys\")",
        with: "raise auth_error(401, \"You are not authorized to check this team's keys\")",
    },
    Flip {
        cell: "key_regenerate_path/self/proxy_admin",
        subject: "server: one route for /key/regenerate",
        file: "server.py",
        find: "    (\"POST\", r\"/key/(?P<key>[^/]+)/regenerate\", \"/key/regenerate\", keys.regenerate_key, \"caller\"),\n",
        with: "",
    },
    Flip {
        cell: "key_list_alias/fragment/proxy_admin",
        subject: "key list: an admin's alias filter is a substring match",
        file: "keys.py",
        find: "if caller.is_proxy_admin and query_flag(req, \"substring_matching\"):",
        with: "if caller.is_proxy_admin:",
    },
    Flip {
        cell: "key_delete_missing_key/any/proxy_admin",
        subject: "key delete: a missing key is a bad request",
        file: "keys.py",
        find: "    targets = [load_key_or_404(cur, key) for key in keys]\n",
        with: "    targets = [load_key(cur, hash_key(key)) for key in keys]\n    if None in targets:\n        raise bad_request(\"Key not found\")\n",
    },
];

/// How many flips [`generate_bisect`] can place.
pub const MAX_FLIPS: usize = FLIPS.len();

/// A generated history for bisect at scale: `commits` commits, the first of
/// them the twin's last (all GREEN), each later one rewriting `NOTES.md`
/// (a new tree, nothing the build or the migration reads), and `flips` of them
/// (at fixed, spread positions) also making one behaviour change that turns
/// one cell RED. The flip commits are tagged `flip-1`, `flip-2`, … in order; with the
/// history come the flipped cells, each with the commit that flips it.
pub fn generate_bisect(
    dir: &Path,
    commits: usize,
    flips: usize,
) -> Result<(TwinHistory, Vec<(String, Oid)>), HistoryError> {
    if flips > MAX_FLIPS || commits < flips + 1 {
        return Err(HistoryError::Size { commits, flips });
    }
    let positions = flip_positions(commits, flips);
    let mut files = final_files();
    let mut specs = Vec::with_capacity(commits);
    let mut snapshots = Vec::with_capacity(commits);
    let mut flipped = Vec::new();
    specs.push(CommitSpec {
        subject: "twin: the last commit of the twin's history".into(),
        body: None,
        tag: None,
        edit: vec![],
    });
    snapshots.push(files.clone());
    for index in 1..commits {
        files.insert("NOTES.md".into(), format!("note {index}\n"));
        let mut spec = CommitSpec {
            subject: format!("notes: note {index}"),
            body: None,
            tag: None,
            edit: vec![],
        };
        if let Some(n) = positions.iter().position(|&p| p == index) {
            let flip = &FLIPS[n];
            let edit = EditSpec {
                file: flip.file.into(),
                find: Some(flip.find.into()),
                with: Some(flip.with.into()),
                append: None,
            };
            apply(&mut files, &edit, true).map_err(|message| HistoryError::Edit {
                commit: flip.subject.into(),
                message,
            })?;
            spec.subject = flip.subject.into();
            spec.tag = Some(format!("flip-{}", flipped.len() + 1));
            flipped.push(flip.cell.to_string());
        }
        specs.push(spec);
        snapshots.push(files.clone());
    }
    let spec = Spec {
        author: "Twin Bisect".into(),
        email: "bisect@twin.invalid".into(),
        start: 1_700_000_000,
        step: 600,
        commit: specs,
    };
    let history = write_history(dir, &spec, &snapshots)?;
    let cells = history
        .commits
        .iter()
        .filter(|c| c.tag.as_deref().is_some_and(|t| t.starts_with("flip-")))
        .zip(flipped)
        .map(|(commit, cell)| (cell, commit.id))
        .collect();
    Ok((history, cells))
}

/// Where the flips go: spread over the history by a fixed pseudo-random
/// sequence (the same every time), each in its own commit, never the first.
fn flip_positions(commits: usize, flips: usize) -> Vec<usize> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut positions = Vec::new();
    while positions.len() < flips {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let next = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let position = 1 + (next % (commits as u64 - 1)) as usize;
        if !positions.contains(&position) {
            positions.push(position);
        }
    }
    positions
}

/// A tree of `files` (paths with `/` make folders).
/// `blobs` remembers the blob of each text written so far: most files are the
/// same from one commit to the next, and hashing them again is most of the time.
fn write_tree(
    repo: &Repository,
    files: &Files,
    blobs: &mut std::collections::HashMap<String, Oid>,
) -> Result<Oid, git2::Error> {
    let mut here = repo.treebuilder(None)?;
    let mut folders: BTreeMap<&str, Files> = BTreeMap::new();
    for (path, text) in files {
        match path.split_once('/') {
            Some((folder, rest)) => {
                folders
                    .entry(folder)
                    .or_default()
                    .insert(rest.to_string(), text.clone());
            }
            None => {
                let blob = match blobs.get(text) {
                    Some(blob) => *blob,
                    None => {
                        let blob = repo.blob(text.as_bytes())?;
                        blobs.insert(text.clone(), blob);
                        blob
                    }
                };
                here.insert(path, blob, 0o100644)?;
            }
        }
    }
    for (folder, inner) in folders {
        let tree = write_tree(repo, &inner, blobs)?;
        here.insert(folder, tree, 0o040000)?;
    }
    here.write()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_ends_at_the_twin_and_is_the_same_every_time() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let a = generate(&one.path().join("twin")).unwrap();
        let b = generate(&two.path().join("twin")).unwrap();
        assert!(a.commits.len() >= 30, "{} commits", a.commits.len());
        let ids = |h: &TwinHistory| h.commits.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        for (path, text) in final_files() {
            assert_eq!(
                std::fs::read_to_string(a.dir.join(&path)).unwrap(),
                text,
                "{path}"
            );
        }
    }

    #[test]
    fn a_bisect_history_flips_one_cell_per_flip_commit_the_same_every_time() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let (a, cells) = generate_bisect(&one.path().join("h"), 40, MAX_FLIPS).unwrap();
        let (b, _) = generate_bisect(&two.path().join("h"), 40, MAX_FLIPS).unwrap();
        assert_eq!(a.commits.len(), 40);
        let ids = |h: &TwinHistory| h.commits.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(cells.len(), MAX_FLIPS);
        let mut distinct: Vec<&str> = cells.iter().map(|(cell, _)| cell.as_str()).collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), MAX_FLIPS);
        // The first commit is the twin's last; every flip's edit is in the last one.
        let repo = Repository::open(&a.dir).unwrap();
        let first = repo.find_commit(a.commits[0].id).unwrap().tree().unwrap();
        for (path, text) in final_files() {
            let blob = first
                .get_path(Path::new(&path))
                .unwrap()
                .to_object(&repo)
                .unwrap();
            assert_eq!(blob.as_blob().unwrap().content(), text.as_bytes(), "{path}");
        }
        for flip in &FLIPS {
            let now = std::fs::read_to_string(a.dir.join(flip.file)).unwrap();
            assert!(
                !now.contains(flip.find) && now.contains(flip.with),
                "{}",
                flip.subject
            );
        }
        for (n, (_, id)) in cells.iter().enumerate() {
            assert!(
                a.commits
                    .iter()
                    .any(|c| c.id == *id && c.tag == Some(format!("flip-{}", n + 1)))
            );
        }
        assert!(matches!(
            generate_bisect(&one.path().join("small"), 5, 5),
            Err(HistoryError::Size { .. })
        ));
    }

    #[test]
    fn edits_must_match_exactly_once() {
        let mut files: Files = [("a.py".to_string(), "x = 1\nx = 1\n".to_string())].into();
        let edit = EditSpec {
            file: "a.py".into(),
            find: Some("x = 1".into()),
            with: Some("x = 2".into()),
            append: None,
        };
        assert!(
            apply(&mut files, &edit, true)
                .unwrap_err()
                .contains("2 copies")
        );
        let append = EditSpec {
            file: "NEW.md".into(),
            find: None,
            with: None,
            append: Some("hello\n".into()),
        };
        apply(&mut files, &append, true).unwrap();
        assert_eq!(files["NEW.md"], "hello\n");
        apply(&mut files, &append, false).unwrap();
        assert!(!files.contains_key("NEW.md"));
    }
}
