//! Classifier tests: API behaviour, the megaflow-width examples from OVS's test suite and the
//! issue, and property tests against [`LinearClassifier`].

use super::*;
use fastpath::flow::Field;
use fastpath::flow::key::{KEY_WORDS, ethertype, ipproto};
use proptest::prelude::*;

fn ip4(s: &str) -> u128 {
    let v: std::net::Ipv4Addr = s.parse().unwrap();
    u32::from(v) as u128
}

fn ip6(s: &str) -> u128 {
    let v: std::net::Ipv6Addr = s.parse().unwrap();
    u128::from(v)
}

/// A match from (field, value, mask) triples.
fn mat(fields: &[(Field, u128, u128)]) -> Match {
    let mut m = Match::CATCHALL;
    for &(f, v, mask) in fields {
        m.set_field_masked(f, v, mask);
    }
    m
}

/// A flow from (field, value) pairs.
fn flow(fields: &[(Field, u128)]) -> FlowKey {
    let mut k = FlowKey::ZERO;
    for &(f, v) in fields {
        f.set(&mut k, v);
    }
    k
}

fn wc_of<T: Clone>(c: &Classifier<T>, f: &FlowKey) -> (Option<T>, FlowMask) {
    let mut wc = FlowKey::ZERO;
    let r = c.lookup(f, Some(&mut wc)).cloned();
    (r, wc)
}

/// A mask with just these fields' given masks.
fn mask(fields: &[(Field, u128)]) -> FlowMask {
    let mut m = FlowKey::ZERO;
    for &(f, v) in fields {
        f.set(&mut m, v);
    }
    m
}

const ALL: u128 = u128::MAX;

#[test]
fn insert_replace_remove_find() {
    let mut c = Classifier::new();
    assert!(c.is_empty());
    let a = mat(&[(Field::InPort, 1, ALL)]);
    let b = mat(&[(Field::NwSrc, ip4("10.0.0.0"), 0xff00_0000)]);
    assert_eq!(c.insert(&a, 10, "a"), None);
    assert_eq!(c.insert(&a, 20, "a20"), None);
    assert_eq!(c.insert(&b, 10, "b"), None);
    assert_eq!(c.len(), 3);
    assert_eq!(c.n_subtables(), 2);
    assert_eq!(c.insert(&a, 10, "a'"), Some("a"));
    assert_eq!(c.len(), 3);
    assert_eq!(c.find_exact(&a, 10), Some(&"a'"));
    assert_eq!(c.find_exact(&a, 11), None);
    // An unmasked key is normalized: same rule.
    let mut b_unmasked = b;
    b_unmasked.key.nw_src = ip4("10.1.2.3") as u32;
    assert_eq!(c.find_exact(&b_unmasked, 10), Some(&"b"));
    assert_eq!(c.iter().count(), 3);
    assert_eq!(c.remove(&a, 20), Some("a20"));
    assert_eq!(c.remove(&a, 20), None);
    assert_eq!(c.remove(&b, 10), Some("b"));
    assert_eq!(c.n_subtables(), 1);
    assert_eq!(c.remove(&a, 10), Some("a'"));
    assert!(c.is_empty());
    assert_eq!(c.n_subtables(), 0);
    c.check_invariants();
}

#[test]
fn priority_then_earliest_insertion_across_subtables() {
    let mut c = Classifier::new();
    let by_port = mat(&[(Field::InPort, 1, ALL)]);
    let by_type = mat(&[(Field::DlType, 0x800, ALL)]);
    c.insert(&by_port, 5, "port");
    c.insert(&by_type, 5, "type");
    c.insert(&Match::CATCHALL, 0, "miss");
    let f = flow(&[(Field::InPort, 1), (Field::DlType, 0x800)]);
    assert_eq!(c.lookup(&f, None), Some(&"port"));
    assert_eq!(wc_of(&c, &f).0, Some("port"));
    // Replacement is a new insertion: now the dl_type rule is older.
    c.insert(&by_port, 5, "port2");
    assert_eq!(c.lookup(&f, None), Some(&"type"));
    c.insert(&by_port, 6, "port6");
    assert_eq!(c.lookup(&f, None), Some(&"port6"));
    let g = flow(&[(Field::InPort, 2)]);
    assert_eq!(c.lookup(&g, None), Some(&"miss"));
    c.check_invariants();
}

