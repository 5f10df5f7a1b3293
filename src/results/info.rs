//! What every document the tool writes names: the format version, the suite,
//! the target, a pin, the scenarios.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::suite::{Pin, Suite};

/// The version of every JSON document the tool writes.
pub const FORMAT_VERSION: u32 = 1;

/// A pin as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinJson {
    pub status: u16,
    /// A `"?"` pin (its status is 0): the cell's outcome is NEW.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub responses: IndexMap<String, serde_json::Value>,
}

impl From<&Pin> for PinJson {
    fn from(pin: &Pin) -> Self {
        Self {
            status: pin.status,
            unknown: pin.unknown,
            responses: pin.responses.clone(),
        }
    }
}

impl PinJson {
    /// The pin it was made from, for comparing outcomes with it.
    pub fn pin(&self) -> Pin {
        Pin {
            status: self.status,
            unknown: self.unknown,
            responses: self.responses.clone(),
        }
    }
}

/// A scenario, as reports name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl ScenarioInfo {
    pub fn of(suite: &Suite) -> Vec<Self> {
        suite
            .scenarios
            .iter()
            .map(|s| Self {
                name: s.name.clone(),
                endpoint: s.endpoint.clone(),
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteInfo {
    pub name: String,
    pub hash: String,
}

impl SuiteInfo {
    pub fn of(suite: &Suite) -> Self {
        Self {
            name: suite.name.clone(),
            hash: suite.hash.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub name: String,
    pub hash: String,
}

impl TargetInfo {
    pub fn of(target: &crate::spec::target::Target) -> Self {
        Self {
            name: target.name.clone(),
            hash: target.hash.clone(),
        }
    }
}
