//! The `[pins]` grid of a scenario: its target columns, one row per actor, and
//! each cell's pin (a status, a table with response values, or "-").

use std::ops::Range;

use indexmap::IndexMap;
use serde_json::Value;
use toml::Spanned;

use super::{Loader, as_set, toml_to_json};
use crate::spec::source::SourceFile;
use crate::spec::template::{Template, Vars};
use crate::suite::model::*;

impl Loader {
    pub(super) fn pins(
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

    pub(super) fn pin(
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
            toml::Value::String(s) if s == "?" => Some(Pin {
                status: 0,
                unknown: true,
                responses: responses
                    .keys()
                    .map(|name| (name.clone(), Value::Null))
                    .collect(),
            }),
            toml::Value::Integer(_) if responses.is_empty() => Some(Pin {
                status: status_of(self, item)?,
                unknown: false,
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
                    Some(format!(
                        "write {{ status = {}, {} = [...] }}: a denied cell pins what it lists too, often []",
                        item.as_integer().unwrap_or(200),
                        names[0]
                    )),
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
                    let Some(json) = self.pin_value(file, span.clone(), cell, key, value, world)
                    else {
                        continue;
                    };
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
                    if let (Some(Mapping::World), Some(list)) = (spec.map, json.as_array()) {
                        for name in list {
                            let known = name.as_str().is_some_and(|n| {
                                world.actors.contains_key(n)
                                    || n.strip_prefix("world.").is_some_and(|v| {
                                        world.values.contains_key(v)
                                            || world
                                                .api
                                                .iter()
                                                .any(|s| s.captures.iter().any(|(c, _)| c == v))
                                    })
                            });
                            if !known {
                                self.problem(
                                    file.at(span.clone()),
                                    format!("cell {cell}: {name} in `{key}` is not an actor or a world.NAME"),
                                    Some("with map = \"world\", values are actor names or world.NAME of a value or an [[api]] capture".into()),
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
                    unknown: false,
                    responses: pinned,
                })
            }
            other => {
                self.problem(file.at(span), format!("cell {cell}: {other} is not a pin"), Some("a pin is a status (403), a table ({ status = 200, visible = [...] }), \"?\" (run it and show what it does) or \"-\"".into()));
                None
            }
        }
    }
}

impl Loader {
    /// A pinned response value; strings may name world values with templates,
    /// which become what a record shows for them (`"{{world.team}}"` →
    /// `"<prefix>team"`, a capture → `"<world.NAME>"`).
    fn pin_value(
        &mut self,
        file: &SourceFile,
        span: Range<usize>,
        cell: &str,
        key: &str,
        value: &toml::Value,
        world: &World,
    ) -> Option<Value> {
        let json = toml_to_json(value);
        if !json.to_string().contains("{{") {
            return Some(json);
        }
        let vars = as_recorded(world);
        let mut failed = false;
        let rendered = render_strings(json, &mut |text| {
            let rendered = Template::parse(text)
                .map_err(|e| e.to_string())
                .and_then(|t| t.render(&vars).map_err(|e| e.to_string()));
            rendered.unwrap_or_else(|error| {
                failed = true;
                self.problem(
                    file.at(span.clone()),
                    format!("cell {cell}: `{key}` pins {text:?}, which is not made of world names: {error}"),
                    Some("pinned values may use prefix, world.NAME and actors.NAME.id|name|key|key_sha256".into()),
                );
                String::new()
            })
        });
        (!failed).then_some(rendered)
    }
}

/// The world's names as a record shows their values: secrets and captures by
/// their label, values and ids rendered from those.
fn as_recorded(world: &World) -> Vars {
    let mut vars = Vars::default();
    vars.set("prefix", "<prefix>");
    vars.set("master_key", "<master_key>");
    for step in &world.api {
        for (name, _) in &step.captures {
            vars.set(format!("world.{name}"), format!("<world.{name}>"));
        }
    }
    for (name, template) in &world.values {
        if let Ok(value) = template.render(&vars) {
            vars.set(format!("world.{name}"), value);
        }
    }
    for (name, actor) in &world.actors {
        vars.set(format!("actors.{name}.name"), name.as_str());
        if !matches!(actor.credential, Credential::Anonymous) {
            vars.set(format!("actors.{name}.key"), format!("<actors.{name}.key>"));
            vars.set(
                format!("actors.{name}.key_sha256"),
                format!("<actors.{name}.key_sha256>"),
            );
        }
        if let Credential::Login {
            whoami: Some(whoami),
            ..
        } = &actor.credential
        {
            for (capture, _) in &whoami.captures {
                vars.set(
                    format!("actors.{name}.{capture}"),
                    format!("<actors.{name}.{capture}>"),
                );
            }
        }
        if let Some(id) = &actor.id
            && let Ok(value) = id.render(&vars)
        {
            vars.set(format!("actors.{name}.id"), value);
        }
    }
    vars
}

fn render_strings(value: Value, render: &mut dyn FnMut(&str) -> String) -> Value {
    match value {
        Value::String(s) if s.contains("{{") => Value::String(render(&s)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| render_strings(v, render))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

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
    fn a_question_mark_pins_nothing_yet() {
        let text = "[request]\nmethod = \"GET\"\npath = \"/x\"\n[response.seen]\nitems = \"/data\"\n[pins]\na = [\"?\"]\nb = [{ status = 200, seen = [] }]\n";
        assert_eq!(scenario(text), Vec::<String>::new());
        let got = scenario(&text.replace("\"?\"", "\"??\""));
        assert!(got[0].contains("\"??\" is not a pin"), "{got:?}");
    }

    #[test]
    fn pinned_values_may_name_world_values() {
        let world =
            "[values]\nteam = \"{{prefix}}team\"\n[actors.a]\nid = \"{{prefix}}a\"\n[actors.b]\n";
        let text = "[request]\nmethod = \"GET\"\npath = \"/x\"\n[response.teams]\nitems = \"\"\n[response.who]\nitems = \"/users\"\nfield = \"id\"\nmap = \"world\"\n[pins]\na = [{ status = 200, teams = [\"{{world.team}}\", \"{{actors.a.id}}\"], who = [\"a\", \"world.team\"] }]\nb = [{ status = 200, teams = [\"{{world.nope}}\"], who = [\"world.nope\", \"zed\"] }]\n";
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("suite.toml", SUITE),
            ("world.toml", world),
            ("scenarios/s.toml", text),
        ] {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let Err(crate::suite::SuiteError::Invalid { problems, .. }) =
            crate::suite::load(dir.path())
        else {
            panic!("b's pins are wrong");
        };
        let got: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got[0].contains(
                "cell any/b: `teams` pins \"{{world.nope}}\", which is not made of world names"
            ),
            "{got:?}"
        );
        assert!(
            got[1].contains("\"world.nope\" in `who` is not an actor or a world.NAME"),
            "{got:?}"
        );
        assert!(got[2].contains("\"zed\" in `who`"), "{got:?}");
        std::fs::write(
            dir.path().join("scenarios/s.toml"),
            text.split("b = ").next().unwrap(),
        )
        .unwrap();
        let suite = crate::suite::load(dir.path()).unwrap();
        let pin = &suite.cells()[0].pin;
        assert_eq!(
            pin.responses["teams"],
            serde_json::json!(["<prefix>a", "<prefix>team"])
        );
    }
}
