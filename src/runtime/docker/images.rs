//! Base images, made here from Debian packages: there is no registry to pull from.
//!
//! A base image is a minimal Debian root file system (`mmdebstrap
//! --variant=minbase`) with the packages a recipe names, written to a tar
//! file (with a deadline, retried once) and then imported into the engine. It is tagged by a hash of its recipe (the
//! suite and the sorted package list), so it is built once per recipe and
//! reused by every run after.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{CreateImageOptionsBuilder, ListImagesOptionsBuilder};
use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::engine::{CACHE_LABEL, MANAGED_BY, MANAGED_BY_VALUE, docker_error, label_filter};
use crate::runtime::RuntimeError;
use crate::spec::target::{DEFAULT_SUITE, ImageRecipe};

/// The repository base images are tagged in.
pub(crate) const BASE_REPO: &str = "replay/base";

/// The run's Postgres: Debian's PostgreSQL 15.
pub(crate) fn postgres_recipe() -> ImageRecipe {
    ImageRecipe {
        suite: DEFAULT_SUITE.into(),
        packages: vec!["postgresql-15".into()],
    }
}

/// Where the PostgreSQL 15 binaries are inside the Postgres image.
pub(crate) const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The image reference of a recipe: `replay/base:<16 hex of its hash>`.
pub(crate) fn tag(recipe: &ImageRecipe) -> String {
    let mut packages = recipe.packages.clone();
    packages.sort();
    packages.dedup();
    let key = crate::support::cache::key(&[
        b"replay-base-v1",
        recipe.suite.as_bytes(),
        packages.join(",").as_bytes(),
    ]);
    format!("{BASE_REPO}:{}", &key[..16])
}

/// The apt sources mmdebstrap fetches from: this machine's own mirrors
/// (`/etc/apt/sources.list*`), pointed at the recipe's suite.
/// `REPLAY_DEBIAN_SOURCES` (a sources.list line or file) overrides them.
pub(crate) fn sources(suite: &str) -> Vec<String> {
    if let Ok(sources) = std::env::var("REPLAY_DEBIAN_SOURCES")
        && !sources.trim().is_empty()
    {
        return vec![sources];
    }
    let mut texts: Vec<String> = std::fs::read_to_string("/etc/apt/sources.list")
        .into_iter()
        .collect();
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let name = path.to_string_lossy().into_owned();
            if name.ends_with(".sources") || name.ends_with(".list") {
                texts.extend(std::fs::read_to_string(&path).ok());
            }
        }
    }
    source_lines(&texts.join("\n"), suite)
}

/// `deb URI SUITE main` lines for the Debian mirrors named in apt source
/// files (one-line and deb822 forms); a `-security` mirror gets `SUITE-security`.
pub(crate) fn source_lines(text: &str, suite: &str) -> Vec<String> {
    let mut uris: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let found: Vec<&str> = if let Some(rest) = line.strip_prefix("URIs:") {
            rest.split_whitespace().collect()
        } else if let Some(rest) = line.strip_prefix("deb ") {
            rest.split_whitespace()
                .filter(|w| !w.starts_with('['))
                .take(1)
                .collect()
        } else {
            vec![]
        };
        for uri in found {
            let uri = uri.trim_end_matches('/').to_string();
            if uri.contains("/debian") && !uris.contains(&uri) {
                uris.push(uri);
            }
        }
    }
    uris.iter()
        .map(|uri| {
            if uri.ends_with("-security") {
                format!("deb {uri} {suite}-security main")
            } else {
                format!("deb {uri} {suite} main")
            }
        })
        .collect()
}

/// The image of a migrated template database an earlier run kept (its
/// Postgres container, committed): `replay/template:<16 hex of its key>`.
pub(crate) fn template_tag(key: &str) -> String {
    format!("replay/template:{}", &key[..16])
}

/// Is the image there?
pub(crate) async fn exists(docker: &Docker, image: &str) -> Result<bool, RuntimeError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(error) => Err(docker_error(format!("inspect the image {image}"))(error)),
    }
}

