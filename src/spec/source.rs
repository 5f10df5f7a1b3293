//! Files people write, kept with their text so that errors can name a line.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A file read from disk, with its text, for line numbers in errors.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub(crate) path: PathBuf,
    pub(crate) text: String,
}

impl SourceFile {
    pub(crate) fn read(path: &Path) -> std::io::Result<Self> {
        let text = crate::support::files::read_text(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            text,
        })
    }

    /// The location of a byte span of this file.
    pub(crate) fn at(&self, span: Range<usize>) -> Location {
        let line = 1 + self.text.as_bytes()[..span.start.min(self.text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Location {
            path: self.path.clone(),
            line: Some(line),
        }
    }

    /// The location of the whole file.
    pub(crate) fn whole(&self) -> Location {
        Location {
            path: self.path.clone(),
            line: None,
        }
    }
}

/// Where something was written: a file and, when known, a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: Option<usize>,
}

impl Location {
    pub(crate) fn file(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            line: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.path.display(), line),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// One thing wrong with a file people wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    pub message: String,
    pub hint: Option<String>,
}

/// The first error of a TOML file that does not parse into its type.
pub(crate) fn toml_problem(file: &SourceFile, error: &toml::de::Error) -> Problem {
    let location = match error.span() {
        Some(span) => file.at(span),
        None => file.whole(),
    };
    let mut message = error.message().trim().to_string();
    let mut hint = message.starts_with("unknown field").then(|| {
        "remove the key or fix its spelling; the keys this table takes are listed above".to_string()
    });
    let span = error.span();
    if message.starts_with("duplicate key")
        && !message.contains('`')
        && let Some(key) = span.as_ref().and_then(|s| file.text.get(s.clone()))
    {
        // toml points at the second occurrence; name it.
        let key = key.trim().trim_matches('"');
        message = format!("duplicate key `{key}`");
        hint = Some(format!(
            "a key appears once in a table: remove one `{key}`, or merge the two"
        ));
    } else if message.starts_with("invalid type")
        && let Some(key) = span.as_ref().and_then(|s| key_before(&file.text, s.start))
    {
        // serde names the Rust type (`expected i64`): say what to write.
        if let Some((head, expected)) = message.split_once("expected ") {
            let expected = match expected.trim() {
                "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => {
                    "an integer"
                }
                "f32" | "f64" => "a number",
                other => other,
            };
            message = format!("{head}expected {expected}");
        }
        if let Some((_, expected)) = message.split_once("expected ") {
            hint = Some(format!("`{key}` takes {expected}"));
        }
        message = format!("`{key}`: {message}");
    }
    Problem {
        location,
        message,
        hint,
    }
}

/// The key of the `key = value` whose value starts at byte `at`.
fn key_before(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at)?;
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    // The last `key =` on the line before the value (inline tables have several).
    let (head, _) = line.rsplit_once('=')?;
    let key = head
        .rsplit([',', '{', ' '])
        .find(|part| !part.trim().is_empty())?
        .trim()
        .trim_matches('"');
    (!key.is_empty()).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one() {
        let file = SourceFile {
            path: "a.toml".into(),
            text: "a = 1\nb = 2\n\nc = 3\n".into(),
        };
        assert_eq!(file.at(0..1).to_string(), "a.toml:1");
        assert_eq!(file.at(6..7).to_string(), "a.toml:2");
        assert_eq!(file.at(13..14).to_string(), "a.toml:4");
        assert_eq!(file.whole().to_string(), "a.toml");
    }
}
