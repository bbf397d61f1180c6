//! OpenFlow model: matches, actions, rules, tables.
//!
//! `ofproto` is the top of the packet's slow path: `ofproto ─► xlate ─► datapath`. A bridge owns
//! 255 tables of rules; xlate runs a flow through them and produces datapath actions.

pub mod action;
pub mod flow_mod;
pub mod group;
pub mod learn;
pub mod meter;
pub mod rule;
pub mod spec;
pub mod table;

pub use crate::classifier::flow_match::{self, Match};
pub use action::{OfAction, SubField, ofpp};
pub use flow_mod::{Applied, FlowMod, FlowModCommand, FlowModError};
pub use group::{Group, GroupMod, GroupModCommand, GroupSpec, GroupTable, GroupType};
pub use learn::{LearnField, LearnSpec, LearnSrc, OfLearn};
pub use rule::{Rule, RuleStats};
pub use spec::{FlowSpec, TABLE_ALL};
pub use table::{FlowTables, Planned, StalePlan};
