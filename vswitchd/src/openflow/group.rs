//! Groups between the wire and the model: a `GROUP_MOD` becomes the same
//! [`GroupMod`](crate::ofproto::GroupMod) that `vswitch-ctl add-group` produces, and an
//! installed group becomes a group-desc entry.
//!
//! As for flows, validation is the text syntax's: the converted group is printed in ovs-ofctl
//! syntax and parsed back with [`parse_group`], so a group accepted over OpenFlow is one
//! `vswitch-ctl dump-groups` prints and re-reads. OpenFlow 1.5's bucket commands
//! (`insert_bucket`, `remove_bucket`) are resolved against the group as installed into a
//! whole-group modify ([`apply_bucket_command`]), as OVS's `copy_buckets_for_insert_bucket`
//! and `copy_buckets_for_remove_bucket` do.

use super::OpenFlowError;
use super::convert::action_to_model;
use super::to_wire::actions_to_wire;
use crate::ofctl::{NoNames, format_group, parse_group};
use crate::ofproto::group::{
    Bucket, GroupMod, GroupModCommand, GroupSpec, GroupType, HashField, OFPG_ALL, SelectionMethod,
};
use ofp::field::{FieldId, MatchEntry};
use ofp::group::{self as wire, gc};
use ofp::{ErrorCode, Version};

/// `OFPGMFC_*` codes used here.
mod gmfc {
    pub const EXISTS: u16 = 0;
    pub const INVALID: u16 = 1;
    pub const UNKNOWN: u16 = 8;
    pub const BAD_TYPE: u16 = 10;
    pub const BAD_COMMAND: u16 = 11;
    pub const BAD_BUCKET: u16 = 12;
    pub const UNKNOWN_BUCKET: u16 = 15;
    pub const BUCKET_EXISTS: u16 = 16;
}

/// OpenFlow 1.5's special bucket ids.
const BUCKET_FIRST: u32 = 0xffff_fffd;
const BUCKET_LAST: u32 = 0xffff_fffe;

fn refused(code: u16) -> OpenFlowError {
    OpenFlowError::Refused(ErrorCode::GroupMod(code))
}

/// The OpenFlow error for a model refusal.
pub fn group_error(e: &crate::ofproto::group::GroupError) -> ErrorCode {
    use crate::ofproto::group::GroupError as E;
    ErrorCode::GroupMod(match e {
        E::Exists(_) => gmfc::EXISTS,
        E::Unknown(_) => gmfc::UNKNOWN,
        E::BadId(_) => gmfc::INVALID,
    })
}

fn hash_field(f: FieldId) -> Option<HashField> {
    use FieldId as W;
    Some(match f {
        W::EthSrc | W::NxmEthSrc => HashField::EthSrc,
        W::EthDst | W::NxmEthDst => HashField::EthDst,
        W::EthType | W::NxmEthType => HashField::EthType,
        W::Ipv4Src | W::NxmIpSrc => HashField::IpSrc,
        W::Ipv4Dst | W::NxmIpDst => HashField::IpDst,
        W::Ipv6Src | W::NxmIpv6Src => HashField::Ipv6Src,
        W::Ipv6Dst | W::NxmIpv6Dst => HashField::Ipv6Dst,
        W::IpProto | W::NxmIpProto => HashField::IpProto,
        W::TcpSrc | W::NxmTcpSrc => HashField::TcpSrc,
        W::TcpDst | W::NxmTcpDst => HashField::TcpDst,
        W::UdpSrc | W::NxmUdpSrc => HashField::UdpSrc,
        W::UdpDst | W::NxmUdpDst => HashField::UdpDst,
        W::SctpSrc => HashField::SctpSrc,
        W::SctpDst => HashField::SctpDst,
        _ => return None,
    })
}

