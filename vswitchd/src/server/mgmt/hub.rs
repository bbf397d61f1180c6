//! Asynchronous messages (packet-ins, and later flow-removed and port-status) on their way
//! from the switch to every OpenFlow connection of a bridge (OVS's `connmgr`).
//!
//! Each connection registers with the [`Hub`] for its bridge and gets a bounded queue
//! ([`CONN_QUEUE`] messages). [`Hub::publish`] offers a message to every connection of the
//! bridge with `try_send`, so a connection that does not keep up loses messages (counted in
//! [`Hub::dropped`]) instead of slowing the others or the switch. The connection's task decides
//! what the message becomes for its peer (version, packet-in format, async config, role,
//! controller id: [`super::request::Session::async_message`]), so service connections (the
//! `BRIDGE.mgmt` socket, `ovs-ofctl monitor`) and controller connections share this path and
//! differ only in their [`ConnKind`].
//!
//! [`dispatch`] is the task that drains the datapath's punt queue
//! ([`crate::dataplane::punt`]) into the hub.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::mpsc;

use crate::dataplane::punt::Punted;
use crate::openflow::packet_in::PacketIn;
use crate::xlate::controller::ControllerCookie;

/// Messages a connection may have waiting, at most.
pub const CONN_QUEUE: usize = 256;

/// What kind of OpenFlow connection it is; OVS treats them differently (a service
/// connection gets asynchronous messages only after it sets a nonzero `miss_send_len`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConnKind {
    /// A connection to a bridge's management socket (`ovs-ofctl`), OVS's `OFCONN_SERVICE`.
    #[default]
    Service,
    /// A connection to or from a configured controller, OVS's `OFCONN_PRIMARY`.
    Controller,
}

/// One asynchronous message for the connections of a bridge.
#[derive(Debug)]
pub enum AsyncMsg {
    PacketIn(PacketIn),
    /// A `send_flow_rem` rule went ([`crate::openflow::flow_removed`]).
    FlowRemoved(crate::openflow::flow_removed::RemovedFlow),
}

type Conns = HashMap<String, Vec<(u64, mpsc::Sender<Arc<AsyncMsg>>)>>;

/// The connections of every bridge that asynchronous messages go to.
#[derive(Debug, Default)]
pub struct Hub {
    conns: Mutex<Conns>,
    next: AtomicU64,
    dropped: AtomicU64,
    undecodable: AtomicU64,
}

/// A connection's place in the hub; dropping it unregisters the connection.
#[derive(Debug)]
pub struct Registration {
    hub: Weak<Hub>,
    bridge: String,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            let mut conns = hub.lock();
            if let Some(v) = conns.get_mut(&self.bridge) {
                v.retain(|(id, _)| *id != self.id);
                if v.is_empty() {
                    conns.remove(&self.bridge);
                }
            }
        }
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Conns> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection of `bridge`: its registration and its queue.
    pub fn register(
        self: &Arc<Self>,
        bridge: &str,
    ) -> (Registration, mpsc::Receiver<Arc<AsyncMsg>>) {
        let (tx, rx) = mpsc::channel(CONN_QUEUE);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(bridge.to_owned())
            .or_default()
            .push((id, tx));
        let reg = Registration {
            hub: Arc::downgrade(self),
            bridge: bridge.to_owned(),
            id,
        };
        (reg, rx)
    }

    /// Offers `msg` to every connection of `bridge`; returns how many took it.
    pub fn publish(&self, bridge: &str, msg: AsyncMsg) -> usize {
        let msg = Arc::new(msg);
        let conns = self.lock();
        let Some(v) = conns.get(bridge) else {
            return 0;
        };
        let mut n = 0;
        for (_, tx) in v {
            match tx.try_send(Arc::clone(&msg)) {
                Ok(()) => n += 1,
                Err(_) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        n
    }

    /// Messages lost because a connection's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Connections registered for `bridge`.
    pub fn connections(&self, bridge: &str) -> usize {
        self.lock().get(bridge).map_or(0, Vec::len)
    }
}

/// Drains the punt queue into the hub until the queue closes. `frozen` finds the state a
/// recirculation id stands for, where a paused packet's continuation is kept.
pub async fn dispatch(
    mut punted: mpsc::Receiver<Punted>,
    hub: Arc<Hub>,
    frozen: impl Fn(u32) -> Option<Arc<crate::xlate::FrozenState>> + Send + 'static,
) {
    while let Some(p) = punted.recv().await {
        let Some(cookie) = ControllerCookie::decode(&p.cookie) else {
            if hub.undecodable.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::error!("a packet sent up for the controller has no valid cookie");
            }
            continue;
        };
        let bridge = cookie.bridge.clone();
        let continuation = if cookie.continuation {
            // A pause whose state is gone (swept) cannot be resumed: nothing to send.
            match frozen(cookie.recirc_id).and_then(|st| st.continuation.clone()) {
                Some(c) => Some(c),
                None => continue,
            }
        } else {
            None
        };
        hub.publish(
            &bridge,
            AsyncMsg::PacketIn(PacketIn {
                cookie,
                frame: p.frame,
                meta: p.meta,
                continuation,
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> AsyncMsg {
        AsyncMsg::PacketIn(PacketIn {
            cookie: ControllerCookie::default(),
            frame: vec![1],
            meta: fastpath::action::PacketMeta::new(1),
            continuation: None,
        })
    }

    #[test]
    fn a_slow_connection_loses_messages_alone_and_leaving_unregisters() {
        let hub = Arc::new(Hub::default());
        let (reg_a, mut a) = hub.register("br0");
        let (_reg_b, mut b) = hub.register("br0");
        let (_reg_c, mut c) = hub.register("br1");
        for _ in 0..CONN_QUEUE {
            assert_eq!(hub.publish("br0", pin()), 2);
            a.try_recv().unwrap();
        }
        // b never read: it is full, a still gets everything.
        assert_eq!(hub.publish("br0", pin()), 1);
        assert_eq!(hub.dropped(), 1);
        assert!(a.try_recv().is_ok());
        assert_eq!(b.try_recv().map(|_| ()), Ok(()));
        assert!(c.try_recv().is_err(), "other bridges see nothing");
        drop(reg_a);
        assert_eq!(hub.connections("br0"), 1);
        assert_eq!(hub.connections("nobody"), 0);
    }
}
