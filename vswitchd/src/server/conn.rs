//! Accepting connections without letting clients exhaust the daemon's file descriptors.
//!
//! tonic ends a server whose incoming stream yields an accept error it does not know (EMFILE
//! among them), and a handshake that never comes holds its descriptor forever; so 200 plain
//! connects to the mutual-TLS port, under a low `RLIMIT_NOFILE`, used to end every listener
//! for good. Here each listener gets its own accept task that never yields an error:
//!
//! - **Cap**: at most [`ConnLimits::max_conns`] connections per listener (derived from
//!   `RLIMIT_NOFILE`, see [`ConnLimits::for_listeners`]). A connection accepted at the cap
//!   waits for a slot (further clients wait in the kernel's backlog, holding none of our
//!   descriptors), and makes room by evicting the oldest connection that has not yet shown it
//!   speaks the protocol (fewer than [`PROVEN_BYTES`] read, or nothing written), if one is
//!   older than [`EVICT_AFTER`]. A client mid-handshake is never that old; a connect that
//!   never handshakes is the first to go.
//! - **Idle reaping**: an unproven connection is closed after [`ConnLimits::first_idle`]
//!   without traffic, a proven one after [`ConnLimits::idle`].
//! - **Back-off**: EMFILE/ENFILE/ENOBUFS/ENOMEM from `accept` pause the listener (10 ms,
//!   doubling to 1 s) instead of ending it, with at most one warning per [`WARN_EVERY`].
//!
//! The closing errors are `ConnectionAborted`, a kind tonic treats as one failed connection
//! rather than a failed listener.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

/// Bytes a connection must have sent before it counts as speaking the protocol (more than the
/// HTTP/2 preface; any TLS ClientHello is longer).
pub const PROVEN_BYTES: u64 = 64;
/// Unproven connections younger than this are never evicted.
pub const EVICT_AFTER: Duration = Duration::from_millis(250);
/// At most one warning per listener and kind in this interval.
pub const WARN_EVERY: Duration = Duration::from_secs(10);
/// Descriptors kept out of the per-listener budget (database, devices, the runtime's own).
pub const RESERVED_FDS: u64 = 64;

/// Per-listener connection limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    pub max_conns: usize,
    /// Idle time after which an unproven connection is closed.
    pub first_idle: Duration,
    /// Idle time after which any connection is closed.
    pub idle: Duration,
}

impl ConnLimits {
    /// Limits for one of `listeners` listeners (plus one share for everything else), from the
    /// process's soft `RLIMIT_NOFILE`: between 8 and 1024 connections each.
    pub fn for_listeners(listeners: usize) -> ConnLimits {
        let mut lim = libc::rlimit {
            rlim_cur: 1024,
            rlim_max: 1024,
        };
        // SAFETY: getrlimit writes into the struct we pass and has no other effect.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            lim.rlim_cur = 1024;
        }
        let budget = lim.rlim_cur.saturating_sub(RESERVED_FDS);
        let share = budget / (listeners as u64 + 1);
        ConnLimits {
            max_conns: share.clamp(8, 1024) as usize,
            first_idle: Duration::from_secs(10),
            idle: Duration::from_secs(120),
        }
    }
}

/// A listening socket the accept task can drive.
pub trait Listener: Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static;
    fn accept(&self) -> impl std::future::Future<Output = io::Result<Self::Io>> + Send;
}

impl Listener for TcpListener {
    type Io = TcpStream;
    async fn accept(&self) -> io::Result<TcpStream> {
        let (s, _) = TcpListener::accept(self).await?;
        let _ = s.set_nodelay(true);
        Ok(s)
    }
}

impl Listener for UnixListener {
    type Io = UnixStream;
    async fn accept(&self) -> io::Result<UnixStream> {
        UnixListener::accept(self).await.map(|(s, _)| s)
    }
}

/// The stream of accepted connections for tonic's `serve_with_incoming`; it never yields an
/// error and ends only when the server drops it.
pub fn incoming<L: Listener>(
    listener: L,
    limits: ConnLimits,
    what: String,
) -> ReceiverStream<io::Result<Guarded<L::Io>>> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(accept_loop(listener, tx, limits, what));
    ReceiverStream::new(rx)
}

