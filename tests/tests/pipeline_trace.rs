//! Pipeline tests in the style of OVS's `tests/ofproto-dpif.at`: a flow table, a packet, and
//! the datapath actions and megaflow the offline trace must report — one case per match field
//! family and per action — plus the DESIGN §6 example verbatim and a soundness property: every
//! packet that matches a translation's megaflow translates to the same datapath actions.

use vswitchd::trace::{TraceReport, offline_trace};

fn trace(flows: &str, ports: u32, packet: &str, ct_next: &[&str]) -> TraceReport {
    let ct: Vec<String> = ct_next.iter().map(|s| s.to_string()).collect();
    offline_trace(flows, ports, packet, &ct).unwrap_or_else(|e| panic!("trace failed: {e}"))
}

/// (megaflow, datapath actions) of the first pass, with 4 ports.
fn first_pass(flows: &str, packet: &str) -> (String, String) {
    let r = trace(flows, 4, packet, &[]);
    let p = &r.passes[0];
    assert!(p.error.is_none(), "unexpected error: {:?}", p.error);
    (
        p.megaflow.clone().unwrap_or_default(),
        p.datapath_actions.clone(),
    )
}

fn check(flows: &str, packet: &str, megaflow: &str, actions: &str) {
    let (m, a) = first_pass(flows, packet);
    assert_eq!(a, actions, "datapath actions for {packet}");
    assert_eq!(m, megaflow, "megaflow for {packet}");
}

const TCP_PKT: &str = "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,tcp,\
                       nw_src=10.0.1.5,nw_dst=10.0.0.7,tp_src=1234,tp_dst=80,tcp_flags=syn";

#[test]
fn design_section_6_example() {
    let flows = "\
# DESIGN §6
table=0,priority=90,tcp,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,actions=set_field:0x1->reg0,goto_table:1
table=1,priority=100,reg0=0x1,tcp,tp_dst=80,actions=mod_nw_tos:32,output:2
";
    let r = trace(flows, 2, TCP_PKT, &[]);
    let text = r.to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("Flow: tcp,in_port=1,dl_src=00:00:00:00:00:01,"),
        "{text}"
    );
    assert!(
        lines[0].ends_with(",tp_src=1234,tp_dst=80,tcp_flags=syn"),
        "{text}"
    );
    assert_eq!(
        lines[1],
        " 0. priority 90, tcp,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24 ─ set_field:0x1->reg0, goto_table:1"
    );
    // The rule's match prints in ovs-ofctl's match_format order (protocol, then registers).
    assert_eq!(
        lines[2],
        " 1. priority 100, tcp,reg0=0x1,tp_dst=80 ─ mod_nw_tos:32, output:2"
    );
    // Issue 20 added OVS's `Final flow:` line (the packet as the actions left it) where
    // ofproto/trace prints it, before the megaflow; DESIGN §6's example predates it.
    assert_eq!(
        lines[3],
        "Final flow: tcp,reg0=0x1,in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,\
         nw_src=10.0.1.5,nw_dst=10.0.0.7,nw_tos=32,nw_ecn=0,nw_ttl=0,nw_frag=no,tp_src=1234,\
         tp_dst=80,tcp_flags=syn"
    );
    assert_eq!(
        lines[4],
        "Megaflow: recirc_id=0,eth,tcp,in_port=1,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,nw_tos=0,nw_frag=no,tp_dst=80"
    );
    assert_eq!(lines[5], "Datapath actions: set(ipv4(tos=0x20/0xfc)),2");
    assert_eq!(lines.len(), 6);

    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let pass = &v["passes"][0];
    assert_eq!(pass["steps"][0]["table"], 0);
    assert_eq!(pass["steps"][0]["priority"], 90);
    assert_eq!(pass["steps"][0]["cookie"], "0x0");
    assert_eq!(
        pass["steps"][0]["match"],
        "tcp,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24"
    );
    assert_eq!(
        pass["steps"][0]["actions"],
        "set_field:0x1->reg0, goto_table:1"
    );
    assert_eq!(pass["datapath_actions"], "set(ipv4(tos=0x20/0xfc)),2");
    assert_eq!(pass["outputs"], serde_json::json!([2]));
}

