//! Pipeline tests through the whole dataplane (slow path + datapath threads) on dummy ports:
//! NORMAL learning, rule changes taking effect at once for cached flows, counters pushed from
//! megaflows into rules, VLAN access ports, port removal.

use fastpath::port::dummy::DummyHandle;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vswitchd::dataplane::{Dataplane, DataplaneConfig, PortConfig, PortType};
use vswitchd::ofctl::{FlowSyntax, NoNames, parse_flow};
use vswitchd::ofproto::flow_mod::FlowMod;

fn mac(n: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, n]
}

fn udp_frame(src: u8, dst: [u8; 6], sport: u16, vlan: Option<u16>) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(mac(src), dst);
    let payload = [0u8; 18];
    let mut out = Vec::new();
    match vlan {
        Some(v) => b
            .single_vlan(etherparse::VlanId::try_new(v).unwrap())
            .ipv4([10, 0, 0, src], [10, 0, 0, 99], 64)
            .udp(sport, 7000)
            .write(&mut out, &payload)
            .unwrap(),
        None => b
            .ipv4([10, 0, 0, src], [10, 0, 0, 99], 64)
            .udp(sport, 7000)
            .write(&mut out, &payload)
            .unwrap(),
    }
    out
}

struct Bed {
    dp: Arc<Dataplane>,
    ports: Vec<DummyHandle>,
}

fn bed(vlans: &[Option<u16>]) -> Bed {
    let mut cfg = DataplaneConfig::default();
    cfg.dp.buffer_capacity = 2048;
    let dp = Dataplane::new(cfg, None);
    dp.add_bridge("br0").unwrap();
    let mut ports = Vec::new();
    for (i, tag) in vlans.iter().enumerate() {
        let name = format!("p{}", i + 1);
        dp.add_port(
            "br0",
            PortConfig {
                name: name.clone(),
                kind: PortType::Dummy,
                ofport: i as u32 + 1,
                tag: *tag,
                trunks: vec![],
                mtu: None,
            },
        )
        .unwrap();
        let h = dp.dummy_handle(&name).unwrap();
        h.set_capture(true);
        ports.push(h);
    }
    dp.start(1).unwrap();
    Bed { dp, ports }
}

impl Bed {
    fn flows(&self, lines: &[&str]) {
        let mods: Vec<FlowMod> = lines
            .iter()
            .map(|l| FlowMod::add(parse_flow(l, &NoNames, FlowSyntax::Add).unwrap()))
            .collect();
        self.dp.flow_mods("br0", &mods).unwrap();
    }

