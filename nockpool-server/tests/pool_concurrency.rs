//! Many miners submitting at once: every share is counted exactly once, duplicates across
//! concurrent retries are caught, and nothing is lost or double-credited.

use futures::future::join_all;
use nockpool_core::proto::{RejectReason, WorkResult};
use nockpool_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_are_counted_once() {
    const MINERS: usize = 8;
    const SHARES: usize = 40;
    let devnet = devnet(None, 1 << 40);
    let pool = TestPool::start(builder(&devnet, 1)).await;
    let mut miners = Vec::new();
    for i in 0..MINERS {
        miners.push(RawMiner::connect(&pool.url(), &format!("rig-{i}"), None).await);
    }
    let tasks = miners.into_iter().map(|m| {
        tokio::spawn(async move {
            let mut results = Vec::new();
            let mut counter = 0;
            for _ in 0..SHARES {
                let (nonce, c) = share_not_block(&m.job, counter);
                counter = c + 1;
                let result = WorkResult {
                    connection_id: m.welcome.connection_id,
                    job_id: m.job.job_id.clone(),
                    nonce: nonce.limbs().to_vec(),
                    digest: Vec::new(),
                    submission_id: 0,
                    ..Default::default()
                };
                // The same share twice at once: exactly one is accepted.
                let mut a = m.client.clone();
                let mut b = m.client.clone();
                let (x, y) = tokio::join!(a.submit_work(result.clone()), b.submit_work(result));
                results.push((x.unwrap().into_inner(), y.unwrap().into_inner()));
            }
            drop(m);
            results
        })
    });
    let mut accepted = 0;
    for results in join_all(tasks).await {
        for (x, y) in results.unwrap() {
            assert!(x.accepted != y.accepted, "{x:?} {y:?}");
            let rejected = if x.accepted { &y } else { &x };
            assert_eq!(rejected.reason, RejectReason::Duplicate as i32);
            accepted += 1;
        }
    }
    assert_eq!(accepted, MINERS * SHARES);
    let snap = pool.handle.snapshot();
    let total: u64 = snap.workers.iter().map(|w| w.accepted).sum();
    let dups: u64 = snap
        .workers
        .iter()
        .map(|w| {
            w.rejected
                .get(&RejectReason::Duplicate)
                .copied()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(total as usize, MINERS * SHARES);
    assert_eq!(dups as usize, MINERS * SHARES);
    pool.stop().await.unwrap();
}
