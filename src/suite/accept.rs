//! `--accept`: rewrite pins in place from observed outcomes, keeping the file's
//! comments and layout (toml_edit), and show the change as a diff.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::Value;
use toml_edit::{DocumentMut, InlineTable};

use super::model::{CellId, Pin, Suite};

/// The new text of one scenario file.
#[derive(Debug)]
pub struct PinEdit {
    pub path: PathBuf,
    pub before: String,
    pub after: String,
}

impl PinEdit {
    /// A unified diff of the change.
    pub fn diff(&self) -> String {
        let name = self.path.display().to_string();
        similar::TextDiff::from_lines(&self.before, &self.after)
            .unified_diff()
            .context_radius(2)
            .header(&name, &name)
            .to_string()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("cannot edit {}: {message}", path.display())]
    Edit { path: PathBuf, message: String },
    /// The file is not what the run loaded (edited while the run ran):
    /// writing the run's text over it would lose those edits.
    #[error("{} changed since this run read it", path.display())]
    Changed { path: PathBuf },
    /// A file could not be written; those already rewritten were put back,
    /// but for the ones in `left`, which hold the new pins.
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
        left: Vec<PathBuf>,
    },
}

/// Write every edit, or none: each file must still hold the text the run
/// loaded; every new text is staged beside its file before the first one is
/// renamed into place; and when a rename fails, the files already renamed
/// get their old text back. A half-accepted suite (some files with the new
/// pins, others without) is never left by a write error.
pub fn write_pins(edits: &[PinEdit]) -> Result<(), AcceptError> {
    let write_error = |path: &PathBuf, source| AcceptError::Write {
        path: path.clone(),
        source,
        left: Vec::new(),
    };
    for edit in edits {
        let now = std::fs::read(&edit.path).map_err(|e| write_error(&edit.path, e))?;
        if now != edit.before.as_bytes() {
            return Err(AcceptError::Changed {
                path: edit.path.clone(),
            });
        }
    }
    let mut staged = Vec::new();
    for edit in edits {
        let file = crate::support::files::stage(&edit.path, edit.after.as_bytes())
            .map_err(|e| write_error(&edit.path, e))?;
        staged.push((edit, file));
    }
    let mut done: Vec<&PinEdit> = Vec::new();
    for (edit, file) in staged {
        if let Err(error) = file.persist(&edit.path) {
            let left = done
                .iter()
                .filter(|d| {
                    crate::support::files::write_atomically(&d.path, d.before.as_bytes()).is_err()
                })
                .map(|d| d.path.clone())
                .collect();
            return Err(AcceptError::Write {
                path: edit.path.clone(),
                source: error.error,
                left,
            });
        }
        done.push(edit);
    }
    Ok(())
}

/// The files to rewrite so that each cell's pin becomes the given one.
pub fn accept(suite: &Suite, pins: &[(CellId, Pin)]) -> Result<Vec<PinEdit>, AcceptError> {
    let mut by_scenario: IndexMap<&str, Vec<&(CellId, Pin)>> = IndexMap::new();
    for change in pins {
        by_scenario
            .entry(change.0.scenario.as_str())
            .or_default()
            .push(change);
    }
    let mut edits = Vec::new();
    for scenario in &suite.scenarios {
        let Some(changes) = by_scenario.get(scenario.name.as_str()) else {
            continue;
        };
        let path = scenario.file.path.clone();
        let fail = |message: String| AcceptError::Edit {
            path: path.clone(),
            message,
        };
        let mut document: DocumentMut = scenario
            .file
            .text
            .parse()
            .map_err(|e: toml_edit::TomlError| fail(e.to_string()))?;
        for (cell, pin) in changes {
            let column = scenario
                .pins
                .targets
                .iter()
                .position(|t| *t == cell.target)
                .ok_or_else(|| fail(format!("no column {}", cell.target)))?;
            let row = document
                .get_mut("pins")
                .and_then(|pins| pins.get_mut(&cell.actor))
                .and_then(|row| row.as_array_mut())
                .ok_or_else(|| fail(format!("no pins row for {}", cell.actor)))?;
            if column >= row.len() {
                return Err(fail(format!(
                    "the row of {} is shorter than `targets`",
                    cell.actor
                )));
            }
            row.replace(column, pin_value(pin));
        }
        let after = document.to_string();
        if after != scenario.file.text {
            edits.push(PinEdit {
                path,
                before: scenario.file.text.clone(),
                after,
            });
        }
    }
    Ok(edits)
}

/// A pin as it is written: a bare status, or a table with the response values.
fn pin_value(pin: &Pin) -> toml_edit::Value {
    if pin.responses.is_empty() {
        return toml_edit::Value::from(i64::from(pin.status));
    }
    let mut table = InlineTable::new();
    table.insert("status", toml_edit::Value::from(i64::from(pin.status)));
    for (name, value) in &pin.responses {
        table.insert(name, json_to_toml(value));
    }
    toml_edit::Value::InlineTable(table)
}

