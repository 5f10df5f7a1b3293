//! What people write besides suites: targets (how to build, migrate and boot a
//! revision), the `{{ }}` templates, and source files with spans for errors.
//!
//! Pure: reads only the files it is given, imports nothing that does I/O
//! (no `engine`, `runtime`, `jobs`, `report` or `cli`).

pub mod source;
pub mod target;
pub(crate) mod template;
