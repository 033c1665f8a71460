//! An in-repo fake Nockchain node for the node backend's tests.
//!
//! [`FakeNode`] is a real tonic server on `127.0.0.1:0` serving the same
//! `nockchain.private.v1.NockAppService` proto as a Nockchain node, with a scripted kernel: it
//! answers the peeks the pool uses, checks every poke's noun (and records whether the real
//! node would have shut down on it), emits `%mine-zk` candidates once a key is set and mining
//! is enabled, and accepts, refuses or ignores submitted blocks as the test says. It is a
//! simulation for tests, not a node.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use nockpool_core::noun::{cue, jam, Noun};
use nockpool_core::PubkeyHash;
use nockpool_nockchain::proto::common::v1::{wire_tag, ErrorCode, ErrorStatus};
use nockpool_nockchain::proto::private::v1::nock_app_service_server::{
    NockAppService, NockAppServiceServer,
};
use nockpool_nockchain::proto::private::v1::{
    peek_response, poke_response, EffectMessage, PeekRequest, PeekResponse, PokeRequest,
    PokeResponse, WatchEffectsRequest,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// How long a test waits for something the fake node should see before failing.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Something the fake node saw.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A peek of this path.
    Peek(Noun),
    /// A `WatchEffects` subscription with these head filters.
    Watch(Vec<String>),
    /// A poke: its wire (source, version, tags) and cause.
    Poke {
        /// The wire, as text.
        tags: Vec<String>,
        /// The cause.
        noun: Noun,
    },
    /// A poke the real node would have answered with `[%exit 1]` (shutting itself down).
    WouldExit(String),
    /// A `[%pow %dumb-zkpow …]` block submission (the poke's tail).
    Submission(Noun),
}

/// What the kernel does with a block poked for the current candidate.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Accept it: a page at the next height, a `%seen` effect, a new candidate.
    Accept,
    /// Refuse it with a `%liar-block-id` effect giving this reason.
    Refuse(String),
    /// Say nothing.
    Ignore,
}

/// The scripted kernel's state.
struct Kernel {
    height: u64,
    version: u64,
    pow_len: u64,
    target: Vec<u32>,
    keys_set: bool,
    mining: bool,
    verdict: Verdict,
    candidate: Option<[u64; 5]>,
    pages: Vec<(u64, Noun)>,
    /// Block pokes still to answer with a transport error (UNAVAILABLE) before taking one.
    fail_block_pokes: u32,
    serial: u64,
}

struct Shared {
    kernel: Mutex<Kernel>,
    events: Mutex<Vec<Event>>,
    changed: watch::Sender<u64>,
    effects: Mutex<broadcast::Sender<Vec<u8>>>,
    watch_supported: bool,
}

impl Shared {
    fn record(&self, event: Event) {
        self.events.lock().unwrap().push(event);
        self.changed.send_modify(|n| *n += 1);
    }

    fn emit(&self, effect: &Noun) {
        let _ = self.effects.lock().unwrap().send(jam(effect));
    }

    /// A new candidate at the current height (new commitment), emitted if mining is on.
    fn next_candidate(&self) -> Option<[u64; 5]> {
        let effect = {
            let mut k = self.kernel.lock().unwrap();
            if !(k.mining && k.keys_set) {
                return None;
            }
            k.serial += 1;
            let commitment = [k.serial, k.height + 1, 7, 8, 9];
            k.candidate = Some(commitment);
            Noun::tuple([
                Noun::cord("mine-zk"),
                Noun::atom(k.version),
                Noun::belts(&commitment),
                Noun::bignum(&k.target),
                Noun::atom(k.pow_len),
            ])
        };
        self.emit(&effect);
        let k = self.kernel.lock().unwrap();
        k.candidate
    }

    fn handle_poke(&self, tags: Vec<String>, noun: Noun) {
        self.record(Event::Poke {
            tags,
            noun: noun.clone(),
        });
        let Some([command, tag, rest]) = noun.as_tuple() else {
            return;
        };
        if !command.is_cord("command") {
            return;
        }
        if tag.is_cord("set-mining-key-advanced") {
            match check_key_lists(rest) {
                Ok(()) => self.kernel.lock().unwrap().keys_set = true,
                Err(why) => self.record(Event::WouldExit(why)),
            }
        } else if tag.is_cord("enable-mining") {
            let on = rest.as_loobean() == Some(true);
            self.kernel.lock().unwrap().mining = on;
            if on {
                self.next_candidate();
            }
        } else if tag.is_cord("pow") {
            self.handle_pow(rest);
        }
    }

