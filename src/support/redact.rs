//! Keep secrets and run-specific values out of everything stored or printed.
//!
//! Known values (the master key, actor keys, login tokens, captured values, the
//! run's prefix, a cell's scratch namespace) are replaced by their names, so
//! that excerpts read the same on every run; the suite's `redact` patterns
//! catch the secrets a server makes up on the spot (a freshly generated key).

use regex::Regex;

#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    /// (value, replacement), longest value first.
    known: Vec<(String, String)>,
    patterns: Vec<Regex>,
}

/// Values shorter than this are left alone: replacing "1" everywhere would garble text.
const MIN_LEN: usize = 6;

impl Redactor {
    pub(crate) fn new(patterns: Vec<Regex>) -> Self {
        Self {
            known: Vec::new(),
            patterns,
        }
    }

    /// Replace `value` by `<name>` from now on.
    pub(crate) fn know(&mut self, value: &str, name: &str) {
        if value.len() < MIN_LEN || self.known.iter().any(|(v, _)| v == value) {
            return;
        }
        self.known.push((value.to_string(), format!("<{name}>")));
        self.known
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    }

    pub(crate) fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (value, replacement) in &self.known {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), replacement);
            }
        }
        for pattern in &self.patterns {
            out = pattern.replace_all(&out, "<redacted>").into_owned();
        }
        out
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
        for (value, replacement) in &self.known {
            if marked.contains(value.as_str()) {
                let name = replacement.trim_start_matches('<').trim_end_matches('>');
                marked = marked.replace(value.as_str(), &format!("\0{name}\0"));
            }
        }
        for pattern in &self.patterns {
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
static SECRETS: std::sync::RwLock<Redactor> = std::sync::RwLock::new(Redactor {
    known: Vec::new(),
    patterns: Vec::new(),
});

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
    fn short_values_are_not_replaced() {
        let mut r = Redactor::default();
        r.know("1", "one");
        assert_eq!(r.apply("101"), "101");
    }

    #[test]
    fn excerpts_cut_on_characters() {
        assert_eq!(excerpt("héllo", 2), "hé…");
        assert_eq!(excerpt("hi", 5), "hi");
    }
}
