//! Revisions: what gets booted, resolved and materialised with git2.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

/// A materialised revision: a directory holding the server's source.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub dir: PathBuf,
    /// How the revision is named in output: "working tree", a short sha, an overlay.
    pub label: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    #[error("{} is not inside a git repository", path.display())]
    NotARepository { path: PathBuf },
    #[error("{} does not exist", path.display())]
    NoDirectory { path: PathBuf },
    #[error("{} is a file, not a folder", path.display())]
    NotAFolder { path: PathBuf },
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
    #[error("{commit} has no parent")]
    NoParent { commit: String },
    #[error("`{path}` is in neither {parent} nor {fix}")]
    NoSuchPath {
        path: String,
        parent: String,
        fix: String,
    },
    #[error("the ends are reversed: {good} (--good) is newer than {bad} (--bad)")]
    Reversed { good: String, bad: String },
    #[error(
        "--good and --bad are the same commit ({commit}): there is nothing between them to search"
    )]
    SameEnds { commit: String },
    #[error("{good} (--good) is not an ancestor of {bad} (--bad)")]
    NotAncestor { good: String, bad: String },
    #[error("{good} is not on the first-parent line of {bad}")]
    NotFirstParent { good: String, bad: String },
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
    /// A tag that points at it (the first by name when several do).
    pub tag: Option<String>,
}

impl Commit {
    pub fn short(&self) -> String {
        self.id.to_string()[..7].to_string()
    }

    /// How output names it: `v1.84.0 (ab50285)` when it is tagged, else the short sha.
    pub fn name(&self) -> String {
        display_name(&self.short(), self.tag.as_deref())
    }
}

/// `tag (short)`, or `short` alone.
pub fn display_name(short: &str, tag: Option<&str>) -> String {
    match tag {
        Some(tag) => format!("{tag} ({short})"),
        None => short.to_string(),
    }
}

/// Every tag of the repository by the commit it points at (annotated tags
/// peeled); the first tag by name wins where several point at one commit.
fn tags(repo: &Repository) -> HashMap<Oid, String> {
    let mut tags: HashMap<Oid, String> = HashMap::new();
    let Ok(references) = repo.references_glob("refs/tags/*") else {
        return tags;
    };
    for reference in references.flatten() {
        let (Ok(name), Ok(commit)) = (reference.shorthand(), reference.peel_to_commit()) else {
            continue;
        };
        let entry = tags.entry(commit.id()).or_insert_with(|| name.to_string());
        if name < entry.as_str() {
            *entry = name.to_string();
        }
    }
    tags
}

pub(crate) fn open(path: &Path) -> Result<Repository, RevisionError> {
    if !path.exists() {
        return Err(RevisionError::NoDirectory {
            path: path.to_path_buf(),
        });
    }
    if !path.is_dir() {
        return Err(RevisionError::NotAFolder {
            path: path.to_path_buf(),
        });
    }
    Repository::discover(path).map_err(|_| RevisionError::NotARepository {
        path: path.to_path_buf(),
    })
}

/// The root of the git working tree that holds `path` (a suite folder), when
/// one does: what paths in code-scanning reports are relative to.
pub(crate) fn worktree_root(path: &Path) -> Option<std::path::PathBuf> {
    Repository::discover(path)
        .ok()?
        .workdir()
        .map(Path::to_path_buf)
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
    Ok(describe(&commit, &tags(repo)))
}

pub(crate) fn describe(commit: &git2::Commit<'_>, tags: &HashMap<Oid, String>) -> Commit {
    Commit {
        id: commit.id(),
        tree: commit.tree_id(),
        subject: commit.summary().ok().flatten().unwrap_or("").to_string(),
        time: commit.time().seconds(),
        tag: tags.get(&commit.id()).cloned(),
    }
}

/// The first parent of a commit.
pub(crate) fn first_parent(repo: &Repository, commit: &Commit) -> Result<Commit, RevisionError> {
    let found = repo.find_commit(commit.id)?;
    let parent = found.parent(0).map_err(|_| RevisionError::NoParent {
        commit: commit.short(),
    })?;
    Ok(describe(&parent, &tags(repo)))
}

