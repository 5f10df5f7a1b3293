//! The GitHub workflows in `.github/workflows/`: their shape, checked here on
//! every run. (actionlint cannot be installed from the registries these
//! machines reach; docs/ci.md says how to run it where it can.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use regex::Regex;
use serde_norway::{Mapping, Value};

use crate::support::repo_root;

const TOP_KEYS: &[&str] = &[
    "name",
    "run-name",
    "on",
    "permissions",
    "env",
    "defaults",
    "concurrency",
    "jobs",
];
const JOB_KEYS: &[&str] = &[
    "name",
    "needs",
    "permissions",
    "runs-on",
    "environment",
    "concurrency",
    "outputs",
    "env",
    "defaults",
    "if",
    "steps",
    "timeout-minutes",
    "strategy",
    "continue-on-error",
    "container",
    "services",
    "uses",
    "with",
    "secrets",
];
const STEP_KEYS: &[&str] = &[
    "id",
    "if",
    "name",
    "uses",
    "run",
    "shell",
    "with",
    "env",
    "continue-on-error",
    "timeout-minutes",
    "working-directory",
];

/// `.github/workflows/*.yml`, in name order.
fn workflow_files() -> Vec<PathBuf> {
    let dir = repo_root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no workflow in {}", dir.display());
    files
}

#[test]
fn shape() {
    let mut problems = Vec::new();
    for path in workflow_files() {
        let name = path
            .strip_prefix(repo_root())
            .unwrap()
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        match serde_norway::from_str::<Value>(&text) {
            Ok(doc) => problems.extend(
                check_workflow(&doc)
                    .into_iter()
                    .map(|p| format!("{name}: {p}")),
            ),
            Err(e) => problems.push(format!("{name}: not YAML: {e}")),
        }
    }
    assert!(
        problems.is_empty(),
        "workflow problems:\n{}",
        problems.join("\n")
    );
}

/// Everything wrong with one workflow, each as "where: what".
fn check_workflow(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(top) = doc.as_mapping() else {
        return vec!["the document is not a mapping".into()];
    };
    for key in top.keys() {
        match key_name(key) {
            Some(k) if TOP_KEYS.contains(&k) => {}
            _ => problems.push(format!("unknown top-level key {key:?}")),
        }
    }
    let Some(on) = get(top, "on") else {
        problems.push("no `on`".into());
        return problems;
    };
    let inputs = check_on(on, &mut problems);
    let Some(jobs) = get(top, "jobs").and_then(Value::as_mapping) else {
        problems.push("no `jobs` mapping".into());
        return problems;
    };
    check_call_outputs(on, jobs, &mut problems);
    if jobs.is_empty() {
        problems.push("`jobs` is empty".into());
    }
    // Job id → its declared outputs.
    let outputs: BTreeMap<String, BTreeSet<String>> = jobs
        .iter()
        .filter_map(|(id, job)| {
            let names = job
                .as_mapping()
                .and_then(|j| get(j, "outputs"))
                .and_then(Value::as_mapping)
                .map(|o| o.keys().filter_map(key_name).map(String::from).collect())
                .unwrap_or_default();
            Some((key_name(id)?.to_string(), names))
        })
        .collect();
    for (id, job) in jobs {
        let Some(id) = key_name(id) else {
            problems.push(format!("job id {id:?} is not a string"));
            continue;
        };
        let Some(job) = job.as_mapping() else {
            problems.push(format!("jobs.{id}: not a mapping"));
            continue;
        };
        check_job(id, job, &inputs, &outputs, &mut problems);
    }
    for text in strings(doc) {
        if text.matches("${{").count() != text.matches("}}").count() {
            problems.push(format!("an unclosed `${{{{ }}}}` in {text:?}"));
        }
    }
    problems
}

/// `on.workflow_call.outputs`: each has a description and a `value` that
/// names an output a job declares (`jobs.<id>.outputs.<name>`).
fn check_call_outputs(on: &Value, jobs: &Mapping, problems: &mut Vec<String>) {
    let Some(outputs) = on
        .as_mapping()
        .and_then(|e| get(e, "workflow_call"))
        .and_then(Value::as_mapping)
        .and_then(|c| get(c, "outputs"))
        .and_then(Value::as_mapping)
    else {
        return;
    };
    let reference = Regex::new(r"jobs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)").unwrap();
    for (name, output) in outputs {
        let at = format!(
            "on.workflow_call.outputs.{}",
            key_name(name).unwrap_or_default()
        );
        let Some(output) = output.as_mapping() else {
            problems.push(format!("{at}: not a mapping"));
            continue;
        };
        match get(output, "description").and_then(Value::as_str) {
            Some(d) if !d.trim().is_empty() => {}
            _ => problems.push(format!("{at}: no description")),
        }
        let value = get(output, "value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(found) = reference.captures(value) else {
            problems.push(format!("{at}.value: {value:?} names no job output"));
            continue;
        };
        let declared = get(jobs, &found[1])
            .and_then(Value::as_mapping)
            .and_then(|j| get(j, "outputs"))
            .and_then(Value::as_mapping)
            .is_some_and(|o| get(o, &found[2]).is_some());
        if !declared {
            problems.push(format!(
                "{at}.value: job {:?} has no output {:?}",
                &found[1], &found[2]
            ));
        }
    }
}

