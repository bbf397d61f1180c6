//! `push:FIELD[bits]` and `pop:FIELD[bits]`, OVS's register stack (ovs-actions(7)).
//!
//! As OVS checks them: a pushed field must be readable where the rule matches (its
//! prerequisites hold), a popped one writable there. The bits are one field's; an extended
//! register's (`xreg`, `xxreg`) must lie in one of its 32-bit registers, since the model's
//! subfields name one field.

use super::action_parse::Ctx;
use super::action_parse::{action_prereq, check_prereq, dst_field};
use super::error::OfctlError;
use super::subfield::parse_pieces;
use crate::ofproto::{Match, OfAction};

/// Parses the argument of `push:` (`push` true) or `pop:`.
pub(super) fn parse(push: bool, v: &str, m: &Match) -> Result<OfAction, OfctlError> {
    let what = if push { "push" } else { "pop" };
    let (desc, pieces) = parse_pieces(v)?;
    let [sf] = pieces[..] else {
        return Err(OfctlError::bad_action(
            what,
            format!("{v}: vswitch takes the bits of one 32-bit register of an extended register"),
        ));
    };
    if push {
        check_prereq(&format!("push:{v}"), action_prereq(&desc), m)?;
        Ok(OfAction::StackPush(sf))
    } else {
        // The name as written: a register family's descriptor names the family ("reg").
        let name = v.split_once('[').map_or(v, |(n, _)| n).trim();
        dst_field("pop", name, m, Ctx::Flow)?;
        Ok(OfAction::StackPop(sf))
    }
}

#[cfg(test)]
mod tests {
    use crate::ofctl::{FlowSyntax, NoNames, format_flow, parse_flow};

    fn round_trip(s: &str) -> String {
        let spec = parse_flow(s, &NoNames, FlowSyntax::Add).unwrap();
        format_flow(&spec, &NoNames)
    }

    #[test]
    fn push_and_pop_parse_and_print_as_ovs_ofctl() {
        // OVN's table 64 (hairpin back out of the in_port).
        let f = round_trip(
            "table=64,priority=100,reg10=0x1/0x1,reg15=0x1,metadata=0x1,\
             actions=push:NXM_OF_IN_PORT[],set_field:ANY->in_port,resubmit(,65),pop:NXM_OF_IN_PORT[]",
        );
        assert!(
            f.contains("actions=push:NXM_OF_IN_PORT[],set_field:ANY->in_port,resubmit(,65),pop:NXM_OF_IN_PORT[]")
                || f.contains("actions=push:in_port[],load:0xffff->in_port[],resubmit(,65),pop:in_port[]")
                || f.contains("actions=push:in_port[],set_field:ANY->in_port,resubmit(,65),pop:in_port[]"),
            "{f}"
        );
        let f = round_trip("actions=push:reg0[0..15],pop:reg1[16..31]");
        assert!(f.contains("push:"), "{f}");
    }

    #[test]
    fn pop_needs_a_writable_field_and_push_its_prerequisites() {
        let e = parse_flow("actions=pop:nw_src[]", &NoNames, FlowSyntax::Add).unwrap_err();
        assert!(e.to_string().contains("pop"), "{e}");
        assert!(parse_flow("ip,actions=pop:nw_src[]", &NoNames, FlowSyntax::Add).is_ok());
        assert!(parse_flow("actions=push:tcp_src[]", &NoNames, FlowSyntax::Add).is_err());
        assert!(parse_flow("actions=pop:in_port_oxm[0..7]", &NoNames, FlowSyntax::Add).is_ok());
        assert!(parse_flow("actions=push:xreg0[]", &NoNames, FlowSyntax::Add).is_err());
        assert!(parse_flow("actions=push:xxreg0[0..31]", &NoNames, FlowSyntax::Add).is_ok());
        assert!(parse_flow("actions=pop", &NoNames, FlowSyntax::Add).is_err());
    }
}
