//! Timeout policies: how long a connection may stay idle in each protocol state.
//!
//! Every packet that updates a connection pushes its expiry to `now + timeout(class)`, where the
//! class comes from the protocol state machine ([`TimeoutClass`]). The defaults are OVS's
//! (`ovs-appctl dpctl/ct-get-tcp-seq-chk` era names: `tcp_syn_sent`, `tcp_established`, ...).
//!
//! A zone may carry its own [`Timeouts`] (OVS's per-zone timeout policies). Lookups happen on
//! every tracked packet, so the store is lock-free to read: one `AtomicU8` per zone names a slot,
//! and each slot is a row of `AtomicU32` seconds. Writers (the control plane) serialise on a
//! mutex that only guards slot allocation. A reader racing a policy change may use the old or
//! the new value for that one packet, which is harmless.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

/// The protocol states that have their own idle timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeoutClass {
    /// TCP: only the first side has sent (SYN seen).
    TcpSynSent,
    /// TCP: both sides seen, handshake not complete.
    TcpSynRecv,
    /// TCP: both sides established.
    TcpEstablished,
    /// TCP: one side has sent a FIN.
    TcpFinWait,
    /// TCP: both sides have sent a FIN.
    TcpTimeWait,
    /// TCP: both FINs acknowledged, or reset.
    TcpClose,
    /// UDP: one packet seen.
    UdpFirst,
    /// UDP: several packets, one direction only.
    UdpSingle,
    /// UDP: packets in both directions.
    UdpMultiple,
    /// ICMP echo (or other query) without a reply yet.
    IcmpFirst,
    /// ICMP query answered.
    IcmpReply,
    /// Other IP protocols: one packet seen.
    OtherFirst,
    /// Other IP protocols: several packets, one direction.
    OtherSingle,
    /// Other IP protocols: both directions.
    OtherMultiple,
}

/// Number of [`TimeoutClass`] values.
pub const N_CLASSES: usize = 14;

impl TimeoutClass {
    /// Every class, in declaration order (the order of a policy row).
    pub const ALL: [TimeoutClass; N_CLASSES] = [
        TimeoutClass::TcpSynSent,
        TimeoutClass::TcpSynRecv,
        TimeoutClass::TcpEstablished,
        TimeoutClass::TcpFinWait,
        TimeoutClass::TcpTimeWait,
        TimeoutClass::TcpClose,
        TimeoutClass::UdpFirst,
        TimeoutClass::UdpSingle,
        TimeoutClass::UdpMultiple,
        TimeoutClass::IcmpFirst,
        TimeoutClass::IcmpReply,
        TimeoutClass::OtherFirst,
        TimeoutClass::OtherSingle,
        TimeoutClass::OtherMultiple,
    ];

