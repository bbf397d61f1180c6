//! The bridge's TLV map as the control plane changes it: `NXT_TLV_TABLE_MOD` semantics
//! (add, delete, clear; all or nothing), OVS's refusal to delete a mapping a rule uses, and
//! the matching check on the other side: a rule may use only mapped `tun_metadataN` fields.
//!
//! The map itself lives with the bridge in the dataplane ([`fastpath::flow::tlv::SharedTlv`]),
//! where the tunnel ports read it per packet; changes go through the [`Switch`], which also
//! serialises them with flow-mods, so "no rule uses it" stays true until the map is stored.
//! The map is part of the bridge's durable row (unlike OVS, whose flows do not survive a
//! restart either): a change is committed before the datapath sees it, and a restart
//! restores the map before the flows that use it.

use super::{Switch, SwitchError};
use crate::ofproto::{Match, OfAction};
use crate::store::BridgeRecord;
use fastpath::flow::Field;
use fastpath::flow::tlv::{TlvError, TlvMapping, TlvTable, parse_tlv_maps};

/// What a TLV table mod does (`NXTTMC_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlvCommand {
    Add,
    Delete,
    Clear,
}

/// Bit N set: the match or the actions use `tun_metadataN`.
pub fn fields_used(m: &Match, actions: &[OfAction]) -> u64 {
    let bit = |f: &Field| match f {
        Field::TunMetadata(n) => 1u64 << (n & 63),
        _ => 0,
    };
    let mut used = m.mask.tun_md_present;
    for a in actions {
        used |= match a {
            OfAction::SetField { field, .. } => bit(field),
            OfAction::Load { dst, .. } => bit(&dst.field),
            OfAction::Move { src, dst } => bit(&src.field) | bit(&dst.field),
            OfAction::StackPush(sf) | OfAction::StackPop(sf) => bit(&sf.field),
            _ => 0,
        };
    }
    used
}

/// The map as the bridge row stores it: one `add-tlv-map` mapping per entry, by index.
pub fn stored_form(t: &TlvTable) -> Vec<String> {
    t.mappings().iter().map(ToString::to_string).collect()
}

/// The map a stored bridge row had (the inverse of [`stored_form`]). A row this code did not
/// write is refused with the bridge's name rather than half loaded.
pub fn restore(row: &BridgeRecord) -> Result<TlvTable, SwitchError> {
    let invalid = |e: &dyn std::fmt::Display| {
        SwitchError::Invalid(format!("bridge {}: stored TLV map: {e}", row.name))
    };
    let mut maps = Vec::new();
    for m in &row.tlv_map {
        maps.extend(parse_tlv_maps(m).map_err(|e| invalid(&e))?);
    }
    let mut t = TlvTable::default();
    t.add(&maps).map_err(|e| invalid(&e))?;
    Ok(t)
}

/// The error for a rule that uses an unmapped field.
pub fn check_mapped(tlv: &TlvTable, used: u64) -> Result<(), SwitchError> {
    match tlv.unmapped(used) {
        None => Ok(()),
        Some(n) => Err(SwitchError::UnmappedTlv(n)),
    }
}

impl Switch {
    /// The TLV map of `bridge`.
    pub fn tlv_map(&self, bridge: &str) -> Result<Vec<TlvMapping>, SwitchError> {
        self.bridge(bridge)?;
        Ok(self.dp.bridge_tlv(bridge).load().mappings())
    }

    /// Changes the TLV map of `bridge`; nothing changes on error.
    pub fn tlv_table_mod(
        &mut self,
        bridge: &str,
        command: TlvCommand,
        maps: &[TlvMapping],
    ) -> Result<(), SwitchError> {
        self.bridge(bridge)?;
        let shared = self.dp.bridge_tlv(bridge);
        let mut t = TlvTable::clone(&shared.load());
        match command {
            TlvCommand::Add => t.add(maps).map_err(SwitchError::Tlv)?,
            TlvCommand::Delete | TlvCommand::Clear => {
                let removed: Vec<u8> = match command {
                    TlvCommand::Clear => t.mappings().iter().map(|m| m.index).collect(),
                    _ => maps.iter().map(|m| m.index).collect(),
                };
                let used = self.dp.read_tables(bridge, |tables, _| {
                    tables
                        .rules()
                        .iter()
                        .fold(0u64, |acc, r| acc | fields_used(&r.m, &r.actions))
                })?;
                if let Some(n) = removed.iter().find(|n| **n < 64 && used & (1 << **n) != 0) {
                    return Err(SwitchError::Tlv(TlvError::InUse(*n)));
                }
                if command == TlvCommand::Clear {
                    t.clear();
                } else {
                    t.delete(&removed).map_err(SwitchError::Tlv)?;
                }
            }
        }
        // Durable first (DESIGN §8), then live: the row and the datapath's map agree.
        let record = BridgeRecord {
            tlv_map: stored_form(&t),
            ..self.bridge_record(bridge)?
        };
        self.put_bridge_row(record, false)?;
        shared.store(t);
        Ok(())
    }
}