/// The commits from `good` to `bad`, both included, oldest first: the
/// first-parent line (a merge is one step), or with `all` every commit in
/// between in topological order.
pub(crate) fn range(
    repo: &Repository,
    good: &Commit,
    bad: &Commit,
    all: bool,
) -> Result<Vec<Commit>, RevisionError> {
    if good.id == bad.id {
        return Err(RevisionError::SameEnds {
            commit: good.short(),
        });
    }
    if repo.graph_descendant_of(good.id, bad.id)? {
        return Err(RevisionError::Reversed {
            good: good.short(),
            bad: bad.short(),
        });
    }
    if !repo.graph_descendant_of(bad.id, good.id)? {
        return Err(RevisionError::NotAncestor {
            good: good.short(),
            bad: bad.short(),
        });
    }
    let tags = tags(repo);
    let mut commits = Vec::new();
    if all {
        let mut walk = repo.revwalk()?;
        walk.push(bad.id)?;
        walk.hide(good.id)?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
        commits.push(good.clone());
        for id in walk {
            commits.push(describe(&repo.find_commit(id?)?, &tags));
        }
        return Ok(commits);
    }
    let mut at = repo.find_commit(bad.id)?;
    loop {
        commits.push(describe(&at, &tags));
        if at.id() == good.id {
            break;
        }
        at = at.parent(0).map_err(|_| RevisionError::NotFirstParent {
            good: good.short(),
            bad: bad.short(),
        })?;
    }
    commits.reverse();
    Ok(commits)
}

/// How many first-parent steps lead from the root to `commit`: a position
/// that does not depend on the range being searched.
pub(crate) fn depth(repo: &Repository, commit: &Commit) -> Result<usize, RevisionError> {
    let mut at = repo.find_commit(commit.id)?;
    let mut depth = 0;
    while let Ok(parent) = at.parent(0) {
        at = parent;
        depth += 1;
    }
    Ok(depth)
}

/// `base` with each of `paths` taken from `source` (a path missing in `source`
/// is removed). The result is an ordinary tree: identical overlays have the
/// same id, and an overlay equal to a commit's tree shares its caches.
pub(crate) fn overlay(
    repo: &Repository,
    base: Oid,
    source: Oid,
    paths: &[String],
) -> Result<Oid, RevisionError> {
    let source_tree = repo.find_tree(source)?;
    let mut tree = base;
    for path in paths {
        let entry = source_tree
            .get_path(Path::new(path))
            .ok()
            .map(|e| (e.id(), e.filemode()));
        let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        tree = replace_path(repo, Some(tree), &components, entry)?;
    }
    Ok(tree)
}

/// Whether the tree `tree` holds `path` (a file or a folder): what a
/// target's `[[variant]]` conditions ask of a revision before it is
/// materialised.
pub(crate) fn tree_has(repo: &Repository, tree: Oid, path: &str) -> bool {
    let path = path.trim_start_matches("./").trim_end_matches('/');
    repo.find_tree(tree)
        .is_ok_and(|tree| path.is_empty() || tree.get_path(Path::new(path)).is_ok())
}

/// `base` with the file at `path` replaced by `contents` (its mode kept; a new
/// file is an ordinary one). The blob and trees are written into the
/// repository's object store, so the result is an ordinary tree: the same
/// change on the same base is the same tree id, and so shares its caches.
pub(crate) fn with_file(
    repo: &Repository,
    base: Oid,
    path: &str,
    contents: &[u8],
) -> Result<Oid, RevisionError> {
    let mode = repo
        .find_tree(base)?
        .get_path(Path::new(path))
        .map(|e| e.filemode())
        .unwrap_or(0o100644);
    let blob = repo.blob(contents)?;
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    Ok(replace_path(
        repo,
        Some(base),
        &components,
        Some((blob, mode)),
    )?)
}

/// The text of the file at `path` in a tree, or `None` when there is no such
/// file (or it is not UTF-8).
pub(crate) fn read_file(repo: &Repository, tree: Oid, path: &str) -> Option<String> {
    let entry = repo.find_tree(tree).ok()?.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    String::from_utf8(blob.content().to_vec()).ok()
}

