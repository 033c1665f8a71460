//! A block acked is a block stored, end to end (issue 10, item 1): a real `pool-server` whose
//! data dir is on a small filesystem that fills up while a real `miner` finds blocks, then
//! frees again; then the pool is killed with -9 and restarted. Every block the miner was told
//! is recorded ("pool acknowledged our block") must be on record afterwards, and no block may be
//! on record twice.
//!
//! The small filesystem is an 8 MiB tmpfs, which needs `mount` and the CAP_SYS_ADMIN
//! capability (root on a normal machine). Where the process lacks the capability the test
//! prints why and passes without running (a developer's laptop, an unprivileged CI
//! container); where it has it, mounting is expected to work and any failure fails the test,
//! in CI (`CI=true`) as anywhere. `NOCKPOOL_REQUIRE_DISK_TESTS=1` makes a missing capability
//! a failure too.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use nockpool_core::PubkeyHash;
use nockpool_server::{Devnet, PoolServer};

const LIMIT: Duration = Duration::from_secs(40);
const ACKED: &str = "pool acknowledged our block";
const FOUND: &str = "found a block candidate";
/// How the operating system's error reads in the pool's log when the disk is full.
const NO_SPACE: &str = "No space left on device";
/// How the pool's own storage errors begin (the devnet's read differently).
const POOL_STORAGE: &str = "pool storage error";

/// A log line saying the pool's database could not be written: the disk is full, or (a build
/// that keeps using the database after an I/O error) redb refuses it since.
fn pool_store_failed(line: &str) -> bool {
    line.contains(POOL_STORAGE)
        && (line.contains(NO_SPACE) || line.contains("Previous I/O error occurred"))
}

/// Whether this process may mount filesystems (CAP_SYS_ADMIN in its effective set).
fn may_mount() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 21) != 0)
}

/// A mounted tmpfs, unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    /// Mounts an 8 MiB tmpfs on `dir`; `None` (with the reason printed) where this process
    /// cannot mount, unless mounting is expected to work here.
    fn mount(dir: &Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let result = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "nockpool-test"])
            .arg(dir)
            .output();
        let error = match result {
            Ok(out) if out.status.success() => {
                return Some(SmallDisk {
                    dir: dir.to_owned(),
                })
            }
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            Err(e) => format!("cannot run mount: {e}"),
        };
        let required = std::env::var("NOCKPOOL_REQUIRE_DISK_TESTS").is_ok_and(|v| v == "1");
        if may_mount() || required {
            panic!(
                "cannot mount a tmpfs for the disk-full test, though it should work here: {error}"
            );
        }
        eprintln!(
            "SKIPPED disk_full: this process may not mount filesystems (no CAP_SYS_ADMIN: {error}); \
             run the tests as root to run it"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            eprintln!("::warning::the disk-full + kill -9 test did not run (no CAP_SYS_ADMIN)");
        }
        None
    }

    /// Writes a file until the filesystem is full; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 64 * 1024];
        let mut small = [0xa5u8; 512];
        while file.write_all(&chunk).is_ok() {}
        // The last pages, too.
        while file.write_all(&small[..]).is_ok() {
            small[0] ^= 1;
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pool(data: &Path, listen: &str, name: &str) -> Proc {
    let mut command = pool_server(data, listen);
    // A block a second or so once the devnet has retargeted: a few blocks per phase.
    command.args([
        "--pubkey",
        TEST_ADDRESS,
        "--devnet-difficulty",
        "20000",
        "--devnet-block-time",
        "1",
    ]);
    Proc::spawn(name, command)
}

/// The digests in the lines that contain `text` (`digest=[0x.. ..]`).
fn digests(lines: &[String], text: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains(text))
        .filter_map(|l| {
            let start = l.find("digest=[")? + "digest=".len();
            let end = start + l[start..].find(']')? + 1;
            Some(l[start..end].to_owned())
        })
        .collect()
}

