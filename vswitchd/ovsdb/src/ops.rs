//! Transactions (RFC 7047 §5.2): operations, conditions, mutations, and their results.
//!
//! A transaction is a list of [`Operation`]s sent as the params of a `transact` request,
//! applied by the server atomically: all or none. The reply holds one result per operation;
//! if one fails, it holds that operation's error and the server applied nothing (a failed
//! commit, e.g. a constraint violation, adds one extra error after the operation results).
//! [`TransactReply::parse`] folds that into `Ok(results)` or `Err(first error)`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::data::{Atom, Datum, Uuid};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OpsError {
    #[error("transact reply is not an array")]
    NotAnArray,
    #[error("transact reply has {got} results for {sent} operations")]
    Count { sent: usize, got: usize },
    #[error("operation result {0} is malformed")]
    BadResult(usize),
    #[error("transaction failed at operation {index}: {error}{}", details_suffix(.details))]
    Failed {
        index: usize,
        error: String,
        details: String,
    },
}

fn details_suffix(d: &str) -> String {
    if d.is_empty() {
        String::new()
    } else {
        format!(" ({d})")
    }
}

/// Comparison functions of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
    Includes,
    Excludes,
}

impl Function {
    fn as_str(self) -> &'static str {
        match self {
            Function::Lt => "<",
            Function::Le => "<=",
            Function::Eq => "==",
            Function::Ne => "!=",
            Function::Ge => ">=",
            Function::Gt => ">",
            Function::Includes => "includes",
            Function::Excludes => "excludes",
        }
    }
}

/// `[column, function, value]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub column: String,
    pub function: Function,
    pub value: Datum,
}

impl Condition {
    pub fn new(column: &str, function: Function, value: Datum) -> Condition {
        Condition {
            column: column.to_owned(),
            function,
            value,
        }
    }

    /// The row whose `_uuid` is `uuid`.
    pub fn uuid_is(uuid: Uuid) -> Condition {
        Condition::new("_uuid", Function::Eq, Datum::one(Atom::Uuid(uuid)))
    }