/// Make sure the base image of `recipe` exists: build it when it is missing.
/// Returns its reference and whether it was there already.
pub(crate) async fn ensure(
    docker: &Docker,
    recipe: &ImageRecipe,
    cache_dir: &Path,
    logs: &Path,
    cancel: &CancellationToken,
    say: &(dyn Fn(&str) + Send + Sync),
) -> Result<(String, bool), RuntimeError> {
    let image = tag(recipe);
    if exists(docker, &image).await? {
        return Ok((image, true));
    }
    // One builder per recipe; another run waits for it and then reuses the image.
    let locks = cache_dir.join("docker");
    std::fs::create_dir_all(&locks).map_err(|source| RuntimeError::Io {
        context: format!("create {}", locks.display()),
        source,
    })?;
    let lock_path = locks.join(format!("{}.lock", file_name(&image)));
    let _lock = crate::runtime::local::lock_file(&lock_path, cancel).await?;
    if exists(docker, &image).await? {
        return Ok((image, true));
    }
    let started = Instant::now();
    say(&format!(
        "building the base image {image} from Debian {} packages: {}",
        recipe.suite,
        recipe.packages.join(" ")
    ));
    build(docker, recipe, &image, &locks.join("rootfs"), logs, cancel).await?;
    say(&format!(
        "built {image} in {:.0}s",
        started.elapsed().as_secs_f64()
    ));
    Ok((image, false))
}

/// How long one mmdebstrap attempt may take before it is stopped
/// (`REPLAY_IMAGE_DEADLINE`, seconds; a cold Python image takes about a
/// minute on an idle machine, several on a busy one).
fn attempt_deadline() -> Duration {
    std::env::var("REPLAY_IMAGE_DEADLINE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(Duration::from_secs(900), Duration::from_secs)
}

/// Build the base image of `recipe`: mmdebstrap writes the root file system
/// into a tar file (with a deadline, retried once), then the file is imported
/// under a partial tag and tagged as `image` only once the import is complete.
async fn build(
    docker: &Docker,
    recipe: &ImageRecipe,
    image: &str,
    work: &Path,
    logs: &Path,
    cancel: &CancellationToken,
) -> Result<(), RuntimeError> {
    let log = logs.join(format!("image-{}.log", file_name(image)));
    let tar = work.join(format!("{}.tar", file_name(image)));
    let scratch = work.join(format!("{}{SCRATCH}", file_name(image)));
    let io = |context: String| move |source| RuntimeError::Io { context, source };
    std::fs::create_dir_all(work).map_err(io(format!("create {}", work.display())))?;
    std::fs::File::create(&log).map_err(io(format!("create {}", log.display())))?;
    // What a build of this recipe that was killed left (we hold its lock now).
    clean_build(&scratch, &tar).map_err(io(format!("clean {}", scratch.display())))?;
    let mut argv = vec![
        "mmdebstrap".to_string(),
        "--variant=minbase".into(),
        "--quiet".into(),
        format!("--include={}", recipe.packages.join(",")),
        recipe.suite.clone(),
        tar.to_string_lossy().into_owned(),
    ];
    argv.extend(sources(&recipe.suite));
    let command = shell_words::join(&argv);
    let note = |why: &str| {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(&log) {
            let _ = writeln!(file, "replay: {why}");
        }
    };
    let failed = |why: String| {
        note(&why);
        RuntimeError::BaseImage {
            image: image.to_string(),
            packages: recipe.packages.join(" "),
            command: command.clone(),
            why,
            log: log.clone(),
            tail: crate::runtime::local::process::log_tail(&log, 20),
        }
    };
    let deadline = attempt_deadline();
    let mut last = String::new();
    let mut done = false;
    for attempt in 1..=2 {
        let _ = std::fs::remove_file(&tar);
        std::fs::create_dir_all(&scratch).map_err(io(format!("create {}", scratch.display())))?;
        note(&format!("attempt {attempt} of 2: {command}"));
        let outcome = mmdebstrap(&argv, &scratch, &log, deadline, cancel).await;
        // A stopped mmdebstrap may leave its chroot's mounts (the host's /proc,
        // /sys, /dev/pts, /dev/shm): unmounted before its folder goes.
        if let Err(error) = crate::support::mounts::remove_tree(&scratch) {
            note(&format!("cannot remove {}: {error}", scratch.display()));
        }
        match outcome {
            Attempt::Done => {
                done = true;
                break;
            }
            Attempt::Interrupted => {
                let _ = std::fs::remove_file(&tar);
                return Err(RuntimeError::Interrupted);
            }
            Attempt::Failed(why) => {
                note(&why);
                last = why;
            }
        }
    }
    if !done {
        let _ = std::fs::remove_file(&tar);
        return Err(failed(format!("{last}, twice")));
    }
    let imported = import(docker, &tar, image, cancel).await;
    let _ = std::fs::remove_file(&tar);
    match imported {
        Ok(()) => Ok(()),
        Err(None) => Err(RuntimeError::Interrupted),
        Err(Some(why)) => Err(failed(why)),
    }
}

enum Attempt {
    Done,
    Failed(String),
    Interrupted,
}

/// One mmdebstrap run, stopped at `deadline`: SIGTERM first (it unmounts
/// what it mounted in its chroot), its whole group killed 20 s later. Its
/// chroot goes into `scratch` (its `TMPDIR`), which the caller removes.
async fn mmdebstrap(
    argv: &[String],
    scratch: &Path,
    log: &Path,
    deadline: Duration,
    cancel: &CancellationToken,
) -> Attempt {
    let log_file = match std::fs::OpenOptions::new().append(true).open(log) {
        Ok(file) => file,
        Err(e) => return Attempt::Failed(format!("cannot open {}: {e}", log.display())),
    };
    let mut child = match tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env("TMPDIR", scratch)
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
        )
        .stderr(log_file)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Attempt::Failed(format!("cannot start mmdebstrap: {e}")),
    };
    let outcome = tokio::select! {
        status = child.wait() => match status {
            Ok(status) if status.success() => return Attempt::Done,
            Ok(status) => return Attempt::Failed(format!("mmdebstrap exited with {status}")),
            Err(e) => return Attempt::Failed(format!("mmdebstrap: {e}")),
        },
        _ = tokio::time::sleep(deadline) => Attempt::Failed(format!(
            "mmdebstrap did not finish within {}s (REPLAY_IMAGE_DEADLINE)",
            deadline.as_secs()
        )),
        _ = cancel.cancelled() => Attempt::Interrupted,
    };
    stop(&mut child).await;
    outcome
}

