//! Shared benchmark harness: frames, a small first-match slow path, table builders.
//!
//! Included by every criterion bench (`mod common;`) and by the `pipeline-bench` binary
//! (`#[path]`), so all of them measure the same workloads.
#![allow(dead_code)]

use fastpath::action::{DpAction, DpActions, checksum};
use fastpath::cache::{KeyHasher, MegaflowTable};
use fastpath::flow::{FlowKey, FlowMask};
use fastpath::packet::Packet;
use fastpath::upcall::{Translation, UpcallError, UpcallHandler};

/// A 64-byte-class Ethernet/IPv4/UDP frame with valid checksums.
pub fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let payload = [0x5a_u8; 18];
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&payload);
    let pseudo = checksum::pseudo_header_v4(
        u32::from_be_bytes(src),
        u32::from_be_bytes(dst),
        17,
        udp_len as u16,
    );
    let c = !checksum::fold(checksum::sum_words(&udp, pseudo));
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&udp);
    f
}

/// One rule of [`RuleSet`].
pub struct Rule {
    pub mask: FlowMask,
    /// Compared under `mask`.
    pub value: FlowKey,
    pub actions: DpActions,
}

/// A first-match rule list standing in for the slow path: the translation's mask is the union
/// of the masks of every rule examined, which is exactly what a linear classifier consulted.
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

impl UpcallHandler for RuleSet {
    fn upcall(&self, key: &FlowKey, _packet: &[u8]) -> Result<Translation, UpcallError> {
        let mut consulted = FlowKey::ZERO;
        for r in &self.rules {
            consulted.or_with(&r.mask);
            if key.eq_masked(&r.value, &r.mask) {
                return Ok(Translation {
                    actions: r.actions.clone(),
                    mask: consulted,
                });
            }
        }
        Ok(Translation {
            actions: vec![],
            mask: consulted,
        })
    }
}

/// Ten L3 forwarding rules: `in_port=1, ip, nw_dst=10.0.i.0/24 → output:(2 + i % 4)`, then
/// drop.
pub fn l3_rules() -> RuleSet {
    let rules = (0..10u8)
        .map(|i| {
            let mut mask = FlowKey::ZERO;
            mask.in_port = !0;
            mask.dl_type = !0;
            mask.nw_dst = 0xffff_ff00;
            let mut value = FlowKey::ZERO;
            value.in_port = 1;
            value.dl_type = 0x0800;
            value.nw_dst = u32::from_be_bytes([10, 0, i, 0]);
            Rule {
                mask,
                value,
                actions: vec![DpAction::Output(2 + u32::from(i % 4))],
            }
        })
        .collect();
    RuleSet { rules }
}

/// `n` frames to destinations the [`l3_rules`] forward, spread over all ten rules, each a
/// distinct microflow.
pub fn l3_frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let dst = [10, 0, (i % 10) as u8, (i / 10 % 250) as u8 + 1];
            udp_frame([10, 1, 0, 1], dst, 1024 + (i / 2500) as u16, 53)
        })
        .collect()
}

/// A key as extraction makes it for a UDP flow on port 1.
pub fn udp_key(nw_dst: u32, tp_src: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.in_port = 1;
    k.dl_type = 0x0800;
    k.nw_proto = 17;
    k.nw_ttl = 64;
    k.nw_src = 0x0a01_0001;
    k.nw_dst = nw_dst;
    k.tp_src = tp_src;
    k.tp_dst = 53;
    k
}

/// A megaflow table with `subtables` distinct masks and `per_subtable` flows in each, and
/// lookup keys spread evenly over the subtables (each key hits exactly one flow).
pub fn megaflow_table(subtables: usize, per_subtable: usize) -> (MegaflowTable, Vec<FlowKey>) {
    let mut table = MegaflowTable::new(KeyHasher::random());
    let mut keys = Vec::new();
    for s in 0..subtables {
        let mut mask = FlowKey::ZERO;
        mask.recirc_id = !0;
        mask.in_port = !0;
        mask.dl_type = !0;
        mask.nw_dst = !0;
        // A distinct non-zero mask on the source port makes each subtable's mask unique.
        mask.tp_src = (s as u16 + 1) << 4;
        for j in 0..per_subtable {
            let k = udp_key(
                u32::from_be_bytes([10, s as u8, (j >> 8) as u8, j as u8]),
                0,
            );
            table.insert(&k, &mask, vec![DpAction::Output(2)], 0);
        }
    }
    for j in 0..per_subtable {
        for s in 0..subtables {
            keys.push(udp_key(
                u32::from_be_bytes([10, s as u8, (j >> 8) as u8, j as u8]),
                0,
            ));
        }
    }
    (table, keys)
}

