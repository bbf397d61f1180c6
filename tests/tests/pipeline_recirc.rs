//! Issue 21 item 1: recirculation ids do not leak.
//!
//! A rule that copies the source address into a register before `ct(table=1)` (as OVN's
//! pipelines do) freezes a distinct state, hence takes a distinct recirculation id, for every
//! source address. One million UDP frames from one million addresses go through the real
//! dataplane (slow path, datapath with conntrack, revalidator rounds) on dummy ports. Before the
//! fix every id lived forever: RSS grew by ~700 MB and at 2^20 ids new flows were black-holed.
//! Now ids that no megaflow holds are freed by the revalidator's rounds, so the table stays
//! bounded (by the megaflow limit plus what the grace period holds), RSS stays flat, a new flow
//! is still forwarded afterwards, and after `flush-megaflows` every id is freed.

use fastpath::conntrack::{Conntrack, ConntrackConfig};
use fastpath::packet::Packet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vswitchd::dataplane::{Dataplane, DataplaneConfig, PortConfig, PortType};
use vswitchd::ofctl::{FlowSyntax, NoNames, parse_flow};
use vswitchd::ofproto::flow_mod::FlowMod;
use vswitchd::xlate::ct::DEFAULT_GRACE_MS;

/// Distinct frozen states driven through the datapath.
const STATES: u32 = 1_000_000;
/// Megaflow limit for the run (each state makes two megaflows; the default 200,000 would
/// only make the run slower, not different).
const FLOW_LIMIT: usize = 20_000;
/// A revalidator round (as the maintenance thread runs every second) every this many frames.
const ROUND_EVERY: u32 = 20_000;

/// Ethernet + IPv4 + UDP from `src` to 10.99.0.1, port 5000 -> 53.
fn udp_from(src: u32) -> Vec<u8> {
    let mut f = vec![
        2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet
        0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 0, 0, 0, 0, 10, 99, 0, 1, // IPv4
        0x13, 0x88, 0, 53, 0, 8, 0, 0, // UDP, no checksum
    ];
    f[26..30].copy_from_slice(&src.to_be_bytes());
    let sum: u32 = f[14..34]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let folded = (folded & 0xffff) + (folded >> 16);
    f[24..26].copy_from_slice(&(!(folded as u16)).to_be_bytes());
    f
}

/// This process's resident set, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_million_frozen_states_leave_the_recirc_table_bounded() {
    let mut cfg = DataplaneConfig {
        pmd_threads: 1,
        ..DataplaneConfig::default()
    };
    cfg.dp.buffer_capacity = 2048;
    cfg.dp.flow_limit = FLOW_LIMIT;
    // This test measures the recirculation table, not the upcall budget.
    cfg.dp.upcall_rate_per_port = u32::MAX / 2;
    cfg.dp.upcall_burst_per_port = u32::MAX / 2;
    let ct = Arc::new(Conntrack::new(ConntrackConfig::default()));
    let dp = Dataplane::new(cfg, Some(ct));
    dp.add_bridge("br0").unwrap();
    for ofport in [1u32, 2] {
        dp.add_port(
            "br0",
            PortConfig {
                name: format!("rc{ofport}"),
                kind: PortType::Dummy,
                ofport,
                tag: None,
                trunks: vec![],
                mtu: None,
            },
        )
        .unwrap();
    }
    let mods: Vec<FlowMod> = [
        "udp,actions=move:NXM_OF_IP_SRC[]->NXM_NX_REG1[],ct(table=1,zone=1)",
        "table=1,actions=output:2",
    ]
    .iter()
    .map(|l| FlowMod::add(parse_flow(l, &NoNames, FlowSyntax::Add).unwrap()))
    .collect();
    dp.flow_mods("br0", &mods).unwrap();
    let p1 = dp.dp_port_of("rc1").unwrap();
    let p2 = dp.dp_port_of("rc2").unwrap();
    let datapath = dp.datapath().clone();
    let mut pmd = datapath.new_pmd();
    let recirc = || dp.slow_path().read().recirc.stats();

    let started = Instant::now();
    let mut forwarded = 0usize;
    let mut warm_rss = 0;
    let mut peak_live = 0;
    let mut batch = Vec::with_capacity(32);
    let base = u32::from_be_bytes([10, 0, 0, 0]);
    for i in 0..STATES {
        batch.push(Packet::from_bytes(&udp_from(base + 1 + i)));
        if batch.len() == 32 || i + 1 == STATES {
            datapath.process_batch(&mut pmd, p1, &mut batch, datapath.clock_ms());
            forwarded += pmd
                .take_outputs()
                .iter()
                .filter(|(p, _)| *p == p2)
                .map(|(_, q)| q.len())
                .sum::<usize>();
            batch.clear();
        }
        if (i + 1) % ROUND_EVERY == 0 {
            dp.maintain(true);
            peak_live = peak_live.max(recirc().live);
            if i + 1 == 200_000 {
                // The megaflow table is full and evicting by now: the steady state.
                warm_rss = rss_kib();
            }
        }
    }
    let elapsed = started.elapsed();
    dp.maintain(true);
    let end_rss = rss_kib();
    let st = recirc();
    let stats = datapath.stats();
    eprintln!(
        "{STATES} states in {:.1} s: forwarded {forwarded}, recirc ids allocated {} freed {} \
         live {} (peak {peak_live}), exhausted {}, megaflows {}, RSS {} MiB at 200k states, \
         {} MiB at the end",
        elapsed.as_secs_f64(),
        st.allocated,
        st.freed,
        st.live,
        st.exhausted,
        stats.megaflows,
        warm_rss / 1024,
        end_rss / 1024,
    );
    assert_eq!(forwarded, STATES as usize, "every frame reaches port 2");
    assert!(st.allocated >= u64::from(STATES), "{st:?}");
    assert_eq!(st.exhausted, 0);
    // Live ids: those the (bounded) megaflows hold plus those used within the grace period.
    assert!(
        peak_live < 200_000,
        "peak {peak_live} live recirculation ids"
    );
    assert!(
        end_rss < warm_rss + 64 * 1024,
        "RSS grew from {warm_rss} KiB to {end_rss} KiB"
    );

    // A new host's flow still goes through.
    let mut one = vec![Packet::from_bytes(&udp_from(u32::from_be_bytes([
        10, 200, 0, 1,
    ])))];
    datapath.process_batch(&mut pmd, p1, &mut one, datapath.clock_ms());
    let out = pmd.take_outputs();
    assert!(
        out.iter().any(|(p, q)| *p == p2 && q.len() == 1),
        "a new flow was not forwarded: {:?}",
        out.iter().map(|(p, q)| (*p, q.len())).collect::<Vec<_>>()
    );

    // With no megaflow left, every id goes once the grace period has passed.
    drop(pmd);
    dp.flush_megaflows();
    std::thread::sleep(Duration::from_millis(DEFAULT_GRACE_MS + 100));
    dp.maintain(true);
    assert_eq!(recirc().live, 0, "{:?}", recirc());
}
