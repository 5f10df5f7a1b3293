//! world.toml: values, actors (keys, logins, ids), seed SQL and [[api]] steps.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use indexmap::IndexMap;
use toml::Spanned;

use super::auth::{LoadedAuth, SpannedTemplates};
use super::{Loader, Name, Names, Phase};
use crate::spec::source::SourceFile;
use crate::spec::template::Template;
use crate::suite::model::*;
use crate::suite::raw;

impl Loader {
    pub(super) fn world(
        &mut self,
        file: &SourceFile,
        raw: raw::WorldFile,
        default_auth: Option<(&SourceFile, &LoadedAuth)>,
    ) -> Option<(World, Names)> {
        let mut names: Names = HashMap::new();
        let name = |names: &mut Names, key: String, phase| {
            names.insert(
                key,
                Name {
                    phase,
                    allowed_only: false,
                    login: None,
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

        // Scratch actors, and the world names only the making of one knows.
        let scratch_actors: HashSet<String> = raw
            .actors
            .iter()
            .filter(|(_, a)| {
                // One that cannot be (reported below) is left a plain actor.
                a.scratch.as_ref().is_some_and(|s| *s.get_ref())
                    && !a.anonymous.as_ref().is_some_and(|s| *s.get_ref())
                    && a.key.as_ref().is_none_or(|k| k.get_ref() != "master")
            })
            .map(|(n, _)| n.get_ref().clone())
            .collect();
        let api_makes =
            self.makes_of_steps(file, &raw.actors, &raw.seed, &raw.api, &scratch_actors);
        let mut owners: HashMap<String, String> = HashMap::new();
        for (step, makes) in raw.api.iter().zip(&api_makes) {
            if let Some(actor) = makes {
                for (capture, _) in &step.capture {
                    owners.insert(format!("world.{}", capture.get_ref()), actor.clone());
                }
            }
        }
        let scope =
            |names: &Names, making: Option<&str>| scoped(names, &scratch_actors, &owners, making);

        let mut actors = IndexMap::new();
        let mut pending_ids = Vec::new();
        // The templates of each login (and whoami), checked once it is known
        // when the login happens.
        let mut login_templates: IndexMap<String, Vec<(Range<usize>, Template)>> = IndexMap::new();
        // Names a login makes, by the actor whose login makes them.
        let mut produced: HashMap<String, String> = HashMap::new();
        // The templates of each actor's basic auth: (actor, whether they are
        // the suite's, their spans and templates).
        let mut auth_templates: Vec<(String, bool, SpannedTemplates)> = Vec::new();
        // The first [[api]] step each actor makes a request in.
        let mut first_step: HashMap<String, usize> = HashMap::new();
        for (index, step) in raw.api.iter().enumerate().rev() {
            first_step.insert(step.as_.get_ref().clone(), index);
        }
        for (actor_name, actor) in raw.actors {
            let actor_name_text = actor_name.get_ref().clone();
            let anonymous = actor.anonymous.as_ref().is_some_and(|a| *a.get_ref());
            let scratch = scratch_actors.contains(&actor_name_text);
            if let Some(flag) = actor.scratch.as_ref().filter(|s| *s.get_ref()) {
                let master = actor.key.as_ref().is_some_and(|k| k.get_ref() == "master");
                let why = if anonymous {
                    Some("it is anonymous: there is nothing to make")
                } else if master {
                    Some("its key is the server's master key, which is the same in every cell")
                } else {
                    None
                };
                if let Some(why) = why {
                    self.problem(
                        file.at(flag.span()),
                        format!("actor `{actor_name_text}` cannot be a scratch actor: {why}"),
                        Some("scratch = true makes an actor with a generated key or a login fresh for each of its cells; drop `scratch`".into()),
                    );
                    continue;
                }
            }
            if let (Some(auth), true) = (&actor.auth, anonymous) {
                self.problem(
                    file.at(auth.span()),
                    format!("actor `{actor_name_text}` is anonymous but has `auth`"),
                    Some(
                        "an anonymous actor sends no credentials; drop `auth` or `anonymous`"
                            .into(),
                    ),
                );
                continue;
            }
            if let (Some(flag), true) = (&actor.anonymous, anonymous)
                && (actor.key.is_some() || actor.login.is_some())
            {
                self.problem(
                    file.at(flag.span()),
                    format!("actor `{actor_name_text}` is anonymous but also has a `key` or `login`"),
                    Some("an anonymous actor sends no credentials; drop `key`/`login` or `anonymous`".into()),
                );
                continue;
            }
            match (&actor.key, &actor.login) {
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
                _ => {}
            }
            if let (Some(whoami), None) = (&actor.whoami, &actor.login) {
                self.problem(
                    file.at(whoami.span()),
                    format!("actor `{actor_name_text}` has `whoami` but no `login`"),
                    Some("whoami asks the server who a login actor is, right after it logs in; an actor with a key has its `id` in world.toml".into()),
                );
                continue;
            }
            // Its own `auth`, or the suite's; checked for its names below,
            // once every name's phase is known.
            let own_auth = actor.auth.as_ref().and_then(|auth| {
                let whose = format!("actor `{actor_name_text}`: auth");
                self.auth(file, auth.get_ref(), &whose)
            });
            let auth = match (&own_auth, default_auth) {
                _ if anonymous => AuthScheme::Bearer,
                (Some(own), _) => {
                    auth_templates.push((actor_name_text.clone(), false, own.templates.clone()));
                    own.scheme.clone()
                }
                (None, Some((_, suite))) => {
                    auth_templates.push((actor_name_text.clone(), true, suite.templates.clone()));
                    suite.scheme.clone()
                }
                (None, None) => AuthScheme::Bearer,
            };
            let is_login = actor.login.is_some() && !anonymous;
            name(
                &mut names,
                format!("actors.{actor_name_text}.name"),
                Phase::Seed,
            );
            if !anonymous {
                for field in ["key", "key_sha256"] {
                    let key = format!("actors.{actor_name_text}.{field}");
                    if is_login {
                        produced.insert(key.clone(), actor_name_text.clone());
                    }
                    name(
                        &mut names,
                        key,
                        if is_login { Phase::Login } else { Phase::Seed },
                    );
                }
            }
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
                _ if anonymous => Credential::Anonymous,
                (Some("master"), _) => Credential::Master,
                (_, Some(login)) => {
                    let login = login.into_inner();
                    let mut seen = Vec::new();
                    let request = self.http_request_checked(
                        file,
                        &login.method,
                        &login.path,
                        None,
                        login.json.as_ref(),
                        login.form.as_ref(),
                        &mut |_, span, t, _| seen.push((span, t.clone())),
                    );
                    let token_ok = self.pointer(file, &login.token);
                    let whoami = match actor.whoami {
                        None => None,
                        Some(whoami) => {
                            let whoami = whoami.into_inner();
                            let method = whoami
                                .method
                                .unwrap_or_else(|| Spanned::new(whoami.path.span(), "GET".into()));
                            let request = self.http_request_checked(
                                file,
                                &method,
                                &whoami.path,
                                whoami.query.as_ref(),
                                None,
                                None,
                                &mut |_, span, t, _| seen.push((span, t.clone())),
                            );
                            let mut captured = HashMap::new();
                            let captures = self.captures(
                                file,
                                whoami.capture,
                                &mut captured,
                                Phase::Login,
                                false,
                                "",
                            );
                            for (capture, _) in &captures {
                                let key = format!("actors.{actor_name_text}.{capture}");
                                if names.contains_key(&key)
                                    || (capture == "id" && actor.id.is_some())
                                {
                                    self.problem(
                                        file.at(whoami.path.span()),
                                        format!("actor `{actor_name_text}`: whoami captures `{capture}`, which it already has"),
                                        Some(if capture == "id" {
                                            "drop the actor's `id`, or the capture: the id comes one way".into()
                                        } else {
                                            format!("`actors.{actor_name_text}.{capture}` is already a name; capture it under another")
                                        }),
                                    );
                                    continue;
                                }
                                produced.insert(key.clone(), actor_name_text.clone());
                                name(&mut names, key, Phase::Login);
                            }
                            request.map(|request| Box::new(Whoami { request, captures }))
                        }
                    };
                    login_templates.insert(actor_name_text.clone(), seen);
                    let (Some(request), true) = (request, token_ok) else {
                        continue;
                    };
                    Credential::Login {
                        request,
                        token: login.token.into_inner(),
                        whoami,
                    }
                }
                _ => Credential::Generated,
            };
            actors.insert(
                actor_name_text,
                Actor {
                    id,
                    credential,
                    scratch,
                    auth,
                },
            );
        }
        for (key, actor) in &produced {
            if let Some(name) = names.get_mut(key) {
                name.login = Some(actor.clone());
            }
        }

        // Each login runs just before the first [[api]] step that needs it (one
        // that runs as the actor, or uses a name its login makes), the others
        // after the API steps.
        let login_deps = |actor: &str| -> Vec<String> {
            let mut deps: Vec<String> = login_templates
                .get(actor)
                .into_iter()
                .flatten()
                .flat_map(|(_, t)| t.vars())
                .filter_map(|v| produced.get(v))
                .filter(|other| other.as_str() != actor)
                .cloned()
                .collect();
            deps.dedup();
            deps
        };
        let mut order = Vec::new();
        let mut login_phase: HashMap<String, Phase> = HashMap::new();
        let schedule = |loader: &mut Self,
                        actor: &str,
                        phase: Phase,
                        order: &mut Vec<WorldStep>,
                        login_phase: &mut HashMap<String, Phase>| {
            // Depth-first, dependencies first; a cycle is reported once.
            let mut stack: Vec<(String, bool)> = vec![(actor.to_string(), false)];
            let mut visiting: Vec<String> = Vec::new();
            while let Some((next, expanded)) = stack.pop() {
                if login_phase.contains_key(&next) {
                    continue;
                }
                if expanded {
                    visiting.retain(|v| v != &next);
                    login_phase.insert(next.clone(), phase);
                    order.push(WorldStep::Login(next));
                    continue;
                }
                if visiting.contains(&next) {
                    let span = login_templates
                        .get(&next)
                        .and_then(|t| t.first())
                        .map(|(span, _)| span.clone())
                        .unwrap_or_default();
                    loader.problem(
                        file.at(span),
                        format!("the logins of {} need each other's tokens", visiting.join(", ")),
                        Some("a login may use another login actor's names only if that one does not use its own".into()),
                    );
                    login_phase.insert(next, phase);
                    continue;
                }
                visiting.push(next.clone());
                stack.push((next.clone(), true));
                for dep in login_deps(&next).into_iter().rev() {
                    stack.push((dep, false));
                }
            }
        };
        for (index, step) in raw.api.iter().enumerate() {
            let mut needed: Vec<String> = Vec::new();
            if actors
                .get(step.as_.get_ref())
                .is_some_and(|a: &Actor| matches!(a.credential, Credential::Login { .. }))
            {
                needed.push(step.as_.get_ref().clone());
            }
            for var in raw_step_vars(step) {
                if let Some(actor) = produced.get(&var)
                    && !needed.contains(actor)
                {
                    needed.push(actor.clone());
                }
            }
            for actor in needed {
                schedule(
                    self,
                    &actor,
                    Phase::Api(index),
                    &mut order,
                    &mut login_phase,
                );
            }
            order.push(WorldStep::Api(index));
        }
        let logins: Vec<String> = actors
            .iter()
            .filter(|(_, a)| matches!(a.credential, Credential::Login { .. }))
            .map(|(n, _)| n.clone())
            .collect();
        for actor in logins {
            schedule(self, &actor, Phase::Login, &mut order, &mut login_phase);
        }
        for (key, actor) in &produced {
            if let (Some(name), Some(phase)) = (names.get_mut(key), login_phase.get(actor)) {
                name.phase = *phase;
            }
        }
        for (actor, templates) in &login_templates {
            let phase = login_phase.get(actor).copied().unwrap_or(Phase::Login);
            let names = scope(
                &names,
                Some(actor.as_str()).filter(|a| scratch_actors.contains(*a)),
            );
            for (span, template) in templates {
                self.names_in(file, span.clone(), template, &names, phase, false);
            }
        }

        // An actor's id is known once every name it uses is.
        for (actor_name, template, span) in pending_ids {
            let scoped_names = scope(
                &names,
                Some(actor_name.as_str()).filter(|a| scratch_actors.contains(*a)),
            );
            self.names_in(
                file,
                span.clone(),
                &template,
                &scoped_names,
                Phase::Cell,
                false,
            );
            if scratch_actors.contains(&actor_name)
                && !template
                    .vars()
                    .any(|v| v == "scratch" || owners.get(v) == Some(&actor_name))
            {
                self.problem(
                    file.at(span),
                    format!("scratch actor `{actor_name}` has the same id in every cell"),
                    Some(format!("a scratch actor is made again for each of its cells: write its id with {{{{scratch}}}} (unique per cell), e.g. id = \"{{{{scratch}}}}-{actor_name}\"")),
                );
            }
            let phase = template
                .vars()
                .filter_map(|v| names.get(v))
                .map(|n| n.phase)
                .max()
                .unwrap_or(Phase::Seed);
            name(&mut names, format!("actors.{actor_name}.id"), phase);
        }

        // Basic auth's names exist by the time its actor first sends it: its
        // first [[api]] step, its login's `whoami`, else its cells.
        for (actor_name, from_suite, templates) in auth_templates {
            let source = match (from_suite, default_auth) {
                (true, Some((suite_file, _))) => suite_file,
                _ => file,
            };
            let Some(actor) = actors.get(&actor_name) else {
                continue;
            };
            let mut phase = first_step
                .get(&actor_name)
                .map_or(Phase::Cell, |index| Phase::Api(*index));
            let mut learnt: Vec<String> = Vec::new();
            if let Credential::Login {
                whoami: Some(whoami),
                ..
            } = &actor.credential
            {
                phase = phase.min(
                    login_phase
                        .get(&actor_name)
                        .copied()
                        .unwrap_or(Phase::Login),
                );
                learnt = whoami.captures.iter().map(|(c, _)| c.clone()).collect();
            }
            let mut scoped_names = scope(
                &names,
                Some(actor_name.as_str()).filter(|a| scratch_actors.contains(*a)),
            );
            // `{{actor.*}}` is the actor who sends them.
            let fields: Vec<String> = scoped_names
                .keys()
                .filter_map(|k| {
                    k.strip_prefix(&format!("actors.{actor_name}."))
                        .map(String::from)
                })
                .collect();
            for field in fields {
                let value = scoped_names[&format!("actors.{actor_name}.{field}")].clone();
                scoped_names.insert(format!("actor.{field}"), value);
            }
            for (span, template) in templates {
                let mut fine = true;
                for var in template.vars() {
                    let field = var
                        .strip_prefix("actor.")
                        .or_else(|| var.strip_prefix(&format!("actors.{actor_name}.")));
                    if field.is_some_and(|f| learnt.iter().any(|l| l == f)) {
                        self.problem(
                            source.at(span.clone()),
                            format!("`{{{{{var}}}}}` is learnt by the `whoami` of `{actor_name}`, which is sent with this basic auth"),
                            Some(format!("use a name `{actor_name}` has before it logs in (`{{{{actor.name}}}}`, a world value), or give it its own `auth`")),
                        );
                        fine = false;
                    } else if var == "actor.id" && !actor.has_id() {
                        self.problem(
                            source.at(span.clone()),
                            format!("`{{{{actor.id}}}}` is used, but actor `{actor_name}`, which sends this basic auth, has no id"),
                            Some(format!("give `{actor_name}` an `id`, or an `auth` of its own")),
                        );
                        fine = false;
                    }
                }
                if fine {
                    self.names_in(source, span, &template, &scoped_names, phase, false);
                }
            }
        }

        let mut making: IndexMap<String, Making> = actors
            .iter()
            .filter(|(_, a)| a.scratch)
            .map(|(n, _)| (n.clone(), Making::default()))
            .collect();
        let mut seed = Vec::new();
        for step in raw.seed {
            let Some(template) = self.template(file, step.sql.get_ref(), step.sql.span()) else {
                continue;
            };
            let makes = step
                .makes
                .as_ref()
                .map(|m| m.get_ref().as_str())
                .filter(|m| making.contains_key(*m));
            let names = scope(&names, makes);
            self.names_in(file, step.sql.span(), &template, &names, Phase::Seed, false);
            let location = file.at(step.sql.span());
            match makes.and_then(|m| making.get_mut(m)) {
                Some(made) => made.seed.push((location, template)),
                None => seed.push((location, template)),
            }
        }

        let mut api = Vec::new();
        for (index, step) in raw.api.into_iter().enumerate() {
            let names = scope(&names, api_makes[index].as_deref());
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
        // A scratch actor's steps run for each of its cells, not in the world.
        let order = order
            .into_iter()
            .filter(|step| {
                let owner = match step {
                    WorldStep::Api(index) => api_makes[*index].as_ref(),
                    WorldStep::Login(actor) => Some(actor).filter(|a| making.contains_key(*a)),
                };
                match owner.and_then(|actor| making.get_mut(actor)) {
                    Some(made) => {
                        made.order.push(step.clone());
                        false
                    }
                    None => true,
                }
            })
            .collect();
        for (name, made) in &making {
            if made.seed.is_empty()
                && made.order.is_empty()
                && matches!(actors[name].credential, Credential::Generated)
            {
                self.problem(
                    file.whole(),
                    format!("scratch actor `{name}` is made by no step"),
                    Some(format!("mark the [[seed]] or [[api]] steps that make it with makes = \"{name}\": they run again for each of its cells")),
                );
            }
        }
        let names = scope(&names, None);
        Some((
            World {
                values,
                actors,
                seed,
                api,
                order,
                scratch: making,
            },
            names,
        ))
    }
}

impl Loader {
    /// The scratch actor each `[[api]]` step makes (`None`: a step of the
    /// world), after checking every `makes` of world.toml and that no other
    /// step acts as a scratch actor.
    fn makes_of_steps(
        &mut self,
        file: &SourceFile,
        actors: &IndexMap<raw::Str, raw::Actor>,
        seed: &[raw::Seed],
        api: &[raw::Step],
        scratch: &HashSet<String>,
    ) -> Vec<Option<String>> {
        let makes = seed
            .iter()
            .map(|s| &s.makes)
            .chain(api.iter().map(|s| &s.makes));
        for name in makes.flatten() {
            if !actors.keys().any(|a| a.get_ref() == name.get_ref()) {
                let known: Vec<&str> = actors.keys().map(|a| a.get_ref().as_str()).collect();
                self.problem(
                    file.at(name.span()),
                    format!("`makes = {:?}` is not an actor", name.get_ref()),
                    Some(format!("the actors are {}", known.join(", "))),
                );
            }
        }
        let mut out = Vec::new();
        for step in api {
            let makes = step
                .makes
                .as_ref()
                .map(|m| m.get_ref().clone())
                .filter(|m| scratch.contains(m));
            let actor = step.as_.get_ref();
            if scratch.contains(actor) && makes.as_ref() != Some(actor) {
                self.problem(
                    file.at(step.as_.span()),
                    format!("`as = {actor:?}`: `{actor}` is a scratch actor, made again for each of its cells"),
                    Some(format!("a world step may act as a scratch actor only while making it: add makes = {actor:?}, or run this step as another actor")),
                );
            }
            out.push(makes);
        }
        out
    }
}

/// `names` as seen while making the scratch actor `making` (or in the rest of
/// the world, `None`): what only the making of another scratch actor knows (its
/// key, id and captures) is known only inside a cell; the making itself also
/// knows `{{scratch}}`.
fn scoped(
    names: &Names,
    scratch: &HashSet<String>,
    owners: &HashMap<String, String>,
    making: Option<&str>,
) -> Names {
    let owner = |var: &str| -> Option<String> {
        if let Some((actor, field)) = var
            .strip_prefix("actors.")
            .and_then(|rest| rest.split_once('.'))
            && field != "name"
            && scratch.contains(actor)
        {
            return Some(actor.to_string());
        }
        owners.get(var).cloned()
    };
    let mut out = names.clone();
    for (var, name) in out.iter_mut() {
        if owner(var).is_some_and(|o| Some(o.as_str()) != making) {
            name.phase = Phase::Cell;
        }
    }
    if making.is_some() {
        out.insert(
            "scratch".into(),
            Name {
                phase: Phase::Seed,
                allowed_only: false,
                login: None,
            },
        );
    }
    out
}

/// The names a raw step's templates read (templates that do not parse are
/// reported when the step is loaded).
fn raw_step_vars(step: &raw::Step) -> Vec<String> {
    fn strings<'a>(value: &'a toml::Value, out: &mut Vec<&'a str>) {
        match value {
            toml::Value::String(s) => out.push(s),
            toml::Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            toml::Value::Table(table) => table.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut texts = vec![step.path.get_ref().as_str()];
    for table in [&step.query, &step.form].into_iter().flatten() {
        table
            .get_ref()
            .values()
            .for_each(|v| strings(v, &mut texts));
    }
    if let Some(json) = &step.json {
        strings(json.get_ref(), &mut texts);
    }
    texts
        .into_iter()
        .filter_map(|t| Template::parse(t).ok())
        .flat_map(|t| t.vars().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

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

    #[test]
    fn an_anonymous_actor_has_no_key() {
        let world = "[actors.admin]\nkey = \"master\"\n[actors.nobody]\nanonymous = true\n";
        let scenario = |text: &str| {
            problems(&[
                ("suite.toml", SUITE),
                ("world.toml", world),
                ("scenarios/s.toml", text),
            ])
        };
        let good =
            "[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\nadmin = [200]\nnobody = [401]\n";
        assert_eq!(scenario(good), Vec::<String>::new());
        let got = scenario(&good.replace("/x", "/x?k={{actor.key}}"));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains(
                "s.toml:3: `{{actor.key}}` is used, but pinned actor `nobody` is anonymous"
            ),
            "{got:?}"
        );
        let got = scenario(&good.replace("path = \"/x\"", "path = \"/x/{{actors.nobody.key}}\""));
        assert!(
            got[0].contains("`{{actors.nobody.key}}` is not defined"),
            "{got:?}"
        );
        let both = problems(&[
            ("suite.toml", SUITE),
            (
                "world.toml",
                "[actors.admin]\nanonymous = true\nkey = \"master\"\n",
            ),
            (
                "scenarios/s.toml",
                "[request]\nmethod = \"GET\"\npath = \"/x\"\n[pins]\n",
            ),
        ]);
        assert!(
            both[0].contains("world.toml:2: actor `admin` is anonymous but also has"),
            "{both:?}"
        );
    }

    fn world_of(world: &str) -> Result<crate::suite::Suite, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
        std::fs::write(dir.path().join("suite.toml"), SUITE).unwrap();
        std::fs::write(dir.path().join("world.toml"), world).unwrap();
        std::fs::write(
            dir.path().join("scenarios/s.toml"),
            "[request]\nmethod = \"GET\"\npath = \"/x/{{actor.id}}\"\n[pins]\nroot = [200]\nalice = [200]\n",
        )
        .unwrap();
        crate::suite::load(dir.path()).map_err(|e| match e {
            crate::suite::SuiteError::Invalid { problems, .. } => problems
                .into_iter()
                .map(|p| format!("{}: {}", p.location.line.unwrap_or(0), p.message))
                .collect(),
            other => vec![other.to_string()],
        })
    }

    const LOGINS: &str = "[actors.root]\nlogin = { method = \"POST\", path = \"/login\", json = { u = \"root\" }, token = \"/token\" }\nwhoami = { path = \"/me\", capture = { id = \"/id\" } }\n[actors.alice]\nlogin = { method = \"POST\", path = \"/login\", json = { u = \"{{world.alice}}\" }, token = \"/token\" }\nwhoami = { path = \"/me\", capture = { id = \"/id\" } }\n[actors.bob]\nlogin = { method = \"POST\", path = \"/login\", json = { u = \"bob\" }, token = \"/token\" }\n[[api]]\nas = \"root\"\nmethod = \"POST\"\npath = \"/user/new\"\ncapture = { alice = \"/email\" }\n[[api]]\nas = \"root\"\nmethod = \"POST\"\npath = \"/team/{{actors.alice.id}}\"\n";

    #[test]
    fn logins_run_just_before_the_first_world_step_that_needs_them() {
        use crate::suite::WorldStep::*;
        let suite = world_of(LOGINS).unwrap();
        // root: step 1 runs as root; alice: step 2 uses the id her whoami
        // learns, and her login uses step 1's capture; bob: needed by none.
        assert_eq!(
            suite.world.order,
            [
                Login("root".into()),
                Api(0),
                Login("alice".into()),
                Api(1),
                Login("bob".into())
            ]
        );
        // `{{actor.id}}` of a whoami actor needs no `id` in world.toml.
        assert!(suite.world.actors["root"].has_id());
    }

    #[test]
    fn a_login_cannot_need_what_only_its_own_step_makes() {
        // Alice's login needs step 1's capture, and step 1 runs as alice.
        let world = LOGINS.replace(
            "[[api]]\nas = \"root\"\nmethod = \"POST\"\npath = \"/user/new\"",
            "[[api]]\nas = \"alice\"\nmethod = \"POST\"\npath = \"/user/new\"",
        );
        let got = world_of(&world).unwrap_err();
        assert_eq!(
            got,
            ["5: `{{world.alice}}` is not known yet here: it is captured by a later [[api]] step"]
        );
        // A seed cannot use a token that exists only once the server runs.
        let seeded = format!("{LOGINS}[[seed]]\nsql = \"SELECT {{{{actors.root.key_sha256}}}}\"\n");
        let got = world_of(&seeded).unwrap_err();
        assert_eq!(
            got,
            [
                "19: `{{actors.root.key_sha256}}` is not known yet here: it exists only once `root` has logged in, on the server (after the seed)"
            ]
        );
    }

    #[test]
    fn whoami_is_for_login_actors_and_learns_what_the_actor_lacks() {
        let keyed = "[actors.root]\nwhoami = { path = \"/me\", capture = { id = \"/id\" } }\n[actors.alice]\n";
        let got = world_of(keyed).unwrap_err();
        assert_eq!(got[0], "2: actor `root` has `whoami` but no `login`");
        let twice = LOGINS.replacen("[actors.root]\n", "[actors.root]\nid = \"r\"\n", 1);
        let got = world_of(&twice).unwrap_err();
        assert_eq!(
            got[0],
            "4: actor `root`: whoami captures `id`, which it already has"
        );
        let cycle = "[actors.root]\nlogin = { method = \"POST\", path = \"/login/{{actors.alice.key}}\", token = \"/t\" }\n[actors.alice]\nid = \"a\"\nlogin = { method = \"POST\", path = \"/login/{{actors.root.key}}\", token = \"/t\" }\n";
        let got = world_of(cycle).unwrap_err();
        assert!(
            got.iter().any(|p| p.contains("need each other's tokens")),
            "{got:?}"
        );
    }

    const SCRATCH: &str = "[actors.admin]\nkey = \"master\"\n[actors.carol]\nscratch = true\nid = \"{{scratch}}-carol\"\n[actors.dave]\nscratch = true\nlogin = { method = \"POST\", path = \"/login\", json = { u = \"{{scratch}}-dave\" }, token = \"/token\" }\nwhoami = { path = \"/me\", capture = { id = \"/id\" } }\n[[seed]]\nmakes = \"carol\"\nsql = \"INSERT INTO k VALUES ({{actors.carol.key_sha256}}, {{actors.carol.id}})\"\n[[api]]\nmakes = \"dave\"\nas = \"admin\"\nmethod = \"POST\"\npath = \"/user/new\"\njson = { u = \"{{scratch}}-dave\" }\ncapture = { dave_row = \"/id\" }\n[[api]]\nas = \"admin\"\nmethod = \"GET\"\npath = \"/health\"\n";

    fn scratch_world(world: &str) -> Result<crate::suite::Suite, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
        std::fs::write(dir.path().join("suite.toml"), SUITE).unwrap();
        std::fs::write(dir.path().join("world.toml"), world).unwrap();
        std::fs::write(
            dir.path().join("scenarios/s.toml"),
            "[request]\nmethod = \"GET\"\npath = \"/x/{{actor.id}}/{{actor.key}}\"\n[pins]\ncarol = [200]\ndave = [200]\n",
        )
        .unwrap();
        crate::suite::load(dir.path()).map_err(|e| match e {
            crate::suite::SuiteError::Invalid { problems, .. } => problems
                .into_iter()
                .map(|p| format!("{}: {}", p.location.line.unwrap_or(0), p.message))
                .collect(),
            other => vec![other.to_string()],
        })
    }

    #[test]
    fn a_scratch_actor_is_made_by_the_steps_that_say_so_not_by_the_world() {
        use crate::suite::WorldStep::*;
        let suite = scratch_world(SCRATCH).unwrap();
        // The world runs only its own step; carol's seed and dave's step and
        // login are theirs, made again for each of their cells.
        assert_eq!(suite.world.order, [Api(1)]);
        assert!(suite.world.seed.is_empty());
        let carol = &suite.world.scratch["carol"];
        assert_eq!(carol.seed.len(), 1);
        assert_eq!(carol.seed[0].0.line, Some(12));
        assert!(carol.order.is_empty());
        assert_eq!(
            suite.world.scratch["dave"].order,
            [Api(0), Login("dave".into())]
        );
        assert!(suite.world.actors["carol"].scratch);
        assert!(!suite.world.actors["admin"].scratch);
    }

    #[test]
    fn a_scratch_actors_names_are_its_own() {
        // The world's own steps cannot use them.
        let world = format!(
            "{SCRATCH}[[seed]]\nsql = \"SELECT {{{{actors.carol.key_sha256}}}}\"\n[[api]]\nas = \"admin\"\nmethod = \"GET\"\npath = \"/u/{{{{world.dave_row}}}}\"\n"
        );
        let got = scratch_world(&world).unwrap_err();
        assert_eq!(
            got,
            [
                "25: `{{actors.carol.key_sha256}}` is not known yet here: it is only known inside a cell",
                "29: `{{world.dave_row}}` is not known yet here: it is only known inside a cell",
            ]
        );
        // Only a step that makes a scratch actor acts as it.
        let world = format!(
            "{SCRATCH}[[api]]\nas = \"carol\"\nmethod = \"GET\"\npath = \"/x\"\n[[api]]\nmakes = \"nobody\"\nas = \"admin\"\nmethod = \"GET\"\npath = \"/x\"\n"
        );
        let got = scratch_world(&world).unwrap_err();
        assert_eq!(
            got,
            [
                "29: `makes = \"nobody\"` is not an actor",
                "25: `as = \"carol\"`: `carol` is a scratch actor, made again for each of its cells",
            ]
        );
        // `{{scratch}}` exists only in the making of a scratch actor.
        let plain = SCRATCH.replacen("scratch = true\n", "", 1);
        let got = scratch_world(&plain).unwrap_err();
        assert!(
            got.iter().any(|p| p == "4: `{{scratch}}` is not defined"),
            "{got:?}"
        );
    }

    #[test]
    fn a_scratch_actor_must_be_one_that_can_be_made_again() {
        let got =
            scratch_world(&SCRATCH.replace("{{scratch}}-carol", "{{prefix}}carol")).unwrap_err();
        assert_eq!(
            got,
            ["5: scratch actor `carol` has the same id in every cell"]
        );
        let got = scratch_world(&SCRATCH.replace("makes = \"carol\"\n", "")).unwrap_err();
        assert!(
            got.iter()
                .any(|p| p == "0: scratch actor `carol` is made by no step"),
            "{got:?}"
        );
        let got = scratch_world(&SCRATCH.replace(
            "[actors.admin]\nkey = \"master\"\n",
            "[actors.admin]\nkey = \"master\"\nscratch = true\n",
        ))
        .unwrap_err();
        assert!(
            got[0].starts_with(
                "3: actor `admin` cannot be a scratch actor: its key is the server's master key"
            ),
            "{got:?}"
        );
    }
}