    /// OVS's name for the timeout attribute of this class.
    pub fn name(self) -> &'static str {
        match self {
            TimeoutClass::TcpSynSent => "tcp_syn_sent",
            TimeoutClass::TcpSynRecv => "tcp_syn_recv",
            TimeoutClass::TcpEstablished => "tcp_established",
            TimeoutClass::TcpFinWait => "tcp_fin_wait",
            TimeoutClass::TcpTimeWait => "tcp_time_wait",
            TimeoutClass::TcpClose => "tcp_close",
            TimeoutClass::UdpFirst => "udp_first",
            TimeoutClass::UdpSingle => "udp_single",
            TimeoutClass::UdpMultiple => "udp_multiple",
            TimeoutClass::IcmpFirst => "icmp_first",
            TimeoutClass::IcmpReply => "icmp_reply",
            TimeoutClass::OtherFirst => "other_first",
            TimeoutClass::OtherSingle => "other_single",
            TimeoutClass::OtherMultiple => "other_multiple",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One timeout policy: idle seconds per [`TimeoutClass`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    secs: [u32; N_CLASSES],
}

impl Default for Timeouts {
    /// OVS's defaults.
    fn default() -> Self {
        let mut t = Timeouts {
            secs: [0; N_CLASSES],
        };
        for (class, secs) in [
            (TimeoutClass::TcpSynSent, 30),
            (TimeoutClass::TcpSynRecv, 30),
            (TimeoutClass::TcpEstablished, 24 * 3600),
            (TimeoutClass::TcpFinWait, 15 * 60),
            (TimeoutClass::TcpTimeWait, 45),
            (TimeoutClass::TcpClose, 30),
            (TimeoutClass::UdpFirst, 60),
            (TimeoutClass::UdpSingle, 60),
            (TimeoutClass::UdpMultiple, 30),
            (TimeoutClass::IcmpFirst, 60),
            (TimeoutClass::IcmpReply, 30),
            (TimeoutClass::OtherFirst, 60),
            (TimeoutClass::OtherSingle, 60),
            (TimeoutClass::OtherMultiple, 30),
        ] {
            t.set(class, secs);
        }
        t
    }
}

impl Timeouts {
    /// Idle seconds for `class`.
    pub fn get(&self, class: TimeoutClass) -> u32 {
        self.secs[class.index()]
    }

    /// Sets the idle seconds for `class`.
    pub fn set(&mut self, class: TimeoutClass, secs: u32) {
        self.secs[class.index()] = secs;
    }

    /// Builder form of [`Timeouts::set`].
    pub fn with(mut self, class: TimeoutClass, secs: u32) -> Self {
        self.set(class, secs);
        self
    }
}

/// Errors of the timeout policy store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeoutError {
    /// Every override slot is in use.
    #[error("at most {max} zones can have their own timeout policy")]
    TooManyPolicies {
        /// The number of override slots.
        max: usize,
    },
}

/// Slots available for per-zone overrides (slot 0 is the default policy).
const MAX_OVERRIDES: usize = 255;

struct Row([AtomicU32; N_CLASSES]);

impl Row {
    fn new(t: &Timeouts) -> Row {
        Row(t.secs.map(AtomicU32::new))
    }
    fn store(&self, t: &Timeouts) {
        for (a, v) in self.0.iter().zip(t.secs) {
            a.store(v, Ordering::Relaxed);
        }
    }
    fn load(&self) -> Timeouts {
        Timeouts {
            secs: core::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)),
        }
    }
}

/// The default policy plus per-zone overrides, readable without locks.
pub(crate) struct TimeoutPolicies {
    /// `rows[0]` is the default; `rows[1..]` are override slots.
    rows: Box<[Row]>,
    /// Zone -> row index (0 = default).
    zone_row: Box<[AtomicU8]>,
    /// Which override rows are taken (guards allocation only).
    used: Mutex<[bool; MAX_OVERRIDES + 1]>,
}

impl TimeoutPolicies {
    pub(crate) fn new(default: &Timeouts) -> Self {
        TimeoutPolicies {
            rows: (0..=MAX_OVERRIDES).map(|_| Row::new(default)).collect(),
            zone_row: (0..=u16::MAX as usize).map(|_| AtomicU8::new(0)).collect(),
            used: Mutex::new([false; MAX_OVERRIDES + 1]),
        }
    }

    /// Idle timeout in milliseconds for `class` in `zone` (the per-packet read).
    #[inline]
    pub(crate) fn timeout_ms(&self, zone: u16, class: TimeoutClass) -> u64 {
        let row = self.zone_row[zone as usize].load(Ordering::Acquire) as usize;
        u64::from(self.rows[row].0[class.index()].load(Ordering::Relaxed)) * 1000
    }

    /// The policy in force for `zone`.
    pub(crate) fn get(&self, zone: u16) -> Timeouts {
        let row = self.zone_row[zone as usize].load(Ordering::Acquire) as usize;
        self.rows[row].load()
    }

    /// The default policy.
    pub(crate) fn default_policy(&self) -> Timeouts {
        self.rows[0].load()
    }

