//! Tracker tests: UDP and other-protocol state, marks and labels, zones, limits, invalid
//! packets, the datapath hook, and concurrent use.

use super::key::tests::{commit, ipv4_frame, run, track, udp};
use super::*;
use crate::action::Masked;
use crate::flow::key::ct_state::*;

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];

fn a2b(sport: u16) -> Vec<u8> {
    ipv4_frame(17, A, B, &udp(sport, 53, b"query"))
}
fn b2a(dport: u16) -> Vec<u8> {
    ipv4_frame(17, B, A, &udp(53, dport, b"answer"))
}

#[test]
fn udp_new_until_answered_then_established() {
    let ct = Conntrack::new(ConntrackConfig::default());
    let (v, k) = run(&ct, &mut a2b(1), &commit(0), 0);
    assert_eq!((v, k.ct_state), (CtVerdict::Committed, TRK | NEW));
    let (v, k) = run(&ct, &mut a2b(1), &track(0), 1);
    assert_eq!((v, k.ct_state), (CtVerdict::Tracked, TRK | NEW));
    let (_, k) = run(&ct, &mut b2a(1), &track(0), 2);
    assert_eq!(k.ct_state, TRK | EST | RPL);
    let (_, k) = run(&ct, &mut a2b(1), &track(0), 3);
    assert_eq!(k.ct_state, TRK | EST);
    // An unrelated reply-looking packet is simply new.
    let (_, k) = run(&ct, &mut b2a(2), &track(0), 3);
    assert_eq!(k.ct_state, TRK | NEW);
    assert_eq!(ct.stats().created, 1);
}

#[test]
fn mark_and_label_are_set_on_commit_only() {
    let ct = Conntrack::new(ConntrackConfig::default());
    let mut action = commit(2);
    action.mark = Some(Masked {
        value: 0xab,
        mask: 0xff,
    });
    action.label = Some(Masked {
        value: 1 << 100 | 5,
        mask: !0,
    });
    let (_, k) = run(&ct, &mut a2b(1), &action, 0);
    assert_eq!((k.ct_mark, k.ct_zone), (0xab, 2));
    assert_eq!(u128::from_be_bytes(k.ct_label), 1 << 100 | 5);
    // Masked update of an existing connection on a later commit.
    action.mark = Some(Masked {
        value: 0x100,
        mask: 0xf00,
    });
    action.label = None;
    let (_, k) = run(&ct, &mut b2a(1), &action, 1);
    assert_eq!(k.ct_mark, 0x1ab);
    // Without commit the values are read, not written.
    let mut no_commit = action;
    no_commit.commit = false;
    no_commit.mark = Some(Masked { value: 0, mask: !0 });
    let (_, k) = run(&ct, &mut a2b(1), &no_commit, 2);
    assert_eq!(k.ct_mark, 0x1ab);
    assert_eq!(u128::from_be_bytes(k.ct_label), 1 << 100 | 5);
    let e = &ct.dump(Some(2))[0];
    assert_eq!(
        e.to_string(),
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=53),\
         reply=(src=10.0.0.2,dst=10.0.0.1,sport=53,dport=1),zone=2,mark=427,\
         labels=0x10000000000000000000000005"
    );
}

#[test]
fn zones_are_separate() {
    let ct = Conntrack::new(ConntrackConfig::default());
    run(&ct, &mut a2b(1), &commit(1), 0);
    assert_eq!(run(&ct, &mut b2a(1), &track(2), 1).1.ct_state, TRK | NEW);
    assert_eq!(
        run(&ct, &mut b2a(1), &track(1), 1).1.ct_state,
        TRK | EST | RPL
    );
    run(&ct, &mut a2b(1), &commit(2), 2);
    assert_eq!(ct.len(), 2);
    assert_eq!(ct.dump(Some(1)).len(), 1);
    ct.flush(Some(1), None);
    assert_eq!(ct.dump(None)[0].zone, 2);
}

#[test]
fn global_and_zone_limits_refuse_and_count() {
    let ct = Conntrack::new(ConntrackConfig {
        limit: 5,
        ..ConntrackConfig::default()
    });
    ct.set_zone_limit(7, Some(2));
    for p in 0..3 {
        let want = if p < 2 {
            CtVerdict::Committed
        } else {
            CtVerdict::LimitReached
        };
        let (v, k) = run(&ct, &mut a2b(p), &commit(7), 0);
        assert_eq!((v, k.ct_state), (want, TRK | NEW));
    }
    for p in 0..4 {
        run(&ct, &mut a2b(p), &commit(8), 0);
    }
    let s = ct.stats();
    assert_eq!(
        (s.entries, s.zone_limit_drops, s.global_limit_drops),
        (5, 1, 1)
    );
    let l = ct.limits();
    assert_eq!(l.global, 5);
    assert_eq!(l.zones.len(), 2);
    assert_eq!(
        ct.zone_limit(7),
        ZoneLimit {
            zone: 7,
            limit: Some(2),
            explicit: true,
            count: 2
        }
    );
    // The default zone limit applies to zones without their own.
    ct.set_limit(100);
    ct.set_default_zone_limit(Some(3));
    assert_eq!(
        run(&ct, &mut a2b(9), &commit(8), 0).0,
        CtVerdict::LimitReached
    );
    ct.set_zone_limit(8, Some(10));
    assert_eq!(run(&ct, &mut a2b(9), &commit(8), 0).0, CtVerdict::Committed);
    // Flushing gives the counts back.
    ct.flush(None, None);
    assert_eq!(ct.zone_limit(8).count, 0);
    assert!(ct.is_empty());
}

