//! Datapath tests: cache tiers, upcalls and their budget, recirculation and conntrack,
//! revalidation (including under concurrent packet processing), expiry, flow limit, ports.

use super::pmd::{PmdAssignment, PmdThread};
use super::*;
use crate::action::{CtAction, DpAction, DpActions};
use crate::flow::FlowMask;
use crate::flow::extract::Malformed;
use crate::flow::key::ct_state;
use crate::port::Port;
use crate::port::dummy::DummyPort;
use crate::upcall::{Translation, UpcallError};
use etherparse::PacketBuilder;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::time::Duration;

type Rules = dyn Fn(&FlowKey) -> Result<Translation, UpcallError> + Send + Sync;

/// A slow path for tests: a closure from key to translation, counting calls.
struct FnHandler {
    rules: Box<Rules>,
    calls: AtomicU64,
}

impl FnHandler {
    fn new(
        rules: impl Fn(&FlowKey) -> Result<Translation, UpcallError> + Send + Sync + 'static,
    ) -> Arc<FnHandler> {
        Arc::new(FnHandler {
            rules: Box::new(rules),
            calls: AtomicU64::new(0),
        })
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl UpcallHandler for FnHandler {
    fn upcall(&self, key: &FlowKey, _packet: &[u8]) -> Result<Translation, UpcallError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        (self.rules)(key)
    }
}

/// Mask over in_port, dl_type and nw_dst (what an L3 forwarding rule consults).
fn l3_mask() -> FlowMask {
    let mut m = FlowKey::ZERO;
    m.in_port = !0;
    m.dl_type = !0;
    m.nw_dst = !0;
    m
}

/// Forward everything to port 2, consulting in_port, dl_type, nw_dst.
fn forward_to(port: u32) -> Arc<FnHandler> {
    FnHandler::new(move |_| {
        Ok(Translation {
            actions: vec![DpAction::Output(port)],
            mask: l3_mask(),
        })
    })
}

fn udp(dst: [u8; 4], sport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], dst, 64)
        .udp(sport, 53)
        .write(&mut v, b"payload")
        .unwrap();
    v
}

fn batch(frames: &[Vec<u8>]) -> Vec<Packet> {
    frames.iter().map(|f| Packet::from_bytes(f)).collect()
}

fn config() -> DpConfig {
    DpConfig {
        microflow_insert_inv_prob: 1,
        ..DpConfig::default()
    }
}

fn dp_with(handler: Arc<FnHandler>, config: DpConfig) -> Datapath {
    Datapath::new(config, handler, None)
}

/// Processes frames on port 1 and returns `(port, frames)` per output port.
fn run(dp: &Datapath, ctx: &mut PmdContext, frames: &[Vec<u8>], now: u64) -> Vec<(u32, usize)> {
    let mut b = batch(frames);
    dp.process_batch(ctx, 1, &mut b, now);
    assert!(b.is_empty());
    ctx.take_outputs()
        .into_iter()
        .map(|(p, q)| (p, q.len()))
        .collect()
}

#[test]
fn miss_then_megaflow_then_microflow_hit() {
    let h = forward_to(2);
    let dp = dp_with(
        h.clone(),
        DpConfig {
            microflow_insert_inv_prob: 0,
            ..config()
        },
    );
    let mut ctx = dp.new_pmd();
    let f = [udp([10, 0, 0, 2], 1000)];
    assert_eq!(run(&dp, &mut ctx, &f, 0), vec![(2, 1)]);
    assert_eq!((h.calls(), dp.megaflow_count()), (1, 1));
    // A different source port is within the megaflow: no upcall, megaflow hit.
    assert_eq!(
        run(&dp, &mut ctx, &[udp([10, 0, 0, 2], 2000)], 1),
        vec![(2, 1)]
    );
    let s = dp.stats();
    assert_eq!((s.upcalls, s.megaflow_hits, s.microflow_hits), (1, 1, 0));
    assert_eq!(s.avg_subtables_per_hit(), 1.0);
    assert_eq!(ctx.microflow().live(), 0, "insertion disabled");

    let dp = dp_with(forward_to(2), config());
    let mut ctx = dp.new_pmd();
    run(&dp, &mut ctx, &f, 0);
    run(&dp, &mut ctx, &f, 1);
    let s = dp.stats();
    assert_eq!((s.upcalls, s.megaflow_hits, s.microflow_hits), (1, 0, 1));
    assert_eq!(s.packets, 2);
    let ps = dp.port_dp_stats(1);
    assert_eq!((ps.rx_packets, ps.rx_bytes), (2, 2 * f[0].len() as u64));
    let dump = dp.dump_megaflows();
    assert_eq!(dump.len(), 1);
    assert_eq!(dump[0].stats.packets, 2);
    assert_eq!(dump[0].mask.recirc_id, u32::MAX, "recirc_id always matched");
    assert_eq!(dump[0].key.nw_dst, 0x0a00_0002);
}

