//! The validated suite: what a run needs, with every name already checked.

use std::fmt;
use std::path::PathBuf;

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value;

use crate::spec::source::SourceFile;
use crate::spec::template::Template;

/// A suite folder: world, scenarios with pins, targets.
#[derive(Debug)]
pub struct Suite {
    pub name: String,
    pub description: Option<String>,
    pub upstream: Option<String>,
    pub dir: PathBuf,
    /// sha256 over the suite's files (targets excluded): what its pins mean.
    pub hash: String,
    pub(crate) reason: Vec<String>,
    pub(crate) redact: Vec<Regex>,
    pub(crate) cleanup: Vec<Cleanup>,
    /// How a key is sent when an actor does not say (suite.toml's `[auth]`):
    /// also how a followup sends its `bearer`.
    pub(crate) auth: AuthScheme,
    pub(crate) world: World,
    pub(crate) scenarios: Vec<Scenario>,
}

/// Rows that carry the run's prefix, deleted after a run against a server the
/// user started.
#[derive(Debug)]
pub(crate) struct Cleanup {
    pub table: String,
    pub filter: CleanupFilter,
}

#[derive(Debug)]
pub(crate) enum CleanupFilter {
    /// Any of these columns starts with the prefix.
    Columns(Vec<String>),
    /// An SQL condition (with `{{prefix}}` as a bound parameter).
    Where(Template),
}

#[derive(Debug)]
pub(crate) struct World {
    pub values: IndexMap<String, Template>,
    pub actors: IndexMap<String, Actor>,
    /// Each statement with where it is written (its `sql`'s line).
    pub seed: Vec<(crate::spec::source::Location, Template)>,
    pub api: Vec<HttpStep>,
    /// What runs on the server, in order: the API steps, each login just
    /// before the first step that needs it, the other logins at the end.
    /// The steps that make a scratch actor are not in it.
    pub order: Vec<WorldStep>,
    /// How each scratch actor is made, again for every cell of it.
    pub scratch: IndexMap<String, Making>,
}

/// How a scratch actor is made for one cell: the seed statements that make it
/// (on the tool's own connection), then its `[[api]]` steps and its login, in
/// the order the world would run them.
#[derive(Debug, Default)]
pub(crate) struct Making {
    /// (the statement's number among world.toml's `[[seed]]`s, 1-based; its SQL)
    pub seed: Vec<(crate::spec::source::Location, Template)>,
    pub order: Vec<WorldStep>,
}

/// One thing the world does on a booted server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WorldStep {
    /// `[[api]]` step N (0-based).
    Api(usize),
    /// The login (and `whoami`) of this actor.
    Login(String),
}

#[derive(Debug)]
pub(crate) struct Actor {
    pub id: Option<Template>,
    pub credential: Credential,
    /// Made fresh for each cell of the actor (`scratch = true`).
    pub scratch: bool,
    /// How its key is sent (its own `auth`, or the suite's).
    pub auth: AuthScheme,
}

impl Actor {
    /// Whether the actor has an id: written in world.toml, or learnt by `whoami`.
    pub(crate) fn has_id(&self) -> bool {
        self.id.is_some()
            || matches!(&self.credential, Credential::Login { whoami: Some(w), .. }
                if w.captures.iter().any(|(name, _)| name == "id"))
    }
}

#[derive(Debug)]
pub(crate) enum Credential {
    /// No credentials: requests go out without an `Authorization` header.
    Anonymous,
    /// A fresh random key for every run, seeded as its sha256.
    Generated,
    /// The server's master key.
    Master,
    /// A token from a login request, then what the actor learns about itself.
    Login {
        request: HttpRequest,
        token: String,
        whoami: Option<Box<Whoami>>,
    },
}

/// How an actor's key goes out with each of its requests.
#[derive(Debug, Clone, Default)]
pub(crate) enum AuthScheme {
    /// `Authorization: Bearer <key>`.
    #[default]
    Bearer,
    /// `<name>: <prefix><key>`.
    Header { name: String, prefix: String },
    /// `Cookie: <name>=<key>`.
    Cookie { name: String },
    /// `Authorization: Basic base64(<user>:<password>)`; the password is the
    /// key unless a template says otherwise. `{{actor.*}}` in them is the
    /// actor who sends them.
    Basic {
        user: Template,
        password: Option<Template>,
    },
}