#[test]
fn goto_table_chain() {
    check(
        "table=0,ip,actions=goto_table:1
         table=1,ip,nw_dst=10.0.0.1,actions=goto_table:5
         table=5,actions=output:2",
        "in_port=1,ip,nw_dst=10.0.0.1",
        "recirc_id=0,eth,ip,in_port=1,nw_dst=10.0.0.1,nw_frag=no",
        "2",
    );
}

#[test]
fn resubmit_with_and_without_in_port() {
    let flows = "table=0,in_port=1,actions=resubmit(,1),resubmit(2,1),output:4
                 table=1,in_port=1,actions=output:3
                 table=1,in_port=2,actions=output:1";
    // resubmit(2,1) looks up as if from port 2, but (as in OVS, which restores in_port after
    // the lookup) the rule's actions run with in_port=1, so its output:1 is to the input
    // port and sends nothing. OVS 3.1's ofproto/trace gives `Datapath actions: 3,4`.
    check(
        flows,
        "in_port=1,ip",
        "recirc_id=0,eth,ip,in_port=1,nw_frag=no",
        "3,4",
    );
    let r = trace(flows, 4, "in_port=1,ip", &[]);
    let steps = &r.passes[0].steps;
    assert_eq!(
        steps.iter().map(|s| s.table).collect::<Vec<_>>(),
        vec![0, 1, 1]
    );
    assert_eq!(r.passes[0].outputs, vec![3, 4]);
    assert!(
        r.to_text()
            .contains("\n     1. priority 32768, in_port=1 ─ output:3\n")
    );
}

#[test]
fn table_miss_drops_with_a_narrow_megaflow() {
    let flows = "table=0,ip,nw_dst=10.0.0.1,actions=output:2";
    let r = trace(flows, 4, "in_port=1,ip,nw_dst=10.0.0.2", &[]);
    let p = &r.passes[0];
    assert_eq!(p.datapath_actions, "drop");
    assert!(r.to_text().contains(" 0. No match ─ drop\n"));
    // The miss needs only some nw_dst bits (OVS: a /31 prefix; our classifier may find a
    // narrower set of differing bits), never the whole address.
    let m = p.megaflow.as_deref().unwrap();
    assert!(m.starts_with("recirc_id=0,eth,ip,in_port=1,nw_dst="), "{m}");
    assert!(m.ends_with(",nw_frag=no"), "{m}");
    assert!(!m.contains("nw_dst=10.0.0.2,"), "{m}");
}

#[test]
fn resubmit_depth_limit() {
    // Each pass through table 0 bumps reg0, so the flow never repeats: only the depth limit
    // stops it.
    let flows: String = (0..70)
        .map(|i| {
            format!(
                "table=0,reg0={i},actions=load:{}->reg0[],resubmit(,0)\n",
                i + 1
            )
        })
        .collect();
    let r = trace(&flows, 2, "in_port=1,ip", &[]);
    let p = &r.passes[0];
    assert_eq!(
        p.error.as_deref(),
        Some("resubmit depth exceeded (64 levels)")
    );
    assert_eq!(p.datapath_actions, "drop");
    assert_eq!(p.megaflow, None);
    assert_eq!(p.steps.len(), 64);
    assert!(
        r.to_text()
            .contains("Translation failed: resubmit depth exceeded")
    );

    // Resubmits to later tables do not deepen (as OVS): a 100-table chain is fine.
    let flows: String = (0..100)
        .map(|i| format!("table={i},actions=resubmit(,{})\n", i + 1))
        .chain(std::iter::once("table=100,actions=output:2\n".to_string()))
        .collect();
    let (_, a) = first_pass(&flows, "in_port=1,ip");
    assert_eq!(a, "2");
}

#[test]
fn resubmit_loop_is_detected() {
    let r = trace("table=0,actions=resubmit(,0)", 2, "in_port=1,ip", &[]);
    assert_eq!(
        r.passes[0].error.as_deref(),
        Some("resubmit loop detected: table 0 re-entered with an unchanged flow")
    );
    assert_eq!(r.passes[0].datapath_actions, "drop");
    // Resubmitting twice to the same table in sequence is not a loop.
    check(
        "table=0,actions=resubmit(,1),resubmit(,1)
         table=1,actions=output:2",
        "in_port=1,ip",
        "recirc_id=0,eth,ip,in_port=1,nw_frag=no",
        "2,2",
    );
}

