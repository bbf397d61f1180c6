//! Meters between the wire and the model: a `METER_MOD` becomes the model's
//! [`MeterMod`], checked by the same rules as the text syntax, and an installed meter becomes
//! meter-config and meter-stats entries. Refusals carry OVS's `OFPMMFC_*` codes.

use super::OpenFlowError;
use crate::ofproto::meter::{MeterError, MeterMod, MeterSpec, OFPM_ALL, check};
use crate::switch::MeterEntry;
use fastpath::meter::{BandConfig, BandKind, MeterUnit};
use ofp::ErrorCode;
use ofp::meter::{self as wire, mbt, mc, mf};

/// `OFPMMFC_*` codes used here.
mod mmfc {
    pub const EXISTS: u16 = 1;
    pub const INVALID: u16 = 2;
    pub const UNKNOWN: u16 = 3;
    pub const BAD_COMMAND: u16 = 4;
    pub const BAD_FLAGS: u16 = 5;
    pub const BAD_RATE: u16 = 6;
    pub const BAD_BAND: u16 = 8;
    pub const OUT_OF_METERS: u16 = 10;
    pub const OUT_OF_BANDS: u16 = 11;
}

/// The OpenFlow error for a model refusal.
pub fn meter_error(e: &MeterError) -> ErrorCode {
    ErrorCode::MeterMod(match e {
        MeterError::Exists(_) => mmfc::EXISTS,
        MeterError::Unknown(_) => mmfc::UNKNOWN,
        MeterError::BadId(_) => mmfc::INVALID,
        MeterError::BadBands => mmfc::OUT_OF_BANDS,
        MeterError::BadRate => mmfc::BAD_RATE,
        MeterError::TooMany => mmfc::OUT_OF_METERS,
        MeterError::BadBand | MeterError::Syntax { .. } => mmfc::BAD_BAND,
    })
}

fn refused(code: u16) -> OpenFlowError {
    OpenFlowError::Refused(ErrorCode::MeterMod(code))
}

/// Converts a wire meter-mod.
pub fn meter_mod_to_model(m: &wire::MeterMod) -> Result<MeterMod, OpenFlowError> {
    if m.command == mc::DELETE {
        return Ok(MeterMod::Delete(m.meter_id));
    }
    if m.command != mc::ADD && m.command != mc::MODIFY {
        return Err(refused(mmfc::BAD_COMMAND));
    }
    let unit = match m.flags & (mf::KBPS | mf::PKTPS) {
        mf::KBPS => MeterUnit::Kbps,
        mf::PKTPS => MeterUnit::Pktps,
        _ => return Err(refused(mmfc::BAD_FLAGS)),
    };
    if m.flags & !(mf::KBPS | mf::PKTPS | mf::BURST | mf::STATS) != 0 {
        return Err(refused(mmfc::BAD_FLAGS));
    }
    let mut bands = Vec::with_capacity(m.bands.len());
    for b in &m.bands {
        let kind = match b.typ {
            mbt::DROP => BandKind::Drop,
            mbt::DSCP_REMARK => BandKind::DscpRemark {
                prec_level: b.prec_level,
            },
            _ => return Err(refused(mmfc::BAD_BAND)),
        };
        bands.push(BandConfig {
            kind,
            rate: b.rate,
            burst: b.burst_size,
        });
    }
    let spec = MeterSpec {
        id: m.meter_id,
        unit,
        burst: m.flags & mf::BURST != 0,
        stats: m.flags & mf::STATS != 0,
        bands,
    };
    if spec.id == OFPM_ALL {
        return Err(refused(mmfc::INVALID));
    }
    check(&spec).map_err(|e| OpenFlowError::Refused(meter_error(&e)))?;
    Ok(if m.command == mc::ADD {
        MeterMod::Add(spec)
    } else {
        MeterMod::Modify(spec)
    })
}

fn flags(s: &MeterSpec) -> u16 {
    let mut f = match s.unit {
        MeterUnit::Kbps => mf::KBPS,
        MeterUnit::Pktps => mf::PKTPS,
    };
    if s.burst {
        f |= mf::BURST;
    }
    if s.stats {
        f |= mf::STATS;
    }
    f
}

/// An installed meter as a meter-config entry.
pub fn meter_config(e: &MeterEntry) -> wire::MeterConfig {
    let s = &e.meter.spec;
    wire::MeterConfig {
        flags: flags(s),
        meter_id: s.id,
        bands: s
            .bands
            .iter()
            .map(|b| wire::Band {
                typ: match b.kind {
                    BandKind::Drop => mbt::DROP,
                    BandKind::DscpRemark { .. } => mbt::DSCP_REMARK,
                },
                rate: b.rate,
                burst_size: b.burst,
                prec_level: match b.kind {
                    BandKind::DscpRemark { prec_level } => prec_level,
                    BandKind::Drop => 0,
                },
                experimenter: 0,
            })
            .collect(),
    }
}

/// An installed meter as a meter-stats entry (`flow_count`: rules that use it).
pub fn meter_stats(e: &MeterEntry, flow_count: u32) -> wire::MeterStats {
    let st = e.meter.meter.stats();
    wire::MeterStats {
        meter_id: e.meter.spec.id,
        flow_count,
        packet_in_count: st.packets,
        byte_in_count: st.bytes,
        duration_sec: (e.duration_ms / 1000) as u32,
        duration_nsec: ((e.duration_ms % 1000) * 1_000_000) as u32,
        bands: st.bands,
    }
}

/// The meter features: OVS's userspace datapath's (drop bands, every flag).
pub fn meter_features() -> wire::MeterFeatures {
    wire::MeterFeatures {
        max_meter: crate::ofproto::meter::MAX_METERS as u32,
        band_types: 1 << mbt::DROP,
        capabilities: u32::from(mf::KBPS | mf::PKTPS | mf::BURST | mf::STATS),
        max_bands: crate::ofproto::meter::MAX_BANDS as u8,
        max_color: 0,
    }
}
