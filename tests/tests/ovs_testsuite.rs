//! OVS's own test suite as a second oracle (issue 13, part 2).
//!
//! `tests/ovs-testsuite/convert.py` extracts from OVS 3.1's `tests/ofproto-dpif.at` the cases an
//! offline trace can express (a flow table, the ports `add_of_ports` made, one `ofproto/trace`
//! packet, and the `Megaflow:` / `Datapath actions:` lines OVS checked), and from
//! `tests/ovs-ofctl.at` the flow-parsing cases (a flow and the flow-mod OVS printed for it, or a
//! flow OVS rejects). This test runs each through our offline trace and flow parser.
//!
//! The verdict is kept honest both ways by `tests/ovs-testsuite/UNSUPPORTED.md`: a case that
//! fails must have a row there (the missing feature, or `bug: ...`), and a case with a row must
//! still fail — so a fix shows up as a row to delete, never as silence.
//!
//! Port numbering: OVS's `add_of_ports br0 1 10 11` makes ports p1, p10, p11 whose OpenFlow
//! and datapath numbers are both the number in the name; our offline bridge has ports p1..pN
//! with the same property, so the case runs with N = the largest port. (Ports OVS did not
//! create then exist in ours too; only flooding can tell, and such cases are listed.)

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use vswitchd::ofctl::{
    FlowSpec, FlowSyntax, NoNames, format_flow, format_match, format_packet, parse_flow,
};
use vswitchd::trace::offline_trace;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ovs-testsuite");

