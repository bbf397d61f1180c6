use super::*;
use ofp::Action;

fn bucket(id: u32, weight: u16, port: u32) -> wire::Bucket {
    wire::Bucket {
        bucket_id: id,
        weight,
        watch_port: u32::MAX,
        watch_group: u32::MAX,
        actions: vec![Action::Output { port, max_len: 0 }],
    }
}

fn ids(g: &GroupMod) -> Vec<u32> {
    g.spec.buckets.iter().map(|b| b.id).collect()
}

#[test]
fn wire_groups_are_the_text_syntax_groups() {
    let gm = wire::GroupMod {
        command: gc::ADD,
        typ: 1,
        group_id: 5,
        command_bucket_id: wire::BUCKET_ALL,
        buckets: vec![bucket(0, 10, 1), bucket(1, 20, 2)],
        selection: None,
    };
    let WireGroupMod::Whole(m) = group_mod_to_model(&gm).unwrap() else {
        panic!("a whole-group command");
    };
    assert_eq!(m.command, GroupModCommand::Add);
    assert_eq!(
        format_group(&m.spec, &NoNames, true),
        "group_id=5,type=select,bucket=bucket_id:0,weight:10,actions=output:1,\
         bucket=bucket_id:1,weight:20,actions=output:2"
    );
    // And back: the group-desc entry carries what the group-mod did.
    let desc = group_desc(&m.spec, Version::Of13).unwrap();
    assert_eq!(desc.buckets, gm.buckets);
    // OpenFlow 1.5's bucket commands resolve against the installed group.
    let ins = wire::GroupMod {
        command: gc::INSERT_BUCKET,
        command_bucket_id: BUCKET_FIRST,
        buckets: vec![bucket(7, 1, 3)],
        ..gm.clone()
    };
    let m2 = apply_bucket_command(&ins, Some(&m.spec)).unwrap();
    assert_eq!(ids(&m2), vec![7, 0, 1]);
    assert_eq!(
        apply_bucket_command(&ins, Some(&m2.spec))
            .unwrap_err()
            .code(),
        ErrorCode::GroupMod(gmfc::BUCKET_EXISTS)
    );
    let rm = wire::GroupMod {
        command: gc::REMOVE_BUCKET,
        command_bucket_id: 0,
        buckets: Vec::new(),
        ..gm.clone()
    };
    assert_eq!(
        ids(&apply_bucket_command(&rm, Some(&m2.spec)).unwrap()),
        vec![7, 1]
    );
    assert_eq!(
        apply_bucket_command(&rm, None).unwrap_err().code(),
        ErrorCode::GroupMod(gmfc::UNKNOWN)
    );
    let bad = wire::GroupMod { typ: 9, ..gm };
    assert_eq!(
        group_mod_to_model(&bad).unwrap_err().code(),
        ErrorCode::GroupMod(gmfc::BAD_TYPE)
    );
}
