//! TLV-map commands (ovs-ofctl's): add-tlv-map, del-tlv-map, dump-tlv-map — which Geneve
//! options a bridge matches and sets as `tun_metadataN`. Each is one `FlowService` call;
//! the daemon parses the mappings.

use proto::v1 as pb;
use proto::v1::flow_service_client::FlowServiceClient;
use serde_json::json;

use crate::output::emit;
use crate::{Ctx, rpc};

async fn mod_tlv_map(
    ctx: &Ctx,
    bridge: String,
    command: pb::TlvMapCommand,
    maps: String,
) -> anyhow::Result<()> {
    let mut c = FlowServiceClient::new(ctx.channel().await?);
    c.mod_tlv_map(pb::ModTlvMapRequest {
        bridge,
        command: command as i32,
        maps,
    })
    .await
    .map_err(rpc)?;
    Ok(())
}

/// add-tlv-map BR MAPS
pub async fn add_tlv_map(ctx: &Ctx, bridge: String, maps: String) -> anyhow::Result<()> {
    mod_tlv_map(ctx, bridge, pb::TlvMapCommand::Add, maps).await
}

/// del-tlv-map BR [MAPS]: the fields MAPS names, or every mapping.
pub async fn del_tlv_map(ctx: &Ctx, bridge: String, maps: Option<String>) -> anyhow::Result<()> {
    match maps {
        Some(maps) => mod_tlv_map(ctx, bridge, pb::TlvMapCommand::Delete, maps).await,
        None => mod_tlv_map(ctx, bridge, pb::TlvMapCommand::Clear, String::new()).await,
    }
}

/// dump-tlv-map BR: the map as `ovs-ofctl dump-tlv-map` prints it (without its message
/// header line).
pub async fn dump_tlv_map(ctx: &Ctx, bridge: String) -> anyhow::Result<()> {
    let mut c = FlowServiceClient::new(ctx.channel().await?);
    let r = c
        .dump_tlv_map(pb::DumpTlvMapRequest { bridge })
        .await
        .map_err(rpc)?
        .into_inner();
    let maps: Vec<_> = r
        .maps
        .iter()
        .map(|m| {
            json!({
                "class": m.option_class,
                "type": m.option_type,
                "len": m.option_len,
                "field": format!("tun_metadata{}", m.index),
            })
        })
        .collect();
    emit(
        ctx.format,
        json!({
            "max_option_space": r.max_option_space,
            "max_fields": r.max_fields,
            "maps": maps,
        }),
        || format_map(&r),
    )
}

/// OVS's `ofputil_format_tlv_table_reply` body.
fn format_map(r: &pb::DumpTlvMapResponse) -> String {
    let allocated: u32 = r.maps.iter().map(|m| m.option_len).sum();
    let mut s = format!(
        " max option space={} max fields={}\n allocated option space={allocated}\n\n",
        r.max_option_space, r.max_fields
    );
    s.push_str(" mapping table:\n  class  type  length  match field\n");
    s.push_str(" ------  ----  ------  --------------");
    for m in &r.maps {
        s.push_str(&format!(
            "\n {:>6}  {:>4}  {:>6}  tun_metadata{}",
            c_alt_hex(m.option_class),
            c_alt_hex(m.option_type),
            m.option_len,
            m.index
        ));
    }
    s.push('\n');
    s
}

/// C's `%#x`: `0x` before every value but zero.
fn c_alt_hex(v: u32) -> String {
    if v == 0 {
        "0".to_owned()
    } else {
        format!("{v:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_prints_as_ovs_ofctl_prints_it() {
        let r = pb::DumpTlvMapResponse {
            max_option_space: 64,
            max_fields: 8,
            maps: vec![
                pb::TlvMapping {
                    option_class: 0xffff,
                    option_type: 0,
                    option_len: 4,
                    index: 0,
                },
                pb::TlvMapping {
                    option_class: 0x102,
                    option_type: 0x80,
                    option_len: 8,
                    index: 3,
                },
            ],
        };
        assert_eq!(
            format_map(&r),
            " max option space=64 max fields=8\n allocated option space=12\n\n mapping table:\n  \
             class  type  length  match field\n ------  ----  ------  --------------\n \
             0xffff     0       4  tun_metadata0\n  0x102  0x80       8  tun_metadata3\n"
        );
    }
}
