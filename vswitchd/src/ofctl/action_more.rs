//! Parsing of the pipeline actions added after the first action set: `clone(...)`, `exit`,
//! `note:HEX`, `output:FIELD[bits]` / `output(port=FIELD[bits],max_len=N)` and
//! `check_pkt_larger(N)->FIELD[bit]`, with OVS's syntax (`ofp-actions.c`'s `parse_CLONE`,
//! `parse_NOTE`, `parse_OUTPUT`, `parse_truncate_subfield`, `parse_CHECK_PKT_LARGER`).
//!
//! A clone's actions are checked as a flow's are (OVS's `check_subactions`): prerequisites
//! against the same match, `drop` alone. What cannot be nested (OVS's
//! `ofpacts_verify_nested`: instructions such as `goto_table`, and `conjunction`) is refused.

use super::PortNames;
use super::action_parse::{action_prereq, check_prereq};
use super::error::OfctlError;
use super::lex::{parse_uint_bits, parse_uint_bits_dec, split_items};
use super::subfield::parse_subfield;
use crate::ofproto::{Match, OfAction, SubField};

/// `clone(ACTIONS)`, its actions already parsed.
pub(crate) fn finish_clone(actions: Vec<OfAction>) -> Result<OfAction, OfctlError> {
    if actions.len() > 1 && actions.contains(&OfAction::Drop) {
        return Err(OfctlError::DropNotAlone);
    }
    for a in &actions {
        let what = match a {
            OfAction::GotoTable(t) => format!("goto_table:{t}"),
            OfAction::Conjunction(_) => "conjunction".to_owned(),
            _ => continue,
        };
        return Err(OfctlError::bad_action(
            "clone",
            format!("'{what}' cannot be used inside clone()"),
        ));
    }
    Ok(OfAction::Clone(
        actions
            .into_iter()
            .filter(|a| *a != OfAction::Drop)
            .collect(),
    ))
}

/// Whether `key` is one of this module's actions with a parenthesised argument that
/// [`parse_list`](super::action_parse) must hand down its context to.
pub(crate) fn is_clone(key: &str, delim: Option<char>) -> bool {
    key == "clone" && delim == Some('(')
}

/// `note:HEX` (pairs of hex digits, optionally separated by `.`; may be empty).
pub(crate) fn parse_note(value: &str) -> Result<OfAction, OfctlError> {
    let digits: Vec<u8> = value
        .bytes()
        .filter(|b| *b != b'.' && !b.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(OfctlError::bad_action(
            "note",
            "bad hex digit in `note' argument",
        ));
    }
    let hex = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
    Ok(OfAction::Note(padded_note(
        digits
            .chunks(2)
            .map(|p| hex(p[0]) << 4 | hex(p[1]))
            .collect(),
    )))
}

/// A note with the zero bytes OVS's wire form pads it with (the action is a multiple of 8
/// bytes, at least 16, after a 10-byte header); OVS keeps and prints them, as here.
pub fn padded_note(mut bytes: Vec<u8>) -> Vec<u8> {
    let len = (10 + bytes.len()).div_ceil(8).max(2) * 8 - 10;
    bytes.resize(len, 0);
    bytes
}

/// A source sub-field whose bits must be guaranteed by the match (OVS's `mf_check_src`).
fn src_subfield(what: &str, s: &str, m: &Match) -> Result<SubField, OfctlError> {
    let (desc, sub) = parse_subfield(s)?;
    check_prereq(&format!("{what}:{s}"), action_prereq(&desc), m)?;
    Ok(sub)
}

/// `output:FIELD[bits]` (the value is not a port): OVS's `OUTPUT_REG`, `max_len` 65535.
pub(crate) fn parse_output_reg(value: &str, m: &Match) -> Result<OfAction, OfctlError> {
    Ok(OfAction::OutputReg {
        src: src_subfield("output", value, m)?,
        max_len: u16::MAX,
    })
}

/// `output(port=P,max_len=N)`: with a sub-field port, an `OUTPUT_REG`; output truncation to a
/// fixed port (OVS's `OUTPUT_TRUNC`) is not supported.
pub(crate) fn parse_output_paren(
    value: &str,
    m: &Match,
    names: &dyn PortNames,
) -> Result<OfAction, OfctlError> {
    let mut port = None;
    let mut max_len = None;
    for item in split_items(value)? {
        match item.key {
            "port" => port = Some(item.value),
            "max_len" => max_len = Some(parse_uint_bits_dec("max_len", item.value, 32)?),
            k => {
                return Err(OfctlError::bad_action(
                    "output",
                    format!("invalid key '{k}' in output_trunc argument"),
                ));
            }
        }
    }
    let (Some(port), Some(max_len)) = (port, max_len) else {
        return Err(OfctlError::bad_action(
            "output",
            "output(...) needs port=PORT and max_len=N",
        ));
    };
    if super::lex::parse_port(port, names).is_some() {
        return Err(OfctlError::bad_action(
            "output",
            "output truncation to a fixed port is not supported by vswitch",
        ));
    }
    if max_len < 14 {
        return Err(OfctlError::bad_action(
            "output",
            format!("max_len {max_len} is less than the minimum value 14"),
        ));
    }
    if max_len > u128::from(u16::MAX) {
        return Err(OfctlError::bad_value(
            "max_len",
            &max_len.to_string(),
            "a register output's max_len is 16 bits",
        ));
    }
    Ok(OfAction::OutputReg {
        src: src_subfield("output", port, m)?,
        max_len: max_len as u16,
    })
}

