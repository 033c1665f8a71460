//! [`ReopeningDb`]: a redb database that survives its own write errors.
//!
//! After an I/O error (a full disk, say) redb refuses every later transaction ("Previous I/O
//! error occurred. Please close and re-open the database"). A pool that keeps that handle can
//! never record anything again until it is restarted. So a failed operation here drops the
//! handle, and the next operation (or [`ReopeningDb::probe`]) opens the file afresh, which also
//! runs redb's repair of an interrupted commit. The state is kept as a [`StorageHealth`]:
//! failing from the first error until a write succeeds again, logged at each change.
//!
//! While the disk stays broken, reopening on every operation would turn each share and each
//! probe into an open (and a repair attempt) of the file: reopen attempts are at least
//! [`REOPEN_INTERVAL`] apart, and an operation in between fails at once with the last error.
//!
//! Both databases of a data dir use it: the pool's store and the devnet chain.

use std::fmt::Display;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use redb::Database;
use tokio::time::Instant;

use crate::events::StorageHealth;

/// The least time between two attempts to reopen a broken database.
pub(crate) const REOPEN_INTERVAL: Duration = Duration::from_secs(1);

/// Opens the database (creating its tables); called again after every failure.
pub(crate) type Opener = Box<dyn Fn() -> Result<Database, String> + Send + Sync>;

/// Called with the new health when it changes.
type OnChange = Box<dyn Fn(&StorageHealth) + Send + Sync>;

/// Why an operation did not run, or failed.
#[derive(Debug)]
pub(crate) enum DbFailure<E> {
    /// [`ReopeningDb::close`] was called.
    Closed,
    /// An earlier failure closed the database and it cannot be opened again yet.
    Unavailable(String),
    /// The operation failed (the database is reopened before the next one).
    Failed(E),
}

impl<E: Display> Display for DbFailure<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbFailure::Closed => f.write_str("the database is closed"),
            DbFailure::Unavailable(e) => write!(f, "the database cannot be reopened yet: {e}"),
            DbFailure::Failed(e) => e.fmt(f),
        }
    }
}

enum Slot {
    Open(Database),
    /// Dropped after a failure; reopened by the next operation.
    Broken,
    Closed,
}

/// A redb database that is reopened after a failure (see the module docs).
pub(crate) struct ReopeningDb {
    /// What it is, for the log ("pool database at ./data/pool/pool.redb").
    name: String,
    /// `None` for an in-memory database, which is never dropped (its data would go with it).
    opener: Option<Opener>,
    slot: Mutex<Slot>,
    /// When the database was last reopened (or tried to be), on the tokio clock.
    last_reopen: Mutex<Option<Instant>>,
    reopen_interval: Duration,
    health: Mutex<StorageHealth>,
    on_change: OnChange,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ReopeningDb {
    /// Opens the database with `opener`, which is kept to open it again after a failure.
    pub(crate) fn open(name: String, opener: Opener) -> Result<ReopeningDb, String> {
        let db = opener()?;
        Ok(ReopeningDb {
            name,
            opener: Some(opener),
            slot: Mutex::new(Slot::Open(db)),
            last_reopen: Mutex::new(None),
            reopen_interval: REOPEN_INTERVAL,
            health: Mutex::new(StorageHealth::Ok),
            on_change: Box::new(|_| {}),
        })
    }

    /// A database that lives in memory: never reopened.
    pub(crate) fn in_memory(name: String, db: Database) -> ReopeningDb {
        ReopeningDb {
            name,
            opener: None,
            slot: Mutex::new(Slot::Open(db)),
            last_reopen: Mutex::new(None),
            reopen_interval: REOPEN_INTERVAL,
            health: Mutex::new(StorageHealth::Ok),
            on_change: Box::new(|_| {}),
        }
    }

    /// Calls `on_change` with the new health at each change from now on.
    pub(crate) fn on_change(
        mut self,
        on_change: impl Fn(&StorageHealth) + Send + Sync + 'static,
    ) -> Self {
        self.on_change = Box::new(on_change);
        self
    }

    /// Sets the least time between reopen attempts (default [`REOPEN_INTERVAL`]; tests of
    /// what a broken disk does to the pool use zero, to reopen on each operation).
    #[cfg(test)]
    pub(crate) fn reopen_interval(mut self, interval: Duration) -> Self {
        self.reopen_interval = interval;
        self
    }

    /// The state of the last write.
    pub(crate) fn health(&self) -> StorageHealth {
        lock(&self.health).clone()
    }

    /// Runs a read-only operation.
    pub(crate) fn read<T, E: Display>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, E>,
    ) -> Result<T, DbFailure<E>> {
        self.run(false, f)
    }