/// The tree of `commit` that holds the folder `dir` (a folder of the
/// repository's working tree, or the repository itself): for a server kept in
/// a subfolder of a larger repository, its own tree at that commit.
pub(crate) fn tree_at(
    repo: &Repository,
    commit: &Commit,
    dir: &Path,
) -> Result<Oid, RevisionError> {
    let Some(workdir) = repo.workdir() else {
        return Ok(commit.tree);
    };
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (workdir, dir) = (canonical(workdir), canonical(dir));
    let prefix = dir.strip_prefix(&workdir).unwrap_or(Path::new(""));
    if prefix.as_os_str().is_empty() {
        return Ok(commit.tree);
    }
    let entry =
        repo.find_tree(commit.tree)?
            .get_path(prefix)
            .map_err(|_| RevisionError::NoSuchPath {
                path: prefix.display().to_string(),
                parent: commit.short(),
                fix: commit.short(),
            })?;
    Ok(entry.id())
}

/// `tree` with the entry at `path` set to `entry` (or removed).
fn replace_path(
    repo: &Repository,
    tree: Option<Oid>,
    path: &[&str],
    entry: Option<(Oid, i32)>,
) -> Result<Oid, git2::Error> {
    let existing = tree.map(|t| repo.find_tree(t)).transpose()?;
    let mut builder = repo.treebuilder(existing.as_ref())?;
    match path {
        [] => unreachable!("paths have at least one component"),
        [name] => match entry {
            Some((id, mode)) => {
                builder.insert(name, id, mode)?;
            }
            None => {
                if builder.get(name)?.is_some() {
                    builder.remove(name)?;
                }
            }
        },
        [folder, rest @ ..] => {
            let inner = builder
                .get(folder)?
                .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
                .map(|e| e.id());
            let replaced = replace_path(repo, inner, rest, entry)?;
            if repo.find_tree(replaced)?.is_empty() {
                if builder.get(folder)?.is_some() {
                    builder.remove(folder)?;
                }
            } else {
                builder.insert(folder, replaced, 0o040000)?;
            }
        }
    }
    builder.write()
}

/// Whether `path` exists in a tree.
pub(crate) fn has_path(repo: &Repository, tree: Oid, path: &str) -> bool {
    repo.find_tree(tree)
        .is_ok_and(|t| t.get_path(Path::new(path)).is_ok())
}

