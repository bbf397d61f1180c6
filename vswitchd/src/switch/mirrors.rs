//! Port mirrors on a bridge: add-mirror, del-mirror, list-mirrors.
//!
//! A mirror change follows the switch's pattern: validated against the bridge (every port it
//! names must be one of the bridge's, at most [`MAX_MIRRORS`] per bridge, names unique),
//! committed to the store, then handed to the dataplane, which resolves the mirrors against
//! the ports and revalidates the cached megaflows before returning (see
//! [`crate::xlate::mirror`] for what a mirror does). A mirror keeps the port *names* it was
//! given: when such a port is deleted the mirror stays configured but selects (or, for its
//! output port, sends) nothing until a port of that name is back.

use super::{Switch, SwitchError};
use crate::dataplane::mirrors::MirrorCounters;
use crate::store::{Change, MirrorOutput, MirrorRecord};
use crate::xlate::mirror::MAX_MIRRORS;

/// Longest mirror name.
pub const MAX_MIRROR_NAME: usize = 64;

/// What add-mirror asks for (before validation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorSpec {
    pub name: String,
    pub select_src_port: Vec<String>,
    pub select_dst_port: Vec<String>,
    pub select_vlan: Vec<u32>,
    pub output_port: Option<String>,
    pub output_vlan: Option<u32>,
}

fn vlan(what: &str, v: u32) -> Result<u16, SwitchError> {
    u16::try_from(v)
        .ok()
        .filter(|v| (1..=4095).contains(v) || what == "select-vlan" && *v == 0)
        .ok_or_else(|| SwitchError::Invalid(format!("bad {what} {v}: must be a VLAN id 0 to 4095")))
}

