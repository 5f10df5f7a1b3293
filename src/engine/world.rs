//! The world: actors with their keys, and the rows they act on.
//!
//! A run makes fresh secrets (a master key, a random key per actor), seeds the
//! world's SQL into the database in one transaction, and, once a server is up,
//! runs the world's API steps and logs the login actors in.

use indexmap::IndexMap;
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};

use crate::engine::http::{self, Credentials, HttpError};
use crate::spec::source::Location;
use crate::spec::template::{RenderError, Vars, sha256_hex};
use crate::suite::{Credential, HttpStep, Suite, WorldStep};
use crate::support::redact::Redactor;

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("cannot connect to the database to seed the world")]
    Connect(#[source] sqlx::Error),
    #[error("{location}: [[seed]] statement failed: {message}")]
    Seed { location: Location, message: String },
    #[error("world.toml: {0}")]
    Render(#[from] RenderError),
    #[error("world.toml: [[api]] step {index} ({request}) {problem}")]
    Api {
        index: usize,
        request: String,
        problem: String,
    },
    #[error("world.toml: actor `{actor}` could not log in ({request}): {problem}")]
    Login {
        actor: String,
        request: String,
        problem: String,
    },
}

/// A fresh random secret: `prefix` and 32 hex digits.
pub(crate) fn fresh_key(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(rand::random::<[u8; 16]>()))
}

/// A run's world: every name the templates can use, and each actor's bearer.
#[derive(Debug, Clone)]
pub(crate) struct WorldState {
    pub vars: Vars,
    pub bearers: IndexMap<String, String>,
    pub redactor: Redactor,
}

impl WorldState {
    /// The world before anything is seeded: prefix, secrets, values, seeded actors.
    pub(crate) fn new(suite: &Suite, prefix: &str, master_key: &str) -> Result<Self, WorldError> {
        let mut vars = Vars::default();
        let mut redactor = Redactor::new(suite.redact.clone());
        vars.set("prefix", prefix);
        vars.set("master_key", master_key);
        redactor.know(master_key, "master_key");
        crate::support::redact::keep_secret(master_key, "master_key");
        redactor.know(prefix, "prefix");
        for (name, template) in &suite.world.values {
            let value = template.render(&vars)?;
            vars.set(format!("world.{name}"), value);
        }
        let mut bearers = IndexMap::new();
        for (name, actor) in &suite.world.actors {
            vars.set(format!("actors.{name}.name"), name.as_str());
            if actor.scratch {
                // Made fresh for each of its cells: `made_for_cell`.
                continue;
            }
            let key = match actor.credential {
                Credential::Generated => fresh_key("sk-"),
                Credential::Master => master_key.to_string(),
                Credential::Login { .. } | Credential::Anonymous => continue,
            };
            set_key(&mut vars, &mut redactor, name, &key);
            bearers.insert(name.clone(), key);
        }
        let mut world = Self {
            vars,
            bearers,
            redactor,
        };
        world.render_ids(suite);
        world.know_credentials(suite);
        Ok(world)
    }

    /// What `actor`'s requests carry here, sent as its `auth` says; `None`
    /// for an actor with no key in this world (anonymous, or a scratch actor
    /// outside its own cells).
    pub(crate) fn credentials(
        &self,
        suite: &Suite,
        actor: &str,
    ) -> Option<Result<Credentials, RenderError>> {
        let key = self.bearers.get(actor)?;
        let spec = suite.world.actors.get(actor)?;
        Some(credentials_of(spec, key, &self.vars, actor))
    }

    /// Redact what the actors' credentials send besides their keys (basic
    /// auth's password and its encoded form), once their names are known.
    fn know_credentials(&mut self, suite: &Suite) {
        let names: Vec<String> = self.bearers.keys().cloned().collect();
        for actor in names {
            if let Some(Ok(credentials)) = self.credentials(suite, &actor) {
                know_secrets(&mut self.redactor, &credentials, &actor);
            }
        }
    }

    /// Fill in the actor ids whose names are known by now (an id may name a
    /// value captured by an API step, known only once the server runs).
    fn render_ids(&mut self, suite: &Suite) {
        self.render_ids_with(suite, None);
    }

    /// [`WorldState::render_ids`], with the scratch actor being made (the
    /// others have no id outside their cells).
    fn render_ids_with(&mut self, suite: &Suite, making: Option<&str>) {
        for (name, actor) in &suite.world.actors {
            if actor.scratch && making != Some(name.as_str()) {
                continue;
            }
            if let Some(template) = &actor.id
                && let Ok(id) = template.render_value(&self.vars)
            {
                self.vars.set(format!("actors.{name}.id"), id);
            }
        }
    }

