//! Workflow runs, their jobs, dispatches, repository files and commit comparisons.

use super::client::GithubSource;
use super::error::GithubError;
use crate::domain::{CommitSha, JobView, RateLimit, RunView, StepView};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A page of runs, and whether GitHub said nothing changed since the last fetch.
#[derive(Debug, Clone)]
pub struct RunsPage {
    pub runs: Vec<RunView>,
    pub not_modified: bool,
    pub rate: RateLimit,
}

/// What a `workflow_dispatch` request got back: with `return_run_details`, GitHub answers 200
/// with the new run's id; older servers (and GHES) answer 204 with nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchAnswer {
    pub run_id: Option<u64>,
    pub html_url: Option<String>,
}

impl GithubSource {
    /// One run by id (to follow a run we dispatched, or the one whose jobs are open).
    pub async fn run(&self, run_id: u64) -> Result<RunView, GithubError> {
        let url = format!("{}/actions/runs/{run_id}", self.repo_url());
        let fetched = self
            .get(&url, &format!("run {run_id} in {}", self.repo))
            .await?;
        let raw: RawRun = serde_json::from_slice(&fetched.body)
            .map_err(|e| GithubError::Decode(format!("run {run_id}: {e}")))?;
        Ok(raw.into())
    }

    /// Jobs of a run with their steps (first 100 jobs: a build workflow has a handful).
    pub async fn jobs(&self, run_id: u64) -> Result<Vec<JobView>, GithubError> {
        let url = format!(
            "{}/actions/runs/{run_id}/jobs?per_page=100",
            self.repo_url()
        );
        let fetched = self
            .get(&url, &format!("jobs of run {run_id} in {}", self.repo))
            .await?;
        parse_jobs(&fetched.body)
    }

