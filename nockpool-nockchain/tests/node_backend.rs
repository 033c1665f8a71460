//! `NockchainNode` against the in-repo fake node (real gRPC on 127.0.0.1): start-up order,
//! candidates → templates, found block → prover → submit poke, verdicts, restarts, bad effects.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use nockpool_core::noun::Noun;
use nockpool_core::{
    BlockOutcome, BlockTemplate, ChainBackend, ChainError, FoundBlock, TemplateStream,
};
use nockpool_core::{Digest, MiningShare, Nonce};
use nockpool_nockchain::{BlockProver, CommandProver, NockchainNode, ProofOutcome, ProofRequest};
use nockpool_testkit::{fake_prover, Event, FakeNode, Script, Verdict, PATIENCE};

const PKH: &str = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV";

fn share() -> MiningShare {
    PKH.parse().unwrap()
}

fn node_for(fake: &FakeNode, prover: impl BlockProver) -> NockchainNode {
    NockchainNode::builder()
        .grpc(fake.url())
        .mining_share(share())
        .prover(prover)
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .confirm_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Waits for a template satisfying `pred` (the watch channel's own change notification).
async fn template_where(
    rx: &mut TemplateStream,
    pred: impl Fn(&BlockTemplate) -> bool,
) -> BlockTemplate {
    let found = tokio::time::timeout(PATIENCE, rx.wait_for(|t| t.as_ref().is_some_and(&pred)))
        .await
        .expect("timed out waiting for a template")
        .expect("template stream closed");
    found.clone().unwrap()
}

fn found_block(template: &BlockTemplate, nonce: [u64; 5]) -> FoundBlock {
    FoundBlock {
        template: template.clone(),
        nonce: Nonce::new(nonce).unwrap(),
        digest: v5_digest(template, nonce),
        worker: "rig-1".into(),
        found_at: SystemTime::now(),
    }
}

fn v5_digest(template: &BlockTemplate, nonce: [u64; 5]) -> Digest {
    let d = nockpool_pow::v5::digest(template.commitment.limbs(), &nonce, template.pow_len);
    Digest::new(d).unwrap()
}

fn is_poke(event: &Event, tag: &str) -> bool {
    matches!(event, Event::Poke { tags, .. } if tags.last().map(String::as_str) == Some(tag))
}

#[tokio::test]
async fn start_up_sequence_and_first_template() {
    let fake = FakeNode::start(Script::default()).await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    let template = template_where(&mut templates, |_| true).await;
    assert_eq!(
        Some(template.commitment.to_limbs()),
        fake.current_candidate()
    );
    assert_eq!(template.height, 42, "candidate height = tip (41) + 1");
    assert_eq!((template.version, template.pow_len), (5, 2));

    let events = fake.events();
    let first_poke = events
        .iter()
        .position(|e| matches!(e, Event::Poke { .. }))
        .unwrap();
    let watch = events
        .iter()
        .position(|e| matches!(e, Event::Watch(_)))
        .unwrap();
    let alive = events
        .iter()
        .position(|e| matches!(e, Event::Peek(_)))
        .unwrap();
    let key = events.iter().position(|e| is_poke(e, "setpubkey")).unwrap();
    let enable = events.iter().position(|e| is_poke(e, "enable")).unwrap();
    assert!(
        alive < watch && watch < first_poke,
        "peek, then subscribe, before any poke"
    );
    assert!(key < enable, "key before enabling");
    assert!(!events.iter().any(|e| matches!(e, Event::WouldExit(_))));
    let Event::Watch(filter) = &events[watch] else {
        unreachable!()
    };
    assert!(filter.contains(&"mine-zk".to_string()));
    // The exact key poke: v0 pass-through entry + the farm's pkh with share 1, on the
    // reference miner's wire.
    let Event::Poke { tags, noun } = &events[key] else {
        unreachable!()
    };
    assert_eq!(tags, &["zk-pow-miner", "1", "setpubkey"]);
    let [command, tag, v0, v1] = noun.as_tuple().unwrap();
    assert!(command.is_cord("command") && tag.is_cord("set-mining-key-advanced"));
    assert_eq!(v0.as_list().unwrap().len(), 1);
    let v1 = v1.as_list().unwrap();
    let [s, pkh] = v1[0].as_tuple().unwrap();
    assert_eq!((s.as_u64(), pkh.as_cord().as_deref()), (Some(1), Some(PKH)));

    let status = node.status().await.unwrap();
    assert!(status.connected);
    assert_eq!(status.height, Some(41));
    assert!(status.last_template_at.is_some());
    node.shutdown().await;
}

#[tokio::test]
async fn refuses_a_node_without_watch_effects_and_pokes_nothing() {
    let fake = FakeNode::start(Script {
        watch_supported: false,
        ..Script::default()
    })
    .await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    match node.wait_ready(PATIENCE).await {
        Err(ChainError::Unsupported { reason }) => {
            assert!(reason.contains("WatchEffects"), "{reason}")
        }
        other => panic!("expected an unsupported-node error, got {other:?}"),
    }
    // The pool server's start-up call reports the same error, one it refuses to start on.
    let refused = node.set_mining_addresses(&[share()]).await;
    assert!(matches!(refused, Err(ChainError::Unsupported { .. })));
    assert!(refused.is_err_and(|e| e.is_fatal()));
    assert!(fake.pokes().is_empty(), "sent {:?}", fake.pokes());
    let status = node.status().await.unwrap();
    assert!(status.warnings.iter().any(|w| w.contains("WatchEffects")));
    node.shutdown().await;
}

#[tokio::test]
async fn invalid_mining_addresses_never_reach_the_node() {
    let fake = FakeNode::start(Script::default()).await;
    let three = [share(), share(), share()];
    let built = NockchainNode::builder()
        .grpc(fake.url())
        .mining_share(share())
        .mining_share(share())
        .mining_share(share())
        .prover(CommandProver::new(fake_prover("ok")))
        .build();
    assert!(matches!(
        built,
        Err(ChainError::Config {
            setting: "mining address",
            ..
        })
    ));
    let node = NockchainNode::builder()
        .grpc(fake.url())
        .prover(CommandProver::new(fake_prover("ok")))
        .build()
        .unwrap();
    assert!(matches!(
        node.set_mining_addresses(&three).await,
        Err(ChainError::Config {
            setting: "mining address",
            ..
        })
    ));
    assert!(matches!(
        node.set_mining_addresses(&[]).await,
        Err(ChainError::Config {
            setting: "mining address",
            ..
        })
    ));
    // Without an address the node is probed and subscribed to, but never poked.
    node.wait_ready(PATIENCE).await.unwrap();
    assert!(fake.pokes().is_empty());
    node.set_mining_addresses(&[share()]).await.unwrap();
    let mut templates = node.templates().await.unwrap();
    template_where(&mut templates, |_| true).await;
    assert!(!fake
        .events()
        .iter()
        .any(|e| matches!(e, Event::WouldExit(_))));
    node.shutdown().await;
}

#[tokio::test]
async fn newer_candidate_replaces_the_template() {
    let fake = FakeNode::start(Script::default()).await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    let first = template_where(&mut templates, |_| true).await;
    let next = fake.refresh_candidate().unwrap();
    let second = template_where(&mut templates, |t| t.commitment.to_limbs() == next).await;
    assert_ne!(first.commitment, second.commitment);
    assert_eq!(second.height, first.height);
    node.shutdown().await;
}

#[tokio::test]
async fn found_block_is_proved_poked_and_accepted() {
    let fake = FakeNode::start(Script::default()).await;
    let data = tempfile::tempdir().unwrap();
    let node = NockchainNode::builder()
        .grpc(fake.url())
        .mining_share(share())
        .prover(CommandProver::new(fake_prover("ok")))
        .data_dir(data.path())
        .build()
        .unwrap();
    let mut templates = node.templates().await.unwrap();
    let template = template_where(&mut templates, |_| true).await;
    let nonce = [11, 22, 33, 44, 55];
    let outcome = node
        .submit_block(found_block(&template, nonce))
        .await
        .unwrap();
    let BlockOutcome::Accepted { block_id } = outcome else {
        panic!("expected acceptance, got {outcome:?}");
    };
    assert!(block_id.is_some());
    assert_eq!(fake.height(), 42);
    // Exactly one submission, with the exact noun shape, on the `mined` wire.
    let submissions: Vec<(Vec<String>, Noun)> = fake
        .pokes()
        .into_iter()
        .filter(|(tags, _)| tags.last().unwrap() == "mined")
        .collect();
    assert_eq!(submissions.len(), 1);
    let (tags, poke) = &submissions[0];
    assert_eq!(tags, &["zk-pow-miner", "1", "mined"]);
    let [command, pow, variant, prf, dig, commit, got_nonce] = poke.as_tuple().unwrap();
    assert!(command.is_cord("command") && pow.is_cord("pow") && variant.is_cord("dumb-zkpow"));
    assert_eq!(commit.as_belts(), Some(template.commitment.to_limbs()));
    assert_eq!(got_nonce.as_belts(), Some(nonce));
    assert_eq!(prf.head().and_then(Noun::as_u64), Some(5));
    let expected_dig = v5_digest(&template, nonce).to_u320().to_le_bytes();
    assert_eq!(*dig, Noun::from_le_bytes(&expected_dig));
    // The next candidate is for the next height.
    template_where(&mut templates, |t| t.height == 43).await;
    // Submitting the same block again is answered from the store, without a second poke.
    let again = node
        .submit_block(found_block(&template, nonce))
        .await
        .unwrap();
    assert!(matches!(again, BlockOutcome::Accepted { .. }));
    assert_eq!(
        fake.pokes()
            .iter()
            .filter(|(t, _)| t.last().unwrap() == "mined")
            .count(),
        1
    );
    node.shutdown().await;
}

#[tokio::test]
async fn refused_and_ignored_blocks_are_reported() {
    let fake = FakeNode::start(Script {
        verdict: Verdict::Refuse("failed-pow-check".into()),
        ..Script::default()
    })
    .await;
    let node = NockchainNode::builder()
        .grpc(fake.url())
        .mining_share(share())
        .prover(CommandProver::new(fake_prover("ok")))
        .confirm_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut templates = node.templates().await.unwrap();
    let template = template_where(&mut templates, |_| true).await;
    let outcome = node
        .submit_block(found_block(&template, [1, 2, 3, 4, 5]))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        BlockOutcome::Rejected {
            reason: "failed-pow-check".into()
        }
    );
    fake.set_verdict(Verdict::Ignore);
    let outcome = node
        .submit_block(found_block(&template, [6, 7, 8, 9, 10]))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, BlockOutcome::Rejected { reason } if reason.contains("neither")),
        "{outcome:?}"
    );
    node.shutdown().await;
}