#[test]
fn concurrent_misses_for_one_megaflow_install_one_entry() {
    let h = forward_to(2);
    let dp = dp_with(h.clone(), config());
    let mut ctx = dp.new_pmd();
    let frames: Vec<_> = (0..32).map(|i| udp([10, 0, 0, 2], 1000 + i)).collect();
    assert_eq!(run(&dp, &mut ctx, &frames, 0), vec![(2, 32)]);
    assert_eq!(h.calls(), 1);
    assert_eq!(dp.megaflow_count(), 1);
    assert_eq!(dp.dump_megaflows()[0].stats.packets, 32);
}

#[test]
fn malformed_frames_are_counted_per_port_and_reason() {
    let h = forward_to(2);
    let dp = dp_with(h.clone(), config());
    let mut ctx = dp.new_pmd();
    let mut truncated = udp([10, 0, 0, 2], 1);
    truncated.truncate(14 + 10);
    let frames = [vec![0u8; 6], truncated, udp([10, 0, 0, 2], 1)];
    assert_eq!(run(&dp, &mut ctx, &frames, 0), vec![(2, 1)]);
    let ps = dp.port_dp_stats(1);
    assert_eq!(ps.rx_packets, 3);
    assert_eq!(ps.dropped(DropReason::Malformed(Malformed::Runt)), 1);
    assert_eq!(
        ps.dropped(DropReason::Malformed(Malformed::TruncatedIpv4)),
        1
    );
    assert_eq!(
        dp.stats().dropped(DropReason::Malformed(Malformed::Runt)),
        1
    );
    assert_eq!(dp.port_dp_stats(7).rx_packets, 0);
}

#[test]
fn upcall_budget_stops_one_port_starving_the_others() {
    let h = forward_to(3);
    let cfg = DpConfig {
        upcall_burst_per_port: 4,
        upcall_rate_per_port: 1_000, // one token per millisecond
        ..config()
    };
    let dp = dp_with(h.clone(), cfg);
    let mut ctx = dp.new_pmd();
    // Port 1 floods 20 new flows at t=0: 4 upcalls, 16 lost.
    let flood: Vec<_> = (0..20u8).map(|i| udp([10, 1, 0, i], 1)).collect();
    let mut b = batch(&flood);
    dp.process_batch(&mut ctx, 1, &mut b, 0);
    let s = dp.stats();
    assert_eq!((s.upcalls, s.lost), (4, 16));
    assert_eq!(dp.port_dp_stats(1).dropped(DropReason::UpcallLost), 16);
    // Port 2 still gets its upcalls.
    let mut b = batch(&[udp([10, 2, 0, 1], 1), udp([10, 2, 0, 2], 1)]);
    dp.process_batch(&mut ctx, 2, &mut b, 0);
    assert_eq!(dp.stats().upcalls, 6);
    assert_eq!(dp.port_dp_stats(2).dropped(DropReason::UpcallLost), 0);
    // Installed flows keep forwarding for the flooding port; the budget refills over time.
    ctx.discard_outputs();
    let mut b = batch(&flood[..4]);
    dp.process_batch(&mut ctx, 1, &mut b, 0);
    assert_eq!(ctx.take_outputs()[0].1.len(), 4);
    let mut b = batch(&flood[4..6]);
    dp.process_batch(&mut ctx, 1, &mut b, 2);
    assert_eq!(dp.stats().upcalls, 8, "2 ms later: 2 more tokens");
}

#[test]
fn translation_failure_drops_without_installing() {
    let h = FnHandler::new(|_| Err(UpcallError::TranslationFailed));
    let dp = dp_with(h.clone(), config());
    let mut ctx = dp.new_pmd();
    assert_eq!(run(&dp, &mut ctx, &[udp([1, 1, 1, 1], 1)], 0), vec![]);
    assert_eq!(dp.megaflow_count(), 0);
    assert_eq!(dp.stats().dropped(DropReason::UpcallFailed), 1);
}

