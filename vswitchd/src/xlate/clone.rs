//! `clone(...)`, `check_pkt_larger(N)->DST`, `output:FIELD[bits]` and `exit` (OVS's
//! `clone_xlate_actions`, `xlate_check_pkt_larger`, `xlate_output_reg_action` and
//! `ctx->exit`).
//!
//! # clone
//!
//! The nested actions run on the flow as it is, which is restored afterwards (registers,
//! metadata, headers, conntrack state). Pending header changes are committed first, so the
//! clone's datapath actions start at a known point. What the datapath sees then depends on
//! the clone's datapath actions, as in OVS: if they are all *reversible* (outputs, header sets,
//! VLAN push/pop, recirculations, userspace) they stay inline and the next commit undoes their
//! header changes (`base` keeps what the packet looks like after them); otherwise (`ct`,
//! `ct_clear`) they are wrapped in a datapath `clone(...)` that runs them on a copy, and
//! `base` goes back to the packet before the clone. A clone that is the translation's last
//! action needs neither commit nor wrapping.
//!
//! # check_pkt_larger
//!
//! The result depends on the packet's length, which is not a flow-key field: a megaflow
//! cannot match on it. As OVS does with a datapath that supports it, the translation forks:
//! the datapath action `check_pkt_len(size=N,gt(...),le(...))` carries both outcomes, each the
//! translation of the rest of the running rule's actions with `DST` set to 1 or 0, and the
//! datapath picks the branch per packet. A cached megaflow therefore gives every packet,
//! whatever its length, the actions a fresh translation would give it. The actions after the
//! rule's list (those of a rule that resubmitted here) continue after the `check_pkt_len`
//! action with the flow as it was before it.
//!
//! # output:FIELD
//!
//! The port is read from the field (so its bits join the megaflow); values above 65535 are
//! out of range and output nothing; 16-bit reserved port numbers (0xff00 and up) name the
//! reserved ports, as OVS's 16-bit port space has them.
//!
//! # exit
//!
//! Stops the translation: the rest of this rule's actions and of every rule that resubmitted
//! to it. A group bucket or a patch port's peer bridge that exits stops only itself.

use super::{XlateError, Xlator};
use crate::ofproto::{OfAction, SubField};
use fastpath::action::DpAction;

/// Whether the commit mechanism can undo what `actions` do to the packet (OVS's
/// `odp_actions_are_reversible`).
fn reversible(actions: &[DpAction]) -> bool {
    actions.iter().all(|a| match a {
        DpAction::Ct(_) | DpAction::CtClear => false,
        DpAction::CheckPktLen {
            greater, less_eq, ..
        } => reversible(greater) && reversible(less_eq),
        _ => true,
    })
}

impl Xlator<'_, '_> {
    /// `clone(actions)`; `last` if nothing follows it in the translation.
    pub(super) fn clone_action(
        &mut self,
        actions: &[OfAction],
        last: bool,
    ) -> Result<(), XlateError> {
        if !last {
            self.commit()?;
        }
        let saved_flow = self.flow;
        let saved_base = self.base;
        let saved_tail = self.tail;
        let start = self.actions.len();
        self.tail = true;
        let r = self
            .do_actions(actions)
            .and_then(|()| self.finish_freezing());
        self.tail = saved_tail;
        self.flow = saved_flow;
        r?;
        if !last && self.actions.len() > start && !reversible(&self.actions[start..]) {
            let body = self.actions.split_off(start);
            self.actions.push(DpAction::Clone(body));
            self.base = saved_base;
        }
        Ok(())
    }

    /// `output:FIELD[bits]`.
    pub(super) fn output_reg(&mut self, src: &SubField) -> Result<(), XlateError> {
        let port = super::ct::read_subfield(src, &self.flow, &mut self.wc);
        if port > u128::from(u16::MAX) {
            self.note(|| format!("output port {port} is out of range"));
            return Ok(());
        }
        self.note(|| format!("output port is {port}"));
        let port = port as u32;
        // OVS's 16-bit reserved ports (0xfff8 IN_PORT ... 0xffff NONE) as 32-bit numbers.
        let port = if port >= 0xff00 {
            port | 0xffff_0000
        } else {
            port
        };
        self.output_action(port)
    }

