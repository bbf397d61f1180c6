//! `vswitchd`'s command line and the defaults of DESIGN §4, resolved into a [`Config`].
//!
//! Parsing (clap) and resolution are separate: [`Config::resolve`] takes the parsed [`Cli`],
//! an environment lookup and "am I root", so every default and every refusal (a `tcp:`
//! listener on a non-loopback address without mutual TLS) is decided by a pure function
//! that tests drive directly. The default socket path is shared with `vswitch-ctl`, which
//! must find the daemon without being told where it is.

use fastpath::port::tap::TapIo;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};

/// Errors in the command line, found before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A `--listen` value is malformed.
    #[error("bad --listen '{0}': expected unix:PATH or tcp:HOST:PORT")]
    ListenSyntax(String),
    /// A `tcp:` host does not resolve.
    #[error("bad --listen '{addr}': cannot resolve host: {reason}")]
    Resolve { addr: String, reason: String },
    /// A `tcp:` listener would be reachable from other hosts without authentication.
    #[error(
        "refusing --listen {0}: a TCP listener on a non-loopback address needs mutual TLS (--tls-cert, --tls-key and --tls-client-ca)"
    )]
    TcpNeedsTls(String),
    /// Only some of the TLS files were given.
    #[error("--tls-cert, --tls-key and --tls-client-ca must be given together")]
    PartialTls,
    /// `--listen-group` names no group.
    #[error("bad --listen-group '{name}': {reason}")]
    Group { name: String, reason: String },
    /// No default location can be derived from the environment.
    #[error("cannot choose a default {what}: {why}; pass {flag}")]
    NoDefault {
        what: &'static str,
        why: &'static str,
        flag: &'static str,
    },
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `vswitchd` — the vswitch daemon. Runs in the foreground; stop with SIGTERM or SIGINT.
#[derive(Debug, Parser)]
#[command(name = "vswitchd", version, about, long_about = None)]
pub struct Cli {
    /// Config database [default: $VSWITCH_DB, else /var/lib/vswitch/conf.db as root, else
    /// $XDG_STATE_HOME/vswitch/conf.db]. Created on first start.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// gRPC listener, repeatable: unix:PATH or tcp:HOST:PORT [default: unix:/run/vswitch/vswitchd.sock
    /// as root, else unix:$XDG_RUNTIME_DIR/vswitch/vswitchd.sock]. tcp: on a non-loopback
    /// host needs --tls-cert, --tls-key and --tls-client-ca.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,
    /// Datapath threads.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub pmd_threads: u32,
    /// How TAP ports move frames: `syscall` (one readv/writev per frame) or `io_uring` (one
    /// io_uring_enter per batch; falls back to syscall where io_uring is unavailable).
    #[arg(long, value_name = "MODE", default_value = "io_uring", value_parser = clap::value_parser!(TapIo))]
    pub tap_io: TapIo,
    /// Serve Prometheus metrics over HTTP on HOST:PORT (path /metrics).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<SocketAddr>,
    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Group (name or number) given the unix sockets, so its members can use vswitch-ctl
    /// without root (the socket stays mode 0660; its directory must be searchable by them).
    #[arg(long, value_name = "NAME|GID")]
    pub listen_group: Option<String>,
    /// PEM server certificate for tcp: listeners.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s) that client certificates must chain to (clients must present one).
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// Take bridges and ports from this ovsdb-server's Open_vSwitch database and report
    /// back to it, as ovs-vswitchd does (`unix:PATH` or `tcp:IP:PORT`).
    #[arg(long, value_name = "unix:PATH|tcp:IP:PORT")]
    pub ovsdb: Option<ovsdb::Remote>,
}

/// Where to listen for gRPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket (created mode 0660, stale file replaced).
    Unix(PathBuf),
    /// A TCP address; `tls` says whether mutual TLS is used on it.
    Tcp { addr: SocketAddr, tls: bool },
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Unix(p) => write!(f, "unix:{}", p.display()),
            Listen::Tcp { addr, tls } => {
                write!(f, "tcp:{addr}{}", if *tls { " (mutual TLS)" } else { "" })
            }
        }
    }
}

/// Mutual-TLS material for TCP listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: PathBuf,
}

