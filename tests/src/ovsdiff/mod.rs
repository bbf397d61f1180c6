//! The differential test against real OVS (issue 13): generated flow tables and packets,
//! traced by OVS 3.1's `ofproto/trace` in a private sandbox and by vswitch's offline
//! translation, compared pass by pass.
//!
//! # What is compared
//!
//! - **Acceptance**: a table both switches must take (the generator writes only valid
//!   flows); one refusing what the other takes is a finding.
//! - **Forwarding and rewrites**, per datapath pass: the datapath actions of each switch are
//!   replayed ([`replay`]) on that switch's own view of the pass's starting flow, giving the
//!   output ports (OpenFlow numbers) with the headers as they leave, and the conntrack steps.
//!   The two event lists must be equal.
//! - **Megaflow soundness**: every bit OVS's megaflow matches and ours does not is flipped in
//!   the packet (one probe per differing word); the probe lies inside our megaflow, so a fresh
//!   translation of it must give exactly the original actions.
//! - **Megaflow count**: distinct megaflows per table, ours against OVS's.
//!
//! # Invariants of the harness
//!
//! The sandbox ([`OvsSandbox`]) is a private ovsdb-server and ovs-vswitchd in a temp dir
//! (prefix `fd-ovs`) with a bridge `fdbr` and dummy ports `fdp1..fdpN` at OpenFlow ports
//! 1..N; its daemons are killed by PID when it drops. The bridge's datapath is `dummy`: the
//! userspace (netdev) datapath's code without its tap device, whose fixed kernel name
//! (`ovs-netdev`) would collide with any other OVS sandbox on the host. Everything is seeded: a failing
//! case is reproduced by its seed alone.

pub mod generate;
pub mod replay;

use fastpath::flow::FlowKey;
use fastpath::flow::key::{VLAN_CFI, VLAN_PCP_MASK, VLAN_VID_MASK};
use replay::replay;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use vswitchd::ofctl::{FlowSyntax, NoNames, parse_flow, parse_packet};
use vswitchd::trace::OfflineBridge;

