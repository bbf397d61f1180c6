//! A read-only snapshot of the switch model, published after every change.
//!
//! Readers (list and show calls, dumps, trace, metrics) must never wait for a writer: a
//! 250k-line replace-flows holds the switch for seconds, and an API that stops answering
//! health checks meanwhile looks dead to its supervisor. So the server keeps the latest
//! [`SwitchView`] in an `ArcSwap` and swaps in a new one after each mutation; a reader loads
//! it without locking and works on a consistent picture of bridges, ports, settings and
//! conntrack limits. The view holds no flow rows (those stay with the [`Switch`]): it is the
//! bridges' ports and names, small enough to clone per change. Live tables, caches and
//! counters are read from the [`Dataplane`] it points to, under the dataplane's own locks,
//! which a flow change holds exclusively only for the moment it swaps its result in.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Bridge, CtLimits, Settings, Switch, SwitchError, dump_rules, trace_on};
use crate::dataplane::Dataplane;
use crate::ofproto::Rule;
use crate::trace::TraceReport;

/// The switch model as of its last completed change.
#[derive(Clone, Debug)]
pub struct SwitchView {
    bridges: BTreeMap<String, Bridge>,
    ct_limits: CtLimits,
    settings: Settings,
    dp: Arc<Dataplane>,
}

impl Switch {
    /// A snapshot of the model for readers.
    pub fn view(&self) -> SwitchView {
        SwitchView {
            bridges: self.bridges.clone(),
            ct_limits: self.ct_limits.clone(),
            settings: self.settings.clone(),
            dp: Arc::clone(&self.dp),
        }
    }
}

impl SwitchView {
    /// list-mirrors: the mirrors of `bridge` with their counters.
    pub fn list_mirrors(
        &self,
        bridge: &str,
    ) -> Result<Vec<crate::dataplane::mirrors::MirrorCounters>, SwitchError> {
        self.bridge(bridge)?;
        super::mirrors::list(&self.dp, bridge)
    }

    /// Every bridge's mirror counters as the last stats push left them: (bridge, mirror,
    /// tx_packets, tx_bytes).
    pub fn mirror_counters(&self) -> Vec<(String, String, u64, u64)> {
        self.bridges
            .keys()
            .flat_map(|b| {
                self.dp
                    .mirror_counters(b, false)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| (b.clone(), c.config.name, c.tx_packets, c.tx_bytes))
            })
            .collect()
    }

    /// Bridges sorted by name.
    pub fn bridges(&self) -> impl Iterator<Item = &Bridge> {
        self.bridges.values()
    }

    /// The bridge called `name`.
    pub fn bridge(&self, name: &str) -> Result<&Bridge, SwitchError> {
        self.bridges
            .get(name)
            .ok_or_else(|| SwitchError::BridgeNotFound(name.to_owned()))
    }

    /// Conntrack limits.
    pub fn ct_limits(&self) -> &CtLimits {
        &self.ct_limits
    }

    /// Settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The dataplane.
    pub fn dataplane(&self) -> &Arc<Dataplane> {
        &self.dp
    }

    /// Milliseconds since the dataplane started (rule times).
    pub fn now_ms(&self) -> u64 {
        self.dp.slow_path().now_ms()
    }

    /// dump-flows (see [`Switch::dump_flows`]). Blocks briefly on the slow path's lock.
    pub fn dump_flows(
        &self,
        bridge: &str,
        filter: &str,
        table: Option<u8>,
    ) -> Result<Vec<Arc<Rule>>, SwitchError> {
        dump_rules(&self.dp, self.bridge(bridge)?, filter, table)
    }

    /// trace (see [`Switch::trace`]). Blocks briefly on the slow path's lock.
    pub fn trace(
        &self,
        bridge: &str,
        packet: &str,
        ct_next: &[String],
        generate: bool,
    ) -> Result<TraceReport, SwitchError> {
        self.bridge(bridge)?;
        trace_on(&self.dp, bridge, packet, ct_next, generate)
    }
}
