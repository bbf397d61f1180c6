//! Fuzz target: what an OVSDB server sends (`ovsdb` crate), from raw bytes to the replica.
//!
//! The input is the byte stream from a (possibly hostile) server, fed to the framer in
//! chunks whose sizes come from the input's first byte, as reads would deliver it. Every
//! message that frames is classified as JSON-RPC; notifications and replies are read as
//! update2/update3, monitor_cond_since replies and transact replies against a schema with
//! every column kind, and updates are applied to a replica. Beyond "never panics":
//! - the framer never holds more than the message bound plus one chunk;
//! - a message that classifies prints back to JSON that classifies to the same message;
//! - every datum that parses prints to JSON that parses, with the same type, to the same
//!   datum;
//! - a rejected update leaves the replica exactly as it was (updates apply whole or not at
//!   all).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ovsdb::framing::Framer;
use ovsdb::monitor::{RowUpdate, TableUpdates, parse_since_reply, parse_update};
use ovsdb::ops::TransactReply;
use ovsdb::rpc::Message;
use ovsdb::{DatabaseSchema, Datum, Replica};

const MAX_MESSAGE: usize = 4096;

const SCHEMA: &str = r#"{"name": "Open_vSwitch", "version": "1.0.0", "tables": {
  "Bridge": {"columns": {
    "name": {"type": "string"},
    "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}},
    "fail_mode": {"type": {"key": {"type": "string", "enum": ["set", ["standalone", "secure"]]}, "min": 0, "max": 1}},
    "other_config": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
    "flood_vlans": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 4096}},
    "stp_enable": {"type": "boolean"}}, "isRoot": true},
  "Port": {"columns": {
    "name": {"type": "string"},
    "tag": {"type": {"key": "integer", "min": 0, "max": 1}},
    "weights": {"type": {"key": "integer", "value": "real", "min": 0, "max": "unlimited"}},
    "load": {"type": "real"},
    "peer": {"type": {"key": {"type": "uuid", "refTable": "Port", "refType": "weak"}, "min": 0, "max": 1}}}}}}"#;

fn schema() -> &'static DatabaseSchema {
    static S: OnceLock<DatabaseSchema> = OnceLock::new();
    S.get_or_init(|| DatabaseSchema::parse(SCHEMA).expect("the target's schema parses"))
}

fn check_datums(updates: &TableUpdates, schema: &DatabaseSchema) {
    for (table, rows) in updates {
        let ts = schema
            .table(table)
            .expect("parsed tables are in the schema");
        for u in rows.values() {
            let cols = match u {
                RowUpdate::Initial(c) | RowUpdate::Insert(c) | RowUpdate::Modify(c) => c,
                RowUpdate::Delete => continue,
            };
            for (col, d) in cols {
                let ty = &ts.column(col).expect("parsed columns are in the schema").ty;
                let again = Datum::from_json(&d.to_json(), Some(ty))
                    .unwrap_or_else(|e| panic!("{table}.{col} = {d:?} prints unparseable: {e}"));
                assert_eq!(&again, d, "{table}.{col} does not round-trip");
            }
        }
    }
}

fn apply(replica: &mut Replica, updates: TableUpdates) {
    let before = format!("{replica:?}");
    if replica.apply(updates).is_err() {
        assert_eq!(
            before,
            format!("{replica:?}"),
            "a rejected update changed the replica"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 64) + 1;
    let schema = schema();
    let mut replica = Replica::new(schema.clone(), schema.tables.keys().cloned());
    let mut framer = Framer::new(MAX_MESSAGE);
    for piece in stream.chunks(chunk) {
        if framer.push(piece).is_err() {
            return;
        }
        loop {
            let v = match framer.next_message() {
                Ok(Some(v)) => v,
                Ok(None) => break,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    return;
                }
            };
            assert!(framer.buffered() <= MAX_MESSAGE + chunk);
            let Ok(msg) = Message::from_json(v) else {
                continue;
            };
            assert_eq!(
                Message::from_json(msg.to_json()).as_ref(),
                Ok(&msg),
                "message does not round-trip"
            );
            match msg {
                Message::Notification { method, params } => {
                    if let Ok(n) = parse_update(&method, &params, schema) {
                        check_datums(&n.updates, schema);
                        apply(&mut replica, n.updates);
                    }
                }
                Message::Reply { result, .. } => {
                    if let Ok(r) = parse_since_reply(&result, schema) {
                        check_datums(&r.updates, schema);
                        apply(&mut replica, r.updates);
                    }
                    let _ = TransactReply::parse(&result, 2);
                }
                Message::Request { .. } | Message::Error { .. } => {}
            }
        }
        assert!(framer.buffered() <= MAX_MESSAGE + chunk);
    }
});
