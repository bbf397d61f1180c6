//! What a translation records when it is traced: the tables it visited, the rules that
//! matched, its notes, outputs and recirculations.
//!
//! xlate fills a [`Trace`] while it runs (when asked to); `crate::trace` turns the recordings
//! of every pass into the report users read. The recording lives here, beside the translator
//! that writes it, so xlate does not depend on the report layer above it.

use super::RecircPoint;
use fastpath::flow::FlowKey;
use serde::Serialize;

/// One table visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The table looked up.
    pub table: u8,
    /// Priority of the rule that matched; `None` when no rule matched (the table drops).
    pub priority: Option<u16>,
    /// Cookie of the rule, as `0x..`.
    #[serde(serialize_with = "ser_cookie")]
    pub cookie: u64,
    /// The rule's match, in flow syntax (empty for a miss or a catch-all rule).
    #[serde(rename = "match")]
    pub match_: String,
    /// The rule's actions, in flow syntax (`drop` for a miss).
    pub actions: String,
    /// Nesting level (0 for table 0 and `goto_table`, +1 per `resubmit`).
    #[serde(skip)]
    pub depth: usize,
    /// The bridge, when the step runs in another bridge than the pass started in (patch port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// What xlate reported while running this rule's actions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// For each note, when it was made: (number of steps recorded by then, sequence number),
    /// so the text form prints notes and nested steps in the order they happened.
    #[serde(skip)]
    pub note_at: Vec<(usize, usize)>,
}

fn ser_cookie<S: serde::Serializer>(c: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{c:#x}"))
}

/// What xlate records for one pass (filled by `xlate::translate` when tracing).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Table visits in order.
    pub steps: Vec<Step>,
    /// OpenFlow ports the packet leaves on, in order.
    pub outputs: Vec<u32>,
    /// Recirculations this pass requested, in order, with the packet as it is at each.
    pub recircs: Vec<RecircPoint>,
    /// The packet after the pass's actions changed it (set by a translation that completed).
    pub final_flow: Option<FlowKey>,
    /// Flows `learn` actions built, with their bridge (learned or not: see the notes).
    pub learned: Vec<(String, crate::ofproto::FlowSpec)>,
    /// Index in `steps` of each rule whose actions are running, innermost last.
    open: Vec<usize>,
    /// Notes made so far.
    n_notes: usize,
}

impl Trace {
    /// An empty recording.
    pub fn new() -> Trace {
        Trace::default()
    }

    /// Records a table visit and makes it the step that notes attach to, until [`Trace::leave`].
    pub fn enter(&mut self, step: Step) {
        self.open.push(self.steps.len());
        self.steps.push(step);
    }

    /// Ends the innermost open step.
    pub fn leave(&mut self) {
        self.open.pop();
    }

    /// Attaches a note to the innermost open step (or the last step, if none is open).
    pub fn note(&mut self, msg: impl Into<String>) {
        let idx = self
            .open
            .last()
            .copied()
            .or_else(|| self.steps.len().checked_sub(1));
        if let Some(i) = idx {
            let at = (self.steps.len(), self.n_notes);
            self.n_notes += 1;
            self.steps[i].notes.push(msg.into());
            self.steps[i].note_at.push(at);
        }
    }
}