#[test]
fn empty_actions_drop_and_multi_output_copies() {
    let h = FnHandler::new(|k| {
        let actions = if k.nw_dst == 0x0a00_0009 {
            vec![]
        } else {
            vec![
                DpAction::Output(2),
                DpAction::Output(3),
                DpAction::Output(2),
            ]
        };
        Ok(Translation {
            actions,
            mask: l3_mask(),
        })
    });
    let dp = dp_with(h, config());
    let mut ctx = dp.new_pmd();
    let out = run(
        &dp,
        &mut ctx,
        &[
            udp([10, 0, 0, 9], 1),
            udp([10, 0, 0, 1], 1),
            udp([10, 0, 0, 1], 2),
        ],
        0,
    );
    assert_eq!(
        out,
        vec![(2, 4), (3, 2)],
        "batched per port, first-output order"
    );
    assert_eq!(dp.stats().dropped(DropReason::FlowDrop), 1);
}

/// A conntrack for datapath tests: every packet is tracked and established in the zone asked.
struct AllEstablished;
impl ConntrackHook for AllEstablished {
    fn execute(&self, _: &mut Packet, _: &Headers, meta: &mut PacketMeta, a: &CtAction, _: u64) {
        meta.ct_state = ct_state::TRK | ct_state::EST;
        meta.ct_zone = a.zone;
    }
}

fn ct_rules() -> Arc<FnHandler> {
    FnHandler::new(|k| {
        let mut mask = l3_mask();
        mask.ct_state = !0;
        let actions = match (k.recirc_id, k.ct_state) {
            (0, _) => vec![
                DpAction::Ct(CtAction {
                    zone: 5,
                    ..CtAction::default()
                }),
                DpAction::Recirc(1),
            ],
            (1, s) if s & ct_state::EST != 0 && k.ct_zone == 5 => vec![DpAction::Output(4)],
            _ => vec![],
        };
        mask.ct_zone = !0;
        Ok(Translation { actions, mask })
    })
}

#[test]
fn ct_and_recirculation() {
    let frames = [udp([10, 0, 0, 2], 1), udp([10, 0, 0, 2], 2)];
    // Without conntrack: dropped with NoConntrack.
    let dp = dp_with(ct_rules(), config());
    let mut ctx = dp.new_pmd();
    assert_eq!(run(&dp, &mut ctx, &frames, 0), vec![]);
    assert_eq!(dp.stats().dropped(DropReason::NoConntrack), 2);
    // With conntrack: ct, recirculate, second pass matches ct_state and outputs.
    let h = ct_rules();
    let dp = Datapath::new(config(), h.clone(), Some(Arc::new(AllEstablished)));
    let mut ctx = dp.new_pmd();
    assert_eq!(run(&dp, &mut ctx, &frames, 0), vec![(4, 2)]);
    assert_eq!(h.calls(), 2, "one upcall per pass");
    assert_eq!(dp.megaflow_count(), 2);
    assert_eq!(dp.stats().recirculations, 2);
    assert_eq!(run(&dp, &mut ctx, &frames, 1), vec![(4, 2)]);
    assert_eq!(h.calls(), 2, "both passes cached");
    let second = dp
        .dump_megaflows()
        .into_iter()
        .find(|m| m.key.recirc_id == 1)
        .unwrap();
    assert_eq!((second.key.ct_zone, second.stats.packets), (5, 4));
}

#[test]
fn recirculation_depth_is_bounded() {
    let h = FnHandler::new(|k| {
        Ok(Translation {
            actions: vec![DpAction::Recirc(k.recirc_id + 1)],
            mask: l3_mask(),
        })
    });
    let dp = dp_with(
        h.clone(),
        DpConfig {
            max_recirc_depth: 3,
            ..config()
        },
    );
    let mut ctx = dp.new_pmd();
    assert_eq!(run(&dp, &mut ctx, &[udp([1, 2, 3, 4], 1)], 0), vec![]);
    assert_eq!(h.calls(), 3);
    assert_eq!(dp.stats().dropped(DropReason::RecircDepth), 1);
}