    pub fn to_json(&self) -> Value {
        json!([self.column, self.function.as_str(), self.value.to_json()])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutator {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Insert,
    Delete,
}

impl Mutator {
    fn as_str(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

/// `[column, mutator, value]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation {
    pub column: String,
    pub mutator: Mutator,
    pub value: Datum,
}

impl Mutation {
    pub fn new(column: &str, mutator: Mutator, value: Datum) -> Mutation {
        Mutation {
            column: column.to_owned(),
            mutator,
            value,
        }
    }
}

/// Column name to value, for insert and update.
pub type RowData = BTreeMap<String, Datum>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitUntil {
    Equal,
    NotEqual,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    Insert {
        table: String,
        row: RowData,
        uuid_name: Option<String>,
    },
    Select {
        table: String,
        conditions: Vec<Condition>,
        columns: Option<Vec<String>>,
    },
    Update {
        table: String,
        conditions: Vec<Condition>,
        row: RowData,
    },
    Mutate {
        table: String,
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    },
    Delete {
        table: String,
        conditions: Vec<Condition>,
    },
    Wait {
        table: String,
        conditions: Vec<Condition>,
        columns: Vec<String>,
        until: WaitUntil,
        rows: Vec<RowData>,
        timeout_ms: Option<u64>,
    },
    Commit {
        durable: bool,
    },
    Abort,
    Comment(String),
    Assert {
        lock: String,
    },
}

fn row_json(row: &RowData) -> Value {
    Value::Object(
        row.iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect::<Map<_, _>>(),
    )
}

fn conds_json(c: &[Condition]) -> Value {
    Value::Array(c.iter().map(Condition::to_json).collect())
}

impl Operation {
    pub fn to_json(&self) -> Value {
        match self {
            Operation::Insert {
                table,
                row,
                uuid_name,
            } => {
                let mut o = json!({"op": "insert", "table": table, "row": row_json(row)});
                if let Some(n) = uuid_name {
                    o["uuid-name"] = json!(n);
                }
                o
            }
            Operation::Select {
                table,
                conditions,
                columns,
            } => {
                let mut o =
                    json!({"op": "select", "table": table, "where": conds_json(conditions)});
                if let Some(c) = columns {
                    o["columns"] = json!(c);
                }
                o
            }
            Operation::Update {
                table,
                conditions,
                row,
            } => json!({"op": "update", "table": table, "where": conds_json(conditions),
                        "row": row_json(row)}),
            Operation::Mutate {
                table,
                conditions,
                mutations,
            } => json!({"op": "mutate", "table": table, "where": conds_json(conditions),
                        "mutations": mutations.iter()
                            .map(|m| json!([m.column, m.mutator.as_str(), m.value.to_json()]))
                            .collect::<Vec<_>>()}),
            Operation::Delete { table, conditions } => {
                json!({"op": "delete", "table": table, "where": conds_json(conditions)})
            }
            Operation::Wait {
                table,
                conditions,
                columns,
                until,
                rows,
                timeout_ms,
            } => {
                let mut o = json!({"op": "wait", "table": table, "where": conds_json(conditions),
                    "columns": columns,
                    "until": if *until == WaitUntil::Equal { "==" } else { "!=" },
                    "rows": rows.iter().map(row_json).collect::<Vec<_>>()});
                if let Some(t) = timeout_ms {
                    o["timeout"] = json!(t);
                }
                o
            }
            Operation::Commit { durable } => json!({"op": "commit", "durable": durable}),
            Operation::Abort => json!({"op": "abort"}),
            Operation::Comment(c) => json!({"op": "comment", "comment": c}),
            Operation::Assert { lock } => json!({"op": "assert", "lock": lock}),
        }
    }
}

/// The params of a `transact` request on database `db`.
pub fn transact_params(db: &str, ops: &[Operation]) -> Value {
    let mut p = vec![json!(db)];
    p.extend(ops.iter().map(Operation::to_json));
    Value::Array(p)
}

/// One operation's result.
#[derive(Clone, Debug, PartialEq)]
pub enum OpResult {
    /// Insert: the new row's UUID.
    Inserted(Uuid),
    /// Update, mutate, delete: how many rows matched.
    Count(u64),
    /// Select: the rows, as JSON objects of the selected columns.
    Rows(Vec<Map<String, Value>>),
    /// Wait, comment, commit, assert.
    Empty,
}

pub struct TransactReply;

impl TransactReply {
    /// Reads the `result` of a `transact` reply for `sent` operations.
    pub fn parse(result: &Value, sent: usize) -> Result<Vec<OpResult>, OpsError> {
        let arr = result.as_array().ok_or(OpsError::NotAnArray)?;
        // The first error, wherever it is, decides the outcome.
        for (index, r) in arr.iter().enumerate() {
            if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
                return Err(OpsError::Failed {
                    index,
                    error: e.as_str().unwrap_or("error").chars().take(200).collect(),
                    details: r
                        .get("details")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .chars()
                        .take(500)
                        .collect(),
                });
            }
        }
        if arr.len() != sent {
            return Err(OpsError::Count {
                sent,
                got: arr.len(),
            });
        }
        arr.iter()
            .enumerate()
            .map(|(i, r)| {
                let o = r.as_object().ok_or(OpsError::BadResult(i))?;
                if let Some(u) = o.get("uuid") {
                    let s = u
                        .as_array()
                        .filter(|a| a.len() == 2 && a[0] == "uuid")
                        .and_then(|a| a[1].as_str())
                        .ok_or(OpsError::BadResult(i))?;
                    return Ok(OpResult::Inserted(
                        s.parse().map_err(|_| OpsError::BadResult(i))?,
                    ));
                }
                if let Some(c) = o.get("count") {
                    return Ok(OpResult::Count(c.as_u64().ok_or(OpsError::BadResult(i))?));
                }
                if let Some(rows) = o.get("rows") {
                    let rows = rows.as_array().ok_or(OpsError::BadResult(i))?;
                    return rows
                        .iter()
                        .map(|r| r.as_object().cloned().ok_or(OpsError::BadResult(i)))
                        .collect::<Result<_, _>>()
                        .map(OpResult::Rows);
                }
                Ok(OpResult::Empty)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Uuid {
        s.parse().unwrap()
    }

    #[test]
    fn operations_print_as_rfc7047() {
        let id = u("36aa1d3c-7b43-4d6f-9c1e-0123456789ab");
        let ops = vec![
            Operation::Insert {
                table: "Bridge".into(),
                row: RowData::from([("name".into(), Datum::one(Atom::string("br0")))]),
                uuid_name: Some("new_br".into()),
            },
            Operation::Mutate {
                table: "Open_vSwitch".into(),
                conditions: vec![],
                mutations: vec![
                    Mutation::new(
                        "bridges",
                        Mutator::Insert,
                        Datum::one(Atom::NamedUuid("new_br".into())),
                    ),
                    Mutation::new("next_cfg", Mutator::Add, Datum::one(Atom::Integer(1))),
                ],
            },
            Operation::Update {
                table: "Interface".into(),
                conditions: vec![Condition::uuid_is(id)],
                row: RowData::from([("ofport".into(), Datum::one(Atom::Integer(5)))]),
            },
            Operation::Wait {
                table: "Open_vSwitch".into(),
                conditions: vec![],
                columns: vec!["cur_cfg".into()],
                until: WaitUntil::Equal,
                rows: vec![RowData::from([(
                    "cur_cfg".into(),
                    Datum::one(Atom::Integer(3)),
                )])],
                timeout_ms: Some(0),
            },
            Operation::Comment("vswitch".into()),
        ];
        assert_eq!(
            transact_params("Open_vSwitch", &ops),
            json!(["Open_vSwitch",
                {"op": "insert", "table": "Bridge", "row": {"name": "br0"}, "uuid-name": "new_br"},
                {"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [
                    ["bridges", "insert", ["named-uuid", "new_br"]], ["next_cfg", "+=", 1]]},
                {"op": "update", "table": "Interface",
                 "where": [["_uuid", "==", ["uuid", "36aa1d3c-7b43-4d6f-9c1e-0123456789ab"]]],
                 "row": {"ofport": 5}},
                {"op": "wait", "table": "Open_vSwitch", "where": [], "columns": ["cur_cfg"],
                 "until": "==", "rows": [{"cur_cfg": 3}], "timeout": 0},
                {"op": "comment", "comment": "vswitch"}])
        );
    }

    #[test]
    fn replies_parse_to_results_or_the_first_error() {
        let ok = json!([{"uuid": ["uuid", "36aa1d3c-7b43-4d6f-9c1e-0123456789ab"]},
                        {"count": 1}, {"rows": [{"name": "br0"}]}, {}]);
        let r = TransactReply::parse(&ok, 4).unwrap();
        assert_eq!(r[1], OpResult::Count(1));
        assert!(matches!(&r[2], OpResult::Rows(rows) if rows[0]["name"] == "br0"));
        let failed = json!([{"count": 1}, {"error": "constraint violation",
                                          "details": "ofport_request out of range"}, null]);
        let e = TransactReply::parse(&failed, 3).unwrap_err();
        assert_eq!(
            e.to_string(),
            "transaction failed at operation 1: constraint violation (ofport_request out of range)"
        );
        let commit_failed = json!([{}, {"error": "referential integrity violation"}]);
        assert!(matches!(
            TransactReply::parse(&commit_failed, 1),
            Err(OpsError::Failed { index: 1, .. })
        ));
        assert_eq!(
            TransactReply::parse(&json!([{}]), 2),
            Err(OpsError::Count { sent: 2, got: 1 })
        );
        assert_eq!(
            TransactReply::parse(&json!({}), 0),
            Err(OpsError::NotAnArray)
        );
        assert_eq!(
            TransactReply::parse(&json!([{"uuid": "x"}]), 1),
            Err(OpsError::BadResult(0))
        );
    }
}
