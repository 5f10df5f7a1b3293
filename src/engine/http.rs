//! Sending a suite's HTTP requests.

use serde_json::{Map, Value};

use base64::Engine as _;

use crate::spec::template::{RenderError, Vars};
use crate::suite::{AuthScheme, Body, HttpRequest, JsonTemplate};
use crate::support::redact::Redactor;

/// What an actor's requests carry: its key (or token), sent as its suite or
/// its `auth` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// `Authorization: Bearer <key>`.
    Bearer(String),
    /// `<name>: <value>` (the value is the prefix and the key).
    Header { name: String, value: String },
    /// `Cookie: <name>=<value>`.
    Cookie { name: String, value: String },
    /// `Authorization: Basic base64(<user>:<password>)`.
    Basic { user: String, password: String },
}

impl Credentials {
    /// `key` sent the way `scheme` says. Basic auth's templates are rendered
    /// with `vars`, in which `{{actor.*}}` is the actor who sends them; its
    /// password is `key` unless it has a template of its own (`own_password`:
    /// a followup sends its token as the password whatever the suite says).
    pub(crate) fn new(
        scheme: &AuthScheme,
        key: &str,
        vars: &Vars,
        own_password: bool,
    ) -> Result<Self, RenderError> {
        Ok(match scheme {
            AuthScheme::Bearer => Self::Bearer(key.to_string()),
            AuthScheme::Header { name, prefix } => Self::Header {
                name: name.clone(),
                value: format!("{prefix}{key}"),
            },
            AuthScheme::Cookie { name } => Self::Cookie {
                name: name.clone(),
                value: key.to_string(),
            },
            AuthScheme::Basic { user, password } => Self::Basic {
                user: user.render(vars)?,
                password: match password {
                    Some(template) if own_password => template.render(vars)?,
                    _ => key.to_string(),
                },
            },
        })
    }

    /// The secrets these credentials send besides the key itself, with the
    /// name each is redacted by (after `actors.NAME.`): basic auth's password
    /// when it is not the key, and the encoded `user:password` a server may
    /// echo or log.
    pub(crate) fn secrets(&self) -> Vec<(String, &'static str)> {
        match self {
            Self::Basic { user, password } => vec![
                (password.clone(), "password"),
                (basic_token(user, password), "basic"),
            ],
            _ => Vec::new(),
        }
    }
}

/// What basic auth sends after `Basic `.
fn basic_token(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

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
    #[error("the actor's key holds a character a header cannot carry")]
    Credentials,
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

/// The request as a `curl` command line: the server is `${REPLAY_URL}`, and
/// every secret or run-specific value the redactor knows (keys, tokens, the
/// prefix, captures) is an environment-variable reference, never literal.
pub(crate) fn curl(
    request: &Rendered,
    credentials: Option<&Credentials>,
    redactor: &Redactor,
) -> String {
    let mut url = request.path.clone();
    if !request.query.is_empty() {
        let query: Vec<String> = request
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        url = format!("{url}?{}", query.join("&"));
    }
    let mut words = vec![
        "curl".to_string(),
        "-sS".to_string(),
        "-X".to_string(),
        request.method.to_string(),
        format!("\"${{REPLAY_URL}}\"{}", redactor.shell_word(&url)),
    ];
    match credentials {
        None => {}
        Some(Credentials::Bearer(key)) => {
            words.push("-H".into());
            words.push(redactor.shell_word(&format!("Authorization: Bearer {key}")));
        }
        Some(Credentials::Header { name, value }) => {
            words.push("-H".into());
            words.push(redactor.shell_word(&format!("{name}: {value}")));
        }
        Some(Credentials::Cookie { name, value }) => {
            words.push("--cookie".into());
            words.push(redactor.shell_word(&format!("{name}={value}")));
        }
        Some(Credentials::Basic { user, password }) => {
            words.push("-u".into());
            words.push(redactor.shell_word(&format!("{user}:{password}")));
        }
    }
    match &request.body {
        RenderedBody::None => {}
        RenderedBody::Json(value) => {
            words.push("-H".into());
            words.push("\"Content-Type: application/json\"".into());
            words.push("--data".into());
            words.push(redactor.shell_word(&value.to_string()));
        }
        RenderedBody::Form(fields) => {
            for (k, v) in fields {
                words.push("--data-urlencode".into());
                words.push(redactor.shell_word(&format!("{k}={v}")));
            }
        }
    }
    words.join(" ")
}

/// Percent-encoding for a query part (unreserved characters stay).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub(crate) async fn send(
    client: &reqwest::Client,
    base_url: &str,
    request: &Rendered,
    credentials: Option<&Credentials>,
    extra_query: &[(String, String)],
) -> Result<Exchange, HttpError> {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).expect("methods are validated");
    let mut builder = client.request(method, format!("{base_url}{}", request.path));
    let query: Vec<&(String, String)> = request.query.iter().chain(extra_query).collect();
    if !query.is_empty() {
        builder = builder.query(&query);
    }
    let transport = |error: reqwest::Error| HttpError::Transport {
        method: request.method,
        path: request.path.clone(),
        // reqwest's message names the URL, which may hold a key in its query.
        message: describe(&error),
    };
    builder = match credentials {
        None => builder,
        Some(Credentials::Bearer(key)) => builder.bearer_auth(key),
        Some(Credentials::Basic { user, password }) => builder.basic_auth(user, Some(password)),
        Some(Credentials::Header { name, value }) => {
            builder.header(name.as_str(), sensitive(value)?)
        }
        Some(Credentials::Cookie { name, value }) => builder.header(
            reqwest::header::COOKIE,
            sensitive(&format!("{name}={value}"))?,
        ),
    };
    builder = match &request.body {
        RenderedBody::None => builder,
        RenderedBody::Json(value) => builder.json(value),
        RenderedBody::Form(fields) => builder.form(fields),
    };
    let response = builder.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(transport)?;
    let json = serde_json::from_str(&body).ok();
    Ok(Exchange { status, body, json })
}

