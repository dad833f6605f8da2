//! GitHub Deployments (REST `repos/deployments`): create a deployment of a commit, post its
//! statuses, and list an environment's recent deployments with their latest status (GETs are
//! conditional, so an unchanged list costs no rate-limit budget).
//!
//! A separate impl block of `GithubSource`, in its own file, so the runs/packages side of the
//! client can change beside it.

use super::{GithubError, GithubSource};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

/// One GitHub deployment and its latest status, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentView {
    pub id: u64,
    pub sha: String,
    pub environment: String,
    pub description: Option<String>,
    pub creator: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The latest status's state (`success`, `failure`, `in_progress`, `inactive`...); None
    /// when it has none.
    pub state: Option<String>,
    pub state_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawUser {
    login: String,
}

#[derive(Deserialize)]
struct RawDeployment {
    id: u64,
    sha: String,
    environment: String,
    description: Option<String>,
    creator: Option<RawUser>,
    created_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct RawStatus {
    state: String,
    created_at: DateTime<Utc>,
}

/// `POST /repos/{o}/{r}/deployments`'s body: the commit itself as the ref, no merge of the
/// default branch, and no status-check gate (CI already passed for an image to exist).
pub fn create_body(sha: &str, environment: &str, description: &str) -> serde_json::Value {
    serde_json::json!({
        "ref": sha,
        "task": "deploy",
        "auto_merge": false,
        "required_contexts": [],
        "environment": environment,
        "description": description,
    })
}

/// `POST …/deployments/{id}/statuses`'s body. `auto_inactive` is off: the console marks the
/// deployment a success replaced as `inactive` itself, so GitHub shows what the server did.
pub fn status_body(state: &str, description: &str, environment_url: &str) -> serde_json::Value {
    let mut body = serde_json::json!({
        "state": state,
        "description": description,
        "auto_inactive": false,
    });
    if !environment_url.is_empty() {
        body["environment_url"] = environment_url.into();
    }
    body
}

/// GitHub keeps at most 140 characters of a description.
pub fn clip_description(s: &str) -> String {
    if s.chars().count() <= 140 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(139).collect::<String>())
    }
}

impl GithubSource {
    async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<(u16, bytes::Bytes), GithubError> {
        self.check_blocked()?;
        let response = self
            .octo
            ._post(url, Some(body))
            .await
            .map_err(|e| self.unreachable(&e))?;
        let (parts, body) = response.into_parts();
        self.record_rate(&parts.headers);
        let body = body
            .collect()
            .await
            .map_err(|e| self.unreachable(&e))?
            .to_bytes();
        if parts.status.is_success() {
            Ok((parts.status.as_u16(), body))
        } else {
            Err(self.failed(parts.status, &parts.headers, &body, what))
        }
    }

    /// Create a deployment of commit `sha`; its id.
    pub async fn create_deployment(
        &self,
        sha: &str,
        environment: &str,
        description: &str,
    ) -> Result<u64, GithubError> {
        let url = format!("{}/deployments", self.repo_url());
        let what = format!("deployments of {}", self.repo);
        let (status, body) = self
            .post_json(&url, &create_body(sha, environment, description), &what)
            .await?;
        if status != 201 {
            // 202: GitHub merged the default branch into the ref instead; not asked for.
            return Err(GithubError::Decode(format!(
                "creating a deployment answered {status}, not 201"
            )));
        }
        let d: RawDeployment = serde_json::from_slice(&body)
            .map_err(|e| GithubError::Decode(format!("created deployment: {e}")))?;
        Ok(d.id)
    }

    pub async fn create_deployment_status(
        &self,
        deployment: u64,
        state: &str,
        description: &str,
        environment_url: &str,
    ) -> Result<(), GithubError> {
        let url = format!("{}/deployments/{deployment}/statuses", self.repo_url());
        let what = format!("deployment {deployment} in {}", self.repo);
        self.post_json(
            &url,
            &status_body(state, description, environment_url),
            &what,
        )
        .await
        .map(|_| ())
    }

    /// The environment's newest `limit` deployments with their latest status: 1 + `limit`
    /// conditional requests (a 304 is free).
    pub async fn recent_deployments(
        &self,
        environment: &str,
        limit: u32,
    ) -> Result<Vec<DeploymentView>, GithubError> {
        let mut url = url::Url::parse(&format!("{}/deployments", self.repo_url()))
            .map_err(|e| GithubError::Decode(format!("deployments URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("environment", environment)
            .append_pair("per_page", &limit.clamp(1, 100).to_string());
        let what = format!("deployments of {}", self.repo);
        let fetched = self.get(url.as_str(), &what).await?;
        let raw: Vec<RawDeployment> = serde_json::from_slice(&fetched.body)
            .map_err(|e| GithubError::Decode(format!("deployments list: {e}")))?;
        let mut out = Vec::new();
        for d in raw.into_iter().take(limit as usize) {
            let status_url = format!(
                "{}/deployments/{}/statuses?per_page=1",
                self.repo_url(),
                d.id
            );
            let latest = match self.get(&status_url, &what).await {
                Ok(f) => serde_json::from_slice::<Vec<RawStatus>>(&f.body)
                    .map_err(|e| GithubError::Decode(format!("deployment statuses: {e}")))?
                    .into_iter()
                    .next(),
                Err(e) => return Err(e),
            };
            out.push(DeploymentView {
                id: d.id,
                sha: d.sha,
                environment: d.environment,
                description: d.description,
                creator: d.creator.map(|c| c.login),
                created_at: d.created_at,
                state: latest.as_ref().map(|s| s.state.clone()),
                state_at: latest.map(|s| s.created_at),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/github");

    #[test]
    fn the_published_payloads_parse() {
        let read = |n: &str| std::fs::read(format!("{FIXTURES}/{n}")).unwrap();
        let list: Vec<RawDeployment> =
            serde_json::from_slice(&read("deployments-list.json")).unwrap();
        assert_eq!(list[0].environment, "production");
        assert_eq!(list[0].creator.as_ref().unwrap().login, "octocat");
        let one: RawDeployment =
            serde_json::from_slice(&read("deployment-create-response-201.json")).unwrap();
        assert_eq!(one.id, 1);
        let statuses: Vec<RawStatus> =
            serde_json::from_slice(&read("deployment-statuses-list.json")).unwrap();
        assert_eq!(statuses[0].state, "success");
    }

    #[test]
    fn bodies_ask_for_the_commit_without_merge_or_checks() {
        let b = create_body("abc", "production", "deploy main-abc");
        assert_eq!(b["ref"], "abc");
        assert_eq!(b["auto_merge"], false);
        assert_eq!(b["required_contexts"], serde_json::json!([]));
        let s = status_body("success", "ok", "");
        assert!(s.get("environment_url").is_none());
        assert_eq!(
            status_body("success", "ok", "https://x")["environment_url"],
            "https://x"
        );
        assert_eq!(clip_description(&"x".repeat(200)).chars().count(), 140);
    }
}
