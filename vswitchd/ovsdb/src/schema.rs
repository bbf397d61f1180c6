//! Database schemas (RFC 7047 §3.2): tables, columns and column types.
//!
//! The client reads the schema the server reports (`get_schema`), not a copy compiled in, so
//! a server with a newer vswitch.ovsschema still works: the replica keeps every column it
//! asked for, typed by the server's own schema. Each table gains the implicit `_uuid` and
//! `_version` columns. Constraints the server enforces (integer ranges, enums, lengths) are
//! kept for callers that want to check a value before sending it; the atom type and the
//! set/map shape are what the codec itself relies on.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::data::{Atom, Datum};

/// Why a schema does not parse.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("'{0}' is not an atomic type")]
    UnknownAtomicType(String),
    #[error("malformed {what}: {json}")]
    Malformed { what: &'static str, json: String },
    #[error("enum of column type")]
    Enum(#[source] crate::data::DataError),
}

fn malformed(what: &'static str, v: &Value) -> SchemaError {
    let mut json = v.to_string();
    json.truncate(200);
    SchemaError::Malformed { what, json }
}

/// The five atomic types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

impl AtomicType {
    fn parse(s: &str) -> Result<AtomicType, SchemaError> {
        Ok(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            _ => return Err(SchemaError::UnknownAtomicType(s.chars().take(40).collect())),
        })
    }
}

impl fmt::Display for AtomicType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AtomicType::Integer => "an integer",
            AtomicType::Real => "a real",
            AtomicType::Boolean => "a boolean",
            AtomicType::String => "a string",
            AtomicType::Uuid => "a uuid",
        })
    }
}

/// The type of a key or a value: an atomic type and its constraints.
#[derive(Clone, Debug, PartialEq)]
pub struct BaseType {
    pub atomic: AtomicType,
    /// Allowed values, when the schema lists them.
    pub enum_values: Option<Vec<Atom>>,
    pub min_integer: Option<i64>,
    pub max_integer: Option<i64>,
    /// For a uuid: the table it refers to, and whether the reference is weak.
    pub ref_table: Option<String>,
    pub ref_weak: bool,
}

impl BaseType {
    pub fn atomic(atomic: AtomicType) -> BaseType {
        BaseType {
            atomic,
            enum_values: None,
            min_integer: None,
            max_integer: None,
            ref_table: None,
            ref_weak: false,
        }
    }

    pub fn from_json(v: &Value) -> Result<BaseType, SchemaError> {
        match v {
            Value::String(s) => Ok(BaseType::atomic(AtomicType::parse(s)?)),
            Value::Object(o) => {
                let t = o
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed("base type", v))?;
                let mut b = BaseType::atomic(AtomicType::parse(t)?);
                if let Some(e) = o.get("enum") {
                    let scalar = ColumnType::scalar(BaseType::atomic(b.atomic));
                    let d = Datum::from_json(e, Some(&scalar)).map_err(SchemaError::Enum)?;
                    b.enum_values = d.as_set().map(|s| s.iter().cloned().collect());
                }
                b.min_integer = o.get("minInteger").and_then(Value::as_i64);
                b.max_integer = o.get("maxInteger").and_then(Value::as_i64);
                b.ref_table = o.get("refTable").and_then(Value::as_str).map(str::to_owned);
                b.ref_weak = o.get("refType").and_then(Value::as_str) == Some("weak");
                Ok(b)
            }
            _ => Err(malformed("base type", v)),
        }
    }
}

/// A column's type: a key type, for maps a value type, and how many elements it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnType {
    pub key: BaseType,
    pub value: Option<BaseType>,
    pub min: u64,
    /// `None` is "unlimited".
    pub max: Option<u64>,
}

impl ColumnType {
    pub fn scalar(key: BaseType) -> ColumnType {
        ColumnType {
            key,
            value: None,
            min: 1,
            max: Some(1),
        }
    }

    /// Exactly one value and no map.
    pub fn is_scalar(&self) -> bool {
        self.value.is_none() && self.min == 1 && self.max == Some(1)
    }

    /// Can hold more than one element (OVS's "composite"): the kinds whose update2 diff is
    /// a set or map difference; a column of at most one element gets its new value instead.
    pub fn is_composite(&self) -> bool {
        self.max.is_none_or(|m| m > 1)
    }

