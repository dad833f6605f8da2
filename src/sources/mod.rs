//! One module per outside system. Each knows only its own client crate and converts that
//! crate's types into `crate::domain` types at its edge.

pub mod docker;
pub mod github;
pub mod gpu;
pub mod health;
pub mod proxy;
pub mod registry;

/// rustls needs one process-wide crypto provider; we use ring (no C toolchain beyond cc).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
