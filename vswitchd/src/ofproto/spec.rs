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
            m: Match::CATCHALL,
            actions: Vec::new(),
        }
    }
}
