//! The reference classifier: a list of rules in rank order, scanned front to back.
//!
//! Obviously correct and slow. Its `lookup` ORs in the mask of every rule it scans up to and
//! including the match, which is sound (a flow agreeing on all those bits fails the same
//! earlier rules and matches the same rule) but far from narrow. The property tests compare
//! [`Classifier`](super::Classifier) against it.

use fastpath::flow::{FlowKey, FlowMask};

use super::flow_match::Match;

#[derive(Clone)]
struct LinearRule<T> {
    m: Match,
    priority: u16,
    value: T,
}

/// Brute-force classifier with the same API and tie rule as [`Classifier`](super::Classifier).
#[derive(Clone)]
pub struct LinearClassifier<T> {
    /// Highest priority first; equal priorities in insertion order.
    rules: Vec<LinearRule<T>>,
}

impl<T> Default for LinearClassifier<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> LinearClassifier<T> {
    /// An empty classifier.
    pub fn new() -> Self {
        LinearClassifier { rules: Vec::new() }
    }

    fn position(&self, m: &Match, priority: u16) -> Option<usize> {
        let m = super::normalize(m);
        self.rules
            .iter()
            .position(|r| r.priority == priority && r.m == m)
    }

    /// Inserts; an identical (match, priority) is replaced and its old value returned.
    pub fn insert(&mut self, m: &Match, priority: u16, value: T) -> Option<T> {
        let old = self.remove(m, priority);
        let pos = self.rules.partition_point(|r| r.priority >= priority);
        self.rules.insert(
            pos,
            LinearRule {
                m: super::normalize(m),
                priority,
                value,
            },
        );
        old
    }

    /// Removes the rule with exactly this match and priority.
    pub fn remove(&mut self, m: &Match, priority: u16) -> Option<T> {
        let i = self.position(m, priority)?;
        Some(self.rules.remove(i).value)
    }

    /// The rule with exactly this match and priority.
    pub fn find_exact(&self, m: &Match, priority: u16) -> Option<&T> {
        self.position(m, priority).map(|i| &self.rules[i].value)
    }

    /// Highest-priority (then earliest-inserted) rule matching `flow`; ORs into `wc` the
    /// masks of every rule scanned.
    pub fn lookup(&self, flow: &FlowKey, mut wc: Option<&mut FlowMask>) -> Option<&T> {
        for r in &self.rules {
            if let Some(wc) = wc.as_deref_mut() {
                wc.or_with(&r.m.mask);
            }
            if r.m.matches(flow) {
                return Some(&r.value);
            }
        }
        None
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True if there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every rule, highest priority first.
    pub fn iter(&self) -> impl Iterator<Item = (&Match, u16, &T)> {
        self.rules.iter().map(|r| (&r.m, r.priority, &r.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastpath::flow::Field;

    #[test]
    fn priority_then_insertion_order() {
        let mut c = LinearClassifier::new();
        let mut a = Match::CATCHALL;
        a.set_field(Field::InPort, 1);
        let mut b = Match::CATCHALL;
        b.set_field(Field::DlType, 0x800);
        assert_eq!(c.insert(&a, 5, "a"), None);
        assert_eq!(c.insert(&b, 5, "b"), None);
        assert_eq!(c.insert(&Match::CATCHALL, 1, "low"), None);
        let mut f = FlowKey::ZERO;
        f.in_port = 1;
        f.dl_type = 0x800;
        let mut wc = FlowKey::ZERO;
        assert_eq!(c.lookup(&f, Some(&mut wc)), Some(&"a"));
        assert_eq!(wc.in_port, !0);
        assert_eq!(wc.dl_type, 0);
        // Replacing `a` makes it the newest at its priority.
        assert_eq!(c.insert(&a, 5, "a2"), Some("a"));
        assert_eq!(c.lookup(&f, None), Some(&"b"));
        f.dl_type = 0x86dd;
        assert_eq!(c.lookup(&f, None), Some(&"a2"));
        f.in_port = 2;
        assert_eq!(c.lookup(&f, None), Some(&"low"));
        assert_eq!(c.len(), 3);
        assert_eq!(c.remove(&a, 5), Some("a2"));
        assert_eq!(c.find_exact(&a, 5), None);
        assert_eq!(c.find_exact(&b, 5), Some(&"b"));
        assert_eq!(c.iter().count(), 2);
    }
}