    /// Injects on port `i` (0-based) and waits until the datapath has consumed it.
    fn send(&self, i: usize, frame: &[u8]) {
        assert!(self.ports[i].inject(frame));
        let t = Instant::now();
        while self.ports[i].rx_pending() > 0 {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "datapath thread did not poll"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // The packet is received; give the thread time to execute and transmit it.
        std::thread::sleep(Duration::from_millis(20));
    }

    /// Frames each port emitted since the last call.
    fn outputs(&self) -> Vec<usize> {
        self.ports
            .iter()
            .map(|p| p.collect_frames().len())
            .collect()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.dp.stop();
    }
}

#[test]
fn normal_floods_unknown_then_learns() {
    let b = bed(&[None, None, None]);
    b.flows(&["priority=0,actions=normal"]);
    b.send(0, &udp_frame(1, [0xff; 6], 1, None));
    assert_eq!(
        b.outputs(),
        vec![0, 1, 1],
        "broadcast floods to the other ports"
    );
    b.send(1, &udp_frame(2, mac(1), 1, None));
    assert_eq!(b.outputs(), vec![1, 0, 0], "learned destination: one port");
    // Port 1 talks to 2, which is now learned too: no more flooding, even for a flow that was
    // cached while 2 was unknown (revalidation after learning).
    b.dp.maintain(false);
    b.send(0, &udp_frame(1, mac(2), 1, None));
    assert_eq!(b.outputs(), vec![0, 1, 0]);
    let fdb = b.dp.fdb("br0").unwrap();
    assert_eq!(fdb.len(), 2);
}

#[test]
fn rule_change_applies_at_once_to_a_cached_flow() {
    let b = bed(&[None, None, None]);
    b.flows(&["priority=10,in_port=1,actions=output:2"]);
    for _ in 0..5 {
        b.send(0, &udp_frame(1, mac(9), 5, None));
    }
    assert_eq!(b.outputs(), vec![0, 5, 0]);
    assert!(b.dp.stats().megaflows >= 1);
    // Same match and priority: replaces the actions.
    b.flows(&["priority=10,in_port=1,actions=output:3"]);
    b.send(0, &udp_frame(1, mac(9), 5, None));
    assert_eq!(
        b.outputs(),
        vec![0, 0, 1],
        "the cached megaflow was revalidated"
    );
}

#[test]
fn megaflow_counters_reach_rules() {
    let b = bed(&[None, None]);
    b.flows(&[
        "priority=10,udp,actions=output:2",
        "priority=5,actions=drop",
    ]);
    for sport in 0..7 {
        b.send(0, &udp_frame(1, mac(9), 100 + sport, None));
    }
    let rules =
        b.dp.dump_flows(
            "br0",
            &parse_flow("", &NoNames, FlowSyntax::MatchOnly).unwrap(),
        )
        .unwrap();
    let udp = rules.iter().find(|r| r.priority == 10).unwrap();
    assert_eq!(udp.stats.packets(), 7);
    assert_eq!(udp.stats.bytes(), 7 * 60);
    let drop = rules.iter().find(|r| r.priority == 5).unwrap();
    assert_eq!(drop.stats.packets(), 0);
}

#[test]
fn access_ports_keep_vlans_apart() {
    // p1, p2 on VLAN 10; p3 on VLAN 20; p4 a trunk.
    let b = bed(&[Some(10), Some(10), Some(20), None]);
    b.flows(&["priority=0,actions=normal"]);
    b.send(0, &udp_frame(1, [0xff; 6], 1, None));
    assert_eq!(b.outputs(), vec![0, 1, 0, 1]);
    let trunk_frame = b.ports[3].collect_frames();
    assert!(trunk_frame.is_empty(), "already collected above");
    b.send(2, &udp_frame(3, [0xff; 6], 1, None));
    assert_eq!(
        b.outputs(),
        vec![0, 0, 0, 1],
        "VLAN 20 reaches only the trunk"
    );
    // A tagged frame on an access port is dropped.
    b.send(0, &udp_frame(1, [0xff; 6], 2, Some(20)));
    assert_eq!(b.outputs(), vec![0, 0, 0, 0]);
    // From the trunk, VLAN 10 reaches p1 and p2, untagged.
    b.send(3, &udp_frame(4, [0xff; 6], 3, Some(10)));
    let frames: Vec<Vec<Vec<u8>>> = b.ports.iter().map(|p| p.collect_frames()).collect();
    assert_eq!(
        frames.iter().map(|f| f.len()).collect::<Vec<_>>(),
        vec![1, 1, 0, 0]
    );
    assert_eq!(
        &frames[0][0][12..14],
        &[0x08, 0x00],
        "tag stripped on the access port"
    );
}

#[test]
fn deleted_port_receives_nothing() {
    let b = bed(&[None, None, None]);
    b.flows(&["priority=0,actions=flood"]);
    b.send(0, &udp_frame(1, [0xff; 6], 1, None));
    assert_eq!(b.outputs(), vec![0, 1, 1]);
    b.dp.del_port("br0", "p3").unwrap();
    b.send(0, &udp_frame(1, [0xff; 6], 1, None));
    assert_eq!(b.outputs()[..2], [0, 1]);
}