#[test]
fn idle_megaflows_expire_on_a_fake_clock() {
    let dp = dp_with(forward_to(2), config());
    let mut ctx = dp.new_pmd();
    run(&dp, &mut ctx, &[udp([10, 0, 0, 1], 1)], 0);
    run(&dp, &mut ctx, &[udp([10, 0, 0, 2], 1)], 0);
    run(&dp, &mut ctx, &[udp([10, 0, 0, 2], 1)], 5_000);
    assert_eq!(dp.sweep(9_999), 0);
    assert_eq!(dp.sweep(10_001), 1, "the flow unused since t=0");
    assert_eq!(dp.megaflow_count(), 1);
    assert_eq!(dp.sweep(15_001), 1);
    assert_eq!(dp.stats().expired, 2);
    // The expired flow's microflow entry is dead: the next packet takes an upcall.
    let before = dp.stats().upcalls;
    run(&dp, &mut ctx, &[udp([10, 0, 0, 2], 1)], 16_000);
    assert_eq!(dp.stats().upcalls, before + 1);
}

/// The last byte of each installed megaflow's destination address, sorted.
fn megaflow_dsts(dp: &Datapath) -> Vec<u32> {
    let mut dsts: Vec<u32> = dp
        .dump_megaflows()
        .iter()
        .map(|m| m.key.nw_dst & 0xff)
        .collect();
    dsts.sort_unstable();
    dsts
}

#[test]
fn flow_limit_evicts_least_recently_used() {
    let dp = dp_with(
        forward_to(2),
        DpConfig {
            flow_limit: 4,
            ..config()
        },
    );
    let mut ctx = dp.new_pmd();
    for i in 0..4u8 {
        run(&dp, &mut ctx, &[udp([10, 0, 0, i], 1)], u64::from(i) * 10);
    }
    // Flow 0 was used recently; flow 1 is now the oldest.
    run(&dp, &mut ctx, &[udp([10, 0, 0, 0], 1)], 100);
    run(&dp, &mut ctx, &[udp([10, 0, 0, 9], 1)], 110);
    assert_eq!(dp.megaflow_count(), 4);
    assert_eq!(dp.stats().evicted, 1);
    assert_eq!(megaflow_dsts(&dp), vec![0, 2, 3, 9]);
}

#[test]
fn lowering_the_flow_limit_evicts_at_once_and_raising_lets_more_in() {
    let dp = dp_with(forward_to(2), config());
    let mut ctx = dp.new_pmd();
    for i in 0..6u8 {
        run(&dp, &mut ctx, &[udp([10, 0, 0, i], 1)], u64::from(i) * 10);
    }
    assert_eq!(dp.megaflow_count(), 6);
    // Flows 0 and 1 are refreshed, so 2 and 3 are now the least recently used.
    run(&dp, &mut ctx, &[udp([10, 0, 0, 0], 1)], 100);
    run(&dp, &mut ctx, &[udp([10, 0, 0, 1], 1)], 110);
    assert_eq!(dp.set_flow_limit(4), 2);
    assert_eq!(dp.flow_limit(), 4);
    assert_eq!(dp.megaflow_count(), 4);
    assert_eq!(dp.stats().evicted, 2);
    assert_eq!(megaflow_dsts(&dp), vec![0, 1, 4, 5]);
    // Raising it evicts nothing and the next new flow is installed without eviction.
    assert_eq!(dp.set_flow_limit(8), 0);
    run(&dp, &mut ctx, &[udp([10, 0, 0, 9], 1)], 120);
    assert_eq!(dp.megaflow_count(), 5);
    assert_eq!(dp.stats().evicted, 2);
    // Zero is taken as one: a datapath always caches at least one flow.
    dp.set_flow_limit(0);
    assert_eq!(dp.flow_limit(), 1);
    assert_eq!(dp.megaflow_count(), 1);
}