/// A header value that holds a secret: never shown by reqwest's own
/// formatting. One that cannot be a header value (a key with a line break)
/// is an error that does not show it either.
fn sensitive(value: &str) -> Result<reqwest::header::HeaderValue, HttpError> {
    let mut value =
        reqwest::header::HeaderValue::from_str(value).map_err(|_| HttpError::Credentials)?;
    value.set_sensitive(true);
    Ok(value)
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
    fn a_curl_line_names_secrets_by_environment_variable_and_a_fix_record_keeps_it() {
        let mut redactor = Redactor::new(vec![regex::Regex::new("sk-gen-[a-z0-9]+").unwrap()]);
        redactor.know("sk-0123456789abcdef", "actors.owner.key");
        redactor.know("replay-abcd1234-", "prefix");
        let request = Rendered {
            method: "POST",
            path: "/key/update".into(),
            query: vec![("key".into(), "sk-gen-zz9".into())],
            body: RenderedBody::Json(serde_json::json!({
                "key_alias": "replay-abcd1234-x",
                "note": "it's \"$5\"",
            })),
        };
        let line = curl(
            &request,
            Some(&Credentials::Bearer("sk-0123456789abcdef".into())),
            &redactor,
        );
        assert_eq!(
            line,
            r#"curl -sS -X POST "${REPLAY_URL}""/key/update?key=${REPLAY_REDACTED}" -H "Authorization: Bearer ${REPLAY_ACTORS_OWNER_KEY}" -H "Content-Type: application/json" --data "{\"key_alias\":\"${REPLAY_PREFIX}x\",\"note\":\"it's \\\"\$5\\\"\"}""#
        );
        assert!(!line.contains("sk-0123") && !line.contains("abcd1234"));
        // A fix record keeps it for the side that is not GREEN (here the
        // parent's 200 where 403 is pinned), and it reads back unchanged.
        let cell = crate::suite::Cell {
            id: crate::suite::CellId::parse("key_update/self/owner").unwrap(),
            scenario: 0,
            pin: crate::suite::Pin {
                status: 403,
                unknown: false,
                responses: Default::default(),
            },
        };
        let side = |status| crate::results::outcome::CellOutcome {
            status: Some(status),
            curl: Some(line.clone()),
            ..Default::default()
        };
        let (records, _, _) = crate::results::record::classify(&[cell], &[side(200)], &[side(403)]);
        let record: crate::results::record::CellRecord =
            serde_json::from_str(&serde_json::to_string(&records[0]).unwrap()).unwrap();
        assert_eq!(record.fix.curl, None, "a GREEN side has no curl line");
        let line = record
            .parent
            .curl
            .expect("the RED side keeps its curl line");
        // The shell reads it back as the request it was.
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "REPLAY_URL=http://h REPLAY_ACTORS_OWNER_KEY=K REPLAY_PREFIX=p- REPLAY_REDACTED=R; printf '%s\\n' {}",
                line.trim_start_matches("curl ")
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "-sS\n-X\nPOST\nhttp://h/key/update?key=R\n-H\nAuthorization: Bearer K\n-H\nContent-Type: application/json\n--data\n{\"key_alias\":\"p-x\",\"note\":\"it's \\\"$5\\\"\"}\n"
        );
    }

    #[test]
    fn each_kind_of_credential_is_sent_and_shown_by_its_names() {
        let key = "sk-0123456789abcdef";
        let mut redactor = Redactor::new(Vec::new());
        redactor.know(key, "actors.bob.key");
        redactor.know("replay-abcd1234-", "prefix");
        let request = Rendered {
            method: "GET",
            path: "/key/info".into(),
            query: Vec::new(),
            body: RenderedBody::None,
        };
        let mut vars = Vars::default();
        vars.set("actor.id", "replay-abcd1234-bob");
        vars.set("world.pw", "basil-pw-3f9d2c7e1a");
        let sent = |scheme: &AuthScheme, own_password: bool| {
            Credentials::new(scheme, key, &vars, own_password).unwrap()
        };
        let words = |credentials: &Credentials, redactor: &Redactor| {
            let line = curl(&request, Some(credentials), redactor);
            line.strip_prefix(r#"curl -sS -X GET "${REPLAY_URL}""/key/info" "#)
                .unwrap_or(&line)
                .to_string()
        };

        let header = sent(
            &AuthScheme::Header {
                name: "x-api-key".into(),
                prefix: "Token ".into(),
            },
            true,
        );
        assert_eq!(
            words(&header, &redactor),
            r#"-H "x-api-key: Token ${REPLAY_ACTORS_BOB_KEY}""#
        );
        let cookie = sent(
            &AuthScheme::Cookie {
                name: "twin_key".into(),
            },
            true,
        );
        assert_eq!(
            words(&cookie, &redactor),
            r#"--cookie "twin_key=${REPLAY_ACTORS_BOB_KEY}""#
        );
        assert!(header.secrets().is_empty() && cookie.secrets().is_empty());

        // Basic auth: the key is the password, unless a template says otherwise.
        let basic = AuthScheme::Basic {
            user: Template::parse("{{actor.id}}").unwrap(),
            password: None,
        };
        let credentials = sent(&basic, true);
        assert_eq!(
            credentials,
            Credentials::Basic {
                user: "replay-abcd1234-bob".into(),
                password: key.into(),
            }
        );
        assert_eq!(
            words(&credentials, &redactor),
            r#"-u "${REPLAY_PREFIX}bob:${REPLAY_ACTORS_BOB_KEY}""#
        );
        let own = AuthScheme::Basic {
            user: Template::parse("basil").unwrap(),
            password: Some(Template::parse("{{world.pw}}").unwrap()),
        };
        let credentials = sent(&own, true);
        let secrets = credentials.secrets();
        assert_eq!(
            secrets,
            [
                ("basil-pw-3f9d2c7e1a".to_string(), "password"),
                ("YmFzaWw6YmFzaWwtcHctM2Y5ZDJjN2UxYQ==".to_string(), "basic"),
            ]
        );
        redactor.know(&secrets[0].0, "actors.basil.password");
        assert_eq!(
            words(&credentials, &redactor),
            r#"-u "basil:${REPLAY_ACTORS_BASIL_PASSWORD}""#
        );
        // A followup sends its token as the password, whatever the suite's is.
        assert_eq!(
            sent(&own, false),
            Credentials::Basic {
                user: "basil".into(),
                password: key.into(),
            }
        );
        // A name basic auth needs that has no value is an error, not an empty user.
        let missing = AuthScheme::Basic {
            user: Template::parse("{{actor.nope}}").unwrap(),
            password: None,
        };
        assert!(Credentials::new(&missing, key, &vars, true).is_err());
    }

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
