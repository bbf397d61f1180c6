//! The `controller` action: the packet, as the actions so far modified it, goes to the
//! bridge's OpenFlow connections in a packet-in (OVS's `execute_controller_action`).
//!
//! A translation cannot send anything itself (it may be a revalidation, a trace, or one packet
//! standing for a whole megaflow), so the action becomes a datapath `userspace` action
//! ([`fastpath::action::UserspaceAction`]): every packet that hits the megaflow is copied to the
//! slow path when the datapath executes it, and the decision to send it up is never cached
//! away. Pending header changes are committed first, so the copy is the packet as modified so
//! far.
//!
//! The action carries a [`ControllerCookie`]: the bridge, table and rule cookie, the packet-in
//! reason, `max_len`, controller id and userdata, and the pipeline metadata at that point
//! (OpenFlow in_port, registers, metadata, tunnel) — everything a packet-in needs besides
//! the packet itself and the conntrack state it carries, which the datapath supplies. The
//! metadata is a function of bits the megaflow's mask already covers (actions that derive it
//! from packet bits un-wildcard them), so one cookie is right for every packet of the
//! megaflow. As in OVS, the state is also frozen under a recirculation id
//! ([`super::FrozenState`]), which the datapath action prints
//! (`userspace(pid=0,controller(reason=1,dont_send=0,continuation=0,recirc_id=1,...))`).

use super::{FrozenState, XlateError, Xlator};
use crate::ofproto::action::OfController;
use fastpath::action::{DpAction, UserspaceAction};
use std::sync::Arc;

/// What the slow path needs to build a packet-in for a packet a `controller` action sent up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerCookie {
    pub bridge: String,
    pub table_id: u8,
    /// The cookie of the rule whose actions ran the `controller` action.
    pub rule_cookie: u64,
    pub reason: u8,
    pub max_len: u16,
    pub controller_id: u16,
    pub userdata: Vec<u8>,
    /// The OpenFlow input port.
    pub in_port: u32,
    pub metadata: u64,
    pub regs: [u32; 16],
    pub tun_id: u64,
    pub tun_src: u32,
    pub tun_dst: u32,
    /// The recirculation id the state is frozen under (0: none).
    pub recirc_id: u32,
    /// Whether it is a `pause`: the packet-in carries the continuation frozen under
    /// `recirc_id` ([`super::pause`]).
    pub continuation: bool,
}

/// Layout version of an encoded cookie.
const COOKIE_V2: u8 = 2;

/// A rule cookie as the datapath action prints it.
pub(super) fn cookie_text(c: u64) -> String {
    match c {
        0 => "0".to_owned(),
        c => format!("{c:#x}"),
    }
}

impl ControllerCookie {
    /// The opaque bytes the datapath carries.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(128 + self.userdata.len());
        b.push(COOKIE_V2);
        let name = self.bridge.as_bytes();
        b.push(name.len().min(255) as u8);
        b.extend_from_slice(&name[..name.len().min(255)]);
        b.push(self.table_id);
        b.extend_from_slice(&self.rule_cookie.to_be_bytes());
        b.push(self.reason);
        b.extend_from_slice(&self.max_len.to_be_bytes());
        b.extend_from_slice(&self.controller_id.to_be_bytes());
        b.extend_from_slice(&self.in_port.to_be_bytes());
        b.extend_from_slice(&self.metadata.to_be_bytes());
        for r in self.regs {
            b.extend_from_slice(&r.to_be_bytes());
        }
        b.extend_from_slice(&self.tun_id.to_be_bytes());
        b.extend_from_slice(&self.tun_src.to_be_bytes());
        b.extend_from_slice(&self.tun_dst.to_be_bytes());
        b.extend_from_slice(&self.recirc_id.to_be_bytes());
        b.push(u8::from(self.continuation));
        b.extend_from_slice(&self.userdata);
        b
    }

    /// Reads bytes made by [`ControllerCookie::encode`]; `None` for anything else.
    pub fn decode(b: &[u8]) -> Option<ControllerCookie> {
        let mut r = Rd(b);
        if r.take(1)?[0] != COOKIE_V2 {
            return None;
        }
        let n = usize::from(r.take(1)?[0]);
        let bridge = String::from_utf8(r.take(n)?.to_vec()).ok()?;
        let mut c = ControllerCookie {
            bridge,
            table_id: r.take(1)?[0],
            rule_cookie: r.u64()?,
            reason: r.take(1)?[0],
            max_len: r.u16()?,
            controller_id: r.u16()?,
            in_port: r.u32()?,
            metadata: r.u64()?,
            ..ControllerCookie::default()
        };
        for reg in &mut c.regs {
            *reg = r.u32()?;
        }
        c.tun_id = r.u64()?;
        c.tun_src = r.u32()?;
        c.tun_dst = r.u32()?;
        c.recirc_id = r.u32()?;
        c.continuation = match r.take(1)?[0] {
            0 => false,
            1 => true,
            _ => return None,
        };
        c.userdata = r.0.to_vec();
        Some(c)
    }
}

struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// The packet-in reason a connection of version `v` sees for the cookie's `reason`: an
/// explicit table miss is "no match" from OpenFlow 1.3 on and "action" before (OVS's
/// `wire_reason`); 1.0-1.3 know no reason past `invalid_ttl` and get "action".
pub fn wire_reason(reason: u8, v: ofp::Version) -> u8 {
    match reason {
        OfController::EXPLICIT_MISS if v >= ofp::Version::Of13 => OfController::NO_MATCH,
        OfController::EXPLICIT_MISS => OfController::ACTION,
        r if v < ofp::Version::Of14 && r > 2 => OfController::ACTION,
        r => r,
    }
}

impl Xlator<'_, '_> {
    /// The packet-in cookie for `c` at this point of the translation.
    pub(super) fn controller_cookie(&self, c: &OfController) -> ControllerCookie {
        ControllerCookie {
            bridge: self.bridge.name.to_string(),
            table_id: self.table,
            rule_cookie: self.rule_cookie,
            // OVS's explicit table miss: `controller` in a table-miss rule (priority 0,
            // matching everything) reports "no match" to 1.3+ ([`wire_reason`]).
            reason: if c.reason == OfController::ACTION
                && self
                    .rule
                    .as_deref()
                    .is_some_and(|r| r.priority == 0 && r.m == crate::classifier::Match::CATCHALL)
            {
                OfController::EXPLICIT_MISS
            } else {
                c.reason
            },
            max_len: c.max_len,
            controller_id: c.id,
            userdata: c.userdata.clone(),
            in_port: self.flow.in_port,
            metadata: self.flow.metadata,
            regs: self.flow.regs,
            tun_id: self.flow.tun_id,
            tun_src: self.flow.tun_src,
            tun_dst: self.flow.tun_dst,
            recirc_id: 0,
            continuation: false,
        }
    }

    /// `controller(...)`: commit, then a `userspace` action carrying the packet-in's cookie.
    pub(super) fn controller(&mut self, c: &OfController) -> Result<(), XlateError> {
        self.commit()?;
        let state = FrozenState {
            bridge: self.bridge.name.to_string(),
            table: self.table,
            in_port: self.flow.in_port,
            metadata: self.flow.metadata,
            regs: self.flow.regs,
            ct_zone: self.flow.ct_zone,
            nat: None,
            continuation: None,
        };
        let recirc_id = self.ctx.recirc.id_for(&state)?;
        let mut cookie = self.controller_cookie(c);
        cookie.recirc_id = recirc_id;
        // As OVS: a translation without side effects (a trace) marks it "don't send".
        let dont_send = u8::from(self.trace.is_some());
        let desc = format!(
            "controller(reason={},dont_send={dont_send},continuation=0,recirc_id={recirc_id},\
             rule_cookie={},controller_id={},max_len={})",
            cookie.reason,
            cookie_text(self.rule_cookie),
            c.id,
            c.max_len
        );
        let meter = self.controller_meter(c.meter_id);
        self.actions
            .push(DpAction::Userspace(Arc::new(UserspaceAction {
                desc,
                recirc_id,
                cookie: cookie.encode(),
                meter,
            })));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_round_trip_and_garbage_is_refused() {
        let mut c = ControllerCookie {
            bridge: "br0".into(),
            table_id: 3,
            rule_cookie: 0x1234,
            reason: 0,
            max_len: 128,
            controller_id: 7,
            userdata: vec![1, 2, 3],
            in_port: 5,
            metadata: 9,
            tun_id: 42,
            tun_src: 1,
            tun_dst: 2,
            recirc_id: 9,
            continuation: true,
            ..ControllerCookie::default()
        };
        c.regs[1] = 0x55;
        let b = c.encode();
        assert_eq!(ControllerCookie::decode(&b), Some(c));
        for n in 0..b.len() - 3 {
            assert!(
                ControllerCookie::decode(&b[..n]).is_none(),
                "a cut cookie ({n} bytes) is refused"
            );
        }
        assert!(ControllerCookie::decode(&[9, 0]).is_none());
    }
}
