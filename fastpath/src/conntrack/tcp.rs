//! TCP tracking: per-peer state and sequence-window validation.
//!
//! The algorithm is the one OVS's userspace datapath inherited from OpenBSD pf (Guido van
//! Rooij's "Real Stateful TCP Packet Filtering"): each peer remembers the highest sequence
//! number it has sent (`seqlo`), the highest its peer may send given the last ack and window
//! (`seqhi`), its largest advertised window and its window-scale factor. A segment is in
//! window if its last byte fits below the sender's `seqhi`, it starts no more than one window
//! behind `seqlo` (retransmissions), and its ack is neither far behind nor far ahead of what
//! the receiver has sent. Out-of-window segments are `+inv`.
//!
//! Per-peer states only move forward (`Closed < SynSent < Established < Closing < FinWait2 <
//! TimeWait`), and the connection's timeout class is derived from the pair. A SYN arriving
//! when both sides are past FIN_WAIT_2 reopens the connection (the caller replaces it).
//! Connections picked up mid-stream (first packet not a SYN) start with "unknown" window
//! scaling and are checked against the largest possible scale, as pf does.

use super::key::TcpSegment;
use super::timeouts::TimeoutClass;

pub(crate) const FIN: u16 = 0x001;
pub(crate) const SYN: u16 = 0x002;
pub(crate) const RST: u16 = 0x004;
pub(crate) const PSH: u16 = 0x008;
pub(crate) const ACK: u16 = 0x010;
pub(crate) const URG: u16 = 0x020;

const MAX_WSCALE: u8 = 14;
/// `wscale` bit: the peer sent a window-scale option.
const WS_KNOWN: u8 = 0x80;
/// `wscale` bit: the connection was picked up mid-stream; scaling unknown.
const WS_UNKNOWN: u8 = 0x40;
const WS_MASK: u8 = 0x0f;
/// How far an ack may lag or lead (one maximal unscaled window plus a fudge factor).
const MAX_ACK_WINDOW: i64 = 0xffff + 1500;

/// One peer's TCP state (ordered: states only advance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum PeerState {
    /// Nothing sent yet.
    #[default]
    Closed,
    /// Sent a SYN (or its first segment).
    SynSent,
    /// Its SYN was acknowledged.
    Established,
    /// Sent a FIN.
    Closing,
    /// Its FIN was acknowledged.
    FinWait2,
    /// Reset, or closed on both sides.
    TimeWait,
}

impl PeerState {
    /// The state's name in `dump-conntrack`.
    pub fn name(self) -> &'static str {
        match self {
            PeerState::Closed => "CLOSED",
            PeerState::SynSent => "SYN_SENT",
            PeerState::Established => "ESTABLISHED",
            PeerState::Closing => "CLOSING",
            PeerState::FinWait2 => "FIN_WAIT_2",
            PeerState::TimeWait => "TIME_WAIT",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Peer {
    seqlo: u32,
    seqhi: u32,
    max_win: u16,
    wscale: u8,
    state: PeerState,
}

/// Outcome of running a segment through an existing connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TcpVerdict {
    /// In window; refresh the timeout.
    Valid,
    /// In window but loosely (pickup or post-close packets): do not refresh the timeout, so a
    /// flood of such packets cannot keep an entry alive.
    ValidNoRefresh,
    /// A retransmitted SYN before any answer: still `+new`.
    ValidNew,
    /// Out of window or bad flags: `+inv`.
    Invalid,
    /// A SYN on a fully closed connection: replace it with a new one.
    Reopen,
}

/// TCP state of one connection: `[original sender, replier]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConn {
    peers: [Peer; 2],
}

#[inline]
fn seq_geq(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) as i32 >= 0
}

#[inline]
fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Flag combinations no correct stack sends.
pub(crate) fn invalid_flags(flags: u16) -> bool {
    let has = |f| flags & f != 0;
    if has(SYN) {
        if has(RST) || has(FIN) {
            return true;
        }
    } else if !has(ACK) && !has(RST) {
        return true;
    }
    !has(ACK) && (has(FIN) || has(PSH) || has(URG))
}

/// True if `seg` may start a connection: sane flags, not a SYN+ACK (a half-open connection
/// we never saw start) and not a RST.
pub(crate) fn valid_new(seg: &TcpSegment) -> bool {
    !invalid_flags(seg.flags) && seg.flags & (SYN | ACK) != (SYN | ACK) && seg.flags & RST == 0
}

