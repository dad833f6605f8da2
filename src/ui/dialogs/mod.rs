//! Dialogs over the dashboard. `confirm` and `github` hold their own state and keys (the
//! model holds them in `Overlay`); `help` and `history` draw from the model.

pub mod confirm;
pub mod github;
pub mod help;
pub mod history;
