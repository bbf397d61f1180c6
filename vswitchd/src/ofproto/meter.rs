//! OpenFlow meters: a bridge's meter table, in ovs-ofctl's syntax.
//!
//! A meter (`meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100`) is an id in
//! 1..=`OFPM_MAX`, a unit (`kbps` or `pktps`), the `burst` and `stats` flags, and bands, each a
//! type (`drop`, `dscp_remark` with `prec_level`), a rate and a burst size (used only with
//! `burst`; without it the datapath takes one second's worth). The installed meter holds the
//! datapath's token buckets ([`fastpath::meter::Meter`]), shared by every megaflow whose
//! actions name it; a modify installs new buckets (counters restart, as in OVS).
//!
//! [`parse_meter`] reads what `ovs-ofctl add-meter` takes; [`format_meter`] writes the same
//! one-line form back (the config store keeps meters as those lines).

use fastpath::meter::{BandConfig, BandKind, Meter, MeterUnit};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Highest meter id (OpenFlow's `OFPM_MAX`).
pub const OFPM_MAX: u32 = 0xffff_0000;
/// "Every meter" in deletes and requests.
pub const OFPM_ALL: u32 = 0xffff_ffff;
/// Most meters per bridge (OVS's userspace datapath's limit).
pub const MAX_METERS: usize = 1 << 18;
/// Most bands per meter.
pub const MAX_BANDS: usize = 8;

/// A meter as configured.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeterSpec {
    pub id: u32,
    pub unit: MeterUnit,
    pub burst: bool,
    pub stats: bool,
    pub bands: Vec<BandConfig>,
}

/// Why a meter text or meter-mod was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeterError {
    #[error("meter {0} already exists")]
    Exists(u32),
    #[error("no meter {0}")]
    Unknown(u32),
    #[error("meter {0} is out of range (meters are 1..4294901760)")]
    BadId(u32),
    #[error("a meter needs at least one band, and at most {MAX_BANDS}")]
    BadBands,
    #[error("a band's rate must be above 0")]
    BadRate,
    #[error("a bridge holds at most {MAX_METERS} meters")]
    TooMany,
    #[error("only drop bands are supported (as in OVS's userspace datapath)")]
    BadBand,
    #[error("'{token}' is not valid in a meter: {why}")]
    Syntax { token: String, why: &'static str },
}

fn syntax(token: &str, why: &'static str) -> MeterError {
    MeterError::Syntax {
        token: token.to_owned(),
        why,
    }
}

fn number(token: &str, v: &str) -> Result<u32, MeterError> {
    let n = if let Some(h) = v.strip_prefix("0x") {
        u32::from_str_radix(h, 16)
    } else {
        v.parse()
    };
    n.map_err(|_| syntax(token, "expected a 32-bit number"))
}

/// Parses a meter id selector for del-meter / dump-meters: empty, `meter=all` or `all` is
/// every meter ([`OFPM_ALL`]).
pub fn parse_meter_selector(s: &str) -> Result<u32, MeterError> {
    let v = s.trim();
    let v = v.strip_prefix("meter=").unwrap_or(v);
    if v.is_empty() || v == "all" {
        return Ok(OFPM_ALL);
    }
    number(s, v)
}