    /// Runs an operation that writes; its success makes the health good again.
    pub(crate) fn write<T, E: Display>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, E>,
    ) -> Result<T, DbFailure<E>> {
        self.run(true, f)
    }

    /// When writes are failing: reopens the database and tries `write` (a small write), so the
    /// health recovers once the disk does, without waiting for the next real write.
    pub(crate) fn probe<E: Display>(&self, write: impl FnOnce(&Database) -> Result<(), E>) {
        if matches!(self.health(), StorageHealth::Failing { .. }) {
            let _ = self.write(write);
        }
    }

    /// Closes the file for good; later operations fail with [`DbFailure::Closed`].
    pub(crate) fn close(&self) {
        *lock(&self.slot) = Slot::Closed;
    }

    fn run<T, E: Display>(
        &self,
        writes: bool,
        f: impl FnOnce(&Database) -> Result<T, E>,
    ) -> Result<T, DbFailure<E>> {
        let mut slot = lock(&self.slot);
        if matches!(*slot, Slot::Broken) {
            let opener = self.opener.as_ref().ok_or(DbFailure::Closed)?;
            let now = Instant::now();
            {
                let mut last = lock(&self.last_reopen);
                if let Some(at) = *last {
                    if now.saturating_duration_since(at) < self.reopen_interval {
                        let error = match self.health() {
                            StorageHealth::Failing { error, .. } => error,
                            StorageHealth::Ok => "an earlier failure".into(),
                        };
                        return Err(DbFailure::Unavailable(format!(
                            "{error} (the next reopen is tried within {:?})",
                            self.reopen_interval
                        )));
                    }
                }
                *last = Some(now);
            }
            match opener() {
                Ok(db) => {
                    tracing::info!("{}: reopened after the earlier failure", self.name);
                    *slot = Slot::Open(db);
                }
                Err(e) => {
                    self.failing(&e);
                    return Err(DbFailure::Unavailable(e));
                }
            }
        }
        let Slot::Open(db) = &*slot else {
            return Err(DbFailure::Closed);
        };
        match f(db) {
            Ok(value) => {
                if writes {
                    self.healthy();
                }
                Ok(value)
            }
            Err(e) => {
                if self.opener.is_some() {
                    // redb refuses everything after an I/O error until it is reopened.
                    *slot = Slot::Broken;
                }
                self.failing(&e);
                Err(DbFailure::Failed(e))
            }
        }
    }

    fn failing(&self, error: &dyn Display) {
        let mut health = lock(&self.health);
        if let StorageHealth::Failing { error: last, .. } = &mut *health {
            *last = error.to_string();
            return;
        }
        *health = StorageHealth::Failing {
            since: SystemTime::now(),
            error: error.to_string(),
        };
        tracing::error!(
            "{} failed: {error}; it is reopened once writes succeed again",
            self.name
        );
        (self.on_change)(&health);
    }

    fn healthy(&self) {
        let mut health = lock(&self.health);
        if *health == StorageHealth::Ok {
            return;
        }
        *health = StorageHealth::Ok;
        tracing::info!("{} recovered: writes succeed again", self.name);
        (self.on_change)(&health);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use redb::TableDefinition;

    use super::testing::{test_disk_opener, TestDisk};
    use super::*;

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    fn put(db: &Database) -> Result<(), String> {
        let tx = db.begin_write().map_err(|e| e.to_string())?;
        tx.open_table(T)
            .map_err(|e| e.to_string())?
            .insert(1, 2)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())
    }

    /// While the disk stays full, the database is reopened at most once per
    /// [`REOPEN_INTERVAL`], not on every operation; operations in between fail at once with the
    /// last error; once the disk is back, the first reopen after the interval recovers.
    #[tokio::test(start_paused = true)]
    async fn reopen_attempts_are_rate_limited_while_the_disk_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let disk = TestDisk::default();
        let inner = test_disk_opener(&dir.path().join("t.redb"), disk.clone(), |_| Ok(()));
        let opens = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&opens);
        let opener: Opener = Box::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            inner()
        });
        let db = ReopeningDb::open("test database".into(), opener).unwrap();
        assert_eq!(opens.load(Ordering::SeqCst), 1);
        db.write(put).unwrap();

        disk.set_full(true);
        assert!(matches!(db.write(put), Err(DbFailure::Failed(_))));
        // The first operation after the failure reopens at once (a passing fault recovers
        // without delay)...
        assert!(db.write(put).is_err());
        assert_eq!(opens.load(Ordering::SeqCst), 2);
        // ...but not the many that follow within the interval.
        for _ in 0..100 {
            match db.write(put) {
                Err(DbFailure::Unavailable(why)) => assert!(why.contains("next reopen"), "{why}"),
                other => panic!("expected a fast failure, got {other:?}"),
            }
            db.probe(put);
        }
        assert_eq!(opens.load(Ordering::SeqCst), 2);
        tokio::time::advance(REOPEN_INTERVAL / 2).await;
        assert!(db.write(put).is_err());
        assert_eq!(opens.load(Ordering::SeqCst), 2);

        // One interval after the last attempt: one more attempt, still full.
        tokio::time::advance(REOPEN_INTERVAL / 2).await;
        assert!(db.write(put).is_err());
        assert_eq!(opens.load(Ordering::SeqCst), 3);

        // The disk is back: the next allowed reopen recovers, and writes go through again.
        disk.set_full(false);
        assert!(db.write(put).is_err(), "still within the interval");
        tokio::time::advance(REOPEN_INTERVAL).await;
        db.probe(put);
        assert_eq!(db.health(), StorageHealth::Ok);
        assert_eq!(opens.load(Ordering::SeqCst), 4);
        db.write(put).unwrap();
        assert_eq!(opens.load(Ordering::SeqCst), 4);
    }
}

