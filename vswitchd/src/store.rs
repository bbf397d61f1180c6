//! The durable config database: bridges, ports, flow tables, conntrack limits, settings.
//!
//! The daemon's configuration lives in one [redb] file. The switch model never edits it
//! piecemeal: every mutating RPC computes a list of [`Change`]s and hands them to
//! [`Store::commit`], which applies them in ONE write transaction committed with
//! `Durability::Immediate` (fsync'd) before returning. So an acknowledged change survives
//! `kill -9`, a multi-flow change is all-or-nothing, and a crash mid-commit leaves the
//! previous state (redb's commit is atomic). Only after the commit succeeds does the switch
//! apply the change in memory, so memory never runs ahead of disk.
//!
//! Layout (one redb table each):
//! - `meta`:      `&str → u64`           schema version
//! - `bridges`:   `bridge → json`        [`BridgeRecord`] (name, fail mode)
//! - `ports`:     `(bridge, port) → json` [`PortRecord`]
//! - `flows`:     `(bridge, seq) → line`  each rule as an ovs-ofctl line, loaded in `seq` order
//! - `ct_limits`: `zone → limit`         ([`DEFAULT_ZONE_KEY`] holds the default limit)
//! - `settings`:  `key → value`          e.g. `flow-limit`
//! - `groups`:    `(bridge, group_id) → line` each OpenFlow group as an ovs-ofctl add-group
//!   line (schema 2; a version-1 database is migrated by creating the empty table)
//! - `meters`:    `(bridge, meter_id) → line` each OpenFlow meter as an ovs-ofctl add-meter
//!   line (schema 3; older databases are migrated by creating the empty table)
//! - `mirrors`:   `(bridge, name) → json` each port mirror as a [`MirrorRecord`] (schema 4;
//!   older databases are migrated by creating the empty table)
//!
//! Flows are stored as text, not as a binary rule encoding: the text syntax is the stable
//! interface (DESIGN §5), so a database outlives changes to the in-memory rule layout.
//! Invariant: a bridge's ports and flows exist only while its bridge row does
//! ([`Change::DeleteBridge`] cascades).

mod record;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};

pub use crate::xlate::mirror::{MirrorConfig as MirrorRecord, MirrorOutput};
pub use record::{BridgeRecord, FailMode, FlowRow, PortKind, PortRecord};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const BRIDGES: TableDefinition<&str, &[u8]> = TableDefinition::new("bridges");
const PORTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("ports");
const FLOWS: TableDefinition<(&str, u64), &str> = TableDefinition::new("flows");
const CT_LIMITS: TableDefinition<u32, u64> = TableDefinition::new("ct_limits");
const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");
const GROUPS: TableDefinition<(&str, u32), &str> = TableDefinition::new("groups");
const METERS: TableDefinition<(&str, u32), &str> = TableDefinition::new("meters");
const MIRRORS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("mirrors");

/// The schema this code reads and writes; bumped on incompatible layout changes.
pub const SCHEMA_VERSION: u64 = 4;

/// Key of the default conntrack limit in `ct_limits` (zones are 16-bit, so it never clashes).
pub const DEFAULT_ZONE_KEY: u32 = u32::MAX;

/// Errors of the config database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be created or opened.
    #[error("cannot open config database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    /// Another process (another vswitchd) has the database open.
    #[error(
        "config database {0} is in use by another process (another vswitchd running on it?); \
         stop that one or pass --db with another file"
    )]
    InUse(PathBuf),
    /// The parent directory could not be created.
    #[error("cannot create directory {path} for the config database")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was written by an incompatible version.
    #[error(
        "config database {path} has schema version {found}; this vswitchd reads version {SCHEMA_VERSION}"
    )]
    Schema { path: PathBuf, found: u64 },
    /// A read or write failed.
    #[error("config database operation failed")]
    Db(#[source] Box<redb::Error>),
    /// An earlier I/O error closed the database and it could not be opened again yet.
    #[error("config database {0} is closed after an I/O error and cannot be reopened yet")]
    Closed(PathBuf),
    /// A stored record does not decode.
    #[error("config database record {key} is corrupt")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.to_path_buf()),
        e => StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(e.into()),
        },
    }
}

