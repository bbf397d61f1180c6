//! `learn` and `fin_timeout`: actions that change the flow tables as packets pass.
//!
//! # What learn does
//!
//! A `learn` action is a template for a flow-mod (OVS's `ofpact_learn`, see ovs-actions(7)).
//! Each translation that runs it fills the template from the packet ([`OfLearn::execute`]):
//! match specs copy bits of the packet (or constants) into the new flow's match, load specs
//! become `load` actions, an output spec an `output`. The result is an ordinary add
//! flow-mod; it goes through the same rule model as any other (it shows in `dump-flows`,
//! revalidates the datapath, expires by its timeouts).
//!
//! # Megaflows and side effects
//!
//! The translation reads the source bits of every spec, so they are un-wildcarded
//! ([`OfLearn::mask_sources`], OVS's `learn_mask`): a megaflow never covers two packets that
//! would learn different flows. Translations with side effects allowed (upcalls, and the
//! revalidator when a megaflow counted new packets, as OVS's xlate cache refreshes learned
//! flows) hand the flow-mod to a queue that the slow path applies in batches; an identical
//! existing rule is only refreshed (its hard timeout restarts), with no table change. Traces
//! have no side effects unless asked (`--generate`).
//!
//! # fin_timeout
//!
//! `fin_timeout(idle_timeout=I,hard_timeout=H)` shortens the running rule's timeouts when a
//! TCP FIN or RST passes. The rule's counters hold the reduced values (atomics, no lock); the
//! megaflow matches the FIN and RST bits so that such packets take an upcall.

use super::action::{OfAction, SubField, ofpp};
use super::spec::FlowSpec;
use crate::classifier::Match;
use fastpath::flow::{Field, FlowKey, FlowMask};

/// The default priority of learned flows (OpenFlow's default).
pub const DEFAULT_PRIORITY: u16 = 32768;

/// A field reference of a learn spec, with the names OVS prints it by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LearnField {
    pub sub: SubField,
    /// OVS's field name (`eth_src`), printed in `name=value` specs.
    pub name: &'static str,
    /// The NXM/OXM name (`NXM_OF_ETH_SRC`), printed in `NAME[..]` references.
    pub nxm: &'static str,
    /// Width of the field as its name sees it (16 for `in_port`).
    pub width: u32,
}

impl LearnField {
    /// True if the reference covers the whole field as named.
    pub fn is_whole(&self) -> bool {
        self.sub.start == 0 && self.sub.n_bits() == self.width
    }

    /// The referenced bits of `flow`, right-aligned.
    pub fn read(&self, flow: &FlowKey) -> u128 {
        (self.sub.field.get(flow) & self.sub.mask()) >> self.sub.start
    }
}

/// Where a spec's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LearnSrc {
    Field(LearnField),
    /// A constant, right-aligned to the destination's bits.
    Imm(u128),
}

impl LearnSrc {
    fn value(&self, flow: &FlowKey) -> u128 {
        match self {
            LearnSrc::Field(f) => f.read(flow),
            LearnSrc::Imm(v) => *v,
        }
    }
}

/// One spec of a learn action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LearnSpec {
    /// The learned flow matches `dst` == the source's value.
    Match { dst: LearnField, src: LearnSrc },
    /// The learned flow loads the source's value into `dst`.
    Load { dst: LearnField, src: LearnSrc },
    /// The learned flow outputs to the port in `src`.
    Output { src: LearnField },
}

/// `learn(...)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OfLearn {
    pub table: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub fin_idle_timeout: u16,
    pub fin_hard_timeout: u16,
    pub cookie: u64,
    pub send_flow_rem: bool,
    pub delete_learned: bool,
    /// Most flows with this cookie the target table may hold (0: no limit).
    pub limit: u32,
    /// A one-bit field set to 1 if the flow was learned (or already existed), 0 if not.
    pub result_dst: Option<LearnField>,
    pub specs: Vec<LearnSpec>,
}

