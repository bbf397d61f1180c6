//! Binding the gRPC listeners: unix sockets (directory, stale-socket removal, mode 0660) and
//! TCP.
//!
//! A leftover socket file from a daemon that died is removed, but a socket some live
//! process still answers on is not: starting a second daemon on the same socket must fail
//! loudly rather than silently steal the path. Anything at the path that is not a socket is
//! left alone and reported.

use std::future::Future;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};
use tonic::transport::server::Router;

use super::conn::{self, ConnLimits};

use crate::config::Listen;

/// Mode of the unix socket: owner and group may connect.
pub const SOCKET_MODE: u32 = 0o660;

/// Errors setting up a listener.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The socket's directory could not be created.
    #[error("cannot create socket directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process answers on the socket.
    #[error("{0} is in use by a running process (another vswitchd?)")]
    InUse(PathBuf),
    /// The path exists and is not a socket.
    #[error("{0} exists and is not a socket; not replacing it")]
    NotSocket(PathBuf),
    /// Binding failed.
    #[error("cannot listen on {what}: {source}")]
    Bind {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// A bound listener, ready to serve.
#[derive(Debug)]
pub enum Bound {
    Unix {
        listener: UnixListener,
        listen: Listen,
    },
    Tcp {
        listener: TcpListener,
        listen: Listen,
    },
}

impl Bound {
    /// What it listens on, for logs (for TCP port 0, the port actually bound).
    pub fn describe(&self) -> String {
        match self {
            Bound::Unix { listen, .. } => listen.to_string(),
            Bound::Tcp { listener, listen } => match (listener.local_addr(), listen) {
                (Ok(addr), Listen::Tcp { tls, .. }) => Listen::Tcp { addr, tls: *tls }.to_string(),
                _ => listen.to_string(),
            },
        }
    }

    /// The configured address.
    pub fn listen(&self) -> &Listen {
        match self {
            Bound::Unix { listen, .. } | Bound::Tcp { listen, .. } => listen,
        }
    }

    /// Serves `router` on this listener until `signal` resolves, accepting within `limits`
    /// (see [`conn`](super::conn)).
    pub async fn serve(
        self,
        router: Router,
        limits: ConnLimits,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        let what = self.describe();
        match self {
            Bound::Unix { listener, .. } => {
                router
                    .serve_with_incoming_shutdown(conn::incoming(listener, limits, what), signal)
                    .await
            }
            Bound::Tcp { listener, .. } => {
                router
                    .serve_with_incoming_shutdown(conn::incoming(listener, limits, what), signal)
                    .await
            }
        }
    }
}

/// Binds one configured listener.
pub async fn bind(listen: &Listen) -> Result<Bound, ListenError> {
    match listen {
        Listen::Unix(path) => Ok(Bound::Unix {
            listener: bind_unix(path)?,
            listen: listen.clone(),
        }),
        Listen::Tcp { addr, .. } => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ListenError::Bind {
                    what: listen.to_string(),
                    source,
                })?;
            Ok(Bound::Tcp {
                listener,
                listen: listen.clone(),
            })
        }
    }
}

fn bind_unix(path: &Path) -> Result<UnixListener, ListenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ListenError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ListenError::InUse(path.to_path_buf()));
            }
            // Nobody answers: a stale socket from a daemon that did not clean up.
            let _ = std::fs::remove_file(path);
        }
        Ok(_) => return Err(ListenError::NotSocket(path.to_path_buf())),
        Err(_) => {}
    }
    let bind_err = |source| ListenError::Bind {
        what: format!("unix:{}", path.display()),
        source,
    };
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(bind_err)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unix_socket_mode_stale_and_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/d.sock");
        let l = bind_unix(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, SOCKET_MODE);
        // Live listener: refused.
        assert!(matches!(bind_unix(&path), Err(ListenError::InUse(_))));
        drop(l);
        // The file remains but nobody answers: replaced.
        assert!(path.exists());
        let _l = bind_unix(&path).unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(bind_unix(&file), Err(ListenError::NotSocket(_))));
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }
}
