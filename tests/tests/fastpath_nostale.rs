//! The heart of the project, as a property: for every packet, what the fast path does equals
//! what a fresh run of the OpenFlow tables gives *now*, across random rule sets, random packet
//! streams, and rule changes interleaved with them (add, modify, delete, strict and not).
//!
//! Everything is real: the ofctl parser, the OpenFlow tables and classifier, xlate, the
//! dataplane's revalidation, the datapath's microflow and megaflow caches and the action
//! executor. The datapath is driven directly (`process_batch` on one thread context), so the test
//! is deterministic; the property is checked after every acknowledged change.

use fastpath::flow::extract::extract_fresh;
use fastpath::packet::Packet;
use proptest::prelude::*;
use std::sync::Arc;
use vswitchd::dataplane::{Dataplane, DataplaneConfig, PortConfig, PortType};
use vswitchd::ofctl::{FlowSyntax, NoNames, parse_flow};
use vswitchd::ofproto::flow_mod::FlowMod;
use vswitchd::xlate::translate;

/// A packet from a small header domain, so rules and packets overlap often.
#[derive(Clone, Debug)]
struct Pkt {
    in_port: u32,
    src: u8,
    dst: u8,
    tcp: bool,
    sport: u16,
    dport: u16,
}

fn frame(p: &Pkt) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, p.src], [2, 0, 0, 0, 1, p.dst])
        .ipv4([10, 0, p.src % 4, p.src], [10, 0, 0, p.dst], 64);
    let mut out = Vec::new();
    if p.tcp {
        b.tcp(p.sport, p.dport, 1, 1000)
            .write(&mut out, &[0u8; 4])
            .unwrap();
    } else {
        b.udp(p.sport, p.dport).write(&mut out, &[0u8; 4]).unwrap();
    }
    out
}

fn pkt() -> impl Strategy<Value = Pkt> {
    (
        1u32..=4,
        0u8..8,
        0u8..4,
        any::<bool>(),
        0u16..4,
        prop::sample::select(vec![22u16, 80, 81, 443]),
    )
        .prop_map(|(in_port, src, dst, tcp, sport, dport)| Pkt {
            in_port,
            src,
            dst,
            tcp,
            sport,
            dport,
        })
}

/// A random rule in ovs-ofctl syntax: table 0 or 1, a few match fields, output/drop/goto/
/// register actions (no header rewrites, so outputs are comparable as port lists).
fn rule() -> impl Strategy<Value = String> {
    let m0 = prop::sample::select(vec![
        "",
        "in_port=1,",
        "in_port=2,",
        "ip,nw_src=10.0.1.0/24,",
        "ip,nw_src=10.0.0.0/23,",
        "ip,nw_dst=10.0.0.1,",
        "tcp,",
        "udp,",
        "tcp,tp_dst=80,",
        "tcp,tp_dst=0x50/0xfffe,",
        "udp,tp_src=1,",
        "ip,nw_dst=10.0.0.2,tcp,tp_dst=443,",
    ]);
    let m1 = prop::sample::select(vec![
        "",
        "reg0=1,",
        "reg0=2,",
        "tcp,",
        "ip,nw_dst=10.0.0.3,",
    ]);
    let out = prop::sample::select(vec![
        "output:1",
        "output:2",
        "output:3",
        "output:4",
        "drop",
        "output:2,output:3",
        "in_port",
    ]);
    let prio = 0u16..6;
    (any::<bool>(), m0, m1, out, prio, 0u8..3).prop_map(|(t1, m0, m1, out, prio, kind)| {
        if t1 {
            format!("table=1,priority={prio},{m1}actions={out}")
        } else {
            let acts = match kind {
                0 => out.to_string(),
                1 => "goto_table:1".to_string(),
                _ => "set_field:1->reg0,goto_table:1".to_string(),
            };
            format!("table=0,priority={prio},{m0}actions={acts}")
        }
    })
}

#[derive(Clone, Debug)]
enum Op {
    Send(Vec<Pkt>),
    Add(String),
    /// Modify (strict or not) the rule at this index of the added list, to new actions.
    Modify(usize, bool, &'static str),
    Delete(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(pkt(), 1..24).prop_map(Op::Send),
        2 => rule().prop_map(Op::Add),
        1 => (any::<usize>(), any::<bool>(), prop::sample::select(vec!["output:4", "drop", "output:1"]))
            .prop_map(|(i, s, a)| Op::Modify(i, s, a)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, s)| Op::Delete(i, s)),
    ]
}

