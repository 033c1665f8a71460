//! The alert webhook: one JSON POST per event (a worker offline or back online, a found block
//! and its outcome, the backend down or up), delivered in order by one task with retries and
//! backoff. Alerts are queued without waiting: a slow or dead receiver never holds up the pool;
//! when the queue is full, new alerts are dropped with a warning.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use nockpool_core::Backoff;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::store::unix_ms;
use crate::ServerError;

/// Alerts waiting for delivery at most.
const QUEUE: usize = 256;
/// Attempts per alert before it is given up (with the default backoff: about 4 minutes).
const ATTEMPTS: u32 = 8;
/// How long one POST may take, connect included.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Something worth telling the operator.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Alert {
    /// No share from the worker for the offline delay.
    WorkerOffline {
        worker: String,
        #[serde(rename = "last_seen_unix", serialize_with = "unix_secs")]
        last_seen: Option<SystemTime>,
        /// Its 5-minute hashrate when it was last active (H/s).
        hashrate: f64,
    },
    /// A share from a worker that was offline.
    WorkerOnline {
        worker: String,
        #[serde(rename = "last_seen_unix", serialize_with = "unix_secs")]
        last_seen: Option<SystemTime>,
        hashrate: f64,
    },
    /// A share met the network target (the block is on record and being submitted).
    BlockFound {
        id: u64,
        height: u64,
        worker: String,
        digest: String,
    },
    /// The chain's verdict on a found block.
    BlockOutcome {
        id: u64,
        height: u64,
        outcome: String,
    },
    /// The backend stopped answering or lost its chain.
    BackendDown { reason: String },
    /// The backend answers again.
    BackendUp,
}

fn unix_secs<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&(unix_ms(*t) / 1000)),
        None => s.serialize_none(),
    }
}

/// One POST body: the alert, the pool it comes from and when.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(flatten)]
    alert: &'a Alert,
    pool: &'a str,
    time_unix: u64,
}

/// A webhook URL, checked once at start-up.
#[derive(Clone, Debug)]
pub(crate) struct Webhook {
    uri: Uri,
    authority: String,
}

impl Webhook {
    /// Accepts `http://host[:port]/path` (TLS is not supported: put a local relay in front of
    /// an https receiver).
    pub(crate) fn parse(url: &str) -> Result<Webhook, ServerError> {
        let bad = |reason: &str| ServerError::Config {
            setting: "alert_webhook",
            reason: format!("{url:?}: {reason}"),
        };
        let uri: Uri = url.parse().map_err(|e| bad(&format!("not a URL ({e})")))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad(
                "only http:// URLs are supported (relay https through a local proxy)",
            ));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| bad("no host"))?
            .as_str()
            .to_owned();
        Ok(Webhook { uri, authority })
    }

    fn connect_to(&self) -> String {
        if self
            .authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !self.authority.ends_with(']')
        {
            self.authority.clone()
        } else {
            format!("{}:80", self.authority)
        }
    }

    /// POSTs `body` once; Ok when the receiver answered 2xx.
    async fn post(&self, body: Bytes) -> Result<(), String> {
        let attempt = async {
            let stream = TcpStream::connect(self.connect_to())
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(conn);
            let path = self
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let request = hyper::Request::post(path)
                .header(hyper::header::HOST, &self.authority)
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(hyper::header::CONTENT_LENGTH, body.len())
                .header(
                    hyper::header::USER_AGENT,
                    concat!("nockpool/", env!("CARGO_PKG_VERSION")),
                )
                .body(Full::new(body))
                .map_err(|e| format!("request: {e}"))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("no answer: {e}"))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("answered {}", response.status()))
            }
        };
        tokio::time::timeout(POST_TIMEOUT, attempt)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {POST_TIMEOUT:?}")))
    }
}

/// Hands alerts to the delivery task.
#[derive(Clone)]
pub(crate) struct Alerts {
    tx: Option<mpsc::Sender<(Alert, SystemTime)>>,
}

impl Alerts {
    /// No webhook: alerts go nowhere (they are still logged where they arise).
    pub(crate) fn none() -> Alerts {
        Alerts { tx: None }
    }

    /// Starts the delivery task for `webhook`; retries wait `retry` (min, max) apart.
    pub(crate) fn spawn(webhook: Webhook, pool: String, retry: (Duration, Duration)) -> Alerts {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(deliver(webhook, pool, retry, rx));
        Alerts { tx: Some(tx) }
    }

    /// Queues `alert` without waiting.
    pub(crate) fn send(&self, alert: Alert, at: SystemTime) {
        if let Some(tx) = &self.tx {
            if let Err(mpsc::error::TrySendError::Full((alert, _))) = tx.try_send((alert, at)) {
                tracing::warn!("alert webhook queue full ({QUEUE}); dropping {alert:?}");
            }
        }
    }
}

async fn deliver(
    webhook: Webhook,
    pool: String,
    retry: (Duration, Duration),
    mut rx: mpsc::Receiver<(Alert, SystemTime)>,
) {
    while let Some((alert, at)) = rx.recv().await {
        let envelope = Envelope {
            alert: &alert,
            pool: &pool,
            time_unix: unix_ms(at) / 1000,
        };
        let body = match serde_json::to_vec(&envelope) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                tracing::error!("cannot encode alert {alert:?}: {e}");
                continue;
            }
        };
        let mut backoff = Backoff::new(retry.0, retry.1);
        for attempt in 1..=ATTEMPTS {
            match webhook.post(body.clone()).await {
                Ok(()) => break,
                Err(e) if attempt == ATTEMPTS => tracing::error!(
                    "alert webhook {}: giving up on {alert:?} after {attempt} attempts: {e}",
                    webhook.uri
                ),
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        "alert webhook {} failed (attempt {attempt}): {e}; retrying in {delay:?}",
                        webhook.uri
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_webhooks_are_taken() {
        let w = Webhook::parse("http://127.0.0.1:9000/hook?x=1").unwrap();
        assert_eq!(w.connect_to(), "127.0.0.1:9000");
        assert_eq!(
            Webhook::parse("http://alerts.lan/h").unwrap().connect_to(),
            "alerts.lan:80"
        );
        assert_eq!(
            Webhook::parse("http://[::1]:81/").unwrap().connect_to(),
            "[::1]:81"
        );
        for bad in ["https://x/h", "ftp://x", "not a url", "/relative"] {
            assert!(Webhook::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn alerts_encode_with_stable_names() {
        let alert = Alert::WorkerOffline {
            worker: "rig-7".into(),
            last_seen: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            hashrate: 12.5,
        };
        let json = serde_json::to_value(Envelope {
            alert: &alert,
            pool: "farm",
            time_unix: 1_700_000_400,
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "event": "worker_offline", "worker": "rig-7", "last_seen_unix": 1_700_000_000u64,
                "hashrate": 12.5, "pool": "farm", "time_unix": 1_700_000_400u64
            })
        );
        let up = serde_json::to_value(Alert::BackendUp).unwrap();
        assert_eq!(up, serde_json::json!({"event": "backend_up"}));
    }
}
