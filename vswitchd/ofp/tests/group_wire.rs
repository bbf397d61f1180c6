//! Groups on the wire against the real `ovs-ofctl` 3.1: what its group commands send decodes
//! and re-encodes byte for byte, and what we encode `ovs-ofctl ofp-print` reads as intended.

mod common;

use common::{capture, have_ovs_ofctl, ofp_print};
use ofp::group::{Bucket, GroupDesc, GroupFeatures, GroupMod, GroupStats, gc};
use ofp::multipart::MpReply;
use ofp::{Action, Message, Version};

fn group_mods(args: &[&str]) -> Vec<(Version, GroupMod)> {
    let c = capture(args);
    assert!(c.status.success(), "{} {}", c.stdout, c.stderr);
    let mut out = Vec::new();
    for (rx, (h, m)) in c.messages.iter().zip(c.decoded()) {
        let v = match Version::from_wire(h.version) {
            Some(v) => v,
            None => continue,
        };
        if let Message::GroupMod(g) = &m {
            let again = ofp::encode(&m, v, h.xid).unwrap();
            assert_eq!(again, rx.bytes, "re-encoding {m:?}");
            out.push((v, g.clone()));
        }
    }
    out
}

#[test]
fn ovs_ofctl_group_mods_decode_and_reencode() {
    if !have_ovs_ofctl() {
        return;
    }
    let g = group_mods(&[
        "-O",
        "OpenFlow13",
        "add-group",
        "SOCK",
        "group_id=1,type=select,bucket=weight:10,watch_port:2,actions=output:2,\
         bucket=actions=mod_dl_src:00:00:00:00:00:01,output:3",
    ]);
    assert_eq!(g.len(), 1);
    let (v, g) = &g[0];
    assert_eq!(*v, Version::Of13);
    assert_eq!((g.command, g.typ, g.group_id), (gc::ADD, 1, 1));
    assert_eq!(g.buckets.len(), 2);
    assert_eq!((g.buckets[0].weight, g.buckets[0].watch_port), (10, 2));

    let g = group_mods(&[
        "-O",
        "OpenFlow15",
        "add-group",
        "SOCK",
        "group_id=1,type=select,selection_method=hash,fields(ip_src,tcp_dst),\
         bucket=bucket_id:5,weight:10,watch_port:2,actions=output:2,bucket=actions=output:3",
    ]);
    let (_, g) = &g[0];
    assert_eq!(g.buckets[0].bucket_id, 5);
    let sel = g.selection.as_ref().expect("selection method");
    assert_eq!((sel.method.as_str(), sel.fields.len()), ("hash", 2));
    let g = group_mods(&[
        "-O",
        "OpenFlow15",
        "add-group",
        "SOCK",
        "group_id=1,type=select,selection_method=hash,selection_method_param=7,\
         fields(ip_src=255.255.0.0,tcp_dst),bucket=actions=output:3",
    ]);
    let sel = g[0].1.selection.as_ref().expect("selection method");
    // Each field's value is its mask; no mask bit in the header.
    assert_eq!(sel.fields[0].value, 0xffff_0000);
    assert_eq!((sel.param, sel.fields[1].mask), (7, None));

    for (proto, args) in [
        ("OpenFlow15", vec!["del-groups", "SOCK"]),
        ("OpenFlow13", vec!["del-groups", "SOCK", "group_id=3"]),
        (
            "OpenFlow15",
            vec!["mod-group", "SOCK", "group_id=3,type=all,bucket=output:1"],
        ),
        (
            "OpenFlow13",
            vec![
                "--may-create",
                "mod-group",
                "SOCK",
                "group_id=3,type=ff,bucket=watch_port:1,output:1",
            ],
        ),
        (
            "OpenFlow15",
            vec![
                "insert-buckets",
                "SOCK",
                "group_id=3,command_bucket_id=first,bucket=output:4",
            ],
        ),
        (
            "OpenFlow15",
            vec!["remove-buckets", "SOCK", "group_id=3,command_bucket_id=all"],
        ),
    ] {
        let mut a = vec!["-O", proto];
        a.extend(args);
        assert_eq!(group_mods(&a).len(), 1, "{a:?}");
    }
}

fn desc() -> Vec<GroupDesc> {
    let b = |id, weight, port| Bucket {
        bucket_id: id,
        weight,
        watch_port: 0xffff_ffff,
        watch_group: 0xffff_ffff,
        actions: vec![Action::Output { port, max_len: 0 }],
    };
    vec![
        GroupDesc {
            typ: 1,
            group_id: 1,
            buckets: vec![b(0, 10, 2), b(1, 1, 3)],
            selection: None,
        },
        GroupDesc {
            typ: 3,
            group_id: 2,
            buckets: vec![Bucket {
                watch_port: 1,
                ..b(0, 0, 1)
            }],
            selection: None,
        },
    ]
}

fn print(body: MpReply, v: Version) -> String {
    let bytes = ofp::encode(&Message::MultipartReply { flags: 0, body }, v, 3).unwrap();
    ofp_print(&bytes)
}

