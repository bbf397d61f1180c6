//! Controller roles (OpenFlow's `OFPT_ROLE_REQUEST`, Nicira's `NXT_ROLE_REQUEST`), per
//! bridge, as OVS's connmgr keeps them.
//!
//! Every OpenFlow connection of a bridge — controller or `BRIDGE.mgmt` — holds a [`Seat`]
//! in the bridge's [`Roles`]. A connection starts `equal`; asking for `master` demotes any
//! other master of the bridge to `slave`; a `slave` may read but its writes are refused
//! with `OFPBRC_IS_SLAVE`. Master and slave requests carry a generation id: the bridge keeps
//! the largest seen, and a request whose id is older (compared as a signed difference, so
//! ids may wrap) is refused with `OFPRRFC_STALE`. Equal requests ignore the id.
//!
//! A seat also records whether its connection finished the OpenFlow handshake, which is
//! what "connected" means for `get-controller` and for fail-open. Dropping the seat removes
//! the connection. One mutex per bridge; every operation is a few map lookups.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A connection's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Equal,
    Master,
    Slave,
}

impl Role {
    /// OpenFlow 1.2+ `OFPCR_ROLE_*` (0 is "no change").
    pub fn from_ofp(v: u32) -> Option<Option<Role>> {
        match v {
            0 => Some(None),
            1 => Some(Some(Role::Equal)),
            2 => Some(Some(Role::Master)),
            3 => Some(Some(Role::Slave)),
            _ => None,
        }
    }

    pub fn to_ofp(self) -> u32 {
        match self {
            Role::Equal => 1,
            Role::Master => 2,
            Role::Slave => 3,
        }
    }

    /// Nicira `NX_ROLE_*`: other, master, slave.
    pub fn from_nx(v: u32) -> Option<Role> {
        match v {
            0 => Some(Role::Equal),
            1 => Some(Role::Master),
            2 => Some(Role::Slave),
            _ => None,
        }
    }

    pub fn to_nx(self) -> u32 {
        match self {
            Role::Equal => 0,
            Role::Master => 1,
            Role::Slave => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Equal => "equal",
            Role::Master => "master",
            Role::Slave => "slave",
        }
    }
}

/// Why a role request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("generation id {asked} is older than the bridge's {current}")]
    Stale { asked: u64, current: u64 },
}

#[derive(Debug, Clone, Copy)]
struct SeatState {
    role: Role,
    open: bool,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    election_id: Option<u64>,
    seats: BTreeMap<u64, SeatState>,
}

/// The roles of one bridge's connections.
#[derive(Debug, Default)]
pub struct Roles {
    inner: Mutex<Inner>,
}

impl Roles {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A seat for a new connection (role equal, not yet open).
    pub fn seat(self: &Arc<Self>) -> Seat {
        let mut g = self.lock();
        g.next_id += 1;
        let id = g.next_id;
        g.seats.insert(
            id,
            SeatState {
                role: Role::Equal,
                open: false,
            },
        );
        Seat {
            roles: Arc::clone(self),
            id,
        }
    }

    /// The state of the connections `ids` that still exist: (open, role) each.
    pub fn states(&self, ids: &[u64]) -> Vec<(bool, Role)> {
        let g = self.lock();
        ids.iter()
            .filter_map(|i| g.seats.get(i).map(|s| (s.open, s.role)))
            .collect()
    }
}

/// One connection's place in its bridge's [`Roles`].
#[derive(Debug)]
pub struct Seat {
    roles: Arc<Roles>,
    id: u64,
}

impl Seat {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn role(&self) -> Role {
        self.roles
            .lock()
            .seats
            .get(&self.id)
            .map_or(Role::Equal, |s| s.role)
    }

    pub fn is_slave(&self) -> bool {
        self.role() == Role::Slave
    }

    /// Marks the handshake done.
    pub fn set_open(&self) {
        if let Some(s) = self.roles.lock().seats.get_mut(&self.id) {
            s.open = true;
        }
    }

    /// Handles a role request (`None`: no change); returns the role now held and the
    /// bridge's generation id, if one was ever given.
    pub fn request(
        &self,
        role: Option<Role>,
        generation_id: Option<u64>,
    ) -> Result<(Role, Option<u64>), RoleError> {
        let mut g = self.roles.lock();
        if let Some(role) = role {
            if role != Role::Equal
                && let Some(asked) = generation_id
            {
                if let Some(current) = g.election_id
                    && (asked.wrapping_sub(current) as i64) < 0
                {
                    return Err(RoleError::Stale { asked, current });
                }
                g.election_id = Some(asked);
            }
            if role == Role::Master {
                for (id, s) in g.seats.iter_mut() {
                    if *id != self.id && s.role == Role::Master {
                        s.role = Role::Slave;
                    }
                }
            }
            if let Some(s) = g.seats.get_mut(&self.id) {
                s.role = role;
            }
        }
        let now = g.seats.get(&self.id).map_or(Role::Equal, |s| s.role);
        Ok((now, g.election_id))
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.roles.lock().seats.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_master_demotes_the_old_one_and_stale_ids_are_refused() {
        let roles = Arc::new(Roles::default());
        let (a, b, c) = (roles.seat(), roles.seat(), roles.seat());
        assert_eq!(a.request(None, None).unwrap(), (Role::Equal, None));
        assert_eq!(
            a.request(Some(Role::Master), Some(10)).unwrap(),
            (Role::Master, Some(10))
        );
        assert_eq!(
            b.request(Some(Role::Master), Some(11)).unwrap(),
            (Role::Master, Some(11))
        );
        assert!(a.is_slave());
        assert_eq!(c.role(), Role::Equal);
        assert_eq!(
            a.request(Some(Role::Master), Some(5)),
            Err(RoleError::Stale {
                asked: 5,
                current: 11
            })
        );
        assert!(a.is_slave(), "a refused request changes nothing");
        // Equal ignores the id; ids compare as a wrapping difference.
        assert_eq!(
            c.request(Some(Role::Equal), Some(0)).unwrap(),
            (Role::Equal, Some(11))
        );
        let roles2 = Arc::new(Roles::default());
        let d = roles2.seat();
        d.request(Some(Role::Slave), Some(u64::MAX)).unwrap();
        assert!(d.request(Some(Role::Master), Some(0)).is_ok());
        let id = b.id();
        drop(b);
        assert!(roles.states(&[id]).is_empty());
        assert_eq!(roles.states(&[a.id()]), vec![(false, Role::Slave)]);
    }
}
