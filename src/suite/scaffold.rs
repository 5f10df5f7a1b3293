//! `replay init`: the files of a new suite — suite.toml, world.toml, one
//! scenario (or one per operation of an OpenAPI document, pins `"?"`), and a
//! target to fill in. Pure: it returns the files; the job writes them.

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScaffoldError {
    #[error("the OpenAPI document is not JSON: {0}")]
    NotJson(String),
    #[error("the OpenAPI document has no `paths` object")]
    NoPaths,
}

/// An operation of an OpenAPI document: its method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub method: String,
    pub path: String,
    pub id: Option<String>,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The operations of an OpenAPI (or Swagger) JSON document, in its order.
pub fn operations(text: &str) -> Result<Vec<Operation>, ScaffoldError> {
    let document: Value =
        serde_json::from_str(text).map_err(|e| ScaffoldError::NotJson(e.to_string()))?;
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
        assert_eq!(operations("[]"), Err(ScaffoldError::NoPaths));
        assert!(matches!(operations("{"), Err(ScaffoldError::NotJson(_))));
    }
}
