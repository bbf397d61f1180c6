//! Fuzz target: bundles of flow-mods applied to `FlowTables`, with lookups in between.
//!
//! Structured input (`arbitrary`): a sequence of steps, each a bundle of flow-mods (add,
//! modify, delete, strict or not, written in ovs-ofctl syntax from fragments and parsed as the
//! CLI would), a replace-flows, a clock tick with expiry, or a lookup of a flow key drawn from
//! the same small value sets the rules use (so lookups hit). Some specs are then bent past what
//! the parser allows (a raw table number, `table_any`) to reach the planner's own checks.
//!
//! Checked, beyond "never panics":
//! - a rejected bundle (or replace-flows) leaves the tables exactly as they were: same dump
//!   (ids, matches, actions, cookies, timeouts, counters) and same generation;
//! - an accepted one bumps the generation exactly when it changed something;
//! - `len()` agrees with the dump, and every dumped rule is found by `find_exact`;
//! - after `expire(now)`, what was removed had expired and nothing left has;
//! - a lookup returns the highest-priority matching rule of the table (checked by brute force
//!   over the dump), and the consulted-bits mask it reports is sound: flipping any bit outside
//!   it gives a flow with the same answer (the megaflow property).

#![no_main]

use arbitrary::Arbitrary;
use fastpath::flow::FlowKey;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use vswitchd::ofctl::{FlowSpec, FlowSyntax, NoNames, format_actions, format_match, parse_flow};
use vswitchd::ofproto::{FlowMod, FlowTables, Match, OfAction, Rule};

#[derive(Arbitrary, Debug)]
enum Step {
    Bundle(Vec<Mod>),
    Replace(Vec<Flow>),
    Tick { ms: u16 },
    Lookup(Probe),
}

#[derive(Arbitrary, Debug)]
enum Command {
    Add,
    Modify { strict: bool },
    Delete { strict: bool },
}

#[derive(Arbitrary, Debug)]
struct Mod {
    command: Command,
    flow: Flow,
    table_any: bool,
    /// Overrides the parsed table (even with 255, which the parser refuses for add).
    raw_table: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct Flow {
    table: Option<u8>,
    priority: Option<u8>,
    cookie: Option<(u8, Option<u8>)>,
    idle_timeout: Option<u8>,
    hard_timeout: Option<u8>,
    out_port: Option<u8>,
    proto: u8,
    fields: Vec<MatchField>,
    actions: Vec<Action>,
}

#[derive(Arbitrary, Debug)]
enum MatchField {
    InPort(u8),
    NwSrc(u8, u8),
    NwDst(u8, u8),
    TpDst(u8),
    TpSrcMasked(u16, u16),
    Reg0(u8, u8),
    Metadata(u8),
    DlVlan(u8),
    DlSrc(u8),
    CtState(u8, u8),
    NwTos(u8),
}

#[derive(Arbitrary, Debug)]
enum Action {
    Output(u8),
    Drop,
    Normal,
    GotoTable(u8),
    Resubmit(u8),
    SetReg0(u8),
    ModNwTos(u8),
    Ct { commit: bool, table: u8 },
    DecTtl,
}

#[derive(Arbitrary, Debug)]
struct Probe {
    table: u8,
    in_port: u8,
    proto: u8,
    src: u8,
    dst: u8,
    tp_src: u16,
    tp_dst: u8,
    reg0: u8,
    metadata: u8,
    vlan: u8,
    dl_src: u8,
    ct_state: u8,
    nw_tos: u8,
    flip_seed: u64,
}

const PROTOS: [&str; 9] = [
    "", "ip", "tcp", "udp", "arp", "ipv6", "tcp6", "icmp", "sctp",
];
/// Values shared by rules and probes (indexed by a fuzz byte modulo the length).
const IPS: [&str; 4] = ["10.0.0.1", "10.1.2.3", "192.168.0.1", "10.0.0.0"];
const PORTS: [u16; 4] = [22, 80, 443, 5201];
const PREFIXES: [u8; 5] = [32, 24, 16, 8, 0];
const PRIORITIES: [u16; 4] = [0, 100, 32768, 65535];

fn pick<T: Copy>(xs: &[T], i: u8) -> T {
    xs[i as usize % xs.len()]
}

impl Flow {
    fn text(&self, with_actions: bool) -> String {
        let mut s = String::new();
        if let Some(t) = self.table {
            let _ = write!(s, "table={},", t % 8);
        }
        if let Some(p) = self.priority {
            let _ = write!(s, "priority={},", pick(&PRIORITIES, p));
        }
        if let Some((c, m)) = self.cookie {
            let _ = write!(s, "cookie={:#x}", c % 4);
            if let Some(m) = m {
                let _ = write!(s, "/{:#x}", m % 4);
            }
            s.push(',');
        }
        if let Some(t) = self.idle_timeout {
            let _ = write!(s, "idle_timeout={},", t % 4);
        }
        if let Some(t) = self.hard_timeout {
            let _ = write!(s, "hard_timeout={},", t % 4);
        }
        if let Some(p) = self.out_port {
            let _ = write!(s, "out_port={},", p % 4);
        }
        let proto = pick(&PROTOS, self.proto);
        if !proto.is_empty() {
            let _ = write!(s, "{proto},");
        }
        for f in &self.fields {
            let _ = match f {
                MatchField::InPort(p) => write!(s, "in_port={},", p % 4),
                MatchField::NwSrc(a, l) => {
                    write!(s, "nw_src={}/{},", pick(&IPS, *a), pick(&PREFIXES, *l))
                }
                MatchField::NwDst(a, l) => {
                    write!(s, "nw_dst={}/{},", pick(&IPS, *a), pick(&PREFIXES, *l))
                }
                MatchField::TpDst(p) => write!(s, "tp_dst={},", pick(&PORTS, *p)),
                MatchField::TpSrcMasked(v, m) => write!(s, "tp_src={v:#x}/{m:#x},"),
                MatchField::Reg0(v, m) => write!(s, "reg0={:#x}/{:#x},", v % 4, m % 4),
                MatchField::Metadata(v) => write!(s, "metadata={:#x},", v % 4),
                MatchField::DlVlan(v) => write!(s, "dl_vlan={},", v % 4),
                MatchField::DlSrc(v) => {
                    write!(s, "dl_src=00:00:00:00:00:{:02x}/00:00:00:00:00:0f,", v % 4)
                }
                MatchField::CtState(set, clear) => {
                    s.push_str("ct_state=");
                    for (bit, name) in ["new", "est", "rel", "rpl", "inv", "trk"]
                        .iter()
                        .enumerate()
                    {
                        if set & (1 << bit) != 0 {
                            let _ = write!(s, "+{name}");
                        } else if clear & (1 << bit) != 0 {
                            let _ = write!(s, "-{name}");
                        }
                    }
                    write!(s, ",")
                }
                MatchField::NwTos(v) => write!(s, "nw_tos={},", (v % 4) << 2),
            };
        }
        if with_actions {
            s.push_str("actions=");
            for a in &self.actions {
                let _ = match a {
                    Action::Output(p) => write!(s, "output:{},", p % 4),
                    Action::Drop => write!(s, "drop,"),
                    Action::Normal => write!(s, "normal,"),
                    Action::GotoTable(t) => write!(s, "goto_table:{},", t % 8),
                    Action::Resubmit(t) => write!(s, "resubmit(,{}),", t % 8),
                    Action::SetReg0(v) => write!(s, "set_field:{:#x}->reg0,", v % 4),
                    Action::ModNwTos(v) => write!(s, "mod_nw_tos:{},", (v % 4) << 2),
                    Action::Ct { commit, table } => write!(
                        s,
                        "ct({}table={}),",
                        if *commit { "commit," } else { "" },
                        table % 8
                    ),
                    Action::DecTtl => write!(s, "dec_ttl,"),
                };
            }
        }
        s.trim_end_matches(',').to_owned()
    }

