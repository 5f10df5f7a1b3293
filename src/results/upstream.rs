//! `upstream.toml` in a records folder: the cells an upstream record (the
//! project's own hand-kept list of verified fixes) says its fixes changed.
//! `replay table` compares the records with it and says, in the table's
//! header, when the records find more flips than the upstream record names.
//!
//! ```toml
//! record = "BerriAI/litellm tests/proxy_behavior/management/regression_replay/README.md"
//!
//! [[fix]]
//! name = "c7c3df2b02 (in 1.84.0)"   # as the upstream record names it
//! cells = ["key_update/self/*"]     # cell ids or globs (`*`, `?` within a part)
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::results::record::{FixRecord, RecordError};
use crate::spec::source::SourceFile;

/// What an upstream record says its fixes changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub path: PathBuf,
    /// Which record, for the reader: `BerriAI/litellm .../README.md`.
    pub record: String,
    pub fixes: Vec<UpstreamFix>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFix {
    pub name: String,
    /// Cell ids or globs over them.
    pub cells: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    record: String,
    #[serde(default)]
    fix: Vec<Spanned<RawFix>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFix {
    name: String,
    cells: Vec<String>,
}

impl Upstream {
    /// The file name inside a records folder (`<records>/<suite>/`).
    pub const FILE: &'static str = "upstream.toml";

    /// Read `<dir>/upstream.toml`; `None` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Upstream>, RecordError> {
        let path = dir.join(Self::FILE);
        if !path.exists() {
            return Ok(None);
        }
        let file = SourceFile::read(&path).map_err(|source| RecordError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&file).map(Some)
    }

    pub(crate) fn parse(file: &SourceFile) -> Result<Upstream, RecordError> {
        let problem = |line: usize, message: String| RecordError::Upstream {
            path: file.path.clone(),
            line,
            message,
        };
        let raw: Raw = toml::from_str(&file.text).map_err(|e| {
            let line = e.span().map_or(1, |s| file.at(s).line.unwrap_or(1));
            problem(line, e.message().trim().to_string())
        })?;
        let mut fixes = Vec::new();
        for fix in raw.fix {
            let line = file.at(fix.span()).line.unwrap_or(1);
            let fix = fix.into_inner();
            if fix.cells.is_empty() {
                return Err(problem(
                    line,
                    format!(
                        "`cells` of fix `{}` is empty: name the cells it changed",
                        fix.name
                    ),
                ));
            }
            let id_like = |c: &str| {
                c.split('/').count() == 3
                    && c.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "/_-.*?".contains(ch))
            };
            if let Some(bad) = fix.cells.iter().find(|c| !id_like(c)) {
                return Err(problem(
                    line,
                    format!(
                        "`{bad}` (fix `{}`) is not a cell id: write scenario/target/actor, `*` and `?` within a part",
                        fix.name
                    ),
                ));
            }
            fixes.push(UpstreamFix {
                name: fix.name,
                cells: fix.cells,
            });
        }
        Ok(Upstream {
            path: file.path.clone(),
            record: raw.record,
            fixes,
        })
    }

    /// Does the upstream record name this cell?
    pub fn mentions(&self, id: &str) -> bool {
        self.fixes
            .iter()
            .flat_map(|f| &f.cells)
            .any(|pattern| crate::suite::glob(pattern, id, false))
    }
}

/// The header lines that compare the records with the upstream record: the
/// cells the records flip (RED→GREEN or GREEN→RED) that it does not name, by
/// release; or that it names every one. Plain Markdown, text escaped.
pub fn header(upstream: &Upstream, records: &[FixRecord]) -> String {
    use crate::support::markdown::escape;
    let mut flipped: Vec<&str> = Vec::new();
    let mut beyond: Vec<(String, usize)> = Vec::new();
    for record in records {
        let ids: Vec<&str> = record
            .transitions
            .red_to_green
            .iter()
            .chain(&record.transitions.green_to_red)
            .map(String::as_str)
            .collect();
        let unnamed = ids.iter().filter(|id| !upstream.mentions(id)).count();
        if unnamed > 0 {
            beyond.push((record.fix.name(), unnamed));
        }
        flipped.extend(ids);
    }
    let total = flipped.len();
    let named = flipped.iter().filter(|id| upstream.mentions(id)).count();
    let fixes = upstream
        .fixes
        .iter()
        .map(|f| format!("{}: `{}`", escape(&f.name), f.cells.join("`, `")))
        .collect::<Vec<_>>()
        .join("; ");
    let fixes = if fixes.is_empty() {
        "no fix".to_string()
    } else {
        fixes
    };
    let record = escape(&upstream.record);
    if beyond.is_empty() {
        return format!(
            "The upstream record ({record}) names every cell flip below: {total} in {} ({fixes}).\n",
            crate::support::words::count(records.len(), "row")
        );
    }
    let by_release = beyond
        .iter()
        .map(|(name, n)| format!("`{}` {n}", name.replace('`', "'")))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "**More flips than the upstream record mentions.** The rows below hold {} (a cell RED→GREEN or GREEN→RED against its pin); \
         the upstream record ({record}) names {named} of them: {fixes}. The other {}, by row: {by_release}.\n",
        crate::support::words::count(total, "cell flip"),
        total - named,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile {
            path: PathBuf::from("replays/x/litellm/upstream.toml"),
            text: text.to_string(),
        }
    }

    #[test]
    fn an_upstream_file_with_a_bad_key_or_cell_is_refused_naming_the_line() {
        let ok = Upstream::parse(&file(
            "record = \"r\"\n\n[[fix]]\nname = \"c7c3df2b02\"\ncells = [\"key_update/self/*\"]\n",
        ))
        .unwrap();
        assert!(ok.mentions("key_update/self/owner"));
        assert!(!ok.mentions("key_update/owner/owner"));
        assert!(!ok.mentions("key_delete/self/owner"));
        let unknown = Upstream::parse(&file(
            "record = \"r\"\n[[fix]]\nname = \"a\"\ncells = [\"s/t/a\"]\ncommit = \"x\"\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(unknown.contains("upstream.toml:5"), "{unknown}");
        assert!(unknown.contains("unknown field `commit`"), "{unknown}");
        let not_an_id = Upstream::parse(&file(
            "record = \"r\"\n\n[[fix]]\nname = \"a\"\ncells = [\"key_update/*\"]\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(not_an_id.contains("upstream.toml:3"), "{not_an_id}");
        assert!(
            not_an_id.contains("`key_update/*` (fix `a`) is not a cell id"),
            "{not_an_id}"
        );
        let empty = Upstream::parse(&file("record = \"r\"\n[[fix]]\nname = \"a\"\ncells = []\n"))
            .unwrap_err()
            .to_string();
        assert!(empty.contains("`cells` of fix `a` is empty"), "{empty}");
        let missing = Upstream::parse(&file("[[fix]]\nname = \"a\"\ncells = [\"s/t/a\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("missing field `record`"), "{missing}");
    }
}