/// Sequence space a segment occupies past its payload.
fn seg_end(seg: &TcpSegment) -> u32 {
    let mut end = seg.seq.wrapping_add(seg.payload_len);
    if seg.flags & SYN != 0 {
        end = end.wrapping_add(1);
    }
    if seg.flags & FIN != 0 {
        end = end.wrapping_add(1);
    }
    end
}

impl TcpConn {
    /// State after the first segment (which must satisfy [`valid_new`]).
    pub(crate) fn new(seg: &TcpSegment) -> TcpConn {
        let mut src = Peer {
            seqlo: seg.seq,
            seqhi: seg_end(seg).wrapping_add(1),
            state: PeerState::SynSent,
            ..Peer::default()
        };
        let mut dst = Peer {
            seqhi: 1,
            max_win: 1,
            ..Peer::default()
        };
        if seg.flags & SYN != 0 {
            src.wscale = seg.wscale.map_or(0, |w| w.min(MAX_WSCALE) | WS_KNOWN);
        } else {
            src.wscale = WS_UNKNOWN;
            dst.wscale = WS_UNKNOWN;
        }
        src.max_win = seg.win.max(1);
        let sws = src.wscale & WS_MASK;
        if src.wscale & WS_KNOWN != 0 && sws != 0 {
            src.max_win = u32::from(src.max_win).div_ceil(1 << sws) as u16;
        }
        TcpConn { peers: [src, dst] }
    }

    /// Runs `seg`, sent by the replier if `reply`, through the tracker.
    pub(crate) fn update(&mut self, seg: &TcpSegment, reply: bool) -> TcpVerdict {
        let flags = seg.flags;
        if invalid_flags(flags) {
            return TcpVerdict::Invalid;
        }
        let (si, di) = if reply { (1, 0) } else { (0, 1) };
        let [mut src, mut dst] = [self.peers[si], self.peers[di]];

        if flags & (SYN | ACK) == SYN {
            if src.state >= PeerState::FinWait2 && dst.state >= PeerState::FinWait2 {
                return TcpVerdict::Reopen;
            }
            if src.state <= PeerState::SynSent {
                self.peers[si].state = PeerState::SynSent;
                return TcpVerdict::ValidNew;
            }
        }

        let (mut sws, mut dws) = (0u8, 0u8);
        if flags & SYN == 0 {
            if src.wscale & dst.wscale & WS_KNOWN != 0 {
                sws = src.wscale & WS_MASK;
                dws = dst.wscale & WS_MASK;
            } else if src.wscale & dst.wscale & WS_UNKNOWN != 0 {
                sws = MAX_WSCALE;
                dws = MAX_WSCALE;
            }
        }

        let mut win = u32::from(seg.win);
        let mut seq = seg.seq;
        let mut end = seg_end(seg);
        let mut check_ackskew = true;
        if src.state < PeerState::SynSent {
            // First segment from this side (normally the SYN+ACK).
            if flags & SYN != 0 && dst.wscale & WS_KNOWN != 0 {
                match seg.wscale {
                    Some(w) => {
                        src.wscale = w.min(MAX_WSCALE) | WS_KNOWN;
                        sws = src.wscale & WS_MASK;
                        win = win.div_ceil(1 << sws);
                        dws = dst.wscale & WS_MASK;
                    }
                    None => {
                        // Scaling is only on if both sides offer it: undo the peer's.
                        dst.max_win = dst.max_win.wrapping_shl(u32::from(dst.wscale & WS_MASK));
                        dst.wscale = 0;
                    }
                }
            }
            src.seqlo = seq;
            src.state = PeerState::SynSent;
            let reach = end.wrapping_add((u32::from(dst.max_win) << dws).max(1));
            if src.seqhi == 1 || seq_geq(reach, src.seqhi) {
                src.seqhi = reach;
                check_ackskew = false;
            }
            if win > u32::from(src.max_win) {
                src.max_win = win as u16;
            }
        }

        let ack = if flags & ACK == 0 || (seg.ack == 0 && flags & (ACK | RST) == (ACK | RST)) {
            dst.seqlo
        } else {
            seg.ack
        };
        if seq == end {
            // No data: nothing to place in the window.
            seq = src.seqlo;
            end = seq;
        }
        let ackskew = if check_ackskew {
            i64::from(dst.seqlo.wrapping_sub(ack) as i32)
        } else {
            0
        };
        let dst_win = u32::from(dst.max_win) << dws;
        let scaled_win = win << sws;
        let rst_ok = flags & RST == 0
            || seg.seq == src.seqlo
            || seg.seq == src.seqlo.wrapping_add(1)
            || seg.seq.wrapping_add(1) == src.seqlo;

        let verdict = if seq_geq(src.seqhi, end)
            && seq_geq(seq, src.seqlo.wrapping_sub(dst_win))
            && ackskew >= -MAX_ACK_WINDOW
            && ackskew <= MAX_ACK_WINDOW << sws
            && rst_ok
        {
            Self::slide(&mut src, &mut dst, win, end, ack, scaled_win);
            if flags & SYN != 0 && src.state < PeerState::SynSent {
                src.state = PeerState::SynSent;
            }
            if flags & FIN != 0 && src.state < PeerState::Closing {
                src.state = PeerState::Closing;
            }
            if flags & ACK != 0 {
                if dst.state == PeerState::SynSent {
                    dst.state = PeerState::Established;
                } else if dst.state == PeerState::Closing {
                    dst.state = PeerState::FinWait2;
                }
            }
            if flags & RST != 0 {
                src.state = PeerState::TimeWait;
                dst.state = PeerState::TimeWait;
            }
            TcpVerdict::Valid
        } else if (dst.state < PeerState::SynSent
            || dst.state >= PeerState::FinWait2
            || src.state >= PeerState::FinWait2)
            && seq_geq(src.seqhi.wrapping_add(MAX_ACK_WINDOW as u32), end)
            && seq_geq(seq, src.seqlo.wrapping_sub(MAX_ACK_WINDOW as u32))
        {
            // Shotgunned SYNs, a connection picked up after a restart, or stray packets after
            // close: accept, but do not trust it enough to refresh the entry.
            Self::slide(&mut src, &mut dst, win, end, ack, scaled_win);
            if flags & FIN != 0 && src.state < PeerState::Closing {
                src.state = PeerState::Closing;
            }
            if flags & RST != 0 {
                src.state = PeerState::TimeWait;
                dst.state = PeerState::TimeWait;
            }
            TcpVerdict::ValidNoRefresh
        } else {
            return TcpVerdict::Invalid;
        };
        self.peers[si] = src;
        self.peers[di] = dst;
        verdict
    }

