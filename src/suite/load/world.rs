//! world.toml: values, actors (keys, logins, ids), seed SQL and [[api]] steps.

use std::collections::HashMap;

use indexmap::IndexMap;

use super::{Loader, Name, Names, Phase};
use crate::spec::source::SourceFile;
use crate::suite::model::*;
use crate::suite::raw;

impl Loader {
    pub(super) fn world(
        &mut self,
        file: &SourceFile,
        raw: raw::WorldFile,
    ) -> Option<(World, Names)> {
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
            let anonymous = actor.anonymous.as_ref().is_some_and(|a| *a.get_ref());
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
            if !anonymous {
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
}