fn wire_field(f: HashField) -> FieldId {
    match f {
        HashField::EthSrc => FieldId::EthSrc,
        HashField::EthDst => FieldId::EthDst,
        HashField::EthType => FieldId::EthType,
        HashField::IpSrc => FieldId::Ipv4Src,
        HashField::IpDst => FieldId::Ipv4Dst,
        HashField::Ipv6Src => FieldId::Ipv6Src,
        HashField::Ipv6Dst => FieldId::Ipv6Dst,
        HashField::IpProto => FieldId::IpProto,
        HashField::TcpSrc => FieldId::TcpSrc,
        HashField::TcpDst => FieldId::TcpDst,
        HashField::UdpSrc => FieldId::UdpSrc,
        HashField::UdpDst => FieldId::UdpDst,
        HashField::SctpSrc => FieldId::SctpSrc,
        HashField::SctpDst => FieldId::SctpDst,
    }
}

fn buckets_to_model(kind: GroupType, bs: &[wire::Bucket]) -> Result<Vec<Bucket>, OpenFlowError> {
    let mut out = Vec::with_capacity(bs.len());
    for b in bs {
        let mut actions = Vec::new();
        for a in &b.actions {
            actions.extend(action_to_model(a)?);
        }
        out.push(Bucket {
            id: b.bucket_id,
            // Only select groups weigh their buckets (OpenFlow 1.5's default weight is 1).
            weight: if kind == GroupType::Select {
                b.weight
            } else {
                0
            },
            watch_port: b.watch_port,
            watch_group: b.watch_group,
            actions,
        });
    }
    Ok(out)
}

/// A whole-group spec from the wire, validated by the text parser.
fn spec_to_model(
    group_id: u32,
    typ: u8,
    buckets: &[wire::Bucket],
    selection: &Option<wire::Selection>,
) -> Result<GroupSpec, OpenFlowError> {
    let kind = GroupType::from_wire(typ).ok_or(refused(gmfc::BAD_TYPE))?;
    let (method, method_param, fields) = match selection {
        None => (SelectionMethod::Unset, 0, Vec::new()),
        Some(s) => {
            let method = match s.method.as_str() {
                "hash" => SelectionMethod::Hash,
                "dp_hash" => SelectionMethod::DpHash,
                "" => SelectionMethod::Unset,
                _ => return Err(refused(gmfc::BAD_TYPE)),
            };
            let mut fields = Vec::new();
            for e in &s.fields {
                let f =
                    hash_field(e.field).ok_or(OpenFlowError::Refused(ErrorCode::BadMatchField))?;
                fields.push((f, e.value & f.full_mask()));
            }
            // Printed (and hashed) in OVS's field order.
            fields.sort_by_key(|(f, _)| *f);
            (method, s.param, fields)
        }
    };
    let spec = GroupSpec {
        id: group_id,
        kind,
        method,
        method_param,
        fields,
        buckets: buckets_to_model(kind, buckets)?,
    };
    revalidate(&spec)
}

/// One validation path: print as ovs-ofctl would and parse back.
fn revalidate(spec: &GroupSpec) -> Result<GroupSpec, OpenFlowError> {
    let text = format_group(spec, &NoNames, true);
    parse_group(&text, &NoNames).map_err(|e| OpenFlowError::Invalid {
        code: ErrorCode::GroupMod(gmfc::BAD_BUCKET),
        flow: text.clone(),
        why: e.to_string(),
    })
}

/// What a wire group-mod asks for.
#[derive(Clone, Debug)]
pub enum WireGroupMod {
    /// A whole-group command.
    Whole(GroupMod),
    /// OpenFlow 1.5's insert/remove bucket: needs the installed group.
    Buckets(ofp::group::GroupMod),
}

