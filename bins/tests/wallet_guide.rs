//! The original operator guide's balance command, word for word: `nockchain-wallet
//! --nockchain-socket ./nockchain.sock list-notes-by-pubkey -p <pubkey>`. No Nockchain node
//! serves the wallet over a Unix socket any more (upstream removed it on 2025-08-27), so the
//! wallet must answer with the replacement, exit non-zero, and contact nothing.

use std::net::TcpListener;
use std::process::{Command, Output};

const PUBKEY: &str = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV";

/// Runs the wallet with `args`, its node address pointed at a listener nobody else uses, and
/// checks that it never connected there.
fn wallet(args: &[&str]) -> Output {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_nockchain-wallet"))
        .args(args)
        .current_dir(scratch.path())
        .env(
            "NOCKCHAIN_GRPC",
            format!("http://{}", listener.local_addr().unwrap()),
        )
        .env(
            "NOCKCHAIN_WALLET_KEYSTORE",
            scratch.path().join("keys.json"),
        )
        .output()
        .unwrap();
    assert!(
        listener.accept().is_err(),
        "the wallet contacted a node: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn assert_names_the_replacement(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit 0: {stderr}");
    for needle in [
        "--nockchain-socket",
        "Unix socket",
        "2025-08-27",
        "--nockchain-grpc",
        "127.0.0.1:5555",
        "private",
    ] {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
}

#[test]
fn the_guides_socket_command_names_the_grpc_replacement() {
    let output = wallet(&[
        "--nockchain-socket",
        "./nockchain.sock",
        "list-notes-by-pubkey",
        "-p",
        PUBKEY,
    ]);
    assert_names_the_replacement(&output);
    // The renamed command is named too.
    assert!(String::from_utf8_lossy(&output.stderr).contains("list-notes-by-address"));
}

#[test]
fn the_socket_flag_after_the_subcommand_is_answered_the_same_way() {
    for args in [
        &[
            "list-notes-by-pubkey",
            "-p",
            PUBKEY,
            "--nockchain-socket",
            "./nockchain.sock",
        ][..],
        &["balance", PUBKEY, "--nockchain-socket=./nockchain.sock"][..],
    ] {
        assert_names_the_replacement(&wallet(args));
    }
}