#[test]
fn group_replies_print_as_ovs_reads_them() {
    if !have_ovs_ofctl() {
        return;
    }
    let out = print(MpReply::GroupDesc(desc()), Version::Of13);
    assert!(
        out.contains(
            "group_id=1,type=select,bucket=weight:10,actions=output:2,bucket=actions=output:3"
        ),
        "{out}"
    );
    assert!(
        out.contains("group_id=2,type=ff,bucket=watch_port:1,actions=output:1"),
        "{out}"
    );
    let out = print(MpReply::GroupDesc(desc()), Version::Of15);
    assert!(
        out.contains("group_id=1,type=select,bucket=bucket_id:0,weight:10,actions=output:2"),
        "{out}"
    );
    let out = print(
        MpReply::GroupStats(vec![GroupStats {
            group_id: 1,
            ref_count: 2,
            packet_count: 30,
            byte_count: 4000,
            duration_sec: 5,
            duration_nsec: 500_000_000,
            buckets: vec![(10, 1000), (20, 3000)],
        }]),
        Version::Of13,
    );
    assert!(
        out.contains(
            "group_id=1,duration=5.500s,ref_count=2,packet_count=30,byte_count=4000,\
             bucket0:packet_count=10,byte_count=1000,bucket1:packet_count=20,byte_count=3000"
        ),
        "{out}"
    );
    let out = print(
        MpReply::GroupFeatures(GroupFeatures {
            types: 0xf,
            capabilities: 7,
            max_groups: [0xffff_ff00; 4],
            actions: [1; 4],
        }),
        Version::Of13,
    );
    assert!(out.contains("Types:  0xf"), "{out}");
    assert!(out.contains("max_groups=0xffffff00"), "{out}");
}

#[test]
fn meter_messages_print_as_ovs_reads_them() {
    use ofp::meter::{Band, MeterConfig, MeterFeatures, MeterMod, MeterStats, mbt, mc, mf};
    if !have_ovs_ofctl() {
        return;
    }
    let band = Band {
        typ: mbt::DROP,
        rate: 1000,
        burst_size: 100,
        prec_level: 0,
        experimenter: 0,
    };
    let mm = Message::MeterMod(MeterMod {
        command: mc::ADD,
        flags: mf::KBPS | mf::BURST | mf::STATS,
        meter_id: 1,
        bands: vec![band.clone()],
    });
    let out = ofp_print(&ofp::encode(&mm, Version::Of13, 2).unwrap());
    assert!(
        out.contains("ADD meter=1 kbps burst stats bands=\ntype=drop rate=1000 burst_size=100"),
        "{out}"
    );
    let out = print(
        MpReply::MeterConfig(vec![MeterConfig {
            flags: mf::PKTPS,
            meter_id: 2,
            bands: vec![band],
        }]),
        Version::Of13,
    );
    // Without the burst flag OVS prints no burst size.
    assert!(
        out.contains("meter=2 pktps bands=\ntype=drop rate=1000\n"),
        "{out}"
    );
    let out = print(
        MpReply::MeterStats(vec![MeterStats {
            meter_id: 2,
            flow_count: 1,
            packet_in_count: 30,
            byte_in_count: 4000,
            duration_sec: 5,
            duration_nsec: 500_000_000,
            bands: vec![(10, 1000)],
        }]),
        Version::Of13,
    );
    assert!(
        out.contains(
            "meter:2 flow_count:1 packet_in_count:30 byte_in_count:4000 duration:5.500s bands:\n0: packet_count:10 byte_count:1000"
        ),
        "{out}"
    );
    let out = print(
        MpReply::MeterFeatures(MeterFeatures {
            max_meter: 1 << 18,
            band_types: 1 << mbt::DROP,
            capabilities: 0xf,
            max_bands: 8,
            max_color: 0,
        }),
        Version::Of13,
    );
    assert!(out.contains("max_meter:262144"), "{out}");
    assert!(out.contains("band_types: drop"), "{out}");
}

#[test]
fn ovs_ofctl_meter_mods_decode_and_reencode() {
    if !have_ovs_ofctl() {
        return;
    }
    for (cmd, arg) in [
        (
            "add-meter",
            "meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100",
        ),
        ("mod-meter", "meter=1,pktps,bands=type=drop,rate=10"),
        ("del-meter", "meter=1"),
        ("del-meters", ""),
    ] {
        let mut a = vec!["-O", "OpenFlow13", cmd, "SOCK"];
        if !arg.is_empty() {
            a.push(arg);
        }
        let c = capture(&a);
        assert!(c.status.success(), "{a:?}: {}", c.stderr);
        let mut n = 0;
        for (rx, (h, m)) in c.messages.iter().zip(c.decoded()) {
            if let Message::MeterMod(_) = &m {
                let v = Version::from_wire(h.version).unwrap();
                assert_eq!(ofp::encode(&m, v, h.xid).unwrap(), rx.bytes);
                n += 1;
            }
        }
        assert_eq!(n, 1, "{a:?}");
    }
}
