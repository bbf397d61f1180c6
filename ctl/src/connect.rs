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
pub fn default_server() -> anyhow::Result<Server> {
    match std::env::var("VSWITCH_SERVER") {
        Ok(s) if !s.is_empty() => parse_server(&s).context("in $VSWITCH_SERVER"),
        _ => {
            let env = vswitchd::config::process_env;
            let path =
                vswitchd::config::default_socket_path(&env, vswitchd::config::running_as_root())?;
            Ok(Server::Unix(path))
        }
    }
}

/// Connects to the daemon.
pub async fn connect(server: &Server, tls: Option<&Tls>) -> anyhow::Result<Channel> {
    let unreachable = |e: tonic::transport::Error| {
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
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

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
}
