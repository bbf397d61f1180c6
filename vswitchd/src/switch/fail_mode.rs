//! A bridge's fail mode: `vswitch-ctl set-fail-mode BR standalone|secure`, `get-fail-mode`,
//! `del-fail-mode`, as OVS's `Bridge.fail_mode` column.
//!
//! The mode decides what a bridge does when no controller programs it. `standalone` (the
//! default, and what an unset mode means) keeps a `priority=0,actions=normal` rule so the
//! bridge switches like a learning switch; `secure` has no such rule, so a table miss drops
//! and nothing passes until flows are added.
//!
//! As in OVS (`connmgr_set_fail_mode`), changing the mode *in effect* of a bridge without
//! controllers flushes its flow tables and, when the new mode is standalone, installs the
//! default rule again: the tables then look exactly as those of a bridge created in that
//! mode. Setting the mode it already has (or clearing a stored `standalone`) changes only
//! the stored record. The bridge row, the removal of every rule and the new default rule
//! are one durable transaction, and the live tables are swapped only after it committed,
//! so a failed commit leaves rules and mode as they were.

use crate::store::{BridgeRecord, Change, FailMode};

use super::{Switch, SwitchError, flows};

impl Switch {
    /// Sets (`Some`) or clears (`None`, back to standalone) the fail mode of `bridge`.
    /// Returns whether the flow tables were flushed (the mode in effect changed).
    pub fn set_fail_mode(
        &mut self,
        bridge: &str,
        mode: Option<FailMode>,
    ) -> Result<bool, SwitchError> {
        let b = self.bridge(bridge)?;
        let before = b.fail_mode().unwrap_or(FailMode::Standalone);
        let after = mode.unwrap_or(FailMode::Standalone);
        let has_controllers = !b.controllers().is_empty();
        let record = Change::PutBridge(BridgeRecord {
            name: bridge.to_owned(),
            fail_mode: mode,
            controllers: b.controllers().to_vec(),
        });
        // With controllers the tables are theirs: OVS flushes only a bridge without any.
        if before == after || has_controllers {
            self.store.commit(&[record])?;
            self.bridge_mut(bridge).fail_mode = mode;
            return Ok(false);
        }
        let now = self.now_ms();
        let store = &mut self.store;
        let all_rows = &mut self.rows;
        let br = self
            .bridges
            .get_mut(bridge)
            .ok_or_else(|| SwitchError::BridgeNotFound(bridge.to_owned()))?;
        self.dp
            .modify_tables(bridge, |live, _| {
                let (tables, rows, flow_rows) = flows::initial(bridge, after, store, now)?;
                let mut changes = vec![
                    record,
                    Change::ClearFlows {
                        bridge: bridge.to_owned(),
                    },
                ];
                changes.extend(flow_rows);
                store.commit(&changes)?;
                let flushed = live.len();
                *live = tables;
                br.flows = rows.len();
                all_rows.insert(bridge.to_owned(), rows);
                br.fail_mode = mode;
                Ok::<_, SwitchError>(flushed)
            })?
            .map(|flushed| {
                tracing::info!(
                    bridge,
                    fail_mode = %after,
                    flows_flushed = flushed,
                    "fail mode changed: flow tables flushed"
                );
                true
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::{Dataplane, DataplaneConfig};
    use crate::store::Store;

    fn switch(dir: &std::path::Path) -> Switch {
        let dp = Dataplane::new(
            DataplaneConfig {
                dummy_devices: true,
                ..Default::default()
            },
            None,
        );
        Switch::load(Store::open(&dir.join("conf.db")).unwrap(), dp).unwrap()
    }

    fn rules(sw: &Switch, br: &str) -> Vec<String> {
        sw.dump_flows(br, "", None)
            .unwrap()
            .iter()
            .map(|r| crate::ofctl::format_flow(&r.to_spec(), &crate::ofctl::NoNames))
            .collect()
    }

    #[test]
    fn secure_bridges_start_empty_and_standalone_ones_with_normal() {
        let dir = tempfile::tempdir().unwrap();
        let mut sw = switch(dir.path());
        sw.add_bridge("br0").unwrap();
        sw.add_bridge_with("br1", Some(FailMode::Secure)).unwrap();
        assert_eq!(rules(&sw, "br0").len(), 1);
        assert!(
            rules(&sw, "br0")[0].contains("actions=NORMAL"),
            "{:?}",
            rules(&sw, "br0")
        );
        assert!(rules(&sw, "br1").is_empty());
        assert_eq!(
            sw.bridge("br1").unwrap().fail_mode(),
            Some(FailMode::Secure)
        );
    }

    #[test]
    fn changing_the_mode_flushes_and_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut sw = switch(dir.path());
            sw.add_bridge("br0").unwrap();
            sw.flow_command("br0", flows::FlowCommand::Add("priority=5,actions=drop"))
                .unwrap();
            assert_eq!(rules(&sw, "br0").len(), 2);
            // Same mode in effect: only the record changes, the rules stay.
            assert!(!sw.set_fail_mode("br0", Some(FailMode::Standalone)).unwrap());
            assert_eq!(rules(&sw, "br0").len(), 2);
            assert!(sw.set_fail_mode("br0", Some(FailMode::Secure)).unwrap());
            assert!(rules(&sw, "br0").is_empty());
        }
        // After a restart: still secure, still empty.
        {
            let mut sw = switch(dir.path());
            assert_eq!(
                sw.bridge("br0").unwrap().fail_mode(),
                Some(FailMode::Secure)
            );
            assert!(rules(&sw, "br0").is_empty());
            sw.flow_command("br0", flows::FlowCommand::Add("priority=5,actions=drop"))
                .unwrap();
            // Clearing the mode is standalone again: flushed, NORMAL back.
            assert!(sw.set_fail_mode("br0", None).unwrap());
            assert_eq!(rules(&sw, "br0").len(), 1);
            assert!(rules(&sw, "br0")[0].contains("actions=NORMAL"));
        }
        let sw = switch(dir.path());
        assert_eq!(sw.bridge("br0").unwrap().fail_mode(), None);
        assert_eq!(rules(&sw, "br0").len(), 1);
    }

    #[test]
    fn unknown_bridge_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let mut sw = switch(dir.path());
        let e = sw
            .set_fail_mode("nope", Some(FailMode::Secure))
            .unwrap_err();
        assert!(matches!(e, SwitchError::BridgeNotFound(_)), "{e}");
    }
}
