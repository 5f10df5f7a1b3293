//! Running cells against a booted server: setup, the request under test,
//! checks, followups and response values, many cells at once.

use std::time::Instant;

use futures::StreamExt;
use serde_json::Value;
use sqlx::{Column, PgPool, Row, TypeInfo};
use tokio_util::sync::CancellationToken;

use super::http::{self, Exchange};
use crate::engine::world::{WorldState, database_message};
use crate::results::outcome::{CellOutcome, Expectation, SentRequest, Verdict, same, verdict};
use crate::spec::template::{Template, Vars, to_text};
use crate::suite::{
    Cell, Check, CheckKind, Expected, JsonTemplate, Mapping, ResponseSpec, Sender, SetupStep,
    Suite, as_set,
};
use crate::support::redact::{Redactor, excerpt};

/// How much of a response body is kept.
const BODY_EXCERPT: usize = 300;
/// A server that keeps answering "more pages" is cut off here.
const MAX_PAGES: u64 = 1000;

/// A booted server, its database and its world: where cells run.
pub(crate) struct Matrix<'a> {
    pub suite: &'a Suite,
    pub world: &'a WorldState,
    pub client: &'a reqwest::Client,
    pub base_url: &'a str,
    pub pool: &'a PgPool,
}

/// Run `cells`, at most `jobs` at a time. Stops starting cells on cancellation;
/// the cells that did not finish are `None`. `on_cell` is called after each cell.
pub(crate) async fn run(
    matrix: &Matrix<'_>,
    cells: &[Cell],
    jobs: usize,
    cancel: &CancellationToken,
    on_cell: &(dyn Fn() + Sync),
) -> Vec<Option<CellOutcome>> {
    run_until(matrix, cells, jobs, cancel, on_cell, None).await
}

/// Decides, after each finished cell (its index and outcome), whether to stop
/// starting cells.
pub(crate) type Stop<'a> = &'a (dyn Fn(usize, &CellOutcome) -> bool + Sync);

/// [`run`], also stopping (cells in flight are dropped, `None`) once `stop`
/// says so: a mutant is decided by its first cell that differs.
pub(crate) async fn run_until(
    matrix: &Matrix<'_>,
    cells: &[Cell],
    jobs: usize,
    cancel: &CancellationToken,
    on_cell: &(dyn Fn() + Sync),
    stop: Option<Stop<'_>>,
) -> Vec<Option<CellOutcome>> {
    let mut results: Vec<Option<CellOutcome>> = vec![None; cells.len()];
    let stopped = cancel.child_token();
    let mut stream = std::pin::pin!(
        futures::stream::iter(cells.iter().enumerate())
            .map(|(index, cell)| async move {
                let outcome = run_cell(matrix, cell, index).await;
                on_cell();
                (index, outcome)
            })
            .buffer_unordered(jobs.max(1))
            .take_until(stopped.cancelled())
    );
    while let Some((index, outcome)) = stream.next().await {
        if stop.is_some_and(|stop| stop(index, &outcome)) {
            stopped.cancel();
        }
        results[index] = Some(outcome);
    }
    results
}

async fn run_cell(matrix: &Matrix<'_>, cell: &Cell, index: usize) -> CellOutcome {
    let started = Instant::now();
    let mut redactor = matrix.world.redactor.clone();
    let mut outcome = CellOutcome::default();
    let mut curl = None;
    if let Err(message) =
        cell_steps(matrix, cell, index, &mut outcome, &mut redactor, &mut curl).await
    {
        outcome.error = Some(redactor.apply(&message));
    }
    // Records and reports keep the curl line of the cells that are not GREEN
    // against their pin only (`CellOutcome::kept_for`; the cell cache is
    // keyed by the suite, pins included): it is written for those only.
    if let Some(parts) = curl
        && verdict(&cell.pin, &outcome) != Verdict::Green
    {
        outcome.curl = Some(http::curl(
            &parts.rendered,
            parts.credentials.as_ref(),
            &parts.redactor,
        ));
    }
    outcome.duration = started.elapsed();
    outcome
}

/// The request under test, its credentials and the redactor as they were
/// when it was sent: what its curl line is written from, once the cell's
/// verdict says it is wanted.
struct CurlParts {
    rendered: http::Rendered,
    credentials: Option<http::Credentials>,
    redactor: Redactor,
}

