//! Opening the device behind a port, by type (`tap`, `internal`, `system`, `dummy`).
//! Patch ports have no device: xlate resolves them.

use super::slowpath::{PortConfig, PortType};
use fastpath::port::afpacket::{AfPacketConfig, AfPacketPort};
use fastpath::port::dummy::{DummyHandle, DummyPort};
use fastpath::port::tap::{TapConfig, TapIo, TapPort};
use fastpath::port::{Port, PortError};

/// An opened device, plus the test handle of a dummy port.
pub struct Opened {
    pub port: Box<dyn Port>,
    pub dummy: Option<DummyHandle>,
}

/// Whether TAP devices the switch creates exchange virtio-net headers (offloads: 64 KB TCP
/// segments pass through whole). Off only for debugging.
pub const TAP_VNET_HDR: bool = true;

/// Opens the device for `cfg` (a dummy one whatever the type if `all_dummy`; TAP devices
/// moving frames as `tap_io` says). Patch ports have none (`Ok(None)`).
pub fn open(cfg: &PortConfig, all_dummy: bool, tap_io: TapIo) -> Result<Option<Opened>, PortError> {
    let port: Box<dyn Port> = match &cfg.kind {
        PortType::Patch { .. } => return Ok(None),
        _ if all_dummy => {
            let (port, handle) = DummyPort::new(&cfg.name);
            return Ok(Some(Opened {
                port: Box::new(port),
                dummy: Some(handle),
            }));
        }
        PortType::Dummy => {
            let (port, handle) = DummyPort::new(&cfg.name);
            return Ok(Some(Opened {
                port: Box::new(port),
                dummy: Some(handle),
            }));
        }
        PortType::Tap | PortType::Internal => {
            let mut tc = TapConfig::new(&cfg.name);
            tc.mtu = cfg.mtu;
            tc.vnet_hdr = TAP_VNET_HDR;
            tc.bring_up = cfg.kind == PortType::Tap;
            tc.io = tap_io;
            Box::new(TapPort::open(tc)?)
        }
        PortType::System => Box::new(AfPacketPort::open(AfPacketConfig::new(&cfg.name))?),
    };
    Ok(Some(Opened { port, dummy: None }))
}
