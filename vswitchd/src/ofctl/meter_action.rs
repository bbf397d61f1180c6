//! The `meter:N` action (OpenFlow 1.3's meter instruction; 1.5's meter action).
//!
//! As in ovs-ofctl, a meter is an instruction first: it comes before every other action (a
//! later one is "invalid instruction ordering"), a flow names at most one, and a group bucket
//! names none. Whether meter N exists is the flow table's check (a flow-mod naming a missing
//! meter fails with OFPMMFC_INVALID_METER, as in OVS), not the parser's.

use super::error::OfctlError;
use super::lex;
use crate::ofproto::OfAction;
use crate::ofproto::meter::OFPM_MAX;

/// `meter:N`.
pub(super) fn parse_meter_action(key: &str, v: &str) -> Result<OfAction, OfctlError> {
    let id = lex::parse_uint_bits_dec(key, v, 32)? as u32;
    if id == 0 || id > OFPM_MAX {
        return Err(OfctlError::bad_value(
            key,
            v,
            "meters are numbered 1..4294901760",
        ));
    }
    Ok(OfAction::Meter(id))
}

/// A meter may only be the first action of a flow.
pub(super) fn check_meter_first(actions: &[OfAction]) -> Result<(), OfctlError> {
    match actions
        .iter()
        .skip(1)
        .find(|a| matches!(a, OfAction::Meter(_)))
    {
        Some(OfAction::Meter(m)) => Err(OfctlError::bad_action(
            &format!("meter:{m}"),
            "invalid instruction ordering: meter must appear before apply_actions, for \
             OpenFlow 1.1+ compatibility",
        )),
        _ => Ok(()),
    }
}

/// Group buckets hold actions, not instructions.
pub(super) fn check_no_meter(actions: &[OfAction]) -> Result<(), OfctlError> {
    match actions.iter().find(|a| matches!(a, OfAction::Meter(_))) {
        Some(OfAction::Meter(m)) => Err(OfctlError::bad_action(
            &format!("meter:{m}"),
            "a group bucket cannot hold a meter",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::ofctl::{FlowSyntax, NoNames, format_flow, parse_flow};

    fn parse(s: &str) -> Result<crate::ofproto::FlowSpec, crate::ofctl::OfctlError> {
        parse_flow(s, &NoNames, FlowSyntax::Add)
    }

    #[test]
    fn meter_is_the_first_action_and_prints_back() {
        let f = parse("in_port=1,actions=meter:1,output:2").unwrap();
        assert!(format_flow(&f, &NoNames).ends_with("actions=meter:1,output:2"));
        assert_eq!(
            f.actions,
            vec![
                crate::ofproto::OfAction::Meter(1),
                crate::ofproto::OfAction::Output(2)
            ]
        );
        for bad in [
            "actions=output:2,meter:1",
            "actions=meter:1,meter:2",
            "actions=meter:0",
            "actions=meter:4294967295",
            "actions=meter",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
