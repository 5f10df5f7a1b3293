//! `{{ name }}` templates in suites and targets.
//!
//! A template is text with expressions in double braces. An expression is a
//! dotted name (`actors.owner.id`, `world.team_alpha`, `target_key`) or
//! `sha256(expr)`. Names are looked up in [`Vars`]; what a name may be is checked
//! when the suite is loaded, so a run never meets an undefined name it could
//! have reported earlier.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("`{{{{` without a closing `}}}}` in {0:?}")]
    Unclosed(String),
    #[error("empty `{{{{ }}}}` in {0:?}")]
    Empty(String),
    #[error("unknown function `{func}` in {template:?} (the one function is sha256)")]
    UnknownFunction { func: String, template: String },
    #[error("`{expr}` is not a name or a function call, in {template:?}")]
    BadExpression { expr: String, template: String },
    #[error("`{{{{{name}?}}}}` may be left out only as a whole value, in {template:?}")]
    OptionalInText { name: String, template: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    #[error("`{{{{{0}}}}}` has no value here")]
    Undefined(String),
}

/// An expression inside `{{ }}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Expr {
    Var(String),
    Sha256(Box<Expr>),
}

impl Expr {
    fn var(&self) -> &str {
        match self {
            Expr::Var(name) => name,
            Expr::Sha256(inner) => inner.var(),
        }
    }

    fn eval(&self, vars: &Vars) -> Result<Value, RenderError> {
        match self {
            Expr::Var(name) => vars
                .get(name)
                .cloned()
                .ok_or_else(|| RenderError::Undefined(name.clone())),
            Expr::Sha256(inner) => Ok(Value::String(sha256_hex(&to_text(&inner.eval(vars)?)))),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Var(name) => f.write_str(name),
            Expr::Sha256(inner) => write!(f, "sha256({inner})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Expr(Expr),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    source: String,
    parts: Vec<Part>,
    /// Written `{{ name? }}`: the whole template is one name that may have no
    /// value, and the JSON field it is the value of is then left out.
    optional: bool,
}

impl Template {
    pub(crate) fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut optional = false;
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| TemplateError::Unclosed(source.into()))?;
            let mut expr = after[..close].trim();
            if let Some(name) = expr.strip_suffix('?') {
                expr = name.trim_end();
                let whole = open == 0 && after[close + 2..].is_empty() && parts.is_empty();
                if !whole {
                    return Err(TemplateError::OptionalInText {
                        name: expr.into(),
                        template: source.into(),
                    });
                }
                optional = true;
            }
            parts.push(Part::Expr(parse_expr(expr, source)?));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        if optional && !matches!(parts.as_slice(), [Part::Expr(Expr::Var(_))]) {
            return Err(TemplateError::BadExpression {
                expr: source
                    .trim_start_matches('{')
                    .trim_end_matches('}')
                    .trim()
                    .into(),
                template: source.into(),
            });
        }
        Ok(Self {
            source: source.to_string(),
            parts,
            optional,
        })
    }

    /// The name, when the template is `{{ name? }}`: a value that may be
    /// missing, whose JSON field is then left out.
    pub(crate) fn optional_var(&self) -> Option<&str> {
        if self.optional {
            self.single_var()
        } else {
            None
        }
    }

    /// The text as written, placeholders and all (`/key/{{target_key}}/regenerate`).
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Every name the template reads.
    /// The text of a template without placeholders.
    pub(crate) fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    pub(crate) fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Expr(expr) => Some(expr.var()),
            Part::Text(_) => None,
        })
    }

    /// The name, when the whole template is exactly `{{ name }}`.
    pub(crate) fn single_var(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Expr(Expr::Var(name))] => Some(name),
            _ => None,
        }
    }

    pub(crate) fn render(&self, vars: &Vars) -> Result<String, RenderError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expr(expr) => out.push_str(&to_text(&expr.eval(vars)?)),
            }
        }
        Ok(out)
    }

    /// A JSON value: a template that is one expression keeps the value's type
    /// (a captured integer id stays an integer); anything else is a string.
    pub(crate) fn render_value(&self, vars: &Vars) -> Result<Value, RenderError> {
        match self.parts.as_slice() {
            [Part::Expr(expr)] => expr.eval(vars),
            _ => self.render(vars).map(Value::String),
        }
    }

    /// The statement of [`Template::render_sql`] without its values: the SQL
    /// with `$n` in place of each expression, and how many parameters it has.
    pub(crate) fn sql_statement(&self) -> (String, usize) {
        let mut sql = String::new();
        let mut seen: Vec<&Expr> = Vec::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => sql.push_str(text),
                Part::Expr(expr) => {
                    let index = match seen.iter().position(|e| *e == expr) {
                        Some(index) => index,
                        None => {
                            seen.push(expr);
                            seen.len() - 1
                        }
                    };
                    sql.push_str(&format!("${}", index + 1));
                }
            }
        }
        (sql, seen.len())
    }

    /// SQL with every expression replaced by a `$n` parameter; the parameters are
    /// returned as text, in order. The same expression twice is one parameter.
    pub(crate) fn render_sql(&self, vars: &Vars) -> Result<(String, Vec<String>), RenderError> {
        let mut sql = String::new();
        let mut seen: Vec<&Expr> = Vec::new();
        let mut params = Vec::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => sql.push_str(text),
                Part::Expr(expr) => {
                    let index = match seen.iter().position(|e| *e == expr) {
                        Some(index) => index,
                        None => {
                            seen.push(expr);
                            params.push(to_text(&expr.eval(vars)?));
                            seen.len() - 1
                        }
                    };
                    sql.push_str(&format!("${}", index + 1));
                }
            }
        }
        Ok((sql, params))
    }
}