/// Checks `on`; returns the names of the inputs it declares (workflow_call
/// and workflow_dispatch together).
fn check_on(on: &Value, problems: &mut Vec<String>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let events = match on {
        Value::String(_) | Value::Sequence(_) => return names,
        Value::Mapping(events) => events,
        _ => {
            problems.push("`on` is neither an event, a list nor a mapping".into());
            return names;
        }
    };
    for (event, types) in [
        ("workflow_call", &["string", "boolean", "number"][..]),
        (
            "workflow_dispatch",
            &["string", "boolean", "number", "choice", "environment"][..],
        ),
    ] {
        let Some(inputs) = get(events, event)
            .and_then(Value::as_mapping)
            .and_then(|e| get(e, "inputs"))
        else {
            continue;
        };
        let Some(inputs) = inputs.as_mapping() else {
            problems.push(format!("on.{event}.inputs: not a mapping"));
            continue;
        };
        for (name, input) in inputs {
            let name = key_name(name).unwrap_or_default();
            let at = format!("on.{event}.inputs.{name}");
            names.insert(name.to_string());
            let Some(input) = input.as_mapping() else {
                problems.push(format!("{at}: not a mapping"));
                continue;
            };
            match get(input, "description").and_then(Value::as_str) {
                Some(d) if !d.trim().is_empty() => {}
                _ => problems.push(format!("{at}: no description")),
            }
            let kind = get(input, "type").and_then(Value::as_str);
            match kind {
                Some(t) if types.contains(&t) => {}
                _ => problems.push(format!("{at}: `type` is none of {types:?}")),
            }
            let default_fits = match (kind, get(input, "default")) {
                (_, None) => true,
                (Some("boolean"), Some(d)) => d.is_bool(),
                (Some("number"), Some(d)) => d.is_number(),
                (_, Some(d)) => d.is_string(),
            };
            if !default_fits {
                problems.push(format!(
                    "{at}: the default is not a {}",
                    kind.unwrap_or("?")
                ));
            }
            if get(input, "required").and_then(Value::as_bool) == Some(true)
                && get(input, "default").is_some()
            {
                problems.push(format!("{at}: required with a default"));
            }
        }
    }
    names
}

