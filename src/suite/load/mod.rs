//! Load a suite folder and validate it before anything runs.
//!
//! Every problem names the file, the line and the key, and most carry a hint.
//! All problems of a suite are collected, so one run shows them all.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::model::*;
use super::raw;
use crate::spec::source::{Location, Problem, SourceFile, toml_problem};
use crate::spec::template::Template;

mod auth;
mod pins;
mod request;
mod scenario;
mod world;

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
    /// Known inside a cell once followup N (from 1) has run; a followup's
    /// templates are read at `Followup(its number - 1)`, checks at
    /// [`AFTER_FOLLOWUPS`].
    Followup(usize),
}

/// Where checks read their names: after every followup.
const AFTER_FOLLOWUPS: Phase = Phase::Followup(usize::MAX);

#[derive(Debug, Clone)]
struct Name {
    phase: Phase,
    /// Captured from the request under test: only there when it was allowed.
    allowed_only: bool,
    /// Made by this login actor's login (its key, its `whoami` captures).
    login: Option<String>,
}

type Names = HashMap<String, Name>;

/// Sees every template of a request with its span, and the JSON field's key
/// when the template is that field's whole value (which `{{target.X?}}` may
/// leave out).
type OnTemplate<'a> = dyn FnMut(&mut Loader, Range<usize>, &Template, Option<&str>) + 'a;

/// [`OnTemplate`] for a step, which does not need the loader.
type OnStepTemplate<'a> = dyn FnMut(Range<usize>, &Template, Option<&str>) + 'a;

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
    let (mut scenario_paths, mut strays) = scenario_entries(&scenario_dir);
    scenario_paths.sort();
    strays.sort();
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
    for (path, why) in strays {
        loader.problem(
            Location::file(&path),
            why,
            Some(
                "a scenario is a file NAME.toml directly in scenarios/: rename it, or move it out \
                 of scenarios/ (names starting with `.` are skipped)"
                    .into(),
            ),
        );
    }
    let suite = loader.suite(dir, hash, &suite_file, world_file.as_ref(), &scenario_files);
    match suite {
        Some(suite) if loader.problems.is_empty() => Ok(suite),
        _ => Err(SuiteError::Invalid {
            dir: dir.to_path_buf(),
            problems: loader.problems,
        }),
    }
}

