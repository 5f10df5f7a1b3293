//! Base images, made here from Debian packages: there is no registry to pull from.
//!
//! A base image is a minimal Debian root file system (`mmdebstrap
//! --variant=minbase`) with the packages a recipe names, streamed straight
//! into the engine's image import. It is tagged by a hash of its recipe (the
//! suite and the sorted package list), so it is built once per recipe and
//! reused by every run after.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use bollard::Docker;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListImagesOptionsBuilder, TagImageOptionsBuilder,
};
use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::engine::{
    CACHE_LABEL, MANAGED_BY, MANAGED_BY_VALUE, RUN_LABEL, docker_error, label_filter,
};
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
    run_id: &str,
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
    let lock_path = locks.join(format!("{}.lock", image.replace(['/', ':'], "-")));
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
    build(docker, recipe, &image, logs, run_id, cancel).await?;
    say(&format!(
        "built {image} in {:.0}s",
        started.elapsed().as_secs_f64()
    ));
    Ok((image, false))
}

async fn build(
    docker: &Docker,
    recipe: &ImageRecipe,
    image: &str,
    logs: &Path,
    run_id: &str,
    cancel: &CancellationToken,
) -> Result<(), RuntimeError> {
    let log = logs.join(format!("image-{}.log", image.replace(['/', ':'], "-")));
    let log_file = std::fs::File::create(&log).map_err(|source| RuntimeError::Io {
        context: format!("create {}", log.display()),
        source,
    })?;
    let mut argv = vec![
        "mmdebstrap".to_string(),
        "--variant=minbase".into(),
        // Without it, mmdebstrap's progress output stalls "installing essential
        // packages" when stderr is a file (seen twice here); errors still go to the log.
        "--quiet".into(),
        format!("--include={}", recipe.packages.join(",")),
        recipe.suite.clone(),
        "-".into(),
    ];
    argv.extend(sources(&recipe.suite));
    let command = shell_words::join(&argv);
    let failed = |why: String| {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(&log) {
            let _ = writeln!(file, "{why}");
        }
        RuntimeError::BaseImage {
            image: image.to_string(),
            packages: recipe.packages.join(" "),
            command: command.clone(),
            log: log.clone(),
            tail: crate::runtime::local::process::log_tail(&log, 20),
        }
    };
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot start mmdebstrap: {e}")))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    // Imported under a name of its own and tagged only once mmdebstrap has
    // succeeded: a root file system cut short (a killed run) never gets the
    // recipe's tag.
    let (repo, version) = image.split_once(':').expect("a tag has a colon");
    let partial_version = format!("{version}-partial-{}", std::process::id());
    let partial = format!("{repo}:{partial_version}");
    let changes = [
        format!("LABEL {MANAGED_BY}={MANAGED_BY_VALUE}"),
        format!("LABEL {CACHE_LABEL}=base"),
        format!("LABEL {RUN_LABEL}={run_id}"),
    ];
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(&partial_version)
        .changes(changes.to_vec())
        .build();
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(stdout));
    let import = docker
        .create_image(Some(options), Some(body), None)
        .try_collect::<Vec<_>>();
    let remove_partial = || async {
        let _ = docker
            .remove_image(
                &partial,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    };
    let imported = tokio::select! {
        result = import => result,
        _ = cancel.cancelled() => {
            kill_group(&child);
            remove_partial().await;
            return Err(RuntimeError::Interrupted);
        }
    };
    let status = child
        .wait()
        .await
        .map_err(|e| failed(format!("mmdebstrap: {e}")))?;
    if !status.success() {
        if let Err(error) = &imported {
            failed(format!("the engine refused the import: {error}"));
        }
        remove_partial().await;
        return Err(failed(format!("mmdebstrap exited with {status}")));
    }
    if let Err(error) = imported {
        remove_partial().await;
        return Err(failed(format!("the engine refused the import: {error}")));
    }
    let options = TagImageOptionsBuilder::default()
        .repo(repo)
        .tag(version)
        .build();
    let tagged = docker.tag_image(&partial, Some(options)).await;
    remove_partial().await;
    tagged.map_err(docker_error(format!("tag {image}")))?;
    Ok(())
}

fn kill_group(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
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