#[test]
fn registers_load_and_move() {
    let flows =
        "table=0,ip,actions=move:nw_src[0..7]->reg2[0..7],load:0x5->reg1[8..15],resubmit(,1)
                 table=1,reg1=0x500,reg2=0x9,actions=output:2";
    check(
        flows,
        "in_port=1,ip,nw_src=10.0.0.9",
        "recirc_id=0,eth,ip,in_port=1,nw_src=0.0.0.9/0.0.0.255,nw_frag=no",
        "2",
    );
    check(
        flows,
        "in_port=1,ip,nw_src=10.0.0.8",
        "recirc_id=0,eth,ip,in_port=1,nw_src=0.0.0.8/0.0.0.255,nw_frag=no",
        "drop",
    );
    // metadata is pipeline scratch too.
    check(
        "table=0,actions=set_field:0x7->metadata,goto_table:1
         table=1,metadata=0x7,actions=output:3",
        "in_port=1,ip",
        "recirc_id=0,eth,ip,in_port=1,nw_frag=no",
        "3",
    );
}

#[test]
fn set_field_masked_and_mod_actions() {
    let flows = "table=0,ip,actions=set_field:10.0.0.0/255.0.0.0->nw_dst,mod_dl_src:00:00:00:00:00:aa,output:2";
    check(
        flows,
        "in_port=1,dl_src=00:00:00:00:00:01,ip,nw_dst=192.168.1.7",
        "recirc_id=0,eth,ip,in_port=1,dl_src=00:00:00:00:00:01,nw_dst=192.0.0.0/8,nw_frag=no",
        "set(eth(src=00:00:00:00:00:aa)),set(ipv4(dst=10.0.0.0/255.0.0.0)),2",
    );
    // Nothing to rewrite when the packet already has the value; the megaflow still pins it.
    check(
        flows,
        "in_port=1,dl_src=00:00:00:00:00:aa,ip,nw_dst=10.1.2.3",
        "recirc_id=0,eth,ip,in_port=1,dl_src=00:00:00:00:00:aa,nw_dst=10.0.0.0/8,nw_frag=no",
        "2",
    );
    check(
        "table=0,tcp,actions=mod_tp_dst:8080,mod_nw_ttl:9,output:2",
        TCP_PKT,
        "recirc_id=0,eth,tcp,in_port=1,nw_ttl=0,nw_frag=no,tp_dst=80",
        "set(ipv4(ttl=9)),set(tcp(dst=8080)),2",
    );
    check(
        "table=0,udp6,actions=set_field:fd00::1->ipv6_dst,mod_tp_src:53,output:2",
        "in_port=1,udp6,ipv6_dst=fd00::2,tp_src=9",
        "recirc_id=0,eth,udp6,in_port=1,ipv6_dst=fd00::2,nw_frag=no,tp_src=9",
        "set(ipv6(dst=fd00::1)),set(udp(src=53)),2",
    );
}

