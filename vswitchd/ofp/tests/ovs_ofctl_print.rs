//! What this crate encodes, as OVS reads it: each message is encoded, handed to
//! `ovs-ofctl ofp-print HEX`, and the printout compared with the text OVS prints for the message
//! we meant. These are the messages a switch sends (replies, packet-ins, errors), the
//! direction the capture tests cannot cover.

mod common;

use common::{have_ovs_ofctl, ofp_print};
use ofp::action::{Action, NxAction};
use ofp::error::ErrorCode;
use ofp::field::{FieldId, MatchEntry};
use ofp::message::{
    AsyncConfig, BundleCtrl, ErrorMsg, Features, FlowRemoved, Match, PacketIn, PacketIn2, Role, bct,
};
use ofp::multipart::{Aggregate, Desc, FlowStats, MpReply, PortStats, TableStats};
use ofp::port::PortDesc;
use ofp::{Instruction, Message, Version};

fn check(m: &Message, v: Version, want: &str) {
    let bytes = ofp::encode(m, v, 0x42).unwrap_or_else(|e| panic!("encode {m:?}: {e}"));
    if let Some(dir) = std::env::var_os("OFP_SEED_DIR") {
        let name = format!(
            "encoded_{:?}_{}",
            v,
            bytes.len() * 256 + usize::from(bytes[1])
        );
        let _ = std::fs::write(std::path::Path::new(&dir).join(name), &bytes);
    }
    let got = ofp_print(&bytes);
    assert_eq!(got.trim_end(), want.trim_end(), "{v:?} {m:?}");
    // And back.
    let (_, again) = ofp::decode(&bytes).expect("decode");
    assert_eq!(&again, m);
}

fn port(no: u32, name: &str) -> PortDesc {
    PortDesc {
        port_no: no,
        hw_addr: [0xaa, 0x55, 0, 0, 0, no as u8],
        name: name.into(),
        config: 0,
        state: 4,
        curr: 0x840,
        supported: 0,
        curr_speed: 10_000_000,
        max_speed: 0,
        ..PortDesc::default()
    }
}

fn flow_stats(v: Version) -> FlowStats {
    let m = if v == Version::Of10 {
        let mut m = ofp::Match10::catchall();
        m.wildcards &= !(ofp::match10::wc::IN_PORT | ofp::match10::wc::DL_TYPE);
        m.in_port = 1;
        m.dl_type = 0x0800;
        Match::Of10(m)
    } else {
        Match::Fields(vec![
            MatchEntry::exact(FieldId::InPort, 1),
            MatchEntry::exact(FieldId::EthType, 0x0800),
            MatchEntry::masked(FieldId::Ipv4Dst, 0x0a00_0000, 0xffff_ff00),
        ])
    };
    FlowStats {
        table_id: if v == Version::Of10 { 0 } else { 3 },
        duration_sec: 7,
        duration_nsec: 500_000_000,
        priority: 100,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: 0,
        importance: 0,
        idle_age: 0,
        hard_age: 0,
        cookie: 0xab,
        packet_count: 10,
        byte_count: 980,
        match_: m,
        instructions: vec![Instruction::ApplyActions(vec![
            Action::Nx(NxAction::Resubmit {
                in_port: 0xffff_fff8,
                table: 4,
                ct: false,
            }),
            Action::Output {
                port: 2,
                max_len: 0,
            },
        ])],
    }
}

