//! Prometheus metrics over a minimal HTTP/1.1 responder (`--metrics HOST:PORT`, `GET /metrics`).
//!
//! A scrape is a handful of GETs a minute, so a full HTTP stack would be weight without
//! purpose: this reads one request head (bounded to 8 KiB, 5 s to arrive), answers it and
//! closes the connection. The text is rendered from live state at scrape time; the only
//! state kept here is the per-RPC outcome counters the gRPC services feed.
//!
//! Exposition format: Prometheus text 0.0.4 (`# HELP`, `# TYPE`, `name{labels} value`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_REQUEST_HEAD: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the metrics listener.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address could not be bound.
    #[error("cannot listen for metrics on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Counters of RPC outcomes, by method and gRPC status code name.
#[derive(Debug, Default)]
pub struct RpcCounters {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl RpcCounters {
    /// Counts one finished call of `method` that ended with `code` (e.g. `"Ok"`, `"NotFound"`).
    pub fn record(&self, method: &'static str, code: &'static str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((method, code)).or_default() += 1;
    }

    /// Appends the counters in exposition format.
    pub fn render(&self, out: &mut String) {
        out.push_str(
            "# HELP vswitch_grpc_requests_total gRPC calls handled, by method and status code.\n",
        );
        out.push_str("# TYPE vswitch_grpc_requests_total counter\n");
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for ((method, code), n) in counts.iter() {
            let _ = writeln!(
                out,
                "vswitch_grpc_requests_total{{method=\"{method}\",code=\"{code}\"}} {n}"
            );
        }
    }
}

/// Appends one gauge family (`# HELP`, `# TYPE`, one sample per label set).
pub fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// Escapes a label value per the exposition format.
pub fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Binds `addr`; call [`serve`] with the listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })
}

/// Most connections served at once. A connection that has not sent its request head yet is
/// evicted, oldest first, when a new one arrives and every slot is taken: a scraper sends its
/// request at once, so idle connects to this unauthenticated port (which would otherwise hold
/// the slots for [`READ_TIMEOUT`] each, with every later scrape queued behind them) can
/// neither use up the daemon's descriptors nor keep scrapes out.
pub const MAX_CONNECTIONS: usize = 16;

/// Connections still reading their request head, oldest first: the eviction candidates.
#[derive(Default)]
struct Waiting {
    next_id: u64,
    conns: std::collections::VecDeque<(u64, tokio::task::AbortHandle)>,
}

fn lock_waiting(w: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    // Each critical section leaves the queue consistent; a poisoned lock is still sound.
    w.lock().unwrap_or_else(|p| p.into_inner())
}

/// Answers scrapes until the task is dropped; `render` produces the body of each (on the
/// blocking pool: it reads the dataplane under its locks).
pub async fn serve<F>(listener: TcpListener, render: F)
where
    F: Fn() -> String + Clone + Send + Sync + 'static,
{
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let waiting = std::sync::Arc::new(Mutex::new(Waiting::default()));
    let mut backoff = Duration::from_millis(10);
    let mut last_warn: Option<std::time::Instant> = None;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff = Duration::from_millis(10);
                stream
            }
            Err(e) => {
                // EMFILE and the like are transient: back off instead of spinning or ending.
                if last_warn.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(error = %e, "metrics: accept failed; backing off");
                    last_warn = Some(std::time::Instant::now());
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let permit = match std::sync::Arc::clone(&slots).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Full: make room by evicting the oldest connection that is still silent.
                if let Some((_, oldest)) = lock_waiting(&waiting).conns.pop_front() {
                    oldest.abort();
                }
                let Ok(p) = std::sync::Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                p
            }
        };
        let render = render.clone();
        let mut w = lock_waiting(&waiting);
        let id = w.next_id;
        w.next_id += 1;
        let queue = std::sync::Arc::clone(&waiting);
        let task = tokio::spawn(async move {
            let _permit = permit;
            let forget = move || lock_waiting(&queue).conns.retain(|(i, _)| *i != id);
            if let Err(e) = answer(stream, render, &forget).await {
                tracing::debug!(error = %e, "metrics connection failed");
            }
            forget();
        });
        w.conns.push_back((id, task.abort_handle()));
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    NotFound,
    BadMethod,
    BadRequest,
}

/// Routes a request head (everything up to the blank line).
fn route(head: &[u8]) -> Route {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(target), Some(version)) if version.starts_with("HTTP/1.") => {
            let path = target.split('?').next().unwrap_or_default();
            match (method, path) {
                ("GET" | "HEAD", "/metrics" | "/") => Route::Metrics,
                ("GET" | "HEAD", _) => Route::NotFound,
                _ => Route::BadMethod,
            }
        }
        _ => Route::BadRequest,
    }
}

