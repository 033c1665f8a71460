//! The pool's own accept loop, in front of tonic: every accepted socket gets a deadline for the
//! HTTP/2 handshake, each address may hold only so many sockets that have not finished it,
//! accept errors are logged (rate-limited) instead of dropped, and every socket notes when its
//! peer last sent anything (so a frozen miner is told apart from one that closed its stream).
//!
//! "Handshake" here is what the client owes first: the 24-byte HTTP/2 connection preface and
//! its first frame (SETTINGS). A real client sends both at once when it connects, so neither
//! the deadline nor the per-address cap touches it, however many miners connect at once; a
//! socket that sends nothing, or drips bytes, holds its slot until the deadline closes it.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE_LEN: usize = 24;
/// An HTTP/2 frame header.
const FRAME_HEADER_LEN: usize = 9;
/// Pause after an accept error that a retry cannot fix at once (no descriptors, no memory), so
/// the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// At most one log line per this interval for accept errors and refused sockets.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What the accept loop enforces.
#[derive(Clone, Debug)]
pub(crate) struct AcceptConfig {
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_handshaking_per_ip: usize,
}

/// Sockets per address that have not finished the handshake.
#[derive(Debug, Default)]
pub(crate) struct Handshaking {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Handshaking {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<HandshakeSlot> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = per_ip.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(HandshakeSlot {
            ip,
            of: self.clone(),
        })
    }

    /// Sockets that have not finished the handshake, over all addresses.
    pub(crate) fn total(&self) -> usize {
        let per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        per_ip.values().sum()
    }
}

/// One socket's place in [`Handshaking`], given back when dropped.
#[derive(Debug)]
struct HandshakeSlot {
    ip: IpAddr,
    of: Arc<Handshaking>,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let mut per_ip = self.of.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// When a socket's peer last sent a byte.
#[derive(Debug)]
pub(crate) struct Liveness {
    opened: Instant,
    last_read_ms: AtomicU64,
}

impl Liveness {
    fn new() -> Liveness {
        Liveness {
            opened: Instant::now(),
            last_read_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis().min(u64::MAX as u128) as u64;
        self.last_read_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long the peer has sent nothing.
    pub(crate) fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_read_ms.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last)
    }
}

/// What the service learns about a connection (a request extension, through [`Connected`]).
#[derive(Clone, Debug)]
pub(crate) struct PeerInfo {
    pub(crate) remote_addr: SocketAddr,
    pub(crate) liveness: Arc<Liveness>,
}

/// The handshake a socket still owes: its deadline and how far it got.
struct Pending {
    _slot: HandshakeSlot,
    deadline: Pin<Box<Sleep>>,
    seen: usize,
    first_frame_header: [u8; FRAME_HEADER_LEN],
}

impl Pending {
    /// Counts bytes the client sent; true once the preface and the whole first frame are in.
    fn observe(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if let Some(i) = self.seen.checked_sub(PREFACE_LEN) {
                if i < FRAME_HEADER_LEN {
                    self.first_frame_header[i] = b;
                }
            }
            self.seen += 1;
            if self.complete() {
                return true;
            }
        }
        false
    }

    fn complete(&self) -> bool {
        if self.seen < PREFACE_LEN + FRAME_HEADER_LEN {
            return false;
        }
        let [a, b, c, ..] = self.first_frame_header;
        let payload = u32::from_be_bytes([0, a, b, c]) as usize;
        self.seen >= PREFACE_LEN + FRAME_HEADER_LEN + payload
    }
}

/// An accepted socket, as tonic serves it.
pub(crate) struct PeerStream {
    // Declared (so dropped) before the socket: once the peer sees its socket closed, the
    // handshake slot is free.
    handshake: Option<Pending>,
    inner: TcpStream,
    info: PeerInfo,
}