#[test]
fn vlan_push_pop_modify() {
    check(
        "table=0,actions=push_vlan:0x8100,mod_vlan_vid:10,output:2",
        "in_port=1,ip",
        "recirc_id=0,eth,ip,in_port=1,vlan_tci=0x0000/0x1fff,nw_frag=no",
        "push_vlan(vid=10,pcp=0),2",
    );
    check(
        "table=0,actions=mod_vlan_vid:6,output:2",
        "in_port=1,dl_vlan=5,ip",
        "recirc_id=0,eth,ip,in_port=1,dl_vlan=5,dl_vlan_pcp=0,nw_frag=no",
        "pop_vlan,push_vlan(vid=6,pcp=0),2",
    );
    check(
        "table=0,dl_vlan=5,actions=strip_vlan,output:2",
        "in_port=1,dl_vlan=5,ip",
        "recirc_id=0,eth,ip,in_port=1,dl_vlan=5,dl_vlan_pcp=0,nw_frag=no",
        "pop_vlan,2",
    );
    check(
        "table=0,actions=mod_vlan_pcp:3,output:2",
        "in_port=1,ip",
        "recirc_id=0,eth,ip,in_port=1,vlan_tci=0x0000/0xf000,nw_frag=no",
        "push_vlan(vid=0,pcp=3),2",
    );
    // A tag pushed and popped again cancels out: nothing reaches the datapath (the pop
    // matches the outer tag position exactly, as OVS's strip_vlan does).
    check(
        "table=0,actions=push_vlan:0x8100,mod_vlan_vid:10,pop_vlan,output:2",
        "in_port=1,ip",
        "recirc_id=0,eth,ip,in_port=1,vlan_tci=0x0000,nw_frag=no",
        "2",
    );
    // Q-in-Q: an 802.1ad tag over the existing one.
    check(
        "table=0,actions=push_vlan:0x88a8,mod_vlan_vid:100,output:2",
        "in_port=1,dl_vlan=5,ip",
        "recirc_id=0,eth,ip,in_port=1,dl_vlan=5,dl_vlan_pcp=0,nw_frag=no",
        "push_vlan(tpid=0x88a8,vid=100,pcp=0),2",
    );
}

#[test]
fn dec_ttl_and_ttl_exceeded() {
    let flows = "table=0,ip,actions=dec_ttl,output:2";
    check(
        flows,
        "in_port=1,ip,nw_ttl=64",
        "recirc_id=0,eth,ip,in_port=1,nw_ttl=64,nw_frag=no",
        "set(ipv4(ttl=63)),2",
    );
    check(
        flows,
        "in_port=1,ip,nw_ttl=1",
        "recirc_id=0,eth,ip,in_port=1,nw_ttl=1,nw_frag=no",
        "drop",
    );
    let r = trace(flows, 2, "in_port=1,ip,nw_ttl=1", &[]);
    assert!(r.to_text().contains(">> dec_ttl: TTL exceeded"));
    check(
        "table=0,ipv6,actions=dec_ttl,output:2",
        "in_port=1,ipv6,nw_ttl=2",
        "recirc_id=0,eth,ipv6,in_port=1,nw_ttl=2,nw_frag=no",
        "set(ipv6(hlimit=1)),2",
    );
}

#[test]
fn outputs_and_reserved_ports() {
    let pkt = "in_port=1,ip";
    let base = "recirc_id=0,eth,ip,in_port=1,nw_frag=no";
    check("actions=output:1", pkt, base, "drop");
    let r = trace("actions=output:1", 4, pkt, &[]);
    assert!(r.to_text().contains(">> skipping output to input port"));
    check("actions=in_port", pkt, base, "1");
    check("actions=output:2,output:3", pkt, base, "2,3");
    check("actions=all", pkt, base, "2,3,4");
    check("actions=flood", pkt, base, "2,3,4");
    check("actions=drop", pkt, base, "drop");
    check("actions=output:9", pkt, base, "drop");
    check("actions=local", pkt, base, "drop");
    let r = trace("actions=local", 4, pkt, &[]);
    assert!(
        r.to_text().contains(">> output to nonexistent port"),
        "{}",
        r.to_text()
    );
    let r = trace("actions=all", 4, pkt, &[]);
    assert_eq!(r.passes[0].outputs, vec![2, 3, 4]);
}

#[test]
fn normal_floods_unknown_destinations() {
    check(
        "actions=normal",
        "in_port=2,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:09,ip",
        "recirc_id=0,eth,ip,in_port=2,vlan_tci=0x0000/0x1fff,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:09,nw_frag=no",
        "1,3,4",
    );
}

