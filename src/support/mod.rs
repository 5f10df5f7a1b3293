//! Support: cache keys, atomic files, redaction, progress, exit codes and the
//! embedded demo files — small pieces every layer may use.
//!
//! Imports nothing else of the crate.

pub(crate) mod cache;
pub(crate) mod clock;
pub(crate) mod embedded;
pub mod exit_codes;
pub(crate) mod files;
pub(crate) mod markdown;
pub mod mounts;
pub(crate) mod progress;
pub(crate) mod redact;
pub(crate) mod version;
pub(crate) mod words;
