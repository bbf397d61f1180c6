//! A bridge's OpenFlow tables tied to their durable copy in the store.
//!
//! Each rule is stored as one ovs-ofctl line (printed with port *numbers*, so a stored line
//! never depends on port names that may change) under a store sequence number. The map
//! `seqs` ties a rule's identity — (table, match, priority), which OpenFlow makes unique — to
//! its row, so a flow-mod turns into row-level changes: deletes for removed rules, new rows
//! for added ones, rewrites for modified ones. A bundle of any size is one store transaction.
//!
//! Order of effects: the tables apply the bundle (all or nothing, validated first), the
//! row changes are committed durably, and only then is `seqs` updated. `FlowTables` has no
//! undo, so if the commit fails the tables are rebuilt from the store ([`FlowRows::load`]),
//! which is what a restart would see: memory and disk agree again, at the cost of the rules'
//! counters in that rare failure.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ofctl::{FlowSyntax, NoNames, PortNames, format_flow, parse_flow};
use crate::ofproto::{Applied, FlowMod, FlowModError, FlowTables, Match, Rule};
use crate::store::{Change, FailMode, FlowRow, Store};

use super::SwitchError;

/// Most rules one bridge may hold.
pub const MAX_RULES_PER_BRIDGE: usize = 1_000_000;

/// A rule's identity within a bridge.
type RuleKey = (u8, Match, u16);

fn key_of(r: &Rule) -> RuleKey {
    (r.table, r.m, r.priority)
}

