//! The seeded generator of flow tables and packets.
//!
//! Rules and packets draw their values from small shared pools (a handful of MACs, addresses,
//! ports, TTLs), so packets hit rules often, and masks are chosen so they sometimes straddle
//! the pool's values (CIDR, dotted, non-contiguous). Every field and action is written in a
//! randomly chosen dialect that OVS 3.1's `ovs-ofctl` accepts: OpenFlow 1.0 names and their
//! OXM aliases in matches (`dl_vlan`/`vlan_vid`/`vlan_tci`, `nw_tos`/`ip_dscp`, `xreg`), the
//! protocol aliases (`ip4`, `ipv4`, `ip6`), subfield matches (`reg1[4..7]=3`, `tp_dst[15]=1`),
//! NXM and OXM names in `move`/`load`/`set_field`, and now and then a trailing `# comment`. A
//! rule's match always carries the prerequisites of its fields and actions, so both switches
//! must accept every table. Packets include IP fragments (first and later), which OVS looks up
//! with L4 ports 0.

/// splitmix64: small, seedable, reproducible across platforms.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p` percent.
    pub fn pct(&mut self, p: u64) -> bool {
        self.next_u64() % 100 < p
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const MACS: [&str; 4] = [
    "00:00:00:00:00:01",
    "00:00:00:00:00:02",
    "02:00:00:00:00:aa",
    "ff:ff:ff:ff:ff:ff",
];
const IP4: [&str; 5] = [
    "10.0.0.1",
    "10.0.0.110",
    "10.0.1.5",
    "10.1.2.3",
    "192.168.1.1",
];
const IP6: [&str; 4] = ["2001:db8::1", "2001:db8::2", "2001:db8:1::5", "fe80::1"];
const L4PORTS: [u16; 6] = [80, 53, 443, 1000, 0x8001, 22];
const TTLS: [u8; 3] = [64, 128, 1];
const DSCPS: [u8; 4] = [0, 10, 8, 46];
const VIDS: [u16; 2] = [10, 20];

/// The protocol a rule (or packet) is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Any,
    Arp,
    Ip,
    Tcp,
    Udp,
    Icmp,
    Ip6,
    Tcp6,
    Udp6,
    Icmp6,
}

impl Proto {
    fn is_ip4(self) -> bool {
        matches!(self, Proto::Ip | Proto::Tcp | Proto::Udp | Proto::Icmp)
    }
    fn is_ip6(self) -> bool {
        matches!(self, Proto::Ip6 | Proto::Tcp6 | Proto::Udp6 | Proto::Icmp6)
    }
    fn is_l4(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Udp | Proto::Tcp6 | Proto::Udp6)
    }
    fn l4_name(self) -> &'static str {
        match self {
            Proto::Tcp | Proto::Tcp6 => "tcp",
            _ => "udp",
        }
    }
}

const PROTOS: [Proto; 10] = [
    Proto::Any,
    Proto::Arp,
    Proto::Ip,
    Proto::Tcp,
    Proto::Udp,
    Proto::Icmp,
    Proto::Ip6,
    Proto::Tcp6,
    Proto::Udp6,
    Proto::Icmp6,
];

/// One generated table: flow lines, packets (trace syntax), and whether it uses conntrack.
#[derive(Debug, Clone)]
pub struct Case {
    pub seed: u64,
    pub flows: Vec<String>,
    pub packets: Vec<String>,
}

/// Number of ports of the generated bridges (`p1..pN` / OVS `fdpI` with ofport I).
pub const N_PORTS: u32 = 4;
/// Tables a generated pipeline uses.
const N_TABLES: u8 = 4;

