//! The GitHub Deployments outbox: each deployment GitHub should know of (created, or still to
//! create) and each status to post on it, with its attempts, so a GitHub outage delays the
//! statuses instead of failing or blocking the deploy. `gh_deployments` fills and drains it.
//!
//! Its tables are a separate step from the store's versioned schema (`CREATE TABLE IF NOT
//! EXISTS`, run on every open), so they can move into the schema migrations as one unit.

use super::{Store, StoreError, parse_ts, ts};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

pub(super) const GITHUB_TABLES: &str = "
    CREATE TABLE IF NOT EXISTS github_deployments (
        key TEXT PRIMARY KEY,
        deployment_id INTEGER,
        environment TEXT NOT NULL,
        sha TEXT NOT NULL,
        description TEXT NOT NULL,
        github_id INTEGER,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        error TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS github_deployment_statuses (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL REFERENCES github_deployments(key),
        state TEXT NOT NULL,
        description TEXT NOT NULL,
        environment_url TEXT NOT NULL,
        outcome TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        error TEXT,
        queued_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX IF NOT EXISTS github_statuses_key ON github_deployment_statuses(key, id);";

/// A deployment on GitHub's side: `pending` (to create), `created`, `denied` (the token may not
/// create deployments), `given-up` (retries spent, or GitHub refused it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GhDeployment {
    pub key: String,
    pub deployment_id: Option<i64>,
    pub environment: String,
    pub sha: String,
    pub description: String,
    pub github_id: Option<u64>,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub error: Option<String>,
}

/// A status to post: `queued`, `delivered`, `given-up`, or `dropped` (its deployment could not
/// be created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GhStatus {
    pub id: i64,
    pub key: String,
    pub state: String,
    pub description: String,
    pub environment_url: String,
    pub outcome: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub error: Option<String>,
    pub queued_at: DateTime<Utc>,
}

fn deployment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GhDeployment> {
    Ok(GhDeployment {
        key: r.get(0)?,
        deployment_id: r.get(1)?,
        environment: r.get(2)?,
        sha: r.get(3)?,
        description: r.get(4)?,
        github_id: r.get::<_, Option<i64>>(5)?.map(|i| i as u64),
        state: r.get(6)?,
        attempts: r.get(7)?,
        next_attempt_at: parse_ts(&r.get::<_, String>(8)?),
        error: r.get(9)?,
    })
}

const DEPLOYMENT_COLUMNS: &str = "key, deployment_id, environment, sha, description, github_id, state, attempts, next_attempt_at, error";

fn status_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GhStatus> {
    Ok(GhStatus {
        id: r.get(0)?,
        key: r.get(1)?,
        state: r.get(2)?,
        description: r.get(3)?,
        environment_url: r.get(4)?,
        outcome: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: parse_ts(&r.get::<_, String>(7)?),
        error: r.get(8)?,
        queued_at: parse_ts(&r.get::<_, String>(9)?),
    })
}

const STATUS_COLUMNS: &str = "id, key, state, description, environment_url, outcome, attempts, next_attempt_at, error, queued_at";

impl Store {
    pub(super) fn github_tables(&self) -> Result<(), StoreError> {
        self.conn.execute_batch(GITHUB_TABLES)?;
        Ok(())
    }

    /// Queue a deployment to create on GitHub (nothing if `key` is already queued).
    pub fn gh_queue_deployment(
        &self,
        key: &str,
        deployment_id: Option<i64>,
        environment: &str,
        sha: &str,
        description: &str,
    ) -> Result<(), StoreError> {
        let now = ts(Utc::now());
        self.conn.execute(
            "INSERT OR IGNORE INTO github_deployments (key, deployment_id, environment, sha, description, state, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
            params![key, deployment_id, environment, sha, description, now],
        )?;
        Ok(())
    }

