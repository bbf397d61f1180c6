//! VLAN actions: push, pop, and the in-place rewrite of an outer tag.
//!
//! A push opens a 4-byte gap in the buffer's headroom in front of the Ethernet type (no
//! tail moves), a pop closes it; both shift the packet's [`Headers`] by the tag length so
//! later actions still find L3 and L4. `pop_vlan` immediately followed by `push_vlan` (how
//! xlate spells "modify VLAN") is [`rewrite_vlan`]: the tag is rewritten where it is.

use super::execute::Headers;
use crate::flow::key::VLAN_CFI;
use crate::packet::Packet;
use crate::wire::{ethernet, vlan};

/// Offset of the first TPID / the Ethernet type in a frame: where a pushed tag goes.
const ETH_TYPE_OFFSET: usize = ethernet::HEADER_LEN - 2;

/// The frame as an Ethernet frame whose outer type is a VLAN tag, if it has a whole tag and
/// the type that follows it.
fn tagged(d: &mut [u8]) -> Option<ethernet::Frame<&mut [u8]>> {
    let eth = ethernet::Frame::new_checked(d).ok()?;
    (vlan::is_tpid(eth.ethertype()) && eth.payload().len() >= vlan::HEADER_LEN).then_some(eth)
}

pub(super) fn push_vlan(packet: &mut Packet, headers: &mut Headers, tpid: u16, tci: u16) -> bool {
    if packet.len() < ethernet::HEADER_LEN {
        // No Ethernet type to push in front of: leave the runt alone (it is not forwarded as
        // tagged, but nothing is corrupted either).
        return true;
    }
    if !packet.insert_gap(ETH_TYPE_OFFSET, vlan::HEADER_LEN) {
        return false;
    }
    // The gap sits where the Ethernet type was, which now follows it as the tag's type.
    let mut eth = ethernet::Frame::new_unchecked(packet.data_mut());
    eth.set_ethertype(tpid);
    vlan::Tag::new_unchecked(eth.payload_mut()).set_tci(tci & !VLAN_CFI);
    headers.shift(vlan::HEADER_LEN as isize);
    true
}

pub(super) fn pop_vlan(packet: &mut Packet, headers: &mut Headers) {
    if tagged(packet.data_mut()).is_none() {
        return;
    }
    if packet.remove_gap(ETH_TYPE_OFFSET, vlan::HEADER_LEN) {
        headers.shift(-(vlan::HEADER_LEN as isize));
    }
}

/// Pop-then-push on a tagged packet: rewrite the outer tag in place. False if untagged.
pub(super) fn rewrite_vlan(packet: &mut Packet, tpid: u16, tci: u16) -> bool {
    let Some(mut eth) = tagged(packet.data_mut()) else {
        return false;
    };
    eth.set_ethertype(tpid);
    vlan::Tag::new_unchecked(eth.payload_mut()).set_tci(tci & !VLAN_CFI);
    true
}