impl Connected for PeerStream {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if !new.is_empty() {
                    this.info.liveness.touch();
                    if this.handshake.as_mut().is_some_and(|h| h.observe(new)) {
                        this.handshake = None; // frees its slot; no deadline from now on
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                // Waiting for the peer: while it owes the handshake, its deadline wakes us too.
                if let Some(h) = &mut this.handshake {
                    if h.deadline.as_mut().poll(cx).is_ready() {
                        tracing::debug!(
                            addr = %this.info.remote_addr,
                            "closing a connection that did not complete the HTTP/2 handshake \
                             in time"
                        );
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no HTTP/2 handshake within the deadline",
                        )));
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// At most one line per [`LOG_INTERVAL`], counting what it left out.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// `Some(left out since the last line)` when a line may be logged now.
    fn ready(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < LOG_INTERVAL)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Whether an accept error is the machine running out of something (retrying at once fails
/// again), as opposed to one connection's trouble (aborted, reset).
fn is_exhaustion(e: &io::Error) -> bool {
    #[cfg(unix)]
    if let Some(code) = e.raw_os_error() {
        return matches!(
            code,
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
        );
    }
    matches!(e.kind(), io::ErrorKind::OutOfMemory)
}

/// The accepted sockets, for `serve_with_incoming`.
pub(crate) struct Incoming {
    listener: TcpListener,
    config: AcceptConfig,
    handshaking: Arc<Handshaking>,
    pause: Option<Pin<Box<Sleep>>>,
    errors: Throttle,
    refusals: Throttle,
}

impl Incoming {
    pub(crate) fn new(
        listener: TcpListener,
        config: AcceptConfig,
        handshaking: Arc<Handshaking>,
    ) -> Incoming {
        Incoming {
            listener,
            config,
            handshaking,
            pause: None,
            errors: Throttle::default(),
            refusals: Throttle::default(),
        }
    }

    fn accepted(&mut self, stream: TcpStream, addr: SocketAddr) -> Option<PeerStream> {
        let Some(slot) = self
            .handshaking
            .enter(addr.ip(), self.config.max_handshaking_per_ip)
        else {
            if let Some(left_out) = self.refusals.ready() {
                tracing::warn!(
                    "refused a connection from {}: it already has {} connections that have not \
                     completed the HTTP/2 handshake (--max-handshaking-per-ip); {left_out} more \
                     refused since the last such line",
                    addr.ip(),
                    self.config.max_handshaking_per_ip
                );
            }
            return None; // dropping the socket closes it
        };
        // Jobs are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        Some(PeerStream {
            inner: stream,
            info: PeerInfo {
                remote_addr: addr,
                liveness: Arc::new(Liveness::new()),
            },
            handshake: Some(Pending {
                _slot: slot,
                deadline: Box::pin(tokio::time::sleep(self.config.handshake_timeout)),
                seen: 0,
                first_frame_header: [0; FRAME_HEADER_LEN],
            }),
        })
    }

