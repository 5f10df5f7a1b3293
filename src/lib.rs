//! `replay`: pin the authorization behaviour of an API server in a matrix, and
//! replay it over the server's history.
//!
//! The binary is a thin shell over [`cli::main`]. Data flows one way:
//!
//! ```text
//! main.rs → cli/ → jobs/ → engine/ → results/ → report/
//!                    │        ├─ revisions/  git2: resolve, walk, materialise, overlay; the twin's history
//!                    │        ├─ runtime/    the Runtime trait; local/ (processes, an initdb'd Postgres)
//!                    │        ├─ suite/, spec/  what people write: suites; targets, templates, spans
//!                    │        └─ mutate/  mutants of handler files (tree-sitter), the triage of survivors
//!                    └─ support/  cache keys, atomic files, redaction, progress, exit codes, embedded files
//! ```
//!
//! - [`cli`] parses arguments into plain option structs, calls a job, prints the result.
//! - [`jobs`] (check, fix, bisect, plan, merge, gc, demo) plan, drive the engine, write records.
//! - [`engine`] owns a run: its Postgres, the world, the cells, the bisect search.
//! - [`results`] compares outcomes with pins; fix and bisect records; the cell cache.
//! - [`report`] renders results: grids, JUnit, Markdown, HTML.
//! - [`revisions`], [`runtime`], [`suite`], [`spec`], [`mutate`], [`support`] serve them.
//!
//! A module imports only from modules to its right in that picture (or below
//! it); `tests/it/layout.rs` fails when one imports against the flow.

// Errors are rare and carry the facts a message needs (paths, commands, log
// lines); boxing them would only move that size around.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod engine;
pub mod jobs;
pub mod mutate;
pub mod report;
pub mod results;
pub mod revisions;
pub mod runtime;
pub mod spec;
pub mod suite;
pub mod support;
