//! The records the config database holds, one per row, serialized as JSON.
//!
//! JSON (rather than a binary encoding) keeps the database inspectable and lets a newer
//! daemon add fields with `#[serde(default)]` without a migration. Records hold validated
//! configuration only: the switch model checks names and numbers before it builds a record.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A bridge's own configuration (its ports and flows are separate rows).
#[derive(Default, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeRecord {
    /// Bridge name.
    pub name: String,
    /// The fail mode as set (`set-fail-mode`); `None` = not set, which acts as standalone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_mode: Option<FailMode>,
    /// Controller targets in canonical form (`set-controller`; OVS's `Bridge.controller`).
    /// Rows written before controllers existed have none: the default is the migration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controllers: Vec<String>,
    /// The TLV map (Geneve options as `tun_metadataN`), each mapping in `add-tlv-map`
    /// syntax. OVS keeps it only in memory and its controllers re-add it; here flows that use
    /// the fields survive a restart, so the map does too. Older rows have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tlv_map: Vec<String>,
}

/// What a bridge does without a controller (OVS's `Bridge.fail_mode` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// The bridge keeps a `priority=0,actions=normal` rule: it switches like a learning
    /// switch until told otherwise (the default).
    Standalone,
    /// No default rule: a table miss drops, so nothing passes until someone adds flows.
    Secure,
}

impl FailMode {
    /// The lowercase name used on the command line and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            FailMode::Standalone => "standalone",
            FailMode::Secure => "secure",
        }
    }
}

impl fmt::Display for FailMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "standalone" => Ok(FailMode::Standalone),
            "secure" => Ok(FailMode::Secure),
            _ => Err(()),
        }
    }
}

/// How a port reaches packets (DESIGN §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortKind {
    /// An existing interface attached through AF_PACKET.
    System,
    /// A TAP device the switch creates and owns.
    Tap,
    /// The bridge's host-stack port.
    Internal,
    /// Joins two bridges (`peer` option).
    Patch,
    /// In-memory, for tests.
    Dummy,
    /// A VXLAN tunnel (`remote_ip`, `key`, ... options).
    Vxlan,
    /// A Geneve tunnel.
    Geneve,
    /// A GRE (gretap) tunnel.
    Gre,
}

impl PortKind {
    /// Every kind, in the order they are documented.
    pub const ALL: [PortKind; 8] = [
        PortKind::Tap,
        PortKind::System,
        PortKind::Internal,
        PortKind::Patch,
        PortKind::Dummy,
        PortKind::Vxlan,
        PortKind::Geneve,
        PortKind::Gre,
    ];

    /// The lowercase name used on the command line and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PortKind::System => "system",
            PortKind::Tap => "tap",
            PortKind::Internal => "internal",
            PortKind::Patch => "patch",
            PortKind::Dummy => "dummy",
            PortKind::Vxlan => "vxlan",
            PortKind::Geneve => "geneve",
            PortKind::Gre => "gre",
        }
    }

    /// The tunnel protocol of a tunnel port kind.
    pub fn tunnel(self) -> Option<fastpath::port::tunnel::TunnelKind> {
        use fastpath::port::tunnel::TunnelKind;
        match self {
            PortKind::Vxlan => Some(TunnelKind::Vxlan),
            PortKind::Geneve => Some(TunnelKind::Geneve),
            PortKind::Gre => Some(TunnelKind::Gre),
            _ => None,
        }
    }
}

impl fmt::Display for PortKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PortKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        PortKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

/// One port's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRecord {
    /// Interface name (≤ 15 bytes).
    pub name: String,
    /// Port type.
    pub kind: PortKind,
    /// OpenFlow port number, 1..=0xfeff.
    pub ofport: u32,
    /// Access VLAN, if any.
    #[serde(default)]
    pub tag: Option<u16>,
    /// Trunk VLANs; empty = all.
    #[serde(default)]
    pub trunks: Vec<u16>,
    /// Type-specific options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// One stored OpenFlow rule: a store-assigned sequence number (rows load in this order) and
/// the rule as one ovs-ofctl line, including `table=`, `priority=`, `cookie=` and timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRow {
    /// Unique within the database; increases with insertion.
    pub seq: u64,
    /// The rule in ovs-ofctl syntax, parsed again on load.
    pub line: String,
}
