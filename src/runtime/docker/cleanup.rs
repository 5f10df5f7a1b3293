//! Nothing a run made on the engine outlives it.
//!
//! - A reaper — the tool itself, re-executed as `replay __reap RUN_ID` in a
//!   session of its own (`setsid`) — holds the read end of a pipe whose write
//!   end only the run holds. When the run ends (success, error, Ctrl-C: the
//!   run closes the pipe and waits until the engine lists none of its
//!   objects) or dies however it dies (a panic, SIGKILL), the pipe closes and
//!   the reaper removes the run's objects. A run without a reaper removes
//!   them itself.
//! - A start-up sweep and `replay gc` remove the objects whose run is dead
//!   (by the pid and start-time labels).

use std::collections::HashMap;
use std::process::Stdio;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveImageOptionsBuilder,
};

use super::engine::{
    self, CACHE_LABEL, MANAGED_BY, MANAGED_BY_VALUE, PID_LABEL, RUN_LABEL, label_filter, run_alive,
};
use super::remove_container;
use crate::runtime::RuntimeError;

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Swept {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
    pub images: usize,
}

/// Remove the labelled objects `keep` says no to.
async fn sweep(
    docker: &Docker,
    filter: &[(&str, &str)],
    keep: impl Fn(&HashMap<String, String>) -> bool,
) -> Swept {
    let mut swept = Swept::default();
    let filters = label_filter(filter);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    if let Ok(containers) = docker.list_containers(Some(options)).await {
        // At once: the engine kills and removes each in its own time.
        let ids: Vec<String> = containers
            .into_iter()
            .filter(|c| !keep(&c.labels.clone().unwrap_or_default()))
            .filter_map(|c| c.id)
            .collect();
        swept.containers = ids.len();
        futures::future::join_all(ids.iter().map(|id| remove_container(docker, id))).await;
    }
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    if let Ok(networks) = docker.list_networks(Some(options)).await {
        for network in networks {
            if keep(&network.labels.unwrap_or_default()) {
                continue;
            }
            if let Some(id) = network.id
                && docker.remove_network(&id).await.is_ok()
            {
                swept.networks += 1;
            }
        }
    }
    let options = ListVolumesOptionsBuilder::default()
        .filters(&filters)
        .build();
    if let Ok(volumes) = docker.list_volumes(Some(options)).await {
        for volume in volumes.volumes.unwrap_or_default() {
            if keep(&volume.labels) {
                continue;
            }
            if docker
                .remove_volume(
                    &volume.name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
                .is_ok()
            {
                swept.volumes += 1;
            }
        }
    }
    swept
}

/// Remove every container, network and volume of one run.
pub(crate) async fn remove_run(docker: &Docker, run_id: &str, pid: u32) -> Swept {
    let pid = pid.to_string();
    sweep(
        docker,
        &[
            (MANAGED_BY, MANAGED_BY_VALUE),
            (RUN_LABEL, run_id),
            (PID_LABEL, &pid),
        ],
        |_| false,
    )
    .await
}

/// Remove the containers, networks and volumes of runs that are dead.
pub(crate) async fn sweep_dead(docker: impl std::borrow::Borrow<Docker>) -> Swept {
    let docker = docker.borrow();
    // Containers carry their image's labels too: the legacy builder's
    // intermediate containers have a base image's `managed-by` and no run
    // labels. They belong to a live build; only an object that names its
    // run's pid is a run's, and it goes when that run is dead.
    let swept = sweep(docker, &[(MANAGED_BY, MANAGED_BY_VALUE)], |labels| {
        !labels.contains_key(PID_LABEL) || run_alive(labels)
    })
    .await;
    if swept.containers + swept.networks + swept.volumes > 0 {
        tracing::info!(?swept, "removed what dead runs left on the Docker engine");
    }
    swept
}

/// `replay gc`: the dead runs' objects, the dangling images and, unless
/// `keep_cache`, the images.
pub async fn gc(keep_cache: bool) -> Result<Swept, RuntimeError> {
    let started = unix_now();
    let docker = engine::connect().await?;
    let mut swept = sweep_dead(&docker).await;
    swept.images += remove_dangling(&docker, started).await?;
    let images = super::images::list(&docker).await?;
    for image in images {
        if image.reference == "<none>:<none>" || image.reference.starts_with("sha256:") {
            // Dangling: the engine refused it above (a container uses it) or a
            // live run may build on it.
            continue;
        }
        // A base image whose import did not complete is never a cache.
        if keep_cache && !image.reference.ends_with("-partial") {
            continue;
        }
        {
            let options = RemoveImageOptionsBuilder::default().force(true).build();
            if docker
                .remove_image(&image.reference, Some(options), None)
                .await
                .is_ok()
            {
                swept.images += 1;
            }
        }
    }
    Ok(swept)
}

/// Seconds since the epoch, as the engine dates its objects.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Remove the dangling (untagged) images that carry the tool's labels: what
/// an interrupted build left (its steps' images inherit the base image's
/// labels), or a cache image whose tag a newer build took. Nothing can use
/// them by name; none is removed by force (the engine refuses an image a
/// container uses). A live run may be building on its last step's image
/// (untagged until the build ends), so only images older than every live
/// run — and than this sweep — go: a run starts its Postgres container before
/// it builds. How many went.
pub(crate) async fn remove_dangling(docker: &Docker, now: i64) -> Result<usize, RuntimeError> {
    let filters = label_filter(&[(MANAGED_BY, MANAGED_BY_VALUE)]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker
        .list_containers(Some(options))
        .await
        .map_err(engine::docker_error("list containers"))?;
    let live_since = containers
        .iter()
        .filter(|c| c.labels.as_ref().is_some_and(run_alive))
        .filter_map(|c| c.created)
        .min()
        .unwrap_or(now)
        .min(now);
    let mut filters = filters;
    filters.insert("dangling".into(), vec!["true".into()]);
    let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let images = docker
        .list_images(Some(options))
        .await
        .map_err(engine::docker_error("list images"))?;
    let mut removed = 0;
    for image in images {
        // The engine dates in whole seconds: a second of margin.
        if image.created >= live_since - 1 {
            continue;
        }
        if docker
            .remove_image(
                &image.id,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
            .is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// This run's reaper: a process of its own that removes the run's objects
/// once `pipe` closes — when the run hands its teardown over, or dies.
pub(crate) struct Reaper {
    pub(crate) pipe: tokio::process::ChildStdin,
    /// Held, not waited for: the run waits for its objects, not the process.
    _child: tokio::process::Child,
}

/// Start the run's reaper: this program, in a session of its own, reading a
/// pipe that closes when this process ends. `None` when it cannot start (the
/// run's own teardown and the next start-up sweep still clean up).
pub(crate) async fn spawn_reaper(run_id: &str, cache_dir: &std::path::Path) -> Option<Reaper> {
    let exe = std::env::current_exe().ok()?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("--cache-dir")
        .arg(cache_dir)
        .arg("__reap")
        .arg(run_id)
        .arg(std::process::id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    match command.spawn() {
        Ok(mut child) => child.stdin.take().map(|pipe| Reaper {
            pipe,
            _child: child,
        }),
        Err(error) => {
            tracing::warn!("cannot start the reaper: {error}");
            None
        }
    }
}

/// The reaper's body: connect, wait until the run's end of the pipe closes
/// (the run handed its teardown over, or died), then remove the run's objects:
/// those with its run id made by its process `pid`, so that a run started
/// under the same `REPLAY_RUN_ID` just after this one keeps its own.
pub async fn reap(run_id: &str, pid: u32) {
    use tokio::io::AsyncReadExt;
    // Connected before the wait: the teardown starts as soon as the pipe closes.
    let connected = engine::connect().await;
    let mut stdin = tokio::io::stdin();
    let mut buffer = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buffer).await {
        if n == 0 {
            break;
        }
    }
    let docker = match connected {
        Ok(docker) => docker,
        Err(_) => match engine::connect().await {
            Ok(docker) => docker,
            Err(_) => return,
        },
    };
    // Until a pass finds nothing left (a removal the engine refused is
    // tried again), for a minute at most; then once more, for a container
    // the run was creating as it died, which may appear late.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let swept = remove_run(&docker, run_id, pid).await;
        if swept.containers + swept.networks + swept.volumes == 0
            || std::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    remove_run(&docker, run_id, pid).await;
}

/// The containers and networks of a run that the engine still lists, by name:
/// those of the process `pid` only, when given.
pub(crate) async fn containers_and_networks(
    docker: &Docker,
    run_id: &str,
    pid: Option<u32>,
) -> Result<Vec<String>, RuntimeError> {
    let pid = pid.map(|p| p.to_string());
    let mut pairs = vec![(MANAGED_BY, MANAGED_BY_VALUE), (RUN_LABEL, run_id)];
    if let Some(pid) = &pid {
        pairs.push((PID_LABEL, pid));
    }
    let filters = label_filter(&pairs);
    let mut found = Vec::new();
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    for container in docker
        .list_containers(Some(options))
        .await
        .map_err(engine::docker_error("list containers"))?
    {
        found.push(format!(
            "container {}",
            container.names.unwrap_or_default().join(",")
        ));
    }
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    for network in docker
        .list_networks(Some(options))
        .await
        .map_err(engine::docker_error("list networks"))?
    {
        found.push(format!("network {}", network.name.unwrap_or_default()));
    }
    Ok(found)
}

/// The labelled containers, networks and volumes of a run that are still there.
pub async fn leftovers(run_id: &str) -> Result<Vec<String>, RuntimeError> {
    let docker = engine::connect().await?;
    let filters = label_filter(&[(MANAGED_BY, MANAGED_BY_VALUE), (RUN_LABEL, run_id)]);
    let mut found = containers_and_networks(&docker, run_id, None).await?;
    let options = ListVolumesOptionsBuilder::default()
        .filters(&filters)
        .build();
    for volume in docker
        .list_volumes(Some(options))
        .await
        .map_err(engine::docker_error("list volumes"))?
        .volumes
        .unwrap_or_default()
    {
        found.push(format!("volume {}", volume.name));
    }
    // Images are caches (base, revision, template images), shared by runs;
    // one with the run's label and no kind is the run's own.
    let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    for image in docker
        .list_images(Some(options))
        .await
        .map_err(engine::docker_error("list images"))?
    {
        if !image.labels.contains_key(CACHE_LABEL) {
            found.push(format!("image {}", image.id));
        }
    }
    Ok(found)
}
