//! Meter commands on a bridge: add, modify, delete, and the meter dumps.
//!
//! A meter change follows the order group changes follow (see `groups`): checked against a
//! copy of the live meter table (a refusal changes nothing), made durable, then applied under
//! the slow path's write lock, which revalidates the cached megaflows before returning.

use super::{Switch, SwitchError};
use crate::ofproto::meter::{InstalledMeter, MeterError, MeterMod, OFPM_ALL, format_meter};
use crate::ofproto::table::FlowTables;
use crate::store::Change;
use std::sync::Arc;

/// One meter and its age, for the dumps.
#[derive(Clone, Debug)]
pub struct MeterEntry {
    pub meter: Arc<InstalledMeter>,
    pub duration_ms: u64,
    /// Flows that use the meter.
    pub flow_count: u32,
}

/// Installs the stored meters of `bridge` (lines in add-meter syntax) into `tables`.
pub(super) fn load(
    bridge: &str,
    tables: &mut FlowTables,
    lines: &[String],
    now_ms: u64,
) -> Result<(), SwitchError> {
    for line in lines {
        let spec = crate::ofproto::meter::parse_meter(line).map_err(|e| {
            SwitchError::Invalid(format!(
                "stored meter of bridge {bridge} ('{line}') does not parse: {e}"
            ))
        })?;
        tables
            .apply_meter_mod(&MeterMod::Add(spec), now_ms)
            .map_err(|e| SwitchError::Invalid(format!("stored meters of bridge {bridge}: {e}")))?;
    }
    Ok(())
}

impl Switch {
    /// Applies a meter-mod on `bridge` (from the OpenFlow channel); durable and applied when
    /// this returns. Returns the number of meters added, replaced or deleted.
    pub fn meter_mod(&mut self, bridge: &str, mm: MeterMod) -> Result<u64, MeterModError> {
        self.bridge(bridge)?;
        let now = self.now_ms();
        let (touched, planned) = self
            .dp
            .read_tables(bridge, |t, _| {
                let touched = t.meters().clone().apply(&mm, now)?;
                // As OVS: deleting a meter deletes the flows that use it.
                let planned = (matches!(mm, MeterMod::Delete(_)) && !touched.is_empty())
                    .then(|| t.plan_meter_delete(&touched));
                Ok((touched, planned))
            })
            .map_err(SwitchError::from)?
            .map_err(MeterModError::Refused)?;
        if let Some(planned) = &planned {
            let rows = self.rows.entry(bridge.to_owned()).or_default();
            rows.commit(bridge, planned, &mut self.store)?;
        }
        let changes: Vec<Change> = match &mm {
            MeterMod::Delete(_) => touched
                .iter()
                .map(|id| Change::DeleteMeter {
                    bridge: bridge.to_owned(),
                    id: *id,
                })
                .collect(),
            MeterMod::Add(spec) | MeterMod::Modify(spec) => vec![Change::PutMeter {
                bridge: bridge.to_owned(),
                id: spec.id,
                line: format_meter(spec),
            }],
        };
        self.store.commit(&changes)?;
        self.dp.modify_tables(bridge, |tables, now| {
            if let Err(e) = tables.apply_meter_mod(&mm, now) {
                // Checked above against the same table: cannot happen.
                tracing::error!(bridge, error = %e, "meter change refused after it was stored");
            }
        })?;
        if let Some(b) = self.bridges.get_mut(bridge) {
            b.flows = self.rows.get(bridge).map_or(0, |r| r.len());
        }
        Ok(match mm {
            MeterMod::Delete(_) => touched.len() as u64,
            _ => 1,
        })
    }

    /// The meters of `bridge` (all, or meter `id`).
    pub fn dump_meters(&self, bridge: &str, id: u32) -> Result<Vec<MeterEntry>, SwitchError> {
        self.bridge(bridge)?;
        let now = self.now_ms();
        Ok(self.dp.read_tables(bridge, |t, _| {
            t.meters()
                .iter()
                .filter(|m| id == OFPM_ALL || m.spec.id == id)
                .map(|m| MeterEntry {
                    meter: m.clone(),
                    duration_ms: now.saturating_sub(m.created_ms),
                    flow_count: t.meter_refs(m.spec.id) as u32,
                })
                .collect()
        })?)
    }
}

/// Why a meter-mod failed: the meter table's refusal, or the switch's.
#[derive(Debug, thiserror::Error)]
pub enum MeterModError {
    #[error(transparent)]
    Refused(MeterError),
    #[error(transparent)]
    Switch(#[from] SwitchError),
}

impl From<crate::store::StoreError> for MeterModError {
    fn from(e: crate::store::StoreError) -> Self {
        MeterModError::Switch(e.into())
    }
}

impl From<crate::dataplane::DataplaneError> for MeterModError {
    fn from(e: crate::dataplane::DataplaneError) -> Self {
        MeterModError::Switch(e.into())
    }
}