/// Serves one connection; `spoke` is called once its request head has arrived or the wait
/// for it ended (it is no longer an eviction candidate).
async fn answer<F>(mut stream: TcpStream, render: F, spoke: impl Fn()) -> std::io::Result<()>
where
    F: Fn() -> String + Send + 'static,
{
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
            let n = stream.read(&mut buf).await?;
            if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
                return Ok::<bool, std::io::Error>(false);
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok(true)
    };
    let complete = tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .unwrap_or(Ok(false))?;
    spoke();
    let is_head = head.starts_with(b"HEAD ");
    let (status, ctype, body) = match if complete {
        route(&head)
    } else {
        Route::BadRequest
    } {
        Route::Metrics => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            tokio::task::spawn_blocking(render)
                .await
                .map_err(std::io::Error::other)?,
        ),
        Route::NotFound => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics\n".to_owned(),
        ),
        Route::BadMethod => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_owned(),
        ),
        Route::BadRequest => ("400 Bad Request", "text/plain", "bad request\n".to_owned()),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !is_head {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Writes one counter family (values only ever grow).
pub fn counter(out: &mut String, name: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// The slow path's families: failed translations per kind, recirculation ids.
pub fn slow_path(out: &mut String, s: &crate::dataplane::SlowStats) {
    let errors: Vec<(String, u64)> = s
        .xlate_errors
        .iter()
        .map(|(k, n)| (format!("kind=\"{k}\""), *n))
        .collect();
    counter(
        out,
        "vswitch_xlate_errors_total",
        "Upcalls whose translation failed, by kind.",
        &errors,
    );
    let one = |v: u64| [(String::new(), v)];
    gauge(
        out,
        "vswitch_recirc_ids",
        "Recirculation ids in use.",
        &one(s.recirc.live),
    );
    gauge(
        out,
        "vswitch_recirc_id_limit",
        "Bound on recirculation ids in use.",
        &one(s.recirc.limit),
    );
    counter(
        out,
        "vswitch_recirc_ids_freed_total",
        "Recirculation ids freed.",
        &one(s.recirc.freed),
    );
    counter(
        out,
        "vswitch_packet_in_queued_total",
        "Packets controller actions sent up to the OpenFlow connections.",
        &one(s.punt.queued),
    );
    counter(
        out,
        "vswitch_packet_in_dropped_total",
        "Packets controller actions sent up that were dropped: the queue to the OpenFlow connections was full.",
        &one(s.punt.dropped),
    );
}

/// Process figures from `/proc/self`: resident memory (bytes), CPU time (ms), threads, open
/// file descriptors. Missing entries (not Linux) are left out.
pub fn process_stats() -> Vec<(&'static str, &'static str, u64)> {
    let mut v = Vec::new();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            let mut it = line.split_whitespace();
            match (it.next(), it.next()) {
                (Some("VmRSS:"), Some(kb)) => {
                    if let Ok(kb) = kb.parse::<u64>() {
                        v.push((
                            "vswitch_process_resident_memory_bytes",
                            "Resident memory.",
                            kb * 1024,
                        ));
                    }
                }
                (Some("Threads:"), Some(n)) => {
                    if let Ok(n) = n.parse::<u64>() {
                        v.push(("vswitch_process_threads", "Threads.", n));
                    }
                }
                _ => {}
            }
        }
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may contain spaces) start after ')'.
        if let Some(rest) = stat.rsplit(')').next() {
            let f: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of stat(5): 12 and 13 here.
            if let (Some(u), Some(s)) = (f.get(11), f.get(12))
                && let (Ok(u), Ok(s)) = (u.parse::<u64>(), s.parse::<u64>())
            {
                // SAFETY: sysconf has no preconditions.
                let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
                v.push((
                    "vswitch_process_cpu_milliseconds",
                    "CPU time used (user + system).",
                    (u + s) * 1000 / hz,
                ));
            }
        }
    }
    if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
        v.push((
            "vswitch_process_open_fds",
            "Open file descriptors.",
            d.count() as u64,
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics
        );
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Route::Metrics);
        assert_eq!(route(b"GET /other HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::BadMethod);
        assert_eq!(route(b"hello\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"GET /metrics SPDY/3\r\n\r\n"), Route::BadRequest);
    }

    #[test]
    fn exposition_format() {
        let c = RpcCounters::default();
        c.record("AddBridge", "Ok");
        c.record("AddBridge", "Ok");
        c.record("AddPort", "NotFound");
        let mut out = String::new();
        gauge(
            &mut out,
            "vswitch_bridges",
            "Bridges.",
            &[(String::new(), 2)],
        );
        gauge(
            &mut out,
            "vswitch_ports",
            "Ports.",
            &[(format!("bridge=\"{}\"", label_value("b\"r")), 3)],
        );
        c.render(&mut out);
        assert_eq!(
            out,
            "# HELP vswitch_bridges Bridges.\n# TYPE vswitch_bridges gauge\nvswitch_bridges 2\n\
             # HELP vswitch_ports Ports.\n# TYPE vswitch_ports gauge\nvswitch_ports{bridge=\"b\\\"r\"} 3\n\
             # HELP vswitch_grpc_requests_total gRPC calls handled, by method and status code.\n\
             # TYPE vswitch_grpc_requests_total counter\n\
             vswitch_grpc_requests_total{method=\"AddBridge\",code=\"Ok\"} 2\n\
             vswitch_grpc_requests_total{method=\"AddPort\",code=\"NotFound\"} 1\n"
        );
    }

    #[tokio::test]
    async fn serves_over_tcp() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener, || "x 1\n".to_owned()));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.ends_with("\r\n\r\nx 1\n"), "{resp}");
        task.abort();
    }
}