/// A tree materialised once into the cache (`worktrees/<tree id>`), shared by
/// every run and every revision with that tree. `true` when it was there.
pub(crate) fn materialise_cached(
    repo: &Repository,
    tree: Oid,
    cache_dir: &Path,
    label: &str,
) -> Result<(Checkout, bool), RevisionError> {
    let dir = cache_dir.join("worktrees").join(tree.to_string());
    let done = cache_dir.join("worktrees").join(format!("{tree}.complete"));
    if dir.is_dir() && done.is_file() {
        let stamp = std::fs::read_to_string(&done).unwrap_or_default();
        if stamp == worktree_stamp(repo, tree, &dir) {
            return Ok((
                Checkout {
                    dir,
                    label: label.into(),
                },
                true,
            ));
        }
        tracing::warn!(
            "the cached worktree {} no longer matches tree {tree}: materialising it again",
            dir.display()
        );
        let _ = std::fs::remove_file(&done);
    }
    let staging = cache_dir.join("worktrees").join(format!(
        "{tree}.tmp-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    materialise(repo, tree, &staging, label)?;
    let fail = |e: std::io::Error| RevisionError::Materialise {
        what: label.into(),
        dir: dir.clone(),
        source: git2::Error::from_str(&e.to_string()),
    };
    if dir.is_dir() {
        // An earlier run stopped before marking it complete: replace it.
        std::fs::remove_dir_all(&dir).map_err(fail)?;
    }
    match std::fs::rename(&staging, &dir) {
        Ok(()) => {}
        // Another run got there first with the same tree.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&staging);
        }
        Err(e) => return Err(fail(e)),
    }
    // Written last: a worktree without a matching stamp is never used.
    std::fs::write(&done, worktree_stamp(repo, tree, &dir)).map_err(fail)?;
    Ok((
        Checkout {
            dir,
            label: label.into(),
        },
        false,
    ))
}

/// What a cached worktree must still show to be used: the tree id, and a
/// digest of the tree's file list as found on disk (each path with its type,
/// size, mode and modification time). Cheap: it reads no file's contents.
fn worktree_stamp(repo: &Repository, tree: Oid, dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut listing = Vec::new();
    if let Ok(tree) = repo.find_tree(tree) {
        let _ = tree.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let path = format!("{parent}{}", entry.name().unwrap_or(""));
                let seen = match std::fs::symlink_metadata(dir.join(&path)) {
                    Ok(m) => format!(
                        "{:?} {} {:o} {}.{}",
                        m.file_type(),
                        m.len(),
                        m.mode(),
                        m.mtime(),
                        m.mtime_nsec()
                    ),
                    Err(_) => "missing".into(),
                };
                listing.push(format!("{path}\0{seen}"));
            }
            git2::TreeWalkResult::Ok
        });
    }
    let listing = listing.join("\n");
    format!(
        "{tree}\n{}\n",
        crate::support::cache::key(&[listing.as_bytes()])
    )
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
    // A checkout into another folder still rewrites the repository's index to
    // the tree unless told not to: the user's staged work would be lost.
    options
        .target_dir(dir)
        .force()
        .recreate_missing(true)
        .update_index(false);
    repo.checkout_tree(tree.as_object(), Some(&mut options))
        .map_err(fail)?;
    Ok(Checkout {
        dir: dir.to_path_buf(),
        label: label.into(),
    })
}

