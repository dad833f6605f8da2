//! GitHub operations shared by the dashboard and the headless commands (neither imports the
//! other): preparing a workflow dispatch.

use crate::sources::github::{GithubError, GithubSource};
use crate::workflow::{self, WorkflowError};

/// Why a dispatch could not be prepared: GitHub could not be read, or the request does not
/// fit the workflow's declared inputs.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error("reading {path} at {git_ref}: {source}")]
    WorkflowFile {
        path: String,
        git_ref: String,
        source: GithubError,
    },
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
}

/// A dispatch checked and ready: what will be sent, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedDispatch {
    pub workflow: String,
    pub repository: String,
    pub git_ref: String,
    pub body: serde_json::Value,
}

impl PreparedDispatch {
    pub fn describe(&self) -> String {
        format!(
            "dispatch workflow {} in {} at ref {} with body {}",
            self.workflow, self.repository, self.git_ref, self.body
        )
    }
}

/// Read the workflow's declared inputs at `git_ref` (default: the default branch) and check
/// the given inputs against them.
pub async fn prepare_dispatch(
    gh: &GithubSource,
    git_ref: Option<&str>,
    given: &[(String, String)],
) -> Result<(PreparedDispatch, workflow::DispatchSpec), PrepareError> {
    let git_ref = match git_ref {
        Some(r) => workflow::validate_ref(r)?,
        None => gh.default_branch().await?,
    };
    let path = gh.workflow_path().await?;
    let text = match gh.file(&path, &git_ref).await {
        Ok(text) => text,
        Err(source) => {
            return Err(PrepareError::WorkflowFile {
                path,
                git_ref,
                source,
            });
        }
    };
    let spec = workflow::parse_dispatch_spec(&text, &format!("{path} at {git_ref}"))?;
    let inputs = workflow::validate_inputs(&spec, given)?;
    Ok((
        PreparedDispatch {
            workflow: gh.workflow().to_string(),
            repository: gh.repo().to_string(),
            body: workflow::dispatch_body(&git_ref, &inputs),
            git_ref,
        },
        spec,
    ))
}