/// A request the actor makes right after logging in, whose captures become
/// `actors.NAME.CAPTURE` (`id` is the actor's id).
#[derive(Debug)]
pub(crate) struct Whoami {
    pub request: HttpRequest,
    pub captures: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// A JSON body with templates in its strings.
#[derive(Debug, Clone)]
pub(crate) enum JsonTemplate {
    Literal(Value),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    None,
    Json(JsonTemplate),
    Form(Vec<(String, Template)>),
}

#[derive(Debug, Clone)]
pub(crate) struct HttpRequest {
    pub method: Method,
    pub path: Template,
    pub query: Vec<(String, Template)>,
    pub body: Body,
}

impl JsonTemplate {
    /// Every name its strings read.
    pub(crate) fn vars(&self) -> Vec<&str> {
        fn walk<'a>(value: &'a JsonTemplate, out: &mut Vec<&'a str>) {
            match value {
                JsonTemplate::Literal(_) => {}
                JsonTemplate::String(t) => out.extend(t.vars()),
                JsonTemplate::Array(items) => items.iter().for_each(|i| walk(i, out)),
                JsonTemplate::Object(fields) => fields.iter().for_each(|(_, v)| walk(v, out)),
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

impl HttpRequest {
    /// Every name the request's templates read.
    pub(crate) fn vars(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.path.vars().collect();
        for (_, t) in &self.query {
            out.extend(t.vars());
        }
        match &self.body {
            Body::None => {}
            Body::Json(value) => out.extend(value.vars()),
            Body::Form(fields) => fields.iter().for_each(|(_, t)| out.extend(t.vars())),
        }
        out
    }
}

/// A request made as a named actor before the request under test.
#[derive(Debug)]
pub(crate) struct HttpStep {
    pub actor: String,
    pub request: HttpRequest,
    pub expect: Option<u16>,
    pub captures: Vec<(String, String)>,
}

/// A scenario `[[setup]]` step.
#[derive(Debug)]
pub(crate) enum SetupStep {
    Http(HttpStep),
    /// SQL on the tool's own connection; captures are JSON pointers into its
    /// first returned row (an object by column name).
    Sql {
        sql: Template,
        /// Where the statement is written (errors name it).
        location: crate::spec::source::Location,
        captures: Vec<(String, String)>,
    },
}

/// The name of the target every cell of a scenario without targets uses.
pub const IMPLICIT_TARGET: &str = "any";

#[derive(Debug)]
pub(crate) struct Scenario {
    pub name: String,
    pub endpoint: Option<String>,
    pub file: SourceFile,
    pub targets: IndexMap<String, IndexMap<String, Template>>,
    pub setup: Vec<SetupStep>,
    pub request: HttpRequest,
    pub captures: Vec<(String, String)>,
    pub pages: Option<Pages>,
    pub checks: Vec<Check>,
    pub followups: Vec<Followup>,
    pub responses: IndexMap<String, ResponseSpec>,
    pub pins: PinGrid,
}

#[derive(Debug)]
pub(crate) struct Pages {
    pub param: String,
    pub total: String,
}

#[derive(Debug)]
pub(crate) struct Check {
    pub name: String,
    /// Where it is written: its `sql` (or its name), for errors.
    pub location: crate::spec::source::Location,
    pub kind: CheckKind,
    pub allowed: Option<Expected>,
    pub denied: Option<Expected>,
    /// It uses a followup's capture, so it is read after the followups (the
    /// others are read right after the request under test).
    pub after_followups: bool,
}

impl Check {
    /// Every name its query and expected values read.
    pub(crate) fn vars(&self) -> Vec<&str> {
        let mut out: Vec<&str> = match &self.kind {
            CheckKind::Sql(t) => t.vars().collect(),
            CheckKind::Response(_) | CheckKind::Reason => Vec::new(),
        };
        for expected in self.allowed.iter().chain(&self.denied) {
            match expected {
                Expected::Equals(json) => out.extend(json.vars()),
                Expected::Contains(t) => out.extend(t.vars()),
                Expected::Matches(_) | Expected::Absent => {}
            }
        }
        out
    }
}

impl Followup {
    /// Every name it reads: its token and its request.
    pub(crate) fn vars(&self) -> Vec<&str> {
        let mut out = self.request.vars();
        if let Sender::Bearer(t) = &self.sender {
            out.extend(t.vars());
        }
        out
    }
}

#[derive(Debug)]
pub(crate) enum CheckKind {
    Sql(Template),
    Response(String),
    /// The denial reason, read with the suite's `reason` pointers.
    Reason,
}

/// What a check expects of the value it reads.
#[derive(Debug)]
pub(crate) enum Expected {
    /// Equal as JSON (numbers by value).
    Equals(JsonTemplate),
    /// A string that contains this text.
    Contains(Template),
    /// A string this regular expression matches.
    Matches(Regex),
    /// No value at all (missing or null).
    Absent,
}

/// A request made after the one under test, in file order: with the others, a
/// short sequence whose point is the order of the calls.
#[derive(Debug)]
pub(crate) struct Followup {
    /// Its `name`, else its number.
    pub name: String,
    /// Its place among the scenario's followups, from 1.
    pub number: usize,
    pub sender: Sender,
    pub request: HttpRequest,
    /// The status expected when the request under test was allowed / denied
    /// (`expect` sets both); a side without one does not send it.
    pub allowed: Option<u16>,
    pub denied: Option<u16>,
    /// Values of its JSON response, for later followups and checks.
    pub captures: Vec<(String, String)>,
}

/// Who sends a followup.
#[derive(Debug)]
pub(crate) enum Sender {
    /// The cell's actor (the default).
    CellActor,
    /// An actor of the world (`as`); an anonymous one sends no credentials.
    Actor(String),
    /// A token written out (`bearer`).
    Bearer(Template),
}

#[derive(Debug)]
pub(crate) struct ResponseSpec {
    pub items: String,
    pub field: Option<String>,
    pub map: Option<Mapping>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Mapping {
    /// Each value is a key hash; it becomes the name of the actor whose key it is,
    /// and values that are no actor's key are dropped.
    ActorByKeySha256,
    /// Each value becomes the world name it is: an actor's name (for its id,
    /// key or key hash) or `world.NAME` (a world value or capture); values that
    /// are neither are dropped.
    World,
}

/// The expected outcome of one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Pin {
    /// The pinned status (0 for a `"?"` pin, which pins none yet).
    pub status: u16,
    /// A `"?"` pin: run the cell and report what it does as NEW; `--accept`
    /// writes it. Its `responses` name the response values with `null`.
    pub unknown: bool,
    /// Pinned response values, by response name (sets are kept sorted).
    pub responses: IndexMap<String, Value>,
}

/// actor × target → pin; `None` is a cell that is not pinned and not run.
#[derive(Debug)]
pub(crate) struct PinGrid {
    pub targets: Vec<String>,
    pub rows: IndexMap<String, Vec<Option<Pin>>>,
}

/// One (scenario, target, actor) triple, written `scenario/target/actor`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellId {
    pub scenario: String,
    pub target: String,
    pub actor: String,
}

impl CellId {
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('/');
        let (scenario, target, actor) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || [scenario, target, actor].iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(Self {
            scenario: scenario.into(),
            target: target.into(),
            actor: actor.into(),
        })
    }
}

impl fmt::Display for CellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.scenario, self.target, self.actor)
    }
}