#[test]
fn switch_replies_print_as_ovs_reads_them() {
    if !have_ovs_ofctl() {
        return;
    }
    check(
        &Message::FeaturesReply(Features {
            datapath_id: 0x0000_0a0b_0c0d_0e0f,
            n_buffers: 0,
            n_tables: 254,
            auxiliary_id: 0,
            capabilities: 0x4f,
            actions: 0,
            ports: Vec::new(),
        }),
        Version::Of13,
        "OFPT_FEATURES_REPLY (OF1.3) (xid=0x42): dpid:00000a0b0c0d0e0f\n\
         n_tables:254, n_buffers:0\n\
         capabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS QUEUE_STATS",
    );
    for v in [Version::Of13, Version::Of15] {
        let tag = if v == Version::Of13 { "OF1.3" } else { "OF1.5" };
        check(
            &Message::MultipartReply {
                flags: 0,
                body: MpReply::PortDesc(vec![port(1, "p1"), port(0xffff_fffe, "br0")]),
            },
            v,
            &format!(
                "OFPST_PORT_DESC reply ({tag}) (xid=0x42):\n \
                 1(p1): addr:aa:55:00:00:00:01\n     config:     0\n     state:      LIVE\n     \
                 current:    10GB-FD COPPER\n     speed: 10000 Mbps now, 0 Mbps max\n \
                 LOCAL(br0): addr:aa:55:00:00:00:fe\n     config:     0\n     state:      LIVE\n     \
                 current:    10GB-FD COPPER\n     speed: 10000 Mbps now, 0 Mbps max"
            ),
        );
    }
    check(
        &Message::MultipartReply {
            flags: 0,
            body: MpReply::Flow(vec![flow_stats(Version::Of13)]),
        },
        Version::Of13,
        "OFPST_FLOW reply (OF1.3) (xid=0x42):\n \
         cookie=0xab, duration=7.500s, table=3, n_packets=10, n_bytes=980, priority=100,ip,in_port=1,nw_dst=10.0.0.0/24 actions=resubmit(,4),output:2",
    );
    // OpenFlow 1.5 carries the counters as OXS statistics; `idle_age` is the age plus one.
    let mut fs15 = flow_stats(Version::Of15);
    fs15.idle_age = 4;
    check(
        &Message::MultipartReply {
            flags: 0,
            body: MpReply::Flow(vec![fs15]),
        },
        Version::Of15,
        "OFPST_FLOW reply (OF1.5) (xid=0x42):\n \
         cookie=0xab, duration=7.500s, table=3, n_packets=10, n_bytes=980, idle_age=3, priority=100,ip,in_port=1,nw_dst=10.0.0.0/24 actions=resubmit(,4),output:2",
    );
    check(
        &Message::MultipartReply {
            flags: 0,
            body: MpReply::Aggregate(Aggregate {
                packet_count: 5,
                byte_count: 500,
                flow_count: 2,
            }),
        },
        Version::Of15,
        "OFPST_AGGREGATE reply (OF1.5) (xid=0x42): packet_count=5 byte_count=500 flow_count=2",
    );
    check(
        &Message::MultipartReply {
            flags: 0,
            body: MpReply::Flow(vec![flow_stats(Version::Of10)]),
        },
        Version::Of10,
        "OFPST_FLOW reply (xid=0x42):\n \
         cookie=0xab, duration=7.500s, table=0, n_packets=10, n_bytes=980, priority=100,ip,in_port=1 actions=resubmit(,4),output:2",
    );
    check(
        &Message::MultipartReply {
            flags: 0,
            body: MpReply::Aggregate(Aggregate {
                packet_count: 5,
                byte_count: 500,
                flow_count: 2,
            }),
        },
        Version::Of14,
        "OFPST_AGGREGATE reply (OF1.4) (xid=0x42): packet_count=5 byte_count=500 flow_count=2",
    );
    check(
        &Message::MultipartReply {
            flags: 0,
            body: MpReply::Desc(Desc {
                mfr: "vswitch".into(),
                hw: "userspace".into(),
                sw: "0.1.0".into(),
                serial: "None".into(),
                dp: "br0".into(),
            }),
        },
        Version::Of13,
        "OFPST_DESC reply (OF1.3) (xid=0x42):\n\
         Manufacturer: vswitch\n\
         Hardware: userspace\n\
         Software: 0.1.0\n\
         Serial Num: None\n\
         DP Description: br0",
    );
    check(
        &Message::MultipartReply {
            flags: 0,
            body: MpReply::PortStats(vec![PortStats {
                port_no: 1,
                rx_packets: 3,
                tx_packets: 4,
                rx_bytes: 300,
                tx_bytes: 400,
                duration_sec: 1,
                ..PortStats::default()
            }]),
        },
        Version::Of13,
        "OFPST_PORT reply (OF1.3) (xid=0x42): 1 ports\n  \
         port  1: rx pkts=3, bytes=300, drop=0, errs=0, frame=0, over=0, crc=0\n           \
         tx pkts=4, bytes=400, drop=0, errs=0, coll=0\n           \
         duration=1s",
    );
    check(
        &Message::MultipartReply {
            flags: 0,
            body: MpReply::Table(vec![TableStats {
                table_id: 0,
                active_count: 4,
                lookup_count: 10,
                matched_count: 8,
                ..TableStats::default()
            }]),
        },
        Version::Of13,
        "OFPST_TABLE reply (OF1.3) (xid=0x42):\n  table 0:\n    active=4, lookup=10, matched=8",
    );
}

