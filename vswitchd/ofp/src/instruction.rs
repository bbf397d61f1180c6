//! OpenFlow 1.1+ instructions: `goto_table`, `write_metadata`, `write_actions`,
//! `apply_actions`, `clear_actions`, `meter`.
//!
//! Each is `type(16) len(16) body`; the action-carrying ones have 4 bytes of padding and then
//! actions filling the rest. A flow-mod may carry each instruction type once
//! (`OFPBIC_DUP_INST` otherwise). OpenFlow 1.0 has no instructions: its flow-mods carry an
//! action list, which this crate presents as a single [`Instruction::ApplyActions`].

use crate::action::{Action, decode_actions, encode_actions};
use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, Version};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    GotoTable(u8),
    WriteMetadata { metadata: u64, mask: u64 },
    WriteActions(Vec<Action>),
    ApplyActions(Vec<Action>),
    ClearActions,
    Meter(u32),
}

impl Instruction {
    /// The wire type (`OFPIT_*`).
    pub fn wire_type(&self) -> u16 {
        match self {
            Instruction::GotoTable(_) => 1,
            Instruction::WriteMetadata { .. } => 2,
            Instruction::WriteActions(_) => 3,
            Instruction::ApplyActions(_) => 4,
            Instruction::ClearActions => 5,
            Instruction::Meter(_) => 6,
        }
    }
}

/// Reads the instructions filling `r`.
pub fn decode_instructions(mut r: Reader<'_>, v: Version) -> Result<Vec<Instruction>, DecodeError> {
    let mut out: Vec<Instruction> = Vec::new();
    while !r.is_empty() {
        let mut head = Reader::new(r.peek_rest(), "instruction header");
        let typ = head.u16()?;
        let len = usize::from(head.u16()?);
        if len < 8 || len % 8 != 0 {
            return Err(DecodeError::BadInstructionLen(len));
        }
        let mut b = r.sub(len, "instruction")?;
        b.skip(4)?;
        let fixed = |want: usize| {
            if len == want {
                Ok(())
            } else {
                Err(DecodeError::BadInstructionLen(len))
            }
        };
        let inst = match typ {
            1 => {
                fixed(8)?;
                Instruction::GotoTable(b.u8()?)
            }
            2 => {
                fixed(24)?;
                b.skip(4)?;
                Instruction::WriteMetadata {
                    metadata: b.u64()?,
                    mask: b.u64()?,
                }
            }
            3 | 4 => {
                b.skip(4)?;
                let acts = decode_actions(b, v, 0)?;
                if typ == 3 {
                    Instruction::WriteActions(acts)
                } else {
                    Instruction::ApplyActions(acts)
                }
            }
            5 => {
                fixed(8)?;
                Instruction::ClearActions
            }
            6 => {
                fixed(8)?;
                Instruction::Meter(b.u32()?)
            }
            _ => return Err(DecodeError::BadInstruction(typ)),
        };
        if out.iter().any(|i| i.wire_type() == typ) {
            return Err(DecodeError::DupInstruction(typ));
        }
        out.push(inst);
    }
    Ok(out)
}

/// Appends instructions.
pub fn encode_instructions(
    w: &mut Writer,
    insts: &[Instruction],
    v: Version,
) -> Result<(), EncodeError> {
    for inst in insts {
        let start = w.len();
        w.u16(inst.wire_type());
        w.u16(0);
        match inst {
            Instruction::GotoTable(t) => {
                w.u8(*t);
                w.zeros(3);
            }
            Instruction::WriteMetadata { metadata, mask } => {
                w.zeros(4);
                w.u64(*metadata);
                w.u64(*mask);
            }
            Instruction::WriteActions(a) | Instruction::ApplyActions(a) => {
                w.zeros(4);
                encode_actions(w, a, v)?;
            }
            Instruction::ClearActions => w.zeros(4),
            Instruction::Meter(m) => w.u32(*m),
        }
        w.patch_len(start + 2, start)?;
    }
    Ok(())
}

/// OpenFlow 1.0's view of instructions: only an action list.
pub fn as_of10_actions(insts: &[Instruction]) -> Result<&[Action], EncodeError> {
    match insts {
        [] => Ok(&[]),
        [Instruction::ApplyActions(a)] => Ok(a),
        _ => Err(EncodeError::NotInVersion("instructions", Version::Of10)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_goto_and_apply() {
        // apply_actions(output:2), goto_table:1 as ovs-ofctl -O OpenFlow13 encodes them.
        let bytes = [
            0, 4, 0, 24, 0, 0, 0, 0, // apply_actions, len 24
            0, 0, 0, 16, 0, 0, 0, 2, 0xff, 0xff, 0, 0, 0, 0, 0, 0, // output:2 max_len 65535
            0, 1, 0, 8, 1, 0, 0, 0, // goto_table:1
        ];
        let insts = decode_instructions(Reader::new(&bytes, "t"), Version::Of13).unwrap();
        assert_eq!(
            insts,
            vec![
                Instruction::ApplyActions(vec![Action::Output {
                    port: 2,
                    max_len: 0xffff
                }]),
                Instruction::GotoTable(1)
            ]
        );
        let mut w = Writer::new();
        encode_instructions(&mut w, &insts, Version::Of13).unwrap();
        assert_eq!(w.buf, bytes);
    }

    #[test]
    fn duplicate_and_unknown() {
        let dup = [0, 5, 0, 8, 0, 0, 0, 0, 0, 5, 0, 8, 0, 0, 0, 0];
        assert_eq!(
            decode_instructions(Reader::new(&dup, "t"), Version::Of13),
            Err(DecodeError::DupInstruction(5))
        );
        let unknown = [0, 9, 0, 8, 0, 0, 0, 0];
        assert_eq!(
            decode_instructions(Reader::new(&unknown, "t"), Version::Of13),
            Err(DecodeError::BadInstruction(9))
        );
        let bad_len = [0, 1, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            decode_instructions(Reader::new(&bad_len, "t"), Version::Of13),
            Err(DecodeError::BadInstructionLen(12))
        );
    }
}
