//! Message-level fixtures and the codec's round-trip properties.

use super::*;
use crate::action::{Ct, CtZoneSrc, Learn, LearnDst, LearnSpec, LearnSrc, Nat, NxAction, SubField};
use crate::multipart::FlowStats;
use proptest::prelude::*;

#[test]
fn hello_fixture_and_framing() {
    // OVS 3.1's hello offering 1.0 and 1.3.
    let bytes = [4, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x12];
    assert_eq!(frame_len(&bytes[..7]), Ok(None));
    assert_eq!(frame_len(&bytes), Ok(Some(16)));
    assert!(frame_len(&[4, 0, 0, 7, 0, 0, 0, 0]).is_err());
    let (h, m) = decode(&bytes).unwrap();
    assert_eq!((h.version, h.xid), (4, 1));
    assert_eq!(m, Message::Hello { bitmap: Some(0x12) });
    assert_eq!(encode(&m, Version::Of13, 1).unwrap(), bytes);
    // A hello of an unknown version still negotiates.
    let future = [9, 0, 0, 8, 0, 0, 0, 2];
    assert_eq!(decode(&future).unwrap().1, Message::Hello { bitmap: None });
}

#[test]
fn refusals() {
    assert_eq!(
        decode(&[9, 2, 0, 8, 0, 0, 0, 2]),
        Err(DecodeError::BadVersion(9))
    );
    assert_eq!(
        decode(&[4, 99, 0, 8, 0, 0, 0, 2]).unwrap_err().code(),
        ErrorCode::BadRequestType
    );
    // Length field disagreeing with the buffer.
    assert!(decode(&[4, 2, 0, 9, 0, 0, 0, 2]).is_err());
    // A bundle inside a bundle.
    let inner = BundleAdd {
        bundle_id: 1,
        flags: 0,
        xid: 2,
        message: Box::new(Message::BarrierRequest),
    };
    let outer = encode(&Message::BundleAdd(inner), Version::Of14, 3).unwrap();
    let mut nested = outer[..8].to_vec();
    nested.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    nested.extend_from_slice(&outer);
    let len = nested.len() as u16;
    nested[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        decode(&nested),
        Err(DecodeError::BadValue("a bundle inside a bundle"))
    );
    // A bundled message of another version than its bundle (found by the ofp_decode fuzz
    // target: an OF1.0 features reply inside an OF1.5 bundle decoded but could not be
    // re-encoded).
    let ok = BundleAdd {
        bundle_id: 1,
        flags: 0,
        xid: 2,
        message: Box::new(Message::EchoRequest(vec![7])),
    };
    let mut bytes = encode(&Message::BundleAdd(ok), Version::Of15, 3).unwrap();
    assert!(decode(&bytes).is_ok());
    bytes[16] = 0x01; // the inner header's version: OpenFlow 1.0
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::BadValue(
            "a bundled message of another OpenFlow version than its bundle"
        ))
    );
}

#[test]
fn error_messages_name_their_code_in_every_version() {
    for v in Version::ALL {
        for code in ErrorCode::all() {
            let m = ErrorMsg::new(code, v, &[1, 2, 3]);
            let back = m.error_code(v).expect("decodable");
            assert_eq!(back, code.wire_exact_or_fallback(v), "{code:?} in {v:?}");
        }
    }
}

impl ErrorCode {
    /// The code that actually goes on the wire (unencodable ones fall back).
    fn wire_exact_or_fallback(self, v: Version) -> ErrorCode {
        ErrorCode::from_wire(v, self.wire(v)).expect("known")
    }
}

// ---- properties ----

fn field_ids() -> Vec<FieldId> {
    FieldId::all().collect()
}

fn entry() -> impl Strategy<Value = MatchEntry> {
    (
        proptest::sample::select(field_ids()),
        any::<u128>(),
        any::<u128>(),
        any::<bool>(),
    )
        .prop_map(|(field, v, m, masked)| {
            let def = field.def();
            let w = field::width_mask(def.width);
            MatchEntry {
                field,
                value: v & w,
                mask: (masked && def.maskable).then_some(m & w),
            }
        })
}