/// Stop mmdebstrap: SIGTERM to it, then SIGKILL to its group.
async fn stop(child: &mut tokio::process::Child) {
    use nix::sys::signal::{Signal, kill};
    if let Some(pid) = child.id() {
        let _ = kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGTERM);
        let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
        // What it started and did not stop (dpkg, apt in the chroot).
        kill_group(pid);
    }
    let _ = child.wait().await;
}

/// Import a root file system tar as `image`: under a partial tag first, so
/// an import that does not complete never leaves an image under the recipe's
/// tag. `Err(None)`: interrupted.
async fn import(
    docker: &Docker,
    tar: &Path,
    image: &str,
    cancel: &CancellationToken,
) -> Result<(), Option<String>> {
    let (repo, version) = image.split_once(':').expect("a tag has a colon");
    let partial = format!("{version}-partial");
    let file = tokio::fs::File::open(tar)
        .await
        .map_err(|e| Some(format!("cannot read {}: {e}", tar.display())))?;
    let changes = [
        format!("LABEL {MANAGED_BY}={MANAGED_BY_VALUE}"),
        format!("LABEL {CACHE_LABEL}=base"),
    ];
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(&partial)
        .changes(changes.to_vec())
        .build();
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(file));
    let import = docker
        .create_image(Some(options), Some(body), None)
        .try_collect::<Vec<_>>();
    let partial_ref = format!("{repo}:{partial}");
    let remove_partial = || async {
        let _ = docker
            .remove_image(
                &partial_ref,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    };
    let imported = tokio::select! {
        result = import => result,
        _ = cancel.cancelled() => {
            remove_partial().await;
            return Err(None);
        }
    };
    if let Err(error) = imported {
        remove_partial().await;
        return Err(Some(format!("the engine refused the import: {error}")));
    }
    let options = bollard::query_parameters::TagImageOptionsBuilder::default()
        .repo(repo)
        .tag(version)
        .build();
    let tagged = docker.tag_image(&partial_ref, Some(options)).await;
    remove_partial().await;
    tagged.map_err(|e| Some(format!("cannot tag {partial_ref} as {image}: {e}")))
}

/// A build's files are named after its image: `replay-base-<hex>`.
fn file_name(image: &str) -> String {
    image.replace(['/', ':'], "-")
}

/// The suffix of a build's scratch folder, beside its tar in `docker/rootfs`.
const SCRATCH: &str = ".scratch";

