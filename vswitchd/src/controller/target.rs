//! Controller targets as `ovs-vsctl set-controller` spells them: `tcp:IP[:PORT]` and
//! `unix:PATH` (the switch connects: active), `ptcp:PORT[:IP]` and `punix:PATH` (the switch
//! listens: passive). The default port is OpenFlow's 6653; a passive TCP target without an
//! address listens on every IPv4 address, as in OVS.
//!
//! Parsing is pure and canonical: [`Target`]'s `Display` gives back the form the store keeps
//! and `get-controller` prints, so `tcp:127.0.0.1` reads back as `tcp:127.0.0.1:6653`.
//! IPv6 addresses go in brackets (`tcp:[::1]:6653`, `ptcp:6653:[::1]`). Paths must be
//! absolute: the daemon's working directory is no place a user can see.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// OpenFlow's IANA port.
pub const DEFAULT_PORT: u16 = 6653;
/// Most controller targets one bridge may have.
pub const MAX_TARGETS: usize = 16;

/// Why a controller target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error(
        "controller target '{0}' has an unknown method; use tcp:IP[:PORT], unix:PATH, ptcp:PORT[:IP] or punix:PATH"
    )]
    Method(String),
    #[error("controller target '{target}': '{what}' is not an IP address")]
    Address { target: String, what: String },
    #[error("controller target '{target}': '{what}' is not a TCP port (1-65535)")]
    Port { target: String, what: String },
    #[error("controller target '{0}' needs an absolute path")]
    Path(String),
    #[error(
        "controller target '{0}' would listen on a non-loopback address without TLS; OpenFlow \
         over TLS is not supported, so give a loopback address (ptcp:PORT:127.0.0.1)"
    )]
    NeedsTls(String),
    #[error("controller target '{0}' is given twice")]
    Duplicate(String),
    #[error("a bridge has at most {MAX_TARGETS} controller targets ({0} given)")]
    TooMany(usize),
}

/// One controller target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Connect to a controller over TCP.
    Tcp(SocketAddr),
    /// Connect to a controller's unix socket.
    Unix(PathBuf),
    /// Listen on TCP for controllers.
    Ptcp(SocketAddr),
    /// Listen on a unix socket for controllers.
    Punix(PathBuf),
}

impl Target {
    /// Whether the switch connects (active) rather than listens.
    pub fn is_active(&self) -> bool {
        matches!(self, Target::Tcp(_) | Target::Unix(_))
    }
}

fn ip(target: &str, s: &str) -> Result<IpAddr, TargetError> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    inner.parse().map_err(|_| TargetError::Address {
        target: target.into(),
        what: s.into(),
    })
}

fn port(target: &str, s: &str, zero_ok: bool) -> Result<u16, TargetError> {
    match s.parse::<u16>() {
        Ok(p) if p != 0 || zero_ok => Ok(p),
        _ => Err(TargetError::Port {
            target: target.into(),
            what: s.into(),
        }),
    }
}

