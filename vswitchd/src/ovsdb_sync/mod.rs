//! `--ovsdb`: the switch configured from a real ovsdb-server's Open_vSwitch database, as
//! ovs-vswitchd is (DESIGN §4.1).
//!
//! The [`ovsdb`] client keeps a replica of the database. On every change, and every few
//! seconds for counters, one round runs: read what the database asks for
//! ([`plan::Desired`]), make the switch match it through the same `Switch` calls the gRPC API
//! uses ([`plan::converge`], and `other_config:flow-limit` through
//! [`plan::converge_settings`]), then write back what ovs-vswitchd reports ([`report`]): ofports,
//! errors, link states, statistics, and `cur_cfg = next_cfg`, which is what a waiting
//! `ovs-vsctl` returns on. Rounds are idempotent: a round with nothing to change writes
//! nothing (the write-back only sends columns whose value differs), so the loop settles.
//!
//! The database is the source of truth for bridges and ports; the switch's own store still
//! records them (so ofports stay stable across a daemon restart) and keeps the flow tables,
//! which OVSDB does not hold. A round runs on the blocking pool with the switch locked; the
//! replica is cloned first so the client never waits on the switch.

mod mirror;
pub mod plan;
pub mod report;

use std::sync::Arc;
use std::time::Duration;

use ovsdb::{Client, ClientConfig, Remote};

use crate::server::Shared;

/// How often interface counters are written.
pub const STATS_INTERVAL: Duration = Duration::from_secs(5);

/// Follows the database at `remote` until the task is dropped.
pub async fn run(remote: Remote, shared: Arc<Shared>) {
    tracing::info!(%remote, "following the Open_vSwitch database");
    let client = Client::start(ClientConfig::vswitch(remote));
    let mut changes = client.subscribe();
    let mut stats = tokio::time::interval(STATS_INTERVAL);
    let mut applied_seqno = 0;
    loop {
        let write_stats = tokio::select! {
            r = changes.changed() => {
                if r.is_err() {
                    return;
                }
                false
            }
            _ = stats.tick() => true,
        };
        let status = client.status();
        if !status.connected || (!write_stats && status.seqno == applied_seqno) {
            continue;
        }
        let Some(replica) = client.replica().clone() else {
            continue;
        };
        applied_seqno = status.seqno;
        let shared = Arc::clone(&shared);
        let round = tokio::task::spawn_blocking(move || {
            let cfg = replica.open_vswitch().map(|o| o.next_cfg()).unwrap_or(0);
            let want = plan::Desired::from_replica(&replica);
            shared.with_switch(|sw| {
                plan::converge_settings(sw, &want);
                let errors = plan::converge(sw, &want);
                for (iface, why) in want.errors.iter().chain(&errors) {
                    tracing::warn!(%iface, error = %why, "ovsdb: interface not applied");
                }
                report::write_back(&replica, sw, &want, &errors, cfg, write_stats).build()
            })
        })
        .await;
        let ops = match round {
            Ok(ops) => ops,
            Err(e) => {
                tracing::error!(error = %e, "ovsdb: configuration round failed");
                continue;
            }
        };
        if ops.is_empty() {
            continue;
        }
        if let Err(e) = client.transact(ops).await {
            tracing::warn!(error = %e, "ovsdb: write-back failed; retrying next round");
            applied_seqno = 0;
        }
    }
}