/// The resolved daemon configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub db: PathBuf,
    pub listen: Vec<Listen>,
    pub pmd_threads: u32,
    pub tap_io: TapIo,
    pub metrics: Option<SocketAddr>,
    pub log: String,
    pub log_format: LogFormat,
    pub tls: Option<TlsFiles>,
    /// Group id the unix sockets are given (`--listen-group`).
    pub listen_group: Option<u32>,
    pub ovsdb: Option<ovsdb::Remote>,
    /// Where the bridges' OpenFlow management sockets (`BRIDGE.mgmt`) live: the directory of
    /// `--ovsdb unix:PATH`, else of the first unix `--listen` socket (OVS's `OVS_RUNDIR`).
    pub rundir: PathBuf,
}

/// The default config database path (DESIGN §4).
pub fn default_db_path(
    env: &dyn Fn(&str) -> Option<String>,
    is_root: bool,
) -> Result<PathBuf, ConfigError> {
    if let Some(p) = env("VSWITCH_DB").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if is_root {
        return Ok(PathBuf::from("/var/lib/vswitch/conf.db"));
    }
    let state = match env("XDG_STATE_HOME").filter(|p| !p.is_empty()) {
        Some(s) => PathBuf::from(s),
        // The XDG base-directory default for XDG_STATE_HOME.
        None => match env("HOME").filter(|p| !p.is_empty()) {
            Some(home) => Path::new(&home).join(".local/state"),
            None => {
                return Err(ConfigError::NoDefault {
                    what: "config database",
                    why: "neither XDG_STATE_HOME nor HOME is set",
                    flag: "--db PATH",
                });
            }
        },
    };
    Ok(state.join("vswitch/conf.db"))
}

/// The daemon's default unix socket (DESIGN §4), also `vswitch-ctl`'s default server.
pub fn default_socket_path(
    env: &dyn Fn(&str) -> Option<String>,
    is_root: bool,
) -> Result<PathBuf, ConfigError> {
    if is_root {
        return Ok(PathBuf::from("/run/vswitch/vswitchd.sock"));
    }
    match env("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => Ok(Path::new(&dir).join("vswitch/vswitchd.sock")),
        None => Err(ConfigError::NoDefault {
            what: "socket",
            why: "XDG_RUNTIME_DIR is not set",
            flag: "--listen unix:PATH (vswitch-ctl: --server unix:PATH)",
        }),
    }
}

/// The process environment, for [`Config::resolve`] and the default paths.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Whether this process runs as root.
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Parses `unix:PATH` or `tcp:HOST:PORT` (HOST may be `[v6]`); TLS is decided later.
pub fn parse_listen(s: &str) -> Result<Listen, ConfigError> {
    if let Some(path) = s.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(ConfigError::ListenSyntax(s.to_owned()));
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    let Some(hostport) = s.strip_prefix("tcp:") else {
        return Err(ConfigError::ListenSyntax(s.to_owned()));
    };
    let Some((host, port)) = hostport.rsplit_once(':') else {
        return Err(ConfigError::ListenSyntax(s.to_owned()));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port
        .parse()
        .map_err(|_| ConfigError::ListenSyntax(s.to_owned()))?;
    if host.is_empty() {
        return Err(ConfigError::ListenSyntax(s.to_owned()));
    }
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| ConfigError::Resolve {
            addr: s.to_owned(),
            reason: e.to_string(),
        })?
        .next()
        .ok_or_else(|| ConfigError::Resolve {
            addr: s.to_owned(),
            reason: "no address".into(),
        })?;
    Ok(Listen::Tcp { addr, tls: false })
}

