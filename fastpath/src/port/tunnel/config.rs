//! A tunnel port's configuration, parsed from OVS's Interface options (`remote_ip`, `key`,
//! `local_ip`, `dst_port`, `csum`, `tos`, `ttl`, `df_default`), with OVS's defaults.

use super::TunnelKind;
use core::net::IpAddr;
use std::collections::BTreeMap;

/// Why a tunnel port's options are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("a {0} port needs option 'remote_ip=IP|flow'")]
    NoRemote(TunnelKind),
    #[error("option '{key}' has the invalid value '{value}': {why}")]
    BadValue {
        key: String,
        value: String,
        why: &'static str,
    },
    #[error("option '{0}' is not a tunnel option")]
    Unknown(String),
    #[error("remote_ip and local_ip must be of the same address family")]
    MixedFamilies,
}

/// A tunnel port's settings. `None` in `remote`/`key` means `flow`: taken from the flow's
/// `tun_dst`/`tun_id` on output, any value accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelConfig {
    pub kind: TunnelKind,
    /// `remote_ip`: the far endpoint, or `None` for `flow`.
    pub remote: Option<IpAddr>,
    /// `local_ip`: the source address to use and to accept on; `None`: any / the route's.
    pub local: Option<IpAddr>,
    /// `key`: VNI or GRE key, or `None` for `flow`.
    pub key: Option<u64>,
    /// `dst_port`: UDP destination port (VXLAN and Geneve).
    pub dst_port: u16,
    /// `csum`: outer UDP checksum / GRE checksum.
    pub csum: bool,
    /// `tos`: outer TOS, or `None` for `inherit` (the inner IP packet's).
    pub tos: Option<u8>,
    /// `ttl`: outer TTL, or `None` for `inherit`.
    pub ttl: Option<u8>,
    /// `df_default`: set the don't-fragment bit.
    pub df: bool,
}

/// OVS's default outer TTL.
pub const DEFAULT_TTL: u8 = 64;

/// The options a tunnel port accepts.
pub const OPTIONS: [&str; 9] = [
    "remote_ip",
    "local_ip",
    "key",
    "dst_port",
    "csum",
    "tos",
    "ttl",
    "df_default",
    "mtu",
];

fn bad(key: &str, value: &str, why: &'static str) -> ConfigError {
    ConfigError::BadValue {
        key: key.into(),
        value: value.into(),
        why,
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, v, "expected true or false")),
    }
}

