//! The Docker runtime (bollard): an image per revision, one Postgres container
//! and the server containers on a private bridge network of the run.
//!
//! - Base images are built here from Debian packages ([`images`]); a revision's
//!   image is built FROM the target's base image with the materialised checkout
//!   as its context ([`context`]), tagged by the context's hash.
//! - The host reaches containers only through ports published on 127.0.0.1; the
//!   server reaches Postgres by its alias `db` on the network. That is why
//!   [`Database`] carries two URLs.
//! - Every container and network carries the run's labels ([`engine`]); the
//!   run's reaper process removes them when the run ends (the run hands its
//!   teardown over) or the tool dies, and a start-up sweep or `replay gc`
//!   removes those of dead runs ([`cleanup`]).
//! - Command containers (migrations, servers) get their start script through
//!   stdin, so a revision's server container starts while Postgres does.

pub(crate) mod cleanup;
pub(crate) mod context;
pub(crate) mod engine;
pub(crate) mod images;
pub(crate) mod wheels;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::{
    Build, Checkout, Database, KeptTemplate, Postgres, PostgresStarted, RunContext, Runtime,
    RuntimeError, RuntimeKind, Server, ServerInfo, Steps, environment,
};
use crate::spec::target::{DockerRecipe, Stage, Target};
use crate::spec::template::Vars;
use crate::support::redact::Redactor;
use engine::{CACHE_LABEL, MANAGED_BY, MANAGED_BY_VALUE, docker_error, run_labels};

/// The run's network: made by the first container that needs it.
struct Network {
    name: String,
    /// Its subnet, which Postgres admits connections from.
    subnet: String,
}

/// The run's reaper: its pipe closes when this process ends, or when the
/// run hands its teardown over ([`finish`]).
type ReaperPipe = Arc<Mutex<Option<cleanup::Reaper>>>;

pub(crate) struct DockerRuntime {
    docker: Docker,
    run_id: String,
    network: tokio::sync::OnceCell<Arc<Network>>,
    /// What each request to the engine took.
    steps: Steps,
    reaper: ReaperPipe,
    /// Server containers started ahead ([`Runtime::prepare`]), waiting for
    /// their command: (image, container id).
    pending: Mutex<Vec<(String, String)>>,
    /// Numbers the server containers.
    servers: std::sync::atomic::AtomicUsize,
}