#[test]
fn revalidate_keeps_updates_and_deletes() {
    let h = forward_to(2);
    let dp = dp_with(h.clone(), config());
    let mut ctx = dp.new_pmd();
    let frames: Vec<_> = (1..=3u8).map(|i| udp([10, 0, 0, i], 1)).collect();
    run(&dp, &mut ctx, &frames, 0);
    run(&dp, &mut ctx, &frames, 1); // microflow entries now point at the megaflows
    let sum = dp.revalidate(|k, m, a, stats| {
        assert_eq!(*m, {
            let mut x = l3_mask();
            x.recirc_id = !0;
            x
        });
        assert_eq!(a, &vec![DpAction::Output(2)]);
        assert_eq!(stats.packets, 2);
        match k.nw_dst & 0xff {
            1 => Verdict::Keep,
            2 => Verdict::Update(vec![DpAction::Output(7)]),
            _ => Verdict::Delete,
        }
    });
    assert_eq!(
        sum,
        RevalidateSummary {
            examined: 3,
            updated: 1,
            deleted: 1
        }
    );
    let calls = h.calls();
    let out = run(&dp, &mut ctx, &frames, 2);
    assert_eq!(
        out,
        vec![(2, 2), (7, 1)],
        "flow 3 re-translated to port 2, flow 2 updated"
    );
    assert_eq!(h.calls(), calls + 1);
    let s = dp.stats();
    assert_eq!((s.revalidated, s.reval_updated, s.reval_deleted), (3, 1, 1));
    let updated = dp
        .dump_megaflows()
        .into_iter()
        .find(|m| m.key.nw_dst & 0xff == 2)
        .unwrap();
    assert_eq!(
        updated.stats.packets, 3,
        "statistics carried over the update"
    );
    assert_eq!(dp.flush_megaflows(), 3);
    assert_eq!(dp.megaflow_count(), 0);
}

#[test]
fn revalidation_decides_while_the_thread_keeps_forwarding() {
    // Verdicts are translations, slow on a full table: the datapath thread must be able to use
    // its table while they are made, and verdicts must still land on entries that changed
    // meanwhile.
    let dp = Arc::new(dp_with(forward_to(2), config()));
    let ctx = Arc::new(Mutex::new(dp.new_pmd()));
    let frames: Vec<_> = (1..=2u8).map(|i| udp([10, 0, 0, i], 1)).collect();
    run(&dp, &mut ctx.lock().unwrap(), &frames, 0);
    let mut forwarded = Vec::new();
    let sum = dp.revalidate(|k, _, _, _| {
        let (dp2, ctx2, frames2) = (Arc::clone(&dp), Arc::clone(&ctx), frames.clone());
        let t = std::thread::spawn(move || run(&dp2, &mut ctx2.lock().unwrap(), &frames2, 1));
        let start = std::time::Instant::now();
        while !t.is_finished() && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            t.is_finished(),
            "packets waited for the revalidator's verdict"
        );
        forwarded.push(t.join().unwrap());
        if k.nw_dst & 0xff == 1 {
            Verdict::Update(vec![DpAction::Output(7)])
        } else {
            Verdict::Delete
        }
    });
    assert_eq!(forwarded, vec![vec![(2, 2)], vec![(2, 2)]]);
    assert_eq!(
        sum,
        RevalidateSummary {
            examined: 2,
            updated: 1,
            deleted: 1
        }
    );
    let flows = dp.dump_megaflows();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].actions, vec![DpAction::Output(7)]);
    assert_eq!(flows[0].stats.packets, 3, "hits during the pass were kept");
}

#[test]
fn translation_racing_a_revalidation_is_not_installed_stale() {
    // The "rule change" happens while the first translation is in flight: the handler bumps the
    // version and revalidates from inside the upcall (no datapath lock is held there).
    let version = Arc::new(AtomicU32::new(1));
    let dp_slot: Arc<std::sync::OnceLock<Arc<Datapath>>> = Arc::new(std::sync::OnceLock::new());
    let (v, slot) = (Arc::clone(&version), Arc::clone(&dp_slot));
    let h = FnHandler::new(move |_| {
        let port = v.load(Ordering::SeqCst);
        if port == 1 {
            v.store(2, Ordering::SeqCst);
            slot.get().unwrap().revalidate(|_, _, _, _| Verdict::Delete);
        }
        Ok(Translation {
            actions: vec![DpAction::Output(port)],
            mask: l3_mask(),
        })
    });
    let dp = Arc::new(dp_with(h.clone(), config()));
    dp_slot.set(Arc::clone(&dp)).unwrap();
    let mut ctx = dp.new_pmd();
    assert_eq!(
        run(&dp, &mut ctx, &[udp([10, 0, 0, 1], 1)], 0),
        vec![(2, 1)]
    );
    assert_eq!(h.calls(), 2, "retranslated after the revalidation");
    assert_eq!(dp.dump_megaflows()[0].actions, vec![DpAction::Output(2)]);
}

