//! Revisions: what gets booted, resolved and materialised with git2.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use crate::runtime::Checkout;

#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    #[error("{} is not inside a git repository", path.display())]
    NotARepository { path: PathBuf },
    #[error("{} does not exist", path.display())]
    NoDirectory { path: PathBuf },
    #[error("unknown revision `{rev}` in {}", repo.display())]
    Unknown { rev: String, repo: PathBuf },
    #[error("`{rev}` is ambiguous in {}", repo.display())]
    Ambiguous { rev: String, repo: PathBuf },
    #[error("cannot materialise {what} into {}", dir.display())]
    Materialise {
        what: String,
        dir: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// A commit, resolved.
#[derive(Debug, Clone)]
pub struct Commit {
    pub id: Oid,
    pub tree: Oid,
    pub subject: String,
    /// Committer time, seconds since the epoch.
    pub time: i64,
}

impl Commit {
    pub fn short(&self) -> String {
        self.id.to_string()[..7].to_string()
    }
}

pub(crate) fn open(path: &Path) -> Result<Repository, RevisionError> {
    if !path.exists() {
        return Err(RevisionError::NoDirectory {
            path: path.to_path_buf(),
        });
    }
    Repository::discover(path).map_err(|_| RevisionError::NotARepository {
        path: path.to_path_buf(),
    })
}

/// Resolve a revision (a short or long sha, a branch, a tag, `HEAD~2`).
pub(crate) fn resolve(repo: &Repository, rev: &str) -> Result<Commit, RevisionError> {
    let dir = repo.workdir().unwrap_or(repo.path()).to_path_buf();
    let object = repo.revparse_single(rev).map_err(|e| match e.code() {
        git2::ErrorCode::Ambiguous => RevisionError::Ambiguous {
            rev: rev.into(),
            repo: dir.clone(),
        },
        _ => RevisionError::Unknown {
            rev: rev.into(),
            repo: dir.clone(),
        },
    })?;
    let commit = object
        .peel_to_commit()
        .map_err(|_| RevisionError::Unknown {
            rev: rev.into(),
            repo: dir,
        })?;
    Ok(describe(&commit))
}

pub(crate) fn describe(commit: &git2::Commit<'_>) -> Commit {
    Commit {
        id: commit.id(),
        tree: commit.tree_id(),
        subject: commit.summary().ok().flatten().unwrap_or("").to_string(),
        time: commit.time().seconds(),
    }
}

/// Write a tree's files into `dir` (which must not exist yet).
pub(crate) fn materialise(
    repo: &Repository,
    tree: Oid,
    dir: &Path,
    label: &str,
) -> Result<Checkout, RevisionError> {
    let fail = |source| RevisionError::Materialise {
        what: label.into(),
        dir: dir.to_path_buf(),
        source,
    };
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| fail(git2::Error::from_str(&e.to_string())))?;
    }
    let tree = repo.find_tree(tree).map_err(fail)?;
    let mut options = git2::build::CheckoutBuilder::new();
    options.target_dir(dir).force().recreate_missing(true);
    repo.checkout_tree(tree.as_object(), Some(&mut options))
        .map_err(fail)?;
    Ok(Checkout {
        dir: dir.to_path_buf(),
        label: label.into(),
    })
}

/// The working tree of `path`, used as it is.
pub(crate) fn working_tree(path: &Path) -> Result<Checkout, RevisionError> {
    if !path.is_dir() {
        return Err(RevisionError::NoDirectory {
            path: path.to_path_buf(),
        });
    }
    Ok(Checkout {
        dir: crate::runtime::absolute(path),
        label: "working tree".into(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A repository with fixed names and dates, so ids are stable.
    pub(crate) fn repo_with(dir: &Path, commits: &[(&str, &[(&str, &str)])]) -> Repository {
        let repo = Repository::init(dir).unwrap();
        let sig = git2::Signature::new(
            "Test",
            "test@example.test",
            &git2::Time::new(1_700_000_000, 0),
        )
        .unwrap();
        let mut parent: Option<Oid> = None;
        for (subject, files) in commits {
            for (path, text) in *files {
                let full = dir.join(path);
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(full, text).unwrap();
            }
            let mut index = repo.index().unwrap();
            index
                .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
                .unwrap();
            index.write().unwrap();
            let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
            let parents: Vec<git2::Commit> = parent
                .iter()
                .map(|p| repo.find_commit(*p).unwrap())
                .collect();
            let refs: Vec<&git2::Commit> = parents.iter().collect();
            parent = Some(
                repo.commit(Some("HEAD"), &sig, &sig, subject, &tree, &refs)
                    .unwrap(),
            );
        }
        repo
    }

    #[test]
    fn resolves_and_materialises_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with(
            dir.path(),
            &[
                ("first", &[("a.txt", "one")]),
                ("second", &[("a.txt", "two"), ("b/c.txt", "three")]),
            ],
        );
        let head = resolve(&repo, "HEAD").unwrap();
        assert_eq!(head.subject, "second");
        let first = resolve(&repo, "HEAD~1").unwrap();
        assert_eq!(resolve(&repo, &first.short()).unwrap().id, first.id);
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("checkouts/first");
        materialise(&repo, first.tree, &target, "first").unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("a.txt")).unwrap(),
            "one"
        );
        assert!(!target.join("b").exists());
    }

    #[test]
    fn unknown_revisions_and_non_repositories_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with(dir.path(), &[("first", &[("a.txt", "one")])]);
        assert!(matches!(
            resolve(&repo, "nope"),
            Err(RevisionError::Unknown { .. })
        ));
        let plain = tempfile::tempdir().unwrap();
        assert!(matches!(
            open(plain.path()),
            Err(RevisionError::NotARepository { .. })
        ));
    }
}