#[test]
fn match_fields_select_rules() {
    // One rule per field family; the packet matches exactly one, which names its port.
    let flows = "\
priority=10,actions=drop
priority=20,in_port=3,actions=output:1
priority=30,dl_src=00:00:00:00:00:0a,actions=output:2
priority=40,arp,arp_op=1,arp_tpa=10.0.0.1,actions=output:3
priority=50,icmp,icmp_type=8,actions=output:4
priority=60,tcp,tcp_flags=+syn-ack,actions=output:2
priority=70,ip,nw_tos=32,actions=output:3
priority=80,udp,tp_src=0x100/0xff00,actions=output:4
priority=90,ipv6,ipv6_src=fd00::/64,actions=output:3
priority=95,ip,nw_frag=later,actions=output:2
";
    let cases = [
        ("in_port=3,ip", "1"),
        ("in_port=1,dl_src=00:00:00:00:00:0a,ip", "2"),
        ("in_port=1,arp,arp_op=1,arp_tpa=10.0.0.1", "3"),
        ("in_port=1,icmp,icmp_type=8", "4"),
        ("in_port=1,tcp,tcp_flags=syn", "2"),
        ("in_port=1,tcp,tcp_flags=syn|ack", "drop"),
        ("in_port=1,ip,nw_tos=32", "3"),
        ("in_port=1,udp,tp_src=300", "4"),
        ("in_port=1,ipv6,ipv6_src=fd00::5", "3"),
        ("in_port=1,ipv6,ipv6_src=fd01::5", "drop"),
        ("in_port=1,ip,nw_frag=later", "2"),
        ("in_port=2,ip", "drop"),
    ];
    for (pkt, want) in cases {
        let (_, a) = first_pass(flows, pkt);
        assert_eq!(a, want, "{pkt}");
    }
}

#[test]
fn every_match_field_family() {
    // (rule match, a packet it matches, a packet it does not)
    let cases = [
        (
            "dl_dst=00:00:00:00:00:02",
            "dl_dst=00:00:00:00:00:02",
            "dl_dst=00:00:00:00:00:03",
        ),
        ("dl_type=0x88cc", "dl_type=0x88cc", "ip"),
        ("dl_vlan=7", "dl_vlan=7,ip", "dl_vlan=8,ip"),
        (
            "dl_vlan_pcp=5",
            "dl_vlan=1,dl_vlan_pcp=5",
            "dl_vlan=1,dl_vlan_pcp=4",
        ),
        ("vlan_tci=0x1000/0x1000", "dl_vlan=9,ip", "ip"),
        (
            "ip,nw_src=192.168.0.0/16",
            "ip,nw_src=192.168.3.4",
            "ip,nw_src=192.169.0.1",
        ),
        (
            "ip,nw_dst=10.0.0.0/255.0.255.0",
            "ip,nw_dst=10.1.0.9",
            "ip,nw_dst=10.1.1.9",
        ),
        ("ip,nw_proto=47", "ip,nw_proto=47", "ip,nw_proto=46"),
        ("ip,ip_dscp=46", "ip,nw_tos=184", "ip,nw_tos=180"),
        ("ip,nw_ecn=3", "ip,nw_ecn=3", "ip,nw_ecn=1"),
        ("ip,nw_ttl=5", "ip,nw_ttl=5", "ip,nw_ttl=6"),
        ("ip,nw_frag=first", "ip,nw_frag=first", "ip,nw_frag=no"),
        ("tcp,tp_dst=443", "tcp,tp_dst=443", "tcp,tp_dst=444"),
        (
            "tcp,tcp_flags=+fin",
            "tcp,tcp_flags=fin|ack",
            "tcp,tcp_flags=ack",
        ),
        ("udp,udp_dst=53", "udp,udp_dst=53", "udp,udp_dst=54"),
        ("sctp,sctp_src=9", "sctp,sctp_src=9", "sctp,sctp_src=10"),
        (
            "icmp,icmp_code=3",
            "icmp,icmp_type=3,icmp_code=3",
            "icmp,icmp_type=3,icmp_code=1",
        ),
        (
            "icmp6,icmpv6_type=128",
            "icmp6,icmpv6_type=128",
            "icmp6,icmpv6_type=129",
        ),
        (
            "ipv6,ipv6_dst=fd00::1",
            "ipv6,ipv6_dst=fd00::1",
            "ipv6,ipv6_dst=fd00::2",
        ),
        (
            "arp,arp_sha=00:00:00:00:00:05",
            "arp,arp_sha=00:00:00:00:00:05",
            "arp,arp_sha=00:00:00:00:00:06",
        ),
        (
            "arp,arp_spa=10.0.0.1",
            "arp,arp_spa=10.0.0.1",
            "arp,arp_spa=10.0.0.2",
        ),
        (
            "ct_state=+trk+est,ct_zone=3",
            "ip,ct_state=+trk+est,ct_zone=3",
            "ip,ct_state=+trk+est,ct_zone=4",
        ),
        (
            "ct_mark=0x5/0xf",
            "ip,ct_state=+trk,ct_mark=0x15",
            "ip,ct_state=+trk,ct_mark=0x16",
        ),
        (
            "ct_label=0x1/0x1",
            "ip,ct_state=+trk,ct_label=0x3",
            "ip,ct_state=+trk,ct_label=0x2",
        ),
    ];
    for (m, hit, miss) in cases {
        let flows = format!("{m},actions=output:2");
        let (_, a) = first_pass(&flows, &format!("in_port=1,{hit}"));
        assert_eq!(a, "2", "{m} should match {hit}");
        let (_, a) = first_pass(&flows, &format!("in_port=1,{miss}"));
        assert_eq!(a, "drop", "{m} should not match {miss}");
    }
}

