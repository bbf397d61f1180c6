//! Flow keys: the fixed-size summary of a packet that every cache and rule matches against.
//!
//! [`key`] defines the layout, [`field`] names its fields, and [`extract`] fills a key from a
//! parsed packet.

pub mod extract;
pub mod field;
pub mod key;
pub mod tlv;

pub use field::{ALL_FIELDS, Field};
pub use key::{DP_KEY_WORDS, FlowKey, FlowMask, KEY_WORDS, TUN_MD_BYTES};
pub mod tunnel;

pub use tunnel::TunnelMeta;
