//! `matrices/<suite>/mutants.toml`: the survivors a reviewer accepted, each
//! with its reason. `replay mutate --check` fails on a survivor not listed
//! here, and reports entries whose mutant no longer exists as stale.
//!
//! ```toml
//! [[accepted]]
//! file = "keys.py"
//! function = "check_view"
//! id = "condition-false:check_view:1a2b3c4d"
//! reason = "equivalent"        # equivalent | out-of-scope | known-gap
//! note = "the branch below denies the same callers"
//!
//! [[serves]]                   # which endpoints a function's mutants can change
//! file = "keys.py"
//! function = "check_update"    # optional: the whole file
//! endpoints = ["POST /key/update"]
//! ```
//!
//! A mutant runs only the cells of the endpoints its function (or file)
//! serves; every cell when nothing says.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::MutateError;
use crate::spec::source::SourceFile;

/// Why a survivor is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The mutant behaves like the original for every caller.
    Equivalent,
    /// It changes behaviour the suite does not pin on purpose.
    OutOfScope,
    /// A real gap of the suite, known and accepted for now.
    KnownGap,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Equivalent => "equivalent",
            Reason::OutOfScope => "out-of-scope",
            Reason::KnownGap => "known-gap",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageEntry {
    pub file: String,
    pub function: String,
    pub id: String,
    pub reason: Reason,
    pub note: String,
    /// The line of its `[[accepted]]` table.
    pub line: usize,
}

/// The endpoints a file's or a function's mutants can change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serves {
    pub file: String,
    pub function: Option<String>,
    pub endpoints: Vec<String>,
    pub line: usize,
}

/// The triage file of a suite (empty when there is none).
#[derive(Debug, Clone, Default)]
pub struct Triage {
    pub path: Option<PathBuf>,
    pub accepted: Vec<TriageEntry>,
    pub serves: Vec<Serves>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    accepted: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    serves: Vec<Spanned<RawServes>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServes {
    file: String,
    function: Option<String>,
    endpoints: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    file: String,
    function: String,
    id: String,
    reason: Reason,
    note: String,
}

impl Triage {
    /// The file name inside a suite folder.
    pub const FILE: &'static str = "mutants.toml";

    /// Read `<suite>/mutants.toml`; no file is no accepted survivor.
    pub fn load(suite_dir: &Path) -> Result<Triage, MutateError> {
        let path = suite_dir.join(Self::FILE);
        if !path.exists() {
            return Ok(Triage::default());
        }
        let file = SourceFile::read(&path).map_err(|source| MutateError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&file)
    }

    pub(crate) fn parse(file: &SourceFile) -> Result<Triage, MutateError> {
        let raw: Raw = toml::from_str(&file.text).map_err(|e| MutateError::Triage {
            path: file.path.clone(),
            line: e.span().map(|s| file.at(s).line.unwrap_or(1)).unwrap_or(1),
            message: e.message().to_string(),
        })?;
        let mut accepted: Vec<TriageEntry> = Vec::new();
        for entry in raw.accepted {
            let line = file.at(entry.span()).line.unwrap_or(1);
            let entry = entry.into_inner();
            if let Some(first) = accepted.iter().find(|e| e.id == entry.id) {
                return Err(MutateError::Triage {
                    path: file.path.clone(),
                    line,
                    message: format!(
                        "mutant `{}` is already accepted at line {}",
                        entry.id, first.line
                    ),
                });
            }
            if entry.note.trim().is_empty() {
                return Err(MutateError::Triage {
                    path: file.path.clone(),
                    line,
                    message: format!(
                        "`note` of `{}` is empty: say why the survivor is accepted",
                        entry.id
                    ),
                });
            }
            accepted.push(TriageEntry {
                file: entry.file,
                function: entry.function,
                id: entry.id,
                reason: entry.reason,
                note: entry.note,
                line,
            });
        }
        let mut serves: Vec<Serves> = Vec::new();
        for entry in raw.serves {
            let line = file.at(entry.span()).line.unwrap_or(1);
            let entry = entry.into_inner();
            if let Some(first) = serves
                .iter()
                .find(|s| s.file == entry.file && s.function == entry.function)
            {
                return Err(MutateError::Triage {
                    path: file.path.clone(),
                    line,
                    message: format!(
                        "what `{}` serves is already said at line {}",
                        entry.function.as_deref().unwrap_or(&entry.file),
                        first.line
                    ),
                });
            }
            serves.push(Serves {
                file: entry.file,
                function: entry.function,
                endpoints: entry.endpoints,
                line,
            });
        }
        Ok(Triage {
            path: Some(file.path.clone()),
            accepted,
            serves,
        })
    }

