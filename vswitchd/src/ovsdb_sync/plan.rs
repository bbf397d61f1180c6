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

use crate::store::{FailMode, PortKind};
use crate::switch::{PortSpec, SETTING_KEYS, Settings, Switch, validate_name};

/// Bridge datapath types that all mean vswitch's one userspace datapath.
pub const DATAPATH_TYPES: [&str; 3] = ["", "system", "netdev"];

/// Interface types vswitch implements (as `Open_vSwitch.iface_types` lists them): every type
/// [`kind_of`] accepts. ovn-controller publishes this list as its Chassis' `iface-types`, so
/// the tunnel types must be in it.
pub const IFACE_TYPES: [&str; 8] = [
    "system", "internal", "tap", "patch", "dummy", "geneve", "gre", "vxlan",
];

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
    /// `fail_mode`: None when the column is empty (standalone, as in OVS).
    pub fail_mode: Option<FailMode>,
    /// The `target`s of the bridge's Controller rows, sorted.
    pub controllers: Vec<String>,
    /// The bridge's Mirror rows, by name ([`super::mirror`]).
    pub mirrors: Vec<(Uuid, crate::store::MirrorRecord)>,
}

/// What the database asks for, and what of it cannot be done.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    pub bridges: BTreeMap<String, DesiredBridge>,
    /// Interface row -> why it is not applied.
    pub errors: BTreeMap<Uuid, String>,
    /// Switch settings from `Open_vSwitch.other_config` (only the keys vswitch knows; a
    /// missing key means its default).
    pub settings: BTreeMap<String, String>,
}

