//! Issue 7 item 5: crash safety. A writer streams flow and port changes through
//! `vswitch-ctl` while the daemon is killed with SIGKILL at a random moment; after each
//! restart the configuration must hold every change that was acknowledged, and the one change
//! in flight at the kill either entirely or not at all (DESIGN §8).
//!
//! Rounds: 6 by default (CI), 60 with `VSWITCH_LONG=1`. The seed is printed; set
//! `VSWITCH_SEED` to replay a run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vswitch_tests::{CtlResult, Daemon, ctl_raw};

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One flow as dump-flows reports it.
type Flow = (u64, String, String, String); // priority, match, actions, cookie

/// The configuration the test can see and compare.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Model {
    flows: BTreeSet<Flow>,
    /// Port name -> access VLAN.
    ports: BTreeMap<String, Option<u64>>,
    ct_default_limit: u64,
}

/// A change, small enough to apply to the model exactly as the daemon must.
#[derive(Clone, Debug)]
enum Op {
    AddFlow(u64),
    /// Three flows in one atomic `add-flows`.
    AddFlows(u64),
    DelFlow(Flow),
    AddPort(String),
    DelPort(String),
    SetTag(String, Option<u64>),
    CtLimit(u64),
}

fn flow_of(n: u64) -> Flow {
    let priority = n % 60_000 + 1;
    let m = format!(
        "ip,nw_dst=10.{}.{}.{}",
        (n >> 16) & 255,
        (n >> 8) & 255,
        n & 255
    );
    (priority, m, "drop".into(), format!("{n:#x}"))
}

fn flow_line((priority, m, actions, cookie): &Flow) -> String {
    format!("cookie={cookie},priority={priority},{m},actions={actions}")
}

impl Model {
    fn apply(&self, op: &Op) -> Model {
        let mut m = self.clone();
        match op {
            Op::AddFlow(n) => {
                m.flows.insert(flow_of(*n));
            }
            Op::AddFlows(n) => {
                for i in 0..3 {
                    m.flows.insert(flow_of(n + i));
                }
            }
            Op::DelFlow(f) => {
                m.flows.remove(f);
            }
            Op::AddPort(p) => {
                m.ports.insert(p.clone(), None);
            }
            Op::DelPort(p) => {
                m.ports.remove(p);
            }
            Op::SetTag(p, t) => {
                m.ports.insert(p.clone(), *t);
            }
            Op::CtLimit(l) => m.ct_default_limit = *l,
        }
        m
    }

    /// A random change that is valid in this state.
    fn pick(&self, rng: &mut Rng, serial: &mut u64) -> Op {
        *serial += 3;
        let n = *serial;
        loop {
            return match rng.below(10) {
                0..=2 => Op::AddFlow(n),
                3 | 4 => Op::AddFlows(n),
                5 if !self.flows.is_empty() => {
                    let i = rng.below(self.flows.len() as u64) as usize;
                    Op::DelFlow(self.flows.iter().nth(i).cloned().unwrap())
                }
                6 if self.ports.len() < 40 => Op::AddPort(format!("cp{n}")),
                7 if !self.ports.is_empty() => {
                    let i = rng.below(self.ports.len() as u64) as usize;
                    Op::DelPort(self.ports.keys().nth(i).cloned().unwrap())
                }
                8 if !self.ports.is_empty() => {
                    let i = rng.below(self.ports.len() as u64) as usize;
                    let tag = (rng.below(3) > 0).then(|| rng.below(4095) + 1);
                    Op::SetTag(self.ports.keys().nth(i).cloned().unwrap(), tag)
                }
                9 => Op::CtLimit(rng.below(1_000_000) + 1),
                _ => continue,
            };
        }
    }
}

