//! The replica: an in-memory copy of the monitored tables, kept current by applying the
//! server's `<table-updates2>`, with typed read access to the tables a switch uses.
//!
//! Storage is generic (table -> row UUID -> column -> datum, columns at their default value
//! omitted, as the server sends them), so any table or column the server's schema has can be
//! replicated; typed views ([`Bridge`], [`Interface`], ...) read it with the column types of
//! vswitch.ovsschema and fall back to the column default for a missing or differently typed
//! value, never panicking.
//!
//! Invariant: an update is applied whole or not at all. [`Replica::apply`] checks first that
//! every insert names a new row and every modify or delete an existing one; a failed update
//! means client and server disagree, and the caller must resynchronise from scratch.

use std::collections::BTreeMap;

use crate::data::{Atom, DataError, Datum, Uuid};
use crate::monitor::{RowUpdate, TableUpdates};
use crate::schema::DatabaseSchema;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReplicaError {
    #[error("update for table '{0}' that is not replicated")]
    UnknownTable(String),
    #[error("insert of row {1} that {0} already has")]
    DuplicateInsert(String, Uuid),
    #[error("{kind} of row {uuid} that {table} does not have")]
    MissingRow {
        kind: &'static str,
        table: String,
        uuid: Uuid,
    },
    #[error("diff for column '{table}.{column}'")]
    Diff {
        table: String,
        column: String,
        #[source]
        source: DataError,
    },
}

/// Column name to value; default-valued columns may be absent.
pub type Row = BTreeMap<String, Datum>;

/// The replicated tables of one database.
#[derive(Clone, Debug)]
pub struct Replica {
    schema: DatabaseSchema,
    tables: BTreeMap<String, BTreeMap<Uuid, Row>>,
}

impl Replica {
    /// An empty replica of `tables` (each must be in `schema`; others are ignored).
    pub fn new(schema: DatabaseSchema, tables: impl IntoIterator<Item = String>) -> Replica {
        let tables = tables
            .into_iter()
            .filter(|t| schema.table(t).is_some())
            .map(|t| (t, BTreeMap::new()))
            .collect();
        Replica { schema, tables }
    }

    pub fn schema(&self) -> &DatabaseSchema {
        &self.schema
    }

    /// An empty copy (same schema and tables).
    pub fn cleared(&self) -> Replica {
        Replica::new(self.schema.clone(), self.tables.keys().cloned())
    }

    /// Applies one `<table-updates2>`, whole or not at all.
    pub fn apply(&mut self, updates: TableUpdates) -> Result<(), ReplicaError> {
        for (tname, rows) in &updates {
            let table = self
                .tables
                .get(tname)
                .ok_or_else(|| ReplicaError::UnknownTable(tname.clone()))?;
            for (uuid, u) in rows {
                let exists = table.contains_key(uuid);
                let kind = match u {
                    RowUpdate::Insert(_) if exists => {
                        return Err(ReplicaError::DuplicateInsert(tname.clone(), *uuid));
                    }
                    RowUpdate::Modify(_) => "modify",
                    RowUpdate::Delete => "delete",
                    _ => continue,
                };
                if !exists {
                    return Err(ReplicaError::MissingRow {
                        kind,
                        table: tname.clone(),
                        uuid: *uuid,
                    });
                }
            }
        }
        // Diffs are checked against their column's type when parsed, so applying them
        // cannot fail half way; apply to a copy of each modified row anyway, so that even
        // a failure leaves the row as it was.
        for (tname, rows) in updates {
            let Some(ts) = self.schema.tables.get(&tname) else {
                continue;
            };
            let table = self.tables.entry(tname.clone()).or_default();
            for (uuid, u) in rows {
                match u {
                    RowUpdate::Initial(row) | RowUpdate::Insert(row) => {
                        table.insert(uuid, row);
                    }
                    RowUpdate::Delete => {
                        table.remove(&uuid);
                    }
                    RowUpdate::Modify(diff) => {
                        let Some(old) = table.get(&uuid) else {
                            continue;
                        };
                        let mut row = old.clone();
                        for (col, d) in diff {
                            let Some(cs) = ts.column(&col) else {
                                continue;
                            };
                            let cur = row
                                .entry(col.clone())
                                .or_insert_with(|| Datum::default_of(&cs.ty));
                            cur.apply_diff(d, &cs.ty)
                                .map_err(|source| ReplicaError::Diff {
                                    table: tname.clone(),
                                    column: col.clone(),
                                    source,
                                })?;
                            if *cur == Datum::default_of(&cs.ty) {
                                row.remove(&col);
                            }
                        }
                        table.insert(uuid, row);
                    }
                }
            }
        }
        Ok(())
    }