impl DockerRuntime {
    /// Connect, sweep what dead runs left, and start this run's reaper.
    pub(crate) async fn start(run_id: &str, cache_dir: &Path) -> Result<Self, RuntimeError> {
        let steps = Steps::default();
        let docker = steps.time("engine_connect", engine::connect()).await?;
        // What dead runs left goes while this run starts (it never touches
        // the objects of a live run).
        tokio::spawn(cleanup::sweep_dead(docker.clone()));
        let reaper = steps
            .time("reaper_spawn", cleanup::spawn_reaper(run_id, cache_dir))
            .await;
        Ok(Self {
            docker,
            run_id: run_id.to_string(),
            network: tokio::sync::OnceCell::new(),
            steps,
            reaper: Arc::new(Mutex::new(reaper)),
            pending: Mutex::new(Vec::new()),
            servers: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The run's private network, made on first use.
    async fn network(&self) -> Result<Arc<Network>, RuntimeError> {
        self.network
            .get_or_try_init(|| async {
                let creating = Instant::now();
                let name = format!("replay-{}", self.run_id);
                let created = self
                    .docker
                    .create_network(NetworkCreateRequest {
                        name: name.clone(),
                        driver: Some("bridge".into()),
                        labels: Some(self.labels()),
                        ..Default::default()
                    })
                    .await
                    .map_err(docker_error(format!("create the network {name}")))?;
                let subnet = self
                    .docker
                    .inspect_network(&created.id, None)
                    .await
                    .ok()
                    .and_then(|n| n.ipam)
                    .and_then(|ipam| ipam.config)
                    .and_then(|configs| configs.into_iter().find_map(|c| c.subnet))
                    .unwrap_or_else(|| "samenet".into());
                self.steps.add("network.create", creating.elapsed());
                Ok(Arc::new(Network { name, subnet }))
            })
            .await
            .cloned()
    }

    fn labels(&self) -> HashMap<String, String> {
        run_labels(&self.run_id)
    }

    /// The placeholders inside a revision's container.
    fn vars(&self, run: &RunContext<'_>, with_secrets: bool) -> Vars {
        let mut vars = Vars::default();
        vars.set("checkout", context::SRC);
        vars.set("env", context::ENV);
        vars.set("target_dir", context::TARGET);
        vars.set("wheels", context::WHEELS);
        if with_secrets {
            vars.set("master_key", run.master_key.to_string());
        }
        vars
    }

    /// Create and start a container on the run's network.
    async fn run_container(&self, spec: ContainerSpec<'_>) -> Result<String, RuntimeError> {
        let ContainerSpec {
            step,
            name,
            image,
            cmd,
            env,
            files,
            port,
            aliases,
            user,
            stdin,
        } = spec;
        let network = self.network().await?;
        let port_key = port.map(|p| format!("{p}/tcp"));
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(cmd),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            user: user.map(str::to_string),
            labels: Some(self.labels()),
            // A command container reads its start script from its stdin
            // ([`DockerRuntime::feed`]), once, then the stdin closes.
            open_stdin: stdin.then_some(true),
            stdin_once: stdin.then_some(true),
            attach_stdin: stdin.then_some(true),
            // API 1.41 publishes a port only when it is exposed too.
            exposed_ports: port_key.clone().map(|k| vec![k]),
            host_config: Some(HostConfig {
                network_mode: Some(network.name.clone()),
                port_bindings: port_key.map(|k| {
                    HashMap::from([(
                        k,
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(String::new()),
                        }]),
                    )])
                }),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.name.clone(),
                    EndpointSettings {
                        aliases: Some(aliases),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let created = self
            .steps
            .time(
                format!("{step}.create"),
                self.docker.create_container(Some(options), body),
            )
            .await
            .map_err(docker_error(format!("create the container {name}")))?;
        // Secrets reach the container as files, copied in before it starts:
        // `docker inspect` shows its environment and command, never them.
        if !files.is_empty() {
            let options = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
                .path("/")
                .build();
            let tar = files_tar(&files).map_err(|source| RuntimeError::Io {
                context: format!("pack the files of the container {name}"),
                source,
            });
            let uploaded = match tar {
                Ok(tar) => self
                    .steps
                    .time(
                        format!("{step}.upload"),
                        self.docker.upload_to_container(
                            &created.id,
                            Some(options),
                            bollard::body_full(tar.into()),
                        ),
                    )
                    .await
                    .map_err(docker_error(format!(
                        "copy files into the container {name}"
                    ))),
                Err(error) => Err(error),
            };
            if let Err(error) = uploaded {
                remove_container(&self.docker, &created.id).await;
                return Err(error);
            }
        }
        let start = self.docker.start_container(&created.id, None);
        if let Err(error) = self.steps.time(format!("{step}.start"), start).await {
            remove_container(&self.docker, &created.id).await;
            return Err(docker_error(format!("start the container {name}"))(error));
        }
        Ok(created.id)
    }

    /// The host port a container's `port` is published on (the engine fills it in shortly after start).
    async fn host_port(&self, id: &str, port: u16) -> Result<u16, RuntimeError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let inspect = self
                .docker
                .inspect_container(id, None)
                .await
                .map_err(docker_error(format!("inspect the container {id}")))?;
            let found = inspect
                .network_settings
                .and_then(|n| n.ports)
                .and_then(|ports| ports.get(&format!("{port}/tcp")).cloned().flatten())
                .and_then(|bindings| {
                    bindings
                        .into_iter()
                        .find_map(|b| b.host_port.and_then(|p| p.parse::<u16>().ok()))
                });
            if let Some(port) = found {
                return Ok(port);
            }
            if Instant::now() > deadline {
                return Err(RuntimeError::Io {
                    context: format!("the engine published no host port for {port}/tcp of {id}"),
                    source: std::io::Error::other("no port"),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Give a command container (started with `stdin`) its start script,
    /// through its stdin: `docker inspect` shows neither the script nor the
    /// environment it exports, and no file of it is left in the container.
    async fn feed(&self, id: &str, script: &str, step: &str) -> Result<(), RuntimeError> {
        use tokio::io::AsyncWriteExt;
        let feeding = Instant::now();
        let options = bollard::query_parameters::AttachContainerOptionsBuilder::default()
            .stdin(true)
            .stream(true)
            .build();
        let attached = self
            .docker
            .attach_container(id, Some(options))
            .await
            .map_err(docker_error(format!("attach to the container {id}")))?;
        let mut input = attached.input;
        let written = async {
            input.write_all(script.as_bytes()).await?;
            input.flush().await?;
            input.shutdown().await
        }
        .await;
        drop(input);
        drop(attached.output);
        written.map_err(|source| RuntimeError::Io {
            context: format!("give the container {id} its command"),
            source,
        })?;
        self.steps.add(format!("{step}.feed"), feeding.elapsed());
        Ok(())
    }

    /// Run one command to its end in a container on the run's network.
    async fn run_to_end(
        &self,
        run: &RunContext<'_>,
        spec: ContainerSpec<'_>,
        script: &str,
        log: &Path,
    ) -> Result<Option<i64>, RuntimeError> {
        let step = spec.step.to_string();
        let id = self.run_container(spec).await?;
        if let Err(error) = self.feed(&id, script, &step).await {
            remove_container(&self.docker, &id).await;
            return Err(error);
        }
        let logs = follow_logs(
            self.docker.clone(),
            id.clone(),
            log.to_path_buf(),
            self.redactor(run),
        );
        let status = tokio::select! {
            status = wait_exit(&self.docker, &id) => Some(status),
            _ = run.cancel.cancelled() => None,
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), logs).await;
        remove_container(&self.docker, &id).await;
        match status {
            None => Err(RuntimeError::Interrupted),
            Some(code) => Ok(code),
        }
    }

    /// Start a server container of `image`, its port published, waiting for
    /// its start script on stdin.
    async fn start_server(
        &self,
        run: &RunContext<'_>,
        image: &str,
        port: u16,
        label: &str,
    ) -> Result<String, RuntimeError> {
        let n = self
            .servers
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = container_name(run.id, &format!("server-{label}-{n}"));
        let step = format!("{label}.server");
        self.run_container(ContainerSpec {
            step: &step,
            name: &name,
            image,
            cmd: command_container(),
            env: vec![],
            files: vec![],
            port: Some(port),
            aliases: vec![],
            user: Some(context::USER),
            stdin: true,
        })
        .await
    }

    /// A revision's image: its name (the hash of its context) and its
    /// context, written into the run's folder (to build it from when it is missing).
    async fn plan(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        checkout: &Checkout,
    ) -> Result<Planned, RuntimeError> {
        let recipe = target.docker()?;
        let say = |line: &str| eprintln!("{line}");
        let step = |what: &str| format!("{}.{what}", checkout.label);
        let looking = Instant::now();
        let (base, _) = images::ensure(
            &self.docker,
            &recipe.image,
            run.cache_dir,
            run.logs,
            run.cancel,
            &say,
        )
        .await?;
        self.steps.add(step("base_image"), looking.elapsed());
        let contexting = Instant::now();
        let log = run.logs.join(log_name(&checkout.label, "build"));
        let vars = self.vars(run, false);
        let failed = build_failed(checkout, log.clone());
        let workdir = target.workdir(&checkout.dir);
        if !workdir.is_dir() {
            return Err(failed(
                format!("cd {}", target.workdir.display()),
                format!(
                    "the target's workdir `{}` is not a folder in this revision",
                    target.workdir.display()
                ),
            ));
        }
        let mut argvs = Vec::new();
        for line in &recipe.build.run {
            argvs.push(line.render(&vars).map_err(|e| {
                failed(
                    line.source.clone(),
                    format!("cannot be filled in inside a container: {e}"),
                )
            })?);
        }
        // Every file an input names (a glob: each file it matches) that the
        // revision has; a required one it lacks was refused by the build key.
        let patterns: Vec<&str> = recipe
            .build
            .inputs
            .iter()
            .map(|input| input.pattern.as_str())
            .collect();
        // A folder counts as every file below it, as in the build key.
        let mut inputs: Vec<String> = crate::support::cache::expand_inputs(&workdir, &patterns)
            .into_iter()
            .flatten()
            .flat_map(|path| files_of(&path))
            .filter_map(|path| {
                path.strip_prefix(&workdir)
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned())
            })
            .collect();
        // Each file once (a file and its folder may both be named), in order.
        let mut seen = std::collections::HashSet::new();
        inputs.retain(|input| seen.insert(input.clone()));
        let wheels = if recipe.wheels.is_empty() {
            None
        } else {
            Some(wheels::prepare(run, target, recipe, checkout, &log).await?)
        };
        let env = environment::image(target, &vars);
        let passed: Vec<&str> = target.pass_env.iter().map(|(n, _)| n.as_str()).collect();
        // Host files (`host_files`): checked before the run started; the
        // context holds their contents, so they name the image too.
        let files: Vec<(String, PathBuf)> = target
            .host_files()
            .into_iter()
            .map(|(_, host, inside)| (inside, host))
            .collect();
        let dockerfile = context::dockerfile(&context::Recipe {
            base: &base,
            workdir: &target.workdir,
            inputs: &inputs,
            has_wheels: wheels.is_some(),
            has_files: !files.is_empty(),
            env: &env,
            args: &passed,
            run: &argvs,
        });
        let written = context::write(
            &context::Parts {
                dockerfile: &dockerfile,
                checkout: &checkout.dir,
                workdir: &target.workdir,
                helpers: &target.helpers,
                inputs: &inputs,
                wheels: wheels.as_deref(),
                files: &files,
            },
            &run.dir
                .join("contexts")
                .join(format!("{}.tar", log_name(&checkout.label, "context"))),
        )?;
        // The ambient variables the target passes change what it builds.
        let name = {
            // The variant only when there is one, so that other images keep their names.
            let ambient = target.ambient_key();
            let variant = target.variant_key();
            let mut parts: Vec<&[u8]> = vec![written.hash.as_bytes(), ambient.as_slice()];
            if !variant.is_empty() {
                parts.push(variant.as_slice());
            }
            crate::support::cache::key(&parts)
        };
        let image = format!("replay/rev:{}", &name[..20]);
        self.steps.add(step("context"), contexting.elapsed());
        Ok(Planned {
            image,
            tar: written.tar,
            log,
        })
    }

    fn redactor(&self, run: &RunContext<'_>) -> Arc<Redactor> {
        let mut redactor = (*run.redactor).clone();
        redactor.know(run.db_password, "db_password");
        Arc::new(redactor)
    }
}

/// The files an input names: itself, or every file below a folder (sorted;
/// links are not followed into folders).
fn files_of(path: &Path) -> Vec<PathBuf> {
    let Ok(meta) = path.symlink_metadata() else {
        return Vec::new();
    };
    if !meta.is_dir() {
        return if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries.iter().flat_map(|entry| files_of(entry)).collect()
}

/// A revision's image, before it is looked up or built.
struct Planned {
    image: String,
    /// Its build context.
    tar: PathBuf,
    /// The build's log.
    log: PathBuf,
}

/// A file copied into a container before it starts.
struct File {
    /// Relative to `/`.
    path: String,
    contents: Vec<u8>,
    mode: u32,
    uid: u64,
}

/// The files and their folders, as the tar the engine extracts at `/`.
fn files_tar(files: &[File]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut dirs: Vec<String> = Vec::new();
    for file in files {
        if let Some((dir, _)) = file.path.rsplit_once('/')
            && !dirs.iter().any(|d| d == dir)
        {
            dirs.push(dir.to_string());
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.set_mode(0o700);
            header.set_uid(file.uid);
            header.set_gid(file.uid);
            header.set_mtime(0);
            header.set_cksum();
            tar.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(file.contents.len() as u64);
        header.set_mode(file.mode);
        header.set_uid(file.uid);
        header.set_gid(file.uid);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, &file.path, file.contents.as_slice())?;
    }
    tar.into_inner()
}

/// The start script of a command container: its environment (secrets
/// included) and its command, read by `sh -s` from the container's stdin.
fn start_script(env: &[(String, String)], argv: &[String]) -> String {
    let mut text = String::new();
    for (key, value) in env {
        text.push_str(&format!("export {key}={}\n", shell_words::quote(value)));
    }
    text.push_str(&format!("exec {}\n", shell_words::join(argv)));
    text
}

/// The command of a command container: `sh` waits for its start script on
/// stdin ([`DockerRuntime::feed`]), so the container can start before the
/// script is known.
fn command_container() -> Vec<String> {
    vec!["sh".into(), "-s".into()]
}

/// A container to start on the run's network.
struct ContainerSpec<'a> {
    /// What its steps are named by (`postgres`, `parent-1a2b3c4.server`).
    step: &'a str,
    name: &'a str,
    image: &'a str,
    cmd: Vec<String>,
    /// Seen by `docker inspect`: never a secret.
    env: Vec<(String, String)>,
    files: Vec<File>,
    /// Published on 127.0.0.1 (an ephemeral host port).
    port: Option<u16>,
    aliases: Vec<String>,
    user: Option<&'a str>,
    /// Waits for its start script on stdin ([`command_container`]).
    stdin: bool,
}

/// Stream a container's output into `log` (redacted) until it ends.
fn follow_logs(
    docker: Docker,
    id: String,
    log: PathBuf,
    redactor: Arc<Redactor>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        use std::io::Write;
        let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
        else {
            return;
        };
        let options = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut stream = docker.logs(&id, Some(options));
        let mut pending = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            pending.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                let _ = writeln!(file, "{}", redactor.apply(line.trim_end_matches('\n')));
            }
        }
        if !pending.is_empty() {
            let _ = writeln!(file, "{}", redactor.apply(&pending));
        }
    })
}