/// Whether an accept error means the process or the system is out of descriptors or memory.
fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// At most one log line per [`WARN_EVERY`], with the number of events in between.
#[derive(Debug, Default)]
struct RateLimited {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    /// Some(events since the last line) if a line is due now.
    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed) + 1)
    }
}

async fn accept_loop<L: Listener>(
    listener: L,
    tx: mpsc::Sender<io::Result<Guarded<L::Io>>>,
    limits: ConnLimits,
    what: String,
) {
    const MIN_BACKOFF: Duration = Duration::from_millis(10);
    const MAX_BACKOFF: Duration = Duration::from_secs(1);
    let tracker = Tracker::new(limits);
    let mut backoff = MIN_BACKOFF;
    let (mut full_log, mut fd_log, mut err_log) = Default::default();
    loop {
        // Accept first, then find the connection a slot: evicting happens only for a client
        // that is really waiting, and the listener goes at most one over its cap meanwhile.
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = tx.closed() => return,
        };
        match accepted {
            Ok(io) => {
                backoff = MIN_BACKOFF;
                let permit = tokio::select! {
                    p = tracker.slot(&mut full_log, &what) => p,
                    _ = tx.closed() => return,
                };
                if tx.send(Ok(tracker.guard(io, permit))).await.is_err() {
                    return;
                }
            }
            Err(e) if out_of_resources(&e) => {
                if let Some(n) = RateLimited::due(&mut fd_log) {
                    tracing::warn!(listen = %what, error = %e, events = n,
                        "cannot accept connections: out of descriptors; backing off");
                }
                // Free a descriptor held by a connection that never handshook, if any.
                tracker.evict_one();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => {
                // A connection that failed before we got it (ECONNABORTED, ...): not the
                // listener's problem.
                if let Some(n) = RateLimited::due(&mut err_log) {
                    tracing::warn!(listen = %what, error = %e, events = n, "accept failed");
                }
                tokio::time::sleep(MIN_BACKOFF).await;
            }
        }
    }
}

/// What the tracker knows of one live connection.
#[derive(Debug)]
struct ConnState {
    accepted: Instant,
    /// Milliseconds since `accepted` of the last byte read or written.
    last_active_ms: AtomicU64,
    read: AtomicU64,
    wrote: AtomicBool,
    evict: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ConnState {
    fn proven(&self) -> bool {
        self.read.load(Ordering::Relaxed) >= PROVEN_BYTES && self.wrote.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        let ms = self.accepted.elapsed().as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }
}

/// The connections of one listener.
struct Tracker {
    slots: Arc<Semaphore>,
    conns: Mutex<Vec<Weak<ConnState>>>,
    limits: ConnLimits,
}

impl Tracker {
    fn new(limits: ConnLimits) -> Tracker {
        Tracker {
            slots: Arc::new(Semaphore::new(limits.max_conns)),
            conns: Mutex::new(Vec::new()),
            limits,
        }
    }

    /// A connection slot: at the cap, evicts the oldest unproven connection if there is one
    /// old enough, and waits for a slot to free.
    async fn slot(&self, log: &mut RateLimited, what: &str) -> OwnedSemaphorePermit {
        loop {
            if let Ok(p) = Arc::clone(&self.slots).try_acquire_owned() {
                return p;
            }
            if !self.evict_one()
                && let Some(n) = log.due()
            {
                tracing::warn!(listen = %what, max = self.limits.max_conns, events = n,
                    "connection limit reached; new clients wait");
            }
            let wait = Arc::clone(&self.slots).acquire_owned();
            if let Ok(Ok(p)) = tokio::time::timeout(EVICT_AFTER, wait).await {
                return p;
            }
        }
    }

    /// Asks the oldest unproven connection older than [`EVICT_AFTER`] to close; true if
    /// there was one.
    fn evict_one(&self) -> bool {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.retain(|w| w.strong_count() > 0);
        let victim = conns
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| {
                !c.proven()
                    && !c.evict.load(Ordering::Relaxed)
                    && c.accepted.elapsed() >= EVICT_AFTER
            })
            .min_by_key(|c| c.accepted);
        let Some(v) = victim else {
            return false;
        };
        v.evict.store(true, Ordering::Relaxed);
        if let Some(w) = v.waker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            w.wake();
        }
        true
    }

    fn guard<Io>(&self, io: Io, permit: OwnedSemaphorePermit) -> Guarded<Io> {
        let state = Arc::new(ConnState {
            accepted: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            read: AtomicU64::new(0),
            wrote: AtomicBool::new(false),
            evict: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&state));
        Guarded {
            io,
            timer: Box::pin(tokio::time::sleep(self.limits.first_idle)),
            state,
            limits: self.limits,
            _permit: permit,
        }
    }
}