fn db_err<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(Box::new(e.into()))
}

/// One change to the configuration; a slice of them commits atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Creates or overwrites a bridge row.
    PutBridge(BridgeRecord),
    /// Deletes a bridge with all its ports and flows.
    DeleteBridge(String),
    /// Creates or overwrites a port of a bridge.
    PutPort { bridge: String, port: PortRecord },
    /// Deletes a port.
    DeletePort { bridge: String, port: String },
    /// Creates or overwrites one rule of a bridge.
    PutFlow { bridge: String, row: FlowRow },
    /// Deletes one rule.
    DeleteFlow { bridge: String, seq: u64 },
    /// Deletes every rule of a bridge.
    ClearFlows { bridge: String },
    /// Sets a zone's conntrack limit (`None`: the default limit).
    SetCtLimit { zone: Option<u16>, limit: u64 },
    /// Sets a setting.
    SetSetting { key: String, value: String },
    /// Removes a setting (back to its default).
    DeleteSetting { key: String },
    /// Adds or replaces group `id` of `bridge` (`line` in add-group syntax).
    PutGroup {
        bridge: String,
        id: u32,
        line: String,
    },
    /// Removes group `id` of `bridge`.
    DeleteGroup { bridge: String, id: u32 },
    /// Adds or replaces meter `id` of `bridge` (`line` in add-meter syntax).
    PutMeter {
        bridge: String,
        id: u32,
        line: String,
    },
    /// Removes meter `id` of `bridge`.
    DeleteMeter { bridge: String, id: u32 },
    /// Adds or replaces a port mirror of `bridge`.
    PutMirror {
        bridge: String,
        mirror: MirrorRecord,
    },
    /// Removes port mirror `name` of `bridge`.
    DeleteMirror { bridge: String, name: String },
}

/// A bridge as loaded: its row, ports and rules (rules in `seq` order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeSnapshot {
    pub bridge: BridgeRecord,
    pub ports: Vec<PortRecord>,
    pub flows: Vec<FlowRow>,
    /// Group lines, by ascending group id.
    pub groups: Vec<String>,
    /// Meter lines, by ascending meter id.
    pub meters: Vec<String>,
    /// Port mirrors, by name.
    pub mirrors: Vec<MirrorRecord>,
}

/// Everything the database holds, as loaded at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Bridges sorted by name.
    pub bridges: Vec<BridgeSnapshot>,
    /// The default conntrack zone limit, if set.
    pub ct_default_limit: Option<u64>,
    /// Per-zone conntrack limits.
    pub ct_limits: BTreeMap<u16, u64>,
    /// Settings.
    pub settings: BTreeMap<String, String>,
}