fn parse_expr(expr: &str, template: &str) -> Result<Expr, TemplateError> {
    if expr.is_empty() {
        return Err(TemplateError::Empty(template.into()));
    }
    if let Some(open) = expr.find('(') {
        let func = expr[..open].trim();
        let Some(inner) = expr[open + 1..].strip_suffix(')') else {
            return Err(TemplateError::BadExpression {
                expr: expr.into(),
                template: template.into(),
            });
        };
        if func != "sha256" {
            return Err(TemplateError::UnknownFunction {
                func: func.into(),
                template: template.into(),
            });
        }
        return Ok(Expr::Sha256(Box::new(parse_expr(inner.trim(), template)?)));
    }
    let valid = expr.split('.').all(|segment| {
        let mut chars = segment.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if !valid {
        return Err(TemplateError::BadExpression {
            expr: expr.into(),
            template: template.into(),
        });
    }
    Ok(Expr::Var(expr.to_string()))
}

/// The text of a value, as it goes into a string, a URL or an SQL parameter.
pub(crate) fn to_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Values by dotted name: `prefix`, `world.org_a`, `actors.owner.key`, ...
///
/// Cheap to copy once [`Vars::freeze`]d: every cell starts from its world's
/// names, which are then shared, and keeps what it sets (its scratch, its
/// target, its captures) beside them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    shared: Arc<HashMap<String, Value>>,
    /// Set since the last freeze; a name here hides the same name in `shared`.
    own: HashMap<String, Value>,
}

impl Vars {
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.own.get(name).or_else(|| self.shared.get(name))
    }

    pub(crate) fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.own.insert(name.into(), value.into());
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.own.contains_key(name) || self.shared.contains_key(name)
    }

    /// Share what was set so far with every copy made from now on.
    pub(crate) fn freeze(&mut self) {
        if !self.own.is_empty() {
            Arc::make_mut(&mut self.shared).extend(self.own.drain());
        }
    }

    /// Every name with its value, in no order.
    fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.own.iter().chain(
            self.shared
                .iter()
                .filter(|(name, _)| !self.own.contains_key(*name)),
        )
    }

    /// These names, with `actor.X` standing for `actors.NAME.X` (what a
    /// template says of the actor it is rendered for).
    pub(crate) fn for_actor(&self, actor: &str) -> Self {
        let mut out = self.clone();
        let prefix = format!("actors.{actor}.");
        for (name, value) in self.iter() {
            if let Some(field) = name.strip_prefix(&prefix) {
                out.own.insert(format!("actor.{field}"), value.clone());
            }
        }
        out
    }

    /// Every name with its value, sorted by name.
    pub(crate) fn sorted(&self) -> Vec<(&str, &Value)> {
        let mut all: Vec<(&str, &Value)> = self.iter().map(|(k, v)| (k.as_str(), v)).collect();
        all.sort_by_key(|(k, _)| *k);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut vars = Vars::default();
        vars.set("prefix", "rp1-");
        vars.set("actors.owner.id", "rp1-owner");
        vars.set("count", 3);
        vars
    }

    #[test]
    fn names_set_after_a_freeze_hide_the_shared_ones_in_every_view() {
        let mut world = vars();
        world.set("actors.bob.key", "k-bob");
        world.freeze();
        let mut cell = world.clone();
        cell.set("count", 4);
        cell.set("scratch", "rp1-scratch-0");
        assert_eq!(cell.get("count"), Some(&Value::from(4)));
        assert_eq!(world.get("count"), Some(&Value::from(3)));
        assert!(cell.contains("scratch") && !world.contains("scratch"));
        assert!(cell.contains("prefix"));
        let names: Vec<(&str, &Value)> = cell.sorted();
        assert_eq!(
            names.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            [
                "actors.bob.key",
                "actors.owner.id",
                "count",
                "prefix",
                "scratch"
            ]
        );
        assert_eq!(names[2].1, &Value::from(4));
        let bob = cell.for_actor("bob");
        assert_eq!(bob.get("actor.key"), Some(&Value::from("k-bob")));
        assert_eq!(bob.get("count"), Some(&Value::from(4)));
        // Freezing again keeps every value, the later ones winning.
        cell.freeze();
        assert_eq!(cell.get("count"), Some(&Value::from(4)));
        assert_eq!(world.get("count"), Some(&Value::from(3)));
    }

    #[test]
    fn renders_text_and_names() {
        let t = Template::parse("{{prefix}}team-{{ actors.owner.id }}").unwrap();
        assert_eq!(t.render(&vars()).unwrap(), "rp1-team-rp1-owner");
        assert_eq!(t.vars().collect::<Vec<_>>(), ["prefix", "actors.owner.id"]);
        assert_eq!(t.single_var(), None);
    }

    #[test]
    fn a_single_expression_keeps_its_type() {
        let t = Template::parse("{{count}}").unwrap();
        assert_eq!(t.single_var(), Some("count"));
        assert_eq!(t.render_value(&vars()).unwrap(), Value::from(3));
        assert_eq!(
            Template::parse("n={{count}}")
                .unwrap()
                .render_value(&vars())
                .unwrap(),
            "n=3"
        );
    }

    #[test]
    fn sha256_hashes_the_text() {
        let t = Template::parse("{{ sha256(prefix) }}").unwrap();
        assert_eq!(t.render(&vars()).unwrap(), sha256_hex("rp1-"));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sql_gets_bound_parameters() {
        let t = Template::parse(
            "SELECT {{prefix}} || x FROM t WHERE a = {{actors.owner.id}} OR b = {{prefix}}",
        )
        .unwrap();
        let (sql, params) = t.render_sql(&vars()).unwrap();
        assert_eq!(t.sql_statement(), (sql.clone(), params.len()));
        assert_eq!(sql, "SELECT $1 || x FROM t WHERE a = $2 OR b = $1");
        assert_eq!(params, ["rp1-", "rp1-owner"]);
    }

    #[test]
    fn undefined_names_are_errors() {
        let t = Template::parse("{{nope}}").unwrap();
        assert_eq!(
            t.render(&vars()),
            Err(RenderError::Undefined("nope".into()))
        );
    }

    #[test]
    fn malformed_templates_are_errors() {
        assert!(matches!(
            Template::parse("a {{ b"),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            Template::parse("{{ }}"),
            Err(TemplateError::Empty(_))
        ));
        assert!(matches!(
            Template::parse("{{ md5(x) }}"),
            Err(TemplateError::UnknownFunction { .. })
        ));
        assert!(matches!(
            Template::parse("{{ a b }}"),
            Err(TemplateError::BadExpression { .. })
        ));
        assert!(matches!(
            Template::parse("{{ sha256(x }}"),
            Err(TemplateError::BadExpression { .. })
        ));
    }

    #[test]
    fn a_question_mark_marks_a_whole_template_optional() {
        let t = Template::parse("{{ target.team_id? }}").unwrap();
        assert_eq!(t.optional_var(), Some("target.team_id"));
        assert_eq!(t.vars().collect::<Vec<_>>(), ["target.team_id"]);
        assert_eq!(
            Template::parse("{{target.team_id}}")
                .unwrap()
                .optional_var(),
            None
        );
        assert_eq!(
            Template::parse("team-{{target.team_id?}}"),
            Err(TemplateError::OptionalInText {
                name: "target.team_id".into(),
                template: "team-{{target.team_id?}}".into()
            })
        );
        assert!(matches!(
            Template::parse("{{ sha256(x)? }}"),
            Err(TemplateError::BadExpression { .. })
        ));
    }

    #[test]
    fn text_without_braces_is_literal() {
        let t = Template::parse("plain").unwrap();
        assert_eq!(t.render(&Vars::default()).unwrap(), "plain");
        assert_eq!(t.vars().count(), 0);
    }
}