    fn slide(src: &mut Peer, dst: &mut Peer, win: u32, end: u32, ack: u32, scaled_win: u32) {
        if u32::from(src.max_win) < win {
            src.max_win = win.min(0xffff) as u16;
        }
        if seq_gt(end, src.seqlo) {
            src.seqlo = end;
        }
        if seq_geq(ack.wrapping_add(scaled_win), dst.seqhi) {
            dst.seqhi = ack.wrapping_add(scaled_win.max(1));
        }
    }

    /// The timeout class for the current pair of states.
    pub(crate) fn timeout_class(&self) -> TimeoutClass {
        let [a, b] = [self.peers[0].state, self.peers[1].state];
        if a >= PeerState::FinWait2 && b >= PeerState::FinWait2 {
            TimeoutClass::TcpClose
        } else if a >= PeerState::Closing && b >= PeerState::Closing {
            TimeoutClass::TcpTimeWait
        } else if b == PeerState::Closed {
            TimeoutClass::TcpSynSent
        } else if a < PeerState::Established || b < PeerState::Established {
            TimeoutClass::TcpSynRecv
        } else if a >= PeerState::Closing || b >= PeerState::Closing {
            TimeoutClass::TcpFinWait
        } else {
            TimeoutClass::TcpEstablished
        }
    }

    /// `[original, reply]` peer states.
    pub fn states(&self) -> [PeerState; 2] {
        [self.peers[0].state, self.peers[1].state]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: u16, seq: u32, ack: u32, win: u16, len: u32) -> TcpSegment {
        TcpSegment {
            flags,
            seq,
            ack,
            win,
            payload_len: len,
            wscale: None,
        }
    }

    /// Handshake between client (isn 1000) and server (isn 5000).
    fn established() -> TcpConn {
        let syn = seg(SYN, 1000, 0, 64000, 0);
        let mut c = TcpConn::new(&syn);
        assert_eq!(
            c.update(&seg(SYN | ACK, 5000, 1001, 64000, 0), true),
            TcpVerdict::Valid
        );
        assert_eq!(
            c.update(&seg(ACK, 1001, 5001, 64000, 0), false),
            TcpVerdict::Valid
        );
        assert_eq!(c.states(), [PeerState::Established, PeerState::Established]);
        assert_eq!(c.timeout_class(), TimeoutClass::TcpEstablished);
        c
    }