impl Switch {
    /// Validates `spec` against bridge `bridge` into the record to store.
    fn plan_mirror(&self, bridge: &str, spec: MirrorSpec) -> Result<MirrorRecord, SwitchError> {
        let br = self.bridge(bridge)?;
        let name = spec.name;
        if name.is_empty()
            || name.len() > MAX_MIRROR_NAME
            || !name.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(SwitchError::InvalidName {
                what: "mirror",
                name,
                reason: "must be 1 to 64 printable ASCII characters",
            });
        }
        if br.mirrors.iter().any(|m| m.name == name) {
            return Err(SwitchError::NameInUse(format!(
                "mirror {name} (on bridge {bridge})"
            )));
        }
        if br.mirrors.len() >= MAX_MIRRORS {
            return Err(SwitchError::Limit(format!(
                "bridge {bridge} already has {MAX_MIRRORS} mirrors"
            )));
        }
        let output = match (spec.output_port, spec.output_vlan) {
            (Some(p), None) => MirrorOutput::Port(p),
            (None, Some(v)) => MirrorOutput::Vlan(vlan("output-vlan", v)?),
            _ => {
                return Err(SwitchError::Invalid(
                    "a mirror needs exactly one of --output-port and --output-vlan".into(),
                ));
            }
        };
        let port_exists = |p: &str| p == bridge || br.port(p).is_some();
        let mut select_vlan = spec
            .select_vlan
            .iter()
            .map(|v| vlan("select-vlan", *v))
            .collect::<Result<Vec<_>, _>>()?;
        select_vlan.sort_unstable();
        select_vlan.dedup();
        let record = MirrorRecord {
            select_all: spec.select_src_port.is_empty() && spec.select_dst_port.is_empty(),
            select_src_port: spec.select_src_port,
            select_dst_port: spec.select_dst_port,
            select_vlan,
            output,
            name,
        };
        if let Some(p) = record.ports().find(|p| !port_exists(p)) {
            return Err(SwitchError::PortNotFound {
                bridge: bridge.to_owned(),
                port: p.to_owned(),
            });
        }
        if let MirrorOutput::Port(out) = &record.output
            && (record.select_src_port.contains(out) || record.select_dst_port.contains(out))
        {
            return Err(SwitchError::Invalid(format!(
                "port {out} cannot be both a selected port and the output of mirror {}",
                record.name
            )));
        }
        Ok(record)
    }

    /// add-mirror: durable and in force (cached megaflows revalidated) when this returns.
    pub fn add_mirror(
        &mut self,
        bridge: &str,
        spec: MirrorSpec,
    ) -> Result<MirrorRecord, SwitchError> {
        let record = self.plan_mirror(bridge, spec)?;
        self.store.commit(&[Change::PutMirror {
            bridge: bridge.to_owned(),
            mirror: record.clone(),
        }])?;
        let mirrors = &mut self.bridge_mut(bridge).mirrors;
        mirrors.push(record.clone());
        // The store's order (by name), so that a restart numbers them the same.
        mirrors.sort_by(|a, b| a.name.cmp(&b.name));
        self.push_mirrors(bridge)?;
        tracing::info!(bridge, mirror = %record.name, "mirror added");
        Ok(record)
    }

    /// del-mirror.
    pub fn del_mirror(&mut self, bridge: &str, name: &str) -> Result<(), SwitchError> {
        if !self.bridge(bridge)?.mirrors.iter().any(|m| m.name == name) {
            return Err(SwitchError::MirrorNotFound {
                bridge: bridge.to_owned(),
                name: name.to_owned(),
            });
        }
        self.store.commit(&[Change::DeleteMirror {
            bridge: bridge.to_owned(),
            name: name.to_owned(),
        }])?;
        self.bridge_mut(bridge).mirrors.retain(|m| m.name != name);
        self.push_mirrors(bridge)?;
        tracing::info!(bridge, mirror = name, "mirror deleted");
        Ok(())
    }

    /// Replaces every mirror of `bridge` at once (the OVSDB `Mirror` rows, whose ports may
    /// not all exist yet: a mirror naming a missing port is inert until it appears). Names
    /// must be unique, at most [`MAX_MIRRORS`].
    pub fn replace_mirrors(
        &mut self,
        bridge: &str,
        mut mirrors: Vec<MirrorRecord>,
    ) -> Result<(), SwitchError> {
        let old = self.bridge(bridge)?.mirrors.clone();
        mirrors.sort_by(|a, b| a.name.cmp(&b.name));
        if mirrors.windows(2).any(|w| w[0].name == w[1].name) {
            return Err(SwitchError::Invalid(format!(
                "bridge {bridge}: two mirrors have the same name"
            )));
        }
        if mirrors.len() > MAX_MIRRORS {
            return Err(SwitchError::Limit(format!(
                "bridge {bridge} may have at most {MAX_MIRRORS} mirrors"
            )));
        }
        let mut changes: Vec<Change> = old
            .iter()
            .map(|m| Change::DeleteMirror {
                bridge: bridge.to_owned(),
                name: m.name.clone(),
            })
            .collect();
        changes.extend(mirrors.iter().map(|m| Change::PutMirror {
            bridge: bridge.to_owned(),
            mirror: m.clone(),
        }));
        self.store.commit(&changes)?;
        self.bridge_mut(bridge).mirrors = mirrors;
        self.push_mirrors(bridge)
    }

    /// Hands the bridge's mirrors to the dataplane.
    pub(super) fn push_mirrors(&self, bridge: &str) -> Result<(), SwitchError> {
        let mirrors = self.bridge(bridge)?.mirrors.clone();
        Ok(self.dp.set_mirrors(bridge, mirrors)?)
    }
}

/// list-mirrors: the mirrors of `bridge` with their counters (megaflow counters pushed first).
pub(super) fn list(
    dp: &crate::dataplane::Dataplane,
    bridge: &str,
) -> Result<Vec<MirrorCounters>, SwitchError> {
    Ok(dp.mirror_counters(bridge, true)?)
}

#[cfg(test)]
mod tests;