/// Converts a wire group-mod (its whole-group commands directly).
pub fn group_mod_to_model(gm: &wire::GroupMod) -> Result<WireGroupMod, OpenFlowError> {
    let command = match gm.command {
        gc::ADD => GroupModCommand::Add,
        gc::MODIFY => GroupModCommand::Modify { may_create: false },
        gc::ADD_OR_MOD => GroupModCommand::Modify { may_create: true },
        gc::DELETE => {
            return Ok(WireGroupMod::Whole(GroupMod {
                command: GroupModCommand::Delete,
                spec: GroupSpec {
                    id: gm.group_id,
                    kind: GroupType::All,
                    method: SelectionMethod::Unset,
                    method_param: 0,
                    fields: Vec::new(),
                    buckets: Vec::new(),
                },
            }));
        }
        gc::INSERT_BUCKET | gc::REMOVE_BUCKET => return Ok(WireGroupMod::Buckets(gm.clone())),
        _ => return Err(refused(gmfc::BAD_COMMAND)),
    };
    if gm.group_id == OFPG_ALL || gm.group_id > crate::ofproto::group::OFPG_MAX {
        return Err(refused(gmfc::INVALID));
    }
    Ok(WireGroupMod::Whole(GroupMod {
        command,
        spec: spec_to_model(gm.group_id, gm.typ, &gm.buckets, &gm.selection)?,
    }))
}

/// Resolves an insert/remove-bucket command against the installed group `cur` (`None`: no
/// such group) into a modify.
pub fn apply_bucket_command(
    gm: &wire::GroupMod,
    cur: Option<&GroupSpec>,
) -> Result<GroupMod, OpenFlowError> {
    let cur = cur.ok_or(refused(gmfc::UNKNOWN))?;
    let mut spec = cur.clone();
    let at = |id: u32| spec.buckets.iter().position(|b| b.id == id);
    if gm.command == gc::INSERT_BUCKET {
        let new = buckets_to_model(cur.kind, &gm.buckets)?;
        if new.iter().any(|b| cur.buckets.iter().any(|c| c.id == b.id)) {
            return Err(refused(gmfc::BUCKET_EXISTS));
        }
        let pos = match gm.command_bucket_id {
            BUCKET_FIRST => 0,
            BUCKET_LAST | wire::BUCKET_ALL => spec.buckets.len(),
            id => at(id).ok_or(refused(gmfc::UNKNOWN_BUCKET))?,
        };
        spec.buckets.splice(pos..pos, new);
    } else {
        match gm.command_bucket_id {
            wire::BUCKET_ALL => spec.buckets.clear(),
            BUCKET_FIRST => {
                if !spec.buckets.is_empty() {
                    spec.buckets.remove(0);
                }
            }
            BUCKET_LAST => {
                spec.buckets.pop();
            }
            id => {
                let i = at(id).ok_or(refused(gmfc::UNKNOWN_BUCKET))?;
                spec.buckets.remove(i);
            }
        }
    }
    Ok(GroupMod {
        command: GroupModCommand::Modify { may_create: false },
        spec: revalidate(&spec)?,
    })
}

/// An installed group as a group-desc entry for version `v`.
pub fn group_desc(spec: &GroupSpec, v: Version) -> Result<wire::GroupDesc, OpenFlowError> {
    let mut buckets = Vec::with_capacity(spec.buckets.len());
    for b in &spec.buckets {
        buckets.push(wire::Bucket {
            bucket_id: b.id,
            weight: b.weight,
            watch_port: b.watch_port,
            watch_group: b.watch_group,
            actions: actions_to_wire(&b.actions, v)?,
        });
    }
    let selection =
        (spec.method != SelectionMethod::Unset && v >= Version::Of15).then(|| wire::Selection {
            method: spec.method.name().to_owned(),
            param: spec.method_param,
            fields: spec
                .fields
                .iter()
                .map(|(f, m)| MatchEntry::exact(wire_field(*f), *m))
                .collect(),
        });
    Ok(wire::GroupDesc {
        typ: spec.kind.wire(),
        group_id: spec.id,
        buckets,
        selection,
    })
}

#[cfg(test)]
mod tests;