    #[test]
    fn flag_sanity() {
        assert!(invalid_flags(SYN | FIN));
        assert!(invalid_flags(SYN | RST));
        assert!(invalid_flags(FIN));
        assert!(invalid_flags(0));
        assert!(!invalid_flags(RST));
        assert!(!invalid_flags(ACK | PSH));
        assert!(valid_new(&seg(SYN, 1, 0, 1, 0)));
        assert!(valid_new(&seg(ACK, 1, 1, 1, 0)), "mid-stream pickup");
        assert!(!valid_new(&seg(SYN | ACK, 1, 1, 1, 0)));
        assert!(!valid_new(&seg(RST, 1, 0, 1, 0)));
    }

    #[test]
    fn handshake_data_and_close() {
        let mut c = established();
        // Data both ways.
        assert_eq!(
            c.update(&seg(ACK | PSH, 1001, 5001, 64000, 500), false),
            TcpVerdict::Valid
        );
        assert_eq!(
            c.update(&seg(ACK, 5001, 1501, 64000, 1000), true),
            TcpVerdict::Valid
        );
        // Retransmission of old data is fine.
        assert_eq!(
            c.update(&seg(ACK | PSH, 1001, 5001, 64000, 500), false),
            TcpVerdict::Valid
        );
        // Client FIN.
        assert_eq!(
            c.update(&seg(FIN | ACK, 1501, 6001, 64000, 0), false),
            TcpVerdict::Valid
        );
        assert_eq!(c.timeout_class(), TimeoutClass::TcpFinWait);
        assert_eq!(
            c.update(&seg(ACK, 6001, 1502, 64000, 0), true),
            TcpVerdict::Valid
        );
        assert_eq!(c.states()[0], PeerState::FinWait2);
        // Server FIN, client's last ack.
        assert_eq!(
            c.update(&seg(FIN | ACK, 6001, 1502, 64000, 0), true),
            TcpVerdict::Valid
        );
        assert_eq!(c.timeout_class(), TimeoutClass::TcpTimeWait);
        assert_eq!(
            c.update(&seg(ACK, 1502, 6002, 64000, 0), false),
            TcpVerdict::Valid
        );
        assert_eq!(c.timeout_class(), TimeoutClass::TcpClose);
        // A new SYN on the closed connection reopens it.
        assert_eq!(
            c.update(&seg(SYN, 90000, 0, 64000, 0), false),
            TcpVerdict::Reopen
        );
    }

    #[test]
    fn out_of_window_is_invalid() {
        let mut c = established();
        // Far beyond what the server allowed (window 64000 from 1001).
        assert_eq!(
            c.update(&seg(ACK, 1001 + 200_000, 5001, 64000, 100), false),
            TcpVerdict::Invalid
        );
        // Far behind (more than a window back).
        assert_eq!(
            c.update(
                &seg(ACK, 1001u32.wrapping_sub(100_000), 5001, 64000, 100),
                false
            ),
            TcpVerdict::Invalid
        );
        // Acking data the server never sent.
        assert_eq!(
            c.update(&seg(ACK, 1001, 5001 + 500_000, 64000, 0), false),
            TcpVerdict::Invalid
        );
        // State untouched by rejected segments.
        assert_eq!(
            c.update(&seg(ACK, 1001, 5001, 64000, 10), false),
            TcpVerdict::Valid
        );
    }

    #[test]
    fn reset_needs_exact_sequence() {
        let mut c = established();
        assert_eq!(
            c.update(&seg(RST, 1001 + 3000, 0, 0, 0), false),
            TcpVerdict::Invalid
        );
        assert_eq!(c.update(&seg(RST, 1001, 0, 0, 0), false), TcpVerdict::Valid);
        assert_eq!(c.states(), [PeerState::TimeWait, PeerState::TimeWait]);
        assert_eq!(c.timeout_class(), TimeoutClass::TcpClose);
    }

