//! `replay images`: build the base images a suite's targets name (and the
//! run's Postgres image), or list the images the tool made.
//!
//! `check`, `fix` and `bisect --runtime docker` build a missing base image
//! themselves; this command does it ahead of time (CI does it once, before
//! the runs that share the images). Like a Docker run, it has a reaper: a
//! build it was running when it was killed (mmdebstrap leads a process group
//! of its own and outlives the tool, its chroot's mounts with it) is swept as
//! soon as the tool is gone, not at the next build or `replay gc`.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::jobs::error::Error;
use crate::runtime::docker;
use crate::spec::target::Target;

pub use crate::runtime::docker::images::ImageInfo;

/// One base image: its reference, what it holds, and whether it was there.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub reference: String,
    pub packages: Vec<String>,
    pub cached: bool,
}

/// Make sure the Postgres image and the base image of each target (all the
/// suite's targets with a `[docker]` section, or the one named) exist.
pub async fn build(
    suite: &Path,
    target: Option<&str>,
    cache_dir: &Path,
    quiet: bool,
    cancel: CancellationToken,
) -> Result<Vec<BaseImage>, Error> {
    let targets: Vec<Target> = match target {
        Some(name) => {
            let target = Target::find(suite, name)?;
            // Base images need no host files: only the recipe.
            crate::runtime::RuntimeKind::Docker.check_recipe(&target)?;
            vec![target]
        }
        None => {
            let dir = suite.join("targets");
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .map_err(|source| Error::Setup {
                    context: format!("read {}", dir.display()),
                    source,
                })?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            names.sort();
            let mut targets = Vec::new();
            for path in names {
                targets.push(Target::load(&path)?);
            }
            targets
        }
    };
    let mut recipes = vec![docker::images::postgres_recipe()];
    for target in &targets {
        if let Some(recipe) = target.docker_image()
            && !recipes.contains(recipe)
        {
            recipes.push(recipe.clone());
        }
    }
    let engine = docker::engine::connect().await?;
    // Named after this process: `images` is no run, and no object on the
    // engine carries its name; the reaper is here for the builds.
    let _reaper =
        docker::cleanup::spawn_reaper(&format!("images-{}", std::process::id()), cache_dir).await;
    let logs = cache_dir.join("logs").join("images");
    std::fs::create_dir_all(&logs).map_err(|source| Error::Setup {
        context: format!("create {}", logs.display()),
        source,
    })?;
    let say = |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let mut built = Vec::new();
    for recipe in recipes {
        let (reference, cached) =
            docker::images::ensure(&engine, &recipe, cache_dir, &logs, &cancel, &say).await?;
        built.push(BaseImage {
            reference,
            packages: recipe.packages.clone(),
            cached,
        });
    }
    Ok(built)
}

/// The images the tool made, newest first.
pub async fn list() -> Result<Vec<ImageInfo>, Error> {
    let engine = docker::engine::connect().await?;
    Ok(docker::images::list(&engine).await?)
}