    /// Queue a status for the deployment `key`, after those already queued for it.
    pub fn gh_queue_status(
        &self,
        key: &str,
        state: &str,
        description: &str,
        environment_url: &str,
    ) -> Result<(), StoreError> {
        let now = ts(Utc::now());
        self.conn.execute(
            "INSERT INTO github_deployment_statuses (key, state, description, environment_url, outcome, next_attempt_at, queued_at)
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?5)",
            params![key, state, description, environment_url, now],
        )?;
        Ok(())
    }

    pub fn gh_deployment(&self, key: &str) -> Result<Option<GhDeployment>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {DEPLOYMENT_COLUMNS} FROM github_deployments WHERE key = ?1"),
                params![key],
                deployment_row,
            )
            .optional()?)
    }

    /// The deployment in `environment` whose last status is `success` (the one a new success
    /// replaces), other than `except`.
    pub fn gh_active_deployment(
        &self,
        environment: &str,
        except: &str,
    ) -> Result<Option<GhDeployment>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {DEPLOYMENT_COLUMNS} FROM github_deployments d
                     WHERE environment = ?1 AND key <> ?2 AND state IN ('pending', 'created')
                       AND (SELECT s.state FROM github_deployment_statuses s WHERE s.key = d.key
                            ORDER BY s.id DESC LIMIT 1) = 'success'
                     ORDER BY created_at DESC LIMIT 1"
                ),
                params![environment, except],
                deployment_row,
            )
            .optional()?)
    }

    /// Deployments with work left: to create, or with statuses still queued; oldest first.
    pub fn gh_open_deployments(&self) -> Result<Vec<GhDeployment>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM github_deployments d
             WHERE state = 'pending'
                OR (state = 'created' AND EXISTS (SELECT 1 FROM github_deployment_statuses s
                                                  WHERE s.key = d.key AND s.outcome = 'queued'))
             ORDER BY created_at, key"
        ))?;
        let rows = stmt.query_map([], deployment_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn gh_queued_statuses(&self, key: &str) -> Result<Vec<GhStatus>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {STATUS_COLUMNS} FROM github_deployment_statuses WHERE key = ?1 AND outcome = 'queued' ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![key], status_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every status still queued whose deployment may yet be created, in queued order.
    pub fn gh_queued_statuses_all(&self) -> Result<Vec<GhStatus>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {STATUS_COLUMNS} FROM github_deployment_statuses s
             WHERE outcome = 'queued' AND EXISTS (SELECT 1 FROM github_deployments d
                   WHERE d.key = s.key AND d.state IN ('pending', 'created'))
             ORDER BY id"
        ))?;
        let rows = stmt.query_map([], status_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn gh_created(&self, key: &str, github_id: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE github_deployments SET github_id = ?2, state = 'created', attempts = attempts + 1, error = NULL WHERE key = ?1",
            params![key, github_id as i64],
        )?;
        Ok(())
    }

    /// A failed create: retried at `next` (None: not retried, `state` says why, and its
    /// statuses are `dropped` or `given-up` with it).
    pub fn gh_create_failed(
        &self,
        key: &str,
        error: &str,
        next: Option<DateTime<Utc>>,
        final_state: &str,
    ) -> Result<(), StoreError> {
        match next {
            Some(at) => {
                self.conn.execute(
                    "UPDATE github_deployments SET attempts = attempts + 1, next_attempt_at = ?2, error = ?3 WHERE key = ?1",
                    params![key, ts(at), error],
                )?;
            }
            None => {
                self.conn.execute(
                    "UPDATE github_deployments SET attempts = attempts + 1, state = ?2, error = ?3 WHERE key = ?1",
                    params![key, final_state, error],
                )?;
                let outcome = if final_state == "denied" {
                    "dropped"
                } else {
                    "given-up"
                };
                self.conn.execute(
                    "UPDATE github_deployment_statuses SET outcome = ?2, error = ?3 WHERE key = ?1 AND outcome = 'queued'",
                    params![key, outcome, error],
                )?;
            }
        }
        Ok(())
    }

    pub fn gh_status_sent(&self, id: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE github_deployment_statuses SET outcome = 'delivered', attempts = attempts + 1, error = NULL, sent_at = ?2 WHERE id = ?1",
            params![id, ts(Utc::now())],
        )?;
        Ok(())
    }

    /// A failed post: retried at `next`, or given up (None).
    pub fn gh_status_failed(
        &self,
        id: i64,
        error: &str,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        match next {
            Some(at) => self.conn.execute(
                "UPDATE github_deployment_statuses SET attempts = attempts + 1, next_attempt_at = ?2, error = ?3 WHERE id = ?1",
                params![id, ts(at), error],
            )?,
            None => self.conn.execute(
                "UPDATE github_deployment_statuses SET attempts = attempts + 1, outcome = 'given-up', error = ?2 WHERE id = ?1",
                params![id, error],
            )?,
        };
        Ok(())
    }

    /// What GitHub has not got (yet) for local deployment `deployment_id`: statuses queued,
    /// given up or dropped, and deployments not created.
    pub fn gh_undelivered(&self, deployment_id: i64) -> Result<Vec<GhUndelivered>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT d.key, s.state, s.outcome, s.attempts, COALESCE(s.error, d.error), d.state
             FROM github_deployments d JOIN github_deployment_statuses s ON s.key = d.key
             WHERE d.deployment_id = ?1 AND s.outcome <> 'delivered'
             ORDER BY s.id",
        )?;
        let rows = stmt.query_map(params![deployment_id], |r| {
            Ok(GhUndelivered {
                key: r.get(0)?,
                status: r.get(1)?,
                outcome: r.get(2)?,
                attempts: r.get(3)?,
                error: r.get(4)?,
                deployment_state: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// One status GitHub did not get, for `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GhUndelivered {
    /// The GitHub deployment's key: the local deployment id, `<id>-rollback` for its automatic
    /// rollback (an `inactive` on a replaced deployment is listed under that one).
    pub key: String,
    pub status: String,
    /// queued (will be retried), given-up, dropped (the deployment could not be created).
    pub outcome: String,
    pub attempts: u32,
    pub error: Option<String>,
    pub deployment_state: String,
}