#[test]
fn blocks_acked_while_the_disk_fills_and_frees_survive_a_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&tmp.path().join("disk")) else {
        return;
    };
    let data = disk.dir.join("pool");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut first = pool(&data, &listen, "pool-server");
    listen_addr(&first);
    let mut miner = Proc::spawn("miner", {
        let mut command = Command::new(env!("CARGO_BIN_EXE_miner"));
        command
            .args([
                listen.as_str(),
                "-t",
                "1",
                "--worker",
                "disk-test",
                "-l",
                "info",
            ])
            .current_dir(tmp.path())
            .env_remove("POOL_TOKEN")
            .env_remove("RUST_LOG");
        command
    });

    // Blocks are recorded while there is space.
    miner.wait_count(ACKED, 2, LIMIT);
    // The disk fills up. Writes into pages a database file already has still succeed; once
    // one needs a new page it fails, and the miner goes on finding blocks.
    let found = miner.count(FOUND);
    let filler = disk.fill();
    first.wait_until(
        "a pool database write to fail on the full disk",
        LIMIT,
        |lines| lines.iter().any(|l| pool_store_failed(l)),
    );
    let at_failure = miner.count(FOUND);
    miner.wait_count(FOUND, at_failure + 2, LIMIT);
    let found_while_full = miner.count(FOUND) - found;
    // Space again: blocks are recorded again (the ones found meanwhile, and new ones).
    std::fs::remove_file(&filler).unwrap();
    let acked = miner.count(ACKED);
    miner.wait_count(ACKED, acked + 2, LIMIT);

    // Killed, restarted on the same data dir and address; the miner comes back to it.
    first.signal("KILL");
    first.wait_exit(LIMIT);
    let mut second = pool(&data, &listen, "pool-server#2");
    listen_addr(&second);
    let acked = miner.count(ACKED);
    miner.wait_count(ACKED, acked + 1, LIMIT);
    miner.signal("TERM");
    miner.wait_exit(LIMIT);
    second.signal("TERM");
    second.wait_exit(LIMIT);

    // What the miner was told, against what is on record.
    let told: Vec<String> = digests(&miner.lines(), ACKED);
    let server = PoolServer::builder()
        .backend(Devnet::builder().open().unwrap())
        .mining_address(TEST_ADDRESS.parse::<PubkeyHash>().unwrap())
        .data_dir(&data)
        .build()
        .unwrap();
    let snapshot = server.handle().snapshot();
    assert!(
        snapshot.blocks_found as usize <= snapshot.recent_blocks.len(),
        "more blocks on record ({}) than a snapshot lists: lower the test's block rate",
        snapshot.blocks_found
    );
    let recorded: Vec<String> = snapshot
        .recent_blocks
        .iter()
        .map(|r| r.block.digest.to_string())
        .collect();
    let on_record: HashSet<&String> = recorded.iter().collect();
    let told_set: HashSet<&String> = told.iter().collect();
    let missing: Vec<&&String> = told_set.difference(&on_record).collect();
    let pool_lines = [first.lines(), second.lines()].concat();
    let storage_failures = pool_lines.iter().filter(|l| pool_store_failed(l)).count();
    println!(
        "disk-full run: {} blocks found ({found_while_full} while the disk was full), {} acks \
         ({} blocks) to the miner, {} blocks on record after the kill -9 and restart, {} acked \
         blocks not on record, {} recorded twice, {storage_failures} pool log lines about its database on the full disk",
        miner.count(FOUND),
        told.len(),
        told_set.len(),
        recorded.len(),
        missing.len(),
        recorded.len() - on_record.len(),
    );
    assert!(missing.is_empty(), "acked but not on record: {missing:?}");
    assert_eq!(recorded.len(), on_record.len(), "a block recorded twice");
    assert!(
        storage_failures > 0,
        "the pool's storage never failed: the test did not exercise a full disk"
    );
    drop(server);
}