/// Parses a meter in ovs-ofctl's `add-meter` syntax.
pub fn parse_meter(s: &str) -> Result<MeterSpec, MeterError> {
    let s = s.trim();
    let (head, bands) = match s.find("bands=") {
        Some(i) => (&s[..i], &s[i + "bands=".len()..]),
        None => (s, ""),
    };
    let mut spec = MeterSpec {
        id: 0,
        unit: MeterUnit::Kbps,
        burst: false,
        stats: false,
        bands: Vec::new(),
    };
    let mut id = None;
    for tok in head.split([',', ' ']).filter(|t| !t.is_empty()) {
        match tok.split_once('=') {
            Some(("meter", v)) => id = Some(number(tok, v)?),
            None if tok == "kbps" => spec.unit = MeterUnit::Kbps,
            None if tok == "pktps" => spec.unit = MeterUnit::Pktps,
            None if tok == "burst" => spec.burst = true,
            None if tok == "stats" => spec.stats = true,
            _ => {
                return Err(syntax(
                    tok,
                    "a meter takes meter=N, kbps, pktps, burst, stats and bands=",
                ));
            }
        }
    }
    spec.id = id.ok_or_else(|| syntax(s, "must specify a meter id (meter=N)"))?;
    if spec.id == 0 || spec.id > OFPM_MAX {
        return Err(MeterError::BadId(spec.id));
    }
    for tok in bands.split([',', ' ']).filter(|t| !t.is_empty()) {
        let (k, v) = tok.split_once('=').ok_or_else(|| {
            syntax(
                tok,
                "a band takes type=, rate=, burst_size= and prec_level=",
            )
        })?;
        if k == "type" {
            let kind = match v {
                "drop" => BandKind::Drop,
                "dscp_remark" => BandKind::DscpRemark { prec_level: 0 },
                _ => return Err(syntax(tok, "band types are drop and dscp_remark")),
            };
            spec.bands.push(BandConfig {
                kind,
                rate: 0,
                burst: 0,
            });
            continue;
        }
        let b = spec
            .bands
            .last_mut()
            .ok_or_else(|| syntax(tok, "a band starts with type="))?;
        match k {
            "rate" => b.rate = number(tok, v)?,
            "burst_size" => b.burst = number(tok, v)?,
            "prec_level" => match &mut b.kind {
                BandKind::DscpRemark { prec_level } => {
                    *prec_level = u8::try_from(number(tok, v)?)
                        .map_err(|_| syntax(tok, "prec_level is 8 bits"))?;
                }
                BandKind::Drop => {
                    return Err(syntax(tok, "only dscp_remark bands have prec_level"));
                }
            },
            _ => {
                return Err(syntax(
                    tok,
                    "a band takes type=, rate=, burst_size= and prec_level=",
                ));
            }
        }
    }
    check(&spec)?;
    Ok(spec)
}

/// The checks a meter-mod from any channel passes.
pub fn check(spec: &MeterSpec) -> Result<(), MeterError> {
    if spec.id == 0 || spec.id > OFPM_MAX {
        return Err(MeterError::BadId(spec.id));
    }
    if spec.bands.is_empty() || spec.bands.len() > MAX_BANDS {
        return Err(MeterError::BadBands);
    }
    if spec.bands.iter().any(|b| b.rate == 0) {
        return Err(MeterError::BadRate);
    }
    if spec.bands.iter().any(|b| b.kind != BandKind::Drop) {
        return Err(MeterError::BadBand);
    }
    Ok(())
}

/// Prints a meter in the one-line form [`parse_meter`] reads.
pub fn format_meter(m: &MeterSpec) -> String {
    let mut s = format!(
        "meter={},{}",
        m.id,
        match m.unit {
            MeterUnit::Kbps => "kbps",
            MeterUnit::Pktps => "pktps",
        }
    );
    if m.burst {
        s.push_str(",burst");
    }
    if m.stats {
        s.push_str(",stats");
    }
    s.push_str(",bands=");
    let bands: Vec<String> = m
        .bands
        .iter()
        .map(|b| {
            let mut t = match b.kind {
                BandKind::Drop => format!("type=drop,rate={}", b.rate),
                BandKind::DscpRemark { .. } => format!("type=dscp_remark,rate={}", b.rate),
            };
            if b.burst != 0 {
                t.push_str(&format!(",burst_size={}", b.burst));
            }
            if let BandKind::DscpRemark { prec_level } = b.kind {
                t.push_str(&format!(",prec_level={prec_level}"));
            }
            t
        })
        .collect();
    s.push_str(&bands.join(","));
    s
}

/// An installed meter.
#[derive(Debug)]
pub struct InstalledMeter {
    pub spec: MeterSpec,
    pub created_ms: u64,
    /// The datapath's buckets and counters.
    pub meter: Arc<Meter>,
}

impl InstalledMeter {
    /// Installs `spec` at `now_ms`; the buckets start full.
    pub fn new(spec: MeterSpec, now_ms: u64) -> InstalledMeter {
        // Without `burst` the burst is one second's worth (the datapath's default).
        let bands: Vec<BandConfig> = spec
            .bands
            .iter()
            .map(|b| BandConfig {
                burst: if spec.burst { b.burst } else { 0 },
                ..*b
            })
            .collect();
        InstalledMeter {
            meter: Arc::new(Meter::new(spec.unit, &bands, fastpath::meter::clock_ns())),
            spec,
            created_ms: now_ms,
        }
    }
}

