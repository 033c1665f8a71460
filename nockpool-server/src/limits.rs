//! Per-connection limits that keep one hostile or broken miner from affecting the rest.

use std::time::{Duration, Instant};

use nockpool_core::clean_peer_text;

use crate::ServerError;

/// Resource limits of a pool server.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Most simultaneous miner connections (default 4,096); more are refused.
    pub max_connections: usize,
    /// Most simultaneous miner connections from one IP address (default 64), so one host
    /// cannot fill the pool.
    pub max_connections_per_ip: usize,
    /// Sustained SubmitWork rate allowed per connection, per second (default 50).
    pub submits_per_second: f64,
    /// Burst of SubmitWork calls allowed above the sustained rate (default 100).
    pub submit_burst: u32,
    /// Largest protobuf message accepted from a miner, in bytes (default 16 KiB).
    pub max_message_bytes: usize,
    /// Messages queued towards one miner before it is considered stuck and dropped (default 64).
    pub outbound_queue: usize,
    /// How long a new stream may take to send its Hello (default 10 s).
    pub hello_timeout: Duration,
    /// Longest worker name kept (longer names are cut; default 64 characters).
    pub max_worker_name: usize,
    /// How long a closed connection's id and nonce prefix stay reserved, so that shares it sent
    /// just before disconnecting are still credited (default 10 min).
    pub closed_connection_retention: Duration,
    /// How long a new TCP connection may take to complete the HTTP/2 handshake (the client's
    /// preface and first frame) before it is closed (default 10 s). Real clients send both
    /// the moment they connect.
    pub handshake_timeout: Duration,
    /// Most connections from one IP address that have not completed the HTTP/2 handshake
    /// (default 128); more are closed at once. Above the number of miners behind one address
    /// that may connect at the same instant (a NAT'ed rack after a pool restart).
    pub max_handshaking_per_ip: usize,
    /// HTTP/2 keepalive: a ping is sent after this long without a frame from the miner
    /// (default 30 s).
    pub keepalive_interval: Duration,
    /// HTTP/2 keepalive: a miner that does not answer a ping within this is dropped as frozen
    /// or unreachable (default 20 s).
    pub keepalive_timeout: Duration,
    /// Most worker names remembered (in memory and in the data dir; default 10,000). Beyond
    /// it, names without a live connection are forgotten: those that never had a share
    /// accepted first, then those whose last share is oldest. Live workers are never
    /// forgotten.
    pub max_workers: usize,
    /// Invalid shares (low difficulty, malformed, duplicate, wrong prefix, unknown job) one
    /// connection may send within [`ban_window`](Limits::ban_window) (default 100); the next
    /// one cuts the connection and bans its IP address for
    /// [`ban_duration`](Limits::ban_duration). Stale shares never count.
    pub ban_invalid_shares: u32,
    /// The window invalid shares are counted in (default 60 s).
    pub ban_window: Duration,
    /// How long a banned address is refused (default 10 min).
    pub ban_duration: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_connections_per_ip: 64,
            submits_per_second: 50.0,
            submit_burst: 100,
            max_message_bytes: 16 * 1024,
            outbound_queue: 64,
            hello_timeout: Duration::from_secs(10),
            max_worker_name: 64,
            closed_connection_retention: Duration::from_secs(600),
            handshake_timeout: Duration::from_secs(10),
            max_handshaking_per_ip: 128,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
            max_workers: 10_000,
            ban_invalid_shares: 100,
            ban_window: Duration::from_secs(60),
            ban_duration: Duration::from_secs(600),
        }
    }
}

impl Limits {
    pub(crate) fn validate(&self) -> Result<(), ServerError> {
        let bad = |setting: &'static str, reason: &str| {
            Err(ServerError::Config {
                setting,
                reason: reason.into(),
            })
        };
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return bad(
                "limits.max_connections",
                "max_connections and max_connections_per_ip must be at least 1",
            );
        }
        if !(self.submits_per_second > 0.0 && self.submits_per_second.is_finite()) {
            return bad("limits.submits_per_second", "it must be a positive number");
        }
        if self.submit_burst == 0 {
            return bad("limits.submit_burst", "it must be at least 1");
        }
        if self.max_message_bytes < 1024 {
            return bad("limits.max_message_bytes", "it must be at least 1024");
        }
        if self.outbound_queue < 4 {
            return bad("limits.outbound_queue", "it must be at least 4");
        }
        if self.max_worker_name == 0 {
            return bad("limits.max_worker_name", "it must be at least 1");
        }
        if self.max_handshaking_per_ip == 0 {
            return bad(
                "limits.max_handshaking_per_ip",
                "it must be at least 1 (every miner starts with a handshake)",
            );
        }
        if self.max_workers == 0 {
            return bad("limits.max_workers", "it must be at least 1");
        }
        if self.ban_invalid_shares == 0 {
            return bad(
                "limits.ban_invalid_shares",
                "it must be at least 1 (a huge value practically turns bans off)",
            );
        }
        for (setting, value) in [
            ("limits.hello_timeout", self.hello_timeout),
            ("limits.handshake_timeout", self.handshake_timeout),
            ("limits.keepalive_interval", self.keepalive_interval),
            ("limits.keepalive_timeout", self.keepalive_timeout),
            ("limits.ban_window", self.ban_window),
            ("limits.ban_duration", self.ban_duration),
        ] {
            if value.is_zero() {
                return bad(setting, "it must be above zero");
            }
        }
        Ok(())
    }
}

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Clone, Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub(crate) fn new(rate: f64, burst: u32, now: Instant) -> RateLimiter {
        RateLimiter {
            rate,
            burst: burst as f64,
            tokens: burst as f64,
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn try_acquire(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Keeps a worker name printable and short ([`clean_peer_text`]: control characters become
/// `?`, the name is cut at `max` characters). An empty name becomes `"unnamed"`.
pub(crate) fn sanitize_worker_name(name: &str, max: usize) -> String {
    let cleaned = clean_peer_text(name.trim(), max);
    if cleaned.is_empty() {
        "unnamed".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10.0, 5, t0);
        assert_eq!((0..10).filter(|_| rl.try_acquire(t0)).count(), 5);
        // 0.25 s later: 2.5 tokens refilled.
        let t1 = t0 + Duration::from_millis(250);
        assert_eq!((0..10).filter(|_| rl.try_acquire(t1)).count(), 2);
        // Never more than the burst, however long the pause.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| rl.try_acquire(t2)).count(), 5);
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(sanitize_worker_name("  rig\n1 ", 64), "rig?1");
        assert_eq!(sanitize_worker_name("", 64), "unnamed");
        assert_eq!(sanitize_worker_name("abcdef", 3), "abc…");
        assert_eq!(sanitize_worker_name("a\x1b[31mb", 64), "a?[31mb");
    }
}