    /// The repository's default branch (what a dispatch form offers as the ref).
    pub async fn default_branch(&self) -> Result<String, GithubError> {
        let fetched = self
            .get(&self.repo_url(), &format!("repository {}", self.repo))
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&fetched.body)
            .map_err(|e| GithubError::Decode(format!("repository: {e}")))?;
        v.get("default_branch")
            .and_then(|b| b.as_str())
            .map(str::to_string)
            .ok_or_else(|| GithubError::Decode("repository without default_branch".into()))
    }

    /// The configured workflow's file path in the repository (`.github/workflows/x.yml`).
    pub async fn workflow_path(&self) -> Result<String, GithubError> {
        let url = format!("{}/actions/workflows/{}", self.repo_url(), self.workflow);
        let fetched = self
            .get(
                &url,
                &format!("workflow {} in {}", self.workflow, self.repo),
            )
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&fetched.body)
            .map_err(|e| GithubError::Decode(format!("workflow: {e}")))?;
        v.get("path")
            .and_then(|b| b.as_str())
            .map(str::to_string)
            .ok_or_else(|| GithubError::Decode("workflow without path".into()))
    }

    /// A text file of the repository at `git_ref`, through the contents API (base64).
    pub async fn file(&self, path: &str, git_ref: &str) -> Result<String, GithubError> {
        // Both reach the URL: refuse anything that could change its meaning.
        let path_ok = !path.is_empty()
            && !path.contains("..")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
        if !path_ok {
            return Err(GithubError::Decode(format!("unusable file path {path:?}")));
        }
        let git_ref = crate::workflow::validate_ref(git_ref)
            .map_err(|e| GithubError::Decode(e.to_string()))?;
        let url = format!(
            "{}/contents/{path}?ref={}",
            self.repo_url(),
            url::form_urlencoded::byte_serialize(git_ref.as_bytes()).collect::<String>()
        );
        let fetched = self
            .get(&url, &format!("{path} at {git_ref} in {}", self.repo))
            .await?;
        decode_content(&fetched.body)
    }

    /// POST the workflow's dispatches endpoint with a body already validated by the caller.
    pub async fn dispatch(&self, body: &serde_json::Value) -> Result<DispatchAnswer, GithubError> {
        let url = format!(
            "{}/actions/workflows/{}/dispatches",
            self.repo_url(),
            self.workflow
        );
        let what = format!("workflow {} in {}", self.workflow, self.repo);
        let (parts, body) = self
            .exchange(self.octo._post(url.as_str(), Some(body)))
            .await?;
        match parts.status.as_u16() {
            204 => Ok(DispatchAnswer {
                run_id: None,
                html_url: None,
            }),
            200 | 201 => {
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| GithubError::Decode(format!("dispatch answer: {e}")))?;
                Ok(DispatchAnswer {
                    run_id: v.get("workflow_run_id").and_then(|i| i.as_u64()),
                    html_url: v
                        .get("html_url")
                        .and_then(|u| u.as_str())
                        .map(str::to_string),
                })
            }
            _ => Err(self.failed(parts.status, &parts.headers, &body, &what)),
        }
    }

    /// Runs of the workflow started by `workflow_dispatch` at or after `since` (newest first):
    /// how a dispatch answered with 204 finds the run it started.
    pub async fn dispatch_runs_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<RunView>, GithubError> {
        let url = format!(
            "{}/actions/workflows/{}/runs?event=workflow_dispatch&created=%3E%3D{}&per_page=20",
            self.repo_url(),
            self.workflow,
            since.format("%Y-%m-%dT%H:%M:%SZ")
        );
        let what = format!("workflow {} in {}", self.workflow, self.repo);
        let fetched = self.get(&url, &what).await?;
        parse_runs(&fetched.body)
    }

    /// The commits between two commits (`GET /repos/{o}/{r}/compare/{base}...{head}`), through
    /// the same conditional GET, cache and hold as every other request. Without paging GitHub
    /// lists up to 250 commits, oldest first; `total_commits` counts them all.
    pub async fn compare(
        &self,
        base: &CommitSha,
        head: &CommitSha,
    ) -> Result<Comparison, GithubError> {
        let url = format!(
            "{}/compare/{}...{}",
            self.repo_url(),
            base.as_str(),
            head.as_str()
        );
        let what = format!(
            "commits {}...{} in {}",
            base.short(),
            head.short(),
            self.repo
        );
        let fetched = self.get(&url, &what).await?;
        parse_comparison(&fetched.body)
    }

    /// Recent runs of the configured workflow, newest first.
    pub async fn runs(&self) -> Result<RunsPage, GithubError> {
        let url = format!(
            "{}/repos/{}/{}/actions/workflows/{}/runs?per_page={}",
            self.api_url,
            self.repo.owner(),
            self.repo.name(),
            self.workflow,
            self.per_page
        );
        let what = format!("workflow {} in {}", self.workflow, self.repo);
        let fetched = self.get(&url, &what).await?;
        let list: RunsList = serde_json::from_slice(&fetched.body)
            .map_err(|e| GithubError::Decode(format!("runs list: {e}")))?;
        Ok(RunsPage {
            runs: list.workflow_runs.into_iter().map(RunView::from).collect(),
            not_modified: fetched.not_modified,
            rate: self.rate_limit(),
        })
    }
}

#[derive(Deserialize)]
struct RunsList {
    workflow_runs: Vec<RawRun>,
}

#[derive(Deserialize)]
struct RawRun {
    id: u64,
    run_number: u64,
    status: Option<String>,
    conclusion: Option<String>,
    head_branch: Option<String>,
    event: String,
    head_sha: String,
    display_title: Option<String>,
    name: Option<String>,
    actor: Option<Actor>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    run_started_at: Option<DateTime<Utc>>,
    html_url: String,
    head_commit: Option<HeadCommit>,
}

#[derive(Deserialize)]
struct HeadCommit {
    message: Option<String>,
}

#[derive(Deserialize)]
struct Actor {
    login: String,
}

impl From<RawRun> for RunView {
    fn from(r: RawRun) -> Self {
        RunView {
            id: r.id,
            number: r.run_number,
            status: r.status.unwrap_or_else(|| "unknown".into()),
            conclusion: r.conclusion,
            branch: r.head_branch,
            event: r.event,
            head_sha: r.head_sha,
            // Runs from before `display_title` existed (and some without a `name`) still get
            // a title: the head commit's first line, as GitHub's own run list shows.
            title: [
                r.display_title,
                r.name,
                r.head_commit
                    .and_then(|c| c.message)
                    .and_then(|m| m.lines().next().map(str::to_string)),
            ]
            .into_iter()
            .flatten()
            .map(|t| t.trim().to_string())
            .find(|t| !t.is_empty()),
            actor: r.actor.map(|a| a.login),
            created_at: r.created_at,
            updated_at: r.updated_at,
            run_started_at: r.run_started_at,
            html_url: r.html_url,
        }
    }
}

