//! One bridge: its ports (by name and by OpenFlow number) and its stored flow rules.
//!
//! `Bridge` methods validate and *plan* a change, returning the new record without touching
//! `self`; the [`Switch`](super::Switch) commits the plan to the store and only then calls the
//! matching `apply_*` method. That split is what keeps memory from ever running ahead of the
//! durable database: a failed commit leaves the bridge exactly as it was.

use std::collections::BTreeMap;

use crate::ofproto::ofpp;
use crate::store::{FailMode, PortKind, PortRecord};
use crate::xlate::{self, XPort};

use super::SwitchError;

/// Highest OpenFlow port number a port may have (OFPP_MAX - 1; 0xff00.. are reserved).
pub const MAX_OFPORT: u32 = 0xfeff;
/// Most options one port may carry.
pub const MAX_OPTIONS: usize = 32;
const MAX_OPTION_KEY: usize = 64;
const MAX_OPTION_VALUE: usize = 256;
const MAX_VLAN: u16 = 4095;

/// What `add-port` asks for; unset fields take defaults (`ofport` 0 = allocate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub name: String,
    pub kind: PortKind,
    pub ofport: u32,
    pub tag: Option<u32>,
    pub trunks: Vec<u32>,
    pub options: BTreeMap<String, String>,
}

/// A bridge as configured: its ports, its port names and how many rules it has. The live
/// OpenFlow tables and NORMAL's MAC table belong to the dataplane, the rules' store rows to
/// the switch; so a `Bridge` is small, and cloned into every published
/// [`SwitchView`](super::SwitchView).
#[derive(Clone, Debug)]
pub struct Bridge {
    name: String,
    /// The fail mode as set; `None` acts as standalone.
    pub(super) fail_mode: Option<FailMode>,
    /// Controller targets, canonical (`set-controller`).
    pub(super) controllers: Vec<String>,
    ports: BTreeMap<u32, PortRecord>,
    by_name: BTreeMap<String, u32>,
    /// Number of rules (as stored; the dataplane's tables hold the same rules).
    pub(super) flows: usize,
    /// Port names and numbers for parsing and printing flows; rebuilt by the switch after
    /// every port change (patch ports depend on other bridges).
    pub(super) xports: xlate::PortMap,
    /// Port mirrors, in the order the dataplane numbers them.
    pub(super) mirrors: Vec<crate::store::MirrorRecord>,
}

impl Bridge {
    pub(super) fn new(name: String) -> Bridge {
        Bridge {
            name,
            fail_mode: None,
            controllers: Vec::new(),
            ports: BTreeMap::new(),
            by_name: BTreeMap::new(),
            flows: 0,
            xports: xlate::PortMap::new(),
            mirrors: Vec::new(),
        }
    }

    /// Rebuilds the name view (the datapath numbers in it are not used: the dataplane keeps
    /// the real ones). A patch port whose peer (`peer` option)
    /// is a patch port on some bridge continues there; `peer_of` finds it.
    pub(super) fn rebuild_view(&mut self, peer_of: &dyn Fn(&str) -> Option<(String, u32)>) {
        let mut map = xlate::PortMap::new();
        map.insert(XPort {
            ofport: ofpp::LOCAL,
            name: self.name.clone(),
            kind: xlate::PortKind::Datapath(ofpp::LOCAL),
        });
        for p in self.ports.values() {
            let kind = match p.kind {
                PortKind::Patch => match p.options.get("peer").and_then(|peer| peer_of(peer)) {
                    Some((bridge, ofport)) => xlate::PortKind::Patch { bridge, ofport },
                    // An unpaired patch port is down: it is not a port xlate can use.
                    None => continue,
                },
                _ => xlate::PortKind::Datapath(p.ofport),
            };
            map.insert(XPort {
                ofport: p.ofport,
                name: p.name.clone(),
                kind,
            });
        }
        self.xports = map;
    }

    /// Number of OpenFlow rules (as stored; the dataplane's tables hold the same rules).
    pub fn flow_count(&self) -> usize {
        self.flows
    }

    /// Port names for the flow parser and printer (`in_port=vnet0`, `output:vnet0`).
    pub fn names(&self) -> &dyn crate::ofctl::PortNames {
        &self.xports
    }

    /// Bridge name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fail mode as set (`None`: not set, which acts as standalone).
    pub fn fail_mode(&self) -> Option<FailMode> {
        self.fail_mode
    }

