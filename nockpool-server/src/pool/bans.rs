//! Banned addresses: an IP whose connection sent too many invalid shares is refused for a
//! while (new streams and submissions alike).
//!
//! A leaf of the pool like accounting: it calls nothing else in it. [`super::shares`] decides
//! when to ban (through [`super::conns`]' per-connection count) and refuses submissions from
//! banned addresses; [`super::Pool`] refuses them at registration.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::sync::lock;
use crate::events::BanSnapshot;

struct Ban {
    until: Instant,
    until_wall: SystemTime,
    invalid_shares: u32,
}

#[derive(Default)]
struct Book {
    bans: HashMap<IpAddr, Ban>,
    total: u64,
}

/// Every address banned now, and how many bans there were since the pool started.
pub(super) struct Bans {
    duration: Duration,
    book: Mutex<Book>,
}

impl Bans {
    pub(super) fn new(duration: Duration) -> Bans {
        Bans {
            duration,
            book: Mutex::new(Book::default()),
        }
    }

    /// How long a ban lasts.
    pub(super) fn duration(&self) -> Duration {
        self.duration
    }

    /// Bans `ip` for the configured time from `now` (a ban in force is extended).
    pub(super) fn ban(&self, ip: IpAddr, invalid_shares: u32, now: Instant) -> BanSnapshot {
        let mut book = lock(&self.book);
        book.total += 1;
        let ban = Ban {
            until: now + self.duration,
            until_wall: SystemTime::now() + self.duration,
            invalid_shares,
        };
        let snapshot = BanSnapshot {
            ip,
            until: ban.until_wall,
            invalid_shares,
        };
        book.bans.insert(ip, ban);
        snapshot
    }

    /// When `ip`'s ban ends, if it is banned at `now`.
    pub(super) fn banned_until(&self, ip: IpAddr, now: Instant) -> Option<SystemTime> {
        let mut book = lock(&self.book);
        match book.bans.get(&ip) {
            Some(ban) if ban.until > now => Some(ban.until_wall),
            Some(_) => {
                book.bans.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// The bans in force at `now` (expired ones are forgotten), and the count since start.
    pub(super) fn snapshot(&self, now: Instant) -> (Vec<BanSnapshot>, u64) {
        let mut book = lock(&self.book);
        book.bans.retain(|_, ban| ban.until > now);
        let mut bans: Vec<BanSnapshot> = book
            .bans
            .iter()
            .map(|(&ip, ban)| BanSnapshot {
                ip,
                until: ban.until_wall,
                invalid_shares: ban.invalid_shares,
            })
            .collect();
        bans.sort_by_key(|b| b.ip);
        (bans, book.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_ends_after_its_duration() {
        let bans = Bans::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let ip: IpAddr = [10, 0, 0, 7].into();
        bans.ban(ip, 101, t0);
        assert!(bans
            .banned_until(ip, t0 + Duration::from_secs(59))
            .is_some());
        assert!(bans.banned_until([10, 0, 0, 8].into(), t0).is_none());
        let (list, total) = bans.snapshot(t0);
        assert_eq!((list.len(), list[0].invalid_shares, total), (1, 101, 1));
        assert!(bans
            .banned_until(ip, t0 + Duration::from_secs(61))
            .is_none());
        assert_eq!(bans.snapshot(t0 + Duration::from_secs(61)), (Vec::new(), 1));
    }
}
