//! The dashboard in a real headless browser (Debian's `chromium`): a pool with real miners, one
//! worker gone offline, the page rendered with `--dump-dom` after its polls ran.
//!
//! Without chromium the test is skipped, except under `CI=true`, where it fails. Set
//! `NOCKPOOL_SCREENSHOT=/path/shot.png` to also keep a screenshot of the page.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nockpool_client::PoolClient;
use nockpool_server::{HttpConfig, PoolEvent};
use nockpool_testkit::{
    builder, devnet, share_not_block, v5_thread_hashrate, wait_for, RawMiner, TestPool,
};
use tokio::sync::oneshot;

/// The browser, if installed.
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs headless chromium on `url` with `extra` arguments and a fresh profile; its stdout.
async fn browse(browser: &Path, url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .kill_on_drop(true)
        .output();
    // A bound so a hung browser fails the test instead of CI; not a synchronisation.
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("chromium did not finish within 120 s")
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `<tr ...>` opening tag of the worker row named `name` (as the DOM serialises it).
fn row_tag<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let at = dom.find(&format!("data-worker=\"{name}\""))?;
    let start = dom[..at].rfind("<tr")?;
    let end = at + dom[at..].find('>')?;
    Some(&dom[start..=end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_lists_live_and_offline_workers_and_draws_the_chart() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is required under CI=true (apt-get install chromium)"
        );
        eprintln!("SKIPPED: no chromium (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dev = devnet(Some(dir.path()), 1 << 40);

    // An earlier run: "rig-gone" mined, then went away.
    let first = TestPool::start(builder(&dev, 1).data_dir(dir.path())).await;
    let mut gone = RawMiner::connect(&first.url(), "rig-gone", None).await;
    let (nonce, _) = share_not_block(&gone.job, 0);
    assert!(gone.submit(nonce).await.accepted);
    drop(gone);
    first.stop().await.unwrap();

    // This run's monitor clock is an hour ahead: rig-gone's last share is an hour old.
    let share_difficulty = (v5_thread_hashrate() / 4.0).max(1.0) as u64;
    let http = HttpConfig::new("127.0.0.1:0".parse().unwrap())
        .token(Some("farm-token".into()))
        .check_interval(Duration::from_millis(200))
        .clock(|| SystemTime::now() + Duration::from_secs(3600));
    let pool = TestPool::start(
        builder(&dev, share_difficulty)
            .data_dir(dir.path())
            .http(Some(http)),
    )
    .await;
    let mut events = pool.handle.events();
    let http_addr = match pool.handle.http_addr() {
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

    // Two real miners, and a raw one whose name is HTML.
    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    for name in ["rig-1", "rig-2"] {
        let client = PoolClient::builder()
            .pools([pool.url()])
            .worker(name)
            .threads(1)
            .build()
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tasks.push(tokio::spawn(client.run(async {
            let _ = stopped.await;
        })));
        stops.push(stop);
    }
    let evil_name = "<img src=x onerror=alert(1)>";
    let mut evil = RawMiner::connect(&pool.url(), evil_name, None).await;
    let (nonce, _) = share_not_block(&evil.job, 0);
    assert!(evil.submit(nonce).await.accepted);
    for name in ["rig-1", "rig-2"] {
        wait_for(
            &mut events,
            |e| matches!(e, PoolEvent::ShareAccepted { worker, .. } if worker == name),
        )
        .await;
    }

    let url = format!("http://{http_addr}/?token=farm-token");
    let dom = browse(
        &browser,
        &url,
        &["--dump-dom".into(), "--virtual-time-budget=8000".into()],
    )
    .await;

    for name in ["rig-1", "rig-2"] {
        let tag = row_tag(&dom, name).unwrap_or_else(|| panic!("no row for {name}:\n{dom}"));
        assert!(tag.contains("class=\"online\""), "{tag}");
    }
    let gone_row = row_tag(&dom, "rig-gone").unwrap_or_else(|| panic!("no rig-gone:\n{dom}"));
    assert!(gone_row.contains("class=\"offline\""), "{gone_row}");
    assert!(dom.contains("3 workers, 1 offline") || dom.contains("4 workers, 1 offline"));
    // The peer's HTML is text: escaped in the DOM, never an element.
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"), "{dom}");
    // (An attribute value keeps its `<` when serialised: only there may the name appear raw.)
    let raw = dom.matches("<img").count();
    let in_attribute = dom.matches("data-worker=\"<img").count();
    assert_eq!(raw, in_attribute, "{dom}");
    // The chart has points.
    let points_at = dom.find("<polyline points=\"").expect("a chart line") + 18;
    let points = &dom[points_at..points_at + dom[points_at..].find('"').unwrap()];
    assert!(points.split(' ').count() >= 2, "{points}");
    assert!(
        dom.contains("<div id=\"error\" role=\"alert\"></div>"),
        "{dom}"
    );

    if let Ok(shot) = std::env::var("NOCKPOOL_SCREENSHOT") {
        browse(
            &browser,
            &url,
            &[
                format!("--screenshot={shot}"),
                "--window-size=1280,1000".into(),
                "--virtual-time-budget=8000".into(),
            ],
        )
        .await;
    }

    for stop in stops {
        let _ = stop.send(());
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    drop(evil);
    pool.stop().await.unwrap();
}
