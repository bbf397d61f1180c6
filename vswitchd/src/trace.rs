//! Trace: the user's window into the pipeline (DESIGN §6).
//!
//! A trace runs one packet through a bridge's tables exactly as an upcall would — same
//! [`xlate::translate`](crate::xlate::translate), same megaflow mask — while recording each
//! table visited, the rule that matched, and anything xlate skipped or refused. When the actions
//! recirculate (`ct(table=N)`), the trace follows the packet into the next datapath pass with
//! the conntrack state the user chose (`--ct-next`, default `trk,new` as in OVS's
//! ofproto/trace), so one report shows every pass.
//!
//! The text and JSON forms are a fixed interface (scripts parse them): text lines use
//! U+2500 `─` between a rule and its actions, and JSON keys come in the documented order.
//! Fields beyond the documented ones appear only when they carry something (a `notes` list,
//! an `error`, the `resume` point of a recirculated pass).

use crate::xlate::RecircPoint;
use serde::Serialize;
use std::fmt::Write as _;

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
    /// Index in `steps` of each rule whose actions are running, innermost last.
    open: Vec<usize>,
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
            self.steps[i].notes.push(msg.into());
        }
    }
}

/// Where a recirculated pass resumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resume {
    /// The recirculation id, as `0x..`.
    pub recirc_id: String,
    /// The conntrack state the pass was given (`--ct-next`, or the default).
    pub ct_state: String,
    /// The packet's flow entering this pass.
    pub flow: String,
}

/// One datapath pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pass {
    pub steps: Vec<Step>,
    /// The megaflow this pass installs; `None` when translation failed (nothing installed).
    pub megaflow: Option<String>,
    /// Datapath actions in ODP syntax (`drop` when none).
    pub datapath_actions: String,
    /// OpenFlow ports the packet leaves on, in order.
    pub outputs: Vec<u32>,
    /// Why translation failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set for passes after a recirculation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

/// A whole trace: the packet and every datapath pass it makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceReport {
    /// The packet, in flow syntax.
    pub flow: String,
    pub passes: Vec<Pass>,
}