/// Fills `batch` with pooled copies of `frames` (what a port's receive does).
pub fn fill_batch(batch: &mut Vec<Packet>, frames: &[Vec<u8>], mut buffer: impl FnMut() -> Packet) {
    for f in frames {
        let mut p = buffer();
        p.rx_space()[..f.len()].copy_from_slice(f);
        p.set_len(f.len());
        batch.push(p);
    }
}

/// The real slow path: vswitchd's OpenFlow tables and xlate, behind the upcall interface.
pub struct XlateHandler {
    tables: vswitchd::ofproto::FlowTables,
    ports: vswitchd::xlate::PortMap,
    recirc: vswitchd::xlate::RecircTable,
}

impl XlateHandler {
    /// A bridge with datapath ports 1..=`n_ports` (OpenFlow numbers equal) and `flows` (one
    /// `ovs-ofctl add-flow` line each).
    pub fn new(flows: &[String], n_ports: u32) -> XlateHandler {
        use vswitchd::ofctl::{FlowSyntax, parse_flow};
        use vswitchd::ofproto::{FlowMod, FlowTables};
        use vswitchd::xlate::{PortKind, PortMap, RecircTable, XPort};
        let mut ports = PortMap::new();
        for i in 1..=n_ports {
            ports.insert(XPort {
                ofport: i,
                name: format!("p{i}"),
                kind: PortKind::Datapath(i),
            });
        }
        let mods: Vec<FlowMod> = flows
            .iter()
            .map(|f| FlowMod::add(parse_flow(f, &ports, FlowSyntax::Add).expect("bench flow")))
            .collect();
        let mut tables = FlowTables::new();
        tables.apply(&mods, 0).expect("bench flows apply");
        XlateHandler {
            tables,
            ports,
            recirc: RecircTable::new(),
        }
    }
}

impl UpcallHandler for XlateHandler {
    fn upcall(&self, key: &FlowKey, _packet: &[u8]) -> Result<Translation, UpcallError> {
        use vswitchd::xlate::{XBridge, XlateCtx, translate};
        let ctx = XlateCtx {
            bridge: XBridge {
                name: "br0",
                tables: &self.tables,
                ports: &self.ports,
                normal: None,
            },
            peers: None,
            recirc: &self.recirc,
            credit: None,
            may_learn: false,
            now_ms: 0,
            learn: None,
        };
        translate(&ctx, key, None).map_err(|_| UpcallError::TranslationFailed)
    }
}

/// A two-table OpenFlow pipeline: table 0 admits IPv4 from port 1, table 1 holds `hosts`
/// host routes `10.0.(i/250).(i%250+1)/32 → output:(2 + i % 3)` and a default drop.
pub fn host_route_flows(hosts: usize) -> Vec<String> {
    let mut flows = vec![
        "table=0,priority=100,in_port=1,ip,actions=goto_table:1".to_string(),
        "table=0,priority=0,actions=drop".to_string(),
        "table=1,priority=0,actions=drop".to_string(),
    ];
    flows.extend((0..hosts).map(|i| {
        format!(
            "table=1,priority=100,ip,nw_dst=10.0.{}.{},actions=output:{}",
            i / 250,
            i % 250 + 1,
            2 + i % 3
        )
    }));
    flows
}

/// `n` UDP frames from port 1 to the first `n` host routes of [`host_route_flows`].
pub fn host_frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            udp_frame(
                [10, 1, 0, 1],
                [10, 0, (i / 250) as u8, (i % 250 + 1) as u8],
                1024,
                53,
            )
        })
        .collect()
}
