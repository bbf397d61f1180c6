//! Binding the gRPC listeners: unix sockets (directory, stale-socket removal, mode 0660,
//! group from `--listen-group` so its members can connect without root) and TCP.
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
    #[error("cannot create socket directory {path}")]
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
    /// The socket's group could not be set (`--listen-group`).
    #[error("cannot give {path} group {gid}")]
    Group {
        path: PathBuf,
        gid: u32,
        #[source]
        source: std::io::Error,
    },
    /// Binding failed.
    #[error("cannot listen on {what}")]
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

/// Binds one configured listener; a unix socket gets group `group` if given.
pub async fn bind(listen: &Listen, group: Option<u32>) -> Result<Bound, ListenError> {
    match listen {
        Listen::Unix(path) => Ok(Bound::Unix {
            listener: bind_unix(path, group)?,
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

fn bind_unix(path: &Path, group: Option<u32>) -> Result<UnixListener, ListenError> {
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
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(|source| ListenError::Group {
            path: path.to_path_buf(),
            gid,
            source,
        })?;
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unix_socket_mode_stale_and_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/d.sock");
        let l = bind_unix(&path, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, SOCKET_MODE);
        // Live listener: refused.
        assert!(matches!(bind_unix(&path, None), Err(ListenError::InUse(_))));
        drop(l);
        // The file remains but nobody answers: replaced.
        assert!(path.exists());
        let _l = bind_unix(&path, None).unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            bind_unix(&file, None),
            Err(ListenError::NotSocket(_))
        ));
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }

    #[tokio::test]
    async fn listen_group_is_given_to_the_socket() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sock");
        // Our own primary group: allowed without privileges.
        // SAFETY: getegid has no preconditions and cannot fail.
        let gid = unsafe { libc::getegid() };
        let _l = bind_unix(&path, Some(gid)).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.gid(), gid);
        assert_eq!(meta.permissions().mode() & 0o777, SOCKET_MODE);
    }
}
