//! A bridge's controller targets: `vswitch-ctl set-controller BR TARGET...`,
//! `get-controller`, `del-controller`, as OVS's `Bridge.controller` column.
//!
//! The switch model only keeps the validated, canonical list (durable, in the bridge row);
//! connecting, listening and fail-open are [`crate::controller`]'s business, driven by the
//! published view. One rule follows OVS's `connmgr_set_controllers`: when a bridge goes from
//! no controllers to some, or back, its flow tables are flushed, and the initial tables of
//! its mode are installed — a standalone bridge without controllers gets its
//! `priority=0,actions=normal` rule back, one with controllers gets none (while no
//! controller is connected, fail-open stands in for it). Changing one list of targets to
//! another keeps the flows. As for fail modes, the row, the flush and the new rows are one
//! transaction, and the live tables change only after it committed.

use crate::controller::target::parse_all;
use crate::store::{BridgeRecord, Change};

use super::{Switch, SwitchError, flows};

impl Switch {
    /// Sets the controller targets of `bridge` (empty: none, `del-controller`). Returns
    /// whether the flow tables were flushed.
    pub fn set_controllers(
        &mut self,
        bridge: &str,
        targets: &[String],
    ) -> Result<bool, SwitchError> {
        let parsed = parse_all(targets).map_err(|e| SwitchError::Invalid(e.to_string()))?;
        let canonical: Vec<String> = parsed.iter().map(|t| t.to_string()).collect();
        let b = self.bridge(bridge)?;
        let had = !b.controllers().is_empty();
        let record = Change::PutBridge(BridgeRecord {
            name: bridge.to_owned(),
            fail_mode: b.fail_mode(),
            controllers: canonical.clone(),
        });
        let has = !canonical.is_empty();
        if had == has {
            self.store.commit(&[record])?;
            self.bridge_mut(bridge).controllers = canonical;
            tracing::info!(bridge, controllers = ?self.bridge(bridge)?.controllers(), "controllers set");
            return Ok(false);
        }
        let now = self.now_ms();
        let store = &mut self.store;
        let all_rows = &mut self.rows;
        let br = self
            .bridges
            .get_mut(bridge)
            .ok_or_else(|| SwitchError::BridgeNotFound(bridge.to_owned()))?;
        let mode = {
            let old = std::mem::replace(&mut br.controllers, canonical.clone());
            let m = br.table_mode();
            br.controllers = old;
            m
        };
        self.dp
            .modify_tables(bridge, |live, _| {
                let (tables, rows, flow_rows) = flows::initial(bridge, mode, store, now)?;
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
                br.controllers = canonical;
                Ok::<_, SwitchError>(flushed)
            })?
            .map(|flushed| {
                tracing::info!(
                    bridge,
                    controllers = ?br.controllers,
                    flows_flushed = flushed,
                    "controllers set: flow tables flushed"
                );
                true
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::{Dataplane, DataplaneConfig};
    use crate::store::{FailMode, Store};

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
    fn controllers_are_durable_and_flush_as_in_ovs() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut sw = switch(dir.path());
            sw.add_bridge("br0").unwrap();
            sw.flow_command("br0", flows::FlowCommand::Add("priority=5,actions=drop"))
                .unwrap();
            // No controllers -> some: flushed, and no NORMAL rule (standalone fails open).
            let t = vec!["tcp:127.0.0.1".to_owned(), "punix:/tmp/x.ctl".to_owned()];
            assert!(sw.set_controllers("br0", &t).unwrap());
            assert!(rules(&sw, "br0").is_empty());
            assert_eq!(
                sw.bridge("br0").unwrap().controllers(),
                ["tcp:127.0.0.1:6653", "punix:/tmp/x.ctl"]
            );
            // Some -> others: the controller's flows stay.
            sw.flow_command("br0", flows::FlowCommand::Add("priority=7,actions=drop"))
                .unwrap();
            assert!(!sw.set_controllers("br0", &t[..1]).unwrap());
            assert_eq!(rules(&sw, "br0").len(), 1);
            // With controllers, a fail-mode change keeps the flows too.
            assert!(!sw.set_fail_mode("br0", Some(FailMode::Secure)).unwrap());
            assert_eq!(rules(&sw, "br0").len(), 1);
        }
        let mut sw = switch(dir.path());
        assert_eq!(
            sw.bridge("br0").unwrap().controllers(),
            ["tcp:127.0.0.1:6653"]
        );
        assert_eq!(rules(&sw, "br0").len(), 1);
        // Some -> none: flushed; secure stays empty, standalone gets NORMAL back.
        assert!(sw.set_controllers("br0", &[]).unwrap());
        assert!(rules(&sw, "br0").is_empty());
        sw.set_controllers("br0", &["unix:/tmp/c".to_owned()])
            .unwrap();
        sw.set_fail_mode("br0", None).unwrap();
        assert!(sw.set_controllers("br0", &[]).unwrap());
        assert_eq!(rules(&sw, "br0").len(), 1);
        assert!(rules(&sw, "br0")[0].contains("actions=NORMAL"));
    }

    #[test]
    fn bad_targets_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut sw = switch(dir.path());
        sw.add_bridge("br0").unwrap();
        let e = sw
            .set_controllers("br0", &["tcp:127.0.0.1".into(), "tcpp:1".into()])
            .unwrap_err();
        assert!(
            e.to_string().contains("'tcpp:1' has an unknown method"),
            "{e}"
        );
        assert!(sw.bridge("br0").unwrap().controllers().is_empty());
        assert_eq!(rules(&sw, "br0").len(), 1);
        assert!(matches!(
            sw.set_controllers("nope", &[]),
            Err(SwitchError::BridgeNotFound(_))
        ));
    }
}