/// A table of 3..16 rules over tables 0..3 and 12 packets, from `seed`.
pub fn case(seed: u64) -> Case {
    let mut r = Rng::new(seed);
    let n_rules = 3 + r.below(14);
    let mut flows = Vec::new();
    let mut used = std::collections::HashSet::new();
    for _ in 0..n_rules {
        let (table, priority, text) = rule(&mut r);
        // Two rules of one priority that both match a packet make OVS's choice undefined:
        // every rule of a table gets its own priority.
        if used.insert((table, priority)) {
            if r.pct(5) {
                flows.push(format!("{text}  # rule {}", flows.len()));
            } else {
                flows.push(text);
            }
        }
    }
    // A catch-all in table 0 now and then, so most packets reach later tables.
    if r.pct(50) && used.insert((0, 0)) {
        let t = 1 + r.below(N_TABLES as usize - 1);
        flows.push(format!("table=0,priority=0,actions=resubmit(,{t})"));
    }
    let mut packets: Vec<String> = (0..12).map(|_| packet(&mut r)).collect();
    // Conjunctive matches, from their own stream so the rest of the case stays as it was.
    let mut rc = Rng::new(seed ^ 0xc0a1_u64.rotate_left(40));
    if rc.pct(35) {
        packets.extend(conj_block(&mut rc, &mut used, &mut flows));
    }
    Case {
        seed,
        flows,
        packets,
    }
}

fn rule(r: &mut Rng) -> (u8, u16, String) {
    let table = r.below(N_TABLES as usize) as u8;
    let proto = *r.pick(&PROTOS);
    let mut m: Vec<String> = Vec::new();
    m.push(format!("table={table}"));
    let priority = *r.pick(&[0u16, 1, 10, 100, 1000, 32768]) + r.below(3) as u16;
    m.push(format!("priority={priority}"));
    if r.pct(10) {
        m.push(format!("cookie={:#x}", r.below(0x10000)));
    }
    match proto {
        Proto::Any => {}
        Proto::Arp => m.push("arp".into()),
        Proto::Ip => m.push(
            r.pick(&["ip", "dl_type=0x0800", "eth_type=0x800", "ip4", "ipv4"])
                .to_string(),
        ),
        Proto::Ip6 => m.push(r.pick(&["ipv6", "dl_type=0x86dd", "ip6"]).to_string()),
        Proto::Tcp => m.push("tcp".into()),
        Proto::Udp => m.push(
            r.pick(&["udp", "ip,nw_proto=17", "ip,ip_proto=17"])
                .to_string(),
        ),
        Proto::Icmp => m.push("icmp".into()),
        Proto::Tcp6 => m.push("tcp6".into()),
        Proto::Udp6 => m.push("udp6".into()),
        Proto::Icmp6 => m.push("icmp6".into()),
    }
    let n_fields = r.below(4);
    for _ in 0..n_fields {
        if let Some(f) = match_field(r, proto, table) {
            m.push(f);
        }
    }
    let vlan_match = m.iter().any(|f| {
        [
            "dl_vlan=",
            "vlan_vid=0x1",
            "vlan_tci=0x1",
            "dl_vlan_pcp=",
            "vlan_pcp=",
        ]
        .iter()
        .any(|p| f.starts_with(p))
    });
    let actions = actions(r, proto, table, vlan_match);
    (
        table,
        priority,
        format!("{},actions={}", m.join(","), actions.join(",")),
    )
}

fn mac_masked(r: &mut Rng) -> String {
    let mac = *r.pick(&MACS);
    match r.below(3) {
        0 => mac.to_string(),
        1 => format!("{mac}/01:00:00:00:00:00"),
        _ => format!("{mac}/ff:ff:ff:ff:ff:00"),
    }
}

fn ip4_masked(r: &mut Rng) -> String {
    let a = *r.pick(&IP4);
    match r.below(5) {
        0 => a.to_string(),
        1 => format!("{a}/{}", r.pick(&[8, 16, 22, 24, 31])),
        2 => format!("{a}/255.255.255.0"),
        3 => format!("{a}/0.2.0.2"),
        _ => format!("{a}/255.0.255.0"),
    }
}

fn ip6_masked(r: &mut Rng) -> String {
    let a = *r.pick(&IP6);
    match r.below(3) {
        0 => a.to_string(),
        1 => format!("{a}/{}", r.pick(&[32, 48, 64, 127])),
        _ => format!("{a}/ffff:ffff::"),
    }
}

