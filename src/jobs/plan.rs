//! `replay plan` and `replay merge`: the replay table built by many runners.
//!
//! `plan` lists the fix commits to replay — from a file, or from a query over
//! the history (paths touched, a message pattern, a date) — oldest first, and
//! `--shard i/n` keeps every n-th of them. Each runner replays its shard into a
//! folder of its own; `merge` gathers the records into the suite's records
//! folder and renders the table, the same table one machine would have made.

use std::path::{Path, PathBuf};

use git2::Repository;
use regex::Regex;

use crate::jobs::error::Error;
use crate::results::record::RecordError;
use crate::revisions::revision;

/// `i/n`: the i-th of n shards, counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not i/n"))?;
        let (index, count): (usize, usize) = (
            i.parse().map_err(|_| format!("`{i}` is not a number"))?,
            n.parse().map_err(|_| format!("`{n}` is not a number"))?,
        );
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard {index}/{count}: i goes from 1 to n"));
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// The items of this shard: every n-th, starting at the i-th.
    pub fn take<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % self.count == self.index - 1)
            .map(|(_, item)| item)
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct PlanQuery {
    /// Revisions listed in a file, one per line (`#` starts a comment).
    pub from: Option<PathBuf>,
    /// Commits that touch any of these paths.
    pub paths: Vec<String>,
    /// Commits whose message matches this regular expression.
    pub grep: Option<String>,
    /// Commits made on or after this date (YYYY-MM-DD, UTC).
    pub since: Option<String>,
}

/// The commits to replay, oldest first, as full ids. A query leaves out root
/// commits (a fix needs a parent); a file's revisions are taken as listed.
pub fn plan(repo_path: &Path, query: &PlanQuery) -> Result<Vec<String>, Error> {
    let repo = revision::open(repo_path)?;
    if let Some(file) = &query.from {
        let text = std::fs::read_to_string(file).map_err(|source| Error::Setup {
            context: format!("read {}", file.display()),
            source,
        })?;
        let mut out = Vec::new();
        for line in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
        {
            out.push(revision::resolve(&repo, line)?.id.to_string());
        }
        return Ok(out);
    }
    let grep = query
        .grep
        .as_deref()
        .map(Regex::new)
        .transpose()
        .map_err(|e| {
            Error::usage(
                format!("--grep: {e}"),
                Some("it is a regular expression, e.g. \"^fix\\(proxy\\)\"".to_string()),
            )
        })?;
    let since = match &query.since {
        None => None,
        Some(date) => Some(
            format!("{date}T00:00:00Z")
                .parse::<jiff::Timestamp>()
                .map_err(|_| {
                    Error::usage(
                        format!("--since {date:?} is not a date"),
                        Some("write it as YYYY-MM-DD".to_string()),
                    )
                })?
                .as_second(),
        ),
    };
    let mut walk = repo.revwalk().map_err(revision::RevisionError::from)?;
    walk.push_head().map_err(revision::RevisionError::from)?;
    walk.simplify_first_parent()
        .map_err(revision::RevisionError::from)?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .map_err(revision::RevisionError::from)?;
    let mut out = Vec::new();
    for id in walk {
        let commit = repo
            .find_commit(id.map_err(revision::RevisionError::from)?)
            .map_err(revision::RevisionError::from)?;
        // A root commit has no parent to compare with: `replay fix` refuses it.
        if commit.parent_count() == 0 || since.is_some_and(|s| commit.time().seconds() < s) {
            continue;
        }
        if let Some(grep) = &grep
            && !grep.is_match(commit.message().unwrap_or(""))
        {
            continue;
        }
        if !query.paths.is_empty()
            && !touches(&repo, &commit, &query.paths).map_err(revision::RevisionError::from)?
        {
            continue;
        }
        out.push(commit.id().to_string());
    }
    Ok(out)
}

/// Does the commit change any of `paths` against its first parent?
fn touches(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    paths: &[String],
) -> Result<bool, git2::Error> {
    let tree = commit.tree()?;
    let parent = commit.parent(0).ok().map(|p| p.tree()).transpose()?;
    let mut options = git2::DiffOptions::new();
    for path in paths {
        options.pathspec(path);
    }
    let diff = repo.diff_tree_to_tree(parent.as_ref(), Some(&tree), Some(&mut options))?;
    Ok(diff.deltas().len() > 0)
}