    pub fn from_json(v: &Value) -> Result<ColumnType, SchemaError> {
        match v {
            Value::String(_) => Ok(ColumnType::scalar(BaseType::from_json(v)?)),
            Value::Object(o) => {
                let key = BaseType::from_json(o.get("key").ok_or_else(|| malformed("type", v))?)?;
                let value = o.get("value").map(BaseType::from_json).transpose()?;
                let min = match o.get("min") {
                    None => 1,
                    Some(m) => m.as_u64().ok_or_else(|| malformed("type min", v))?,
                };
                let max = match o.get("max") {
                    None => Some(1),
                    Some(Value::String(s)) if s == "unlimited" => None,
                    Some(m) => Some(m.as_u64().ok_or_else(|| malformed("type max", v))?),
                };
                Ok(ColumnType {
                    key,
                    value,
                    min,
                    max,
                })
            }
            _ => Err(malformed("type", v)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSchema {
    pub ty: ColumnType,
    pub ephemeral: bool,
    pub mutable: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TableSchema {
    pub columns: BTreeMap<String, ColumnSchema>,
    pub is_root: bool,
    pub max_rows: Option<u64>,
    pub indexes: Vec<Vec<String>>,
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.get(name)
    }
}

/// A whole database schema.
#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseSchema {
    pub name: String,
    pub version: String,
    pub tables: BTreeMap<String, TableSchema>,
}

impl DatabaseSchema {
    pub fn parse(text: &str) -> Result<DatabaseSchema, SchemaError> {
        DatabaseSchema::from_json(&serde_json::from_str(text)?)
    }

    pub fn from_json(v: &Value) -> Result<DatabaseSchema, SchemaError> {
        let o = v.as_object().ok_or_else(|| malformed("schema", v))?;
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("schema name", v))?;
        let version = o.get("version").and_then(Value::as_str).unwrap_or("");
        let tables_json = o
            .get("tables")
            .and_then(Value::as_object)
            .ok_or_else(|| malformed("schema tables", v))?;
        let mut tables = BTreeMap::new();
        for (tname, t) in tables_json {
            let to = t.as_object().ok_or_else(|| malformed("table", t))?;
            let cols = to
                .get("columns")
                .and_then(Value::as_object)
                .ok_or_else(|| malformed("table columns", t))?;
            let mut columns = BTreeMap::new();
            for (cname, c) in cols {
                let co = c.as_object().ok_or_else(|| malformed("column", c))?;
                let ty =
                    ColumnType::from_json(co.get("type").ok_or_else(|| malformed("column", c))?)?;
                columns.insert(
                    cname.clone(),
                    ColumnSchema {
                        ty,
                        ephemeral: co
                            .get("ephemeral")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                        mutable: co.get("mutable").and_then(Value::as_bool).unwrap_or(true),
                    },
                );
            }
            let uuid_col = ColumnSchema {
                ty: ColumnType::scalar(BaseType::atomic(AtomicType::Uuid)),
                ephemeral: false,
                mutable: false,
            };
            columns.insert("_uuid".into(), uuid_col.clone());
            columns.insert("_version".into(), uuid_col);
            let indexes = to
                .get("indexes")
                .and_then(Value::as_array)
                .map(|ix| {
                    ix.iter()
                        .filter_map(Value::as_array)
                        .map(|cols| {
                            cols.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .collect()
                })
                .unwrap_or_default();
            tables.insert(
                tname.clone(),
                TableSchema {
                    columns,
                    is_root: to.get("isRoot").and_then(Value::as_bool).unwrap_or(false),
                    max_rows: to.get("maxRows").and_then(Value::as_u64),
                    indexes,
                },
            );
        }
        Ok(DatabaseSchema {
            name: name.to_owned(),
            version: version.to_owned(),
            tables,
        })
    }

    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

    #[test]
    fn parses_a_small_schema() {
        let s = DatabaseSchema::parse(
            r#"{"name": "T", "version": "1.2.3", "tables": {
                "A": {"columns": {
                    "n": {"type": "integer"},
                    "tags": {"type": {"key": {"type": "integer", "minInteger": 0,
                                              "maxInteger": 4095}, "min": 0, "max": 4096}},
                    "mode": {"type": {"key": {"type": "string",
                                              "enum": ["set", ["a", "b"]]}, "min": 0, "max": 1}},
                    "refs": {"type": {"key": {"type": "uuid", "refTable": "A",
                                              "refType": "weak"}, "min": 0, "max": "unlimited"}},
                    "m": {"type": {"key": "string", "value": "integer", "min": 0,
                                   "max": "unlimited"}, "ephemeral": true}
                }, "isRoot": true, "indexes": [["n"]]}}}"#,
        )
        .unwrap();
        let a = s.table("A").unwrap();
        assert!(a.is_root);
        assert_eq!(a.indexes, vec![vec!["n".to_string()]]);
        assert!(a.column("n").unwrap().ty.is_scalar());
        let tags = &a.column("tags").unwrap().ty;
        assert_eq!(
            (tags.min, tags.max, tags.key.max_integer),
            (0, Some(4096), Some(4095))
        );
        let mode = &a.column("mode").unwrap().ty.key;
        assert_eq!(mode.enum_values.as_ref().unwrap().len(), 2);
        let refs = &a.column("refs").unwrap().ty;
        assert_eq!((refs.max, refs.key.ref_weak), (None, true));
        assert!(a.column("m").unwrap().ephemeral);
        assert!(a.column("_uuid").is_some());
    }

    #[test]
    fn rejects_bad_schemas() {
        for bad in [
            r#"[]"#,
            r#"{"tables": {}}"#,
            r#"{"name": "x", "tables": {"A": {"columns": {"c": {"type": "float"}}}}}"#,
            r#"{"name": "x", "tables": {"A": {"columns": {"c": {"type": {"min": 0}}}}}}"#,
            r#"{"name": "x", "tables": {"A": {"columns": {"c": {"type": {"key": "string", "max": -1}}}}}}"#,
        ] {
            assert!(DatabaseSchema::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_the_installed_vswitch_schema() {
        let text = match std::fs::read_to_string(VSWITCH_SCHEMA) {
            Ok(t) => t,
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{VSWITCH_SCHEMA}: {e} (install openvswitch-common)"
                );
                eprintln!("SKIPPING: {VSWITCH_SCHEMA}: {e}");
                return;
            }
        };
        let s = DatabaseSchema::parse(&text).unwrap();
        assert_eq!(s.name, "Open_vSwitch");
        let iface = s.table("Interface").unwrap();
        let ofport = &iface.column("ofport").unwrap().ty;
        assert_eq!(
            (ofport.min, ofport.max, ofport.key.atomic),
            (0, Some(1), AtomicType::Integer)
        );
        let ovs = s.table("Open_vSwitch").unwrap();
        assert_eq!(ovs.max_rows, Some(1));
        let dps = &ovs.column("datapaths").unwrap().ty;
        assert_eq!(
            dps.value.as_ref().unwrap().ref_table.as_deref(),
            Some("Datapath")
        );
    }
}
