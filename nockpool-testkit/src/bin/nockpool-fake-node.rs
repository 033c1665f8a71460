//! TEST-ONLY: the in-repo fake Nockchain node (`nockpool_testkit::FakeNode`) as a program, so tests
//! and demos can run `pool-server --backend node --node-cmd "nockpool-fake-node ADDR"` without
//! a real node. It is a scripted simulation (every digest is a block, every well-formed block
//! for the current candidate is accepted), not Nockchain.
//!
//! Usage: `nockpool-fake-node [ADDR]` (default `127.0.0.1:5555`); stops on SIGINT/SIGTERM.

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5555".into());
    let Ok(addr) = addr.parse() else {
        eprintln!("usage: nockpool-fake-node [IP:PORT]");
        std::process::exit(2);
    };
    let mut node =
        nockpool_testkit::FakeNode::start_on(addr, nockpool_testkit::Script::default()).await;
    println!(
        "fake Nockchain node (TEST-ONLY simulation) serving {}",
        node.url()
    );
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot watch SIGTERM: {e}");
            std::process::exit(1);
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    println!("fake Nockchain node stopping");
    node.stop().await;
}