impl Default for OfLearn {
    fn default() -> Self {
        OfLearn {
            table: 1,
            priority: DEFAULT_PRIORITY,
            idle_timeout: 0,
            hard_timeout: 0,
            fin_idle_timeout: 0,
            fin_hard_timeout: 0,
            cookie: 0,
            send_flow_rem: false,
            delete_learned: false,
            limit: 0,
            result_dst: None,
            specs: Vec::new(),
        }
    }
}

/// Adds `value` (right-aligned) under the bits of `sub` to a match, keeping other bits.
fn match_bits(m: &mut Match, sub: &SubField, value: u128) {
    let f = sub.field;
    let bits = sub.mask() & f.max_value();
    let mask = f.get(&m.mask) | bits;
    let key = (f.get(&m.key) & !bits) | ((value << sub.start) & bits);
    f.set(&mut m.mask, mask);
    f.set(&mut m.key, key & mask);
}

/// The 32-bit OpenFlow port a 16-bit (OpenFlow 1.0) port number stands for, as OVS's
/// `u16_to_ofp`: reserved ports are 0xff00 and above.
pub fn widen_port(v: u128) -> u128 {
    if (0xff00..=0xffff).contains(&v) {
        v | 0xffff_0000
    } else {
        v
    }
}

/// The action an output spec's port value stands for.
fn output_action(port16: u16) -> OfAction {
    match widen_port(u128::from(port16)) as u32 {
        ofpp::IN_PORT => OfAction::InPort,
        ofpp::NORMAL => OfAction::Normal,
        ofpp::FLOOD => OfAction::Flood,
        ofpp::ALL => OfAction::All,
        ofpp::LOCAL => OfAction::Local,
        p => OfAction::Output(p),
    }
}

impl OfLearn {
    /// The flow this action learns from `flow` (OVS's `learn_execute`): an add flow-mod for
    /// `self.table`, with a `fin_timeout` first among its actions if fin timeouts are set.
    pub fn execute(&self, flow: &FlowKey) -> FlowSpec {
        let mut m = Match::CATCHALL;
        let mut actions = Vec::new();
        if self.fin_idle_timeout != 0 || self.fin_hard_timeout != 0 {
            actions.push(OfAction::FinTimeout {
                idle_timeout: self.fin_idle_timeout,
                hard_timeout: self.fin_hard_timeout,
            });
        }
        for spec in &self.specs {
            match spec {
                // A 16-bit `in_port` holds OpenFlow 1.0 numbers: widen reserved ports.
                LearnSpec::Match { dst, src }
                    if dst.sub.field == Field::InPort && dst.width == 16 && dst.is_whole() =>
                {
                    m.set_field(Field::InPort, widen_port(src.value(flow)));
                }
                LearnSpec::Match { dst, src } => match_bits(&mut m, &dst.sub, src.value(flow)),
                LearnSpec::Load { dst, src } => actions.push(OfAction::Load {
                    value: src.value(flow),
                    dst: dst.sub,
                }),
                LearnSpec::Output { src } => actions.push(output_action(src.read(flow) as u16)),
            }
        }
        if actions.is_empty() {
            actions.push(OfAction::Drop);
        }
        FlowSpec {
            table: self.table,
            priority: self.priority,
            cookie: self.cookie,
            cookie_mask: 0,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            out_port: None,
            flags: if self.send_flow_rem {
                super::spec::ff::SEND_FLOW_REM
            } else {
                0
            },
            m,
            actions,
        }
    }

