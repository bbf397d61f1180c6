//! Fuzz target: controller targets (`vswitchd::controller::target`), as `set-controller`
//! receives them from any gRPC client.
//!
//! Beyond "never panics": a target that parses prints in canonical form, and that form parses
//! back to the same target and prints identically (the store keeps the printed form, so a
//! restart must read back exactly what was accepted); a refused one has a message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vswitchd::controller::target::{Target, parse_all};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match text.parse::<Target>() {
        Ok(t) => {
            let printed = t.to_string();
            let again: Target = printed.parse().expect("a printed target parses");
            assert_eq!(again, t);
            assert_eq!(again.to_string(), printed);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let list: Vec<String> = text.split(' ').map(str::to_owned).collect();
    if let Ok(all) = parse_all(&list) {
        assert_eq!(all.len(), list.len());
    }
});
