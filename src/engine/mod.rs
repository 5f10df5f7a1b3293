//! The engine: one run (its secrets, folders and interrupt), the world seeded
//! and made on a server, the cells run over HTTP, each revision evaluated, and
//! the bisect search (a pure state machine).
//!
//! It drives `runtime/` over `revisions/`, reads `suite/` and `spec/`, and
//! produces `results/` outcomes. It never imports `jobs/`, `report/` or `cli/`.

pub mod bisect_search;
mod evaluate;
pub(crate) mod http;
pub(crate) mod prepare;
pub mod run;
pub(crate) mod runner;
pub mod world;

pub use evaluate::{CacheHits, EngineError, Evaluation, Timings};
pub(crate) use evaluate::{Engine, Use};
