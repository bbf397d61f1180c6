//! Every packet-in encoding, decoded by OVS's own `ovs-ofctl ofp-print`; the expected header
//! lines are what OVS 3.1 printed for the same packet-ins sent by a private OVS
//! (`ovs-ofctl -O VERSION [--packet-in-format=standard] monitor BR 65534`).

use super::*;
use crate::openflow::ofp_print::ofp_print;

/// Ethernet + IPv4 10.0.0.1 → 10.0.0.2 + TCP 1000 → 2000: 54 bytes.
fn tcp_frame() -> Vec<u8> {
    let mut f = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend_from_slice(&[
        0x03, 0xe8, 0x07, 0xd0, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0, 0, 0, 0, 0, 0, 0,
    ]);
    f
}

fn no_match_with_userdata() -> PacketIn {
    let mut cookie = ControllerCookie {
        bridge: "br0".into(),
        table_id: 3,
        rule_cookie: 0xab,
        reason: 0,
        max_len: 64,
        userdata: vec![1, 2],
        in_port: 1,
        ..ControllerCookie::default()
    };
    cookie.regs[2] = 7;
    PacketIn {
        cookie,
        frame: tcp_frame(),
        meta: PacketMeta::new(5),
        continuation: None,
    }
}

fn first_lines(s: &str, n: usize) -> String {
    s.lines().take(n).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_packet_in_encoding_prints_in_ovs_as_ovs_sends_it() {
    let p = no_match_with_userdata();
    let cases = [
        (
            Version::Of10,
            PacketInFormat::Standard,
            "OFPT_PACKET_IN (xid=0x0): total_len=54 in_port=1 (via no_match) data_len=54 (unbuffered)",
        ),
        (
            Version::Of13,
            PacketInFormat::Standard,
            "OFPT_PACKET_IN (OF1.3) (xid=0x0): table_id=3 cookie=0xab total_len=54 reg2=0x7,in_port=1 (via no_match) data_len=54 (unbuffered)",
        ),
        (
            Version::Of15,
            PacketInFormat::Standard,
            "OFPT_PACKET_IN (OF1.5) (xid=0x0): table_id=3 cookie=0xab total_len=54 reg2=0x7,in_port=1 (via no_match) data_len=54 (unbuffered)",
        ),
        (
            Version::Of10,
            PacketInFormat::Nxt2,
            "NXT_PACKET_IN2 (xid=0x0): table_id=3 cookie=0xab total_len=54 reg2=0x7,in_port=1 (via no_match) data_len=54 (unbuffered)\n userdata=01.02",
        ),
        (
            Version::Of13,
            PacketInFormat::Nxt2,
            "NXT_PACKET_IN2 (OF1.3) (xid=0x0): table_id=3 cookie=0xab total_len=54 reg2=0x7,in_port=1 (via no_match) data_len=54 (unbuffered)\n userdata=01.02",
        ),
        (
            Version::Of15,
            PacketInFormat::Nxt2,
            "NXT_PACKET_IN2 (OF1.5) (xid=0x0): table_id=3 cookie=0xab total_len=54 reg2=0x7,in_port=1 (via no_match) data_len=54 (unbuffered)\n userdata=01.02",
        ),
    ];
    for (v, format, want) in cases {
        let bytes = encode(&p, v, format, 0).unwrap();
        let Some(printed) = ofp_print(&bytes) else {
            return;
        };
        let n = want.lines().count();
        assert_eq!(first_lines(&printed, n), want, "{v:?} {format:?}");
        assert!(
            printed.contains("tcp,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2"),
            "{printed}"
        );
        // Our codec reads back what it wrote.
        assert!(ofp::decode(&bytes).is_ok(), "{v:?} {format:?}");
        if let Some(dir) = std::env::var_os("OFP_SEED_DIR") {
            // Seeds for the ofp_decode fuzz target.
            let name = format!("packet_in_{v:?}_{format:?}");
            std::fs::write(std::path::Path::new(&dir).join(name), &bytes).expect("seed");
        }
    }
}

#[test]
fn action_reasons_and_conntrack_state_print_as_ovs() {
    let mut p = no_match_with_userdata();
    p.cookie.reason = 1;
    p.cookie.table_id = 0;
    p.cookie.rule_cookie = 0;
    p.cookie.userdata.clear();
    p.cookie.regs = [0; 16];
    p.meta.ct_state = 0x21; // new, trk
    p.meta.ct_zone = 5;
    let Some(printed) = ofp_print(&encode(&p, Version::Of13, PacketInFormat::Nxt2, 7).unwrap())
    else {
        return;
    };
    assert_eq!(
        first_lines(&printed, 1),
        "NXT_PACKET_IN2 (OF1.3) (xid=0x7): cookie=0x0 total_len=54 ct_state=new|trk,ct_zone=5,in_port=1 (via action) data_len=54 (unbuffered)"
    );
    // OpenFlow 1.3 has no `group` reason: it is sent as `action`.
    p.cookie.reason = 4;
    let Some(printed) = ofp_print(&encode(&p, Version::Of13, PacketInFormat::Standard, 7).unwrap())
    else {
        return;
    };
    assert!(printed.contains("(via action)"), "{printed}");
    let Some(printed) = ofp_print(&encode(&p, Version::Of15, PacketInFormat::Standard, 7).unwrap())
    else {
        return;
    };
    assert!(printed.contains("(via group)"), "{printed}");
}

#[test]
fn nx_set_async_config_prints_in_ovs() {
    let mut a = ofp::message::AsyncConfig::default();
    for (i, m) in [0u32, 0x3, 0x7, 0x7, 0, 0xf].into_iter().enumerate() {
        a.masks[i] = Some(m);
    }
    let bytes = ofp::encode(&Message::NxSetAsync(a), Version::Of10, 3).unwrap();
    assert_eq!(ofp::decode(&bytes).unwrap().1, Message::NxSetAsync(a));
    if let Some(dir) = std::env::var_os("OFP_SEED_DIR") {
        std::fs::write(
            std::path::Path::new(&dir).join("nx_set_async_config"),
            &bytes,
        )
        .expect("seed");
    }
    let Some(printed) = ofp_print(&bytes) else {
        return;
    };
    assert!(
        printed.starts_with("NXT_SET_ASYNC_CONFIG (xid=0x3):"),
        "{printed}"
    );
    assert!(printed.contains("PACKET_IN: no_match action"), "{printed}");
}