fn check_job(
    id: &str,
    job: &Mapping,
    inputs: &BTreeSet<String>,
    outputs: &BTreeMap<String, BTreeSet<String>>,
    problems: &mut Vec<String>,
) {
    let at = format!("jobs.{id}");
    for key in job.keys() {
        match key_name(key) {
            Some(k) if JOB_KEYS.contains(&k) => {}
            _ => problems.push(format!("{at}: unknown key {key:?}")),
        }
    }
    let needs: Vec<String> = match get(job, "needs") {
        None => Vec::new(),
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Sequence(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(_) => {
            problems.push(format!("{at}.needs: neither a job nor a list"));
            Vec::new()
        }
    };
    for need in &needs {
        if need == id || !outputs.contains_key(need) {
            problems.push(format!("{at}.needs: no job {need:?} to wait for"));
        }
    }
    let matrix: BTreeSet<String> = get(job, "strategy")
        .and_then(Value::as_mapping)
        .and_then(|s| get(s, "matrix"))
        .and_then(Value::as_mapping)
        .map(|m| m.keys().filter_map(key_name).map(String::from).collect())
        .unwrap_or_default();

    if get(job, "runs-on").is_some() && get(job, "timeout-minutes").is_none() {
        problems.push(format!(
            "{at}: no `timeout-minutes` (a hung step would hold the runner for six hours)"
        ));
    }
    let steps = match (get(job, "runs-on"), get(job, "uses")) {
        (Some(_), None) => match get(job, "steps").and_then(Value::as_sequence) {
            Some(steps) if !steps.is_empty() => steps.as_slice(),
            _ => {
                problems.push(format!("{at}: `runs-on` without steps"));
                &[]
            }
        },
        (None, Some(uses)) => {
            let uses = uses.as_str().unwrap_or_default();
            if !(uses.starts_with("./") || uses.contains('@')) {
                problems.push(format!("{at}.uses: {uses:?} names no version (@ref)"));
            }
            if get(job, "steps").is_some() {
                problems.push(format!("{at}: `uses` with steps"));
            }
            &[]
        }
        _ => {
            problems.push(format!("{at}: needs exactly one of `runs-on` and `uses`"));
            &[]
        }
    };

    // Step ids, with the names the step writes to $GITHUB_OUTPUT when it is a
    // `run` step (None: an action, whose outputs are not known here).
    let mut step_outputs: Vec<(String, Option<String>)> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let at = format!("{at}.steps[{index}]");
        let Some(step) = step.as_mapping() else {
            problems.push(format!("{at}: not a mapping"));
            continue;
        };
        for key in step.keys() {
            match key_name(key) {
                Some(k) if STEP_KEYS.contains(&k) => {}
                _ => problems.push(format!("{at}: unknown key {key:?}")),
            }
        }
        let run = get(step, "run").and_then(Value::as_str);
        match (get(step, "uses"), run) {
            (Some(uses), None) => {
                let uses = uses.as_str().unwrap_or_default();
                let key = get(step, "with")
                    .and_then(Value::as_mapping)
                    .and_then(|w| get(w, "key"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if uses.starts_with("actions/cache")
                    && (key.contains("github.run_id") || key.contains("github.run_attempt"))
                {
                    problems.push(format!(
                        "{at}.with.key: {key:?} changes every run, so every run saves a new cache entry"
                    ));
                }
                if !(uses.starts_with("./") || uses.starts_with("docker://") || uses.contains('@'))
                {
                    problems.push(format!("{at}.uses: {uses:?} names no version (@ref)"));
                }
                for key in ["shell", "working-directory"] {
                    if get(step, key).is_some() {
                        problems.push(format!("{at}: `{key}` on a `uses` step"));
                    }
                }
            }
            (None, Some(script)) => {
                if script.contains("${{") {
                    problems.push(format!(
                        "{at}.run: `${{{{ }}}}` is pasted into the script; pass the value through `env`"
                    ));
                }
                if get(step, "with").is_some() {
                    problems.push(format!("{at}: `with` on a `run` step"));
                }
            }
            _ => problems.push(format!("{at}: needs exactly one of `uses` and `run`")),
        }
        let step_value = Value::Mapping(step.clone());
        check_references(
            &at,
            &step_value,
            inputs,
            &needs,
            outputs,
            &matrix,
            Some(&step_outputs),
            problems,
        );
        if let Some(step_id) = get(step, "id").and_then(Value::as_str) {
            if step_outputs.iter().any(|(seen, _)| seen == step_id) {
                problems.push(format!("{at}.id: {step_id:?} is used twice"));
            }
            step_outputs.push((step_id.to_string(), run.map(String::from)));
        }
    }

    // Everything but the steps: runs-on, if, strategy, outputs, with, ...
    let mut rest = job.clone();
    rest.remove("steps");
    check_references(
        &at,
        &Value::Mapping(rest),
        inputs,
        &needs,
        outputs,
        &matrix,
        // The job's outputs may name any of its steps.
        (!steps.is_empty()).then_some(&step_outputs),
        problems,
    );
}

/// References in `${{ }}` (and in `if:`) to inputs, needs, steps and matrix
/// values that do not exist. `steps`: the steps before this one, or None
/// where no `steps.*` may be named.
#[allow(clippy::too_many_arguments)]
fn check_references(
    at: &str,
    value: &Value,
    inputs: &BTreeSet<String>,
    needs: &[String],
    outputs: &BTreeMap<String, BTreeSet<String>>,
    matrix: &BTreeSet<String>,
    steps: Option<&Vec<(String, Option<String>)>>,
    problems: &mut Vec<String>,
) {
    let name = r"([A-Za-z_][A-Za-z0-9_-]*)";
    let start = r"(?:^|[^.A-Za-z0-9_-])";
    let input_re = Regex::new(&format!(r"{start}inputs\.{name}")).unwrap();
    let needs_re = Regex::new(&format!(r"{start}needs\.{name}\.(outputs\.{name}|result)")).unwrap();
    let steps_re = Regex::new(&format!(
        r"{start}steps\.{name}\.(outputs\.{name}|outcome|conclusion)"
    ))
    .unwrap();
    let matrix_re = Regex::new(&format!(r"{start}matrix\.{name}")).unwrap();

    for expression in expressions(value) {
        for c in input_re.captures_iter(&expression) {
            if !inputs.contains(&c[1]) {
                problems.push(format!("{at}: `inputs.{}` is not declared", &c[1]));
            }
        }
        for c in needs_re.captures_iter(&expression) {
            let job = &c[1];
            if !needs.iter().any(|n| n == job) {
                problems.push(format!("{at}: `needs.{job}` without `needs: {job}`"));
            } else if let Some(output) = c.get(3)
                && outputs
                    .get(job)
                    .is_some_and(|o| !o.contains(output.as_str()))
            {
                problems.push(format!(
                    "{at}: job {job} has no output {:?}",
                    output.as_str()
                ));
            }
        }
        for c in steps_re.captures_iter(&expression) {
            let step = &c[1];
            let found = steps.and_then(|s| s.iter().find(|(id, _)| id == step));
            match (found, c.get(3)) {
                (None, _) => problems.push(format!("{at}: no step {step:?} before this")),
                (Some((_, Some(script))), Some(output))
                    if !script.contains(&format!("{}=", output.as_str())) =>
                {
                    problems.push(format!(
                        "{at}: step {step} writes no output {:?}",
                        output.as_str()
                    ));
                }
                _ => {}
            }
        }
        for c in matrix_re.captures_iter(&expression) {
            if !matrix.contains(&c[1]) {
                problems.push(format!("{at}: `matrix.{}` is not in the matrix", &c[1]));
            }
        }
    }
}

/// The expressions in a value: each `${{ ... }}`, and every `if:` whole.
fn expressions(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_expressions(value, false, &mut found);
    found
}

fn collect_expressions(value: &Value, is_if: bool, found: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            if is_if && !text.contains("${{") {
                found.push(text.clone());
            }
            let mut rest = text.as_str();
            while let Some(open) = rest.find("${{") {
                let after = &rest[open + 3..];
                let Some(close) = after.find("}}") else { break };
                found.push(after[..close].to_string());
                rest = &after[close + 2..];
            }
        }
        Value::Sequence(items) => items
            .iter()
            .for_each(|item| collect_expressions(item, false, found)),
        Value::Mapping(map) => {
            for (key, item) in map {
                collect_expressions(item, key_name(key) == Some("if"), found);
            }
        }
        Value::Tagged(tagged) => collect_expressions(&tagged.value, is_if, found),
        _ => {}
    }
}

