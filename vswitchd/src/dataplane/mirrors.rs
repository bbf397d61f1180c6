//! A bridge's mirrors in the slow path: setting them and reading their counters.
//!
//! Setting the mirrors resolves them against the bridge's ports and revalidates the cached
//! megaflows under the slow path's write lock, as a port change does, so once the call
//! returns every cached megaflow mirrors as the new configuration says.

use super::{Dataplane, DataplaneError};
use crate::xlate::mirror::MirrorConfig;

/// One mirror and its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorCounters {
    pub config: MirrorConfig,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

impl Dataplane {
    /// Replaces the mirrors of `bridge`; counters of mirrors kept by name carry over.
    pub fn set_mirrors(
        &self,
        bridge: &str,
        mirrors: Vec<MirrorConfig>,
    ) -> Result<(), DataplaneError> {
        let mut st = self.slow.write();
        let b = st
            .bridges
            .get_mut(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        b.mirrors = mirrors;
        b.rebuild_mirrors();
        self.revalidate(&st, false);
        Ok(())
    }

    /// The mirrors of `bridge` with their counters; with `push`, megaflow counters are pushed
    /// first (list-mirrors), else they are as the last push left them (metrics scrapes).
    pub fn mirror_counters(
        &self,
        bridge: &str,
        push: bool,
    ) -> Result<Vec<MirrorCounters>, DataplaneError> {
        if push {
            self.push_stats();
        }
        let st = self.slow.read();
        let b = st
            .bridges
            .get(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        Ok(b.ports
            .mirrors()
            .iter()
            .map(|(c, s)| MirrorCounters {
                config: c.clone(),
                tx_packets: s.packets(),
                tx_bytes: s.bytes(),
            })
            .collect())
    }
}