async fn cell_steps(
    matrix: &Matrix<'_>,
    cell: &Cell,
    index: usize,
    outcome: &mut CellOutcome,
    redactor: &mut Redactor,
    curl: &mut Option<CurlParts>,
) -> Result<(), String> {
    let scenario = matrix.suite.scenario(cell);
    let actor = &cell.id.actor;
    let prefix = matrix
        .world
        .vars
        .get("prefix")
        .map(to_text)
        .unwrap_or_default();
    let scratch = format!("{prefix}scratch-{index}");
    // A scratch actor is made fresh for this cell, in its own namespace: the
    // cell runs in a world of its own, which knows the fresh actor's secrets.
    let made;
    let world = if matrix.suite.world.scratch.contains_key(actor) {
        made = matrix
            .world
            .made_for_cell(
                matrix.suite,
                actor,
                &scratch,
                matrix.client,
                matrix.base_url,
                matrix.pool,
            )
            .await
            .map_err(|e| format!("making scratch actor `{actor}`: {e}"))?;
        *redactor = made.redactor.clone();
        &made
    } else {
        matrix.world
    };
    let mut vars = world.vars.clone();
    redactor.know(&scratch, "scratch");
    vars.set("scratch", scratch);
    for field in ["name", "id", "key", "key_sha256"] {
        if let Some(value) = vars.get(&format!("actors.{actor}.{field}")).cloned() {
            vars.set(format!("actor.{field}"), value);
        }
    }
    // Target fields are filled in as soon as the names they use exist: some
    // use captures of setup steps (the loader checks the order).
    let no_fields = indexmap::IndexMap::new();
    let fields = scenario.targets.get(&cell.id.target).unwrap_or(&no_fields);
    let mut pending: Vec<(&String, &Template)> = fields.iter().collect();
    let fill_targets = |vars: &mut Vars, pending: &mut Vec<(&String, &Template)>, all: bool| {
        let mut result = Ok(());
        pending.retain(|(field, template)| {
            if !all && !template.vars().all(|v| vars.contains(v)) {
                return true;
            }
            match template.render_value(vars) {
                Ok(value) => vars.set(format!("target.{field}"), value),
                Err(e) => result = Err(format!("target {}: {e}", cell.id.target)),
            }
            false
        });
        result
    };
    fill_targets(&mut vars, &mut pending, false)?;

    for (number, step) in scenario.setup.iter().enumerate() {
        fill_targets(&mut vars, &mut pending, false)?;
        let step = match step {
            SetupStep::Http(step) => step,
            SetupStep::Sql { sql, captures, .. } => {
                let what = format!("setup step {} (SQL)", number + 1);
                let row = query_row(matrix.pool, sql, &vars)
                    .await
                    .map_err(|e| format!("{what}: {e}"))?;
                for (name, pointer) in captures {
                    let value = row
                        .as_ref()
                        .and_then(|row| row.pointer(pointer))
                        .cloned()
                        .ok_or_else(|| {
                            format!("{what} returned no {pointer} to capture as `{name}`")
                        })?;
                    redactor.know_value(&value, name);
                    vars.set(name.clone(), value);
                }
                continue;
            }
        };
        let rendered = http::render(&step.request, &vars).map_err(|e| e.to_string())?;
        let credentials = match world.credentials(matrix.suite, &step.actor) {
            Some(credentials) => Some(credentials.map_err(|e| {
                format!(
                    "setup step {}: the credentials of `{}`: {e}",
                    number + 1,
                    step.actor
                )
            })?),
            None if matrix.suite.is_anonymous(&step.actor) => None,
            None => {
                return Err(format!(
                    "setup step {}: actor `{}` has no credentials in this cell (a scratch actor exists only in its own cells)",
                    number + 1,
                    step.actor
                ));
            }
        };
        let what = format!(
            "setup step {} ({} {} as {})",
            number + 1,
            rendered.method,
            rendered.path,
            step.actor
        );
        let exchange = http::send(
            matrix.client,
            matrix.base_url,
            &rendered,
            credentials.as_ref(),
            &[],
        )
        .await
        .map_err(|e| format!("{what}: {e}"))?;
        if let Some(expect) = step.expect
            && exchange.status != expect
        {
            return Err(format!(
                "{what} returned {} instead of {expect}: {}",
                exchange.status,
                excerpt(&exchange.body, 200)
            ));
        }
        capture(&step.captures, &exchange, &mut vars, redactor)
            .map_err(|e| format!("{what}: {e}"))?;
    }
    fill_targets(&mut vars, &mut pending, true)?;

    let credentials = match world.credentials(matrix.suite, actor) {
        Some(credentials) => {
            Some(credentials.map_err(|e| format!("the credentials of `{actor}`: {e}"))?)
        }
        None if matrix.suite.is_anonymous(actor) => None,
        None => return Err(format!("actor `{actor}` has no key")),
    };
    let credentials = credentials.as_ref();
    let rendered = http::render(&scenario.request, &vars).map_err(|e| e.to_string())?;
    outcome.request = Some(sent(&rendered, redactor));
    *curl = Some(CurlParts {
        rendered: rendered.clone(),
        credentials: credentials.cloned(),
        redactor: redactor.clone(),
    });
    let first = http::send(matrix.client, matrix.base_url, &rendered, credentials, &[])
        .await
        .map_err(|e| e.to_string())?;
    outcome.status = Some(first.status);
    // A scenario that pins response values (a listing) keeps those instead of
    // the body: what a listing shows besides them depends on what other cells
    // wrote meanwhile.
    if scenario.responses.is_empty() {
        outcome.body = redactor.body(&excerpt(&first.body, BODY_EXCERPT));
    }
    let allowed = first.allowed();
    if !allowed {
        outcome.reason = matrix
            .suite
            .reason
            .iter()
            .find_map(|p| first.pointer(p)?.as_str().map(|r| redactor.apply(r)));
    }
    let mut pages = vec![first];
    if let Some(paging) = &scenario.pages
        && allowed
    {
        // A `total` the response lacks would read page 1 alone, and a set
        // pinned from the later pages would look changed (or a pin of fewer
        // values look met): the cell cannot be measured.
        let total = match pages[0].pointer(&paging.total) {
            Some(total) => total.as_u64().ok_or_else(|| {
                format!(
                    "pages.total `{}` of the response is {}, not a number of pages",
                    paging.total,
                    excerpt(&total.to_string(), 60)
                )
            })?,
            None => {
                return Err(format!(
                    "the response has no `{}` (pages.total): {}",
                    paging.total,
                    excerpt(&pages[0].body, 200)
                ));
            }
        }
        .min(MAX_PAGES);
        for page in 2..=total {
            let extra = [(paging.param.clone(), page.to_string())];
            let exchange = http::send(
                matrix.client,
                matrix.base_url,
                &rendered,
                credentials,
                &extra,
            )
            .await
            .map_err(|e| format!("page {page}: {e}"))?;
            if !exchange.allowed() {
                return Err(format!("page {page} returned {}", exchange.status));
            }
            pages.push(exchange);
        }
    }
    if allowed {
        capture(&scenario.captures, &pages[0], &mut vars, redactor)
            .map_err(|e| format!("allowed, but {e}"))?;
    }

    for (name, spec) in &scenario.responses {
        let values = collect(spec, &pages, allowed, matrix.suite, world, redactor)
            .map_err(|e| format!("[response.{name}]: {e}"))?;
        outcome.responses.insert(name.clone(), values);
    }

    // Checks are read right after the request, except those that use a
    // followup's capture: they are read after the followups.
    let mut checks: Vec<(usize, Expectation)> = Vec::new();
    for (index, check) in scenario.checks.iter().enumerate() {
        if check.after_followups {
            continue;
        }
        if let Some(e) =
            run_check(matrix, check, allowed, &vars, &pages[0], outcome, redactor).await?
        {
            checks.push((index, e));
        }
    }

    // The followups, in order. One that does not get its expected status
    // takes no captures, and a later step (or check) that needs them is not
    // sent: its point was the state that step should have made.
    let mut not_taken: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for followup in &scenario.followups {
        let Some(expected) = (if allowed {
            followup.allowed
        } else {
            followup.denied
        }) else {
            continue;
        };
        let as_ = match &followup.sender {
            Sender::Actor(name) => Some(name.clone()),
            _ => None,
        };
        if followup.vars().iter().any(|v| not_taken.contains(v)) {
            not_taken.extend(followup.captures.iter().map(|(name, _)| name.as_str()));
            outcome.followups.push(Expectation {
                step: Some(followup.number),
                as_,
                request: Some(SentRequest {
                    method: followup.request.method.as_str().to_string(),
                    path: followup.request.path.source().to_string(),
                    query: Default::default(),
                    json: None,
                    form: Default::default(),
                }),
                ..Expectation::new(
                    followup.name.clone(),
                    Value::from(expected),
                    Value::Null,
                    false,
                )
            });
            continue;
        }
        let step = format!("followup {}", followup.number);
        // The cell's actor and a named one send as their `auth` says; a
        // written-out token goes the suite's way (with basic auth, as the
        // password).
        let sender: Option<http::Credentials> = match &followup.sender {
            Sender::CellActor => credentials.cloned(),
            Sender::Actor(name) => match world.credentials(matrix.suite, name) {
                Some(credentials) => Some(
                    credentials.map_err(|e| format!("{step}: the credentials of `{name}`: {e}"))?,
                ),
                None if matrix.suite.is_anonymous(name) => None,
                None => {
                    return Err(format!(
                        "{step}: actor `{name}` has no credentials in this cell (a scratch actor exists only in its own cells)"
                    ));
                }
            },
            Sender::Bearer(template) => {
                let token = template.render(&vars).map_err(|e| format!("{step}: {e}"))?;
                Some(
                    http::Credentials::new(&matrix.suite.auth, &token, &vars, false)
                        .map_err(|e| format!("{step}: {e}"))?,
                )
            }
        };
        let rendered =
            http::render(&followup.request, &vars).map_err(|e| format!("{step}: {e}"))?;
        let request = sent(&rendered, redactor);
        let what = format!("{step} ({} {})", request.method, request.path);
        let exchange = http::send(
            matrix.client,
            matrix.base_url,
            &rendered,
            sender.as_ref(),
            &[],
        )
        .await
        .map_err(|e| format!("{what}: {e}"))?;
        let passed = exchange.status == expected;
        if passed {
            capture(&followup.captures, &exchange, &mut vars, redactor)
                .map_err(|e| format!("{what}: {e}"))?;
        } else {
            not_taken.extend(followup.captures.iter().map(|(name, _)| name.as_str()));
        }
        outcome.followups.push(Expectation {
            step: Some(followup.number),
            as_,
            request: Some(request),
            ..Expectation::new(
                followup.name.clone(),
                Value::from(expected),
                Value::from(exchange.status),
                passed,
            )
        });
    }

    for (index, check) in scenario.checks.iter().enumerate() {
        if !check.after_followups || check.vars().iter().any(|v| not_taken.contains(v)) {
            continue;
        }
        if let Some(e) =
            run_check(matrix, check, allowed, &vars, &pages[0], outcome, redactor).await?
        {
            checks.push((index, e));
        }
    }
    checks.sort_by_key(|(index, _)| *index);
    outcome.checks = checks.into_iter().map(|(_, e)| e).collect();
    Ok(())
}

