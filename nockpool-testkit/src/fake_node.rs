//! An in-repo fake Nockchain node for the node backend's tests.
//!
//! [`FakeNode`] is a real tonic server on `127.0.0.1:0` serving the same
//! `nockchain.private.v1.NockAppService` proto as a Nockchain node, with a scripted kernel: it
//! answers the peeks the pool uses, checks every poke's noun (and records whether the real
//! node would have shut down on it), emits `%mine-zk` candidates once a key is set and mining
//! is enabled, and accepts, refuses or ignores submitted blocks as the test says. It is a
//! **simulation for tests, not a node**; where it imitates upstream behaviour it follows what
//! was read in upstream's sources (`nockchain/nockchain` `hoon/apps/dumbnet/inner.hoon` and
//! `lib/miner.hoon` at fe4f5870 and later revisions; `../shared/spec/nockchain-node.md`):
//! - a key poke only stores the keys; a candidate keeps the keys it was built with, and a new
//!   candidate is built only on a new tip (or at start / after a restart); `enable-mining %.y`
//!   with the tip unchanged re-emits the **same** candidate (`heard-new-block` is a no-op,
//!   `do-mine` re-emits);
//! - a refused block gives `[%liar-block-id <its id> <reason>]`, its id computed from the proof
//!   ([`possible_block_ids`], the 2026 draft's rule); a peer's refused block comes as
//!   `[%track %add <id> <peer>]` then `[%liar-block-id <id> <reason>]` ([`FakeNode::peer_liar_block`]);
//! - `[%heaviest-chain ~]` may answer `[~ ~]` ([`FakeNode::set_heaviest_chain_empty`]); a height
//!   without a block answers `[~ ~]` to `[%heavy-n h ~]`; `[%heavy-summary ~]` gives the node's
//!   current v1 key set as `[%| (z-set hash)]` (and `~` for the page summary, which the pool
//!   does not read);
//! - [`Layout`] simulates a node whose proto numbers differ from ours (empty effect bytes, or
//!   an ignored head filter).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use nockpool_core::noun::{cue, jam, Noun};
use nockpool_core::{Digest, PubkeyHash};
use nockpool_nockchain::possible_block_ids;
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
    /// A `[%pow %dumb-zkpow …]` block submission (the poke's tail), recorded once the kernel
    /// has handled it.
    Submission(Noun),
}

/// What the kernel does with a block poked for the current candidate.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Accept it: a page at the next height, a `%seen` effect, a new candidate.
    Accept,
    /// Refuse it with a `%liar-block-id` effect (the block's own id) giving this reason.
    Refuse(String),
    /// Say nothing.
    Ignore,
    /// Say nothing yet: keep the block until the test calls [`FakeNode::decide`].
    Hold,
}

/// How the fake's gRPC layer differs from nockpool's proto (a simulated field-number mismatch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// The same field numbers.
    #[default]
    Faithful,
    /// `EffectMessage.effect` is read from another field number: every effect arrives empty.
    EmptyEffectBytes,
    /// `WatchEffectsRequest.head_filter` is read from another field number: the node sees no
    /// filter and streams every effect.
    IgnoredHeadFilter,
}

/// A candidate the kernel built.
#[derive(Clone, Debug)]
struct Built {
    commitment: [u64; 5],
    /// The tip it builds on.
    parent: [u64; 5],
    /// The coinbase split it pays (v1 shares) — fixed when it was built.
    keys: Vec<(u64, String)>,
}

/// The scripted kernel's state.
struct Kernel {
    height: u64,
    tip: [u64; 5],
    version: u64,
    pow_len: u64,
    target: Vec<u32>,
    /// The v1 coinbase split set by the last key poke (empty: none).
    keys: Vec<(u64, String)>,
    mining: bool,
    verdict: Verdict,
    candidate: Option<Built>,
    pages: Vec<(u64, Noun)>,
    /// Block pokes still to answer with a transport error (UNAVAILABLE) before taking one.
    fail_block_pokes: u32,
    /// Block pokes whose acknowledgement never comes (the node took them).
    hold_block_acks: bool,
    /// A block kept by [`Verdict::Hold`]: its proof, commitment and nonce.
    held: Option<(Noun, [u64; 5], [u64; 5])>,
    heaviest_chain_empty: bool,
    serial: u64,
}

