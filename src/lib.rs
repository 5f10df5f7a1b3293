//! `replay`: pin the authorization behaviour of an API server in a matrix, and
//! replay it over the server's history.
//!
//! The binary is a thin shell over [`cli::main`]. Data flows one way: the CLI
//! resolves its arguments into a plan (a validated suite, a target, a revision,
//! a runtime), the runtime builds and boots the revision against a fresh
//! Postgres, the world is seeded, the runner runs every cell, and the results
//! are compared with the pins and reported.

// Errors are rare and carry the facts a message needs (paths, commands, log
// lines); boxing them would only move that size around.
#![allow(clippy::result_large_err)]

pub mod bisect;
pub(crate) mod cache;
pub(crate) mod cell_cache;
pub mod check;
pub mod cli;
pub mod demo;
pub(crate) mod embedded;
pub mod engine;
pub mod error;
pub mod exit_codes;
pub(crate) mod files;
pub mod fix;
pub mod gc;
pub mod history;
pub mod outcome;
pub mod plan;
pub(crate) mod progress;
pub mod record;
pub(crate) mod redact;
pub mod report;
pub mod revision;
pub(crate) mod run;
pub(crate) mod runner;
pub mod runtime;
pub mod source;
pub mod suite;
pub mod target;
pub(crate) mod template;
pub mod world;
