//! Fuzz target: the ofproto/trace packet syntax (`vswitchd::ofctl::parse_packet`).
//!
//! The input is read as UTF-8 (invalid sequences become U+FFFD). Beyond "never panics", a packet
//! that parses must print (`format_packet`, with and without port names) to text that parses
//! back to the same flow key: `trace` echoes the packet as its "Flow:" line, and a user pasting
//! that line back must trace the same packet. A rejected packet's error renders to a non-empty
//! message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vswitchd::ofctl::{NameMap, NoNames, PortNames, format_packet, parse_packet};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let names = NameMap::from_pairs([("vm1", 11), ("p2", 2), ("uplink", 0xfffe_0001)]);
    let key = match parse_packet(&text, &names) {
        Ok(key) => key,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    for printer in [&names as &dyn PortNames, &NoNames] {
        let printed = format_packet(&key, printer);
        let again = parse_packet(&printed, &names).unwrap_or_else(|e| {
            panic!("{text:?} printed as {printed:?}, which does not parse: {e}")
        });
        assert_eq!(
            again, key,
            "{text:?} printed as {printed:?}, which parses to a different packet"
        );
    }
});
