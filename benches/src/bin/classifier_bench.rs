//! `classifier-bench [--distinct-masks] N_RULES N_PRIORITIES N_SUBTABLES N_THREADS N_LOOKUPS`
//!
//! The rule-classifier lookup benchmark, built like OVS's `ovstest test-classifier benchmark` so
//! the figures compare: rules over the same 13 fields with the same two values per field,
//! priorities `i * 129` shuffled, `N_SUBTABLES` random "wildcard field" sets, 8192 lookup flows
//! drawn the way OVS draws them, and random lookups among those. It runs once without and once
//! with wildcard tracking. OVS's `tun_id` has no counterpart in our flow key; the low 64 bits of
//! `ct_label` (also a 64-bit metadata-stage field) stand in for it.
//!
//! Upstream OVS's `make_rule` sets the mask of every field whatever the wildcard set says (the
//! set only decides whether the priority is 0), so all its rules share one subtable; by default
//! this benchmark does the same, so the figures compare with `ovstest`. With
//! `--distinct-masks` the fields in a rule's wildcard set are really wildcarded, giving
//! `N_SUBTABLES` subtables: a much harder workload, where every lookup visits most subtables.

use std::process::ExitCode;
use std::time::Instant;

use fastpath::flow::{Field, FlowKey};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use vswitchd::classifier::Classifier;
use vswitchd::ofproto::Match;

/// One field of the benchmark rules: where, how much of it a rule matches, two values.
struct BenchField {
    field: Field,
    mask: u128,
    values: [u128; 2],
}

fn bench_fields() -> Vec<BenchField> {
    let f = |field, mask, values| BenchField {
        field,
        mask,
        values,
    };
    let full = u128::MAX;
    vec![
        // tun_id stand-in.
        f(Field::CtLabel, u64::MAX as u128, [0, 0xfedc_ba98_7654_3210]),
        f(Field::Metadata, full, [0, 0xfedc_ba98_7654_3210]),
        f(Field::NwSrc, full, [0xc0a8_0001, 0xc0a0_4455]),
        f(Field::NwDst, full, [0xc0a8_0002, 0xc0a0_4455]),
        f(Field::InPort, full, [1, 0xfffe]),
        f(Field::VlanTci, full, [101, 0]),
        f(Field::DlType, full, [0x0800, 0x0806]),
        f(Field::TpSrc, full, [49362, 80]),
        f(Field::TpDst, full, [6667, 22]),
        f(Field::DlSrc, full, [0x0002_e30f_80a4, 0x5e33_7f5f_1e99]),
        f(Field::DlDst, full, [0x4a27_71ae_64c1, 0xffff_ffff_ffff]),
        f(Field::NwProto, full, [6, 1]),
        // nw_dscp: the DSCP bits of nw_tos.
        f(Field::NwTos, 0xfc, [48, 0]),
    ]
}

/// A rule matching, on field `i`, the value bit `i` of `value_pat` selects. Fields whose bit is
/// set in `wildcards` are left out only if `distinct_masks` (see the module docs).
fn make_rule(fields: &[BenchField], wildcards: u32, value_pat: u32, distinct_masks: bool) -> Match {
    let mut m = Match::CATCHALL;
    for (i, f) in fields.iter().enumerate() {
        if distinct_masks && wildcards & (1 << i) != 0 {
            continue;
        }
        let v = f.values[((value_pat >> i) & 1) as usize];
        m.set_field_masked(f.field, v, f.mask);
    }
    m
}