/// Wait for a container to exit; its exit code (None when the engine cannot say).
async fn wait_exit(docker: &Docker, id: &str) -> Option<i64> {
    let mut stream = docker.wait_container(id, None);
    match stream.next().await {
        Some(Ok(response)) => Some(response.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Some(code),
        _ => None,
    }
}

async fn remove_container(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    let _ = docker.remove_container(id, Some(options)).await;
}

/// A file name for a revision's logs.
fn log_name(label: &str, stage: &str) -> String {
    let clean: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{clean}-{stage}.log")
}

/// A container name: the run id and what it is.
fn container_name(run_id: &str, what: &str) -> String {
    let clean: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("replay-{run_id}-{clean}")
}

struct DockerPostgres {
    docker: Docker,
    steps: Steps,
    run_id: String,
    reaper: ReaperPipe,
    container: String,
    host_port: u16,
    password: String,
    /// The cache's credential: what a kept template image's cluster holds.
    credential: String,
}

/// The cache's credential for template images (a random password in a file
/// only the tool's user can read, as the local runtime's cluster cache has).
fn template_credential(cache_dir: &Path) -> Result<String, RuntimeError> {
    crate::runtime::local::postgres::entry_credential(&cache_dir.join("docker").join("postgres"))
}

/// The template image of a migrated template `key` whose cluster holds
/// `credential`: named by both (a cache with another credential keeps its
/// own), the credential by a hash only.
fn template_image(key: &str, credential: &str) -> String {
    images::template_tag(&crate::support::cache::key(&[
        key.as_bytes(),
        b"credential",
        crate::support::cache::key(&[credential.as_bytes()]).as_bytes(),
    ]))
}

impl DockerPostgres {
    fn url_with(&self, password: &str, database: &str) -> String {
        crate::runtime::own_cluster_url(password, self.host_port, database)
    }
}

#[async_trait]
impl Postgres for DockerPostgres {
    fn url(&self, database: &str) -> String {
        self.url_with(&self.password, database)
    }

    fn server_url(&self, database: &str) -> String {
        format!("postgresql://postgres:{}@db:5432/{database}", self.password)
    }

    async fn stop(self: Box<Self>, keep: Option<&KeptTemplate>) {
        self.stop_with(Vec::new(), keep).await;
    }

    /// A template is kept once no server uses the cluster; then every
    /// container of the run (servers, Postgres, any started ahead and not
    /// used) and its network go ([`finish`]).
    async fn stop_with(
        self: Box<Self>,
        servers: Vec<Box<dyn Server>>,
        keep: Option<&KeptTemplate>,
    ) {
        if let Some(keep) = keep {
            futures::future::join_all(servers.into_iter().map(|s| s.stop())).await;
            let kept = self.steps.time("postgres.keep", self.keep(keep)).await;
            if let Err(why) = kept {
                tracing::warn!("cannot keep the template {}: {why}", keep.database);
            }
        } else {
            // Their log followers end with their containers.
            drop(servers);
        }
        let finishing = finish(&self.docker, &self.run_id, &self.reaper);
        self.steps.time("teardown", finishing).await;
    }
}

/// A failed build step of `checkout`: its command, status and the tail of its log.
fn build_failed(checkout: &Checkout, log: PathBuf) -> impl Fn(String, String) -> RuntimeError + '_ {
    move |command, status| RuntimeError::Stage {
        stage: Stage::Build,
        revision: checkout.label.clone(),
        command,
        status,
        tail: crate::runtime::local::process::log_tail(&log, 20),
        log: log.clone(),
    }
}

