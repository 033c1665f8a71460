//! The farm's status over HTTP (axum): a JSON API, Prometheus `/metrics`, a self-contained web
//! dashboard at `/`, and offline-worker / found-block / backend alerts to a webhook.
//!
//! It only reads the pool, through a [`PoolHandle`]: snapshots, events and found blocks on
//! record. The pool never waits for it, and its failures (a port that cannot be bound, a dead
//! webhook) are logged without touching mining.

mod alerts;
mod metrics;
mod monitor;
mod views;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};

use self::alerts::Alerts;
pub(crate) use self::alerts::Webhook;
use self::metrics::Metrics;
use self::monitor::{Clock, Monitor};
use crate::{PoolEvent, PoolHandle, ServerError};

/// The default address of the status API and dashboard (this machine only).
pub const DEFAULT_HTTP_ADDRESS: &str = "127.0.0.1:8080";

/// The offline delay when none is given: 300 s, or 10 share intervals when that is longer.
pub(crate) fn default_offline_after(share_interval: Duration) -> Duration {
    (share_interval * 10).max(Duration::from_secs(300))
}

/// The dashboard page (HTML, CSS and script in one file, no outside assets).
const DASHBOARD: &str = include_str!("dashboard.html");

/// A rejection reason as the API and the metrics name it (`stale`, `unknown_job`, …).
pub(crate) fn reason_label(reason: nockpool_core::proto::RejectReason) -> String {
    reason
        .as_str_name()
        .trim_start_matches("REJECT_REASON_")
        .to_lowercase()
}

/// Found blocks per `/api/blocks` page by default, and at most.
const BLOCKS_PAGE: usize = 20;
const BLOCKS_PAGE_MAX: usize = 200;

/// Settings of the pool's status API, dashboard and alerts; see
/// [`PoolServerBuilder::http`](crate::PoolServerBuilder::http).
#[derive(Clone)]
#[must_use]
pub struct HttpConfig {
    pub(crate) addr: SocketAddr,
    pub(crate) serve: bool,
    pub(crate) token: Option<String>,
    pub(crate) offline_after: Option<Duration>,
    pub(crate) webhook: Option<String>,
    pub(crate) webhook_retry: (Duration, Duration),
    pub(crate) check_interval: Duration,
    pub(crate) max_worker_series: usize,
    pub(crate) clock: Clock,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("offline_after", &self.offline_after)
            .field("webhook", &self.webhook)
            .field("check_interval", &self.check_interval)
            .field("max_worker_series", &self.max_worker_series)
            .finish_non_exhaustive()
    }
}

impl HttpConfig {
    /// Serves on `addr` (e.g. [`DEFAULT_HTTP_ADDRESS`]; `0.0.0.0:8080` for the whole LAN), no
    /// token, the default offline delay, no webhook.
    pub fn new(addr: SocketAddr) -> HttpConfig {
        HttpConfig {
            addr,
            serve: true,
            token: None,
            offline_after: None,
            webhook: None,
            webhook_retry: (Duration::from_secs(1), Duration::from_secs(60)),
            check_interval: Duration::from_secs(5),
            max_worker_series: 1000,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Whether to serve HTTP at all (default true); `false` keeps offline detection and the
    /// alert webhook (`--no-http`).
    pub fn serve(mut self, serve: bool) -> Self {
        self.serve = serve;
        self
    }

    /// A token every request but `/health` must carry: `Authorization: Bearer <token>`, or
    /// `?token=<token>` in the URL (how a browser opens the dashboard).
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// How long without a share before a worker is marked offline (default: 300 s, or 10 of
    /// the vardiff share intervals when that is longer).
    pub fn offline_after(mut self, delay: Option<Duration>) -> Self {
        self.offline_after = delay;
        self
    }

    /// An `http://` URL that gets a JSON POST per alert (worker offline / back online, found
    /// block and its outcome, backend down / up).
    pub fn alert_webhook(mut self, url: Option<String>) -> Self {
        self.webhook = url;
        self
    }

    /// The delays between attempts to deliver one alert (default 1 s doubling to 60 s, 8
    /// attempts).
    pub fn alert_retry(mut self, min: Duration, max: Duration) -> Self {
        self.webhook_retry = (min, max);
        self
    }

    /// How often workers and the backend are checked and a hashrate point is recorded
    /// (default 5 s).
    pub fn check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = interval;
        self
    }

    /// Most per-worker series in `/metrics` (the fastest workers; the rest are summed under
    /// `worker="_other"`). Default 1000.
    pub fn max_worker_series(mut self, max: usize) -> Self {
        self.max_worker_series = max;
        self
    }

    /// The wall clock offline delays are measured on (default: the system clock). For tests
    /// and simulations.
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings (called by the pool's `build`).
    pub(crate) fn validate(&self) -> Result<(), ServerError> {
        if let Some(token) = &self.token {
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ServerError::Config {
                    setting: "http_token",
                    reason: "the HTTP token must be non-empty printable ASCII without spaces"
                        .into(),
                });
            }
        }
        if let Some(url) = &self.webhook {
            Webhook::parse(url)?;
        }
        if self.check_interval.is_zero() || self.webhook_retry.0.is_zero() {
            return Err(ServerError::Config {
                setting: "http",
                reason: "the check interval and the alert retry delay must be above zero".into(),
            });
        }
        Ok(())
    }
}