    fn handle_pow(&self, rest: &Noun) {
        let Some([variant, prf, _dig, commit, nonce]) = rest.as_tuple() else {
            return;
        };
        if !variant.is_cord("dumb-zkpow") {
            return;
        }
        self.record(Event::Submission(rest.clone()));
        let (verdict, height, current) = {
            let k = self.kernel.lock().unwrap();
            (k.verdict.clone(), k.height, k.candidate)
        };
        if commit.as_belts() != current {
            return; // "Mined for wrong (old) block commitment": no effects
        }
        let block_id = Noun::belts(&[height + 1, 1, 2, 3, nonce.as_belts().map_or(0, |n| n[0])]);
        match verdict {
            Verdict::Ignore => {}
            Verdict::Refuse(reason) => self.emit(&Noun::tuple([
                Noun::cord("liar-block-id"),
                block_id,
                Noun::cord(&reason),
            ])),
            Verdict::Accept => {
                let page = {
                    let mut k = self.kernel.lock().unwrap();
                    k.height += 1;
                    let page = Noun::tuple([
                        Noun::atom(1),
                        block_id.clone(),
                        Noun::cell(Noun::ZERO, prf.clone()),
                        Noun::belts(&[0, 0, 0, 0, 0]),
                        Noun::ZERO,
                        Noun::ZERO,
                        Noun::atom(9223372092807532800),
                        Noun::ZERO,
                        Noun::bignum(&k.target),
                        Noun::bignum(&[3]),
                        Noun::atom(k.height),
                        Noun::ZERO,
                    ]);
                    let h = k.height;
                    k.pages.push((h, page.clone()));
                    page
                };
                let _ = page;
                self.emit(&Noun::tuple([
                    Noun::cord("seen"),
                    Noun::cord("block"),
                    block_id,
                    Noun::unit(Some(Noun::atom(height + 1))),
                ]));
                self.next_candidate();
            }
        }
    }

    fn answer_peek(&self, path: &Noun) -> Noun {
        let some = |v: Noun| Noun::tuple([Noun::ZERO, Noun::ZERO, v]);
        let k = self.kernel.lock().unwrap();
        let tip_id = Noun::belts(&[k.height, 1, 2, 3, 4]);
        let Some(items) = path.as_list() else {
            return Noun::ZERO;
        };
        match items.as_slice() {
            [head] if head.is_cord("heavy") => some(Noun::unit(Some(tip_id))),
            [head] if head.is_cord("heaviest-chain") => {
                some(Noun::cell(Noun::atom(k.height), tip_id))
            }
            [head, height] if head.is_cord("heavy-n") => {
                let wanted = height.as_u64();
                match k.pages.iter().find(|(h, _)| Some(*h) == wanted) {
                    Some((_, page)) => some(page.clone()),
                    None => Noun::ZERO,
                }
            }
            _ => Noun::ZERO,
        }
    }
}

/// The node kills itself on these (§3.4): more than 2 entries, empty lists, bad pkhs.
fn check_key_lists(rest: &Noun) -> Result<(), String> {
    let [v0, v1] = rest.as_tuple().ok_or("key poke is not [v0 v1]")?;
    let v0 = v0.as_list().ok_or("v0 is not a list")?;
    let v1 = v1.as_list().ok_or("v1 is not a list")?;
    if v0.len() > 2 || v1.len() > 2 {
        return Err("more than 2 keys".into());
    }
    if v0.is_empty() && v1.is_empty() {
        return Err("no keys".into());
    }
    for entry in v1 {
        let [share, pkh] = entry.as_tuple().ok_or("v1 entry is not [share pkh]")?;
        if share.as_u64().unwrap_or(0) == 0 {
            return Err("zero share".into());
        }
        let text = pkh.as_cord().ok_or("pkh is not a cord")?;
        text.parse::<PubkeyHash>()
            .map_err(|e| format!("bad pkh {text}: {e}"))?;
    }
    Ok(())
}

#[derive(Clone)]
struct Service(Arc<Shared>, watch::Receiver<bool>);

type EffectStream = Pin<Box<dyn Stream<Item = Result<EffectMessage, Status>> + Send>>;