    /// Controller targets as set, in canonical form (empty: none).
    pub fn controllers(&self) -> &[String] {
        &self.controllers
    }

    /// Ports in OpenFlow port order.
    pub fn ports(&self) -> impl Iterator<Item = &PortRecord> {
        self.ports.values()
    }

    /// Port mirrors as configured.
    pub fn mirrors(&self) -> &[crate::store::MirrorRecord] {
        &self.mirrors
    }

    /// Number of ports.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// The port called `name`.
    pub fn port(&self, name: &str) -> Option<&PortRecord> {
        self.by_name.get(name).and_then(|n| self.ports.get(n))
    }

    /// The port with OpenFlow number `ofport`.
    pub fn port_by_ofport(&self, ofport: u32) -> Option<&PortRecord> {
        self.ports.get(&ofport)
    }

    /// Validates `spec` against this bridge and returns the record to store. Switch-wide
    /// name uniqueness is the caller's check.
    pub(super) fn plan_add_port(&self, spec: PortSpec) -> Result<PortRecord, SwitchError> {
        super::validate_name("port", &spec.name)?;
        let ofport = match spec.ofport {
            0 => self.lowest_free_ofport().ok_or_else(|| {
                SwitchError::Limit(format!(
                    "bridge {} has no free OpenFlow port number",
                    self.name
                ))
            })?,
            n => n,
        };
        let record = PortRecord {
            name: spec.name,
            kind: spec.kind,
            ofport,
            tag: spec.tag.map(|t| vlan("tag", t)).transpose()?,
            trunks: trunks(&spec.trunks)?,
            options: spec.options,
        };
        self.check_record(&record, None)?;
        Ok(record)
    }

    /// Applies `KEY=VALUE` settings to a copy of port `name` and returns it, validated.
    pub(super) fn plan_set_port(
        &self,
        name: &str,
        settings: &[(String, String)],
    ) -> Result<PortRecord, SwitchError> {
        let mut record = self
            .port(name)
            .cloned()
            .ok_or_else(|| SwitchError::PortNotFound {
                bridge: self.name.clone(),
                port: name.to_owned(),
            })?;
        if settings.is_empty() {
            return Err(SwitchError::Invalid(
                "set-port needs at least one KEY=VALUE".into(),
            ));
        }
        for (key, value) in settings {
            apply_setting(&mut record, key, value)?;
        }
        let current = self.by_name.get(name).copied();
        self.check_record(&record, current)?;
        Ok(record)
    }

    /// Checks a complete record; `replacing` is the ofport the record currently has, if it
    /// replaces an existing port.
    fn check_record(&self, r: &PortRecord, replacing: Option<u32>) -> Result<(), SwitchError> {
        if !(1..=MAX_OFPORT).contains(&r.ofport) {
            return Err(SwitchError::Invalid(format!(
                "bad value '{}' for 'ofport': must be 1 to {MAX_OFPORT}",
                r.ofport
            )));
        }
        if let Some(other) = self.ports.get(&r.ofport)
            && Some(r.ofport) != replacing
        {
            return Err(SwitchError::OfportInUse {
                bridge: self.name.clone(),
                ofport: r.ofport,
                port: other.name.clone(),
            });
        }
        if r.tag.is_some() && !r.trunks.is_empty() {
            return Err(SwitchError::Invalid(
                "a port with 'tag' (access port) cannot also have 'trunks'".into(),
            ));
        }
        check_options(r)
    }

    fn lowest_free_ofport(&self) -> Option<u32> {
        // Ports are kept sorted by number: the first gap is the lowest free number.
        let mut want = 1;
        for &n in self.ports.keys() {
            if n != want {
                break;
            }
            want += 1;
        }
        (want <= MAX_OFPORT).then_some(want)
    }

    /// Inserts or replaces a port (by name) after its record was committed.
    pub(super) fn apply_put_port(&mut self, record: PortRecord) {
        if let Some(old) = self.by_name.remove(&record.name) {
            self.ports.remove(&old);
        }
        self.by_name.insert(record.name.clone(), record.ofport);
        self.ports.insert(record.ofport, record);
    }

    /// Removes a port after its deletion was committed.
    pub(super) fn apply_delete_port(&mut self, name: &str) -> Option<PortRecord> {
        let n = self.by_name.remove(name)?;
        self.ports.remove(&n)
    }
}