/// The open config database.
pub struct Store {
    /// `None` after a failed commit whose reopening failed too (see [`Store::commit`]).
    db: Option<Database>,
    path: PathBuf,
    next_seq: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the database at `path`, creating it (and its directory) on first use.
    /// Fails if another process has it open.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let db = Database::create(path).map_err(|e| open_error(path, e))?;
        let mut store = Store {
            db: Some(db),
            path: path.to_path_buf(),
            next_seq: 1,
        };
        store.init_schema()?;
        store.next_seq = store.max_flow_seq()? + 1;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates every table and checks the schema version.
    fn init_schema(&mut self) -> Result<(), StoreError> {
        let mut txn = self.db()?.begin_write().map_err(db_err)?;
        txn.set_durability(Durability::Immediate);
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let found = meta
                .get("schema_version")
                .map_err(db_err)?
                .map(|v| v.value());
            match found {
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION)
                        .map_err(db_err)?;
                }
                Some(SCHEMA_VERSION) => {}
                // Version 1 had no groups table, version 2 no meters table, version 3 no
                // mirrors table; they are created below.
                Some(1..=3) => {
                    meta.insert("schema_version", SCHEMA_VERSION)
                        .map_err(db_err)?;
                }
                Some(found) => {
                    return Err(StoreError::Schema {
                        path: self.path.clone(),
                        found,
                    });
                }
            }
            txn.open_table(BRIDGES).map_err(db_err)?;
            txn.open_table(PORTS).map_err(db_err)?;
            txn.open_table(FLOWS).map_err(db_err)?;
            txn.open_table(CT_LIMITS).map_err(db_err)?;
            txn.open_table(SETTINGS).map_err(db_err)?;
            txn.open_table(GROUPS).map_err(db_err)?;
            txn.open_table(METERS).map_err(db_err)?;
            txn.open_table(MIRRORS).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    fn max_flow_seq(&self) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err)?;
        let flows = txn.open_table(FLOWS).map_err(db_err)?;
        let mut max = 0;
        for entry in flows.iter().map_err(db_err)? {
            let (k, _) = entry.map_err(db_err)?;
            max = max.max(k.value().1);
        }
        Ok(max)
    }

    /// Allocates a fresh flow sequence number (unique in this database, increasing).
    pub fn next_flow_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn db(&self) -> Result<&Database, StoreError> {
        self.db
            .as_ref()
            .ok_or_else(|| StoreError::Closed(self.path.clone()))
    }

    /// Closes the database and opens it again (redb's recovery runs on open).
    fn reopen(&mut self) -> Result<(), StoreError> {
        // Drop first: the file stays locked while the old handle lives.
        self.db = None;
        let db = Database::create(&self.path).map_err(|e| open_error(&self.path, e))?;
        self.db = Some(db);
        Ok(())
    }

    /// Applies `changes` in order in one durable transaction: when this returns `Ok`, all of
    /// them are on disk; on `Err`, none is.
    ///
    /// After an I/O error in a commit (a full disk) redb refuses every later transaction
    /// until the database is closed and opened again, so the store reopens it at once (and,
    /// if that fails too, before the next commit): reads of the committed state and later
    /// changes work again as soon as the cause is gone.
    pub fn commit(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        if self.db.is_none() {
            self.reopen()?;
        }
        let result = self.commit_once(changes);
        if result.is_err()
            && let Err(e) = self.reopen()
        {
            tracing::warn!(error = %e, "config database stays closed after a failed commit");
        }
        result
    }

    fn commit_once(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        let mut txn = self.db()?.begin_write().map_err(db_err)?;
        txn.set_durability(Durability::Immediate);
        {
            let mut bridges = txn.open_table(BRIDGES).map_err(db_err)?;
            let mut ports = txn.open_table(PORTS).map_err(db_err)?;
            let mut flows = txn.open_table(FLOWS).map_err(db_err)?;
            let mut ct = txn.open_table(CT_LIMITS).map_err(db_err)?;
            let mut settings = txn.open_table(SETTINGS).map_err(db_err)?;
            let mut groups = txn.open_table(GROUPS).map_err(db_err)?;
            let mut meters = txn.open_table(METERS).map_err(db_err)?;
            let mut mirrors = txn.open_table(MIRRORS).map_err(db_err)?;
            for change in changes {
                match change {
                    Change::PutBridge(b) => {
                        let json = to_json(b);
                        bridges
                            .insert(b.name.as_str(), json.as_slice())
                            .map_err(db_err)?;
                    }
                    Change::DeleteBridge(name) => {
                        bridges.remove(name.as_str()).map_err(db_err)?;
                        ports
                            .retain_in(
                                (name.as_str(), "")..(next_str(name).as_str(), ""),
                                |_, _| false,
                            )
                            .map_err(db_err)?;
                        clear_flows(&mut flows, name)?;
                        groups
                            .retain_in((name.as_str(), 0)..=(name.as_str(), u32::MAX), |_, _| false)
                            .map_err(db_err)?;
                        meters
                            .retain_in((name.as_str(), 0)..=(name.as_str(), u32::MAX), |_, _| false)
                            .map_err(db_err)?;
                        mirrors
                            .retain_in(
                                (name.as_str(), "")..(next_str(name).as_str(), ""),
                                |_, _| false,
                            )
                            .map_err(db_err)?;
                    }
                    Change::PutMirror { bridge, mirror } => {
                        let json = to_json(mirror);
                        mirrors
                            .insert((bridge.as_str(), mirror.name.as_str()), json.as_slice())
                            .map_err(db_err)?;
                    }
                    Change::DeleteMirror { bridge, name } => {
                        mirrors
                            .remove((bridge.as_str(), name.as_str()))
                            .map_err(db_err)?;
                    }
                    Change::PutMeter { bridge, id, line } => {
                        meters
                            .insert((bridge.as_str(), *id), line.as_str())
                            .map_err(db_err)?;
                    }
                    Change::DeleteMeter { bridge, id } => {
                        meters.remove((bridge.as_str(), *id)).map_err(db_err)?;
                    }
                    Change::PutGroup { bridge, id, line } => {
                        groups
                            .insert((bridge.as_str(), *id), line.as_str())
                            .map_err(db_err)?;
                    }
                    Change::DeleteGroup { bridge, id } => {
                        groups.remove((bridge.as_str(), *id)).map_err(db_err)?;
                    }
                    Change::PutPort { bridge, port } => {
                        let json = to_json(port);
                        ports
                            .insert((bridge.as_str(), port.name.as_str()), json.as_slice())
                            .map_err(db_err)?;
                    }
                    Change::DeletePort { bridge, port } => {
                        ports
                            .remove((bridge.as_str(), port.as_str()))
                            .map_err(db_err)?;
                    }
                    Change::PutFlow { bridge, row } => {
                        flows
                            .insert((bridge.as_str(), row.seq), row.line.as_str())
                            .map_err(db_err)?;
                        self.next_seq = self.next_seq.max(row.seq + 1);
                    }
                    Change::DeleteFlow { bridge, seq } => {
                        flows.remove((bridge.as_str(), *seq)).map_err(db_err)?;
                    }
                    Change::ClearFlows { bridge } => clear_flows(&mut flows, bridge)?,
                    Change::SetCtLimit { zone, limit } => {
                        let key = zone.map_or(DEFAULT_ZONE_KEY, u32::from);
                        ct.insert(key, *limit).map_err(db_err)?;
                    }
                    Change::SetSetting { key, value } => {
                        settings
                            .insert(key.as_str(), value.as_str())
                            .map_err(db_err)?;
                    }
                    Change::DeleteSetting { key } => {
                        settings.remove(key.as_str()).map_err(db_err)?;
                    }
                }
            }
        }
        txn.commit().map_err(db_err)
    }

    /// Reads the whole configuration (one consistent read transaction).
    pub fn load(&self) -> Result<Snapshot, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err)?;
        let bridges = txn.open_table(BRIDGES).map_err(db_err)?;
        let ports = txn.open_table(PORTS).map_err(db_err)?;
        let flows = txn.open_table(FLOWS).map_err(db_err)?;
        let groups = txn.open_table(GROUPS).map_err(db_err)?;
        let meters = txn.open_table(METERS).map_err(db_err)?;
        let mirrors = txn.open_table(MIRRORS).map_err(db_err)?;
        let mut snap = Snapshot::default();
        for entry in bridges.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let name = k.value().to_owned();
            let bridge: BridgeRecord = from_json(&format!("bridges/{name}"), v.value())?;
            let upper = next_str(&name);
            let mut bridge_ports = Vec::new();
            for entry in ports
                .range((name.as_str(), "")..(upper.as_str(), ""))
                .map_err(db_err)?
            {
                let (k, v) = entry.map_err(db_err)?;
                let (b, p) = k.value();
                bridge_ports.push(from_json::<PortRecord>(
                    &format!("ports/{b}/{p}"),
                    v.value(),
                )?);
            }
            let mut bridge_flows = Vec::new();
            for entry in flows
                .range((name.as_str(), 0)..=(name.as_str(), u64::MAX))
                .map_err(db_err)?
            {
                let (k, v) = entry.map_err(db_err)?;
                bridge_flows.push(FlowRow {
                    seq: k.value().1,
                    line: v.value().to_owned(),
                });
            }
            let mut bridge_groups = Vec::new();
            for entry in groups
                .range((name.as_str(), 0)..=(name.as_str(), u32::MAX))
                .map_err(db_err)?
            {
                let (_, v) = entry.map_err(db_err)?;
                bridge_groups.push(v.value().to_owned());
            }
            let mut bridge_meters = Vec::new();
            for entry in meters
                .range((name.as_str(), 0)..=(name.as_str(), u32::MAX))
                .map_err(db_err)?
            {
                let (_, v) = entry.map_err(db_err)?;
                bridge_meters.push(v.value().to_owned());
            }
            let mut bridge_mirrors = Vec::new();
            for entry in mirrors
                .range((name.as_str(), "")..(upper.as_str(), ""))
                .map_err(db_err)?
            {
                let (k, v) = entry.map_err(db_err)?;
                let (b, m) = k.value();
                bridge_mirrors.push(from_json::<MirrorRecord>(
                    &format!("mirrors/{b}/{m}"),
                    v.value(),
                )?);
            }
            snap.bridges.push(BridgeSnapshot {
                bridge,
                ports: bridge_ports,
                flows: bridge_flows,
                groups: bridge_groups,
                meters: bridge_meters,
                mirrors: bridge_mirrors,
            });
        }
        let ct = txn.open_table(CT_LIMITS).map_err(db_err)?;
        for entry in ct.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            match u16::try_from(k.value()) {
                Ok(zone) => {
                    snap.ct_limits.insert(zone, v.value());
                }
                Err(_) => snap.ct_default_limit = Some(v.value()),
            }
        }
        let settings = txn.open_table(SETTINGS).map_err(db_err)?;
        for entry in settings.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            snap.settings
                .insert(k.value().to_owned(), v.value().to_owned());
        }
        Ok(snap)
    }

    /// Number of stored rules of `bridge` (for tests and diagnostics).
    pub fn flow_count(&self, bridge: &str) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err)?;
        let flows = txn.open_table(FLOWS).map_err(db_err)?;
        if flows.is_empty().map_err(db_err)? {
            return Ok(0);
        }
        let mut n = 0;
        for entry in flows
            .range((bridge, 0)..=(bridge, u64::MAX))
            .map_err(db_err)?
        {
            entry.map_err(db_err)?;
            n += 1;
        }
        Ok(n)
    }
}

fn clear_flows(
    flows: &mut redb::Table<'_, (&'static str, u64), &'static str>,
    bridge: &str,
) -> Result<(), StoreError> {
    flows
        .retain_in((bridge, 0)..=(bridge, u64::MAX), |_, _| false)
        .map_err(db_err)
}

/// Exclusive upper bound of the keys `(s, _)`: tuples compare element-wise and `s + "\0"` is
/// the smallest string after `s`, so exactly the keys `(s, x)` sort below `(s + "\0", "")`.
fn next_str(s: &str) -> String {
    let mut upper = String::with_capacity(s.len() + 1);
    upper.push_str(s);
    upper.push('\0');
    upper
}

fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Serializing plain structs of strings, integers and maps cannot fail.
    serde_json::to_vec(v).expect("config records always serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        key: key.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
