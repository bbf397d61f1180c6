//! Conjunctive-match tests: OVS's semantics on small tables (the cases of ovs-fields(7) and of
//! OVS's classifier comments), and wildcard soundness on random conjunctive tables.

use super::*;
use fastpath::flow::Field;
use fastpath::flow::key::{ethertype, ipproto};
use proptest::prelude::*;

const ALL: u128 = u128::MAX;

fn ip4(s: &str) -> u128 {
    let v: std::net::Ipv4Addr = s.parse().unwrap();
    u128::from(u32::from(v))
}

fn mat(fields: &[(Field, u128, u128)]) -> Match {
    let mut m = Match::CATCHALL;
    m.set_field(Field::DlType, u128::from(ethertype::IPV4));
    m.set_field(Field::NwProto, u128::from(ipproto::TCP));
    for &(f, v, mask) in fields {
        m.set_field_masked(f, v, mask);
    }
    m
}

fn pkt(src: &str, dport: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.dl_type = ethertype::IPV4;
    k.nw_proto = ipproto::TCP;
    k.nw_src = ip4(src) as u32;
    k.nw_dst = ip4("10.9.9.9") as u32;
    k.tp_dst = dport;
    k.tp_src = 1234;
    k
}

fn conj(id: u32, k: u8, n: u8) -> [Conjunction; 1] {
    [Conjunction {
        id,
        clause: k - 1,
        n_clauses: n,
    }]
}

/// `nw_src` in {A, B} and `tp_dst` in {80, 443} at priority 100, `conj_id=1` allows, a
/// catch-all at priority 1 denies (ovs-fields(7)'s example shape).
fn two_dimensions() -> Classifier<&'static str> {
    let mut c = Classifier::new();
    for a in ["10.0.0.1", "10.0.0.2"] {
        c.insert_conj(
            &mat(&[(Field::NwSrc, ip4(a), ALL)]),
            100,
            "dim1",
            &conj(1, 1, 2),
        );
    }
    for p in [80, 443] {
        c.insert_conj(&mat(&[(Field::TpDst, p, ALL)]), 100, "dim2", &conj(1, 2, 2));
    }
    c.insert(&mat(&[(Field::ConjId, 1, ALL)]), 100, "allow");
    c.insert(&Match::CATCHALL, 1, "deny");
    c
}

fn look<T: Copy + PartialEq + std::fmt::Debug>(
    c: &Classifier<T>,
    f: &FlowKey,
) -> (Option<T>, FlowMask) {
    let mut wc = FlowKey::ZERO;
    let r = c.lookup(f, Some(&mut wc)).copied();
    assert_eq!(
        c.lookup(f, None).copied(),
        r,
        "plain and tracked lookups differ"
    );
    (r, wc)
}

#[test]
fn all_dimensions_at_one_priority_select_the_conj_id_rule() {
    let c = two_dimensions();
    assert_eq!(look(&c, &pkt("10.0.0.1", 80)).0, Some("allow"));
    assert_eq!(look(&c, &pkt("10.0.0.2", 443)).0, Some("allow"));
    assert_eq!(look(&c, &pkt("10.0.0.1", 22)).0, Some("deny"));
    assert_eq!(look(&c, &pkt("10.0.0.3", 80)).0, Some("deny"));
    // A packet's own conj_id is zero: the conj_id rule never matches directly.
    let mut c2 = Classifier::new();
    c2.insert(&mat(&[(Field::ConjId, 1, ALL)]), 100, "allow");
    c2.insert_conj(&Match::CATCHALL, 100, "dim1", &conj(1, 1, 2));
    assert_eq!(look(&c2, &pkt("10.0.0.1", 80)).0, None);
}

#[test]
fn megaflow_holds_the_dimensions_consulted_and_never_conj_id() {
    let c = two_dimensions();
    let (r, wc) = look(&c, &pkt("10.0.0.1", 80));
    assert_eq!(r, Some("allow"));
    assert_eq!(wc.nw_src, u32::MAX);
    assert_eq!(wc.tp_dst, u16::MAX);
    // The second lookup consulted conj_id; it is pipeline scratch and the megaflow printer and
    // the datapath mask drop it (FlowKey::dp_only_mask).
    assert_eq!(wc.masked(&FlowKey::dp_only_mask()).conj_id, 0);
    let (r, wc) = look(&c, &pkt("10.0.0.3", 22));
    assert_eq!(r, Some("deny"));
    assert_eq!(wc.tp_src, 0, "no rule looks at tp_src");
}

