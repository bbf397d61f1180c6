//! Field-writing actions that name fields with bit ranges: `set_field`, `load` and `move`.
//!
//! # What and why
//!
//! OVS names some fields narrower or wider than the storage behind them: `in_port` is the
//! 16-bit NXM field (only `in_port_oxm` is 32 bits), `vlan_vid` is the 13 bits of VID and
//! present bit, and `xreg0` / `xxreg0` are 64- and 128-bit views of two or four 32-bit
//! registers, most significant first. A [`SubField`] lives in one [`Field`], so a reference
//! to an extended register is split here into *pieces*, one per register it touches, and an
//! action on it becomes one action per piece (`load:V->xreg0` loads `reg0` and `reg1`; a
//! `move` is cut wherever either side crosses a register boundary). The actions run in order
//! and the pieces are disjoint, so the result equals OVS's single wide write, except for a
//! `move` whose source and destination overlap across pieces, which is refused.

use super::PortNames;
use super::action_parse::{Ctx, action_prereq, check_prereq, dst_field, parse_masked, split_arrow};
use super::error::OfctlError;
use super::fields::{self, FieldName};
use super::lex::{parse_uint_bits, parse_uint_dec};
use super::match_parse::split_wide;
use crate::ofproto::action::SetSpelling;
use crate::ofproto::{Match, OfAction, SubField};
use fastpath::flow::Field;

/// Splits `NAME[...]` into the name and the optional range text.
fn split_range(s: &str) -> Result<(&str, Option<&str>), OfctlError> {
    match s.split_once('[') {
        Some((n, r)) => {
            let r = r
                .strip_suffix(']')
                .ok_or_else(|| OfctlError::syntax(s, "expected FIELD[START..END]"))?;
            Ok((n, Some(r)))
        }
        None => Ok((s, None)),
    }
}

/// Parses `NAME[]`, `NAME[a..b]`, `NAME[a]` or bare `NAME` into its pieces, least significant
/// first (one piece unless the name is an extended register).
pub(crate) fn parse_pieces(s: &str) -> Result<(FieldName, Vec<SubField>), OfctlError> {
    let (name, range) = split_range(s)?;
    let desc = fields::lookup(name).ok_or_else(|| OfctlError::UnknownField(name.to_owned()))?;
    let bits = desc.bits();
    let bad = |why: String| OfctlError::bad_value(name, s, why);
    let (start, end) = match range {
        None | Some("") => (0, bits - 1),
        Some(r) => {
            let (a, b) = r.split_once("..").unwrap_or((r, r));
            let a = parse_uint_dec(a).ok_or_else(|| bad("bad bit number".into()))?;
            let b = parse_uint_dec(b).ok_or_else(|| bad("bad bit number".into()))?;
            if a > b || b >= bits as u128 {
                return Err(bad(format!("bits must satisfy START <= END < {bits}")));
            }
            (a as u32, b as u32)
        }
    };
    let Field::Reg(base) = desc.field else {
        return Ok((desc, vec![sub(desc.field, start, end)]));
    };
    if desc.regs == 0 {
        return Ok((desc, vec![sub(desc.field, start, end)]));
    }
    // Bit i of an extended register is bit i % 32 of register base + regs - 1 - i / 32.
    let mut pieces = Vec::new();
    let mut lo = start;
    while lo <= end {
        let hi = end.min(lo / 32 * 32 + 31);
        let reg = base + desc.regs - 1 - (lo / 32) as u8;
        pieces.push(sub(Field::Reg(reg), lo % 32, hi % 32));
        lo = hi + 1;
    }
    Ok((desc, pieces))
}

fn sub(field: Field, start: u32, end: u32) -> SubField {
    SubField { field, start, end }
}

/// Parses a reference that must stay within one field (`ct(zone=NXM_NX_REG0[0..15])`).
pub(crate) fn parse_subfield(s: &str) -> Result<(FieldName, SubField), OfctlError> {
    let (desc, pieces) = parse_pieces(s)?;
    match pieces[..] {
        [one] => Ok((desc, one)),
        _ => Err(OfctlError::bad_value(
            desc.name,
            s,
            "this use takes bits of one 32-bit register",
        )),
    }
}

