//! Building write-back transactions: what a switch reports to the database.
//!
//! A switch writes only columns it owns (Interface ofport/status/statistics/error/...,
//! Open_vSwitch cur_cfg and system identity, Datapath capabilities), always addressed by
//! row UUID, so its writes never conflict with a user's: an update of a row deleted in the
//! meantime matches no row and changes nothing. Several settings of one row fold into one
//! `update` operation.

use std::collections::BTreeMap;

use crate::data::{Atom, Datum, Uuid};
use crate::ops::{Condition, Mutation, Mutator, Operation, RowData};
use crate::replica::{Datapath, Interface, OpenVswitch, Replica};

/// What the switch knows about one interface.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InterfaceState {
    pub ofport: Option<i64>,
    pub error: Option<String>,
    pub admin_state: Option<&'static str>,
    pub link_state: Option<&'static str>,
    pub link_speed: Option<i64>,
    pub mtu: Option<i64>,
    pub mac_in_use: Option<String>,
    pub ifindex: Option<i64>,
    pub status: BTreeMap<String, String>,
}

/// The switch's identity for the Open_vSwitch row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SystemInfo {
    pub ovs_version: String,
    pub db_version: Option<String>,
    pub system_type: Option<String>,
    pub system_version: Option<String>,
    pub iface_types: Vec<String>,
    pub datapath_types: Vec<String>,
}

fn opt_int(v: Option<i64>) -> Datum {
    Datum::set(v.map(Atom::Integer))
}

fn opt_str(v: Option<&str>) -> Datum {
    Datum::set(v.map(Atom::string))
}

fn strs(v: &[String]) -> Datum {
    Datum::set(v.iter().map(|s| Atom::string(s.as_str())))
}

/// Accumulates operations; [`TxnBuilder::build`] returns them in order.
#[derive(Debug, Default)]
pub struct TxnBuilder {
    updates: BTreeMap<(String, Uuid), RowData>,
    ops: Vec<Operation>,
    named: u32,
}

impl TxnBuilder {
    pub fn new() -> TxnBuilder {
        TxnBuilder::default()
    }

    /// Sets `column` of row `uuid` in `table`.
    pub fn set(&mut self, table: &str, uuid: Uuid, column: &str, value: Datum) -> &mut Self {
        self.updates
            .entry((table.to_owned(), uuid))
            .or_default()
            .insert(column.to_owned(), value);
        self
    }

    /// Sets `column` only if the replica shows a different value (saves a write, and a
    /// round of update notifications, when nothing changed).
    pub fn set_if_changed(
        &mut self,
        replica: &Replica,
        table: &str,
        uuid: Uuid,
        column: &str,
        value: Datum,
    ) -> &mut Self {
        let Some(ts) = replica.schema().table(table) else {
            return self;
        };
        let Some(cs) = ts.column(column) else {
            return self;
        };
        let current = replica
            .row(table, uuid)
            .and_then(|r| r.get(column).cloned())
            .unwrap_or_else(|| Datum::default_of(&cs.ty));
        if current != value {
            self.set(table, uuid, column, value);
        }
        self
    }

    pub fn op(&mut self, op: Operation) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// Writes the columns of `state` that differ from the replica.
    pub fn interface_state(
        &mut self,
        replica: &Replica,
        iface: Uuid,
        state: &InterfaceState,
    ) -> &mut Self {
        let t = Interface::TABLE;
        let cols = [
            ("ofport", opt_int(state.ofport)),
            ("error", opt_str(state.error.as_deref())),
            ("admin_state", opt_str(state.admin_state)),
            ("link_state", opt_str(state.link_state)),
            ("link_speed", opt_int(state.link_speed)),
            ("mtu", opt_int(state.mtu)),
            ("mac_in_use", opt_str(state.mac_in_use.as_deref())),
            ("ifindex", opt_int(state.ifindex)),
            ("status", Datum::string_map(state.status.clone())),
        ];
        for (c, v) in cols {
            self.set_if_changed(replica, t, iface, c, v);
        }
        self
    }

    /// Writes interface counters (always: they are the point of the periodic write).
    pub fn interface_statistics(
        &mut self,
        iface: Uuid,
        stats: &BTreeMap<String, i64>,
    ) -> &mut Self {
        let d = Datum::map(
            stats
                .iter()
                .map(|(k, v)| (Atom::string(k.as_str()), Atom::Integer(*v))),
        );
        self.set(Interface::TABLE, iface, "statistics", d)
    }

    /// Reports that configuration `cfg` (the `next_cfg` seen) is applied.
    pub fn cur_cfg(&mut self, replica: &Replica, cfg: i64) -> &mut Self {
        if let Some(ovs) = replica.open_vswitch() {
            self.set_if_changed(
                replica,
                OpenVswitch::TABLE,
                ovs.uuid(),
                "cur_cfg",
                Datum::one(Atom::Integer(cfg)),
            );
        }
        self
    }