/// A prover that never finishes and notes when the pool drops it.
struct StuckProver {
    started: Arc<tokio::sync::Notify>,
    dropped: Arc<AtomicBool>,
    calls: Arc<AtomicU32>,
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl BlockProver for StuckProver {
    async fn prove(&self, _request: &ProofRequest) -> ProofOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _flag = DropFlag(self.dropped.clone());
        self.started.notify_one();
        std::future::pending().await
    }
}

#[tokio::test]
async fn superseded_candidate_cancels_the_proof_and_stale_blocks_are_not_proved() {
    let fake = FakeNode::start(Script::default()).await;
    let started = Arc::new(tokio::sync::Notify::new());
    let dropped = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU32::new(0));
    let node = Arc::new(node_for(
        &fake,
        StuckProver {
            started: started.clone(),
            dropped: dropped.clone(),
            calls: calls.clone(),
        },
    ));
    let mut templates = node.templates().await.unwrap();
    let template = template_where(&mut templates, |_| true).await;
    let submitting = tokio::spawn({
        let node = node.clone();
        let block = found_block(&template, [3, 3, 3, 3, 3]);
        async move { node.submit_block(block).await }
    });
    tokio::time::timeout(PATIENCE, started.notified())
        .await
        .unwrap();
    assert_eq!(node.status().await.unwrap().proofs_in_flight, 1);
    fake.refresh_candidate().unwrap();
    let outcome = tokio::time::timeout(PATIENCE, submitting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(outcome, BlockOutcome::Stale);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the proof future was dropped"
    );
    assert_eq!(node.status().await.unwrap().proofs_in_flight, 0);
    // A block for the old candidate is stale at once: the prover is not even started.
    let outcome = node
        .submit_block(found_block(&template, [4, 4, 4, 4, 4]))
        .await
        .unwrap();
    assert_eq!(outcome, BlockOutcome::Stale);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!fake
        .pokes()
        .iter()
        .any(|(t, _)| t.last().unwrap() == "mined"));
    node.shutdown().await;
}

