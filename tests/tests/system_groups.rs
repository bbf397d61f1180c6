//! OpenFlow groups with real traffic: the real `vswitchd` and `vswitch-ctl`, hosts in network
//! namespaces on veth pairs (`system` ports).
//!
//! - a select group spreads TCP connections from one client over two servers (both answering
//!   for the same address), every connection carrying data intact, both buckets used, and
//!   the group's bucket counters agreeing with what the servers accepted;
//! - a fast_failover group sends to its first bucket's port while that port is up, to the
//!   second when the watched port's link goes down, and back when it comes up.
//!
//! Namespaces and interfaces are named `vgr...`; guards remove them (and the daemon) even
//! when an assertion fails. Needs root and `ip`.

use std::time::Duration;
use vswitch_tests::netns::{require_root, run};
use vswitch_tests::system::{Attach, Bed, Host, mac, num};
use vswitch_tests::traffic::{UdpProbe, accept_within, exchange, tcp_connect, tcp_listen};

/// A host in namespace `vgr...` on a veth whose root end is a `system` port of the bridge.
fn host(bed: &mut Bed, cidr: &str, mac: &str) -> Host {
    bed.host_named(
        "vgr",
        "vgr",
        Attach::Veth { offload: false },
        cidr,
        mac,
        &[],
    )
}

const VIP: &str = "10.242.0.10";

/// A client and two servers that both own [`VIP`] (same address, same MAC), with static
/// neighbours so that no ARP has to cross the groups.
fn bed_with_servers() -> (Bed, Host, Host, Host) {
    let mut bed = Bed::start();
    bed.ok(&["set-fail-mode", &bed.br, "secure"]);
    let client = host(&mut bed, "10.242.0.1/24", &mac(1));
    let s1 = host(&mut bed, &format!("{VIP}/24"), &mac(10));
    let s2 = host(&mut bed, &format!("{VIP}/24"), &mac(10));
    client
        .ns
        .exec(&["ip", "neigh", "add", VIP, "lladdr", &mac(10), "dev", "eth0"]);
    for s in [&s1, &s2] {
        s.ns.exec(&[
            "ip",
            "neigh",
            "add",
            "10.242.0.1",
            "lladdr",
            &mac(1),
            "dev",
            "eth0",
        ]);
    }
    (bed, client, s1, s2)
}

fn group_stats(bed: &Bed, id: u32) -> serde_json::Value {
    let all = bed.json(&["dump-group-stats", &bed.br, &format!("group_id={id}")]);
    all.as_array()
        .and_then(|a| a.first().cloned())
        .unwrap_or_else(|| panic!("no group {id}: {all}"))
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn select_group_spreads_tcp_connections_over_two_servers() {
    if !require_root() {
        return;
    }
    let (bed, client, s1, s2) = bed_with_servers();
    bed.ok(&[
        "add-group",
        &bed.br,
        &format!(
            "group_id=1,type=select,bucket=output:{},bucket=output:{}",
            s1.port, s2.port
        ),
    ]);
    bed.set_flows(&[
        &format!("in_port={},ip,actions=group:1", client.ofport),
        &format!("in_port={},ip,actions=output:{}", s1.ofport, client.ofport),
        &format!("in_port={},ip,actions=output:{}", s2.ofport, client.ofport),
    ]);
    let l1 = tcp_listen(&s1.ns, &format!("{VIP}:8080"));
    let l2 = tcp_listen(&s2.ns, &format!("{VIP}:8080"));
    const N: usize = 40;
    let mut got = [0usize; 2];
    for i in 0..N {
        let mut c = tcp_connect(&client.ns, &format!("{VIP}:8080"), Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connection {i}: {e}\n{}", bed.log()));
        // The handshake completed, so exactly one server has it queued.
        let (which, mut s) = match accept_within(&l1, Duration::from_millis(200)) {
            Ok((s, _)) => (0, s),
            Err(_) => (
                1,
                accept_within(&l2, Duration::from_secs(2))
                    .unwrap_or_else(|e| panic!("connection {i} reached no server: {e}"))
                    .0,
            ),
        };
        exchange(&mut c, &mut s, format!("request {i}").as_bytes()).expect("request");
        exchange(&mut s, &mut c, format!("reply {i}").as_bytes()).expect("reply");
        got[which] += 1;
    }
    eprintln!(
        "FIGURE select group: {N} TCP connections, {} to server 1, {} to server 2",
        got[0], got[1]
    );
    assert!(got[0] > 0 && got[1] > 0, "both buckets used: {got:?}");
    // The buckets' counters (pushed from the megaflows) agree: each connection's packets
    // went to one bucket, so a bucket with connections has packets.
    let st = group_stats(&bed, 1);
    let buckets = st["buckets"].as_array().expect("buckets").clone();
    assert_eq!(buckets.len(), 2, "{st}");
    for (i, b) in buckets.iter().enumerate() {
        assert!(num(b, "packet_count") > 0, "bucket {i}: {st}");
    }
    assert!(num(&st, "ref_count") == 1, "{st}");
    let text = bed.ok(&["dump-groups", &bed.br]);
    assert!(
        text.starts_with("group_id=1,type=select,bucket=bucket_id:0,"),
        "{text}"
    );
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn fast_failover_group_follows_the_watched_port() {
    if !require_root() {
        return;
    }
    let (bed, client, s1, s2) = bed_with_servers();
    bed.ok(&[
        "add-group",
        &bed.br,
        &format!(
            "group_id=2,type=ff,bucket=watch_port:{p1},output:{p1},bucket=watch_port:{p2},output:{p2}",
            p1 = s1.port,
            p2 = s2.port
        ),
    ]);
    bed.set_flows(&[&format!("in_port={},ip,actions=group:2", client.ofport)]);
    let mut to1 = UdpProbe::new(
        &client.ns,
        "10.242.0.1:7001",
        &s1.ns,
        &format!("{VIP}:7000"),
    );
    let mut to2 = UdpProbe::new(
        &client.ns,
        "10.242.0.1:7002",
        &s2.ns,
        &format!("{VIP}:7000"),
    );
    assert!(
        to1.until_ok(20),
        "first bucket while its port is up\n{}",
        bed.log()
    );
    assert!(!to2.send(), "second bucket unused while the first is live");

    // The watched port's interface goes away: the group fails over (the maintenance round
    // notices within about a second and revalidates the cached megaflow). Deleted rather than
    // set down: a system port re-attaches after ENETDOWN and sets its interface up again, so
    // `ip link set down` does not stick yet (the note of issue 16 says so).
    run("ip", &["link", "del", &s1.port]);
    let t = std::time::Instant::now();
    assert!(
        to2.until_ok(40),
        "failover to the second bucket\n{}",
        bed.log()
    );
    eprintln!(
        "FIGURE fast_failover: traffic on the second bucket {:.1} s after the link went away",
        t.elapsed().as_secs_f64()
    );
    let trace = bed.ok(&[
        "trace",
        &bed.br,
        &format!(
            "in_port={},udp,nw_src=10.242.0.1,nw_dst={VIP}",
            client.ofport
        ),
    ]);
    assert!(trace.contains("group 2: using bucket 1"), "{trace}");
}
