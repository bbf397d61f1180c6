//! User input quoted in error messages, bounded.
//!
//! Errors name the offending token (DESIGN §5), and a token is whatever the client sent: a
//! 15 MiB flow line once came back whole in the `grpc-message` header (11.8 MB), which the
//! client's transport refused, so the user saw RESOURCE_EXHAUSTED instead of the error. Every
//! quote of client input in an error goes through [`Quoted`], which keeps the first
//! [`MAX_QUOTE`] bytes (on a character boundary) and says how long the whole was; [`cap`]
//! bounds a whole message as a last resort where one leaves the process.

use std::fmt;

/// Most bytes of one quoted input an error message shows.
pub const MAX_QUOTE: usize = 200;

/// Most bytes of a whole error message sent to a client.
pub const MAX_MESSAGE: usize = 4096;

/// Displays its string, cut to [`MAX_QUOTE`] bytes with `...` and the full length if longer.
#[derive(Clone, Copy, Debug)]
pub struct Quoted<'a>(pub &'a str);

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= MAX_QUOTE {
            f.write_str(self.0)
        } else {
            write!(
                f,
                "{}... ({} bytes)",
                prefix(self.0, MAX_QUOTE),
                self.0.len()
            )
        }
    }
}

/// `msg` cut to [`MAX_MESSAGE`] bytes (with `...`) if longer.
pub fn cap(msg: String) -> String {
    if msg.len() <= MAX_MESSAGE {
        return msg;
    }
    format!("{}...", prefix(&msg, MAX_MESSAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_quoted_whole_and_long_input_is_cut() {
        assert_eq!(Quoted("nw_dstt").to_string(), "nw_dstt");
        let long = "x".repeat(15 << 20);
        let q = Quoted(&long).to_string();
        assert_eq!(q, format!("{}... (15728640 bytes)", "x".repeat(MAX_QUOTE)));
        // Never in the middle of a character.
        let wide = "é".repeat(MAX_QUOTE);
        let q = Quoted(&wide).to_string();
        assert!(q.starts_with(&"é".repeat(MAX_QUOTE / 2)));
        assert!(q.ends_with(&format!("... ({} bytes)", wide.len())));
        assert_eq!(cap("short".into()), "short");
        assert_eq!(cap("é".repeat(MAX_MESSAGE)).len(), MAX_MESSAGE + 3);
    }
}
