//! Conntrack through the real daemon: OVS-style stateful flow tables, driven by `vswitch-ctl`,
//! with traffic between two network namespaces on TAP ports.
//!
//! - a stateful firewall: h1 may open TCP, UDP and ping to h2, replies pass, h2 can open
//!   nothing towards h1, an established connection survives an unrelated rule change, and
//!   `flush-conntrack` really forgets (h2's side of a flushed connection is blocked);
//! - `flush-conntrack` by OVS tuple (full, reply-direction, partial) removes only what it names;
//! - SNAT (h2's server sees the translated source; replies reach h1) and DNAT (a connection
//!   to a virtual IP lands on h2's real address and port);
//! - a zone limit is reached and reported (`ct-limits`, `dump-conntrack`, `datapath-stats`).
//!
//! The virtual IPs of the NAT tests have no owner to answer ARP, so the namespace that sends
//! to one gets a static neighbour entry for it (the MAC of the host behind it).
//!
//! Needs root, `/dev/net/tun` and `ip` (the test process opens its sockets inside the
//! namespaces itself). Under `CI=true` a missing piece fails the test.

use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use vswitch_tests::netns::require_root;
use vswitch_tests::system::{Attach, Bed, Host, mac, num};
use vswitch_tests::traffic::{
    TcpBulk, accept_within, exchange, tcp_connect, tcp_listen, udp_bind, udp_round_trip,
};

const SHORT: Duration = Duration::from_millis(700);

fn addr(ip: &str, port: u16) -> String {
    format!("{ip}:{port}")
}

fn sock(ip: &str, port: u16) -> SocketAddr {
    addr(ip, port).parse().expect("socket address")
}

/// A bed with two TAP hosts on 10.243.0.0/24 and `flows` (with `P1`/`P2` replaced by the
/// hosts' OpenFlow ports).
fn bed_with(flows: &[&str]) -> (Bed, Host, Host) {
    bed_on(Attach::Tap, flows)
}

/// As [`bed_with`], on ports of kind `attach`.
fn bed_on(attach: Attach, flows: &[&str]) -> (Bed, Host, Host) {
    let mut bed = Bed::start();
    let h1 = bed.host(attach, "10.243.0.1/24", &mac(1), &[]);
    let h2 = bed.host(attach, "10.243.0.2/24", &mac(2), &[]);
    let flows: Vec<String> = flows
        .iter()
        .map(|f| {
            f.replace("P1", &h1.ofport.to_string())
                .replace("P2", &h2.ofport.to_string())
        })
        .collect();
    let refs: Vec<&str> = flows.iter().map(String::as_str).collect();
    bed.set_flows(&refs);
    (bed, h1, h2)
}

/// `dump-conntrack [--zone Z]` as JSON entries.
fn conntrack(bed: &Bed, zone: Option<u16>) -> Vec<Value> {
    let z = zone.map(|z| z.to_string());
    let mut args = vec!["dump-conntrack"];
    if let Some(z) = &z {
        args.extend(["--zone", z]);
    }
    match bed.json(&args) {
        Value::Array(a) => a,
        other => panic!("dump-conntrack is not an array: {other}"),
    }
}

/// True if `entries` hold a `proto` connection whose original direction is `src` -> `dst`
/// (and, if given, to port `dport`).
fn has_conn(entries: &[Value], proto: &str, src: &str, dst: &str, dport: Option<u64>) -> bool {
    entries.iter().any(|e| {
        e["protocol"] == proto
            && e["orig"]["src"] == src
            && e["orig"]["dst"] == dst
            && dport.is_none_or(|p| num(&e["orig"], "dport") == p)
    })
}

