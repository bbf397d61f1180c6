//! Errors of the ovs-ofctl flow syntax parser.
//!
//! Every message names the offending token and says why it is wrong, so that a rejected
//! `add-flow` can be fixed from the message alone (DESIGN §5, §9). Quotes of the input are
//! bounded ([`Quoted`]): a token can be megabytes long.

use crate::quote::Quoted;

/// A flow, action list or trace packet that cannot be parsed or is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfctlError {
    /// A match key (or a field named in an action) that does not exist.
    #[error("unknown field '{}'", Quoted(.0))]
    UnknownField(String),
    /// An action keyword that does not exist.
    #[error("unknown action '{}'", Quoted(.0))]
    UnknownAction(String),
    /// A port that is neither a number, a reserved name nor a known port name.
    #[error("unknown port '{}'", Quoted(.0))]
    UnknownPort(String),
    /// A value that does not parse or does not fit its field.
    #[error("bad value '{}' for '{}': {}", Quoted(.value), Quoted(.field), Quoted(.why))]
    BadValue {
        field: String,
        value: String,
        why: String,
    },
    /// A field or action whose protocol prerequisites the match does not guarantee.
    #[error("{} requires {needs}", Quoted(.what))]
    Prerequisite { what: String, needs: &'static str },
    /// `goto_table` to the same or an earlier table.
    #[error("goto_table:{target} must go to a later table")]
    GotoBackward { target: u8 },
    /// An action that may only appear last (`goto_table`).
    #[error("'{}' must be the last action", Quoted(.0))]
    NotLast(String),
    /// `drop` together with other actions.
    #[error("'drop' must be the only action")]
    DropNotAlone,
    /// A key that this command does not take.
    #[error("'{}' is not allowed here: {why}", Quoted(.key))]
    NotAllowed { key: String, why: &'static str },
    /// A flow to add (or modify) without `actions=`.
    #[error("missing 'actions=': a flow to add or modify needs actions")]
    MissingActions,
    /// Malformed syntax (parentheses, separators, empty items).
    #[error("syntax error in '{}': {}", Quoted(.token), Quoted(.why))]
    Syntax { token: String, why: String },
    /// An action whose argument is malformed or inconsistent.
    #[error("bad action '{}': {}", Quoted(.action), Quoted(.why))]
    BadAction { action: String, why: String },
}

impl OfctlError {
    pub(crate) fn bad_value(field: &str, value: &str, why: impl Into<String>) -> OfctlError {
        OfctlError::BadValue {
            field: field.to_owned(),
            value: value.to_owned(),
            why: why.into(),
        }
    }

    pub(crate) fn bad_action(action: &str, why: impl Into<String>) -> OfctlError {
        OfctlError::BadAction {
            action: action.to_owned(),
            why: why.into(),
        }
    }

    pub(crate) fn syntax(token: &str, why: impl Into<String>) -> OfctlError {
        OfctlError::Syntax {
            token: token.to_owned(),
            why: why.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_tokens_are_quoted_cut() {
        let huge = format!("nw_dst={}", "9".repeat(1 << 20));
        for e in [
            OfctlError::UnknownField(huge.clone()),
            OfctlError::bad_value("nw_dst", &huge, format!("'{huge}' is not an address")),
            OfctlError::syntax(&huge, "unbalanced parentheses"),
            OfctlError::bad_action(&huge, "x"),
        ] {
            let msg = e.to_string();
            assert!(msg.len() < 1000, "{} bytes", msg.len());
            assert!(msg.contains("... (1048583 bytes)"), "{msg}");
        }
    }
}
