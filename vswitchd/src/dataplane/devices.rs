//! Opening the device behind a port, by type (`tap`, `internal`, `system`, `dummy`).
//! Patch ports have no device: xlate resolves them.
//!
//! A TAP device (types `tap` and `internal`) is opened with one queue per datapath thread
//! (`IFF_MULTI_QUEUE`) when there is more than one thread, so each thread receives and sends on
//! its own descriptor; with one thread, or for other types, a port is one queue.

use super::slowpath::{PortConfig, PortType};
use fastpath::port::afpacket::{AfPacketConfig, AfPacketPort};
use fastpath::port::dummy::{DummyHandle, DummyPort};
use fastpath::port::tap::{TapConfig, TapIo, TapPort};
use fastpath::port::{Port, PortError};

/// An opened device (its queues, at least one), plus the test handle of a dummy port.
pub struct Opened {
    pub queues: Vec<Box<dyn Port>>,
    pub dummy: Option<DummyHandle>,
}

/// Whether TAP devices the switch creates exchange virtio-net headers (offloads: 64 KB TCP
/// segments pass through whole). Off only for debugging.
pub const TAP_VNET_HDR: bool = true;

/// Whether TAP devices get one queue per datapath thread when there are several threads
/// (see `benches/README.md`, "Multiqueue TAP"). Off only for debugging and measurement.
pub const TAP_MULTIQUEUE: bool = true;

/// Opens the device for `cfg` (a dummy one whatever the type if `all_dummy`; TAP devices
/// moving frames as `tap_io` says, with `threads` queues when there are several datapath
/// threads). Patch ports have none (`Ok(None)`).
pub fn open(
    cfg: &PortConfig,
    all_dummy: bool,
    tap_io: TapIo,
    threads: usize,
) -> Result<Option<Opened>, PortError> {
    let port: Box<dyn Port> = match &cfg.kind {
        PortType::Patch { .. } => return Ok(None),
        // Tunnels are attached by the dataplane (their endpoints are shared); with dummy
        // devices they are dummies like every other port.
        PortType::Tunnel(_) => return Ok(Some(dummy(&cfg.name))),
        _ if all_dummy => return Ok(Some(dummy(&cfg.name))),
        PortType::Dummy => return Ok(Some(dummy(&cfg.name))),
        PortType::Tap | PortType::Internal => {
            let mut tc = TapConfig::new(&cfg.name);
            tc.mtu = cfg.mtu;
            tc.vnet_hdr = TAP_VNET_HDR;
            tc.bring_up = cfg.kind == PortType::Tap;
            tc.io = tap_io;
            if TAP_MULTIQUEUE && threads > 1 {
                match TapPort::open_queues(tc.clone(), threads) {
                    Ok(queues) => {
                        return Ok(Some(Opened {
                            queues: queues.into_iter().map(|q| Box::new(q) as _).collect(),
                            dummy: None,
                        }));
                    }
                    // E.g. a persistent single-queue device of that name already exists.
                    Err(e) => {
                        tracing::warn!(port = %cfg.name, error = %e, "multiqueue TAP unavailable; using one queue")
                    }
                }
            }
            Box::new(TapPort::open(tc)?)
        }
        PortType::System => Box::new(AfPacketPort::open(AfPacketConfig::new(&cfg.name))?),
    };
    Ok(Some(Opened {
        queues: vec![port],
        dummy: None,
    }))
}

fn dummy(name: &str) -> Opened {
    let (port, handle) = DummyPort::new(name);
    Opened {
        queues: vec![Box::new(port)],
        dummy: Some(handle),
    }
}
