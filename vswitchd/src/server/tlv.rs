//! The TLV-map calls of `vswitch.v1.FlowService`: `add-tlv-map`, `del-tlv-map` and
//! `dump-tlv-map`, the same change as OpenFlow's `NXT_TLV_TABLE_MOD` (see `switch::tlv`),
//! taking mappings in ovs-ofctl's syntax.

use std::sync::Arc;

use fastpath::flow::tlv::{MAX_FIELDS, parse_tlv_maps};
use proto::v1 as pb;
use tonic::{Response, Status};

use super::Shared;
use crate::switch::TlvCommand;

/// FlowService.ModTlvMap.
pub(super) async fn mod_tlv_map(
    shared: &Arc<Shared>,
    req: pb::ModTlvMapRequest,
) -> Result<Response<pb::ModTlvMapResponse>, Status> {
    let command = match req.command() {
        pb::TlvMapCommand::Unspecified => {
            return Err(Status::invalid_argument("command: add, delete or clear"));
        }
        pb::TlvMapCommand::Add => TlvCommand::Add,
        pb::TlvMapCommand::Delete => TlvCommand::Delete,
        pb::TlvMapCommand::Clear => TlvCommand::Clear,
    };
    let maps = match command {
        TlvCommand::Clear => Vec::new(),
        _ => parse_tlv_maps(&req.maps).map_err(|e| Status::invalid_argument(e.to_string()))?,
    };
    shared
        .mutate(move |sw| sw.tlv_table_mod(&req.bridge, command, &maps))
        .await?;
    Ok(Response::new(pb::ModTlvMapResponse {}))
}

/// FlowService.DumpTlvMap.
pub(super) async fn dump_tlv_map(
    shared: &Arc<Shared>,
    req: pb::DumpTlvMapRequest,
) -> Result<Response<pb::DumpTlvMapResponse>, Status> {
    let maps = shared
        .mutate(move |sw| sw.tlv_map(&req.bridge))
        .await?
        .iter()
        .map(|m| pb::TlvMapping {
            option_class: m.class.into(),
            option_type: m.kind.into(),
            option_len: m.len.into(),
            index: m.index.into(),
        })
        .collect();
    Ok(Response::new(pb::DumpTlvMapResponse {
        max_option_space: fastpath::flow::TUN_MD_BYTES as u32,
        max_fields: MAX_FIELDS as u32,
        maps,
    }))
}
