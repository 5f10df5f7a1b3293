//! Integration tests: the real binary, a real Postgres, the twin booted for real.

mod answers;
mod bisect;
mod check;
mod cleanup;
mod cli;
mod commands;
mod creds;
mod docker;
mod docs;
mod environment;
mod fix;
mod format;
mod html;
mod inputs;
mod layout;
mod mutate;
mod report;
mod repository;
mod secrets;
mod suites;
mod support;
mod trust;
mod url;
mod variants;
mod verdicts;
mod workflows;
