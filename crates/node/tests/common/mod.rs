//! Helpers the node's integration tests share.
pub mod process;