impl Config {
    /// Applies the defaults of DESIGN §4 and the TCP safety rule to a parsed command line.
    pub fn resolve(
        cli: Cli,
        env: &dyn Fn(&str) -> Option<String>,
        is_root: bool,
    ) -> Result<Config, ConfigError> {
        let tls = match (cli.tls_cert, cli.tls_key, cli.tls_client_ca) {
            (Some(cert), Some(key), Some(client_ca)) => Some(TlsFiles {
                cert,
                key,
                client_ca,
            }),
            (None, None, None) => None,
            _ => return Err(ConfigError::PartialTls),
        };
        let db = match cli.db {
            Some(db) => db,
            None => default_db_path(env, is_root)?,
        };
        let mut listen = Vec::new();
        for s in &cli.listen {
            listen.push(match parse_listen(s)? {
                Listen::Tcp { addr, .. } if tls.is_some() => Listen::Tcp { addr, tls: true },
                Listen::Tcp { addr, .. } if addr.ip().is_loopback() => {
                    Listen::Tcp { addr, tls: false }
                }
                Listen::Tcp { .. } => return Err(ConfigError::TcpNeedsTls(s.clone())),
                unix => unix,
            });
        }
        if listen.is_empty() {
            listen.push(Listen::Unix(default_socket_path(env, is_root)?));
        }
        let listen_group = cli.listen_group.as_deref().map(group_id).transpose()?;
        let rundir = rundir(cli.ovsdb.as_ref(), &listen, env, is_root)?;
        Ok(Config {
            rundir,
            db,
            listen,
            pmd_threads: cli.pmd_threads,
            tap_io: cli.tap_io,
            metrics: cli.metrics,
            log: cli.log,
            log_format: cli.log_format,
            tls,
            listen_group,
            ovsdb: cli.ovsdb,
        })
    }
}

/// The OpenFlow run directory (see [`Config::rundir`]); with only TCP listeners, the
/// directory of the default socket.
fn rundir(
    ovsdb: Option<&ovsdb::Remote>,
    listen: &[Listen],
    env: &dyn Fn(&str) -> Option<String>,
    is_root: bool,
) -> Result<PathBuf, ConfigError> {
    let dir_of = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Some(ovsdb::Remote::Unix(p)) = ovsdb {
        return Ok(dir_of(p));
    }
    if let Some(p) = listen.iter().find_map(|l| match l {
        Listen::Unix(p) => Some(p),
        Listen::Tcp { .. } => None,
    }) {
        return Ok(dir_of(p));
    }
    Ok(dir_of(&default_socket_path(env, is_root)?))
}