    pub fn row(&self, table: &str, uuid: Uuid) -> Option<&Row> {
        self.tables.get(table)?.get(&uuid)
    }

    /// The rows of `table` in UUID order (none if it is not replicated).
    pub fn rows(&self, table: &str) -> impl Iterator<Item = RowView<'_>> {
        self.tables
            .get(table)
            .into_iter()
            .flat_map(|t| t.iter())
            .map(|(u, r)| RowView { uuid: *u, row: r })
    }

    pub fn view(&self, table: &str, uuid: Uuid) -> Option<RowView<'_>> {
        self.row(table, uuid).map(|row| RowView { uuid, row })
    }

    /// The single Open_vSwitch row.
    pub fn open_vswitch(&self) -> Option<OpenVswitch<'_>> {
        self.rows(OpenVswitch::TABLE).next().map(OpenVswitch)
    }

    pub fn bridges(&self) -> impl Iterator<Item = Bridge<'_>> {
        self.rows(Bridge::TABLE).map(Bridge)
    }

    pub fn bridge(&self, uuid: Uuid) -> Option<Bridge<'_>> {
        self.view(Bridge::TABLE, uuid).map(Bridge)
    }

    pub fn bridge_by_name(&self, name: &str) -> Option<Bridge<'_>> {
        self.bridges().find(|b| b.name() == name)
    }

    pub fn port(&self, uuid: Uuid) -> Option<Port<'_>> {
        self.view(Port::TABLE, uuid).map(Port)
    }

    pub fn ports(&self) -> impl Iterator<Item = Port<'_>> {
        self.rows(Port::TABLE).map(Port)
    }

    pub fn interface(&self, uuid: Uuid) -> Option<Interface<'_>> {
        self.view(Interface::TABLE, uuid).map(Interface)
    }

    pub fn interfaces(&self) -> impl Iterator<Item = Interface<'_>> {
        self.rows(Interface::TABLE).map(Interface)
    }

    pub fn interface_by_name(&self, name: &str) -> Option<Interface<'_>> {
        self.interfaces().find(|i| i.name() == name)
    }

    pub fn controller(&self, uuid: Uuid) -> Option<Controller<'_>> {
        self.view(Controller::TABLE, uuid).map(Controller)
    }

    pub fn mirror(&self, uuid: Uuid) -> Option<Mirror<'_>> {
        self.view(Mirror::TABLE, uuid).map(Mirror)
    }

    pub fn datapath(&self, uuid: Uuid) -> Option<Datapath<'_>> {
        self.view(Datapath::TABLE, uuid).map(Datapath)
    }
}

/// One row, read by column.
#[derive(Clone, Copy, Debug)]
pub struct RowView<'a> {
    pub uuid: Uuid,
    pub row: &'a Row,
}

impl<'a> RowView<'a> {
    fn atoms(&self, col: &str) -> impl Iterator<Item = &'a Atom> + use<'a> {
        self.row
            .get(col)
            .and_then(Datum::as_set)
            .into_iter()
            .flat_map(|s| s.iter())
    }

    fn pairs(&self, col: &str) -> impl Iterator<Item = (&'a Atom, &'a Atom)> + use<'a> {
        self.row
            .get(col)
            .and_then(Datum::as_map)
            .into_iter()
            .flat_map(|m| m.iter())
    }

    pub fn get(&self, col: &str) -> Option<&'a Datum> {
        self.row.get(col)
    }

    pub fn str(&self, col: &str) -> &'a str {
        self.opt_str(col).unwrap_or("")
    }

    pub fn opt_str(&self, col: &str) -> Option<&'a str> {
        self.atoms(col).next().and_then(Atom::as_str)
    }

    pub fn int(&self, col: &str) -> i64 {
        self.opt_int(col).unwrap_or(0)
    }

    pub fn opt_int(&self, col: &str) -> Option<i64> {
        self.atoms(col).next().and_then(Atom::as_integer)
    }

    pub fn boolean(&self, col: &str) -> bool {
        self.atoms(col)
            .next()
            .and_then(Atom::as_bool)
            .unwrap_or(false)
    }

    pub fn opt_uuid(&self, col: &str) -> Option<Uuid> {
        self.atoms(col).next().and_then(Atom::as_uuid)
    }

    pub fn uuids(&self, col: &str) -> Vec<Uuid> {
        self.atoms(col).filter_map(Atom::as_uuid).collect()
    }

    pub fn ints(&self, col: &str) -> Vec<i64> {
        self.atoms(col).filter_map(Atom::as_integer).collect()
    }

    pub fn strs(&self, col: &str) -> Vec<&'a str> {
        self.atoms(col).filter_map(Atom::as_str).collect()
    }

    /// A string-to-string map (`other_config`, `external_ids`, `options`, `status`).
    pub fn smap(&self, col: &str) -> BTreeMap<&'a str, &'a str> {
        self.pairs(col)
            .filter_map(|(k, v)| Some((k.as_str()?, v.as_str()?)))
            .collect()
    }

    /// A string-to-integer map (`statistics`).
    pub fn imap(&self, col: &str) -> BTreeMap<&'a str, i64> {
        self.pairs(col)
            .filter_map(|(k, v)| Some((k.as_str()?, v.as_integer()?)))
            .collect()
    }

    /// A string-to-uuid map (`Open_vSwitch.datapaths`).
    pub fn uuid_map(&self, col: &str) -> BTreeMap<&'a str, Uuid> {
        self.pairs(col)
            .filter_map(|(k, v)| Some((k.as_str()?, v.as_uuid()?)))
            .collect()
    }
}

