//! NORMAL: the decisions of a MAC-learning switch with 802.1Q access and trunk ports.
//!
//! This module decides, for a packet that reached the `normal` action, which VLAN it belongs
//! to, and to which ports (and with which tagging) it goes. xlate turns the decision into
//! datapath actions and megaflow bits. The rules are OVS's:
//!
//! - An *access* port (`--tag N`) carries VLAN N untagged. A frame arriving tagged with a non-zero
//!   VID is dropped; a priority-tagged frame (VID 0) belongs to VLAN N. Frames leave it untagged.
//! - A *trunk* port (no tag) carries the VLANs in its `--trunks` list, or all of them when the list
//!   is empty. An untagged frame belongs to VLAN 0. A frame of a VLAN the port does not carry is
//!   dropped. Frames of VLAN 0 leave untagged, others tagged.
//! - Known unicast destinations go to the learned port (if it is not the input port and carries the
//!   VLAN); broadcast, multicast and unknown unicast are flooded to every other port of the VLAN.

use crate::mac_learning::{MacTable, is_multicast};

/// How a port takes part in VLANs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum VlanMode {
    /// An access port of this VLAN.
    Access(u16),
    /// A trunk of these VLANs (empty = all).
    #[default]
    TrunkAll,
    Trunk(Vec<u16>),
}

impl VlanMode {
    /// From the `--tag` and `--trunks` port settings.
    pub fn from_config(tag: Option<u16>, trunks: &[u16]) -> VlanMode {
        match tag {
            Some(t) => VlanMode::Access(t),
            None if trunks.is_empty() => VlanMode::TrunkAll,
            None => VlanMode::Trunk(trunks.to_vec()),
        }
    }

    /// True if the port carries `vlan`.
    pub fn carries(&self, vlan: u16) -> bool {
        match self {
            VlanMode::Access(t) => *t == vlan,
            VlanMode::TrunkAll => true,
            VlanMode::Trunk(list) => vlan == 0 || list.contains(&vlan),
        }
    }

    /// The VLAN of a frame arriving with this outer tag VID (`None` = untagged), or `None` if
    /// the port does not accept it.
    pub fn input_vlan(&self, tag_vid: Option<u16>) -> Option<u16> {
        match (self, tag_vid) {
            (VlanMode::Access(t), None | Some(0)) => Some(*t),
            (VlanMode::Access(_), Some(_)) => None,
            (_, None) => Some(0),
            (mode, Some(v)) => mode.carries(v).then_some(v),
        }
    }

    /// The tag VID a frame of `vlan` carries when it leaves this port (`None` = untagged).
    pub fn output_tag(&self, vlan: u16) -> Option<u16> {
        match self {
            VlanMode::Access(_) => None,
            _ if vlan == 0 => None,
            _ => Some(vlan),
        }
    }
}

/// A port as NORMAL sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalPort {
    pub ofport: u32,
    pub vlan: VlanMode,
}

/// Where NORMAL sends a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NormalDecision {
    /// The input port does not accept the frame's VLAN.
    DropBadVlan,
    /// Send to these ports, each with its outgoing tag (`None` = untagged). Empty = drop (e.g. the
    /// destination was learned on the input port).
    Forward {
        vlan: u16,
        outputs: Vec<(u32, Option<u16>)>,
        flooded: bool,
    },
}