/// The meters an action list's `meter:N` names (not `controller(meter_id=N)`'s, which, as in
/// OVS, may name a missing meter and does not tie its flow to the meter).
pub fn metered(actions: &[crate::ofproto::OfAction]) -> impl Iterator<Item = u32> + '_ {
    actions.iter().filter_map(|a| match a {
        crate::ofproto::OfAction::Meter(m) => Some(*m),
        _ => None,
    })
}

/// What a meter-mod does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeterMod {
    Add(MeterSpec),
    Modify(MeterSpec),
    /// Deletes meter `id` ([`OFPM_ALL`]: every meter).
    Delete(u32),
}

/// A bridge's meters, by id.
#[derive(Clone, Debug, Default)]
pub struct MeterTable {
    meters: BTreeMap<u32, Arc<InstalledMeter>>,
}

impl MeterTable {
    pub fn get(&self, id: u32) -> Option<&Arc<InstalledMeter>> {
        self.meters.get(&id)
    }

    /// Every meter, by ascending id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<InstalledMeter>> {
        self.meters.values()
    }

    pub fn len(&self) -> usize {
        self.meters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meters.is_empty()
    }

    /// Checks and applies a meter-mod; returns the ids it removed or replaced.
    pub fn apply(&mut self, mm: &MeterMod, now_ms: u64) -> Result<Vec<u32>, MeterError> {
        match mm {
            MeterMod::Delete(OFPM_ALL) => {
                let ids = self.meters.keys().copied().collect();
                self.meters.clear();
                Ok(ids)
            }
            MeterMod::Delete(id) => Ok(self
                .meters
                .remove(id)
                .map(|_| vec![*id])
                .unwrap_or_default()),
            MeterMod::Add(spec) | MeterMod::Modify(spec) => {
                check(spec)?;
                let exists = self.meters.contains_key(&spec.id);
                match mm {
                    MeterMod::Add(_) if exists => return Err(MeterError::Exists(spec.id)),
                    MeterMod::Modify(_) if !exists => return Err(MeterError::Unknown(spec.id)),
                    _ => {}
                }
                if !exists && self.meters.len() >= MAX_METERS {
                    return Err(MeterError::TooMany);
                }
                self.meters
                    .insert(spec.id, Arc::new(InstalledMeter::new(spec.clone(), now_ms)));
                Ok(if exists { vec![spec.id] } else { Vec::new() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ovs_ofctl_syntax_parses_and_prints_back() {
        for s in [
            "meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100",
            "meter=2,pktps,bands=type=drop,rate=10",
            "meter=3,kbps,bands=type=drop,rate=5,type=drop,rate=50",
        ] {
            let m = parse_meter(s).unwrap();
            assert_eq!(format_meter(&m), s);
        }
        let m = parse_meter("meter=7 pktps stats bands=type=drop rate=3").unwrap();
        assert_eq!((m.id, m.unit, m.stats), (7, MeterUnit::Pktps, true));
        for bad in [
            "meter=0,kbps,bands=type=drop,rate=1",
            "meter=1,kbps",
            "meter=1,kbps,bands=type=drop,rate=0",
            "meter=1,mbps,bands=type=drop,rate=1",
            "meter=1,bands=rate=1",
            "meter=1,bands=type=drop,rate=1,prec_level=2",
            "kbps,bands=type=drop,rate=1",
            // Parsed, but the datapath drops only.
            "meter=3,kbps,bands=type=dscp_remark,rate=5,prec_level=1",
        ] {
            assert!(parse_meter(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_meter_selector("").unwrap(), OFPM_ALL);
        assert_eq!(parse_meter_selector("meter=5").unwrap(), 5);
    }

    #[test]
    fn meter_mods_follow_openflow() {
        let spec = |id| parse_meter(&format!("meter={id},pktps,bands=type=drop,rate=1")).unwrap();
        let mut t = MeterTable::default();
        assert_eq!(t.apply(&MeterMod::Add(spec(1)), 0), Ok(vec![]));
        assert_eq!(
            t.apply(&MeterMod::Add(spec(1)), 0),
            Err(MeterError::Exists(1))
        );
        assert_eq!(
            t.apply(&MeterMod::Modify(spec(2)), 0),
            Err(MeterError::Unknown(2))
        );
        assert_eq!(t.apply(&MeterMod::Modify(spec(1)), 0), Ok(vec![1]));
        t.apply(&MeterMod::Add(spec(3)), 0).unwrap();
        assert_eq!(t.apply(&MeterMod::Delete(OFPM_ALL), 0), Ok(vec![1, 3]));
        assert!(t.is_empty());
    }
}
