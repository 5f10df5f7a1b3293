//! Progress on stderr: one line per phase, with its time.
//!
//! stdout carries only the result (the grid, or JSON), so that it can be piped.

use std::io::Write;
use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct Progress {
    quiet: bool,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Self {
        Self { quiet }
    }

    /// A phase that finished, and how long it took.
    pub(crate) fn phase(&self, phase: &str, message: &str, took: Duration) {
        self.line(&format!(
            "{phase:<8} {message} ({:.2}s)",
            took.as_secs_f64()
        ));
    }

    pub(crate) fn line(&self, message: &str) {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "replay: {message}");
        }
    }
}
