use super::*;
use proptest::prelude::*;
use std::collections::HashMap as Map;

fn state(table: u8, reg0: u32) -> FrozenState {
    let mut regs = [0; 16];
    regs[0] = reg0;
    FrozenState {
        bridge: "br0".into(),
        table,
        in_port: 1,
        metadata: 0,
        regs,
        ct_zone: 0,
        nat: None,
        continuation: None,
    }
}

#[test]
fn ids_are_stable_and_distinct() {
    let t = RecircTable::new();
    let a = t.id_for(&state(1, 0)).unwrap();
    let b = t.id_for(&state(1, 7)).unwrap();
    assert_eq!(a, 1);
    assert_ne!(a, b);
    assert_eq!(t.id_for(&state(1, 0)).unwrap(), a);
    assert_eq!(t.get(b).as_deref(), Some(&state(1, 7)));
    assert_eq!(t.get(99), None);
    assert_eq!(t.len(), 2);
}

#[test]
fn table_is_bounded_and_counts_refusals() {
    let t = RecircTable::with_limit(2);
    t.id_for(&state(1, 0)).unwrap();
    t.id_for(&state(2, 0)).unwrap();
    assert_eq!(
        t.id_for(&state(3, 0)),
        Err(XlateError::RecircIdsExhausted(2))
    );
    // Known states still resolve.
    assert_eq!(t.id_for(&state(2, 0)), Ok(2));
    let s = t.stats();
    assert_eq!((s.live, s.limit, s.allocated, s.exhausted), (2, 2, 2, 1));
}

#[test]
fn unreferenced_ids_are_freed_after_the_grace_period_only() {
    let t = RecircTable::with_manual_clock(16, u32::MAX, 1_000);
    let held = t.id_for(&state(1, 1)).unwrap();
    let loose = t.id_for(&state(1, 2)).unwrap();
    // Within the grace period nothing goes, referenced or not.
    let s = t.sweep(&mut vec![held], t.now_ms());
    assert_eq!((s.referenced, s.freed, s.live), (1, 0, 2));
    t.advance_clock(1_500);
    // A use restarts the grace period.
    t.get(loose).unwrap();
    assert_eq!(t.sweep(&mut vec![held, held], t.now_ms()).freed, 0);
    t.advance_clock(1_500);
    let s = t.sweep(&mut vec![held], t.now_ms());
    assert_eq!((s.freed, s.live), (1, 1));
    assert_eq!(t.get(loose), None);
    assert_eq!(t.get(held).as_deref(), Some(&state(1, 1)));
    // The freed state comes back with a fresh id, not its old one.
    let again = t.id_for(&state(1, 2)).unwrap();
    assert_ne!(again, loose);
    assert_ne!(again, held);
    // Nothing referenced: everything goes once the grace period has passed.
    t.advance_clock(1_500);
    let s = t.sweep(&mut Vec::new(), t.now_ms());
    assert_eq!((s.freed, s.live), (2, 0));
    let st = t.stats();
    assert_eq!((st.allocated, st.freed, st.live), (3, 3, 0));
}

#[test]
fn a_sweep_keeps_what_was_used_after_its_pass_started() {
    let t = RecircTable::with_manual_clock(16, u32::MAX, 0);
    let started = t.now_ms();
    t.advance_clock(10);
    // Allocated by an upcall during the pass: the pass's megaflow snapshot could not see it.
    let id = t.id_for(&state(1, 1)).unwrap();
    assert_eq!(t.sweep(&mut Vec::new(), started).freed, 0);
    t.advance_clock(10);
    assert_eq!(t.sweep(&mut Vec::new(), t.now_ms()).freed, 1);
    assert_eq!(t.get(id), None);
}

#[test]
fn ids_wrap_around_and_skip_live_ones() {
    let t = RecircTable::with_manual_clock(4, 4, 0);
    let ids: Vec<u32> = (0..3).map(|i| t.id_for(&state(1, i)).unwrap()).collect();
    assert_eq!(ids, [1, 2, 3]);
    t.advance_clock(1);
    // Keep 1 and 3; 2 goes.
    t.sweep(&mut vec![1, 3], t.now_ms());
    assert_eq!(t.id_for(&state(1, 10)), Ok(4));
    t.advance_clock(1);
    t.sweep(&mut vec![1, 3, 4], t.now_ms());
    // The counter wraps past 4, skips live 1, reuses 2.
    assert_eq!(t.id_for(&state(1, 11)), Ok(2));
    assert_eq!(t.get(1).as_deref(), Some(&state(1, 0)));
    assert_eq!(t.get(3).as_deref(), Some(&state(1, 2)));
}

