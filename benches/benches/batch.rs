//! A batch of 32 cached packets through the datapath (rx copy, extract, caches, execute,
//! output queueing), with and without the microflow cache.

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fastpath::dpif::{Datapath, DpConfig};
use fastpath::packet::Packet;
use std::sync::Arc;
use std::time::Duration;

fn batch(c: &mut Criterion) {
    let frames = common::l3_frames(1_024);
    let mut g = c.benchmark_group("batch32");
    g.throughput(Throughput::Elements(32));
    for inv_prob in [100, 0] {
        let config = DpConfig {
            microflow_insert_inv_prob: inv_prob,
            ..DpConfig::default()
        };
        let dp = Datapath::new(config, Arc::new(common::l3_rules()), None);
        let mut ctx = dp.new_pmd();
        let mut batch: Vec<Packet> = Vec::with_capacity(32);
        let mut chunks = frames.chunks(32).cycle();
        for _ in 0..10_000 {
            let chunk = chunks.next().unwrap();
            common::fill_batch(&mut batch, chunk, || ctx.packet_buffer());
            dp.process_batch(&mut ctx, 1, &mut batch, 0);
            ctx.discard_outputs();
        }
        let name = if inv_prob == 0 {
            "megaflow_only"
        } else {
            "microflow"
        };
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let chunk = chunks.next().unwrap();
                common::fill_batch(&mut batch, chunk, || ctx.packet_buffer());
                dp.process_batch(&mut ctx, 1, &mut batch, 0);
                ctx.discard_outputs();
            })
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
    targets = batch
}
criterion_main!(benches);
