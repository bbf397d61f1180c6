//! A bridge's OpenFlow tables tied to their durable copy in the store.
//!
//! Each rule is stored as one ovs-ofctl line (printed with port *numbers*, so a stored line
//! never depends on port names that may change) under a store sequence number. The map
//! `seqs` ties a rule's identity — (table, match, priority), which OpenFlow makes unique — to
//! its row, so a flow-mod turns into row-level changes: deletes for removed rules, new rows
//! for added ones, rewrites for modified ones. A bundle of any size is one store transaction.
//!
//! Order of effects, chosen so that no lock the datapath needs is held for long: the command
//! is parsed (no lock), planned against the live tables under the slow path's *read* lock
//! (every check runs here; nothing changes), the plan's row changes are committed durably
//! with no lock held, `seqs` is updated, and only then does the caller take the write lock to
//! execute the plan, which cannot fail. A failed commit therefore changes nothing anywhere. If
//! the tables changed between planning and executing (they must not: every table change goes
//! through the switch, which runs one at a time), the plan is refused and the tables are
//! rebuilt from the store ([`FlowRows::load`]), which already holds the change: memory and disk
//! agree again.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ofctl::{FlowSyntax, NoNames, PortNames, format_flow, parse_flow};
use crate::ofproto::{Applied, FlowMod, FlowModError, FlowTables, Match, Planned, Rule};
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
#[derive(Clone, Debug, Default)]
pub struct FlowRows {
    seqs: HashMap<RuleKey, u64>,
}

