//! `pipeline-bench`: the fast path's headline figures, measured in-process on this machine.
//!
//! ```text
//! microflow_hit: X ns                 hash + exact-match lookup, 1,000 cached flows
//! megaflow_hit_10_subtables: X ns     batched tuple-space lookup, keys spread over 10 masks
//! upcall_install: X ns                new megaflow: extract, miss, upcall, install, execute
//! pipeline_batch32: X Mpps            rx copy + extract + caches + execute + output queue
//! ```
//!
//! The slow path for the headline figures is a small first-match rule list (`common::RuleSet`);
//! the `xlate` section repeats upcall and pipeline with vswitchd's OpenFlow tables and xlate.
//! Arguments select sections: `pipeline-bench [extract|microflow|megaflow|upcall|xlate|pipeline]...`.
//!
//! Each figure is the best of several runs, timed in thread CPU time (the machine is shared:
//! wall time would include other processes' turns on the core). Lines starting with `#` are
//! context.

#[path = "../../benches/common/mod.rs"]
mod common;

use common::*;
use fastpath::action::DpAction;
use fastpath::cache::{KeyHasher, MegaflowTable, MicroflowCache, megaflow::MAX_BATCH};
use fastpath::dpif::{Datapath, DpConfig};
use fastpath::flow::FlowKey;
use fastpath::flow::extract::extract;
use fastpath::packet::Packet;
use std::hint::black_box;
use std::sync::Arc;

const RUNS: usize = 15;

/// CPU time this thread has used, in nanoseconds. On a shared machine, wall time also counts
/// the time other processes held the core; thread CPU time does not.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always supported
    // on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Best CPU nanoseconds per operation over [`RUNS`] runs of `run`, which returns its op count.
