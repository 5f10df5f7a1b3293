//! A throwaway Postgres cluster for one run.
//!
//! The cluster lives in the run's directory, listens on a free 127.0.0.1 port,
//! has no Unix socket, and trades durability for speed (fsync off). It trusts
//! no one: every connection authenticates with scram-sha-256 as `postgres`,
//! whose password is fresh for every run and reaches the tool and the server
//! only inside connection URLs (never argv, never a log). An initdb'd,
//! never-started data directory is cached by the server version, so most runs
//! copy it instead of running initdb.
//!
//! Every cluster of a cache entry (the initdb'd one and the kept templates) is
//! stored with the entry's credential: a random password in a file that only
//! the tool's user can read (mode 0600; when the tool runs as root, the server
//! user cannot). A started copy takes its first connection with it and, on that
//! connection, before the server or anyone else is given an address, the
//! `postgres` role gets the run's own password (sent as a scram verifier, so
//! the password itself never reaches the server). A cluster kept for later runs
//! is given the credential back before it is shut down and copied.
//! `initdb` and `postgres` refuse to run as root: when the tool runs as root,
//! they run as an unprivileged user (`postgres`, or `REPLAY_PG_USER`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid, User};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

use super::listener::Holder;
use super::process::{ProcessGroup, Spec, log_tail};
use crate::runtime::{KeptTemplate, RuntimeError};

/// Where the Postgres server binaries are.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub dir: PathBuf,
    /// What keys the cache entry of this server: the `postgres` binary's
    /// resolved path, size and modification time (known without running it).
    pub identity: String,
}

impl Binaries {
    /// `REPLAY_PG_BIN`, else `initdb` on PATH, else the newest Debian
    /// `/usr/lib/postgresql/<major>/bin`.
    pub(crate) fn find() -> Result<Self, RuntimeError> {
        let mut searched = Vec::new();
        let mut candidates = Vec::new();
        if let Some(dir) = std::env::var_os("REPLAY_PG_BIN") {
            candidates.push(PathBuf::from(dir));
        } else {
            if let Some(path) = std::env::var_os("PATH") {
                candidates.extend(std::env::split_paths(&path));
            }
            let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .filter_map(|e| {
                            Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin")))
                        })
                        .collect()
                })
                .unwrap_or_default();
            debian.sort();
            candidates.extend(debian.into_iter().rev().map(|(_, dir)| dir));
        }
        for dir in candidates {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                let identity = binary_identity(&dir.join("postgres"));
                return Ok(Self { dir, identity });
            }
            searched.push(dir);
        }
        Err(RuntimeError::PostgresMissing { searched })
    }

    fn bin(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

/// A binary's resolved path, size and modification time: another build or
/// version of the server (an upgrade replaces the file) is another identity.
fn binary_identity(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match std::fs::metadata(&real) {
        Ok(meta) => format!(
            "{} {} {}.{:09}",
            real.display(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec()
        ),
        Err(_) => real.display().to_string(),
    }
}

/// The user that runs initdb and postgres: none (ourselves) unless we are root.
pub(crate) fn server_user() -> Result<Option<(Uid, Gid)>, RuntimeError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = std::env::var("REPLAY_PG_USER").unwrap_or_else(|_| "postgres".into());
    match User::from_name(&name) {
        Ok(Some(user)) => Ok(Some((user.uid, user.gid))),
        _ => Err(RuntimeError::NoServerUser { name }),
    }
}

/// A started cluster. Stop it with [`Cluster::stop`]; dropping it kills it.
pub(crate) struct Cluster {
    pub port: u16,
    password: String,
    postmaster: Option<ProcessGroup>,
    data: PathBuf,
    /// The cache entry of this server version: `data` (initdb'd, never
    /// started) and `templates/<key>/` (kept clusters, each holding one
    /// migrated template database).
    entry: PathBuf,
    /// The migrated template this cluster was copied with.
    pub preloaded: Option<KeptTemplate>,
    /// The cache entry's credential: the password the cluster starts with.
    credential: String,
}

const INITDB_ARGS: &[&str] = &[
    "--auth=scram-sha-256",
    "--username=postgres",
    "--encoding=UTF8",
    "--no-locale",
    "--no-sync",
    "--no-instructions",
    // The smallest WAL segment: a fresh cluster holds one segment, and every
    // run copies the cluster (16 MB of an empty segment would be most of it).
    "--wal-segsize=1",
];

/// How long starting the cluster took: copying the cached data directory
/// (or running initdb), then starting the server until it takes connections.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StartTimings {
    pub copy: Duration,
    pub start: Duration,
}

