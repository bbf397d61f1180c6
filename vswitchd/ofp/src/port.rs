//! Port descriptions (`ofp_port`) in their three layouts: OpenFlow 1.0's 48-byte
//! `ofp10_phy_port`, 1.1–1.3's 64-byte `ofp11_port`, and 1.4+'s variable `ofp14_port` whose
//! Ethernet details live in a property.
//!
//! One [`PortDesc`] serves all three; fields a version lacks (the speeds in 1.0) decode as 0.
//! Port numbers use the 32-bit space (see [`crate::action::port_from_of10`]). The `config`,
//! `state` and feature bitmaps are carried as sent: their meaning is the caller's.

use crate::action::{port_from_of10, port_to_of10};
use crate::prop;
use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, Version};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PortDesc {
    pub port_no: u32,
    pub hw_addr: [u8; 6],
    pub name: String,
    pub config: u32,
    pub state: u32,
    pub curr: u32,
    pub advertised: u32,
    pub supported: u32,
    pub peer: u32,
    /// kbps (1.1+).
    pub curr_speed: u32,
    pub max_speed: u32,
}

/// `OFPPDPT_ETHERNET`.
const PROP_ETHERNET: u16 = 0;

impl PortDesc {
    pub fn decode(r: &mut Reader<'_>, v: Version) -> Result<PortDesc, DecodeError> {
        let mut p = PortDesc::default();
        match v {
            Version::Of10 => {
                p.port_no = port_from_of10(r.u16()?);
                p.hw_addr = r.array()?;
                p.name = r.string(16)?;
                p.config = r.u32()?;
                p.state = r.u32()?;
                p.curr = r.u32()?;
                p.advertised = r.u32()?;
                p.supported = r.u32()?;
                p.peer = r.u32()?;
            }
            Version::Of13 => {
                p.port_no = r.u32()?;
                r.skip(4)?;
                p.hw_addr = r.array()?;
                r.skip(2)?;
                p.name = r.string(16)?;
                p.config = r.u32()?;
                p.state = r.u32()?;
                p.curr = r.u32()?;
                p.advertised = r.u32()?;
                p.supported = r.u32()?;
                p.peer = r.u32()?;
                p.curr_speed = r.u32()?;
                p.max_speed = r.u32()?;
            }
            Version::Of14 | Version::Of15 => {
                p.port_no = r.u32()?;
                let len = usize::from(r.u16()?);
                if len < 40 {
                    return Err(DecodeError::BadLength { what: "port", len });
                }
                let mut b = r.sub(len - 6, "port")?;
                b.skip(2)?;
                p.hw_addr = b.array()?;
                b.skip(2)?;
                p.name = b.string(16)?;
                p.config = b.u32()?;
                p.state = b.u32()?;
                while !b.is_empty() {
                    let (typ, mut pr) = prop::decode(&mut b)?;
                    if typ == PROP_ETHERNET {
                        pr.skip(4)?;
                        p.curr = pr.u32()?;
                        p.advertised = pr.u32()?;
                        p.supported = pr.u32()?;
                        p.peer = pr.u32()?;
                        p.curr_speed = pr.u32()?;
                        p.max_speed = pr.u32()?;
                    }
                }
            }
        }
        Ok(p)
    }

    pub fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        match v {
            Version::Of10 => {
                if self.curr_speed != 0 || self.max_speed != 0 {
                    return Err(EncodeError::NotInVersion("port speeds", v));
                }
                w.u16(
                    port_to_of10(self.port_no)
                        .ok_or(EncodeError::NotInVersion("a port above 0xff00", v))?,
                );
                w.bytes(&self.hw_addr);
                w.string(&self.name, 16);
                for x in [
                    self.config,
                    self.state,
                    self.curr,
                    self.advertised,
                    self.supported,
                    self.peer,
                ] {
                    w.u32(x);
                }
            }
            Version::Of13 => {
                w.u32(self.port_no);
                w.zeros(4);
                w.bytes(&self.hw_addr);
                w.zeros(2);
                w.string(&self.name, 16);
                for x in [
                    self.config,
                    self.state,
                    self.curr,
                    self.advertised,
                    self.supported,
                    self.peer,
                    self.curr_speed,
                    self.max_speed,
                ] {
                    w.u32(x);
                }
            }
            Version::Of14 | Version::Of15 => {
                let start = w.len();
                w.u32(self.port_no);
                w.u16(0);
                w.zeros(2);
                w.bytes(&self.hw_addr);
                w.zeros(2);
                w.string(&self.name, 16);
                w.u32(self.config);
                w.u32(self.state);
                let mut eth = Writer::new();
                eth.zeros(4);
                for x in [
                    self.curr,
                    self.advertised,
                    self.supported,
                    self.peer,
                    self.curr_speed,
                    self.max_speed,
                ] {
                    eth.u32(x);
                }
                prop::put(w, PROP_ETHERNET, &eth.buf)?;
                w.patch_len(start + 4, start)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_round_trip() {
        let p = PortDesc {
            port_no: 0xffff_fffe,
            hw_addr: [2, 0, 0, 0, 0, 1],
            name: "br0".into(),
            config: 1,
            state: 4,
            curr: 0x802,
            curr_speed: 10_000_000,
            max_speed: 0,
            ..PortDesc::default()
        };
        for (v, len) in [
            (Version::Of10, 48),
            (Version::Of13, 64),
            (Version::Of14, 72),
        ] {
            let p = if v == Version::Of10 {
                assert!(
                    p.encode(&mut Writer::new(), v).is_err(),
                    "1.0 has no speeds"
                );
                PortDesc {
                    curr_speed: 0,
                    max_speed: 0,
                    ..p.clone()
                }
            } else {
                p.clone()
            };
            let mut w = Writer::new();
            p.encode(&mut w, v).unwrap();
            assert_eq!(w.len(), len, "{v:?}");
            let back = PortDesc::decode(&mut Reader::new(&w.buf, "t"), v).unwrap();
            assert_eq!(back, p, "{v:?}");
        }
    }
}
