//! OpenFlow error codes as Open vSwitch puts them on the wire.
//!
//! One logical error (say "duplicate match field") has different wire forms per version:
//! a standard `(type, code)` pair where the version defines one, a Nicira code wrapped in OVS's
//! `NXET_VENDOR` error for OpenFlow 1.0, or an `OFPET_EXPERIMENTER` error with the Nicira or
//! ONF experimenter id for 1.2+. [`ErrorCode::wire`] gives the form for a version, following
//! `ofp-errors.h` of OVS 3.1; an error a version cannot express becomes OVS's
//! `NXBRC_UNENCODABLE_ERROR`, as OVS does. [`ErrorCode::from_wire`] is the inverse, so an
//! error a controller sends can be named.

use crate::Version;

/// Nicira's experimenter id.
pub const NX_VENDOR: u32 = 0x0000_2320;
/// The Open Networking Foundation's experimenter id.
pub const ONF_VENDOR: u32 = 0x4f4e_4600;
/// OVS's OpenFlow 1.0 error type for vendor errors.
pub const NXET_VENDOR: u16 = 0xb0c2;
/// OpenFlow 1.2+ experimenter error type.
pub const OFPET_EXPERIMENTER: u16 = 0xffff;

/// The wire form of an error in one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Triplet {
    /// `ofp_error_msg.type/code`.
    Std(u16, u16),
    /// OpenFlow 1.0/1.1: type `NXET_VENDOR`, code 0, then `nx_vendor_error {vendor, type, code}`.
    Vendor { vendor: u32, typ: u16, code: u16 },
    /// OpenFlow 1.2+: type `OFPET_EXPERIMENTER`, code = `exp_code`, then the experimenter id.
    Experimenter { vendor: u32, code: u16 },
}

/// The errors the switch sends (a subset of OVS's `enum ofperr`, named after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    HelloIncompatible,
    HelloEperm,
    BadRequestVersion,
    BadRequestType,
    BadRequestMultipart,
    BadRequestExperimenter,
    BadRequestExpType,
    BadRequestEperm,
    BadRequestLen,
    BadRequestBufferEmpty,
    BadRequestBufferUnknown,
    BadRequestTableId,
    BadRequestIsSecondary,
    BadRequestPort,
    BadActionType,
    BadActionLen,
    BadActionExperimenter,
    BadActionExpType,
    BadActionOutPort,
    BadActionArgument,
    BadActionEperm,
    BadActionTooMany,
    BadActionQueue,
    BadActionOutGroup,
    BadActionSetType,
    BadInstructionUnknown,
    BadInstructionUnsupported,
    BadInstructionTableId,
    BadInstructionLen,
    BadInstructionDup,
    BadMatchType,
    BadMatchLen,
    BadMatchWildcards,
    BadMatchField,
    BadMatchValue,
    BadMatchMask,
    BadMatchPrereq,
    BadMatchDupField,
    FlowModUnknown,
    FlowModTableFull,
    FlowModBadTableId,
    FlowModOverlap,
    FlowModEperm,
    FlowModBadTimeout,
    FlowModBadCommand,
    FlowModBadFlags,
    SwitchConfigBadFlags,
    RoleStale,
    RoleUnsupported,
    RoleBad,
    MeterUnknown,
    /// `OFPGMFC_*`, by code (0 group exists, 1 invalid group, 8 unknown group, 10 bad type,
    /// 11 bad command, 12 bad bucket, 15 unknown bucket, 16 bucket exists ...).
    GroupMod(u16),
    /// `OFPMMFC_*` other than unknown meter (3), by code (1 meter exists, 2 invalid meter,
    /// 4 bad command, 5 bad flags, 6 bad rate, 7 bad burst, 8 bad band, 9 bad band value,
    /// 10 out of meters, 11 out of bands).
    MeterMod(u16),
    /// `OFPBPC_BAD_TYPE`: unknown or unsupported property type.
    BadPropertyType,
    /// `OFPBPC_BAD_LEN`: length problem in a property.
    BadPropertyLen,
    /// `NXR_STALE`: a continuation this switch instance did not make, or whose bridge is gone.
    ResumeStale,
    /// `OFPBFC_*`, by code (0 unknown, 2 bad id, 3 exists, 4 closed, 6 bad type, 7 bad flags,
    /// 8 msg bad len, 10 msg unsupported, 13 msg failed ...).
    Bundle(u16),
    /// `NXBRC_UNENCODABLE_ERROR`.
    Unencodable,
    /// `NXTTMFC_*`, by OpenFlow 1.2+ code (16 bad command, 17 bad option length, 18 bad field
    /// index, 19 table full, 20 already mapped, 21 duplicate entry, 38 deleting one in use).
    TlvTableMod(u16),
}

