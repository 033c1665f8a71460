//! Data dirs written by an earlier build open unchanged.
//!
//! The fixtures under `tests/fixtures/data-dir/` were written by the stock binaries of commit
//! 6377588 (before the crate split), see `tests/fixtures/data-dir/README.md`. Each test works on
//! a copy (redb opens its file for writing).

use std::path::Path;

use nockpool_core::{Digest, PubkeyHash};
use nockpool_server::{BlockOutcome, Devnet, DevnetMiner, PoolServer};

const PKH: &str = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV";

fn copy_of(name: &str) -> tempfile::TempDir {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/data-dir")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn pool_on(backend: Devnet, dir: &Path) -> PoolServer {
    PoolServer::builder()
        .backend(backend)
        .mining_address(PKH.parse::<PubkeyHash>().unwrap())
        .data_dir(dir)
        .build()
        .unwrap()
}

/// A devnet run: 5 blocks (2 found by the pool's one miner, 3 by the simulated competitor),
/// 10 accepted shares.
#[tokio::test]
async fn devnet_data_dir_opens_unchanged() {
    let dir = copy_of("devnet");
    let devnet = Devnet::builder().data_dir(dir.path()).open().unwrap();
    assert_eq!(devnet.height(), 5);
    assert_eq!(devnet.difficulty(), 5_493_926);
    let blocks = devnet.blocks().unwrap();
    let heights: Vec<u64> = blocks.iter().map(|b| b.height).collect();
    assert_eq!(heights, [1, 2, 3, 4, 5]);
    for pair in blocks.windows(2) {
        assert_eq!(pair[1].parent, pair[0].block_id);
    }
    let pool_mined: Vec<_> = blocks
        .iter()
        .filter(|b| matches!(&b.miner, DevnetMiner::Pool { worker } if worker == "fixture-rig"))
        .collect();
    assert_eq!(
        pool_mined.iter().map(|b| b.height).collect::<Vec<_>>(),
        [2, 5]
    );
    assert_eq!(devnet.current_template().map(|t| t.height), Some(6));

    let server = pool_on(devnet.clone(), dir.path());
    let snapshot = server.handle().snapshot();
    assert_eq!(snapshot.blocks_found, 2);
    let [worker] = snapshot.workers.as_slice() else {
        panic!("one worker expected: {:?}", snapshot.workers);
    };
    assert_eq!(worker.name, "fixture-rig");
    assert_eq!((worker.accepted, worker.accepted_work), (10, 4_646_961));
    assert_eq!(worker.blocks_found, 2);
    assert!(worker.rejected.is_empty());
    let ids = [
        "2CLu4XUM8tnmwucFUtNH52dQPbws1f2HNKLyNwZhJ7UTnsSYUxEcdax",
        "3yXzaejVxzaDmx4MV32LjwxwV7FHh5sWyejNeHvpvA4GgMRqi33maER",
    ];
    assert_eq!(snapshot.recent_blocks.len(), 2);
    for ((record, chain_block), id) in snapshot.recent_blocks.iter().zip(&pool_mined).zip(ids) {
        let block = &record.block;
        assert_eq!(
            record.outcome,
            Some(BlockOutcome::Accepted {
                block_id: Some(id.into())
            })
        );
        // The pool's record and the chain's block agree, and the digest is the nonce's.
        assert_eq!(block.template.height, chain_block.height);
        assert_eq!(Some(block.nonce), chain_block.nonce);
        assert_eq!(Some(block.digest), chain_block.pow_digest);
        assert_eq!(
            PubkeyHash::from_digest(chain_block.block_id).to_string(),
            id
        );
        let digest = nockpool_pow::v5::digest(
            block.template.commitment.limbs(),
            block.nonce.limbs(),
            block.template.pow_len,
        );
        assert_eq!(Digest::new(digest).unwrap(), block.digest);
        assert!(block.digest.meets(&block.template.network_target));
    }
    drop(server);
    devnet.close();
}

/// A node-backend run against the fake node: 161 found blocks on record (1 accepted,
/// 110 stale, 50 still pending at shutdown, to be resubmitted by the next run).
#[tokio::test]
async fn node_data_dir_pool_db_opens_unchanged() {
    let dir = copy_of("node");
    let server = pool_on(Devnet::builder().open().unwrap(), dir.path());
    let snapshot = server.handle().snapshot();
    assert_eq!(snapshot.blocks_found, 161);
    assert_eq!(snapshot.recent_blocks.len(), 50);
    let pending = snapshot
        .recent_blocks
        .iter()
        .filter(|r| r.outcome.is_none());
    assert_eq!(pending.count(), 41);
    let [worker] = snapshot.workers.as_slice() else {
        panic!("one worker expected: {:?}", snapshot.workers);
    };
    assert_eq!(worker.name, "fixture-node-rig");
    assert_eq!((worker.accepted, worker.blocks_found), (111, 111));
    assert_eq!(worker.rejected.values().sum::<u64>(), 14);
    for record in &snapshot.recent_blocks {
        let block = &record.block;
        assert_eq!(block.template.commitment.to_limbs()[1..], [42, 7, 8, 9]);
        let digest = nockpool_pow::v5::digest(
            block.template.commitment.limbs(),
            block.nonce.limbs(),
            block.template.pow_len,
        );
        assert_eq!(Digest::new(digest).unwrap(), block.digest);
    }
}