#[test]
fn early_exit_leaves_lower_subtables_unconsulted() {
    let mut c = Classifier::new();
    c.insert(&mat(&[(Field::InPort, 1, ALL)]), 100, 1);
    c.insert(&mat(&[(Field::TpDst, 80, ALL)]), 10, 2);
    c.insert(&Match::CATCHALL, 0, 3);
    let (r, wc) = wc_of(&c, &flow(&[(Field::InPort, 1), (Field::TpDst, 80)]));
    assert_eq!(r, Some(1));
    assert_eq!(wc, mask(&[(Field::InPort, ALL)]));
    // A miss in the first subtable goes on to the next.
    let (r, wc) = wc_of(&c, &flow(&[(Field::InPort, 2), (Field::TpDst, 80)]));
    assert_eq!(r, Some(2));
    assert_eq!(wc, mask(&[(Field::InPort, ALL), (Field::TpDst, ALL)]));
}

#[test]
fn staged_lookup_stops_at_the_first_missing_stage() {
    let mut c = Classifier::new();
    // Two rules so the in_port index holds two entries (no single-candidate shortcut).
    for (port, dst) in [(1, 80), (2, 443)] {
        c.insert(
            &mat(&[
                (Field::InPort, port, ALL),
                (Field::DlType, 0x800, ALL),
                (Field::NwProto, 6, ALL),
                (Field::TpDst, dst, ALL),
            ]),
            10,
            port,
        );
    }
    // in_port 3 is in no rule: only the metadata stage's bits are needed.
    let (r, wc) = wc_of(&c, &flow(&[(Field::InPort, 3), (Field::DlType, 0x800)]));
    assert_eq!(r, None);
    assert_eq!(wc, mask(&[(Field::InPort, ALL)]));
    // Present through L2, then one candidate: decided by nw_proto (whole: a one-byte field).
    let (r, wc) = wc_of(
        &c,
        &flow(&[
            (Field::InPort, 1),
            (Field::DlType, 0x800),
            (Field::NwProto, 17),
        ]),
    );
    assert_eq!(r, None);
    assert_eq!(wc.in_port, !0);
    assert_eq!(wc.dl_type, 0, "the in_port index named the only candidate");
    assert_eq!(wc.nw_proto, 0xff);
    // A full match un-wildcards the whole subtable mask.
    let f = flow(&[
        (Field::InPort, 2),
        (Field::DlType, 0x800),
        (Field::NwProto, 6),
        (Field::TpDst, 443),
    ]);
    let (r, wc) = wc_of(&c, &f);
    assert_eq!(r, Some(2));
    assert_eq!(
        wc,
        mask(&[
            (Field::InPort, ALL),
            (Field::DlType, ALL),
            (Field::NwProto, ALL),
            (Field::TpDst, ALL)
        ])
    );
}

#[test]
fn index_miss_in_a_later_stage_keeps_earlier_stages_only() {
    let mut c = Classifier::new();
    for (i, t) in [ethertype::IPV4, ethertype::IPV6, ethertype::ARP]
        .into_iter()
        .enumerate()
    {
        for port in [1, 2] {
            let m = mat(&[
                (Field::InPort, port, ALL),
                (Field::DlType, t as u128, ALL),
                (Field::TpSrc, 7, ALL),
            ]);
            c.insert(&m, 1, i as u32 * 10 + port as u32);
        }
    }
    // in_port=1 has three entries; dl_type 0x8847 has none: miss at L2.
    let f = flow(&[
        (Field::InPort, 1),
        (Field::DlType, 0x8847),
        (Field::TpSrc, 7),
    ]);
    let (r, wc) = wc_of(&c, &f);
    assert_eq!(r, None);
    assert_eq!(wc, mask(&[(Field::InPort, ALL), (Field::DlType, ALL)]));
}