    /// `check_pkt_larger(len)->dst`, followed by `rest` of the running rule's actions.
    pub(super) fn check_pkt_larger(
        &mut self,
        len: u16,
        dst: &SubField,
        rest: &[OfAction],
    ) -> Result<(), XlateError> {
        self.commit()?;
        let saved_flow = self.flow;
        let saved_base = self.base;
        let saved_tail = self.tail;
        let start = self.actions.len();
        let mut branches = Vec::with_capacity(2);
        let mut exit_after_greater = false;
        for larger in [true, false] {
            self.flow = saved_flow;
            self.base = saved_base;
            self.exiting = false;
            let v = dst.field.get(&self.flow) & !dst.mask() | (u128::from(larger) << dst.start);
            dst.field.set(&mut self.flow, v);
            self.note(|| {
                format!(
                    "check_pkt_larger: for a packet {} {len} bytes",
                    if larger { "longer than" } else { "of at most" }
                )
            });
            self.tail = true;
            let r = self.do_actions(rest).and_then(|()| self.finish_freezing());
            self.tail = saved_tail;
            if let Err(e) = r {
                self.flow = saved_flow;
                return Err(e);
            }
            if larger {
                exit_after_greater = self.exiting;
            }
            branches.push(self.actions.split_off(start));
        }
        self.flow = saved_flow;
        self.base = saved_base;
        self.exiting = exit_after_greater;
        let less_eq = branches.pop().unwrap_or_default();
        let greater = branches.pop().unwrap_or_default();
        self.actions.push(DpAction::CheckPktLen {
            len,
            greater,
            less_eq,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::trace::OfflineBridge;
    use fastpath::action::format_actions;

    const PKT: &str = "dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,tcp,nw_src=10.0.0.1,\
                       nw_dst=10.0.0.2,nw_ttl=64,tp_src=1000,tp_dst=80";

    fn actions(flows: &str, in_port: u32) -> (String, fastpath::flow::FlowMask) {
        let b = OfflineBridge::new(flows, 4).unwrap();
        let key = b.packet(&format!("in_port={in_port},{PKT}")).unwrap();
        let t = b.translate(&key).unwrap();
        (format_actions(&t.actions), t.mask)
    }

    #[test]
    fn clone_restores_the_flow_and_isolates_what_commit_cannot_undo() {
        // Reversible: inline; the next commit puts the address back.
        let (a, _) = actions(
            "in_port=1,ip,actions=clone(mod_nw_dst:10.0.0.9,load:1->reg0[],output:2),resubmit(,1)\n\
             table=1,reg0=0,actions=output:3",
            1,
        );
        assert_eq!(
            a, "set(ipv4(dst=10.0.0.9)),2,set(ipv4(dst=10.0.0.2)),3",
            "the clone's register write must not leak out"
        );
        // Conntrack cannot be undone: a datapath clone.
        let (a, _) = actions(
            "in_port=1,ip,actions=clone(ct(commit,zone=3),output:3),mod_nw_ttl:9,output:4",
            1,
        );
        assert_eq!(a, "clone(ct(commit,zone=3),3),set(ipv4(ttl=9)),4");
        // As the last action nothing follows: no clone needed.
        let (a, _) = actions("in_port=1,ip,actions=output:2,clone(ct_clear,output:3)", 1);
        assert_eq!(a, "2,3");
    }

    #[test]
    fn check_pkt_larger_forks_in_the_datapath() {
        let (a, mask) = actions(
            "in_port=1,actions=check_pkt_larger(200)->reg1[0],resubmit(,2),output:4\n\
             table=0,in_port=2,actions=resubmit(,1),output:4\n\
             table=1,actions=check_pkt_larger(100)->reg1[0],resubmit(,2)\n\
             table=2,reg1=1,ip,actions=mod_nw_ttl:1,output:1\n\
             table=2,reg1=0,actions=output:3",
            2,
        );
        assert_eq!(
            a, "check_pkt_len(size=100,gt(set(ipv4(ttl=1)),1),le(3)),4",
            "the caller's output:4 follows the check, on the packet as it was"
        );
        // The flow key has no length: both outcomes are in the actions, the mask as usual.
        assert_eq!(mask.regs, [0; 16]);
        let (a, _) = actions(
            "in_port=1,actions=check_pkt_larger(200)->reg1[0],resubmit(,2),output:4\n\
             table=2,reg1=1,actions=output:2\n\
             table=2,reg1=0,actions=exit",
            1,
        );
        assert_eq!(a, "check_pkt_len(size=200,gt(2,4),le(drop))");
    }

    #[test]
    fn output_reg_reads_the_port_and_exit_stops_every_level() {
        let (a, mask) = actions(
            "in_port=1,tcp,actions=move:tcp_dst[]->reg3[0..15],output:reg3[0..7],resubmit(,1),output:4\n\
             table=1,actions=output:1,exit,output:2",
            1,
        );
        // Port 80 does not exist; output to the input port is skipped; then exit.
        assert_eq!(a, "drop");
        assert_eq!(
            mask.tp_dst, 0xffff,
            "the bits moved to reg3, which output reads"
        );
        let (a, _) = actions(
            "in_port=1,actions=load:3->reg0[],output:reg0[],note:aa,exit,output:2",
            1,
        );
        assert_eq!(a, "3");
    }
}