/// Splits `HOST[:PORT]` where HOST may be a bracketed IPv6 address.
fn host_port(s: &str) -> (&str, Option<&str>) {
    if s.starts_with('[') {
        match s.find(']') {
            // Anything after the bracket but a port is kept in the host, so it fails there.
            Some(i) if s.len() == i + 1 || s[i + 1..].starts_with(':') => {
                (&s[..=i], s[i + 1..].strip_prefix(':'))
            }
            Some(_) => (s, None),
            None => (s, None),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    }
}

fn path(target: &str, s: &str) -> Result<PathBuf, TargetError> {
    let p = PathBuf::from(s);
    if !p.is_absolute() || s.contains('\0') {
        return Err(TargetError::Path(target.into()));
    }
    Ok(p)
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Target, TargetError> {
        let (method, rest) = s
            .split_once(':')
            .ok_or_else(|| TargetError::Method(s.into()))?;
        match method {
            "tcp" => {
                let (h, p) = host_port(rest);
                let p = p.map_or(Ok(DEFAULT_PORT), |p| port(s, p, false))?;
                Ok(Target::Tcp(SocketAddr::new(ip(s, h)?, p)))
            }
            "ptcp" => {
                let (p, h) = match rest.split_once(':') {
                    Some((p, h)) => (p, Some(h)),
                    None => (rest, None),
                };
                let p = if p.is_empty() {
                    DEFAULT_PORT
                } else {
                    port(s, p, true)?
                };
                let h = h.map_or(Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), |h| ip(s, h))?;
                if !h.is_loopback() {
                    return Err(TargetError::NeedsTls(s.into()));
                }
                Ok(Target::Ptcp(SocketAddr::new(h, p)))
            }
            "unix" => Ok(Target::Unix(path(s, rest)?)),
            "punix" => Ok(Target::Punix(path(s, rest)?)),
            _ => Err(TargetError::Method(s.into())),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = |a: &SocketAddr| match a.ip() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        match self {
            Target::Tcp(a) => write!(f, "tcp:{}:{}", host(a), a.port()),
            Target::Ptcp(a) => write!(f, "ptcp:{}:{}", a.port(), host(a)),
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
            Target::Punix(p) => write!(f, "punix:{}", p.display()),
        }
    }
}

/// Parses a bridge's whole target list: each valid, none twice, at most [`MAX_TARGETS`].
pub fn parse_all(targets: &[String]) -> Result<Vec<Target>, TargetError> {
    if targets.len() > MAX_TARGETS {
        return Err(TargetError::TooMany(targets.len()));
    }
    let mut out: Vec<Target> = Vec::with_capacity(targets.len());
    for t in targets {
        let parsed: Target = t.trim().parse()?;
        if out.contains(&parsed) {
            return Err(TargetError::Duplicate(t.clone()));
        }
        out.push(parsed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        s.parse::<Target>().unwrap().to_string()
    }

    #[test]
    fn targets_parse_to_their_canonical_form() {
        assert_eq!(canon("tcp:127.0.0.1"), "tcp:127.0.0.1:6653");
        assert_eq!(canon("tcp:10.0.0.1:6633"), "tcp:10.0.0.1:6633");
        assert_eq!(canon("tcp:[::1]:7000"), "tcp:[::1]:7000");
        assert_eq!(canon("tcp:[::1]"), "tcp:[::1]:6653");
        assert_eq!(canon("ptcp:6653:127.0.0.1"), "ptcp:6653:127.0.0.1");
        assert_eq!(canon("ptcp::127.0.0.1"), "ptcp:6653:127.0.0.1");
        assert_eq!(canon("ptcp:0:[::1]"), "ptcp:0:[::1]");
        assert_eq!(canon("unix:/run/c.sock"), "unix:/run/c.sock");
        assert_eq!(canon("punix:/run/br0.ctl"), "punix:/run/br0.ctl");
        assert!("tcp:127.0.0.1".parse::<Target>().unwrap().is_active());
        assert!(!"punix:/x".parse::<Target>().unwrap().is_active());
    }

    #[test]
    fn bad_targets_are_refused_with_the_reason() {
        let e = |s: &str| s.parse::<Target>().unwrap_err().to_string();
        assert!(e("ssl:1.2.3.4").contains("unknown method"));
        assert!(e("tcp").contains("unknown method"));
        assert!(e("tcp:example.com").contains("'example.com' is not an IP address"));
        assert!(e("tcp:1.2.3.4:0").contains("'0' is not a TCP port"));
        assert!(e("tcp:1.2.3.4:70000").contains("'70000' is not a TCP port"));
        assert!(e("unix:relative.sock").contains("absolute path"));
        // A passive TCP listener off loopback would need TLS (as the gRPC listener does).
        assert!(e("ptcp:6653").contains("without TLS"));
        assert!(e("ptcp:6653:10.0.0.1").contains("without TLS"));
        assert!(e("tcp:[::1]x").contains("'[::1]x' is not an IP address"));
        let dup = parse_all(&["tcp:127.0.0.1".into(), "tcp:127.0.0.1:6653".into()]);
        assert!(matches!(dup, Err(TargetError::Duplicate(_))));
        let many: Vec<String> = (1..=17).map(|p| format!("tcp:127.0.0.1:{p}")).collect();
        assert_eq!(parse_all(&many), Err(TargetError::TooMany(17)));
    }
}
