//! Load a suite folder and validate it before anything runs.
//!
//! Every problem names the file, the line and the key, and most carry a hint.
//! All problems of a suite are collected, so one run shows them all.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::model::*;
use super::raw;
use crate::spec::source::{Location, Problem, SourceFile, toml_problem};
use crate::spec::template::Template;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("no suite at {}: {} is missing", dir.display(), dir.join("suite.toml").display())]
    NotFound { dir: PathBuf },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the suite in {} has {} problem{}", dir.display(), problems.len(), if problems.len() == 1 { "" } else { "s" })]
    Invalid {
        dir: PathBuf,
        problems: Vec<Problem>,
    },
}

/// Names a template may use, and when their values exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Known before the server boots: seeding can use it.
    Seed,
    /// Known from this world API step on.
    Api(usize),
    /// Known once the login actors have logged in.
    Login,
    /// Known inside a cell.
    Cell,
}

#[derive(Debug, Clone)]
struct Name {
    phase: Phase,
    /// Captured from the request under test: only there when it was allowed.
    allowed_only: bool,
}

type Names = HashMap<String, Name>;

/// Sees every template of a request with its span, and whether it is a whole
/// JSON field value (which may be left out).
type OnTemplate<'a> = dyn FnMut(&mut Loader, Range<usize>, &Template, bool) + 'a;

const RESERVED: &[&str] = &[
    "prefix",
    "master_key",
    "scratch",
    "world",
    "actors",
    "actor",
    "target",
];

