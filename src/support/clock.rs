//! When the process started, for the first job's timings: what happens before
//! a job starts (parsing arguments, starting the async runtime) is part of
//! what its user waits for.

use std::sync::Mutex;
use std::time::Instant;

static STARTED: Mutex<Option<Instant>> = Mutex::new(None);

/// Called first thing by the binary.
pub(crate) fn mark_process_start() {
    *STARTED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
}

/// When the process started, for the first caller only (a later job of the
/// same process did not wait for the start).
pub(crate) fn take_process_start() -> Option<Instant> {
    STARTED.lock().unwrap_or_else(|e| e.into_inner()).take()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_is_taken_once() {
        mark_process_start();
        assert!(take_process_start().is_some());
        assert!(take_process_start().is_none());
    }
}