/// The issue's example: a packet from 10.0.9.x to port 0x1bb misses `ip,nw_src=10.0.1.0/24`
/// and `tcp,tp_dst=80`; the megaflow must be `nw_src=10.0.8.0/21`, `tp_dst=0x100/0xff00`.
/// Each subtable holds a second rule (10.0.2.0/24, port 22) so that the stage indices do not
/// reduce the decision to a single candidate rule (see the next test for that case).
#[test]
fn issue_example_prefix_and_port_tries() {
    let mut c = Classifier::new();
    for net in ["10.0.1.0", "10.0.2.0"] {
        let m = mat(&[
            (Field::DlType, 0x800, ALL),
            (Field::NwSrc, ip4(net), 0xffff_ff00),
        ]);
        c.insert(&m, 20, 1);
    }
    for port in [80, 22] {
        let m = mat(&[
            (Field::DlType, 0x800, ALL),
            (Field::NwProto, ipproto::TCP as u128, ALL),
            (Field::TpDst, port, ALL),
        ]);
        c.insert(&m, 10, 2);
    }
    let f = flow(&[
        (Field::DlType, 0x800),
        (Field::NwProto, 6),
        (Field::NwSrc, ip4("10.0.9.7")),
        (Field::NwDst, ip4("172.16.0.1")),
        (Field::TpSrc, 33000),
        (Field::TpDst, 0x1bb),
    ]);
    let (r, wc) = wc_of(&c, &f);
    assert_eq!(r, None);
    assert_eq!(wc.nw_src, 0xffff_f800, "nw_src=10.0.8.0/21");
    assert_eq!(wc.tp_dst, 0xff00, "tp_dst=0x100/0xff00");
    assert_eq!(
        wc,
        mask(&[
            (Field::DlType, ALL),
            (Field::NwProto, ALL),
            (Field::NwSrc, 0xffff_f800),
            (Field::TpDst, 0xff00)
        ])
    );
}

/// With exactly the two rules of the issue, each subtable holds one rule, and (as in OVS) the
/// stage index narrows the decision to that rule: one differing bit is enough, which is
/// narrower still than the trie's prefix.
#[test]
fn issue_example_single_rules_need_one_bit_each() {
    let mut c = Classifier::new();
    c.insert(
        &mat(&[
            (Field::DlType, 0x800, ALL),
            (Field::NwSrc, ip4("10.0.1.0"), 0xffff_ff00),
        ]),
        20,
        1,
    );
    c.insert(
        &mat(&[
            (Field::DlType, 0x800, ALL),
            (Field::NwProto, 6, ALL),
            (Field::TpDst, 80, ALL),
        ]),
        10,
        2,
    );
    let f = flow(&[
        (Field::DlType, 0x800),
        (Field::NwProto, 6),
        (Field::NwSrc, ip4("10.0.9.7")),
        (Field::TpDst, 0x1bb),
    ]);
    let (r, wc) = wc_of(&c, &f);
    assert_eq!(r, None);
    // Each single candidate is told apart by one bit, the one OVS picks: the lowest
    // differing bit of the most significant differing byte.
    assert_eq!(wc.nw_src, 0x0000_0800);
    assert_eq!(wc.tp_dst, 0x0100);
    assert_eq!(
        wc,
        mask(&[
            (Field::DlType, ALL),
            (Field::NwSrc, 0x800),
            (Field::TpDst, 0x100)
        ])
    );
    assert!(f.eq_masked(&f.masked(&wc), &wc));
}

/// Issue 13: a single candidate that differs in a field OVS never masks partially
/// (`nw_proto`, `nw_ttl`, `nw_tos`) is told apart by the whole field, so the megaflow reads
/// `nw_ttl=128`, not a stray bit (`nw_ttl=0` under mask 0x40 read as TTL 0).
#[test]
fn single_candidate_miss_unwildcards_whole_scalar_fields() {
    let mut c = Classifier::new();
    c.insert(
        &mat(&[(Field::DlType, 0x800, ALL), (Field::NwTtl, 64, ALL)]),
        10,
        1,
    );
    c.insert(
        &mat(&[(Field::DlType, 0x800, ALL), (Field::NwTos, 40, 0xfc)]),
        9,
        2,
    );
    let f = flow(&[
        (Field::DlType, 0x800),
        (Field::NwProto, 6),
        (Field::NwTtl, 128),
        (Field::NwTos, 8),
    ]);
    let (r, wc) = wc_of(&c, &f);
    assert_eq!(r, None);
    assert_eq!((wc.nw_ttl, wc.nw_tos, wc.nw_proto), (0xff, 0xfc, 0));
}

