//! xlate (placeholder while the engine lands)
pub mod commit;
pub mod ct;
pub mod error;