const FIREWALL: &[&str] = &[
    "table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1)",
    "table=0,priority=10,arp,actions=normal",
    "table=1,priority=100,ip,ct_state=+trk+new,in_port=P1,actions=ct(commit),output:P2",
    "table=1,priority=100,ip,ct_state=+trk+est,in_port=P1,actions=output:P2",
    "table=1,priority=100,ip,ct_state=+trk+est,in_port=P2,actions=output:P1",
];

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn stateful_firewall_lets_h1_open_and_blocks_h2() {
    if !require_root() {
        return;
    }
    let (bed, h1, h2) = bed_with(FIREWALL);

    // h1 -> h2: ping, TCP and UDP are opened, and their replies pass.
    assert!(h1.ns.wait_ping(&h2.ip, 10), "ping h1->h2\n{}", bed.log());
    let server = tcp_listen(&h2.ns, &addr(&h2.ip, 8000));
    let mut c = tcp_connect(&h1.ns, &addr(&h2.ip, 8000), Duration::from_secs(3)).expect("connect");
    let (mut s, peer) = accept_within(&server, Duration::from_secs(3)).expect("accept");
    assert_eq!(peer.ip().to_string(), h1.ip);
    exchange(&mut c, &mut s, b"request").expect("h1 -> h2 data");
    exchange(&mut s, &mut c, b"response").expect("h2 -> h1 data");

    let u1 = udp_bind(&h1.ns, &addr(&h1.ip, 40001));
    let u2 = udp_bind(&h2.ns, &addr(&h2.ip, 7000));
    let rt = udp_round_trip(&u1, &u2, sock(&h2.ip, 7000), SHORT);
    assert_eq!(rt.seen_from, Some(sock(&h1.ip, 40001)));
    assert!(rt.reply_arrived, "UDP reply dropped");

    // h2 -> h1: nothing opens. A SYN is dropped (the connect times out, not refused).
    assert!(!h2.ns.ping(&h1.ip, 2), "h2 pinged h1");
    let back = tcp_listen(&h1.ns, &addr(&h1.ip, 8001));
    let e = tcp_connect(&h2.ns, &addr(&h1.ip, 8001), SHORT).expect_err("h2 opened TCP");
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    assert!(accept_within(&back, Duration::from_millis(100)).is_err());
    let u3 = udp_bind(&h1.ns, &addr(&h1.ip, 7001));
    let u4 = udp_bind(&h2.ns, &addr(&h2.ip, 40002));
    let rt = udp_round_trip(&u4, &u3, sock(&h1.ip, 7001), SHORT);
    assert_eq!(rt.seen_from, None, "h2 opened UDP");

    // The connections h1 opened are tracked; h2's attempts are not.
    let entries = conntrack(&bed, None);
    assert!(
        has_conn(&entries, "tcp", &h1.ip, &h2.ip, Some(8000)),
        "{entries:#?}"
    );
    assert!(
        has_conn(&entries, "udp", &h1.ip, &h2.ip, Some(7000)),
        "{entries:#?}"
    );
    assert!(
        has_conn(&entries, "icmp", &h1.ip, &h2.ip, None),
        "{entries:#?}"
    );
    assert!(
        !has_conn(&entries, "tcp", &h2.ip, &h1.ip, None),
        "{entries:#?}"
    );
    let tcp = entries
        .iter()
        .find(|e| e["protocol"] == "tcp")
        .expect("tcp entry");
    assert_eq!(tcp["reply"]["src"], h2.ip.as_str(), "{tcp}");
    assert_eq!(num(&tcp["reply"], "sport"), 8000, "{tcp}");
    let text = bed.ok(&["dump-conntrack"]);
    assert!(
        text.lines().any(
            |l| l.starts_with("tcp,orig=(src=10.243.0.1,dst=10.243.0.2,")
                && l.contains("dport=8000)")
        ),
        "{text}"
    );

    // The datapath caches both passes: a first pass that sends to conntrack, and second-pass
    // megaflows (after recirculation) that match on ct_state.
    let flows = bed.megaflows();
    assert!(
        flows
            .iter()
            .any(|m| m["actions"].as_str().is_some_and(|a| a.contains("ct(")))
            && flows.iter().any(|m| {
                m["match"].as_str().is_some_and(|x| x.contains("ct_state="))
                    && num(m, "packets") >= 1
            }),
        "{flows:#?}"
    );
    // trace with --ct-next shows the same policy: +new from h1 goes out to h2, from h2 nowhere.
    for (from, to, out) in [(&h1, &h2, vec![h2.ofport]), (&h2, &h1, vec![])] {
        let pkt = format!(
            "in_port={},dl_src={},dl_dst={},tcp,nw_src={},nw_dst={},tp_src=40000,tp_dst=8000,tcp_flags=syn",
            from.ofport, from.mac, to.mac, from.ip, to.ip
        );
        let t = bed.json(&["trace", &bed.br, &pkt, "--ct-next", "trk,new"]);
        let last = t["passes"].as_array().and_then(|p| p.last()).cloned();
        assert_eq!(
            last.map(|p| p["outputs"].clone()),
            Some(serde_json::json!(out)),
            "{t}"
        );
    }

    // An unrelated rule change (added, then removed) leaves the established connection alone.
    bed.ok(&[
        "add-flow",
        &bed.br,
        "table=1,priority=200,ip,nw_dst=10.243.0.99,actions=drop",
    ]);
    exchange(&mut c, &mut s, b"still here").expect("est. after add-flow");
    exchange(&mut s, &mut c, b"and back").expect("est. reply after add-flow");
    bed.ok(&["del-flows", &bed.br, "ip,nw_dst=10.243.0.99"]);
    exchange(&mut c, &mut s, b"once more").expect("est. after del-flows");

    // flush-conntrack forgets everything. h2's side of the old connection is then a stranger
    // (`+new` from h2: dropped), while a new connection from h1 is tracked afresh. (A segment
    // from h1 would be picked up mid-stream as `+new`, as OVS does; h2's must not be.)
    // Let the last ACKs settle first: a segment h1 retransmits after the flush would rightly
    // re-create the connection.
    std::thread::sleep(Duration::from_millis(300));
    let flushed = bed.json(&["flush-conntrack"]);
    assert!(num(&flushed, "flushed") >= 3, "{flushed}");
    assert!(conntrack(&bed, None).is_empty(), "entries after flush");
    c.set_read_timeout(Some(SHORT)).unwrap();
    assert!(
        exchange(&mut s, &mut c, b"lost").is_err(),
        "h2 still reaches h1 on a flushed connection: {:#?}",
        conntrack(&bed, None)
    );
    let mut c2 =
        tcp_connect(&h1.ns, &addr(&h2.ip, 8000), Duration::from_secs(3)).expect("reconnect");
    let (mut s2, _) = accept_within(&server, Duration::from_secs(3)).expect("accept 2");
    exchange(&mut s2, &mut c2, b"new conn").expect("new connection reply");
    let text = bed.ok(&["flush-conntrack"]);
    assert!(
        text.starts_with("flushed ") && text.trim_end().ends_with(" connections"),
        "{text}"
    );
}

