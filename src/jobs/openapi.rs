//! `--openapi FILE|URL` of `replay init` and `replay coverage`: read the
//! server's OpenAPI (or Swagger) document, JSON or YAML, from a file or over
//! HTTP, and list its operations.

use std::path::Path;
use std::time::Duration;

use crate::jobs::error::Error;
use crate::suite::scaffold::{self, Operation, ScaffoldError, Syntax};

/// How long fetching a document may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A document's operations, and how output names it (the path as given, or
/// the URL without a user or password).
pub(crate) struct Document {
    pub name: String,
    pub operations: Vec<Operation>,
}

/// Is `source` a URL rather than a file?
fn is_url(source: &str) -> bool {
    let lower = source.get(..8).unwrap_or(source).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The URL as output may show it: without the user and password.
fn shown(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// The hint under a document that cannot be read or parsed.
const HINT: &str = "pass the server's OpenAPI (or Swagger) document, in JSON or YAML, with a `paths` object: a file, or an http:// URL";

pub(crate) async fn read(source: &str) -> Result<Document, Error> {
    let (name, content_type, text) = if is_url(source) {
        fetch(source).await?
    } else {
        let path = Path::new(source);
        let text = crate::support::files::read_text(path).map_err(|e| {
            Error::usage(
                format!("cannot read {}: {e}", path.display()),
                Some(HINT.to_string()),
            )
        })?;
        (path.display().to_string(), None, text)
    };
    let (syntax, basis) = Syntax::of(&name, content_type.as_deref(), &text);
    let operations = scaffold::operations(&text, syntax).map_err(|e| {
        let at = match e.line() {
            Some(line) => format!("{name}:{line}"),
            None => name.clone(),
        };
        let hint = match e {
            ScaffoldError::Syntax { .. } => {
                format!("it was read as {} ({basis}); {HINT}", syntax.as_str())
            }
            ScaffoldError::NoPaths => HINT.to_string(),
        };
        Error::usage(format!("{at}: {e}"), Some(hint))
    })?;
    Ok(Document { name, operations })
}

/// GET the document: its name, `Content-Type` and text. A server that does
/// not answer is this machine's environment (exit 3); an answer that is not
/// 2xx, not text, or too large is bad input (exit 2).
async fn fetch(source: &str) -> Result<(String, Option<String>, String), Error> {
    let url = reqwest::Url::parse(source).map_err(|e| {
        Error::usage(
            format!("--openapi {source:?} is not a URL: {e}"),
            Some(HINT.to_string()),
        )
    })?;
    let name = shown(&url);
    if url.scheme() != "http" {
        return Err(Error::usage(
            format!("cannot fetch {name}: replay fetches documents over http:// only"),
            Some(format!(
                "download it first (curl -fsSL -o openapi.yaml '{name}') and pass the file"
            )),
        ));
    }
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| Error::Setup {
            context: format!("http client: {e}"),
            source: std::io::Error::other("reqwest"),
        })?;
    let unreachable = |error: reqwest::Error| {
        let error = error.without_url();
        let mut reason = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(c) = cause {
            reason = format!("{reason}: {c}");
            cause = c.source();
        }
        Error::Unreachable {
            what: "OpenAPI document",
            address: name.clone(),
            reason,
            hint: "start the server first, or check the URL: scheme, host, port and path".into(),
        }
    };
    let mut response = client
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/json, application/yaml;q=0.9, */*;q=0.5",
        )
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(Error::usage(
            format!("{name} answered {}", response.status()),
            Some(HINT.to_string()),
        ));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let limit = crate::support::files::MAX_TEXT_BYTES as usize;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > limit {
            return Err(Error::usage(
                format!("{name} is larger than {} MiB", limit >> 20),
                Some(HINT.to_string()),
            ));
        }
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::usage(format!("{name} is not UTF-8 text"), Some(HINT.to_string())))?;
    Ok((name, content_type, text))
}