fn ctl(server: &str, args: &[&str], stdin: Option<&str>) -> CtlResult {
    match stdin {
        None => ctl_raw(&[&["--server", server], args].concat(), &[]),
        Some(text) => {
            use std::io::Write;
            let mut child = std::process::Command::new(&vswitch_tests::binaries().ctl)
                .args(["--server", server])
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn vswitch-ctl");
            let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
            let out = child.wait_with_output().expect("wait vswitch-ctl");
            CtlResult {
                status: out.status,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
    }
}

fn run_op(server: &str, op: &Op) -> CtlResult {
    match op {
        Op::AddFlow(n) => ctl(server, &["add-flow", "br0", &flow_line(&flow_of(*n))], None),
        Op::AddFlows(n) => {
            let text: String = (0..3).map(|i| flow_line(&flow_of(n + i)) + "\n").collect();
            ctl(server, &["add-flows", "br0", "-"], Some(&text))
        }
        Op::DelFlow((priority, m, _, _)) => ctl(
            server,
            &[
                "del-flows",
                "br0",
                &format!("priority={priority},{m}"),
                "--strict",
            ],
            None,
        ),
        Op::AddPort(p) => ctl(server, &["add-port", "br0", p, "--type", "dummy"], None),
        Op::DelPort(p) => ctl(server, &["del-port", "br0", p], None),
        Op::SetTag(p, t) => {
            let tag = t.map_or("tag=none".to_owned(), |t| format!("tag={t}"));
            ctl(server, &["set-port", "br0", p, &tag], None)
        }
        Op::CtLimit(l) => ctl(server, &["ct-limits", "--limit", &l.to_string()], None),
    }
}

/// Reads the daemon's configuration into a model.
fn read_model(d: &Daemon) -> Model {
    let flows = d.ctl(&["--format", "json", "dump-flows", "br0"]).json();
    let flows = flows
        .as_array()
        .expect("flow array")
        .iter()
        .map(|f| {
            (
                f["priority"].as_u64().unwrap(),
                f["match"].as_str().unwrap().to_owned(),
                f["actions"].as_str().unwrap().to_owned(),
                f["cookie"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let show = d.ctl(&["--format", "json", "show"]).json();
    let ports = show["bridges"][0]["ports"]
        .as_array()
        .expect("port array")
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["tag"].as_u64()))
        .collect();
    let ct = d.ctl(&["--format", "json", "ct-limits"]).json();
    Model {
        flows,
        ports,
        ct_default_limit: ct["default_limit"].as_u64().unwrap(),
    }
}

/// What the writer knew when the daemon died.
struct WriterEnd {
    acked: Model,
    in_flight: Option<Op>,
    acked_ops: usize,
}

fn writer(
    server: String,
    mut model: Model,
    mut rng: Rng,
    mut serial: u64,
    killed: Arc<AtomicBool>,
) -> (WriterEnd, Rng, u64) {
    let mut acked_ops = 0;
    loop {
        let op = model.pick(&mut rng, &mut serial);
        let r = run_op(&server, &op);
        if r.status.success() {
            model = model.apply(&op);
            acked_ops += 1;
            continue;
        }
        assert!(
            killed.load(Ordering::SeqCst),
            "{op:?} failed while the daemon was alive: {}",
            r.stderr
        );
        let end = WriterEnd {
            acked: model,
            in_flight: Some(op),
            acked_ops,
        };
        return (end, rng, serial);
    }
}

fn rounds() -> usize {
    if std::env::var("VSWITCH_LONG").is_ok_and(|v| v == "1") {
        60
    } else {
        6
    }
}

#[test]
fn sigkill_during_change_streams_loses_no_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("conf.db");
    let socket = dir.path().join("vswitchd.sock");
    let server = format!("unix:{}", socket.display());
    let seed = std::env::var("VSWITCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash-safety seed {seed} (VSWITCH_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let mut serial = 0;

    let d = Daemon::start(&db, &socket, &[]);
    d.ctl(&["add-br", "br0"]).ok();
    let mut model = read_model(&d);
    drop(d);

    let started = Instant::now();
    let mut total_acked = 0;
    let mut in_flight_applied = 0;
    for round in 0..rounds() {
        let mut d = Daemon::start(&db, &socket, &[]);
        let actual = read_model(&d);
        assert_eq!(actual, model, "round {round}: state after restart");
        let killed = Arc::new(AtomicBool::new(false));
        let handle = {
            let (server, model, killed) = (server.clone(), model.clone(), killed.clone());
            let rng = Rng(rng.next() | 1);
            std::thread::spawn(move || writer(server, model, rng, serial, killed))
        };
        // Kill after 50-800 ms of changes: early kills hit start-up-adjacent writes, later
        // ones land anywhere in the stream.
        std::thread::sleep(Duration::from_millis(50 + rng.below(750)));
        killed.store(true, Ordering::SeqCst);
        let (status, _) = d.stop_with(libc::SIGKILL, Duration::from_secs(5));
        assert!(!status.success());
        drop(d);
        let (end, _, next_serial) = handle.join().expect("writer thread");
        serial = next_serial;
        total_acked += end.acked_ops;

        // Restart: the store must open, and hold every acknowledged change plus the one in
        // flight either wholly or not at all.
        let d = Daemon::start(&db, &socket, &[]);
        let actual = read_model(&d);
        let with_in_flight = end.in_flight.as_ref().map(|op| end.acked.apply(op));
        if Some(&actual) == with_in_flight.as_ref() && actual != end.acked {
            in_flight_applied += 1;
        } else {
            assert_eq!(
                actual, end.acked,
                "round {round} (seed {seed}): state after SIGKILL is neither the acknowledged \
                 state nor it plus the change in flight ({:?})",
                end.in_flight
            );
        }
        model = actual;
        drop(d);
        // The database file is still one file (no stray temporaries next to it).
        assert!(Path::new(&db).exists());
    }
    eprintln!(
        "{} SIGKILL rounds, {total_acked} acknowledged changes, {in_flight_applied} in-flight \
         changes found applied, {:.1?}",
        rounds(),
        started.elapsed()
    );
    assert!(
        total_acked >= rounds(),
        "too few changes were made to test anything"
    );
}