#[tonic::async_trait]
impl NockAppService for Service {
    async fn peek(&self, request: Request<PeekRequest>) -> Result<Response<PeekResponse>, Status> {
        let path = match cue(&request.into_inner().path) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Response::new(PeekResponse {
                    result: Some(peek_response::Result::Error(ErrorStatus {
                        code: ErrorCode::InternalError as i32,
                        message: format!("JAM decoding for path failed: {e}"),
                        details: None,
                    })),
                }))
            }
        };
        self.0.record(Event::Peek(path.clone()));
        let answer = self.0.answer_peek(&path);
        Ok(Response::new(PeekResponse {
            result: Some(peek_response::Result::Data(jam(&answer))),
        }))
    }

    async fn poke(&self, request: Request<PokeRequest>) -> Result<Response<PokeResponse>, Status> {
        let request = request.into_inner();
        let Some(wire) = request.wire else {
            return Ok(Response::new(PokeResponse {
                result: Some(poke_response::Result::Error(ErrorStatus {
                    code: ErrorCode::InvalidRequest as i32,
                    message: "missing wire".into(),
                    details: None,
                })),
            }));
        };
        let mut tags = vec![wire.source.clone(), wire.version.to_string()];
        for tag in wire.tags {
            match tag.value {
                Some(wire_tag::Value::Text(t)) => tags.push(t),
                Some(wire_tag::Value::Number(n)) => tags.push(n.to_string()),
                None => {}
            }
        }
        let noun = cue(&request.payload)
            .map_err(|e| Status::internal(format!("JAM decoding for payload failed: {e}")))?;
        if tags.last().map(String::as_str) == Some("mined") {
            let mut k = self.0.kernel.lock().unwrap();
            if k.fail_block_pokes > 0 {
                k.fail_block_pokes -= 1;
                return Err(Status::unavailable("node busy (scripted)"));
            }
        }
        self.0.handle_poke(tags, noun);
        Ok(Response::new(PokeResponse {
            result: Some(poke_response::Result::Acknowledged(true)),
        }))
    }

    type WatchEffectsStream = EffectStream;

    async fn watch_effects(
        &self,
        request: Request<WatchEffectsRequest>,
    ) -> Result<Response<EffectStream>, Status> {
        if !self.0.watch_supported {
            return Err(Status::unimplemented("WatchEffects"));
        }
        let filters = request.into_inner().head_filter;
        self.0.record(Event::Watch(
            filters
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect(),
        ));
        let mut effects = self.0.effects.lock().unwrap().subscribe();
        let mut killed = self.1.clone();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    effect = effects.recv() => {
                        let Ok(bytes) = effect else { return };
                        if !passes(&bytes, &filters) {
                            continue;
                        }
                        if tx.send(Ok(EffectMessage { effect: bytes })).await.is_err() {
                            return;
                        }
                    }
                    () = killed_signal(&mut killed) => return,
                }
            }
        });
        Ok(Response::new(
            Box::pin(ReceiverStream::new(rx)) as EffectStream
        ))
    }
}

async fn killed_signal(killed: &mut watch::Receiver<bool>) {
    let _ = killed.wait_for(|k| *k).await;
}

/// The head filter: raw bytes of the effect's head atom; malformed effects pass an empty
/// filter only (a test emits those with no filter match needed: see `emit_raw`).
fn passes(bytes: &[u8], filters: &[Vec<u8>]) -> bool {
    if filters.is_empty() {
        return true;
    }
    match cue(bytes) {
        Ok(noun) => noun
            .head()
            .and_then(|h| h.to_le_bytes())
            .is_some_and(|head| filters.contains(&head)),
        // Raw test bytes that do not decode are delivered as-is (a corrupt effect).
        Err(_) => true,
    }
}

/// How a [`FakeNode`] behaves.
pub struct Script {
    /// Whether it serves `WatchEffects` (a 2025 node does not).
    pub watch_supported: bool,
    /// Proof version of its candidates.
    pub version: u64,
    /// Puzzle length of its candidates.
    pub pow_len: u64,
    /// Its tip height.
    pub height: u64,
    /// Its candidates' target, as `[%bn]` limbs.
    pub target: Vec<u32>,
    /// What it does with a block for the current candidate.
    pub verdict: Verdict,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            watch_supported: true,
            version: 5,
            pow_len: 2,
            height: 41,
            // (p^5 - 1) / 2: every fake digest meets it.
            target: vec![u32::MAX; 10],
            verdict: Verdict::Accept,
        }
    }
}

