use super::*;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn port(name: &str, ofport: u32) -> PortRecord {
    PortRecord {
        name: name.into(),
        kind: PortKind::Tap,
        ofport,
        tag: Some(10),
        trunks: vec![],
        options: BTreeMap::from([("mtu".to_owned(), "9000".to_owned())]),
    }
}

fn bridge(name: &str) -> Change {
    Change::PutBridge(BridgeRecord {
        name: name.into(),
        ..BridgeRecord::default()
    })
}

#[test]
fn empty_database_is_created_with_parent_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/conf.db");
    let store = Store::open(&path).unwrap();
    assert!(path.exists());
    assert_eq!(store.load().unwrap(), Snapshot::default());
}

#[test]
fn everything_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conf.db");
    {
        let mut store = Store::open(&path).unwrap();
        let s1 = store.next_flow_seq();
        let s2 = store.next_flow_seq();
        store
            .commit(&[
                bridge("br0"),
                bridge("br1"),
                Change::PutPort {
                    bridge: "br0".into(),
                    port: port("p1", 1),
                },
                Change::PutPort {
                    bridge: "br0".into(),
                    port: port("p2", 2),
                },
                Change::PutPort {
                    bridge: "br1".into(),
                    port: port("q1", 1),
                },
                Change::PutFlow {
                    bridge: "br0".into(),
                    row: FlowRow {
                        seq: s2,
                        line: "priority=1,actions=drop".into(),
                    },
                },
                Change::PutFlow {
                    bridge: "br0".into(),
                    row: FlowRow {
                        seq: s1,
                        line: "table=1,ip,actions=normal".into(),
                    },
                },
                Change::SetCtLimit {
                    zone: Some(5),
                    limit: 100,
                },
                Change::SetCtLimit {
                    zone: None,
                    limit: 7,
                },
                Change::SetSetting {
                    key: "flow-limit".into(),
                    value: "1000".into(),
                },
            ])
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let snap = store.load().unwrap();
    assert_eq!(snap.bridges.len(), 2);
    let br0 = &snap.bridges[0];
    assert_eq!(br0.bridge.name, "br0");
    assert_eq!(br0.ports, vec![port("p1", 1), port("p2", 2)]);
    let lines: Vec<_> = br0.flows.iter().map(|f| f.line.as_str()).collect();
    assert_eq!(
        lines,
        ["table=1,ip,actions=normal", "priority=1,actions=drop"],
        "seq order"
    );
    assert_eq!(snap.bridges[1].ports, vec![port("q1", 1)]);
    assert!(snap.bridges[1].flows.is_empty());
    assert_eq!(snap.ct_limits, BTreeMap::from([(5, 100)]));
    assert_eq!(snap.ct_default_limit, Some(7));
    assert_eq!(snap.settings["flow-limit"], "1000");
}

#[test]
fn sequence_numbers_continue_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conf.db");
    let used = {
        let mut store = Store::open(&path).unwrap();
        let seq = store.next_flow_seq();
        store
            .commit(&[
                bridge("br0"),
                Change::PutFlow {
                    bridge: "br0".into(),
                    row: FlowRow {
                        seq,
                        line: "actions=drop".into(),
                    },
                },
            ])
            .unwrap();
        seq
    };
    let mut store = Store::open(&path).unwrap();
    assert!(store.next_flow_seq() > used);
}

#[test]
fn delete_bridge_cascades_only_to_its_own_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("conf.db")).unwrap();
    // "br" is a prefix of "br0": the cascade must not touch br0's rows.
    store
        .commit(&[
            bridge("br"),
            bridge("br0"),
            Change::PutPort {
                bridge: "br".into(),
                port: port("a", 1),
            },
            Change::PutPort {
                bridge: "br0".into(),
                port: port("b", 1),
            },
            Change::PutFlow {
                bridge: "br".into(),
                row: FlowRow {
                    seq: 1,
                    line: "actions=drop".into(),
                },
            },
            Change::PutFlow {
                bridge: "br0".into(),
                row: FlowRow {
                    seq: 2,
                    line: "actions=drop".into(),
                },
            },
        ])
        .unwrap();
    store.commit(&[Change::DeleteBridge("br".into())]).unwrap();
    let snap = store.load().unwrap();
    assert_eq!(snap.bridges.len(), 1);
    assert_eq!(snap.bridges[0].bridge.name, "br0");
    assert_eq!(snap.bridges[0].ports, vec![port("b", 1)]);
    assert_eq!(store.flow_count("br").unwrap(), 0);
    assert_eq!(store.flow_count("br0").unwrap(), 1);
}