impl ErrorCode {
    /// Every error, for reverse lookup and tests.
    pub fn all() -> impl Iterator<Item = ErrorCode> {
        use ErrorCode::*;
        [
            HelloIncompatible,
            HelloEperm,
            BadRequestVersion,
            BadRequestType,
            BadRequestMultipart,
            BadRequestExperimenter,
            BadRequestExpType,
            BadRequestEperm,
            BadRequestLen,
            BadRequestBufferEmpty,
            BadRequestBufferUnknown,
            BadRequestTableId,
            BadRequestIsSecondary,
            BadRequestPort,
            BadActionType,
            BadActionLen,
            BadActionExperimenter,
            BadActionExpType,
            BadActionOutPort,
            BadActionArgument,
            BadActionEperm,
            BadActionTooMany,
            BadActionQueue,
            BadActionOutGroup,
            BadActionSetType,
            BadInstructionUnknown,
            BadInstructionUnsupported,
            BadInstructionTableId,
            BadInstructionLen,
            BadInstructionDup,
            BadMatchType,
            BadMatchLen,
            BadMatchWildcards,
            BadMatchField,
            BadMatchValue,
            BadMatchMask,
            BadMatchPrereq,
            BadMatchDupField,
            FlowModUnknown,
            FlowModTableFull,
            FlowModBadTableId,
            FlowModOverlap,
            FlowModEperm,
            FlowModBadTimeout,
            FlowModBadCommand,
            FlowModBadFlags,
            SwitchConfigBadFlags,
            RoleStale,
            RoleUnsupported,
            RoleBad,
            MeterUnknown,
            BadPropertyType,
            BadPropertyLen,
            ResumeStale,
            Unencodable,
        ]
        .into_iter()
        .chain((0..=15).map(Bundle))
        .chain((0..=16).map(GroupMod))
        .chain((0..=11).filter(|k| *k != 3).map(MeterMod))
        .chain([16, 17, 18, 19, 20, 21, 38].map(TlvTableMod))
    }

    /// The wire form in `v`, or `None` when `v` has none.
    fn wire_exact(self, v: Version) -> Option<Triplet> {
        use ErrorCode::*;
        use Triplet::{Experimenter as X, Std as S, Vendor as V};
        let of10 = v == Version::Of10;
        let nx10 = |typ, code| V {
            vendor: NX_VENDOR,
            typ,
            code,
        };
        let nx12 = |code| X {
            vendor: NX_VENDOR,
            code,
        };
        let later = |t, c| if of10 { None } else { Some(S(t, c)) };
        Some(match self {
            HelloIncompatible => S(0, 0),
            HelloEperm => S(0, 1),
            BadRequestVersion => S(1, 0),
            BadRequestType => S(1, 1),
            BadRequestMultipart => S(1, 2),
            BadRequestExperimenter => S(1, 3),
            BadRequestExpType => S(1, 4),
            BadRequestEperm => S(1, 5),
            BadRequestLen => S(1, 6),
            BadRequestBufferEmpty => S(1, 7),
            BadRequestBufferUnknown => S(1, 8),
            BadRequestTableId => S(1, if of10 { 512 } else { 9 }),
            BadRequestIsSecondary => S(1, if of10 { 5 } else { 10 }),
            BadRequestPort => S(1, if of10 { 514 } else { 11 }),
            BadActionType => S(2, 0),
            BadActionLen => S(2, 1),
            BadActionExperimenter => S(2, 2),
            BadActionExpType => S(2, 3),
            BadActionOutPort => S(2, 4),
            BadActionArgument => S(2, 5),
            BadActionEperm => S(2, 6),
            BadActionTooMany => S(2, 7),
            BadActionQueue => S(2, 8),
            BadActionOutGroup => {
                if of10 {
                    nx10(2, 9)
                } else {
                    S(2, 9)
                }
            }
            BadActionSetType => {
                if of10 {
                    nx10(1, 523)
                } else {
                    S(2, 13)
                }
            }
            BadInstructionUnknown => later(3, 0)?,
            BadInstructionUnsupported => later(3, 1)?,
            BadInstructionTableId => later(3, 2)?,
            BadInstructionLen => later(3, 7)?,
            BadInstructionDup => match v {
                Version::Of10 => return None,
                Version::Of13 => X {
                    vendor: ONF_VENDOR,
                    code: 2600,
                },
                _ => S(3, 9),
            },
            BadMatchType => later(4, 0)?,
            BadMatchLen => later(4, 1)?,
            BadMatchWildcards => {
                if of10 {
                    nx10(1, 262)
                } else {
                    S(4, 5)
                }
            }
            BadMatchField => {
                if of10 {
                    nx10(0, 263)
                } else {
                    S(4, 6)
                }
            }
            BadMatchValue => {
                if of10 {
                    nx10(1, 258)
                } else {
                    S(4, 7)
                }
            }
            BadMatchMask => {
                if of10 {
                    nx10(1, 259)
                } else {
                    S(4, 8)
                }
            }
            BadMatchPrereq => {
                if of10 {
                    nx10(1, 260)
                } else {
                    S(4, 9)
                }
            }
            BadMatchDupField => {
                if of10 {
                    nx10(1, 261)
                } else {
                    S(4, 10)
                }
            }
            FlowModUnknown => later(5, 0)?,
            FlowModTableFull => S(if of10 { 3 } else { 5 }, if of10 { 0 } else { 1 }),
            FlowModBadTableId => later(5, 2)?,
            FlowModOverlap => S(if of10 { 3 } else { 5 }, if of10 { 1 } else { 3 }),
            FlowModEperm => S(if of10 { 3 } else { 5 }, if of10 { 2 } else { 4 }),
            FlowModBadTimeout => later(5, 5)?,
            FlowModBadCommand => S(if of10 { 3 } else { 5 }, if of10 { 4 } else { 6 }),
            FlowModBadFlags => {
                if of10 {
                    nx10(3, 258)
                } else {
                    S(5, 7)
                }
            }
            SwitchConfigBadFlags => later(10, 0)?,
            RoleStale => later(11, 0)?,
            RoleUnsupported => later(11, 1)?,
            RoleBad => {
                if of10 {
                    nx10(1, 513)
                } else {
                    S(11, 2)
                }
            }
            MeterUnknown => later(12, 3)?,
            GroupMod(k) => later(6, k)?,
            MeterMod(k) => later(12, k)?,
            BadPropertyType => match v {
                Version::Of10 => nx10(13, 2),
                Version::Of13 => S(13, 2),
                _ => S(14, 0),
            },
            BadPropertyLen => match v {
                Version::Of10 => nx10(13, 3),
                Version::Of13 => S(13, 3),
                _ => S(14, 1),
            },
            ResumeStale => {
                if of10 {
                    nx10(1, 534)
                } else {
                    nx12(35)
                }
            }
            Bundle(k) => match v {
                Version::Of10 => return None,
                Version::Of13 => X {
                    vendor: ONF_VENDOR,
                    code: 2300 + k,
                },
                _ => S(17, k),
            },
            Unencodable => {
                if of10 {
                    nx10(1, 521)
                } else {
                    nx12(10)
                }
            }
            // OpenFlow 1.0/1.1 number them 527..532, and 537 for "in use".
            TlvTableMod(k) => {
                if of10 {
                    nx10(1, if k == 38 { 537 } else { 511 + k })
                } else {
                    nx12(k)
                }
            }
        })
    }

