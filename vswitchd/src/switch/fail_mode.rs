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
//! the stored record. The row and the flush are one transaction (`bridge_row`).

use crate::store::{BridgeRecord, FailMode};

use super::{Switch, SwitchError};

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
        let record = BridgeRecord {
            fail_mode: mode,
            ..self.bridge_record(bridge)?
        };
        // With controllers the tables are theirs: OVS flushes only a bridge without any.
        let flush = before != after && !has_controllers;
        let flushed = self.put_bridge_row(record, flush)?;
        if let Some(flushed) = flushed {
            tracing::info!(
                bridge,
                fail_mode = %after,
                flows_flushed = flushed,
                "fail mode changed: flow tables flushed"
            );
        }
        Ok(flushed.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::flows;
    use crate::switch::tests::{rules, switch};

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