/// Why the sandbox could not run.
#[derive(Debug, thiserror::Error)]
pub enum OvsDiffError {
    #[error("{cmd} failed: {stderr}")]
    Command { cmd: String, stderr: String },
    #[error("could not run {0} (is Open vSwitch installed?)")]
    Missing(String),
    #[error("temporary directory")]
    Io(#[from] std::io::Error),
}

/// True if the OVS programs the sandbox needs are on PATH (or in /usr/sbin).
pub fn ovs_available() -> bool {
    [
        "ovsdb-tool",
        "ovsdb-server",
        "ovs-vswitchd",
        "ovs-vsctl",
        "ovs-ofctl",
        "ovs-appctl",
    ]
    .iter()
    .all(|p| which(p).is_some())
}

fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin"])
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

/// A private OVS: ovsdb-server + ovs-vswitchd in a temp dir, bridge `fdbr`, ports 1..N.
pub struct OvsSandbox {
    dir: tempfile::TempDir,
    pids: Vec<u32>,
    ctl: PathBuf,
    /// Datapath port -> OpenFlow port.
    dp_to_of: HashMap<u32, u32>,
}

impl OvsSandbox {
    pub fn start(n_ports: u32) -> Result<OvsSandbox, OvsDiffError> {
        let dir = tempfile::Builder::new().prefix("fd-ovs").tempdir()?;
        let mut sb = OvsSandbox {
            dir,
            pids: Vec::new(),
            ctl: PathBuf::new(),
            dp_to_of: HashMap::new(),
        };
        let d = sb.dir.path().to_path_buf();
        let ds = d.display().to_string();
        let schema = std::env::var("OVS_PKGDATADIR").unwrap_or("/usr/share/openvswitch".into());
        sb.run(
            "ovsdb-tool",
            &[
                "create",
                &format!("{ds}/conf.db"),
                &format!("{schema}/vswitch.ovsschema"),
            ],
        )?;
        sb.run(
            "ovsdb-server",
            &[
                "--detach",
                "--no-chdir",
                &format!("--pidfile={ds}/ovsdb-server.pid"),
                "-vconsole:off",
                &format!("--log-file={ds}/ovsdb-server.log"),
                &format!("--remote=punix:{ds}/db.sock"),
                &format!("{ds}/conf.db"),
            ],
        )?;
        sb.pids.push(read_pid(&d.join("ovsdb-server.pid"))?);
        let db = format!("--db=unix:{ds}/db.sock");
        sb.run("ovs-vsctl", &[&db, "--no-wait", "init"])?;
        sb.run(
            "ovs-vswitchd",
            &[
                "--detach",
                "--no-chdir",
                &format!("--pidfile={ds}/ovs-vswitchd.pid"),
                "-vconsole:off",
                &format!("--log-file={ds}/ovs-vswitchd.log"),
                "--enable-dummy",
                "--disable-system",
                "--disable-system-route",
                &format!("unix:{ds}/db.sock"),
            ],
        )?;
        let pid = read_pid(&d.join("ovs-vswitchd.pid"))?;
        sb.pids.push(pid);
        sb.ctl = d.join(format!("ovs-vswitchd.{pid}.ctl"));
        let mut args: Vec<String> = vec![
            db.clone(),
            "--timeout=20".into(),
            "add-br".into(),
            "fdbr".into(),
            "--".into(),
            "set".into(),
            "bridge".into(),
            "fdbr".into(),
            "datapath_type=dummy".into(),
            "fail-mode=secure".into(),
        ];
        for i in 1..=n_ports {
            args.extend(
                [
                    "--",
                    "add-port",
                    "fdbr",
                    &format!("fdp{i}"),
                    "--",
                    "set",
                    "interface",
                    &format!("fdp{i}"),
                    "type=dummy",
                    &format!("ofport_request={i}"),
                ]
                .map(String::from),
            );
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        sb.run("ovs-vsctl", &refs)?;
        // The bridge's OpenFlow socket appears once ovs-vswitchd has configured it.
        for _ in 0..250 {
            if d.join("fdbr.mgmt").exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let show = sb.appctl(&["dpctl/show"])?;
        for line in show.lines() {
            // "  port 2: fdp1 (dummy)"
            let Some(rest) = line.trim().strip_prefix("port ") else {
                continue;
            };
            let Some((n, name)) = rest.split_once(": ") else {
                continue;
            };
            let name = name.split(' ').next().unwrap_or("");
            let of = match name {
                "fdbr" => Some(LOCAL),
                _ => name.strip_prefix("fdp").and_then(|x| x.parse::<u32>().ok()),
            };
            if let (Ok(dp), Some(of)) = (n.parse::<u32>(), of) {
                sb.dp_to_of.insert(dp, of);
            }
        }
        Ok(sb)
    }

    fn command(&self, prog: &str) -> Result<Command, OvsDiffError> {
        let path = which(prog).ok_or_else(|| OvsDiffError::Missing(prog.into()))?;
        let mut c = Command::new(path);
        let d = self.dir.path();
        c.env("OVS_RUNDIR", d)
            .env("OVS_LOGDIR", d)
            .env("OVS_DBDIR", d)
            .env("OVS_SYSCONFDIR", d);
        Ok(c)
    }

    fn run(&self, prog: &str, args: &[&str]) -> Result<String, OvsDiffError> {
        let out = self.command(prog)?.args(args).output()?;
        if !out.status.success() {
            return Err(OvsDiffError::Command {
                cmd: format!("{prog} {}", args.join(" ")),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The sandbox's directory (its `OVS_RUNDIR`: bridges' `BRIDGE.mgmt` sockets are here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `ovs-vsctl ARGS...` against the sandbox's database.
    pub fn vsctl(&self, args: &[&str]) -> Result<String, OvsDiffError> {
        let db = format!("--db=unix:{}/db.sock", self.dir.path().display());
        let mut a = vec![db.as_str(), "--timeout=20"];
        a.extend_from_slice(args);
        self.run("ovs-vsctl", &a)
    }

    fn appctl(&self, args: &[&str]) -> Result<String, OvsDiffError> {
        let t = self.ctl.display().to_string();
        let mut a = vec!["-t", &t, "--timeout=20"];
        a.extend_from_slice(args);
        self.run("ovs-appctl", &a)
    }

    /// Replaces the bridge's flows with `flows`; `Err` carries OVS's complaint.
    pub fn load(&self, flows: &[String]) -> Result<(), String> {
        let f = self.dir.path().join("flows.txt");
        std::fs::write(&f, flows.join("\n") + "\n").map_err(|e| e.to_string())?;
        let fs = f.display().to_string();
        let mgmt = format!("unix:{}", self.dir.path().join("fdbr.mgmt").display());
        // Delete everything, then add: `replace-flows` leaves behind a flow whose match it
        // cannot delete strictly (one added through the OpenFlow 1.0 fallback below with
        // `vlan_tci=0` reads back as `vlan_tci=0x0000/0x1fff`), which then answered for
        // later tables of a long run.
        self.run("ovs-ofctl", &["-O", "OpenFlow15", "del-flows", &mgmt])
            .map_err(|e| e.to_string())?;
        let first = self.run("ovs-ofctl", &["-O", "OpenFlow15", "add-flows", &mgmt, &fs]);
        let Err(e) = first else {
            return Ok(());
        };
        // Some flows have no OpenFlow 1.5 encoding (`icmp_type` is OpenFlow 1.0 or NXM
        // only; `strip_vlan` becomes OpenFlow 1.1's `pop_vlan`, which wants a VLAN in the
        // match), some no OpenFlow 1.0 one: as a controller would, send each flow in a
        // protocol that can carry it.
        let why = e.to_string();
        if !why.contains("flow formats") && !why.contains("MATCH_INCONSISTENT") {
            return Err(why);
        }
        self.run("ovs-ofctl", &["-O", "OpenFlow15", "del-flows", &mgmt])
            .map_err(|e| e.to_string())?;
        for flow in flows {
            // add-flow takes one flow, without the comment add-flows would strip.
            let flow = flow.split('#').next().unwrap_or_default().trim();
            let mut last = String::new();
            let ok = ["OpenFlow15", "OpenFlow10", "OpenFlow13"].iter().any(|v| {
                match self.run("ovs-ofctl", &["-O", v, "add-flow", &mgmt, flow]) {
                    Ok(_) => true,
                    Err(e) => {
                        last = e.to_string();
                        false
                    }
                }
            });
            if !ok {
                return Err(last);
            }
        }
        Ok(())
    }

    /// `ofproto/trace fdbr PACKET --ct-next ...`.
    pub fn trace(&self, packet: &str, ct_next: &[&str]) -> Result<String, String> {
        let mut a = vec!["ofproto/trace", "fdbr", packet];
        for s in ct_next {
            a.push("--ct-next");
            a.push(s);
        }
        self.appctl(&a).map_err(|e| e.to_string())
    }

    /// `ofproto/trace fdbr PACKET -generate`: as [`OvsSandbox::trace`], letting the trace's
    /// side effects happen (`learn` adds its flows).
    pub fn trace_generate(&self, packet: &str) -> Result<String, String> {
        self.appctl(&["ofproto/trace", "fdbr", packet, "-generate"])
            .map_err(|e| e.to_string())
    }

    /// `ovs-ofctl dump-flows --no-stats fdbr FILTER`, one flow per line.
    pub fn dump_flows(&self, filter: &str) -> Result<Vec<String>, String> {
        let mgmt = format!("unix:{}", self.dir.path().join("fdbr.mgmt").display());
        let out = self
            .run("ovs-ofctl", &["dump-flows", "--no-stats", &mgmt, filter])
            .map_err(|e| e.to_string())?;
        Ok(out
            .lines()
            .map(str::trim)
            .filter(|l| {
                !l.is_empty() && !l.starts_with("NXST_FLOW") && !l.starts_with("OFPST_FLOW")
            })
            .map(str::to_owned)
            .collect())
    }

    /// The OpenFlow port behind OVS datapath port `dp`.
    pub fn of_port(&self, dp: u32) -> Option<u32> {
        self.dp_to_of.get(&dp).copied()
    }
}

impl Drop for OvsSandbox {
    fn drop(&mut self) {
        for pid in self.pids.iter().rev() {
            // SAFETY: kill(2) with a PID this sandbox started and a plain signal number.
            unsafe {
                libc::kill(*pid as libc::pid_t, libc::SIGTERM);
            }
        }
        for pid in &self.pids {
            for _ in 0..50 {
                // SAFETY: signal 0 only checks that our own child PID still exists.
                if unsafe { libc::kill(*pid as libc::pid_t, 0) } != 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // SAFETY: as above; SIGKILL for a daemon that ignored SIGTERM.
            unsafe {
                libc::kill(*pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

fn read_pid(p: &Path) -> Result<u32, OvsDiffError> {
    let s = std::fs::read_to_string(p)?;
    s.trim().parse().map_err(|_| OvsDiffError::Command {
        cmd: format!("read {}", p.display()),
        stderr: format!("bad pid '{}'", s.trim()),
    })
}

/// One pass of an OVS trace.
#[derive(Debug, Default, Clone)]
pub struct OvsPass {
    pub flow: String,
    pub megaflow: String,
    pub actions: String,
}

/// Splits ofproto/trace output into passes.
pub fn ovs_passes(text: &str) -> Vec<OvsPass> {
    let mut out: Vec<OvsPass> = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("Flow: ") {
            out.push(OvsPass {
                flow: f.trim().into(),
                ..Default::default()
            });
        } else if let (Some(m), Some(p)) = (line.strip_prefix("Megaflow: "), out.last_mut()) {
            p.megaflow = m.trim().into();
        } else if let (Some(a), Some(p)) = (line.strip_prefix("Datapath actions: "), out.last_mut())
        {
            p.actions = a.trim().into();
        }
    }
    out
}

/// A flow or megaflow in OVS's printed syntax, as our parser takes it (`eth` dropped; a
/// megaflow's `recirc_id` is a datapath field the match syntax lacks).
fn ovs_flow_key(s: &str) -> Option<FlowKey> {
    // The inner VLAN tag (`dl_vlan1`, `vlan_tci1`) is trace packet syntax too.
    let items: Vec<&str> = s.split(',').filter(|i| *i != "eth").collect();
    parse_packet(&items.join(","), &NoNames).ok()
}

fn ovs_megaflow_mask(s: &str) -> Option<FlowKey> {
    // OVS prints ICMP type/code masked in megaflows (`icmp_type=0x8/0xf8`), which no flow
    // syntax accepts: those two go straight into the mask.
    let mut icmp = (0u16, 0u16);
    // The inner VLAN tag (`dl_vlan1`, `dl_vlan_pcp1`, `vlan_tci1=V/M`) has no match syntax
    // either: its mask goes straight in.
    let mut inner = 0u16;
    let mut items = Vec::new();
    for i in s.split(',') {
        if i == "eth" || i.starts_with("recirc_id=") {
            continue;
        }
        if i.starts_with("dl_vlan1=") {
            inner |= VLAN_CFI | VLAN_VID_MASK;
            continue;
        }
        if i.starts_with("dl_vlan_pcp1=") {
            inner |= VLAN_CFI | VLAN_PCP_MASK;
            continue;
        }
        if let Some(v) = i.strip_prefix("vlan_tci1=") {
            let m = v.split_once('/').map_or("0xffff", |(_, m)| m);
            inner |= u16::from_str_radix(m.trim_start_matches("0x"), 16).ok()?;
            continue;
        }
        let field = |v: &str| -> Option<u16> {
            let m = v.split_once('/').map_or("0xff", |(_, m)| m);
            u16::from_str_radix(m.trim_start_matches("0x"), 16).ok()
        };
        if let Some(v) = i
            .strip_prefix("icmp_type=")
            .or(i.strip_prefix("icmpv6_type="))
        {
            icmp.0 = field(v)?;
        } else if let Some(v) = i
            .strip_prefix("icmp_code=")
            .or(i.strip_prefix("icmpv6_code="))
        {
            icmp.1 = field(v)?;
        } else {
            items.push(i);
        }
    }
    let spec = parse_flow(&items.join(","), &NoNames, FlowSyntax::MatchOnly).ok()?;
    let mut m = spec.m.mask;
    m.tp_src |= icmp.0;
    m.tp_dst |= icmp.1;
    m.vlan_tci_inner |= inner;
    Some(m)
}

/// Totals over a run.
#[derive(Debug, Default)]
pub struct Stats {
    pub tables: usize,
    pub packets: usize,
    pub passes: usize,
    pub agree: usize,
    pub probes: usize,
    pub ovs_megaflows: usize,
    pub our_megaflows: usize,
    /// Tables where we have more distinct megaflows than OVS.
    pub tables_more_megaflows: usize,
    /// Both refused a table (a generator bug, not a finding).
    pub both_refused: usize,
    /// Packets whose OVS trace went through a conjunctive match (a `conj_id=` rule).
    pub conj_packets: usize,
    pub findings: Vec<String>,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tables, {} packets, {} passes: {} agree; {} megaflow probes; megaflows ours {} \
             vs OVS {} ({} tables with more than OVS); {} tables refused by both; {} packets \
             through a conjunctive match; {} findings",
            self.tables,
            self.packets,
            self.passes,
            self.agree,
            self.probes,
            self.our_megaflows,
            self.ovs_megaflows,
            self.tables_more_megaflows,
            self.both_refused,
            self.conj_packets,
            self.findings.len()
        )
    }
}

/// ct states fed to both traces after each recirculation.
const CT_NEXT: [&str; 3] = ["trk,new", "trk,est", "trk,est"];

/// Runs one generated case against the sandbox, adding to `st`.
pub fn run_case(ovs: &OvsSandbox, case: &generate::Case, st: &mut Stats) {
    st.tables += 1;
    let seed = case.seed;
    let ours = OfflineBridge::new(&case.flows.join("\n"), generate::N_PORTS);
    let theirs = ovs.load(&case.flows);
    let ours = match (ours, theirs) {
        (Ok(b), Ok(())) => b,
        (Err(_), Err(_)) => {
            st.both_refused += 1;
            return;
        }
        (Err(e), Ok(())) => {
            st.findings.push(format!(
                "seed {seed}: we refuse a table OVS takes: {e}\n  {}",
                case.flows.join("\n  ")
            ));
            return;
        }
        (Ok(_), Err(e)) => {
            st.findings.push(format!(
                "seed {seed}: OVS refuses a table we take: {e}\n  {}",
                case.flows.join("\n  ")
            ));
            return;
        }
    };
    let states: Vec<u8> = CT_NEXT
        .iter()
        .map(|s| vswitchd::trace::parse_ct_state(s).unwrap_or(0))
        .collect();
    let mut ovs_mf = BTreeSet::new();
    let mut our_mf = BTreeSet::new();
    for pkt in &case.packets {
        st.packets += 1;
        let text = match ovs.trace(pkt, &CT_NEXT) {
            Ok(t) => t,
            Err(e) => {
                st.findings
                    .push(format!("seed {seed}: OVS cannot trace {pkt}: {e}"));
                continue;
            }
        };
        let key = match ours.packet(pkt) {
            Ok(k) => k,
            Err(e) => {
                st.findings
                    .push(format!("seed {seed}: we cannot parse {pkt}: {e}"));
                continue;
            }
        };
        let report = ours.trace(&key, &states);
        st.conj_packets += usize::from(text.contains("conj_id="));
        let theirs = ovs_passes(&text);
        if theirs.len() != report.passes.len() {
            let ours: Vec<&str> = report
                .passes
                .iter()
                .map(|p| p.datapath_actions.as_str())
                .collect();
            let ovs: Vec<&str> = theirs.iter().map(|p| p.actions.as_str()).collect();
            st.findings.push(format!(
                "seed {seed}: {pkt}: OVS has {} passes, we have {}\n  OVS:  {ovs:?}\n  ours: {ours:?}\n  {}",
                theirs.len(),
                report.passes.len(),
                case.flows.join("\n  ")
            ));
            continue;
        }
        for (i, (t, o)) in theirs.iter().zip(&report.passes).enumerate() {
            st.passes += 1;
            let start = match &o.resume {
                None => Some(key),
                Some(r) => ovs_flow_key(&r.flow),
            };
            let (Some(our_start), Some(ovs_start)) = (start, ovs_flow_key(&t.flow)) else {
                st.findings.push(format!(
                    "seed {seed}: {pkt}: pass {i}: unparsable flow '{}'",
                    t.flow
                ));
                continue;
            };
            let ovs_ev = replay(&t.actions, &ovs_start, &|dp| ovs.of_port(dp)).map(comparable);
            let our_ev = replay(&o.datapath_actions, &our_start, &Some).map(comparable);
            match (ovs_ev, our_ev) {
                (Ok(a), Ok(b)) if a == b => st.agree += 1,
                (a, b) => {
                    let why = match (&a, &b) {
                        (Err(e), _) | (_, Err(e)) => e.clone(),
                        _ => "different outputs or rewrites".into(),
                    };
                    st.findings.push(format!(
                        "seed {seed}: {pkt}: pass {i}: {why}\n  OVS:  {}\n  ours: {}\n  {}",
                        t.actions,
                        o.datapath_actions,
                        case.flows.join("\n  ")
                    ));
                    continue;
                }
            }
            ovs_mf.insert((i, t.megaflow.clone()));
            probe(&ours, &our_start, t, st, seed, pkt, i, &mut our_mf);
        }
    }
    st.ovs_megaflows += ovs_mf.len();
    st.our_megaflows += our_mf.len();
    if our_mf.len() > ovs_mf.len() {
        st.tables_more_megaflows += 1;
    }
}

/// Megaflow soundness for one pass: flips bits OVS matches and we do not.
#[allow(clippy::too_many_arguments)]
fn probe(
    ours: &OfflineBridge,
    start: &FlowKey,
    t: &OvsPass,
    st: &mut Stats,
    seed: u64,
    pkt: &str,
    pass: usize,
    our_mf: &mut BTreeSet<(usize, Vec<u64>)>,
) {
    let Ok(base) = ours.translate(start) else {
        return;
    };
    let masked = start.masked(&base.mask);
    let mut id: Vec<u64> = masked.words().to_vec();
    id.extend(base.mask.words());
    our_mf.insert((pass, id));
    let Some(ovs_mask) = ovs_megaflow_mask(&t.megaflow) else {
        st.findings.push(format!(
            "seed {seed}: {pkt}: pass {pass}: cannot parse OVS megaflow '{}'",
            t.megaflow
        ));
        return;
    };
    let want = normalize(&fastpath::action::format_actions(&base.actions));
    let dp = FlowKey::dp_only_mask();
    for (w, (om, um)) in ovs_mask.words().iter().zip(base.mask.words()).enumerate() {
        let extra = om & !um & dp.words()[w];
        if extra == 0 {
            continue;
        }
        let bit = 1u64 << (63 - extra.leading_zeros());
        let mut k = *start;
        k.words_mut()[w] ^= bit;
        st.probes += 1;
        let got = ours
            .translate(&k)
            .map(|t| normalize(&fastpath::action::format_actions(&t.actions)));
        if got.as_deref() != Ok(want.as_str()) {
            st.findings.push(format!(
                "seed {seed}: {pkt}: pass {pass}: megaflow unsound: flipping word {w} bit \
                 {bit:#x} changes actions\n  megaflow: {}\n  was: {want}\n  now: {got:?}",
                vswitchd::ofctl::format_megaflow(start, &base.mask)
            ));
        }
    }
}

/// Events in a canonical order, without output to the bridge's LOCAL port.
///
/// `flood` and `all` visit ports in OVS's hash order, so outputs compare as a multiset (each
/// with the headers it left with). The offline bridge has no LOCAL port, so OVS's copies to
/// it are left out.
fn comparable(mut ev: Vec<replay::Event>) -> Vec<replay::Event> {
    ev.retain(|e| !matches!(e, replay::Event::Out { port: LOCAL, .. }));
    ev.sort();
    ev
}

/// What [`OvsSandbox::of_port`] calls the bridge's own port.
const LOCAL: u32 = 0xfffe;

/// Actions with recirculation ids elided (ids are allocated, not part of the answer).
fn normalize(actions: &str) -> String {
    replay::split_top(actions)
        .into_iter()
        .map(|a| {
            if a.starts_with("recirc(") {
                "recirc"
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}
