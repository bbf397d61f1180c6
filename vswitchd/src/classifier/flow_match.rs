//! A masked match over a flow key: what an OpenFlow rule (or a megaflow) matches.

use fastpath::flow::{Field, FlowKey, FlowMask};

/// `key & mask == rule.key` matches. Invariant: `key` is already masked (`key & mask == key`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Match {
    pub key: FlowKey,
    pub mask: FlowMask,
}

impl Match {
    /// Matches every packet.
    pub const CATCHALL: Match = Match {
        key: FlowKey::ZERO,
        mask: FlowKey::ZERO,
    };

    /// Builds a match from a key and mask, masking the key.
    pub fn new(key: FlowKey, mask: FlowMask) -> Match {
        Match {
            key: key.masked(&mask),
            mask,
        }
    }

    /// Adds `field == value` under `mask` (bits beyond the field's width are ignored). Bits
    /// already constrained by an earlier call are overwritten.
    pub fn set_field_masked(&mut self, field: Field, value: u128, mask: u128) {
        field.set(&mut self.mask, mask);
        field.set(&mut self.key, value & mask);
    }

    /// Adds `field == value` exactly.
    pub fn set_field(&mut self, field: Field, value: u128) {
        self.set_field_masked(field, value, u128::MAX);
    }

    /// The (value, mask) this match requires of `field`; mask 0 means wildcarded.
    pub fn field(&self, field: Field) -> (u128, u128) {
        (field.get(&self.key), field.get(&self.mask))
    }

    /// True if `flow` satisfies this match.
    #[inline]
    pub fn matches(&self, flow: &FlowKey) -> bool {
        flow.eq_masked(&self.key, &self.mask)
    }

    /// True if every packet matching `self` also matches `other` ("self is at least as
    /// specific as other"), used by non-strict modify/delete.
    pub fn is_subset_of(&self, other: &Match) -> bool {
        self.mask
            .words()
            .iter()
            .zip(other.mask.words())
            .zip(self.key.words().iter().zip(other.key.words()))
            .all(|((sm, om), (sk, ok))| om & !sm == 0 && (sk ^ ok) & om == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_relation() {
        let mut wide = Match::CATCHALL;
        wide.set_field_masked(Field::NwSrc, 0x0a00_0000, 0xff00_0000);
        let mut narrow = wide;
        narrow.set_field(Field::TpDst, 80);
        narrow.set_field_masked(Field::NwSrc, 0x0a01_0000, 0xffff_0000);
        assert!(narrow.is_subset_of(&wide));
        assert!(!wide.is_subset_of(&narrow));
        assert!(narrow.is_subset_of(&Match::CATCHALL));
    }
}