/// The run's teardown: every container and the network with the run's
/// label. The reaper, already connected to the engine, removes them (in
/// parallel) as soon as the run closes its pipe; the run waits until the
/// engine lists none of them, so nothing of a finished run is left when the
/// tool exits. Without a reaper, the run removes them itself. Only this
/// process's objects: another run under the same `REPLAY_RUN_ID` keeps its own.
async fn finish(docker: &Docker, run_id: &str, reaper: &ReaperPipe) {
    let pid = std::process::id();
    let handed = reaper.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(reaper) = handed else {
        cleanup::remove_run(docker, run_id, pid).await;
        return;
    };
    drop(reaper.pipe);
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match cleanup::containers_and_networks(docker, run_id, Some(pid)).await {
            Ok(left) if left.is_empty() => return,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            // The engine stopped answering, or the removals take too long:
            // remove what is left here (the reaper keeps trying too).
            _ => {
                let swept = cleanup::remove_run(docker, run_id, pid).await;
                tracing::warn!(
                    ?swept,
                    "the reaper had not removed run {run_id}'s objects within 60 s; removed them here (`replay gc` removes what is still left)"
                );
                return;
            }
        }
    }
}

impl DockerPostgres {
    /// Keep the migrated template for later runs: drop every other database,
    /// stop Postgres cleanly, and commit the container as the template's
    /// image (the cluster's files are in its layer; no password file is).
    async fn keep(&self, keep: &KeptTemplate) -> Result<(), String> {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .map_err(|e| e.to_string())?;
        let names: Vec<(String,)> = sqlx::query_as(
            "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') AND datname <> $1",
        )
        .bind(&keep.database)
        .fetch_all(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
        for (name,) in names {
            let sql = format!("DROP DATABASE \"{name}\" WITH (FORCE)");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut connection)
                .await
                .map_err(|e| e.to_string())?;
        }
        // The kept cluster holds the cache's credential, never this run's password.
        crate::runtime::local::postgres::set_password(&mut connection, &self.credential)
            .await
            .map_err(|e| e.to_string())?;
        connection.close().await.ok();
        // SIGINT: Postgres's fast shutdown, a consistent cluster on disk.
        let options = bollard::query_parameters::KillContainerOptionsBuilder::default()
            .signal("SIGINT")
            .build();
        self.docker
            .kill_container(&self.container, Some(options))
            .await
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(
            Duration::from_secs(30),
            wait_exit(&self.docker, &self.container),
        )
        .await
        {
            Ok(Some(0)) => {}
            Ok(code) => return Err(format!("Postgres stopped with {code:?}")),
            Err(_) => return Err("Postgres did not stop within 30s".into()),
        }
        let image = template_image(&keep.key, &self.credential);
        let (repo, tag) = image.split_once(':').expect("a tag has a colon");
        let options = bollard::query_parameters::CommitContainerOptionsBuilder::default()
            .container(&self.container)
            .repo(repo)
            .tag(tag)
            .pause(false)
            .build();
        let config = bollard::models::ContainerConfig {
            labels: Some(HashMap::from([
                (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
                (CACHE_LABEL.to_string(), "template".to_string()),
            ])),
            ..Default::default()
        };
        self.docker
            .commit_container(options, config)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

struct DockerServer {
    docker: Docker,
    steps: Steps,
    /// What its steps are named by.
    step: String,
    id: String,
    info: ServerInfo,
    exit: Arc<Mutex<Option<String>>>,
    logs: Option<JoinHandle<()>>,
    waiter: JoinHandle<()>,
}

#[async_trait]
impl Server for DockerServer {
    fn info(&self) -> &ServerInfo {
        &self.info
    }

    fn exited(&mut self) -> Option<String> {
        self.exit.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn flush_log(&mut self) {
        if let Some(logs) = self.logs.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), logs).await;
        }
    }

    async fn stop(mut self: Box<Self>) {
        self.steps
            .time(
                format!("{}.remove", self.step),
                remove_container(&self.docker, &self.id),
            )
            .await;
        self.waiter.abort();
        self.flush_log().await;
    }
}

/// The Postgres container's start, as root. A fresh cluster is initdb'd with
/// the run's password, from a file copied in before the start (removed at
/// once). A kept one (a template image) holds the cache's credential instead
/// (see [`template_image`]): the tool's first connection, from the host,
/// gives `postgres` the run's password before anyone else gets an address, as
/// the local runtime does (no single-user start of the cluster). Every
/// connection needs a password (scram-sha-256), from the run's network only;
/// the server runs as `postgres`.
const POSTGRES_SCRIPT: &str = r#"set -eu
umask 077
D=/var/lib/postgresql/replay
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$D/PG_VERSION" ]; then
  pw=$(cat /run/replay/pgpass)
  rm -rf /run/replay
  install -d -o postgres -g postgres -m 700 "$D"
  f=$(mktemp)
  printf '%s\n' "$pw" > "$f"
  chown postgres "$f"
  as_pg "$PG_BIN/initdb" -D "$D" --username=postgres --pwfile="$f" --auth=scram-sha-256 --encoding=UTF8 --no-locale --no-sync >/dev/null
  rm -f "$f"
fi
printf 'local all all scram-sha-256\nhost all all %s scram-sha-256\n' "$REPLAY_PG_NETWORK" > "$D/pg_hba.conf"
chown postgres "$D/pg_hba.conf"
exec setpriv --reuid=postgres --regid=postgres --init-groups "$PG_BIN/postgres" -D "$D" -c listen_addresses='*' -c unix_socket_directories=/tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400
"#;

#[async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    fn steps(&self) -> Steps {
        self.steps.clone()
    }

    async fn postgres(
        &self,
        run: &RunContext<'_>,
        preload: Option<&str>,
    ) -> Result<PostgresStarted, RuntimeError> {
        let preparing = Instant::now();
        let say = |line: &str| eprintln!("{line}");
        let looking = Instant::now();
        let (base, cached) = images::ensure(
            &self.docker,
            &images::postgres_recipe(),
            run.cache_dir,
            run.logs,
            run.cancel,
            &say,
        )
        .await?;
        // A template an earlier run kept: its image holds the migrated cluster.
        let credential = template_credential(run.cache_dir)?;
        let mut preloaded = None;
        let mut image = base.clone();
        if let Some(key) = preload.filter(|_| !run.no_cache) {
            let kept = template_image(key, &credential);
            if images::exists(&self.docker, &kept).await? {
                image = kept;
                preloaded = Some(KeptTemplate::of(key));
            }
        }
        self.steps.add("postgres.image_lookup", looking.elapsed());
        // Made here unless a revision's container made it first.
        let network = self.network().await?;
        let copy = preparing.elapsed();
        let starting = Instant::now();
        // When nothing else is on it yet; else the reaper removes it.
        let stop_network = || async {
            let _ = self.docker.remove_network(&network.name).await;
        };
        let id = match self
            .run_container(ContainerSpec {
                step: "postgres",
                name: &container_name(run.id, "postgres"),
                image: &image,
                cmd: vec!["sh".into(), "-c".into(), POSTGRES_SCRIPT.into()],
                env: vec![
                    ("REPLAY_PG_NETWORK".into(), network.subnet.clone()),
                    ("PG_BIN".into(), images::POSTGRES_BIN.into()),
                ],
                // A kept cluster gets the run's password over the first connection.
                files: match preloaded {
                    Some(_) => vec![],
                    None => vec![File {
                        path: "run/replay/pgpass".into(),
                        contents: run.db_password.as_bytes().to_vec(),
                        mode: 0o400,
                        uid: 0,
                    }],
                },
                port: Some(5432),
                aliases: vec!["db".into()],
                user: Some("0"),
                stdin: false,
            })
            .await
        {
            Ok(id) => id,
            Err(error) => {
                stop_network().await;
                return Err(error);
            }
        };
        let log = run.logs.join("postgres.log");
        let logs = follow_logs(
            self.docker.clone(),
            id.clone(),
            log.clone(),
            self.redactor(run),
        );
        let postgres = DockerPostgres {
            docker: self.docker.clone(),
            steps: self.steps.clone(),
            run_id: self.run_id.clone(),
            reaper: self.reaper.clone(),
            container: id.clone(),
            host_port: 0,
            password: run.db_password.to_string(),
            credential: credential.clone(),
        };
        let ready = async {
            let port = self.host_port(&id, 5432);
            let host_port = match self.steps.time("postgres.port", port).await {
                Ok(port) => port,
                Err(error) => return Err((error, postgres)),
            };
            let probing = Instant::now();
            let postgres = DockerPostgres {
                host_port,
                ..postgres
            };
            // Readiness: a SQL probe from the host, through the published
            // port, every few milliseconds (a refused connection is cheap);
            // the container's exit is watched by one request to the engine,
            // not asked for at every probe.
            let url = match preloaded {
                Some(_) => postgres.url_with(&credential, "postgres"),
                None => postgres.url("postgres"),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            let exit = wait_exit(&self.docker, &id);
            tokio::pin!(exit);
            let (mut watching, mut exited) = (true, false);
            loop {
                if run.cancel.is_cancelled() {
                    return Err((RuntimeError::Interrupted, postgres));
                }
                use sqlx::Connection;
                match sqlx::PgConnection::connect(&url).await {
                    Ok(mut connection) => {
                        let set = match preloaded {
                            Some(_) => {
                                crate::runtime::local::postgres::set_password(
                                    &mut connection,
                                    run.db_password,
                                )
                                .await
                            }
                            None => Ok(()),
                        };
                        connection.close().await.ok();
                        self.steps.add("postgres.ready", probing.elapsed());
                        return match set {
                            Ok(()) => Ok(postgres),
                            Err(error) => Err((
                                RuntimeError::Postgres {
                                    action: format!("set the run's password ({error})"),
                                    command: format!("the Postgres container of {image}"),
                                    log: log.clone(),
                                    tail: crate::runtime::local::process::log_tail(&log, 20),
                                },
                                postgres,
                            )),
                        };
                    }
                    // Listening, but the credential is refused: waiting will not help.
                    Err(sqlx::Error::Database(error))
                        if error.code().as_deref() == Some("28P01") =>
                    {
                        return Err((
                            RuntimeError::Postgres {
                                action: "start (the template image refuses the cache's credential; `replay gc` removes the images)".into(),
                                command: format!("the Postgres container of {image}"),
                                log: log.clone(),
                                tail: crate::runtime::local::process::log_tail(&log, 20),
                            },
                            postgres,
                        ));
                    }
                    Err(_) => {}
                }
                if watching {
                    tokio::select! {
                        code = &mut exit => match code {
                            Some(_) => exited = true,
                            // The engine cannot say: ask it at every probe.
                            None => watching = false,
                        },
                        _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    exited = self
                        .docker
                        .inspect_container(&id, None)
                        .await
                        .ok()
                        .and_then(|c| c.state)
                        .is_some_and(|s| s.running == Some(false));
                }
                if exited || Instant::now() > deadline {
                    let _ = tokio::time::timeout(Duration::from_secs(2), logs).await;
                    return Err((
                        RuntimeError::Postgres {
                            action: if exited {
                                "start (the container exited)".into()
                            } else {
                                "start (not ready after 60s)".into()
                            },
                            command: format!("the Postgres container of {image}"),
                            log: log.clone(),
                            tail: crate::runtime::local::process::log_tail(&log, 20),
                        },
                        postgres,
                    ));
                }
            }
        };
        match ready.await {
            Ok(postgres) => Ok(PostgresStarted {
                postgres: Box::new(postgres),
                cached,
                copy,
                start: starting.elapsed(),
                preloaded,
            }),
            Err((error, postgres)) => {
                Box::new(postgres).stop(None).await;
                Err(error)
            }
        }
    }

    async fn build(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        checkout: &Checkout,
    ) -> Result<Build, RuntimeError> {
        let started = Instant::now();
        let Planned { image, tar, log } = self.plan(run, target, checkout).await?;
        let step = |what: &str| format!("{}.{what}", checkout.label);
        let failed = build_failed(checkout, log.clone());
        let looking = Instant::now();
        let cached = !run.no_cache && images::exists(&self.docker, &image).await?;
        self.steps.add(step("image_lookup"), looking.elapsed());
        let building = Instant::now();
        if !cached {
            let args: HashMap<String, String> = target
                .pass_env_in_container()
                .into_iter()
                .filter_map(|(n, v)| Some((n, v?)))
                .collect();
            let built = build_image(
                &self.docker,
                run,
                &tar,
                &image,
                &args,
                &log,
                &self.redactor(run),
            )
            .await;
            let _ = std::fs::remove_file(&tar);
            if let Err((command, status)) = built {
                if run.cancel.is_cancelled() {
                    return Err(RuntimeError::Interrupted);
                }
                return Err(failed(command, status));
            }
        }
        let _ = std::fs::remove_file(&tar);
        if !cached {
            self.steps.add(step("image_build"), building.elapsed());
        }
        Ok(Build {
            checkout: checkout.clone(),
            env_dir: PathBuf::from(image),
            cache_hit: cached,
            duration: started.elapsed(),
        })
    }

    /// While Postgres starts: the revision's image when it is there already,
    /// and its server container, started, waiting for its command (which
    /// names its database: [`Runtime::boot`] gives it). Nothing when the
    /// image is missing (the build makes it; a failure is the build's to say).
    async fn prepare(&self, run: &RunContext<'_>, target: &Target, checkout: &Checkout) {
        let preparing = Instant::now();
        let ready = async {
            let port = target.docker()?.port;
            let Planned { image, tar, .. } = self.plan(run, target, checkout).await?;
            let _ = std::fs::remove_file(&tar);
            if run.no_cache || !images::exists(&self.docker, &image).await? {
                return Ok(());
            }
            let id = self
                .start_server(run, &image, port, &checkout.label)
                .await?;
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((image, id));
            Ok::<_, RuntimeError>(())
        };
        if let Err(error) = ready.await {
            tracing::debug!("cannot start {} ahead: {error}", checkout.label);
        }
        self.steps
            .add(format!("{}.prepare", checkout.label), preparing.elapsed());
    }

    async fn migrate(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        build: &Build,
        database: &Database,
    ) -> Result<(), RuntimeError> {
        let recipe = target.docker()?;
        let image = build.env_dir.to_string_lossy().into_owned();
        let mut vars = self.vars(run, true);
        vars.set("database_url", database.server_url.clone());
        let env = environment::container(target, &vars);
        let log = run.logs.join(log_name(&build.checkout.label, "migrate"));
        for (n, line) in recipe.migrate.run.iter().enumerate() {
            let failed = |status: String| RuntimeError::Stage {
                stage: Stage::Migrate,
                revision: build.checkout.label.clone(),
                command: line.source.clone(),
                status,
                log: log.clone(),
                tail: crate::runtime::local::process::log_tail(&log, 20),
            };
            let argv = line
                .render(&vars)
                .map_err(|e| failed(format!("cannot be filled in: {e}")))?;
            let name = container_name(
                run.id,
                &format!("migrate-{}-{}-{n}", build.checkout.label, database.name),
            );
            let step = format!("{}.migrate", build.checkout.label);
            let spec = ContainerSpec {
                step: &step,
                name: &name,
                image: &image,
                cmd: command_container(),
                env: vec![],
                files: vec![],
                port: None,
                aliases: vec![],
                user: Some(context::USER),
                stdin: true,
            };
            let script = start_script(&env, &argv);
            match self.run_to_end(run, spec, &script, &log).await? {
                Some(0) => {}
                Some(code) => return Err(failed(format!("exited with code {code}"))),
                None => return Err(failed("the engine lost the container".into())),
            }
        }
        Ok(())
    }

    async fn boot(
        &self,
        run: &RunContext<'_>,
        target: &Target,
        build: &Build,
        database: &Database,
    ) -> Result<Box<dyn Server>, RuntimeError> {
        let recipe: &DockerRecipe = target.docker()?;
        let image = build.env_dir.to_string_lossy().into_owned();
        let mut vars = self.vars(run, true);
        vars.set("database_url", database.server_url.clone());
        vars.set("host", "0.0.0.0");
        vars.set("port", recipe.port.to_string());
        let log = run.logs.join(log_name(&build.checkout.label, "boot"));
        let failed = |command: String, status: String| RuntimeError::Stage {
            stage: Stage::Boot,
            revision: build.checkout.label.clone(),
            command,
            status,
            log: log.clone(),
            tail: crate::runtime::local::process::log_tail(&log, 20),
        };
        let argv = recipe.boot.render(&vars).map_err(|e| {
            failed(
                recipe.boot.source.clone(),
                format!("cannot be filled in: {e}"),
            )
        })?;
        let command = shell_words::join(&argv);
        let step = format!("{}.server", build.checkout.label);
        // A container started ahead for this image, else one started now.
        let ahead = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let found = pending.iter().position(|(i, _)| *i == image);
            found.map(|n| pending.remove(n).1)
        };
        let id = match ahead {
            Some(id) => id,
            None => {
                self.start_server(run, &image, recipe.port, &build.checkout.label)
                    .await?
            }
        };
        let script = start_script(&environment::container(target, &vars), &argv);
        if let Err(error) = self.feed(&id, &script, &step).await {
            remove_container(&self.docker, &id).await;
            return Err(error);
        }
        let logs = follow_logs(
            self.docker.clone(),
            id.clone(),
            log.clone(),
            self.redactor(run),
        );
        let exit = Arc::new(Mutex::new(None));
        let waiter = {
            let (docker, id, exit) = (self.docker.clone(), id.clone(), exit.clone());
            tokio::spawn(async move {
                let code = wait_exit(&docker, &id).await;
                *exit.lock().unwrap_or_else(|e| e.into_inner()) = Some(match code {
                    Some(code) => format!("exit code {code}"),
                    None => "gone".into(),
                });
            })
        };
        let host_port = match self
            .steps
            .time(format!("{step}.port"), self.host_port(&id, recipe.port))
            .await
        {
            Ok(port) => port,
            Err(error) => {
                remove_container(&self.docker, &id).await;
                return Err(error);
            }
        };
        Ok(Box::new(DockerServer {
            docker: self.docker.clone(),
            steps: self.steps.clone(),
            step,
            id,
            info: ServerInfo {
                base_url: format!("http://127.0.0.1:{host_port}"),
                command: format!("{command} (in {image})"),
                log,
            },
            exit,
            logs: Some(logs),
            waiter,
        }))
    }
}

