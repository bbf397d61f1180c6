//! Conntrack benchmarks: established-connection lookups, new connections per second at
//! several table sizes, NAT on the hit path, sharding under two threads, and bytes per entry.
//!
//! Run: `cargo bench -p vswitch-benches --bench conntrack`. Figures are in benches/README.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fastpath::action::{CtAction, NatSpec};
use fastpath::conntrack::{ConnTuple, Conntrack, ConntrackConfig, CtVerdict};
use fastpath::flow::FlowKey;

/// Counts live heap bytes, to measure bytes per connection.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: defers to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const L3: usize = 14;

/// An Ethernet + IPv4 + UDP (or TCP ACK) frame for connection number `i`. Checksums are left
/// zero: conntrack does not verify them.
fn frame(i: u32, tcp: bool, reply: bool) -> Vec<u8> {
    let client = Ipv4Addr::from(0x0a00_0000 | (i >> 14)).octets();
    let server = [10, 200, 0, 1];
    let (cport, sport) = (1024 + (i & 0x3fff) as u16, 80u16);
    let (src, dst, sp, dp) = if reply {
        (server, client, sport, cport)
    } else {
        (client, server, cport, sport)
    };
    let l4len = if tcp { 20 } else { 8 };
    let mut f = vec![0u8; L3 + 20 + l4len];
    f[12] = 0x08;
    f[L3] = 0x45;
    f[L3 + 2..L3 + 4].copy_from_slice(&((20 + l4len) as u16).to_be_bytes());
    f[L3 + 8] = 64;
    f[L3 + 9] = if tcp { 6 } else { 17 };
    f[L3 + 12..L3 + 16].copy_from_slice(&src);
    f[L3 + 16..L3 + 20].copy_from_slice(&dst);
    let l4 = L3 + 20;
    f[l4..l4 + 2].copy_from_slice(&sp.to_be_bytes());
    f[l4 + 2..l4 + 4].copy_from_slice(&dp.to_be_bytes());
    if tcp {
        // A bare ACK at a fixed point of a mid-stream connection: always in window.
        f[l4 + 4..l4 + 8].copy_from_slice(&1000u32.to_be_bytes());
        f[l4 + 8..l4 + 12].copy_from_slice(&5000u32.to_be_bytes());
        f[l4 + 12] = 5 << 4;
        f[l4 + 13] = 0x10;
        f[l4 + 14..l4 + 16].copy_from_slice(&65535u16.to_be_bytes());
    } else {
        f[l4 + 4..l4 + 6].copy_from_slice(&8u16.to_be_bytes());
    }
    f
}

fn commit() -> CtAction {
    CtAction {
        commit: true,
        ..CtAction::default()
    }
}

fn exec(ct: &Conntrack, f: &mut [u8], key: &mut FlowKey, a: &CtAction) -> CtVerdict {
    ct.track_frame(f, L3, key, a, 1)
}

/// A tracker holding connections `0..n`, answered once so they are established.
fn filled(n: u32, tcp: bool, shards: Option<usize>) -> Conntrack {
    let ct = Conntrack::new(ConntrackConfig {
        shards,
        ..ConntrackConfig::default()
    });
    let mut key = FlowKey::ZERO;
    for i in 0..n {
        assert_eq!(
            exec(&ct, &mut frame(i, tcp, false), &mut key, &commit()),
            CtVerdict::Committed
        );
        exec(
            &ct,
            &mut frame(i, tcp, true),
            &mut key,
            &CtAction::default(),
        );
    }
    ct
}

fn established_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct/established");
    g.throughput(Throughput::Elements(1));
    for (name, tcp) in [("udp", false), ("tcp", true)] {
        for n in [1_000u32, 100_000] {
            let ct = filled(n, tcp, None);
            // Walk 1k connections spread over the table, so caches see a realistic mix.
            let step = n / 1000;
            let mut frames: Vec<Vec<u8>> = (0..1000).map(|i| frame(i * step, tcp, false)).collect();
            let mut key = FlowKey::ZERO;
            let mut i = 0;
            g.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    i = (i + 1) % frames.len();
                    black_box(exec(&ct, &mut frames[i], &mut key, &CtAction::default()))
                })
            });
            assert_eq!(key.ct_state & 0x02, 0x02, "established");
        }
    }
    g.finish();
}