macro_rules! ret {
    (str) => { &'a str };
    (opt_str) => { Option<&'a str> };
    (int) => { i64 };
    (opt_int) => { Option<i64> };
    (boolean) => { bool };
    (opt_uuid) => { Option<Uuid> };
    (uuids) => { Vec<Uuid> };
    (ints) => { Vec<i64> };
    (strs) => { Vec<&'a str> };
    (smap) => { BTreeMap<&'a str, &'a str> };
    (imap) => { BTreeMap<&'a str, i64> };
    (uuid_map) => { BTreeMap<&'a str, Uuid> };
}

macro_rules! typed_table {
    ($(#[$doc:meta])* $ty:ident = $table:literal { $($method:ident : $kind:ident = $col:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $ty<'a>(pub RowView<'a>);

        impl<'a> $ty<'a> {
            pub const TABLE: &'static str = $table;

            pub fn uuid(&self) -> Uuid {
                self.0.uuid
            }

            $(
                pub fn $method(&self) -> ret!($kind) {
                    self.0.$kind($col)
                }
            )*
        }
    };
}

typed_table!(
    /// The root row: bridges, configuration sequence numbers, system identity.
    OpenVswitch = "Open_vSwitch" {
    bridges: uuids = "bridges",
    next_cfg: int = "next_cfg",
    cur_cfg: int = "cur_cfg",
    other_config: smap = "other_config",
    external_ids: smap = "external_ids",
    datapaths: uuid_map = "datapaths",
    ovs_version: opt_str = "ovs_version",
    db_version: opt_str = "db_version",
    system_type: opt_str = "system_type",
    system_version: opt_str = "system_version",
    iface_types: strs = "iface_types",
    datapath_types: strs = "datapath_types",
    manager_options: uuids = "manager_options",
});

typed_table!(Bridge = "Bridge" {
    name: str = "name",
    datapath_type: str = "datapath_type",
    datapath_id: opt_str = "datapath_id",
    ports: uuids = "ports",
    mirrors: uuids = "mirrors",
    controller: uuids = "controller",
    fail_mode: opt_str = "fail_mode",
    protocols: strs = "protocols",
    flood_vlans: ints = "flood_vlans",
    stp_enable: boolean = "stp_enable",
    other_config: smap = "other_config",
    external_ids: smap = "external_ids",
    status: smap = "status",
});

typed_table!(Port = "Port" {
    name: str = "name",
    interfaces: uuids = "interfaces",
    tag: opt_int = "tag",
    trunks: ints = "trunks",
    vlan_mode: opt_str = "vlan_mode",
    bond_mode: opt_str = "bond_mode",
    mac: opt_str = "mac",
    fake_bridge: boolean = "fake_bridge",
    other_config: smap = "other_config",
    external_ids: smap = "external_ids",
    status: smap = "status",
});

typed_table!(Interface = "Interface" {
    name: str = "name",
    kind: str = "type",
    options: smap = "options",
    ofport: opt_int = "ofport",
    ofport_request: opt_int = "ofport_request",
    error: opt_str = "error",
    admin_state: opt_str = "admin_state",
    link_state: opt_str = "link_state",
    link_speed: opt_int = "link_speed",
    mtu: opt_int = "mtu",
    mtu_request: opt_int = "mtu_request",
    mac: opt_str = "mac",
    mac_in_use: opt_str = "mac_in_use",
    ifindex: opt_int = "ifindex",
    other_config: smap = "other_config",
    external_ids: smap = "external_ids",
    status: smap = "status",
    statistics: imap = "statistics",
});

typed_table!(Controller = "Controller" {
    target: str = "target",
    connection_mode: opt_str = "connection_mode",
    max_backoff: opt_int = "max_backoff",
    inactivity_probe: opt_int = "inactivity_probe",
    is_connected: boolean = "is_connected",
    role: opt_str = "role",
    other_config: smap = "other_config",
    external_ids: smap = "external_ids",
    status: smap = "status",
});

typed_table!(Mirror = "Mirror" {
    name: str = "name",
    select_all: boolean = "select_all",
    select_src_port: uuids = "select_src_port",
    select_dst_port: uuids = "select_dst_port",
    select_vlan: ints = "select_vlan",
    output_port: opt_uuid = "output_port",
    output_vlan: opt_int = "output_vlan",
    external_ids: smap = "external_ids",
});

typed_table!(Datapath = "Datapath" {
    datapath_version: str = "datapath_version",
    capabilities: smap = "capabilities",
    external_ids: smap = "external_ids",
});

typed_table!(Manager = "Manager" {
    target: str = "target",
    is_connected: boolean = "is_connected",
});

/// The tables a switch replicates, all columns each.
pub const VSWITCH_TABLES: [&str; 8] = [
    OpenVswitch::TABLE,
    Bridge::TABLE,
    Port::TABLE,
    Interface::TABLE,
    Controller::TABLE,
    Mirror::TABLE,
    Datapath::TABLE,
    Manager::TABLE,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::parse_table_updates;
    use serde_json::json;

    const S: &str = r#"{"name": "Open_vSwitch", "tables": {
        "Bridge": {"columns": {
            "name": {"type": "string"},
            "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}},
            "fail_mode": {"type": {"key": "string", "min": 0, "max": 1}},
            "other_config": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}}},
        "Port": {"columns": {"name": {"type": "string"}}}}}"#;
    const B: &str = "00000000-0000-0000-0000-00000000000b";
    const P1: &str = "00000000-0000-0000-0000-0000000000a1";
    const P2: &str = "00000000-0000-0000-0000-0000000000a2";

    fn replica() -> (Replica, DatabaseSchema) {
        let s = DatabaseSchema::parse(S).unwrap();
        (Replica::new(s.clone(), ["Bridge".into(), "Port".into()]), s)
    }

    #[test]
    fn applies_inserts_diffs_and_deletes() {
        let (mut r, s) = replica();
        let up = |v| parse_table_updates(&v, &s).unwrap();
        r.apply(up(
            json!({"Bridge": {B: {"initial": {"name": "br0", "ports": ["uuid", P1],
                "other_config": ["map", [["flow-limit", "1000"]]]}}},
            "Port": {P1: {"initial": {"name": "p1"}}}}),
        ))
        .unwrap();
        let b = r.bridge_by_name("br0").unwrap();
        assert_eq!(b.ports(), vec![P1.parse().unwrap()]);
        assert_eq!(b.other_config().get("flow-limit"), Some(&"1000"));
        assert_eq!(b.fail_mode(), None);

        r.apply(up(json!({"Bridge": {B: {"modify": {"ports": ["uuid", P2],
                "fail_mode": "secure", "other_config": ["map", [["flow-limit", "1000"]]]}}},
            "Port": {P2: {"insert": {"name": "p2"}}}})))
            .unwrap();
        let b = r.bridge_by_name("br0").unwrap();
        assert_eq!(b.ports().len(), 2);
        assert_eq!(b.fail_mode(), Some("secure"));
        assert!(b.other_config().is_empty());
        // A column back at its default is dropped, as the server would omit it.
        assert!(
            !r.row("Bridge", B.parse().unwrap())
                .unwrap()
                .contains_key("other_config")
        );
        assert_eq!(r.port(P2.parse().unwrap()).unwrap().name(), "p2");

        r.apply(up(json!({"Port": {P1: {"delete": null}}})))
            .unwrap();
        assert!(r.port(P1.parse().unwrap()).is_none());
        assert_eq!(r.ports().count(), 1);
    }

    #[test]
    fn inconsistent_updates_change_nothing() {
        let (mut r, s) = replica();
        let up = |v| parse_table_updates(&v, &s).unwrap();
        r.apply(up(json!({"Port": {P1: {"insert": {"name": "p1"}}}})))
            .unwrap();
        let before = r.rows("Port").map(|v| v.row.clone()).collect::<Vec<_>>();
        for bad in [
            json!({"Port": {P2: {"insert": {"name": "p2"}}, P1: {"insert": {"name": "again"}}}}),
            json!({"Port": {P1: {"modify": {"name": "x"}}, P2: {"modify": {"name": "y"}}}}),
            json!({"Port": {P1: {"delete": null}, P2: {"delete": null}}}),
        ] {
            assert!(r.apply(up(bad.clone())).is_err(), "{bad}");
            let after = r.rows("Port").map(|v| v.row.clone()).collect::<Vec<_>>();
            assert_eq!(before, after, "{bad}");
        }
        let mut other = TableUpdates::new();
        other.insert("Interface".into(), BTreeMap::new());
        assert_eq!(
            r.apply(other),
            Err(ReplicaError::UnknownTable("Interface".into()))
        );
    }
}