/// What a flow command asks for, in ovs-ofctl text (parsed here, with the bridge's names).
#[derive(Clone, Copy, Debug)]
pub enum FlowCommand<'a> {
    /// add-flow.
    Add(&'a str),
    /// add-flows: lines of a file (blank and `#` lines skipped), atomically.
    AddMany(&'a [String]),
    /// mod-flows.
    Modify { flow: &'a str, strict: bool },
    /// del-flows (empty match: every flow).
    Delete { filter: &'a str, strict: bool },
    /// replace-flows: lines of a file, atomically.
    Replace(&'a [String]),
}

/// How many rules a command changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub added: u64,
    pub modified: u64,
    pub removed: u64,
}

/// The store rows behind a bridge's tables: rule identity → row sequence number.
///
/// The tables themselves are passed in by reference rather than owned, so the same code
/// works whether the switch model holds them or the dataplane does (whose
/// `modify_tables(bridge, |tables, now| ...)` hook hands out its one live copy).
#[derive(Debug, Default)]
pub struct FlowRows {
    seqs: HashMap<RuleKey, u64>,
}

/// Parses the non-blank, non-comment lines of a flow file; errors name the 1-based line.
fn parse_lines(
    lines: &[String],
    names: &dyn PortNames,
) -> Result<(Vec<crate::ofctl::FlowSpec>, Vec<usize>), SwitchError> {
    let mut specs = Vec::new();
    let mut line_nos = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let spec = parse_flow(l, names, FlowSyntax::Add)
            .map_err(|e| SwitchError::Invalid(format!("line {}: {e}", i + 1)))?;
        specs.push(spec);
        line_nos.push(i + 1);
    }
    Ok((specs, line_nos))
}

/// A table error, with a bundle index turned into the file's line number.
fn table_error(e: FlowModError, line_nos: &[usize]) -> SwitchError {
    match e {
        FlowModError::InBundle { index, source } if !line_nos.is_empty() => {
            let line = line_nos.get(index).copied().unwrap_or(index + 1);
            SwitchError::Invalid(format!("line {line}: {source}"))
        }
        FlowModError::InBundle { source, .. } => {
            SwitchError::Invalid(crate::report::chain(&*source))
        }
        other => SwitchError::Invalid(other.to_string()),
    }
}

impl FlowRows {
    /// Rebuilds tables (and their row map) from stored rows (start-up, or after a failed
    /// commit).
    pub fn load(
        bridge: &str,
        rows: &[FlowRow],
        now_ms: u64,
    ) -> Result<(FlowTables, FlowRows), SwitchError> {
        let mut specs = Vec::with_capacity(rows.len());
        for row in rows {
            let spec = parse_flow(&row.line, &NoNames, FlowSyntax::Add).map_err(|e| {
                SwitchError::Invalid(format!(
                    "stored flow {} of bridge {bridge} ('{}') does not parse: {e}",
                    row.seq, row.line
                ))
            })?;
            specs.push(spec);
        }
        let mods: Vec<FlowMod> = specs.iter().cloned().map(FlowMod::add).collect();
        let mut tables = FlowTables::new();
        tables.apply(&mods, now_ms).map_err(|e| {
            SwitchError::Invalid(format!(
                "stored flows of bridge {bridge} are inconsistent: {e}"
            ))
        })?;
        let mut seqs = HashMap::with_capacity(rows.len());
        for (row, spec) in rows.iter().zip(&specs) {
            seqs.insert(
                (
                    spec.table,
                    Match::new(spec.m.key, spec.m.mask),
                    spec.priority,
                ),
                row.seq,
            );
        }
        Ok((tables, FlowRows { seqs }))
    }

    /// Makes `tables` and `self` equal to what the store holds for `bridge` again.
    fn restore(&mut self, tables: &mut FlowTables, bridge: &str, store: &Store, now_ms: u64) {
        let restored = store.load().map_err(SwitchError::from).and_then(|snap| {
            let rows = snap
                .bridges
                .into_iter()
                .find(|b| b.bridge.name == bridge)
                .map(|b| b.flows)
                .unwrap_or_default();
            FlowRows::load(bridge, &rows, now_ms)
        });
        match restored {
            Ok((t, rows)) => {
                *tables = t;
                *self = rows;
            }
            Err(e) => tracing::error!(bridge, error = %e, "cannot restore flows from the store"),
        }
    }

    /// Runs `cmd` against `tables` and commits the resulting rows in one transaction. If the
    /// commit fails, `tables` are restored from the store before the error is returned, so
    /// on `Err` nothing has changed (see the module docs).
    /// Number of rules.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn execute(
        &mut self,
        tables: &mut FlowTables,
        bridge: &str,
        cmd: FlowCommand<'_>,
        names: &dyn PortNames,
        store: &mut Store,
        now_ms: u64,
    ) -> Result<FlowCounts, SwitchError> {
        let applied = plan(tables, cmd, names, now_ms)?;
        self.persist_or_restore(tables, bridge, &applied, store, now_ms)
    }

    fn persist_or_restore(
        &mut self,
        tables: &mut FlowTables,
        bridge: &str,
        applied: &Applied,
        store: &mut Store,
        now_ms: u64,
    ) -> Result<FlowCounts, SwitchError> {
        self.persist(tables, bridge, applied, store)
            .inspect_err(|_| {
                self.restore(tables, bridge, store, now_ms);
            })
    }

    /// Turns applied changes into store rows, commits them, then updates `seqs`.
    fn persist(
        &mut self,
        tables: &FlowTables,
        bridge: &str,
        applied: &Applied,
        store: &mut Store,
    ) -> Result<FlowCounts, SwitchError> {
        let mut changes = Vec::new();
        let mut gone = Vec::new();
        let mut born = Vec::new();
        for r in &applied.removed {
            if let Some(&seq) = self.seqs.get(&key_of(r)) {
                changes.push(Change::DeleteFlow {
                    bridge: bridge.to_owned(),
                    seq,
                });
                gone.push(key_of(r));
            }
        }
        for r in &applied.added {
            // A rule added and removed again within one bundle is not in the tables now.
            let live = tables
                .find_exact(r.table, &r.m, r.priority)
                .is_some_and(|x| Arc::ptr_eq(x, r));
            if live {
                let seq = store.next_flow_seq();
                changes.push(Change::PutFlow {
                    bridge: bridge.to_owned(),
                    row: row(seq, r),
                });
                born.push((key_of(r), seq));
            }
        }
        for (_, new) in &applied.modified {
            let key = key_of(new);
            let seq = born
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, s)| *s)
                .or_else(|| self.seqs.get(&key).copied());
            if let Some(seq) = seq {
                changes.push(Change::PutFlow {
                    bridge: bridge.to_owned(),
                    row: row(seq, new),
                });
            }
        }
        store.commit(&changes)?;
        for k in gone {
            self.seqs.remove(&k);
        }
        self.seqs.extend(born);
        Ok(FlowCounts {
            added: applied.added.len() as u64,
            modified: applied.modified.len() as u64,
            removed: applied.removed.len() as u64,
        })
    }

    /// Removes rules of `tables` whose timeouts passed and deletes their rows; returns how
    /// many expired.
    pub fn expire(
        &mut self,
        tables: &mut FlowTables,
        bridge: &str,
        store: &mut Store,
        now_ms: u64,
    ) -> Result<usize, SwitchError> {
        let expired = tables.expire(now_ms);
        if expired.is_empty() {
            return Ok(0);
        }
        let applied = Applied {
            removed: expired,
            ..Applied::default()
        };
        self.persist_or_restore(tables, bridge, &applied, store, now_ms)
            .map(|c| c.removed as usize)
    }
}