/// OVS tests/classifier.at, "flow classifier - lookup segmentation" (megaflows minus the
/// `recirc_id` and `nw_frag` bits xlate adds).
#[test]
fn ovs_lookup_segmentation() {
    let tcp = |port: u128, pri: u16, dst: &str, plen: u32, tp_dst: Option<u128>| {
        let mut m = mat(&[
            (Field::InPort, port, ALL),
            (Field::DlType, 0x800, ALL),
            (Field::NwProto, 6, ALL),
            (Field::NwDst, ip4(dst), (!0u32 << (32 - plen)) as u128),
        ]);
        if let Some(p) = tp_dst {
            m.set_field(Field::TpDst, p);
        }
        (m, pri)
    };
    let ip = |port: u128| {
        (
            mat(&[(Field::InPort, port, ALL), (Field::DlType, 0x800, ALL)]),
            0u16,
        )
    };
    let nw_src_rule = (
        mat(&[
            (Field::InPort, 3, ALL),
            (Field::DlType, 0x800, ALL),
            (Field::NwProto, 6, ALL),
            (Field::NwSrc, ip4("10.1.0.0"), 0xffff_0000),
        ]),
        16,
    );
    let rules = [
        tcp(1, 16, "10.1.0.0", 16, None),
        tcp(1, 32, "10.1.2.15", 32, None),
        tcp(1, 33, "10.1.2.15", 32, Some(80)),
        ip(1),
        tcp(2, 16, "192.168.0.0", 16, None),
        ip(2),
        nw_src_rule,
        ip(3),
    ];
    let mut c = Classifier::new();
    for (i, (m, pri)) in rules.iter().enumerate() {
        c.insert(m, *pri, i);
    }
    let pkt = |port: u128, dst: &str, tp_dst: u128| {
        flow(&[
            (Field::InPort, port),
            (Field::DlType, 0x800),
            (Field::NwSrc, ip4("192.168.0.1")),
            (Field::NwDst, ip4(dst)),
            (Field::NwProto, 6),
            (Field::NwTtl, 128),
            (Field::TpSrc, 8),
            (Field::TpDst, tp_dst),
        ])
    };
    let tcp_mask = |dst: u128| {
        mask(&[
            (Field::InPort, ALL),
            (Field::DlType, ALL),
            (Field::NwProto, ALL),
            (Field::NwDst, dst),
        ])
    };

    // tcp,in_port=2,nw_dst=192.168.0.0/16 -> rule 4
    let (r, wc) = wc_of(&c, &pkt(2, "192.168.0.2", 80));
    assert_eq!(r, Some(4));
    assert_eq!(wc, tcp_mask(0xffff_0000));

    // ip,in_port=1,nw_dst=1.0.0.0/1.0.0.0 -> rule 3
    let (r, wc) = wc_of(&c, &pkt(1, "11.1.2.15", 80));
    assert_eq!(r, Some(3));
    assert_eq!(
        wc,
        mask(&[
            (Field::InPort, ALL),
            (Field::DlType, ALL),
            (Field::NwDst, 0x0100_0000)
        ])
    );

    // tcp,in_port=1,nw_dst=10.1.2.15,tp_dst=80 -> rule 2
    let (r, wc) = wc_of(&c, &pkt(1, "10.1.2.15", 80));
    assert_eq!(r, Some(2));
    let mut want = tcp_mask(0xffff_ffff);
    want.tp_dst = 0xffff;
    assert_eq!(wc, want);

    // tcp,in_port=1,nw_dst=10.1.2.15,tp_dst=0x1/0x1 -> rule 1
    let (r, wc) = wc_of(&c, &pkt(1, "10.1.2.15", 79));
    assert_eq!(r, Some(1));
    let mut want = tcp_mask(0xffff_ffff);
    want.tp_dst = 0x1;
    assert_eq!(wc, want);
}

