//! Progress on stderr. On a terminal (and not in CI): a bar per revision with
//! its stage and its cells n/N (indicatif). Elsewhere, or with `CI` set: one
//! plain line per phase, with its time. stdout carries only the result.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Quiet,
    Lines,
    Bars,
}

#[derive(Debug)]
pub(crate) struct Progress {
    mode: Mode,
    multi: MultiProgress,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new(false)
    }
}

/// Bars only where a person watches: stderr is a terminal and CI is not set.
fn bars_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none_or(|v| v.is_empty())
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if bars_wanted() {
            Mode::Bars
        } else {
            Mode::Lines
        };
        let multi = MultiProgress::with_draw_target(if mode == Mode::Bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Self { mode, multi }
    }

    /// A phase that finished, and how long it took.
    pub(crate) fn phase(&self, phase: &str, message: &str, took: Duration) {
        self.line(&format!(
            "{phase:<8} {message} ({:.2}s)",
            took.as_secs_f64()
        ));
    }

    pub(crate) fn line(&self, message: &str) {
        let message = crate::support::redact::scrub(message);
        match self.mode {
            Mode::Quiet => {}
            Mode::Bars => {
                let _ = self.multi.println(format!("replay: {message}"));
            }
            Mode::Lines => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "replay: {message}");
            }
        }
    }

    /// A bar for one revision (nothing is drawn unless bars are on).
    pub(crate) fn revision(&self, label: &str) -> Tracker {
        let bar = (self.mode == Mode::Bars).then(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Tracker { bar }
    }
}

/// The stage and cells of one revision.
#[derive(Debug)]
pub(crate) struct Tracker {
    bar: Option<ProgressBar>,
}

impl Tracker {
    pub(crate) fn stage(&self, stage: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(stage.to_string());
        }
    }

    /// From now on the bar counts cells.
    pub(crate) fn cells(&self, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix:.bold} cells {pos}/{len} {wide_bar} {elapsed}",
                )
                .expect("a valid template"),
            );
            bar.set_length(total as u64);
            bar.set_position(0);
        }
    }

    pub(crate) fn cell_done(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_are_not_a_terminal_so_no_bars() {
        // stderr of a test is captured: lines, not bars.
        let progress = Progress::new(false);
        assert_eq!(progress.mode, Mode::Lines);
        let tracker = progress.revision("abc1234");
        tracker.cells(3);
        tracker.cell_done();
        assert!(tracker.bar.is_none());
        assert_eq!(Progress::new(true).mode, Mode::Quiet);
    }
}