/// `check_pkt_larger(N)->DST` (the lexer hands over `N)->DST`).
pub(crate) fn parse_check_pkt_larger(value: &str) -> Result<OfAction, OfctlError> {
    let key = "check_pkt_larger";
    let (n, dst) = value
        .split_once(")->")
        .ok_or_else(|| OfctlError::bad_action(key, "expected check_pkt_larger(N)->FIELD[bit]"))?;
    let len = parse_uint_bits(key, n.trim(), 16)? as u16;
    let (desc, dst) = parse_subfield(dst.trim())?;
    if dst.n_bits() != 1 {
        return Err(OfctlError::bad_action(
            key,
            "Only 1-bit destination field is allowed",
        ));
    }
    if !super::fields::writable(desc.field) {
        return Err(OfctlError::bad_action(
            key,
            format!("{} is read-only", desc.name),
        ));
    }
    Ok(OfAction::CheckPktLarger { len, dst })
}

#[cfg(test)]
mod tests {
    use crate::ofctl::{FlowSyntax, NoNames, format_flow, parse_flow};

    /// Parses a flow and prints it back as `ovs-ofctl dump-flows` would.
    fn round(s: &str) -> String {
        let f = parse_flow(s, &NoNames, FlowSyntax::Add).unwrap_or_else(|e| panic!("{s}: {e}"));
        format_flow(&f, &NoNames)
    }

    fn err(s: &str) -> String {
        match parse_flow(s, &NoNames, FlowSyntax::Add) {
            Ok(f) => panic!("{s} parsed as {f:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn clone_exit_note_print_as_ovs_ofctl() {
        // The printed forms are `ovs-ofctl parse-flows` 3.1's for the same input.
        let f = round("ip,actions=clone(mod_nw_dst:10.0.0.9,output:2),exit,note:0102.03");
        assert!(
            f.ends_with("actions=clone(mod_nw_dst:10.0.0.9,output:2),exit,note:01.02.03.00.00.00"),
            "{f}"
        );
        let f = round("actions=clone(clone(output:1)),note:01.02.03.04.05.06.07");
        assert!(
            f.ends_with(
                "actions=clone(clone(output:1)),note:01.02.03.04.05.06.07.00.00.00.00.00.00.00"
            ),
            "{f}"
        );
        assert!(err("actions=clone(clone(output:1),drop)").contains("drop"));
        assert!(round("actions=clone()").ends_with("actions=clone(drop)"));
        assert!(err("actions=clone(goto_table:1)").contains("inside clone"));
        assert!(err("actions=clone(output:1,drop)").contains("drop"));
        assert!(err("actions=clone(mod_nw_dst:10.0.0.9)").contains("requires"));
        assert!(err("actions=note:0g").contains("bad hex digit"));
        assert!(err("actions=exit:1").contains("no argument"));
    }

    #[test]
    fn output_reg_and_check_pkt_larger() {
        let f = round("actions=output:reg0[0..15],output(port=reg1[16..31],max_len=128)");
        assert!(
            f.ends_with("actions=output:reg0[0..15],output:reg1[16..31]"),
            "{f}"
        );
        let f = round("actions=check_pkt_larger(1500)->reg0[0],resubmit(,1)");
        assert!(
            f.ends_with("actions=check_pkt_larger(1500)->reg0[0],resubmit(,1)"),
            "{f}"
        );
        assert!(err("actions=check_pkt_larger(1500)->reg0[0..1]").contains("1-bit"));
        assert!(err("actions=output:tcp_src").contains("requires"));
        assert!(err("actions=output(port=1,max_len=100)").contains("not supported"));
        // Without both keys the parenthesised form is `output:ARG` (OVS's testsuite writes
        // `output(2)`).
        assert!(round("actions=output(2)").contains("actions=output:2"));
        assert!(round("actions=output(NXM_NX_REG0[])").contains("actions=output:"));
        assert!(err("actions=output(port=reg0[],max_len=10)").contains("minimum value 14"));
    }
}