/// OVS tests/classifier.at, "flow classifier - prefix lookup" (tries on nw_dst and nw_src).
#[test]
fn ovs_prefix_lookup() {
    let rule = |port: u128, dst: &str, plen: u32, extra: &[(Field, u128, u128)]| {
        let mut m = mat(&[
            (Field::InPort, port, ALL),
            (Field::DlType, 0x800, ALL),
            (Field::NwProto, 6, ALL),
            (Field::NwDst, ip4(dst), (!0u32 << (32 - plen)) as u128),
        ]);
        for &(f, v, mk) in extra {
            m.set_field_masked(f, v, mk);
        }
        m
    };
    let ip = |port: u128| mat(&[(Field::InPort, port, ALL), (Field::DlType, 0x800, ALL)]);
    let rules: Vec<(Match, u16, &str)> = vec![
        (rule(1, "10.1.0.0", 16, &[]), 16, "out3"),
        (
            rule(1, "10.1.2.0", 24, &[(Field::TpSrc, 79, ALL)]),
            32,
            "out2",
        ),
        (
            rule(1, "10.1.2.15", 32, &[(Field::TpDst, 80, ALL)]),
            33,
            "drop80",
        ),
        (
            rule(1, "10.1.2.15", 32, &[(Field::TpDst, 8080, ALL)]),
            33,
            "out2-8080",
        ),
        (
            rule(1, "10.1.2.15", 32, &[(Field::TpDst, 192, ALL)]),
            33,
            "out2-192",
        ),
        (ip(1), 0, "drop1"),
        (rule(2, "192.168.0.0", 16, &[]), 16, "out1"),
        (ip(2), 0, "drop2"),
        (
            mat(&[
                (Field::InPort, 3, ALL),
                (Field::DlType, 0x800, ALL),
                (Field::NwProto, 6, ALL),
                (Field::NwSrc, ip4("10.1.0.0"), 0xffff_0000),
            ]),
            16,
            "out1-src",
        ),
        (ip(3), 0, "drop3"),
    ];
    let mut c = Classifier::new();
    for (m, pri, v) in &rules {
        c.insert(m, *pri, *v);
    }
    let pkt = |port: u128, dst: &str, tp_dst: u128| {
        flow(&[
            (Field::InPort, port),
            (Field::DlType, 0x800),
            (Field::NwSrc, ip4("192.168.0.1")),
            (Field::NwDst, ip4(dst)),
            (Field::NwProto, 6),
            (Field::NwTtl, 128),
            (Field::TpSrc, 8),
            (Field::TpDst, tp_dst),
        ])
    };
    let base = |proto: bool, dst: u128| {
        let mut m = mask(&[
            (Field::InPort, ALL),
            (Field::DlType, ALL),
            (Field::NwDst, dst),
        ]);
        if proto {
            m.nw_proto = 0xff;
        }
        m
    };

    // ip,in_port=1,nw_dst=192.168.0.0/16 -> drop
    let (r, wc) = wc_of(&c, &pkt(1, "192.168.0.2", 80));
    assert_eq!(r, Some("drop1"));
    assert_eq!(wc, base(false, 0xffff_0000));

    // tcp,in_port=2,nw_dst=192.168.0.0/16 -> output 1
    let (r, wc) = wc_of(&c, &pkt(2, "192.168.0.2", 80));
    assert_eq!(r, Some("out1"));
    assert_eq!(wc, base(true, 0xffff_0000));

    // tcp,in_port=1,nw_dst=10.1.2.15,tp_dst=80 -> drop
    let (r, wc) = wc_of(&c, &pkt(1, "10.1.2.15", 80));
    assert_eq!(r, Some("drop80"));
    let mut want = base(true, 0xffff_ffff);
    want.tp_dst = 0xffff;
    assert_eq!(wc, want);

    // tcp,in_port=1,nw_dst=10.1.2.15,tp_src=0x0/0x1,tp_dst=0x40/0xfff0 -> output 3
    let (r, wc) = wc_of(&c, &pkt(1, "10.1.2.15", 79));
    assert_eq!(r, Some("out3"));
    let mut want = base(true, 0xffff_ffff);
    want.tp_src = 0x1;
    want.tp_dst = 0xfff0;
    assert_eq!(wc, want);
}

