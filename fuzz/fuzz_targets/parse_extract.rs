//! Fuzz target: flow key extraction over arbitrary frames.
//!
//! Beyond "never panics", it checks the properties the rest of the datapath relies on:
//! - header offsets lie within the frame, in order, with no layer after an absent one;
//! - caller-owned key fields (recirc_id, ct fields, metadata, registers) are untouched;
//! - extraction is deterministic and does not depend on the key's previous packet fields;
//! - truncating a well-formed frame never adds a field: each key byte is the whole frame's
//!   or zero;
//! - layer fields agree with the offsets (L4 found only under IPv4/IPv6, and so on).

#![no_main]

use fastpath::flow::FlowKey;
use fastpath::flow::extract::{HeaderOffsets, extract, extract_fresh};
use fastpath::flow::key::ethertype;
use libfuzzer_sys::fuzz_target;

const ABSENT: u16 = HeaderOffsets::ABSENT;

fuzz_target!(|data: &[u8]| {
    // A key carrying state from an earlier pass and stale packet fields.
    let mut key = FlowKey::ZERO;
    key.recirc_id = 0x1234;
    key.ct_state = 0x22;
    key.ct_zone = 7;
    key.ct_mark = 0xfeed;
    key.ct_label = [0xa5; 16];
    key.metadata = 0x0102_0304_0506_0708;
    key.regs = [0x5a5a_5a5a; 16];
    key.tp_src = 0xffff;
    key.ipv6_src = [0xff; 16];
    key.arp_sha = [0xff; 6];
    let ex = extract(data, 3, &mut key);

    assert!(
        ex.offsets.is_consistent(data.len()),
        "{:?} for {} bytes",
        ex,
        data.len()
    );
    assert_eq!(key.recirc_id, 0x1234);
    assert_eq!((key.ct_state, key.ct_zone, key.ct_mark), (0x22, 7, 0xfeed));
    assert_eq!(
        (key.ct_label, key.metadata),
        ([0xa5; 16], 0x0102_0304_0506_0708)
    );
    assert_eq!(key.regs, [0x5a5a_5a5a; 16]);
    assert_eq!(key.in_port, 3);

    // Same packet fields as a fresh extraction: nothing stale survives.
    let (fresh, fresh_ex) = extract_fresh(data, 3);
    assert_eq!(fresh_ex, ex);
    let mut stripped = key;
    stripped.recirc_id = 0;
    stripped.ct_state = 0;
    stripped.ct_zone = 0;
    stripped.ct_mark = 0;
    stripped.ct_label = [0; 16];
    stripped.metadata = 0;
    stripped.regs = [0; 16];
    assert_eq!(stripped, fresh);

    // Offsets and fields tell the same story.
    let o = ex.offsets;
    if o.l3 == ABSENT {
        assert!(fresh.dl_type == 0 && fresh.nw_proto == 0);
    }
    if o.l4 != ABSENT {
        assert!(fresh.dl_type == ethertype::IPV4 || fresh.dl_type == ethertype::IPV6);
    } else {
        assert!(fresh.tp_src == 0 && fresh.tp_dst == 0 && fresh.tcp_flags == 0);
    }
    if ex.malformed.is_none() && o.l3 == ABSENT {
        panic!("a well-formed frame always has an L3 offset");
    }

    // Truncating a well-formed frame never invents a field. (A malformed frame can become
    // well-formed when cut, e.g. by cutting off a repeated ND option, so it is exempt.)
    if ex.malformed.is_none() && !data.is_empty() {
        let cut = data.len() / 2 + usize::from(data[0]) % (data.len() / 2 + 1);
        let cut = cut.min(data.len());
        let (short, short_ex) = extract_fresh(&data[..cut], 3);
        assert!(short_ex.offsets.is_consistent(cut));
        for (s, w) in short.words().iter().zip(fresh.words()) {
            for (sb, wb) in s.to_ne_bytes().iter().zip(w.to_ne_bytes()) {
                assert!(
                    *sb == wb || *sb == 0,
                    "cut at {cut}: {short:?} vs {fresh:?}"
                );
            }
        }
    }
});
