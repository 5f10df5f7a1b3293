//! Suites: the world, the scenarios with their pins, validated on load.

mod load;
mod model;
mod raw;

pub use load::{Problem, SuiteError, load};
pub(crate) use load::{as_set, toml_to_json};
pub use model::{Cell, CellId, IMPLICIT_TARGET, Pin, Suite};
pub(crate) use model::*;