#[test]
fn clear_and_delete_flows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("conf.db")).unwrap();
    let rows: Vec<Change> = (1..=5)
        .map(|seq| Change::PutFlow {
            bridge: "br0".into(),
            row: FlowRow {
                seq,
                line: format!("priority={seq},actions=drop"),
            },
        })
        .collect();
    store.commit(&[bridge("br0")]).unwrap();
    store.commit(&rows).unwrap();
    store
        .commit(&[Change::DeleteFlow {
            bridge: "br0".into(),
            seq: 3,
        }])
        .unwrap();
    assert_eq!(store.flow_count("br0").unwrap(), 4);
    store
        .commit(&[
            Change::ClearFlows {
                bridge: "br0".into(),
            },
            Change::PutFlow {
                bridge: "br0".into(),
                row: FlowRow {
                    seq: 9,
                    line: "actions=normal".into(),
                },
            },
        ])
        .unwrap();
    let snap = store.load().unwrap();
    assert_eq!(
        snap.bridges[0].flows,
        vec![FlowRow {
            seq: 9,
            line: "actions=normal".into()
        }]
    );
}

#[test]
fn second_open_of_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conf.db");
    let _first = Store::open(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::InUse(_)), "{err}");
    assert!(err.to_string().contains("conf.db"), "{err}");
    assert!(err.to_string().contains("another vswitchd"), "{err}");
    // The cause is said once, not repeated by the message and its source.
    let text = crate::report::chain(&err);
    assert_eq!(text.matches("in use").count(), 1, "{text}");
}

#[test]
fn corrupt_record_is_reported_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conf.db");
    {
        let store = Store::open(&path).unwrap();
        let txn = store.db().unwrap().begin_write().unwrap();
        txn.open_table(BRIDGES)
            .unwrap()
            .insert("brX", b"{not json".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path).unwrap().load().unwrap_err();
    assert!(err.to_string().contains("bridges/brX"), "{err}");
}

const CHILD_ENV: &str = "VSWITCH_STORE_KILL_TEST_DB";
const CHILD_WRITES: u64 = 5_000;

/// Not a test on its own: the body of the child process of
/// `acknowledged_writes_survive_sigkill`. Each iteration commits a bridge, a port and a flow
/// in one transaction, then prints `ack N`.
#[test]
#[ignore = "helper process for acknowledged_writes_survive_sigkill"]
fn kill_test_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = Store::open(Path::new(&path)).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..CHILD_WRITES {
        let name = format!("b{i}");
        let seq = store.next_flow_seq();
        store
            .commit(&[
                Change::PutBridge(BridgeRecord {
                    name: name.clone(),
                    ..BridgeRecord::default()
                }),
                Change::PutPort {
                    bridge: name.clone(),
                    port: port(&format!("p{i}"), 1),
                },
                Change::PutFlow {
                    bridge: name,
                    row: FlowRow {
                        seq,
                        line: format!("priority={i},actions=drop"),
                    },
                },
            ])
            .unwrap();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

/// The number of an `ack N` line. With `--nocapture` the test harness prints
/// `test NAME ... ` without a newline before the test body runs, so the first ack shares its
/// line: look for the marker anywhere, not only at the start.
fn ack_of(line: &str) -> Option<u64> {
    let at = line.rfind("ack ")?;
    line[at + 4..].trim().parse().ok()
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conf.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "store::tests::kill_test_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let mut guard = KillOnDrop(child);
    let mut acked = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = ack_of(&line) {
            acked.push(n);
            if acked.len() == 40 {
                // Child::kill sends SIGKILL: no destructor or flush runs in the child.
                guard.0.kill().unwrap();
                break;
            }
        }
    }
    guard.0.wait().unwrap();
    assert_eq!(acked.len(), 40, "child stopped early");
    // The child ran on while we read: every ack it printed before the signal is in the pipe.
    for line in lines {
        if let Some(n) = ack_of(&line.unwrap()) {
            acked.push(n);
        }
    }

    let store = Store::open(&path).expect("database opens cleanly after SIGKILL");
    let snap = store.load().unwrap();
    let present: std::collections::BTreeSet<String> =
        snap.bridges.iter().map(|b| b.bridge.name.clone()).collect();
    for i in &acked {
        assert!(
            present.contains(&format!("b{i}")),
            "acknowledged write {i} lost"
        );
    }
    // At most the one commit in flight when the signal landed may be there unacknowledged.
    assert!(snap.bridges.len() <= acked.len() + 1);
    // Each transaction is all-or-nothing.
    for b in &snap.bridges {
        assert_eq!(b.ports.len(), 1, "{} half-applied", b.bridge.name);
        assert_eq!(b.flows.len(), 1, "{} half-applied", b.bridge.name);
    }
}

