//! `replay list`: the cells of a suite, with their endpoints and pins.

use serde::{Deserialize, Serialize};

use super::info::{FORMAT_VERSION, PinJson, SuiteInfo};
use crate::suite::{Cell, Suite};

/// One listed cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedCell {
    pub id: String,
    pub scenario: String,
    pub target: String,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub pin: PinJson,
    /// The scenario file, and the line of the cell's row in its `[pins]`.
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// The output of `replay list --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellListing {
    pub format_version: u32,
    pub kind: String,
    pub suite: SuiteInfo,
    /// The filter flags given (`--endpoint /key/info`), empty for every cell.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filter: String,
    pub cells: Vec<ListedCell>,
}

impl CellListing {
    pub fn of(suite: &Suite, cells: &[Cell], filter: String) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            kind: "list".into(),
            suite: SuiteInfo::of(suite),
            filter,
            cells: cells
                .iter()
                .map(|cell| {
                    let (file, line) = suite.pin_location(cell);
                    ListedCell {
                        id: cell.id.to_string(),
                        scenario: cell.id.scenario.clone(),
                        target: cell.id.target.clone(),
                        actor: cell.id.actor.clone(),
                        endpoint: suite.endpoint(cell).map(str::to_string),
                        pin: PinJson::from(&cell.pin),
                        file: relative(&file, &suite.dir),
                        line,
                    }
                })
                .collect(),
        }
    }
}

/// A suite file named from the suite folder (`scenarios/key_update.toml`).
pub(crate) fn relative(path: &std::path::Path, dir: &std::path::Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// A pin in a few characters: `403`, `?`, `200 visible=["owner"]`.
pub fn pin_text(pin: &PinJson) -> String {
    if pin.unknown {
        return "?".to_string();
    }
    let mut text = pin.status.to_string();
    for (name, value) in &pin.responses {
        text.push_str(&format!(" {name}={value}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cell_names_its_endpoint_pin_and_line() {
        let suite = crate::suite::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrices/litellm"),
        )
        .unwrap();
        let listing = CellListing::of(&suite, &suite.cells(), String::new());
        assert_eq!(listing.cells.len(), suite.cells().len());
        let cell = listing
            .cells
            .iter()
            .find(|c| c.id == "key_update/self/owner")
            .unwrap();
        assert_eq!(cell.endpoint.as_deref(), Some("POST /key/update"));
        assert_eq!(cell.file, "scenarios/key_update.toml");
        let text = std::fs::read_to_string(suite.dir.join(&cell.file)).unwrap();
        let row = text.lines().nth(cell.line.unwrap() - 1).unwrap();
        assert!(row.trim_start().starts_with("owner"), "{row}");
        assert_eq!(pin_text(&cell.pin), cell.pin.status.to_string());
    }
}
