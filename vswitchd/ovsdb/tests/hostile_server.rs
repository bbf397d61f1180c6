//! A hostile server: a proxy in front of a real ovsdb-server that misbehaves on its first
//! connections (an endless oversized message, bytes that are not JSON, JSON that is not
//! JSON-RPC, an update that does not fit the replica) and then relays faithfully. The client
//! must close each bad session, reconnect, and end with a correct replica, never crashing.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{OdServer, missing_ovs, wait_for, wait_status};
use ovsdb::ops::Operation;
use ovsdb::{Client, ClientConfig, Remote};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

const MAX_MESSAGE: usize = 1 << 20;

/// Reads until the client goes away.
async fn hold(mut c: UnixStream) {
    let mut buf = [0u8; 4096];
    while matches!(c.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Relays both ways; on `inject`, sends the client an update that names a row by a key
/// that is not a UUID (the server is idle then, so it lands between two messages).
async fn relay(c: UnixStream, real: PathBuf, inject: Option<Arc<Notify>>) {
    let Ok(s) = UnixStream::connect(&real).await else {
        return;
    };
    let (mut cr, mut cw) = c.into_split();
    let (mut sr, mut sw) = s.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
    });
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            n = sr.read(&mut buf) => match n {
                Ok(n) if n > 0 => if cw.write_all(&buf[..n]).await.is_err() { break },
                _ => break,
            },
            _ = async { match &inject { Some(i) => i.notified().await, None => std::future::pending().await } } => {
                let bad = br#"{"id":null,"method":"update3","params":["vswitch","00000000-0000-0000-0000-000000000000",{"Bridge":{"not-a-uuid":{"insert":{}}}}]}"#;
                if cw.write_all(bad).await.is_err() { break }
            }
        }
    }
    up.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_messages_close_the_session_and_it_reconnects() {
    if missing_ovs().is_some() {
        return;
    }
    let server = OdServer::start();
    server.vsctl(&["add-br", "br0"]);
    let proxy_path = server.dir.path().join("proxy.sock");
    let listener = UnixListener::bind(&proxy_path).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let inject = Arc::new(Notify::new());
    let real = server.sock();
    let proxy = {
        let accepted = accepted.clone();
        let inject = inject.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut c, _)) = listener.accept().await else {
                    return;
                };
                let n = accepted.fetch_add(1, Ordering::SeqCst);
                let real = real.clone();
                let inject = inject.clone();
                tokio::spawn(async move {
                    match n {
                        0 => {
                            // An object that never ends, past the bound.
                            let _ = c
                                .write_all(br#"{"id":null,"method":"update3","params":[""#)
                                .await;
                            let chunk = vec![b'a'; 64 * 1024];
                            for _ in 0..(2 * MAX_MESSAGE / chunk.len()) {
                                if c.write_all(&chunk).await.is_err() {
                                    return;
                                }
                            }
                            hold(c).await;
                        }
                        1 => {
                            let _ = c.write_all(b"}}not json at all").await;
                            hold(c).await;
                        }
                        2 => {
                            let _ = c.write_all(br#"{"jsonrpc": "2.0", "foo": 1}"#).await;
                            hold(c).await;
                        }
                        3 => relay(c, real, Some(inject)).await,
                        _ => relay(c, real, None).await,
                    }
                });
            }
        })
    };

    let mut config = ClientConfig::vswitch(Remote::Unix(proxy_path));
    config.max_message = MAX_MESSAGE;
    config.backoff_min = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(200);
    let client = Client::start(config);

    wait_for(&client, "br0 through the relay", |r| {
        r.bridge_by_name("br0").is_some()
    })
    .await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        4,
        "three bad sessions, then the relay"
    );
    inject.notify_one();
    wait_status(&client, "a session after the bad update", |s| {
        s.connected && s.sessions == 2
    })
    .await;
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
    assert!(
        client
            .replica()
            .as_ref()
            .unwrap()
            .bridge_by_name("br0")
            .is_some()
    );

    // The session after all that is fully working.
    server.vsctl(&["add-br", "br1"]);
    wait_for(&client, "br1", |r| r.bridge_by_name("br1").is_some()).await;
    client
        .transact(vec![Operation::Comment("still here".into())])
        .await
        .unwrap();

    let errors = client.status().recent_errors;
    let seen = |needle: &str| errors.iter().any(|e| e.contains(needle));
    for needle in [
        "longer than the 1048576-byte limit",
        "outside a JSON object",
        "neither a method nor a result",
        "row key",
    ] {
        assert!(
            seen(needle),
            "no session ended with {needle:?}: {errors:#?}"
        );
    }
    proxy.abort();
}