#[test]
fn no_stale_actions_after_revalidate_returns_under_concurrency() {
    // Rules: "output to port <version>". The revalidator bumps the version under the slow
    // path's write lock, revalidates, then publishes the version as acknowledged. A batch that
    // starts after an acknowledgement must never output to an older port.
    let rules = Arc::new(RwLock::new(1u32));
    let acked = Arc::new(AtomicU32::new(1));
    let r = Arc::clone(&rules);
    let h = FnHandler::new(move |_| {
        let v = *r.read().unwrap();
        Ok(Translation {
            actions: vec![DpAction::Output(v)],
            mask: l3_mask(),
        })
    });
    let dp = Arc::new(dp_with(h, config()));
    let frames: Vec<_> = (0..8u8).map(|i| udp([10, 0, 0, i], 1)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for t in 0..3 {
        let (dp, acked, stop, frames) = (
            Arc::clone(&dp),
            Arc::clone(&acked),
            Arc::clone(&stop),
            frames.clone(),
        );
        workers.push(std::thread::spawn(move || {
            let mut ctx = dp.new_pmd();
            let mut batches = 0u64;
            while !stop.load(Ordering::Acquire) {
                let floor = acked.load(Ordering::Acquire);
                let mut b = batch(&frames);
                dp.process_batch(&mut ctx, 1 + t, &mut b, batches);
                for (port, _) in ctx.take_outputs() {
                    assert!(
                        port >= floor,
                        "stale output to {port} after version {floor} acked"
                    );
                }
                batches += 1;
            }
            batches
        }));
    }
    for _ in 0..100 {
        let mut w = rules.write().unwrap();
        *w += 1;
        let v = *w;
        dp.revalidate(|_, _, a, _| {
            if a == &vec![DpAction::Output(v)] {
                Verdict::Keep
            } else {
                Verdict::Update(vec![DpAction::Output(v)])
            }
        });
        acked.store(v, Ordering::Release);
        drop(w);
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, Ordering::Release);
    let batches: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(batches > 0);
    assert!(dp.stats().reval_updated > 0);
}

#[test]
fn dummy_ports_end_to_end_with_transmit_errors() {
    let dp = dp_with(forward_to(2), config());
    let (p1, h1) = DummyPort::new("p1");
    let (p2, h2) = DummyPort::new("p2");
    dp.add_port(1, Box::new(p1)).unwrap();
    dp.add_port(2, Box::new(p2)).unwrap();
    assert!(matches!(
        dp.add_port(2, Box::new(DummyPort::new("x").0)),
        Err(DpifError::PortExists(2))
    ));
    assert_eq!(dp.port_numbers(), vec![1, 2]);
    let mut ctx = dp.new_pmd();
    for i in 0..40u16 {
        h1.inject(&udp([10, 0, 0, 2], i));
    }
    assert_eq!(dp.poll_port(&mut ctx, 1, 0), 32);
    assert_eq!(dp.poll_port(&mut ctx, 1, 0), 8);
    assert_eq!(dp.poll_port(&mut ctx, 1, 0), 0);
    let got = h2.collect_frames();
    assert_eq!(got.len(), 40);
    assert_eq!(got[5], udp([10, 0, 0, 2], 5));
    assert_eq!(dp.port_stats(2).unwrap().tx_packets, 40);
    // Output port gone from the datapath: counted as NoSuchPort against the input port.
    dp.remove_port(2).unwrap();
    h1.inject(&udp([10, 0, 0, 2], 1));
    dp.poll_port(&mut ctx, 1, 1);
    assert_eq!(dp.port_dp_stats(1).dropped(DropReason::NoSuchPort), 1);
    // Output port down: TxError.
    let (p3, h3) = DummyPort::new("p3");
    dp.add_port(2, Box::new(p3)).unwrap();
    h3.set_up(false);
    h1.inject(&udp([10, 0, 0, 2], 1));
    dp.poll_port(&mut ctx, 1, 2);
    assert_eq!(dp.stats().dropped(DropReason::TxError), 1);
    assert!(matches!(dp.remove_port(9), Err(DpifError::NoSuchPort(9))));
}

#[test]
fn pmd_thread_forwards_between_dummy_ports() {
    let dp = Arc::new(dp_with(forward_to(2), config()));
    let (p1, h1) = DummyPort::new("p1");
    let (p2, h2) = DummyPort::new("p2");
    dp.add_port(1, Box::new(p1)).unwrap();
    dp.add_port(2, Box::new(p2)).unwrap();
    let pmd = PmdThread::spawn(Arc::clone(&dp), PmdAssignment { index: 0, count: 1 }).unwrap();
    for i in 0..100u16 {
        h1.inject(&udp([10, 0, 0, 2], i));
    }
    let mut got = Vec::new();
    for _ in 0..400 {
        got.extend(h2.collect_frames());
        if got.len() == 100 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    pmd.stop();
    assert_eq!(got.len(), 100);
    assert_eq!(dp.stats().upcalls, 1);
    assert_eq!(
        dp.megaflow_count(),
        0,
        "a stopped thread's megaflows are deleted"
    );
}

#[test]
fn subtable_ranking_reduces_search_depth() {
    // Rules whose mask depends on the destination: /8, /16 and /24 subtables.
    let h = FnHandler::new(|k| {
        let mut mask = l3_mask();
        mask.nw_dst = match k.nw_dst >> 24 {
            10 => 0xff00_0000,
            11 => 0xffff_0000,
            _ => 0xffff_ff00,
        };
        Ok(Translation {
            actions: vec![DpAction::Output(2)],
            mask,
        })
    });
    let dp = dp_with(
        h,
        DpConfig {
            microflow_insert_inv_prob: 0,
            ..config()
        },
    );
    let mut ctx = dp.new_pmd();
    run(
        &dp,
        &mut ctx,
        &[
            udp([10, 0, 0, 1], 1),
            udp([11, 0, 0, 1], 1),
            udp([12, 0, 0, 1], 1),
        ],
        0,
    );
    // Traffic only to the /24 flow, which sits in the last subtable.
    let hot: Vec<_> = (0..16u8).map(|i| udp([12, 0, 0, i], 1)).collect();
    run(&dp, &mut ctx, &hot, 10);
    let s1 = dp.stats();
    assert_eq!(s1.avg_subtables_per_hit(), 3.0);
    run(&dp, &mut ctx, &hot, 2_000); // re-ranks first, then searches
    let s2 = dp.stats();
    let avg = (s2.subtables_searched - s1.subtables_searched) as f64
        / (s2.megaflow_hits - s1.megaflow_hits) as f64;
    assert_eq!(avg, 1.0);
}

#[test]
fn datapath_actions_compose_with_caches() {
    let h = FnHandler::new(|_| {
        let actions: DpActions = vec![
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 100,
            },
            DpAction::Output(2),
        ];
        Ok(Translation {
            actions,
            mask: l3_mask(),
        })
    });
    let dp = dp_with(h, config());
    let mut ctx = dp.new_pmd();
    let f = udp([10, 0, 0, 2], 1);
    for now in 0..3 {
        let mut b = batch(std::slice::from_ref(&f));
        dp.process_batch(&mut ctx, 1, &mut b, now);
        let out = ctx.take_outputs();
        let frame = out[0].1[0].data();
        assert_eq!(frame.len(), f.len() + 4);
        assert_eq!(&frame[12..16], &[0x81, 0x00, 0x00, 100]);
    }
}

/// A datapath port of `n` dummy queues; returns their handles (queue i at index i).
fn add_queues(dp: &Datapath, no: u32, n: usize) -> Vec<crate::port::dummy::DummyHandle> {
    let (ports, handles): (Vec<Box<dyn Port>>, Vec<_>) = (0..n)
        .map(|_| {
            let (p, h) = DummyPort::new(&format!("mq{no}"));
            (Box::new(p) as Box<dyn Port>, h)
        })
        .unzip();
    dp.add_port_queues(no, ports).unwrap();
    handles
}

#[test]
fn multiqueue_port_polls_every_queue_and_sums_stats() {
    let dp = dp_with(forward_to(2), config());
    assert!(matches!(
        dp.add_port_queues(1, Vec::new()),
        Err(DpifError::NoQueues(1))
    ));
    let rx = add_queues(&dp, 1, 2);
    let tx = add_queues(&dp, 2, 2);
    assert_eq!(dp.port_queues(1).unwrap(), 2);
    for i in 0..5u16 {
        rx[0].inject(&udp([10, 0, 0, 2], i));
    }
    for i in 0..3u16 {
        rx[1].inject(&udp([10, 0, 0, 2], 100 + i));
    }
    // A context with thread index 1 polls both queues here and sends on queue 1 only.
    let mut ctx = dp.new_pmd();
    ctx.set_thread_index(1);
    assert_eq!(dp.poll_port(&mut ctx, 1, 0), 8);
    assert_eq!(tx[0].collect_frames().len(), 0);
    assert_eq!(tx[1].collect_frames().len(), 8);
    let per_queue = dp.port_queue_stats(1).unwrap();
    assert_eq!(
        per_queue.iter().map(|s| s.rx_packets).collect::<Vec<_>>(),
        vec![5, 3]
    );
    let sum = dp.port_stats(1).unwrap();
    assert_eq!(sum.rx_packets, 8);
    assert_eq!(sum.rx_bytes, per_queue[0].rx_bytes + per_queue[1].rx_bytes);
    assert_eq!(dp.port_stats(2).unwrap().tx_packets, 8);
    assert_eq!(dp.port_dp_stats(1).rx_packets, 8);
    // Thread index 0 sends on queue 0.
    ctx.set_thread_index(0);
    rx[1].inject(&udp([10, 0, 0, 2], 7));
    assert_eq!(dp.poll_port(&mut ctx, 1, 1), 1);
    assert_eq!(tx[0].collect_frames().len(), 1);
    assert!(matches!(
        dp.port_queue_stats(9),
        Err(DpifError::NoSuchPort(9))
    ));
}

#[test]
fn multiqueue_link_state_is_per_queue() {
    let dp = dp_with(forward_to(2), config());
    let rx = add_queues(&dp, 1, 2);
    let tx = add_queues(&dp, 2, 2);
    assert_eq!(dp.port_is_up(1), Some(true));
    assert!(dp.reopen_down_ports().is_empty());
    // One queue down: the port reports down, the other queue still forwards.
    rx[0].set_up(false);
    assert_eq!(dp.port_is_up(1), Some(false));
    assert_eq!(dp.reopen_down_ports(), vec![(1, false)]);
    rx[0].inject(&udp([10, 0, 0, 2], 1));
    rx[1].inject(&udp([10, 0, 0, 2], 2));
    let mut ctx = dp.new_pmd();
    assert_eq!(dp.poll_port(&mut ctx, 1, 0), 1);
    assert_eq!(tx[0].collect_frames().len(), 1);
    // Back up: reopened, and the queued frame comes through.
    rx[0].set_up(true);
    assert_eq!(dp.port_is_up(1), Some(true));
    assert!(dp.reopen_down_ports().is_empty());
    assert_eq!(dp.poll_port(&mut ctx, 1, 1), 1);
    // A transmit queue down drops only what that thread sends.
    tx[1].set_up(false);
    ctx.set_thread_index(1);
    rx[0].inject(&udp([10, 0, 0, 2], 3));
    dp.poll_port(&mut ctx, 1, 2);
    assert_eq!(dp.stats().dropped(DropReason::TxError), 1);
    ctx.set_thread_index(0);
    rx[0].inject(&udp([10, 0, 0, 2], 4));
    dp.poll_port(&mut ctx, 1, 3);
    assert_eq!(tx[0].collect_frames().len(), 2);
}

#[test]
fn two_pmd_threads_each_own_one_queue() {
    let dp = Arc::new(dp_with(forward_to(2), config()));
    let rx = add_queues(&dp, 1, 2);
    let tx = add_queues(&dp, 2, 2);
    let pmds: Vec<_> = (0..2)
        .map(|index| PmdThread::spawn(Arc::clone(&dp), PmdAssignment { index, count: 2 }).unwrap())
        .collect();
    for i in 0..60u16 {
        rx[0].inject(&udp([10, 0, 0, 2], i));
    }
    for i in 0..40u16 {
        rx[1].inject(&udp([10, 0, 0, 2], 1000 + i));
    }
    let (mut got0, mut got1) = (Vec::new(), Vec::new());
    for _ in 0..400 {
        got0.extend(tx[0].collect_frames());
        got1.extend(tx[1].collect_frames());
        if got0.len() + got1.len() == 100 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for p in pmds {
        p.stop();
    }
    // Thread 0 polled receive queue 0 and sent on transmit queue 0; thread 1 likewise on 1.
    assert_eq!((got0.len(), got1.len()), (60, 40));
    assert_eq!(got0[0], udp([10, 0, 0, 2], 0));
    assert_eq!(got1[0], udp([10, 0, 0, 2], 1000));
}
