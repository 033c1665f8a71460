//! `CommandProver` against the test-only fake prover program, and `NodeSupervisor` against
//! small shell commands.

use std::time::Duration;

use nockpool_core::noun::Noun;
use nockpool_core::{Digest, Nonce};
use nockpool_nockchain::{
    BlockProver, CommandProver, NodeSupervisor, ProofOutcome, ProofRequest, SupervisorEvent,
};
use nockpool_testkit::{fake_prover, PATIENCE};

fn request() -> ProofRequest {
    let nonce = [10, 20, 30, 40, 50];
    let commitment = [1, 2, 3, 4, 5];
    ProofRequest {
        version: 5,
        commitment: Digest::new(commitment).unwrap(),
        nonce: Nonce::new(nonce).unwrap(),
        target: Noun::bignum(&[1, 2]),
        pow_len: 64,
        digest: Digest::new(nockpool_pow::v5::digest(&commitment, &nonce, 64)).unwrap(),
    }
}

#[test]
fn cause_is_the_spec_noun() {
    // nockchain-prover.md §2.2's example cause, with this request's values.
    let r = ProofRequest {
        nonce: Nonce::new([6, 7, 8, 9, 10]).unwrap(),
        ..request()
    };
    let hex: String = nockpool_core::noun::jam(&r.cause())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, "e116870c1de66461871f048324440bbc983b0e291c08");
}

#[tokio::test]
async fn a_good_proof_passes_the_sanity_check() {
    let request = request();
    let ProofOutcome::Proved(poke) = CommandProver::new(fake_prover("ok")).prove(&request).await
    else {
        panic!("the fake prover should prove");
    };
    request.check_poke(&poke).unwrap();
    // The same poke does not pass for another nonce or another digest.
    let other_nonce = ProofRequest {
        nonce: Nonce::new([1, 1, 1, 1, 1]).unwrap(),
        ..request.clone()
    };
    assert!(other_nonce.check_poke(&poke).is_err());
    let other_digest = ProofRequest {
        digest: Digest::new([7, 7, 7, 7, 7]).unwrap(),
        ..request
    };
    assert!(other_digest
        .check_poke(&poke)
        .unwrap_err()
        .contains("digest"));
}

/// Object 0's puzzle product `p` must be the product of the job's commitment and the winning
/// nonce (`nockchain-prover.md` §2.5): a prover that evaluated the puzzle with a zero nonce
/// (the superseded %5 draft) is caught before anything reaches the node.
#[tokio::test]
async fn a_wrong_puzzle_product_fails_the_sanity_check() {
    let r = request();
    let ProofOutcome::Proved(poke) = CommandProver::new(fake_prover("wrong-product"))
        .prove(&r)
        .await
    else {
        panic!("wrong-product still writes a well-formed poke");
    };
    let why = r.check_poke(&poke).unwrap_err();
    assert!(why.contains("product"), "{why}");
    // The good proof's product, with one belt changed or one dropped, fails too.
    let ProofOutcome::Proved(good) = CommandProver::new(fake_prover("ok")).prove(&r).await else {
        panic!("the fake prover should prove");
    };
    r.check_poke(&good).unwrap();
    let with_product = |edit: &dyn Fn(&mut Vec<Noun>)| {
        let parts = good.as_tuple::<7>().unwrap();
        let [version, objects, hashes, read_index] = parts[3].as_tuple().unwrap();
        let [tag, c, n, len, p] = objects.head().unwrap().as_tuple().unwrap();
        let mut product: Vec<Noun> = p.as_list().unwrap().into_iter().cloned().collect();
        edit(&mut product);
        let object0 = Noun::tuple(
            [tag, c, n, len]
                .map(Noun::clone)
                .into_iter()
                .chain([Noun::list(product)]),
        );
        let proof = Noun::tuple([
            version.clone(),
            Noun::cell(object0, objects.tail().unwrap().clone()),
            hashes.clone(),
            read_index.clone(),
        ]);
        let mut fields: Vec<Noun> = parts.iter().map(|n| (*n).clone()).collect();
        fields[3] = proof;
        Noun::tuple(fields)
    };
    let same = with_product(&|_| {});
    r.check_poke(&same).unwrap();
    let changed = with_product(&|p| p[7] = Noun::atom(p[7].as_u64().unwrap() ^ 1));
    assert!(r.check_poke(&changed).unwrap_err().contains("product"));
    let short = with_product(&|p| {
        p.pop();
    });
    assert!(r.check_poke(&short).unwrap_err().contains("product"));
    let reversed = with_product(&|p| p.reverse());
    assert!(r.check_poke(&reversed).unwrap_err().contains("product"));
}

#[tokio::test]
async fn exit_codes_garbage_and_wrong_output() {
    let r = request();
    assert_eq!(
        CommandProver::new(fake_prover("miss")).prove(&r).await,
        ProofOutcome::MissesTarget
    );
    assert!(matches!(
        CommandProver::new(fake_prover("fail")).prove(&r).await,
        ProofOutcome::Failed {
            retryable: true,
            ..
        }
    ));
    assert!(matches!(
        CommandProver::new(fake_prover("garbage")).prove(&r).await,
        ProofOutcome::Failed {
            retryable: false,
            ..
        }
    ));
    let ProofOutcome::Proved(poke) = CommandProver::new(fake_prover("wrong-nonce"))
        .prove(&r)
        .await
    else {
        panic!("wrong-nonce still writes a well-formed poke");
    };
    assert!(r.check_poke(&poke).unwrap_err().contains("nonce"));
    assert!(matches!(
        CommandProver::new("/nonexistent/prover-program")
            .prove(&r)
            .await,
        ProofOutcome::Failed { .. }
    ));
}

#[tokio::test]
async fn a_hanging_prover_is_stopped_at_the_timeout() {
    let prover = CommandProver::new(fake_prover("hang")).timeout(Duration::from_millis(300));
    let outcome = tokio::time::timeout(PATIENCE, prover.prove(&request()))
        .await
        .unwrap();
    assert_eq!(outcome, ProofOutcome::TimedOut(Duration::from_millis(300)));
}

async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<SupervisorEvent>,
) -> SupervisorEvent {
    tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("supervisor event")
        .expect("supervisor channel")
}

#[tokio::test]
async fn supervisor_restarts_a_dying_node_and_stops_cleanly() {
    let supervisor = NodeSupervisor::spawn_with(
        "echo node up; exit 3",
        Duration::from_millis(10),
        Duration::from_millis(50),
        Duration::from_secs(5),
    );
    let mut events = supervisor.events();
    for _ in 0..2 {
        assert!(matches!(
            next_event(&mut events).await,
            SupervisorEvent::Started { .. }
        ));
        assert_eq!(
            next_event(&mut events).await,
            SupervisorEvent::Exited { code: Some(3) }
        );
    }
    supervisor.stop().await;

    // A long-running node is terminated (SIGTERM) and the supervisor reports it stopped.
    let supervisor = NodeSupervisor::spawn_with(
        "sleep 600",
        Duration::from_millis(10),
        Duration::from_millis(50),
        Duration::from_secs(5),
    );
    let mut events = supervisor.events();
    assert!(matches!(
        next_event(&mut events).await,
        SupervisorEvent::Started { .. }
    ));
    tokio::time::timeout(PATIENCE, supervisor.stop())
        .await
        .unwrap();
    assert_eq!(next_event(&mut events).await, SupervisorEvent::Stopped);
}
