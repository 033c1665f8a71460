//! `deploy/grafana/nockpool.json` queries only metrics the pool exports (Grafana cannot run
//! here, so this is what keeps the dashboard from rotting), and the systemd units keep their
//! promises (restart on failure, an env file).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use nockpool_server::{HttpConfig, PoolEvent};
use nockpool_testkit::{builder, devnet, grind, target_of, wait_for, RawMiner, TestPool};
use serde_json::Value;

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

/// Every `expr` in the dashboard (panels and template queries).
fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "query", Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// The `nockpool_…` names an expression uses.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("nockpool_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/metrics")
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn every_metric_the_grafana_dashboard_queries_is_exported() {
    let text = std::fs::read_to_string(deploy("grafana/nockpool.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    assert!(dashboard["panels"].as_array().unwrap().len() >= 8);
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    let used: BTreeSet<String> = all.iter().flat_map(|e| metric_names(e)).collect();
    assert!(used.len() >= 10, "{used:?}");

    // A pool with a worker, a share and a found block (empty families are not exposed).
    let dev = devnet(None, 16);
    let http =
        HttpConfig::new("127.0.0.1:0".parse().unwrap()).check_interval(Duration::from_millis(50));
    let pool = TestPool::start(builder(&dev, 1).http(Some(http))).await;
    let mut events = pool.handle.events();
    let addr = match pool.handle.http_addr() {
        Some(a) => a,
        None => match wait_for(&mut events, |e| {
            matches!(e, PoolEvent::HttpListening { .. })
        })
        .await
        {
            PoolEvent::HttpListening { addr } => addr,
            _ => unreachable!(),
        },
    };
    let mut miner = RawMiner::connect(&pool.url(), "rig", None).await;
    let network = target_of(&miner.job.network_target);
    let (block, _, _) = grind(&miner.job, 0, |d| d.meets(&network));
    assert!(miner.submit(block).await.block_candidate);
    let exposition = scrape(addr).await;
    drop(miner);
    pool.stop().await.unwrap();

    // The sample names each family exposes (OpenMetrics: counters end in _total, histograms
    // have _bucket/_sum/_count).
    let mut exported = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split(' ');
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        match kind {
            "counter" => {
                exported.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    exported.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                exported.insert(name.to_owned());
            }
        }
    }
    let missing: Vec<_> = used.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics the pool does not export: {missing:?}\n{exposition}"
    );
}

#[test]
fn the_systemd_units_restart_on_failure_and_read_an_env_file() {
    for unit in ["nockpool-pool-server.service", "nockpool-miner.service"] {
        let text = std::fs::read_to_string(deploy(&format!("systemd/{unit}"))).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for needed in ["[Service]", "Restart=on-failure", "[Install]"] {
            assert!(lines.contains(&needed), "{unit}: no {needed}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("EnvironmentFile=/etc/nockpool/")),
            "{unit}: no env file"
        );
        assert!(lines.iter().any(|l| l.starts_with("ExecStart=/")), "{unit}");
    }
}