/// Parses the flows of a flow file (`#` to the end of a line is a comment, as in ovs-ofctl);
/// errors name the 1-based line.
fn parse_lines(
    lines: &[String],
    names: &dyn PortNames,
) -> Result<(Vec<crate::ofctl::FlowSpec>, Vec<usize>), SwitchError> {
    let mut specs = Vec::new();
    let mut line_nos = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let l = crate::ofctl::flow_line(line);
        if l.is_empty() {
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
        groups: &[String],
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
        // Groups first: the flows may send to them.
        for line in groups {
            let spec = crate::ofctl::parse_group(line, &NoNames).map_err(|e| {
                SwitchError::Invalid(format!(
                    "stored group of bridge {bridge} ('{line}') does not parse: {e}"
                ))
            })?;
            let gm = crate::ofproto::GroupMod {
                command: crate::ofproto::GroupModCommand::Add,
                spec,
            };
            tables.apply_group_mod(&gm, now_ms).map_err(|e| {
                SwitchError::Invalid(format!("stored groups of bridge {bridge}: {e}"))
            })?;
        }
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

    /// Makes `tables` and `self` equal to what the store holds for `bridge` again (after a
    /// plan met tables that had changed under it: the store has the truth).
    pub(super) fn restore(
        &mut self,
        tables: &mut FlowTables,
        bridge: &str,
        store: &Store,
        now_ms: u64,
    ) {
        let restored = store.load().map_err(SwitchError::from).and_then(|snap| {
            let (groups, rows) = snap
                .bridges
                .into_iter()
                .find(|b| b.bridge.name == bridge)
                .map(|b| (b.groups, b.flows))
                .unwrap_or_default();
            FlowRows::load(bridge, &groups, &rows, now_ms)
        });
        match restored {
            Ok((t, rows)) => {
                *tables = t;
                *self = rows;
            }
            Err(e) => tracing::error!(bridge, error = %e, "cannot restore flows from the store"),
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Commits the rows `planned` changes in one durable transaction, then records them; on
    /// error nothing was stored and `self` is unchanged. The tables are not touched: the
    /// caller executes the plan afterwards (see the module docs).
    pub(super) fn commit(
        &mut self,
        bridge: &str,
        planned: &Planned,
        store: &mut Store,
    ) -> Result<FlowCounts, SwitchError> {
        let applied = planned.applied();
        let staged = self.changes(bridge, applied, planned.leaves_in_place(), store);
        store.commit(&staged.changes)?;
        self.record(staged);
        Ok(counts(applied))
    }

    /// The row changes `applied` makes, recorded in `self` at once (no store commit): for
    /// a bundle that collects several steps' changes into one transaction, working on a
    /// scratch copy of the rows that replaces the live one only once that commit succeeded.
    pub(super) fn stage(
        &mut self,
        bridge: &str,
        applied: &Applied,
        live: impl Fn(&Arc<Rule>) -> bool,
        store: &mut Store,
    ) -> Vec<Change> {
        let mut staged = self.changes(bridge, applied, live, store);
        let changes = std::mem::take(&mut staged.changes);
        self.record(staged);
        changes
    }

    fn changes(
        &self,
        bridge: &str,
        applied: &Applied,
        live: impl Fn(&Arc<Rule>) -> bool,
        store: &mut Store,
    ) -> Staged {
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
            // A rule added and removed again within one bundle is not in the tables after.
            if live(r) {
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
        Staged {
            changes,
            gone,
            born,
        }
    }

    fn record(&mut self, staged: Staged) {
        for k in staged.gone {
            self.seqs.remove(&k);
        }
        self.seqs.extend(staged.born);
    }
}

/// Row changes of one step, and what they do to `seqs`.
struct Staged {
    changes: Vec<Change>,
    gone: Vec<RuleKey>,
    born: Vec<(RuleKey, u64)>,
}

/// How many rules `applied` added, changed and removed.
pub(super) fn counts(applied: &Applied) -> FlowCounts {
    FlowCounts {
        added: applied.added.len() as u64,
        modified: applied.modified.len() as u64,
        removed: applied.removed.len() as u64,
    }
}

/// A flow command parsed with the bridge's port names, not yet planned.
#[derive(Debug)]
pub(super) enum Parsed {
    /// A bundle of flow-mods; `adds` of them add rules.
    Mods {
        mods: Vec<FlowMod>,
        line_nos: Vec<usize>,
        adds: usize,
        /// Report table refusals as [`SwitchError::Table`] (flow-mods from OpenFlow).
        raw_errors: bool,
    },
    /// replace-flows.
    Replace {
        specs: Vec<crate::ofctl::FlowSpec>,
        line_nos: Vec<usize>,
    },
}

/// Parses `cmd` (no table access, so no lock is needed).
pub(super) fn parse(cmd: FlowCommand<'_>, names: &dyn PortNames) -> Result<Parsed, SwitchError> {
    let one = |s: &str, syntax| {
        parse_flow(s, names, syntax).map_err(|e| SwitchError::Invalid(e.to_string()))
    };
    let single = |m| Parsed::Mods {
        mods: vec![m],
        line_nos: Vec::new(),
        adds: 0,
        raw_errors: false,
    };
    Ok(match cmd {
        FlowCommand::Add(s) => Parsed::Mods {
            mods: vec![FlowMod::add(one(s, FlowSyntax::Add)?)],
            line_nos: Vec::new(),
            adds: 1,
            raw_errors: false,
        },
        FlowCommand::AddMany(lines) => {
            let (specs, line_nos) = parse_lines(lines, names)?;
            Parsed::Mods {
                adds: specs.len(),
                mods: specs.into_iter().map(FlowMod::add).collect(),
                line_nos,
                raw_errors: false,
            }
        }
        FlowCommand::Modify { flow, strict } => {
            single(FlowMod::modify(one(flow, FlowSyntax::Modify)?, strict))
        }
        FlowCommand::Delete { filter, strict } => {
            single(FlowMod::delete(one(filter, FlowSyntax::MatchOnly)?, strict))
        }
        FlowCommand::Replace(lines) => {
            let (specs, line_nos) = parse_lines(lines, names)?;
            check_room(0, specs.len())?;
            Parsed::Replace { specs, line_nos }
        }
    })
}

/// Validates and plans a parsed command against `tables` (nothing changes).
pub(super) fn plan(
    tables: &FlowTables,
    parsed: &Parsed,
    now_ms: u64,
) -> Result<Planned, SwitchError> {
    match parsed {
        Parsed::Mods {
            mods,
            line_nos,
            adds,
            raw_errors,
        } => {
            check_room(tables.len(), *adds)?;
            tables.plan(mods, now_ms).map_err(|e| {
                if *raw_errors {
                    SwitchError::Table(e)
                } else {
                    table_error(e, line_nos)
                }
            })
        }
        Parsed::Replace { specs, line_nos } => tables
            .plan_replace(specs, now_ms)
            .map_err(|e| table_error(e, line_nos)),
    }
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

pub(super) fn check_room(current: usize, adding: usize) -> Result<(), SwitchError> {
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