/// Remove what a build left (the caller holds the recipe's lock, so its
/// builder is gone): the processes still working there (mmdebstrap leads its
/// own process group and outlives a killed tool), the mounts in its chroot,
/// its scratch folder and its partial tar.
fn clean_build(scratch: &Path, tar: &Path) -> std::io::Result<()> {
    if !scratch.exists() && !tar.exists() {
        return Ok(());
    }
    let killed = crate::runtime::local::sweep::kill_build(
        scratch,
        &tar.to_string_lossy(),
        Duration::from_secs(10),
    );
    if !killed.survivors.is_empty() {
        return Err(std::io::Error::other(format!(
            "the build's processes survived SIGKILL: {}",
            killed.survivors.join(", ")
        )));
    }
    crate::support::mounts::remove_tree(scratch)?;
    match std::fs::remove_file(tar) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What [`sweep_dead_builds`] did with one build's leftovers.
#[derive(Debug)]
pub struct DeadBuild {
    pub scratch: PathBuf,
    /// `Err(why)`: something stays, for the next gc.
    pub removed: Result<(), String>,
}

/// `replay gc` and a Docker run's reaper: remove what killed base-image
/// builds left in `cache_dir` (a build whose recipe lock is held is live and
/// left alone).
pub(crate) fn sweep_dead_builds(cache_dir: &Path) -> Vec<DeadBuild> {
    let locks = cache_dir.join("docker");
    let work = locks.join("rootfs");
    let Ok(entries) = std::fs::read_dir(&work) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(SCRATCH).map(str::to_string)
        })
        .collect();
    names.sort();
    let mut swept = Vec::new();
    for name in names {
        let Some(_lock) = try_lock(&locks.join(format!("{name}.lock"))) else {
            continue;
        };
        let scratch = work.join(format!("{name}{SCRATCH}"));
        let removed = clean_build(&scratch, &work.join(format!("{name}.tar")))
            .map_err(|e| format!("cannot remove {}: {e}", scratch.display()));
        swept.push(DeadBuild { scratch, removed });
    }
    swept
}

/// Is a base image being built into `cache_dir` now (a recipe lock held)?
pub(crate) fn building(cache_dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(cache_dir.join("docker")) else {
        return false;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lock"))
        .any(|p| try_lock(&p).is_none())
}

/// The lock at `path` when nobody holds it.
fn try_lock(path: &Path) -> Option<nix::fcntl::Flock<std::fs::File>> {
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).ok()
}

fn kill_group(pid: u32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// An image the tool made, for `replay images --list`.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub reference: String,
    /// `base` or `revision`.
    pub kind: String,
    pub size_mb: u64,
    pub created: i64,
}

/// Every image the tool made (base and revision images), newest first.
pub(crate) async fn list(docker: &Docker) -> Result<Vec<ImageInfo>, RuntimeError> {
    let options = ListImagesOptionsBuilder::default()
        .filters(&label_filter(&[(MANAGED_BY, MANAGED_BY_VALUE)]))
        .build();
    let images = docker
        .list_images(Some(options))
        .await
        .map_err(docker_error("list images"))?;
    let mut found: Vec<ImageInfo> = images
        .into_iter()
        .flat_map(|image| {
            let kind = image
                .labels
                .get(CACHE_LABEL)
                .cloned()
                .unwrap_or_else(|| "other".into());
            let tags = if image.repo_tags.is_empty() {
                vec![image.id.clone()]
            } else {
                image.repo_tags.clone()
            };
            tags.into_iter().map(move |reference| ImageInfo {
                reference,
                kind: kind.clone(),
                size_mb: (image.size.max(0) as u64) / 1_000_000,
                created: image.created,
            })
        })
        .collect();
    found.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then(a.reference.cmp(&b.reference))
    });
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_follows_the_recipe_not_the_package_order() {
        let one = ImageRecipe {
            suite: "bookworm".into(),
            packages: vec!["python3".into(), "python3-venv".into()],
        };
        let mut two = one.clone();
        two.packages.reverse();
        assert_eq!(tag(&one), tag(&two));
        assert!(tag(&one).starts_with("replay/base:"));
        let mut three = one.clone();
        three.suite = "trixie".into();
        assert_ne!(tag(&one), tag(&three));
        three = one.clone();
        three.packages.push("git".into());
        assert_ne!(tag(&one), tag(&three));
    }

    #[test]
    fn sources_come_from_the_machines_mirrors() {
        let text = "Types: deb\n# a comment naming http://example.invalid/debian\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n\nTypes: deb\nURIs: http://mirror.invalid/debian-security\n\ndeb [arch=amd64] http://other.invalid/debian/ bookworm main\ndeb http://elsewhere.invalid/ubuntu jammy main\n";
        assert_eq!(
            source_lines(text, "trixie"),
            [
                "deb http://mirror.invalid/debian trixie main",
                "deb http://mirror.invalid/debian-security trixie-security main",
                "deb http://other.invalid/debian trixie main",
            ]
        );
    }
}