#[test]
fn conntrack_recirculation_with_ct_next() {
    let flows = "\
table=0,priority=10,ip,ct_state=-trk,actions=ct(table=1,zone=5)
table=1,priority=100,ip,ct_state=+trk+new,actions=ct(commit,zone=5),output:2
table=1,priority=90,ip,ct_state=+trk+est,actions=output:2
";
    let pkt = "in_port=1,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2";
    // Default: the next pass sees trk,new (as ofproto/trace).
    let r = trace(flows, 2, pkt, &[]);
    assert_eq!(r.passes.len(), 2);
    assert_eq!(
        r.passes[0].megaflow.as_deref(),
        Some("recirc_id=0,eth,ct_state=-trk,ip,in_port=1,nw_frag=no")
    );
    assert_eq!(r.passes[0].datapath_actions, "ct(zone=5),recirc(0x1)");
    let resume = r.passes[1].resume.as_ref().unwrap();
    assert_eq!(resume.recirc_id, "0x1");
    assert_eq!(resume.ct_state, "new,trk");
    assert_eq!(
        r.passes[1].megaflow.as_deref(),
        Some("recirc_id=0x1,eth,ct_state=+new+trk,ip,in_port=1,nw_frag=no")
    );
    assert_eq!(r.passes[1].datapath_actions, "ct(commit,zone=5),2");
    assert_eq!(r.passes[1].outputs, vec![2]);
    let text = r.to_text();
    assert!(
        text.contains("\nrecirc(0x1) with ct_state=new,trk\n"),
        "{text}"
    );

    // --ct-next trk,est takes the established branch.
    let r = trace(flows, 2, pkt, &["trk,est"]);
    assert_eq!(r.passes[1].resume.as_ref().unwrap().ct_state, "est,trk");
    assert_eq!(
        r.passes[1].megaflow.as_deref(),
        Some("recirc_id=0x1,eth,ct_state=-new+est+trk,ip,in_port=1,nw_frag=no")
    );
    assert_eq!(r.passes[1].datapath_actions, "2");
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["passes"][1]["resume"]["ct_state"], "est,trk");
    assert_eq!(v["passes"][1]["outputs"], serde_json::json!([2]));
}

#[test]
fn ct_zone_from_field_nat_mark_and_clear() {
    let flows = "\
table=0,ip,actions=load:0x2a->reg4[0..15],ct(commit,zone=reg4[0..15],nat(src=10.1.1.1-10.1.1.9:1000-2000),exec(set_field:0x1->ct_mark)),ct_clear,output:2
";
    let (_, a) = first_pass(flows, "in_port=1,ip");
    // After a ct() the packet is untracked again in this pass, so ct_clear has nothing to
    // clear and, as in OVS, adds no datapath action.
    assert_eq!(
        a,
        "ct(commit,zone=42,mark=0x1/0xffffffff,nat(src=10.1.1.1-10.1.1.9:1000-2000)),2"
    );
    let (_, a) = first_pass(
        "table=0,ct_state=+trk,ip,actions=ct_clear,output:2\n",
        "in_port=1,ip,ct_state=trk",
    );
    assert_eq!(a, "ct_clear,2");
}

