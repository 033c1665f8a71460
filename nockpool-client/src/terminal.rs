//! The stats line drawn in place on a terminal: one line on stdout, rewritten at each report,
//! that log records (on stderr, the same terminal) step around instead of running into.
//!
//! The line is process-wide (one terminal): [`PoolClientBuilder::stats_on_terminal`] turns it
//! on for a client; a binary routes its log writer through [`around_status_line`].
//!
//! [`PoolClientBuilder::stats_on_terminal`]: crate::PoolClientBuilder::stats_on_terminal

use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard};

/// Return to the line's start and clear it (VT100; every terminal emulator in use has it).
const CLEAR_LINE: &str = "\r\x1b[2K";

/// The line currently drawn on stdout.
static DRAWN: Mutex<Option<String>> = Mutex::new(None);

fn drawn() -> MutexGuard<'static, Option<String>> {
    DRAWN.lock().unwrap_or_else(|p| p.into_inner())
}

/// What draws `line` in place of the one before.
fn draw_bytes(line: &str) -> String {
    format!("{CLEAR_LINE}{line}")
}

/// Draws `line` on stdout in place of the previous one (no newline).
pub(crate) fn draw(line: &str) {
    let mut current = drawn();
    let mut out = io::stdout().lock();
    let _ = out.write_all(draw_bytes(line).as_bytes());
    let _ = out.flush();
    *current = Some(line.to_owned());
}

/// Ends the line (a newline), so what is printed next starts on its own line.
pub(crate) fn finish() {
    if drawn().take().is_some() {
        let _ = writeln!(io::stdout());
    }
}

/// Runs `write_log` (which prints a log record on the terminal) with the stats line out of its
/// way: cleared before, drawn again after. Without a stats line it just runs `write_log`.
pub fn around_status_line<R>(write_log: impl FnOnce() -> R) -> R {
    let current = drawn();
    let Some(line) = current.as_deref() else {
        drop(current);
        return write_log();
    };
    let mut out = io::stdout().lock();
    let _ = out.write_all(CLEAR_LINE.as_bytes());
    let _ = out.flush();
    let result = write_log();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_draw_replaces_the_line() {
        assert_eq!(
            draw_bytes("accepted 1, rejected 0"),
            "\r\x1b[2Kaccepted 1, rejected 0"
        );
    }

    #[test]
    fn without_a_line_logs_pass_straight_through() {
        assert!(drawn().is_none());
        assert_eq!(around_status_line(|| 7), 7);
    }
}
