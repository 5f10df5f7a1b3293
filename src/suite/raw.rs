//! The suite files as written: serde structures that reject unknown keys.
//!
//! Spans are kept where a later check needs to name a line. These types never
//! leave the `suite` module; `load.rs` turns them into the validated model.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

pub(super) type Str = Spanned<String>;
pub(super) type Captures = IndexMap<Str, Str>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SuiteFile {
    pub name: Str,
    pub description: Option<String>,
    pub upstream: Option<String>,
    #[serde(default)]
    pub reason: Vec<Str>,
    #[serde(default)]
    pub redact: Vec<Str>,
    #[serde(default)]
    pub cleanup: Vec<Cleanup>,
    /// How every actor's key is sent, unless the actor says otherwise.
    pub auth: Option<Spanned<Auth>>,
}

/// How an actor's key goes out: suite.toml's `[auth]`, or an actor's `auth`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Auth {
    pub kind: Str,
    /// The header's name (`header`) or the cookie's (`cookie`).
    pub name: Option<Str>,
    /// Text before the key in the header (`header`).
    pub prefix: Option<Str>,
    /// Basic auth's user name (`basic`).
    pub user: Option<Str>,
    /// Basic auth's password (`basic`); the actor's key by default.
    pub password: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Cleanup {
    pub table: Str,
    pub columns: Option<Spanned<Vec<String>>>,
    #[serde(rename = "where")]
    pub where_: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorldFile {
    #[serde(default)]
    pub values: IndexMap<Str, Str>,
    #[serde(default)]
    pub actors: IndexMap<Str, Actor>,
    #[serde(default)]
    pub seed: Vec<Seed>,
    #[serde(default)]
    pub api: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Actor {
    /// Sends no credentials at all.
    pub anonymous: Option<Spanned<bool>>,
    pub id: Option<Str>,
    pub key: Option<Str>,
    pub login: Option<Spanned<Login>>,
    pub whoami: Option<Spanned<Whoami>>,
    /// Made fresh for each cell of the actor, by the world steps that say
    /// they make it (`makes`).
    pub scratch: Option<Spanned<bool>>,
    /// How this actor's key is sent, instead of the suite's `[auth]`.
    pub auth: Option<Spanned<Auth>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    pub method: Str,
    pub path: Str,
    pub json: Option<Spanned<toml::Value>>,
    pub form: Option<Spanned<toml::Table>>,
    pub token: Str,
}

/// What a login actor asks right after logging in, with its new token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Whoami {
    pub method: Option<Str>,
    pub path: Str,
    pub query: Option<Spanned<toml::Table>>,
    pub capture: Captures,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Seed {
    pub sql: Str,
    /// The actor this statement makes (run per cell for a scratch actor).
    pub makes: Option<Str>,
}

/// An HTTP request made as a named actor, with captures from its JSON response:
/// a world `[[api]]` step or a scenario `[[setup]]` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Step {
    #[serde(rename = "as")]
    pub as_: Str,
    pub method: Str,
    pub path: Str,
    pub query: Option<Spanned<toml::Table>>,
    pub json: Option<Spanned<toml::Value>>,
    pub form: Option<Spanned<toml::Table>>,
    pub expect: Option<Spanned<i64>>,
    #[serde(default)]
    pub capture: Captures,
    /// In world.toml: the actor this step makes (run per cell for a scratch actor).
    pub makes: Option<Str>,
}

/// A scenario `[[setup]]` step: an HTTP request made as an actor (the keys of
/// [`Step`]), or SQL run on the tool's own connection (`sql`, with captures
/// from its first returned row).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetupStep {
    pub sql: Option<Str>,
    #[serde(rename = "as")]
    pub as_: Option<Str>,
    pub method: Option<Str>,
    pub path: Option<Str>,
    pub query: Option<Spanned<toml::Table>>,
    pub json: Option<Spanned<toml::Value>>,
    pub form: Option<Spanned<toml::Table>>,
    pub expect: Option<Spanned<i64>>,
    #[serde(default)]
    pub capture: Captures,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScenarioFile {
    pub name: Option<Str>,
    pub endpoint: Option<String>,
    // Documentation for the people who read the file: accepted, not used.
    #[allow(dead_code)]
    pub description: Option<String>,
    #[allow(dead_code)]
    pub upstream: Option<String>,
    #[serde(default)]
    pub targets: IndexMap<Str, IndexMap<Str, Str>>,
    #[serde(default)]
    pub setup: Vec<SetupStep>,
    pub request: Spanned<Request>,
    #[serde(default)]
    pub check: Vec<Check>,
    #[serde(default)]
    pub followup: Vec<Followup>,
    #[serde(default)]
    pub response: IndexMap<Str, Response>,
    pub pins: Spanned<IndexMap<Str, Spanned<toml::Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Request {
    pub method: Str,
    pub path: Str,
    pub query: Option<Spanned<toml::Table>>,
    pub json: Option<Spanned<toml::Value>>,
    pub form: Option<Spanned<toml::Table>>,
    pub pages: Option<Spanned<Pages>>,
    #[serde(default)]
    pub capture: Captures,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Pages {
    pub param: String,
    pub total: Str,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Check {
    pub name: Str,
    pub sql: Option<Str>,
    pub response: Option<Str>,
    /// Reads the denial reason (the suite's `reason` pointers).
    pub reason: Option<Spanned<bool>>,
    pub allowed: Option<Spanned<toml::Value>>,
    pub denied: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Followup {
    /// Optional: a step without one is named by its number.
    pub name: Option<Str>,
    /// Who sends it: an actor of the world (default: the cell's actor).
    #[serde(rename = "as")]
    pub as_: Option<Str>,
    /// Or a token written out (`{{new_key}}`), instead of `as`.
    pub bearer: Option<Str>,
    pub method: Str,
    pub path: Str,
    pub query: Option<Spanned<toml::Table>>,
    pub json: Option<Spanned<toml::Value>>,
    pub form: Option<Spanned<toml::Table>>,
    /// The status whatever the request under test got (both sides).
    pub expect: Option<Spanned<i64>>,
    pub allowed: Option<Spanned<i64>>,
    pub denied: Option<Spanned<i64>>,
    #[serde(default)]
    pub capture: Captures,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Response {
    pub items: Str,
    pub field: Option<String>,
    pub map: Option<Str>,
}