fn parse_u64(v: &str) -> Option<u64> {
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

impl TunnelConfig {
    /// Parses a port's options. Unknown options are refused so that typos are not silently
    /// ignored (`mtu` is accepted for every port type and ignored here).
    pub fn from_options(
        kind: TunnelKind,
        options: &BTreeMap<String, String>,
    ) -> Result<TunnelConfig, ConfigError> {
        let mut c = TunnelConfig {
            kind,
            remote: None,
            local: None,
            key: Some(0),
            dst_port: kind.default_port(),
            csum: false,
            tos: Some(0),
            ttl: Some(DEFAULT_TTL),
            df: true,
        };
        let mut have_remote = false;
        for (k, v) in options {
            let v = v.as_str();
            match k.as_str() {
                "remote_ip" => {
                    have_remote = true;
                    c.remote = match v {
                        "flow" => None,
                        _ => Some(
                            v.parse()
                                .map_err(|_| bad(k, v, "expected an IP address or flow"))?,
                        ),
                    };
                    if c.remote
                        .is_some_and(|a| a.is_unspecified() || a.is_multicast())
                    {
                        return Err(bad(k, v, "must be a unicast address"));
                    }
                }
                "local_ip" => {
                    c.local = Some(v.parse().map_err(|_| bad(k, v, "expected an IP address"))?);
                }
                "key" => {
                    c.key = match v {
                        "flow" => None,
                        _ => {
                            let n = parse_u64(v)
                                .ok_or_else(|| bad(k, v, "expected a number or flow"))?;
                            if n > kind.max_key() {
                                return Err(bad(k, v, kind.key_range()));
                            }
                            Some(n)
                        }
                    };
                }
                "dst_port" => {
                    if kind == TunnelKind::Gre {
                        return Err(bad(k, v, "GRE has no UDP port"));
                    }
                    c.dst_port = v
                        .parse()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| bad(k, v, "expected a port 1..65535"))?;
                }
                "csum" => c.csum = parse_bool(k, v)?,
                "df_default" => c.df = parse_bool(k, v)?,
                "tos" => {
                    c.tos = match v {
                        "inherit" => None,
                        _ => Some(
                            v.parse()
                                .map_err(|_| bad(k, v, "expected 0..255 or inherit"))?,
                        ),
                    }
                }
                "ttl" => {
                    c.ttl = match v {
                        "inherit" => None,
                        _ => Some(
                            v.parse()
                                .ok()
                                .filter(|t| *t != 0)
                                .ok_or_else(|| bad(k, v, "expected 1..255 or inherit"))?,
                        ),
                    }
                }
                "mtu" => {}
                _ => return Err(ConfigError::Unknown(k.clone())),
            }
        }
        if !have_remote {
            return Err(ConfigError::NoRemote(kind));
        }
        if let (Some(r), Some(l)) = (c.remote, c.local)
            && r.is_ipv4() != l.is_ipv4()
        {
            return Err(ConfigError::MixedFamilies);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_ovs_defaults() {
        let c = TunnelConfig::from_options(TunnelKind::Vxlan, &opts(&[("remote_ip", "10.0.0.2")]))
            .unwrap();
        assert_eq!(c.remote, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(
            (c.key, c.dst_port, c.csum, c.df),
            (Some(0), 4789, false, true)
        );
        assert_eq!((c.tos, c.ttl), (Some(0), Some(64)));
        let g = TunnelConfig::from_options(TunnelKind::Geneve, &opts(&[("remote_ip", "flow")]))
            .unwrap();
        assert_eq!((g.remote, g.dst_port), (None, 6081));
    }

    #[test]
    fn parses_every_option() {
        let c = TunnelConfig::from_options(
            TunnelKind::Vxlan,
            &opts(&[
                ("remote_ip", "fd00::2"),
                ("local_ip", "fd00::1"),
                ("key", "flow"),
                ("dst_port", "8472"),
                ("csum", "true"),
                ("tos", "inherit"),
                ("ttl", "inherit"),
                ("df_default", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.key, c.dst_port, c.csum, c.tos, c.ttl, c.df),
            (None, 8472, true, None, None, false)
        );
        let k = TunnelConfig::from_options(
            TunnelKind::Gre,
            &opts(&[("remote_ip", "1.2.3.4"), ("key", "0x10")]),
        )
        .unwrap();
        assert_eq!(k.key, Some(16));
    }

    #[test]
    fn refuses_bad_options() {
        let e =
            |kind, kv: &[(&str, &str)]| TunnelConfig::from_options(kind, &opts(kv)).unwrap_err();
        assert_eq!(
            e(TunnelKind::Vxlan, &[]),
            ConfigError::NoRemote(TunnelKind::Vxlan)
        );
        assert!(matches!(
            e(TunnelKind::Vxlan, &[("remote_ip", "nope")]),
            ConfigError::BadValue { .. }
        ));
        assert!(matches!(
            e(TunnelKind::Vxlan, &[("remote_ip", "0.0.0.0")]),
            ConfigError::BadValue { .. }
        ));
        assert!(matches!(
            e(
                TunnelKind::Vxlan,
                &[("remote_ip", "1.1.1.1"), ("key", "16777216")]
            ),
            ConfigError::BadValue { .. }
        ));
        assert!(matches!(
            e(
                TunnelKind::Gre,
                &[("remote_ip", "1.1.1.1"), ("dst_port", "1")]
            ),
            ConfigError::BadValue { .. }
        ));
        assert!(matches!(
            e(TunnelKind::Vxlan, &[("remote_ip", "1.1.1.1"), ("ttl", "0")]),
            ConfigError::BadValue { .. }
        ));
        assert_eq!(
            e(
                TunnelKind::Vxlan,
                &[("remote_ip", "1.1.1.1"), ("remote_port", "1")]
            ),
            ConfigError::Unknown("remote_port".into())
        );
        assert_eq!(
            e(
                TunnelKind::Vxlan,
                &[("remote_ip", "1.1.1.1"), ("local_ip", "fd00::1")]
            ),
            ConfigError::MixedFamilies
        );
        // The messages name the problem.
        let msg = e(
            TunnelKind::Vxlan,
            &[("remote_ip", "1.1.1.1"), ("csum", "yes")],
        )
        .to_string();
        assert!(
            msg.contains("'csum'") && msg.contains("true or false"),
            "{msg}"
        );
    }
}