fn json_to_toml(value: &Value) -> toml_edit::Value {
    match value {
        Value::Null => toml_edit::Value::from(""),
        Value::Bool(b) => toml_edit::Value::from(*b),
        Value::Number(n) => n
            .as_i64()
            .map(toml_edit::Value::from)
            .unwrap_or_else(|| toml_edit::Value::from(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => toml_edit::Value::from(s.as_str()),
        Value::Array(items) => toml_edit::Value::Array(items.iter().map(json_to_toml).collect()),
        Value::Object(fields) => {
            let mut table = InlineTable::new();
            for (k, v) in fields {
                table.insert(k, json_to_toml(v));
            }
            toml_edit::Value::InlineTable(table)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::load;

    #[test]
    fn rewrites_a_pin_keeping_comments_and_alignment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("suite.toml"), "name = \"t\"\n").unwrap();
        std::fs::write(dir.path().join("world.toml"), "[actors.a]\n[actors.b]\n").unwrap();
        std::fs::create_dir(dir.path().join("scenarios")).unwrap();
        let text = "[targets.x]\n[targets.y]\n[request]\nmethod = \"GET\"\npath = \"/\"\n\n[pins]\n# why a is denied\ntargets = [\"x\", \"y\"]\na       = [403,  200]\nb       = [200,  \"-\"]\n";
        std::fs::write(dir.path().join("scenarios/s.toml"), text).unwrap();
        let suite = load(dir.path()).unwrap();
        let change = (
            CellId::parse("s/x/a").unwrap(),
            Pin {
                status: 200,
                unknown: false,
                responses: IndexMap::new(),
            },
        );
        let edits = accept(&suite, &[change]).unwrap();
        assert_eq!(edits.len(), 1);
        assert_eq!(
            edits[0].after,
            text.replace("a       = [403,  200]", "a       = [200,  200]")
        );
        assert!(
            edits[0]
                .diff()
                .contains("-a       = [403,  200]\n+a       = [200,  200]")
        );
    }

    /// A suite of two scenarios, `s` and `t`, each pinning `a` to 403 on `x`,
    /// and the edits that pin both to 200.
    fn two_edits(dir: &std::path::Path) -> Vec<PinEdit> {
        std::fs::write(dir.join("suite.toml"), "name = \"t\"\n").unwrap();
        std::fs::write(dir.join("world.toml"), "[actors.a]\n").unwrap();
        std::fs::create_dir(dir.join("scenarios")).unwrap();
        let text = "[targets.x]\n[request]\nmethod = \"GET\"\npath = \"/\"\n[pins]\ntargets = [\"x\"]\na = [403]\n";
        for name in ["s", "t"] {
            std::fs::write(dir.join(format!("scenarios/{name}.toml")), text).unwrap();
        }
        let suite = load(dir).unwrap();
        let pin = Pin {
            status: 200,
            unknown: false,
            responses: IndexMap::new(),
        };
        let changes: Vec<_> = ["s/x/a", "t/x/a"]
            .iter()
            .map(|id| (CellId::parse(id).unwrap(), pin.clone()))
            .collect();
        accept(&suite, &changes).unwrap()
    }

    #[test]
    fn a_file_edited_while_the_run_ran_is_not_overwritten_and_no_other_file_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let edits = two_edits(dir.path());
        let t = dir.path().join("scenarios/t.toml");
        let edited = edits[1].before.replace("a = [403]", "a = [403]   # mine");
        std::fs::write(&t, &edited).unwrap();
        match write_pins(&edits) {
            Err(AcceptError::Changed { path }) => assert_eq!(path, t),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&t).unwrap(), edited);
        let s = dir.path().join("scenarios/s.toml");
        assert_eq!(std::fs::read_to_string(&s).unwrap(), edits[0].before);

        std::fs::write(&t, &edits[1].before).unwrap();
        write_pins(&edits).unwrap();
        for edit in &edits {
            assert_eq!(std::fs::read_to_string(&edit.path).unwrap(), edit.after);
        }
    }

    #[test]
    fn a_file_that_cannot_be_written_leaves_every_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let mut edits = two_edits(dir.path());
        // The second file's folder is gone by the time the pins are written:
        // nothing may have been renamed into place before that is known.
        let gone = dir.path().join("gone");
        std::fs::create_dir(&gone).unwrap();
        let moved = gone.join("t.toml");
        std::fs::rename(&edits[1].path, &moved).unwrap();
        edits[1].path = moved;
        std::fs::remove_dir_all(&gone).unwrap();
        match write_pins(&edits) {
            Err(AcceptError::Write { path, left, .. }) => {
                assert_eq!(path, edits[1].path);
                assert!(left.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(&edits[0].path).unwrap(),
            edits[0].before
        );
    }

    #[test]
    fn response_pins_become_inline_tables() {
        let pin = Pin {
            status: 200,
            unknown: false,
            responses: [("visible".to_string(), serde_json::json!(["a", "b"]))]
                .into_iter()
                .collect(),
        };
        assert_eq!(
            pin_value(&pin).to_string(),
            "{ status = 200, visible = [\"a\", \"b\"] }"
        );
    }
}
