//! Revisions: resolve, walk and materialise commits and overlays with git2,
//! and generate the twin's history.
//!
//! Imports only `support`; the runtime takes the [`revision::Checkout`]s it makes.

pub mod history;
pub mod revision;
