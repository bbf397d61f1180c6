//! Reaching the daemon: `unix:PATH` (or a bare path), or `tcp:HOST:PORT` with optional
//! mutual TLS.
//!
//! The connection is made eagerly, before the command's one RPC, so "daemon not running"
//! is reported as such, naming the address tried, rather than as a failed call.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use hyper_util::rt::TokioIo;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri};

/// Where the daemon listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Server {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Server::Unix(p) => write!(f, "unix:{}", p.display()),
            Server::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Server::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
        }
    }
}

/// Client TLS files.
#[derive(Clone, Debug)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// Parses `--server`.
pub fn parse_server(s: &str) -> anyhow::Result<Server> {
    if let Some(path) = s.strip_prefix("unix:") {
        anyhow::ensure!(!path.is_empty(), "bad --server '{s}': empty socket path");
        return Ok(Server::Unix(path.into()));
    }
    if let Some(hp) = s.strip_prefix("tcp:") {
        let (host, port) = hp
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("bad --server '{s}': expected tcp:HOST:PORT"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port
            .parse()
            .map_err(|_| anyhow!("bad --server '{s}': port '{port}' is not a number"))?;
        anyhow::ensure!(!host.is_empty(), "bad --server '{s}': empty host");
        return Ok(Server::Tcp {
            host: host.to_owned(),
            port,
        });
    }
    if s.starts_with('/') || s.starts_with('.') {
        return Ok(Server::Unix(s.into()));
    }
    Err(anyhow!(
        "bad --server '{s}': expected unix:PATH, tcp:HOST:PORT or a socket path"
    ))
}

/// The `--server` default: `$VSWITCH_SERVER`, else the daemon's default socket.
///
/// As root that is the system socket. Otherwise a user's own daemon
/// (`$XDG_RUNTIME_DIR/vswitch/vswitchd.sock`) is preferred when its socket exists, and the
/// system socket is tried next: an operator in the socket's group can use the system daemon
/// without naming it.
pub fn default_server() -> anyhow::Result<Server> {
    if let Ok(s) = std::env::var("VSWITCH_SERVER")
        && !s.is_empty()
    {
        return parse_server(&s).context("in $VSWITCH_SERVER");
    }
    let env = vswitchd::config::process_env;
    let system = vswitchd::config::default_socket_path(&env, true)?;
    if vswitchd::config::running_as_root() {
        return Ok(Server::Unix(system));
    }
    let user = vswitchd::config::default_socket_path(&env, false).ok();
    Ok(Server::Unix(pick_socket(user, system, |p| {
        std::fs::symlink_metadata(p).is_ok()
    })))
}

/// The user's socket if it exists, else the system socket if it exists, else the user's
/// socket when there is one (so "not running" names the address a user's daemon would use).
fn pick_socket(
    user: Option<PathBuf>,
    system: PathBuf,
    exists: impl Fn(&std::path::Path) -> bool,
) -> PathBuf {
    match user {
        Some(u) if exists(&u) => u,
        _ if exists(&system) => system,
        Some(u) => u,
        None => system,
    }
}

/// True if the error's chain holds an I/O "permission denied".
fn permission_denied(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::PermissionDenied
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Connects to the daemon.
pub async fn connect(server: &Server, tls: Option<&Tls>) -> anyhow::Result<Channel> {
    let unreachable = |e: tonic::transport::Error| {
        if permission_denied(&e) {
            return anyhow!(
                "permission denied on {server}: vswitchd is running, but this user may not use \
                 its socket; run as root, or join the socket's group (vswitchd --listen-group)"
            );
        }
        anyhow!(
            "cannot reach vswitchd at {server}: {} (is vswitchd running?)",
            error_chain(&e)
        )
    };
    match server {
        Server::Unix(path) => {
            anyhow::ensure!(tls.is_none(), "--tls-* options are for tcp: servers only");
            let path = path.clone();
            // The URI is required by the API but unused: the connector ignores it.
            Endpoint::from_static("http://vswitchd.invalid")
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(
                            tokio::net::UnixStream::connect(path).await?,
                        ))
                    }
                }))
                .await
                .map_err(unreachable)
        }
        Server::Tcp { host, port } => {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let authority = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            let mut ep = Endpoint::from_shared(format!("{scheme}://{authority}:{port}"))
                .with_context(|| format!("bad server address {server}"))?;
            if let Some(tls) = tls {
                let read = |p: &PathBuf| {
                    std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
                };
                let config = ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(read(&tls.ca)?))
                    .identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?))
                    .domain_name(host.clone());
                ep = ep.tls_config(config).context("TLS set-up failed")?;
            }
            ep.connect().await.map_err(unreachable)
        }
    }
}

/// An error and its causes, joined (tonic's own Display says only "transport error").
pub use vswitchd::report::chain as error_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(
            parse_server("unix:/run/x.sock").unwrap(),
            Server::Unix("/run/x.sock".into())
        );
        assert_eq!(
            parse_server("/tmp/s").unwrap(),
            Server::Unix("/tmp/s".into())
        );
        assert_eq!(
            parse_server("tcp:127.0.0.1:6640").unwrap(),
            Server::Tcp {
                host: "127.0.0.1".into(),
                port: 6640
            }
        );
        assert_eq!(
            parse_server("tcp:[::1]:1").unwrap().to_string(),
            "tcp:[::1]:1"
        );
        for bad in ["unix:", "tcp:1.2.3.4", "tcp:h:x", "tcp::1", "br0"] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn non_root_default_prefers_an_existing_user_socket_then_the_system_one() {
        let user = Some(PathBuf::from("/u/vswitchd.sock"));
        let sys = PathBuf::from("/run/vswitch/vswitchd.sock");
        let only = |p: &'static str| move |q: &std::path::Path| q == std::path::Path::new(p);
        assert_eq!(
            pick_socket(user.clone(), sys.clone(), only("/u/vswitchd.sock")),
            PathBuf::from("/u/vswitchd.sock")
        );
        assert_eq!(
            pick_socket(
                user.clone(),
                sys.clone(),
                only("/run/vswitch/vswitchd.sock")
            ),
            sys
        );
        assert_eq!(
            pick_socket(user.clone(), sys.clone(), |_| false),
            PathBuf::from("/u/vswitchd.sock")
        );
        assert_eq!(pick_socket(None, sys.clone(), |_| false), sys);
    }

    #[test]
    fn permission_denied_is_found_in_the_chain() {
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(permission_denied(&io));
        let other = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(!permission_denied(&other));
    }
}
