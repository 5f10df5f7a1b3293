//! A scenario file: targets, setup steps, the request, checks, followups and
//! response values; its pins are read by `pins.rs`.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use indexmap::IndexMap;
use regex::Regex;
use toml::Spanned;

use super::{AFTER_FOLLOWUPS, Loader, Name, Names, OnStepTemplate, Phase};
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

        // Followups before checks: a check may use their captures. Every
        // capture is named first, each known from its own step on, so a
        // template that uses a later step's capture says so.
        let mut raw_followups = raw.followup;
        let mut followup_captures: Vec<Vec<(String, String)>> = Vec::new();
        let mut captured_later: BTreeSet<String> = BTreeSet::new();
        for (index, followup) in raw_followups.iter_mut().enumerate() {
            let number = index + 1;
            let runs_when_allowed_only = followup.expect.is_none() && followup.denied.is_none();
            let runs_when_denied_only = followup.expect.is_none()
                && followup.allowed.is_none()
                && followup.denied.is_some();
            let capture = std::mem::take(&mut followup.capture);
            if runs_when_denied_only && let Some((first, _)) = capture.first() {
                self.problem(
                    file.at(first.span()),
                    format!(
                        "followup {number} captures `{}`, but it runs only when the request is denied",
                        first.get_ref()
                    ),
                    Some("give it `expect = STATUS` (it then runs on both sides), or `allowed` too".into()),
                );
                followup_captures.push(Vec::new());
                continue;
            }
            let taken = self.captures(
                file,
                capture,
                &mut names,
                Phase::Followup(number),
                runs_when_allowed_only,
                "",
            );
            captured_later.extend(taken.iter().map(|(name, _)| name.clone()));
            followup_captures.push(taken);
        }
        let mut followups = Vec::new();
        for ((index, followup), captures) in
            raw_followups.into_iter().enumerate().zip(followup_captures)
        {
            let number = index + 1;
            let phase = Phase::Followup(index);
            if let Some(name) = &followup.name {
                unique(self, name, "followup");
            }
            let label = match &followup.name {
                Some(name) => format!("followup `{}`", name.get_ref()),
                None => format!("followup {number}"),
            };
            let at = followup
                .name
                .as_ref()
                .map_or(followup.method.span(), |n| n.span());
            let (allowed, denied) = match (&followup.expect, &followup.allowed, &followup.denied) {
                (Some(expect), None, None) => {
                    let status = self.status(file, expect);
                    (status, status)
                }
                (Some(expect), _, _) => {
                    self.problem(
                        file.at(expect.span()),
                        format!("{label} has `expect` and also `allowed` or `denied`"),
                        Some("`expect = 200` is the status whatever the request under test got; `allowed` / `denied` give one per side".into()),
                    );
                    continue;
                }
                (None, None, None) => {
                    self.problem(
                        file.at(at),
                        format!("{label} has no expected status"),
                        Some("add `expect = 200` (whatever the request under test got), or `allowed = 200` and/or `denied = 401`".into()),
                    );
                    continue;
                }
                (None, allowed, denied) => (
                    allowed.as_ref().and_then(|s| self.status(file, s)),
                    denied.as_ref().and_then(|s| self.status(file, s)),
                ),
            };
            // Sent only when the request under test was allowed: it may use
            // what that request captured.
            let allowed_side = followup.expect.is_none() && followup.denied.is_none();
            let sender = match (&followup.as_, &followup.bearer) {
                (Some(as_), Some(_)) => {
                    self.problem(
                        file.at(as_.span()),
                        format!("{label} has both `as` and `bearer`"),
                        Some("`as = \"admin\"` sends it as that actor; `bearer = \"{{new_key}}\"` with a token written out".into()),
                    );
                    continue;
                }
                (Some(as_), None) => {
                    let actor = as_.get_ref();
                    if !world.actors.contains_key(actor) {
                        let known: Vec<&str> = world.actors.keys().map(String::as_str).collect();
                        let anonymous = world
                            .actors
                            .iter()
                            .find(|(_, a)| matches!(a.credential, Credential::Anonymous));
                        let also = match anonymous {
                            Some((name, _)) => format!(" (`{name}` sends no credentials)"),
                            None => "; for a caller with no credentials, declare [actors.anonymous] with `anonymous = true` in world.toml".into(),
                        };
                        self.problem(
                            file.at(as_.span()),
                            format!("`as = {actor:?}` is not an actor"),
                            Some(format!("the actors are {}{also}", known.join(", "))),
                        );
                        continue;
                    }
                    Sender::Actor(actor.clone())
                }
                (None, Some(bearer)) => {
                    let Some(t) = self.template(file, bearer.get_ref(), bearer.span()) else {
                        continue;
                    };
                    note_uses(bearer.span(), &t, None, &mut target_uses, &mut uses_actor);
                    self.names_in(file, bearer.span(), &t, &names, phase, allowed_side);
                    Sender::Bearer(t)
                }
                (None, None) => Sender::CellActor,
            };
            let http = self.http_request_checked(
                file,
                &followup.method,
                &followup.path,
                followup.query.as_ref(),
                followup.json.as_ref(),
                followup.form.as_ref(),
                &mut |l, span, t, field| {
                    note_uses(span.clone(), t, field, &mut target_uses, &mut uses_actor);
                    l.names_in(file, span, t, &names, phase, allowed_side);
                },
            );
            if let Some(request) = http {
                followups.push(Followup {
                    name: followup
                        .name
                        .map_or_else(|| number.to_string(), Spanned::into_inner),
                    number,
                    sender,
                    request,
                    allowed,
                    denied,
                    captures,
                });
            }
        }
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
                        AFTER_FOLLOWUPS,
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
                            l.names_in(file, span, t, &names, AFTER_FOLLOWUPS, allowed_side);
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
            let mut check = Check {
                name: check.name.into_inner(),
                location,
                kind,
                allowed,
                denied,
                after_followups: false,
            };
            check.after_followups = check.vars().iter().any(|v| captured_later.contains(*v));
            checks.push(check);
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
    use crate::suite::model::{Body, Sender};

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

    /// A short sequence after the request: as another actor, with the cell's
    /// actor, with a token; captures used by later steps and by a check.
    const SEQUENCE: &str = "[request]\nmethod = \"POST\"\npath = \"/key/generate\"\ncapture = { first = \"/key\" }\n[[followup]]\nas = \"b\"\nmethod = \"POST\"\npath = \"/key/update\"\njson = { key = \"{{first}}\" }\nallowed = 200\n[[followup]]\nmethod = \"POST\"\npath = \"/key/regenerate\"\njson = { key = \"{{first}}\" }\nallowed = 200\ncapture = { second = \"/key\" }\n[[followup]]\nname = \"old\"\nbearer = \"{{first}}\"\nmethod = \"GET\"\npath = \"/key/info\"\nallowed = 401\n[[followup]]\nmethod = \"POST\"\npath = \"/x\"\nform = { k = \"{{second}}\" }\nallowed = 200\n[[check]]\nname = \"rotated\"\nsql = \"SELECT count(*) FROM t WHERE token = {{sha256(second)}}\"\nallowed = 1\n[[check]]\nname = \"early\"\nresponse = \"/key\"\nallowed = { matches = \"^sk-\" }\n[pins]\na = [200]\n";

    #[test]
    fn a_followup_sequence_loads_and_its_checks_know_when_they_run() {
        assert_eq!(scenario(SEQUENCE), Vec::<String>::new());
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("suite.toml", SUITE),
            ("world.toml", WORLD),
            ("scenarios/s.toml", SEQUENCE),
        ] {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let suite = crate::suite::load(dir.path()).unwrap();
        let loaded = &suite.scenarios[0];
        let steps: Vec<(&str, usize, Option<u16>, Option<u16>)> = loaded
            .followups
            .iter()
            .map(|f| (f.name.as_str(), f.number, f.allowed, f.denied))
            .collect();
        assert_eq!(
            steps,
            [
                ("1", 1, Some(200), None),
                ("2", 2, Some(200), None),
                ("old", 3, Some(401), None),
                ("4", 4, Some(200), None)
            ]
        );
        assert!(matches!(&loaded.followups[0].sender, Sender::Actor(a) if a == "b"));
        assert!(matches!(loaded.followups[1].sender, Sender::CellActor));
        assert!(matches!(loaded.followups[2].sender, Sender::Bearer(_)));
        assert!(matches!(loaded.followups[3].request.body, Body::Form(_)));
        assert_eq!(
            loaded.followups[1].captures,
            [("second".to_string(), "/key".to_string())]
        );
        // The check that reads the rotated key waits for the followups; the
        // one on the request's response does not.
        let after: Vec<bool> = loaded.checks.iter().map(|c| c.after_followups).collect();
        assert_eq!(after, [true, false]);
        // `expect` is the status on both sides.
        let both = SEQUENCE.replace(
            "path = \"/x\"\nform = { k = \"{{second}}\" }\nallowed = 200",
            "path = \"/x\"\nexpect = 404",
        );
        assert_eq!(scenario(&both), Vec::<String>::new());
    }

    #[test]
    fn followup_sequences_are_checked_naming_the_line_and_key() {
        let hints = |text: &str| scenario_hints(text);
        // An actor that does not exist, with what does.
        let got = hints(&SEQUENCE.replace("as = \"b\"", "as = \"nobody\""));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].0,
            "/scenarios/s.toml:6: `as = \"nobody\"` is not an actor"
        );
        assert!(
            got[0].1.contains(
                "the actors are a, b; for a caller with no credentials, declare [actors.anonymous]"
            ),
            "{got:?}"
        );
        // A capture of a later step, and of the step itself.
        let got = hints(&SEQUENCE.replace(
            "json = { key = \"{{first}}\" }\nallowed = 200\n[[followup]]\nmethod",
            "json = { key = \"{{second}}\" }\nallowed = 200\n[[followup]]\nmethod",
        ));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].0,
            "/scenarios/s.toml:9: `{{second}}` is not known yet here: it is captured by followup 2, which runs after this"
        );
        assert!(
            got[0].1.contains("move this step after followup 2"),
            "{got:?}"
        );
        let got = scenario(&SEQUENCE.replace(
            "json = { key = \"{{first}}\" }\nallowed = 200\ncapture",
            "json = { key = \"{{second}}\" }\nallowed = 200\ncapture",
        ));
        assert_eq!(
            got,
            [
                "/scenarios/s.toml:14: `{{second}}` is not known yet here: it is captured by followup 2, which runs after this"
            ]
        );
        // A name captured twice (by the request, then by a followup).
        let got = hints(&SEQUENCE.replace(
            "form = { k = \"{{second}}\" }\n",
            "form = { k = \"{{second}}\" }\ncapture = { first = \"/again\" }\n",
        ));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].0,
            "/scenarios/s.toml:27: capture `first` is already a name"
        );
        assert!(got[0].1.contains("pick another"), "{got:?}");
        // `as` or `bearer`; `expect` or `allowed`/`denied`; some status.
        let got = hints(&SEQUENCE.replace("name = \"old\"\n", "name = \"old\"\nas = \"a\"\n"));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].0,
            "/scenarios/s.toml:19: followup `old` has both `as` and `bearer`"
        );
        let got = scenario(&SEQUENCE.replace("allowed = 401\n", "allowed = 401\nexpect = 401\n"));
        assert_eq!(
            got,
            ["/scenarios/s.toml:23: followup `old` has `expect` and also `allowed` or `denied`"]
        );
        let got = hints(&SEQUENCE.replace(
            "form = { k = \"{{second}}\" }\nallowed = 200\n",
            "form = { k = \"{{second}}\" }\n",
        ));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].0,
            "/scenarios/s.toml:24: followup 4 has no expected status"
        );
        assert!(got[0].1.contains("expect = 200"), "{got:?}");
        // A step sent on both sides cannot use what only an allowed request captured.
        let got = scenario(&SEQUENCE.replace(
            "json = { key = \"{{first}}\" }\nallowed = 200\n[[followup]]\nmethod",
            "json = { key = \"{{first}}\" }\nexpect = 200\n[[followup]]\nmethod",
        ));
        assert_eq!(
            got,
            [
                "/scenarios/s.toml:9: `{{first}}` is captured from the response only when the request is allowed, but this also runs when it is denied"
            ]
        );
        // A step sent only when denied takes no captures.
        let got = scenario(&SEQUENCE.replace(
            "json = { key = \"{{first}}\" }\nallowed = 200\ncapture = { second = \"/key\" }",
            "json = { key = \"x\" }\ndenied = 401\ncapture = { second = \"/key\" }",
        ));
        assert!(
            got.iter().any(|p| p == "/scenarios/s.toml:16: followup 2 captures `second`, but it runs only when the request is denied"),
            "{got:?}"
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