#[test]
fn async_messages_print_as_ovs_reads_them() {
    if !have_ovs_ofctl() {
        return;
    }
    let packet = hex("00000000000200000000000108004500001400000000400000000a0000010a000002");
    check(
        &Message::PacketIn(PacketIn {
            buffer_id: 0xffff_ffff,
            total_len: packet.len() as u16,
            reason: 1,
            table_id: 2,
            cookie: 0x7,
            fields: vec![
                MatchEntry::exact(FieldId::InPort, 3),
                MatchEntry::exact(FieldId::Reg(0), 9),
            ],
            data: packet.clone(),
        }),
        Version::Of13,
        "OFPT_PACKET_IN (OF1.3) (xid=0x42): table_id=2 cookie=0x7 total_len=34 reg0=0x9,in_port=3 (via action) data_len=34 (unbuffered)\n\
         ip,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_proto=0,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no",
    );
    check(
        &Message::NxPacketIn2(PacketIn2 {
            packet: packet.clone(),
            full_len: None,
            buffer_id: None,
            table_id: Some(5),
            cookie: Some(0x1234),
            reason: Some(1),
            metadata: vec![MatchEntry::exact(FieldId::NxmInPort, 3)],
            userdata: Some(vec![0, 0, 0, 0x0c, 0, 0, 0, 0]),
            continuation: None,
        }),
        Version::Of15,
        "NXT_PACKET_IN2 (OF1.5) (xid=0x42): table_id=5 cookie=0x1234 total_len=34 in_port=3 (via action) data_len=34 (unbuffered)\n userdata=00.00.00.0c.00.00.00.00\n\
         ip,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_proto=0,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no",
    );
    check(
        &Message::FlowRemoved(FlowRemoved {
            cookie: 0x9,
            priority: 10,
            reason: 0,
            table_id: 1,
            duration_sec: 3,
            duration_nsec: 0,
            idle_timeout: 60,
            hard_timeout: 0,
            packet_count: 1,
            byte_count: 64,
            match_: Match::Fields(vec![MatchEntry::exact(FieldId::EthType, 0x0806)]),
        }),
        Version::Of13,
        "OFPT_FLOW_REMOVED (OF1.3) (xid=0x42): priority=10,arp reason=idle table_id=1 cookie:0x9 duration3s idle60 pkts1 bytes64",
    );
    check(
        &Message::FlowRemoved(FlowRemoved {
            cookie: 0,
            priority: 7,
            reason: 1,
            table_id: 2,
            duration_sec: 1,
            duration_nsec: 250_000_000,
            idle_timeout: 0,
            hard_timeout: 1,
            packet_count: 5,
            byte_count: 320,
            match_: Match::Fields(vec![MatchEntry::exact(FieldId::EthType, 0x0800)]),
        }),
        Version::Of15,
        "OFPT_FLOW_REMOVED (OF1.5) (xid=0x42): priority=7,ip reason=hard table_id=2 duration1.250s idle0 hard1 pkts5 bytes320",
    );
    check(
        &Message::PortStatus {
            reason: 0,
            desc: port(7, "tap7"),
        },
        Version::Of14,
        "OFPT_PORT_STATUS (OF1.4) (xid=0x42): ADD: 7(tap7): addr:aa:55:00:00:00:07\n     \
         config:     0\n     state:      LIVE\n     current:    10GB-FD COPPER\n     \
         speed: 10000 Mbps now, 0 Mbps max",
    );
}