/// A fake Nockchain node serving the node's gRPC proto on a local port (see the module docs).
pub struct FakeNode {
    shared: Arc<Shared>,
    addr: SocketAddr,
    running: Option<(
        watch::Sender<bool>,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl FakeNode {
    /// Starts on `127.0.0.1:0`.
    pub async fn start(script: Script) -> FakeNode {
        FakeNode::start_on("127.0.0.1:0".parse().unwrap(), script).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr, script: Script) -> FakeNode {
        let (changed, _) = watch::channel(0);
        let (effects, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            kernel: Mutex::new(Kernel {
                height: script.height,
                version: script.version,
                pow_len: script.pow_len,
                target: script.target,
                keys_set: false,
                mining: false,
                verdict: script.verdict,
                candidate: None,
                pages: Vec::new(),
                fail_block_pokes: 0,
                serial: 0,
            }),
            events: Mutex::new(Vec::new()),
            changed,
            effects: Mutex::new(effects),
            watch_supported: script.watch_supported,
        });
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut node = FakeNode {
            shared,
            addr,
            running: None,
        };
        node.serve(listener);
        node
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (kill, killed) = watch::channel(false);
        let (stop, stopped) = oneshot::channel::<()>();
        let service = Service(self.shared.clone(), killed);
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(NockAppServiceServer::new(service))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        self.running = Some((kill, stop, task));
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the "node process": effect streams end, the server closes, and the kernel
    /// forgets its (in-memory) mining key and mining flag, as a restarted node does.
    pub async fn stop(&mut self) {
        if let Some((kill, stop, task)) = self.running.take() {
            kill.send_replace(true);
            let _ = stop.send(());
            let _ = tokio::time::timeout(PATIENCE, task).await;
        }
        let mut k = self.shared.kernel.lock().unwrap();
        k.keys_set = false;
        k.mining = false;
        *self.shared.effects.lock().unwrap() = broadcast::channel(256).0;
    }

    /// Starts the node again on the same address.
    pub async fn start_again(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// Everything it saw so far.
    pub fn events(&self) -> Vec<Event> {
        self.shared.events.lock().unwrap().clone()
    }

    /// The pokes it saw so far: wire and cause.
    pub fn pokes(&self) -> Vec<(Vec<String>, Noun)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Poke { tags, noun } => Some((tags, noun)),
                _ => None,
            })
            .collect()
    }

    /// Waits (without sleeping) until `pred` holds over the events seen so far.
    pub async fn wait_until(&self, what: &str, pred: impl Fn(&[Event]) -> bool) {
        let mut changed = self.shared.changed.subscribe();
        let result = tokio::time::timeout(PATIENCE, async {
            loop {
                if pred(&self.shared.events.lock().unwrap()) {
                    return;
                }
                if changed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        assert!(
            result.is_ok(),
            "fake node: timed out waiting for {what}: {:#?}",
            self.events()
        );
    }

    /// Emits a new candidate (like a timestamp refresh); returns its commitment.
    pub fn refresh_candidate(&self) -> Option<[u64; 5]> {
        self.shared.next_candidate()
    }

    /// Emits an effect noun as is.
    pub fn emit(&self, effect: &Noun) {
        self.shared.emit(effect);
    }

    /// Emits raw bytes as an effect (e.g. a corrupt jam).
    pub fn emit_raw(&self, bytes: Vec<u8>) {
        let _ = self.shared.effects.lock().unwrap().send(bytes);
    }

    /// Changes what it does with the next block.
    pub fn set_verdict(&self, verdict: Verdict) {
        self.shared.kernel.lock().unwrap().verdict = verdict;
    }

    /// Answers the next `times` block pokes with UNAVAILABLE.
    pub fn fail_block_pokes(&self, times: u32) {
        self.shared.kernel.lock().unwrap().fail_block_pokes = times;
    }

    /// Changes the proof version of later candidates.
    pub fn set_version(&self, version: u64) {
        self.shared.kernel.lock().unwrap().version = version;
    }

    /// Its tip height.
    pub fn height(&self) -> u64 {
        self.shared.kernel.lock().unwrap().height
    }

    /// The commitment of its current candidate.
    pub fn current_candidate(&self) -> Option<[u64; 5]> {
        self.shared.kernel.lock().unwrap().candidate
    }
}
