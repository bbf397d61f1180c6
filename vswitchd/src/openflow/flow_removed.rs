//! `OFPT_FLOW_REMOVED`: a rule added with `send_flow_rem` tells the controllers when it goes
//! (OVS's `ofproto_rule_send_removed` and `ofputil_encode_flow_removed`).
//!
//! The switch records every rule a change removes together with why
//! ([`crate::ofproto::flow_mod::Applied::gone`]): its idle or hard timeout ended it, a
//! delete flow-mod selected it, or the group it sends to was deleted. A rule that an add
//! replaces is not "removed" (OpenFlow sends nothing for it). Once the change is durable and
//! in the tables, [`RemovedFlow`]s for the rules with `send_flow_rem` go to every OpenFlow
//! connection of the bridge, and each connection encodes the message for its version —
//! subject to its asynchronous-message mask, as any asynchronous message.
//!
//! Encoding is pure: 1.3 and 1.4 carry the OXM match, 1.5 moves durations and counters into
//! OXS stats after it, and 1.0 uses its fixed match. A rule whose match 1.0 cannot express
//! (registers, IPv6 addresses, ...) would need `NXT_FLOW_REMOVED` with an NXM match, which
//! this switch does not encode yet: such a rule's flow-removed is not sent on 1.0 (logged).

use crate::classifier::Match;
use crate::ofproto::rule::Rule;
use fastpath::flow::Field;
use ofp::match10::wc;
use ofp::message::{FlowRemoved, Message};
use ofp::{Match10, Version};
use std::sync::Arc;

/// `OFPRR_*`: why a rule was removed.
pub mod reason {
    pub const IDLE_TIMEOUT: u8 = 0;
    pub const HARD_TIMEOUT: u8 = 1;
    pub const DELETE: u8 = 2;
    pub const GROUP_DELETE: u8 = 3;
    pub const METER_DELETE: u8 = 4;
}

/// A rule that went, for the connections of its bridge.
#[derive(Clone, Debug)]
pub struct RemovedFlow {
    pub rule: Arc<Rule>,
    /// [`reason`].
    pub reason: u8,
    /// How long the rule was installed.
    pub duration_ms: u64,
}

/// Why an expired rule went at `now_ms`: OVS checks the hard timeout first.
pub fn expiry_reason(r: &Rule, now_ms: u64) -> u8 {
    if r.hard_deadline_ms().is_some_and(|d| now_ms >= d) {
        reason::HARD_TIMEOUT
    } else {
        reason::IDLE_TIMEOUT
    }
}

/// The message for a connection of version `v`, or `None` if this version cannot carry the
/// rule's match.
pub fn message(f: &RemovedFlow, v: Version) -> Option<Message> {
    let r = &f.rule;
    let match_ = if v == Version::Of10 {
        ofp::message::Match::Of10(to_match10(&r.m)?)
    } else {
        ofp::message::Match::Fields(super::to_wire::match_to_wire(&r.m).ok()?)
    };
    // OpenFlow 1.0 has no hard timeout field and no table id in this message.
    let of10 = v == Version::Of10;
    Some(Message::FlowRemoved(FlowRemoved {
        cookie: r.cookie,
        priority: r.priority,
        reason: f.reason,
        table_id: if of10 { 0 } else { r.table },
        duration_sec: (f.duration_ms / 1000) as u32,
        duration_nsec: ((f.duration_ms % 1000) * 1_000_000) as u32,
        idle_timeout: r.idle_timeout,
        hard_timeout: if of10 { 0 } else { r.hard_timeout },
        packet_count: r.stats.packets(),
        byte_count: r.stats.bytes(),
        match_,
    }))
}

