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
        let text = std::fs::read_to_string(path)?;
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
    let message = error.message().trim().to_string();
    let hint = message.starts_with("unknown field").then(|| {
        "remove the key or fix its spelling; the keys this table takes are listed above".to_string()
    });
    Problem {
        location,
        message,
        hint,
    }
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