fn vlan(what: &str, v: u32) -> Result<u16, SwitchError> {
    u16::try_from(v)
        .ok()
        .filter(|v| *v <= MAX_VLAN)
        .ok_or_else(|| {
            SwitchError::Invalid(format!(
                "bad value '{v}' for '{what}': VLAN must be 0 to {MAX_VLAN}"
            ))
        })
}

fn trunks(vs: &[u32]) -> Result<Vec<u16>, SwitchError> {
    let mut out = vs
        .iter()
        .map(|&v| vlan("trunks", v))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn parse_u32(key: &str, value: &str) -> Result<u32, SwitchError> {
    value
        .parse()
        .map_err(|_| SwitchError::Invalid(format!("bad value '{value}' for '{key}': not a number")))
}

/// Applies one `set-port` setting to `r` (validation of the whole record follows).
fn apply_setting(r: &mut PortRecord, key: &str, value: &str) -> Result<(), SwitchError> {
    match key {
        "tag" if value == "none" || value.is_empty() => r.tag = None,
        "tag" => r.tag = Some(vlan("tag", parse_u32(key, value)?)?),
        "trunks" if value == "none" || value.is_empty() => r.trunks.clear(),
        "trunks" => {
            let vs = value
                .split(',')
                .map(|v| parse_u32(key, v.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            r.trunks = trunks(&vs)?;
        }
        "type" => {
            r.kind = value.parse().map_err(|()| {
                SwitchError::Invalid(format!(
                    "bad value '{value}' for 'type': must be tap, system, internal, patch or dummy"
                ))
            })?;
        }
        "ofport" => r.ofport = parse_u32(key, value)?,
        _ => match key.strip_prefix("options:") {
            Some(opt) if value.is_empty() => {
                r.options.remove(opt);
            }
            Some(opt) => {
                r.options.insert(opt.to_owned(), value.to_owned());
            }
            None => {
                return Err(SwitchError::Invalid(format!(
                    "unknown port setting '{key}': expected tag, trunks, type, ofport or options:NAME"
                )));
            }
        },
    }
    Ok(())
}

fn check_options(r: &PortRecord) -> Result<(), SwitchError> {
    if r.options.len() > MAX_OPTIONS {
        return Err(SwitchError::Limit(format!(
            "port {} has {} options; at most {MAX_OPTIONS} are allowed",
            r.name,
            r.options.len()
        )));
    }
    for (k, v) in &r.options {
        let key_ok = !k.is_empty()
            && k.len() <= MAX_OPTION_KEY
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !key_ok {
            return Err(SwitchError::Invalid(format!(
                "bad option name '{k}': use 1 to {MAX_OPTION_KEY} of a-z, 0-9, '_' and '-'"
            )));
        }
        if v.is_empty() || v.len() > MAX_OPTION_VALUE || v.chars().any(char::is_control) {
            return Err(SwitchError::Invalid(format!(
                "bad value for option '{k}': must be 1 to {MAX_OPTION_VALUE} bytes without control characters"
            )));
        }
    }
    if let Some(kind) = r.kind.tunnel() {
        fastpath::port::tunnel::TunnelConfig::from_options(kind, &r.options)
            .map_err(|e| SwitchError::Invalid(format!("{kind} port {}: {e}", r.name)))?;
    }
    match (r.kind, r.options.get("peer")) {
        (PortKind::Patch, None) => Err(SwitchError::Invalid(format!(
            "patch port {} needs option 'peer=PORT'",
            r.name
        ))),
        (PortKind::Patch, Some(peer)) if peer == &r.name => Err(SwitchError::Invalid(format!(
            "patch port {} cannot be its own peer",
            r.name
        ))),
        (PortKind::Patch, Some(peer)) => super::validate_name("peer", peer),
        (kind, Some(_)) => Err(SwitchError::Invalid(format!(
            "option 'peer' is only valid for patch ports, not {kind} port {}",
            r.name
        ))),
        (_, None) => Ok(()),
    }
}

/// The mode whose initial tables a flush installs for a bridge row with `fail_mode` and
/// `controllers`: with controllers, a standalone bridge has no NORMAL rule (fail-open stands
/// in for it while no controller is connected).
pub(super) fn table_mode(fail_mode: Option<FailMode>, controllers: &[String]) -> FailMode {
    if controllers.is_empty() {
        fail_mode.unwrap_or(FailMode::Standalone)
    } else {
        FailMode::Secure
    }
}
