//! The full-screen dashboard.

pub mod logs;
pub mod sanitize;
