//! placeholder
pub mod netns;