#[test]
fn untrackable_packets_are_invalid_and_counted() {
    let ct = Conntrack::new(ConntrackConfig::default());
    let mut arp = vec![0u8; 42];
    let (v, k) = run(&ct, &mut arp, &commit(0), 0);
    assert_eq!(
        (v, k.ct_state),
        (CtVerdict::Invalid(CtInvalid::NotIp), TRK | INV)
    );
    let mut short = a2b(1);
    short.truncate(14 + 20 + 4);
    assert_eq!(
        run(&ct, &mut short, &commit(0), 0).0,
        CtVerdict::Invalid(CtInvalid::BadL3)
    );
    let mut frag = a2b(1);
    frag[14 + 6] = 0x20;
    assert_eq!(
        run(&ct, &mut frag, &commit(0), 0).0,
        CtVerdict::Invalid(CtInvalid::Fragment)
    );
    // A frame shorter than its l3 offset.
    let mut tiny = [0u8; 4];
    let mut key = FlowKey::ZERO;
    assert_eq!(
        ct.track_frame(&mut tiny, 14, &mut key, &commit(0), 0),
        CtVerdict::Invalid(CtInvalid::NotIp)
    );
    assert_eq!(ct.stats().invalid_total(), 4);
}

#[test]
fn datapath_hook_writes_packet_metadata() {
    let ct = Conntrack::new(ConntrackConfig::default());
    let hook: &dyn ConntrackHook = &ct;
    let mut p = Packet::from_bytes(&a2b(1));
    let headers = Headers {
        l3: 14,
        l4: 34,
        dl_type: 0x0800,
        nw_proto: 17,
        nw_frag: 0,
    };
    let mut meta = PacketMeta::new(1);
    hook.execute(&mut p, &headers, &mut meta, &commit(3), 0);
    assert_eq!((meta.ct_state, meta.ct_zone), (TRK | NEW, 3));
    let mut reply = Packet::from_bytes(&b2a(1));
    hook.execute(&mut reply, &headers, &mut meta, &track(3), 1);
    assert_eq!(meta.ct_state, TRK | EST | RPL);
    let absent = Headers {
        l3: crate::action::execute::ABSENT,
        ..headers
    };
    hook.execute(&mut reply, &absent, &mut meta, &track(3), 1);
    assert_eq!(meta.ct_state, TRK | INV);
}

#[test]
fn other_protocols_are_tracked_by_address() {
    let ct = Conntrack::new(ConntrackConfig::default());
    let mut gre = ipv4_frame(47, A, B, &[0u8; 8]);
    let mut gre_back = ipv4_frame(47, B, A, &[0u8; 8]);
    assert_eq!(run(&ct, &mut gre, &commit(0), 0).0, CtVerdict::Committed);
    assert_eq!(
        run(&ct, &mut gre_back, &track(0), 0).1.ct_state,
        TRK | EST | RPL
    );
    assert!(
        ct.dump(None)[0]
            .to_string()
            .starts_with("proto=47,orig=(src=10.0.0.1,dst=10.0.0.2)")
    );
}

#[test]
fn concurrent_lookups_and_commits_from_several_threads() {
    let ct = Arc::new(Conntrack::new(ConntrackConfig {
        shards: Some(16),
        ..ConntrackConfig::default()
    }));
    // Shared connections, committed up front.
    for p in 0..64 {
        run(&ct, &mut a2b(p), &commit(0), 0);
    }
    let threads: Vec<_> = (0..4u16)
        .map(|t| {
            let ct = Arc::clone(&ct);
            std::thread::spawn(move || {
                for round in 0..200u64 {
                    for p in 0..64 {
                        // Everyone answers the shared connections...
                        let (_, k) = run(&ct, &mut b2a(p), &track(0), round);
                        assert_eq!(k.ct_state, TRK | EST | RPL);
                    }
                    // ...and commits its own, racing on the same tuples in the same zone.
                    let own = 1000 + (round as u16 % 50);
                    let (v, _) = run(&ct, &mut a2b(own), &commit(1 + t % 2), round);
                    assert!(
                        matches!(
                            v,
                            CtVerdict::Committed | CtVerdict::Tracked | CtVerdict::New
                        ),
                        "{v:?}"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // 64 shared + 50 per zone (zones 1 and 2), each exactly once despite the races.
    assert_eq!(ct.len(), 64 + 2 * 50);
    assert_eq!(ct.dump(None).len(), 64 + 2 * 50);
    assert_eq!(ct.stats().created, 64 + 2 * 50);
    assert_eq!(ct.stats().nat_failures, 0);
}
