//! Megaflow cache: batched tuple-space lookup with 1, 5, 10 and 20 subtables.

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fastpath::cache::megaflow::MAX_BATCH;
use std::hint::black_box;
use std::time::Duration;

fn megaflow(c: &mut Criterion) {
    let mut g = c.benchmark_group("megaflow_hit");
    for subtables in [1, 5, 10, 20] {
        let (table, keys) = common::megaflow_table(subtables, 100);
        g.throughput(Throughput::Elements(keys.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(subtables), &keys, |b, keys| {
            b.iter(|| {
                for chunk in keys.chunks(MAX_BATCH) {
                    let mut out = [None; MAX_BATCH];
                    let want = if chunk.len() == 32 {
                        u32::MAX
                    } else {
                        (1 << chunk.len()) - 1
                    };
                    black_box(table.lookup_batch(black_box(chunk), want, &mut out));
                    black_box(&out);
                }
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
    targets = megaflow
}
criterion_main!(benches);
