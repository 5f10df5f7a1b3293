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

/// The table printed at the end of `--help` and in the README.
#[macro_export]
#[doc(hidden)]
macro_rules! exit_codes_help {
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