    #[test]
    fn syn_retransmit_is_new_and_window_scaling_applies() {
        let mut syn = seg(SYN, 1000, 0, 65535, 0);
        syn.wscale = Some(7);
        let mut c = TcpConn::new(&syn);
        assert_eq!(c.timeout_class(), TimeoutClass::TcpSynSent);
        assert_eq!(c.update(&syn, false), TcpVerdict::ValidNew);
        let mut synack = seg(SYN | ACK, 5000, 1001, 65535, 0);
        synack.wscale = Some(7);
        assert_eq!(c.update(&synack, true), TcpVerdict::Valid);
        assert_eq!(c.timeout_class(), TimeoutClass::TcpSynRecv);
        assert_eq!(
            c.update(&seg(ACK, 1001, 5001, 2000, 0), false),
            TcpVerdict::Valid
        );
        // The server opens its window: 65535 scaled by 2^7 is ~8 MB.
        assert_eq!(
            c.update(&seg(ACK, 5001, 1001, 65535, 0), true),
            TcpVerdict::Valid
        );
        let far = seg(ACK, 1001 + 1_000_000, 5001, 2000, 100);
        let mut probe = c;
        assert_eq!(probe.update(&far, false), TcpVerdict::Valid);
        // Without scaling the same segment is out of window.
        let mut plain = TcpConn::new(&seg(SYN, 1000, 0, 65535, 0));
        plain.update(&seg(SYN | ACK, 5000, 1001, 65535, 0), true);
        plain.update(&seg(ACK, 1001, 5001, 2000, 0), false);
        plain.update(&seg(ACK, 5001, 1001, 65535, 0), true);
        assert_eq!(plain.update(&far, false), TcpVerdict::Invalid);
    }

    #[test]
    fn midstream_pickup_is_liberal() {
        let mut c = TcpConn::new(&seg(ACK, 777_000, 333_000, 1000, 100));
        assert_eq!(
            c.update(&seg(ACK, 333_000, 777_100, 1000, 1400), true),
            TcpVerdict::Valid
        );
        assert_eq!(
            c.update(&seg(ACK, 777_100, 334_400, 1000, 100), false),
            TcpVerdict::Valid
        );
    }
}

/// The same scenarios end to end: frames through `Conntrack::track_frame`, checking `ct_state`.
#[cfg(test)]
mod frame_tests {
    use super::super::key::tests::{commit, ipv4_frame, ipv6_frame, run, tcp, track};
    use super::super::{Conntrack, ConntrackConfig, CtInvalid, CtVerdict};
    use super::*;
    use crate::flow::key::ct_state::*;

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    fn c2s(seq: u32, ack: u32, flags: u16, len: usize) -> Vec<u8> {
        ipv4_frame(
            6,
            A,
            B,
            &tcp(40000, 80, seq, ack, flags, 64000, &vec![0xaa; len]),
        )
    }
    fn s2c(seq: u32, ack: u32, flags: u16, len: usize) -> Vec<u8> {
        ipv4_frame(
            6,
            B,
            A,
            &tcp(80, 40000, seq, ack, flags, 64000, &vec![0xbb; len]),
        )
    }

    fn handshake(ct: &Conntrack) {
        let (v, k) = run(ct, &mut c2s(1000, 0, SYN, 0), &commit(0), 0);
        assert_eq!((v, k.ct_state), (CtVerdict::Committed, TRK | NEW));
        let (v, k) = run(ct, &mut s2c(5000, 1001, SYN | ACK, 0), &track(0), 1);
        assert_eq!((v, k.ct_state), (CtVerdict::Tracked, TRK | EST | RPL));
        let (_, k) = run(ct, &mut c2s(1001, 5001, ACK, 0), &track(0), 2);
        assert_eq!(k.ct_state, TRK | EST);
    }

    #[test]
    fn handshake_data_fin() {
        let ct = Conntrack::new(ConntrackConfig::default());
        handshake(&ct);
        let (_, k) = run(&ct, &mut c2s(1001, 5001, ACK | PSH, 100), &track(0), 3);
        assert_eq!(k.ct_state, TRK | EST);
        let (_, k) = run(&ct, &mut s2c(5001, 1101, ACK | PSH, 1000), &track(0), 4);
        assert_eq!(k.ct_state, TRK | EST | RPL);
        // Retransmission of the client's data: still established.
        let (_, k) = run(&ct, &mut c2s(1001, 5001, ACK | PSH, 100), &track(0), 5);
        assert_eq!(k.ct_state, TRK | EST);
        run(&ct, &mut c2s(1101, 6001, FIN | ACK, 0), &track(0), 6);
        run(&ct, &mut s2c(6001, 1102, FIN | ACK, 0), &track(0), 7);
        let (_, k) = run(&ct, &mut c2s(1102, 6002, ACK, 0), &track(0), 8);
        assert_eq!(k.ct_state, TRK | EST);
        let d = ct.dump(None);
        assert_eq!(d[0].tcp, Some([PeerState::FinWait2, PeerState::FinWait2]));
        // TCP close timeout (30 s) applies now.
        assert_eq!(d[0].expires_ms, 8 + 30_000);
        // A new SYN with the same ports reopens the connection as +new.
        let (v, k) = run(&ct, &mut c2s(777_777, 0, SYN, 0), &commit(0), 9);
        assert_eq!((v, k.ct_state), (CtVerdict::Committed, TRK | NEW));
        assert_eq!(ct.len(), 1);
        assert_eq!(ct.stats().removed, 1);
    }