/// Validates and applies `cmd` to `tables` (nothing is stored yet).
fn plan(
    tables: &mut FlowTables,
    cmd: FlowCommand<'_>,
    names: &dyn PortNames,
    now_ms: u64,
) -> Result<Applied, SwitchError> {
    let one = |s: &str, syntax| {
        parse_flow(s, names, syntax).map_err(|e| SwitchError::Invalid(e.to_string()))
    };
    let (mods, line_nos, adds) = match cmd {
        FlowCommand::Add(s) => (vec![FlowMod::add(one(s, FlowSyntax::Add)?)], vec![], 1),
        FlowCommand::AddMany(lines) => {
            let (specs, nos) = parse_lines(lines, names)?;
            let n = specs.len();
            (specs.into_iter().map(FlowMod::add).collect(), nos, n)
        }
        FlowCommand::Modify { flow, strict } => (
            vec![FlowMod::modify(one(flow, FlowSyntax::Modify)?, strict)],
            vec![],
            0,
        ),
        FlowCommand::Delete { filter, strict } => (
            vec![FlowMod::delete(one(filter, FlowSyntax::MatchOnly)?, strict)],
            vec![],
            0,
        ),
        FlowCommand::Replace(lines) => {
            let (specs, nos) = parse_lines(lines, names)?;
            check_room(0, specs.len())?;
            return tables
                .replace_all(&specs, now_ms)
                .map_err(|e| table_error(e, &nos));
        }
    };
    check_room(tables.len(), adds)?;
    tables
        .apply(&mods, now_ms)
        .map_err(|e| table_error(e, &line_nos))
}

/// dump-flows over `tables`: rules matching `filter` (match-only syntax), optionally in one
/// table, in dump order.
pub fn dump(
    tables: &FlowTables,
    filter: &str,
    table: Option<u8>,
    names: &dyn PortNames,
) -> Result<Vec<Arc<Rule>>, SwitchError> {
    let mut spec = parse_flow(filter, names, FlowSyntax::MatchOnly)
        .map_err(|e| SwitchError::Invalid(e.to_string()))?;
    if let Some(t) = table {
        spec.table = t;
    }
    Ok(tables.dump(&spec))
}

fn row(seq: u64, r: &Rule) -> FlowRow {
    FlowRow {
        seq,
        line: format_flow(&r.to_spec(), &NoNames),
    }
}

fn check_room(current: usize, adding: usize) -> Result<(), SwitchError> {
    if current.saturating_add(adding) > MAX_RULES_PER_BRIDGE {
        return Err(SwitchError::Limit(format!(
            "a bridge holds at most {MAX_RULES_PER_BRIDGE} flows ({current} now, {adding} to add)"
        )));
    }
    Ok(())
}

/// The rule every new bridge starts with, as in OVS.
pub const DEFAULT_FLOW: &str = "priority=0,actions=normal";

/// The tables, rows and store changes of a new (or just flushed) bridge in fail mode
/// `mode`: the single [`DEFAULT_FLOW`] when standalone, nothing when secure. The changes go
/// into the same transaction as the bridge itself, so a standalone bridge never exists on
/// disk without its default rule.
pub fn initial(
    bridge: &str,
    mode: FailMode,
    store: &mut Store,
    now_ms: u64,
) -> Result<(FlowTables, FlowRows, Vec<Change>), SwitchError> {
    let mut tables = FlowTables::new();
    if mode == FailMode::Secure {
        return Ok((tables, FlowRows::default(), Vec::new()));
    }
    let spec = parse_flow(DEFAULT_FLOW, &NoNames, FlowSyntax::Add)
        .map_err(|e| SwitchError::Invalid(format!("default flow: {e}")))?;
    let applied = tables
        .apply(&[FlowMod::add(spec)], now_ms)
        .map_err(|e| SwitchError::Invalid(format!("default flow: {e}")))?;
    let mut rows = FlowRows::default();
    let mut changes = Vec::new();
    for r in &applied.added {
        let seq = store.next_flow_seq();
        rows.seqs.insert(key_of(r), seq);
        changes.push(Change::PutFlow {
            bridge: bridge.to_owned(),
            row: row(seq, r),
        });
    }
    Ok((tables, rows, changes))
}