/// Read one check on the side the request got (`None` when it expects
/// nothing there).
async fn run_check(
    matrix: &Matrix<'_>,
    check: &Check,
    allowed: bool,
    vars: &Vars,
    response: &Exchange,
    outcome: &CellOutcome,
    redactor: &Redactor,
) -> Result<Option<Expectation>, String> {
    let Some(expected) = (if allowed {
        &check.allowed
    } else {
        &check.denied
    }) else {
        return Ok(None);
    };
    let observed = match &check.kind {
        CheckKind::Sql(template) => Some(
            query_value(matrix.pool, template, vars)
                .await
                .map_err(|e| format!("check {}: {e}", check.name))?,
        ),
        CheckKind::Response(pointer) => response.pointer(pointer).cloned(),
        CheckKind::Reason => outcome.reason.clone().map(Value::from),
    };
    // Every comparison reads the values as the server sent them and as the
    // templates rendered them; only what the record keeps is redacted. (Two
    // values a suite's `redact` pattern maps to the same `<redacted>` are
    // not equal: comparing redacted forms would pass any token hash.)
    let raw = observed.filter(|v| !v.is_null());
    // A value compared with a named one (`allowed = "{{actor.id}}"`) is
    // shown by its name, an integer id too; against a literal (a count),
    // numbers stay numbers.
    let named = matches!(expected, Expected::Equals(JsonTemplate::String(_)));
    let shown = |v: Value| {
        if named {
            redactor.value(v)
        } else {
            redactor.strings(v)
        }
    };
    let observed = raw.clone().map(shown);
    let (expected, passed) = match expected {
        Expected::Equals(json) => {
            let rendered =
                http::render_json(json, vars).map_err(|e| format!("check {}: {e}", check.name))?;
            let passed = same(&rendered, raw.as_ref().unwrap_or(&Value::Null));
            (shown(rendered), passed)
        }
        Expected::Contains(template) => {
            let text = template
                .render(vars)
                .map_err(|e| format!("check {}: {e}", check.name))?;
            let passed = raw.as_ref().is_some_and(|v| to_text(v).contains(&text));
            (
                serde_json::json!({ "contains": redactor.apply(&text) }),
                passed,
            )
        }
        Expected::Matches(regex) => (
            serde_json::json!({ "matches": regex.as_str() }),
            raw.as_ref().is_some_and(|v| regex.is_match(&to_text(v))),
        ),
        Expected::Absent => (serde_json::json!({ "absent": true }), observed.is_none()),
    };
    Ok(Some(Expectation::new(
        check.name.clone(),
        expected,
        observed.unwrap_or(Value::Null),
        passed,
    )))
}

