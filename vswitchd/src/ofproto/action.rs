//! OpenFlow actions, as parsed from ovs-ofctl syntax and run by xlate.

use fastpath::flow::Field;
use std::net::IpAddr;

/// Reserved OpenFlow port numbers (OpenFlow 1.3 values, shown by name as ovs-ofctl does).
pub mod ofpp {
    pub const MAX: u32 = 0xffff_ff00;
    pub const IN_PORT: u32 = 0xffff_fff8;
    pub const TABLE: u32 = 0xffff_fff9;
    pub const NORMAL: u32 = 0xffff_fffa;
    pub const FLOOD: u32 = 0xffff_fffb;
    pub const ALL: u32 = 0xffff_fffc;
    pub const CONTROLLER: u32 = 0xffff_fffd;
    pub const LOCAL: u32 = 0xffff_fffe;
    pub const ANY: u32 = 0xffff_ffff;
}

/// Number of OpenFlow tables.
pub const N_TABLES: usize = 255;

/// A bit range of a field: `field[start..=end]` (ovs-ofctl's `NXM_OF_X[start..end]`, inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubField {
    pub field: Field,
    pub start: u32,
    /// Inclusive.
    pub end: u32,
}

impl SubField {
    /// The whole field.
    pub fn whole(field: Field) -> SubField {
        SubField {
            field,
            start: 0,
            end: field.bits() - 1,
        }
    }

    /// Number of bits.
    pub fn n_bits(&self) -> u32 {
        self.end - self.start + 1
    }

    /// Mask of the sub-field's bits within the field's value.
    pub fn mask(&self) -> u128 {
        let n = self.n_bits();
        let ones = if n >= 128 {
            u128::MAX
        } else {
            (1u128 << n) - 1
        };
        ones << self.start
    }
}

/// Where `ct(zone=...)` takes its zone from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtZone {
    Imm(u16),
    Field(SubField),
}

/// NAT part of `ct(nat(...))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct OfNat {
    /// `None`: bare `nat`; `Some(true)`: `src=`; `Some(false)`: `dst=`.
    pub src: Option<bool>,
    pub addrs: Option<(IpAddr, IpAddr)>,
    pub ports: Option<(u16, u16)>,
}

/// `ct(...)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OfCt {
    pub commit: bool,
    pub zone: CtZone,
    /// Recirculate into this table after conntrack.
    pub table: Option<u8>,
    pub nat: Option<OfNat>,
    /// `exec(...)` actions: only `set_field` / `load` to `ct_mark` or `ct_label`.
    pub exec: Vec<OfAction>,
}

/// `controller(...)`, `CONTROLLER:N`, `output:CONTROLLER`: send the packet, as modified so
/// far, to the bridge's OpenFlow controllers in a packet-in (OVS's `ofpact_controller`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OfController {
    /// Bytes of the packet to send (65535: all of it).
    pub max_len: u16,
    /// The packet-in reason (`OFPR_*`; [`OfController::ACTION`] unless `reason=` says).
    pub reason: u8,
    /// The controller connection id it is for (0: every connection with id 0).
    pub id: u16,
    /// Sent back in `NXT_PACKET_IN2`'s userdata.
    pub userdata: Vec<u8>,
    /// `pause`: the translation freezes here and the packet-in carries a continuation the
    /// controller resumes with `NXT_RESUME` (see `xlate::pause`).
    pub pause: bool,
    /// `meter_id=N`: the packet-ins go through meter N first (a missing meter meters
    /// nothing, as in OVS).
    pub meter_id: Option<u32>,
}

impl OfController {
    /// `OFPR_NO_MATCH`.
    pub const NO_MATCH: u8 = 0;
    /// `OFPR_ACTION`.
    pub const ACTION: u8 = 1;
    /// OVS's internal `OFPR_EXPLICIT_MISS`: `controller` in a table-miss rule (never parsed).
    pub const EXPLICIT_MISS: u8 = 6;

    /// OVS's defaults: the whole packet, reason `action`, controller id 0, no userdata.
    pub fn new(max_len: u16) -> OfController {
        OfController {
            max_len,
            reason: Self::ACTION,
            id: 0,
            userdata: Vec::new(),
            pause: false,
            meter_id: None,
        }
    }

    /// Whether it is the plain form, which OVS encodes and prints as an output to the
    /// controller port (`CONTROLLER:max_len`).
    pub fn is_plain(&self) -> bool {
        self.reason == Self::ACTION
            && self.id == 0
            && self.userdata.is_empty()
            && !self.pause
            && self.meter_id.is_none()
    }
}