/// Copy every fix record found under `sources` into `records/<suite>/` and
/// render the table. Returns the table's path and how many records came.
pub fn merge(sources: &[PathBuf], records: &Path, suite: &str) -> Result<(PathBuf, usize), Error> {
    let dir = crate::results::record::records_dir(records, suite);
    let mut merged = 0;
    if let Some(missing) = sources.iter().find(|s| !s.is_dir()) {
        return Err(Error::usage(
            format!("{} is not a folder of records", missing.display()),
            Some("name the folders the runners wrote with `replay fix --records DIR`".to_string()),
        ));
    }
    for source in sources {
        for path in json_files(source) {
            // Other JSON beside the records (reports, bisect records) is not merged.
            let (record, bytes) = match crate::results::record::read_fix(&path) {
                Ok(Some(found)) => found,
                Ok(None) | Err(RecordError::NotJson { .. }) => continue,
                Err(error) => return Err(error.into()),
            };
            if record.suite.name != suite {
                return Err(Error::usage(
                    format!(
                        "{} is a record of suite `{}`, not `{suite}`",
                        path.display(),
                        record.suite.name
                    ),
                    Some("merge the records of one suite at a time (--suite)".to_string()),
                ));
            }
            let to = crate::results::record::record_path(&dir, &record);
            crate::support::files::write_atomically(&to, &bytes)
                .map_err(|source| Error::Write { path: to, source })?;
            merged += 1;
        }
    }
    let table = crate::results::record::write_table(&dir, suite)?;
    Ok((table, merged))
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_plan_and_cover_it_once() {
        let items: Vec<usize> = (0..10).collect();
        let shards: Vec<Vec<usize>> = (1..=3)
            .map(|i| Shard { index: i, count: 3 }.take(items.clone()))
            .collect();
        assert_eq!(shards[0], [0, 3, 6, 9]);
        assert_eq!(shards[1], [1, 4, 7]);
        let mut all: Vec<usize> = shards.concat();
        all.sort();
        assert_eq!(all, items);
        assert_eq!(
            "2/3".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 3 }
        );
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn merging_a_folder_that_is_not_there_is_bad_input_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("shard-9");
        let error = merge(
            std::slice::from_ref(&missing),
            &dir.path().join("replays"),
            "litellm",
        )
        .unwrap_err();
        assert_eq!(error.exit_code(), crate::support::exit_codes::BAD_INPUT);
        assert!(error.to_string().contains("shard-9"), "{error}");
    }

    #[test]
    fn a_query_keeps_the_commits_that_touch_the_paths_and_match() {
        let dir = tempfile::tempdir().unwrap();
        revision::tests::repo_with(
            dir.path(),
            &[
                ("init", &[("keys.py", "1"), ("README.md", "a")]),
                ("fix(proxy): check the team", &[("keys.py", "2")]),
                ("docs: fix(proxy) typo", &[("README.md", "b")]),
                ("fix(proxy): deny peers", &[("keys.py", "3")]),
            ],
        );
        let subjects = |ids: Vec<String>| {
            let repo = Repository::open(dir.path()).unwrap();
            ids.iter()
                .map(|id| {
                    repo.find_commit(git2::Oid::from_str(id).unwrap())
                        .unwrap()
                        .summary()
                        .unwrap()
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        };
        let query = PlanQuery {
            paths: vec!["keys.py".into()],
            grep: Some("^fix\\(proxy\\)".into()),
            ..PlanQuery::default()
        };
        assert_eq!(
            subjects(plan(dir.path(), &query).unwrap()),
            ["fix(proxy): check the team", "fix(proxy): deny peers"]
        );
        let all = plan(dir.path(), &PlanQuery::default()).unwrap();
        assert_eq!(all.len(), 3, "every commit but the root");
        let listed = dir.path().join("fixes.txt");
        std::fs::write(
            &listed,
            format!("# fixes\n{}\n\n{}\n", &all[2][..8], all[0]),
        )
        .unwrap();
        assert_eq!(
            plan(
                dir.path(),
                &PlanQuery {
                    from: Some(listed),
                    ..PlanQuery::default()
                }
            )
            .unwrap(),
            [all[2].clone(), all[0].clone()]
        );
    }
}
