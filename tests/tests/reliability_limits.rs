//! Issue 21 items 2-4: clients that hold descriptors, stop reading, or keep the switch busy
//! must not take the API away from everyone else.
//!
//! - Descriptors: under `RLIMIT_NOFILE` = 128, 200 TCP connects to the gRPC port that never
//!   speak and 300 idle connects to the `--metrics` port leave every listener serving: a
//!   valid client is served on the TCP port and on the unix socket, and metrics answer.
//! - Stalled dumps: 20 `dump-flows` of a 100k-rule table whose readers never read keep the
//!   daemon's RSS bounded (each used to pin a rendered copy of the table).
//! - API stalls: `grpc.health.v1/Check` p99 stays under 100 ms during a 250k-line
//!   replace-flows while `datapath-stats` is called alongside.
//!
//! Each prints its figures (`--nocapture` shows them).

use std::io::Write as _;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vswitch_tests::{ChildGuard, Daemon, START_TIMEOUT, binaries, ctl_raw};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// `n` distinct rules as a flow file, short enough that 250,000 of them fit under
/// vswitch-ctl's 8 MiB flow-file bound (`actions=` with nothing after it is a drop, as in
/// OVS). `variant` (0..64) gives another set of the same size.
fn flow_file(dir: &Path, n: usize, variant: u32) -> PathBuf {
    assert!(n < 1 << 18 && variant < 64);
    let path = dir.join(format!("lk-flows-{n}-{variant}.txt"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n as u32 {
        writeln!(
            f,
            "ip,nw_src=10.{}.{}.{},actions=",
            (i >> 16) | (variant << 2),
            (i >> 8) & 0xff,
            i & 0xff
        )
        .unwrap();
    }
    path
}

/// The tests here each load the machine (floods, 100k-250k rules); run one at a time so
/// that none measures the others.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn descriptor_floods_leave_every_listener_serving() {
    let _serial = serial();
    let dir = tempfile::Builder::new().prefix("lk-fd").tempdir().unwrap();
    let socket = dir.path().join("run/vswitchd.sock");
    let log = dir.path().join("vswitchd.log");
    let (grpc, metrics) = (free_port(), free_port());
    let stderr = std::fs::File::create(&log).unwrap();
    // prlimit execs vswitchd with the lowered limit, so the daemon starts under it.
    let child = Command::new("prlimit")
        .arg("--nofile=128:128")
        .arg("--")
        .arg(&binaries().vswitchd)
        .arg("--db")
        .arg(dir.path().join("conf.db"))
        .arg("--listen")
        .arg(format!("unix:{}", socket.display()))
        .arg("--listen")
        .arg(format!("tcp:127.0.0.1:{grpc}"))
        .arg("--metrics")
        .arg(format!("127.0.0.1:{metrics}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("run prlimit (util-linux)");
    let _daemon = ChildGuard(child);
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + START_TIMEOUT;
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "no start: {}", logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    let unix = format!("unix:{}", socket.display());
    let tcp = format!("tcp:127.0.0.1:{grpc}");
    ctl_raw(&["--server", &unix, "add-br", "br0"], &[]).ok();

    // The attack: connects that never send a byte.
    let mut held = Vec::new();
    for _ in 0..200 {
        held.push(TcpStream::connect(("127.0.0.1", grpc)).expect("connect gRPC port"));
    }
    for _ in 0..300 {
        held.push(TcpStream::connect(("127.0.0.1", metrics)).expect("connect metrics port"));
    }
    std::thread::sleep(Duration::from_millis(500));

    // Every listener still serves valid clients.
    for server in [&unix, &tcp] {
        let t = Instant::now();
        let out = ctl_raw(&["--server", server, "list-br"], &[]);
        assert!(
            out.status.success(),
            "{server} not served: {}\n{}",
            out.stderr,
            logs()
        );
        assert_eq!(out.stdout, "br0\n");
        println!(
            "list-br over {server} with the flood held: {:?}",
            t.elapsed()
        );
    }
    // Metrics: once the idle connects time out (5 s), a scrape is answered.
    let t = Instant::now();
    let scraped = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", metrics)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut body = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut body);
            if body.contains("vswitch_bridges 1") {
                break true;
            }
        }
        if t.elapsed() > Duration::from_secs(20) {
            break false;
        }
    };
    assert!(scraped, "metrics never answered: {}", logs());
    println!("metrics scrape with the flood held: {:?}", t.elapsed());
    drop(held);
    // And after the flood, still.
    ctl_raw(&["--server", &tcp, "list-br"], &[]).ok();
    ctl_raw(&["--server", &unix, "list-br"], &[]).ok();
}

#[test]
fn stalled_dump_readers_keep_memory_bounded() {
    let _serial = serial();
    let dir = tempfile::Builder::new()
        .prefix("lk-dump")
        .tempdir()
        .unwrap();
    let d = Daemon::start(
        &dir.path().join("conf.db"),
        &dir.path().join("run/vswitchd.sock"),
        &[],
    );
    d.ctl(&["add-br", "br0"]).ok();
    let n = 100_000;
    let file = flow_file(dir.path(), n, 1);
    d.ctl(&["replace-flows", "br0", file.to_str().unwrap()])
        .ok();
    let before = rss_kib(d.pid());
    // Readers that never read: vswitch-ctl writing into a pipe nobody drains.
    let server = format!("unix:{}", d.socket.display());
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let child = Command::new(&binaries().ctl)
            .args(["--server", &server, "dump-flows", "br0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        stalled.push(ChildGuard(child));
    }
    std::thread::sleep(Duration::from_secs(4));
    let peak = rss_kib(d.pid());
    let grown_mib = peak.saturating_sub(before) / 1024;
    println!(
        "{n} rules: RSS {} MiB before, {} MiB with 20 stalled dumps (+{grown_mib} MiB)",
        before / 1024,
        peak / 1024
    );
    // A rendered copy of the table is ~25 MB; 20 of them would be ~500 MB.
    assert!(
        grown_mib < 80,
        "stalled dumps grew RSS by {grown_mib} MiB: {}",
        d.log_text()
    );
    drop(stalled);
    // The slots come back when those clients go: a full dump works.
    let t = Instant::now();
    loop {
        let out = d.ctl(&["dump-flows", "br0"]);
        if out.status.success() {
            assert_eq!(out.stdout.lines().count(), n);
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{}", out.stderr);
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn health_checks_answer_during_a_long_replace() {
    let _serial = serial();
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let dir = tempfile::Builder::new().prefix("lk-api").tempdir().unwrap();
    let d = Daemon::start(
        &dir.path().join("conf.db"),
        &dir.path().join("run/vswitchd.sock"),
        &[],
    );
    d.ctl(&["add-br", "br0"]).ok();
    let n = 250_000;
    let file = flow_file(dir.path(), n, 1);
    let server = format!("unix:{}", d.socket.display());
    let replace = Command::new(&binaries().ctl)
        .args(["--server", &server, "replace-flows", "br0"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut replace = ChildGuard(replace);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let socket = d.socket.clone();
    let replace_ref = &mut replace;
    let (lat, replace_took) = rt.block_on(async move {
        let channel = tonic::transport::Endpoint::try_from("http://[::]:50051")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                let path = socket.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await
            .expect("connect to vswitchd");
        let mut health = HealthClient::new(channel.clone());
        let mut diag = proto::v1::diag_service_client::DiagServiceClient::new(channel);
        // Two datapath-stats callers alongside, as in the issue.
        let mut stats_tasks = Vec::new();
        for _ in 0..2 {
            let mut diag = diag.clone();
            stats_tasks.push(tokio::spawn(async move {
                for _ in 0..200 {
                    let _ = diag
                        .datapath_stats(proto::v1::DatapathStatsRequest {})
                        .await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        let _ = diag
            .datapath_stats(proto::v1::DatapathStatsRequest {})
            .await;
        let start = Instant::now();
        let mut lat = Vec::new();
        loop {
            let t = Instant::now();
            health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .expect("health check");
            lat.push(t.elapsed());
            if replace_ref.0.try_wait().unwrap().is_some() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(300), "replace hangs");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for t in stats_tasks {
            t.abort();
        }
        (lat, start.elapsed())
    });
    let status = replace.0.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = replace.0.stderr.take() {
        use std::io::Read as _;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "replace-flows failed: {err}");
    let count = d.ctl(&["dump-flows", "br0"]).ok().lines().count();
    assert_eq!(count, n);
    let mut sorted = lat.clone();
    sorted.sort();
    let p = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
    println!(
        "{n}-line replace-flows took {replace_took:?}; {} health checks meanwhile: \
         p50 {:?}, p99 {:?}, max {:?}",
        sorted.len(),
        p(0.5),
        p(0.99),
        sorted.last().unwrap()
    );
    assert!(
        sorted.len() >= 20,
        "too few health checks: {}",
        sorted.len()
    );
    assert!(
        p(0.99) < Duration::from_millis(100),
        "health p99 {:?}",
        p(0.99)
    );
}