#[test]
fn higher_or_equal_priority_ordinary_match_wins() {
    let mut c = two_dimensions();
    c.insert(
        &mat(&[(Field::NwSrc, ip4("10.0.0.1"), ALL)]),
        200,
        "hard200",
    );
    assert_eq!(look(&c, &pkt("10.0.0.1", 80)).0, Some("hard200"));
    assert_eq!(look(&c, &pkt("10.0.0.2", 80)).0, Some("allow"));
    // Equal priority: OVS drops soft matches not above the best hard match.
    c.insert(&mat(&[(Field::TpDst, 443, ALL)]), 100, "hard100");
    assert_eq!(look(&c, &pkt("10.0.0.2", 443)).0, Some("hard100"));
    // A lower-priority ordinary match loses to the conjunction.
    c.insert(&mat(&[(Field::TpDst, 80, ALL)]), 50, "hard50");
    assert_eq!(look(&c, &pkt("10.0.0.2", 80)).0, Some("allow"));
    assert_eq!(look(&c, &pkt("10.0.0.3", 80)).0, Some("hard50"));
}

#[test]
fn conj_id_lookup_returns_whatever_wins_with_conj_id_set() {
    // As OVS: the second lookup is a full one; a higher-priority ordinary rule outranks the
    // conj_id rule, and with no conj_id rule the best other match is the answer.
    let mut c = two_dimensions();
    c.remove(&mat(&[(Field::ConjId, 1, ALL)]), 100);
    assert_eq!(look(&c, &pkt("10.0.0.1", 80)).0, Some("deny"));
    c.insert(&mat(&[(Field::ConjId, 1, ALL)]), 10, "allow10");
    c.insert(&mat(&[(Field::TpSrc, 1234, ALL)]), 20, "sport20");
    assert_eq!(look(&c, &pkt("10.0.0.1", 80)).0, Some("sport20"));
}

#[test]
fn lower_priority_rules_with_identical_matches_are_considered() {
    // OVS's classifier comment: soft at 100 on in_port=1 with an identical ordinary rule at
    // 50; when the conjunction fails, the identical-match rule is still found.
    let mut c = Classifier::new();
    let m = mat(&[(Field::InPort, 1, ALL)]);
    c.insert_conj(&m, 100, "soft", &conj(1, 1, 2));
    c.insert(&m, 50, "same-match-50");
    c.insert(&Match::CATCHALL, 10, "low");
    let mut f = pkt("10.0.0.1", 80);
    f.in_port = 1;
    assert_eq!(look(&c, &f).0, Some("same-match-50"));
    // ... and a lower soft one with the identical match takes part at its own priority.
    c.insert_conj(&m, 60, "soft60", &conj(2, 1, 2));
    c.insert_conj(&mat(&[(Field::TpDst, 80, ALL)]), 60, "dim2", &conj(2, 2, 2));
    c.insert(&mat(&[(Field::ConjId, 2, ALL)]), 60, "conj2");
    assert_eq!(look(&c, &f).0, Some("conj2"));
}

#[test]
fn incomplete_and_oversized_conjunctions_do_not_match() {
    let mut c = Classifier::new();
    c.insert_conj(
        &mat(&[(Field::NwSrc, ip4("10.0.0.1"), ALL)]),
        100,
        "a",
        &conj(3, 1, 3),
    );
    c.insert_conj(&mat(&[(Field::TpDst, 80, ALL)]), 100, "b", &conj(3, 2, 3));
    c.insert(&mat(&[(Field::ConjId, 3, ALL)]), 100, "three");
    c.insert(&Match::CATCHALL, 0, "miss");
    assert_eq!(look(&c, &pkt("10.0.0.1", 80)).0, Some("miss"));
    c.insert_conj(&mat(&[(Field::TpSrc, 1234, ALL)]), 100, "c", &conj(3, 3, 3));
    assert_eq!(look(&c, &pkt("10.0.0.1", 80)).0, Some("three"));
    // One rule in two conjunctions: a member of both sets.
    c.insert_conj(
        &mat(&[(Field::NwDst, ip4("10.9.9.9"), ALL)]),
        100,
        "both",
        &[
            Conjunction {
                id: 4,
                clause: 0,
                n_clauses: 2,
            },
            Conjunction {
                id: 5,
                clause: 1,
                n_clauses: 2,
            },
        ],
    );
    c.remove(&mat(&[(Field::TpSrc, 1234, ALL)]), 100);
    c.insert_conj(
        &mat(&[(Field::TpSrc, 1234, ALL)]),
        100,
        "c5",
        &conj(5, 1, 2),
    );
    c.insert(&mat(&[(Field::ConjId, 5, ALL)]), 100, "five");
    assert_eq!(look(&c, &pkt("10.0.0.1", 80)).0, Some("five"));
    c.check_invariants();
    assert_eq!(c.n_conj, 4);
}