#[test]
fn bad_input_is_reported() {
    let e = offline_trace("actions=outptu:2", 2, "in_port=1", &[]).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
    let e = offline_trace("actions=output:2", 2, "in_port=1,nw_dstt=1", &[]).unwrap_err();
    assert!(e.to_string().starts_with("packet:"), "{e}");
    let e = offline_trace("actions=output:2", 2, "in_port=1", &["trk,bogus".into()]).unwrap_err();
    assert!(e.to_string().contains("--ct-next"), "{e}");
}

mod soundness {
    //! Property (b): random rule sets and packets; every packet that agrees with a
    //! translation's key on its megaflow mask translates to the same datapath actions.

    use fastpath::flow::FlowKey;
    use proptest::prelude::*;
    use vswitchd::ofctl::{FlowSyntax, NoNames, parse_flow, parse_packet};
    use vswitchd::ofproto::{FlowMod, FlowTables};
    use vswitchd::xlate::{PortKind, PortMap, RecircTable, XBridge, XPort, XlateCtx, translate};

    fn matches() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            (1u32..4).prop_map(|p| format!("in_port={p}")),
            (0u8..4).prop_map(|b| format!("nw_src=10.0.{b}.0/24")),
            (0u8..4, 16u8..33).prop_map(|(b, l)| format!("nw_dst=10.{b}.0.0/{l}")),
            (0u16..4).prop_map(|p| format!("tp_dst={}", 80 + p)),
            (0u8..3).prop_map(|t| format!("nw_tos={}", t * 4)),
            (0u8..3).prop_map(|r| format!("reg0={r}")),
            Just("dl_vlan=5".to_string()),
            (0u8..3).prop_map(|t| format!("nw_ttl={t}")),
        ];
        prop::collection::vec(field, 0..3).prop_map(|fs| {
            let mut s = String::from("tcp");
            for f in fs {
                s.push(',');
                s.push_str(&f);
            }
            s
        })
    }

    fn action() -> impl Strategy<Value = String> {
        prop_oneof![
            (1u32..5).prop_map(|p| format!("output:{p}")),
            Just("in_port".to_string()),
            Just("mod_nw_tos:32".to_string()),
            (0u8..3).prop_map(|r| format!("load:{r}->reg0[]")),
            Just("move:nw_src[0..1]->reg0[0..1]".to_string()),
            Just("set_field:10.9.0.0/255.255.0.0->nw_dst".to_string()),
            Just("mod_tp_dst:81".to_string()),
            Just("dec_ttl".to_string()),
            Just("mod_vlan_vid:7".to_string()),
            Just("strip_vlan".to_string()),
            Just("push_vlan:0x8100".to_string()),
            (1u8..4).prop_map(|t| format!("resubmit(,{t})")),
            Just("ct(zone=3,table=3)".to_string()),
            Just("all".to_string()),
        ]
    }

    fn rule() -> impl Strategy<Value = String> {
        (
            0u8..4,
            0u16..4,
            matches(),
            prop::collection::vec(action(), 1..4),
        )
            .prop_map(|(t, p, m, a)| {
                format!("table={t},priority={},{m},actions={}", p * 10, a.join(","))
            })
    }

    fn packet() -> impl Strategy<Value = FlowKey> {
        (
            1u32..4,
            0u8..4,
            0u8..4,
            0u8..255,
            78u16..84,
            0u8..3,
            0u8..3,
            any::<bool>(),
        )
            .prop_map(|(port, s, d, low, tp, tos, ttl, vlan)| {
                let v = if vlan { ",dl_vlan=5" } else { "" };
                let s = format!(
                    "in_port={port}{v},tcp,nw_src=10.0.{s}.{low},nw_dst=10.{d}.{low}.1,\
                     tp_src=1000,tp_dst={tp},nw_tos={},nw_ttl={ttl}",
                    tos * 4
                );
                parse_packet(&s, &NoNames).expect("generated packet parses")
            })
    }

    fn tables(rules: &[String]) -> FlowTables {
        let mods: Vec<FlowMod> = rules
            .iter()
            .filter_map(|r| parse_flow(r, &NoNames, FlowSyntax::Add).ok())
            .map(FlowMod::add)
            .collect();
        let mut t = FlowTables::new();
        t.apply(&mods, 0).expect("generated flows apply");
        t
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn megaflows_are_sound(
            rules in prop::collection::vec(rule(), 1..12),
            pkt in packet(),
            flips in prop::collection::vec((0usize..fastpath::flow::DP_KEY_WORDS, any::<u64>()), 1..6),
        ) {
            let t = tables(&rules);
            let mut ports = PortMap::new();
            for i in 1..=4 {
                ports.insert(XPort { ofport: i, name: format!("p{i}"), kind: PortKind::Datapath(i) });
            }
            let recirc = RecircTable::new();
            let ctx = XlateCtx {
                bridge: XBridge { name: "br0", tables: &t, ports: &ports, normal: None },
                peers: None,
                recirc: &recirc,
                credit: None,
                may_learn: false,
                now_ms: 0,
                learn: None,
            };
            let first = translate(&ctx, &pkt, None);
            let Ok(first) = first else {
                // Failed translations install nothing; nothing to check.
                return Ok(());
            };
            // A packet that differs only in bits outside the mask.
            let dp = FlowKey::dp_only_mask();
            let mut other = pkt;
            for (w, bits) in flips {
                let free = !first.mask.words()[w] & dp.words()[w];
                other.words_mut()[w] ^= bits & free;
            }
            prop_assert!(other.eq_masked(&pkt, &first.mask));
            let second = translate(&ctx, &other, None);
            prop_assert!(second.is_ok(), "second translation failed: {:?}", second);
            let second = second.unwrap();
            prop_assert_eq!(
                &second.actions, &first.actions,
                "rules {:#?}\nmask {:?}", rules, first.mask
            );
        }
    }
}