fn entries() -> impl Strategy<Value = Vec<MatchEntry>> {
    proptest::collection::vec(entry(), 0..5).prop_map(|mut es| {
        let mut seen = std::collections::HashSet::new();
        es.retain(|e| seen.insert(e.field));
        es
    })
}

fn reg_sub() -> impl Strategy<Value = SubField> {
    (0u8..16, 0u16..32).prop_flat_map(|(r, ofs)| {
        (1u16..=32 - ofs).prop_map(move |n_bits| SubField {
            field: FieldId::Reg(r),
            ofs,
            n_bits,
        })
    })
}

fn port() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..0xff00,
        Just(0xffff_fff8),
        Just(0xffff_fffd),
        Just(0xffff_fffe)
    ]
}

fn nat() -> impl Strategy<Value = Nat> {
    (
        0u16..3,
        any::<bool>(),
        proptest::option::of((1u32.., proptest::option::of(any::<u32>()))),
        proptest::option::of((1u16.., proptest::option::of(any::<u16>()))),
    )
        .prop_map(|(dir, persistent, ipv4, proto)| Nat {
            flags: dir | if persistent { 4 } else { 0 },
            ipv4,
            ipv6: None,
            proto: if ipv4.is_some() { proto } else { None },
        })
}

fn simple_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (port(), any::<u16>()).prop_map(|(port, max_len)| Action::Output { port, max_len }),
        any::<u16>().prop_map(Action::SetVlanVid),
        Just(Action::PopVlan),
        any::<u16>().prop_map(Action::PushVlan),
        any::<[u8; 6]>().prop_map(Action::SetDlSrc),
        any::<u32>().prop_map(Action::SetNwDst),
        any::<u8>().prop_map(Action::SetNwTos),
        any::<u16>().prop_map(Action::SetTpSrc),
        any::<u32>().prop_map(Action::SetQueue),
        any::<u32>().prop_map(Action::Group),
        Just(Action::DecNwTtl),
        entry().prop_map(Action::SetField),
        (port(), any::<u8>(), any::<bool>())
            .prop_map(|(in_port, table, ct)| Action::Nx(NxAction::Resubmit { in_port, table, ct })),
        reg_sub().prop_flat_map(|dst| {
            let max = if dst.n_bits >= 64 {
                u64::MAX
            } else {
                (1u64 << dst.n_bits) - 1
            };
            (0..=max).prop_map(move |value| Action::Nx(NxAction::RegLoad { dst, value }))
        }),
        (reg_sub(), 0u16..32).prop_map(|(src, d)| {
            let n_bits = src.n_bits.min(32 - d);
            Action::Nx(NxAction::RegMove {
                n_bits,
                src_ofs: src.ofs,
                dst_ofs: d,
                src: src.field,
                dst: FieldId::Reg(3),
            })
        }),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|mut n| {
            n.push(1);
            Action::Nx(NxAction::Note(n))
        }),
        (2u8..=64, any::<u8>(), any::<u32>()).prop_map(|(n, c, id)| {
            Action::Nx(NxAction::Conjunction {
                clause: c % n,
                n_clauses: n,
                id,
            })
        }),
        Just(Action::Nx(NxAction::CtClear)),
        Just(Action::Nx(NxAction::Exit)),
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
            any::<bool>()
        )
            .prop_map(|(max_len, reason, userdata, pause)| {
                Action::Nx(NxAction::Controller2(crate::action::Controller2 {
                    max_len,
                    controller_id: None,
                    reason,
                    userdata,
                    pause,
                    meter_id: None,
                }))
            }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(metadata, mask)| Action::Nx(NxAction::WriteMetadata { metadata, mask })),
        (any::<u16>(), 0u8..16, 0u16..32).prop_map(|(pkt_len, r, ofs)| {
            Action::Nx(NxAction::CheckPktLarger {
                pkt_len,
                dst: SubField {
                    field: FieldId::Reg(r),
                    ofs,
                    n_bits: 1,
                },
            })
        }),
        (reg_sub(), any::<u16>(), any::<u64>()).prop_map(|(sf, prio, cookie)| {
            let imm = vec![0xab; 2 * usize::from(sf.n_bits).div_ceil(16)];
            Action::Nx(NxAction::Learn(Learn {
                idle_timeout: 10,
                hard_timeout: 0,
                priority: prio,
                cookie,
                flags: 0,
                table_id: 5,
                fin_idle_timeout: 0,
                fin_hard_timeout: 0,
                specs: vec![
                    LearnSpec {
                        n_bits: sf.n_bits,
                        src: LearnSrc::Field {
                            field: sf.field,
                            ofs: sf.ofs,
                        },
                        dst: LearnDst::Match {
                            field: FieldId::Reg(1),
                            ofs: 0,
                        },
                    },
                    LearnSpec {
                        n_bits: sf.n_bits,
                        src: LearnSrc::Imm(imm),
                        dst: LearnDst::Load {
                            field: FieldId::Reg(2),
                            ofs: 0,
                        },
                    },
                ],
            }))
        }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => simple_action(),
        1 => (any::<u16>(), any::<u8>(), proptest::option::of(nat()), any::<bool>()).prop_map(
            |(zone, table, nat, commit)| {
                Action::Nx(NxAction::Ct(Ct {
                    flags: u16::from(commit),
                    zone: CtZoneSrc::Imm(zone),
                    recirc_table: table,
                    alg: 0,
                    actions: nat.map(|n| Action::Nx(NxAction::Nat(n))).into_iter().collect(),
                }))
            }
        ),
        1 => proptest::collection::vec(simple_action(), 0..3).prop_map(|a| Action::Nx(NxAction::Clone(a))),
    ]
}

