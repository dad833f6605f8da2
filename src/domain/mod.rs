//! Plain data shared by every layer. No client crate's types appear here: sources convert
//! bollard, octocrab, NVML and OCI types into these at their edge.

mod dashboard;
mod names;
mod views;

pub use dashboard::*;
pub use names::*;
pub use views::*;
