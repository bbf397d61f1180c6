//! Writing a bridge's own row (fail mode and controller targets), and the flush that may go
//! with it.
//!
//! Both columns decide which initial tables a bridge has (NORMAL or nothing, see
//! [`super::bridge::table_mode`]); OVS flushes a bridge's flow tables when a change of either
//! changes that (`connmgr_set_fail_mode`, `connmgr_set_controllers`). The callers decide
//! *whether* to flush; this module does it the one way both need: the row, the removal of
//! every rule and the new initial rules are one durable transaction, and the live tables and
//! the bridge's fields change only after it committed, so a failed commit leaves everything
//! as it was.

use crate::store::{BridgeRecord, Change};

use super::{Switch, SwitchError, bridge::table_mode, flows, tlv};

impl Switch {
    /// The row `bridge` has now, for a caller to change one column of.
    pub(super) fn bridge_record(&self, bridge: &str) -> Result<BridgeRecord, SwitchError> {
        let b = self.bridge(bridge)?;
        Ok(BridgeRecord {
            name: bridge.to_owned(),
            fail_mode: b.fail_mode(),
            controllers: b.controllers().to_vec(),
            tlv_map: tlv::stored_form(&self.dp.bridge_tlv(bridge).load()),
        })
    }

    /// Stores `record` as its bridge's row; with `flush`, in the same transaction replaces
    /// the bridge's flow tables by the initial tables of the row's mode. Returns how many
    /// rules were flushed, or `None` without `flush`.
    pub(super) fn put_bridge_row(
        &mut self,
        record: BridgeRecord,
        flush: bool,
    ) -> Result<Option<usize>, SwitchError> {
        let bridge = record.name.clone();
        let now = self.now_ms();
        let store = &mut self.store;
        let all_rows = &mut self.rows;
        let br = self
            .bridges
            .get_mut(&bridge)
            .ok_or_else(|| SwitchError::BridgeNotFound(bridge.clone()))?;
        if !flush {
            store.commit(&[Change::PutBridge(record.clone())])?;
            br.fail_mode = record.fail_mode;
            br.controllers = record.controllers;
            return Ok(None);
        }
        let mode = table_mode(record.fail_mode, &record.controllers);
        self.dp
            .modify_tables(&bridge, |live, _| {
                let (tables, rows, flow_rows) = flows::initial(&bridge, mode, store, now)?;
                let mut changes = vec![
                    Change::PutBridge(record.clone()),
                    Change::ClearFlows {
                        bridge: bridge.clone(),
                    },
                ];
                changes.extend(flow_rows);
                store.commit(&changes)?;
                let flushed = live.len();
                *live = tables;
                br.flows = rows.len();
                all_rows.insert(bridge.clone(), rows);
                br.fail_mode = record.fail_mode;
                br.controllers = record.controllers;
                Ok::<_, SwitchError>(flushed)
            })?
            .map(Some)
    }
}
