//! elt-console: watch and deploy a Dockerised GPU web app from one terminal screen.

pub mod cli;
pub mod collect;
pub mod compare;
pub mod config;
pub mod deploy;
pub mod deploy_detach;
pub mod domain;
pub mod exit_code;
pub mod format;
pub mod gh_deployments;
pub mod github_ops;
pub mod keymap;
pub mod logging;
pub mod notify;
pub mod retry;
pub mod sanitize;
pub mod secret_file;
pub mod sources;
pub mod store;
pub mod subscribers;
pub mod sys;
pub mod tagorder;
pub mod ui;
pub mod watch;
pub mod workflow;