/// The packet-in reason names of `controller(reason=...)`, by `OFPR_*` number.
pub const PACKET_IN_REASONS: [&str; 6] = [
    "no_match",
    "action",
    "invalid_ttl",
    "action_set",
    "group",
    "packet_out",
];

/// One OpenFlow action (DESIGN §5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OfAction {
    /// `output:P` / bare port number or name (resolved to a number at parse time).
    Output(u32),
    /// `in_port`
    InPort,
    /// `normal`
    Normal,
    /// `flood`
    Flood,
    /// `all`
    All,
    /// `local`
    Local,
    /// `drop` (only valid alone)
    Drop,
    /// `set_field:V[/M]->F`, and the `mod_*` shorthands (`mod_dl_src`, `mod_nw_tos`, ...),
    /// which are printed back in their own spelling via `spelling`.
    SetField {
        field: Field,
        value: u128,
        mask: u128,
        spelling: SetSpelling,
    },
    /// `load:V->F[a..b]`
    Load { value: u128, dst: SubField },
    /// `move:F[a..b]->G[c..d]`
    Move { src: SubField, dst: SubField },
    /// `push:F[a..b]`: the bits onto the translation's value stack (`xlate::stack`).
    StackPush(SubField),
    /// `pop:F[a..b]`: the stack's top into the bits.
    StackPop(SubField),
    /// `push_vlan:TPID`
    PushVlan(u16),
    /// `mod_vlan_vid:V`
    SetVlanVid(u16),
    /// `mod_vlan_pcp:P`
    SetVlanPcp(u8),
    /// `strip_vlan` / `pop_vlan`
    PopVlan,
    /// `dec_ttl`
    DecTtl,
    /// `goto_table:N` (must be last, to a later table)
    GotoTable(u8),
    /// `resubmit(PORT,TABLE)`: `None` port = keep in_port, `None` table = current table.
    Resubmit {
        port: Option<u32>,
        table: Option<u8>,
    },
    /// `ct(...)`
    Ct(OfCt),
    /// `ct_clear`
    CtClear,
    /// `learn(...)`: adds a flow built from the packet (see [`super::learn`]).
    Learn(Box<super::learn::OfLearn>),
    /// `fin_timeout(idle_timeout=I,hard_timeout=H)`: shortens the rule's timeouts on TCP FIN/RST.
    FinTimeout {
        idle_timeout: u16,
        hard_timeout: u16,
    },
    /// `group:N`: run group N's buckets (see `ofproto::group`).
    Group(u32),
    /// `controller(...)` / `CONTROLLER:N`
    Controller(OfController),
    /// `conjunction(id,k/n)`: the rule is dimension `k` of conjunction `id` (a soft match in
    /// the classifier). Only alongside other conjunction actions; executing it does nothing.
    Conjunction(crate::classifier::Conjunction),
    /// `clone(...)`: the actions run on a copy of the flow state, which is restored after them
    /// (see `xlate::clone`).
    Clone(Vec<OfAction>),
    /// `exit`: translation stops here, in every nested `resubmit` too.
    Exit,
    /// `note:HEX`: no effect; kept and printed.
    Note(Vec<u8>),
    /// `output:FIELD[bits]` / `output(port=FIELD[bits],max_len=N)`: output to the port the
    /// sub-field holds (`max_len` is kept for printing, as OVS ignores it outside
    /// `controller`).
    OutputReg { src: SubField, max_len: u16 },
    /// `check_pkt_larger(N)->DST`: `DST` (one bit) := packet length > N.
    CheckPktLarger { len: u16, dst: SubField },
    /// `meter:N` (OpenFlow 1.3's meter instruction, 1.5's meter action): the packet goes
    /// through meter N's bands first (always the first action; see `ofproto::meter`).
    Meter(u32),
}

/// How a field-setting action was written, so the printer gives it back the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetSpelling {
    /// `set_field:V->F`
    SetField,
    /// `mod_dl_src:`, `mod_nw_dst:`, ... (the shorthand for the field)
    Mod,
}

/// Every action of `actions`, with the actions nested in `clone(...)` after their clone
/// (OVS's `OFPACT_FOR_EACH_FLATTENED`): what the group and output-port filters look at.
pub fn flattened(actions: &[OfAction]) -> Vec<&OfAction> {
    let mut out = Vec::new();
    for a in actions {
        out.push(a);
        if let OfAction::Clone(inner) = a {
            out.extend(flattened(inner));
        }
    }
    out
}