    /// Insert the world's rows into `url`, all in one transaction.
    pub(crate) async fn seed(&self, suite: &Suite, url: &str) -> Result<(), WorldError> {
        let mut connection = PgConnection::connect(url)
            .await
            .map_err(WorldError::Connect)?;
        let mut transaction = connection.begin().await.map_err(WorldError::Connect)?;
        for (location, template) in &suite.world.seed {
            let (sql, params) = template.render_sql(&self.vars)?;
            // The SQL is the suite author's; every value in it is a bound parameter.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for param in params {
                query = query.bind(param);
            }
            transaction
                .execute(query)
                .await
                .map_err(|e| WorldError::Seed {
                    location: location.clone(),
                    message: self.redactor.apply(&database_message(&e)),
                })?;
        }
        transaction.commit().await.map_err(|e| WorldError::Seed {
            location: Location::file(&suite.dir.join("world.toml")),
            message: database_message(&e),
        })?;
        connection.close().await.ok();
        Ok(())
    }

    /// The world of one booted server: the API steps and the logins, in the
    /// order the suite needs them (a login just before the first step that
    /// acts as its actor or uses what it learns).
    pub(crate) async fn on_server(
        &self,
        suite: &Suite,
        client: &reqwest::Client,
        base_url: &str,
    ) -> Result<Self, WorldError> {
        let mut world = self.clone();
        let mut logins: Vec<&str> = Vec::new();
        for step in &suite.world.order {
            match step {
                WorldStep::Login(name) => logins.push(name),
                WorldStep::Api(index) => {
                    world
                        .log_in_all(suite, &mut logins, client, base_url)
                        .await?;
                    world
                        .api_step(suite, &suite.world.api[*index], index + 1, client, base_url)
                        .await?;
                    world.render_ids(suite);
                }
            }
        }
        world
            .log_in_all(suite, &mut logins, client, base_url)
            .await?;
        world.know_credentials(suite);
        // Each cell starts from these names: shared, not copied.
        world.vars.freeze();
        Ok(world)
    }

    /// The world of one cell of scratch actor `actor`: the actor made fresh
    /// (a new key, its seed statements on the tool's own connection, its
    /// `[[api]]` steps and its login), its names by the cell's `scratch`.
    pub(crate) async fn made_for_cell(
        &self,
        suite: &Suite,
        actor: &str,
        scratch: &str,
        client: &reqwest::Client,
        base_url: &str,
        pool: &sqlx::PgPool,
    ) -> Result<Self, WorldError> {
        let mut world = self.clone();
        world.vars.set("scratch", scratch);
        world.redactor.know(scratch, "scratch");
        let (Some(making), Some(spec)) = (
            suite.world.scratch.get(actor),
            suite.world.actors.get(actor),
        ) else {
            return Ok(world);
        };
        if let Credential::Generated = spec.credential {
            let key = fresh_key("sk-");
            set_key(&mut world.vars, &mut world.redactor, actor, &key);
            world.bearers.insert(actor.to_string(), key);
        }
        world.render_ids_with(suite, Some(actor));
        for (location, template) in &making.seed {
            let (sql, params) = template.render_sql(&world.vars)?;
            // The SQL is the suite author's; every value in it is a bound parameter.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for param in params {
                query = query.bind(param);
            }
            query.execute(pool).await.map_err(|e| WorldError::Seed {
                location: location.clone(),
                message: world.redactor.apply(&database_message(&e)),
            })?;
        }
        for step in &making.order {
            match step {
                WorldStep::Login(name) => {
                    world
                        .log_in_all(suite, &mut vec![name.as_str()], client, base_url)
                        .await?
                }
                WorldStep::Api(index) => {
                    world
                        .api_step(suite, &suite.world.api[*index], index + 1, client, base_url)
                        .await?
                }
            }
            world.render_ids_with(suite, Some(actor));
        }
        world.know_credentials(suite);
        world.vars.freeze();
        Ok(world)
    }

    /// Log these actors in, at once where one does not need what another's
    /// login makes (password hashing makes logins slow; they wait on the
    /// server, not on each other).
    async fn log_in_all(
        &mut self,
        suite: &Suite,
        logins: &mut Vec<&str>,
        client: &reqwest::Client,
        base_url: &str,
    ) -> Result<(), WorldError> {
        while !logins.is_empty() {
            let ready = |name: &&str| {
                suite.world.actors.get(*name).is_some_and(|actor| {
                    let Credential::Login {
                        request, whoami, ..
                    } = &actor.credential
                    else {
                        return true;
                    };
                    request
                        .vars()
                        .into_iter()
                        .chain(whoami.iter().flat_map(|w| w.request.vars()))
                        .filter(|v| !v.starts_with(&format!("actors.{name}.")))
                        .all(|v| self.vars.contains(v))
                })
            };
            let (mut now, later): (Vec<&str>, Vec<&str>) = logins.iter().copied().partition(ready);
            if now.is_empty() {
                // A name is missing: the first login reports which.
                now = vec![logins[0]];
            }
            *logins = later.into_iter().filter(|l| !now.contains(l)).collect();
            let this = &*self;
            let done = futures::future::join_all(
                now.iter()
                    .map(|name| this.logged_in(suite, name, client, base_url)),
            )
            .await;
            for (name, result) in now.iter().zip(done) {
                let LoggedIn { bearer, learnt } = result?;
                set_key(&mut self.vars, &mut self.redactor, name, &bearer);
                self.bearers.insert(name.to_string(), bearer);
                for (var, value) in learnt {
                    self.redactor.know_value(&value, &var);
                    self.vars.set(var, value);
                }
            }
            self.render_ids_with(suite, logins_of_scratch(suite, &now));
            self.know_credentials(suite);
        }
        Ok(())
    }

    async fn api_step(
        &mut self,
        suite: &Suite,
        step: &HttpStep,
        index: usize,
        client: &reqwest::Client,
        base_url: &str,
    ) -> Result<(), WorldError> {
        let world = self;
        let rendered = http::render(&step.request, &world.vars)?;
        let request = format!("{} {} as {}", rendered.method, rendered.path, step.actor);
        let fail = |problem: String| WorldError::Api {
            index,
            request: request.clone(),
            problem,
        };
        let credentials = world.credentials(suite, &step.actor).transpose()?;
        if let Some(credentials) = &credentials {
            know_secrets(&mut world.redactor, credentials, &step.actor);
        }
        let exchange = http::send(client, base_url, &rendered, credentials.as_ref(), &[])
            .await
            .map_err(|e| fail(http_problem(&e)))?;
        if let Some(expect) = step.expect
            && exchange.status != expect
        {
            return Err(fail(format!(
                "returned {} instead of {expect}: {}",
                exchange.status,
                world
                    .redactor
                    .apply(&crate::support::redact::excerpt(&exchange.body, 200))
            )));
        }
        for (name, pointer) in &step.captures {
            let value = exchange
                .pointer(pointer)
                .cloned()
                .ok_or_else(|| fail(format!("returned no {pointer} to capture as `{name}`")))?;
            world.redactor.know_value(&value, &format!("world.{name}"));
            world.vars.set(format!("world.{name}"), value);
        }
        Ok(())
    }

    /// Log `name` in, then ask who it is (`whoami`).
    async fn logged_in(
        &self,
        suite: &Suite,
        name: &str,
        client: &reqwest::Client,
        base_url: &str,
    ) -> Result<LoggedIn, WorldError> {
        let world = self;
        let spec = suite.world.actors.get(name);
        let Some((
            spec,
            Credential::Login {
                request,
                token,
                whoami,
            },
        )) = spec.map(|a| (a, &a.credential))
        else {
            unreachable!("only login actors are in the world's order as logins");
        };
        let rendered = http::render(request, &world.vars)?;
        let described = format!("{} {}", rendered.method, rendered.path);
        let fail = |problem: String| WorldError::Login {
            actor: name.to_string(),
            request: described.clone(),
            problem,
        };
        let exchange = http::send(client, base_url, &rendered, None, &[])
            .await
            .map_err(|e| fail(http_problem(&e)))?;
        if !exchange.allowed() {
            return Err(fail(format!(
                "returned {}: {}",
                exchange.status,
                world
                    .redactor
                    .apply(&crate::support::redact::excerpt(&exchange.body, 200))
            )));
        }
        let Some(Value::String(bearer)) = exchange.pointer(token).cloned() else {
            return Err(fail(format!("the response has no string at {token}")));
        };
        let Some(whoami) = whoami else {
            return Ok(LoggedIn {
                bearer,
                learnt: Vec::new(),
            });
        };
        // The whoami request may use the actor's own new key.
        let mut vars = world.vars.clone();
        let mut scratch = world.redactor.clone();
        set_key(&mut vars, &mut scratch, name, &bearer);
        let rendered = http::render(&whoami.request, &vars)?;
        let described = format!("whoami {} {}", rendered.method, rendered.path);
        let fail = |problem: String| WorldError::Login {
            actor: name.to_string(),
            request: described.clone(),
            problem,
        };
        let credentials = credentials_of(spec, &bearer, &vars, name)?;
        know_secrets(&mut scratch, &credentials, name);
        let exchange = http::send(client, base_url, &rendered, Some(&credentials), &[])
            .await
            .map_err(|e| fail(http_problem(&e)))?;
        if !exchange.allowed() {
            return Err(fail(format!(
                "returned {}: {}",
                exchange.status,
                world
                    .redactor
                    .apply(&crate::support::redact::excerpt(&exchange.body, 200))
            )));
        }
        let mut learnt = Vec::new();
        for (capture, pointer) in &whoami.captures {
            let value = exchange
                .pointer(pointer)
                .cloned()
                .ok_or_else(|| fail(format!("returned no {pointer} to capture as `{capture}`")))?;
            learnt.push((format!("actors.{name}.{capture}"), value));
        }
        Ok(LoggedIn { bearer, learnt })
    }
}

