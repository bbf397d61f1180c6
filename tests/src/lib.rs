//! placeholder
pub mod netns;
pub mod vm;
