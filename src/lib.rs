//! `replay`: pin the authorization behaviour of an API server in a matrix, and
//! replay it over the server's history.
//!
//! The binary is a thin shell over [`cli::main`]. Data flows one way: the CLI
//! resolves its arguments into a plan (a validated suite, a target, a revision,
//! a runtime), the runtime builds and boots the revision against a fresh
//! Postgres, the world is seeded, the runner runs every cell, and the results
//! are compared with the pins and reported.

pub mod cli;
pub mod exit_codes;
pub mod source;
pub mod suite;
pub(crate) mod template;