/// The scratch actor among `logins`, when they are the making of one.
fn logins_of_scratch<'a>(suite: &Suite, logins: &[&'a str]) -> Option<&'a str> {
    logins
        .iter()
        .copied()
        .find(|name| suite.world.actors.get(*name).is_some_and(|a| a.scratch))
}

/// What a login brought: the bearer, and what `whoami` learnt (by var name).
struct LoggedIn {
    bearer: String,
    learnt: Vec<(String, Value)>,
}

/// `key` as `actor` sends it (its `auth`), with `vars` for basic auth's names.
fn credentials_of(
    spec: &crate::suite::Actor,
    key: &str,
    vars: &Vars,
    actor: &str,
) -> Result<Credentials, RenderError> {
    match spec.auth {
        crate::suite::AuthScheme::Basic { .. } => {
            Credentials::new(&spec.auth, key, &vars.for_actor(actor), true)
        }
        _ => Credentials::new(&spec.auth, key, vars, true),
    }
}

/// Replace what `credentials` send besides the key by their names, in this
/// redactor and in everything the run prints or writes.
pub(crate) fn know_secrets(redactor: &mut Redactor, credentials: &Credentials, actor: &str) {
    for (value, field) in credentials.secrets() {
        let name = format!("actors.{actor}.{field}");
        redactor.know(&value, &name);
        crate::support::redact::keep_secret(&value, &name);
    }
}