#[tokio::test]
async fn bad_prover_output_is_never_poked() {
    for mode in ["wrong-nonce", "garbage", "miss"] {
        let fake = FakeNode::start(Script::default()).await;
        let node = node_for(&fake, CommandProver::new(fake_prover(mode)));
        let mut templates = node.templates().await.unwrap();
        let template = template_where(&mut templates, |_| true).await;
        let outcome = node
            .submit_block(found_block(&template, [5, 5, 5, 5, 5]))
            .await
            .unwrap();
        assert!(
            matches!(outcome, BlockOutcome::Rejected { .. }),
            "{mode}: {outcome:?}"
        );
        assert!(
            !fake
                .pokes()
                .iter()
                .any(|(t, _)| t.last().unwrap() == "mined"),
            "{mode}: a bad proof was poked"
        );
        node.shutdown().await;
    }
}

#[tokio::test]
async fn node_restart_is_followed_by_key_subscribe_and_enable_again() {
    let mut fake = FakeNode::start(Script::default()).await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    let first = template_where(&mut templates, |_| true).await;
    fake.stop().await;
    fake.start_again().await;
    fake.wait_until("a second enable poke", |events| {
        events.iter().filter(|e| is_poke(e, "enable")).count() >= 2
    })
    .await;
    let events = fake.events();
    let watches: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::Watch(_)))
        .map(|(i, _)| i)
        .collect();
    let keys: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| is_poke(e, "setpubkey"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(watches.len(), 2);
    assert_eq!(keys.len(), 2);
    assert!(watches[1] < keys[1], "resubscribed before re-keying");
    let second = template_where(&mut templates, |t| t.commitment != first.commitment).await;
    assert_eq!(Some(second.commitment.to_limbs()), fake.current_candidate());
    node.shutdown().await;
}

