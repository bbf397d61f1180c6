//! Reporting errors to people: an error and its causes on one line.
//!
//! Error types here follow one rule: a message says what failed in this layer and never
//! repeats its cause; the cause is the `source()`. Whoever shows an error to a person (the
//! daemon's stderr, a gRPC status message, `vswitch-ctl`) prints the whole chain with
//! [`chain`], so each cause appears exactly once.

/// `error: cause: cause's cause ...`, skipping a cause whose text an outer message already
/// contains (some libraries do repeat their source).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open {0}")]
    struct Outer(&'static str, #[source] std::io::Error);

    #[test]
    fn each_cause_once() {
        let e = Outer("conf.db", std::io::Error::other("disk on fire"));
        assert_eq!(chain(&e), "cannot open conf.db: disk on fire");
    }
}
