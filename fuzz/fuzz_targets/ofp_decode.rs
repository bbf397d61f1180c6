//! Fuzz target: the OpenFlow codec (`ofp::decode` / `ofp::encode`).
//!
//! The input is one message; its header's length field is set to the input's length (when it
//! fits), so the fuzzer explores bodies rather than framing, which `frame_len` checks apart.
//! Beyond "never panics" (the crate's contract on untrusted bytes):
//! - a decoded message in a known version re-encodes, and the re-encoding decodes to the same
//!   message with the same xid (typed round trip; the bytes may differ only in padding and
//!   other don't-care bits);
//! - a refusal maps to an OpenFlow error that encodes in every version;
//! - `frame_len` never reports a frame shorter than a header.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ofp::message::ErrorMsg;
use ofp::{Message, Version};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = ofp::frame_len(data) {
        assert!(n >= 8);
    }
    let mut buf = data.to_vec();
    if let Ok(len) = u16::try_from(buf.len())
        && buf.len() >= 8
    {
        buf[2..4].copy_from_slice(&len.to_be_bytes());
    }
    match ofp::decode(&buf) {
        Ok((h, m)) => {
            let Some(v) = Version::from_wire(h.version) else {
                assert!(matches!(m, Message::Hello { .. }), "{m:?}");
                return;
            };
            let again = ofp::encode(&m, v, h.xid)
                .unwrap_or_else(|e| panic!("decoded {m:?} does not re-encode: {e}"));
            let (h2, m2) = ofp::decode(&again)
                .unwrap_or_else(|e| panic!("re-encoded {m:?} does not decode: {e}"));
            assert_eq!(h2.xid, h.xid);
            assert_eq!(m2, m);
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            for v in Version::ALL {
                let reply = Message::Error(ErrorMsg::new(e.code(), v, &buf));
                ofp::encode(&reply, v, 0).expect("an error reply always encodes");
            }
        }
    }
});