#[test]
fn bridge_rows_written_before_controllers_load_with_none() {
    // The row as a daemon without controllers wrote it: the field's default is its migration.
    let old: BridgeRecord = serde_json::from_str(r#"{"name":"br0","fail_mode":"secure"}"#).unwrap();
    assert_eq!(old.controllers, Vec::<String>::new());
    assert_eq!(old.fail_mode, Some(FailMode::Secure));
    let new = BridgeRecord {
        controllers: vec!["tcp:127.0.0.1:6653".into()],
        ..old.clone()
    };
    let json = serde_json::to_string(&new).unwrap();
    assert_eq!(serde_json::from_str::<BridgeRecord>(&json).unwrap(), new);
    // A bridge without controllers is stored exactly as before.
    assert_eq!(
        serde_json::to_string(&old).unwrap(),
        r#"{"name":"br0","fail_mode":"secure"}"#
    );
}

#[test]
fn a_schema_3_database_gains_the_mirrors_table_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conf.db");
    {
        // A database as a schema-3 daemon left it: no mirrors table.
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(META)
                .unwrap()
                .insert("schema_version", 3)
                .unwrap();
            let json = to_json(&BridgeRecord {
                name: "br0".into(),
                ..BridgeRecord::default()
            });
            txn.open_table(BRIDGES)
                .unwrap()
                .insert("br0", json.as_slice())
                .unwrap();
            txn.open_table(PORTS).unwrap();
            txn.open_table(FLOWS).unwrap();
            txn.open_table(GROUPS).unwrap();
            txn.open_table(METERS).unwrap();
        }
        txn.commit().unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let snap = store.load().unwrap();
    assert_eq!(snap.bridges.len(), 1);
    assert!(snap.bridges[0].mirrors.is_empty());
    let m = MirrorRecord {
        name: "m0".into(),
        select_all: false,
        select_src_port: vec!["p1".into()],
        select_dst_port: vec![],
        select_vlan: vec![10],
        output: MirrorOutput::Port("p3".into()),
    };
    store
        .commit(&[Change::PutMirror {
            bridge: "br0".into(),
            mirror: m.clone(),
        }])
        .unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.load().unwrap().bridges[0].mirrors, vec![m]);
    let txn = store.db().unwrap().begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    assert_eq!(
        meta.get("schema_version").unwrap().unwrap().value(),
        SCHEMA_VERSION
    );
    drop(meta);
    drop(txn);
    // Deleting the bridge deletes its mirrors.
    let mut store = store;
    store.commit(&[Change::DeleteBridge("br0".into())]).unwrap();
    store.commit(&[bridge("br0")]).unwrap();
    assert!(store.load().unwrap().bridges[0].mirrors.is_empty());
}
