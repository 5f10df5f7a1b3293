//! The process exit codes, documented in `--help` and the README.
//!
//! A result the user must act on (RED cells, a fix that is not caught) is not an
//! error: it has its own code, distinct from bad input and broken environments.

/// Every cell GREEN, or the fix is caught.
pub const SUCCESS: u8 = 0;
/// A result to act on: some cell is RED or ERROR, or the fix is not caught.
pub const RESULT: u8 = 1;
/// Bad input: a malformed suite or target, an unknown revision, a bad flag.
pub const BAD_INPUT: u8 = 2;
/// The environment is missing something: no Postgres binaries, no git repository.
pub const ENVIRONMENT: u8 = 3;
/// A revision failed to build, migrate or boot.
pub const REVISION_FAILED: u8 = 4;
/// Interrupted by a signal (Ctrl-C).
pub const INTERRUPTED: u8 = 130;

/// The table printed at the end of `--help` and in the README; with a
/// command's name, that command's own table.
#[macro_export]
#[doc(hidden)]
macro_rules! exit_codes_help {
    (check) => {
        "Exit codes:
  0    every cell GREEN
  1    a result to act on: a RED or ERROR cell
  2    bad input: malformed suite or target, unknown revision or cell, bad flag
  3    environment missing: no Postgres binaries, no git repository
  4    the revision failed to build, migrate or boot
  130  interrupted (what ran is printed, marked interrupted)
"
    };
    (fix) => {
        "Exit codes:
  0    CAUGHT: a cell went RED → GREEN, none GREEN → RED or ERROR
  1    NOT CAUGHT (the reason is printed): a result, not an error
  2    bad input: malformed suite or target, unknown revision, a root commit, bad flag
  3    environment missing: no Postgres binaries, no git repository
  4    the parent or the fix failed to build, migrate or boot
  130  interrupted
"
    };
    (bisect) => {
        "Exit codes:
  0    the answer is printed (also when no cell differs, or some are FLAKY: they are listed)
  2    bad input: malformed suite or target, unknown revision or cell, bad flag
  3    environment missing: no Postgres binaries, no git repository
  4    an end of the range failed to build, migrate or boot (a probe that fails is skipped)
  130  interrupted
"
    };
    (list) => {
        "Exit codes:
  0    the cells are listed
  2    bad input: malformed suite, a filter that selects no cell (it is named)
"
    };
    (diff) => {
        "Exit codes:
  0    no cell's outcome changed between the two documents
  1    some cell's outcome changed (they are listed): a result, not an error
  2    bad input: not a document replay wrote, or two documents of different suites
"
    };
    (init) => {
        "Exit codes:
  0    the suite is written (and loads)
  2    bad input: the folder is not empty, an OpenAPI document that cannot be read or parsed
       (its file and line are named)
  3    environment: the --openapi URL does not answer
"
    };
    (coverage) => {
        "Exit codes:
  0    covered at or above --fail-under (or no --fail-under)
  1    coverage below --fail-under: a result to act on
  2    bad input: malformed suite, an OpenAPI document that cannot be read or parsed (its file
       and line are named)
  3    environment: the --openapi URL does not answer
"
    };
    (report) => {
        "Exit codes:
  0    the page is written
  2    bad input: not a JSON document replay wrote (another kind or format_version)
"
    };
    () => {
        "Exit codes:
  0    success: every cell GREEN (check), the fix is caught (fix)
  1    a result to act on: RED or ERROR cells, the fix is not caught
  2    bad input: malformed suite or target, unknown revision, bad flag
  3    environment missing: no Postgres binaries, no git repository
  4    a revision failed to build, migrate or boot
  130  interrupted
"
    };
}
