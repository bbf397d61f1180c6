//! `meter:N` in xlate: the datapath action `meter(N)` carrying meter N's shared buckets.
//!
//! A meter consults no header bit, so it adds nothing to the megaflow's mask; the megaflow
//! keeps a reference to the buckets, so every packet it matches pays into the same meter on
//! whatever datapath thread it arrives (see `fastpath::meter`). A modified meter has new
//! buckets and bumps the tables' generation: the revalidator replaces the actions. A missing
//! meter (only possible in a trace or a packet-out; flow-mods are checked) meters nothing.

use super::Xlator;
use fastpath::action::DpAction;
use fastpath::meter::MeterRef;

impl Xlator<'_, '_> {
    pub(super) fn meter_action(&mut self, id: u32) {
        match self.bridge.tables.meters().get(id) {
            Some(m) => self.actions.push(DpAction::Meter(MeterRef {
                id,
                meter: m.meter.clone(),
            })),
            None => self.note(|| format!("meter {id} does not exist: not metered")),
        }
    }

    /// The meter of `controller(meter_id=N)`, if it exists.
    pub(super) fn controller_meter(&mut self, id: Option<u32>) -> Option<MeterRef> {
        let id = id?;
        match self.bridge.tables.meters().get(id) {
            Some(m) => Some(MeterRef {
                id,
                meter: m.meter.clone(),
            }),
            None => {
                self.note(|| format!("controller meter {id} does not exist: not metered"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::trace::offline_trace_with_meters;

    const METERS: &str =
        "meter=1,pktps,bands=type=drop,rate=10\nmeter=2,kbps,bands=type=drop,rate=100";

    fn dp_actions(flows: &str) -> String {
        let r = offline_trace_with_meters(flows, "", METERS, 2, "in_port=1,udp", &[]).unwrap();
        let text = r.to_text();
        text.lines()
            .find_map(|l| l.strip_prefix("Datapath actions: "))
            .unwrap_or_else(|| panic!("{text}"))
            .to_owned()
    }

    #[test]
    fn metered_flows_carry_their_meter_into_the_datapath_actions() {
        assert_eq!(
            dp_actions("in_port=1,actions=meter:2,output:2"),
            "meter(1),2"
        );
        let c = dp_actions("in_port=1,actions=controller(meter_id=1)");
        assert!(
            c.starts_with("sample(sample=100.0%,actions(meter(0),userspace(pid=0,controller(")
                && c.ends_with("max_len=65535))))"),
            "{c}"
        );
        // As OVS: a controller meter may be missing (nothing is metered), a flow's may not.
        assert!(dp_actions("in_port=1,actions=controller(meter_id=9)").starts_with("userspace("));
        let e = offline_trace_with_meters(
            "in_port=1,actions=meter:3,output:2",
            "",
            METERS,
            2,
            "in_port=1,udp",
            &[],
        )
        .unwrap_err();
        assert!(
            crate::report::chain(&e).contains("meter 3 does not exist"),
            "{}",
            crate::report::chain(&e)
        );
    }
}