fn capture(
    captures: &[(String, String)],
    exchange: &Exchange,
    vars: &mut Vars,
    redactor: &mut Redactor,
) -> Result<(), String> {
    for (name, pointer) in captures {
        let value = exchange
            .pointer(pointer)
            .cloned()
            .ok_or_else(|| format!("the response has no {pointer} to capture as `{name}`"))?;
        redactor.know_value(&value, name);
        vars.set(name.clone(), value);
    }
    Ok(())
}

/// The values a response shows across all its pages, as a set. A denied
/// response (an error body) shows none; an allowed one must hold the list
/// `items` names on every page: one that lacks it is not an empty set (a
/// typo in the pointer would make every pin of `[]` pass).
fn collect(
    spec: &ResponseSpec,
    pages: &[Exchange],
    allowed: bool,
    suite: &Suite,
    world: &WorldState,
    redactor: &Redactor,
) -> Result<Value, String> {
    let mut values = Vec::new();
    for (number, page) in pages.iter().enumerate() {
        let items = match page.pointer(&spec.items) {
            Some(Value::Array(items)) => items,
            _ if !allowed => continue,
            Some(other) => {
                return Err(format!(
                    "items `{}` of the response (page {}) is {}, not a list",
                    spec.items,
                    number + 1,
                    excerpt(&other.to_string(), 60)
                ));
            }
            None => {
                return Err(format!(
                    "the response (page {}) has no `{}` (items): {}",
                    number + 1,
                    spec.items,
                    excerpt(&page.body, 200)
                ));
            }
        };
        for item in items {
            let value = match (&spec.field, item) {
                (Some(field), Value::Object(object)) => object.get(field).cloned(),
                (_, other) => Some(other.clone()),
            };
            values.extend(value);
        }
    }
    let values = match spec.map {
        None => values.into_iter().map(|v| redactor.value(v)).collect(),
        Some(Mapping::ActorByKeySha256) => {
            let by_hash: std::collections::HashMap<String, &str> = world
                .bearers
                .keys()
                .filter_map(|actor| {
                    Some((
                        to_text(world.vars.get(&format!("actors.{actor}.key_sha256"))?),
                        actor.as_str(),
                    ))
                })
                .collect();
            values
                .iter()
                .filter_map(|v| by_hash.get(v.as_str()?).map(|actor| Value::from(*actor)))
                .collect()
        }
        Some(Mapping::World) => {
            let names = world_names(suite, world);
            values
                .iter()
                .filter_map(|v| names.get(&to_text(v)).map(|name| Value::from(name.clone())))
                .collect()
        }
    };
    Ok(as_set(Value::Array(values)))
}

