//! GitHub Actions through octocrab: the configured workflow's runs, fetched with conditional
//! requests (`If-None-Match` → 304 costs no rate-limit budget) and with the rate-limit headers
//! of every answer kept, so the console can show and respect its budget.
//!
//! We use octocrab's raw request methods because its typed builders hide the ETag and the
//! rate-limit headers; the JSON is mapped into our `RunView` here.
//!
//! Transport: octocrab's own middleware (base URI, auth header, extra headers, tracing) over a
//! reqwest client we configure (`build_with_reqwest`). octocrab's default hyper client has no
//! proxy support and no hook for a connector short of rebuilding that middleware ourselves;
//! reqwest tunnels https through `CONNECT host:443` (TLS stays end to end with GitHub) and
//! sends plain-http requests to the proxy in absolute form, with `Proxy-Authorization` for
//! credentials in the proxy URL. Which proxy, if any, is decided by `super::proxy` from the
//! usual variables, so it can be shown to the operator.

mod client;
mod deployments;
mod error;
mod packages;
mod runs;
mod token;

pub use client::GithubSource;
pub use deployments::{DeploymentView, clip_description};
pub use error::{GithubError, GithubSetupError, error_for, rate_from_headers};
pub use packages::{PackageVersion, PackageVersions, parse_package_versions};
pub use runs::{
    CommitSummary, Comparison, DispatchAnswer, RunsPage, decode_content, parse_comparison,
    parse_jobs, parse_runs,
};
pub use token::{TokenSource, resolve_token, resolve_token_with, route_note, route_note_with};

#[cfg(test)]
mod tests;