fn set_key(vars: &mut Vars, redactor: &mut Redactor, actor: &str, key: &str) {
    let hash = sha256_hex(key);
    redactor.know(key, &format!("actors.{actor}.key"));
    crate::support::redact::keep_secret(key, &format!("actors.{actor}.key"));
    redactor.know(&hash, &format!("actors.{actor}.key_sha256"));
    vars.set(format!("actors.{actor}.key"), key);
    vars.set(format!("actors.{actor}.key_sha256"), hash);
}

/// The database's own words for an error, without the statement.
pub(crate) fn database_message(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    }
}

fn http_problem(error: &HttpError) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    #[test]
    fn credentials_are_sent_as_each_actor_says_and_what_they_send_is_redacted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
        std::fs::write(
            dir.path().join("suite.toml"),
            "name = \"t\"\n[auth]\nkind = \"header\"\nname = \"x-api-key\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("world.toml"),
            "[values]\npw = \"basil-pw-3f9d2c7e1a\"\n[actors.admin]\nkey = \"master\"\n[actors.bob]\nid = \"{{prefix}}bob\"\nauth = { kind = \"basic\", user = \"{{actor.id}}\" }\n[actors.basil]\nauth = { kind = \"basic\", user = \"{{actor.name}}\", password = \"{{world.pw}}\" }\n[actors.nobody]\nanonymous = true\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("scenarios/s.toml"),
            "[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\nadmin = [200]\nbob = [200]\nbasil = [200]\nnobody = [401]\n",
        )
        .unwrap();
        let suite = crate::suite::load(dir.path()).unwrap();
        let world = WorldState::new(&suite, "replay-abcd1234-", "sk-master0123456789").unwrap();
        let credentials = |actor: &str| world.credentials(&suite, actor).map(Result::unwrap);
        assert_eq!(
            credentials("admin"),
            Some(Credentials::Header {
                name: "x-api-key".into(),
                value: "sk-master0123456789".into(),
            })
        );
        let bob_key = world.bearers["bob"].clone();
        assert_eq!(
            credentials("bob"),
            Some(Credentials::Basic {
                user: "replay-abcd1234-bob".into(),
                password: bob_key.clone(),
            })
        );
        assert_eq!(credentials("nobody"), None);
        // basil's password is known to the redactor by its name, and so is what
        // basic auth sends for him.
        let Some(Credentials::Basic { user, password }) = credentials("basil") else {
            panic!("basil sends basic auth");
        };
        assert_eq!(
            (user.as_str(), password.as_str()),
            ("basil", "basil-pw-3f9d2c7e1a")
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode("basil:basil-pw-3f9d2c7e1a");
        assert_eq!(
            world
                .redactor
                .apply(&format!("{password} {encoded} {bob_key}")),
            "<actors.basil.password> <actors.basil.basic> <actors.bob.key>"
        );
        assert!(!crate::support::redact::scrub(&encoded).contains(&encoded));
    }
}