/// What every handler reads.
struct Shared {
    pool: PoolHandle,
    monitor: Monitor,
    metrics: Metrics,
    token: Option<String>,
    alerts: Alerts,
    /// The pool's events not yet counted. Drained by the follower task as they arrive, and by
    /// every request before it answers, so an answer counts every event emitted before it
    /// (e.g. the share a miner just had acknowledged).
    pending: Mutex<broadcast::Receiver<PoolEvent>>,
}

impl Shared {
    /// Counts every pending event.
    fn catch_up(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match pending.try_recv() {
                Ok(event) => {
                    self.metrics.on_event(&event);
                    if let Some(alert) = self.monitor.on_event(&event, now()) {
                        self.alerts.send(alert, self.monitor.wall_now());
                    }
                }
                Err(TryRecvError::Lagged(n)) => self.metrics.missed_events(n),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }
}

/// Runs the monitor (and alerts) until the pool stops, and serves HTTP on `config.addr`; a
/// port that cannot be bound is logged and the monitor keeps running without it.
pub(crate) async fn run(
    pool: PoolHandle,
    config: HttpConfig,
    default_offline_after: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let offline_after = config.offline_after.unwrap_or(default_offline_after);
    let pool_name = pool
        .local_addr()
        .map_or_else(|| "nockpool".to_owned(), |a| a.to_string());
    let alerts = match config.webhook.as_deref().map(Webhook::parse) {
        Some(Ok(webhook)) => Alerts::spawn(webhook, pool_name, config.webhook_retry),
        Some(Err(e)) => {
            tracing::error!("alerts are off: {e}");
            Alerts::none()
        }
        None => Alerts::none(),
    };
    let shared = Arc::new(Shared {
        monitor: Monitor::new(offline_after, config.clock.clone()),
        metrics: Metrics::new(config.max_worker_series),
        token: config.token.clone(),
        alerts,
        pending: Mutex::new(pool.events()),
        pool,
    });

    let bound = if config.serve {
        Some(tokio::net::TcpListener::bind(config.addr).await)
    } else {
        None
    };
    let serving = match bound {
        None => None,
        Some(Ok(listener)) => {
            let addr = listener.local_addr().unwrap_or(config.addr);
            tracing::info!(
                "status API and dashboard on http://{addr}/ {}",
                if config.token.is_some() {
                    "(token required)"
                } else {
                    "(no token)"
                }
            );
            shared.pool.pool.set_http_addr(addr);
            let app = router(shared.clone());
            let mut stop = stop.clone();
            Some(tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::error!("the status API stopped: {e}");
                }
            }))
        }
        Some(Err(e)) => {
            tracing::error!(
                "cannot serve the status API and dashboard on {}: {e}; the pool keeps mining \
                 without them (pick another --http-address, or --no-http)",
                config.addr
            );
            shared.pool.pool.emit(PoolEvent::HttpUnavailable {
                addr: config.addr,
                error: e.to_string(),
            });
            None
        }
    };

    follow(&shared, config.check_interval, &mut stop).await;
    if let Some(task) = serving {
        let _ = task.await;
    }
}

/// Follows the pool's events and checks its snapshot every `interval` until it stops.
async fn follow(shared: &Shared, interval: Duration, stop: &mut watch::Receiver<bool>) {
    // Only wakes the follower; the events themselves are taken from `pending`.
    let mut wake = shared.pool.events();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            woken = wake.recv() => match woken {
                Ok(_) | Err(RecvError::Lagged(_)) => shared.catch_up(),
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                shared.catch_up();
                let snap = shared.pool.snapshot();
                for alert in shared.monitor.check(&snap, now()) {
                    shared.alerts.send(alert, shared.monitor.wall_now());
                }
            }
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// "Now" on tokio's clock (the pool's rates use the same).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/status", get(status))
        .route("/api/workers", get(workers))
        .route("/api/workers/{name}", get(worker))
        .route("/api/blocks", get(blocks))
        .fallback(not_found)
        .with_state(shared)
}

/// An error answer: `{"error": "..."}` with `status`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(views::ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint: see /api/status, /api/workers, /api/blocks, /metrics, /health",
    )
}

/// Whether the request carries the token (header or query), when one is required.
fn authorized(shared: &Shared, headers: &HeaderMap, query: &HashMap<String, String>) -> bool {
    let Some(expected) = &shared.token else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let given = bearer.or(query.get("token").map(String::as_str));
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes()))
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong token: send `Authorization: Bearer <token>` or add ?token=<token>",
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

type AppState = State<Arc<Shared>>;
type Params = Query<HashMap<String, String>>;

