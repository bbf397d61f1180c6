use super::*;
use crate::field::FieldId;
use crate::{Message, decode, encode};

fn bucket(id: u32, weight: u16, port: u32) -> Bucket {
    Bucket {
        bucket_id: id,
        weight,
        watch_port: OFPP_ANY,
        watch_group: OFPG_ANY,
        actions: vec![Action::Output { port, max_len: 0 }],
    }
}

fn round_trip(m: &Message, v: Version) -> Message {
    let bytes = encode(m, v, 7).unwrap();
    let (h, back) = decode(&bytes).unwrap();
    assert_eq!(usize::from(h.length), bytes.len());
    assert_eq!(encode(&back, v, 7).unwrap(), bytes);
    back
}

#[test]
fn group_mods_round_trip_in_every_version_that_has_them() {
    let gm = GroupMod {
        command: gc::ADD,
        typ: OFPGT_SELECT,
        group_id: 5,
        command_bucket_id: BUCKET_ALL,
        buckets: vec![bucket(0, 10, 2), bucket(1, 1, 3)],
        selection: None,
    };
    for v in [Version::Of13, Version::Of14, Version::Of15] {
        let m = Message::GroupMod(gm.clone());
        assert_eq!(round_trip(&m, v), m, "{v:?}");
    }
    assert!(encode(&Message::GroupMod(gm.clone()), Version::Of10, 1).is_err());
    // OpenFlow 1.5 keeps bucket ids and the selection method; 1.3 cannot say them.
    let gm15 = GroupMod {
        buckets: vec![bucket(7, 10, 2)],
        selection: Some(Selection {
            method: "hash".into(),
            param: 0,
            fields: vec![
                MatchEntry::exact(FieldId::Ipv4Src, u128::from(u32::MAX)),
                MatchEntry::exact(FieldId::TcpDst, 0xfff0),
            ],
        }),
        ..gm
    };
    let m = Message::GroupMod(gm15);
    assert_eq!(round_trip(&m, Version::Of15), m);
    assert!(encode(&m, Version::Of13, 1).is_err());
}

/// Found by fuzzing: OVS decodes a 1.1-1.4 insert/remove-bucket command (as acting on "all
/// buckets"), so it must encode back; only a named bucket cannot be said before 1.5.
#[test]
fn a_bucket_command_before_1_5_round_trips_unless_it_names_a_bucket() {
    for command in [gc::INSERT_BUCKET, gc::REMOVE_BUCKET] {
        let gm = GroupMod {
            command,
            typ: 0,
            group_id: 3,
            command_bucket_id: BUCKET_ALL,
            buckets: vec![],
            selection: None,
        };
        let m = Message::GroupMod(gm.clone());
        assert_eq!(round_trip(&m, Version::Of13), m);
        let named = Message::GroupMod(GroupMod {
            command_bucket_id: 1,
            ..gm
        });
        assert!(encode(&named, Version::Of13, 1).is_err());
    }
}

#[test]
fn truncated_buckets_are_refused() {
    let gm = GroupMod {
        command: gc::ADD,
        typ: 0,
        group_id: 1,
        command_bucket_id: BUCKET_ALL,
        buckets: vec![bucket(0, 0, 1)],
        selection: None,
    };
    for v in [Version::Of13, Version::Of15] {
        let bytes = encode(&Message::GroupMod(gm.clone()), v, 1).unwrap();
        for cut in 9..bytes.len() {
            let mut b = bytes[..cut].to_vec();
            b[2..4].copy_from_slice(&(cut as u16).to_be_bytes());
            assert!(decode(&b).is_err() || cut == 16 && v == Version::Of13);
        }
    }
}
