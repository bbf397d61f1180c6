//! The fields of one OpenFlow flow-mod, whatever front end produced them.
//!
//! Two front ends build flows: the ovs-ofctl text syntax (`ofctl`) and the OpenFlow wire codec
//! (`openflow`). Both produce a [`FlowSpec`], and the rule model (rules, tables, flow-mods)
//! consumes only this type, so it depends on neither front end.

use super::action::OfAction;
use crate::classifier::Match;

/// The default rule priority (OpenFlow's `OFP_DEFAULT_PRIORITY`).
pub const DEFAULT_PRIORITY: u16 = 32768;

/// `table=255`: every table (the default for matching-only and modify syntax, as ovs-ofctl).
pub const TABLE_ALL: u8 = 255;

/// Flow-mod flags (`OFPFF_*`, the same bits in every OpenFlow version OVS speaks).
pub mod ff {
    /// Send a flow-removed message when the rule goes.
    pub const SEND_FLOW_REM: u16 = 1;
    /// Refuse an add that overlaps a rule of the same priority (`OFPFMFC_OVERLAP`).
    pub const CHECK_OVERLAP: u16 = 2;
    /// Reset the counters of the rules a modify changes (an add starts fresh anyway).
    pub const RESET_COUNTS: u16 = 4;
    /// Do not keep the rule's packet count (accepted, as OVS; the count is kept anyway).
    pub const NO_PKT_COUNTS: u16 = 8;
    /// Do not keep the rule's byte count (accepted, as OVS; the count is kept anyway).
    pub const NO_BYT_COUNTS: u16 = 16;
    /// Every flag a rule remembers (OVS's `OFPUTIL_FF_STATE`).
    pub const ALL: u16 = 31;
}

/// A flow: the fields of an OpenFlow flow-mod.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowSpec {
    /// Table; [`TABLE_ALL`] in matching-only / modify syntax when none was given.
    pub table: u8,
    pub priority: u16,
    /// The rule's cookie (add), or with `cookie_mask` the cookie to select (modify, delete).
    /// Modify with `cookie_mask == 0` and a nonzero `cookie` sets the modified rules' cookie.
    pub cookie: u64,
    pub cookie_mask: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    /// Delete / dump only rules with an output to this port.
    pub out_port: Option<u32>,
    /// `OFPFF_*` flags ([`ff`]).
    pub flags: u16,
    pub m: Match,
    pub actions: Vec<OfAction>,
}

impl FlowSpec {
    /// A catch-all spec for `table` ([`TABLE_ALL`]: every table), with the default priority,
    /// no cookie, timeouts or out_port, and no actions.
    pub fn catch_all(table: u8) -> FlowSpec {
        FlowSpec {
            table,
            priority: DEFAULT_PRIORITY,
            cookie: 0,
            cookie_mask: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            out_port: None,
            flags: 0,
            m: Match::CATCHALL,
            actions: Vec::new(),
        }
    }
}
