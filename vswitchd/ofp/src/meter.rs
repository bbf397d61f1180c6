//! Meters on the wire (OpenFlow 1.3+): `OFPT_METER_MOD` and the meter multipart bodies
//! (config, stats, features).
//!
//! A meter is an id, flags (`kbps` or `pktps`, `burst`, `stats`) and a list of bands; a band
//! has a type (drop, DSCP remark, experimenter), a rate and a burst size, plus the type's own
//! 4 bytes (the remark's precedence level, the experimenter's id). Every structure here has one
//! layout in 1.3, 1.4 and 1.5.

use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, Version};

/// `OFPMC13_*` meter-mod commands.
pub mod mc {
    pub const ADD: u16 = 0;
    pub const MODIFY: u16 = 1;
    pub const DELETE: u16 = 2;
}

/// `OFPMF13_*` meter flags.
pub mod mf {
    pub const KBPS: u16 = 1;
    pub const PKTPS: u16 = 2;
    pub const BURST: u16 = 4;
    pub const STATS: u16 = 8;
}

/// `OFPMBT13_*` band types.
pub mod mbt {
    pub const DROP: u16 = 1;
    pub const DSCP_REMARK: u16 = 2;
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// "Every meter" in deletes and requests.
pub const OFPM_ALL: u32 = 0xffff_ffff;

/// One band.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Band {
    pub typ: u16,
    pub rate: u32,
    pub burst_size: u32,
    /// The DSCP remark's precedence level (0 for other types).
    pub prec_level: u8,
    /// The experimenter band's id (0 for other types).
    pub experimenter: u32,
}

/// `OFPT_METER_MOD`, and one meter of a meter-config reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeterMod {
    pub command: u16,
    pub flags: u16,
    pub meter_id: u32,
    pub bands: Vec<Band>,
}

/// One meter of a meter-config reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeterConfig {
    pub flags: u16,
    pub meter_id: u32,
    pub bands: Vec<Band>,
}

/// One meter of a meter-stats reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct MeterStats {
    pub meter_id: u32,
    pub flow_count: u32,
    pub packet_in_count: u64,
    pub byte_in_count: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    /// (packets, bytes) each band acted on.
    pub bands: Vec<(u64, u64)>,
}

/// The meter-features reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct MeterFeatures {
    pub max_meter: u32,
    /// Bitmap of `1 << OFPMBT13_*`.
    pub band_types: u32,
    /// `OFPMF13_*` flags supported.
    pub capabilities: u32,
    pub max_bands: u8,
    pub max_color: u8,
}

fn decode_bands(mut r: Reader<'_>) -> Result<Vec<Band>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        let typ = r.u16()?;
        let len = usize::from(r.u16()?);
        if len != 16 {
            return Err(DecodeError::BadLength {
                what: "meter band",
                len,
            });
        }
        let rate = r.u32()?;
        let burst_size = r.u32()?;
        let mut b = Band {
            typ,
            rate,
            burst_size,
            prec_level: 0,
            experimenter: 0,
        };
        match typ {
            mbt::DSCP_REMARK => {
                b.prec_level = r.u8()?;
                r.skip(3)?;
            }
            mbt::EXPERIMENTER => b.experimenter = r.u32()?,
            _ => r.skip(4)?,
        }
        out.push(b);
    }
    Ok(out)
}

fn encode_bands(w: &mut Writer, bands: &[Band]) {
    for b in bands {
        w.u16(b.typ);
        w.u16(16);
        w.u32(b.rate);
        w.u32(b.burst_size);
        match b.typ {
            mbt::DSCP_REMARK => {
                w.u8(b.prec_level);
                w.zeros(3);
            }
            mbt::EXPERIMENTER => w.u32(b.experimenter),
            _ => w.zeros(4),
        }
    }
}

fn not_in_10(v: Version) -> Result<(), EncodeError> {
    if v == Version::Of10 {
        return Err(EncodeError::NotInVersion("meters", v));
    }
    Ok(())
}

impl MeterMod {
    pub fn decode(r: &mut Reader<'_>) -> Result<MeterMod, DecodeError> {
        Ok(MeterMod {
            command: r.u16()?,
            flags: r.u16()?,
            meter_id: r.u32()?,
            bands: decode_bands(r.sub(r.remaining(), "meter bands")?)?,
        })
    }

    pub fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        not_in_10(v)?;
        w.u16(self.command);
        w.u16(self.flags);
        w.u32(self.meter_id);
        encode_bands(w, &self.bands);
        Ok(())
    }
}

impl MeterConfig {
    pub fn decode(r: &mut Reader<'_>) -> Result<MeterConfig, DecodeError> {
        let len = usize::from(r.u16()?);
        if len < 8 {
            return Err(DecodeError::BadLength {
                what: "meter config",
                len,
            });
        }
        let mut b = r.sub(len - 2, "meter config")?;
        Ok(MeterConfig {
            flags: b.u16()?,
            meter_id: b.u32()?,
            bands: decode_bands(b)?,
        })
    }

    pub fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        let start = w.len();
        w.u16(0);
        w.u16(self.flags);
        w.u32(self.meter_id);
        encode_bands(w, &self.bands);
        w.patch_len(start, start)
    }
}

impl MeterStats {
    pub fn decode(r: &mut Reader<'_>) -> Result<MeterStats, DecodeError> {
        let meter_id = r.u32()?;
        let len = usize::from(r.u16()?);
        if len < 40 || (len - 40) % 16 != 0 {
            return Err(DecodeError::BadLength {
                what: "meter stats",
                len,
            });
        }
        let mut b = r.sub(len - 6, "meter stats")?;
        b.skip(6)?;
        let mut s = MeterStats {
            meter_id,
            flow_count: b.u32()?,
            packet_in_count: b.u64()?,
            byte_in_count: b.u64()?,
            duration_sec: b.u32()?,
            duration_nsec: b.u32()?,
            bands: Vec::new(),
        };
        while !b.is_empty() {
            s.bands.push((b.u64()?, b.u64()?));
        }
        Ok(s)
    }

    pub fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        let start = w.len();
        w.u32(self.meter_id);
        w.u16(0);
        w.zeros(6);
        w.u32(self.flow_count);
        w.u64(self.packet_in_count);
        w.u64(self.byte_in_count);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
        for (p, b) in &self.bands {
            w.u64(*p);
            w.u64(*b);
        }
        w.patch_len(start + 4, start)
    }
}

impl MeterFeatures {
    pub fn decode(r: &mut Reader<'_>) -> Result<MeterFeatures, DecodeError> {
        let f = MeterFeatures {
            max_meter: r.u32()?,
            band_types: r.u32()?,
            capabilities: r.u32()?,
            max_bands: r.u8()?,
            max_color: r.u8()?,
        };
        r.skip(2)?;
        Ok(f)
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.max_meter);
        w.u32(self.band_types);
        w.u32(self.capabilities);
        w.u8(self.max_bands);
        w.u8(self.max_color);
        w.zeros(2);
    }
}

#[cfg(test)]
mod tests;
