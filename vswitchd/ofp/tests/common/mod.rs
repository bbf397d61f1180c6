//! Test harness around the real `ovs-ofctl` (Open vSwitch 3.1).
//!
//! - [`ofp_print`] runs `ovs-ofctl ofp-print HEX`, OVS's own decoder, on bytes we encoded.
//! - [`capture`] plays a minimal switch on a private unix socket: it answers hello, features,
//!   config, barrier, echo, role, bundle control and empty multipart replies, and records every
//!   message `ovs-ofctl ... unix:SOCK` sends, as raw bytes and as decoded by this crate.
//!
//! Without `ovs-ofctl` the tests skip loudly, except under `CI=true`, where they fail.
//! Sockets live in `$TMPDIR/of-ofp-PID-N/` (helper tag `of`), removed afterwards.

#![allow(dead_code)]

use ofp::message::{BundleCtrl, Features, SwitchConfig};
use ofp::multipart::{Desc, MpReply, MpRequest};
use ofp::{Message, Version};
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// True if ovs-ofctl can run; otherwise skips (or fails under CI).
pub fn have_ovs_ofctl() -> bool {
    let ok = Command::new("ovs-ofctl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ovs-ofctl is required under CI (apt-get install openvswitch-common)"
        );
        eprintln!("SKIPPING: ovs-ofctl not installed (this would fail under CI=true)");
    }
    ok
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ovs-ofctl ofp-print HEX`: OVS's decoding of `bytes`.
pub fn ofp_print(bytes: &[u8]) -> String {
    let out = Command::new("ovs-ofctl")
        .arg("ofp-print")
        .arg(hex(bytes))
        .output()
        .expect("run ovs-ofctl ofp-print");
    assert!(
        out.status.success(),
        "ofp-print failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

static N: AtomicUsize = AtomicUsize::new(0);

/// A private directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("of-ofp-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One message received from ovs-ofctl.
#[derive(Debug)]
pub struct Received {
    pub bytes: Vec<u8>,
    pub decoded: Result<(ofp::Header, Message), ofp::DecodeError>,
}

/// What a capture produced.
#[derive(Debug)]
pub struct Capture {
    pub messages: Vec<Received>,
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Capture {
    /// The decoded messages, failing the test on any undecodable one.
    pub fn decoded(&self) -> Vec<(ofp::Header, Message)> {
        self.messages
            .iter()
            .map(|m| match &m.decoded {
                Ok(d) => d.clone(),
                Err(e) => panic!("could not decode {:02x?}: {e}", m.bytes),
            })
            .collect()
    }
}

fn negotiate(theirs: Option<u32>, their_version: u8) -> Version {
    let ours = Version::ALL;
    let bitmap = theirs.unwrap_or_else(|| {
        // No bitmap: every version up to theirs.
        (1u32 << (u32::from(their_version) + 1)) - 2
    });
    ours.iter()
        .rev()
        .copied()
        .find(|v| bitmap & v.bitmap_bit() != 0)
        .expect("a common version")
}

fn reply_for(m: &Message) -> Option<Message> {
    Some(match m {
        Message::FeaturesRequest => Message::FeaturesReply(Features {
            datapath_id: 0x1,
            n_buffers: 0,
            n_tables: 254,
            capabilities: 0x4f,
            ..Features::default()
        }),
        Message::GetConfigRequest => Message::GetConfigReply(SwitchConfig {
            flags: 0,
            miss_send_len: 128,
        }),
        Message::BarrierRequest => Message::BarrierReply,
        Message::EchoRequest(d) => Message::EchoReply(d.clone()),
        Message::RoleRequest(r) => Message::RoleReply(*r),
        Message::BundleControl(b) => Message::BundleControl(BundleCtrl {
            typ: b.typ + 1,
            ..*b
        }),
        Message::MultipartRequest { body, .. } => Message::MultipartReply {
            flags: 0,
            body: match body {
                MpRequest::Desc => MpReply::Desc(Desc::default()),
                MpRequest::Flow(_) => MpReply::Flow(Vec::new()),
                MpRequest::NxFlow(_) => MpReply::NxFlow(Vec::new()),
                MpRequest::Table => MpReply::Table(Vec::new()),
                MpRequest::PortStats { .. } => MpReply::PortStats(Vec::new()),
                MpRequest::PortDesc { .. } => MpReply::PortDesc(Vec::new()),
                MpRequest::Queue { .. } => MpReply::Queue(Vec::new()),
                MpRequest::TableFeatures(_) => {
                    MpReply::TableFeatures(vec![ofp::multipart::TableFeatures {
                        table_id: 0,
                        name: "classifier".into(),
                        max_entries: 1_000_000,
                        properties: required_table_properties(),
                        ..Default::default()
                    }])
                }
                _ => return None,
            },
        },
        _ => return None,
    })
}

/// The eight table-feature properties OVS requires (instructions, next tables, write and
/// apply actions, match, wildcards, write and apply set-field), each an empty list.
fn required_table_properties() -> Vec<u8> {
    let mut w = ofp::wire::Writer::new();
    for typ in [0u16, 2, 4, 6, 8, 10, 12, 14] {
        ofp::prop::put(&mut w, typ, &[]).expect("property");
    }
    w.buf
}

/// Runs `ovs-ofctl ARGS...` where the literal `SOCK` is replaced by `unix:PATH` of a socket
/// this harness serves, and records what it sends.
pub fn capture(args: &[&str]) -> Capture {
    let dir = TempDir::new();
    let sock = dir.0.join("of.sock");
    let listener = UnixListener::bind(&sock).expect("bind");
    let target = format!("unix:{}", sock.display());
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if *a == "SOCK" {
                target.clone()
            } else {
                (*a).to_owned()
            }
        })
        .collect();
    eprintln!("capture: ovs-ofctl {}", args.join(" "));
    let mut child = Command::new("ovs-ofctl")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ovs-ofctl");
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(20);
    let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut servers = Vec::new();
    // ovs-ofctl may open several connections, one after the other or at once (`show` keeps
    // its first open while it makes a second): serve each on its own thread until the
    // process exits.
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                let messages = messages.clone();
                servers.push(std::thread::spawn(move || serve(conn, &messages)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if child.try_wait().expect("try_wait").is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let out = child.wait_with_output().expect("wait");
                    panic!(
                        "ovs-ofctl {args:?} did not finish; it said {:?}; received {:#?}",
                        String::from_utf8_lossy(&out.stderr),
                        messages.lock().unwrap()
                    );
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    for s in servers {
        s.join()
            .expect("server thread")
            .unwrap_or_else(|e| panic!("serving ovs-ofctl {args:?}: {e}"));
    }
    let messages = std::mem::take(&mut *messages.lock().unwrap());
    let out = child.wait_with_output().expect("wait for ovs-ofctl");
    Capture {
        messages,
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Answers one connection until the peer closes it, recording what it sent.
fn serve(
    mut conn: std::os::unix::net::UnixStream,
    messages: &std::sync::Mutex<Vec<Received>>,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    let mut version = Version::Of10;
    let mut chunk = [0u8; 65536];
    loop {
        while let Ok(Some(len)) = ofp::frame_len(&buf) {
            if buf.len() < len {
                break;
            }
            let bytes: Vec<u8> = buf.drain(..len).collect();
            let decoded = ofp::decode(&bytes);
            if let Ok((h, m)) = &decoded {
                let reply = match m {
                    Message::Hello { bitmap } => {
                        version = negotiate(*bitmap, h.version);
                        let all = Version::ALL.iter().fold(0, |b, v| b | v.bitmap_bit());
                        Some((Message::Hello { bitmap: Some(all) }, Version::Of15))
                    }
                    m => reply_for(m).map(|r| (r, version)),
                };
                if let Some((r, v)) = reply {
                    let out = ofp::encode(&r, v, h.xid).expect("encode reply");
                    conn.write_all(&out)?;
                }
            }
            if let Some(dir) = std::env::var_os("OFP_SEED_DIR") {
                // Seeds for the ofp_decode fuzz target: every message ovs-ofctl sends.
                let name = format!("ovs_ofctl_{:016x}", fnv1a(&bytes));
                let _ = std::fs::write(std::path::Path::new(&dir).join(name), &bytes);
            }
            messages.lock().unwrap().push(Received { bytes, decoded });
        }
        match conn.read(&mut chunk)? {
            0 => return Ok(()),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