    #[test]
    fn retransmitted_syn_is_new_and_uncommitted_syn_leaves_nothing() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let (v, k) = run(&ct, &mut c2s(1000, 0, SYN, 0), &track(0), 0);
        assert_eq!((v, k.ct_state), (CtVerdict::New, TRK | NEW));
        assert!(ct.is_empty());
        run(&ct, &mut c2s(1000, 0, SYN, 0), &commit(0), 0);
        let (v, k) = run(&ct, &mut c2s(1000, 0, SYN, 0), &track(0), 1000);
        assert_eq!((v, k.ct_state), (CtVerdict::Tracked, TRK | NEW));
    }

    #[test]
    fn rst_and_out_of_window() {
        let ct = Conntrack::new(ConntrackConfig::default());
        handshake(&ct);
        let (v, k) = run(&ct, &mut c2s(1001 + 1_000_000, 5001, ACK, 10), &track(0), 3);
        assert_eq!(
            (v, k.ct_state),
            (CtVerdict::Invalid(CtInvalid::TcpWindow), TRK | INV)
        );
        let (v, _) = run(&ct, &mut c2s(1001, 5001, SYN | FIN, 0), &track(0), 3);
        assert_eq!(v, CtVerdict::Invalid(CtInvalid::TcpFlags));
        // A reset with a wrong sequence number is invalid, the right one closes.
        let (v, _) = run(&ct, &mut s2c(9_999, 0, RST, 0), &track(0), 4);
        assert_eq!(v, CtVerdict::Invalid(CtInvalid::TcpWindow));
        let (_, k) = run(&ct, &mut s2c(5001, 0, RST, 0), &track(0), 4);
        assert_eq!(k.ct_state, TRK | EST | RPL);
        assert_eq!(ct.dump(None)[0].tcp, Some([PeerState::TimeWait; 2]));
        assert_eq!(ct.stats().invalid[CtInvalid::TcpWindow as usize], 2);
    }

    #[test]
    fn packets_that_cannot_start_a_connection() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let (v, k) = run(&ct, &mut s2c(5000, 1001, SYN | ACK, 0), &commit(0), 0);
        assert_eq!(
            (v, k.ct_state),
            (CtVerdict::Invalid(CtInvalid::TcpNotNew), TRK | INV)
        );
        let (v, _) = run(&ct, &mut c2s(1, 0, RST, 0), &commit(0), 0);
        assert_eq!(v, CtVerdict::Invalid(CtInvalid::TcpNotNew));
        assert!(ct.is_empty());
        // Mid-stream pickup is allowed (as OVS).
        let (v, _) = run(&ct, &mut c2s(1, 1, ACK, 10), &commit(0), 0);
        assert_eq!(v, CtVerdict::Committed);
    }

    #[test]
    fn ipv6_handshake() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let (a, b) = ([0xfd; 16], [0xfe; 16]);
        let mut syn = ipv6_frame(6, a, b, &tcp(1, 2, 100, 0, SYN, 1000, b""));
        let mut synack = ipv6_frame(6, b, a, &tcp(2, 1, 900, 101, SYN | ACK, 1000, b""));
        let mut ack = ipv6_frame(6, a, b, &tcp(1, 2, 101, 901, ACK, 1000, b"hi"));
        assert_eq!(run(&ct, &mut syn, &commit(3), 0).1.ct_state, TRK | NEW);
        let (_, k) = run(&ct, &mut synack, &track(3), 0);
        assert_eq!((k.ct_state, k.ct_zone), (TRK | EST | RPL, 3));
        assert_eq!(run(&ct, &mut ack, &track(3), 0).1.ct_state, TRK | EST);
        // Same packets in another zone are unknown there.
        assert_eq!(
            run(&ct, &mut synack, &track(4), 0).0,
            CtVerdict::Invalid(CtInvalid::TcpNotNew)
        );
    }
}
