//! Fuzz target: gRPC flow-mod requests, decoded from arbitrary bytes and run the way the
//! daemon's `FlowService` runs them.
//!
//! The first input byte picks the message (`AddFlowRequest`, `AddFlowsRequest`,
//! `ModFlowsRequest`, `DeleteFlowsRequest`, `ReplaceFlowsRequest`, `DumpFlowsRequest`); the rest
//! is decoded with prost, as tonic does with a request body. A message that decodes goes
//! through the server's own steps: the per-request line limit, then
//! `Switch::flow_command` (parse with the bridge's port names, plan and apply the bundle
//! atomically, commit it to the config database) or, for a dump, the table check and
//! `Switch::dump_flows`; an error is mapped to its gRPC status with `server::status`.
//!
//! The switch is real: a store (redb, on tmpfs when available, unlinked once open) and a
//! dataplane (dummy devices, no datapath threads) with bridge `br0` and ports `vm1`, `vm2`.
//! It is created once and emptied of flows before every input, so inputs do not see each
//! other's rules.
//!
//! Checked, beyond "never panics":
//! - a rejected request changes no rule (dump before and after are equal), and its status is
//!   a client error (InvalidArgument, NotFound, ResourceExhausted) with a message — never
//!   Internal, which would mean the database failed;
//! - an accepted flow-mod's counts match the dump: added − removed rules more than before;
//! - the response and every dumped rule encode, and the dump prints rules that parse back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use proto::v1 as pb;
use std::sync::{Mutex, OnceLock};
use tonic::Code;
use vswitchd::dataplane::{Dataplane, DataplaneConfig};
use vswitchd::ofctl::{FlowSyntax, format_actions, format_match, parse_flow};
use vswitchd::server::{MAX_FLOWS_PER_REQUEST, status};
use vswitchd::store::{PortKind, Store};
use vswitchd::switch::{FlowCommand, PortSpec, Switch, SwitchError};

const BRIDGE: &str = "br0";

fn switch() -> &'static Mutex<Switch> {
    static SWITCH: OnceLock<Mutex<Switch>> = OnceLock::new();
    SWITCH.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("vswitch-fuzz-grpc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir.join("conf.db")).expect("open the store");
        // The open database keeps its file; unlinking it now leaves nothing behind when
        // libFuzzer exits without running destructors.
        let _ = std::fs::remove_dir_all(&dir);
        // A dataplane with in-memory dummy devices and no datapath threads: flow-mods still
        // go through its live tables and cache revalidation, as in the daemon.
        let dp = Dataplane::new(
            DataplaneConfig {
                dummy_devices: true,
                ..Default::default()
            },
            None,
        );
        let mut sw = Switch::load(store, dp).expect("load the switch");
        sw.add_bridge(BRIDGE).expect("add br0");
        for name in ["vm1", "vm2"] {
            sw.add_port(
                BRIDGE,
                PortSpec {
                    name: name.to_owned(),
                    kind: PortKind::Dummy,
                    ofport: 0,
                    tag: None,
                    trunks: Vec::new(),
                    options: Default::default(),
                },
            )
            .expect("add a port");
        }
        Mutex::new(sw)
    })
}

/// Every rule as (table, priority, cookie, timeouts, match, actions) text, in dump order.
type Dump = Vec<(u8, u16, u64, u16, u16, String, String)>;

fn dump(sw: &Switch) -> Dump {
    let names = sw.bridge(BRIDGE).unwrap().names();
    sw.dump_flows(BRIDGE, "", None)
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.table,
                r.priority,
                r.cookie,
                r.idle_timeout,
                r.hard_timeout,
                format_match(&r.m, names),
                format_actions(&r.actions, names),
            )
        })
        .collect()
}

/// The server's line limit (`FlowApi::check_lines`).
fn check_lines(lines: &[String]) -> Result<(), SwitchError> {
    if lines.len() > MAX_FLOWS_PER_REQUEST {
        return Err(SwitchError::Limit(format!(
            "{} flow lines in one request",
            lines.len()
        )));
    }
    Ok(())
}

fn client_error(e: SwitchError) {
    assert!(!matches!(e, SwitchError::Store(_)), "database failure: {e}");
    let st = status(e);
    assert!(
        matches!(
            st.code(),
            Code::InvalidArgument | Code::NotFound | Code::ResourceExhausted
        ),
        "{st:?}"
    );
    assert!(!st.message().is_empty());
}

