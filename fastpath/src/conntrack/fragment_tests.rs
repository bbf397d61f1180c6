//! IP fragments through `ct` (see "IP fragments" in the module docs): every real fragment is
//! `+trk+inv` whatever the table holds, never touches a connection and is never translated;
//! atomic IPv6 fragments and IPv4 DF packets are ordinary packets.

use super::key::tests::{commit, ipv4_frame, ipv6_frame, run, track, udp};
use super::*;
use crate::action::{CtAction, NatSpec};
use crate::flow::key::ct_state::*;

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];
const N: [u8; 4] = [192, 0, 2, 1];

fn v6(last: u8) -> [u8; 16] {
    let mut a = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    a[15] = last;
    a
}

/// `ct(commit,zone=3,nat(src=N),exec(set_field:0x5->ct_mark))`.
fn commit_snat() -> CtAction {
    CtAction {
        commit: true,
        zone: 3,
        nat: Some(NatSpec {
            src: Some(true),
            addrs: Some((N.into(), N.into())),
            ports: None,
        }),
        mark: Some(crate::action::Masked { value: 5, mask: !0 }),
        label: None,
    }
}

/// An IPv4 UDP frame A:1000 -> B:53 with the flags/offset word set to `frag`.
fn v4_fragment(frag: u16) -> Vec<u8> {
    let mut f = ipv4_frame(17, A, B, &udp(1000, 53, b"0123456789abcdef"));
    f[20..22].copy_from_slice(&frag.to_be_bytes());
    f
}

/// An IPv6 UDP frame v6(1):1000 -> v6(2):53 behind a Fragment header whose offset/flags word
/// is `fo`, optionally after a hop-by-hop header.
fn v6_fragment(fo: u16, hop_by_hop: bool) -> Vec<u8> {
    let mut ext = Vec::new();
    if hop_by_hop {
        ext.extend_from_slice(&[44, 0, 0, 0, 0, 0, 0, 0]);
    }
    ext.extend_from_slice(&[17, 0]);
    ext.extend_from_slice(&fo.to_be_bytes());
    ext.extend_from_slice(&[0, 0, 0, 9]);
    ext.extend_from_slice(&udp(1000, 53, b"0123456789abcdef"));
    ipv6_frame(if hop_by_hop { 0 } else { 44 }, v6(1), v6(2), &ext)
}

/// Runs `f` through `ct` with `action` and checks the fragment outcome: `+trk+inv` in the
/// action's zone, no mark or label, the frame untouched, no connection created or refreshed.
fn assert_fragment(ct: &Conntrack, mut f: Vec<u8>, action: &CtAction, now: u64) {
    let before_frame = f.clone();
    let before_conns = ct.dump(None);
    let before = ct.stats();
    let (v, k) = run(ct, &mut f, action, now);
    assert_eq!(v, CtVerdict::Invalid(CtInvalid::Fragment));
    assert_eq!(
        (k.ct_state, k.ct_zone, k.ct_mark, k.ct_label),
        (TRK | INV, action.zone, 0, [0; 16])
    );
    assert_eq!(f, before_frame, "a fragment is never translated");
    assert_eq!(
        ct.dump(None),
        before_conns,
        "nor does it touch a connection"
    );
    let after = ct.stats();
    assert_eq!(after.created, before.created);
    assert_eq!(
        after.invalid[CtInvalid::Fragment as usize],
        before.invalid[CtInvalid::Fragment as usize] + 1
    );
}

#[test]
fn ipv4_fragments_are_invalid_whatever_the_table_holds() {
    let ct = Conntrack::new(ConntrackConfig::default());
    // An established, source-NATed connection with the fragments' own 5-tuple.
    let mut first = ipv4_frame(17, A, B, &udp(1000, 53, b"0123456789abcdef"));
    assert_eq!(
        run(&ct, &mut first, &commit_snat(), 0).0,
        CtVerdict::Committed
    );
    let mut answer = ipv4_frame(17, B, N, &udp(53, 1000, b"a"));
    let (_, k) = run(&ct, &mut answer, &track(3), 1);
    assert_eq!(k.ct_state, TRK | EST | RPL);

    // First fragment (MF, offset 0: its UDP header is there), under commit and NAT, twice:
    // the same answer both times.
    for now in [2, 3] {
        assert_fragment(&ct, v4_fragment(0x2000), &commit_snat(), now);
    }
    // A later fragment whose payload happens to start with the same ports, and the last one.
    assert_fragment(&ct, v4_fragment(0x2000 | 185), &commit_snat(), 4);
    assert_fragment(&ct, v4_fragment(370), &track(3), 5);
    // The reserved bit is not a fragment flag; DF alone is an ordinary packet of the
    // connection, translated as such.
    for word in [0x4000, 0x8000] {
        let mut f = v4_fragment(word);
        let (v, k) = run(&ct, &mut f, &commit_snat(), 6);
        assert_eq!(
            (v, k.ct_state, k.ct_mark),
            (CtVerdict::Tracked, TRK | EST | SNAT, 5)
        );
        assert_eq!(f[26..30], N, "{word:#x}");
    }
}

#[test]
fn ipv6_fragments_are_invalid_but_atomic_fragments_are_tracked() {
    let ct = Conntrack::new(ConntrackConfig::default());
    let v6_commit = CtAction {
        commit: true,
        zone: 1,
        ..CtAction::default()
    };
    // First (M set), middle and last fragments, and a first fragment behind hop-by-hop.
    for (fo, hbh) in [
        (0x0001, false),
        (0x00a1, false),
        (0x00a0, false),
        (0x0001, true),
    ] {
        assert_fragment(&ct, v6_fragment(fo, hbh), &v6_commit, 0);
    }
    assert!(ct.is_empty());
    // The reserved bits of the word do not make a fragment: offset 0 with M clear is an
    // atomic fragment (RFC 6946), tracked by the UDP header behind it...
    for fo in [0x0000, 0x0006] {
        let mut f = v6_fragment(fo, false);
        let (v, k) = run(&ct, &mut f, &v6_commit, 0);
        assert_eq!(k.ct_state, TRK | NEW, "{fo:#x}");
        assert!(matches!(v, CtVerdict::Committed | CtVerdict::Tracked));
    }
    assert_eq!(ct.len(), 1);
    // ...and an unfragmented reply belongs to the same connection.
    let mut reply = ipv6_frame(17, v6(2), v6(1), &udp(53, 1000, b"r"));
    let (_, k) = run(&ct, &mut reply, &track(1), 1);
    assert_eq!(k.ct_state, TRK | EST | RPL);
}

#[test]
fn an_icmp_error_quoting_a_fragment_is_invalid() {
    let ct = Conntrack::new(ConntrackConfig::default());
    let mut f = ipv4_frame(17, A, B, &udp(1000, 53, b"0123456789abcdef"));
    run(&ct, &mut f, &commit(0), 0);
    // "Time exceeded" about the first fragment of a datagram of that connection.
    let quoted = v4_fragment(0x2000);
    let mut err = vec![11, 0, 0, 0, 0, 0, 0, 0];
    err.extend_from_slice(&quoted[14..]);
    let mut e = ipv4_frame(1, [10, 0, 0, 254], A, &err);
    let before = e.clone();
    let (v, k) = run(&ct, &mut e, &track(0), 1);
    assert_eq!(
        (v, k.ct_state),
        (CtVerdict::Invalid(CtInvalid::BadIcmpError), TRK | INV)
    );
    assert_eq!(e, before);
    assert_eq!(ct.stats().related, 0);
}