/// What lies between two commits, as GitHub's compare API tells it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Comparison {
    /// `ahead`, `behind`, `diverged` or `identical` (head relative to base).
    pub status: String,
    pub ahead_by: u64,
    pub behind_by: u64,
    pub total_commits: u64,
    /// The commits in head and not in base, oldest first (at most 250).
    pub commits: Vec<CommitSummary>,
}

/// One commit of a comparison: what an operator needs to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitSummary {
    pub sha: String,
    /// The first line of the message.
    pub title: String,
    pub author: Option<String>,
    pub date: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawComparison {
    status: String,
    ahead_by: u64,
    behind_by: u64,
    total_commits: u64,
    #[serde(default)]
    commits: Vec<RawCompareCommit>,
}

#[derive(Deserialize)]
struct RawCompareCommit {
    sha: String,
    commit: RawCompareCommitInner,
}

#[derive(Deserialize)]
struct RawCompareCommitInner {
    message: String,
    author: Option<RawGitActor>,
}

#[derive(Deserialize)]
struct RawGitActor {
    name: Option<String>,
    date: Option<DateTime<Utc>>,
}

pub fn parse_comparison(body: &[u8]) -> Result<Comparison, GithubError> {
    let raw: RawComparison = serde_json::from_slice(body)
        .map_err(|e| GithubError::Decode(format!("comparison: {e}")))?;
    Ok(Comparison {
        status: raw.status,
        ahead_by: raw.ahead_by,
        behind_by: raw.behind_by,
        total_commits: raw.total_commits,
        commits: raw
            .commits
            .into_iter()
            .map(|c| CommitSummary {
                sha: c.sha,
                // Titles are shown on one line: no control characters from a message.
                title: c
                    .commit
                    .message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .filter(|ch| !ch.is_control())
                    .take(200)
                    .collect(),
                author: c.commit.author.as_ref().and_then(|a| a.name.clone()),
                date: c.commit.author.and_then(|a| a.date),
            })
            .collect(),
    })
}

/// Parse a runs-list body (exposed for tests on the published payloads).
pub fn parse_runs(body: &[u8]) -> Result<Vec<RunView>, GithubError> {
    let list: RunsList =
        serde_json::from_slice(body).map_err(|e| GithubError::Decode(format!("runs list: {e}")))?;
    Ok(list.workflow_runs.into_iter().map(RunView::from).collect())
}

#[derive(Deserialize)]
struct JobsList {
    jobs: Vec<RawJob>,
}

#[derive(Deserialize)]
struct RawJob {
    id: u64,
    name: String,
    status: String,
    conclusion: Option<String>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    html_url: Option<String>,
    #[serde(default)]
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
struct RawStep {
    number: u64,
    name: String,
    status: String,
    conclusion: Option<String>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

/// Parse a jobs-list body (exposed for tests on the published payloads).
pub fn parse_jobs(body: &[u8]) -> Result<Vec<JobView>, GithubError> {
    let list: JobsList =
        serde_json::from_slice(body).map_err(|e| GithubError::Decode(format!("jobs list: {e}")))?;
    Ok(list
        .jobs
        .into_iter()
        .map(|j| JobView {
            id: j.id,
            name: j.name,
            status: j.status,
            conclusion: j.conclusion,
            started_at: j.started_at,
            completed_at: j.completed_at,
            html_url: j.html_url,
            steps: j
                .steps
                .into_iter()
                .map(|s| StepView {
                    number: s.number,
                    name: s.name,
                    status: s.status,
                    conclusion: s.conclusion,
                    started_at: s.started_at,
                    completed_at: s.completed_at,
                })
                .collect(),
        })
        .collect())
}

/// The text of a contents-API file answer. Base64 lines are joined by newlines on GitHub;
/// the published example joins them with a literal backslash-n, which base64 never contains.
pub fn decode_content(body: &[u8]) -> Result<String, GithubError> {
    use base64::Engine;
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| GithubError::Decode(format!("file contents: {e}")))?;
    if v.get("type").and_then(|t| t.as_str()) != Some("file") {
        return Err(GithubError::Decode("the path is not a file".into()));
    }
    let encoded = v
        .get("content")
        .and_then(|c| c.as_str())
        .ok_or_else(|| GithubError::Decode("file answer without content".into()))?;
    let cleaned: String = encoded
        .replace("\\n", "")
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .map_err(|e| GithubError::Decode(format!("file content is not base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| GithubError::Decode("file is not UTF-8 text".into()))
}
