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
}