fn port_masked(r: &mut Rng) -> String {
    let p = *r.pick(&L4PORTS);
    match r.below(4) {
        0 => p.to_string(),
        1 => format!("{p:#x}/0xfff0"),
        2 => "0x8000/0x8000".to_string(),
        _ => format!("{:#x}/{:#x}", p & 0xff00, 0xff00),
    }
}

fn match_field(r: &mut Rng, proto: Proto, table: u8) -> Option<String> {
    let k = r.below(18);
    Some(match k {
        0 => format!("in_port={}", 1 + r.below(N_PORTS as usize)),
        1 => format!("{}={}", r.pick(&["dl_src", "eth_src"]), mac_masked(r)),
        2 => format!("{}={}", r.pick(&["dl_dst", "eth_dst"]), mac_masked(r)),
        3 => {
            let vid = *r.pick(&VIDS);
            match r.below(5) {
                0 => format!("dl_vlan={vid}"),
                1 => format!("vlan_vid={:#x}", 0x1000 | vid),
                2 => "vlan_vid=0x1000/0x1000".into(),
                3 => format!("vlan_tci={:#x}/0x1fff", 0x1000 | vid),
                _ => "vlan_tci=0".into(),
            }
        }
        4 => format!("{}={}", r.pick(&["dl_vlan_pcp", "vlan_pcp"]), r.below(3)),
        5 if proto.is_ip4() => format!("{}={}", r.pick(&["nw_src", "ip_src"]), ip4_masked(r)),
        6 if proto.is_ip4() => format!("{}={}", r.pick(&["nw_dst", "ip_dst"]), ip4_masked(r)),
        5 | 6 if proto == Proto::Arp => {
            format!(
                "{}={}",
                r.pick(&["arp_spa", "arp_tpa", "nw_src"]),
                ip4_masked(r)
            )
        }
        5 if proto.is_ip6() => format!("ipv6_src={}", ip6_masked(r)),
        6 if proto.is_ip6() => format!("ipv6_dst={}", ip6_masked(r)),
        7 if proto.is_ip4() || proto.is_ip6() => {
            let d = *r.pick(&DSCPS);
            match r.below(3) {
                0 => format!("nw_tos={}", d << 2),
                1 => format!("ip_dscp={d}"),
                _ => format!("{}={}", r.pick(&["nw_ecn", "ip_ecn"]), r.below(4)),
            }
        }
        8 if proto.is_ip4() || proto.is_ip6() => format!("nw_ttl={}", r.pick(&TTLS)),
        9 if proto.is_l4() => {
            let l4 = proto.l4_name();
            let name = *r.pick(&["tp_src", "tp_dst", "src", "dst"]);
            let name = if name.starts_with("tp_") {
                name.to_string()
            } else {
                format!("{l4}_{name}")
            };
            format!("{name}={}", port_masked(r))
        }
        10 if matches!(proto, Proto::Tcp | Proto::Tcp6) => r
            .pick(&[
                "tcp_flags=+syn-ack",
                "tcp_flags=0x002/0x012",
                "tcp_flags=+ack",
            ])
            .to_string(),
        10 if proto == Proto::Icmp => format!("icmp_type={}", r.pick(&[0, 8, 3])),
        10 if proto == Proto::Icmp6 => format!(
            "{}={}",
            r.pick(&["icmp_type", "icmpv6_type"]),
            r.pick(&[128, 129])
        ),
        10 if proto == Proto::Arp => format!("arp_op={}", 1 + r.below(2)),
        11 => {
            let n = r.below(4);
            match r.below(4) {
                0 => format!("reg{n}={:#x}", r.below(4)),
                1 => format!("reg{n}={:#x}/0xf", r.below(4)),
                2 => format!("xreg{}={:#x}/0xff", n / 2, r.below(4)),
                _ => format!("xxreg0={:#x}/0xffff", r.below(4)),
            }
        }
        12 => format!("metadata={:#x}", r.below(3)),
        13 if table > 0 && (proto.is_ip4() || proto.is_ip6()) => r
            .pick(&[
                "ct_state=+trk",
                "ct_state=+trk+new",
                "ct_state=+trk+est-new",
                "ct_state=-trk",
            ])
            .to_string(),
        14 if table > 0 => format!("ct_zone={}", r.pick(&[0, 5])),
        15 if table > 0 => format!("ct_mark={:#x}", r.below(3)),
        // Subfield matches: the bits of a field, right-aligned value.
        16 => {
            let n = r.below(4);
            match r.below(3) {
                0 => format!("reg{n}[]={:#x}", r.below(4)),
                1 => format!("reg{n}[{}]=1", r.below(3)),
                _ => format!("NXM_NX_REG{n}[0..3]={}", r.below(4)),
            }
        }
        17 if proto.is_l4() => {
            let l4 = proto.l4_name();
            let name = *r.pick(&["tp_src", "tp_dst", "src", "dst"]);
            let name = if name.starts_with("tp_") {
                name.to_string()
            } else {
                format!("{l4}_{name}")
            };
            match r.below(3) {
                0 => format!("{name}[15]=1"),
                1 => format!("{name}[8..15]=0"),
                _ => format!("{name}[0..3]={}", r.below(16)),
            }
        }
        17 if proto.is_ip4() => format!(
            "{}[24..31]=10",
            r.pick(&["nw_src", "nw_dst", "ip_src", "NXM_OF_IP_DST"])
        ),
        _ => return None,
    })
}