/// The id of group `name` (a number is taken as the id itself), looked up through NSS as
/// `chgrp` does.
pub fn group_id(name: &str) -> Result<u32, ConfigError> {
    let bad = |reason: &str| ConfigError::Group {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let cname = std::ffi::CString::new(name).map_err(|_| bad("contains a NUL byte"))?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // SAFETY: an all-zero `group` is a valid value for this plain C struct (null pointers,
        // zero id); getgrnam_r only writes into it.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: `cname` is NUL-terminated; `grp`, `buf` (with its true length) and `found`
        // are valid for writes for the duration of the call; the strings it stores point into
        // `buf`, which we do not read.
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut grp,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Err(bad("no such group")),
            0 => return Ok(grp.gr_gid),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            e => return Err(bad(&std::io::Error::from_raw_os_error(e).to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("vswitchd").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_as_root_and_as_user() {
        let none = env_of(&[]);
        let c = Config::resolve(cli(&[]), &none, true).unwrap();
        assert_eq!(c.db, Path::new("/var/lib/vswitch/conf.db"));
        assert_eq!(
            c.listen,
            [Listen::Unix("/run/vswitch/vswitchd.sock".into())]
        );
        assert_eq!(
            (c.pmd_threads, c.log.as_str(), c.log_format),
            (1, "info", LogFormat::Text)
        );

        let user = env_of(&[("XDG_RUNTIME_DIR", "/run/user/1000"), ("HOME", "/home/u")]);
        let c = Config::resolve(cli(&[]), &user, false).unwrap();
        assert_eq!(c.db, Path::new("/home/u/.local/state/vswitch/conf.db"));
        assert_eq!(
            c.listen,
            [Listen::Unix("/run/user/1000/vswitch/vswitchd.sock".into())]
        );

        let xdg = env_of(&[("XDG_STATE_HOME", "/st"), ("VSWITCH_DB", "")]);
        assert_eq!(
            default_db_path(&xdg, false).unwrap(),
            Path::new("/st/vswitch/conf.db")
        );
        let vdb = env_of(&[("VSWITCH_DB", "/x/y.db")]);
        assert_eq!(default_db_path(&vdb, true).unwrap(), Path::new("/x/y.db"));

        let err = Config::resolve(cli(&[]), &none, false).unwrap_err();
        assert!(err.to_string().contains("--db PATH"), "{err}");
    }

    #[test]
    fn rundir_follows_ovsdb_then_first_unix_listener() {
        let none = env_of(&[]);
        let c = Config::resolve(cli(&["--db", "/d"]), &none, true).unwrap();
        assert_eq!(c.rundir, PathBuf::from("/run/vswitch"));
        let args = [
            "--db",
            "/d",
            "--listen",
            "tcp:127.0.0.1:1",
            "--listen",
            "unix:/x/y.sock",
        ];
        let c = Config::resolve(cli(&args), &none, true).unwrap();
        assert_eq!(c.rundir, PathBuf::from("/x"));
        let args = [
            "--db",
            "/d",
            "--listen",
            "unix:/x/y.sock",
            "--ovsdb",
            "unix:/o/db.sock",
        ];
        let c = Config::resolve(cli(&args), &none, true).unwrap();
        assert_eq!(c.rundir, PathBuf::from("/o"));
    }

    #[test]
    fn listen_group_by_name_or_number() {
        let none = env_of(&[]);
        let c = Config::resolve(cli(&["--db", "/d"]), &none, true).unwrap();
        assert_eq!(c.listen_group, None);
        let c = Config::resolve(cli(&["--db", "/d", "--listen-group", "123"]), &none, true);
        assert_eq!(c.unwrap().listen_group, Some(123));
        // Group 0 is "root" on every Linux system.
        let c = Config::resolve(cli(&["--db", "/d", "--listen-group", "root"]), &none, true);
        assert_eq!(c.unwrap().listen_group, Some(0));
        let e = Config::resolve(
            cli(&["--db", "/d", "--listen-group", "op-no-such-group"]),
            &none,
            true,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad --listen-group 'op-no-such-group': no such group"
        );
    }

    #[test]
    fn listen_addresses() {
        let none = env_of(&[]);
        let c = Config::resolve(
            cli(&[
                "--db",
                "/d",
                "--listen",
                "unix:/tmp/s",
                "--listen",
                "tcp:127.0.0.1:6640",
                "--listen",
                "tcp:[::1]:1",
            ]),
            &none,
            false,
        )
        .unwrap();
        assert_eq!(
            c.listen,
            [
                Listen::Unix("/tmp/s".into()),
                Listen::Tcp {
                    addr: "127.0.0.1:6640".parse().unwrap(),
                    tls: false
                },
                Listen::Tcp {
                    addr: "[::1]:1".parse().unwrap(),
                    tls: false
                },
            ]
        );
        for bad in [
            "unix:",
            "tcp:1.2.3.4",
            "tcp::80",
            "tcp:1.2.3.4:x",
            "udp:1:2",
            "/tmp/s",
        ] {
            let err = parse_listen(bad).unwrap_err();
            assert!(matches!(err, ConfigError::ListenSyntax(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn non_loopback_tcp_needs_mutual_tls() {
        let none = env_of(&[]);
        let err = Config::resolve(
            cli(&["--db", "/d", "--listen", "tcp:0.0.0.0:6640"]),
            &none,
            true,
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::TcpNeedsTls(_)));
        assert!(
            err.to_string()
                .starts_with("refusing --listen tcp:0.0.0.0:6640"),
            "{err}"
        );
        let err = Config::resolve(
            cli(&[
                "--listen",
                "tcp:0.0.0.0:1",
                "--tls-cert",
                "c",
                "--tls-key",
                "k",
            ]),
            &none,
            true,
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::PartialTls));
        let c = Config::resolve(
            cli(&[
                "--listen",
                "tcp:0.0.0.0:1",
                "--tls-cert",
                "c",
                "--tls-key",
                "k",
                "--tls-client-ca",
                "ca",
            ]),
            &none,
            true,
        )
        .unwrap();
        assert_eq!(
            c.listen,
            [Listen::Tcp {
                addr: "0.0.0.0:1".parse().unwrap(),
                tls: true
            }]
        );
    }

    #[test]
    fn flags_are_validated_by_the_parser() {
        for bad in [
            &["--pmd-threads", "0"][..],
            &["--log-format", "xml"],
            &["--metrics", "nohost"],
        ] {
            let args = std::iter::once("vswitchd").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }
}
