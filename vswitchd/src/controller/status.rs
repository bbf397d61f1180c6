//! What the switch knows about each bridge's OpenFlow connections, for `get-controller`,
//! `show`, metrics and fail-open: per bridge, the [`Roles`] of all its connections, the
//! state of each controller target, when a controller was last connected, and whether the
//! bridge fails open now.
//!
//! The connection tasks write it, readers take a snapshot ([`Registry::report`]); nothing
//! here blocks for longer than a map update.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::role::{Role, Roles};

/// What a target's connection is doing (OVS's `Controller.status:state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Connecting (active).
    Connecting,
    /// Connected (active) or accepting (passive, with or without peers).
    Active,
    /// Waiting before the next attempt (active).
    Backoff,
    /// Bound and waiting for peers (passive).
    Listening,
    /// Cannot proceed (a passive target that cannot bind); retried.
    Error,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "CONNECTING",
            State::Active => "ACTIVE",
            State::Backoff => "BACKOFF",
            State::Listening => "LISTENING",
            State::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone)]
struct TargetState {
    state: State,
    last_error: String,
    since: Instant,
    /// Role seats of its open connections.
    seats: Vec<u64>,
}

/// One target's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetReport {
    pub target: String,
    pub is_connected: bool,
    pub role: Option<Role>,
    pub state: State,
    pub last_error: String,
    pub connections: u32,
    pub sec_since_change: u64,
}

/// One bridge's connections.
#[derive(Debug)]
pub struct BridgeCtl {
    pub roles: Arc<Roles>,
    targets: Mutex<BTreeMap<String, TargetState>>,
    /// When a controller was last seen connected (or the controllers were set).
    last_connected: Mutex<Instant>,
    fail_open: AtomicBool,
}

impl BridgeCtl {
    fn new() -> BridgeCtl {
        BridgeCtl {
            roles: Arc::new(Roles::default()),
            targets: Mutex::new(BTreeMap::new()),
            last_connected: Mutex::new(Instant::now()),
            fail_open: AtomicBool::new(false),
        }
    }

    fn targets(&self) -> MutexGuard<'_, BTreeMap<String, TargetState>> {
        self.targets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a target's new state (and the error that led to it, if any).
    pub fn set_state(&self, target: &str, state: State, error: Option<String>) {
        let mut t = self.targets();
        let e = t.entry(target.to_owned()).or_insert_with(|| TargetState {
            state,
            last_error: String::new(),
            since: Instant::now(),
            seats: Vec::new(),
        });
        if e.state != state {
            e.state = state;
            e.since = Instant::now();
        }
        if let Some(err) = error {
            e.last_error = err;
        }
    }

    /// Adds (`true`) or removes a connection's seat under `target`.
    pub fn track(&self, target: &str, seat: u64, add: bool) {
        let mut t = self.targets();
        if let Some(e) = t.get_mut(target) {
            e.seats.retain(|s| *s != seat);
            if add {
                e.seats.push(seat);
            }
        }
    }

    /// Forgets a target (its task ended).
    pub fn forget(&self, target: &str) {
        self.targets().remove(target);
    }

    /// Whether any controller connection has completed its handshake; notes the time if so.
    pub fn any_connected(&self) -> bool {
        let seats: Vec<u64> = self
            .targets()
            .values()
            .flat_map(|t| t.seats.iter().copied())
            .collect();
        let yes = self.roles.states(&seats).iter().any(|(open, _)| *open);
        if yes {
            *self
                .last_connected
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
        yes
    }

    /// Time since a controller was last connected.
    pub fn disconnected_for(&self) -> std::time::Duration {
        self.last_connected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Restarts the disconnection clock (controllers were just set).
    pub fn reset_clock(&self) {
        *self
            .last_connected
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub fn fail_open(&self) -> bool {
        self.fail_open.load(Ordering::Relaxed)
    }

    pub fn set_fail_open(&self, on: bool) {
        self.fail_open.store(on, Ordering::Relaxed);
    }

    fn report(&self, target: &str) -> TargetReport {
        let t = self.targets();
        let Some(s) = t.get(target) else {
            return TargetReport {
                target: target.to_owned(),
                is_connected: false,
                role: None,
                state: State::Connecting,
                last_error: String::new(),
                connections: 0,
                sec_since_change: 0,
            };
        };
        let states = self.roles.states(&s.seats);
        let open: Vec<Role> = states.iter().filter(|(o, _)| *o).map(|(_, r)| *r).collect();
        TargetReport {
            target: target.to_owned(),
            is_connected: !open.is_empty(),
            role: open.first().copied(),
            state: s.state,
            last_error: s.last_error.clone(),
            connections: states.len() as u32,
            sec_since_change: s.since.elapsed().as_secs(),
        }
    }
}

/// Every bridge's [`BridgeCtl`].
#[derive(Debug, Default)]
pub struct Registry {
    bridges: Mutex<HashMap<String, Arc<BridgeCtl>>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<BridgeCtl>>> {
        self.bridges.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bridge's state, created on first use.
    pub fn bridge(&self, name: &str) -> Arc<BridgeCtl> {
        Arc::clone(
            self.lock()
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(BridgeCtl::new())),
        )
    }

    /// Forgets a deleted bridge.
    pub fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    /// The state of `targets` (a bridge's list, in order) and whether the bridge fails open.
    pub fn report(&self, bridge: &str, targets: &[String]) -> (Vec<TargetReport>, bool) {
        let Some(b) = self.lock().get(bridge).cloned() else {
            let none = targets.iter().map(|t| BridgeCtl::new().report(t)).collect();
            return (none, false);
        };
        (targets.iter().map(|t| b.report(t)).collect(), b.fail_open())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_connected_once_a_connection_finished_its_handshake() {
        let reg = Registry::default();
        let b = reg.bridge("br0");
        let t = "tcp:127.0.0.1:6653".to_owned();
        b.set_state(&t, State::Connecting, None);
        let seat = b.roles.seat();
        b.track(&t, seat.id(), true);
        b.set_state(&t, State::Active, None);
        let (r, open) = reg.report("br0", std::slice::from_ref(&t));
        assert!(!r[0].is_connected && !open);
        assert_eq!(r[0].connections, 1);
        assert!(!b.any_connected());
        seat.set_open();
        assert!(b.any_connected());
        let (r, _) = reg.report("br0", std::slice::from_ref(&t));
        assert!(r[0].is_connected);
        assert_eq!(r[0].role, Some(Role::Equal));
        assert_eq!(r[0].state, State::Active);
        b.track(&t, seat.id(), false);
        b.set_state(&t, State::Backoff, Some("connection refused".into()));
        let (r, _) = reg.report("br0", std::slice::from_ref(&t));
        assert!(!r[0].is_connected);
        assert_eq!(r[0].last_error, "connection refused");
        assert!(b.disconnected_for() < std::time::Duration::from_secs(5));
    }
}