fn output(r: &mut Rng) -> String {
    let p = 1 + r.below(N_PORTS as usize);
    match r.below(8) {
        0 => p.to_string(),
        1 => "in_port".into(),
        2 => r.pick(&["flood", "all"]).to_string(),
        _ => format!("output:{p}"),
    }
}

fn actions(r: &mut Rng, proto: Proto, table: u8, vlan_match: bool) -> Vec<String> {
    if r.pct(8) {
        return vec!["drop".into()];
    }
    let mut out = Vec::new();
    let n = 1 + r.below(4);
    let ip = proto.is_ip4() || proto.is_ip6();
    for _ in 0..n {
        let k = r.below(14);
        let a = match k {
            0 | 1 => output(r),
            2 => format!(
                "{}:{}",
                r.pick(&["mod_dl_src", "mod_dl_dst"]),
                r.pick(&MACS)
            ),
            3 if proto.is_ip4() => {
                format!("{}:{}", r.pick(&["mod_nw_src", "mod_nw_dst"]), r.pick(&IP4))
            }
            3 if proto.is_ip6() => format!("set_field:{}->ipv6_dst", r.pick(&IP6)),
            4 if ip => r
                .pick(&[
                    "mod_nw_tos:32",
                    "mod_nw_tos:0",
                    "set_field:10->ip_dscp",
                    "dec_ttl",
                ])
                .to_string(),
            5 if proto.is_l4() => format!(
                "{}:{}",
                r.pick(&["mod_tp_src", "mod_tp_dst"]),
                r.pick(&L4PORTS)
            ),
            5 if ip => format!("set_field:{}->nw_ttl", r.pick(&TTLS)),
            6 => {
                let n = r.below(4);
                match r.below(7) {
                    0 => format!("set_field:{:#x}->reg{n}", r.below(4)),
                    5 if proto.is_l4() => {
                        let l4 = proto.l4_name().to_uppercase();
                        format!(
                            "move:{}_{l4}_{}[]->reg{n}[0..15]",
                            r.pick(&["NXM_OF", "OXM_OF"]),
                            r.pick(&["SRC", "DST"])
                        )
                    }
                    1 => format!("load:{:#x}->NXM_NX_REG{n}[0..7]", r.below(4)),
                    2 => format!("load:{:#x}->xreg{}[]", r.below(4), n / 2),
                    3 => "move:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15]".into(),
                    4 => format!("move:in_port[]->reg{n}[16..31]"),
                    _ => format!("set_field:{:#x}->metadata", r.below(3)),
                }
            }
            7 => match r.below(4) {
                0 => format!("push_vlan:0x8100,mod_vlan_vid:{}", r.pick(&VIDS)),
                // ovs-ofctl encodes `mod_vlan_pcp`/`mod_vlan_vid` for OpenFlow 1.1+ as an
                // unconditional push_vlan + set_field unless the match or an earlier push
                // guarantees a tag; vswitch keeps OpenFlow 1.0's "push if needed". After a
                // push the two agree, so that is how the generator writes them.
                1 => format!("push_vlan:0x8100,mod_vlan_pcp:{}", r.below(8)),
                // OVS takes `strip_vlan` before a `push_vlan` only with a VLAN in the match.
                2 if vlan_match => "strip_vlan".to_string(),
                2 => format!("push_vlan:0x8100,mod_vlan_vid:{}", r.pick(&VIDS)),
                _ => format!(
                    "push_vlan:0x8100,set_field:{:#x}->vlan_vid",
                    0x1000 | r.pick(&VIDS)
                ),
            },
            8 | 9 if table + 1 < N_TABLES => {
                let t = table + 1 + r.below((N_TABLES - table - 1) as usize) as u8;
                // resubmit(PORT,TABLE) looks up as if from PORT; the actions of the rule it
                // finds still see the real in_port (`in_port` output, in_port matches).
                if r.pct(30) {
                    format!("resubmit({},{t})", 1 + r.below(N_PORTS as usize))
                } else {
                    format!("resubmit(,{t})")
                }
            }
            10 if ip && table + 1 < N_TABLES => {
                let t = table + 1 + r.below((N_TABLES - table - 1) as usize) as u8;
                let commit = if r.pct(50) { "commit," } else { "" };
                let zone = match r.below(3) {
                    0 => String::new(),
                    1 => ",zone=5".into(),
                    _ => ",zone=NXM_NX_REG0[0..15]".into(),
                };
                let exec = if !commit.is_empty() && r.pct(30) {
                    ",exec(set_field:0x1->ct_mark)"
                } else {
                    ""
                };
                format!("ct({commit}table={t}{zone}{exec})")
            }
            11 if ip => "ct_clear".into(),
            _ => output(r),
        };
        out.push(a);
    }
    if table + 1 < N_TABLES && r.pct(25) {
        let t = table + 1 + r.below((N_TABLES - table - 1) as usize) as u8;
        out.push(format!("goto_table:{t}"));
    }
    out
}