/// Every string in a value.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(text) => vec![text.as_str()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::Mapping(map) => map.values().flat_map(strings).collect(),
        Value::Tagged(tagged) => strings(&tagged.value),
        _ => Vec::new(),
    }
}

fn get<'a>(map: &'a Mapping, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        // YAML 1.1 reads a bare `on` as true.
        (key == "on").then(|| map.get(Value::Bool(true))).flatten()
    })
}

fn key_name(key: &Value) -> Option<&str> {
    match key {
        Value::String(s) => Some(s),
        Value::Bool(true) => Some("on"),
        _ => None,
    }
}

#[test]
fn shape_check_finds_mistakes() {
    let good = r#"
on:
  workflow_call:
    inputs:
      suite: { description: The suite., required: true, type: string }
jobs:
  plan:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    outputs:
      count: ${{ steps.plan.outputs.count }}
    steps:
      - id: plan
        env: { SUITE: "${{ inputs.suite }}" }
        run: echo "count=1" >> "$GITHUB_OUTPUT"
  fix:
    needs: plan
    if: needs.plan.outputs.count != '0'
    strategy: { matrix: { shard: [1, 2] } }
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - uses: actions/checkout@v5
      - run: echo "$SHARD"
        env: { SHARD: "${{ matrix.shard }}" }
"#;
    let problems = check_workflow(&serde_norway::from_str(good).unwrap());
    assert!(problems.is_empty(), "{problems:#?}");

    let cases = [
        ("on: push", "no `jobs`"),
        ("jobs: {}", "no `on`"),
        ("name: x\nonn: push\njobs: {}", "unknown top-level key"),
        (
            "on: push\njobs:\n  a:\n    steps: [run: x]",
            "exactly one of `runs-on` and `uses`",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [run: x]",
            "no `timeout-minutes`",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{ uses: actions/cache/save@v5, with: { path: c, key: 'c-${{ github.run_id }}' } }]",
            "changes every run",
        ),
        (
            "on:\n  workflow_call:\n    outputs:\n      verdict: { description: V., value: '${{ jobs.a.outputs.verdikt }}' }\njobs:\n  a:\n    runs-on: x\n    outputs: { verdict: x }\n    steps: [run: x]",
            "job \"a\" has no output \"verdikt\"",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{ uses: a/b@v1, run: x }]",
            "exactly one of `uses` and `run`",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [uses: actions/checkout]",
            "names no version",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{ run: x, shel: bash }]",
            "unknown key",
        ),
        (
            "on: push\njobs:\n  a:\n    needs: b\n    runs-on: x\n    steps: [run: x]",
            "no job \"b\"",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [run: 'echo ${{ github.sha }}']",
            "pasted into the script",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{ run: x, env: { A: '${{ inputs.a }}' } }]",
            "`inputs.a` is not declared",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{ run: x, env: { A: '${{ matrix.os }}' } }]",
            "`matrix.os` is not in the matrix",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{ run: x, env: { A: '${{ github.sha' } }]",
            "unclosed",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - { run: x, if: steps.b.outcome == 'success' }\n      - { id: b, run: x }",
            "no step \"b\" before this",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - { id: b, run: echo \"sha=1\" >> \"$GITHUB_OUTPUT\" }\n      - { run: x, env: { A: '${{ steps.b.outputs.sah }}' } }",
            "writes no output \"sah\"",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    outputs: { n: x }\n    steps: [run: x]\n  b:\n    needs: a\n    runs-on: '${{ needs.a.outputs.m }}'\n    steps: [run: x]",
            "job a has no output \"m\"",
        ),
        (
            "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [run: x]\n  b:\n    runs-on: '${{ needs.a.result }}'\n    steps: [run: x]",
            "`needs.a` without `needs: a`",
        ),
        (
            "on:\n  workflow_dispatch:\n    inputs:\n      n: { type: number, default: 'four' }\njobs:\n  a:\n    runs-on: x\n    steps: [run: x]",
            "no description",
        ),
        (
            "on:\n  workflow_dispatch:\n    inputs:\n      n: { description: N., type: number, default: 'four' }\njobs:\n  a:\n    runs-on: x\n    steps: [run: x]",
            "the default is not a number",
        ),
    ];
    for (yaml, expected) in cases {
        let problems = check_workflow(&serde_norway::from_str(yaml).unwrap());
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "expected a problem with {expected:?} in\n{yaml}\ngot {problems:#?}"
        );
    }
}