/// The scenario files of `dir` (each `NAME.toml` in it), and the entries
/// that are not one, each with why: a file that is not `*.toml` (`.TOML`,
/// `.tml`, `key_info.toml.off`) or a folder would otherwise be skipped in
/// silence, and the cells it pins would never run while the check says every
/// cell is GREEN. Hidden entries (`.gitkeep`, an editor's files) are skipped.
fn scenario_entries(dir: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let (mut scenarios, mut strays) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (scenarios, strays);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            strays.push((
                path,
                "a folder in scenarios/: scenarios are not read from folders, so the files in it would never run".into(),
            ));
        } else if path.extension().is_some_and(|x| x == "toml") {
            scenarios.push(path);
        } else {
            strays.push((
                path,
                "not a scenario file (NAME.toml): the cells it pins would never run".into(),
            ));
        }
    }
    (scenarios, strays)
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
        let template = self.template_or_optional(file, text, span.clone())?;
        if let Some(var) = template.optional_var() {
            self.problem(
                file.at(span),
                format!("`{{{{{var}?}}}}` may be left out only as the whole value of a JSON field"),
                Some(format!(
                    "write \"{{{{{var}}}}}\" here: only a JSON body field can be left out"
                )),
            );
            return None;
        }
        Some(template)
    }

    /// A template that may be `{{ name? }}` (a JSON field's whole value).
    fn template_or_optional(
        &mut self,
        file: &SourceFile,
        text: &str,
        span: Range<usize>,
    ) -> Option<Template> {
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
                    let when = match (&name.login, name.phase) {
                        (Some(actor), Phase::Api(_) | Phase::Login) => format!(
                            "it exists only once `{actor}` has logged in, on the server (after the seed)"
                        ),
                        (None, Phase::Api(_)) => "it is captured by a later [[api]] step".into(),
                        (None, Phase::Login) => {
                            "it exists only once the login actors have logged in, after the seed"
                                .into()
                        }
                        (_, Phase::Followup(step)) => {
                            format!("it is captured by followup {step}, which runs after this")
                        }
                        _ => "it is only known inside a cell".into(),
                    };
                    let hint = match name.phase {
                        Phase::Followup(step) => Some(format!(
                            "a followup can use the captures of the setup, the request and the followups before it: move this step after followup {step}"
                        )),
                        _ => None,
                    };
                    self.problem(
                        file.at(span.clone()),
                        format!("`{{{{{var}}}}}` is not known yet here: {when}"),
                        hint,
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
        let default_auth = raw_suite
            .as_ref()
            .and_then(|s| s.auth.as_ref())
            .and_then(|auth| self.auth(suite_file, auth.get_ref(), "[auth]"));
        let world = match world_file {
            Some(file) => self.parse::<raw::WorldFile>(file).and_then(|raw| {
                self.world(file, raw, default_auth.as_ref().map(|a| (suite_file, a)))
            }),
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
                login: None,
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
            auth: default_auth.map(|a| a.scheme).unwrap_or_default(),
            world,
            scenarios,
        })
    }

    fn pointer(&mut self, file: &SourceFile, pointer: &Spanned<String>) -> bool {
        let ok = pointer.get_ref().is_empty() || pointer.get_ref().starts_with('/');
        if !ok {
            self.problem(
                file.at(pointer.span()),
                format!("`{}` is not a JSON pointer", pointer.get_ref()),
                Some("JSON pointers start with `/`, e.g. \"/error/message\", or are \"\" (the whole response)".into()),
            );
        }
        ok
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
pub(super) mod testing {
    use super::*;

    pub(crate) fn problems(files: &[(&str, &str)]) -> Vec<String> {
        problems_with_hints(files)
            .into_iter()
            .map(|(problem, _)| problem)
            .collect()
    }

    /// The problems of a scenario with their hints: `(problem, hint)`.
    pub(crate) fn scenario_hints(text: &str) -> Vec<(String, String)> {
        problems_with_hints(&[
            ("suite.toml", SUITE),
            ("world.toml", WORLD),
            ("scenarios/s.toml", text),
        ])
    }

    /// Load a suite of `files` written to a temp folder: its problems, each
    /// as `(where: what, hint)` with the folder left out of where.
    fn problems_with_hints(files: &[(&str, &str)]) -> Vec<(String, String)> {
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
                    let at = p
                        .location
                        .to_string()
                        .replace(&dir.path().display().to_string(), "");
                    (format!("{at}: {}", p.message), p.hint.unwrap_or_default())
                })
                .collect(),
            Err(other) => vec![(other.to_string(), String::new())],
        }
    }

    pub(crate) const SUITE: &str = "name = \"t\"\n";
    pub(crate) const WORLD: &str =
        "[actors.a]\nid = \"{{prefix}}a\"\n[actors.b]\nid = \"{{prefix}}b\"\n";

    pub(crate) fn scenario(text: &str) -> Vec<String> {
        problems(&[
            ("suite.toml", SUITE),
            ("world.toml", WORLD),
            ("scenarios/s.toml", text),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
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
        // The single-request tests beside upstream's matrices.
        assert_eq!(per_scenario("key_regenerate_path"), 1);
        assert_eq!(per_scenario("key_update_missing_key"), 1);
        assert_eq!(per_scenario("key_delete_missing_key"), 1);
        assert_eq!(per_scenario("key_update_budget_denied"), 3);
        assert_eq!(per_scenario("key_list_alias"), 6);
        assert_eq!(per_scenario("key_list_team"), 2);
        assert_eq!(suite.cells().len(), 127);
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

    #[test]
    fn a_wrong_type_says_what_to_write_not_the_rust_type() {
        let got = scenario_hints(
            "[[setup]]\nas = \"a\"\nmethod = \"GET\"\npath = \"/x\"\nexpect = \"200\"\n[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\na = [200]\n",
        );
        assert_eq!(
            got,
            [(
                "/scenarios/s.toml:5: `expect`: invalid type: string \"200\", expected an integer"
                    .to_string(),
                "`expect` takes an integer".to_string()
            )]
        );
    }

    #[test]
    fn a_denied_cell_without_its_response_values_is_told_to_pin_them_with_its_status() {
        let got = scenario_hints(
            "[request]\nmethod = \"GET\"\npath = \"/x\"\n[response.seen]\nitems = \"/data\"\n[pins]\na = [{ status = 200, seen = [] }]\nb = [401]\n",
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].1,
            "write { status = 401, seen = [...] }: a denied cell pins what it lists too, often []"
        );
    }

    #[test]
    fn a_file_or_folder_in_scenarios_that_is_not_a_scenario_file_is_refused() {
        let ok = "[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\na = [200]\n";
        let got = problems(&[
            ("suite.toml", SUITE),
            ("world.toml", WORLD),
            ("scenarios/s.toml", ok),
            ("scenarios/upper.TOML", ok),
            ("scenarios/typo.tml", ok),
            ("scenarios/nested/deep.toml", ok),
            ("scenarios/.gitkeep", ""),
            ("scenarios/.s.toml.swp", ""),
        ]);
        assert_eq!(
            got,
            [
                "/scenarios/nested: a folder in scenarios/: scenarios are not read from folders, \
                 so the files in it would never run",
                "/scenarios/typo.tml: not a scenario file (NAME.toml): the cells it pins would \
                 never run",
                "/scenarios/upper.TOML: not a scenario file (NAME.toml): the cells it pins would \
                 never run",
            ]
        );
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
}