fn kind_of(t: &str) -> Option<PortKind> {
    Some(match t {
        "" | "system" => PortKind::System,
        "internal" => PortKind::Internal,
        "tap" => PortKind::Tap,
        "patch" => PortKind::Patch,
        "vxlan" => PortKind::Vxlan,
        "geneve" => PortKind::Geneve,
        "gre" => PortKind::Gre,
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
    if kind.tunnel().is_some() {
        for (k, v) in iface.options().iter() {
            if fastpath::port::tunnel::OPTIONS.contains(k) {
                o.insert((*k).to_owned(), (*v).to_owned());
            }
        }
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
        let other_config = root.other_config();
        for key in SETTING_KEYS {
            if let Some(v) = other_config.get(key) {
                d.settings.insert(key.to_owned(), (*v).to_owned());
            }
        }
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
            let mut db = DesiredBridge {
                // The schema allows only these two values.
                fail_mode: match br.fail_mode() {
                    Some("secure") => Some(FailMode::Secure),
                    Some("standalone") => Some(FailMode::Standalone),
                    _ => None,
                },
                controllers: {
                    let mut c: Vec<String> = br
                        .controller()
                        .into_iter()
                        .filter_map(|u| r.controller(u))
                        .map(|c| c.target().to_owned())
                        .collect();
                    c.sort();
                    c
                },
                mirrors: super::mirror::desired(r, &br),
                ..DesiredBridge::default()
            };
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
            && let Err(e) = sw.add_bridge_with(bname, wb.fail_mode)
        {
            for p in wb.ports.values() {
                errors.insert(p.iface, format!("bridge {bname}: {e}"));
            }
            if let Some(l) = wb.local_iface {
                errors.insert(l, e.to_string());
            }
            continue;
        }
        if sw
            .bridge(bname)
            .is_ok_and(|b| b.fail_mode() != wb.fail_mode)
            && let Err(e) = sw.set_fail_mode(bname, wb.fail_mode)
        {
            // The Bridge table has no error column; ovs-vswitchd logs too.
            tracing::warn!(bridge = %bname, error = %e, "ovsdb: could not set the fail mode");
        }
        converge_controllers(sw, bname, &wb.controllers);
        super::mirror::converge(sw, bname, &wb.mirrors);
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

/// Gives `bridge` the database's controller targets (compared in their canonical form, so
/// `tcp:127.0.0.1` and `tcp:127.0.0.1:6653` are one target). A list vswitch refuses (an
/// unknown method, a bad address) is logged and leaves the controllers as they were: the
/// Controller table has no error column (ovs-vswitchd logs too).
fn converge_controllers(sw: &mut Switch, bridge: &str, want: &[String]) {
    let canonical = match crate::controller::target::parse_all(want) {
        Ok(t) => t.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        Err(e) => {
            tracing::warn!(bridge, error = %e, "ovsdb: controllers not applied");
            return;
        }
    };
    let mut have = sw
        .bridge(bridge)
        .map(|b| b.controllers().to_vec())
        .unwrap_or_default();
    let mut sorted = canonical.clone();
    sorted.sort();
    have.sort();
    if have != sorted
        && let Err(e) = sw.set_controllers(bridge, &canonical)
    {
        tracing::warn!(bridge, error = %e, "ovsdb: controllers not applied");
    }
}

/// Puts the database's `other_config` knobs in force; a key the database lacks goes back
/// to its default. A bad value is logged and leaves the setting as it was (the root row has
/// no error column; ovs-vswitchd logs too).
pub fn converge_settings(sw: &mut Switch, want: &Desired) {
    let defaults = Settings::default();
    for key in SETTING_KEYS {
        let wanted = want
            .settings
            .get(key)
            .cloned()
            .or_else(|| defaults.get(key))
            .unwrap_or_default();
        if sw.settings().get(key).as_deref() == Some(wanted.as_str()) {
            continue;
        }
        let value = if want.settings.contains_key(key) {
            wanted
        } else {
            String::new()
        };
        if let Err(e) = sw.set_settings(&[(key.to_owned(), value.clone())]) {
            tracing::warn!(key, value, error = %e, "ovsdb: other_config setting not applied");
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ovsdb::DatabaseSchema;
    use ovsdb::monitor::parse_table_updates;
    use serde_json::json;

    /// The columns of vswitch.ovsschema that the plan reads.
    const SCHEMA: &str = r#"{"name": "Open_vSwitch", "version": "8.3.1", "tables": {
      "Open_vSwitch": {"columns": {
        "other_config": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
        "bridges": {"type": {"key": {"type": "uuid", "refTable": "Bridge"}, "min": 0, "max": "unlimited"}}}},
      "Bridge": {"columns": {
        "name": {"type": "string"}, "datapath_type": {"type": "string"},
        "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}}}},
      "Port": {"columns": {
        "name": {"type": "string"},
        "interfaces": {"type": {"key": {"type": "uuid", "refTable": "Interface"}, "min": 1, "max": "unlimited"}},
        "tag": {"type": {"key": "integer", "min": 0, "max": 1}},
        "trunks": {"type": {"key": "integer", "min": 0, "max": 4096}}}},
      "Interface": {"columns": {
        "name": {"type": "string"}, "type": {"type": "string"},
        "options": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
        "ofport_request": {"type": {"key": "integer", "min": 0, "max": 1}},
        "mtu_request": {"type": {"key": "integer", "min": 0, "max": 1}}}}}}"#;

    /// ovn-controller reads `iface_types` for its Chassis record: it must name exactly the
    /// types the plan applies, tunnels included.
    #[test]
    fn iface_types_are_the_types_applied() {
        for t in IFACE_TYPES {
            assert!(kind_of(t).is_some(), "{t} listed but not applied");
        }
        for t in ["geneve", "vxlan", "gre"] {
            assert!(IFACE_TYPES.contains(&t), "{t} applied but not listed");
        }
        assert!(kind_of("stt").is_none());
    }

    fn u(n: u8) -> String {
        format!("00000000-0000-0000-0000-0000000000{n:02x}")
    }

    fn uuid(n: u8) -> Uuid {
        u(n).parse().unwrap()
    }

    fn refs(ns: &[u8]) -> serde_json::Value {
        json!([
            "set",
            ns.iter()
                .map(|n| json!(["uuid", u(*n)]))
                .collect::<Vec<_>>()
        ])
    }

    fn replica() -> Replica {
        let s = DatabaseSchema::parse(SCHEMA).unwrap();
        let mut r = Replica::new(s.clone(), s.tables.keys().cloned());
        let mut ports = serde_json::Map::new();
        let mut ifaces = serde_json::Map::new();
        let mut port = |n: u8, name: &str, ifs: &[u8], extra: serde_json::Value| {
            let mut row = json!({"name": name, "interfaces": refs(ifs)});
            row.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            ports.insert(u(n), json!({"initial": row}));
        };
        port(0x10, "br0", &[0x20], json!({}));
        port(
            0x11,
            "t1",
            &[0x21],
            json!({"tag": 10, "trunks": ["set", [1, 2]]}),
        );
        port(0x12, "bond0", &[0x22, 0x23], json!({}));
        port(0x13, "vx0", &[0x24], json!({}));
        port(0x14, "p0", &[0x25], json!({}));
        port(0x15, "pa", &[0x26], json!({}));
        port(0x16, "q1", &[0x27], json!({}));
        let mut iface = |n: u8, name: &str, ty: &str, extra: serde_json::Value| {
            let mut row = json!({"name": name, "type": ty});
            row.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            ifaces.insert(u(n), json!({"initial": row}));
        };
        iface(0x20, "br0", "internal", json!({}));
        iface(
            0x21,
            "t1",
            "tap",
            json!({"ofport_request": 5, "mtu_request": 9000}),
        );
        iface(0x22, "e1", "", json!({}));
        iface(0x23, "e2", "", json!({}));
        iface(0x24, "vx0", "stt", json!({}));
        iface(0x25, "other", "dummy", json!({}));
        iface(
            0x26,
            "pa",
            "patch",
            json!({"options": ["map", [["peer", "pb"]]]}),
        );
        iface(0x27, "q1", "dummy", json!({}));
        let updates = json!({
            "Open_vSwitch": {u(1): {"initial": {"bridges": refs(&[2, 3]),
                "other_config": ["map", [["flow-limit", "1000"], ["unknown-knob", "x"]]]}}},
            "Bridge": {
                u(2): {"initial": {"name": "br0", "datapath_type": "netdev",
                                   "ports": refs(&[0x10, 0x11, 0x12, 0x13, 0x14, 0x15])}},
                u(3): {"initial": {"name": "br1", "datapath_type": "dpdk", "ports": refs(&[0x16])}}},
            "Port": ports,
            "Interface": ifaces,
        });
        r.apply(parse_table_updates(&updates, &s).unwrap()).unwrap();
        r
    }

    #[test]
    fn reads_bridges_ports_and_what_cannot_be_applied() {
        let d = Desired::from_replica(&replica());
        assert_eq!(d.bridges.keys().collect::<Vec<_>>(), ["br0"]);
        let br0 = &d.bridges["br0"];
        assert_eq!(br0.local_iface, Some(uuid(0x20)));
        assert_eq!(br0.ports.keys().collect::<Vec<_>>(), ["pa", "t1"]);
        let t1 = &br0.ports["t1"];
        assert_eq!(
            (t1.kind, t1.ofport_request, t1.tag, t1.trunks.clone()),
            (PortKind::Tap, 5, Some(10), vec![1, 2])
        );
        assert_eq!(t1.options.get("mtu").map(String::as_str), Some("9000"));
        assert_eq!(
            br0.ports["pa"].options.get("peer").map(String::as_str),
            Some("pb")
        );
        let err = |n| d.errors.get(&uuid(n)).cloned().unwrap_or_default();
        assert!(
            err(0x22).contains("bonds are not supported"),
            "{}",
            err(0x22)
        );
        assert!(err(0x23).contains("bonds are not supported"));
        assert!(
            err(0x24).contains("unsupported type 'stt'"),
            "{}",
            err(0x24)
        );
        assert!(
            err(0x25).contains("must be named like its port"),
            "{}",
            err(0x25)
        );
        assert!(err(0x27).contains("datapath type 'dpdk'"), "{}", err(0x27));
        assert_eq!(d.errors.len(), 5, "{:?}", d.errors);
        assert_eq!(
            d.settings,
            BTreeMap::from([("flow-limit".to_owned(), "1000".to_owned())])
        );
    }
}