/// The working tree of `path`, used as it is.
pub(crate) fn working_tree(path: &Path) -> Result<Checkout, RevisionError> {
    if path.exists() && !path.is_dir() {
        return Err(RevisionError::NotAFolder {
            path: path.to_path_buf(),
        });
    }
    if !path.is_dir() {
        return Err(RevisionError::NoDirectory {
            path: path.to_path_buf(),
        });
    }
    Ok(Checkout {
        dir: crate::support::files::absolute(path),
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
    fn materialising_a_revision_leaves_the_repositorys_index_and_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with(
            dir.path(),
            &[
                ("first", &[("a.txt", "one")]),
                ("second", &[("a.txt", "two"), ("b.txt", "new")]),
            ],
        );
        // The user's own work: a staged file and an edited one.
        std::fs::write(dir.path().join("staged.txt"), "mine").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("staged.txt")).unwrap();
        index.write().unwrap();
        std::fs::write(dir.path().join("a.txt"), "edited").unwrap();
        let index_before = std::fs::read(repo.path().join("index")).unwrap();

        let first = resolve(&repo, "HEAD~1").unwrap();
        let out = tempfile::tempdir().unwrap();
        let checkout = materialise(&repo, first.tree, &out.path().join("first"), "first").unwrap();

        assert_eq!(
            std::fs::read_to_string(checkout.dir.join("a.txt")).unwrap(),
            "one"
        );
        assert!(!checkout.dir.join("b.txt").exists());
        assert_eq!(
            std::fs::read(repo.path().join("index")).unwrap(),
            index_before,
            "the repository's index was rewritten"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "edited"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b.txt")).unwrap(),
            "new"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("staged.txt")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn a_cached_worktree_changed_on_disk_is_materialised_again() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with(
            dir.path(),
            &[("first", &[("a.txt", "one"), ("b/c.txt", "two")])],
        );
        let tree = resolve(&repo, "HEAD").unwrap().tree;
        let cache = tempfile::tempdir().unwrap();
        let (checkout, hit) = materialise_cached(&repo, tree, cache.path(), "first").unwrap();
        assert!(!hit);
        assert!(
            materialise_cached(&repo, tree, cache.path(), "first")
                .unwrap()
                .1
        );
        // Edited, or a file removed: not used as it is.
        std::fs::write(checkout.dir.join("b/c.txt"), "tampered").unwrap();
        let (again, hit) = materialise_cached(&repo, tree, cache.path(), "first").unwrap();
        assert!(!hit);
        assert_eq!(
            std::fs::read_to_string(again.dir.join("b/c.txt")).unwrap(),
            "two"
        );
        std::fs::remove_file(again.dir.join("a.txt")).unwrap();
        assert!(
            !materialise_cached(&repo, tree, cache.path(), "first")
                .unwrap()
                .1
        );
        assert!(again.dir.join("a.txt").exists());
        // A stamp of an older version (the tree id alone) is not trusted either.
        std::fs::write(
            cache.path().join(format!("worktrees/{tree}.complete")),
            tree.to_string(),
        )
        .unwrap();
        assert!(
            !materialise_cached(&repo, tree, cache.path(), "first")
                .unwrap()
                .1
        );
        assert!(
            materialise_cached(&repo, tree, cache.path(), "first")
                .unwrap()
                .1
        );
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
    fn a_tagged_commit_is_named_by_its_tag() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with(
            dir.path(),
            &[
                ("first", &[("a.txt", "one")]),
                ("second", &[("a.txt", "two")]),
            ],
        );
        let first = resolve(&repo, "HEAD~1").unwrap();
        let object = repo.find_object(first.id, None).unwrap();
        repo.tag_lightweight("v1.84.0", &object, false).unwrap();
        let signature = git2::Signature::now("t", "t@example.test").unwrap();
        repo.tag("v1.84.0-annotated", &object, &signature, "annotated", false)
            .unwrap();
        let head = resolve(&repo, "HEAD").unwrap();
        assert_eq!((head.tag.as_deref(), head.name()), (None, head.short()));
        // Annotated tags are peeled; of two tags the first by name wins.
        let tagged = resolve(&repo, "v1.84.0-annotated").unwrap();
        assert_eq!(tagged.tag.as_deref(), Some("v1.84.0"));
        assert_eq!(tagged.name(), format!("v1.84.0 ({})", first.short()));
        let walked = range(&repo, &tagged, &head, false).unwrap();
        assert_eq!(walked[0].tag.as_deref(), Some("v1.84.0"));
        assert_eq!(
            first_parent(&repo, &head).unwrap().tag.as_deref(),
            Some("v1.84.0")
        );
    }

    #[test]
    fn overlays_take_paths_from_another_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with(
            dir.path(),
            &[
                (
                    "old",
                    &[
                        ("keys.py", "old keys"),
                        ("server.py", "server 1"),
                        ("lib/util.py", "util 1"),
                    ],
                ),
                (
                    "new",
                    &[
                        ("keys.py", "new keys"),
                        ("server.py", "server 2"),
                        ("lib/util.py", "util 2"),
                        ("lib/extra.py", "extra"),
                    ],
                ),
            ],
        );
        let old = resolve(&repo, "HEAD~1").unwrap();
        let new = resolve(&repo, "HEAD").unwrap();
        // The handler swap: the new tree with the old keys.py.
        let swapped = overlay(&repo, new.tree, old.tree, &["keys.py".into()]).unwrap();
        let out = tempfile::tempdir().unwrap();
        materialise(&repo, swapped, &out.path().join("a"), "swap").unwrap();
        assert_eq!(
            std::fs::read_to_string(out.path().join("a/keys.py")).unwrap(),
            "old keys"
        );
        assert_eq!(
            std::fs::read_to_string(out.path().join("a/server.py")).unwrap(),
            "server 2"
        );
        // Nested paths, and a path the source lacks is removed.
        let nested = overlay(
            &repo,
            new.tree,
            old.tree,
            &["lib/util.py".into(), "lib/extra.py".into()],
        )
        .unwrap();
        materialise(&repo, nested, &out.path().join("b"), "nested").unwrap();
        assert_eq!(
            std::fs::read_to_string(out.path().join("b/lib/util.py")).unwrap(),
            "util 1"
        );
        assert!(!out.path().join("b/lib/extra.py").exists());
        // Taking every changed path from `old` gives `old`'s tree: same id, same caches.
        let all = overlay(
            &repo,
            new.tree,
            old.tree,
            &["keys.py".into(), "server.py".into(), "lib".into()],
        )
        .unwrap();
        assert_eq!(all, old.tree);
        assert_eq!(first_parent(&repo, &new).unwrap().id, old.id);
        assert!(matches!(
            first_parent(&repo, &old),
            Err(RevisionError::NoParent { .. })
        ));
    }

    #[test]
    fn a_file_laid_on_a_tree_is_an_ordinary_tree() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with(
            dir.path(),
            &[(
                "one",
                &[("keys.py", "a = 1\n"), ("twin/lib/util.py", "u = 1\n")],
            )],
        );
        let head = resolve(&repo, "HEAD").unwrap();
        let mutated = with_file(&repo, head.tree, "keys.py", b"a = 2\n").unwrap();
        assert_ne!(mutated, head.tree);
        assert_eq!(
            with_file(&repo, head.tree, "keys.py", b"a = 2\n").unwrap(),
            mutated
        );
        assert_eq!(read_file(&repo, mutated, "keys.py").unwrap(), "a = 2\n");
        assert_eq!(
            read_file(&repo, mutated, "twin/lib/util.py").unwrap(),
            "u = 1\n"
        );
        // Laying the original back gives the base's tree: one identity per content.
        assert_eq!(
            with_file(&repo, mutated, "keys.py", b"a = 1\n").unwrap(),
            head.tree
        );
        let nested = with_file(&repo, head.tree, "twin/lib/util.py", b"u = 2\n").unwrap();
        assert_eq!(
            read_file(&repo, nested, "twin/lib/util.py").unwrap(),
            "u = 2\n"
        );
        assert_eq!(read_file(&repo, head.tree, "nope.py"), None);
        // A server in a subfolder: its own tree at that commit.
        std::fs::create_dir_all(dir.path().join("twin")).unwrap();
        let twin = tree_at(&repo, &head, &dir.path().join("twin")).unwrap();
        assert_eq!(read_file(&repo, twin, "lib/util.py").unwrap(), "u = 1\n");
        assert_eq!(tree_at(&repo, &head, dir.path()).unwrap(), head.tree);
    }

    #[test]
    fn ranges_walk_the_first_parent_line() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with(
            dir.path(),
            &[
                ("a", &[("f", "1")]),
                ("b", &[("f", "2")]),
                ("c", &[("f", "3")]),
                ("d", &[("f", "4")]),
            ],
        );
        let good = resolve(&repo, "HEAD~3").unwrap();
        let bad = resolve(&repo, "HEAD").unwrap();
        let subjects =
            |commits: Vec<Commit>| commits.into_iter().map(|c| c.subject).collect::<Vec<_>>();
        assert_eq!(
            subjects(range(&repo, &good, &bad, false).unwrap()),
            ["a", "b", "c", "d"]
        );
        assert_eq!(
            subjects(range(&repo, &good, &bad, true).unwrap()),
            ["a", "b", "c", "d"]
        );
        assert!(matches!(
            range(&repo, &bad, &good, false),
            Err(RevisionError::Reversed { .. })
        ));
        // Equal ends are not "reversed" ("X is newer than X"): they say so.
        let same = range(&repo, &good, &good, false).unwrap_err();
        assert!(matches!(same, RevisionError::SameEnds { .. }), "{same}");
        assert_eq!(
            same.to_string(),
            format!(
                "--good and --bad are the same commit ({}): there is nothing between them to search",
                good.short()
            )
        );
        assert_eq!(depth(&repo, &bad).unwrap(), 3);
    }

    #[test]
    fn cached_worktrees_are_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_with(dir.path(), &[("first", &[("a.txt", "one")])]);
        let head = resolve(&repo, "HEAD").unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (checkout, hit) = materialise_cached(&repo, head.tree, cache.path(), "first").unwrap();
        assert!(!hit);
        assert_eq!(
            std::fs::read_to_string(checkout.dir.join("a.txt")).unwrap(),
            "one"
        );
        let (again, hit) = materialise_cached(&repo, head.tree, cache.path(), "first").unwrap();
        assert!(hit);
        assert_eq!(again.dir, checkout.dir);
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
