//! From the switch back to the database: what ovs-vswitchd reports and its clients read.
//!
//! Per Interface row: `ofport` (the switch's number; OpenFlow LOCAL for the bridge-named
//! internal port; -1 with `error` set for an interface that could not be applied, as OVS
//! does), `admin_state`, `link_state`, the kernel device's `ifindex`, `mtu`, `mac_in_use`
//! and `link_speed` (none for ports without one), and, on the periodic round, `statistics`. On the
//! root row: `cur_cfg` (the `next_cfg` just applied, which is what `ovs-vsctl` waits for),
//! the switch's identity and the types it implements, and one Datapath row per datapath
//! type in use with the capabilities the userspace datapath really has.

use std::collections::BTreeMap;

use ovsdb::Uuid;
use ovsdb::replica::Replica;
use ovsdb::txn::{InterfaceState, SystemInfo, TxnBuilder};

use super::plan::{DATAPATH_TYPES, Desired, IFACE_TYPES};
use crate::store::PortKind;
use crate::switch::Switch;

/// OpenFlow LOCAL as the Interface table spells it (OpenFlow 1.0's 16-bit number, which
/// OVS writes for the bridge-named internal port).
pub const OFPP_LOCAL_16: u32 = 0xfffe;

/// The switch's name and version, as `ovs_version` and `datapath_version` say it.
pub fn version() -> String {
    format!("vswitch {}", env!("CARGO_PKG_VERSION"))
}

/// Datapath capabilities (the keys ovs-vswitchd reports) that vswitch's datapath has:
/// recirculation and conntrack with zones, marks, labels, NAT and flushing.
pub fn capabilities() -> BTreeMap<String, String> {
    [
        ("recirc", "true"),
        ("ct_state", "true"),
        ("ct_zone", "true"),
        ("ct_mark", "true"),
        ("ct_label", "true"),
        ("ct_state_nat", "true"),
        ("ct_orig_tuple", "false"),
        ("ct_orig_tuple6", "false"),
        ("ct_flush", "true"),
        ("ct_zero_snat", "false"),
        ("max_vlan_headers", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn os_release() -> (Option<String>, Option<String>) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
    };
    (get("ID"), get("VERSION_ID"))
}

/// What the kernel says about a port's device (`/sys/class/net/NAME`); all `None` for a
/// port with no kernel device (dummy, patch).
#[derive(Debug, Default, PartialEq)]
struct Device {
    ifindex: Option<i64>,
    mtu: Option<i64>,
    mac: Option<String>,
    speed_bps: Option<i64>,
}

impl Device {
    fn read(name: &str) -> Device {
        // Names are validated interface names (no '/'), so this stays inside the directory.
        let dir = std::path::Path::new("/sys/class/net").join(name);
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .ok()
                .map(|s| s.trim().to_owned())
        };
        let num = |f: &str| read(f).and_then(|v| v.parse::<i64>().ok());
        Device {
            ifindex: num("ifindex"),
            mtu: num("mtu"),
            mac: read("address").filter(|m| !m.is_empty()),
            // Mb/s; -1 or unreadable when the driver does not know (TAP, veth down).
            speed_bps: num("speed")
                .filter(|s| *s > 0)
                .map(|s| s.saturating_mul(1_000_000)),
        }
    }
}

/// The write-back for one round: `errors` are the interfaces that could not be applied,
/// `cfg` the `next_cfg` the round applied, `stats` whether to write counters too.
pub fn write_back(
    r: &Replica,
    sw: &Switch,
    want: &Desired,
    errors: &BTreeMap<Uuid, String>,
    cfg: i64,
    stats: bool,
) -> TxnBuilder {
    let mut t = TxnBuilder::new();
    let dp = sw.dataplane();
    for (bname, wb) in &want.bridges {
        let Ok(br) = sw.bridge(bname) else {
            continue;
        };
        if stats {
            super::mirror::write_stats(&mut t, sw, bname, &wb.mirrors);
        }
        let reports: BTreeMap<String, _> = dp
            .port_reports(bname, None)
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();
        let rows = wb
            .ports
            .iter()
            .map(|(n, w)| (n.as_str(), w.iface, br.port(n).map(|p| p.ofport), w.kind))
            .chain(
                wb.local_iface
                    .map(|i| (bname.as_str(), i, Some(OFPP_LOCAL_16), PortKind::Internal)),
            );
        for (name, iface, ofport, kind) in rows {
            if errors.contains_key(&iface) || want.errors.contains_key(&iface) {
                continue;
            }
            let Some(ofport) = ofport else {
                continue;
            };
            let report = reports.get(name);
            let up = report.is_some_and(|p| p.up);
            let dev = Device::read(name);
            // A system port whose device is missing stays configured (it comes back when
            // the device appears) but says why it does not work, as OVS does.
            let missing = kind == PortKind::System && dev.ifindex.is_none();
            let state = InterfaceState {
                ofport: Some(i64::from(ofport)),
                error: missing
                    .then(|| format!("could not open network device {name} (No such device)")),
                admin_state: Some("up"),
                link_state: Some(if up { "up" } else { "down" }),
                link_speed: dev.speed_bps,
                mtu: dev.mtu,
                mac_in_use: dev.mac,
                ifindex: dev.ifindex,
                ..Default::default()
            };
            t.interface_state(r, iface, &state);
            if stats && let Some(p) = report {
                let s = &p.stats;
                let counters = [
                    ("rx_packets", s.rx_packets),
                    ("rx_bytes", s.rx_bytes),
                    ("tx_packets", s.tx_packets),
                    ("tx_bytes", s.tx_bytes),
                    ("rx_dropped", s.rx_dropped),
                    ("tx_dropped", s.tx_dropped),
                    ("rx_errors", s.rx_errors),
                    ("tx_errors", s.tx_errors),
                ];
                let m = counters
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), i64::try_from(v).unwrap_or(i64::MAX)))
                    .collect();
                t.interface_statistics(iface, &m);
            }
        }
    }
    for (iface, why) in want.errors.iter().chain(errors) {
        let state = InterfaceState {
            ofport: Some(-1),
            error: Some(why.clone()),
            ..Default::default()
        };
        t.interface_state(r, *iface, &state);
    }
    t.cur_cfg(r, cfg);
    let (system_type, system_version) = os_release();
    let info = SystemInfo {
        ovs_version: version(),
        db_version: Some(r.schema().version.clone()).filter(|v| !v.is_empty()),
        system_type,
        system_version,
        iface_types: IFACE_TYPES.iter().map(|s| s.to_string()).collect(),
        datapath_types: DATAPATH_TYPES[1..].iter().map(|s| s.to_string()).collect(),
    };
    t.system_info(r, &info);
    // One Datapath row per type in use ("" is "system"), as ovs-vswitchd keeps them.
    let mut types: Vec<&str> = r
        .bridges()
        .map(|b| match b.datapath_type() {
            "" => "system",
            other => other,
        })
        .filter(|t| DATAPATH_TYPES.contains(t))
        .collect();
    types.sort_unstable();
    types.dedup();
    for ty in types {
        t.datapath(r, ty, &version(), &capabilities());
    }
    t
}