fn load(name: &str) -> Vec<Value> {
    let path = format!("{DIR}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    v["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: no cases"))
        .clone()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Runs one trace case: `Ok(())` when our offline trace gives OVS's result.
fn run_trace_case(c: &Value) -> Result<(), String> {
    if c["groups"].as_array().is_some_and(|g| !g.is_empty()) {
        return Err("groups: the offline trace takes no group table".into());
    }
    let n_ports = c["ports"]
        .as_array()
        .and_then(|p| p.iter().filter_map(Value::as_u64).max())
        .unwrap_or(0) as u32;
    let flows: Vec<&str> = c["flows"]
        .as_array()
        .map(|f| f.iter().map(s).collect())
        .unwrap_or_default();
    let ct_next: Vec<String> = c["ct_next"]
        .as_array()
        .map(|v| v.iter().map(|x| s(x).to_owned()).collect())
        .unwrap_or_default();
    let report = offline_trace(&flows.join("\n"), n_ports, s(&c["packet"]), &ct_next)
        .map_err(|e| format!("trace refused: {e}"))?;
    // OVS's `tail -1 stdout` is the last pass's line.
    let last = report.passes.last().ok_or("no datapath pass")?;
    let want_actions = s(&c["expect"]["actions"]);
    let mut diffs = Vec::new();
    if last.datapath_actions != want_actions {
        diffs.push(format!(
            "actions {:?}, OVS {:?}",
            last.datapath_actions, want_actions
        ));
    }
    if let Some(want_mf) = c["expect"]["megaflow"].as_str() {
        let got = last.megaflow.as_deref().unwrap_or("(none)");
        if got != want_mf {
            diffs.push(format!("megaflow {got:?}, OVS {want_mf:?}"));
        }
    }
    if let Some(e) = &last.error {
        diffs.push(format!("translation error: {e}"));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

/// Runs one flow-parsing case: `Ok(())` when we accept what OVS accepts with the same meaning
/// and print its match as OVS does, or reject what OVS rejects.
fn run_ofctl_case(c: &Value) -> Result<(), String> {
    let flow = s(&c["flow"]);
    let ours = parse_flow(flow, &NoNames, FlowSyntax::Add);
    if c["error"].as_bool() == Some(true) {
        return match ours {
            Err(_) => Ok(()),
            Ok(spec) => Err(format!(
                "accepted (as {:?}); OVS rejects it",
                format_flow(&spec, &NoNames)
            )),
        };
    }
    let ours = ours.map_err(|e| format!("rejected: {e}"))?;
    let theirs = parse_flow(s(&c["expect_flow"]), &NoNames, FlowSyntax::Add).map_err(|e| {
        format!(
            "OVS's printed form {:?} rejected: {e}",
            s(&c["expect_flow"])
        )
    })?;
    if ours.m != theirs.m
        || (ours.table, ours.priority, ours.cookie)
            != (theirs.table, theirs.priority, theirs.cookie)
        || (ours.idle_timeout, ours.hard_timeout) != (theirs.idle_timeout, theirs.hard_timeout)
        || !same_effect(&ours, &theirs)
    {
        return Err(format!(
            "means {:?}; OVS printed {:?} (which we read as {:?})",
            format_flow(&ours, &NoNames),
            s(&c["expect_flow"]),
            format_flow(&theirs, &NoNames)
        ));
    }
    // OVS prints the priority among the match items of a flow-mod; format_match does not.
    let want_match: Vec<&str> = s(&c["expect_match"])
        .split(',')
        .filter(|i| !i.is_empty() && !i.starts_with("priority="))
        .collect();
    let got = format_match(&ours.m, &NoNames);
    if got != want_match.join(",") {
        return Err(format!(
            "match prints as {got:?}, OVS {:?}",
            want_match.join(",")
        ));
    }
    Ok(())
}

/// Whether two rules' actions do the same thing. OVS prints an action in the spelling of the
/// protocol it encoded it for (`mod_nw_src:A` as `set_field:A->ip_src` in OpenFlow 1.2), so
/// equal action lists are not required: both rules, alone in a table, must translate a packet
/// that matches them (the match's own values) to the same datapath actions.
fn same_effect(a: &FlowSpec, b: &FlowSpec) -> bool {
    if a.actions == b.actions {
        return true;
    }
    let mut packet_key = a.m.key;
    if packet_key.in_port == 0 {
        packet_key.in_port = 1;
    }
    let packet = format_packet(&packet_key, &NoNames);
    let run = |spec: &FlowSpec| {
        let mut one = spec.clone();
        one.table = 0;
        offline_trace(&format_flow(&one, &NoNames), 200, &packet, &[])
            .map(|r| {
                r.passes
                    .iter()
                    .map(|p| p.datapath_actions.clone())
                    .collect::<Vec<_>>()
            })
            .map_err(|e| e.to_string())
    };
    let (ra, rb) = (run(a), run(b));
    ra.is_ok() && ra == rb
}

/// The rows of UNSUPPORTED.md's tables: case name -> reason.
fn unsupported() -> BTreeMap<String, String> {
    let path = format!("{DIR}/UNSUPPORTED.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let Some(body) = line.strip_prefix("| ") else {
            continue;
        };
        let cells: Vec<&str> = body.trim_end_matches('|').split(" | ").collect();
        if cells.len() < 2 || cells[0] == "case" || cells[0].starts_with("---") {
            continue;
        }
        let name = cells[0].replace("\\|", "|");
        let reason = cells[1].trim().to_owned();
        assert!(
            !reason.is_empty(),
            "UNSUPPORTED.md: row {name:?} gives no reason"
        );
        assert!(
            rows.insert(name.clone(), reason).is_none(),
            "UNSUPPORTED.md: {name:?} listed twice"
        );
    }
    rows
}

#[test]
fn ovs_testsuite_cases_pass_or_are_listed() {
    let listed = unsupported();
    let mut outcomes: BTreeMap<String, Result<(), String>> = BTreeMap::new();
    let mut run = |file: &str, f: fn(&Value) -> Result<(), String>| {
        let cases = load(file);
        assert!(cases.len() > 20, "{file}: only {} cases", cases.len());
        for c in &cases {
            let name = s(&c["name"]).to_owned();
            let r = f(c);
            assert!(
                outcomes.insert(name.clone(), r).is_none(),
                "{file}: case {name:?} twice"
            );
        }
    };
    run("ofproto-dpif.json", run_trace_case);
    run("ovs-ofctl.json", run_ofctl_case);

    let mut problems = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    for (name, r) in &outcomes {
        match (r, listed.contains_key(name)) {
            (Ok(()), false) => passed += 1,
            (Err(_), true) => failed += 1,
            (Ok(()), true) => problems.push(format!(
                "{name}: passes now; delete its row from UNSUPPORTED.md"
            )),
            (Err(why), false) => {
                problems.push(format!("{name}: fails and is not in UNSUPPORTED.md: {why}"))
            }
        }
    }
    let known: BTreeSet<&String> = outcomes.keys().collect();
    for name in listed.keys().filter(|n| !known.contains(n)) {
        problems.push(format!("{name}: listed in UNSUPPORTED.md but no such case"));
    }
    eprintln!(
        "ovs testsuite: {} cases, {passed} pass, {failed} listed as unsupported",
        outcomes.len()
    );
    if std::env::var_os("OVS_TESTSUITE_ROWS").is_some() {
        // Bootstrap aid: every failure as a table row with its mismatch.
        for (name, r) in &outcomes {
            if let Err(why) = r {
                println!(
                    "| {} | {} |",
                    name.replace('|', "\\|"),
                    why.replace('|', "\\|")
                );
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