/// Each world value by its text, with its name: actors first (their id, key
/// and key hash, in the world's order), then `world.NAME` by name.
fn world_names(suite: &Suite, world: &WorldState) -> std::collections::HashMap<String, String> {
    let mut names = std::collections::HashMap::new();
    for name in suite.world.actors.keys() {
        for field in ["id", "key", "key_sha256"] {
            if let Some(value) = world.vars.get(&format!("actors.{name}.{field}")) {
                names
                    .entry(to_text(value))
                    .or_insert_with(|| name.to_string());
            }
        }
    }
    for (var, value) in world.vars.sorted() {
        if var.starts_with("world.") {
            names
                .entry(to_text(value))
                .or_insert_with(|| var.to_string());
        }
    }
    names
}

/// The request under test as the record keeps it.
fn sent(rendered: &http::Rendered, redactor: &Redactor) -> SentRequest {
    let pairs = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), redactor.text(v)))
            .collect()
    };
    let (json, form) = match &rendered.body {
        http::RenderedBody::None => (None, Default::default()),
        http::RenderedBody::Json(value) => {
            (Some(redactor.value(value.clone())), Default::default())
        }
        http::RenderedBody::Form(fields) => (None, pairs(fields)),
    };
    SentRequest {
        method: rendered.method.to_string(),
        path: redactor.text(&rendered.path),
        query: pairs(&rendered.query),
        json,
        form,
    }
}