    /// Un-wildcards every bit the specs read from the packet (OVS's `learn_mask`).
    pub fn mask_sources(&self, wc: &mut FlowMask) {
        for spec in &self.specs {
            let src = match spec {
                LearnSpec::Match {
                    src: LearnSrc::Field(f),
                    ..
                }
                | LearnSpec::Load {
                    src: LearnSrc::Field(f),
                    ..
                }
                | LearnSpec::Output { src: f } => f,
                _ => continue,
            };
            let field = src.sub.field;
            field.set(wc, field.get(wc) | src.sub.mask());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lf(field: Field, start: u32, end: u32, width: u32) -> LearnField {
        LearnField {
            sub: SubField { field, start, end },
            name: field.name(),
            nxm: field.name(),
            width,
        }
    }

    #[test]
    fn execute_fills_the_template_from_the_packet() {
        // The ovs-advanced tutorial's table 2.
        let learn = OfLearn {
            table: 10,
            specs: vec![
                LearnSpec::Match {
                    dst: lf(Field::VlanTci, 0, 11, 16),
                    src: LearnSrc::Field(lf(Field::VlanTci, 0, 11, 16)),
                },
                LearnSpec::Match {
                    dst: lf(Field::DlDst, 0, 47, 48),
                    src: LearnSrc::Field(lf(Field::DlSrc, 0, 47, 48)),
                },
                LearnSpec::Load {
                    dst: lf(Field::Reg(0), 0, 15, 32),
                    src: LearnSrc::Field(lf(Field::InPort, 0, 15, 16)),
                },
            ],
            ..OfLearn::default()
        };
        let mut flow = FlowKey::ZERO;
        flow.in_port = 1;
        flow.vlan_tci = 0x1000 | 20;
        flow.dl_src = [0xf0, 0, 0, 0, 0, 1];
        let spec = learn.execute(&flow);
        assert_eq!(spec.table, 10);
        assert_eq!(spec.priority, DEFAULT_PRIORITY);
        assert_eq!(spec.m.field(Field::VlanTci), (20, 0x0fff));
        assert_eq!(
            spec.m.field(Field::DlDst),
            (0xf000_0000_0001, (1 << 48) - 1)
        );
        assert_eq!(
            spec.actions,
            vec![OfAction::Load {
                value: 1,
                dst: SubField {
                    field: Field::Reg(0),
                    start: 0,
                    end: 15
                }
            }]
        );
        let mut wc = FlowKey::ZERO;
        learn.mask_sources(&mut wc);
        assert_eq!(
            (wc.vlan_tci, wc.dl_src, wc.in_port),
            (0x0fff, [0xff; 6], 0xffff)
        );
        assert_eq!(wc.dl_dst, [0; 6], "destinations are not read");
    }

    #[test]
    fn constants_outputs_and_fin_timeouts() {
        let learn = OfLearn {
            fin_idle_timeout: 5,
            specs: vec![
                LearnSpec::Match {
                    dst: lf(Field::DlType, 0, 15, 16),
                    src: LearnSrc::Imm(0x800),
                },
                LearnSpec::Match {
                    dst: lf(Field::Reg(1), 4, 7, 32),
                    src: LearnSrc::Imm(0xa),
                },
                LearnSpec::Output {
                    src: lf(Field::Reg(2), 0, 15, 32),
                },
            ],
            ..OfLearn::default()
        };
        let mut flow = FlowKey::ZERO;
        flow.regs[2] = 0xfffe; // LOCAL as a 16-bit port
        let spec = learn.execute(&flow);
        assert_eq!(spec.m.field(Field::DlType), (0x800, 0xffff));
        assert_eq!(spec.m.field(Field::Reg(1)), (0xa0, 0xf0));
        assert_eq!(
            spec.actions,
            vec![
                OfAction::FinTimeout {
                    idle_timeout: 5,
                    hard_timeout: 0
                },
                OfAction::Local
            ]
        );
        flow.regs[2] = 7;
        assert_eq!(learn.execute(&flow).actions[1], OfAction::Output(7));
        let empty = OfLearn::default().execute(&flow);
        assert_eq!(empty.actions, vec![OfAction::Drop]);
        assert_eq!(empty.m, Match::CATCHALL);
    }
}