    /// Replaces the default policy (zones without an override follow it).
    pub(crate) fn set_default(&self, t: &Timeouts) {
        let _guard = self.used.lock().unwrap_or_else(|e| e.into_inner());
        self.rows[0].store(t);
    }

    /// Sets (`Some`) or removes (`None`) the override of `zone`.
    pub(crate) fn set_zone(&self, zone: u16, t: Option<&Timeouts>) -> Result<(), TimeoutError> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let cur = self.zone_row[zone as usize].load(Ordering::Acquire) as usize;
        match t {
            Some(t) => {
                let row = if cur != 0 {
                    cur
                } else {
                    let free = (1..=MAX_OVERRIDES)
                        .find(|&i| !used[i])
                        .ok_or(TimeoutError::TooManyPolicies { max: MAX_OVERRIDES })?;
                    used[free] = true;
                    free
                };
                self.rows[row].store(t);
                // Publish only after the row holds the new values.
                self.zone_row[zone as usize].store(row as u8, Ordering::Release);
            }
            None if cur != 0 => {
                self.zone_row[zone as usize].store(0, Ordering::Release);
                used[cur] = false;
            }
            None => {}
        }
        Ok(())
    }

    /// Zones that have an override, with their policies.
    pub(crate) fn overrides(&self) -> Vec<(u16, Timeouts)> {
        (0..=u16::MAX)
            .filter_map(|z| {
                let row = self.zone_row[z as usize].load(Ordering::Acquire) as usize;
                (row != 0).then(|| (z, self.rows[row].load()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ovs_values() {
        let t = Timeouts::default();
        assert_eq!(t.get(TimeoutClass::TcpSynSent), 30);
        assert_eq!(t.get(TimeoutClass::TcpSynRecv), 30);
        assert_eq!(t.get(TimeoutClass::TcpEstablished), 86_400);
        assert_eq!(t.get(TimeoutClass::TcpFinWait), 900);
        assert_eq!(t.get(TimeoutClass::TcpTimeWait), 45);
        assert_eq!(t.get(TimeoutClass::TcpClose), 30);
        assert_eq!(t.get(TimeoutClass::UdpFirst), 60);
        assert_eq!(t.get(TimeoutClass::UdpSingle), 60);
        assert_eq!(t.get(TimeoutClass::UdpMultiple), 30);
        assert_eq!(t.get(TimeoutClass::IcmpFirst), 60);
        assert_eq!(t.get(TimeoutClass::IcmpReply), 30);
        for (i, c) in TimeoutClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }

    #[test]
    fn zone_override_and_removal() {
        let p = TimeoutPolicies::new(&Timeouts::default());
        let short = Timeouts::default().with(TimeoutClass::UdpFirst, 5);
        p.set_zone(7, Some(&short)).unwrap();
        assert_eq!(p.timeout_ms(7, TimeoutClass::UdpFirst), 5_000);
        assert_eq!(p.timeout_ms(8, TimeoutClass::UdpFirst), 60_000);
        assert_eq!(p.overrides(), vec![(7, short)]);
        p.set_zone(7, None).unwrap();
        assert_eq!(p.timeout_ms(7, TimeoutClass::UdpFirst), 60_000);
        assert!(p.overrides().is_empty());
        p.set_default(&Timeouts::default().with(TimeoutClass::IcmpFirst, 1));
        assert_eq!(p.timeout_ms(9, TimeoutClass::IcmpFirst), 1_000);
    }

    #[test]
    fn override_slots_are_bounded_and_reused() {
        let p = TimeoutPolicies::new(&Timeouts::default());
        let t = Timeouts::default();
        for z in 0..MAX_OVERRIDES as u16 {
            p.set_zone(z, Some(&t)).unwrap();
        }
        assert_eq!(
            p.set_zone(1000, Some(&t)),
            Err(TimeoutError::TooManyPolicies { max: MAX_OVERRIDES })
        );
        p.set_zone(3, None).unwrap();
        p.set_zone(1000, Some(&t)).unwrap();
    }
}
