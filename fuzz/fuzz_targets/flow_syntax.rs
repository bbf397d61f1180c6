//! Fuzz target: the ovs-ofctl flow syntax parser (`vswitchd::ofctl::parse_flow`).
//!
//! The input is read as UTF-8 (invalid sequences become U+FFFD, so every byte string is
//! exercised) and parsed in all three syntaxes: add-flow, mod-flows and matching-only
//! (del-flows / dump-flows). Beyond "never panics", every spec that parses must satisfy the
//! invariants the ofctl module documents and the daemon relies on:
//! - printing it (with and without port names) and parsing the print gives the same spec,
//!   in the same syntax — so a dump can always be fed back as add-flows;
//! - its match is canonical: the key has no bits outside the mask;
//! - add and modify specs have a non-empty action list (`drop` is explicit);
//! - the error of a rejected flow renders to a non-empty message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vswitchd::ofctl::{
    FlowSpec, FlowSyntax, NameMap, NoNames, PortNames, format_flow_as, parse_flow,
};

const SYNTAXES: [FlowSyntax; 3] = [FlowSyntax::Add, FlowSyntax::Modify, FlowSyntax::MatchOnly];

fn names() -> NameMap {
    NameMap::from_pairs([("vm1", 11), ("p2", 2), ("uplink", 0xfffe_0001)])
}

fn check(text: &str, syntax: FlowSyntax, names: &NameMap) {
    let spec: FlowSpec = match parse_flow(text, names, syntax) {
        Ok(spec) => spec,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert_eq!(
        spec.m.key,
        spec.m.key.masked(&spec.m.mask),
        "{text:?} ({syntax:?}) parsed to a non-canonical match"
    );
    if syntax != FlowSyntax::MatchOnly {
        assert!(
            !spec.actions.is_empty(),
            "{text:?} ({syntax:?}): no actions"
        );
    }
    for printer in [names as &dyn PortNames, &NoNames] {
        let printed = format_flow_as(&spec, syntax, printer);
        let again = parse_flow(&printed, names, syntax).unwrap_or_else(|e| {
            panic!("{text:?} ({syntax:?}) printed as {printed:?}, which does not parse: {e}")
        });
        assert_eq!(
            again, spec,
            "{text:?} ({syntax:?}) printed as {printed:?}, which parses differently"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let names = names();
    for syntax in SYNTAXES {
        check(&text, syntax, &names);
    }
});