/// The OpenFlow 1.0 match for `m`, if 1.0 can express it exactly.
pub fn to_match10(m: &Match) -> Option<Match10> {
    let mut o = Match10::catchall();
    // ICMP type and code are 8-bit fields in 16-bit storage: all of their bits, not the
    // storage's, make them exact.
    let exact = |f: Field| {
        let (v, mask) = m.field(f);
        (mask & f.max_value() == f.max_value()).then_some(v & f.max_value())
    };
    if let Some(p) = exact(Field::InPort) {
        o.in_port = u16::try_from(p).ok()?;
        o.wildcards &= !wc::IN_PORT;
    }
    let mac = |v: u128| {
        let b = v.to_be_bytes();
        let mut a = [0u8; 6];
        a.copy_from_slice(&b[10..]);
        a
    };
    if let Some(v) = exact(Field::DlSrc) {
        o.dl_src = mac(v);
        o.wildcards &= !wc::DL_SRC;
    }
    if let Some(v) = exact(Field::DlDst) {
        o.dl_dst = mac(v);
        o.wildcards &= !wc::DL_DST;
    }
    let (tci, tci_mask) = m.field(Field::VlanTci);
    if tci_mask == 0xffff && tci == 0 {
        o.dl_vlan = 0xffff;
        o.wildcards &= !wc::DL_VLAN;
    } else if tci & 0x1000 != 0 {
        if tci_mask & 0x1fff == 0x1fff {
            o.dl_vlan = (tci & 0xfff) as u16;
            o.wildcards &= !wc::DL_VLAN;
        }
        if tci_mask & 0xf000 == 0xf000 {
            o.dl_vlan_pcp = (tci >> 13) as u8 & 7;
            o.wildcards &= !wc::DL_VLAN_PCP;
        }
    }
    if let Some(v) = exact(Field::DlType) {
        o.dl_type = v as u16;
        o.wildcards &= !wc::DL_TYPE;
    }
    let arp = o.dl_type == 0x0806 && o.wildcards & wc::DL_TYPE == 0;
    let (tos, tos_mask) = m.field(Field::NwTos);
    if tos_mask == 0xfc {
        o.nw_tos = tos as u8;
        o.wildcards &= !wc::NW_TOS;
    }
    let proto = if arp { Field::ArpOp } else { Field::NwProto };
    if let Some(v) = exact(proto) {
        o.nw_proto = v as u8;
        o.wildcards &= !wc::NW_PROTO;
    }
    let (src, dst) = if arp {
        (Field::ArpSpa, Field::ArpTpa)
    } else {
        (Field::NwSrc, Field::NwDst)
    };
    for (f, shift) in [(src, wc::NW_SRC_SHIFT), (dst, wc::NW_DST_SHIFT)] {
        let (v, mask) = m.field(f);
        if mask != 0 {
            let mask = mask as u32;
            let wild = mask.trailing_zeros();
            let addr = v as u32;
            if f == src {
                o.nw_src = addr;
            } else {
                o.nw_dst = addr;
            }
            o.wildcards = (o.wildcards & !(0x3f << shift)) | (wild << shift);
        }
    }
    let icmp = o.nw_proto == 1 && !arp;
    let (sf, df) = if icmp {
        (Field::IcmpType, Field::IcmpCode)
    } else {
        (Field::TpSrc, Field::TpDst)
    };
    if let Some(v) = exact(sf) {
        o.tp_src = v as u16;
        o.wildcards &= !wc::TP_SRC;
    }
    if let Some(v) = exact(df) {
        o.tp_dst = v as u16;
        o.wildcards &= !wc::TP_DST;
    }
    // Exact only: what 1.0 reads back must be the rule's whole match.
    let back = super::convert::match_to_model(&ofp::message::Match::Of10(o)).ok()?;
    (back == *m).then_some(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::{FlowSyntax, NoNames, parse_flow};
    use crate::ofproto::rule::RuleStats;

    fn rule(flow: &str) -> Arc<Rule> {
        let s = parse_flow(flow, &NoNames, FlowSyntax::Add).unwrap();
        Arc::new(Rule {
            id: 1,
            table: s.table,
            priority: s.priority,
            cookie: s.cookie,
            m: s.m,
            actions: s.actions,
            idle_timeout: s.idle_timeout,
            hard_timeout: s.hard_timeout,
            flags: s.flags,
            created_ms: 0,
            stats: RuleStats::new(),
        })
    }

    #[test]
    fn of10_match_only_when_exact() {
        for flow in [
            "priority=7,udp,actions=drop",
            "in_port=3,dl_vlan=5,dl_vlan_pcp=2,tcp,nw_src=10.1.0.0/16,tp_dst=80,actions=drop",
            "arp,arp_op=1,arp_tpa=10.0.0.1,actions=drop",
            "icmp,icmp_type=8,nw_tos=32,actions=drop",
            "dl_vlan=0xffff,dl_src=00:01:02:03:04:05,actions=drop",
        ] {
            let r = rule(flow);
            assert!(to_match10(&r.m).is_some(), "{flow}");
        }
        for flow in [
            "reg0=1,actions=drop",
            "ipv6,ipv6_src=::1,actions=drop",
            "ip,nw_src=10.0.0.0/255.0.255.0,actions=drop",
        ] {
            assert!(to_match10(&rule(flow).m).is_none(), "{flow}");
        }
    }

    #[test]
    fn messages_per_version() {
        let f = RemovedFlow {
            rule: rule("table=2,priority=6,hard_timeout=1,send_flow_rem,tcp,actions=drop"),
            reason: reason::HARD_TIMEOUT,
            duration_ms: 1_166,
        };
        let Some(Message::FlowRemoved(m)) = message(&f, Version::Of13) else {
            panic!("no 1.3 message");
        };
        assert_eq!(
            (m.table_id, m.hard_timeout, m.duration_sec, m.duration_nsec),
            (2, 1, 1, 166_000_000)
        );
        let Some(Message::FlowRemoved(m)) = message(&f, Version::Of10) else {
            panic!("no 1.0 message");
        };
        assert_eq!((m.table_id, m.hard_timeout), (0, 0));
        for v in [Version::Of10, Version::Of13, Version::Of14, Version::Of15] {
            let msg = message(&f, v).unwrap();
            assert!(ofp::encode(&msg, v, 0).is_ok(), "{v:?}");
        }
    }
}
