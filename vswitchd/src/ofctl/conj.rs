//! `conjunction(ID,K/N)` in the flow syntax, with ovs-ofctl's checks and messages.
//!
//! The argument is read as OVS's `ovs_scan("%i , %u / %u")` reads it: the id in C integer
//! syntax (decimal, `0x` hex, leading-`0` octal), blanks allowed around the separators. `N`
//! must be 2..=64 and `K` 1..=N. A rule with a `conjunction` action may have no action of
//! another kind (OVS also allows `note`, which vswitch does not parse yet): the checks and the
//! messages are `ofpacts_verify`'s.

use super::error::OfctlError;
use super::lex::parse_uint;
use crate::classifier::Conjunction;
use crate::ofproto::OfAction;

const KEY: &str = "conjunction";

/// Parses the inside of `conjunction(...)`.
pub(crate) fn parse_conjunction(arg: &str) -> Result<OfAction, OfctlError> {
    let syntax =
        || OfctlError::bad_action(KEY, "\"conjunction\" syntax is \"conjunction(id,i/n)\"");
    let (id, rest) = arg.split_once(',').ok_or_else(syntax)?;
    let (k, n) = rest.split_once('/').ok_or_else(syntax)?;
    let num = |s: &str, max: u128| {
        parse_uint(s.trim())
            .filter(|v| *v <= max)
            .ok_or_else(syntax)
    };
    let id = num(id, u128::from(u32::MAX))? as u32;
    let clause = num(k, u128::from(u8::MAX))? as u8;
    let n_clauses = num(n, u128::from(u8::MAX))? as u8;
    let why = if n_clauses < 2 {
        "conjunction must have at least 2 clauses"
    } else if n_clauses > 64 {
        "conjunction must have at most 64 clauses"
    } else if clause < 1 {
        "clause index must be positive"
    } else if clause > n_clauses {
        "clause index must be less than or equal to number of clauses"
    } else {
        return Ok(OfAction::Conjunction(Conjunction {
            id,
            clause: clause - 1,
            n_clauses,
        }));
    };
    Err(OfctlError::bad_action(KEY, why))
}

/// OVS's name for the kind of an action (`ofpact_name`), for messages.
fn ofpact_name(a: &OfAction) -> &'static str {
    match a {
        OfAction::Output(_)
        | OfAction::InPort
        | OfAction::Normal
        | OfAction::Flood
        | OfAction::All
        | OfAction::Local => "output",
        OfAction::Drop => "drop",
        OfAction::SetField { .. } | OfAction::Load { .. } => "set_field",
        OfAction::Move { .. } => "move",
        OfAction::StackPush(_) => "stack_push",
        OfAction::StackPop(_) => "stack_pop",
        OfAction::PushVlan(_) => "push_vlan",
        OfAction::SetVlanVid(_) => "mod_vlan_vid",
        OfAction::SetVlanPcp(_) => "mod_vlan_pcp",
        OfAction::PopVlan => "strip_vlan",
        OfAction::DecTtl => "dec_ttl",
        OfAction::GotoTable(_) => "goto_table",
        OfAction::Resubmit { .. } => "resubmit",
        OfAction::Ct(_) => "ct",
        OfAction::CtClear => "ct_clear",
        OfAction::Learn(_) => "learn",
        OfAction::FinTimeout { .. } => "fin_timeout",
        OfAction::Group(_) => "group",
        OfAction::Controller(_) => "controller",
        OfAction::Conjunction(_) => "conjunction",
        OfAction::Clone(_) => "clone",
        OfAction::Exit => "exit",
        OfAction::Note(_) => "note",
        OfAction::OutputReg { .. } => "output_reg",
        OfAction::CheckPktLarger { .. } => "check_pkt_larger",
        OfAction::Meter(_) => "meter",
    }
}

/// Refuses a list that mixes `conjunction` with other kinds of action.
pub(crate) fn check_conjunctions(actions: &[OfAction]) -> Result<(), OfctlError> {
    if !actions
        .iter()
        .any(|a| matches!(a, OfAction::Conjunction(_)))
    {
        return Ok(());
    }
    match actions
        .iter()
        .find(|a| !matches!(a, OfAction::Conjunction(_) | OfAction::Note(_)))
    {
        None => Ok(()),
        Some(other) => Err(OfctlError::bad_action(
            KEY,
            format!(
                "\"conjunction\" actions may be used along with \"note\" but not any other \
                 kind of action (such as the \"{}\" action used here)",
                ofpact_name(other)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::{FlowSyntax, NoNames, format_flow, parse_flow};

    fn err(flow: &str) -> String {
        parse_flow(flow, &NoNames, FlowSyntax::Add)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn conjunction_parses_and_prints_as_ovs() {
        let f = parse_flow(
            "priority=10,ip,nw_src=10.0.0.1,actions=conjunction(0x10, 1 / 2),conjunction(7,2/3)",
            &NoNames,
            FlowSyntax::Add,
        )
        .unwrap();
        assert_eq!(
            f.actions,
            vec![
                OfAction::Conjunction(Conjunction {
                    id: 16,
                    clause: 0,
                    n_clauses: 2
                }),
                OfAction::Conjunction(Conjunction {
                    id: 7,
                    clause: 1,
                    n_clauses: 3
                }),
            ]
        );
        let text = format_flow(&f, &NoNames);
        assert!(
            text.ends_with("actions=conjunction(16,1/2),conjunction(7,2/3)"),
            "{text}"
        );
        assert_eq!(
            parse_flow(&text, &NoNames, FlowSyntax::Add)
                .unwrap()
                .actions,
            f.actions
        );

        let c = parse_flow("conj_id=16,ip,actions=output:2", &NoNames, FlowSyntax::Add).unwrap();
        assert_eq!(c.m.key.conj_id, 16);
        assert_eq!(c.m.mask.conj_id, u32::MAX);
        let text = format_flow(&c, &NoNames);
        assert!(text.starts_with("conj_id=16,ip"), "{text}");
        assert!(err("conj_id=16/0xff,actions=drop").contains("cannot be masked"));
    }

    #[test]
    fn misuse_gets_ovs_messages() {
        for (flow, msg) in [
            (
                "actions=conjunction(1,1/1)",
                "conjunction must have at least 2 clauses",
            ),
            (
                "actions=conjunction(1,1/65)",
                "conjunction must have at most 64 clauses",
            ),
            (
                "actions=conjunction(1,0/2)",
                "clause index must be positive",
            ),
            (
                "actions=conjunction(1,3/2)",
                "clause index must be less than or equal to number of clauses",
            ),
            (
                "actions=conjunction(1,2)",
                "\"conjunction\" syntax is \"conjunction(id,i/n)\"",
            ),
            (
                "actions=conjunction(x,1/2)",
                "\"conjunction\" syntax is \"conjunction(id,i/n)\"",
            ),
            (
                "actions=conjunction(1,1/2),output:1",
                "(such as the \"output\" action used here)",
            ),
            (
                "actions=resubmit(,2),conjunction(1,1/2)",
                "(such as the \"resubmit\" action used here)",
            ),
        ] {
            let e = err(flow);
            assert!(e.contains(msg), "{flow}: {e}");
        }
        assert!(err("actions=set_field:1->conj_id").contains("read-only"));
    }
}