/// One dimension member of a conjunction: a match over one field, drawing from the pools, and
/// (for the fields a TCP/IPv4 packet has) the packet field and value that matches it.
fn conj_member(r: &mut Rng, kind: usize) -> (String, Option<(&'static str, String)>) {
    match kind {
        0 => {
            let p = 1 + r.below(N_PORTS as usize);
            (format!("in_port={p}"), Some(("in_port", p.to_string())))
        }
        1 => {
            let mac = *r.pick(&MACS[..3]);
            (format!("dl_src={mac}"), Some(("dl_src", mac.to_string())))
        }
        2 => {
            let a = *r.pick(&IP4);
            let m = if r.pct(30) {
                format!("{a}/8")
            } else {
                a.to_string()
            };
            (format!("ip,nw_src={m}"), Some(("nw_src", a.to_string())))
        }
        3 => {
            let m = ip4_masked(r);
            let a = m.split('/').next().unwrap_or("10.0.0.1").to_string();
            (format!("ip,nw_dst={m}"), Some(("nw_dst", a)))
        }
        4 => {
            let p = *r.pick(&L4PORTS);
            (format!("tcp,tp_dst={p}"), Some(("tcp_dst", p.to_string())))
        }
        5 => (format!("udp,tp_src={}", port_masked(r)), None),
        _ => (format!("ipv6,ipv6_src={}", r.pick(&IP6)), None),
    }
}

/// A TCP/IPv4 packet with `fields` overriding its defaults.
fn conj_packet(fields: &[(&'static str, String)]) -> String {
    let mut p: Vec<(&str, String)> = vec![
        ("in_port", "1".into()),
        ("dl_src", MACS[0].into()),
        ("dl_dst", MACS[1].into()),
        ("tcp", String::new()),
        ("nw_src", IP4[0].into()),
        ("nw_dst", IP4[1].into()),
        ("nw_tos", "0".into()),
        ("nw_ecn", "0".into()),
        ("nw_ttl", "64".into()),
        ("tcp_src", "1000".into()),
        ("tcp_dst", "22".into()),
        ("tcp_flags", "0x2".into()),
    ];
    for (k, v) in fields {
        if let Some(slot) = p.iter_mut().find(|(name, _)| name == k) {
            slot.1 = v.clone();
        }
    }
    p.iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.to_string()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A conjunctive match block in one table: one or two conjunctions of 2-3 dimensions with 1-3
/// members each at one priority (a member may belong to both), and per conjunction a
/// `conj_id=ID` rule, at that priority or another one of the block's. Returns packets aimed
/// at the conjunctions: each takes one member of every dimension it can (some miss one).
fn conj_block(
    r: &mut Rng,
    used: &mut std::collections::HashSet<(u8, u16)>,
    flows: &mut Vec<String>,
) -> Vec<String> {
    let table = r.below(N_TABLES as usize) as u8;
    let priority = *r.pick(&[50u16, 500, 5000]) + r.below(3) as u16;
    if !used.insert((table, priority)) {
        return Vec::new();
    }
    let ids: Vec<u32> = (0..1 + r.below(2)).map(|i| 1 + i as u32 * 7).collect();
    // Member match -> its conjunction actions, in first-seen order.
    let mut members: Vec<(String, Vec<String>)> = Vec::new();
    // Per conjunction, per dimension, the packet fields of its members.
    let mut hints: Vec<Vec<Vec<(&'static str, String)>>> = Vec::new();
    for &id in &ids {
        let n = 2 + r.below(2);
        let mut dims = Vec::new();
        for k in 1..=n {
            let kind = r.below(7);
            let mut dim = Vec::new();
            for _ in 0..1 + r.below(3) {
                let (m, hint) = conj_member(r, kind);
                let a = format!("conjunction({id},{k}/{n})");
                let tag = format!("conjunction({id},");
                match members.iter_mut().find(|(x, _)| *x == m) {
                    Some((_, acts)) if !acts.iter().any(|x| x.starts_with(&tag)) => acts.push(a),
                    Some(_) => continue,
                    None => members.push((m, vec![a])),
                }
                dim.extend(hint);
            }
            dims.push(dim);
        }
        hints.push(dims);
    }
    for (m, acts) in members {
        flows.push(format!(
            "table={table},priority={priority},{m},actions={}",
            acts.join(",")
        ));
    }
    for &id in &ids {
        let p = if r.pct(70) {
            priority
        } else {
            let p = *r.pick(&[50u16, 500, 5000]) + 3;
            if !used.insert((table, p)) {
                continue;
            }
            p
        };
        let (m, proto) = if r.pct(50) {
            (format!("conj_id={id}"), Proto::Any)
        } else {
            (format!("conj_id={id},ip"), Proto::Ip)
        };
        flows.push(format!(
            "table={table},priority={p},{m},actions={}",
            actions(r, proto, table, false).join(",")
        ));
    }
    let mut packets = Vec::new();
    for dims in &hints {
        for _ in 0..3 {
            let mut fields: Vec<(&'static str, String)> = Vec::new();
            for d in dims {
                if !d.is_empty() && r.pct(90) {
                    fields.push(r.pick(d).clone());
                }
            }
            packets.push(conj_packet(&fields));
        }
    }
    packets
}

/// A packet in ofproto/trace syntax, drawing from the pools.
fn packet(r: &mut Rng) -> String {
    let mut p = vec![
        format!("in_port={}", 1 + r.below(N_PORTS as usize)),
        format!("dl_src={}", r.pick(&MACS[..3])),
        format!("dl_dst={}", r.pick(&MACS)),
    ];
    if r.pct(25) {
        p.push(format!("dl_vlan={}", r.pick(&VIDS)));
        p.push(format!("dl_vlan_pcp={}", r.below(3)));
    }
    let proto = *r.pick(&PROTOS[1..]);
    // IP fragments: a first fragment carries its L4 header, a later one none.
    let frag = match r.below(20) {
        0 => Some("first"),
        1 => Some("later"),
        _ => None,
    };
    let ip_common = |r: &mut Rng, p: &mut Vec<String>| {
        p.push(format!("nw_tos={}", r.pick(&DSCPS) << 2));
        p.push(format!("nw_ecn={}", r.below(4)));
        p.push(format!("nw_ttl={}", r.pick(&TTLS)));
        if let Some(f) = frag {
            p.push(format!("nw_frag={f}"));
        }
    };
    let later = frag == Some("later") && proto != Proto::Arp;
    match proto {
        Proto::Arp => {
            p.push("arp".into());
            p.push(format!("arp_spa={}", r.pick(&IP4)));
            p.push(format!("arp_tpa={}", r.pick(&IP4)));
            p.push(format!("arp_op={}", 1 + r.below(2)));
        }
        _ if proto.is_ip4() => {
            // An IP packet with no transport says which protocol it carries: with
            // nw_proto=0 OVS assumes there is no real L3 header and commits no IP rewrite.
            let name = match proto {
                Proto::Ip => "ip,nw_proto=47",
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
                _ => "icmp",
            };
            p.push(name.into());
            p.push(format!("nw_src={}", r.pick(&IP4)));
            p.push(format!("nw_dst={}", r.pick(&IP4)));
            ip_common(r, &mut p);
        }
        _ => {
            let name = match proto {
                Proto::Tcp6 => "tcp6",
                Proto::Udp6 => "udp6",
                Proto::Icmp6 => "icmp6",
                _ => "ipv6,nw_proto=50",
            };
            p.push(name.into());
            p.push(format!("ipv6_src={}", r.pick(&IP6)));
            p.push(format!("ipv6_dst={}", r.pick(&IP6)));
            ip_common(r, &mut p);
        }
    }
    if later {
        return p.join(",");
    }
    if proto.is_l4() {
        let l4 = proto.l4_name();
        p.push(format!("{l4}_src={}", r.pick(&L4PORTS)));
        p.push(format!("{l4}_dst={}", r.pick(&L4PORTS)));
        if l4 == "tcp" {
            p.push(format!("tcp_flags={:#x}", r.pick(&[0x2, 0x12, 0x10])));
        }
    }
    if proto == Proto::Icmp {
        p.push(format!("icmp_type={},icmp_code=0", r.pick(&[0, 8, 3])));
    }
    if proto == Proto::Icmp6 {
        p.push(format!("icmpv6_type={},icmpv6_code=0", r.pick(&[128, 129])));
    }
    p.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_reproducible_and_varied() {
        let a = case(7);
        let b = case(7);
        assert_eq!(a.flows, b.flows);
        assert_eq!(a.packets, b.packets);
        assert_ne!(case(8).flows, a.flows);
        assert!(a.flows.len() >= 3 && a.packets.len() >= 12);
    }

    #[test]
    fn every_dialect_turns_up() {
        let cases: Vec<Case> = (1..400).map(case).collect();
        let flows: Vec<&str> = cases
            .iter()
            .flat_map(|c| c.flows.iter().map(String::as_str))
            .collect();
        let packets: Vec<&str> = cases
            .iter()
            .flat_map(|c| c.packets.iter().map(String::as_str))
            .collect();
        for want in [
            "ip6,",
            "ip4,",
            "ipv4,",
            "]=1",
            "[8..15]=0",
            "[24..31]=10",
            "  # rule",
            "OXM_OF_",
            ",conj_id=",
            "),conjunction(",
        ] {
            assert!(
                flows.iter().any(|f| f.contains(want)),
                "no flow with {want}"
            );
        }
        assert!(
            flows.iter().any(|f| f.contains("resubmit(1,")
                || f.contains("resubmit(2,")
                || f.contains("resubmit(3,")
                || f.contains("resubmit(4,")),
            "no resubmit(PORT,TABLE)"
        );
        for want in ["nw_frag=first", "nw_frag=later"] {
            assert!(
                packets.iter().any(|p| p.contains(want)),
                "no packet with {want}"
            );
        }
    }
}
