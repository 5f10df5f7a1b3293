//! Keep secrets and run-specific values out of everything stored or printed.
//!
//! Known values (the master key, actor keys, login tokens, captured values, the
//! run's prefix, a cell's scratch namespace) are replaced by their names, so
//! that excerpts read the same on every run; the suite's `redact` patterns
//! catch the secrets a server makes up on the spot (a freshly generated key).

use std::borrow::Cow;
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

/// Cheap to clone (every cell starts from the run's): the known values are
/// shared, and so are the patterns with their search caches (a cloned `Regex`
/// gets a cache pool of its own, which every cell would then rebuild).
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    /// Longest value first.
    known: Vec<Arc<Known>>,
    patterns: Arc<[Regex]>,
    /// Integer values of the run (ids a server numbers): replaced where they
    /// are a whole JSON value, whatever their length.
    numbers: Vec<(i64, Arc<str>)>,
}

/// A value to replace, with its replacement and a searcher made once (not
/// on every look: text is searched for every known value).
#[derive(Debug)]
struct Known {
    value: String,
    replacement: String,
    finder: memchr::memmem::Finder<'static>,
}

impl Known {
    fn new(value: &str, replacement: String) -> Self {
        Self {
            value: value.to_string(),
            replacement,
            finder: memchr::memmem::Finder::new(value).into_owned(),
        }
    }

    /// Whether `text` holds the value.
    fn in_text(&self, text: &str) -> bool {
        self.value.len() <= text.len() && self.finder.find(text.as_bytes()).is_some()
    }
}

/// Values shorter than this are left alone: replacing "1" everywhere would garble text.
const MIN_LEN: usize = 6;

impl Redactor {
    pub(crate) fn new(patterns: Vec<Regex>) -> Self {
        Self {
            known: Vec::new(),
            patterns: patterns.into(),
            numbers: Vec::new(),
        }
    }

    /// Replace a captured value by `<name>` from now on: a string as
    /// [`Redactor::know`] does, an integer wherever it is a whole JSON value (a
    /// record then reads the same whether a revision numbers its ids or gives
    /// them UUIDs).
    pub(crate) fn know_value(&mut self, value: &Value, name: &str) {
        match value {
            Value::Number(n) => {
                if let Some(n) = n.as_i64()
                    && !self.numbers.iter().any(|(v, _)| *v == n)
                {
                    self.numbers.push((n, format!("<{name}>").into()));
                }
            }
            Value::String(s) => self.know(s, name),
            _ => {}
        }
    }