/// `flush-conntrack` with OVS's tuple syntax, end to end: two real TCP connections from h1
/// to h2; flushing one by its original 5-tuple removes exactly that one (the other keeps
/// working, and the flushed one's h2 side is then a stranger the firewall drops); the other
/// is then flushed by its reply-direction tuple, and the pings by a partial tuple. A
/// malformed tuple fails and flushes nothing.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn flush_conntrack_by_tuple_removes_only_that_connection() {
    if !require_root() {
        return;
    }
    let (bed, h1, h2) = bed_with(FIREWALL);
    assert!(h1.ns.wait_ping(&h2.ip, 10), "ping h1->h2\n{}", bed.log());
    let server = tcp_listen(&h2.ns, &addr(&h2.ip, 8000));
    let mut pairs = Vec::new();
    for _ in 0..2 {
        let mut c =
            tcp_connect(&h1.ns, &addr(&h2.ip, 8000), Duration::from_secs(3)).expect("connect");
        let (mut s, _) = accept_within(&server, Duration::from_secs(3)).expect("accept");
        exchange(&mut c, &mut s, b"hello").expect("h1 -> h2");
        exchange(&mut s, &mut c, b"hello back").expect("h2 -> h1");
        pairs.push((c, s));
    }
    let ports: Vec<u64> = pairs
        .iter()
        .map(|(c, _)| u64::from(c.local_addr().unwrap().port()))
        .collect();
    let tcp_sports = |bed: &Bed| -> Vec<u64> {
        let mut v: Vec<u64> = conntrack(bed, None)
            .iter()
            .filter(|e| e["protocol"] == "tcp")
            .map(|e| num(&e["orig"], "sport"))
            .collect();
        v.sort_unstable();
        v
    };
    let mut both = ports.clone();
    both.sort_unstable();
    assert_eq!(tcp_sports(&bed), both);
    // Let the last ACKs settle: a segment after the flush would rightly re-create the entry.
    std::thread::sleep(Duration::from_millis(300));

    // A malformed tuple is refused (exit 1, a message naming the field), flushing nothing.
    let e = bed
        .ctl(&["flush-conntrack", "ct_nw_src=10.243.0.1,ct_tp_dst=8000"])
        .err();
    assert!(
        e.contains("'ct_tp_dst' needs ct_nw_proto=6 (tcp) or ct_nw_proto=17 (udp)"),
        "{e}"
    );
    let e = bed.ctl(&["flush-conntrack", "ct_nw_srcc=10.243.0.1"]).err();
    assert!(
        e.contains("unknown conntrack tuple field 'ct_nw_srcc'"),
        "{e}"
    );
    assert_eq!(tcp_sports(&bed), both);

    // The first connection, by its original 5-tuple (zone 0 by default).
    let orig = format!(
        "ct_nw_src={},ct_nw_dst={},ct_nw_proto=6,ct_tp_src={},ct_tp_dst=8000",
        h1.ip, h2.ip, ports[0]
    );
    let f = bed.json(&["flush-conntrack", &orig]);
    assert_eq!(num(&f, "flushed"), 1, "{f}");
    assert_eq!(
        tcp_sports(&bed),
        vec![ports[1]],
        "only the first one is gone"
    );
    assert!(
        has_conn(&conntrack(&bed, None), "icmp", &h1.ip, &h2.ip, None),
        "the ping's entry must stay"
    );
    // The second still passes both ways; the first's h2 side is now dropped (`+new` from h2).
    {
        let (c, s) = &mut pairs[1];
        exchange(c, s, b"still here").expect("kept connection, h1 -> h2");
        exchange(s, c, b"and back").expect("kept connection, h2 -> h1");
    }
    {
        let (c, s) = &mut pairs[0];
        c.set_read_timeout(Some(SHORT)).unwrap();
        assert!(
            exchange(s, c, b"lost").is_err(),
            "h2 still reaches h1 on the flushed connection: {:#?}",
            conntrack(&bed, None)
        );
    }
    // The same tuple again: nothing left to flush (text form).
    let text = bed.ok(&["flush-conntrack", &orig]);
    assert_eq!(text.trim_end(), "flushed 0 connections");

    // The second, by the tuple of its reply direction (h2 -> h1), in zone 0 given explicitly.
    std::thread::sleep(Duration::from_millis(300));
    let reply = format!(
        "ct_nw_src={},ct_nw_dst={},ct_nw_proto=6,ct_tp_src=8000,ct_tp_dst={}",
        h2.ip, h1.ip, ports[1]
    );
    let f = bed.json(&["flush-conntrack", "--zone", "0", &reply]);
    assert_eq!(num(&f, "flushed"), 1, "{f}");
    assert!(tcp_sports(&bed).is_empty(), "{:#?}", conntrack(&bed, None));

    // A partial tuple: every ICMP connection from h1 (the pings), nothing else.
    let before = conntrack(&bed, None).len();
    let icmp = conntrack(&bed, None)
        .iter()
        .filter(|e| e["protocol"] == "icmp")
        .count();
    assert!(icmp >= 1);
    let f = bed.json(&[
        "flush-conntrack",
        &format!("ct_nw_src={},ct_nw_proto=1", h1.ip),
    ]);
    assert_eq!(num(&f, "flushed") as usize, icmp, "{f}");
    let left = conntrack(&bed, None);
    assert_eq!(left.len(), before - icmp, "{left:#?}");
    assert!(left.iter().all(|e| e["protocol"] != "icmp"), "{left:#?}");
}

