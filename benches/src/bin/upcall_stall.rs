//! `upcall-stall [N_FLOWS] [ROUNDS]`: the longest upcall stall during a big replace-flows.
//!
//! A flow change must not stop the datapath's misses from being translated for longer than
//! it takes to swap the new rules in. This builds the daemon's real switch model (a
//! [`Switch`] on a temporary config database, one bridge with two dummy ports), then, while
//! one thread translates upcalls back to back through the slow path exactly as a datapath
//! thread does on a miss, runs `replace-flows` with `N_FLOWS` (default 100,000) distinct lines
//! through the same call the gRPC service makes (parse, plan, durable commit, apply,
//! revalidate). It reports, per round, how long the replace took and the longest single
//! upcall seen while it ran, plus the upcall count and p99 over that window.
//!
//! Rounds alternate between two flow sets, so every round replaces the whole table.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fastpath::flow::FlowKey;
use fastpath::upcall::UpcallHandler;
use vswitchd::dataplane::{Dataplane, DataplaneConfig};
use vswitchd::store::{PortKind, Store};
use vswitchd::switch::{FlowCommand, PortSpec, Switch};

fn flow_lines(n: usize, variant: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            let i = i as u32;
            format!(
                "priority={},ip,nw_src=10.{}.{}.{},nw_dst=192.168.{}.0/24,actions=output:2",
                100 + (i % 7),
                (i >> 16) & 0xff,
                (i >> 8) & 0xff,
                i & 0xff,
                variant
            )
        })
        .collect()
}

fn port(name: &str, ofport: u32) -> PortSpec {
    PortSpec {
        name: name.into(),
        kind: PortKind::Dummy,
        ofport,
        tag: None,
        trunks: Vec::new(),
        options: Default::default(),
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let dir = tempfile::Builder::new().prefix("lk-stall").tempdir()?;
    let dp = Dataplane::new(
        DataplaneConfig {
            dummy_devices: true,
            ..DataplaneConfig::default()
        },
        None,
    );
    let mut sw = Switch::load(Store::open(&dir.path().join("conf.db"))?, Arc::clone(&dp))?;
    sw.add_bridge("br0")?;
    sw.add_port("br0", port("p1", 1))?;
    sw.add_port("br0", port("p2", 2))?;
    let in_port = dp
        .dp_port_of("p1")
        .ok_or_else(|| anyhow::anyhow!("p1 has no datapath port"))?;
    let sets = [flow_lines(n, 1), flow_lines(n, 2)];
    sw.flow_command("br0", FlowCommand::Replace(&sets[1]))?;

    println!("flows={n} rounds={rounds}");
    for round in 0..rounds {
        let running = Arc::new(AtomicBool::new(true));
        let slow = Arc::clone(dp.slow_path());
        let flag = Arc::clone(&running);
        let upcalls = std::thread::spawn(move || {
            let mut key = FlowKey {
                in_port,
                dl_type: 0x0800,
                ..FlowKey::default()
            };
            let mut lat = Vec::with_capacity(1 << 20);
            let mut i = 0u32;
            let mut failed = 0u64;
            while flag.load(Ordering::Relaxed) {
                key.nw_src = 0x0a00_0000 | (i & 0xffff);
                i = i.wrapping_add(1);
                let t = Instant::now();
                failed += u64::from(slow.upcall(&key, &[]).is_err());
                lat.push(t.elapsed());
            }
            (lat, failed)
        });
        // Let the upcall thread get going before the change starts.
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        let counts = sw.flow_command("br0", FlowCommand::Replace(&sets[round % 2]))?;
        let took = t.elapsed();
        running.store(false, Ordering::Relaxed);
        let (mut lat, failed) = upcalls
            .join()
            .map_err(|_| anyhow::anyhow!("upcall thread panicked"))?;
        lat.sort();
        let max = lat.last().copied().unwrap_or_default();
        let p99 = lat.get(lat.len() * 99 / 100).copied().unwrap_or_default();
        println!(
            "round {round}: replace {:.1} ms (added {}, removed {}); upcalls {}; \
             longest upcall {:.1} ms; p99 {:.3} ms; failed {failed}",
            took.as_secs_f64() * 1e3,
            counts.added,
            counts.removed,
            lat.len(),
            max.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
        );
    }
    Ok(())
}