fn spec(line: &str, syntax: FlowSyntax) -> vswitchd::ofctl::FlowSpec {
    parse_flow(line, &NoNames, syntax).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// The OpenFlow ports a fresh translation sends `p` to, sorted.
fn fresh_outputs(dp: &Dataplane, p: &Pkt) -> Vec<u32> {
    let (key, _) = extract_fresh(&frame(p), p.in_port);
    let st = dp.slow_path().read();
    let ctx = st.ctx_for(p.in_port, false, 0).expect("port is attached");
    let mut out: Vec<u32> = match translate(&ctx, &key, None) {
        Ok(t) => t
            .actions
            .iter()
            .filter_map(|a| match a {
                fastpath::action::DpAction::Output(n) => Some(*n),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort_unstable();
    out
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dp = Dataplane::new(DataplaneConfig::default(), None);
    dp.add_bridge("br0").unwrap();
    for i in 1..=4u32 {
        dp.add_port(
            "br0",
            PortConfig {
                name: format!("p{i}"),
                kind: PortType::Dummy,
                ofport: i,
                tag: None,
                trunks: vec![],
                mtu: None,
            },
        )
        .unwrap();
    }
    let datapath = Arc::clone(dp.datapath());
    let mut pmd = datapath.new_pmd();
    let mut added: Vec<String> = Vec::new();
    let mut now = 1u64;
    let mut sent = 0u64;
    for op in ops {
        match op {
            Op::Add(line) => {
                dp.flow_mods("br0", &[FlowMod::add(spec(&line, FlowSyntax::Add))])
                    .unwrap();
                added.push(line);
            }
            Op::Modify(i, strict, acts) if !added.is_empty() => {
                let line = &added[i % added.len()];
                let head = line.split("actions=").next().unwrap();
                let m = format!("{head}actions={acts}");
                let s = spec(&m, FlowSyntax::Modify);
                dp.flow_mods("br0", &[FlowMod::modify(s, strict)]).unwrap();
            }
            Op::Delete(i, strict) if !added.is_empty() => {
                let line = added[i % added.len()].clone();
                let head = line.split("actions=").next().unwrap().trim_end_matches(',');
                let m = if strict {
                    head.to_string()
                } else {
                    // Non-strict delete ignores priority.
                    head.split(',')
                        .filter(|f| !f.starts_with("priority="))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let s = spec(&m, FlowSyntax::MatchOnly);
                dp.flow_mods("br0", &[FlowMod::delete(s, strict)]).unwrap();
            }
            Op::Send(pkts) => {
                for p in pkts {
                    now += 1;
                    sent += 1;
                    let mut batch = vec![Packet::from_bytes(&frame(&p))];
                    datapath.process_batch(&mut pmd, p.in_port, &mut batch, now);
                    let mut got: Vec<u32> = pmd
                        .take_outputs()
                        .into_iter()
                        .flat_map(|(port, pkts)| std::iter::repeat_n(port, pkts.len()))
                        .collect();
                    got.sort_unstable();
                    let want = fresh_outputs(&dp, &p);
                    prop_assert_eq!(
                        &got,
                        &want,
                        "packet {:?} with rules {:?}",
                        p,
                        dp.dump_flows("br0", &spec("", FlowSyntax::MatchOnly))
                            .unwrap()
                            .iter()
                            .map(|r| (r.table, r.priority, r.m.key.tp_dst, r.actions.clone()))
                            .collect::<Vec<_>>()
                    );
                }
            }
            _ => {}
        }
    }
    // Every packet went through the caches: a hit or an upcall each.
    let stats = datapath.stats();
    prop_assert_eq!(stats.packets, sent);
    prop_assert_eq!(
        stats.microflow_hits + stats.megaflow_hits + stats.upcalls,
        sent
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    #[test]
    fn fast_path_always_equals_a_fresh_translation(ops in prop::collection::vec(op(), 1..40)) {
        run(ops)?;
    }
}
