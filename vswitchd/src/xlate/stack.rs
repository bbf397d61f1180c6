//! `push`/`pop`: OVS's register stack (ovs-actions(7)).
//!
//! One stack per translation, shared by every resubmit and group bucket of it (OVS's
//! `ctx->stack`), so a rule can save a field, resubmit, and restore it: OVN's hairpin stage
//! saves `in_port`, clears it so the packet may go back out where it came in, and restores it.
//! A patch port starts its peer bridge with an empty stack of its own, as OVS does.
//!
//! As OVS (`nxm_execute_stack_push`/`_pop`): a push reads the field's bits (un-wildcarding
//! them: the pushed value depends on them); a pop writes its bits (and un-wildcards them too,
//! as OVS's pop does), taking the low bits of the value or zero-extending it; a pop from an
//! empty stack changes nothing and is reported in the trace. OVS sets no depth limit beyond
//! memory; here the stack is bounded by [`MAX_STACK`] entries (a push beyond it is dropped
//! and reported), far above what resubmit depth allows a sane pipeline to reach.

use super::fields::{self, Skip};
use super::{FlowKey, FlowMask};
use crate::ofproto::SubField;

/// Most values on one translation's stack.
pub const MAX_STACK: usize = 1024;

/// Pushes `sf`'s bits from `flow` onto `stack`; false if the stack is full.
pub fn push(stack: &mut Vec<u128>, sf: &SubField, flow: &FlowKey, wc: &mut FlowMask) -> bool {
    if stack.len() >= MAX_STACK {
        return false;
    }
    stack.push(super::ct::read_subfield(sf, flow, wc));
    true
}

/// Pops the top of `stack` into `sf`'s bits of `flow`; false if the stack was empty.
pub fn pop(
    stack: &mut Vec<u128>,
    sf: &SubField,
    flow: &mut FlowKey,
    wc: &mut FlowMask,
) -> Result<bool, Skip> {
    let Some(v) = stack.pop() else {
        return Ok(false);
    };
    sf.field.set(wc, sf.field.get(wc) | sf.mask());
    let n = sf.end - sf.start + 1;
    let v = if n >= 128 { v } else { v & ((1u128 << n) - 1) };
    fields::load(flow, wc, v, sf).map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastpath::flow::Field;

    fn sf(field: Field, start: u32, end: u32) -> SubField {
        SubField { field, start, end }
    }

    #[test]
    fn push_then_pop_restores_and_unwildcards() {
        let mut flow = FlowKey::ZERO;
        flow.regs[0] = 0xdead_beef;
        let mut wc = FlowKey::ZERO;
        let mut stack = Vec::new();
        assert!(push(&mut stack, &sf(Field::Reg(0), 0, 15), &flow, &mut wc));
        assert_eq!(wc.regs[0], 0xffff);
        flow.regs[0] = 0;
        // Into a wider destination: zero-extended.
        assert_eq!(
            pop(&mut stack, &sf(Field::Reg(1), 8, 31), &mut flow, &mut wc),
            Ok(true)
        );
        assert_eq!(flow.regs[1], 0xbeef << 8);
        assert_eq!(wc.regs[1], 0xffff_ff00);
        // Empty: nothing changes.
        assert_eq!(
            pop(&mut stack, &sf(Field::Reg(2), 0, 31), &mut flow, &mut wc),
            Ok(false)
        );
        assert_eq!(flow.regs[2], 0);
        assert_eq!(wc.regs[2], 0);
    }

    #[test]
    fn pop_into_a_narrower_field_keeps_the_low_bits() {
        let mut flow = FlowKey::ZERO;
        let mut wc = FlowKey::ZERO;
        let mut stack = vec![0x1234_5678];
        assert_eq!(
            pop(&mut stack, &sf(Field::Reg(3), 0, 7), &mut flow, &mut wc),
            Ok(true)
        );
        assert_eq!(flow.regs[3], 0x78);
    }

    #[test]
    fn the_stack_is_bounded() {
        let flow = FlowKey::ZERO;
        let mut wc = FlowKey::ZERO;
        let mut stack = vec![0; MAX_STACK];
        assert!(!push(&mut stack, &sf(Field::Reg(0), 0, 31), &flow, &mut wc));
        assert_eq!(stack.len(), MAX_STACK);
    }
}