/// The first row of a query, if any.
async fn first_row(
    pool: &PgPool,
    template: &Template,
    vars: &Vars,
) -> Result<Option<sqlx::postgres::PgRow>, String> {
    let (sql, params) = template.render_sql(vars).map_err(|e| e.to_string())?;
    // The SQL is the suite author's; every value in it is a bound parameter.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for param in params {
        query = query.bind(param);
    }
    query
        .fetch_optional(pool)
        .await
        .map_err(|e| database_message(&e))
}

/// The first row as a JSON object by column name (`None` when there is no row).
async fn query_row(
    pool: &PgPool,
    template: &Template,
    vars: &Vars,
) -> Result<Option<Value>, String> {
    let Some(row) = first_row(pool, template, vars).await? else {
        return Ok(None);
    };
    let mut object = serde_json::Map::new();
    for (index, column) in row.columns().iter().enumerate() {
        object.insert(column.name().to_string(), column_value(&row, index)?);
    }
    Ok(Some(Value::Object(object)))
}

/// The first column of the first row, as JSON (`null` when there is no row).
async fn query_value(pool: &PgPool, template: &Template, vars: &Vars) -> Result<Value, String> {
    let Some(row) = first_row(pool, template, vars).await? else {
        return Ok(Value::Null);
    };
    if row.columns().is_empty() {
        return Ok(Value::Null);
    }
    column_value(&row, 0)
}

/// One column of a row as JSON.
fn column_value(row: &sqlx::postgres::PgRow, index: usize) -> Result<Value, String> {
    let type_name = row.column(index).type_info().name().to_string();
    let get = |e: sqlx::Error| database_message(&e);
    Ok(match type_name.as_str() {
        "BOOL" => row
            .try_get::<Option<bool>, _>(index)
            .map_err(get)?
            .map_or(Value::Null, Value::from),
        "INT2" => row
            .try_get::<Option<i16>, _>(index)
            .map_err(get)?
            .map_or(Value::Null, Value::from),
        "INT4" => row
            .try_get::<Option<i32>, _>(index)
            .map_err(get)?
            .map_or(Value::Null, Value::from),
        "INT8" => row
            .try_get::<Option<i64>, _>(index)
            .map_err(get)?
            .map_or(Value::Null, Value::from),
        "FLOAT4" => row
            .try_get::<Option<f32>, _>(index)
            .map_err(get)?
            .map_or(Value::Null, Value::from),
        "FLOAT8" => row
            .try_get::<Option<f64>, _>(index)
            .map_err(get)?
            .map_or(Value::Null, Value::from),
        "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => row
            .try_get::<Option<String>, _>(index)
            .map_err(get)?
            .map_or(Value::Null, Value::from),
        "TEXT[]" | "VARCHAR[]" => row
            .try_get::<Option<Vec<String>>, _>(index)
            .map_err(get)?
            .map_or(Value::Null, Value::from),
        "JSON" | "JSONB" => row
            .try_get::<Option<Value>, _>(index)
            .map_err(get)?
            .unwrap_or(Value::Null),
        other => {
            return Err(format!(
                "cannot read a {other} value; cast it in the SQL (e.g. ::text or ::float8)"
            ));
        }
    })
}