#[test]
fn errors_and_control_replies_print_as_ovs_reads_them() {
    if !have_ovs_ofctl() {
        return;
    }
    let offending = ofp::encode(&Message::BarrierRequest, Version::Of13, 7).unwrap();
    check(
        &Message::Error(ErrorMsg::new(
            ErrorCode::BadMatchPrereq,
            Version::Of13,
            &offending,
        )),
        Version::Of13,
        "OFPT_ERROR (OF1.3) (xid=0x42): OFPBMC_BAD_PREREQ\nOFPT_BARRIER_REQUEST (OF1.3) (xid=0x7):",
    );
    let offending10 = ofp::encode(&Message::BarrierRequest, Version::Of10, 7).unwrap();
    check(
        &Message::Error(ErrorMsg::new(
            ErrorCode::BadMatchDupField,
            Version::Of10,
            &offending10,
        )),
        Version::Of10,
        "OFPT_ERROR (xid=0x42): OFPBMC_DUP_FIELD\nOFPT_BARRIER_REQUEST (xid=0x7):",
    );
    check(
        &Message::Error(ErrorMsg::new(
            ErrorCode::Bundle(2),
            Version::Of13,
            &offending,
        )),
        Version::Of13,
        "OFPT_ERROR (OF1.3) (xid=0x42): OFPBFC_BAD_ID\nOFPT_BARRIER_REQUEST (OF1.3) (xid=0x7):",
    );
    check(
        &Message::BundleControl(BundleCtrl {
            bundle_id: 3,
            typ: bct::COMMIT_REPLY,
            flags: 3,
        }),
        Version::Of14,
        "OFPT_BUNDLE_CONTROL (OF1.4) (xid=0x42):\n bundle_id=0x3 type=COMMIT_REPLY flags=atomic ordered",
    );
    check(
        &Message::BundleControl(BundleCtrl {
            bundle_id: 3,
            typ: bct::OPEN_REPLY,
            flags: 1,
        }),
        Version::Of13,
        "ONFT_BUNDLE_CONTROL (OF1.3) (xid=0x42):\n bundle_id=0x3 type=OPEN_REPLY flags=atomic",
    );
    check(
        &Message::RoleReply(Role {
            role: 2,
            generation_id: 5,
        }),
        Version::Of13,
        "OFPT_ROLE_REPLY (OF1.3) (xid=0x42): role=primary generation_id=5",
    );
    let mut masks = [None; 12];
    for (i, m) in [0u32, 7, 7, 7, 0, 15].into_iter().enumerate() {
        masks[i] = Some(m);
    }
    check(
        &Message::GetAsyncReply(AsyncConfig { masks }),
        Version::Of13,
        "OFPT_GET_ASYNC_REPLY (OF1.3) (xid=0x42):\n primary:\n       PACKET_IN: no_match action invalid_ttl\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)\n\n secondary:\n       PACKET_IN: (off)\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)",
    );
    check(
        &Message::FeaturesReply(Features {
            datapath_id: 1,
            n_tables: 254,
            ports: vec![PortDesc {
                curr_speed: 0,
                ..port(1, "p1")
            }],
            ..Features::default()
        }),
        Version::Of10,
        "OFPT_FEATURES_REPLY (xid=0x42): dpid:0000000000000001\n\
         n_tables:254, n_buffers:0\n\
         capabilities: 0\n \
         1(p1): addr:aa:55:00:00:00:01\n     config:     0\n     state:      0\n     \
         current:    10GB-FD AUTO_PAUSE_ASYM\n     speed: 10000 Mbps now, 0 Mbps max",
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