fn flow_mod(sw: &mut Switch, bridge: &str, lines: &[String], cmd: FlowCommand<'_>) {
    let before = dump(sw);
    let result = check_lines(lines).and_then(|()| sw.flow_command(bridge, cmd));
    let after = dump(sw);
    match result {
        Ok(counts) => {
            let resp = pb::FlowModResponse {
                added: counts.added,
                modified: counts.modified,
                removed: counts.removed,
            };
            assert_eq!(
                pb::FlowModResponse::decode(&*resp.encode_to_vec()).unwrap(),
                resp
            );
            assert_eq!(
                after.len() as u64 + counts.removed,
                before.len() as u64 + counts.added,
                "{cmd:?}: {counts:?}, {} rules before, {} after",
                before.len(),
                after.len()
            );
            if counts == Default::default() {
                assert_eq!(
                    after, before,
                    "{cmd:?} changed rules but reported no change"
                );
            }
        }
        Err(e) => {
            assert_eq!(
                after, before,
                "{cmd:?} was rejected ({e}) but changed rules"
            );
            client_error(e);
        }
    }
}

fn dump_request(sw: &Switch, req: &pb::DumpFlowsRequest) {
    // The server's table check, then the dump.
    let table = match req.table {
        None => None,
        Some(t) if t < 255 => Some(t as u8),
        Some(_) => return,
    };
    match sw.dump_flows(&req.bridge, &req.r#match, table) {
        Ok(rules) => {
            let names = sw.bridge(&req.bridge).unwrap().names();
            for r in rules {
                let entry = pb::FlowEntry {
                    table: u32::from(r.table),
                    priority: u32::from(r.priority),
                    cookie: r.cookie,
                    duration_ms: 0,
                    packets: r.stats.packets(),
                    bytes: r.stats.bytes(),
                    idle_timeout: u32::from(r.idle_timeout),
                    hard_timeout: u32::from(r.hard_timeout),
                    r#match: format_match(&r.m, names),
                    actions: format_actions(&r.actions, names),
                };
                assert!(!entry.encode_to_vec().is_empty());
                let line = format!("{},actions={}", entry.r#match, entry.actions);
                let line = line.trim_start_matches(',');
                parse_flow(line, names, FlowSyntax::Add)
                    .unwrap_or_else(|e| panic!("dumped rule {line:?} does not parse: {e}"));
            }
        }
        Err(e) => client_error(e),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let mut sw = switch().lock().unwrap_or_else(|e| e.into_inner());
    sw.flow_command(
        BRIDGE,
        FlowCommand::Delete {
            filter: "",
            strict: false,
        },
    )
    .expect("empty the tables");
    match kind % 6 {
        0 => {
            if let Ok(r) = pb::AddFlowRequest::decode(body) {
                flow_mod(&mut sw, &r.bridge, &[], FlowCommand::Add(&r.flow));
            }
        }
        1 => {
            if let Ok(r) = pb::AddFlowsRequest::decode(body) {
                flow_mod(&mut sw, &r.bridge, &r.lines, FlowCommand::AddMany(&r.lines));
            }
        }
        2 => {
            if let Ok(r) = pb::ModFlowsRequest::decode(body) {
                // A modify is only interesting with rules to modify: add the request's own
                // flow first (as a separate call, which may fail on its own).
                let _ = sw.flow_command(&r.bridge, FlowCommand::Add(&r.flow));
                let cmd = FlowCommand::Modify {
                    flow: &r.flow,
                    strict: r.strict,
                };
                flow_mod(&mut sw, &r.bridge, &[], cmd);
            }
        }
        3 => {
            if let Ok(r) = pb::DeleteFlowsRequest::decode(body) {
                let _ = sw.flow_command(BRIDGE, FlowCommand::AddMany(&seed_rules()));
                let cmd = FlowCommand::Delete {
                    filter: &r.r#match,
                    strict: r.strict,
                };
                flow_mod(&mut sw, &r.bridge, &[], cmd);
            }
        }
        4 => {
            if let Ok(r) = pb::ReplaceFlowsRequest::decode(body) {
                let _ = sw.flow_command(BRIDGE, FlowCommand::AddMany(&seed_rules()));
                flow_mod(&mut sw, &r.bridge, &r.lines, FlowCommand::Replace(&r.lines));
            }
        }
        _ => {
            if let Ok(r) = pb::DumpFlowsRequest::decode(body) {
                let _ = sw.flow_command(BRIDGE, FlowCommand::AddMany(&seed_rules()));
                dump_request(&sw, &r);
            }
        }
    }
});

/// Rules present before a delete, replace or dump, so that those have something to act on.
fn seed_rules() -> Vec<String> {
    [
        "table=0,priority=100,in_port=vm1,actions=output:vm2",
        "table=0,priority=100,in_port=vm2,actions=output:vm1",
        "table=0,priority=50,cookie=0x1,tcp,tp_dst=80,actions=goto_table:1",
        "table=1,priority=10,ip,nw_dst=10.0.0.0/8,actions=mod_nw_tos:32,NORMAL",
        "table=1,priority=0,idle_timeout=30,actions=drop",
    ]
    .map(String::from)
    .to_vec()
}