impl Kernel {
    /// Builds a new candidate on the tip with the current keys, if mining with keys
    /// (`heard-new-block` → `new-candidate`).
    fn build_candidate(&mut self) -> Option<Noun> {
        if !self.mining || self.keys.is_empty() {
            return None;
        }
        self.serial += 1;
        let commitment = [self.serial, self.height + 1, 7, 8, 9];
        self.candidate = Some(Built {
            commitment,
            parent: self.tip,
            keys: self.keys.clone(),
        });
        self.mine_effect()
    }

    /// `[%mine-zk version commitment target pow-len]` of the current candidate.
    fn mine_effect(&self) -> Option<Noun> {
        let built = self.candidate.as_ref()?;
        Some(Noun::tuple([
            Noun::cord("mine-zk"),
            Noun::atom(self.version),
            Noun::belts(&built.commitment),
            Noun::bignum(&self.target),
            Noun::atom(self.pow_len),
        ]))
    }

    /// A new heaviest block at the next height: the page, then a candidate on it.
    fn accept(&mut self, id: [u64; 5], page_pow: Noun, effects: &mut Vec<Noun>) {
        self.height += 1;
        self.tip = id;
        let page = self.page(id, page_pow, self.height);
        self.pages.push((self.height, page));
        effects.push(Noun::tuple([
            Noun::cord("seen"),
            Noun::cord("block"),
            Noun::belts(&id),
            Noun::unit(Some(Noun::atom(self.height))),
        ]));
        effects.extend(self.build_candidate());
    }

    /// The page at `height` on its chain: a stored one, or (for the heights it started with)
    /// a stand-in without a proof; `None` above the tip.
    fn page_at(&self, height: u64) -> Option<Noun> {
        if let Some((_, page)) = self.pages.iter().find(|(h, _)| *h == height) {
            return Some(page.clone());
        }
        if height > self.height {
            return None;
        }
        let id = if height == self.height {
            self.tip
        } else {
            [height, 1, 2, 3, 4]
        };
        Some(self.page(id, Noun::ZERO, height))
    }

    /// A v1 page noun `[%1 digest pow parent tx-ids coinbase timestamp epoch target work
    /// height msg]`.
    fn page(&self, id: [u64; 5], pow: Noun, height: u64) -> Noun {
        Noun::tuple([
            Noun::atom(1),
            Noun::belts(&id),
            pow,
            Noun::belts(&[0, 0, 0, 0, 0]),
            Noun::ZERO,
            Noun::ZERO,
            Noun::atom(9223372092807532800),
            Noun::ZERO,
            Noun::bignum(&self.target),
            Noun::bignum(&[3]),
            Noun::atom(height),
            Noun::ZERO,
        ])
    }

    /// Applies `verdict` to a block for the current candidate.
    fn judge(
        &mut self,
        verdict: Verdict,
        prf: Noun,
        commitment: [u64; 5],
        nonce: [u64; 5],
    ) -> Vec<Noun> {
        let mut effects = Vec::new();
        let id = Digest::new(commitment)
            .ok()
            .and_then(|c| possible_block_ids(&prf, &c).first().copied())
            .map_or([0; 5], |d| d.to_limbs());
        match verdict {
            Verdict::Ignore => {}
            Verdict::Hold => self.held = Some((prf, commitment, nonce)),
            Verdict::Refuse(reason) => effects.push(Noun::tuple([
                Noun::cord("liar-block-id"),
                Noun::belts(&id),
                Noun::cord(&reason),
            ])),
            Verdict::Accept => self.accept(id, Noun::cell(Noun::ZERO, prf), &mut effects),
        }
        effects
    }
}

struct Shared {
    kernel: Mutex<Kernel>,
    events: Mutex<Vec<Event>>,
    changed: watch::Sender<u64>,
    effects: Mutex<broadcast::Sender<Vec<u8>>>,
    watch_supported: bool,
    layout: Layout,
}

impl Shared {
    fn record(&self, event: Event) {
        self.events.lock().unwrap().push(event);
        self.changed.send_modify(|n| *n += 1);
    }

    fn emit(&self, effect: &Noun) {
        let _ = self.effects.lock().unwrap().send(jam(effect));
    }

