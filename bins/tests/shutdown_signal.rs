//! `shutdown_signal()` installs its handlers when it is called, before the server listens: a
//! signal that arrives before the future is first polled (a supervisor stopping the pool right
//! after "listening") must be caught and shut down gracefully. Before the fix the handlers were
//! installed on the first poll, and such a signal killed this test process outright.

use std::time::Duration;

/// Sends `signal` to this process and waits for `kill` to return (the signal is then pending
/// or handled).
fn raise(signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} failed");
}

#[tokio::test]
async fn a_signal_before_the_first_poll_is_caught() {
    for signal in ["-INT", "-TERM"] {
        let stop = nockpool_bins::shutdown_signal();
        raise(signal);
        tokio::time::timeout(Duration::from_secs(10), stop)
            .await
            .unwrap_or_else(|_| panic!("the {signal} sent before the first poll was not seen"));
    }
}