#[test]
fn ipv6_prefix_trie_skips_with_prefix_bits() {
    let mut c = Classifier::new();
    for net in ["2001:db8::", "2001:db8:1::"] {
        let m = mat(&[
            (Field::DlType, 0x86dd, ALL),
            (Field::Ipv6Dst, ip6(net), !0u128 << 80),
        ]);
        c.insert(&m, 5, net);
    }
    let f = flow(&[
        (Field::DlType, 0x86dd),
        (Field::Ipv6Dst, ip6("2001:db9::1")),
    ]);
    let (r, wc) = wc_of(&c, &f);
    assert_eq!(r, None);
    // 2001:db8 vs 2001:db9 differ at bit 31: 32 bits are enough.
    assert_eq!(
        wc,
        mask(&[(Field::DlType, ALL), (Field::Ipv6Dst, !0u128 << 96)])
    );
    let f = flow(&[
        (Field::DlType, 0x86dd),
        (Field::Ipv6Dst, ip6("2001:db8:1::9")),
    ]);
    assert_eq!(wc_of(&c, &f).0, Some("2001:db8:1::"));
}

#[test]
fn shareable_and_cloneable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Classifier<std::sync::Arc<u32>>>();
    let mut c = Classifier::new();
    c.insert(&mat(&[(Field::InPort, 1, ALL)]), 1, 1u32);
    let mut d = c.clone();
    d.insert(&mat(&[(Field::InPort, 2, ALL)]), 1, 2);
    let f = flow(&[(Field::InPort, 2)]);
    assert_eq!(c.lookup(&f, None), None);
    assert_eq!(d.lookup(&f, None), Some(&2));
    d.check_invariants();
}

#[test]
fn catchall_and_empty_classifier() {
    let mut c: Classifier<u8> = Classifier::new();
    let f = flow(&[(Field::InPort, 7)]);
    assert_eq!(wc_of(&c, &f), (None, FlowKey::ZERO));
    c.insert(&Match::CATCHALL, 0, 1);
    assert_eq!(wc_of(&c, &f), (Some(1), FlowKey::ZERO));
    assert_eq!(c.lookup(&f, None), Some(&1));
}

// ---------------------------------------------------------------------------------------------
// Property tests against the linear reference.

/// The fields random rules draw from: (field, mask choices, value choices). Small value
/// domains make rules overlap; prefix masks exercise the tries.
fn universe() -> Vec<(Field, Vec<u128>, Vec<u128>)> {
    vec![
        (Field::InPort, vec![ALL], vec![1, 2, 3]),
        (Field::Reg(0), vec![ALL, 0xff00], vec![0, 0x100, 0x1ff]),
        (Field::DlType, vec![ALL], vec![0x800, 0x86dd]),
        (
            Field::VlanTci,
            vec![0x1fff, 0x1000],
            vec![0, 0x1005, 0x1006],
        ),
        (Field::NwProto, vec![ALL], vec![6, 17]),
        (
            Field::NwSrc,
            vec![
                0xff00_0000,
                0xffff_0000,
                0xffff_f800,
                0xffff_ff00,
                0xffff_ffff,
            ],
            vec![
                ip4("10.0.1.0"),
                ip4("10.0.9.5"),
                ip4("10.0.8.1"),
                ip4("192.168.1.1"),
                ip4("10.1.2.15"),
            ],
        ),
        (
            Field::NwDst,
            vec![0xffff_0000, 0xffff_ff00, 0xffff_ffff, 0x0100_0000],
            vec![ip4("10.1.2.15"), ip4("10.1.3.1"), ip4("192.168.0.2")],
        ),
        (
            Field::Ipv6Dst,
            vec![!0u128 << 96, !0u128 << 64, ALL],
            vec![ip6("2001:db8::1"), ip6("2001:db8:0:1::1"), ip6("fe80::1")],
        ),
        (
            Field::TpSrc,
            vec![0xffff, 0xff00, 0x0001],
            vec![80, 0x100, 0x1bb, 8],
        ),
        (
            Field::TpDst,
            vec![0xffff, 0xfff0, 0xff00],
            vec![80, 8080, 192, 79, 0x1bb],
        ),
        (
            Field::TcpFlags,
            vec![0x002, 0x012, 0xfff],
            vec![0x02, 0x12, 0x10],
        ),
    ]
}