/// An accepted connection that holds its listener slot, counts its traffic, and fails its
/// reads once it is idle too long or evicted.
pub struct Guarded<Io> {
    io: Io,
    state: Arc<ConnState>,
    timer: Pin<Box<tokio::time::Sleep>>,
    limits: ConnLimits,
    _permit: OwnedSemaphorePermit,
}

fn aborted(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, why)
}

impl<Io> Guarded<Io> {
    /// Pending until the idle deadline; then the error that closes the connection.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            let idle = if self.state.proven() {
                self.limits.idle
            } else {
                self.limits.first_idle
            };
            let last = Duration::from_millis(self.state.last_active_ms.load(Ordering::Relaxed));
            let deadline = tokio::time::Instant::from_std(self.state.accepted + last + idle);
            if tokio::time::Instant::now() >= deadline {
                return Poll::Ready(aborted("idle connection closed"));
            }
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            match self.timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => continue,
            }
        }
    }
}

impl<Io: Connected> Connected for Guarded<Io> {
    type ConnectInfo = Io::ConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Guarded<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state.evict.load(Ordering::Relaxed) {
            return Poll::Ready(Err(aborted("connection evicted: the listener is full")));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = (buf.filled().len() - before) as u64;
                if n > 0 {
                    this.state.read.fetch_add(n, Ordering::Relaxed);
                    this.state.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                *this.state.waker.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(cx.waker().clone());
                this.poll_idle(cx).map(Err)
            }
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Guarded<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r
            && n > 0
        {
            this.state.wrote.store(true, Ordering::Relaxed);
            this.state.touch();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r
            && n > 0
        {
            this.state.wrote.store(true, Ordering::Relaxed);
            this.state.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_stream::StreamExt;

    fn limits(max: usize) -> ConnLimits {
        ConnLimits {
            max_conns: max,
            first_idle: Duration::from_millis(1000),
            idle: Duration::from_secs(30),
        }
    }

    /// Serves a connection as hyper would (always reading); reports how it ended and when.
    fn serve(mut g: Guarded<TcpStream>) -> tokio::task::JoinHandle<(io::ErrorKind, Instant)> {
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            loop {
                match g.read(&mut buf).await {
                    Ok(0) => return (io::ErrorKind::UnexpectedEof, Instant::now()),
                    Ok(n) => {
                        let _ = g.write_all(&buf[..n]).await;
                    }
                    Err(e) => return (e.kind(), Instant::now()),
                }
            }
        })
    }

    #[tokio::test]
    async fn silent_connections_are_reaped_and_evicted_at_the_cap() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let mut inc = incoming(l, limits(4), "test".into());
        // Four silent clients fill the listener.
        let mut silent = Vec::new();
        let mut served = Vec::new();
        for _ in 0..4 {
            silent.push(TcpStream::connect(addr).await.unwrap());
            served.push(serve(inc.next().await.unwrap().unwrap()));
        }
        let start = Instant::now();
        // A fifth is accepted once the oldest silent one is evicted.
        let mut good = TcpStream::connect(addr).await.unwrap();
        let g = tokio::time::timeout(Duration::from_millis(900), inc.next())
            .await
            .expect("accepted after an eviction, before any idle timeout")
            .unwrap()
            .unwrap();
        let _g = serve(g);
        let (kind, _) = served.remove(0).await.unwrap();
        assert_eq!(kind, io::ErrorKind::ConnectionAborted);
        // The served connection works.
        let mut buf = [0u8; 8];
        good.write_all(b"ping").await.unwrap();
        let n = good.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        // The other silent ones are reaped after first_idle.
        for s in served {
            let (kind, at) = s.await.unwrap();
            assert_eq!(kind, io::ErrorKind::ConnectionAborted);
            let after = at.duration_since(start);
            assert!(after >= Duration::from_millis(950) && after < Duration::from_secs(3));
        }
    }

    #[test]
    fn limits_follow_the_descriptor_budget() {
        let l = ConnLimits::for_listeners(2);
        assert!((8..=1024).contains(&l.max_conns));
    }
}