#[test]
fn fragments_are_looked_up_with_l4_ports_zero() {
    // OVS's default fragment handling ("normal"): rule_dpif_lookup_from_table looks an IP
    // fragment up as if its L4 ports were 0, so a first fragment does not hit the port-80
    // rule even though its flow carries tp_dst=80 (checked against OVS 3.1's ofproto/trace).
    let flows = "priority=10,tcp,tp_dst=80,actions=output:2
                 priority=5,tcp,tp_dst=0,actions=output:3
                 priority=1,actions=output:4";
    let whole = "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1234,tp_dst=80";
    assert_eq!(first_pass(flows, whole).1, "2");
    let first = format!("{whole},nw_frag=first");
    assert_eq!(first_pass(flows, &first).1, "3");
    let later = "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_frag=later";
    assert_eq!(first_pass(flows, later).1, "3");
    // The actions still see the first fragment's real ports.
    let flows = "tcp,tp_dst=0,actions=move:tcp_dst[]->tcp_src[],output:2";
    let (_, a) = first_pass(flows, &first);
    assert_eq!(a, "set(tcp(src=80)),2");
    // A later fragment has no L4 header: writes to its ports are skipped (OVS's MFP_TCP
    // prerequisite excludes later fragments), a first fragment's are done.
    let flows =
        "tcp,actions=mod_tp_src:1000,move:tcp_dst[]->reg0[0..15],load:0x5->tcp_dst[],output:2";
    assert_eq!(first_pass(flows, later).1, "2");
    let first = "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1,tp_dst=2,nw_frag=first";
    assert_eq!(first_pass(flows, first).1, "set(tcp(src=1000,dst=5)),2");
}

#[test]
fn a_trailing_comment_ends_the_flow() {
    // ovs-ofctl add-flows drops everything from '#' to the end of the line.
    let flows = "table=0,in_port=1,actions=output:2  # to p2
                 # a whole-line comment
                 table=0,in_port=2,actions=output:1#no space";
    assert_eq!(first_pass(flows, "in_port=1,ip").1, "2");
    assert_eq!(first_pass(flows, "in_port=2,ip").1, "1");
}
