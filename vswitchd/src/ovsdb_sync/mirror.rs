//! OVSDB `Mirror` rows: a bridge's `mirrors` become its port mirrors, and each applied row
//! gets its `statistics` (`tx_packets`, `tx_bytes`) written back, as ovs-vswitchd does.
//!
//! Port references (`select_src_port`, `select_dst_port`, `output_port`) are Port rows; they
//! become port names, as `vswitch-ctl add-mirror` takes them. A row naming neither an output
//! port nor an output VLAN, or with a bad VLAN, is skipped (logged; the Mirror table has no
//! error column). The bridge's mirrors are replaced only when the wanted list differs from the
//! applied one, so counters survive unrelated changes.

use ovsdb::replica::{Bridge, Replica};
use ovsdb::txn::TxnBuilder;
use ovsdb::{Atom, Datum, Uuid};

use crate::store::{MirrorOutput, MirrorRecord};
use crate::switch::Switch;

/// The mirrors bridge row `br` asks for: (Mirror row, mirror), by name.
pub fn desired(r: &Replica, br: &Bridge<'_>) -> Vec<(Uuid, MirrorRecord)> {
    let port_name = |u: Uuid| r.port(u).map(|p| p.name().to_owned());
    let mut out: Vec<(Uuid, MirrorRecord)> = Vec::new();
    for m in br.mirrors().into_iter().filter_map(|u| r.mirror(u)) {
        let output = match (m.output_port().and_then(port_name), m.output_vlan()) {
            (Some(p), _) => MirrorOutput::Port(p),
            (None, Some(v)) if (1..=4095).contains(&v) => MirrorOutput::Vlan(v as u16),
            _ => {
                tracing::warn!(
                    mirror = m.name(),
                    "ovsdb: mirror has no usable output; skipped"
                );
                continue;
            }
        };
        let mut vlans: Vec<u16> = m
            .select_vlan()
            .into_iter()
            .filter_map(|v| u16::try_from(v).ok().filter(|v| *v <= 4095))
            .collect();
        vlans.sort_unstable();
        vlans.dedup();
        let names = |col: Vec<Uuid>| -> Vec<String> {
            let mut v: Vec<String> = col.into_iter().filter_map(port_name).collect();
            v.sort();
            v
        };
        out.push((
            m.uuid(),
            MirrorRecord {
                name: m.name().to_owned(),
                select_all: m.select_all(),
                select_src_port: names(m.select_src_port()),
                select_dst_port: names(m.select_dst_port()),
                select_vlan: vlans,
                output,
            },
        ));
    }
    out.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    out.dedup_by(|a, b| a.1.name == b.1.name);
    out
}

/// Gives `bridge` the wanted mirrors if they differ from the applied ones.
pub fn converge(sw: &mut Switch, bridge: &str, want: &[(Uuid, MirrorRecord)]) {
    let want: Vec<MirrorRecord> = want.iter().map(|(_, m)| m.clone()).collect();
    if sw
        .bridge(bridge)
        .is_ok_and(|b| b.mirrors() == want.as_slice())
    {
        return;
    }
    if let Err(e) = sw.replace_mirrors(bridge, want) {
        tracing::warn!(bridge, error = %e, "ovsdb: mirrors not applied");
    }
}

/// Writes the `statistics` of every applied Mirror row.
pub fn write_stats(t: &mut TxnBuilder, sw: &Switch, bridge: &str, want: &[(Uuid, MirrorRecord)]) {
    if want.is_empty() {
        return;
    }
    let Ok(counters) = sw.dataplane().mirror_counters(bridge, true) else {
        return;
    };
    for (uuid, m) in want {
        let Some(c) = counters.iter().find(|c| c.config.name == m.name) else {
            continue;
        };
        let stat = |v: u64| Atom::Integer(i64::try_from(v).unwrap_or(i64::MAX));
        let d = Datum::map([
            (Atom::string("tx_bytes"), stat(c.tx_bytes)),
            (Atom::string("tx_packets"), stat(c.tx_packets)),
        ]);
        t.set("Mirror", *uuid, "statistics", d);
    }
}