const SNAT: &[&str] = &[
    "table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1,zone=1,nat)",
    "table=0,priority=10,arp,actions=normal",
    "table=1,priority=100,ip,in_port=P1,ct_state=+trk+new,actions=ct(commit,zone=1,nat(src=10.243.0.100)),output:P2",
    "table=1,priority=100,ip,in_port=P1,ct_state=+trk+est,actions=output:P2",
    "table=1,priority=100,ip,in_port=P2,ct_state=+trk+est,actions=output:P1",
];

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn snat_rewrites_the_source_and_replies_return() {
    if !require_root() {
        return;
    }
    let (bed, h1, h2) = bed_with(SNAT);
    // h2 answers the translated address: it lives behind h1's MAC.
    h2.ns.exec(&[
        "ip",
        "neigh",
        "replace",
        "10.243.0.100",
        "lladdr",
        &h1.mac,
        "dev",
        "eth0",
    ]);
    assert!(
        h1.ns.wait_ping(&h2.ip, 10),
        "ping through SNAT\n{}",
        bed.log()
    );

    let server = tcp_listen(&h2.ns, &addr(&h2.ip, 8000));
    let mut c = tcp_connect(&h1.ns, &addr(&h2.ip, 8000), Duration::from_secs(3)).expect("connect");
    let (mut s, peer) = accept_within(&server, Duration::from_secs(3)).expect("accept");
    assert_eq!(
        peer.ip().to_string(),
        "10.243.0.100",
        "h2 saw the real source"
    );
    // h1's side still sees its own address and h2's.
    assert_eq!(c.local_addr().unwrap().ip().to_string(), h1.ip);
    exchange(&mut c, &mut s, b"hello").expect("h1 -> h2");
    exchange(&mut s, &mut c, b"hello back").expect("reply reaches h1");

    let u1 = udp_bind(&h1.ns, &addr(&h1.ip, 40001));
    let u2 = udp_bind(&h2.ns, &addr(&h2.ip, 7000));
    let rt = udp_round_trip(&u1, &u2, sock(&h2.ip, 7000), SHORT);
    let seen = rt.seen_from.expect("UDP did not pass SNAT");
    assert_eq!(seen.ip().to_string(), "10.243.0.100");
    assert!(rt.reply_arrived, "UDP reply did not return through SNAT");

    // A one-way UDP flow (no reply yet: every datagram is `+new`, and passes table 0's
    // ct(nat) and then table 1's ct(commit,nat(...))) keeps one binding: h2 sees one source
    // port, and conntrack holds one connection for it.
    let oneway = udp_bind(&h1.ns, &addr(&h1.ip, 40002));
    let sink = udp_bind(&h2.ns, &addr(&h2.ip, 7001));
    sink.set_read_timeout(Some(SHORT)).unwrap();
    let mut seen = Vec::new();
    for i in 0..5u8 {
        oneway.send_to(&[i], sock(&h2.ip, 7001)).unwrap();
        let mut buf = [0u8; 8];
        let (_, from) = sink.recv_from(&mut buf).expect("one-way datagram lost");
        seen.push(from);
    }
    assert!(
        seen.iter().all(|f| *f == seen[0]) && seen[0].ip().to_string() == "10.243.0.100",
        "one-way UDP got several bindings: {seen:?}"
    );
    let flows: Vec<Value> = conntrack(&bed, Some(1))
        .into_iter()
        .filter(|e| e["protocol"] == "udp" && num(&e["orig"], "dport") == 7001)
        .collect();
    assert_eq!(flows.len(), 1, "{flows:#?}");

    let entries = conntrack(&bed, Some(1));
    let tcp = entries
        .iter()
        .find(|e| e["protocol"] == "tcp" && num(&e["orig"], "dport") == 8000)
        .unwrap_or_else(|| panic!("no tcp entry in zone 1: {entries:#?}"));
    assert_eq!(tcp["orig"]["src"], h1.ip.as_str(), "{tcp}");
    assert_eq!(tcp["reply"]["src"], h2.ip.as_str(), "{tcp}");
    assert_eq!(tcp["reply"]["dst"], "10.243.0.100", "{tcp}");
    assert_eq!(num(tcp, "zone"), 1, "{tcp}");
    assert!(conntrack(&bed, Some(2)).is_empty(), "zone filter");
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn dnat_sends_a_virtual_ip_to_h2() {
    if !require_root() {
        return;
    }
    let (bed, h1, h2) = bed_with(&[
        "table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1,zone=2,nat)",
        "table=0,priority=10,arp,actions=normal",
        "table=1,priority=100,tcp,in_port=P1,nw_dst=10.243.0.200,tp_dst=80,ct_state=+trk+new,actions=ct(commit,zone=2,nat(dst=10.243.0.2:8080)),output:P2",
        "table=1,priority=100,ip,in_port=P1,ct_state=+trk+est,actions=output:P2",
        "table=1,priority=100,ip,in_port=P2,ct_state=+trk+est,actions=output:P1",
    ]);
    // h1 reaches the virtual IP through h2's MAC.
    h1.ns.exec(&[
        "ip",
        "neigh",
        "replace",
        "10.243.0.200",
        "lladdr",
        &h2.mac,
        "dev",
        "eth0",
    ]);
    let server = tcp_listen(&h2.ns, &addr(&h2.ip, 8080));
    let mut c = tcp_connect(&h1.ns, "10.243.0.200:80", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to the virtual IP: {e}\n{}", bed.log()));
    let (mut s, peer) = accept_within(&server, Duration::from_secs(3)).expect("accept");
    assert_eq!(peer.ip().to_string(), h1.ip, "DNAT must keep the source");
    assert_eq!(s.local_addr().unwrap(), sock(&h2.ip, 8080));
    assert_eq!(c.peer_addr().unwrap(), sock("10.243.0.200", 80));
    exchange(&mut c, &mut s, b"GET /").expect("h1 -> virtual IP");
    exchange(&mut s, &mut c, b"200 OK").expect("reply from the virtual IP");

    // Only the virtual service is opened: h2's real port from h1 is not (no rule for it).
    let e = tcp_connect(&h1.ns, &addr(&h2.ip, 8080), SHORT).expect_err("opened h2 directly");
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");

    let entries = conntrack(&bed, Some(2));
    let tcp = entries
        .iter()
        .find(|e| e["protocol"] == "tcp" && e["orig"]["dst"] == "10.243.0.200")
        .unwrap_or_else(|| panic!("no DNAT entry: {entries:#?}"));
    assert_eq!(num(&tcp["orig"], "dport"), 80, "{tcp}");
    assert_eq!(tcp["reply"]["src"], h2.ip.as_str(), "{tcp}");
    assert_eq!(num(&tcp["reply"], "sport"), 8080, "{tcp}");
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn zone_limit_is_enforced_and_reported() {
    if !require_root() {
        return;
    }
    let (bed, h1, h2) = bed_with(&[
        "table=0,priority=100,udp,ct_state=-trk,actions=ct(table=1,zone=5)",
        "table=0,priority=10,arp,actions=normal",
        "table=1,priority=100,udp,in_port=P1,ct_state=+trk+new,actions=ct(commit,zone=5),output:P2",
        "table=1,priority=100,udp,in_port=P1,ct_state=+trk+est,actions=output:P2",
        "table=1,priority=100,udp,in_port=P2,ct_state=+trk+est,actions=output:P1",
    ]);
    bed.ok(&["ct-limits", "--zone", "5", "--limit", "3"]);
    let server = udp_bind(&h2.ns, &addr(&h2.ip, 7000));
    let to = sock(&h2.ip, 7000);
    let clients: Vec<_> = (0..5)
        .map(|i| udp_bind(&h1.ns, &addr(&h1.ip, 41001 + i)))
        .collect();
    // The first client's first datagram may wait for ARP: retry it until a reply comes.
    let first = (0..10).any(|_| udp_round_trip(&clients[0], &server, to, SHORT).reply_arrived);
    assert!(first, "connection 1 never completed\n{}", bed.log());
    for (i, c) in clients.iter().enumerate().skip(1).take(2) {
        let rt = udp_round_trip(c, &server, to, SHORT);
        assert!(
            rt.reply_arrived,
            "connection {} within the limit failed",
            i + 1
        );
    }
    // Beyond the limit the commit is refused: the reply finds no connection and is dropped.
    for (i, c) in clients.iter().enumerate().skip(3) {
        let rt = udp_round_trip(c, &server, to, SHORT);
        assert!(!rt.reply_arrived, "connection {} beyond the limit", i + 1);
    }
    // The tracked ones still work.
    assert!(udp_round_trip(&clients[1], &server, to, SHORT).reply_arrived);

    let limits = bed.json(&["ct-limits", "--zone", "5"]);
    let z5 = limits["zones"]
        .as_array()
        .and_then(|a| a.iter().find(|z| num(z, "zone") == 5))
        .unwrap_or_else(|| panic!("zone 5 missing: {limits}"));
    assert_eq!(num(z5, "limit"), 3, "{limits}");
    assert_eq!(num(z5, "count"), 3, "{limits}");
    let text = bed.ok(&["ct-limits", "--zone", "5"]);
    assert!(text.contains("zone=5,limit=3,count=3"), "{text}");
    assert_eq!(conntrack(&bed, Some(5)).len(), 3);

    // Each refused commit is counted (the packet itself goes on as +new, as in OVS).
    let stats = bed.dp_stats();
    assert!(
        num(&stats["drops"], "ct_zone_limit") >= 2,
        "refused commits not counted: {stats}"
    );
    let text = bed.ok(&["datapath-stats"]);
    assert!(text.contains("drop ct_zone_limit: "), "{text}");

    // Flushing the zone frees it: a new connection commits again.
    let f = bed.json(&["flush-conntrack", "--zone", "5"]);
    assert_eq!(num(&f, "flushed"), 3, "{f}");
    let rt = udp_round_trip(&clients[4], &server, to, SHORT);
    assert!(rt.reply_arrived, "no commit after the zone was flushed");
}

/// NAT on offloaded traffic: the namespaces send CHECKSUM_PARTIAL (and TSO) frames, the switch
/// rewrites addresses, and the root ends of the veths have tx offloads off, so the kernel
/// finishes every checksum in software from the seed the switch left in the header before
/// the receiver verifies it. A pseudo-header seed not updated for the new address would
/// corrupt every segment (a TAP-to-TAP path would never notice: partial checksums are trusted).
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn snat_on_offloaded_veth_traffic_keeps_checksums_right() {
    if !require_root() {
        return;
    }
    let (bed, h1, h2) = bed_on(Attach::Veth { offload: true }, SNAT);
    for port in [&h1.port, &h2.port] {
        vswitch_tests::netns::run("ethtool", &["-K", port, "tx", "off"]);
    }
    h2.ns.exec(&[
        "ip",
        "neigh",
        "replace",
        "10.243.0.100",
        "lladdr",
        &h1.mac,
        "dev",
        "eth0",
    ]);
    assert!(
        h1.ns.wait_ping(&h2.ip, 10),
        "ping through SNAT\n{}",
        bed.log()
    );
    let t = TcpBulk::run(&h1.ns, &h2.ns, &h2.ip, 5002, 20 << 20, 11, 30);
    assert!(t.intact(), "{t:?}");
    assert_eq!(t.peer, "10.243.0.100");
    eprintln!(
        "FIGURE snat veth offload on: 20 MB in {:.2} s = {:.0} Mbit/s",
        t.secs,
        t.mbit_per_s()
    );
    let u1 = udp_bind(&h1.ns, &addr(&h1.ip, 40001));
    let u2 = udp_bind(&h2.ns, &addr(&h2.ip, 7000));
    let rt = udp_round_trip(&u1, &u2, sock(&h2.ip, 7000), SHORT);
    assert_eq!(rt.seen_from, Some(sock("10.243.0.100", 40001)));
    assert!(rt.reply_arrived, "UDP reply did not return through SNAT");
}