    fn parse(&self, syntax: FlowSyntax) -> Option<FlowSpec> {
        parse_flow(
            &self.text(syntax != FlowSyntax::MatchOnly),
            &NoNames,
            syntax,
        )
        .ok()
    }
}

impl Mod {
    fn flow_mod(&self) -> Option<FlowMod> {
        let mut fm = match self.command {
            Command::Add => FlowMod::add(self.flow.parse(FlowSyntax::Add)?),
            Command::Modify { strict } => {
                FlowMod::modify(self.flow.parse(FlowSyntax::Modify)?, strict)
            }
            Command::Delete { strict } => {
                FlowMod::delete(self.flow.parse(FlowSyntax::MatchOnly)?, strict)
            }
        };
        fm.table_any = self.table_any;
        if let Some(t) = self.raw_table {
            fm.spec.table = t;
        }
        Some(fm)
    }
}

impl Probe {
    fn key(&self) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.in_port = u32::from(self.in_port % 4);
        let (dl_type, nw_proto) = match self.proto % 6 {
            0 => (0x0800, 6),
            1 => (0x0800, 17),
            2 => (0x0800, 1),
            3 => (0x0806, 1),
            4 => (0x86dd, 6),
            _ => (0x0800, 132),
        };
        k.dl_type = dl_type;
        k.nw_proto = nw_proto;
        let ip = |i| u32::from(pick(&IPS, i).parse::<std::net::Ipv4Addr>().unwrap());
        k.nw_src = ip(self.src);
        k.nw_dst = ip(self.dst);
        k.tp_src = self.tp_src;
        k.tp_dst = pick(&PORTS, self.tp_dst);
        k.regs[0] = u32::from(self.reg0 % 4);
        k.metadata = u64::from(self.metadata % 4);
        // 0: untagged; 1..=4: VLAN 0..=3.
        if let Some(vid) = (self.vlan % 5).checked_sub(1) {
            k.vlan_tci = 0x1000 | u16::from(vid);
        }
        k.dl_src[5] = self.dl_src % 4;
        k.ct_state = self.ct_state & 0x3f;
        k.nw_tos = (self.nw_tos % 4) << 2;
        k
    }
}

