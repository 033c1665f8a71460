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
use nockpool_testkit::{fake_prover, Event, FakeNode, Layout, Script, Verdict, PATIENCE};

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
    for mode in ["wrong-nonce", "garbage", "miss", "wrong-product"] {
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
    // The likely cause is named: a chain below %5's activation height (or an old node).
    assert!(
        warned
            .warnings
            .iter()
            .any(|w| w.contains("%3") && w.contains("147,500")),
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

// ---- issue 11: mining the real chain safely -------------------------------------------------

fn is_peek_of(event: &Event, head: &str) -> bool {
    matches!(event, Event::Peek(path) if path.as_list().is_some_and(|items| {
        items.len() == 1 && items[0].is_cord(head)
    }))
}

fn is_heavy_n(event: &Event, height: u64) -> bool {
    matches!(event, Event::Peek(path) if path.as_list().is_some_and(|items| {
        items.len() == 2 && items[0].is_cord("heavy-n") && items[1].as_u64() == Some(height)
    }))
}

/// A peer's refused block (`%track %add X` + `%liar-block-id X`) is not ours: the pool keeps
/// waiting and learns the real outcome (here: the node accepts our block).
#[tokio::test]
async fn a_peers_liar_block_id_is_not_blamed_on_our_block() {
    let fake = FakeNode::start(Script {
        verdict: Verdict::Hold,
        ..Script::default()
    })
    .await;
    let node = Arc::new(node_for(&fake, CommandProver::new(fake_prover("ok"))));
    let mut templates = node.templates().await.unwrap();
    let template = template_where(&mut templates, |_| true).await;
    let submitting = tokio::spawn({
        let node = node.clone();
        let block = found_block(&template, [12, 12, 12, 12, 12]);
        async move { node.submit_block(block).await }
    });
    // The pool has poked the block and looked for it once at its height.
    fake.wait_until("the block poke and a first look at height 42", |events| {
        events.iter().any(|e| matches!(e, Event::Submission(_)))
            && events.iter().filter(|e| is_heavy_n(e, 42)).count() >= 1
    })
    .await;
    let peer = fake.peer_liar_block("failed-pow-check");
    // The pool looks again after any signal; then the node accepts our block.
    fake.wait_until("a second look at height 42", |events| {
        events.iter().filter(|e| is_heavy_n(e, 42)).count() >= 2
    })
    .await;
    assert!(fake.decide(Verdict::Accept));
    let outcome = tokio::time::timeout(PATIENCE, submitting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let BlockOutcome::Accepted { block_id } = &outcome else {
        panic!("a peer's %liar-block-id {peer:?} was blamed on our block: {outcome:?}");
    };
    assert_ne!(
        block_id.as_deref(),
        Some(Digest::new(peer).unwrap().to_base58().as_str())
    );
    node.shutdown().await;
}

/// `[%heaviest-chain ~]` answering `[~ ~]` keeps the last known tip: the template's height
/// stays 42 (not 0) and an accepted block is recognised at that height.
#[tokio::test]
async fn an_empty_heaviest_chain_answer_keeps_the_last_known_height() {
    let fake = FakeNode::start(Script::default()).await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    let first = template_where(&mut templates, |_| true).await;
    assert_eq!(first.height, 42);
    fake.set_heaviest_chain_empty(true);
    let next = fake.refresh_candidate().unwrap();
    let template = template_where(&mut templates, |t| t.commitment.to_limbs() == next).await;
    assert_eq!(template.height, 42, "the last known tip (41) + 1, never 0");
    let outcome = node
        .submit_block(found_block(&template, [21, 21, 21, 21, 21]))
        .await
        .unwrap();
    assert!(
        matches!(outcome, BlockOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    // The node's next candidate builds on our block.
    template_where(&mut templates, |t| t.height == 43).await;
    node.shutdown().await;
}

/// A block the node took just before the pool died (its ack never came) is confirmed from the
/// node after the restart — accepted, not labelled stale — and is not proved again.
#[tokio::test]
async fn a_block_taken_before_a_crash_is_confirmed_from_the_node_after_restart() {
    let fake = FakeNode::start(Script::default()).await;
    let data = tempfile::tempdir().unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let build = || {
        NockchainNode::builder()
            .grpc(fake.url())
            .mining_share(share())
            .prover(CountingProver {
                inner: CommandProver::new(fake_prover("ok")),
                calls: calls.clone(),
            })
            .data_dir(data.path())
            .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
            .confirm_timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    };
    let node = Arc::new(build());
    let mut templates = node.templates().await.unwrap();
    let template = template_where(&mut templates, |_| true).await;
    let block = found_block(&template, [31, 31, 31, 31, 31]);
    fake.hold_block_acks(true);
    let submitting = tokio::spawn({
        let node = node.clone();
        let block = block.clone();
        async move { node.submit_block(block).await }
    });
    fake.wait_until("the block poke", |events| {
        events.iter().any(|e| matches!(e, Event::Submission(_)))
    })
    .await;
    // The node took it (tip 42, a new candidate); the pool "dies" while waiting for the ack.
    assert_eq!(fake.height(), 42);
    submitting.abort();
    let _ = submitting.await;
    node.shutdown().await;
    drop(node);
    drop(templates);
    fake.hold_block_acks(false);

    let node = build();
    let mut templates = node.templates().await.unwrap();
    template_where(&mut templates, |t| t.height == 43).await;
    let outcome = node.submit_block(block).await.unwrap();
    let BlockOutcome::Accepted { block_id } = outcome else {
        panic!("a block the node accepted was labelled {outcome:?} after the restart");
    };
    assert!(block_id.is_some());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not proved again");
    node.shutdown().await;
}

const OLD_PKH: &str = "6ZrZeLnSVnGfa1ThpPS4BrazR7YUYbNAqiBGEhpjvwm4EymSmcqtSh4";

/// The node already mines for another key: its candidate pays that key, and a key poke does
/// not rebuild it. The pool hands out no work until the first candidate on a new tip, and
/// says why; a block for the old candidate is never poked.
#[tokio::test]
async fn after_a_key_change_no_work_until_a_candidate_on_a_new_tip() {
    let fake = FakeNode::start(Script {
        keys: vec![(1, OLD_PKH.into())],
        mining: true,
        ..Script::default()
    })
    .await;
    let old = fake.current_candidate().unwrap();
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    fake.wait_until("the enable poke", |events| {
        events.iter().any(|e| is_poke(e, "enable"))
    })
    .await;
    // The node re-emitted its old candidate (the fake is faithful to upstream here) …
    assert_eq!(fake.current_candidate(), Some(old));
    assert_eq!(fake.candidate_keys(), Some(vec![(1, OLD_PKH.to_string())]));
    // … and the first thing the pool announces is "no work", with the reason.
    tokio::time::timeout(PATIENCE, templates.changed())
        .await
        .unwrap()
        .unwrap();
    assert!(
        templates.borrow_and_update().is_none(),
        "work handed out for a candidate that pays the old key"
    );
    let status = node.status().await.unwrap();
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("mining key") && w.contains("next block")),
        "{:?}",
        status.warnings
    );
    // A block for the old candidate is not proved or poked.
    let stale = BlockTemplate {
        commitment: Digest::new(old).unwrap(),
        network_target: nockpool_core::Target::MAX,
        height: 42,
        version: 5,
        pow_len: 2,
        created_at: SystemTime::now(),
    };
    let outcome = node
        .submit_block(found_block(&stale, [41, 41, 41, 41, 41]))
        .await
        .unwrap();
    assert!(
        !matches!(outcome, BlockOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert!(!fake
        .events()
        .iter()
        .any(|e| matches!(e, Event::Submission(_))));
    // A peer's block: the node builds a candidate with the farm's key; work flows.
    fake.peer_block();
    let template = template_where(&mut templates, |_| true).await;
    assert_ne!(template.commitment.to_limbs(), old);
    assert_eq!(
        Some(template.commitment.to_limbs()),
        fake.current_candidate()
    );
    assert_eq!(fake.candidate_keys(), Some(vec![(1, PKH.to_string())]));
    assert_eq!(template.height, 43);
    let status = node.status().await.unwrap();
    assert!(
        !status.warnings.iter().any(|w| w.contains("mining key")),
        "{:?}",
        status.warnings
    );
    node.shutdown().await;
}

/// The node already pays our key: its current candidate is handed out at once.
#[tokio::test]
async fn a_node_already_paying_our_key_gets_work_at_once() {
    let fake = FakeNode::start(Script {
        keys: vec![(1, PKH.into())],
        mining: true,
        ..Script::default()
    })
    .await;
    let current = fake.current_candidate().unwrap();
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    let template = template_where(&mut templates, |_| true).await;
    assert_eq!(template.commitment.to_limbs(), current);
    node.shutdown().await;
}

/// Changing the farm's address while mining withdraws the work (the candidate pays the old
/// address) until a candidate on a new tip.
#[tokio::test]
async fn changing_the_address_at_run_time_withdraws_work_until_the_next_block() {
    let fake = FakeNode::start(Script::default()).await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    template_where(&mut templates, |_| true).await;
    let new: MiningShare = OLD_PKH.parse().unwrap();
    node.set_mining_addresses(&[new]).await.unwrap();
    tokio::time::timeout(PATIENCE, templates.wait_for(Option::is_none))
        .await
        .unwrap()
        .unwrap();
    // A refresh on the same tip still pays the old address: no work. (The pool checks the
    // tip for each held-back candidate: wait until it has looked.)
    let looks = |events: &[Event]| events.iter().filter(|e| is_peek_of(e, "heavy")).count();
    let before = looks(&fake.events());
    fake.refresh_candidate().unwrap();
    fake.wait_until("a tip check for the refreshed candidate", |events| {
        looks(events) > before
    })
    .await;
    assert!(templates.borrow().is_none());
    fake.peer_block();
    let template = template_where(&mut templates, |_| true).await;
    assert_eq!(template.height, 43);
    assert_eq!(fake.candidate_keys(), Some(vec![(1, OLD_PKH.to_string())]));
    node.shutdown().await;
}

fn is_disable(noun: &Noun) -> bool {
    noun.as_tuple::<3>().is_some_and(|[command, tag, flag]| {
        command.is_cord("command")
            && tag.is_cord("enable-mining")
            && flag.as_loobean() != Some(true)
    })
}

/// `enable-mining` is node-wide: the pool never turns mining off — not on shutdown, not when
/// the node goes away, not when it is dropped.
#[tokio::test]
async fn the_pool_never_turns_mining_off_for_the_node() {
    let mut fake = FakeNode::start(Script::default()).await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    template_where(&mut templates, |_| true).await;
    fake.stop().await;
    fake.start_again().await;
    fake.wait_until("a second enable poke", |events| {
        events.iter().filter(|e| is_poke(e, "enable")).count() >= 2
    })
    .await;
    node.shutdown().await;
    let second = node_for(&fake, CommandProver::new(fake_prover("ok")));
    second.wait_ready(PATIENCE).await.unwrap();
    fake.wait_until("a third enable poke", |events| {
        events.iter().filter(|e| is_poke(e, "enable")).count() >= 3
    })
    .await;
    drop(second);
    let pokes = fake.pokes();
    assert!(
        !pokes.iter().any(|(_, noun)| is_disable(noun)),
        "sent {pokes:?}"
    );
    for (_, noun) in pokes.iter().filter(|(t, _)| t.last().unwrap() == "enable") {
        assert_eq!(noun.as_tuple::<3>().unwrap()[2].as_loobean(), Some(true));
    }
}

/// A node whose `EffectMessage.effect` field number differs: every effect arrives empty. The
/// pool says so as an error naming the likely cause, in its status.
#[tokio::test]
async fn effects_that_never_decode_are_reported_as_a_layout_mismatch() {
    let fake = FakeNode::start(Script {
        layout: Layout::EmptyEffectBytes,
        ..Script::default()
    })
    .await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    node.wait_ready(PATIENCE).await.unwrap();
    fake.wait_until("the enable poke", |events| {
        events.iter().any(|e| is_poke(e, "enable"))
    })
    .await;
    for _ in 0..4 {
        fake.refresh_candidate().unwrap();
    }
    let status = wait_for_warning(&node, "EffectMessage.effect").await;
    assert!(
        status.iter().any(|w| w.contains("field number")),
        "{status:?}"
    );
    assert!(node.templates().await.unwrap().borrow().is_none());
    node.shutdown().await;
}

/// A node that ignored our head filter streams every effect: the pool says which field
/// number likely differs (and keeps mining).
#[tokio::test]
async fn effects_we_did_not_subscribe_to_are_reported_as_an_ignored_head_filter() {
    let fake = FakeNode::start(Script {
        layout: Layout::IgnoredHeadFilter,
        ..Script::default()
    })
    .await;
    let node = node_for(&fake, CommandProver::new(fake_prover("ok")));
    let mut templates = node.templates().await.unwrap();
    template_where(&mut templates, |_| true).await;
    fake.emit_chatter();
    let warnings = wait_for_warning(&node, "head_filter").await;
    assert!(
        warnings.iter().any(|w| w.contains("field number")),
        "{warnings:?}"
    );
    node.shutdown().await;
}

/// Waits (on the backend's own status, polled after each fake-node event) for a warning.
async fn wait_for_warning(node: &NockchainNode, needle: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let warnings = node.status().await.unwrap().warnings;
        if warnings.iter().any(|w| w.contains(needle)) {
            return warnings;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no warning containing {needle:?}: {warnings:?}"
        );
        // A bounded poll of a condition (the backend has no status-change signal).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