/// Build `image` from the context tar; the build's output goes to `log`.
/// On failure: the step that failed and the engine's message.
async fn build_image(
    docker: &Docker,
    run: &RunContext<'_>,
    tar: &Path,
    image: &str,
    args: &HashMap<String, String>,
    log: &Path,
    redactor: &Redactor,
) -> Result<(), (String, String)> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| {
            (
                "docker build".to_string(),
                format!("cannot open the log: {e}"),
            )
        })?;
    let context = tokio::fs::File::open(tar).await.map_err(|e| {
        (
            "docker build".to_string(),
            format!("cannot read the context: {e}"),
        )
    })?;
    let labels = HashMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (CACHE_LABEL.to_string(), "revision".to_string()),
    ]);
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(image)
        .rm(true)
        .forcerm(true)
        .nocache(run.no_cache)
        .labels(&labels)
        .buildargs(args)
        .build();
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(context));
    let mut stream = docker.build_image(options, None, Some(body));
    let mut step = String::from("docker build");
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = run.cancel.cancelled() => return Err((step, "interrupted".into())),
        };
        let Some(item) = item else { break };
        match item {
            Ok(info) => {
                if let Some(text) = info.stream {
                    for line in text.lines() {
                        if line.starts_with("Step ") {
                            step = line.to_string();
                        }
                        let _ = writeln!(file, "{}", redactor.apply(line));
                    }
                }
                if let Some(error) = info.error_detail.and_then(|d| d.message) {
                    let _ = writeln!(file, "{}", redactor.apply(&error));
                    return Err((step, redactor.apply(&error)));
                }
            }
            Err(error) => {
                let message = match &error {
                    bollard::errors::Error::DockerStreamError { error } => error.clone(),
                    other => other.to_string(),
                };
                let _ = writeln!(file, "{}", redactor.apply(&message));
                return Err((step, redactor.apply(&message)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_input_is_every_file_below_it_in_order_without_links_to_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("pkg/sub")).unwrap();
        std::fs::write(root.join("pkg/b.py"), "b").unwrap();
        std::fs::write(root.join("pkg/a.py"), "a").unwrap();
        std::fs::write(root.join("pkg/sub/c.py"), "c").unwrap();
        std::fs::write(root.join("top.toml"), "t").unwrap();
        // A link to a folder is not walked (it could lead out of the checkout, or round).
        std::os::unix::fs::symlink(root.join("pkg"), root.join("pkg/sub/loop")).unwrap();
        let names = |path: &Path| -> Vec<String> {
            files_of(path)
                .iter()
                .map(|p| p.strip_prefix(root).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            names(&root.join("pkg")),
            ["pkg/a.py", "pkg/b.py", "pkg/sub/c.py"]
        );
        assert_eq!(names(&root.join("top.toml")), ["top.toml"]);
        assert!(names(&root.join("absent")).is_empty());
    }
}