    /// The endpoints a mutant of `function` in `file` can change: what its
    /// function serves, else what its file serves; `None` when unknown.
    pub fn serves(&self, file: &str, function: &str) -> Option<&Serves> {
        let top = function.split('.').next().unwrap_or(function);
        self.serves
            .iter()
            .find(|s| {
                s.file == file
                    && s.function
                        .as_deref()
                        .is_some_and(|f| f == function || f == top)
            })
            .or_else(|| {
                self.serves
                    .iter()
                    .find(|s| s.file == file && s.function.is_none())
            })
    }

    /// The entry accepting mutant `id` of `file`.
    pub fn find(&self, file: &str, id: &str) -> Option<&TriageEntry> {
        self.accepted.iter().find(|e| e.file == file && e.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Triage, MutateError> {
        Triage::parse(&SourceFile {
            path: "mutants.toml".into(),
            text: text.into(),
        })
    }

    #[test]
    fn entries_are_read_with_their_lines() {
        let triage = parse(
            "# accepted\n\n[[accepted]]\nfile = \"keys.py\"\nfunction = \"f\"\nid = \"drop-raise:f:00000000\"\nreason = \"known-gap\"\nnote = \"why\"\n",
        )
        .unwrap();
        assert_eq!(triage.accepted[0].line, 3);
        assert_eq!(triage.accepted[0].reason, Reason::KnownGap);
        assert!(triage.find("keys.py", "drop-raise:f:00000000").is_some());
        assert!(triage.find("auth.py", "drop-raise:f:00000000").is_none());
        assert!(triage.serves("keys.py", "f").is_none());
    }

    #[test]
    fn what_a_function_serves_comes_before_what_its_file_serves() {
        let triage = parse(
            "[[serves]]\nfile = \"keys.py\"\nendpoints = [\"GET /a\"]\n\n[[serves]]\nfile = \"keys.py\"\nfunction = \"check\"\nendpoints = [\"POST /b\"]\n",
        )
        .unwrap();
        assert_eq!(
            triage.serves("keys.py", "check").unwrap().endpoints,
            ["POST /b"]
        );
        assert_eq!(triage.serves("keys.py", "check.inner").unwrap().line, 5);
        assert_eq!(
            triage.serves("keys.py", "other").unwrap().endpoints,
            ["GET /a"]
        );
        assert!(triage.serves("auth.py", "check").is_none());
        let twice = "[[serves]]\nfile = \"k.py\"\nendpoints = []\n[[serves]]\nfile = \"k.py\"\nendpoints = []\n";
        assert!(matches!(
            parse(twice),
            Err(MutateError::Triage { line: 4, .. })
        ));
    }

    #[test]
    fn bad_entries_name_their_line() {
        let entry = |extra: &str| {
            format!(
                "[[accepted]]\nfile = \"k.py\"\nfunction = \"f\"\nid = \"x\"\nnote = \"n\"\n{extra}\n"
            )
        };
        let error = parse(&entry("reason = \"fine\"")).unwrap_err();
        assert!(
            matches!(&error, MutateError::Triage { line: 6, message, .. } if message.contains("unknown variant")),
            "{error:?}"
        );
        let error = parse(&entry("reason = \"equivalent\"\ncolour = 1")).unwrap_err();
        assert!(
            matches!(&error, MutateError::Triage { message, .. } if message.contains("colour")),
            "{error:?}"
        );
        let twice = format!(
            "{}{}",
            entry("reason = \"equivalent\""),
            entry("reason = \"equivalent\"")
        );
        let error = parse(&twice).unwrap_err();
        assert!(
            matches!(&error, MutateError::Triage { line: 7, message, .. } if message.contains("line 1")),
            "{error:?}"
        );
    }
}