fn best_ns(mut run: impl FnMut() -> u64) -> f64 {
    (0..RUNS)
        .map(|_| {
            let t = thread_cpu_ns();
            let ops = run();
            (thread_cpu_ns() - t) as f64 / ops as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn microflow_hit() -> f64 {
    let hasher = KeyHasher::random();
    let mut table = MegaflowTable::new(hasher.clone());
    let mut emc = MicroflowCache::new(8_192, 1, 7);
    let keys: Vec<FlowKey> = (0..1_000u32)
        .map(|i| udp_key(0x0a00_0000 + i, 1024 + i as u16))
        .collect();
    for k in &keys {
        let (e, _) = table.insert(k, &FlowKey::dp_only_mask(), vec![DpAction::Output(2)], 0);
        emc.insert(k, hasher.hash_dp(k), &e);
    }
    let hits = keys
        .iter()
        .filter(|k| emc.lookup(k, hasher.hash_dp(k)).is_some())
        .count();
    println!("# microflow: {hits} of {} flows resident", keys.len());
    let hash_ns = best_ns(|| {
        let mut acc = 0u64;
        for _ in 0..200 {
            for k in &keys {
                acc ^= hasher.hash_dp(black_box(k));
            }
        }
        black_box(acc);
        200 * keys.len() as u64
    });
    let hashes: Vec<u64> = keys.iter().map(|k| hasher.hash_dp(k)).collect();
    let lookup_ns = best_ns(|| {
        for _ in 0..200 {
            for (k, h) in keys.iter().zip(&hashes) {
                black_box(emc.lookup(black_box(k), *h));
            }
        }
        200 * keys.len() as u64
    });
    println!("# microflow parts: hash {hash_ns:.1} ns, lookup with known hash {lookup_ns:.1} ns");
    // As the datapath does it: a batch of 32 keys hashed, then probed.
    best_ns(|| {
        let mut n = 0;
        let mut h = [0u64; 32];
        for _ in 0..200 {
            for chunk in keys.chunks(32) {
                for (h, k) in h.iter_mut().zip(chunk) {
                    *h = hasher.hash_dp(black_box(k));
                }
                for (k, h) in chunk.iter().zip(&h) {
                    black_box(emc.lookup(k, *h));
                }
                n += chunk.len() as u64;
            }
        }
        n
    })
}

fn extract_ns() -> f64 {
    let frames = l3_frames(1_024);
    let mut key = FlowKey::ZERO;
    best_ns(|| {
        for _ in 0..100 {
            for f in &frames {
                black_box(extract(black_box(f), 1, &mut key));
            }
        }
        100 * frames.len() as u64
    })
}

fn megaflow_hit(subtables: usize) -> (f64, f64) {
    let (table, keys) = megaflow_table(subtables, 100);
    let mut searched = 0u64;
    let mut hits = 0u64;
    let ns = best_ns(|| {
        let mut n = 0;
        for _ in 0..50 {
            for chunk in keys.chunks(MAX_BATCH) {
                let mut out = [None; MAX_BATCH];
                let want = if chunk.len() == 32 {
                    u32::MAX
                } else {
                    (1 << chunk.len()) - 1
                };
                let (h, s) = table.lookup_batch(black_box(chunk), want, &mut out);
                hits += u64::from(h.count_ones());
                searched += s;
                black_box(&out);
                n += chunk.len() as u64;
            }
        }
        n
    });
    (ns, searched as f64 / hits as f64)
}

/// A rule set where every distinct UDP source port needs its own megaflow (the first rule
/// consults `tp_src`), followed by the L3 rules.
fn per_port_rules() -> common::RuleSet {
    let mut rules = l3_rules();
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
        Rule {
            mask,
            value,
            actions: vec![],
        },
    );
    rules
}

fn upcall_install() -> f64 {
    // Unlimited upcall budget: this measures the cost of an upcall, not the rate limit.
    let config = DpConfig {
        upcall_burst_per_port: u32::MAX,
        upcall_rate_per_port: u32::MAX,
        ..DpConfig::default()
    };
    let dp = Datapath::new(config, Arc::new(per_port_rules()), None);
    let mut ctx = dp.new_pmd();
    const FLOWS: usize = 5_000;
    let frames: Vec<Vec<u8>> = (0..FLOWS)
        .map(|i| {
            udp_frame(
                [10, 1, 0, 1],
                [10, 0, (i % 10) as u8, 1],
                10_000 + i as u16,
                53,
            )
        })
        .collect();
    let mut batch: Vec<Packet> = Vec::with_capacity(1);
    let before = dp.stats().upcalls;
    let ns = best_ns(|| {
        dp.flush_megaflows();
        for f in &frames {
            fill_batch(&mut batch, std::slice::from_ref(f), || ctx.packet_buffer());
            dp.process_batch(&mut ctx, 1, &mut batch, 0);
            ctx.discard_outputs();
        }
        FLOWS as u64
    });
    let upcalls = dp.stats().upcalls - before;
    println!(
        "# upcall_install: {upcalls} upcalls for {} packets, {} megaflows at the end",
        RUNS * FLOWS,
        dp.megaflow_count()
    );
    ns
}

/// Upcall + install and the cached pipeline with vswitchd's xlate as the slow path.
fn xlate_figures() -> (f64, f64, String) {
    const HOSTS: usize = 5_000;
    let config = DpConfig {
        upcall_burst_per_port: u32::MAX,
        upcall_rate_per_port: u32::MAX,
        ..DpConfig::default()
    };
    let handler = Arc::new(XlateHandler::new(&host_route_flows(HOSTS), 4));
    let dp = Datapath::new(config, handler, None);
    let mut ctx = dp.new_pmd();
    let frames = host_frames(HOSTS);
    let mut batch: Vec<Packet> = Vec::with_capacity(32);
    let upcall_ns = best_ns(|| {
        dp.flush_megaflows();
        for f in &frames {
            fill_batch(&mut batch, std::slice::from_ref(f), || ctx.packet_buffer());
            dp.process_batch(&mut ctx, 1, &mut batch, 0);
            ctx.discard_outputs();
        }
        HOSTS as u64
    });
    let installed = dp.megaflow_count();
    let hot = &frames[..1_024];
    let mut run = |rounds: usize| {
        for _ in 0..rounds {
            for chunk in hot.chunks(32) {
                fill_batch(&mut batch, chunk, || ctx.packet_buffer());
                dp.process_batch(&mut ctx, 1, &mut batch, 0);
                ctx.discard_outputs();
            }
        }
        (rounds * hot.len()) as u64
    };
    run(300);
    let ns = best_ns(|| run(100));
    let detail = format!("{HOSTS} host routes in table 1, {installed} megaflows installed");
    (upcall_ns, 1_000.0 / ns, detail)
}

fn pipeline(insert_inv_prob: u32) -> (f64, String) {
    let config = DpConfig {
        microflow_insert_inv_prob: insert_inv_prob,
        ..DpConfig::default()
    };
    let dp = Datapath::new(config, Arc::new(l3_rules()), None);
    let mut ctx = dp.new_pmd();
    let frames = l3_frames(1_024);
    let mut batch: Vec<Packet> = Vec::with_capacity(32);
    let mut run = |rounds: usize| {
        for _ in 0..rounds {
            for chunk in frames.chunks(32) {
                fill_batch(&mut batch, chunk, || ctx.packet_buffer());
                dp.process_batch(&mut ctx, 1, &mut batch, 0);
                ctx.discard_outputs();
            }
        }
        (rounds * frames.len()) as u64
    };
    run(300); // warm: install megaflows, let the microflow cache fill
    let before = dp.stats();
    let ns = best_ns(|| run(100));
    let after = dp.stats();
    let pkts = (after.packets - before.packets) as f64;
    let detail = format!(
        "microflow {:.1}%, megaflow {:.1}%, upcalls {}",
        100.0 * (after.microflow_hits - before.microflow_hits) as f64 / pkts,
        100.0 * (after.megaflow_hits - before.megaflow_hits) as f64 / pkts,
        after.upcalls - before.upcalls
    );
    (1_000.0 / ns, detail)
}

fn main() {
    // Optional arguments select sections (e.g. `pipeline-bench pipeline` for profiling).
    let only: Vec<String> = std::env::args().skip(1).collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| name.starts_with(o.as_str()));
    println!("# fastpath pipeline-bench ({RUNS} runs each, best shown, thread CPU time)");
    if want("extract") {
        println!("# extract (parse, IPv4/UDP): {:.1} ns", extract_ns());
    }
    if want("microflow") {
        println!("microflow_hit: {:.1} ns", microflow_hit());
    }
    if want("megaflow") {
        for n in [1, 5, 20] {
            let (ns, depth) = megaflow_hit(n);
            println!(
                "# megaflow_hit_{n}_subtables: {ns:.1} ns ({depth:.2} subtables searched per hit)"
            );
        }
        let (ns, depth) = megaflow_hit(10);
        println!(
            "# megaflow 10 subtables: {depth:.2} subtables searched per hit (keys spread evenly)"
        );
        println!("megaflow_hit_10_subtables: {ns:.1} ns");
    }
    if want("upcall") {
        println!("upcall_install: {:.0} ns", upcall_install());
    }
    if want("xlate") {
        let (upcall, mpps, detail) = xlate_figures();
        println!("# upcall_install with vswitchd xlate: {upcall:.0} ns ({detail})");
        println!("# pipeline_batch32 with xlate megaflows, 1,024 flows: {mpps:.2} Mpps");
    }
    if want("pipeline") {
        let (mpps, detail) = pipeline(0);
        println!(
            "# pipeline_batch32 megaflow only (microflow cache off): {mpps:.2} Mpps ({detail})"
        );
        let (mpps, detail) = pipeline(100);
        println!("# pipeline_batch32: 1,024 flows, 10 megaflows; {detail}");
        println!("pipeline_batch32: {mpps:.2} Mpps");
    }
}