    fn log_error(&mut self, e: &io::Error) {
        if let Some(left_out) = self.errors.ready() {
            let hint = if is_exhaustion(e) {
                " (out of file descriptors or memory: raise the descriptor limit, e.g. \
                 LimitNOFILE in the systemd unit or `ulimit -n`, or lower --max-miners)"
            } else {
                ""
            };
            tracing::warn!(
                "accepting a connection failed: {e}{hint}; {left_out} more accept errors since \
                 the last such line"
            );
        }
    }
}

impl Stream for Incoming {
    type Item = io::Result<PeerStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(pause) = &mut this.pause {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.pause = None;
            }
            match this.listener.poll_accept(cx) {
                Poll::Ready(Ok((stream, addr))) => {
                    if let Some(peer) = this.accepted(stream, addr) {
                        return Poll::Ready(Some(Ok(peer)));
                    }
                }
                Poll::Ready(Err(e)) => {
                    this.log_error(&e);
                    if is_exhaustion(&e) {
                        this.pause = Some(Box::pin(tokio::time::sleep(ACCEPT_ERROR_PAUSE)));
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Connections the kernel may hold completed but not yet accepted (capped by the system's
/// `net.core.somaxconn`). The usual 1,024 overflows when a whole farm reconnects at once
/// (after a pool restart) and the overflow is answered with resets.
const LISTEN_BACKLOG: u32 = 65_535;

/// Binds `addr` for a pool server, with a listen backlog deep enough for a farm's
/// reconnection storm. [`PoolServer::run`](crate::PoolServer::run) binds with it; pass its
/// listener to [`PoolServer::serve`](crate::PoolServer::serve) to bind yourself.
pub async fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // A restarted pool can bind while the old one's connections linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The process's open-descriptor limit after [`raise_descriptor_limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DescriptorLimit {
    /// The soft limit before (what the process was started with).
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit (the most an unprivileged process may raise its soft limit to).
    pub hard: u64,
}

/// Raises this process's soft limit on open file descriptors to its hard limit (each miner
/// holds one; the common default of 1,024 is far below a farm's needs), and says what it is
/// now. On systems without such limits it reports `u64::MAX` everywhere.
// `rlim_t` is u64 on Linux but not on every Unix.
#[allow(clippy::unnecessary_cast)]
pub fn raise_descriptor_limit() -> io::Result<DescriptorLimit> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit into the valid, exclusively borrowed `lim`.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let before = lim.rlim_cur as u64;
        let hard = lim.rlim_max as u64;
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: setrlimit only reads the valid `raised`.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(DescriptorLimit {
            before,
            now: hard.max(before),
            hard,
        })
    }
    #[cfg(not(unix))]
    {
        Ok(DescriptorLimit {
            before: u64::MAX,
            now: u64::MAX,
            hard: u64::MAX,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(handshaking: &Arc<Handshaking>) -> Pending {
        Pending {
            _slot: handshaking.enter([127, 0, 0, 1].into(), 8).unwrap(),
            deadline: Box::pin(tokio::time::sleep(Duration::from_secs(10))),
            seen: 0,
            first_frame_header: [0; FRAME_HEADER_LEN],
        }
    }

    #[tokio::test]
    async fn the_handshake_is_the_preface_and_the_first_frame() {
        let handshaking = Arc::new(Handshaking::default());
        let mut p = pending(&handshaking);
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        // A SETTINGS frame with two 6-byte settings, sent in pieces.
        let header = [0, 0, 12, 4, 0, 0, 0, 0, 0];
        assert!(!p.observe(preface));
        assert!(!p.observe(&header[..5]));
        assert!(!p.observe(&header[5..]));
        assert!(!p.observe(&[0; 11]));
        assert_eq!(handshaking.total(), 1);
        assert!(p.observe(&[0; 1]));
        // An empty first frame completes with its header.
        let mut q = pending(&handshaking);
        let mut all = preface.to_vec();
        all.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        all.extend_from_slice(b"more frames");
        assert!(q.observe(&all));
        drop((p, q));
        assert_eq!(handshaking.total(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn error_lines_are_rate_limited_and_count_what_they_left_out() {
        let mut throttle = Throttle::default();
        assert_eq!(throttle.ready(), Some(0));
        for _ in 0..5 {
            assert_eq!(throttle.ready(), None);
        }
        tokio::time::advance(LOG_INTERVAL).await;
        assert_eq!(throttle.ready(), Some(5));
        assert_eq!(throttle.ready(), None);
    }

    #[test]
    fn the_per_address_cap_counts_each_address_alone() {
        let h = Arc::new(Handshaking::default());
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let held: Vec<_> = (0..3).map(|_| h.enter(a, 3).unwrap()).collect();
        assert!(h.enter(a, 3).is_none());
        let other = h.enter(b, 3).unwrap();
        drop(held);
        assert!(h.enter(a, 3).is_some());
        drop(other);
    }

    #[test]
    fn the_descriptor_limit_is_raised_to_the_hard_limit() {
        let limit = raise_descriptor_limit().unwrap();
        assert_eq!(limit.now, limit.hard.max(limit.before));
        assert_eq!(raise_descriptor_limit().unwrap().before, limit.now);
    }
}