fn nat_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct/nat_hit");
    g.throughput(Throughput::Elements(1));
    let ct = Conntrack::new(ConntrackConfig::default());
    let snat = CtAction {
        commit: true,
        nat: Some(NatSpec {
            src: Some(true),
            addrs: Some(("192.0.2.1".parse().unwrap(), "192.0.2.8".parse().unwrap())),
            ports: Some((10_000, 60_000)),
        }),
        ..CtAction::default()
    };
    let templates: Vec<Vec<u8>> = (0..1000).map(|i| frame(i, false, false)).collect();
    let mut key = FlowKey::ZERO;
    for t in &templates {
        assert_eq!(
            exec(&ct, &mut t.clone(), &mut key, &snat),
            CtVerdict::Committed
        );
    }
    let nat_only = CtAction {
        nat: Some(NatSpec {
            src: None,
            addrs: None,
            ports: None,
        }),
        ..CtAction::default()
    };
    let mut buf = templates[0].clone();
    let mut i = 0;
    // Includes copying the 42-byte template back (the NAT rewrites it each time).
    g.bench_function("udp_snat_1k", |b| {
        b.iter(|| {
            i = (i + 1) % templates.len();
            buf.copy_from_slice(&templates[i]);
            black_box(exec(&ct, &mut buf, &mut key, &nat_only))
        })
    });
    assert_eq!(key.ct_state & 0x40, 0x40, "snat applied");
    g.finish();
}

fn new_connections(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct/new_commit");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    for n in [1_000u32, 100_000, 1_000_000] {
        let ct = filled(n, false, None);
        // Fresh tuples beyond the prefill; committed in chunks of n/10 and flushed again
        // (untimed), so the table stays between n and 1.1 n entries.
        let chunk = (n / 10).max(100) as usize;
        let pool: Vec<Vec<u8>> = (0..chunk as u32)
            .map(|i| frame(n + i, false, false))
            .collect();
        let tuples: Vec<ConnTuple> = (0..chunk as u32)
            .map(|i| {
                let f = frame(n + i, false, false);
                let ip = |at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
                let port = |at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
                ConnTuple::new(0, 17, ip(26).into(), ip(30).into(), port(34), port(36))
            })
            .collect();
        let mut key = FlowKey::ZERO;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let k = left.min(chunk);
                    let mut frames = pool[..k].to_vec();
                    let t0 = Instant::now();
                    for f in &mut frames {
                        black_box(exec(&ct, f, &mut key, &commit()));
                    }
                    spent += t0.elapsed();
                    for t in &tuples[..k] {
                        ct.flush(None, Some(t));
                    }
                    left -= k;
                }
                spent
            })
        });
        assert_eq!(ct.len(), n as usize);
    }
    g.finish();
}

/// Two threads doing established lookups: one shard (a global lock) against many.
fn sharding_two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("ct/two_threads");
    g.sample_size(10);
    g.throughput(Throughput::Elements(2 * 100_000));
    for shards in [1usize, 64, 1024] {
        let ct = Arc::new(filled(10_000, false, Some(shards)));
        g.bench_function(BenchmarkId::new("shards", shards), |b| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..2u32 {
                        let ct = Arc::clone(&ct);
                        s.spawn(move || {
                            let mut frames: Vec<Vec<u8>> = (0..1000)
                                .map(|i| frame(i * 10 + t * 5, false, false))
                                .collect();
                            let mut key = FlowKey::ZERO;
                            for _ in 0..iters {
                                for _ in 0..100 {
                                    for f in frames.iter_mut().take(1000) {
                                        black_box(exec(&ct, f, &mut key, &CtAction::default()));
                                    }
                                }
                            }
                        });
                    }
                });
                t0.elapsed()
            })
        });
    }
    g.finish();
}

fn bytes_per_entry(_c: &mut Criterion) {
    for n in [100_000u32, 1_000_000] {
        let frames: Vec<Vec<u8>> = (0..n).map(|i| frame(i, true, false)).collect();
        let ct = Conntrack::new(ConntrackConfig::default());
        let before = LIVE.load(Ordering::Relaxed);
        let mut key = FlowKey::ZERO;
        for f in &frames {
            let mut f = f.clone();
            exec(&ct, &mut f, &mut key, &commit());
        }
        let after = LIVE.load(Ordering::Relaxed);
        println!(
            "ct/bytes_per_entry/{n}: {:.0} bytes per TCP connection (table, both index slots, \
             state; fixed per-instance arrays excluded)",
            (after - before) as f64 / f64::from(n)
        );
        drop(ct);
    }
}

criterion_group!(
    benches,
    bytes_per_entry,
    established_lookup,
    nat_hit,
    new_connections,
    sharding_two_threads
);
criterion_main!(benches);
