//! Monitors: OVS's `monitor_cond` / `monitor_cond_since` requests and the `update2` /
//! `update3` notifications that follow (ovsdb-server(7) §4.1.12-16).
//!
//! A monitor asks for chosen columns of chosen tables; the reply holds the current rows and
//! each later commit arrives as a `<table-updates2>`: per row, `initial`/`insert` (the
//! non-default columns), `modify` (a diff per changed column) or `delete`.
//! `monitor_cond_since` also names the last transaction the client has; the server answers
//! whether it still knows it (then only later changes follow) and the id of the newest
//! transaction in the reply, which the client keeps for its next reconnect.
//!
//! Parsing here is typed by the schema: every datum is checked against its column's type,
//! and an unknown table or column is an error (the replica would otherwise drift silently).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::data::{DataError, Datum, Uuid};
use crate::schema::DatabaseSchema;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MonitorError {
    #[error("{0} is malformed")]
    Malformed(&'static str),
    #[error("update for unknown table '{0}'")]
    UnknownTable(String),
    #[error("update for unknown column '{table}.{column}'")]
    UnknownColumn { table: String, column: String },
    #[error("column '{table}.{column}'")]
    Datum {
        table: String,
        column: String,
        #[source]
        source: DataError,
    },
    #[error("row key")]
    RowUuid(#[source] DataError),
}

/// Tables and, per table, the columns to replicate (empty: all columns).
pub type MonitorRequests = BTreeMap<String, Vec<String>>;

/// The `<monitor-cond-requests>` object: every row, every change kind.
pub fn cond_requests_json(requests: &MonitorRequests) -> Value {
    Value::Object(
        requests
            .iter()
            .map(|(t, cols)| {
                let req = if cols.is_empty() {
                    json!({})
                } else {
                    json!({"columns": cols})
                };
                (t.clone(), json!([req]))
            })
            .collect::<Map<_, _>>(),
    )
}

/// Params of `monitor_cond_since`: with `last_txn_id` `None` the server sends everything.
pub fn monitor_cond_since_params(
    db: &str,
    monitor_id: &Value,
    requests: &MonitorRequests,
    last_txn_id: Option<Uuid>,
) -> Value {
    json!([
        db,
        monitor_id,
        cond_requests_json(requests),
        last_txn_id.unwrap_or(Uuid::ZERO).to_string()
    ])
}

/// Params of `monitor_cond`.
pub fn monitor_cond_params(db: &str, monitor_id: &Value, requests: &MonitorRequests) -> Value {
    json!([db, monitor_id, cond_requests_json(requests)])
}

/// One row's change.
#[derive(Clone, Debug, PartialEq)]
pub enum RowUpdate {
    /// Present when the monitor started (columns at their default are omitted).
    Initial(BTreeMap<String, Datum>),
    Insert(BTreeMap<String, Datum>),
    /// Changed columns only, each as a diff (see `Datum::apply_diff`).
    Modify(BTreeMap<String, Datum>),
    Delete,
}

/// `<table-updates2>`: table name to row UUID to change.
pub type TableUpdates = BTreeMap<String, BTreeMap<Uuid, RowUpdate>>;

/// Reads a `<table-updates2>` object against `schema`. `null` (no change) is empty.
pub fn parse_table_updates(
    v: &Value,
    schema: &DatabaseSchema,
) -> Result<TableUpdates, MonitorError> {
    let mut out = TableUpdates::new();
    let tables = match v {
        Value::Null => return Ok(out),
        Value::Object(o) => o,
        _ => return Err(MonitorError::Malformed("table-updates2")),
    };
    for (tname, rows) in tables {
        let ts = schema
            .table(tname)
            .ok_or_else(|| MonitorError::UnknownTable(tname.chars().take(80).collect()))?;
        let rows = rows
            .as_object()
            .ok_or(MonitorError::Malformed("table-update2"))?;
        let table_out = out.entry(tname.clone()).or_default();
        for (uuid, upd) in rows {
            let uuid: Uuid = uuid.parse().map_err(MonitorError::RowUuid)?;
            let upd = upd
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or(MonitorError::Malformed("row-update2"))?;
            let Some((kind, row)) = upd.iter().next() else {
                return Err(MonitorError::Malformed("row-update2"));
            };
            if kind == "delete" {
                table_out.insert(uuid, RowUpdate::Delete);
                continue;
            }
            let row = row.as_object().ok_or(MonitorError::Malformed("row"))?;
            let mut cols = BTreeMap::new();
            for (cname, value) in row {
                let cs = ts
                    .column(cname)
                    .ok_or_else(|| MonitorError::UnknownColumn {
                        table: tname.clone(),
                        column: cname.chars().take(80).collect(),
                    })?;
                let d = Datum::from_json(value, Some(&cs.ty)).map_err(|source| {
                    MonitorError::Datum {
                        table: tname.clone(),
                        column: cname.clone(),
                        source,
                    }
                })?;
                cols.insert(cname.clone(), d);
            }
            let ru = match kind.as_str() {
                "initial" => RowUpdate::Initial(cols),
                "insert" => RowUpdate::Insert(cols),
                "modify" => RowUpdate::Modify(cols),
                _ => return Err(MonitorError::Malformed("row-update2 kind")),
            };
            table_out.insert(uuid, ru);
        }
    }
    Ok(out)
}

/// The result of `monitor_cond_since`: `[found, last-txn-id, table-updates2]`.
#[derive(Debug, PartialEq)]
pub struct SinceReply {
    pub found: bool,
    pub last_txn_id: Uuid,
    pub updates: TableUpdates,
}

fn parse_txn_id(v: Option<&Value>) -> Result<Uuid, MonitorError> {
    v.and_then(Value::as_str)
        .ok_or(MonitorError::Malformed("last-txn-id"))?
        .parse()
        .map_err(|_| MonitorError::Malformed("last-txn-id"))
}

pub fn parse_since_reply(v: &Value, schema: &DatabaseSchema) -> Result<SinceReply, MonitorError> {
    let a = v
        .as_array()
        .filter(|a| a.len() == 3)
        .ok_or(MonitorError::Malformed("monitor_cond_since reply"))?;
    Ok(SinceReply {
        found: a[0]
            .as_bool()
            .ok_or(MonitorError::Malformed("monitor_cond_since reply"))?,
        last_txn_id: parse_txn_id(a.get(1))?,
        updates: parse_table_updates(&a[2], schema)?,
    })
}

/// An `update2` or `update3` notification.
#[derive(Debug, PartialEq)]
pub struct UpdateNotification {
    pub monitor_id: Value,
    /// Present in update3.
    pub last_txn_id: Option<Uuid>,
    pub updates: TableUpdates,
}

pub fn parse_update(
    method: &str,
    params: &Value,
    schema: &DatabaseSchema,
) -> Result<UpdateNotification, MonitorError> {
    let a = params
        .as_array()
        .ok_or(MonitorError::Malformed("update params"))?;
    match (method, a.len()) {
        ("update2", 2) => Ok(UpdateNotification {
            monitor_id: a[0].clone(),
            last_txn_id: None,
            updates: parse_table_updates(&a[1], schema)?,
        }),
        ("update3", 3) => Ok(UpdateNotification {
            monitor_id: a[0].clone(),
            last_txn_id: Some(parse_txn_id(a.get(1))?),
            updates: parse_table_updates(&a[2], schema)?,
        }),
        _ => Err(MonitorError::Malformed("update params")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Atom;

    fn schema() -> DatabaseSchema {
        DatabaseSchema::parse(
            r#"{"name": "D", "tables": {"T": {"columns": {
                "name": {"type": "string"},
                "n": {"type": {"key": "integer", "min": 0, "max": 1}}}}}}"#,
        )
        .unwrap()
    }

    const U1: &str = "36aa1d3c-7b43-4d6f-9c1e-0123456789ab";
    const U2: &str = "46aa1d3c-7b43-4d6f-9c1e-0123456789ab";

    #[test]
    fn requests_print_as_ovs_expects() {
        let req = MonitorRequests::from([
            ("T".to_string(), vec!["name".to_string()]),
            ("U".to_string(), vec![]),
        ]);
        assert_eq!(
            monitor_cond_since_params("D", &json!(["D"]), &req, None),
            json!(["D", ["D"], {"T": [{"columns": ["name"]}], "U": [{}]},
                   "00000000-0000-0000-0000-000000000000"])
        );
        assert_eq!(
            monitor_cond_params("D", &json!(1), &req)[2]["U"],
            json!([{}])
        );
    }

    #[test]
    fn parses_updates_typed_by_the_schema() {
        let s = schema();
        let r = parse_since_reply(
            &json!([false, U2, {"T": {U1: {"initial": {"name": "a", "n": 3}}}}]),
            &s,
        )
        .unwrap();
        assert!(!r.found);
        assert_eq!(r.last_txn_id.to_string(), U2);
        let row = &r.updates["T"][&U1.parse::<Uuid>().unwrap()];
        assert!(matches!(row, RowUpdate::Initial(c) if c["n"] == Datum::one(Atom::Integer(3))));

        let n = parse_update(
            "update3",
            &json!([["D"], U1, {"T": {U1: {"modify": {"n": ["set", [3, 4]]}}, U2: {"delete": null}}}]),
            &s,
        )
        .unwrap();
        assert_eq!(n.last_txn_id, Some(U1.parse().unwrap()));
        assert_eq!(n.updates["T"].len(), 2);
        let n2 = parse_update("update2", &json!([1, null]), &s).unwrap();
        assert!(n2.updates.is_empty() && n2.last_txn_id.is_none());
    }

    #[test]
    fn rejects_what_would_corrupt_the_replica() {
        let s = schema();
        let bad = [
            json!({"X": {}}),
            json!({"T": {"not-a-uuid": {"insert": {}}}}),
            json!({"T": {U1: {"insert": {"nope": 1}}}}),
            json!({"T": {U1: {"insert": {"name": 1}}}}),
            json!({"T": {U1: {"insert": {}, "delete": null}}}),
            json!({"T": {U1: {"upsert": {}}}}),
            json!({"T": {U1: {"modify": 5}}}),
            json!([1]),
        ];
        for b in bad {
            assert!(parse_table_updates(&b, &s).is_err(), "{b}");
        }
        assert!(parse_update("update3", &json!([1, null]), &s).is_err());
        assert!(parse_update("update3", &json!([1, "x", {}]), &s).is_err());
        assert!(parse_since_reply(&json!([true, U1]), &s).is_err());
    }
}