/// `set_field:VALUE[/MASK]->FIELD`.
pub(crate) fn parse_set_field(
    v: &str,
    m: &Match,
    names: &dyn PortNames,
    ctx: Ctx,
) -> Result<Vec<OfAction>, OfctlError> {
    let (value, name) = split_arrow("set_field", v)?;
    let desc = dst_field("set_field", name, m, ctx)?;
    let (value, mask) = parse_masked(name, &desc, value, names)?;
    if mask == 0 {
        return Err(OfctlError::bad_value(name, v, "a zero mask sets nothing"));
    }
    Ok(split_wide(&desc, value, mask)
        .into_iter()
        .filter(|(_, _, mask)| *mask != 0)
        .map(|(field, value, mask)| OfAction::SetField {
            field,
            value,
            mask,
            spelling: SetSpelling::SetField,
        })
        .collect())
}

/// `load:VALUE->FIELD[a..b]`.
pub(crate) fn parse_load(v: &str, m: &Match, ctx: Ctx) -> Result<Vec<OfAction>, OfctlError> {
    let (value, dst) = split_arrow("load", v)?;
    let (_, pieces) = parse_pieces(dst)?;
    dst_field("load", base_name(dst), m, ctx)?;
    let total: u32 = pieces.iter().map(SubField::n_bits).sum();
    let mut value = parse_uint_bits(dst, value, total)?;
    let mut out = Vec::new();
    for p in pieces {
        let n = p.n_bits();
        let part = if n >= 128 {
            value
        } else {
            value & ((1u128 << n) - 1)
        };
        out.push(OfAction::Load {
            value: part,
            dst: p,
        });
        value = if n >= 128 { 0 } else { value >> n };
    }
    Ok(out)
}

/// `move:SRC[a..b]->DST[c..d]`.
pub(crate) fn parse_move(v: &str, m: &Match, ctx: Ctx) -> Result<Vec<OfAction>, OfctlError> {
    let (src, dst) = split_arrow("move", v)?;
    let (sdesc, spieces) = parse_pieces(src)?;
    check_prereq(&format!("move:{src}"), action_prereq(&sdesc), m)?;
    let (_, dpieces) = parse_pieces(dst)?;
    dst_field("move", base_name(dst), m, ctx)?;
    let sbits: u32 = spieces.iter().map(SubField::n_bits).sum();
    let dbits: u32 = dpieces.iter().map(SubField::n_bits).sum();
    if sbits != dbits {
        return Err(OfctlError::bad_action(
            "move",
            format!("source {src} has {sbits} bits but destination {dst} has {dbits}"),
        ));
    }
    cut_moves_checked(&spieces, &dpieces).ok_or_else(|| {
        OfctlError::bad_action(
            "move",
            format!("source {src} and destination {dst} overlap"),
        )
    })
}

/// [`cut_moves`], or `None` where piecewise copying would differ from one wide copy (a later
/// piece reads what an earlier one wrote). For moves decoded from the OpenFlow wire.
pub(crate) fn cut_moves_checked(src: &[SubField], dst: &[SubField]) -> Option<Vec<OfAction>> {
    let moves = cut_moves(src, dst);
    for (i, a) in moves.iter().enumerate() {
        for b in &moves[i + 1..] {
            if let (OfAction::Move { dst: w, .. }, OfAction::Move { src: r, .. }) = (a, b)
                && overlaps(w, r)
            {
                return None;
            }
        }
    }
    Some(moves)
}

/// Pairs source and destination pieces (both least significant first) into moves that each
/// stay within one field on both sides.
fn cut_moves(src: &[SubField], dst: &[SubField]) -> Vec<OfAction> {
    let (mut si, mut di) = (0, 0);
    let (mut so, mut doff) = (0, 0);
    let mut out = Vec::new();
    while si < src.len() && di < dst.len() {
        let (s, d) = (src[si], dst[di]);
        let n = (s.n_bits() - so).min(d.n_bits() - doff);
        out.push(OfAction::Move {
            src: sub(s.field, s.start + so, s.start + so + n - 1),
            dst: sub(d.field, d.start + doff, d.start + doff + n - 1),
        });
        so += n;
        doff += n;
        if so == s.n_bits() {
            si += 1;
            so = 0;
        }
        if doff == d.n_bits() {
            di += 1;
            doff = 0;
        }
    }
    out
}

