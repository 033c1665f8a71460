//! The test-only programs do what other crates' tests rely on (and, being integration tests,
//! make `cargo test --workspace` build them).

use std::io::Write;
use std::process::{Command, Stdio};

use nockpool_core::noun::{cue, jam, Noun};
use nockpool_core::{Digest, Nonce};
use nockpool_testkit::program_path;

fn prove(mode: &str, cause: &Noun) -> (Option<i32>, Vec<u8>) {
    let mut child = Command::new(program_path("nockpool-fake-prover"))
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&jam(cause)).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), out.stdout)
}

#[test]
fn fake_prover_follows_the_command_contract() {
    let commitment = [1, 2, 3, 4, 5];
    let nonce = [6, 7, 8, 9, 10];
    let cause = Noun::tuple([
        Noun::atom(5),
        Noun::belts(&commitment),
        Noun::belts(&nonce),
        Noun::bignum(&[1]),
        Noun::atom(64),
    ]);
    let (code, out) = prove("ok", &cause);
    assert_eq!(code, Some(0));
    let poke = cue(&out).unwrap();
    let [command, pow, variant, _prf, _dig, commit, got_nonce] = poke.as_tuple().unwrap();
    assert!(command.is_cord("command") && pow.is_cord("pow") && variant.is_cord("dumb-zkpow"));
    assert_eq!(commit.as_belts(), Some(commitment));
    assert_eq!(got_nonce.as_belts(), Some(nonce));
    // Object 0 carries the real puzzle product of this commitment and nonce…
    let product = |poke: &Noun| -> Vec<u64> {
        let [_, _, _, prf, _, _, _] = poke.as_tuple().unwrap();
        let object0 = prf.as_tuple::<4>().unwrap()[1].head().unwrap().clone();
        let p = object0.as_tuple::<5>().unwrap()[4].clone();
        p.as_list()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap())
            .collect()
    };
    let job = nockpool_pow::v5::V5Job::new(Digest::new(commitment).unwrap(), 64).unwrap();
    let real: Vec<u64> = job
        .trace(&Nonce::new(nonce).unwrap())
        .product
        .iter()
        .map(|b| b.value())
        .collect();
    assert_eq!(product(&poke), real);
    // … except in `wrong-product` mode, which evaluates the puzzle with a zero nonce.
    let (code, out) = prove("wrong-product", &cause);
    assert_eq!(code, Some(0));
    let wrong = product(&cue(&out).unwrap());
    assert_eq!(wrong.len(), 64);
    assert_ne!(wrong, real);
    assert_eq!(prove("miss", &cause).0, Some(2));
    assert_eq!(prove("fail", &cause).0, Some(1));
    let (code, garbage) = prove("garbage", &cause);
    assert_eq!(code, Some(0));
    assert!(cue(&garbage).is_err());
}

#[tokio::test]
async fn fake_node_program_serves_the_node_api() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut child = tokio::process::Command::new(program_path("nockpool-fake-node"))
        .arg(addr.to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // It says so once it serves.
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let first = tokio::time::timeout(nockpool_testkit::PATIENCE, lines.next_line())
        .await
        .expect("the fake node did not start")
        .unwrap()
        .unwrap();
    let url = format!("http://{addr}");
    assert!(first.ends_with(&url), "{first}");
    let client = nockpool_nockchain::NodeClient::connect(&url, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let answer = client
        .peek(&Noun::list([Noun::cord("heaviest-chain")]))
        .await
        .unwrap()
        .into_value()
        .unwrap();
    assert_eq!(answer.head().and_then(Noun::as_u64), Some(41));
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