/// A subtable shape: per universe field, maybe a mask choice.
type Template = Vec<Option<u8>>;

#[derive(Clone, Debug)]
enum Op {
    /// Insert a rule: template index, value choices, priority.
    Insert(u8, Vec<u8>, u16),
    /// Remove the n-th live rule (modulo).
    Remove(u8),
    /// Re-insert the n-th live rule with a new value (a replacement).
    Replace(u8),
}

fn template_strategy() -> impl Strategy<Value = Template> {
    let n = universe().len();
    prop::collection::vec(prop::option::weighted(0.3, any::<u8>()), n)
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let n = universe().len();
    prop_oneof![
        6 => (any::<u8>(), prop::collection::vec(any::<u8>(), n), 0u16..4)
            .prop_map(|(t, v, p)| Op::Insert(t, v, p)),
        2 => any::<u8>().prop_map(Op::Remove),
        1 => any::<u8>().prop_map(Op::Replace),
    ]
}

/// A flow: per universe field a value choice, plus an optional single-bit perturbation.
fn flow_strategy() -> impl Strategy<Value = (Vec<u8>, Option<u16>)> {
    let n = universe().len();
    (
        prop::collection::vec(any::<u8>(), n),
        prop::option::weighted(0.3, 0u16..(KEY_WORDS as u16 * 64)),
    )
}

fn build_match(u: &[(Field, Vec<u128>, Vec<u128>)], t: &Template, vals: &[u8]) -> Match {
    let mut m = Match::CATCHALL;
    for (i, (f, masks, values)) in u.iter().enumerate() {
        if let Some(mi) = t[i] {
            let mk = masks[mi as usize % masks.len()];
            let v = values[vals[i] as usize % values.len()];
            m.set_field_masked(*f, v, mk);
        }
    }
    m
}

fn build_flow(u: &[(Field, Vec<u128>, Vec<u128>)], vals: &[u8], flip: Option<u16>) -> FlowKey {
    let mut k = FlowKey::ZERO;
    for (i, (f, _, values)) in u.iter().enumerate() {
        f.set(&mut k, values[vals[i] as usize % values.len()]);
    }
    if let Some(bit) = flip {
        let b = bit as usize;
        k.words_mut()[b / 64] ^= 1 << (b % 64);
    }
    k
}

