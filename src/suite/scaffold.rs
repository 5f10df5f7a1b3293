//! `replay init`: the files of a new suite — suite.toml, world.toml, one
//! scenario (or one per operation of an OpenAPI document, pins `"?"`), and a
//! target to fill in. Pure: it returns the files; the job writes them.

use serde_json::Value;

/// The syntax of an OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Yaml,
}

impl Syntax {
    pub fn as_str(self) -> &'static str {
        match self {
            Syntax::Json => "JSON",
            Syntax::Yaml => "YAML",
        }
    }

    /// What a document is written in: by its name's extension (`.json`,
    /// `.yaml`, `.yml`), else the `Content-Type` it was served with (a URL),
    /// else its first character that is not white space (`{` or `[` is JSON,
    /// anything else YAML). With the reason, for a hint.
    pub fn of(name: &str, content_type: Option<&str>, text: &str) -> (Syntax, String) {
        if let Some(syntax) = Syntax::by_name(name) {
            return (syntax, "by its extension".into());
        }
        if let Some(mime) = content_type
            && let Some(syntax) = Syntax::by_content_type(mime)
        {
            return (syntax, format!("served as {mime}"));
        }
        let syntax = match text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .chars()
            .next()
        {
            Some('{' | '[') => Syntax::Json,
            _ => Syntax::Yaml,
        };
        (syntax, "by its first character".into())
    }

    fn by_name(name: &str) -> Option<Syntax> {
        // A URL's query or fragment is not part of its file name.
        let name = name.split(['?', '#']).next().unwrap_or(name);
        let (_, extension) = name.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "json" => Some(Syntax::Json),
            "yaml" | "yml" => Some(Syntax::Yaml),
            _ => None,
        }
    }

    fn by_content_type(content_type: &str) -> Option<Syntax> {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime == "application/json" || mime.ends_with("+json") {
            Some(Syntax::Json)
        } else if mime.ends_with("yaml") {
            Some(Syntax::Yaml)
        } else {
            None
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScaffoldError {
    /// Not valid JSON or YAML; `line` (1-based) and `column` where the
    /// parser stopped, when it says (the caller puts the file and line in
    /// front: `openapi.yaml:5: not valid YAML: ...`).
    #[error("not valid {}{}: {message}", syntax.as_str(), column.map(|c| format!(" (column {c})")).unwrap_or_default())]
    Syntax {
        syntax: Syntax,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("the OpenAPI document has no `paths` object")]
    NoPaths,
}

impl ScaffoldError {
    /// The line (1-based) of a syntax error, when the parser says.
    pub fn line(&self) -> Option<usize> {
        match self {
            ScaffoldError::Syntax { line, .. } => *line,
            ScaffoldError::NoPaths => None,
        }
    }
}

/// An operation of an OpenAPI document: its method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub method: String,
    pub path: String,
    pub id: Option<String>,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// An OpenAPI document in `syntax`, as a JSON value (keys in the document's
/// order; YAML's non-string keys, such as a response's `200:`, as strings).
pub fn parse(text: &str, syntax: Syntax) -> Result<Value, ScaffoldError> {
    match syntax {
        Syntax::Json => serde_json::from_str(text).map_err(|e| {
            // serde_json's message ends with " at line L column C": said once, in front.
            let message = without_position(&e.to_string());
            ScaffoldError::Syntax {
                syntax,
                line: (e.line() > 0).then_some(e.line()),
                column: (e.line() > 0).then_some(e.column()),
                message,
            }
        }),
        Syntax::Yaml => {
            let value: serde_norway::Value =
                serde_norway::from_str(text).map_err(|e| yaml_error(&e))?;
            yaml_to_json(value).map_err(|message| ScaffoldError::Syntax {
                syntax,
                line: None,
                column: None,
                message,
            })
        }
    }
}

/// A parser's message without its first " at line L column C" (where it
/// stopped, which the error says itself: `FILE:LINE: not valid YAML (column
/// C): ...`); a later one, where the construct it was parsing began, stays.
fn without_position(message: &str) -> String {
    let position = regex::Regex::new(r" at line \d+ column \d+").expect("a valid pattern");
    position.replace(message, "").into_owned()
}

fn yaml_error(e: &serde_norway::Error) -> ScaffoldError {
    let location = e.location();
    // Its message says " at line L column C" (mid-sentence, before
    // ", while parsing ..."): said once, in front.
    let message = without_position(&e.to_string());
    ScaffoldError::Syntax {
        syntax: Syntax::Yaml,
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        message,
    }
}

/// A YAML value as JSON: mappings keep their order, merge keys (`<<`) are
/// applied, a scalar key becomes its text, and a tag is dropped.
fn yaml_to_json(mut value: serde_norway::Value) -> Result<Value, String> {
    use serde_norway::Value as Yaml;
    value.apply_merge().map_err(|e| e.to_string())?;
    Ok(match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut object = serde_json::Map::new();
            for (key, item) in map {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Null => "null".to_string(),
                    other => {
                        return Err(format!(
                            "a mapping key that is not a scalar: {}",
                            serde_norway::to_string(&other).unwrap_or_default().trim()
                        ));
                    }
                };
                object.insert(key, yaml_to_json(item)?);
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// The operations of an OpenAPI (or Swagger) document, in its order.
pub fn operations(text: &str, syntax: Syntax) -> Result<Vec<Operation>, ScaffoldError> {
    let document = parse(text, syntax)?;
    let paths = document
        .get("paths")
        .and_then(Value::as_object)
        .ok_or(ScaffoldError::NoPaths)?;
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                out.push(Operation {
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                    id: operation
                        .get("operationId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
            }
        }
    }
    Ok(out)
}

/// A scenario's file name for an operation: `get_key_info`, or its operationId.
fn scenario_name(operation: &Operation, taken: &[String]) -> String {
    let raw = operation.id.clone().unwrap_or_else(|| {
        format!(
            "{}_{}",
            operation.method.to_ascii_lowercase(),
            operation.path
        )
    });
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while name.contains("__") {
        name = name.replace("__", "_");
    }
    let name = name.trim_matches('_').to_string();
    let name = if name.is_empty() {
        "operation".to_string()
    } else {
        name
    };
    let mut unique = name.clone();
    let mut n = 2;
    while taken.contains(&unique) {
        unique = format!("{name}_{n}");
        n += 1;
    }
    unique
}

fn toml_string(text: &str) -> String {
    toml_edit::Value::from(text).to_string()
}

fn scenario(operation: &Operation) -> String {
    let params = operation.path.contains('{');
    format!(
        "# {method} {path}: who may call it? Run `replay check`: each cell pinned \"?\" shows\n\
         # what the server did (NEW), and `replay check --accept` pins it after review.\n\
         endpoint = {endpoint}\n\n\
         [request]\nmethod = \"{method}\"\npath = {path_value}{params_note}\n\n\
         [pins]\nadmin     = [\"?\"]\nanonymous = [\"?\"]\n",
        method = operation.method,
        path = operation.path,
        endpoint = toml_string(&format!("{} {}", operation.method, operation.path)),
        path_value = toml_string(&operation.path),
        params_note = if params {
            "\n# The path has parameters: replace each {name} with a world value or a setup capture."
        } else {
            ""
        },
    )
}

/// The files of a new suite named `name`, by path inside its folder.
pub fn files(name: &str, operations: &[Operation]) -> Vec<(String, String)> {
    let mut files = vec![
        (
            "suite.toml".to_string(),
            format!(
                "# A suite: the world, the scenarios with their pins, and the targets that run them.\n\
                 # docs/format.md lists every key.\n\
                 name = {}\n\
                 description = \"What this suite pins\"\n\n\
                 # Where a denial's reason is in a response body (JSON pointers, first that is there).\n\
                 reason = [\"/detail\", \"/error/message\"]\n",
                toml_string(name)
            ),
        ),
        (
            "world.toml".to_string(),
            "# The actors the scenarios call as. `key = \"master\"` is the server's master key;\n\
             # an actor with an `id` gets a fresh key per run, seeded as its sha256 by a\n\
             # [[seed]] statement you write for your server's tables.\n\n\
             [actors.admin]\nkey = \"master\"\n\n\
             # No Authorization header: the row every matrix has.\n\
             [actors.anonymous]\nanonymous = true\n"
                .to_string(),
        ),
        (
            "targets/local.toml".to_string(),
            "# How to build, migrate and boot one revision of the server (docs/format.md, Targets).\n\
             # Commands run in the revision's checkout, without a shell.\n\
             name = \"local\"\n\n\
             [env]\nDATABASE_URL = \"{{database_url}}\"\nMASTER_KEY = \"{{master_key}}\"\n\n\
             [local.build]\ninputs = [\"requirements.txt\"]\n\
             run = [\"python3 -m venv {{env}}\", \"{{env}}/bin/python -m pip install -r requirements.txt\"]\n\n\
             [local.migrate]\ninputs = [\"schema.sql\"]\nrun = [\"{{env}}/bin/python migrate.py\"]\n\n\
             [local.boot]\nrun = \"{{env}}/bin/python server.py --host {{host}} --port {{port}}\"\n\n\
             [ready]\nhttp = \"/health\"\ntimeout = \"30s\"\n"
                .to_string(),
        ),
    ];
    let default = [Operation {
        method: "GET".into(),
        path: "/health".into(),
        id: None,
    }];
    let operations = if operations.is_empty() {
        &default[..]
    } else {
        operations
    };
    let mut taken = Vec::new();
    for operation in operations {
        let name = scenario_name(operation, &taken);
        files.push((format!("scenarios/{name}.toml"), scenario(operation)));
        taken.push(name);
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_scenario_per_operation_named_after_it() {
        let ops = operations(
            r#"{"openapi": "3.0.0", "paths": {
                "/key/info": {"get": {"operationId": "keyInfo"}, "parameters": []},
                "/key/{key}/regenerate": {"post": {}},
                "/x": {"get": {}, "delete": {}}
            }}"#,
            Syntax::Json,
        )
        .unwrap();
        assert_eq!(ops.len(), 4);
        let files = files("my-api", &ops);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "suite.toml",
                "world.toml",
                "targets/local.toml",
                "scenarios/keyinfo.toml",
                "scenarios/post_key_key_regenerate.toml",
                "scenarios/get_x.toml",
                "scenarios/delete_x.toml"
            ]
        );
        assert!(files[4].1.contains("replace each {name}"));
        assert_eq!(operations("[]", Syntax::Json), Err(ScaffoldError::NoPaths));
        assert!(matches!(
            operations("{", Syntax::Json),
            Err(ScaffoldError::Syntax {
                syntax: Syntax::Json,
                line: Some(1),
                ..
            })
        ));
    }
}

#[cfg(test)]
mod yaml_tests {
    use super::*;

    #[test]
    fn a_document_is_json_or_yaml_by_its_name_then_its_type_then_its_first_character() {
        let of = |name, content_type, text| Syntax::of(name, content_type, text).0;
        assert_eq!(of("api.JSON", None, "openapi: 3"), Syntax::Json);
        assert_eq!(of("api.yml", Some("application/json"), "{}"), Syntax::Yaml);
        assert_eq!(of("a/openapi.yaml?v=2", None, "{}"), Syntax::Yaml);
        assert_eq!(
            of(
                "http://h/openapi",
                Some("application/yaml; charset=utf-8"),
                "{}"
            ),
            Syntax::Yaml
        );
        assert_eq!(
            of(
                "http://h/docs",
                Some("application/vnd.oai.openapi+json"),
                "a: 1"
            ),
            Syntax::Json
        );
        assert_eq!(
            of("http://h/spec", Some("text/plain"), "\n  {\"a\": 1}"),
            Syntax::Json
        );
        assert_eq!(of("spec", None, "\u{feff}openapi: 3.0.0"), Syntax::Yaml);
        assert_eq!(
            of("http://127.0.0.1:8/v1.2/spec", None, "openapi: 3.0.0"),
            Syntax::Yaml
        );
        assert_eq!(
            Syntax::of("http://h/spec", Some("text/x-yaml"), "{").1,
            "served as text/x-yaml"
        );
    }

    #[test]
    fn yaml_gives_the_operations_json_gives_in_the_same_order() {
        let json = r#"{"openapi": "3.0.0", "paths": {
            "/b": {"post": {"operationId": "makeB", "responses": {"200": {"description": "ok"}}}},
            "/a/{id}": {"get": {}, "delete": {"operationId": "dropA"}}
        }}"#;
        let yaml = "openapi: 3.0.0\npaths:\n  /b:\n    post:\n      operationId: makeB\n      responses:\n        200:\n          description: ok\n  /a/{id}:\n    get: {}\n    delete:\n      operationId: dropA\n";
        assert_eq!(
            parse(json, Syntax::Json).unwrap(),
            parse(yaml, Syntax::Yaml).unwrap()
        );
        let ops = operations(yaml, Syntax::Yaml).unwrap();
        assert_eq!(ops, operations(json, Syntax::Json).unwrap());
        assert_eq!(
            ops.iter()
                .map(|o| format!("{} {}", o.method, o.path))
                .collect::<Vec<_>>(),
            ["POST /b", "GET /a/{id}", "DELETE /a/{id}"]
        );
        // Anchors and merge keys, as shared parameters are often written.
        let merged = "x: &common\n  operationId: one\npaths:\n  /m:\n    get:\n      <<: *common\n";
        assert_eq!(
            operations(merged, Syntax::Yaml).unwrap()[0].id.as_deref(),
            Some("one")
        );
    }

    #[test]
    fn malformed_yaml_names_its_line() {
        let bad = "openapi: 3.0.0\npaths:\n  /a:\n    get: {}\n   post: {}\n";
        let error = operations(bad, Syntax::Yaml).unwrap_err();
        assert_eq!(error.line(), Some(5), "{error}");
        assert!(
            error.to_string().starts_with("not valid YAML (column 4): "),
            "{error}"
        );
        assert!(!error.to_string().contains("line 5"), "said once: {error}");
        let error = operations("{\n  \"paths\": {,}\n}", Syntax::Json).unwrap_err();
        assert_eq!(error.line(), Some(2), "{error}");
        assert!(
            !error.to_string().contains(" at line "),
            "said once: {error}"
        );
    }
}