pub fn load(dir: &Path) -> Result<Suite, SuiteError> {
    let suite_path = dir.join("suite.toml");
    if !suite_path.is_file() {
        return Err(SuiteError::NotFound {
            dir: dir.to_path_buf(),
        });
    }
    let read = |path: &Path| {
        SourceFile::read(path).map_err(|source| SuiteError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let suite_file = read(&suite_path)?;
    let world_path = dir.join("world.toml");
    let world_file = if world_path.is_file() {
        Some(read(&world_path)?)
    } else {
        None
    };
    let scenario_dir = dir.join("scenarios");
    let mut scenario_paths: Vec<PathBuf> = match std::fs::read_dir(&scenario_dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    scenario_paths.sort();
    let scenario_files = scenario_paths
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;

    let mut hasher = Sha256::new();
    for file in std::iter::once(&suite_file)
        .chain(&world_file)
        .chain(&scenario_files)
    {
        let relative = file.path.strip_prefix(dir).unwrap_or(&file.path);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(file.text.as_bytes());
        hasher.update([0]);
    }
    let hash = hex::encode(hasher.finalize());

    let mut loader = Loader::default();
    let suite = loader.suite(dir, hash, &suite_file, world_file.as_ref(), &scenario_files);
    match suite {
        Some(suite) if loader.problems.is_empty() => Ok(suite),
        _ => Err(SuiteError::Invalid {
            dir: dir.to_path_buf(),
            problems: loader.problems,
        }),
    }
}

#[derive(Default)]
struct Loader {
    problems: Vec<Problem>,
}

impl Loader {
    fn problem(&mut self, location: Location, message: impl Into<String>, hint: Option<String>) {
        self.problems.push(Problem {
            location,
            message: message.into(),
            hint,
        });
    }

    fn parse<T: serde::de::DeserializeOwned>(&mut self, file: &SourceFile) -> Option<T> {
        toml::from_str(&file.text)
            .map_err(|error| self.problems.push(toml_problem(file, &error)))
            .ok()
    }

    fn template(&mut self, file: &SourceFile, text: &str, span: Range<usize>) -> Option<Template> {
        match Template::parse(text) {
            Ok(template) => Some(template),
            Err(error) => {
                self.problem(
                    file.at(span),
                    error.to_string(),
                    Some(
                        "templates look like {{ world.team_alpha }} or {{ sha256(target_key) }}"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    /// Check that every name in a template exists by `phase`.
    fn names_in(
        &mut self,
        file: &SourceFile,
        span: Range<usize>,
        template: &Template,
        names: &Names,
        phase: Phase,
        allowed_side_only: bool,
    ) {
        for var in template.vars() {
            // Point at the line of the name itself, inside a long SQL string.
            let span = file
                .text
                .get(span.clone())
                .and_then(|text| text.find(var))
                .map_or(span.clone(), |at| span.start + at..span.start + at);
            match names.get(var) {
                None => {
                    let hint = hint_for_name(var, names);
                    self.problem(
                        file.at(span.clone()),
                        format!("`{{{{{var}}}}}` is not defined"),
                        Some(hint),
                    );
                }
                Some(name) if name.phase > phase => {
                    let when = match name.phase {
                        Phase::Api(_) => "it is captured by a later [[api]] step",
                        Phase::Login => {
                            "it exists only once the login actors have logged in, after the seed"
                        }
                        _ => "it is only known inside a cell",
                    };
                    self.problem(
                        file.at(span.clone()),
                        format!("`{{{{{var}}}}}` is not known yet here: {when}"),
                        None,
                    );
                }
                Some(name) if name.allowed_only && !allowed_side_only => {
                    self.problem(
                        file.at(span.clone()),
                        format!("`{{{{{var}}}}}` is captured from the response only when the request is allowed, but this also runs when it is denied"),
                        Some("expect a value only when allowed (drop `denied`), or capture it in a [[setup]] step".into()),
                    );
                }
                Some(_) => {}
            }
        }
    }

    fn suite(
        &mut self,
        dir: &Path,
        hash: String,
        suite_file: &SourceFile,
        world_file: Option<&SourceFile>,
        scenario_files: &[SourceFile],
    ) -> Option<Suite> {
        let raw_suite: Option<raw::SuiteFile> = self.parse(suite_file);
        let world = match world_file {
            Some(file) => self
                .parse::<raw::WorldFile>(file)
                .and_then(|raw| self.world(file, raw)),
            None => {
                self.problem(
                    Location::file(&dir.join("world.toml")),
                    "the suite has no world.toml",
                    Some("create world.toml with the [actors] the pins name".into()),
                );
                None
            }
        };
        let raw_suite = raw_suite?;
        let (world, world_names) = world?;

        let mut reason = Vec::new();
        for pointer in raw_suite.reason {
            if self.pointer(suite_file, &pointer) {
                reason.push(pointer.into_inner());
            }
        }
        let mut redact = Vec::new();
        for pattern in &raw_suite.redact {
            match Regex::new(pattern.get_ref()) {
                Ok(regex) => redact.push(regex),
                Err(error) => self.problem(
                    suite_file.at(pattern.span()),
                    format!("`redact` pattern is not a valid regular expression: {error}"),
                    None,
                ),
            }
        }
        let mut cleanup = Vec::new();
        let prefix_only: Names = [(
            "prefix".to_string(),
            Name {
                phase: Phase::Seed,
                allowed_only: false,
            },
        )]
        .into();
        for entry in raw_suite.cleanup {
            let filter = match (entry.columns, entry.where_) {
                (Some(columns), None) if !columns.get_ref().is_empty() => {
                    CleanupFilter::Columns(columns.into_inner())
                }
                (None, Some(condition)) => {
                    let Some(template) =
                        self.template(suite_file, condition.get_ref(), condition.span())
                    else {
                        continue;
                    };
                    self.names_in(
                        suite_file,
                        condition.span(),
                        &template,
                        &prefix_only,
                        Phase::Seed,
                        false,
                    );
                    CleanupFilter::Where(template)
                }
                _ => {
                    self.problem(suite_file.at(entry.table.span()), format!("[[cleanup]] of `{}` needs either `columns` or `where`", entry.table.get_ref()), Some("columns = [\"user_id\"] deletes the rows whose user_id starts with the run's prefix".into()));
                    continue;
                }
            };
            cleanup.push(Cleanup {
                table: entry.table.into_inner(),
                filter,
            });
        }

        let mut scenarios: Vec<Scenario> = Vec::new();
        let mut seen: HashMap<String, PathBuf> = HashMap::new();
        for file in scenario_files {
            let Some(raw) = self.parse::<raw::ScenarioFile>(file) else {
                continue;
            };
            let Some(scenario) = self.scenario(file, raw, &world, &world_names) else {
                continue;
            };
            if let Some(first) = seen.get(&scenario.name) {
                self.problem(
                    file.whole(),
                    format!(
                        "duplicate cell: scenario `{}` is also defined in {}",
                        scenario.name,
                        first.display()
                    ),
                    Some("give one of them another `name`".into()),
                );
                continue;
            }
            seen.insert(scenario.name.clone(), file.path.clone());
            scenarios.push(scenario);
        }
        if scenario_files.is_empty() {
            self.problem(
                Location::file(&dir.join("scenarios")),
                "the suite has no scenarios",
                Some(
                    "add one file per endpoint under scenarios/, e.g. scenarios/key_info.toml"
                        .into(),
                ),
            );
        }

        Some(Suite {
            name: raw_suite.name.into_inner(),
            description: raw_suite.description,
            upstream: raw_suite.upstream,
            dir: dir.to_path_buf(),
            hash,
            reason,
            redact,
            cleanup,
            world,
            scenarios,
        })
    }

    fn pointer(&mut self, file: &SourceFile, pointer: &Spanned<String>) -> bool {
        let ok = pointer.get_ref().starts_with('/');
        if !ok {
            self.problem(
                file.at(pointer.span()),
                format!("`{}` is not a JSON pointer", pointer.get_ref()),
                Some("JSON pointers start with `/`, e.g. \"/error/message\"".into()),
            );
        }
        ok
    }

    fn world(&mut self, file: &SourceFile, raw: raw::WorldFile) -> Option<(World, Names)> {
        let mut names: Names = HashMap::new();
        let name = |names: &mut Names, key: String, phase| {
            names.insert(
                key,
                Name {
                    phase,
                    allowed_only: false,
                },
            );
        };
        name(&mut names, "prefix".into(), Phase::Seed);
        name(&mut names, "master_key".into(), Phase::Seed);

        let mut values = IndexMap::new();
        for (key, text) in raw.values {
            let Some(template) = self.template(file, text.get_ref(), text.span()) else {
                continue;
            };
            self.names_in(file, text.span(), &template, &names, Phase::Seed, false);
            name(&mut names, format!("world.{}", key.get_ref()), Phase::Seed);
            values.insert(key.into_inner(), template);
        }

        // Captures of the API steps are world values too, from their step on.
        let mut api_names = Vec::new();
        for (index, step) in raw.api.iter().enumerate() {
            for (capture, _) in &step.capture {
                api_names.push((
                    format!("world.{}", capture.get_ref()),
                    Phase::Api(index + 1),
                    capture.span(),
                ));
            }
        }
        for (key, phase, span) in &api_names {
            if names.contains_key(key) {
                self.problem(
                    file.at(span.clone()),
                    format!("`{key}` is both a value and a capture"),
                    Some("rename the capture".into()),
                );
            }
            name(&mut names, key.clone(), *phase);
        }

        let mut actors = IndexMap::new();
        let mut pending_ids = Vec::new();
        for (actor_name, actor) in raw.actors {
            let actor_name_text = actor_name.get_ref().clone();
            let credential_phase = match (&actor.key, &actor.login) {
                (Some(_), Some(login)) => {
                    self.problem(
                        file.at(login.span()),
                        format!("actor `{actor_name_text}` has both `key` and `login`"),
                        Some("an actor gets its bearer token one way".into()),
                    );
                    continue;
                }
                (Some(key), None) if !matches!(key.get_ref().as_str(), "generated" | "master") => {
                    self.problem(file.at(key.span()), format!("actor `{actor_name_text}`: key = {:?} is not \"generated\" or \"master\"", key.get_ref()), Some("leave `key` out for a fresh random key per run, or write key = \"master\"".into()));
                    continue;
                }
                (_, Some(_)) => Phase::Login,
                _ => Phase::Seed,
            };
            name(
                &mut names,
                format!("actors.{actor_name_text}.name"),
                Phase::Seed,
            );
            name(
                &mut names,
                format!("actors.{actor_name_text}.key"),
                credential_phase,
            );
            name(
                &mut names,
                format!("actors.{actor_name_text}.key_sha256"),
                credential_phase,
            );
            let id = actor
                .id
                .as_ref()
                .and_then(|id| self.template(file, id.get_ref(), id.span()));
            if let (Some(template), Some(raw_id)) = (&id, &actor.id) {
                pending_ids.push((actor_name_text.clone(), template.clone(), raw_id.span()));
            }
            let credential = match (
                actor.key.as_ref().map(|k| k.get_ref().as_str()),
                actor.login,
            ) {
                (Some("master"), _) => Credential::Master,
                (_, Some(login)) => {
                    let login = login.into_inner();
                    let request = self.http_request(
                        file,
                        &login.method,
                        &login.path,
                        None,
                        login.json.as_ref(),
                        login.form.as_ref(),
                        &names,
                        Phase::Login,
                    );
                    if !self.pointer(file, &login.token) {
                        continue;
                    }
                    let Some(request) = request else { continue };
                    Credential::Login {
                        request,
                        token: login.token.into_inner(),
                    }
                }
                _ => Credential::Generated,
            };
            actors.insert(actor_name_text, Actor { id, credential });
        }
        // An actor's id is known once every name it uses is.
        for (actor_name, template, span) in pending_ids {
            self.names_in(file, span, &template, &names, Phase::Cell, false);
            let phase = template
                .vars()
                .filter_map(|v| names.get(v))
                .map(|n| n.phase)
                .max()
                .unwrap_or(Phase::Seed);
            name(&mut names, format!("actors.{actor_name}.id"), phase);
        }

        let mut seed = Vec::new();
        for step in raw.seed {
            let Some(template) = self.template(file, step.sql.get_ref(), step.sql.span()) else {
                continue;
            };
            self.names_in(file, step.sql.span(), &template, &names, Phase::Seed, false);
            seed.push(template);
        }

        let mut api = Vec::new();
        for (index, step) in raw.api.into_iter().enumerate() {
            // Captures were named up front (with their phase), so this step's
            // own captures go to a scratch map.
            if let Some(step) = self.step(
                file,
                step,
                &actors,
                &names,
                Phase::Api(index),
                &mut HashMap::new(),
                &mut |_, _, _| {},
            ) {
                api.push(step);
            }
        }
        Some((
            World {
                values,
                actors,
                seed,
                api,
            },
            names,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn http_request(
        &mut self,
        file: &SourceFile,
        method: &Spanned<String>,
        path: &Spanned<String>,
        query: Option<&Spanned<toml::Table>>,
        json: Option<&Spanned<toml::Value>>,
        form: Option<&Spanned<toml::Table>>,
        names: &Names,
        phase: Phase,
    ) -> Option<HttpRequest> {
        self.http_request_checked(
            file,
            method,
            path,
            query,
            json,
            form,
            &mut |loader, span, template, _| {
                loader.names_in(file, span, template, names, phase, true)
            },
        )
    }

    /// Parse a request; `check` sees every template with its span and whether it
    /// is a whole JSON field value (which may be left out).
    #[allow(clippy::too_many_arguments)]
    fn http_request_checked(
        &mut self,
        file: &SourceFile,
        method: &Spanned<String>,
        path: &Spanned<String>,
        query: Option<&Spanned<toml::Table>>,
        json: Option<&Spanned<toml::Value>>,
        form: Option<&Spanned<toml::Table>>,
        check: &mut OnTemplate<'_>,
    ) -> Option<HttpRequest> {
        let parsed_method = Method::parse(method.get_ref());
        if parsed_method.is_none() {
            self.problem(
                file.at(method.span()),
                format!("unknown HTTP method `{}`", method.get_ref()),
                Some("use GET, POST, PUT, PATCH or DELETE".into()),
            );
        }
        let path_template = self.template(file, path.get_ref(), path.span());
        if let Some(t) = &path_template {
            if !path.get_ref().starts_with('/') {
                self.problem(
                    file.at(path.span()),
                    format!("path {:?} does not start with `/`", path.get_ref()),
                    None,
                );
            }
            check(self, path.span(), t, false);
        }
        let query = query
            .map(|q| self.string_table(file, q, check))
            .unwrap_or_default();
        let body = match (json, form) {
            (Some(_), Some(form)) => {
                self.problem(
                    file.at(form.span()),
                    "a request has either `json` or `form`, not both",
                    None,
                );
                Body::None
            }
            (Some(json), None) => {
                Body::Json(self.json_template(file, json.get_ref(), json.span(), false, check)?)
            }
            (None, Some(form)) => Body::Form(self.string_table(file, form, check)),
            (None, None) => Body::None,
        };
        Some(HttpRequest {
            method: parsed_method?,
            path: path_template?,
            query,
            body,
        })
    }

    fn string_table(
        &mut self,
        file: &SourceFile,
        table: &Spanned<toml::Table>,
        check: &mut OnTemplate<'_>,
    ) -> Vec<(String, Template)> {
        let mut out = Vec::new();
        for (key, value) in table.get_ref() {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    self.problem(
                        file.at(table.span()),
                        format!("`{key}` must be a string or a number"),
                        None,
                    );
                    continue;
                }
            };
            if let Some(template) = self.template(file, &text, table.span()) {
                check(self, table.span(), &template, false);
                out.push((key.clone(), template));
            }
        }
        out
    }

    fn json_template(
        &mut self,
        file: &SourceFile,
        value: &toml::Value,
        span: Range<usize>,
        field: bool,
        check: &mut OnTemplate<'_>,
    ) -> Option<JsonTemplate> {
        Some(match value {
            toml::Value::String(text) => {
                let template = self.template(file, text, span.clone())?;
                check(self, span, &template, field);
                JsonTemplate::String(template)
            }
            toml::Value::Integer(i) => JsonTemplate::Literal(Value::from(*i)),
            toml::Value::Float(f) => JsonTemplate::Literal(Value::from(*f)),
            toml::Value::Boolean(b) => JsonTemplate::Literal(Value::from(*b)),
            toml::Value::Datetime(d) => JsonTemplate::Literal(Value::from(d.to_string())),
            toml::Value::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .map(|item| self.json_template(file, item, span.clone(), false, check))
                    .collect::<Option<_>>()?,
            ),
            toml::Value::Table(table) => JsonTemplate::Object(
                table
                    .iter()
                    .map(|(k, v)| {
                        Some((
                            k.clone(),
                            self.json_template(file, v, span.clone(), true, check)?,
                        ))
                    })
                    .collect::<Option<_>>()?,
            ),
        })
    }

    fn captures(
        &mut self,
        file: &SourceFile,
        captures: raw::Captures,
        names: &mut Names,
        phase: Phase,
        allowed_only: bool,
        scope: &str,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (capture, pointer) in captures {
            if !self.pointer(file, &pointer) {
                continue;
            }
            let key = format!("{scope}{}", capture.get_ref());
            if RESERVED.contains(&capture.get_ref().as_str()) || names.contains_key(&key) {
                self.problem(
                    file.at(capture.span()),
                    format!("capture `{}` is already a name", capture.get_ref()),
                    Some(format!(
                        "reserved names are {}; pick another",
                        RESERVED.join(", ")
                    )),
                );
                continue;
            }
            names.insert(
                key,
                Name {
                    phase,
                    allowed_only,
                },
            );
            out.push((capture.into_inner(), pointer.into_inner()));
        }
        out
    }

    fn status(&mut self, file: &SourceFile, status: &Spanned<i64>) -> Option<u16> {
        match u16::try_from(*status.get_ref()) {
            Ok(code @ 100..=599) => Some(code),
            _ => {
                self.problem(
                    file.at(status.span()),
                    format!("{} is not an HTTP status code", status.get_ref()),
                    Some("status codes are 100 to 599".into()),
                );
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        file: &SourceFile,
        step: raw::Step,
        actors: &IndexMap<String, Actor>,
        names: &Names,
        phase: Phase,
        captures_into: &mut Names,
        on_template: &mut dyn FnMut(Range<usize>, &Template, bool),
    ) -> Option<HttpStep> {
        let actor = step.as_.get_ref().clone();
        match actors.get(&actor) {
            None => {
                let known: Vec<&str> = actors.keys().map(String::as_str).collect();
                self.problem(
                    file.at(step.as_.span()),
                    format!("`as = {actor:?}` is not an actor"),
                    Some(format!("the actors are {}", known.join(", "))),
                );
            }
            Some(a)
                if matches!(a.credential, Credential::Login { .. })
                    && matches!(phase, Phase::Api(_)) =>
            {
                self.problem(
                    file.at(step.as_.span()),
                    format!("[[api]] runs as `{actor}`, who logs in only after the API steps"),
                    Some("run API steps as a seeded actor or as key = \"master\"".into()),
                );
            }
            Some(_) => {}
        }
        let mut all = names.clone();
        all.extend(captures_into.iter().map(|(k, v)| (k.clone(), v.clone())));
        let request = self.http_request_checked(
            file,
            &step.method,
            &step.path,
            step.query.as_ref(),
            step.json.as_ref(),
            step.form.as_ref(),
            &mut |l, span, t, field| {
                on_template(span.clone(), t, field);
                l.names_in(file, span, t, &all, phase, true);
            },
        );
        let expect = step.expect.as_ref().and_then(|s| self.status(file, s));
        let (scope, captured_phase) = match phase {
            Phase::Api(index) => ("world.", Phase::Api(index + 1)),
            _ => ("", Phase::Cell),
        };
        let captures = self.captures(
            file,
            step.capture,
            captures_into,
            captured_phase,
            false,
            scope,
        );
        Some(HttpStep {
            actor,
            request: request?,
            expect,
            captures,
        })
    }

    fn scenario(
        &mut self,
        file: &SourceFile,
        raw: raw::ScenarioFile,
        world: &World,
        world_names: &Names,
    ) -> Option<Scenario> {
        let name = raw.name.map(Spanned::into_inner).unwrap_or_else(|| {
            file.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });

        let mut names = world_names.clone();
        for key in [
            "scratch",
            "actor.name",
            "actor.id",
            "actor.key",
            "actor.key_sha256",
        ] {
            names.insert(
                key.into(),
                Name {
                    phase: Phase::Cell,
                    allowed_only: false,
                },
            );
        }
        let mut targets: IndexMap<String, IndexMap<String, Template>> = IndexMap::new();
        let mut target_fields = BTreeSet::new();
        for (target, fields) in &raw.targets {
            let mut parsed = IndexMap::new();
            for (field, value) in fields {
                if let Some(template) = self.template(file, value.get_ref(), value.span()) {
                    self.names_in(file, value.span(), &template, &names, Phase::Cell, true);
                    target_fields.insert(field.get_ref().clone());
                    parsed.insert(field.get_ref().clone(), template);
                }
            }
            targets.insert(target.get_ref().clone(), parsed);
        }
        for field in &target_fields {
            names.insert(
                format!("target.{field}"),
                Name {
                    phase: Phase::Cell,
                    allowed_only: false,
                },
            );
        }

        // Every use of `target.X`, to check against the pinned targets later.
        let mut target_uses: Vec<(String, Range<usize>, bool)> = Vec::new();
        let mut uses_actor: Vec<(String, Range<usize>)> = Vec::new();
        let note_uses = |span: Range<usize>,
                         template: &Template,
                         whole_field: bool,
                         target_uses: &mut Vec<_>,
                         uses_actor: &mut Vec<_>| {
            for var in template.vars() {
                if let Some(field) = var.strip_prefix("target.") {
                    let omittable = whole_field && template.single_var() == Some(var);
                    target_uses.push((field.to_string(), span.clone(), omittable));
                }
                if let Some(field) = var.strip_prefix("actor.") {
                    uses_actor.push((field.to_string(), span.clone()));
                }
            }
        };

        let mut setup = Vec::new();
        let mut captures_so_far: Names = HashMap::new();
        for step in raw.setup {
            let mut on_template = |span: Range<usize>, t: &Template, field: bool| {
                note_uses(span, t, field, &mut target_uses, &mut uses_actor)
            };
            if let Some(step) = self.step(
                file,
                step,
                &world.actors,
                &names,
                Phase::Cell,
                &mut captures_so_far,
                &mut on_template,
            ) {
                setup.push(step);
            }
        }
        names.extend(captures_so_far);

        let request = raw.request.into_inner();
        let names_before_request = names.clone();
        let http = self.http_request_checked(
            file,
            &request.method,
            &request.path,
            request.query.as_ref(),
            request.json.as_ref(),
            request.form.as_ref(),
            &mut |l, span, t, field| {
                note_uses(span.clone(), t, field, &mut target_uses, &mut uses_actor);
                l.names_in(file, span, t, &names_before_request, Phase::Cell, true);
            },
        );
        let captures = self.captures(file, request.capture, &mut names, Phase::Cell, true, "");
        let pages = request.pages.and_then(|pages| {
            let pages = pages.into_inner();
            self.pointer(file, &pages.total).then(|| Pages {
                param: pages.param,
                total: pages.total.into_inner(),
            })
        });

        let mut seen_names: HashMap<String, &'static str> = HashMap::new();
        let mut unique = |loader: &mut Self, name: &Spanned<String>, kind: &'static str| {
            if let Some(other) = seen_names.insert(name.get_ref().clone(), kind) {
                loader.problem(
                    file.at(name.span()),
                    format!("{kind} `{}` has the same name as a {other}", name.get_ref()),
                    Some(
                        "names of checks, followups and responses are unique in a scenario".into(),
                    ),
                );
            }
        };

        let mut checks = Vec::new();
        for check in raw.check {
            unique(self, &check.name, "check");
            let kind = match (&check.sql, &check.response) {
                (Some(sql), None) => {
                    let Some(template) = self.template(file, sql.get_ref(), sql.span()) else {
                        continue;
                    };
                    note_uses(
                        sql.span(),
                        &template,
                        false,
                        &mut target_uses,
                        &mut uses_actor,
                    );
                    self.names_in(
                        file,
                        sql.span(),
                        &template,
                        &names,
                        Phase::Cell,
                        check.denied.is_none(),
                    );
                    CheckKind::Sql(template)
                }
                (None, Some(pointer)) => {
                    if !self.pointer(file, pointer) {
                        continue;
                    }
                    CheckKind::Response(pointer.get_ref().clone())
                }
                _ => {
                    self.problem(file.at(check.name.span()), format!("check `{}` needs exactly one of `sql` or `response`", check.name.get_ref()), Some("sql = \"SELECT ...\" reads the database; response = \"/pointer\" reads the JSON response".into()));
                    continue;
                }
            };
            if check.allowed.is_none() && check.denied.is_none() {
                self.problem(file.at(check.name.span()), format!("check `{}` has no expected value", check.name.get_ref()), Some("add `allowed = ...` (expected when the request is allowed) and/or `denied = ...`".into()));
                continue;
            }
            let mut expected = |loader: &mut Self,
                                value: &Option<Spanned<toml::Value>>,
                                allowed_side: bool| {
                value.as_ref().and_then(|v| {
                    loader.json_template(
                        file,
                        v.get_ref(),
                        v.span(),
                        false,
                        &mut |l, span, t, _| {
                            note_uses(span.clone(), t, false, &mut target_uses, &mut uses_actor);
                            l.names_in(file, span, t, &names, Phase::Cell, allowed_side);
                        },
                    )
                })
            };
            let allowed = expected(self, &check.allowed, true);
            let denied = expected(self, &check.denied, false);
            checks.push(Check {
                name: check.name.into_inner(),
                kind,
                allowed,
                denied,
            });
        }

        let mut followups = Vec::new();
        for followup in raw.followup {
            unique(self, &followup.name, "followup");
            if followup.allowed.is_none() && followup.denied.is_none() {
                self.problem(
                    file.at(followup.name.span()),
                    format!(
                        "followup `{}` has no expected status",
                        followup.name.get_ref()
                    ),
                    Some("add `allowed = 200` and/or `denied = 401`".into()),
                );
                continue;
            }
            let allowed_side = followup.denied.is_none();
            let bearer = self.template(file, followup.bearer.get_ref(), followup.bearer.span());
            if let Some(t) = &bearer {
                note_uses(
                    followup.bearer.span(),
                    t,
                    false,
                    &mut target_uses,
                    &mut uses_actor,
                );
                self.names_in(
                    file,
                    followup.bearer.span(),
                    t,
                    &names,
                    Phase::Cell,
                    allowed_side,
                );
            }
            let http = self.http_request_checked(
                file,
                &followup.method,
                &followup.path,
                followup.query.as_ref(),
                followup.json.as_ref(),
                None,
                &mut |l, span, t, field| {
                    note_uses(span.clone(), t, field, &mut target_uses, &mut uses_actor);
                    l.names_in(file, span, t, &names, Phase::Cell, allowed_side);
                },
            );
            let allowed = followup.allowed.as_ref().and_then(|s| self.status(file, s));
            let denied = followup.denied.as_ref().and_then(|s| self.status(file, s));
            if let (Some(bearer), Some(request)) = (bearer, http) {
                followups.push(Followup {
                    name: followup.name.into_inner(),
                    bearer,
                    request,
                    allowed,
                    denied,
                });
            }
        }

        let mut responses = IndexMap::new();
        for (response_name, response) in raw.response {
            unique(self, &response_name, "response");
            if !self.pointer(file, &response.items) {
                continue;
            }
            let map = match response.map.as_ref().map(|m| m.get_ref().as_str()) {
                None => None,
                Some("actor_by_key_sha256") => Some(Mapping::ActorByKeySha256),
                Some(other) => {
                    let span = response.map.as_ref().map(|m| m.span()).unwrap_or_default();
                    self.problem(
                        file.at(span),
                        format!("unknown map `{other}`"),
                        Some("the one map is \"actor_by_key_sha256\"".into()),
                    );
                    continue;
                }
            };
            responses.insert(
                response_name.into_inner(),
                ResponseSpec {
                    items: response.items.into_inner(),
                    field: response.field,
                    map,
                },
            );
        }

        let pins = self.pins(file, raw.pins, &targets, &responses, world)?;

        // A target field used where it cannot be left out must exist in every
        // pinned target; `actor.*` must exist for every pinned actor.
        for (field, span, omittable) in &target_uses {
            if *omittable {
                continue;
            }
            for target in &pins.targets {
                if targets
                    .get(target)
                    .is_some_and(|fields| !fields.contains_key(field))
                {
                    self.problem(file.at(span.clone()), format!("target `{target}` has no `{field}`, which this uses"), Some(format!("define `{field}` in [targets.{target}]; only a whole JSON field value like \"{{{{target.{field}}}}}\" is left out when a target lacks it")));
                }
            }
        }
        for (field, span) in &uses_actor {
            for (actor, row) in &pins.rows {
                if row.iter().all(Option::is_none) {
                    continue;
                }
                let Some(a) = world.actors.get(actor) else {
                    continue;
                };
                if field == "id" && a.id.is_none() {
                    self.problem(
                        file.at(span.clone()),
                        format!("`{{{{actor.id}}}}` is used, but pinned actor `{actor}` has no id"),
                        Some(format!(
                            "give [actors.{actor}] an `id`, or do not pin it here"
                        )),
                    );
                }
            }
        }

        Some(Scenario {
            name,
            endpoint: raw.endpoint,
            file: file.clone(),
            targets,
            setup,
            request: http?,
            captures,
            pages,
            checks,
            followups,
            responses,
            pins,
        })
    }

    fn pins(
        &mut self,
        file: &SourceFile,
        pins: Spanned<IndexMap<Spanned<String>, Spanned<toml::Value>>>,
        targets: &IndexMap<String, IndexMap<String, Template>>,
        responses: &IndexMap<String, ResponseSpec>,
        world: &World,
    ) -> Option<PinGrid> {
        let pins_span = pins.span();
        let mut rows_in = pins.into_inner();
        let header = rows_in.shift_remove("targets");
        let columns: Vec<String> = match header {
            None if targets.is_empty() => vec![IMPLICIT_TARGET.to_string()],
            None => {
                let names: Vec<String> = targets.keys().map(|t| format!("{t:?}")).collect();
                self.problem(
                    file.at(pins_span),
                    "[pins] needs a `targets` header naming its columns",
                    Some(format!("targets = [{}]", names.join(", "))),
                );
                return None;
            }
            Some(header) => {
                let span = header.span();
                let Some(items) = header.get_ref().as_array() else {
                    self.problem(
                        file.at(span),
                        "`targets` must be an array of target names",
                        None,
                    );
                    return None;
                };
                let mut columns = Vec::new();
                for item in items {
                    let Some(target) = item.as_str() else {
                        self.problem(
                            file.at(span.clone()),
                            "`targets` must be an array of target names",
                            None,
                        );
                        return None;
                    };
                    let known = if targets.is_empty() {
                        target == IMPLICIT_TARGET
                    } else {
                        targets.contains_key(target)
                    };
                    if !known {
                        let defined: Vec<&str> = if targets.is_empty() {
                            vec![IMPLICIT_TARGET]
                        } else {
                            targets.keys().map(String::as_str).collect()
                        };
                        self.problem(file.at(span.clone()), format!("pin for unknown target `{target}`"), Some(format!("the targets of this scenario are {}; define others as [targets.NAME]", defined.join(", "))));
                    }
                    if columns.iter().any(|c| c == target) {
                        self.problem(
                            file.at(span.clone()),
                            format!(
                                "duplicate cell: target `{target}` is listed twice in `targets`"
                            ),
                            Some("each target is one column".into()),
                        );
                    }
                    columns.push(target.to_string());
                }
                columns
            }
        };

        let mut rows = IndexMap::new();
        for (actor, row) in rows_in {
            let span = row.span();
            if !world.actors.contains_key(actor.get_ref()) {
                let known: Vec<&str> = world.actors.keys().map(String::as_str).collect();
                self.problem(
                    file.at(actor.span()),
                    format!("pin for unknown actor `{}`", actor.get_ref()),
                    Some(format!("the actors in world.toml are {}", known.join(", "))),
                );
                continue;
            }
            let Some(items) = row.get_ref().as_array() else {
                self.problem(
                    file.at(span),
                    format!(
                        "the pins of `{}` must be an array, one entry per target",
                        actor.get_ref()
                    ),
                    Some(format!(
                        "{} = [{}]",
                        actor.get_ref(),
                        vec!["200"; columns.len()].join(", ")
                    )),
                );
                continue;
            };
            if items.len() != columns.len() {
                self.problem(
                    file.at(span),
                    format!(
                        "`{}` pins {} cell{} but `targets` has {} column{}",
                        actor.get_ref(),
                        items.len(),
                        if items.len() == 1 { "" } else { "s" },
                        columns.len(),
                        if columns.len() == 1 { "" } else { "s" }
                    ),
                    Some("write \"-\" for a cell that is not pinned".into()),
                );
                continue;
            }
            let mut cells = Vec::new();
            for (column, item) in items.iter().enumerate() {
                let cell = format!("{}/{}", columns[column], actor.get_ref());
                cells.push(self.pin(file, span.clone(), &cell, item, responses, world));
            }
            rows.insert(actor.into_inner(), cells);
        }
        Some(PinGrid {
            targets: columns,
            rows,
        })
    }

    fn pin(
        &mut self,
        file: &SourceFile,
        span: Range<usize>,
        cell: &str,
        item: &toml::Value,
        responses: &IndexMap<String, ResponseSpec>,
        world: &World,
    ) -> Option<Pin> {
        let status_of = |loader: &mut Self, value: &toml::Value| -> Option<u16> {
            match value.as_integer().map(u16::try_from) {
                Some(Ok(code @ 100..=599)) => Some(code),
                _ => {
                    loader.problem(
                        file.at(span.clone()),
                        format!("cell {cell}: {value} is not an HTTP status code"),
                        Some(
                            "pin a status from 100 to 599, or \"-\" for a cell that is not run"
                                .into(),
                        ),
                    );
                    None
                }
            }
        };
        match item {
            toml::Value::String(s) if s == "-" => None,
            toml::Value::Integer(_) if responses.is_empty() => Some(Pin {
                status: status_of(self, item)?,
                responses: IndexMap::new(),
            }),
            toml::Value::Integer(_) => {
                let names: Vec<&str> = responses.keys().map(String::as_str).collect();
                self.problem(
                    file.at(span),
                    format!(
                        "cell {cell} pins a status but not the response values ({})",
                        names.join(", ")
                    ),
                    Some(format!("write {{ status = 200, {} = [...] }}", names[0])),
                );
                None
            }
            toml::Value::Table(table) => {
                let status = match table.get("status") {
                    Some(value) => status_of(self, value),
                    None => {
                        self.problem(
                            file.at(span.clone()),
                            format!("cell {cell} has no `status`"),
                            Some("write { status = 200, ... }".into()),
                        );
                        None
                    }
                };
                let mut pinned = IndexMap::new();
                for (key, value) in table {
                    if key == "status" {
                        continue;
                    }
                    let Some(spec) = responses.get(key) else {
                        let names: Vec<&str> = responses.keys().map(String::as_str).collect();
                        self.problem(
                            file.at(span.clone()),
                            format!("cell {cell} pins unknown response `{key}`"),
                            Some(if names.is_empty() {
                                "declare it as [response.NAME]".into()
                            } else {
                                format!("the responses of this scenario are {}", names.join(", "))
                            }),
                        );
                        continue;
                    };
                    let json = toml_to_json(value);
                    if let (Some(Mapping::ActorByKeySha256), Some(list)) =
                        (spec.map, json.as_array())
                    {
                        for actor in list {
                            if !actor.as_str().is_some_and(|a| world.actors.contains_key(a)) {
                                self.problem(
                                    file.at(span.clone()),
                                    format!("cell {cell}: {actor} in `{key}` is not an actor"),
                                    None,
                                );
                            }
                        }
                    }
                    pinned.insert(key.clone(), as_set(json));
                }
                for name in responses.keys() {
                    if !table.contains_key(name) {
                        self.problem(
                            file.at(span.clone()),
                            format!("cell {cell} does not pin response `{name}`"),
                            Some(format!("add `{name} = [...]` to the cell")),
                        );
                    }
                }
                Some(Pin {
                    status: status?,
                    responses: pinned,
                })
            }
            other => {
                self.problem(file.at(span), format!("cell {cell}: {other} is not a pin"), Some("a pin is a status (403), a table ({ status = 200, visible = [...] }) or \"-\"".into()));
                None
            }
        }
    }
}

fn hint_for_name(var: &str, names: &Names) -> String {
    let head = var.split('.').next().unwrap_or(var);
    let mut similar: Vec<&str> = names
        .keys()
        .filter(|k| k.starts_with(head) || k.ends_with(var.rsplit('.').next().unwrap_or(var)))
        .map(String::as_str)
        .collect();
    similar.sort();
    similar.truncate(6);
    if similar.is_empty() {
        "names are prefix, master_key, world.*, actors.NAME.id|key|key_sha256, and in scenarios actor.*, target.*, scratch and captures".into()
    } else {
        format!("defined names that look close: {}", similar.join(", "))
    }
}

/// A TOML value as JSON.
pub(crate) fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::from(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::from(*b),
        toml::Value::Datetime(d) => Value::from(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// Response values are sets: sorted, without repeats.
pub(crate) fn as_set(value: Value) -> Value {
    match value {
        Value::Array(mut items) => {
            items.sort_by_key(|v| v.to_string());
            items.dedup();
            Value::Array(items)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_suite(name: &str) -> Suite {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("matrices")
            .join(name);
        match load(&dir) {
            Ok(suite) => suite,
            Err(SuiteError::Invalid { problems, .. }) => panic!("{problems:#?}"),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn the_litellm_suite_loads_with_every_upstream_cell() {
        let suite = repo_suite("litellm");
        let per_scenario = |name: &str| {
            suite
                .cells()
                .iter()
                .filter(|c| c.id.scenario == name)
                .count()
        };
        assert_eq!(per_scenario("key_generate"), 18);
        assert_eq!(per_scenario("key_info"), 24);
        assert_eq!(per_scenario("key_list"), 8);
        assert_eq!(per_scenario("key_update"), 21);
        assert_eq!(per_scenario("key_regenerate"), 21);
        assert_eq!(per_scenario("key_delete"), 21);
        assert_eq!(suite.world.actors.len(), 9);
        let cell = suite
            .cells()
            .into_iter()
            .find(|c| c.id.to_string() == "key_update/self/owner")
            .unwrap();
        assert_eq!(cell.pin.status, 403);
        let list = suite
            .cells()
            .into_iter()
            .find(|c| c.id.to_string() == "key_list/any/proxy_admin")
            .unwrap();
        assert_eq!(list.pin.responses["visible"].as_array().unwrap().len(), 9);
    }

    #[test]
    fn the_login_suite_loads() {
        let suite = repo_suite("twin-login");
        assert_eq!(suite.cells().len(), 5);
        assert!(matches!(
            suite.world.actors["alice"].credential,
            Credential::Login { .. }
        ));
    }

    /// Write a suite into a temp dir from (path, text) pairs and load it.
    fn problems(files: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        match load(dir.path()) {
            Ok(_) => vec![],
            Err(SuiteError::Invalid { problems, .. }) => problems
                .into_iter()
                .map(|p| {
                    format!(
                        "{}: {}",
                        p.location
                            .to_string()
                            .replace(&dir.path().display().to_string(), ""),
                        p.message
                    )
                })
                .collect(),
            Err(other) => vec![other.to_string()],
        }
    }

    const SUITE: &str = "name = \"t\"\n";
    const WORLD: &str = "[actors.a]\nid = \"{{prefix}}a\"\n[actors.b]\nid = \"{{prefix}}b\"\n";

    fn scenario(text: &str) -> Vec<String> {
        problems(&[
            ("suite.toml", SUITE),
            ("world.toml", WORLD),
            ("scenarios/s.toml", text),
        ])
    }

    #[test]
    fn a_good_small_suite_has_no_problems() {
        let text = "[targets.self]\nuser = \"{{actor.id}}\"\n[request]\nmethod = \"GET\"\npath = \"/x/{{target.user}}\"\n[pins]\ntargets = [\"self\"]\na = [200]\nb = [\"-\"]\n";
        assert_eq!(scenario(text), Vec::<String>::new());
    }

    #[test]
    fn unknown_keys_name_their_line() {
        let got =
            scenario("[request]\nmethod = \"GET\"\npath = \"/x\"\nmethd = 1\n[pins]\na = [200]\n");
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with("/scenarios/s.toml:4: unknown field `methd`"),
            "{got:?}"
        );
    }

    #[test]
    fn pins_must_name_known_actors_and_targets() {
        let got = scenario(
            "[targets.self]\n[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\ntargets = [\"self\", \"other\"]\na = [200, 200]\nzed = [200, 200]\n",
        );
        assert!(
            got.iter()
                .any(|p| p.contains(":6: pin for unknown target `other`")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|p| p.contains(":8: pin for unknown actor `zed`")),
            "{got:?}"
        );
    }

    #[test]
    fn undefined_captures_are_reported_where_used() {
        let got = scenario(
            "[request]\nmethod = \"POST\"\npath = \"/x\"\njson = { key = \"{{target_key}}\" }\n[pins]\na = [200]\n",
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains(":4: `{{target_key}}` is not defined"),
            "{got:?}"
        );
    }

    #[test]
    fn request_captures_exist_only_when_allowed() {
        let text = "[request]\nmethod = \"POST\"\npath = \"/x\"\ncapture = { k = \"/key\" }\n[[followup]]\nname = \"f\"\nbearer = \"{{k}}\"\nmethod = \"GET\"\npath = \"/y\"\nallowed = 200\ndenied = 401\n[pins]\na = [200]\n";
        let got = scenario(text);
        assert!(
            got.iter()
                .any(|p| p.contains("only when the request is allowed")),
            "{got:?}"
        );
        assert_eq!(
            scenario(&text.replace("denied = 401\n", "")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn checks_need_an_expected_value() {
        let got = scenario(
            "[request]\nmethod = \"GET\"\npath = \"/x\"\n[[check]]\nname = \"c\"\nsql = \"SELECT 1\"\n[pins]\na = [200]\n",
        );
        assert_eq!(
            got,
            ["/scenarios/s.toml:5: check `c` has no expected value"]
        );
    }

    #[test]
    fn duplicate_cells_are_reported() {
        let got = scenario(
            "[targets.self]\n[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\ntargets = [\"self\", \"self\"]\na = [200, 200]\n",
        );
        assert!(got.iter().any(|p| p.contains("duplicate cell")), "{got:?}");
        let got = problems(&[
            ("suite.toml", SUITE),
            ("world.toml", WORLD),
            (
                "scenarios/a.toml",
                "name = \"s\"\n[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\na = [200]\n",
            ),
            (
                "scenarios/b.toml",
                "name = \"s\"\n[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\na = [200]\n",
            ),
        ]);
        assert!(
            got.iter()
                .any(|p| p.contains("duplicate cell: scenario `s`")),
            "{got:?}"
        );
    }

    #[test]
    fn a_target_field_that_cannot_be_left_out_must_exist() {
        let text = "[targets.self]\n[targets.team]\nteam = \"t\"\n[request]\nmethod = \"GET\"\npath = \"/x\"\njson = { team = \"{{target.team}}\" }\nquery = { q = \"{{target.team}}\" }\n[pins]\ntargets = [\"self\", \"team\"]\na = [200, 200]\n";
        let got = scenario(text);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("target `self` has no `team`"), "{got:?}");
    }

    #[test]
    fn row_lengths_and_status_codes_are_checked() {
        let got = scenario(
            "[targets.x]\n[targets.y]\n[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\ntargets = [\"x\", \"y\"]\na = [200]\nb = [200, 999]\n",
        );
        assert!(
            got.iter()
                .any(|p| p.contains(":8: `a` pins 1 cell but `targets` has 2 columns")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|p| p.contains(":9: cell y/b: 999 is not an HTTP status code")),
            "{got:?}"
        );
    }

    #[test]
    fn seeds_cannot_use_what_exists_only_after_boot() {
        let world = "[actors.admin]\nkey = \"master\"\n[[api]]\nas = \"admin\"\nmethod = \"POST\"\npath = \"/u\"\ncapture = { uid = \"/id\" }\n[[seed]]\nsql = \"SELECT {{world.uid}}\"\n";
        let got = problems(&[
            ("suite.toml", SUITE),
            ("world.toml", world),
            (
                "scenarios/s.toml",
                "[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\nadmin = [200]\n",
            ),
        ]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("world.toml:9: `{{world.uid}}` is not known yet here"),
            "{got:?}"
        );
    }
}