impl TraceReport {
    /// The human form (DESIGN §6).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Flow: {}", self.flow);
        for (i, pass) in self.passes.iter().enumerate() {
            if let Some(r) = &pass.resume {
                if i > 0 {
                    s.push('\n');
                }
                let _ = writeln!(s, "recirc({}) with ct_state={}", r.recirc_id, r.ct_state);
                let _ = writeln!(s, "Flow: {}", r.flow);
            }
            for step in &pass.steps {
                write_step(&mut s, step);
            }
            if let Some(e) = &pass.error {
                let _ = writeln!(s, "Translation failed: {e}; the packet is dropped");
            }
            if let Some(m) = &pass.megaflow {
                let _ = writeln!(s, "Megaflow: {m}");
            }
            let _ = writeln!(s, "Datapath actions: {}", pass.datapath_actions);
        }
        s
    }

    /// The machine form: one JSON object (DESIGN §6).
    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn write_step(s: &mut String, step: &Step) {
    let indent = "    ".repeat(step.depth);
    let _ = write!(s, "{indent}{:>2}. ", step.table);
    if let Some(b) = &step.bridge {
        let _ = write!(s, "bridge {b}: ");
    }
    match step.priority {
        None => {
            let _ = writeln!(s, "No match ─ drop");
        }
        Some(p) => {
            let _ = write!(s, "priority {p}");
            if step.cookie != 0 {
                let _ = write!(s, ", cookie {:#x}", step.cookie);
            }
            if !step.match_.is_empty() {
                let _ = write!(s, ", {}", step.match_);
            }
            let _ = writeln!(s, " ─ {}", step.actions);
        }
    }
    for n in &step.notes {
        let _ = writeln!(s, "{indent}    >> {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design_example() -> TraceReport {
        TraceReport {
            flow: "tcp,in_port=1,dl_src=00:00:00:00:00:01,...,tp_dst=80".into(),
            passes: vec![Pass {
                steps: vec![
                    Step {
                        table: 0,
                        priority: Some(90),
                        cookie: 0,
                        match_: "tcp,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24".into(),
                        actions: "set_field:0x1->reg0, goto_table:1".into(),
                        depth: 0,
                        bridge: None,
                        notes: vec![],
                    },
                    Step {
                        table: 1,
                        priority: Some(100),
                        cookie: 0,
                        match_: "reg0=0x1,tcp,tp_dst=80".into(),
                        actions: "mod_nw_tos:32, output:2".into(),
                        depth: 0,
                        bridge: None,
                        notes: vec![],
                    },
                ],
                megaflow: Some("recirc_id=0,eth,tcp,in_port=1,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,nw_tos=0,nw_frag=no,tp_dst=80".into()),
                datapath_actions: "set(ipv4(tos=0x20/0xfc)),2".into(),
                outputs: vec![2],
                error: None,
                resume: None,
            }],
        }
    }

    #[test]
    fn text_form_matches_design() {
        let want = "Flow: tcp,in_port=1,dl_src=00:00:00:00:00:01,...,tp_dst=80
 0. priority 90, tcp,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24 ─ set_field:0x1->reg0, goto_table:1
 1. priority 100, reg0=0x1,tcp,tp_dst=80 ─ mod_nw_tos:32, output:2
Megaflow: recirc_id=0,eth,tcp,in_port=1,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,nw_tos=0,nw_frag=no,tp_dst=80
Datapath actions: set(ipv4(tos=0x20/0xfc)),2
";
        assert_eq!(design_example().to_text(), want);
    }

    #[test]
    fn json_form_has_documented_keys_in_order() {
        let j = design_example().to_json();
        assert!(j.starts_with(
            r#"{"flow":"tcp,in_port=1,dl_src=00:00:00:00:00:01,...,tp_dst=80","passes":[{"steps":[{"table":0,"priority":90,"cookie":"0x0","match":"tcp,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24","actions":"set_field:0x1->reg0, goto_table:1"},"#
        ));
        assert!(j.ends_with(
            r#""megaflow":"recirc_id=0,eth,tcp,in_port=1,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,nw_tos=0,nw_frag=no,tp_dst=80","datapath_actions":"set(ipv4(tos=0x20/0xfc)),2","outputs":[2]}]}"#
        ));
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["passes"][0]["steps"][1]["priority"], 100);
    }

    #[test]
    fn misses_notes_errors_and_recirculated_passes() {
        let mut t = Trace::new();
        t.enter(Step {
            table: 0,
            priority: Some(1),
            cookie: 0x2a,
            match_: String::new(),
            actions: "resubmit(,1), output:1".into(),
            depth: 0,
            bridge: None,
            notes: vec![],
        });
        t.enter(Step {
            table: 1,
            priority: None,
            cookie: 0,
            match_: String::new(),
            actions: "drop".into(),
            depth: 1,
            bridge: None,
            notes: vec![],
        });
        t.leave();
        t.note("skipping output to input port");
        t.leave();
        let report = TraceReport {
            flow: "in_port=1".into(),
            passes: vec![
                Pass {
                    steps: t.steps,
                    megaflow: None,
                    datapath_actions: "drop".into(),
                    outputs: vec![],
                    error: Some("resubmit depth exceeded (64 levels)".into()),
                    resume: None,
                },
                Pass {
                    steps: vec![],
                    megaflow: Some("recirc_id=0x1,eth,in_port=1".into()),
                    datapath_actions: "drop".into(),
                    outputs: vec![],
                    error: None,
                    resume: Some(Resume {
                        recirc_id: "0x1".into(),
                        ct_state: "new,trk".into(),
                        flow: "recirc_id=0x1,in_port=1".into(),
                    }),
                },
            ],
        };
        let want = "Flow: in_port=1
 0. priority 1, cookie 0x2a ─ resubmit(,1), output:1
     1. No match ─ drop
    >> skipping output to input port
Translation failed: resubmit depth exceeded (64 levels); the packet is dropped
Datapath actions: drop

recirc(0x1) with ct_state=new,trk
Flow: recirc_id=0x1,in_port=1
Megaflow: recirc_id=0x1,eth,in_port=1
Datapath actions: drop
";
        assert_eq!(report.to_text(), want);
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(v["passes"][0]["megaflow"], serde_json::Value::Null);
        assert_eq!(v["passes"][0]["steps"][1]["priority"], serde_json::Value::Null);
        assert_eq!(
            v["passes"][0]["steps"][0]["notes"][0],
            "skipping output to input port"
        );
        assert_eq!(v["passes"][1]["resume"]["recirc_id"], "0x1");
    }
}
