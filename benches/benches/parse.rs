//! Flow key extraction (parse) of typical frames.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fastpath::flow::FlowKey;
use fastpath::flow::extract::extract;
use std::hint::black_box;
use std::time::Duration;

fn parse(c: &mut Criterion) {
    let udp = common::udp_frame([10, 1, 0, 1], [10, 0, 0, 2], 1234, 53);
    let mut tagged = udp.clone();
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in [("ipv4_udp", &udp), ("vlan_ipv4_udp", &tagged)] {
        g.bench_function(name, |b| {
            let mut key = FlowKey::ZERO;
            b.iter(|| black_box(extract(black_box(frame), 1, &mut key)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = parse
}
criterion_main!(benches);