async fn dashboard(State(s): AppState, headers: HeaderMap, Query(q): Params) -> Response {
    if !authorized(&s, &headers, &q) {
        return unauthorized();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Everything is inline; nothing may be loaded from elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        DASHBOARD,
    )
        .into_response()
}

async fn health(State(s): AppState) -> Response {
    let snap = s.pool.snapshot();
    let mut reasons = Vec::new();
    if snap.listen_addr.is_none() {
        reasons.push("the pool is not accepting miners".to_owned());
    }
    match monitor::backend_up(&snap) {
        Some(true) => {}
        Some(false) => reasons.push(format!(
            "the chain backend is down: {}",
            snap.chain_error
                .as_deref()
                .unwrap_or("it reports no connection to its chain")
        )),
        None => reasons.push("no status from the chain backend yet".to_owned()),
    }
    if let crate::StorageHealth::Failing { error, .. } = &snap.storage {
        reasons.push(format!("the data dir cannot be written: {error}"));
    }
    let (code, status) = if reasons.is_empty() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (code, Json(views::Health { status, reasons })).into_response()
}

async fn metrics(State(s): AppState, headers: HeaderMap, Query(q): Params) -> Response {
    if !authorized(&s, &headers, &q) {
        return unauthorized();
    }
    s.catch_up();
    let text = s.metrics.render(&s.pool.snapshot(), &s.monitor, now());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn status(State(s): AppState, headers: HeaderMap, Query(q): Params) -> Response {
    if !authorized(&s, &headers, &q) {
        return unauthorized();
    }
    s.catch_up();
    Json(views::Status::new(&s.pool.snapshot(), &s.monitor, now())).into_response()
}

async fn workers(State(s): AppState, headers: HeaderMap, Query(q): Params) -> Response {
    if !authorized(&s, &headers, &q) {
        return unauthorized();
    }
    s.catch_up();
    let views_by_name = s.monitor.workers(now());
    let wall = s.monitor.wall_now();
    let workers = s
        .pool
        .snapshot()
        .workers
        .iter()
        .map(|w| views::Worker::new(w, views_by_name.get(&w.name), wall))
        .collect();
    Json(views::Workers { workers }).into_response()
}

async fn worker(
    State(s): AppState,
    headers: HeaderMap,
    Query(q): Params,
    Path(name): Path<String>,
) -> Response {
    if !authorized(&s, &headers, &q) {
        return unauthorized();
    }
    s.catch_up();
    let snap = s.pool.snapshot();
    let Some(w) = snap.workers.iter().find(|w| w.name == name) else {
        return error(StatusCode::NOT_FOUND, format!("no worker named {name:?}"));
    };
    let view = s.monitor.workers(now()).remove(&name);
    Json(views::Worker::new(w, view.as_ref(), s.monitor.wall_now())).into_response()
}

async fn blocks(State(s): AppState, headers: HeaderMap, Query(q): Params) -> Response {
    if !authorized(&s, &headers, &q) {
        return unauthorized();
    }
    let before = match q
        .get("before")
        .map(String::as_str)
        .map(str::parse::<u64>)
        .transpose()
    {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "`before` must be a block id (0 or more)",
            )
        }
    };
    let limit = match q
        .get("limit")
        .map(String::as_str)
        .map(str::parse::<usize>)
        .transpose()
    {
        Ok(Some(l)) if (1..=BLOCKS_PAGE_MAX).contains(&l) => l,
        Ok(None) => BLOCKS_PAGE,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("`limit` must be 1 to {BLOCKS_PAGE_MAX}"),
            )
        }
    };
    let pool = s.pool.clone();
    // One more than asked tells whether there is a next page.
    let read = tokio::task::spawn_blocking(move || pool.found_blocks(before, limit + 1)).await;
    match read {
        Ok(Ok(mut records)) => {
            let more = records.len() > limit;
            records.truncate(limit);
            let next_before = if more {
                records.last().map(|r| r.id)
            } else {
                None
            };
            let blocks = records.iter().map(views::Block::from).collect();
            Json(views::Blocks {
                blocks,
                next_before,
            })
            .into_response()
        }
        Ok(Err(e)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read found blocks: {e}"),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading found blocks failed: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_offline_delay_is_300_s_or_ten_share_intervals() {
        assert_eq!(
            default_offline_after(Duration::from_secs(10)),
            Duration::from_secs(300)
        );
        assert_eq!(
            default_offline_after(Duration::from_secs(60)),
            Duration::from_secs(600)
        );
    }

    #[test]
    fn bad_settings_are_refused_at_build() {
        let addr = "127.0.0.1:0".parse().unwrap();
        assert!(HttpConfig::new(addr).validate().is_ok());
        for bad in [
            HttpConfig::new(addr).token(Some("has space".into())),
            HttpConfig::new(addr).alert_webhook(Some("https://alerts.example/h".into())),
            HttpConfig::new(addr).check_interval(Duration::ZERO),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
