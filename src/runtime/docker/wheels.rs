//! Wheels prepared on the host: containers here reach no package index (the
//! index's certificates do not verify inside them), so a target's `wheels`
//! requirement files are downloaded on the host, once per their contents, and
//! put into the build context for `pip install --no-index --find-links {{wheels}}`.

use std::path::{Path, PathBuf};

use crate::runtime::local::process::{ProcessGroup, Spec, log_tail};
use crate::runtime::{Checkout, RunContext, RuntimeError};
use crate::spec::target::{DockerRecipe, Stage, Target};

/// The folder of wheels for the recipe's requirement files (cached by their contents).
pub(crate) async fn prepare(
    run: &RunContext<'_>,
    target: &Target,
    recipe: &DockerRecipe,
    checkout: &Checkout,
    log: &Path,
) -> Result<PathBuf, RuntimeError> {
    let workdir = target.workdir(&checkout.dir);
    let wheels: Vec<(&str, bool)> = recipe.wheels.iter().map(|w| (w.as_str(), false)).collect();
    let key = crate::support::cache::files_key(&workdir, &wheels, &[b"wheels-v1"]).map_err(
        |missing| RuntimeError::MissingInput {
            location: crate::spec::source::Location::file(&target.path),
            key: "docker.build.wheels".into(),
            pattern: missing.name,
            revision: checkout.label.clone(),
        },
    )?;
    let root = run.cache_dir.join("docker").join("wheels");
    let io = |context: String| move |source| RuntimeError::Io { context, source };
    std::fs::create_dir_all(&root).map_err(io(format!("create {}", root.display())))?;
    let dir = root.join(&key[..16]);
    let _lock =
        crate::runtime::local::lock_file(&root.join(format!("{}.lock", &key[..16])), run.cancel)
            .await?;
    if dir.join(".replay-complete").is_file() {
        return Ok(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
    // A virtualenv of the host's python3 gives a pip to download with.
    let pip_env = root.join("pip-env");
    if !pip_env.join("bin/pip").is_file() {
        run_host(
            run,
            checkout,
            &workdir,
            vec![
                "python3".into(),
                "-m".into(),
                "venv".into(),
                pip_env.to_string_lossy().into_owned(),
            ],
            log,
        )
        .await?;
    }
    for file in &recipe.wheels {
        if !workdir.join(file).is_file() {
            continue;
        }
        run_host(
            run,
            checkout,
            &workdir,
            vec![
                pip_env.join("bin/pip").to_string_lossy().into_owned(),
                "download".into(),
                "--quiet".into(),
                "--disable-pip-version-check".into(),
                "--no-input".into(),
                "--only-binary=:all:".into(),
                "--dest".into(),
                dir.to_string_lossy().into_owned(),
                "-r".into(),
                file.clone(),
            ],
            log,
        )
        .await?;
    }
    std::fs::write(dir.join(".replay-complete"), &key)
        .map_err(io(format!("write {}", dir.display())))?;
    Ok(dir)
}

async fn run_host(
    run: &RunContext<'_>,
    checkout: &Checkout,
    cwd: &Path,
    argv: Vec<String>,
    log: &Path,
) -> Result<(), RuntimeError> {
    let spec = Spec {
        argv,
        cwd: cwd.to_path_buf(),
        // The tool's own download on the host, with the caller's whole
        // environment (a proxy, a package mirror, certificates): what it
        // fetched keys the image by its contents, not by how it was fetched.
        env: std::env::vars().collect(),
        user: None,
        log: log.to_path_buf(),
        redact: Some(run.redactor.clone()),
    };
    let failed = |status: String| RuntimeError::Stage {
        stage: Stage::Build,
        revision: checkout.label.clone(),
        command: format!("{} (on the host, for the wheels)", spec.display()),
        status,
        log: log.to_path_buf(),
        tail: log_tail(log, 20),
    };
    let mut group = ProcessGroup::spawn(&spec, run.id).map_err(|e| failed(e.to_string()))?;
    match group.wait(run.cancel).await {
        None => Err(RuntimeError::Interrupted),
        Some(status) if !status.success() => Err(failed(format!("exited with {status}"))),
        Some(_) => Ok(()),
    }
}