#[test]
fn recirc_ids_lists_key_and_action_ids() {
    let actions = [
        DpAction::Output(1),
        DpAction::Recirc(5),
        DpAction::Recirc(6),
    ];
    assert_eq!(recirc_ids(0, &actions).collect::<Vec<_>>(), [5, 6]);
    assert_eq!(recirc_ids(9, &[]).collect::<Vec<_>>(), [9]);
}

/// One step of the lifecycle model.
#[derive(Clone, Debug)]
enum Op {
    /// A translation freezes state `s` (and maybe installs a megaflow holding the id).
    Freeze { s: u32, install: bool },
    /// A megaflow is removed (evicted, expired, revalidated away).
    Remove(usize),
    /// A recirculated packet resumes from the id of megaflow `i`.
    Resume(usize),
    /// Time passes.
    Advance(u64),
    /// A revalidation pass sweeps.
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..8, any::<bool>()).prop_map(|(s, install)| Op::Freeze { s, install }),
        2 => (0usize..16).prop_map(Op::Remove),
        2 => (0usize..16).prop_map(Op::Resume),
        2 => (0u64..80).prop_map(Op::Advance),
        2 => Just(Op::Sweep),
    ]
}

const GRACE: u64 = 50;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the order of allocations, references, removals, sweeps and time, a live id
    /// (held by a megaflow, or used within the grace period) always resolves to the state it
    /// was handed out for, and is never handed to another state; with nothing held and the
    /// grace period over, everything is freed. A tiny id space forces wrap-around and reuse.
    #[test]
    fn a_live_id_is_never_handed_to_another_state(ops in prop::collection::vec(op(), 1..120)) {
        let t = RecircTable::with_manual_clock(6, 9, GRACE);
        // Megaflows: (id, state) pairs.
        let mut held: Vec<(u32, u32)> = Vec::new();
        // What the model knows of each id: its state and last use (table clock).
        let mut known: Map<u32, (u32, u64)> = Map::new();
        for op in ops {
            match op {
                Op::Freeze { s, install } => match t.id_for(&state(1, s)) {
                    Ok(id) => {
                        if let Some((other, _)) = known.get(&id) {
                            prop_assert_eq!(*other, s, "id {} handed to a second state", id);
                        }
                        // The same live state always gets the same id.
                        for (kid, (ks, _)) in &known {
                            prop_assert!(*ks != s || *kid == id, "state {} has two ids", s);
                        }
                        known.insert(id, (s, t.now_ms()));
                        if install {
                            held.push((id, s));
                        }
                    }
                    Err(XlateError::RecircIdsExhausted(n)) => {
                        prop_assert_eq!(n, 6);
                        prop_assert_eq!(known.len(), 6, "refused with room left");
                    }
                    Err(e) => prop_assert!(false, "unexpected {}", e),
                },
                Op::Remove(i) => {
                    if !held.is_empty() {
                        held.remove(i % held.len());
                    }
                }
                Op::Resume(i) => {
                    if !held.is_empty() {
                        let (id, s) = held[i % held.len()];
                        let got = t.get(id);
                        prop_assert_eq!(got.as_deref(), Some(&state(1, s)));
                        known.insert(id, (s, t.now_ms()));
                    }
                }
                Op::Advance(ms) => t.advance_clock(ms),
                Op::Sweep => {
                    let started = t.now_ms();
                    let mut refs: Vec<u32> = held.iter().map(|(id, _)| *id).collect();
                    t.sweep(&mut refs, started);
                    let now = t.now_ms();
                    let cutoff = started.saturating_sub(GRACE);
                    known.retain(|id, (_, last)| {
                        let is_held = held.iter().any(|(h, _)| h == id);
                        if is_held {
                            *last = now;
                        }
                        // Only what the table must keep is kept in the model: anything else
                        // may be gone, and a later allocation may reuse its id.
                        is_held || *last >= cutoff
                    });
                }
            }
            // Every megaflow's id still means its state.
            for (id, s) in &held {
                let got = t.peek(*id);
                prop_assert_eq!(got.as_deref(), Some(&state(1, *s)));
            }
            for (id, (s, _)) in &known {
                let got = t.peek(*id);
                prop_assert_eq!(got.as_deref(), Some(&state(1, *s)), "id {} lost", id);
            }
            // The model knows every id the table holds.
            prop_assert_eq!(t.len(), known.len());
        }
        // Nothing held, grace over: all freed.
        t.advance_clock(GRACE + 1);
        let started = t.now_ms();
        t.advance_clock(GRACE + 1);
        let s = t.sweep(&mut Vec::new(), started);
        prop_assert_eq!(s.live, 0);
    }
}
