//! docs/format.md lists every key the loader accepts, and nothing else.
//!
//! The keys come from the loader's serde structures as written (every
//! `#[derive(Deserialize)]` struct of the files in `SOURCES`, with its
//! `#[serde(rename)]`s); the reference has one table per structure, after a
//! `<!-- keys: FILE STRUCT -->` line, its first column the keys.

use std::collections::BTreeMap;

use crate::support::repo_root;

/// The files whose serde structures are the suite and target formats.
const SOURCES: &[&str] = &["src/suite/raw.rs", "src/spec/target.rs"];

/// (file, struct) → its keys, in declaration order.
type Keys = BTreeMap<(String, String), Vec<String>>;

/// The keys of every `Deserialize` struct of a Rust file.
fn struct_keys(file: &str, text: &str) -> Keys {
    let mut out = Keys::new();
    let mut derives = false;
    let mut current: Option<String> = None;
    let mut rename: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = &current {
            if line.starts_with('}') {
                current = None;
                continue;
            }
            if let Some(attr) = trimmed.strip_prefix("#[serde(")
                && let Some(at) = attr.find("rename = \"")
            {
                let rest = &attr[at + "rename = \"".len()..];
                rename = rest.split('"').next().map(String::from);
                continue;
            }
            if trimmed.starts_with("//") || trimmed.starts_with("#[") {
                continue;
            }
            let field = trimmed
                .trim_start_matches("pub(super) ")
                .trim_start_matches("pub ");
            if let Some((field, _)) = field.split_once(':') {
                let key = rename.take().unwrap_or_else(|| field.trim().to_string());
                out.entry((file.to_string(), name.clone()))
                    .or_default()
                    .push(key);
            }
            continue;
        }
        if trimmed.starts_with("#[derive(") {
            derives = trimmed.contains("Deserialize");
            continue;
        }
        if derives && let Some(rest) = trimmed.split("struct ").nth(1) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if trimmed.ends_with('{') {
                current = Some(name.clone());
                out.entry((file.to_string(), name)).or_default();
            }
            derives = false;
        } else if !trimmed.starts_with("#[") && !trimmed.starts_with("//") {
            derives = false;
        }
    }
    out
}

/// The keys each table of the reference lists, by the structure it names.
fn documented_keys(text: &str) -> Result<Keys, String> {
    let mut out = Keys::new();
    let mut current: Option<(String, String)> = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("<!-- keys: ") {
            let words: Vec<&str> = rest.trim_end_matches("-->").split_whitespace().collect();
            let [file, name] = words[..] else {
                return Err(format!(
                    "docs/format.md:{}: write <!-- keys: FILE STRUCT -->",
                    n + 1
                ));
            };
            let id = (file.to_string(), name.to_string());
            if out.insert(id.clone(), Vec::new()).is_some() {
                return Err(format!(
                    "docs/format.md:{}: {file} {name} has two tables",
                    n + 1
                ));
            }
            current = Some(id);
            continue;
        }
        let Some(id) = &current else { continue };
        if line.starts_with('|') {
            let first = line.split('|').nth(1).unwrap_or("").trim();
            if let Some(key) = first.strip_prefix('`').and_then(|k| k.strip_suffix('`')) {
                out.get_mut(id).unwrap().push(key.to_string());
            }
        } else if line.starts_with('#') {
            current = None;
        }
    }
    Ok(out)
}

/// What differs between the code's keys and the reference's, one line each.
fn differences(code: &Keys, docs: &Keys) -> Vec<String> {
    let mut out = Vec::new();
    for ((file, name), keys) in code {
        let Some(listed) = docs.get(&(file.clone(), name.clone())) else {
            out.push(format!(
                "struct {name} ({file}) has no table in docs/format.md: add `<!-- keys: {file} {name} -->` and a table of its keys ({})",
                keys.join(", ")
            ));
            continue;
        };
        for key in keys {
            if !listed.contains(key) {
                out.push(format!(
                    "key `{key}` of struct {name} ({file}) is not in docs/format.md: add a row to its table"
                ));
            }
        }
        for key in listed {
            if !keys.contains(key) {
                out.push(format!(
                    "docs/format.md lists `{key}` under struct {name} ({file}), which has no such key"
                ));
            }
        }
    }
    for (file, name) in docs.keys() {
        if !code.contains_key(&(file.clone(), name.clone())) {
            out.push(format!(
                "docs/format.md has a table for struct {name} ({file}), which is not a Deserialize struct there"
            ));
        }
    }
    out
}

#[test]
fn the_format_reference_lists_every_key_the_loader_accepts_and_no_other() {
    let root = repo_root();
    let mut code = Keys::new();
    for file in SOURCES {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        code.extend(struct_keys(file, &text));
    }
    assert!(
        code.len() >= 15,
        "the parser found too few structures: {code:?}"
    );
    let docs = documented_keys(&std::fs::read_to_string(root.join("docs/format.md")).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    let problems = differences(&code, &docs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_key_missing_from_the_reference_is_named_with_its_struct() {
    let code = struct_keys(
        "src/x.rs",
        "#[derive(Debug, Deserialize)]\n#[serde(deny_unknown_fields)]\npub(super) struct Thing {\n    pub name: Str,\n    #[serde(rename = \"where\")]\n    pub where_: Option<Str>,\n    // a comment\n    #[serde(default)]\n    pub inputs: Vec<String>,\n}\n\n#[derive(Debug)]\nstruct NotSerde {\n    a: u8,\n}\n",
    );
    assert_eq!(
        code.get(&("src/x.rs".into(), "Thing".into())).unwrap(),
        &["name", "where", "inputs"]
    );
    assert!(!code.contains_key(&("src/x.rs".into(), "NotSerde".into())));
    let docs = documented_keys(
        "<!-- keys: src/x.rs Thing -->\n| key | type |\n|---|---|\n| `name` | string |\n| `wher` | string |\n",
    )
    .unwrap();
    let problems = differences(&code, &docs).join("\n");
    assert!(
        problems.contains("key `where` of struct Thing (src/x.rs) is not in docs/format.md"),
        "{problems}"
    );
    assert!(
        problems.contains("key `inputs` of struct Thing"),
        "{problems}"
    );
    assert!(
        problems.contains("lists `wher` under struct Thing"),
        "{problems}"
    );
    let none = differences(&code, &Keys::new()).join("\n");
    assert!(
        none.contains("struct Thing (src/x.rs) has no table"),
        "{none}"
    );
}