    /// A JSON value with the run's values replaced: strings as [`Redactor::apply`]
    /// does, known integers by their names.
    pub(crate) fn value(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.apply(&s)),
            Value::Number(n) => match n.as_i64().and_then(|i| self.number(i)) {
                Some(name) => Value::String(name.to_string()),
                None => Value::Number(n),
            },
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (self.apply(&k), self.value(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// A value with only its strings redacted (a count stays a number even when
    /// an id has the same value).
    pub(crate) fn strings(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.apply(&s)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.strings(v)).collect())
            }
            Value::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (self.apply(&k), self.strings(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// A query or form value, or a path: a whole value (or path segment) that
    /// is a known integer by its name, the rest as [`Redactor::apply`] does.
    pub(crate) fn text(&self, text: &str) -> String {
        let replaced: Vec<String> = text
            .split('/')
            .map(
                |segment| match segment.parse::<i64>().ok().and_then(|n| self.number(n)) {
                    Some(name) => name.to_string(),
                    None => segment.to_string(),
                },
            )
            .collect();
        self.apply(&replaced.join("/"))
    }

    fn number(&self, n: i64) -> Option<&str> {
        self.numbers
            .iter()
            .find(|(v, _)| *v == n)
            .map(|(_, name)| &**name)
    }

    /// A response body: [`Redactor::apply`], and known integers where they
    /// stand as a whole JSON number (after `:`, `[` or `,`; before `,`, `]`,
    /// `}` or the end), never inside other text.
    pub(crate) fn body(&self, text: &str) -> String {
        let text = self.apply(text);
        if self.numbers.is_empty() {
            return text;
        }
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut i = 0;
        while i < bytes.len() {
            if !bytes[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = if i > 0 && bytes[i - 1] == b'-' {
                i - 1
            } else {
                i
            };
            let mut end = i;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            let before = text[..start].trim_end().bytes().last();
            let after = text[end..].trim_start().bytes().next();
            let whole = matches!(before, Some(b':' | b'[' | b','))
                && matches!(after, None | Some(b',' | b']' | b'}'));
            if whole
                && let Ok(n) = text[start..end].parse::<i64>()
                && let Some(name) = self.number(n)
            {
                out.push_str(&text[last..start]);
                out.push('"');
                out.push_str(name);
                out.push('"');
                last = end;
            }
            i = end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// Replace `value` by `<name>` from now on.
    pub(crate) fn know(&mut self, value: &str, name: &str) {
        if value.len() < MIN_LEN {
            return;
        }
        // `known` stays sorted longest first, then by value: values are
        // unique, so that order is total and a binary search finds both a
        // known value and where a new one goes (no re-sort per insert: a
        // cell's redactor learns its scratch namespace and captures).
        let place = self.known.binary_search_by(|known| {
            value
                .len()
                .cmp(&known.value.len())
                .then_with(|| known.value.as_str().cmp(value))
        });
        if let Err(index) = place {
            self.known
                .insert(index, Arc::new(Known::new(value, format!("<{name}>"))));
        }
    }

    pub(crate) fn apply(&self, text: &str) -> String {
        // Copied only where something is replaced (most text holds nothing).
        let mut out = Cow::Borrowed(text);
        for known in &self.known {
            if known.in_text(&out) {
                out = Cow::Owned(out.replace(&known.value, &known.replacement));
            }
        }
        for pattern in self.patterns.iter() {
            let replaced = match pattern.replace_all(&out, "<redacted>") {
                Cow::Owned(replaced) => Some(replaced),
                Cow::Borrowed(_) => None,
            };
            if let Some(replaced) = replaced {
                out = Cow::Owned(replaced);
            }
        }
        out.into_owned()
    }
}

impl Redactor {
    /// `text` as one double-quoted shell word in which every known value is
    /// an environment-variable reference (`${REPLAY_ACTORS_OWNER_KEY}`) and
    /// whatever a `redact` pattern matches is `${REPLAY_REDACTED}`: a command
    /// line to copy that holds no secret and no value of one run.
    pub(crate) fn shell_word(&self, text: &str) -> String {
        // Mark each replacement with NULs (text never holds one), then quote
        // the literal parts and reference the marked names.
        let mut marked = text.replace('\0', "");
        for known in &self.known {
            if known.in_text(&marked) {
                let name = known
                    .replacement
                    .trim_start_matches('<')
                    .trim_end_matches('>');
                marked = marked.replace(&known.value, &format!("\0{name}\0"));
            }
        }
        for pattern in self.patterns.iter() {
            marked = pattern.replace_all(&marked, "\0redacted\0").into_owned();
        }
        let mut word = String::from("\"");
        for (index, part) in marked.split('\0').enumerate() {
            if index % 2 == 1 {
                word.push_str(&format!("${{{}}}", env_name(part)));
            } else {
                for c in part.chars() {
                    if matches!(c, '"' | '\\' | '$' | '`') {
                        word.push('\\');
                    }
                    word.push(c);
                }
            }
        }
        word.push('"');
        word
    }
}

/// The environment variable that stands for a value named `name`:
/// `actors.owner.key` → `REPLAY_ACTORS_OWNER_KEY`.
pub(crate) fn env_name(name: &str) -> String {
    let mut out = String::from("REPLAY_");
    for c in name.chars() {
        out.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        });
    }
    out
}

/// The secrets of this process's run (master key, database password, actor
/// keys and tokens): every line the tool prints and every file it writes goes
/// through [`scrub`], whatever put a secret there (a target's argv in a
/// `command:` line, an error message, a record).
static SECRETS: std::sync::LazyLock<std::sync::RwLock<Redactor>> =
    std::sync::LazyLock::new(Default::default);

/// From now on, replace `value` by `<name>` in everything printed or written.
pub(crate) fn keep_secret(value: &str, name: &str) {
    if let Ok(mut secrets) = SECRETS.write() {
        secrets.know(value, name);
    }
}

/// `text` with every secret of the run replaced by its name.
pub(crate) fn scrub(text: &str) -> String {
    match SECRETS.read() {
        Ok(secrets) if !secrets.known.is_empty() => secrets.apply(text),
        _ => text.to_string(),
    }
}

/// The first `max` characters of `text`, on a character boundary, marked when cut.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_become_their_names_longest_first() {
        let mut r = Redactor::new(vec![Regex::new(r"sk-[a-z0-9]{8,}").unwrap()]);
        r.know("replay-1234abcd-", "prefix");
        r.know("replay-1234abcd-scratch-7", "scratch");
        r.know("sk-secretmasterkey", "master_key");
        let text = r#"{"alias": "replay-1234abcd-scratch-7", "user": "replay-1234abcd-owner", "key": "sk-secretmasterkey", "new": "sk-abcdef123456"}"#;
        assert_eq!(
            r.apply(text),
            r#"{"alias": "<scratch>", "user": "<prefix>owner", "key": "<master_key>", "new": "<redacted>"}"#
        );
    }

    #[test]
    fn known_values_stay_longest_first_then_by_value_whatever_the_order_learnt() {
        let values = [
            "replay-1234abcd-",
            "replay-1234abcd-scratch-7",
            "abcdef",
            "sk-secretmasterkey",
            "abcdeg",
            "1234abcd-scratch",
            "zzzzzz",
        ];
        let pairs = |r: &Redactor| -> Vec<(String, String)> {
            r.known
                .iter()
                .map(|k| (k.value.clone(), k.replacement.clone()))
                .collect()
        };
        let sorted = |mut known: Vec<(String, String)>| {
            known.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
            known
        };
        let mut forward = Redactor::default();
        let mut backward = Redactor::default();
        for (i, v) in values.iter().enumerate() {
            forward.know(v, &format!("n{i}"));
        }
        for (i, v) in values.iter().enumerate().rev() {
            backward.know(v, &format!("n{i}"));
        }
        // A value learnt twice keeps its first name.
        forward.know("abcdef", "again");
        assert_eq!(pairs(&forward), sorted(pairs(&forward)));
        assert_eq!(pairs(&forward), pairs(&backward));
        assert_eq!(forward.known.len(), values.len());
        assert_eq!(
            forward
                .known
                .iter()
                .find(|k| k.value == "abcdef")
                .unwrap()
                .replacement,
            "<n2>"
        );
        // Overlapping values: the longest is replaced first.
        assert_eq!(
            forward.apply("replay-1234abcd-scratch-7 replay-1234abcd-x"),
            "<n1> <n0>x"
        );
    }

    #[test]
    fn short_values_are_not_replaced() {
        let mut r = Redactor::default();
        r.know("1", "one");
        assert_eq!(r.apply("101"), "101");
    }

    #[test]
    fn integer_ids_are_replaced_as_whole_json_values_only() {
        let mut r = Redactor::default();
        r.know_value(&Value::from(42), "world.alice_id");
        r.know_value(
            &Value::from("3f2a9c1e-0000-4000-8000-000000000001"),
            "world.bob_id",
        );
        let body = r#"{"id": 42, "ids": [42, 420, 7], "n": "42", "total": 142, "x":-42, "bob": "3f2a9c1e-0000-4000-8000-000000000001"}"#;
        assert_eq!(
            r.body(body),
            r#"{"id": "<world.alice_id>", "ids": ["<world.alice_id>", 420, 7], "n": "42", "total": 142, "x":-42, "bob": "<world.bob_id>"}"#
        );
        // Old revisions number ids, new ones use UUIDs: both read by their name.
        assert_eq!(r.value(Value::from(42)), Value::from("<world.alice_id>"));
        assert_eq!(
            r.value(Value::from("3f2a9c1e-0000-4000-8000-000000000001")),
            Value::from("<world.bob_id>")
        );
        assert_eq!(r.value(Value::from(43)), Value::from(43));
        assert_eq!(r.strings(Value::from(42)), Value::from(42));
        // Free text (an error message) keeps its numbers.
        assert_eq!(r.apply("returned 42"), "returned 42");
        assert_eq!(r.text("/users/42/keys"), "/users/<world.alice_id>/keys");
        assert_eq!(r.text("42"), "<world.alice_id>");
        assert_eq!(r.text("142"), "142");
    }

    #[test]
    fn excerpts_cut_on_characters() {
        assert_eq!(excerpt("héllo", 2), "hé…");
        assert_eq!(excerpt("hi", 5), "hi");
    }
}
