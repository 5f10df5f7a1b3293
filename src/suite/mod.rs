//! Suites: the world, the scenarios with their pins, validated on load.
//!
//! Pure: reads only the suite files, imports only `spec` and `support` (nothing
//! that does I/O), and is tested without Postgres or processes.

mod accept;
mod filter;
mod load;
mod model;
mod raw;
pub mod scaffold;

pub use accept::{AcceptError, PinEdit, accept, write_pins};
pub use filter::{CellFilter, FilterError, glob};
pub(crate) use load::as_set;
pub use load::{SuiteError, load};
pub(crate) use model::*;
pub use model::{Cell, CellId, IMPLICIT_TARGET, Pin, Suite};
