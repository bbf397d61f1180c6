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
//! create then exist in ours too, which only flooding could tell; no converted case floods
//! on a bridge with such gaps.)

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use vswitchd::ofctl::{
    FlowSpec, FlowSyntax, NoNames, format_flow, format_match, format_packet, parse_flow,
};
use vswitchd::trace::{offline_trace, offline_trace_with_groups};

#[path = "ovs_testsuite/fields.rs"]
mod fields;

use fields::{
    Bits, Fields, extra_bits, format_fields, is_first_pass, matches, parse_items, show_fields,
};

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

/// Runs one dpif case: a trace check or a megaflow check.
fn run_dpif_case(c: &Value) -> Result<(), String> {
    if c["kind"] == "megaflows" {
        run_megaflow_case(c)
    } else {
        run_trace_case(c)
    }
}

/// The case's flow table, group table (one per line), port count and `--ct-next` states.
fn setup(c: &Value) -> Result<(String, String, u32, Vec<String>), String> {
    let groups: Vec<&str> = c["groups"]
        .as_array()
        .map(|g| g.iter().map(s).collect())
        .unwrap_or_default();
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
    Ok((flows.join("\n"), groups.join("\n"), n_ports, ct_next))
}

/// Runs one trace case: `Ok(())` when our offline trace gives OVS's result.
fn run_trace_case(c: &Value) -> Result<(), String> {
    let (flows, groups, n_ports, ct_next) = setup(c)?;
    let report = offline_trace_with_groups(&flows, &groups, n_ports, s(&c["packet"]), &ct_next)
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
        // A single-pass megaflow may differ from OVS's where probes show it sound.
        let sound = || -> Result<(), String> {
            if report.passes.len() != 1 || !ct_next.is_empty() {
                return Err("differs (after recirculation: not probed)".into());
            }
            let pkt = parse_items(s(&c["packet"]).split(','))?;
            let ours = parse_items(got.split(','))?;
            let theirs = parse_items(want_mf.split(','))?;
            probe_wider(
                &flows,
                &groups,
                n_ports,
                &pkt,
                &ours,
                &theirs,
                std::slice::from_ref(&last.datapath_actions),
            )
        };
        if got != want_mf
            && let Err(why) = sound()
        {
            diffs.push(format!("megaflow {got:?}, OVS {want_mf:?}: {why}"));
        }
    }
    match (&last.error, c["expect"]["error"].as_str()) {
        (Some(e), None) => diffs.push(format!("translation error: {e}")),
        (None, Some(w)) => diffs.push(format!("translated; OVS fails with {w:?}")),
        // Our error messages are our own; that translation fails is what OVS checks.
        _ => {}
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

/// Runs one megaflow case: the packets OVS received, in order, and the megaflows its datapath
/// installed for them (with their actions where OVS's test kept them).
///
/// Per packet, our first-pass megaflow must match the packet and be OVS's megaflow for that
/// packet, or differ only soundly (DESIGN §2 wants megaflows as wide as OVS's or wider, not
/// the same bits): each bit OVS matches and we do not is probed — the packet with that bit
/// flipped must translate to the same datapath actions. Later passes (after recirculation)
/// must be among OVS's megaflows as they are. And we may install no more megaflows than OVS.
fn run_megaflow_case(c: &Value) -> Result<(), String> {
    let (flows, groups, n_ports, _) = setup(c)?;
    let trace_all = |pkt: &str| -> Result<Vec<(String, String)>, String> {
        let report = offline_trace_with_groups(&flows, &groups, n_ports, pkt, &[])
            .map_err(|e| format!("trace of {pkt} refused: {e}"))?;
        Ok(report
            .passes
            .iter()
            .map(|p| {
                let mf = p.megaflow.clone().unwrap_or_default();
                (mf, p.datapath_actions.clone())
            })
            .collect())
    };
    let mut want: Vec<(Fields, Option<&str>)> = Vec::new();
    for m in c["expect_megaflows"].as_array().into_iter().flatten() {
        let items = m["match"].as_array().into_iter().flatten().map(s);
        want.push((parse_items(items)?, m["actions"].as_str()));
    }
    let n_first_ovs = want.iter().filter(|(f, _)| is_first_pass(f)).count();
    let mut installed: Vec<Fields> = Vec::new();
    let mut diffs = Vec::new();
    for p in c["packets"].as_array().into_iter().flatten() {
        let pkt = parse_items(s(p).split(','))?;
        let passes = trace_all(s(p))?;
        for (i, (mf, acts)) in passes.iter().enumerate() {
            let ours = parse_items(mf.split(','))?;
            if i > 0 {
                if !want.iter().any(|(w, _)| *w == ours) {
                    diffs.push(format!("our recirculated megaflow {mf} not OVS's"));
                }
                continue;
            }
            if !matches(&ours, &pkt) {
                diffs.push(format!(
                    "our megaflow {mf} does not match its packet {}",
                    s(p)
                ));
                continue;
            }
            if !installed.iter().any(|m| matches(m, &pkt)) {
                installed.push(ours.clone());
            }
            let Some((theirs, their_acts)) = want
                .iter()
                .find(|(w, _)| is_first_pass(w) && matches(w, &pkt))
            else {
                diffs.push(format!("no OVS megaflow matches packet {}", s(p)));
                continue;
            };
            if let Some(w) = their_acts.filter(|w| w != acts) {
                diffs.push(format!("actions for {} {acts:?}, OVS {w:?}", s(p)));
            }
            if ours == *theirs {
                continue;
            }
            let actions: Vec<String> = passes.iter().map(|p| p.1.clone()).collect();
            if let Err(why) = probe_wider(&flows, &groups, n_ports, &pkt, &ours, theirs, &actions) {
                diffs.push(format!("our megaflow {mf}: {why}"));
            }
        }
    }
    if installed.len() > n_first_ovs {
        diffs.push(format!(
            "{} megaflows installed, OVS {n_first_ovs}",
            installed.len()
        ));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

/// First-pass megaflows that differ from OVS's and passed the probes (reported, not failed).
static DIFFERENT_SOUND: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Checks a first-pass megaflow `ours` that differs from OVS's `theirs` for packet `pkt`:
/// each bit OVS matches and we do not, flipped in the packet, must translate to the same
/// datapath actions (`actions`, one per pass), or the difference is unsound.
fn probe_wider(
    flows: &str,
    groups: &str,
    n_ports: u32,
    pkt: &Fields,
    ours: &Fields,
    theirs: &Fields,
    actions: &[String],
) -> Result<(), String> {
    if !matches(ours, pkt) {
        return Err("does not match its own packet".into());
    }
    let bits =
        extra_bits(ours, theirs).map_err(|why| format!("vs OVS {}: {why}", show_fields(theirs)))?;
    for (field, bit) in bits {
        let mut probe = pkt.clone();
        let b = probe.entry(field.clone()).or_insert(Bits {
            kind: theirs[&field].kind,
            value: 0,
            mask: u128::MAX,
        });
        b.value ^= bit;
        let probe_pkt = format_fields(&probe);
        let report = offline_trace_with_groups(flows, groups, n_ports, &probe_pkt, &[])
            .map_err(|e| format!("probe {probe_pkt} refused: {e}"))?;
        let got: Vec<&String> = report.passes.iter().map(|p| &p.datapath_actions).collect();
        if got.iter().copied().ne(actions.iter()) {
            return Err(format!(
                "unsound: {probe_pkt} matches it but translates to {got:?}, not {actions:?}"
            ));
        }
    }
    DIFFERENT_SOUND.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
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
    if c["accept"].as_bool() == Some(true) {
        // OVS accepts the match (its printed form is not part of the case): it must match
        // something, and read back the same from how we print it.
        if ours.m == vswitchd::ofproto::Match::CATCHALL {
            return Err("accepted as a match on nothing".into());
        }
        let printed = format_flow(&ours, &NoNames);
        let again = parse_flow(&printed, &NoNames, FlowSyntax::Add)
            .map_err(|e| format!("our printed form {printed:?} rejected: {e}"))?;
        return if again == ours {
            Ok(())
        } else {
            Err(format!(
                "our printed form {printed:?} reads back differently"
            ))
        };
    }
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
    run("ofproto-dpif.json", run_dpif_case);
    run("ovs-ofctl.json", |c| {
        // ovs-ofctl.at also holds a few trace tests.
        if c.get("packet").is_some() || c.get("packets").is_some() {
            run_dpif_case(c)
        } else {
            run_ofctl_case(c)
        }
    });

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
        "ovs testsuite: {} cases, {passed} pass, {failed} listed as unsupported; \
         {} megaflows differ from OVS's and passed the soundness probes",
        outcomes.len(),
        DIFFERENT_SOUND.load(std::sync::atomic::Ordering::Relaxed)
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
    if std::env::var_os("OVS_TESTSUITE_PRUNE").is_some() {
        // After a fix: drop the rows of cases that pass now (or no longer exist).
        let path = format!("{DIR}/UNSUPPORTED.md");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let keep: Vec<&str> = text
            .lines()
            .filter(|line| {
                let name = line
                    .strip_prefix("| ")
                    .and_then(|b| b.split(" | ").next())
                    .map(|n| n.replace("\\|", "|"));
                match name {
                    Some(n) if listed.contains_key(&n) => {
                        matches!(outcomes.get(&n), Some(Err(_)))
                    }
                    _ => true,
                }
            })
            .collect();
        std::fs::write(&path, keep.join("\n") + "\n").unwrap_or_else(|e| panic!("{path}: {e}"));
        eprintln!("pruned UNSUPPORTED.md; run again to check");
        return;
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
