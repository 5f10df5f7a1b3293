//! A scenario file: targets, setup steps, the request, checks, followups and
//! response values; its pins are read by `pins.rs`.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use indexmap::IndexMap;
use regex::Regex;
use toml::Spanned;

use super::{Loader, Name, Names, Phase};
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
                },
            );
        }
        let mut targets: IndexMap<String, IndexMap<String, Template>> = IndexMap::new();
        let mut target_fields = BTreeSet::new();
        // `actor.*` used by a target's fields: needed only in that target's column.
        let mut target_uses_actor: Vec<(String, Range<usize>, String)> = Vec::new();
        for (target, fields) in &raw.targets {
            let mut parsed = IndexMap::new();
            for (field, value) in fields {
                if let Some(template) = self.template(file, value.get_ref(), value.span()) {
                    self.names_in(file, value.span(), &template, &names, Phase::Cell, true);
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
                    let mut on_template = |l: &mut Self, span: Range<usize>, t: &Template, _| {
                        note_uses(span.clone(), t, false, &mut target_uses, &mut uses_actor);
                        l.names_in(file, span, t, &names, Phase::Cell, allowed_side);
                    };
                    match loader.matcher(file, v)? {
                        Some(matcher) => match matcher {
                            Matcher::Contains(text) => {
                                let template = loader.template(file, &text, v.span())?;
                                on_template(loader, v.span(), &template, false);
                                Some(Expected::Contains(template))
                            }
                            Matcher::Matches(regex) => Some(Expected::Matches(regex)),
                            Matcher::Absent => Some(Expected::Absent),
                        },
                        None => loader
                            .json_template(file, v.get_ref(), v.span(), false, &mut on_template)
                            .map(Expected::Equals),
                    }
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
                        "id" => a.id.is_none(),
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
        let text = "[targets.self]\n[targets.team]\nteam = \"t\"\n[request]\nmethod = \"GET\"\npath = \"/x\"\njson = { team = \"{{target.team}}\" }\nquery = { q = \"{{target.team}}\" }\n[pins]\ntargets = [\"self\", \"team\"]\na = [200, 200]\n";
        let got = scenario(text);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("target `self` has no `team`"), "{got:?}");
    }

    #[test]
    fn actor_ids_are_needed_only_where_a_target_uses_them() {
        // `b` has no id: fine in the `all` column, not in `self`, whose target uses it.
        let world = "[actors.a]\nid = \"{{prefix}}a\"\n[actors.b]\n";
        let text = "[targets.self]\nuser = \"{{actor.id}}\"\n[targets.all]\n[request]\nmethod = \"GET\"\npath = \"/x\"\njson = { user = \"{{target.user}}\" }\n[pins]\ntargets = [\"self\", \"all\"]\na = [200, 200]\nb = [\"-\", 200]\n";
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
}