fn overlaps(a: &SubField, b: &SubField) -> bool {
    a.field == b.field && a.start <= b.end && b.start <= a.end
}

/// The name as written, before any `[..]`.
fn base_name(written: &str) -> &str {
    written.split('[').next().unwrap_or(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_and_wide_names_split_into_pieces() {
        let (_, p) = parse_pieces("NXM_OF_IN_PORT[]").unwrap();
        assert_eq!(p, vec![sub(Field::InPort, 0, 15)]);
        let (_, p) = parse_pieces("in_port_oxm[]").unwrap();
        assert_eq!(p, vec![sub(Field::InPort, 0, 31)]);
        let (_, p) = parse_pieces("xreg1[16..47]").unwrap();
        assert_eq!(
            p,
            vec![sub(Field::Reg(3), 16, 31), sub(Field::Reg(2), 0, 15)]
        );
        let (_, p) = parse_pieces("xxreg0[]").unwrap();
        let regs: Vec<_> = p.iter().map(|s| s.field).collect();
        assert_eq!(regs, [3, 2, 1, 0].map(Field::Reg));
        assert!(parse_pieces("xreg8[]").is_err());
        assert!(parse_pieces("xreg0[64]").is_err());
        assert!(parse_subfield("xreg0[0..40]").is_err());
        assert_eq!(
            parse_subfield("xreg0[40..47]").unwrap().1,
            sub(Field::Reg(0), 8, 15)
        );
    }

    #[test]
    fn moves_are_cut_at_register_boundaries() {
        let m = Match::CATCHALL;
        let a = parse_move("NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15]", &m, Ctx::Flow).unwrap();
        assert_eq!(
            a,
            vec![OfAction::Move {
                src: sub(Field::InPort, 0, 15),
                dst: sub(Field::Reg(0), 0, 15)
            }]
        );
        let a = parse_move("xreg0[]->xreg1[]", &m, Ctx::Flow).unwrap();
        assert_eq!(a.len(), 2);
        let a = parse_move("reg0[]->xreg1[16..47]", &m, Ctx::Flow).unwrap();
        assert_eq!(
            a,
            vec![
                OfAction::Move {
                    src: sub(Field::Reg(0), 0, 15),
                    dst: sub(Field::Reg(3), 16, 31)
                },
                OfAction::Move {
                    src: sub(Field::Reg(0), 16, 31),
                    dst: sub(Field::Reg(2), 0, 15)
                },
            ]
        );
        assert!(parse_move("xreg0[0..47]->xreg0[16..63]", &m, Ctx::Flow).is_err());
        let e = parse_move("in_port_oxm[]->reg0[0..15]", &m, Ctx::Flow).unwrap_err();
        assert!(e.to_string().contains("32 bits"), "{e}");
    }

    #[test]
    fn loads_and_set_fields_write_each_register() {
        let m = Match::CATCHALL;
        let a = parse_load("0x100000002->xreg0", &m, Ctx::Flow).unwrap();
        assert_eq!(
            a,
            vec![
                OfAction::Load {
                    value: 2,
                    dst: sub(Field::Reg(1), 0, 31)
                },
                OfAction::Load {
                    value: 1,
                    dst: sub(Field::Reg(0), 0, 31)
                },
            ]
        );
        let a = parse_set_field("0x5/0xff->xxreg1", &m, &super::super::NoNames, Ctx::Flow).unwrap();
        assert_eq!(
            a,
            vec![OfAction::SetField {
                field: Field::Reg(7),
                value: 5,
                mask: 0xff,
                spelling: SetSpelling::SetField
            }]
        );
    }
}
