//! HTTP requests as the suite writes them: a method, a path, a query, a JSON or
//! form body, captures; shared by logins, world API steps and scenarios.

use std::ops::Range;

use indexmap::IndexMap;
use serde_json::Value;
use toml::Spanned;

use super::{Loader, Name, Names, OnStepTemplate, OnTemplate, Phase, RESERVED};
use crate::spec::source::SourceFile;
use crate::spec::template::Template;
use crate::suite::model::*;
use crate::suite::raw;

impl Loader {
    /// Parse a request; `check` sees every template with its span and whether it
    /// is a whole JSON field value (which may be left out).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn http_request_checked(
        &mut self,
        file: &SourceFile,
        method: &Spanned<String>,
        path: &Spanned<String>,
        query: Option<&Spanned<toml::Table>>,
        json: Option<&Spanned<toml::Value>>,
        form: Option<&Spanned<toml::Table>>,
        check: &mut OnTemplate<'_>,
    ) -> Option<HttpRequest> {
        let parsed_method = Method::parse(method.get_ref());
        if parsed_method.is_none() {
            self.problem(
                file.at(method.span()),
                format!("unknown HTTP method `{}`", method.get_ref()),
                Some("use GET, POST, PUT, PATCH or DELETE".into()),
            );
        }
        let path_template = self.template(file, path.get_ref(), path.span());
        if let Some(t) = &path_template {
            if !path.get_ref().starts_with('/') {
                self.problem(
                    file.at(path.span()),
                    format!("path {:?} does not start with `/`", path.get_ref()),
                    None,
                );
            }
            check(self, path.span(), t, None);
        }
        let query = query
            .map(|q| self.string_table(file, q, check))
            .unwrap_or_default();
        let body = match (json, form) {
            (Some(_), Some(form)) => {
                self.problem(
                    file.at(form.span()),
                    "a request has either `json` or `form`, not both",
                    None,
                );
                Body::None
            }
            (Some(json), None) => {
                Body::Json(self.json_template(file, json.get_ref(), json.span(), None, check)?)
            }
            (None, Some(form)) => Body::Form(self.string_table(file, form, check)),
            (None, None) => Body::None,
        };
        Some(HttpRequest {
            method: parsed_method?,
            path: path_template?,
            query,
            body,
        })
    }

    pub(super) fn string_table(
        &mut self,
        file: &SourceFile,
        table: &Spanned<toml::Table>,
        check: &mut OnTemplate<'_>,
    ) -> Vec<(String, Template)> {
        let mut out = Vec::new();
        for (key, value) in table.get_ref() {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    self.problem(
                        file.at(table.span()),
                        format!("`{key}` must be a string or a number"),
                        None,
                    );
                    continue;
                }
            };
            if let Some(template) = self.template(file, &text, table.span()) {
                check(self, table.span(), &template, None);
                out.push((key.clone(), template));
            }
        }
        out
    }

    pub(super) fn json_template(
        &mut self,
        file: &SourceFile,
        value: &toml::Value,
        span: Range<usize>,
        field: Option<&str>,
        check: &mut OnTemplate<'_>,
    ) -> Option<JsonTemplate> {
        Some(match value {
            toml::Value::String(text) => {
                let template = match field {
                    Some(_) => self.template_or_optional(file, text, span.clone())?,
                    None => self.template(file, text, span.clone())?,
                };
                if let Some(var) = template.optional_var()
                    && !var.starts_with("target.")
                {
                    self.problem(
                        file.at(span),
                        format!("`{{{{{var}?}}}}`: only a target field may be missing"),
                        Some(format!("write \"{{{{{var}}}}}\"; `?` marks a field some targets do not define, e.g. \"{{{{target.team_id?}}}}\"")),
                    );
                    return None;
                }
                check(self, span, &template, field);
                JsonTemplate::String(template)
            }
            toml::Value::Integer(i) => JsonTemplate::Literal(Value::from(*i)),
            toml::Value::Float(f) => JsonTemplate::Literal(Value::from(*f)),
            toml::Value::Boolean(b) => JsonTemplate::Literal(Value::from(*b)),
            toml::Value::Datetime(d) => JsonTemplate::Literal(Value::from(d.to_string())),
            toml::Value::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .map(|item| self.json_template(file, item, span.clone(), None, check))
                    .collect::<Option<_>>()?,
            ),
            toml::Value::Table(table) => JsonTemplate::Object(
                table
                    .iter()
                    .map(|(k, v)| {
                        Some((
                            k.clone(),
                            self.json_template(file, v, span.clone(), Some(k), check)?,
                        ))
                    })
                    .collect::<Option<_>>()?,
            ),
        })
    }

    pub(super) fn captures(
        &mut self,
        file: &SourceFile,
        captures: raw::Captures,
        names: &mut Names,
        phase: Phase,
        allowed_only: bool,
        scope: &str,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (capture, pointer) in captures {
            if !self.pointer(file, &pointer) {
                continue;
            }
            let key = format!("{scope}{}", capture.get_ref());
            if RESERVED.contains(&capture.get_ref().as_str()) || names.contains_key(&key) {
                self.problem(
                    file.at(capture.span()),
                    format!("capture `{}` is already a name", capture.get_ref()),
                    Some(format!(
                        "reserved names are {}; pick another",
                        RESERVED.join(", ")
                    )),
                );
                continue;
            }
            names.insert(
                key,
                Name {
                    phase,
                    allowed_only,
                    login: None,
                },
            );
            out.push((capture.into_inner(), pointer.into_inner()));
        }
        out
    }

    pub(super) fn status(&mut self, file: &SourceFile, status: &Spanned<i64>) -> Option<u16> {
        match u16::try_from(*status.get_ref()) {
            Ok(code @ 100..=599) => Some(code),
            _ => {
                self.problem(
                    file.at(status.span()),
                    format!("{} is not an HTTP status code", status.get_ref()),
                    Some("status codes are 100 to 599".into()),
                );
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn step(
        &mut self,
        file: &SourceFile,
        step: raw::Step,
        actors: &IndexMap<String, Actor>,
        names: &Names,
        phase: Phase,
        captures_into: &mut Names,
        on_template: &mut OnStepTemplate<'_>,
    ) -> Option<HttpStep> {
        let actor = step.as_.get_ref().clone();
        if !actors.contains_key(&actor) {
            let known: Vec<&str> = actors.keys().map(String::as_str).collect();
            self.problem(
                file.at(step.as_.span()),
                format!("`as = {actor:?}` is not an actor"),
                Some(format!("the actors are {}", known.join(", "))),
            );
        }
        let mut all = names.clone();
        all.extend(captures_into.iter().map(|(k, v)| (k.clone(), v.clone())));
        let request = self.http_request_checked(
            file,
            &step.method,
            &step.path,
            step.query.as_ref(),
            step.json.as_ref(),
            step.form.as_ref(),
            &mut |l, span, t, field| {
                on_template(span.clone(), t, field);
                l.names_in(file, span, t, &all, phase, true);
            },
        );
        let expect = step.expect.as_ref().and_then(|s| self.status(file, s));
        let (scope, captured_phase) = match phase {
            Phase::Api(index) => ("world.", Phase::Api(index + 1)),
            _ => ("", Phase::Cell),
        };
        let captures = self.captures(
            file,
            step.capture,
            captures_into,
            captured_phase,
            false,
            scope,
        );
        Some(HttpStep {
            actor,
            request: request?,
            expect,
            captures,
        })
    }
}
