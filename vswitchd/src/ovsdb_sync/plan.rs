//! From the database's rows to the switch's bridges and ports.
//!
//! [`Desired::from_replica`] reads what the Open_vSwitch database asks for (the bridges the
//! root row references, their ports, each port's one interface) and notes, per interface,
//! why it cannot be had (an unknown type, a bond, a name clash...). [`converge`] then makes
//! the switch match: bridges and ports that are no longer wanted go first (so a name or
//! ofport freed by one can be taken by another), then changed ports are re-created or
//! re-tagged, then missing bridges and ports are added, those with an `ofport_request`
//! before those numbered automatically. Each failure is recorded against its interface and
//! does not stop the other changes, as in ovs-vswitchd.

use std::collections::BTreeMap;

use ovsdb::Uuid;
use ovsdb::replica::{Interface, Replica};

use crate::store::PortKind;
use crate::switch::{PortSpec, Switch, validate_name};

/// Bridge datapath types that all mean vswitch's one userspace datapath.
pub const DATAPATH_TYPES: [&str; 3] = ["", "system", "netdev"];

/// Interface types vswitch implements (as `Open_vSwitch.iface_types` lists them).
pub const IFACE_TYPES: [&str; 5] = ["system", "internal", "tap", "patch", "dummy"];

/// One wanted port.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredPort {
    pub iface: Uuid,
    pub kind: PortKind,
    /// `ofport_request`, 0 when none.
    pub ofport_request: u32,
    pub tag: Option<u32>,
    pub trunks: Vec<u32>,
    pub options: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredBridge {
    pub ports: BTreeMap<String, DesiredPort>,
    /// The Interface row of the bridge-named internal port (OpenFlow LOCAL), if any.
    pub local_iface: Option<Uuid>,
}

/// What the database asks for, and what of it cannot be done.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    pub bridges: BTreeMap<String, DesiredBridge>,
    /// Interface row -> why it is not applied.
    pub errors: BTreeMap<Uuid, String>,
}

fn kind_of(t: &str) -> Option<PortKind> {
    Some(match t {
        "" | "system" => PortKind::System,
        "internal" => PortKind::Internal,
        "tap" => PortKind::Tap,
        "patch" => PortKind::Patch,
        "dummy" => PortKind::Dummy,
        _ => return None,
    })
}

fn port_options(iface: &Interface<'_>, kind: PortKind) -> BTreeMap<String, String> {
    let mut o = BTreeMap::new();
    if kind == PortKind::Patch
        && let Some(peer) = iface.options().get("peer")
    {
        o.insert("peer".to_owned(), (*peer).to_owned());
    }
    if let Some(mtu) = iface.mtu_request() {
        o.insert("mtu".to_owned(), mtu.to_string());
    }
    o
}

impl Desired {
    pub fn from_replica(r: &Replica) -> Desired {
        let mut d = Desired::default();
        let Some(root) = r.open_vswitch() else {
            return d;
        };
        // Names are switch-wide (bridges and ports share one namespace).
        let mut taken: BTreeMap<String, String> = BTreeMap::new();
        let mut bridges: Vec<_> = root
            .bridges()
            .into_iter()
            .filter_map(|u| r.bridge(u))
            .collect();
        bridges.sort_by_key(|b| b.name().to_owned());
        for br in bridges {
            let name = br.name().to_owned();
            let ifaces_of = |p: Uuid| r.port(p).map(|p| p.interfaces()).unwrap_or_default();
            let reject = |why: String, d: &mut Desired| {
                for p in br.ports() {
                    for i in ifaces_of(p) {
                        d.errors.insert(i, why.clone());
                    }
                }
            };
            if !DATAPATH_TYPES.contains(&br.datapath_type()) {
                reject(
                    format!(
                        "bridge {name}: datapath type '{}' is not supported (use \"\", system or netdev)",
                        br.datapath_type()
                    ),
                    &mut d,
                );
                continue;
            }
            if let Err(e) = validate_name("bridge", &name) {
                reject(e.to_string(), &mut d);
                continue;
            }
            if let Some(other) = taken.get(&name) {
                reject(
                    format!("bridge name {name} is already used by {other}"),
                    &mut d,
                );
                continue;
            }
            taken.insert(name.clone(), format!("bridge {name}"));
            let mut db = DesiredBridge::default();
            let mut ports: Vec<_> = br.ports().into_iter().filter_map(|u| r.port(u)).collect();
            ports.sort_by_key(|p| p.name().to_owned());
            for port in ports {
                let ifaces: Vec<_> = port
                    .interfaces()
                    .into_iter()
                    .filter_map(|u| r.interface(u))
                    .collect();
                let pname = port.name();
                if ifaces.len() != 1 {
                    for i in &ifaces {
                        d.errors.insert(
                            i.uuid(),
                            format!(
                                "port {pname} has {} interfaces: bonds are not supported",
                                ifaces.len()
                            ),
                        );
                    }
                    continue;
                }
                let iface = ifaces[0];
                let mut fail = |why: String| {
                    d.errors.insert(iface.uuid(), why);
                };
                let Some(kind) = kind_of(iface.kind()) else {
                    fail(format!(
                        "interface {}: unsupported type '{}'",
                        iface.name(),
                        iface.kind()
                    ));
                    continue;
                };
                if iface.name() != pname {
                    fail(format!(
                        "interface {} must be named like its port {pname}",
                        iface.name()
                    ));
                    continue;
                }
                if pname == name {
                    if kind == PortKind::Internal {
                        db.local_iface = Some(iface.uuid());
                    } else {
                        fail(format!(
                            "port {pname} named after its bridge must be of type internal"
                        ));
                    }
                    continue;
                }
                if let Err(e) = validate_name("port", pname) {
                    fail(e.to_string());
                    continue;
                }
                if let Some(other) = taken.get(pname) {
                    fail(format!("{pname} is already used by {other}"));
                    continue;
                }
                taken.insert(pname.to_owned(), format!("port {pname} (on bridge {name})"));
                let spec = DesiredPort {
                    iface: iface.uuid(),
                    kind,
                    ofport_request: iface
                        .ofport_request()
                        .and_then(|o| u32::try_from(o).ok())
                        .unwrap_or(0),
                    tag: port.tag().and_then(|t| u32::try_from(t).ok()),
                    trunks: port
                        .trunks()
                        .into_iter()
                        .filter_map(|t| u32::try_from(t).ok())
                        .collect(),
                    options: port_options(&iface, kind),
                };
                db.ports.insert(pname.to_owned(), spec);
            }
            d.bridges.insert(name, db);
        }
        d
    }
}

