//! `conjunction` and `conj_id` on the wire: flow-mods built from the text syntax, encoded by
//! the codec, must read back the same and print as OVS prints them (`ovs-ofctl ofp-print`).

use super::convert::flow_mod_to_model;
use super::to_wire::{actions_to_instructions, match_to_wire};
use crate::ofctl::{FlowSyntax, NoNames, parse_flow};
use ofp::Version;
use ofp::message::{FlowMod as WireFlowMod, Match as WireMatch, Message, fc};
use std::process::Command;

/// `ovs-ofctl ofp-print HEX`, or `None` (skipped loudly; a failure under `CI=true`).
fn ofp_print(bytes: &[u8]) -> Option<String> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match Command::new("ovs-ofctl").arg("ofp-print").arg(hex).output() {
        Ok(o) if o.status.success() => Some(String::from_utf8(o.stdout).expect("utf-8")),
        Ok(o) => panic!("ofp-print failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "ovs-ofctl is required under CI: {e}"
            );
            eprintln!("SKIPPING: ovs-ofctl not available ({e}); this fails under CI=true");
            None
        }
    }
}

fn wire(text: &str, v: Version) -> (WireFlowMod, Vec<u8>) {
    let spec = parse_flow(text, &NoNames, FlowSyntax::Add).unwrap();
    let fm = WireFlowMod {
        cookie: 0,
        cookie_mask: 0,
        table_id: spec.table,
        command: fc::ADD,
        idle_timeout: 0,
        hard_timeout: 0,
        priority: spec.priority,
        buffer_id: ofp::message::NO_BUFFER,
        out_port: crate::ofproto::ofpp::ANY,
        out_group: ofp::message::OFPG_ANY,
        flags: 0,
        importance: 0,
        match_: WireMatch::Fields(match_to_wire(&spec.m).unwrap()),
        instructions: actions_to_instructions(&spec.actions, v).unwrap(),
    };
    let bytes = ofp::message::encode(&Message::FlowMod(fm.clone()), v, 7).unwrap();
    (fm, bytes)
}

#[test]
fn conjunction_and_conj_id_round_trip_and_print_as_ovs() {
    for (text, want) in [
        (
            "table=2,priority=100,ip,nw_src=10.0.0.1,actions=conjunction(7,1/2),conjunction(8,3/3)",
            "priority=100,ip,nw_src=10.0.0.1 actions=conjunction(7,1/2),conjunction(8,3/3)",
        ),
        (
            "table=2,priority=100,conj_id=7,ip,actions=output:2",
            "priority=100,conj_id=7,ip actions=output:2",
        ),
    ] {
        for v in [Version::Of13, Version::Of15] {
            let (fm, bytes) = wire(text, v);
            let back = flow_mod_to_model(&fm).unwrap();
            assert_eq!(
                back.spec,
                parse_flow(text, &NoNames, FlowSyntax::Add).unwrap()
            );
            let Some(printed) = ofp_print(&bytes) else {
                return;
            };
            assert!(printed.contains(want), "{v:?}: {printed}");
            assert!(printed.contains("table:2"), "{v:?}: {printed}");
        }
    }
}
