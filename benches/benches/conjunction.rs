//! Conjunctive-match lookup: a table of 1,000 conjunctions (OVN's shape: per ACL an address
//! set of 4 sources and a port group of 2 destination ports, 6,000 soft rules and 1,000
//! `conj_id` rules, one priority), looked up with wildcard tracking as xlate does.
//!
//! `conj_hit`: a packet completing conjunction 500; `conj_partial`: its source matches, its
//! port does not (the soft matches are tallied, then the catch-all wins); `plain_same_shape`:
//! the same rules as ordinary ones (no conjunctions), the path every table without them takes.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use fastpath::flow::{Field, FlowKey};
use std::time::Duration;
use vswitchd::classifier::{Classifier, Conjunction, Match};

const N: u32 = 1_000;

fn m(fields: &[(Field, u128)]) -> Match {
    let mut m = Match::CATCHALL;
    m.set_field(Field::DlType, 0x0800);
    m.set_field(Field::NwProto, 6);
    for &(f, v) in fields {
        m.set_field(f, v);
    }
    m
}

fn src(i: u32, j: u32) -> u128 {
    u128::from(0x0a00_0000 | (i << 8) | (j + 1))
}

fn table(conj: bool) -> Classifier<u32> {
    let mut c = Classifier::new();
    for i in 0..N {
        let cj = |k: u8| Conjunction {
            id: i + 1,
            clause: k,
            n_clauses: 2,
        };
        for j in 0..4 {
            let r = m(&[(Field::NwSrc, src(i, j))]);
            if conj {
                c.insert_conj(&r, 2000, i, &[cj(0)]);
            } else {
                c.insert(&r, 2000, i);
            }
        }
        for p in [10_000 + i, 20_000 + i] {
            let r = m(&[(Field::TpDst, u128::from(p))]);
            if conj {
                c.insert_conj(&r, 2000, i, &[cj(1)]);
            } else {
                c.insert(&r, 2000, i);
            }
        }
        c.insert(&m(&[(Field::ConjId, u128::from(i + 1))]), 2000, i);
    }
    c.insert(&Match::CATCHALL, 0, u32::MAX);
    c
}

fn packet(i: u32, port: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.dl_type = 0x0800;
    k.nw_proto = 6;
    k.nw_src = src(i, 2) as u32;
    k.nw_dst = 0x0a09_0909;
    k.tp_src = 40_000;
    k.tp_dst = port;
    k
}

fn lookups(c: &mut Criterion) {
    let with = table(true);
    let without = table(false);
    let hit = packet(500, 10_500);
    let partial = packet(500, 443);
    assert_eq!(with.lookup(&hit, None), Some(&500));
    assert_eq!(with.lookup(&partial, None), Some(&u32::MAX));
    let mut g = c.benchmark_group("conjunction_1000");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for (name, cls, pkt) in [
        ("conj_hit", &with, hit),
        ("conj_partial", &with, partial),
        ("plain_same_shape", &without, hit),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut wc = FlowKey::ZERO;
                black_box(cls.lookup(black_box(&pkt), Some(&mut wc)));
                wc
            })
        });
    }
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
