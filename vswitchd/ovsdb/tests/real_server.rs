//! The client against a real ovsdb-server (OVS 3.1's, vswitch.ovsschema): the replica follows
//! what ovs-vsctl writes, write-back transactions land where ovs-vsctl reads them, and a
//! server restart costs neither the replica nor the session.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{OdServer, missing_ovs, wait_for, wait_status};
use ovsdb::ops::{Mutation, Mutator, OpResult, Operation};
use ovsdb::txn::{InterfaceState, SystemInfo, TxnBuilder};
use ovsdb::{Atom, Client, ClientConfig, Datum, Remote};

fn client_for(server: &OdServer) -> Client {
    let remote: Remote = server.remote().parse().unwrap();
    Client::start(ClientConfig::vswitch(remote))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_follows_ovs_vsctl_and_write_back_lands() {
    if missing_ovs().is_some() {
        return;
    }
    let server = OdServer::start();
    let client = client_for(&server);
    wait_for(&client, "the Open_vSwitch row", |r| {
        r.open_vswitch().is_some()
    })
    .await;

    server.vsctl(&[
        "add-br",
        "br0",
        "--",
        "add-port",
        "br0",
        "t1",
        "--",
        "set",
        "Interface",
        "t1",
        "type=tap",
        "ofport_request=5",
        "--",
        "set",
        "Port",
        "t1",
        "tag=10",
        "--",
        "set",
        "Bridge",
        "br0",
        "fail_mode=secure",
        "other_config:flow-limit=1000",
        "external_ids:owner=od",
    ]);
    server.vsctl(&[
        "add-port",
        "br0",
        "p2",
        "trunks=1,2,3",
        "--",
        "set",
        "Interface",
        "p2",
        "type=vxlan",
        "options:remote_ip=192.0.2.1",
        "options:key=flow",
    ]);
    wait_for(&client, "br0 with t1 and p2", |r| {
        r.bridge_by_name("br0")
            .is_some_and(|b| b.ports().len() == 3)
    })
    .await;
    {
        let g = client.replica();
        let r = g.as_ref().unwrap();
        let ovs = r.open_vswitch().unwrap();
        let br = r.bridge_by_name("br0").unwrap();
        assert_eq!(ovs.bridges(), vec![br.uuid()]);
        assert_eq!(br.fail_mode(), Some("secure"));
        assert_eq!(br.other_config().get("flow-limit"), Some(&"1000"));
        assert_eq!(br.external_ids().get("owner"), Some(&"od"));
        let mut names: Vec<_> = br
            .ports()
            .iter()
            .map(|p| r.port(*p).unwrap().name())
            .collect();
        names.sort();
        assert_eq!(names, ["br0", "p2", "t1"]);
        let t1 = r.interface_by_name("t1").unwrap();
        assert_eq!(
            (t1.kind(), t1.ofport_request(), t1.ofport()),
            ("tap", Some(5), None)
        );
        let t1_port = r.ports().find(|p| p.name() == "t1").unwrap();
        assert_eq!(t1_port.tag(), Some(10));
        assert_eq!(t1_port.interfaces(), vec![t1.uuid()]);
        let p2_port = r.ports().find(|p| p.name() == "p2").unwrap();
        assert_eq!(p2_port.trunks(), vec![1, 2, 3]);
        let p2 = r.interface_by_name("p2").unwrap();
        assert_eq!(p2.kind(), "vxlan");
        assert_eq!(p2.options().get("remote_ip"), Some(&"192.0.2.1"));
        assert_eq!(r.interface_by_name("br0").unwrap().kind(), "internal");
    }

    // Changes and deletes: modify diffs on optional columns, maps and sets.
    server.vsctl(&[
        "set",
        "Interface",
        "t1",
        "ofport_request=7",
        "--",
        "remove",
        "Port",
        "t1",
        "tag",
        "10",
        "--",
        "remove",
        "Bridge",
        "br0",
        "other_config",
        "flow-limit",
        "--",
        "del-port",
        "br0",
        "p2",
        "--",
        "set-controller",
        "br0",
        "tcp:127.0.0.1:6653",
    ]);
    wait_for(&client, "the second change", |r| {
        r.bridge_by_name("br0")
            .is_some_and(|b| b.ports().len() == 2 && !b.controller().is_empty())
    })
    .await;
    {
        let g = client.replica();
        let r = g.as_ref().unwrap();
        let br = r.bridge_by_name("br0").unwrap();
        assert!(br.other_config().is_empty());
        assert_eq!(
            r.controller(br.controller()[0]).unwrap().target(),
            "tcp:127.0.0.1:6653"
        );
        assert_eq!(r.interface_by_name("t1").unwrap().ofport_request(), Some(7));
        assert_eq!(r.ports().find(|p| p.name() == "t1").unwrap().tag(), None);
        assert!(r.interface_by_name("p2").is_none(), "deleted with its port");
        assert_eq!(r.ports().count(), 2);
    }

    // What ovs-vsctl does without --no-wait: bump next_cfg (a mutate), then wait for
    // cur_cfg to follow.
    let bump = vec![Operation::Mutate {
        table: "Open_vSwitch".into(),
        conditions: vec![],
        mutations: vec![Mutation::new(
            "next_cfg",
            Mutator::Add,
            Datum::one(Atom::Integer(1)),
        )],
    }];
    assert_eq!(
        client.transact(bump).await.unwrap(),
        vec![OpResult::Count(1)]
    );

    // Write-back, as the switch does it; read back with ovs-vsctl.
    let ops = {
        let g = client.replica();
        let r = g.as_ref().unwrap();
        let mut t = TxnBuilder::new();
        let next = r.open_vswitch().unwrap().next_cfg();
        t.cur_cfg(r, next);
        let t1 = r.interface_by_name("t1").unwrap().uuid();
        t.interface_state(
            r,
            t1,
            &InterfaceState {
                ofport: Some(7),
                admin_state: Some("up"),
                link_state: Some("down"),
                mtu: Some(1500),
                status: BTreeMap::from([("driver_name".into(), "tun".into())]),
                ..Default::default()
            },
        );
        t.interface_statistics(t1, &BTreeMap::from([("rx_packets".into(), 12)]));
        t.system_info(
            r,
            &SystemInfo {
                ovs_version: "vswitch-0.1.0".into(),
                iface_types: vec!["internal".into(), "tap".into()],
                datapath_types: vec!["netdev".into(), "system".into()],
                ..Default::default()
            },
        );
        t.datapath(
            r,
            "system",
            "vswitch-0.1.0",
            &BTreeMap::from([("ct_zero_snat".into(), "true".into())]),
        );
        t.op(Operation::Comment("vswitch write-back test".into()));
        t.build()
    };
    let results = client.transact(ops).await.unwrap();
    assert!(matches!(results[0], OpResult::Inserted(_)), "{results:?}");
    // The reply follows the update, so the replica already shows the write.
    {
        let g = client.replica();
        let r = g.as_ref().unwrap();
        let ovs = r.open_vswitch().unwrap();
        assert_eq!((ovs.cur_cfg(), ovs.next_cfg()), (1, 1));
        assert_eq!(r.interface_by_name("t1").unwrap().ofport(), Some(7));
        let dp = ovs.datapaths()["system"];
        assert_eq!(
            r.datapath(dp).unwrap().capabilities().get("ct_zero_snat"),
            Some(&"true")
        );
    }
    assert_eq!(server.vsctl(&["get", "Interface", "t1", "ofport"]), "7");
    assert_eq!(
        server.vsctl(&["get", "Interface", "t1", "link_state"]),
        "down"
    );
    assert_eq!(
        server.vsctl(&["get", "Interface", "t1", "statistics:rx_packets"]),
        "12"
    );
    assert_eq!(
        server.vsctl(&["get", "Open_vSwitch", ".", "ovs_version"]),
        "vswitch-0.1.0"
    );
    assert_eq!(
        server.vsctl(&["get", "Open_vSwitch", ".", "datapath_types"]),
        "[netdev, system]"
    );
    let caps = server.vsctl(&["--columns=capabilities", "list", "Datapath"]);
    assert!(caps.contains("ct_zero_snat=\"true\""), "{caps}");

    // A write the server refuses comes back as an error naming why; nothing changes.
    let bad = vec![Operation::Update {
        table: "Interface".into(),
        conditions: vec![],
        row: BTreeMap::from([("ofport_request".into(), Datum::one(Atom::Integer(70000)))]),
    }];
    let err = client.transact(bad).await.unwrap_err().to_string();
    assert!(err.contains("constraint violation"), "{err}");
    assert_eq!(
        server.vsctl(&["get", "Interface", "t1", "ofport_request"]),
        "7"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_server_restart_without_losing_state() {
    if missing_ovs().is_some() {
        return;
    }
    let mut server = OdServer::start();
    server.vsctl(&[
        "add-br",
        "br0",
        "--",
        "set",
        "Bridge",
        "br0",
        "external_ids:k=v",
    ]);
    let mut config = ClientConfig::vswitch(server.remote().parse().unwrap());
    config.backoff_max = Duration::from_millis(400);
    let client = Client::start(config);
    wait_for(&client, "br0", |r| r.bridge_by_name("br0").is_some()).await;
    assert_eq!(client.status().sessions, 1);

    server.stop();
    wait_status(&client, "the session to end", |s| !s.connected).await;
    // While the server is away the replica keeps its last state.
    assert!(
        client
            .replica()
            .as_ref()
            .unwrap()
            .bridge_by_name("br0")
            .is_some()
    );
    let refused = client.transact(vec![Operation::Comment("x".into())]).await;
    assert!(refused.is_err(), "no transaction without a session");

    server.restart();
    wait_status(&client, "a second session", |s| {
        s.connected && s.sessions == 2
    })
    .await;
    {
        let g = client.replica();
        let r = g.as_ref().unwrap();
        let br = r
            .bridge_by_name("br0")
            .expect("br0 kept across the restart");
        assert_eq!(br.external_ids().get("k"), Some(&"v"));
        assert_eq!(r.bridges().count(), 1);
    }
    server.vsctl(&["add-br", "br1", "--", "del-br", "br0"]);
    wait_for(&client, "br1 and no br0", |r| {
        r.bridge_by_name("br1").is_some() && r.bridge_by_name("br0").is_none()
    })
    .await;
    let st = client.status();
    eprintln!(
        "after restart: sessions {}, resumed from last txn id {} (standalone ovsdb-server {} txn ids)",
        st.sessions,
        st.resumed,
        if st.last_txn_id.is_some() {
            "reports"
        } else {
            "does not report"
        }
    );
    // And a transaction works on the new session.
    client
        .transact(vec![Operation::Comment("after restart".into())])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_database_over_tcp() {
    if missing_ovs().is_some() {
        return;
    }
    let server = OdServer::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ctl = server.dir.path().join("ovsdb-server.ctl");
    let st = std::process::Command::new("ovs-appctl")
        .arg("-t")
        .arg(&ctl)
        .arg("ovsdb-server/add-remote")
        .arg(format!("ptcp:{port}:127.0.0.1"))
        .status()
        .unwrap();
    assert!(st.success(), "ovs-appctl add-remote");
    let remote: Remote = format!("tcp:127.0.0.1:{port}").parse().unwrap();
    let client = Client::start(ClientConfig::vswitch(remote));
    wait_for(&client, "the Open_vSwitch row over tcp", |r| {
        r.open_vswitch().is_some()
    })
    .await;
    server.vsctl(&["add-br", "br0"]);
    wait_for(&client, "br0 over tcp", |r| {
        r.bridge_by_name("br0").is_some()
    })
    .await;
    assert_eq!(client.status().sessions, 1);
}