    fn emit_all(&self, effects: Vec<Noun>) {
        for effect in &effects {
            self.emit(effect);
        }
    }

    /// A new candidate on the current tip (new commitment, same keys as the current one: a
    /// timestamp refresh), emitted if mining is on.
    fn next_candidate(&self) -> Option<[u64; 5]> {
        let effect = {
            let mut k = self.kernel.lock().unwrap();
            if !k.mining || k.keys.is_empty() {
                return None;
            }
            // A refresh of a candidate on this tip keeps its coinbase (and so its keys).
            let tip = k.tip;
            let kept = k
                .candidate
                .as_ref()
                .filter(|c| c.parent == tip)
                .map(|c| c.keys.clone());
            let effect = k.build_candidate()?;
            if let (Some(keys), Some(built)) = (kept, k.candidate.as_mut()) {
                built.keys = keys;
            }
            effect
        };
        self.emit(&effect);
        self.kernel
            .lock()
            .unwrap()
            .candidate
            .as_ref()
            .map(|c| c.commitment)
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
            // Only stores the keys: no effect, no new candidate (`do-set-mining-key-advanced`).
            match check_key_lists(rest) {
                Ok(keys) => self.kernel.lock().unwrap().keys = keys,
                Err(why) => self.record(Event::WouldExit(why)),
            }
        } else if tag.is_cord("enable-mining") {
            let on = rest.as_loobean() == Some(true);
            let effect = {
                let mut k = self.kernel.lock().unwrap();
                k.mining = on;
                let same_tip = k.candidate.as_ref().is_some_and(|c| c.parent == k.tip);
                match (on, same_tip) {
                    (false, _) => None,
                    // `heard-new-block` keeps the candidate; `do-mine` re-emits it.
                    (true, true) => k.mine_effect(),
                    (true, false) => k.build_candidate(),
                }
            };
            if let Some(effect) = effect {
                self.emit(&effect);
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
        let effects = {
            let mut k = self.kernel.lock().unwrap();
            let current = k.candidate.as_ref().map(|c| c.commitment);
            match (commit.as_belts(), nonce.as_belts()) {
                (Some(commit), Some(nonce)) if Some(commit) == current => {
                    let verdict = k.verdict.clone();
                    k.judge(verdict, prf.clone(), commit, nonce)
                }
                // "Mined for wrong (old) block commitment": no effects.
                _ => Vec::new(),
            }
        };
        // Recorded once the kernel has handled it (a test may then look at its state).
        self.record(Event::Submission(rest.clone()));
        self.emit_all(effects);
    }

    fn answer_peek(&self, path: &Noun) -> Noun {
        let some = |v: Noun| Noun::tuple([Noun::ZERO, Noun::ZERO, v]);
        let empty = Noun::cell(Noun::ZERO, Noun::ZERO);
        let k = self.kernel.lock().unwrap();
        let Some(items) = path.as_list() else {
            return Noun::ZERO;
        };
        match items.as_slice() {
            [head] if head.is_cord("heavy") => some(Noun::unit(Some(Noun::belts(&k.tip)))),
            [head] if head.is_cord("heaviest-chain") => {
                if k.heaviest_chain_empty {
                    empty
                } else {
                    some(Noun::cell(Noun::atom(k.height), Noun::belts(&k.tip)))
                }
            }
            [head, height] if head.is_cord("heavy-n") => {
                let Some(wanted) = height.as_u64() else {
                    return Noun::ZERO;
                };
                match k.page_at(wanted) {
                    Some(page) => some(page),
                    None => empty,
                }
            }
            [head] if head.is_cord("heaviest-block") => match k.page_at(k.height) {
                Some(page) => some(page),
                None => empty,
            },
            [head] if head.is_cord("heavy-summary") => {
                let hashes: Vec<[u64; 5]> = k
                    .keys
                    .iter()
                    .filter_map(|(_, pkh)| pkh.parse::<PubkeyHash>().ok())
                    .map(|pkh| pkh.digest().to_limbs())
                    .collect();
                some(Noun::cell(
                    Noun::cell(Noun::atom(1), z_set(&hashes)),
                    Noun::ZERO,
                ))
            }
            _ => Noun::ZERO,
        }
    }
}

/// A z-set (treap `[n l r]` / `~`) of 5-belt hashes; the shape, not the treap order, is what
/// the pool reads.
fn z_set(items: &[[u64; 5]]) -> Noun {
    items.iter().rev().fold(Noun::ZERO, |right, item| {
        Noun::tuple([Noun::belts(item), Noun::ZERO, right])
    })
}

/// The node kills itself on these (§3.4): more than 2 entries, empty lists, bad pkhs.
fn check_key_lists(rest: &Noun) -> Result<Vec<(u64, String)>, String> {
    let [v0, v1] = rest.as_tuple().ok_or("key poke is not [v0 v1]")?;
    let v0 = v0.as_list().ok_or("v0 is not a list")?;
    let v1 = v1.as_list().ok_or("v1 is not a list")?;
    if v0.len() > 2 || v1.len() > 2 {
        return Err("more than 2 keys".into());
    }
    if v0.is_empty() && v1.is_empty() {
        return Err("no keys".into());
    }
    let mut keys = Vec::new();
    for entry in v1 {
        let [share, pkh] = entry.as_tuple().ok_or("v1 entry is not [share pkh]")?;
        let share = share.as_u64().unwrap_or(0);
        if share == 0 {
            return Err("zero share".into());
        }
        let text = pkh.as_cord().ok_or("pkh is not a cord")?;
        text.parse::<PubkeyHash>()
            .map_err(|e| format!("bad pkh {text}: {e}"))?;
        keys.push((share, text));
    }
    Ok(keys)
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
        let block = tags.last().map(String::as_str) == Some("mined");
        if block {
            let mut k = self.0.kernel.lock().unwrap();
            if k.fail_block_pokes > 0 {
                k.fail_block_pokes -= 1;
                return Err(Status::unavailable("node busy (scripted)"));
            }
        }
        self.0.handle_poke(tags, noun);
        if block && self.0.kernel.lock().unwrap().hold_block_acks {
            // The kernel took the block; its acknowledgement never leaves (a node that hangs
            // here, or a pool killed while waiting). Ends when the caller gives up.
            std::future::pending::<()>().await;
        }
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
        let mut filters = request.into_inner().head_filter;
        self.0.record(Event::Watch(
            filters
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect(),
        ));
        if self.0.layout == Layout::IgnoredHeadFilter {
            filters.clear();
        }
        let empty_bytes = self.0.layout == Layout::EmptyEffectBytes;
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
                        let effect = if empty_bytes { Vec::new() } else { bytes };
                        if tx.send(Ok(EffectMessage { effect })).await.is_err() {
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
    /// A v1 coinbase split (share, pkh) the node already has at start, as if set by an earlier
    /// miner; with `mining` it has a candidate paying it before the pool connects.
    pub keys: Vec<(u64, String)>,
    /// Whether mining is already enabled at start.
    pub mining: bool,
    /// How its gRPC layer reads nockpool's messages.
    pub layout: Layout,
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
            keys: Vec::new(),
            mining: false,
            layout: Layout::Faithful,
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
        let mut kernel = Kernel {
            height: script.height,
            tip: [script.height, 1, 2, 3, 4],
            version: script.version,
            pow_len: script.pow_len,
            target: script.target,
            keys: script.keys,
            mining: script.mining,
            verdict: script.verdict,
            candidate: None,
            pages: Vec::new(),
            fail_block_pokes: 0,
            hold_block_acks: false,
            held: None,
            heaviest_chain_empty: false,
            serial: 0,
        };
        // A node that was mining before: its candidate (nobody listens yet).
        kernel.build_candidate();
        let shared = Arc::new(Shared {
            kernel: Mutex::new(kernel),
            events: Mutex::new(Vec::new()),
            changed,
            effects: Mutex::new(effects),
            watch_supported: script.watch_supported,
            layout: script.layout,
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
    /// forgets its mining key, mining flag and candidate (a simplification: what a real
    /// node keeps across a restart depends on its release and flags).
    pub async fn stop(&mut self) {
        if let Some((kill, stop, task)) = self.running.take() {
            kill.send_replace(true);
            let _ = stop.send(());
            let _ = tokio::time::timeout(PATIENCE, task).await;
        }
        let mut k = self.shared.kernel.lock().unwrap();
        k.keys.clear();
        k.mining = false;
        // A restarted node builds a fresh candidate (new timestamp) once mining again.
        k.candidate = None;
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

    /// Emits a new candidate on the same tip (like a timestamp refresh: same coinbase);
    /// returns its commitment.
    pub fn refresh_candidate(&self) -> Option<[u64; 5]> {
        self.shared.next_candidate()
    }

    /// A peer's block becomes the new tip: a page at the next height, `%seen`, and (when
    /// mining) a new candidate built with the node's current keys. Returns the new height.
    pub fn peer_block(&self) -> u64 {
        let (height, effects) = {
            let mut k = self.shared.kernel.lock().unwrap();
            k.serial += 1;
            let id = [k.height + 1, 77, 77, k.serial, 1];
            let proof = Noun::tuple([
                Noun::atom(k.version),
                Noun::list([Noun::tuple([
                    Noun::cord("puzzle"),
                    Noun::belts(&[66, 66, 66, 66, k.serial]),
                    Noun::belts(&[66, 66, 66, 66, 66]),
                    Noun::atom(k.pow_len),
                    Noun::ZERO,
                ])]),
                Noun::ZERO,
                Noun::ZERO,
            ]);
            let mut effects = Vec::new();
            k.accept(id, Noun::cell(Noun::ZERO, proof), &mut effects);
            (k.height, effects)
        };
        self.shared.emit_all(effects);
        height
    }

    /// A peer's bad block, as the node reports it: `[%track %add <id> <peer>]` then
    /// `[%liar-block-id <id> <reason>]`. Returns the id (never one of the pool's).
    pub fn peer_liar_block(&self, reason: &str) -> [u64; 5] {
        let id = {
            let mut k = self.shared.kernel.lock().unwrap();
            k.serial += 1;
            [k.height + 1, 99, 99, k.serial, 2]
        };
        self.shared.emit_all(vec![
            Noun::tuple([
                Noun::cord("track"),
                Noun::cord("add"),
                Noun::belts(&id),
                Noun::cord("12D3KooWPeerOfTheFakeNode"),
            ]),
            Noun::tuple([
                Noun::cord("liar-block-id"),
                Noun::belts(&id),
                Noun::cord(reason),
            ]),
        ]);
        id
    }

    /// Applies `verdict` to the block kept by [`Verdict::Hold`] (if it is still for the
    /// current candidate). Returns whether there was one.
    pub fn decide(&self, verdict: Verdict) -> bool {
        let effects = {
            let mut k = self.shared.kernel.lock().unwrap();
            let Some((prf, commitment, nonce)) = k.held.take() else {
                return false;
            };
            if k.candidate.as_ref().map(|c| c.commitment) != Some(commitment) {
                return false;
            }
            k.judge(verdict, prf, commitment, nonce)
        };
        self.shared.emit_all(effects);
        true
    }

    /// Effects a node emits all the time and the pool never subscribes to (`%gossip`,
    /// `%span`): with a faithful layout the head filter drops them.
    pub fn emit_chatter(&self) {
        self.shared.emit_all(vec![
            Noun::tuple([Noun::cord("gossip"), Noun::atom(1), Noun::atom(2)]),
            Noun::tuple([
                Noun::cord("span"),
                Noun::cord("new-heaviest-chain"),
                Noun::ZERO,
            ]),
        ]);
    }

    /// Makes `[%heaviest-chain ~]` answer `[~ ~]` (an older kernel that has heard a block
    /// above its heaviest chain, or a node still syncing) or the tip again.
    pub fn set_heaviest_chain_empty(&self, empty: bool) {
        self.shared.kernel.lock().unwrap().heaviest_chain_empty = empty;
    }

    /// With `true`, block pokes are taken by the kernel but never acknowledged.
    pub fn hold_block_acks(&self, hold: bool) {
        self.shared.kernel.lock().unwrap().hold_block_acks = hold;
    }

    /// The coinbase split the current candidate pays (fixed when it was built).
    pub fn candidate_keys(&self) -> Option<Vec<(u64, String)>> {
        let k = self.shared.kernel.lock().unwrap();
        k.candidate.as_ref().map(|c| c.keys.clone())
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
        let k = self.shared.kernel.lock().unwrap();
        k.candidate.as_ref().map(|c| c.commitment)
    }
}
