//! Typed configuration with built-in ELT defaults and layered overrides.
//!
//! Load order (later wins): embedded `assets/default-config.toml` < `/etc/elt-console/config.toml`
//! < `$XDG_CONFIG_HOME/elt-console/config.toml` < `--config FILE` < `ELT_<SECTION>_<KEY>` env.
//! Every key is checked against the embedded defaults, so an unknown key or a value of the wrong
//! type is an error naming the file, line, column and key. Arrays of tables (`[[health]]`,
//! `[[deployment.services]]`) are replaced whole by a later layer, never merged item by item.

mod hosts;
mod layers;
mod load;
mod show;
mod types;
mod validate;

pub use hosts::{is_host_name, validate_all};
pub(crate) use layers::origin_of;
pub use load::{defaults, load};
pub use types::*;

#[cfg(test)]
mod swarm_tests;
#[cfg(test)]
mod tests;