#[test]
fn without_conjunctions_the_plain_paths_run() {
    let mut c = two_dimensions();
    for a in ["10.0.0.1", "10.0.0.2"] {
        c.remove(&mat(&[(Field::NwSrc, ip4(a), ALL)]), 100);
    }
    for p in [80, 443] {
        c.remove(&mat(&[(Field::TpDst, p, ALL)]), 100);
    }
    assert_eq!(c.n_conj, 0);
    assert_eq!(look(&c, &pkt("10.0.0.1", 80)).0, Some("deny"));
    // Replacing a soft rule by an ordinary one with the same match and priority counts down.
    c.insert_conj(&Match::CATCHALL, 1, "soft", &conj(9, 1, 2));
    assert_eq!(c.n_conj, 1);
    c.insert(&Match::CATCHALL, 1, "deny");
    assert_eq!(c.n_conj, 0);
}

/// A random conjunctive table: per rule (dimension field, value, priority, conjunction id,
/// clause, clause count or "ordinary").
fn table_strategy() -> impl Strategy<Value = Vec<(u8, u8, u8, u8, u8, u8)>> {
    prop::collection::vec((0u8..4, 0u8..3, 0u8..3, 0u8..3, 0u8..3, 0u8..4), 1..24)
}

fn field_of(i: u8) -> (Field, [u128; 3]) {
    match i {
        0 => (
            Field::NwSrc,
            [ip4("10.0.0.1"), ip4("10.0.0.2"), ip4("10.0.0.3")],
        ),
        1 => (Field::TpDst, [80, 443, 22]),
        2 => (Field::InPort, [1, 2, 3]),
        _ => (Field::ConjId, [1, 2, 3]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn conjunctive_wildcards_are_sound(
        rules in table_strategy(),
        flows in prop::collection::vec((0usize..3, 0usize..3, 1u32..4, any::<u16>()), 1..12),
    ) {
        let mut c: Classifier<usize> = Classifier::new();
        for (i, &(fi, vi, pri, id, k, kind)) in rules.iter().enumerate() {
            let (f, vals) = field_of(fi);
            let m = mat(&[(f, vals[vi as usize], ALL)]);
            let pri = [10u16, 20, 30][pri as usize];
            if kind == 0 || f == Field::ConjId {
                c.insert(&m, pri, i);
            } else {
                let n = kind + 1;
                let cj = Conjunction { id: u32::from(id) + 1, clause: k % n, n_clauses: n };
                c.insert_conj(&m, pri, i, &[cj]);
            }
        }
        c.check_invariants();
        let probes: Vec<FlowKey> = flows
            .iter()
            .map(|&(s, d, port, noise)| {
                let mut k = pkt(["10.0.0.1", "10.0.0.2", "10.0.0.3"][s], [80, 443, 22][d]);
                k.in_port = port;
                k.tp_src = noise;
                k
            })
            .collect();
        for f in &probes {
            let mut wc = FlowKey::ZERO;
            let want = c.lookup(f, Some(&mut wc)).copied();
            prop_assert_eq!(c.lookup(f, None).copied(), want);
            for other in &probes {
                let mut g = *f;
                for ((o, bw), m) in g.words_mut().iter_mut().zip(other.words()).zip(wc.words()) {
                    *o = (*o & m) | (bw & !m);
                }
                prop_assert_eq!(c.lookup(&g, None).copied(), want, "unsound wc {:?}", wc);
            }
        }
    }
}
