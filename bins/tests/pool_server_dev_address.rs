//! `pool-server` on the devnet with no payee pays a generated development address; it is kept
//! in the data dir, so a restart pays the same one, even after a kill -9 (issue 10, item 4).

mod common;

use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(60);

fn dev_address(pool: &Proc) -> String {
    let line = pool.wait_line("generated development address ", LIMIT);
    line.split("generated development address ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn the_generated_development_address_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pool");
    let mut addresses = Vec::new();
    for run in 0..2 {
        let mut pool = Proc::spawn(
            &format!("pool-server#{run}"),
            pool_server(&data, "127.0.0.1:0"),
        );
        addresses.push(dev_address(&pool));
        listen_addr(&pool);
        // Kept from the start, not just at a clean stop.
        pool.signal("KILL");
        pool.wait_exit(LIMIT);
    }
    assert!(!addresses[0].is_empty());
    assert_eq!(addresses[0], addresses[1]);
}
