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
//! another keeps the flows. As for fail modes, the row and the flush are one transaction
//! (`bridge_row`).

use crate::controller::target::parse_all;
use crate::store::BridgeRecord;

use super::{Switch, SwitchError};

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
        let has = !canonical.is_empty();
        let record = BridgeRecord {
            controllers: canonical,
            ..self.bridge_record(bridge)?
        };
        let flushed = self.put_bridge_row(record, had != has)?;
        let controllers = self.bridge(bridge)?.controllers();
        match flushed {
            Some(flushed) => tracing::info!(
                bridge,
                ?controllers,
                flows_flushed = flushed,
                "controllers set: flow tables flushed"
            ),
            None => tracing::info!(bridge, ?controllers, "controllers set"),
        }
        Ok(flushed.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FailMode;
    use crate::switch::flows;
    use crate::switch::tests::{rules, switch};

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