fn instructions() -> impl Strategy<Value = Vec<Instruction>> {
    (
        proptest::collection::vec(action(), 0..5),
        proptest::option::of(any::<u8>()),
        any::<bool>(),
    )
        .prop_map(|(acts, goto, clear)| {
            let mut v = Vec::new();
            if !acts.is_empty() {
                v.push(Instruction::ApplyActions(acts));
            }
            if clear {
                v.push(Instruction::ClearActions);
            }
            v.extend(goto.map(Instruction::GotoTable));
            v
        })
}

fn flow_mod() -> impl Strategy<Value = FlowMod> {
    (
        any::<u64>(),
        prop_oneof![Just(0u64), any::<u64>()],
        any::<u8>(),
        0u8..5,
        any::<(u16, u16, u16)>(),
        prop_oneof![Just(OFPG_ANY), any::<u32>()],
        prop_oneof![Just(0u16), any::<u16>()],
        prop_oneof![
            entries().prop_map(Match::Fields),
            any::<(u32, u16, u8, u32)>().prop_map(|(w, p, proto, src)| Match::Of10(Match10 {
                wildcards: w & crate::match10::wc::ALL,
                in_port: p,
                nw_proto: proto,
                nw_src: src,
                ..Match10::default()
            }))
        ],
        instructions(),
    )
        .prop_map(
            |(
                cookie,
                cookie_mask,
                table_id,
                command,
                (idle, hard, prio),
                out_group,
                importance,
                match_,
                instructions,
            )| FlowMod {
                cookie,
                cookie_mask,
                table_id,
                command,
                idle_timeout: idle,
                hard_timeout: hard,
                priority: prio,
                buffer_id: NO_BUFFER,
                out_port: 0xffff_ffff,
                out_group,
                flags: 1,
                importance,
                match_,
                instructions,
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        flow_mod().prop_map(Message::FlowMod),
        flow_mod().prop_map(Message::NxFlowMod),
        flow_mod().prop_map(|f| Message::BundleAdd(BundleAdd {
            bundle_id: 7,
            flags: 3,
            xid: 9,
            message: Box::new(Message::FlowMod(f)),
        })),
        (
            port(),
            proptest::collection::vec(simple_action(), 0..4),
            proptest::collection::vec(any::<u8>(), 0..64),
            entries()
        )
            .prop_map(|(in_port, actions, data, mut fields)| {
                fields.retain(|e| e.field != FieldId::InPort);
                Message::PacketOut(PacketOut {
                    buffer_id: NO_BUFFER,
                    in_port,
                    fields,
                    actions,
                    data,
                })
            }),
        (
            entries(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(fields, reason, data)| {
                Message::PacketIn(PacketIn {
                    buffer_id: NO_BUFFER,
                    total_len: data.len() as u16,
                    reason,
                    table_id: 1,
                    cookie: 2,
                    fields,
                    data,
                })
            }),
        (
            proptest::collection::vec(any::<u8>(), 0..64),
            entries(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..24)),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(packet, metadata, userdata, cookie)| Message::NxPacketIn2(
                PacketIn2 {
                    packet,
                    full_len: None,
                    buffer_id: None,
                    table_id: Some(3),
                    cookie,
                    reason: Some(1),
                    metadata,
                    userdata,
                    continuation: None,
                }
            )),
        (
            any::<u16>(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(typ, code, data)| Message::Error(ErrorMsg { typ, code, data })),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Message::EchoRequest),
        flow_mod().prop_map(|f| Message::MultipartReply {
            flags: 0,
            body: crate::multipart::MpReply::Flow(vec![FlowStats {
                table_id: f.table_id,
                duration_sec: 1,
                duration_nsec: 2,
                priority: f.priority,
                idle_timeout: f.idle_timeout,
                hard_timeout: f.hard_timeout,
                flags: 0,
                importance: f.importance,
                idle_age: 0,
                hard_age: 0,
                cookie: f.cookie,
                packet_count: 3,
                byte_count: 4,
                match_: f.match_,
                instructions: f.instructions,
            }]),
        }),
        any::<(u32, u64)>().prop_map(|(role, generation_id)| Message::RoleRequest(Role {
            role,
            generation_id
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// decode ∘ encode = id, in every version that can carry the message.
    #[test]
    fn encode_then_decode_is_identity(m in message(), xid in any::<u32>()) {
        for v in Version::ALL {
            let Ok(bytes) = encode(&m, v, xid) else { continue };
            let (h, back) = decode(&bytes).map_err(|e| {
                TestCaseError::fail(format!("{v:?}: {e} decoding {bytes:02x?} of {m:?}"))
            })?;
            prop_assert_eq!(h.xid, xid);
            prop_assert_eq!(usize::from(h.length), bytes.len());
            prop_assert_eq!(&back, &m, "{:?}", v);
        }
    }

    /// Corrupted messages never panic, and whatever still decodes re-encodes to itself.
    #[test]
    fn corrupted_bytes_decode_safely(m in message(), flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4)) {
        for v in Version::ALL {
            let Ok(mut bytes) = encode(&m, v, 1) else { continue };
            for (i, b) in &flips {
                let at = 8 + i.index(bytes.len() - 8 + 1).min(bytes.len() - 8).min(bytes.len().saturating_sub(9));
                if at < bytes.len() {
                    bytes[at] = *b;
                }
            }
            if let Ok((h, got)) = decode(&bytes)
                && let Some(v2) = Version::from_wire(h.version)
            {
                let again = encode(&got, v2, h.xid)
                    .map_err(|e| TestCaseError::fail(format!("{e}: {got:?}")))?;
                prop_assert_eq!(decode(&again).map(|x| x.1), Ok(got));
            }
        }
    }
}

/// The round-trip property is not vacuous: most generated messages encode in some version.
#[test]
fn generated_messages_mostly_encode() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = message();
    let (mut encodable, mut total) = (0, 0);
    for _ in 0..500 {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        total += 1;
        if Version::ALL.iter().any(|&v| encode(&m, v, 1).is_ok()) {
            encodable += 1;
        }
    }
    assert!(encodable * 2 > total, "only {encodable} of {total} encode");
}
