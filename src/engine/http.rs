//! Sending a suite's HTTP requests.

use serde_json::{Map, Value};

use crate::spec::template::{RenderError, Vars};
use crate::suite::{Body, HttpRequest, JsonTemplate};

/// What came back.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub status: u16,
    pub body: String,
    pub json: Option<Value>,
}

impl Exchange {
    pub(crate) fn allowed(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub(crate) fn pointer(&self, pointer: &str) -> Option<&Value> {
        self.json.as_ref()?.pointer(pointer)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{method} {path}: {message}")]
    Transport {
        method: &'static str,
        path: String,
        message: String,
    },
}

/// A request with its templates filled in.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub method: &'static str,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: RenderedBody,
}

#[derive(Debug, Clone)]
pub(crate) enum RenderedBody {
    None,
    Json(Value),
    Form(Vec<(String, String)>),
}

pub(crate) fn render(request: &HttpRequest, vars: &Vars) -> Result<Rendered, RenderError> {
    let query = request
        .query
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.render(vars)?)))
        .collect::<Result<_, RenderError>>()?;
    let body = match &request.body {
        Body::None => RenderedBody::None,
        Body::Json(json) => RenderedBody::Json(render_json(json, vars)?),
        Body::Form(fields) => RenderedBody::Form(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), v.render(vars)?)))
                .collect::<Result<_, RenderError>>()?,
        ),
    };
    Ok(Rendered {
        method: request.method.as_str(),
        path: request.path.render(vars)?,
        query,
        body,
    })
}

/// A JSON template as a value. An object field whose whole value is
/// `{{target.X?}}` is left out when the cell's target has no `X`.
pub(crate) fn render_json(json: &JsonTemplate, vars: &Vars) -> Result<Value, RenderError> {
    Ok(match json {
        JsonTemplate::Literal(value) => value.clone(),
        JsonTemplate::String(template) => template.render_value(vars)?,
        JsonTemplate::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render_json(i, vars))
                .collect::<Result<_, _>>()?,
        ),
        JsonTemplate::Object(fields) => {
            let mut out = Map::new();
            for (key, value) in fields {
                if let JsonTemplate::String(template) = value
                    && let Some(var) = template.optional_var()
                    && !vars.contains(var)
                {
                    continue;
                }
                out.insert(key.clone(), render_json(value, vars)?);
            }
            Value::Object(out)
        }
    })
}

pub(crate) async fn send(
    client: &reqwest::Client,
    base_url: &str,
    request: &Rendered,
    bearer: Option<&str>,
    extra_query: &[(String, String)],
) -> Result<Exchange, HttpError> {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).expect("methods are validated");
    let mut builder = client.request(method, format!("{base_url}{}", request.path));
    let query: Vec<&(String, String)> = request.query.iter().chain(extra_query).collect();
    if !query.is_empty() {
        builder = builder.query(&query);
    }
    if let Some(bearer) = bearer {
        builder = builder.bearer_auth(bearer);
    }
    builder = match &request.body {
        RenderedBody::None => builder,
        RenderedBody::Json(value) => builder.json(value),
        RenderedBody::Form(fields) => builder.form(fields),
    };
    let transport = |error: reqwest::Error| HttpError::Transport {
        method: request.method,
        path: request.path.clone(),
        // reqwest's message names the URL, which may hold a key in its query.
        message: describe(&error),
    };
    let response = builder.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(transport)?;
    let json = serde_json::from_str(&body).ok();
    Ok(Exchange { status, body, json })
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection refused or reset".into()
    } else if error.is_body() || error.is_decode() {
        "the response body could not be read".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::template::Template;

    #[test]
    fn target_fields_a_target_lacks_are_left_out() {
        let json = JsonTemplate::Object(vec![
            (
                "key_alias".into(),
                JsonTemplate::String(Template::parse("{{scratch}}").unwrap()),
            ),
            (
                "team_id".into(),
                JsonTemplate::String(Template::parse("{{target.team_id?}}").unwrap()),
            ),
            (
                "models".into(),
                JsonTemplate::Array(vec![JsonTemplate::Literal(Value::from("m"))]),
            ),
        ]);
        let mut vars = Vars::default();
        vars.set("scratch", "s-1");
        assert_eq!(
            render_json(&json, &vars).unwrap(),
            serde_json::json!({"key_alias": "s-1", "models": ["m"]})
        );
        vars.set("target.team_id", "t-1");
        assert_eq!(
            render_json(&json, &vars).unwrap(),
            serde_json::json!({"key_alias": "s-1", "team_id": "t-1", "models": ["m"]})
        );
    }
}
