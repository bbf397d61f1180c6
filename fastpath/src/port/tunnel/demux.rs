//! Which tunnel port a received packet belongs to: OVS's rules (`tnl_find`), a port whose
//! `remote_ip` is the packet's outer source beats a `remote_ip=flow` port, and then a port
//! whose `key` is the packet's beats a `key=flow` port; a port with `local_ip` takes only
//! packets sent to that address.

use crate::flow::tlv::SharedTlv;
use core::net::IpAddr;

/// One tunnel port as the receive side sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// `remote_ip`, `None` for `flow`.
    pub remote: Option<IpAddr>,
    /// `local_ip`, if set.
    pub local: Option<IpAddr>,
    /// `key`, `None` for `flow`.
    pub key: Option<u64>,
    /// The datapath port number packets are received on.
    pub dp_no: u32,
}

/// The receive table of one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Demux {
    pub routes: Vec<Route>,
    /// The TLV map of each port's bridge, by datapath port number (Geneve options).
    pub tlv: Vec<(u32, SharedTlv)>,
}

impl Demux {
    /// The TLV map of datapath port `dp_no`.
    pub fn tlv_of(&self, dp_no: u32) -> Option<&SharedTlv> {
        self.tlv.iter().find(|(n, _)| *n == dp_no).map(|(_, t)| t)
    }

    /// The datapath port for a packet from `remote` to `local` with tunnel key `key`.
    pub fn lookup(&self, remote: IpAddr, local: Option<IpAddr>, key: u64) -> Option<u32> {
        self.routes
            .iter()
            .filter(|r| r.remote.is_none_or(|a| a == remote))
            .filter(|r| r.key.is_none_or(|k| k == key))
            .filter(|r| r.local.is_none_or(|l| Some(l) == local))
            .max_by_key(|r| {
                (
                    r.remote.is_some(),
                    r.key.is_some(),
                    r.local.is_some(),
                    core::cmp::Reverse(r.dp_no),
                )
            })
            .map(|r| r.dp_no)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn exact_remote_beats_exact_key_beats_flow() {
        let d = Demux {
            routes: vec![
                Route {
                    remote: None,
                    local: None,
                    key: None,
                    dp_no: 1,
                },
                Route {
                    remote: None,
                    local: None,
                    key: Some(5),
                    dp_no: 2,
                },
                Route {
                    remote: Some(ip("10.0.0.2")),
                    local: None,
                    key: None,
                    dp_no: 3,
                },
                Route {
                    remote: Some(ip("10.0.0.2")),
                    local: None,
                    key: Some(5),
                    dp_no: 4,
                },
                Route {
                    remote: Some(ip("10.0.0.3")),
                    local: Some(ip("10.0.0.1")),
                    key: Some(0),
                    dp_no: 5,
                },
            ],
            tlv: Vec::new(),
        };
        assert_eq!(d.lookup(ip("10.0.0.2"), None, 5), Some(4));
        assert_eq!(d.lookup(ip("10.0.0.2"), None, 6), Some(3));
        assert_eq!(d.lookup(ip("10.0.0.9"), None, 5), Some(2));
        assert_eq!(d.lookup(ip("10.0.0.9"), None, 6), Some(1));
        assert_eq!(d.lookup(ip("10.0.0.3"), Some(ip("10.0.0.1")), 0), Some(5));
        // Sent to another local address: port 5 does not take it; the flow port does.
        assert_eq!(d.lookup(ip("10.0.0.3"), Some(ip("10.0.0.7")), 0), Some(1));
    }

    #[test]
    fn unknown_remote_or_key_finds_nothing_without_flow_ports() {
        let d = Demux {
            routes: vec![Route {
                remote: Some(ip("fd00::2")),
                local: None,
                key: Some(1),
                dp_no: 9,
            }],
            tlv: Vec::new(),
        };
        assert_eq!(d.lookup(ip("fd00::2"), None, 1), Some(9));
        assert_eq!(d.lookup(ip("fd00::2"), None, 2), None);
        assert_eq!(d.lookup(ip("fd00::3"), None, 1), None);
    }
}