/// Decides for a frame from `in_port` with outer tag `tag_vid`, source `src` and destination
/// `dst`, learning `src` into `macs`. `ports` lists every port of the bridge.
pub fn decide(
    ports: &[NormalPort],
    macs: &mut MacTable,
    in_port: u32,
    tag_vid: Option<u16>,
    src: [u8; 6],
    dst: [u8; 6],
    now_ms: u64,
) -> NormalDecision {
    let Some(inp) = ports.iter().find(|p| p.ofport == in_port) else {
        return NormalDecision::DropBadVlan;
    };
    let Some(vlan) = inp.vlan.input_vlan(tag_vid) else {
        return NormalDecision::DropBadVlan;
    };
    macs.learn(vlan, src, in_port, now_ms);
    if !is_multicast(&dst)
        && let Some(out) = macs.lookup(vlan, &dst, now_ms)
    {
        let outputs = ports
            .iter()
            .find(|p| p.ofport == out && out != in_port && p.vlan.carries(vlan))
            .map(|p| vec![(p.ofport, p.vlan.output_tag(vlan))])
            .unwrap_or_default();
        return NormalDecision::Forward {
            vlan,
            outputs,
            flooded: false,
        };
    }
    let outputs = ports
        .iter()
        .filter(|p| p.ofport != in_port && p.vlan.carries(vlan))
        .map(|p| (p.ofport, p.vlan.output_tag(vlan)))
        .collect();
    NormalDecision::Forward {
        vlan,
        outputs,
        flooded: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: [u8; 6] = [0, 0, 0, 0, 0, 1];
    const H2: [u8; 6] = [0, 0, 0, 0, 0, 2];
    const BCAST: [u8; 6] = [0xff; 6];

    fn ports() -> Vec<NormalPort> {
        vec![
            NormalPort {
                ofport: 1,
                vlan: VlanMode::Access(10),
            },
            NormalPort {
                ofport: 2,
                vlan: VlanMode::Access(10),
            },
            NormalPort {
                ofport: 3,
                vlan: VlanMode::Access(20),
            },
            NormalPort {
                ofport: 4,
                vlan: VlanMode::Trunk(vec![10, 30]),
            },
            NormalPort {
                ofport: 5,
                vlan: VlanMode::TrunkAll,
            },
        ]
    }

    #[test]
    fn flood_stays_in_vlan_and_tags_on_trunks() {
        let mut macs = MacTable::default();
        let d = decide(&ports(), &mut macs, 1, None, H1, BCAST, 0);
        assert_eq!(
            d,
            NormalDecision::Forward {
                vlan: 10,
                outputs: vec![(2, None), (4, Some(10)), (5, Some(10))],
                flooded: true
            }
        );
    }

    #[test]
    fn learned_unicast_goes_to_one_port() {
        let mut macs = MacTable::default();
        decide(&ports(), &mut macs, 1, None, H1, BCAST, 0);
        let d = decide(&ports(), &mut macs, 4, Some(10), H2, H1, 1);
        assert_eq!(
            d,
            NormalDecision::Forward {
                vlan: 10,
                outputs: vec![(1, None)],
                flooded: false
            }
        );
        // H1 is on VLAN 10; a VLAN 20 host looking for it floods within VLAN 20 only.
        let d = decide(&ports(), &mut macs, 3, None, H2, H1, 2);
        assert_eq!(
            d,
            NormalDecision::Forward {
                vlan: 20,
                outputs: vec![(5, Some(20))],
                flooded: true
            }
        );
    }

    #[test]
    fn bad_vlans_are_dropped() {
        let mut macs = MacTable::default();
        assert_eq!(
            decide(&ports(), &mut macs, 1, Some(20), H1, H2, 0),
            NormalDecision::DropBadVlan
        );
        assert_eq!(
            decide(&ports(), &mut macs, 4, Some(20), H1, H2, 0),
            NormalDecision::DropBadVlan
        );
        assert!(matches!(
            decide(&ports(), &mut macs, 1, Some(0), H1, BCAST, 0),
            NormalDecision::Forward { vlan: 10, .. }
        ));
        assert!(matches!(
            decide(&ports(), &mut macs, 4, None, H1, BCAST, 0),
            NormalDecision::Forward { vlan: 0, .. }
        ));
    }

    #[test]
    fn destination_on_input_port_is_dropped() {
        let mut macs = MacTable::default();
        decide(&ports(), &mut macs, 1, None, H1, BCAST, 0);
        let d = decide(&ports(), &mut macs, 1, None, H2, H1, 1);
        assert_eq!(
            d,
            NormalDecision::Forward {
                vlan: 10,
                outputs: vec![],
                flooded: false
            }
        );
    }
}
