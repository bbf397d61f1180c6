use super::*;
use ofp::message::{FlowMod, Match};
use ofp::multipart::FlowStats;

const PROBE: u64 = 5_000;

fn open(v: Version) -> Conn {
    let (mut c, hello) = Conn::new(&Version::ALL, PROBE, 0);
    let (_, m) = ofp::decode(&hello).unwrap();
    assert_eq!(m, Message::Hello { bitmap: Some(0x72) });
    let peer = ofp::encode(
        &Message::Hello {
            bitmap: Some(v.bitmap_bit()),
        },
        v,
        1,
    )
    .unwrap();
    assert!(c.receive(&peer, 0).is_empty());
    assert_eq!(c.version(), Some(v));
    c
}

fn flow_mod() -> Message {
    Message::FlowMod(FlowMod {
        cookie: 0,
        cookie_mask: 0,
        table_id: 0,
        command: 0,
        idle_timeout: 0,
        hard_timeout: 0,
        priority: 1,
        buffer_id: u32::MAX,
        out_port: u32::MAX,
        out_group: u32::MAX,
        flags: 0,
        importance: 0,
        match_: Match::Fields(Vec::new()),
        instructions: Vec::new(),
    })
}

#[test]
fn negotiates_the_highest_common_version() {
    open(Version::Of13);
    // A 1.0 peer without a bitmap.
    let (mut c, _) = Conn::new(&Version::ALL, PROBE, 0);
    let hello10 = ofp::encode(&Message::Hello { bitmap: None }, Version::Of10, 1).unwrap();
    c.receive(&hello10, 0);
    assert_eq!(c.version(), Some(Version::Of10));
}

#[test]
fn no_common_version_or_no_hello_closes() {
    let (mut c, _) = Conn::new(&[Version::Of15], PROBE, 0);
    let hello10 = ofp::encode(&Message::Hello { bitmap: None }, Version::Of10, 1).unwrap();
    let out = c.receive(&hello10, 0);
    assert!(matches!(&out[..], [Output::Send(e), Output::Close(_)]
        if matches!(ofp::decode(e), Ok((_, Message::Error(ErrorMsg { typ: 0, code: 0, .. }))))));
    assert!(c.is_closed());

    let (mut c, _) = Conn::new(&Version::ALL, PROBE, 0);
    let fm = ofp::encode(&flow_mod(), Version::Of13, 2).unwrap();
    let out = c.receive(&fm, 0);
    assert!(matches!(out.last(), Some(Output::Close(_))));
}

#[test]
fn barrier_follows_the_requests_before_it_and_echo_is_answered() {
    let mut c = open(Version::Of13);
    let mut bytes = ofp::encode(&flow_mod(), Version::Of13, 10).unwrap();
    bytes.extend(ofp::encode(&Message::BarrierRequest, Version::Of13, 11).unwrap());
    bytes.extend(ofp::encode(&Message::EchoRequest(b"hi".to_vec()), Version::Of13, 12).unwrap());
    // Delivered a byte at a time: framing must not care.
    let mut out = Vec::new();
    for b in &bytes {
        out.extend(c.receive(std::slice::from_ref(b), 1));
    }
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(matches!(&out[0], Output::Request { xid: 10, message } if *message == flow_mod()));
    let Output::Barrier(b) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(ofp::decode(b).unwrap().0.xid, 11);
    let Output::Send(e) = &out[2] else {
        panic!("{out:?}")
    };
    assert_eq!(
        ofp::decode(e).unwrap().1,
        Message::EchoReply(b"hi".to_vec())
    );
}

#[test]
fn bad_messages_get_errors_and_the_connection_stays() {
    let mut c = open(Version::Of13);
    // Unknown message type 99.
    let bad = [4u8, 99, 0, 8, 0, 0, 0, 7];
    let out = c.receive(&bad, 1);
    let [Output::Send(e)] = &out[..] else {
        panic!("{out:?}")
    };
    let (h, m) = ofp::decode(e).unwrap();
    assert_eq!(h.xid, 7);
    let Message::Error(em) = m else { panic!() };
    assert_eq!(
        em.error_code(Version::Of13),
        Some(ErrorCode::BadRequestType)
    );
    // Wrong version after negotiation.
    let wrong = ofp::encode(&Message::BarrierRequest, Version::Of10, 8).unwrap();
    let out = c.receive(&wrong, 1);
    assert!(matches!(&out[..], [Output::Send(_)]));
    assert!(!c.is_closed());
    // A length below the header closes.
    let out = c.receive(&[4, 0, 0, 4, 0, 0, 0, 0], 1);
    assert!(matches!(&out[..], [Output::Close(_)]));
}

#[test]
fn echo_probe_then_close_on_silence() {
    let mut c = open(Version::Of15);
    assert!(c.tick(PROBE - 1).is_empty());
    let out = c.tick(PROBE);
    assert!(
        matches!(&out[..], [Output::Send(b)] if matches!(ofp::decode(b), Ok((_, Message::EchoRequest(_)))))
    );
    assert!(c.tick(PROBE + 1).is_empty(), "one probe per silence");
    // Input resets the clock.
    let reply = ofp::encode(&Message::EchoReply(Vec::new()), Version::Of15, 2).unwrap();
    c.receive(&reply, PROBE + 10);
    assert!(c.tick(2 * PROBE).is_empty());
    assert!(matches!(&c.tick(3 * PROBE + 10)[..], [Output::Close(_)]));
}

#[test]
fn large_multipart_replies_split_under_64k() {
    let c = open(Version::Of13);
    let stats: Vec<FlowStats> = (0..3000)
        .map(|i| FlowStats {
            table_id: 0,
            duration_sec: 1,
            duration_nsec: 0,
            priority: i as u16,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            importance: 0,
            idle_age: 0,
            hard_age: 0,
            cookie: i,
            packet_count: 0,
            byte_count: 0,
            match_: Match::Fields(vec![ofp::MatchEntry::exact(
                ofp::FieldId::Reg(0),
                u128::from(i),
            )]),
            instructions: vec![ofp::Instruction::ApplyActions(vec![ofp::Action::Output {
                port: 1,
                max_len: 0,
            }])],
        })
        .collect();
    let msgs = c.multipart_reply(9, MpReply::Flow(stats.clone())).unwrap();
    assert!(msgs.len() > 1);
    let mut back = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        assert!(m.len() <= MAX_MESSAGE);
        let (
            h,
            Message::MultipartReply {
                flags,
                body: MpReply::Flow(f),
            },
        ) = ofp::decode(m).unwrap()
        else {
            panic!()
        };
        assert_eq!(h.xid, 9);
        assert_eq!(flags, if i + 1 < msgs.len() { REPLY_MORE } else { 0 });
        back.extend(f);
    }
    assert_eq!(back, stats);
}
