//! Progress for long commands, on a terminal only.
//!
//! `add-flows`/`replace-flows` of 10^5-10^6 lines are one RPC that the daemon answers when
//! the whole change is parsed, applied and durable; long dumps stream for seconds. On a
//! terminal (stderr is a TTY) a spinner says what is going on, how many items and how long it
//! has taken; when stderr is piped or redirected nothing is drawn, so scripts see exactly the
//! command's output. Dumps (`dump-flows`, `dump-megaflows`, `dump-conntrack`) show a running
//! count instead, and only when stdout is *not* a terminal either: on a terminal the lines
//! themselves are the progress, and a counter drawn between them would garble them.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A spinner on stderr, hidden when stderr is not a terminal. Cleared when dropped.
#[derive(Debug)]
pub struct Progress(ProgressBar);

impl Progress {
    /// A spinner with `message`, ticking on its own.
    pub fn spinner(message: String) -> Self {
        Self::with_target(message, std::io::stderr().is_terminal())
    }

    fn with_target(message: String, visible: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            None,
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress(bar)
    }

    /// A running count of `what` received so far, drawn on stderr only when stderr is a
    /// terminal and stdout is not (`vswitch-ctl dump-flows br0 > flows.txt`).
    pub fn counter(what: &'static str) -> Self {
        let visible = counter_visible(
            std::io::stderr().is_terminal(),
            std::io::stdout().is_terminal(),
        );
        let p = Self::with_target(what.to_owned(), visible);
        p.0.set_style(
            ProgressStyle::with_template("{spinner} {pos} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        p
    }

    /// Counts one more item.
    pub fn inc(&self) {
        self.0.inc(1);
    }

    /// Whether anything is drawn.
    #[cfg(test)]
    fn is_visible(&self) -> bool {
        !self.0.is_hidden()
    }
}

/// Whether a dump's counter is drawn: stderr is a terminal, stdout is not.
fn counter_visible(stderr_tty: bool, stdout_tty: bool) -> bool {
    stderr_tty && !stdout_tty
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_when_not_a_terminal() {
        let p = Progress::with_target("sending 3 flows".into(), false);
        assert!(!p.is_visible());
    }

    #[test]
    fn dump_counter_only_when_stdout_is_redirected_from_a_terminal() {
        assert!(counter_visible(true, false));
        assert!(!counter_visible(true, true));
        assert!(!counter_visible(false, false));
        assert!(!counter_visible(false, true));
        let p = Progress::with_target("flows".into(), false);
        p.inc();
        assert_eq!(p.0.position(), 1);
    }
}