/// Makes the switch match `want`; returns the errors of the changes that failed, by
/// Interface row (on top of `want.errors`).
pub fn converge(sw: &mut Switch, want: &Desired) -> BTreeMap<Uuid, String> {
    let mut errors = BTreeMap::new();
    let current: Vec<String> = sw.bridges().map(|b| b.name().to_owned()).collect();
    for b in &current {
        if !want.bridges.contains_key(b)
            && let Err(e) = sw.del_bridge(b)
        {
            tracing::warn!(bridge = %b, error = %e, "ovsdb: could not delete bridge");
        }
    }
    // Ports: delete the unwanted and the changed (re-added below); re-tag in place.
    for (bname, wb) in &want.bridges {
        let Ok(br) = sw.bridge(bname) else {
            continue;
        };
        let mut delete = Vec::new();
        let mut retag = Vec::new();
        for p in br.ports() {
            match wb.ports.get(&p.name) {
                None => delete.push(p.name.clone()),
                Some(w) => {
                    let same_device = w.kind == p.kind && w.options == p.options;
                    let same_ofport = w.ofport_request == 0 || w.ofport_request == p.ofport;
                    let trunks: Vec<u16> = w
                        .trunks
                        .iter()
                        .filter_map(|t| u16::try_from(*t).ok())
                        .collect();
                    if !same_device || !same_ofport {
                        delete.push(p.name.clone());
                    } else if w.tag != p.tag.map(u32::from) || trunks != p.trunks {
                        retag.push((p.name.clone(), w.iface, vlan_settings(w)));
                    }
                }
            }
        }
        for name in delete {
            if let Err(e) = sw.del_port(bname, &name) {
                tracing::warn!(bridge = %bname, port = %name, error = %e, "ovsdb: could not delete port");
            }
        }
        for (name, iface, settings) in retag {
            if let Err(e) = sw.set_port(bname, &name, &settings) {
                errors.insert(iface, e.to_string());
            }
        }
    }
    for (bname, wb) in &want.bridges {
        if sw.bridge(bname).is_err()
            && let Err(e) = sw.add_bridge(bname)
        {
            for p in wb.ports.values() {
                errors.insert(p.iface, format!("bridge {bname}: {e}"));
            }
            if let Some(l) = wb.local_iface {
                errors.insert(l, e.to_string());
            }
            continue;
        }
        // Requested numbers first, so an automatic one cannot take a requested one.
        let mut missing: Vec<_> = wb
            .ports
            .iter()
            .filter(|(name, _)| sw.bridge(bname).is_ok_and(|b| b.port(name).is_none()))
            .collect();
        missing.sort_by_key(|(_, w)| w.ofport_request == 0);
        for (name, w) in missing {
            let spec = PortSpec {
                name: name.clone(),
                kind: w.kind,
                ofport: w.ofport_request,
                tag: w.tag,
                trunks: w.trunks.clone(),
                options: w.options.clone(),
            };
            if let Err(e) = sw.add_port(bname, spec) {
                errors.insert(w.iface, e.to_string());
            }
        }
    }
    errors
}

fn vlan_settings(w: &DesiredPort) -> Vec<(String, String)> {
    let tag = w
        .tag
        .map(|t| t.to_string())
        .unwrap_or_else(|| "none".into());
    let trunks = if w.trunks.is_empty() {
        "none".to_owned()
    } else {
        w.trunks
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    vec![("tag".into(), tag), ("trunks".into(), trunks)]
}
