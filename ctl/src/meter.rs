//! Meter commands (ovs-ofctl's): add-meter, mod-meter, del-meter(s), dump-meters, meter-stats
//! — each one `MeterService` call.
//!
//! Meters are sent as text (`meter=1,pktps,bands=type=drop,rate=1000`); the daemon parses
//! them. The dumps print what `ovs-ofctl -O OpenFlow13 dump-meters` / `meter-stats` print
//! below their reply header line.

use proto::v1 as pb;
use proto::v1::meter_service_client::MeterServiceClient;
use serde_json::json;

use crate::output::emit;
use crate::{Ctx, rpc};

async fn mod_meter(
    ctx: &Ctx,
    bridge: String,
    command: pb::MeterCommand,
    meter: String,
) -> anyhow::Result<()> {
    let mut c = MeterServiceClient::new(ctx.channel().await?);
    let r = c
        .mod_meter(pb::ModMeterRequest {
            bridge,
            command: command as i32,
            meter,
        })
        .await
        .map_err(rpc)?
        .into_inner();
    emit(ctx.format, json!({"meters": r.meters}), String::new)
}

/// add-meter BR METER
pub async fn add_meter(ctx: &Ctx, bridge: String, meter: String) -> anyhow::Result<()> {
    mod_meter(ctx, bridge, pb::MeterCommand::Add, meter).await
}

/// mod-meter BR METER
pub async fn mod_meter_cmd(ctx: &Ctx, bridge: String, meter: String) -> anyhow::Result<()> {
    mod_meter(ctx, bridge, pb::MeterCommand::Modify, meter).await
}

/// del-meter / del-meters BR [meter=N]
pub async fn del_meter(ctx: &Ctx, bridge: String, meter: Option<String>) -> anyhow::Result<()> {
    mod_meter(
        ctx,
        bridge,
        pb::MeterCommand::Delete,
        meter.unwrap_or_default(),
    )
    .await
}

async fn dump(
    ctx: &Ctx,
    bridge: String,
    meter: Option<String>,
) -> anyhow::Result<Vec<pb::MeterEntry>> {
    let mut c = MeterServiceClient::new(ctx.channel().await?);
    Ok(c.dump_meters(pb::DumpMetersRequest {
        bridge,
        meter: meter.unwrap_or_default(),
    })
    .await
    .map_err(rpc)?
    .into_inner()
    .meters)
}

/// A one-line meter (`meter=1,pktps,burst,bands=type=drop,rate=5,burst_size=2`) as
/// ovs-ofctl's dump-meters prints it: `meter=1 pktps burst bands=` then a line per band.
pub fn format_dump(line: &str) -> String {
    let (head, bands) = line.split_once(",bands=").unwrap_or((line, ""));
    let mut s = head.replace(',', " ");
    s.push_str(" bands=");
    for (i, band) in bands.split(",type=").enumerate() {
        let band = if i == 0 {
            band.to_owned()
        } else {
            format!("type={band}")
        };
        s.push('\n');
        s.push_str(&band.replace(',', " "));
    }
    s.push('\n');
    s
}

/// dump-meters BR [meter=N]
pub async fn dump_meters(ctx: &Ctx, bridge: String, meter: Option<String>) -> anyhow::Result<()> {
    let meters = dump(ctx, bridge, meter).await?;
    let j: Vec<_> = meters
        .iter()
        .map(|m| json!({"meter_id": m.meter_id, "meter": m.meter}))
        .collect();
    emit(ctx.format, json!(j), || {
        meters.iter().map(|m| format_dump(&m.meter)).collect()
    })
}

/// meter-stats BR [meter=N]
pub async fn meter_stats(ctx: &Ctx, bridge: String, meter: Option<String>) -> anyhow::Result<()> {
    let meters = dump(ctx, bridge, meter).await?;
    let j: Vec<_> = meters
        .iter()
        .map(|m| {
            json!({
                "meter_id": m.meter_id, "flow_count": m.flow_count,
                "packet_in_count": m.packets, "byte_in_count": m.bytes,
                "duration_ms": m.duration_ms,
                "bands": m.bands.iter().map(|b| json!({"packet_count": b.packets, "byte_count": b.bytes})).collect::<Vec<_>>(),
            })
        })
        .collect();
    emit(ctx.format, json!(j), || {
        meters
            .iter()
            .map(|m| {
                let mut s = format!(
                    "meter:{} flow_count:{} packet_in_count:{} byte_in_count:{} duration:{}.{:03}s bands:\n",
                    m.meter_id,
                    m.flow_count,
                    m.packets,
                    m.bytes,
                    m.duration_ms / 1000,
                    m.duration_ms % 1000
                );
                for (i, b) in m.bands.iter().enumerate() {
                    s.push_str(&format!(
                        "{i}: packet_count:{} byte_count:{}\n",
                        b.packets, b.bytes
                    ));
                }
                s
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn dump_meters_prints_as_ovs_ofctl() {
        assert_eq!(
            super::format_dump("meter=1,pktps,burst,stats,bands=type=drop,rate=5,burst_size=2"),
            "meter=1 pktps burst stats bands=\ntype=drop rate=5 burst_size=2\n"
        );
        assert_eq!(
            super::format_dump("meter=2,kbps,bands=type=drop,rate=5,type=drop,rate=50"),
            "meter=2 kbps bands=\ntype=drop rate=5\ntype=drop rate=50\n"
        );
    }
}
