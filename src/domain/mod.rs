//! Plain data shared by every layer. No client crate's types appear here: sources convert
//! bollard, octocrab, NVML and OCI types into these at their edge.

mod dashboard;
mod deploy;
mod engine;
mod names;
mod status;
mod swarm;
mod views;

pub use dashboard::*;
pub use deploy::*;
pub use engine::*;
pub use names::*;
pub use status::*;
pub use swarm::*;
pub use views::*;