    pub fn system_info(&mut self, replica: &Replica, info: &SystemInfo) -> &mut Self {
        let Some(ovs) = replica.open_vswitch() else {
            return self;
        };
        let cols = [
            ("ovs_version", opt_str(Some(&info.ovs_version))),
            ("db_version", opt_str(info.db_version.as_deref())),
            ("system_type", opt_str(info.system_type.as_deref())),
            ("system_version", opt_str(info.system_version.as_deref())),
            ("iface_types", strs(&info.iface_types)),
            ("datapath_types", strs(&info.datapath_types)),
        ];
        for (c, v) in cols {
            self.set_if_changed(replica, OpenVswitch::TABLE, ovs.uuid(), c, v);
        }
        self
    }

    /// Makes `Open_vSwitch.datapaths[dp_type]` a Datapath row with these capabilities:
    /// updates the existing row, or inserts one and links it from the root row.
    pub fn datapath(
        &mut self,
        replica: &Replica,
        dp_type: &str,
        version: &str,
        capabilities: &BTreeMap<String, String>,
    ) -> &mut Self {
        let Some(ovs) = replica.open_vswitch() else {
            return self;
        };
        let caps = Datum::string_map(capabilities.clone());
        let ver = Datum::one(Atom::string(version));
        if let Some(dp) = ovs.datapaths().get(dp_type).copied()
            && replica.datapath(dp).is_some()
        {
            self.set_if_changed(replica, Datapath::TABLE, dp, "capabilities", caps);
            self.set_if_changed(replica, Datapath::TABLE, dp, "datapath_version", ver);
            return self;
        }
        self.named += 1;
        let name = format!("dp{}", self.named);
        self.ops.push(Operation::Insert {
            table: Datapath::TABLE.into(),
            row: RowData::from([
                ("capabilities".into(), caps),
                ("datapath_version".into(), ver),
            ]),
            uuid_name: Some(name.clone()),
        });
        self.ops.push(Operation::Mutate {
            table: OpenVswitch::TABLE.into(),
            conditions: vec![Condition::uuid_is(ovs.uuid())],
            mutations: vec![
                // Drop a dangling entry for this type first, then add ours.
                Mutation::new(
                    "datapaths",
                    Mutator::Delete,
                    Datum::set([Atom::string(dp_type)]),
                ),
                Mutation::new(
                    "datapaths",
                    Mutator::Insert,
                    Datum::map([(Atom::string(dp_type), Atom::NamedUuid(name))]),
                ),
            ],
        });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.ops.is_empty()
    }

    /// The operations: explicit ones first, then one update per touched row.
    pub fn build(self) -> Vec<Operation> {
        let mut ops = self.ops;
        for ((table, uuid), row) in self.updates {
            ops.push(Operation::Update {
                table,
                conditions: vec![Condition::uuid_is(uuid)],
                row,
            });
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::parse_table_updates;
    use crate::schema::DatabaseSchema;
    use serde_json::json;

    const S: &str = r#"{"name": "Open_vSwitch", "tables": {
        "Open_vSwitch": {"columns": {
            "cur_cfg": {"type": "integer"},
            "datapaths": {"type": {"key": "string", "value": {"type": "uuid", "refTable": "Datapath"}, "min": 0, "max": "unlimited"}}}},
        "Datapath": {"columns": {
            "datapath_version": {"type": "string"},
            "capabilities": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}}},
        "Interface": {"columns": {
            "ofport": {"type": {"key": "integer", "min": 0, "max": 1}},
            "error": {"type": {"key": "string", "min": 0, "max": 1}},
            "status": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}}}}}"#;
    const O: &str = "00000000-0000-0000-0000-000000000001";
    const I: &str = "00000000-0000-0000-0000-000000000002";

    #[test]
    fn writes_only_what_changed_one_update_per_row() {
        let s = DatabaseSchema::parse(S).unwrap();
        let mut r = Replica::new(s.clone(), s.tables.keys().cloned());
        r.apply(
            parse_table_updates(
                &json!({"Open_vSwitch": {O: {"initial": {"cur_cfg": 3}}},
                        "Interface": {I: {"initial": {"ofport": 5}}}}),
                &s,
            )
            .unwrap(),
        )
        .unwrap();
        let iface: Uuid = I.parse().unwrap();
        let mut t = TxnBuilder::new();
        t.cur_cfg(&r, 3).interface_state(
            &r,
            iface,
            &InterfaceState {
                ofport: Some(5),
                ..Default::default()
            },
        );
        assert!(t.is_empty(), "{t:?}");
        t.cur_cfg(&r, 4).interface_state(
            &r,
            iface,
            &InterfaceState {
                ofport: Some(7),
                error: Some("no such device".into()),
                ..Default::default()
            },
        );
        t.datapath(
            &r,
            "system",
            "vswitch",
            &BTreeMap::from([("ct_zero_snat".into(), "true".into())]),
        );
        let ops = t.build();
        assert_eq!(ops.len(), 4, "{ops:?}");
        assert!(matches!(&ops[0], Operation::Insert { table, .. } if table == "Datapath"));
        let Operation::Update { table, row, .. } = &ops[3] else {
            panic!("{ops:?}")
        };
        assert_eq!(table, "Open_vSwitch");
        assert_eq!(row["cur_cfg"], Datum::one(Atom::Integer(4)));
        let Operation::Update { row, .. } = &ops[2] else {
            panic!("{ops:?}")
        };
        assert_eq!(row.len(), 2);
    }
}