/// replay-table.yml's `grep` default is the regular expression `replay plan`
/// gets: it must select the subjects the docs say it selects, and a run that
/// selects no fix must fail instead of going green having replayed nothing.
#[test]
fn the_replay_table_default_grep_selects_what_it_names_and_an_empty_plan_fails() {
    let text =
        std::fs::read_to_string(repo_root().join(".github/workflows/replay-table.yml")).unwrap();
    let doc: Value = serde_norway::from_str(&text).unwrap();
    let grep = doc["on"]["workflow_dispatch"]["inputs"]["grep"]["default"]
        .as_str()
        .unwrap();
    let re = Regex::new(grep).unwrap();
    assert!(
        re.is_match("fix(proxy): deny key updates by peers"),
        "{grep}"
    );
    assert!(!re.is_match("fixproxy typo"), "{grep}");
    assert!(!re.is_match("docs: a fix(proxy) note"), "{grep}");
    let plan = doc["jobs"]["plan"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some("plan"))
        .unwrap();
    let script = plan["run"].as_str().unwrap();
    assert!(
        script.contains(r#"if [ "$count" -eq 0 ]"#) && script.contains("exit 1"),
        "the plan step fails on an empty plan:\n{script}"
    );
    for job in ["plan", "replay", "merge"] {
        assert!(
            doc["jobs"][job]["timeout-minutes"].is_number(),
            "jobs.{job} has no timeout-minutes"
        );
    }
}

/// replay-check.yml gives its caller the verdict and the RED count, and keeps
/// one cache entry per replay version and suite instead of one per run.
#[test]
fn replay_check_has_outputs_and_a_stable_cache_key() {
    let text =
        std::fs::read_to_string(repo_root().join(".github/workflows/replay-check.yml")).unwrap();
    let doc: Value = serde_norway::from_str(&text).unwrap();
    let outputs = doc["on"]["workflow_call"]["outputs"].as_mapping().unwrap();
    for name in ["verdict", "red", "error", "exit-code"] {
        assert!(get(outputs, name).is_some(), "no output {name}");
    }
    let steps = doc["jobs"]["check"]["steps"].as_sequence().unwrap();
    let keys: Vec<&str> = steps
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/cache"))
        })
        .filter_map(|s| s["with"]["key"].as_str())
        .collect();
    assert!(keys.iter().any(|k| k.contains("replay-cache")), "{keys:?}");
    for key in keys {
        assert!(!key.contains("run_id"), "{key}");
    }
}