/// Everything observable about the installed rules, for before/after comparison.
type Snapshot = Vec<(u64, u8, u16, u64, Match, Vec<OfAction>, u16, u16, u64)>;

fn snapshot(t: &FlowTables) -> Snapshot {
    t.rules()
        .iter()
        .map(|r| {
            (
                r.id,
                r.table,
                r.priority,
                r.cookie,
                r.m,
                r.actions.clone(),
                r.idle_timeout,
                r.hard_timeout,
                r.stats.packets(),
            )
        })
        .collect()
}

fn check_consistent(t: &FlowTables) {
    let rules = t.rules();
    assert_eq!(t.len(), rules.len());
    for r in &rules {
        let found = t
            .find_exact(r.table, &r.m, r.priority)
            .expect("dumped rule not found");
        assert!(Arc::ptr_eq(found, r));
    }
}

fn check_lookup(
    t: &FlowTables,
    rules: &[Arc<Rule>],
    table: u8,
    flow: &FlowKey,
    seed: u64,
    now: u64,
) {
    let mut wc = FlowKey::ZERO;
    let got = t.lookup(table, flow, Some(&mut wc)).cloned();
    let best = rules
        .iter()
        .filter(|r| r.table == table && r.m.matches(flow))
        .map(|r| r.priority)
        .max();
    assert_eq!(
        got.as_ref().map(|r| r.priority),
        best,
        "lookup in table {table}"
    );
    if let Some(r) = &got {
        assert!(r.m.matches(flow));
        assert_eq!(r.table, table);
        r.stats.credit(1, 64, now);
    }
    // Flip bits the lookup did not consult: the answer must not change.
    let mut other = *flow;
    let mut x = seed | 1;
    for (w, m) in other.words_mut().iter_mut().zip(wc.words()) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *w ^= x & !m;
    }
    let again = t.lookup(table, &other, None);
    assert_eq!(
        again.map(|r| r.priority),
        got.as_ref().map(|r| r.priority),
        "consulted-bits mask {wc:?} is not sound for {flow:?} vs {other:?}"
    );
    if let Some(r) = again {
        assert!(r.m.matches(&other));
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let mut tables = FlowTables::new();
    let mut now: u64 = 0;
    for step in steps.iter().take(32) {
        match step {
            Step::Bundle(mods) => {
                let mods: Vec<FlowMod> = mods.iter().take(8).filter_map(Mod::flow_mod).collect();
                let before = snapshot(&tables);
                let generation = tables.generation();
                match tables.apply(&mods, now) {
                    Ok(applied) => {
                        assert_eq!(tables.generation() > generation, !applied.is_empty());
                        if applied.is_empty() {
                            assert_eq!(snapshot(&tables), before);
                        }
                    }
                    Err(e) => {
                        assert!(!e.to_string().is_empty());
                        assert_eq!(
                            snapshot(&tables),
                            before,
                            "rejected bundle changed tables: {e}"
                        );
                        assert_eq!(tables.generation(), generation);
                    }
                }
            }
            Step::Replace(flows) => {
                let specs: Vec<FlowSpec> = flows
                    .iter()
                    .take(8)
                    .filter_map(|f| f.parse(FlowSyntax::Add))
                    .collect();
                let before = snapshot(&tables);
                let generation = tables.generation();
                match tables.replace_all(&specs, now) {
                    Ok(_) => {
                        // Exactly the specs' rules, the last spec of each key winning.
                        let mut want = BTreeMap::new();
                        for spec in &specs {
                            want.insert(rule_key(spec), rule_content(spec));
                        }
                        let have: BTreeMap<_, _> = tables
                            .rules()
                            .iter()
                            .map(|r| (rule_key(&r.to_spec()), rule_content(&r.to_spec())))
                            .collect();
                        assert_eq!(have, want);
                    }
                    Err(e) => {
                        assert_eq!(
                            snapshot(&tables),
                            before,
                            "rejected replace changed tables: {e}"
                        );
                        assert_eq!(tables.generation(), generation);
                    }
                }
            }
            Step::Tick { ms } => {
                now += u64::from(*ms) * 16;
                let expired = tables.expire(now);
                for r in &expired {
                    assert!(r.is_expired(now));
                }
                assert!(tables.rules().iter().all(|r| !r.is_expired(now)));
                if let Some(d) = tables.next_deadline_ms() {
                    assert!(d > now);
                }
            }
            Step::Lookup(p) => {
                let flow = p.key();
                let rules = tables.rules();
                for table in [0, 1, p.table % 8] {
                    check_lookup(&tables, &rules, table, &flow, p.flip_seed, now);
                }
            }
        }
        check_consistent(&tables);
    }
});

/// A rule's identity: (table, priority, match).
fn rule_key(s: &FlowSpec) -> (u8, u16, String) {
    (s.table, s.priority, format_match(&s.m, &NoNames))
}

/// What replace-flows sets for a key: (cookie, timeouts, actions).
fn rule_content(s: &FlowSpec) -> (u64, u16, u16, String) {
    (
        s.cookie,
        s.idle_timeout,
        s.hard_timeout,
        format_actions(&s.actions, &NoNames),
    )
}