/// `(a & mask) | (b & !mask)`.
fn blend(a: &FlowKey, b: &FlowKey, mask: &FlowMask) -> FlowKey {
    let mut out = *a;
    for ((o, bw), m) in out.words_mut().iter_mut().zip(b.words()).zip(mask.words()) {
        *o = (*o & m) | (bw & !m);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn matches_linear_reference_and_wildcards_are_sound(
        templates in prop::collection::vec(template_strategy(), 1..6),
        ops in prop::collection::vec(op_strategy(), 1..48),
        flows in prop::collection::vec(flow_strategy(), 1..24),
        noise in prop::collection::vec((any::<u8>(), 0u16..(KEY_WORDS as u16 * 64)), 8),
    ) {
        let u = universe();
        let mut cls: Classifier<u32> = Classifier::new();
        let mut lin: LinearClassifier<u32> = LinearClassifier::new();
        let mut live: Vec<(Match, u16, u32)> = Vec::new();
        let mut next_value = 0u32;

        for op in ops {
            match op {
                Op::Insert(t, vals, pri) => {
                    let m = build_match(&u, &templates[t as usize % templates.len()], &vals);
                    next_value += 1;
                    let old_c = cls.insert(&m, pri, next_value);
                    let old_l = lin.insert(&m, pri, next_value);
                    prop_assert_eq!(old_c, old_l);
                    live.retain(|(lm, lp, _)| !(*lm == normalize(&m) && *lp == pri));
                    live.push((normalize(&m), pri, next_value));
                }
                Op::Remove(i) if !live.is_empty() => {
                    let (m, pri, v) = live.remove(i as usize % live.len());
                    prop_assert_eq!(cls.remove(&m, pri), Some(v));
                    prop_assert_eq!(lin.remove(&m, pri), Some(v));
                    prop_assert_eq!(cls.remove(&m, pri), None);
                }
                Op::Replace(i) if !live.is_empty() => {
                    let k = i as usize % live.len();
                    let (m, pri, v) = live.remove(k);
                    next_value += 1;
                    prop_assert_eq!(cls.insert(&m, pri, next_value), Some(v));
                    prop_assert_eq!(lin.insert(&m, pri, next_value), Some(v));
                    live.push((m, pri, next_value));
                }
                _ => {}
            }
            // (c) consistency after every operation.
            prop_assert_eq!(cls.len(), live.len());
            prop_assert_eq!(lin.len(), live.len());
        }
        cls.check_invariants();
        prop_assert_eq!(cls.iter().count(), live.len());
        for (m, pri, v) in &live {
            prop_assert_eq!(cls.find_exact(m, *pri), Some(v));
        }
        let mut seen: Vec<u32> = cls.iter().map(|(_, _, v)| *v).collect();
        seen.sort_unstable();
        let mut want: Vec<u32> = live.iter().map(|(_, _, v)| *v).collect();
        want.sort_unstable();
        prop_assert_eq!(seen, want);

        // Every bit of every universe field, for exhaustive single-bit flips.
        let mut field_bits = FlowKey::ZERO;
        for (f, _, _) in &u {
            field_bits.or_with(&f.exact_mask());
        }
        let probes: Vec<FlowKey> =
            flows.iter().map(|(vals, flip)| build_flow(&u, vals, *flip)).collect();
        for f in &probes {
            // (a) same answer as the reference, with and without wildcard tracking.
            let mut wc = FlowKey::ZERO;
            let got = cls.lookup(f, Some(&mut wc)).copied();
            let mut lin_wc = FlowKey::ZERO;
            let want = lin.lookup(f, Some(&mut lin_wc)).copied();
            prop_assert_eq!(got, want);
            prop_assert_eq!(cls.lookup(f, None).copied(), want);
            // Never wider than scanning every rule ranked at or above the answer.
            for (a, b) in wc.words().iter().zip(lin_wc.words()) {
                prop_assert_eq!(a & !b, 0, "wildcards outside the scanned rules' masks");
            }
            // (b) soundness: flows agreeing on `wc` get the same rule.
            for other in &probes {
                let g = blend(f, other, &wc);
                prop_assert_eq!(lin.lookup(&g, None).copied(), want, "unsound wc {:?}", wc);
            }
            for &(pick, bit) in &noise {
                let mut g = blend(f, &probes[pick as usize % probes.len()], &wc);
                let b = bit as usize;
                if wc.words()[b / 64] & (1 << (b % 64)) == 0 {
                    g.words_mut()[b / 64] ^= 1 << (b % 64);
                }
                prop_assert_eq!(lin.lookup(&g, None).copied(), want, "unsound wc {:?}", wc);
            }
            for (w, bits) in field_bits.words().iter().enumerate() {
                let mut free = bits & !wc.words()[w];
                while free != 0 {
                    let bit = free & free.wrapping_neg();
                    free &= free - 1;
                    let mut g = *f;
                    g.words_mut()[w] ^= bit;
                    prop_assert_eq!(lin.lookup(&g, None).copied(), want, "unsound wc {:?}", wc);
                }
            }
            // Lookups accumulate: an already-set wc still gives the same, sound answer.
            let mut wc2 = wc;
            prop_assert_eq!(cls.lookup(f, Some(&mut wc2)).copied(), want);
            prop_assert_eq!(wc2, wc);
        }
    }
}