/// OVS's order of drawing a lookup flow's field values from a random `x` (indices into
/// `bench_fields`): nw_src, nw_dst, tun_id, metadata, in_port, vlan_tci, dl_type, tp_src,
/// tp_dst, dl_src, dl_dst, nw_proto, nw_dscp.
const FLOW_DRAW_ORDER: [usize; 13] = [2, 3, 0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/// A lookup flow as OVS makes one: `x` uniform over the 2^12 combinations of twelve fields,
/// each field taking the next bit of `x` (so the thirteenth always gets value 0).
fn make_flow(fields: &[BenchField], rng: &mut StdRng) -> FlowKey {
    let mut x: u32 = rng.gen_range(0..1 << 12);
    let mut k = FlowKey::ZERO;
    for i in FLOW_DRAW_ORDER {
        let f = &fields[i];
        f.field.set(&mut k, f.values[(x % 2) as usize] & f.mask);
        x /= 2;
    }
    k
}

struct Args {
    distinct_masks: bool,
    n_rules: usize,
    n_priorities: usize,
    n_subtables: usize,
    n_threads: usize,
    n_lookups: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut v: Vec<String> = std::env::args().skip(1).collect();
    let distinct_masks = v.first().is_some_and(|a| a == "--distinct-masks");
    if distinct_masks {
        v.remove(0);
    }
    if v.len() != 5 {
        return Err(
            "usage: classifier-bench [--distinct-masks] N_RULES N_PRIORITIES \
                    N_SUBTABLES N_THREADS N_LOOKUPS"
                .into(),
        );
    }
    let num = |i: usize, what: &str| -> Result<usize, String> {
        match v[i].parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{what} must be a positive integer, not {:?}", v[i])),
        }
    };
    let args = Args {
        distinct_masks,
        n_rules: num(0, "N_RULES")?,
        n_priorities: num(1, "N_PRIORITIES")?,
        n_subtables: num(2, "N_SUBTABLES")?,
        n_threads: num(3, "N_THREADS")?,
        n_lookups: num(4, "N_LOOKUPS")?,
    };
    if args.n_priorities * 129 > u16::MAX as usize {
        return Err("N_PRIORITIES must be at most 508 (priorities are i * 129)".into());
    }
    if args.n_subtables > 1 << 13 {
        return Err("N_SUBTABLES must be at most 8192 (13 fields)".into());
    }
    Ok(args)
}

/// CPU time consumed by the calling thread, in seconds.
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn benchmark(args: &Args, use_wc: bool) {
    let fields = bench_fields();
    let all = (1u32 << fields.len()) - 1;
    let mut rng = StdRng::seed_from_u64(1);

    let mut wcfs: Vec<u32> = Vec::with_capacity(args.n_subtables);
    while wcfs.len() < args.n_subtables {
        let w = rng.r#gen::<u32>() & all;
        if !wcfs.contains(&w) {
            wcfs.push(w);
        }
    }
    let mut priorities: Vec<u16> = (0..args.n_priorities).map(|i| (i * 129) as u16).collect();
    priorities.shuffle(&mut rng);

    let n_flows = 2 << 12;
    let flows: Vec<FlowKey> = (0..n_flows).map(|_| make_flow(&fields, &mut rng)).collect();

    let mut cls: Classifier<u32> = Classifier::new();
    for i in 0..args.n_rules {
        let priority = priorities[rng.gen_range(0..priorities.len())];
        let wcf = wcfs[rng.gen_range(0..wcfs.len())];
        let value_pat = rng.r#gen::<u32>() & all;
        let m = make_rule(&fields, wcf, value_pat, args.distinct_masks);
        // As OVS: a rule with no wildcard fields gets priority 0.
        let priority = if wcf == 0 { 0 } else { priority };
        if cls.find_exact(&m, priority).is_none() {
            cls.insert(&m, priority, i as u32);
        }
    }

    let start = Instant::now();
    let (hits, cpu) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..args.n_threads)
            .map(|_| {
                let (cls, flows) = (&cls, &flows);
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(1);
                    let mut hits = 0u64;
                    let cpu0 = thread_cpu_secs();
                    for _ in 0..args.n_lookups {
                        let flow = &flows[rng.gen_range(0..flows.len())];
                        let found = if use_wc {
                            let mut wc = FlowKey::ZERO;
                            cls.lookup(flow, Some(&mut wc)).is_some()
                        } else {
                            cls.lookup(flow, None).is_some()
                        };
                        hits += found as u64;
                    }
                    (hits, thread_cpu_secs() - cpu0)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or((0, 0.0)))
            .fold((0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let misses = (args.n_threads * args.n_lookups) as u64 - hits;
    let elapsed = start.elapsed();
    let ms = elapsed.as_millis();
    let rate = (hits + misses) as f64 / elapsed.as_secs_f64().max(1e-9);
    println!("hits: {hits}, misses: {misses}");
    println!("classifier lookups:  {ms:5} ms, {rate:.0} lookups/sec");
    // The machine may be shared: also report the rate per second of CPU actually received.
    eprintln!(
        "  (cpu time {:.0} ms, {:.0} lookups per cpu-second)",
        cpu * 1e3,
        (hits + misses) as f64 / cpu.max(1e-9)
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("classifier-bench: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "Benchmarking with:\n{} rules with {} priorities in {} tables, {} threads doing {} \
         lookups each{}\n",
        args.n_rules,
        args.n_priorities,
        args.n_subtables,
        args.n_threads,
        args.n_lookups,
        if args.distinct_masks {
            " (distinct masks)"
        } else {
            ""
        }
    );
    println!("Without wildcards:");
    benchmark(&args, false);
    println!("With wildcards:");
    benchmark(&args, true);
    ExitCode::SUCCESS
}
