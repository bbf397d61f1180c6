//! Freezing at `controller(pause)` and resuming, on in-memory tables.

use super::*;
use crate::ofctl::{FlowSyntax, NoNames, parse_flow, parse_packet};
use crate::ofproto::{FlowMod, FlowTables};
use crate::xlate::controller::ControllerCookie;
use crate::xlate::{PortKind, PortMap, RecircTable, Trace, XBridge, XPort, translate};
use fastpath::action::format_actions;

fn tables(flows: &str) -> FlowTables {
    let mods: Vec<FlowMod> = flows
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| FlowMod::add(parse_flow(l, &NoNames, FlowSyntax::Add).unwrap()))
        .collect();
    let mut t = FlowTables::new();
    t.apply(&mods, 0).unwrap();
    t
}

fn ports() -> PortMap {
    let mut m = PortMap::new();
    for of in 1..=4 {
        m.insert(XPort {
            ofport: of,
            name: format!("p{of}"),
            kind: PortKind::Datapath(of),
        });
    }
    m
}

fn ctx<'a>(t: &'a FlowTables, p: &'a PortMap, r: &'a RecircTable) -> XlateCtx<'a> {
    XlateCtx {
        bridge: XBridge {
            name: "br0",
            tables: t,
            ports: p,
            normal: None,
        },
        peers: None,
        recirc: r,
        credit: None,
        may_learn: false,
        now_ms: 1,
        learn: None,
    }
}

const FLOWS: &str = "
    table=0,ip,actions=load:0x1->reg0[],resubmit(,1),output:3
    table=1,cookie=0x5,reg0=0x1,actions=controller(userdata=01.02,pause),mod_dl_dst:00:00:00:00:00:99,output:2,goto_table:2
    table=2,actions=output:4
";

fn paused_state(r: &RecircTable, actions: &[DpAction]) -> (ControllerCookie, Arc<FrozenState>) {
    let [DpAction::Userspace(u)] = actions else {
        panic!("one userspace action: {}", format_actions(actions));
    };
    let c = ControllerCookie::decode(&u.cookie).unwrap();
    let st = r.get(u.recirc_id).unwrap();
    (c, st)
}

#[test]
fn pause_freezes_the_rest_of_every_level_and_resume_runs_it() {
    let (t, p, r) = (tables(FLOWS), ports(), RecircTable::new());
    let c = ctx(&t, &p, &r);
    let key = parse_packet("in_port=1,ip,nw_src=10.0.0.1", &NoNames).unwrap();
    let tr = translate(&c, &key, None).unwrap();
    // Nothing after the pause runs now: not the rest of table 1, not output:3 of table 0.
    assert!(
        format_actions(&tr.actions).starts_with(
            "userspace(pid=0,controller(reason=1,dont_send=0,continuation=1,recirc_id=1,rule_cookie=0,"
        ),
        "{}",
        format_actions(&tr.actions)
    );
    let (cookie, st) = paused_state(&r, &tr.actions);
    assert!(cookie.continuation);
    // As in OVS, the packet-in names the rule where the frozen pipeline ends (the outermost
    // one here), not the one that paused.
    assert_eq!(
        (cookie.table_id, cookie.rule_cookie, cookie.regs[0]),
        (0, 0, 1)
    );
    assert_eq!(cookie.userdata, vec![1, 2]);
    let cont = st.continuation.as_deref().unwrap();
    let show: Vec<(u8, u64, String)> = cont
        .stretches
        .iter()
        .map(|s| {
            (
                s.table,
                s.cookie,
                crate::ofctl::format_actions(&s.actions, &NoNames),
            )
        })
        .collect();
    assert_eq!(
        show,
        vec![
            (0, 0, "mod_dl_dst:00:00:00:00:00:99".to_owned()),
            (1, 5, "output:2,resubmit(,2)".to_owned()),
            (0, 0, "output:3".to_owned()),
        ],
        "goto_table becomes resubmit; stretches keep their rule's table and cookie"
    );
    // The same state again gets the same id (megaflows of one pause share it).
    let again = translate(&c, &key, None).unwrap();
    assert_eq!(again.actions, tr.actions);

    // Resume with the registers the controller sent back.
    let mut flow = key;
    flow.regs[0] = 1;
    let res = Resume {
        flow,
        dp_in_port: 1,
        continuation: cont.clone(),
    };
    let tr = translate_resume(&c, &res).unwrap();
    assert_eq!(
        format_actions(&tr.actions),
        "set(eth(dst=00:00:00:00:00:99)),2,4,3"
    );
}

#[test]
fn a_second_pause_after_resume_freezes_again_and_a_trace_stops_at_the_pause() {
    let t = tables(
        "table=0,actions=controller(pause),resubmit(,1),output:3
         table=1,cookie=0x7,actions=controller(pause),output:2",
    );
    let (p, r) = (ports(), RecircTable::new());
    let c = ctx(&t, &p, &r);
    let key = parse_packet("in_port=1,ip", &NoNames).unwrap();
    let tr = translate(&c, &key, None).unwrap();
    let (_, st) = paused_state(&r, &tr.actions);
    let cont = st.continuation.as_deref().unwrap().clone();
    let res = Resume {
        flow: key,
        dp_in_port: 1,
        continuation: cont,
    };
    let tr = translate_resume(&c, &res).unwrap();
    let (cookie, st2) = paused_state(&r, &tr.actions);
    assert_eq!((cookie.table_id, cookie.rule_cookie), (0, 0));
    let s = &st2.continuation.as_ref().unwrap().stretches;
    assert_eq!(
        s.iter()
            .map(|s| (s.table, s.cookie, s.actions.len()))
            .collect::<Vec<_>>(),
        vec![(1, 7, 1), (0, 0, 1)],
        "output:2 in table 1, then output:3 in table 0"
    );
    // A trace has no side effects: it stops at the pause and emits nothing for it.
    let mut trace = Trace::new();
    let tr = translate(&c, &key, Some(&mut trace)).unwrap();
    assert_eq!(format_actions(&tr.actions), "drop");
}