impl Cluster {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start(
        binaries: &Binaries,
        run_dir: &Path,
        logs: &Path,
        cache_dir: &Path,
        run_id: &str,
        password: &str,
        cancel: &CancellationToken,
        preload: Option<&str>,
    ) -> Result<(Self, bool, StartTimings), RuntimeError> {
        let copying = Instant::now();
        let user = server_user()?;
        let io = |context: String| move |source| RuntimeError::Io { context, source };
        let root = run_dir.join("postgres");
        std::fs::create_dir_all(&root).map_err(io(format!("create {}", root.display())))?;
        // The server user must get through the run dir to its own folder.
        std::fs::set_permissions(run_dir, std::fs::Permissions::from_mode(0o711))
            .map_err(io(format!("chmod {}", run_dir.display())))?;
        chown(&root, user)?;
        let data = root.join("data");
        let log = logs.join("postgres.log");
        // initdb and postgres: in the cluster's folder, as the server user, into its log.
        let server_spec = |argv: Vec<String>| Spec {
            argv,
            cwd: root.clone(),
            // The fixed locale and time zone, none of the caller's PG* or LC_*.
            env: crate::runtime::environment::base(),
            user,
            log: log.clone(),
            redact: None,
        };

        let key = crate::support::cache::key(&[
            binaries.identity.as_bytes(),
            INITDB_ARGS.join(" ").as_bytes(),
            // The entry's clusters are stored with its credential (older
            // entries held the password of the run that made them).
            CREDENTIAL_FILE.as_bytes(),
        ]);
        let entry = cache_dir.join("postgres").join(&key[..16]);
        let credential = entry_credential(&entry)?;
        let cached = entry.join("data");
        let hit = cached.is_dir();
        let kept = preload.and_then(|key| kept_cluster(&entry, key));
        let mut preloaded = None;
        if let Some((kept, template)) = kept {
            copy_tree(&kept, &data, cancel).await?;
            preloaded = Some(template);
        } else if hit {
            copy_tree(&cached, &data, cancel).await?;
        } else {
            // The password file: readable by the server user only, gone once initdb read it.
            let pwfile = root.join("pwfile");
            write_private(&pwfile, &credential, user)?;
            let mut argv = vec![
                binaries.bin("initdb"),
                "-D".into(),
                data.to_string_lossy().into_owned(),
                format!("--pwfile={}", pwfile.display()),
            ];
            argv.extend(INITDB_ARGS.iter().map(|a| a.to_string()));
            let spec = server_spec(argv);
            let mut initdb = ProcessGroup::spawn(&spec, run_id).map_err(RuntimeError::spawn)?;
            let waited = initdb.wait(cancel).await;
            let _ = std::fs::remove_file(&pwfile);
            match waited {
                None => return Err(RuntimeError::Interrupted),
                Some(status) if !status.success() => {
                    return Err(RuntimeError::Postgres {
                        action: "initdb".into(),
                        command: spec.display(),
                        log: log.clone(),
                        tail: log_tail(&log, 20),
                    });
                }
                Some(_) => {}
            }
            // Keep a pristine copy; a concurrent run may win the rename, which is fine.
            let staging = entry.join(format!("data.tmp-{}", std::process::id()));
            // An interrupted or failed copy is removed, never renamed into the cache.
            let copied = copy_tree(&data, &staging, cancel).await.is_ok();
            if !copied || std::fs::rename(&staging, &cached).is_err() {
                let _ = std::fs::remove_dir_all(&staging);
            }
        }

        let copy = copying.elapsed();
        let starting = Instant::now();
        // A free port can be taken between the probe and the bind; try a few.
        let mut last_error = None;
        for attempt in 1..=3 {
            let port = super::listener::free_port()?;
            #[cfg(debug_assertions)]
            let _taken = take_port_for_tests(port, attempt);
            let argv = vec![
                binaries.bin("postgres"),
                "-D".into(),
                data.to_string_lossy().into_owned(),
                "-p".into(),
                port.to_string(),
                "-c".into(),
                "listen_addresses=127.0.0.1".into(),
                "-c".into(),
                "unix_socket_directories=".into(),
                "-c".into(),
                "fsync=off".into(),
                "-c".into(),
                "synchronous_commit=off".into(),
                "-c".into(),
                "full_page_writes=off".into(),
                "-c".into(),
                "max_connections=400".into(),
                // Few recycled WAL segments: a kept cluster is copied by every run.
                "-c".into(),
                "min_wal_size=2MB".into(),
            ];
            let spec = server_spec(argv);
            let postmaster = ProcessGroup::spawn(&spec, run_id).map_err(RuntimeError::spawn)?;
            let mut cluster = Self {
                port,
                password: password.to_string(),
                postmaster: Some(postmaster),
                data: data.clone(),
                entry: entry.clone(),
                preloaded: preloaded.clone(),
                credential: credential.clone(),
            };
            match cluster.wait_ready(cancel).await {
                Ok(()) => {
                    let start = starting.elapsed();
                    let hit = hit || cluster.preloaded.is_some();
                    return Ok((cluster, hit, StartTimings { copy, start }));
                }
                Err(error) => {
                    let interrupted = matches!(error, RuntimeError::Interrupted);
                    if interrupted || attempt == 3 {
                        cluster.stop().await;
                    } else {
                        // The next try starts the same data folder on another port.
                        cluster.halt().await;
                    }
                    if interrupted {
                        return Err(error);
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.expect("tried at least once"))
    }

    /// Wait until the server takes a connection with the entry's credential,
    /// then, on that first connection, give `postgres` the run's password.
    async fn wait_ready(&mut self, cancel: &CancellationToken) -> Result<(), RuntimeError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = self.url_with(&self.credential, "postgres");
        loop {
            if cancel.is_cancelled() {
                return Err(RuntimeError::Interrupted);
            }
            let postmaster = self.postmaster.as_mut().expect("started");
            if let Some(status) = postmaster.try_exit() {
                return Err(RuntimeError::Postgres {
                    action: format!("start ({status})"),
                    command: postmaster.command.clone(),
                    log: postmaster.log.clone(),
                    tail: postmaster.log_tail(20),
                });
            }
            // Who listens, asked only once something does (a refused
            // connection is cheap; the kernel's socket table is not).
            let listening = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok();
            let group = postmaster.pid().expect("running");
            let holder = match listening {
                true => super::listener::holder(self.port, group),
                false => Holder::Nobody,
            };
            if let Holder::Other(who) = &holder {
                // Our postmaster cannot listen there: never talk to the other one.
                return Err(RuntimeError::Postgres {
                    action: format!("start (port {} is held by {who})", self.port),
                    command: postmaster.command.clone(),
                    log: postmaster.log.clone(),
                    tail: postmaster.log_tail(20),
                });
            }
            let connected = match holder {
                Holder::Itself => Some(sqlx::PgConnection::connect(&url).await),
                _ => None,
            };
            match connected {
                None => {}
                Some(Ok(mut connection)) => {
                    let set = set_password(&mut connection, &self.password).await;
                    connection.close().await.ok();
                    return set.map_err(|error| RuntimeError::Postgres {
                        action: format!("set the run's password ({error})"),
                        command: postmaster.command.clone(),
                        log: postmaster.log.clone(),
                        tail: postmaster.log_tail(20),
                    });
                }
                // Listening, but the credential is refused: waiting will not help.
                Some(Err(sqlx::Error::Database(error)))
                    if error.code().as_deref() == Some("28P01") =>
                {
                    return Err(RuntimeError::Postgres {
                        action: "start (the cached cluster refuses the cache's credential; `replay gc` removes the cache)".into(),
                        command: postmaster.command.clone(),
                        log: postmaster.log.clone(),
                        tail: postmaster.log_tail(20),
                    });
                }
                Some(Err(_)) => {}
            }
            if Instant::now() > deadline {
                return Err(RuntimeError::Postgres {
                    action: "start (not ready after 30s)".into(),
                    command: postmaster.command.clone(),
                    log: postmaster.log.clone(),
                    tail: postmaster.log_tail(20),
                });
            }
            // A refused connection costs microseconds: poll often, the
            // server is usually up within a few tens of milliseconds.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The tool's connection URL for a database of this cluster.
    pub(crate) fn url(&self, database: &str) -> String {
        self.url_with(&self.password, database)
    }

    /// The server's: what `{{database_url}}` gives its commands.
    pub(crate) fn server_url(&self, database: &str) -> String {
        format!(
            "postgresql://postgres:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    fn url_with(&self, password: &str, database: &str) -> String {
        crate::runtime::own_cluster_url(password, self.port, database)
    }

    /// Keep this cluster in the cache with only `template` in it (every other
    /// database dropped, shut down cleanly), for runs that want that template.
    pub(crate) async fn keep(&mut self, template: &KeptTemplate) -> Result<(), RuntimeError> {
        let fail = |context: String| RuntimeError::Io {
            context,
            source: std::io::Error::other("keeping the cluster"),
        };
        let database = |context: &str| {
            let context = context.to_string();
            move |source| RuntimeError::Database { context, source }
        };
        let mut connection = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .map_err(database("connect to postgres"))?;
        let others: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1', $1)",
        )
        .bind(&template.database)
        .fetch_all(&mut connection)
        .await
        .map_err(database("list databases"))?;
        if others.len() + 4
            != sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_database")
                .fetch_one(&mut connection)
                .await
                .map_err(database("count databases"))? as usize
        {
            return Err(fail(format!("{} is not in the cluster", template.database)));
        }
        for name in others {
            let drop = format!(
                "DROP DATABASE \"{}\" WITH (FORCE)",
                name.replace('"', "\"\"")
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                .execute(&mut connection)
                .await
                .map_err(database("drop a database"))?;
        }
        // The kept copy is stored with the entry's credential, never this run's password.
        set_password(&mut connection, &self.credential)
            .await
            .map_err(database("give the kept cluster the cache's credential"))?;
        connection.close().await.ok();
        // A fast shutdown checkpoints: the copy is a cleanly stopped cluster.
        if let Some(postmaster) = self.postmaster.take() {
            postmaster
                .stop(Signal::SIGINT, true, Duration::from_secs(30))
                .await;
        }
        if self.data.join("postmaster.pid").exists() {
            return Err(fail("postgres did not shut down cleanly".into()));
        }
        let templates = self.entry.join("templates");
        let dir = templates.join(&template.key[..16]);
        let staging = templates.join(format!(
            "{}.tmp-{}",
            &template.key[..16],
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        copy_tree(&self.data, &staging.join("data"), &CancellationToken::new()).await?;
        std::fs::write(staging.join("key"), &template.key)
            .map_err(|e| fail(format!("write {}: {e}", staging.display())))?;
        // Another run may have kept the same template meanwhile: either copy is right.
        if std::fs::rename(&staging, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        Ok(())
    }

    /// Immediate shutdown (SIGQUIT to the postmaster: no checkpoint, the data
    /// directory is thrown away), then remove the data directory.
    pub(crate) async fn stop(&mut self) {
        self.halt().await;
        let _ = std::fs::remove_dir_all(&self.data);
    }

    /// Stop the postmaster, keeping its data folder.
    async fn halt(&mut self) {
        if let Some(postmaster) = self.postmaster.take() {
            postmaster
                .stop(Signal::SIGQUIT, true, Duration::from_secs(10))
                .await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Backstop only: `postmaster`'s own Drop kills the group.
        if self.postmaster.is_some() {
            tracing::warn!("postgres cluster dropped without stop; killing it");
        }
    }
}

/// Write `text` to a new file only its owner (the server user) can read.
fn write_private(path: &Path, text: &str, user: Option<(Uid, Gid)>) -> Result<(), RuntimeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| RuntimeError::Io {
        context: format!("write {}", path.display()),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    drop(file);
    chown(path, user)
}

/// The file of a cache entry that holds its credential.
const CREDENTIAL_FILE: &str = "credential";

/// The cache entry's credential (made on first use): a random password in a
/// file only the tool's user can read. Written whole before it is linked into
/// place, so a concurrent run reads either nothing or all of it.
pub(crate) fn entry_credential(entry: &Path) -> Result<String, RuntimeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |context: String| move |source| RuntimeError::Io { context, source };
    let path = entry.join(CREDENTIAL_FILE);
    if !path.exists() {
        std::fs::create_dir_all(entry).map_err(io(format!("create {}", entry.display())))?;
        let staging = entry.join(format!("{CREDENTIAL_FILE}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&staging);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staging)
            .map_err(io(format!("write {}", staging.display())))?;
        let fresh = hex::encode(rand::random::<[u8; 16]>());
        file.write_all(fresh.as_bytes())
            .map_err(io(format!("write {}", staging.display())))?;
        drop(file);
        // Another run may have linked its own first: then that one is the credential.
        let _ = std::fs::hard_link(&staging, &path);
        let _ = std::fs::remove_file(&staging);
    }
    let credential =
        std::fs::read_to_string(&path).map_err(io(format!("read {}", path.display())))?;
    crate::support::redact::keep_secret(&credential, "db_password");
    Ok(credential)
}

/// Give `postgres` a new password over `connection`, as a scram verifier: the
/// password itself never reaches the server, and a failing statement is not
/// written to the server's log.
pub(crate) async fn set_password(
    connection: &mut sqlx::PgConnection,
    password: &str,
) -> Result<(), sqlx::Error> {
    sqlx::raw_sql("SET log_min_error_statement = panic")
        .execute(&mut *connection)
        .await?;
    let salt: [u8; 16] = rand::random();
    // A verifier holds only base64, digits, `$` and `:`: nothing in it can end the literal.
    let statement = format!(
        "ALTER ROLE postgres PASSWORD '{}'",
        scram_verifier(password, &salt, SCRAM_ITERATIONS)
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Postgres's default (`scram_iterations` in 16 and later).
const SCRAM_ITERATIONS: u32 = 4096;

/// The stored form of a scram-sha-256 password (RFC 5802, RFC 7677), as
/// Postgres writes it into `pg_authid`:
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
fn scram_verifier(password: &str, salt: &[u8], iterations: u32) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    use sha2::Digest;
    type HmacSha256 = hmac::Hmac<sha2::Sha256>;
    let hmac = |key: &[u8], data: &[u8]| -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    };
    // Hi(password, salt, i): PBKDF2-HMAC-SHA-256 with one 32-byte block.
    let mut block = hmac(password.as_bytes(), &[salt, &1u32.to_be_bytes()].concat());
    let mut salted = block;
    for _ in 1..iterations {
        block = hmac(password.as_bytes(), &block);
        salted.iter_mut().zip(block).for_each(|(s, b)| *s ^= b);
    }
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = sha2::Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

/// A kept cluster holding the migrated template of `key`: its data folder.
/// The entry's `key` file must hold the whole key (its folder is named by a prefix).
fn kept_cluster(entry: &Path, key: &str) -> Option<(PathBuf, KeptTemplate)> {
    let dir = entry.join("templates").join(key.get(..16)?);
    let stored = std::fs::read_to_string(dir.join("key")).ok()?;
    (stored == key && dir.join("data").is_dir()).then(|| (dir.join("data"), KeptTemplate::of(key)))
}

fn chown(path: &Path, user: Option<(Uid, Gid)>) -> Result<(), RuntimeError> {
    if let Some((uid, gid)) = user {
        nix::unistd::chown(path, Some(uid), Some(gid)).map_err(|e| RuntimeError::Io {
            context: format!("chown {}", path.display()),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// Copy a directory tree as `cp -a` would for what a data directory holds
/// (folders, files, symbolic links), keeping modes and, as root, owners: in
/// this process, the files on two threads (a cluster is some 1,300 small
/// files; `cp -a` spent three times the system calls on them, and a process).
/// Ctrl-C stops it between files. `to` must not exist.
pub(crate) async fn copy_tree(
    from: &Path,
    to: &Path,
    cancel: &CancellationToken,
) -> Result<(), RuntimeError> {
    let (from, to, cancel) = (from.to_path_buf(), to.to_path_buf(), cancel.clone());
    let context = format!("copy {} to {}", from.display(), to.display());
    tokio::task::spawn_blocking(move || copy_tree_now(&from, &to, &cancel))
        .await
        .map_err(|e| RuntimeError::Io {
            context: context.clone(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::Interrupted => RuntimeError::Interrupted,
            _ => RuntimeError::Io { context, source },
        })
}

fn copy_tree_now(from: &Path, to: &Path, cancel: &CancellationToken) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let owners = Uid::effective().is_root();
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // The folders first, parents before children; the rest is listed.
    let mut files = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(relative) = folders.pop() {
        let (source, target) = (from.join(&relative), to.join(&relative));
        let meta = std::fs::symlink_metadata(&source)?;
        std::fs::DirBuilder::new()
            .mode(meta.mode() & 0o7777)
            .create(&target)?;
        // The umask may have taken bits off.
        std::fs::set_permissions(
            &target,
            std::fs::Permissions::from_mode(meta.mode() & 0o7777),
        )?;
        if owners {
            std::os::unix::fs::lchown(&target, Some(meta.uid()), Some(meta.gid()))?;
        }
        for entry in std::fs::read_dir(&source)? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    #[cfg(debug_assertions)]
    pause_for_tests(to, cancel);
    let next = AtomicUsize::new(0);
    let failed: std::sync::Mutex<Option<std::io::Error>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(relative) = files.get(index) else {
                        break;
                    };
                    let stop = cancel.is_cancelled()
                        || failed.lock().unwrap_or_else(|e| e.into_inner()).is_some();
                    if stop {
                        break;
                    }
                    if let Err(error) = copy_entry(&from.join(relative), &to.join(relative), owners)
                    {
                        let mut failed = failed.lock().unwrap_or_else(|e| e.into_inner());
                        failed.get_or_insert(std::io::Error::new(
                            error.kind(),
                            format!("{}: {error}", relative.display()),
                        ));
                        break;
                    }
                }
            });
        }
    });
    if let Some(error) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(error);
    }
    if cancel.is_cancelled() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "interrupted",
        ));
    }
    Ok(())
}

/// A test hook, in debug builds only: with `REPLAY_TEST_TAKE_PG_PORT=1`, this
/// process listens on the port of Postgres's first try until the try ends,
/// as another process that bound it first would.
#[cfg(debug_assertions)]
fn take_port_for_tests(port: u16, attempt: u32) -> Option<std::net::TcpListener> {
    let wanted = std::env::var_os("REPLAY_TEST_TAKE_PG_PORT").is_some_and(|v| v == "1");
    (wanted && attempt == 1)
        .then(|| std::net::TcpListener::bind(("127.0.0.1", port)).ok())
        .flatten()
}

/// A test hook, in debug builds only: with `REPLAY_TEST_PAUSE_COPY=FILE`, a
/// copy that has made its folders says so on stderr and waits (until FILE
/// exists, or Ctrl-C), so that a test can signal the tool while it provably
/// copies a cluster (the copy runs in this process: no child to wait for).
#[cfg(debug_assertions)]
fn pause_for_tests(to: &Path, cancel: &CancellationToken) {
    let Some(file) = std::env::var_os("REPLAY_TEST_PAUSE_COPY").filter(|f| !f.is_empty()) else {
        return;
    };
    let file = PathBuf::from(file);
    eprintln!(
        "replay: test pause: copying into {} (waiting for {})",
        to.display(),
        file.display()
    );
    while !file.exists() && !cancel.is_cancelled() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// One file (or symbolic link) of [`copy_tree`].
fn copy_entry(from: &Path, to: &Path, owners: bool) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let meta = std::fs::symlink_metadata(from)?;
    let owner = |uid, gid| owners.then_some((Some(uid), Some(gid)));
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
        if let Some((uid, gid)) = owner(meta.uid(), meta.gid()) {
            std::os::unix::fs::lchown(to, uid, gid)?;
        }
        return Ok(());
    }
    if !meta.is_file() {
        return Err(std::io::Error::other("not a file, a folder or a link"));
    }
    let mode = meta.mode() & 0o7777;
    let mut target = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)?;
    if meta.len() > 0 {
        std::io::copy(&mut std::fs::File::open(from)?, &mut target)?;
    }
    if mode & 0o077 != 0 {
        // The umask may have taken group or other bits off.
        target.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    if let Some((uid, gid)) = owner(meta.uid(), meta.gid()) {
        std::os::unix::fs::fchown(&target, uid, gid)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scram_verifier_is_the_one_postgres_stores() {
        // Made independently, with Python's hashlib.pbkdf2_hmac and hmac.
        assert_eq!(
            scram_verifier(
                "pg-0123456789abcdef0123456789abcdef",
                &(0u8..16).collect::<Vec<_>>(),
                4096
            ),
            "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$0oT7YR1mBV8ysKPwZKvWUMXD/tL6b9blQgQN38U8npo=:OyupJmXT63xFu7Nfe7ktTRDbvzXkCilBuuGTSYdYQK0="
        );
    }

    #[test]
    fn another_server_binary_is_another_identity() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("postgres");
        std::fs::write(&binary, b"15.18").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&binary, &link).unwrap();
        let before = binary_identity(&binary);
        assert_eq!(binary_identity(&link), before, "a link is its target");
        std::fs::write(&binary, b"15.19-1").unwrap();
        assert_ne!(binary_identity(&binary), before);
    }

    #[test]
    fn an_entry_keeps_one_credential_that_only_its_owner_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("entry");
        let first = entry_credential(&entry).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(entry_credential(&entry).unwrap(), first);
        let mode = std::fs::metadata(entry.join(CREDENTIAL_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(&entry).unwrap().count(),
            1,
            "no staging file left"
        );
    }
}