/// A cell to run: where it is in the suite and what it should show.
#[derive(Debug, Clone)]
pub struct Cell {
    pub id: CellId,
    pub(crate) scenario: usize,
    pub pin: Pin,
}

impl Suite {
    /// Every pinned cell, in declaration order: scenarios by file name, then
    /// targets, then actors as the grid lists them.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::new();
        for (index, scenario) in self.scenarios.iter().enumerate() {
            for (column, target) in scenario.pins.targets.iter().enumerate() {
                for (actor, row) in &scenario.pins.rows {
                    if let Some(pin) = &row[column] {
                        cells.push(Cell {
                            id: CellId {
                                scenario: scenario.name.clone(),
                                target: target.clone(),
                                actor: actor.clone(),
                            },
                            scenario: index,
                            pin: pin.clone(),
                        });
                    }
                }
            }
        }
        cells
    }

    /// Whether `actor` sends no credentials.
    pub(crate) fn is_anonymous(&self, actor: &str) -> bool {
        self.world
            .actors
            .get(actor)
            .is_some_and(|a| matches!(a.credential, Credential::Anonymous))
    }

    pub(crate) fn scenario(&self, cell: &Cell) -> &Scenario {
        &self.scenarios[cell.scenario]
    }

    /// The endpoint of a cell's scenario (`POST /key/update`), when it names one.
    pub fn endpoint(&self, cell: &Cell) -> Option<&str> {
        self.scenario(cell).endpoint.as_deref()
    }

    /// Where a cell is pinned: its scenario file and the line of its actor's
    /// row under `[pins]` (else the `[pins]` line; `None` when neither is found).
    pub fn pin_location(&self, cell: &Cell) -> (PathBuf, Option<usize>) {
        let file = &self.scenario(cell).file;
        let mut in_pins = false;
        let mut pins_line = None;
        for (number, line) in file.text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                in_pins = trimmed == "[pins]";
                if in_pins {
                    pins_line = Some(number + 1);
                }
                continue;
            }
            if in_pins {
                let key = trimmed.split('=').next().unwrap_or("").trim();
                if key.trim_matches('"') == cell.id.actor && trimmed.contains('=') {
                    return (file.path.clone(), Some(number + 1));
                }
            }
        }
        (file.path.clone(), pins_line)
    }

    pub fn scenario_names(&self) -> impl Iterator<Item = &str> {
        self.scenarios.iter().map(|s| s.name.as_str())
    }

    pub fn actor_names(&self) -> impl Iterator<Item = &str> {
        self.world.actors.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_ids_round_trip() {
        let id = CellId::parse("key_update/self/owner").unwrap();
        assert_eq!(id.to_string(), "key_update/self/owner");
        assert_eq!(CellId::parse("key_update/self"), None);
        assert_eq!(CellId::parse("a/b/c/d"), None);
        assert_eq!(CellId::parse("a//c"), None);
    }
}