    /// The wire form in `v`; an error `v` cannot express becomes `NXBRC_UNENCODABLE_ERROR`.
    pub fn wire(self, v: Version) -> Triplet {
        self.wire_exact(v)
            .unwrap_or_else(|| ErrorCode::Unencodable.wire(v))
    }

    /// The error whose wire form in `v` is `t`.
    pub fn from_wire(v: Version, t: Triplet) -> Option<ErrorCode> {
        ErrorCode::all().find(|e| e.wire_exact(v) == Some(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms_are_unique_per_version() {
        for v in Version::ALL {
            let mut seen = std::collections::HashMap::new();
            for e in ErrorCode::all() {
                // OVS gives OpenFlow 1.0's "is secondary" the code of "permission denied".
                if v == Version::Of10 && e == ErrorCode::BadRequestIsSecondary {
                    continue;
                }
                if let Some(t) = e.wire_exact(v) {
                    assert_eq!(seen.insert(t, e), None, "{e:?} reuses {t:?} in {v:?}");
                    assert_eq!(ErrorCode::from_wire(v, t), Some(e));
                }
            }
        }
    }

    #[test]
    fn ovs_codes() {
        use Triplet::*;
        assert_eq!(ErrorCode::BadMatchDupField.wire(Version::Of13), Std(4, 10));
        assert_eq!(
            ErrorCode::BadMatchDupField.wire(Version::Of10),
            Vendor {
                vendor: NX_VENDOR,
                typ: 1,
                code: 261
            }
        );
        assert_eq!(ErrorCode::FlowModOverlap.wire(Version::Of10), Std(3, 1));
        assert_eq!(
            ErrorCode::Bundle(2).wire(Version::Of13),
            Experimenter {
                vendor: ONF_VENDOR,
                code: 2302
            }
        );
        assert_eq!(ErrorCode::Bundle(2).wire(Version::Of14), Std(17, 2));
        // OpenFlow 1.0 has no instruction errors: OVS sends "unencodable".
        assert_eq!(
            ErrorCode::BadInstructionUnknown.wire(Version::Of10),
            ErrorCode::Unencodable.wire(Version::Of10)
        );
    }
}
