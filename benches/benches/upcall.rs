//! Upcall + install: a packet of a new megaflow through the whole datapath.

mod common;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use fastpath::dpif::{Datapath, DpConfig};
use fastpath::flow::FlowKey;
use fastpath::packet::Packet;
use std::sync::Arc;
use std::time::Duration;

fn upcall(c: &mut Criterion) {
    // The first rule consults tp_src, so every source port is its own megaflow.
    let mut rules = common::l3_rules();
    let mut mask = FlowKey::ZERO;
    mask.dl_type = !0;
    mask.nw_proto = !0;
    mask.tp_src = !0;
    let mut value = FlowKey::ZERO;
    value.dl_type = 0x0800;
    value.nw_proto = 17;
    value.tp_src = 9;
    rules.rules.insert(
        0,
        common::Rule {
            mask,
            value,
            actions: vec![],
        },
    );
    let config = DpConfig {
        upcall_burst_per_port: u32::MAX,
        upcall_rate_per_port: u32::MAX,
        ..DpConfig::default()
    };
    let dp = Datapath::new(config, Arc::new(rules), None);
    let mut ctx = dp.new_pmd();
    let frames: Vec<Vec<u8>> = (0..4_096u16)
        .map(|i| common::udp_frame([10, 1, 0, 1], [10, 0, (i % 10) as u8, 1], 10_000 + i, 53))
        .collect();
    let mut next = 0;
    let mut batch: Vec<Packet> = Vec::with_capacity(1);
    c.bench_function("upcall_install", |b| {
        b.iter_batched(
            || {
                next = (next + 1) % frames.len();
                if next == 0 {
                    dp.flush_megaflows();
                }
                next
            },
            |i| {
                common::fill_batch(&mut batch, std::slice::from_ref(&frames[i]), || {
                    ctx.packet_buffer()
                });
                dp.process_batch(&mut ctx, 1, &mut batch, 0);
                ctx.discard_outputs();
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = upcall
}
criterion_main!(benches);
