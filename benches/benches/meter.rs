//! Meter benchmarks: the per-packet token-bucket check (`fastpath::meter::Meter::check`) on
//! one thread, for a packet that passes and one that a drop band drops, and with two threads
//! sharing one meter (the atomics' contention).
//!
//! Run: `cargo bench -p vswitch-benches --bench meter`. Figures are in benches/README.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fastpath::meter::{BandConfig, BandKind, Meter, MeterUnit};

fn band(rate: u32) -> BandConfig {
    BandConfig {
        kind: BandKind::Drop,
        rate,
        burst: 0,
    }
}

fn meter_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("meter");
    g.throughput(Throughput::Elements(1));
    // A rate no packet exceeds: every check refills (time moves) and pays.
    let pass = Meter::new(MeterUnit::Pktps, &[band(u32::MAX)], 0);
    let start = Instant::now();
    g.bench_function("check_pass", |b| {
        b.iter(|| black_box(pass.check(black_box(64), start.elapsed().as_nanos() as u64)))
    });
    // One packet per second: after the first, every check is dropped by the band.
    let drop = Meter::new(MeterUnit::Kbps, &[band(1)], 0);
    g.bench_function("check_drop", |b| {
        b.iter(|| black_box(drop.check(black_box(1500), start.elapsed().as_nanos() as u64)))
    });
    // As the datapath runs it: `meter(N)` reads the meter clock (`fastpath::meter::clock_ns`).
    let dp = Meter::new(
        MeterUnit::Pktps,
        &[band(u32::MAX)],
        fastpath::meter::clock_ns(),
    );
    g.bench_function("check_pass_datapath_clock", |b| {
        b.iter(|| black_box(dp.check(black_box(64), fastpath::meter::clock_ns())))
    });
    // Two threads on one meter: this thread's cost while another hammers the same atomics.
    let shared = Arc::new(Meter::new(MeterUnit::Pktps, &[band(1_000_000)], 0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = {
        let (m, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                black_box(m.check(64, start.elapsed().as_nanos() as u64));
            }
        })
    };
    g.bench_function("check_shared_2_threads", |b| {
        b.iter(|| black_box(shared.check(black_box(64), start.elapsed().as_nanos() as u64)))
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    other.join().expect("second thread");
    g.finish();
}

criterion_group!(benches, meter_check);
criterion_main!(benches);
