//! A scenario file: targets, setup steps, the request, checks, followups and
//! response values; its pins are read by `pins.rs`.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use indexmap::IndexMap;
use regex::Regex;
use toml::Spanned;

use super::{Loader, Name, Names, OnStepTemplate, Phase};
use crate::spec::source::SourceFile;
use crate::spec::template::Template;
use crate::suite::model::*;
use crate::suite::raw;

impl Loader {
    pub(super) fn scenario(
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
                    login: None,
                },
            );
        }
        let mut targets: IndexMap<String, IndexMap<String, Template>> = IndexMap::new();
        let mut target_fields = BTreeSet::new();
        // `actor.*` used by a target's fields: needed only in that target's column.
        let mut target_uses_actor: Vec<(String, Range<usize>, String)> = Vec::new();
        // Target fields may use setup captures: their names are checked after the setup.
        let mut target_templates: Vec<(String, String, Template, Range<usize>)> = Vec::new();
        for (target, fields) in &raw.targets {
            let mut parsed = IndexMap::new();
            for (field, value) in fields {
                if let Some(template) = self.template(file, value.get_ref(), value.span()) {
                    target_templates.push((
                        target.get_ref().clone(),
                        field.get_ref().clone(),
                        template.clone(),
                        value.span(),
                    ));
                    for var in template.vars() {
                        if let Some(actor_field) = var.strip_prefix("actor.") {
                            target_uses_actor.push((
                                actor_field.to_string(),
                                value.span(),
                                target.get_ref().clone(),
                            ));
                        }
                    }
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
                    login: None,
                },
            );
        }

        // Every use of `target.X`, to check against the pinned targets later.
        // (field, span, the JSON key it is the whole value of, written `?`).
        let mut target_uses: Vec<(String, Range<usize>, Option<String>, bool)> = Vec::new();
        let mut uses_actor: Vec<(String, Range<usize>)> = Vec::new();
        let note_uses = |span: Range<usize>,
                         template: &Template,
                         json_key: Option<&str>,
                         target_uses: &mut Vec<_>,
                         uses_actor: &mut Vec<_>| {
            for var in template.vars() {
                if let Some(field) = var.strip_prefix("target.") {
                    let optional = json_key.is_some() && template.optional_var() == Some(var);
                    target_uses.push((
                        field.to_string(),
                        span.clone(),
                        json_key.map(str::to_string),
                        optional,
                    ));
                }
                if let Some(field) = var.strip_prefix("actor.") {
                    uses_actor.push((field.to_string(), span.clone()));
                }
            }
        };

        let mut setup = Vec::new();
        let mut captures_so_far: Names = HashMap::new();
        // Which setup step (1-based) captures each name, and the `target.X`
        // each step uses.
        let mut captured_by: HashMap<String, usize> = HashMap::new();
        let mut step_target_uses: Vec<(String, usize, Range<usize>)> = Vec::new();
        for (index, step) in raw.setup.into_iter().enumerate() {
            let number = index + 1;
            let before: BTreeSet<String> = captures_so_far.keys().cloned().collect();
            let mut on_template = |span: Range<usize>, t: &Template, field: Option<&str>| {
                for var in t.vars() {
                    if let Some(target_field) = var.strip_prefix("target.") {
                        step_target_uses.push((target_field.to_string(), number, span.clone()));
                    }
                }
                note_uses(span, t, field, &mut target_uses, &mut uses_actor)
            };
            if let Some(step) = self.setup_step(
                file,
                step,
                &world.actors,
                &names,
                &mut captures_so_far,
                &mut on_template,
            ) {
                setup.push(step);
            }
            for name in captures_so_far.keys() {
                if !before.contains(name) {
                    captured_by.insert(name.clone(), number);
                }
            }
        }
        names.extend(captures_so_far);
        for (target, field, template, span) in &target_templates {
            self.names_in(file, span.clone(), template, &names, Phase::Cell, true);
            // A step may use a target field only once the captures it uses exist.
            let Some((var, step)) = template
                .vars()
                .filter_map(|v| Some((v, *captured_by.get(v)?)))
                .max_by_key(|(_, step)| *step)
            else {
                continue;
            };
            for (used, user, use_span) in &step_target_uses {
                if used == field && *user <= step {
                    self.problem(
                        file.at(use_span.clone()),
                        format!("setup step {user} uses `{{{{target.{field}}}}}`, but in target `{target}` it is made from `{{{{{var}}}}}`, captured by setup step {step}"),
                        Some("a setup step can use a target field only after the steps whose captures it needs".into()),
                    );
                }
            }
        }

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
            let location = file.at(check.sql.as_ref().map_or(check.name.span(), |s| s.span()));
            let reason = check.reason.as_ref().is_some_and(|r| *r.get_ref());
            let kind = match (&check.sql, &check.response) {
                (None, None) if reason => CheckKind::Reason,
                (Some(_), _) | (_, Some(_)) if reason => {
                    self.problem(
                        file.at(check.name.span()),
                        format!(
                            "check `{}` reads the reason and also `sql` or `response`",
                            check.name.get_ref()
                        ),
                        Some("a check reads one thing: sql, response or reason".into()),
                    );
                    continue;
                }
                (Some(sql), None) => {
                    let Some(template) = self.template(file, sql.get_ref(), sql.span()) else {
                        continue;
                    };
                    note_uses(
                        sql.span(),
                        &template,
                        None,
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
                    self.problem(file.at(check.name.span()), format!("check `{}` needs exactly one of `sql`, `response` or `reason`", check.name.get_ref()), Some("sql = \"SELECT ...\" reads the database; response = \"/pointer\" reads the JSON response; reason = true reads the denial reason".into()));
                    continue;
                }
            };
            if check.allowed.is_none() && check.denied.is_none() {
                self.problem(file.at(check.name.span()), format!("check `{}` has no expected value", check.name.get_ref()), Some("add `allowed = ...` (expected when the request is allowed) and/or `denied = ...`".into()));
                continue;
            }
            let mut expected =
                |loader: &mut Self, value: &Option<Spanned<toml::Value>>, allowed_side: bool| {
                    let v = value.as_ref()?;
                    let mut on_template =
                        |l: &mut Self, span: Range<usize>, t: &Template, _: Option<&str>| {
                            note_uses(span.clone(), t, None, &mut target_uses, &mut uses_actor);
                            l.names_in(file, span, t, &names, Phase::Cell, allowed_side);
                        };
                    match loader.matcher(file, v)? {
                        Some(matcher) => match matcher {
                            Matcher::Contains(text) => {
                                let template = loader.template(file, &text, v.span())?;
                                on_template(loader, v.span(), &template, None);
                                Some(Expected::Contains(template))
                            }
                            Matcher::Matches(regex) => Some(Expected::Matches(regex)),
                            Matcher::Absent => Some(Expected::Absent),
                        },
                        None => loader
                            .json_template(file, v.get_ref(), v.span(), None, &mut on_template)
                            .map(Expected::Equals),
                    }
                };
            let allowed = expected(self, &check.allowed, true);
            let denied = expected(self, &check.denied, false);
            checks.push(Check {
                name: check.name.into_inner(),
                location,
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
                    None,
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
                Some("world") => Some(Mapping::World),
                Some(other) => {
                    let span = response.map.as_ref().map(|m| m.span()).unwrap_or_default();
                    self.problem(
                        file.at(span),
                        format!("unknown map `{other}`"),
                        Some("the maps are \"actor_by_key_sha256\" and \"world\"".into()),
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
        for (field, span, json_key, optional) in &target_uses {
            if *optional {
                continue;
            }
            for target in &pins.targets {
                if targets
                    .get(target)
                    .is_some_and(|fields| !fields.contains_key(field))
                {
                    let (what, hint) = match json_key {
                        Some(key) => (
                            format!("JSON field `{key}`"),
                            format!(
                                "define `{field}` in [targets.{target}], or write `{key} = \"{{{{target.{field}?}}}}\"` to leave the field out for targets without it"
                            ),
                        ),
                        None => (
                            "this".to_string(),
                            format!(
                                "define `{field}` in [targets.{target}]; only a whole JSON field value written \"{{{{target.{field}?}}}}\" may be left out"
                            ),
                        ),
                    };
                    self.problem(
                        file.at(span.clone()),
                        format!("target `{target}` has no `{field}`, which {what} uses"),
                        Some(hint),
                    );
                }
            }
        }
        let everywhere = uses_actor.iter().map(|(field, span)| (field, span, None));
        let per_target = target_uses_actor
            .iter()
            .map(|(field, span, target)| (field, span, Some(target.as_str())));
        let uses: Vec<_> = everywhere.chain(per_target).collect();
        for (actor, row) in &pins.rows {
            let Some(a) = world.actors.get(actor) else {
                continue;
            };
            let mut reported = BTreeSet::new();
            for (column, pin) in row.iter().enumerate() {
                if pin.is_none() {
                    continue;
                }
                let column_target = pins.targets[column].as_str();
                for (field, span, only_in) in &uses {
                    if only_in.is_some_and(|t| t != column_target) {
                        continue;
                    }
                    let missing = match field.as_str() {
                        "id" => !a.has_id(),
                        "key" | "key_sha256" => matches!(a.credential, Credential::Anonymous),
                        _ => false,
                    };
                    if !missing || !reported.insert((field.to_string(), span.start)) {
                        continue;
                    }
                    let (what, hint) = if field.as_str() == "id" {
                        (
                            "has no id",
                            format!("give [actors.{actor}] an `id`, or pin \"-\" for it here"),
                        )
                    } else {
                        (
                            "is anonymous and has no key",
                            format!("pin \"-\" for `{actor}` where the key is used"),
                        )
                    };
                    self.problem(
                        file.at((*span).clone()),
                        format!(
                            "`{{{{actor.{field}}}}}` is used, but pinned actor `{actor}` {what}"
                        ),
                        Some(hint),
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
}

impl Loader {
    /// A `[[setup]]` step: SQL, or an HTTP request as an actor.
    fn setup_step(
        &mut self,
        file: &SourceFile,
        step: raw::SetupStep,
        actors: &IndexMap<String, Actor>,
        names: &Names,
        captures_into: &mut Names,
        on_template: &mut OnStepTemplate<'_>,
    ) -> Option<SetupStep> {
        if let Some(sql) = step.sql {
            let http_keys = [
                step.as_.as_ref().map(|_| "as"),
                step.method.as_ref().map(|_| "method"),
                step.path.as_ref().map(|_| "path"),
                step.query.as_ref().map(|_| "query"),
                step.json.as_ref().map(|_| "json"),
                step.form.as_ref().map(|_| "form"),
                step.expect.as_ref().map(|_| "expect"),
            ];
            if let Some(key) = http_keys.into_iter().flatten().next() {
                self.problem(
                    file.at(sql.span()),
                    format!("a [[setup]] step with `sql` has no `{key}`: SQL runs on the tool's own connection"),
                    Some("write the request as its own [[setup]] step".into()),
                );
                return None;
            }
            let template = self.template(file, sql.get_ref(), sql.span())?;
            on_template(sql.span(), &template, None);
            let mut all = names.clone();
            all.extend(captures_into.iter().map(|(k, v)| (k.clone(), v.clone())));
            self.names_in(file, sql.span(), &template, &all, Phase::Cell, true);
            let captures = self.captures(file, step.capture, captures_into, Phase::Cell, false, "");
            return Some(SetupStep::Sql {
                sql: template,
                location: file.at(sql.span()),
                captures,
            });
        }
        let missing: Vec<&str> = [
            ("as", step.as_.is_none()),
            ("method", step.method.is_none()),
            ("path", step.path.is_none()),
        ]
        .into_iter()
        .filter_map(|(key, missing)| missing.then_some(key))
        .collect();
        let (Some(as_), Some(method), Some(path)) = (step.as_, step.method, step.path) else {
            let span = step
                .capture
                .keys()
                .next()
                .map(|k| k.span())
                .unwrap_or_default();
            self.problem(
                file.at(span),
                format!("a [[setup]] step needs `sql`, or `as`, `method` and `path` (missing: {})", missing.join(", ")),
                Some("sql = \"INSERT ... RETURNING id\" runs SQL; as = \"admin\", method = \"POST\", path = \"/x\" sends a request".into()),
            );
            return None;
        };
        let http = raw::Step {
            as_,
            method,
            path,
            query: step.query,
            json: step.json,
            form: step.form,
            expect: step.expect,
            capture: step.capture,
            makes: None,
        };
        self.step(
            file,
            http,
            actors,
            names,
            Phase::Cell,
            captures_into,
            on_template,
        )
        .map(SetupStep::Http)
    }
}

/// A check's expected value that is a matcher rather than a value.
enum Matcher {
    Contains(String),
    Matches(Regex),
    Absent,
}

impl Loader {
    /// `{ contains = "..." }`, `{ matches = "regex" }` or `{ absent = true }`;
    /// `Some(None)` for a plain value, `None` after a problem.
    fn matcher(
        &mut self,
        file: &SourceFile,
        value: &Spanned<toml::Value>,
    ) -> Option<Option<Matcher>> {
        let Some(table) = value.get_ref().as_table() else {
            return Some(None);
        };
        let mut entries = table.iter();
        let (Some((key, inner)), None) = (entries.next(), entries.next()) else {
            return Some(None);
        };
        let hint = || {
            Some("matchers are { contains = \"text\" }, { matches = \"regex\" } and { absent = true }".to_string())
        };
        match (key.as_str(), inner) {
            ("contains", toml::Value::String(text)) => Some(Some(Matcher::Contains(text.clone()))),
            ("matches", toml::Value::String(pattern)) => match Regex::new(pattern) {
                Ok(regex) => Some(Some(Matcher::Matches(regex))),
                Err(error) => {
                    self.problem(
                        file.at(value.span()),
                        format!("`matches` is not a valid regular expression: {error}"),
                        None,
                    );
                    None
                }
            },
            ("absent", toml::Value::Boolean(true)) => Some(Some(Matcher::Absent)),
            ("contains" | "matches" | "absent", other) => {
                self.problem(
                    file.at(value.span()),
                    format!("`{key}` cannot be {other}"),
                    hint(),
                );
                None
            }
            _ => Some(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn a_good_small_suite_has_no_problems() {
        let text = "[targets.self]\nuser = \"{{actor.id}}\"\n[request]\nmethod = \"GET\"\npath = \"/x/{{target.user}}\"\n[pins]\ntargets = [\"self\"]\na = [200]\nb = [\"-\"]\n";
        assert_eq!(scenario(text), Vec::<String>::new());
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
    fn a_target_field_that_cannot_be_left_out_must_exist() {
        let text = "[targets.self]\n[targets.team]\nteam = \"t\"\n[request]\nmethod = \"GET\"\npath = \"/x\"\njson = { team = \"{{target.team?}}\" }\nquery = { q = \"{{target.team}}\" }\n[pins]\ntargets = [\"self\", \"team\"]\na = [200, 200]\n";
        let got = scenario(text);
        assert_eq!(
            got,
            ["/scenarios/s.toml:8: target `self` has no `team`, which this uses"]
        );
        // Without the `?`, a JSON field is not left out silently either.
        let bare = text
            .replace("{{target.team?}}", "{{target.team}}")
            .replace("query = { q = \"{{target.team}}\" }\n", "");
        assert_eq!(
            scenario(&bare),
            ["/scenarios/s.toml:7: target `self` has no `team`, which JSON field `team` uses"]
        );
        assert_eq!(
            scenario(&text.replace("query = { q = \"{{target.team}}\" }\n", "")),
            Vec::<String>::new()
        );
        // `?` only as a whole JSON field value, and only on a target field.
        let got = scenario(&text.replace("q = \"{{target.team}}\"", "q = \"{{target.team?}}\""));
        assert!(
            got.iter().any(|p| p.contains(
                ":8: `{{target.team?}}` may be left out only as the whole value of a JSON field"
            )),
            "{got:?}"
        );
        let got = scenario(&text.replace("{{target.team?}}", "t-{{target.team?}}"));
        assert!(
            got.iter().any(|p| p.contains(":7: `{{target.team?}}` may be left out only as a whole value")),
            "{got:?}"
        );
        let got = scenario(&text.replace("{{target.team?}}", "{{scratch?}}"));
        assert!(
            got.iter()
                .any(|p| p.contains(":7: `{{scratch?}}`: only a target field may be missing")),
            "{got:?}"
        );
    }

    #[test]
    fn actor_ids_are_needed_only_where_a_target_uses_them() {
        // `b` has no id: fine in the `all` column, not in `self`, whose target uses it.
        let world = "[actors.a]\nid = \"{{prefix}}a\"\n[actors.b]\n";
        let text = "[targets.self]\nuser = \"{{actor.id}}\"\n[targets.all]\n[request]\nmethod = \"GET\"\npath = \"/x\"\njson = { user = \"{{target.user?}}\" }\n[pins]\ntargets = [\"self\", \"all\"]\na = [200, 200]\nb = [\"-\", 200]\n";
        let run = |text: &str| {
            problems(&[
                ("suite.toml", SUITE),
                ("world.toml", world),
                ("scenarios/s.toml", text),
            ])
        };
        assert_eq!(run(text), Vec::<String>::new());
        let got = run(&text.replace("b = [\"-\", 200]", "b = [200, 200]"));
        assert_eq!(
            got,
            ["/scenarios/s.toml:2: `{{actor.id}}` is used, but pinned actor `b` has no id"]
        );
    }

    #[test]
    fn checks_can_match_text_and_absence() {
        let text = "[request]\nmethod = \"GET\"\npath = \"/x\"\n[[check]]\nname = \"why\"\nreason = true\ndenied = { contains = \"{{actor.name}} may not\" }\n[[check]]\nname = \"detail\"\nresponse = \"/detail\"\ndenied = { matches = \"^Only .* admin\" }\nallowed = { absent = true }\n[pins]\na = [200]\n";
        assert_eq!(scenario(text), Vec::<String>::new());
        let got = scenario(&text.replace("^Only .* admin", "(unclosed"));
        assert!(
            got.iter()
                .any(|p| p.contains(":11: `matches` is not a valid regular expression")),
            "{got:?}"
        );
        let got = scenario(&text.replace("absent = true", "absent = 1"));
        assert!(
            got.iter().any(|p| p.contains("`absent` cannot be 1")),
            "{got:?}"
        );
        let got = scenario(&text.replace("reason = true\n", "reason = true\nsql = \"SELECT 1\"\n"));
        assert!(
            got.iter().any(|p| p.contains("reads the reason and also")),
            "{got:?}"
        );
    }

    #[test]
    fn sql_setup_steps_capture_and_targets_use_them_in_order() {
        let text = "[targets.gone]\nuser = \"{{gone_id}}\"\n[targets.self]\nuser = \"{{actor.id}}\"\n[[setup]]\nsql = \"INSERT INTO t (id) VALUES ({{scratch}}) RETURNING id\"\ncapture = { gone_id = \"/id\" }\n[[setup]]\nsql = \"DELETE FROM t WHERE id = {{target.user}}\"\n[request]\nmethod = \"GET\"\npath = \"/u/{{target.user}}\"\n[pins]\ntargets = [\"gone\", \"self\"]\na = [404, 200]\n";
        assert_eq!(scenario(text), Vec::<String>::new());
        // The first step cannot use a field made from its own capture.
        let early = text.replace("VALUES ({{scratch}})", "VALUES ({{target.user}})");
        let got = scenario(&early);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains(":6: setup step 1 uses `{{target.user}}`, but in target `gone` it is made from `{{gone_id}}`, captured by setup step 1"),
            "{got:?}"
        );
        let mixed = text.replace(
            "[[setup]]\nsql = \"DELETE",
            "[[setup]]\nas = \"a\"\nsql = \"DELETE",
        );
        let got = scenario(&mixed);
        assert!(
            got.iter()
                .any(|p| p.contains("a [[setup]] step with `sql` has no `as`")),
            "{got:?}"
        );
        let neither = text.replace(
            "sql = \"DELETE FROM t WHERE id = {{target.user}}\"\n",
            "method = \"GET\"\n",
        );
        let got = scenario(&neither);
        assert!(
            got.iter().any(
                |p| p.contains("needs `sql`, or `as`, `method` and `path` (missing: as, path)")
            ),
            "{got:?}"
        );
    }
}