/// A storage backend that fails or stalls on demand, for tests of what a full or slow disk does.
#[cfg(test)]
pub(crate) mod testing {
    use std::fs::File;
    use std::ops::Bound;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use redb::backends::FileBackend;
    use redb::{BackendError, Database, StorageBackend};

    use super::Opener;

    #[derive(Debug, Default)]
    struct Stall {
        on: bool,
        timed_out: bool,
    }

    #[derive(Debug, Default)]
    struct DiskState {
        full: AtomicBool,
        stall: Mutex<Stall>,
        changed: Condvar,
        stalled: tokio::sync::Notify,
    }

    /// The switches of a test disk: full (every write, resize and sync fails as on a full
    /// disk) and stalled (every sync waits until released).
    #[derive(Clone, Debug, Default)]
    pub(crate) struct TestDisk(Arc<DiskState>);

    impl TestDisk {
        pub(crate) fn set_full(&self, full: bool) {
            self.0.full.store(full, Ordering::SeqCst);
        }

        /// From now on a sync waits until [`TestDisk::release`].
        pub(crate) fn stall(&self) {
            self.0.stall.lock().unwrap().on = true;
        }

        pub(crate) fn release(&self) {
            self.0.stall.lock().unwrap().on = false;
            self.0.changed.notify_all();
        }

        /// Resolves once a sync is waiting on the stall.
        pub(crate) async fn stalled(&self) {
            self.0.stalled.notified().await;
        }

        /// Releases the stall after `timeout` unless it is released earlier (a bound on a test
        /// that would otherwise hang); [`TestDisk::timed_out`] then says so.
        pub(crate) fn release_after(&self, timeout: Duration) -> std::thread::JoinHandle<()> {
            let disk = self.clone();
            std::thread::spawn(move || {
                let stall = disk.0.stall.lock().unwrap();
                let (mut stall, _) = disk
                    .0
                    .changed
                    .wait_timeout_while(stall, timeout, |s| s.on)
                    .unwrap();
                if stall.on {
                    stall.on = false;
                    stall.timed_out = true;
                    disk.0.changed.notify_all();
                }
            })
        }

        pub(crate) fn timed_out(&self) -> bool {
            self.0.stall.lock().unwrap().timed_out
        }

        fn check_full(&self) -> Result<(), std::io::Error> {
            if self.0.full.load(Ordering::SeqCst) {
                Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "No space left on device (test)",
                ))
            } else {
                Ok(())
            }
        }

        fn wait_if_stalled(&self) {
            let mut stall = self.0.stall.lock().unwrap();
            if stall.on {
                self.0.stalled.notify_one();
            }
            while stall.on {
                stall = self.0.changed.wait(stall).unwrap();
            }
        }
    }

    /// A file backend behind a [`TestDisk`].
    #[derive(Debug)]
    pub(crate) struct TestBackend {
        inner: FileBackend,
        disk: TestDisk,
    }

    impl StorageBackend for TestBackend {
        fn len(&self) -> Result<u64, std::io::Error> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
            self.disk.check_full()?;
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> Result<(), std::io::Error> {
            self.disk.check_full()?;
            self.disk.wait_if_stalled();
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
            self.disk.check_full()?;
            self.inner.write(offset, data)
        }
        fn close(&self) -> Result<(), std::io::Error> {
            self.inner.close()
        }
        fn try_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
            self.inner.try_lock_range(s, e)
        }
        fn try_lock_shared_range(
            &self,
            s: Bound<u64>,
            e: Bound<u64>,
        ) -> Result<bool, BackendError> {
            self.inner.try_lock_shared_range(s, e)
        }
        fn lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
            self.inner.lock_range(s, e)
        }
        fn lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
            self.inner.lock_shared_range(s, e)
        }
        fn unlock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
            self.inner.unlock_range(s, e)
        }
        fn query_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
            self.inner.query_lock_range(s, e)
        }
    }

    /// Opens `path` on a [`TestDisk`] (and runs `init`, e.g. creating tables).
    pub(crate) fn test_disk_opener(
        path: &Path,
        disk: TestDisk,
        init: fn(&Database) -> Result<(), String>,
    ) -> Opener {
        let path: PathBuf = path.to_owned();
        Box::new(move || {
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| e.to_string())?;
            let backend = TestBackend {
                inner: FileBackend::new(file).map_err(|e| e.to_string())?,
                disk: disk.clone(),
            };
            let db = Database::builder()
                .create_with_backend(backend)
                .map_err(|e| e.to_string())?;
            init(&db)?;
            Ok(db)
        })
    }
}