#[tokio::test]
async fn malformed_effects_are_logged_and_skipped() {
    let fake = FakeNode::start(Script::default()).await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    let first = template_where(&mut templates, |_| true).await;
    // A corrupt jam, a %mine-zk with a missing field, one with an unbased commitment.
    fake.emit_raw(vec![0x0b]);
    fake.emit(&Noun::tuple([
        Noun::cord("mine-zk"),
        Noun::atom(5),
        Noun::atom(1),
    ]));
    fake.emit(&Noun::tuple([
        Noun::cord("mine-zk"),
        Noun::atom(5),
        Noun::belts(&[u64::MAX, 0, 0, 0, 0]),
        Noun::bignum(&[1]),
        Noun::atom(2),
    ]));
    let next = fake.refresh_candidate().unwrap();
    let second = template_where(&mut templates, |t| t.commitment.to_limbs() == next).await;
    assert_ne!(first.commitment, second.commitment);
    let status = node.status().await.unwrap();
    assert!(status.connected);
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.starts_with("3 malformed effect")),
        "{:?}",
        status.warnings
    );
    node.shutdown().await;
}

#[tokio::test]
async fn other_proof_versions_hand_out_no_work_and_say_why() {
    let fake = FakeNode::start(Script {
        version: 3,
        ..Script::default()
    })
    .await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    // The %3 candidate is announced as "no work" (the watch channel still signals it).
    tokio::time::timeout(PATIENCE, templates.changed())
        .await
        .unwrap()
        .unwrap();
    assert!(templates.borrow_and_update().is_none());
    let warned = node.status().await.unwrap();
    assert!(
        warned.warnings.iter().any(|w| w.contains("%3")),
        "{:?}",
        warned.warnings
    );
    assert!(warned.connected);
    // When the node moves to %5, work flows again.
    fake.set_version(5);
    fake.refresh_candidate().unwrap();
    let template = template_where(&mut templates, |_| true).await;
    assert_eq!(template.version, 5);
    node.shutdown().await;
}

/// Counts proofs, delegating to the fake prover program.
struct CountingProver {
    inner: CommandProver,
    calls: Arc<AtomicU32>,
}

#[async_trait]
impl BlockProver for CountingProver {
    async fn prove(&self, request: &ProofRequest) -> ProofOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.prove(request).await
    }
}

#[tokio::test]
async fn a_failed_block_poke_is_retried_without_proving_again() {
    let fake = FakeNode::start(Script::default()).await;
    let data = tempfile::tempdir().unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let node = NockchainNode::builder()
        .grpc(fake.url())
        .mining_share(share())
        .prover(CountingProver {
            inner: CommandProver::new(fake_prover("ok")),
            calls: calls.clone(),
        })
        .data_dir(data.path())
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap();
    let mut templates = node.templates().await.unwrap();
    let template = template_where(&mut templates, |_| true).await;
    let block = found_block(&template, [8, 8, 8, 8, 8]);
    // Within one submission: two refused pokes, then the node takes it.
    fake.fail_block_pokes(2);
    let outcome = node.submit_block(block.clone()).await.unwrap();
    assert!(
        matches!(outcome, BlockOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "proved once");
    node.shutdown().await;
    drop(node); // releases the data dir, like a pool server restart

    // Across submissions and a pool restart: the node stays unavailable for longer than one
    // submission's retries, the pool server's retry submits again, and the stored proof is
    // reused.
    let node = NockchainNode::builder()
        .grpc(fake.url())
        .mining_share(share())
        .prover(CountingProver {
            inner: CommandProver::new(fake_prover("ok")),
            calls: calls.clone(),
        })
        .data_dir(data.path())
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap();
    let mut templates = node.templates().await.unwrap();
    let template = template_where(&mut templates, |t| t.height == 43).await;
    let block = found_block(&template, [9, 9, 9, 9, 9]);
    fake.fail_block_pokes(100);
    let first = node.submit_block(block.clone()).await;
    assert!(
        matches!(first, Err(ChainError::Unavailable { .. })),
        "{first:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    fake.fail_block_pokes(0);
    let outcome = node.submit_block(block).await.unwrap();
    assert!(
        matches!(outcome, BlockOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the stored proof was reused"
    );
    node.shutdown().await;
}
