//! Microflow cache: hash + exact-match hit, and a miss.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fastpath::action::DpAction;
use fastpath::cache::{KeyHasher, MegaflowTable, MicroflowCache};
use fastpath::flow::FlowKey;
use std::hint::black_box;
use std::time::Duration;

fn microflow(c: &mut Criterion) {
    let hasher = KeyHasher::random();
    let mut table = MegaflowTable::new(hasher.clone());
    let mut emc = MicroflowCache::new(8_192, 1, 7);
    let keys: Vec<FlowKey> = (0..1_000u32)
        .map(|i| common::udp_key(0x0a00_0000 + i, 1024 + i as u16))
        .collect();
    for k in &keys {
        let (e, _) = table.insert(k, &FlowKey::dp_only_mask(), vec![DpAction::Output(2)], 0);
        emc.insert(k, hasher.hash_dp(k), &e);
    }
    let mut g = c.benchmark_group("microflow");
    g.throughput(Throughput::Elements(keys.len() as u64));
    // As the datapath does it: each batch of 32 keys is hashed, then probed.
    let probe = |keys: &[FlowKey]| {
        let mut h = [0u64; 32];
        for chunk in keys.chunks(32) {
            for (h, k) in h.iter_mut().zip(chunk) {
                *h = hasher.hash_dp(black_box(k));
            }
            for (k, h) in chunk.iter().zip(&h) {
                black_box(emc.lookup(k, *h));
            }
        }
    };
    g.bench_function("hit_1000_flows", |b| b.iter(|| probe(&keys)));
    let absent: Vec<FlowKey> = keys.iter().map(|k| common::udp_key(k.nw_dst, 7)).collect();
    g.bench_function("miss_1000_flows", |b| b.iter(|| probe(&absent)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = microflow
}
criterion_main!(benches);
