//! The deploy store: one SQLite file (WAL) beside the compose project, shared by every operator
//! and process on the host. It holds the deployments with each of their steps, the audit of
//! every mutating action (refused ones too), and the deploy lock.
//!
//! The lock lives here rather than in a lock file so that taking it, recording who holds it and
//! creating the deployment happen in one transaction, and so that a dead holder leaves a record
//! that the next command can report as stale instead of silently stealing.

pub use crate::domain::{
    Actor, AuditEntry, DeployKind, DeployStatus, Deployment, ImageSide, LockHolder, LockState,
    NewDeployment, StepRecord,
};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

mod github_queue;
pub use github_queue::{GhDeployment, GhStatus, GhUndelivered};

pub const STORE_FILE: &str = "elt-console.db";

/// The schema, one step per version (`user_version` counts the steps applied). Append only;
/// each step must be idempotent (`IF NOT EXISTS`), since two processes creating the store at
/// the same moment may both apply it.
static MIGRATIONS: &[rusqlite_migration::M<'static>] = &[
    // 1: deployments, their steps, the audit, the deploy lock.
    rusqlite_migration::M::up(
        "CREATE TABLE IF NOT EXISTS deployments (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            parent_id INTEGER REFERENCES deployments(id),
            started_at TEXT NOT NULL,
            finished_at TEXT,
            actor TEXT NOT NULL,
            services TEXT NOT NULL,
            from_side TEXT NOT NULL,
            to_side TEXT NOT NULL,
            to_tag TEXT,
            strategy TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            backup_path TEXT,
            downtime_ms INTEGER,
            progress TEXT
        );
        CREATE INDEX IF NOT EXISTS deployments_started ON deployments(started_at);
        CREATE TABLE IF NOT EXISTS steps (
            deployment_id INTEGER NOT NULL REFERENCES deployments(id),
            seq INTEGER NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_ms INTEGER,
            summary TEXT,
            PRIMARY KEY (deployment_id, seq)
        );
        CREATE TABLE IF NOT EXISTS audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT,
            outcome TEXT NOT NULL,
            detail TEXT
        );
        CREATE TABLE IF NOT EXISTS deploy_lock (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            holder TEXT NOT NULL
        );",
    ),
    // 2: `watch` looks up its own audit rows by action and target at every check.
    rusqlite_migration::M::up(
        "CREATE INDEX IF NOT EXISTS audit_action_target ON audit(action, target, id);",
    ),
];

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("deploy store {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("deploy store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("deploy store {path}: upgrading its schema: {message}")]
    Migrate { path: PathBuf, message: String },
    #[error(
        "deploy store {path} has schema version {found}; this elt-console knows {known} (upgrade elt-console)"
    )]
    Schema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// The deploy's recorder thread is gone (it could not start, or it stopped).
    #[error("deploy store: {0}")]
    Unavailable(&'static str),
}

impl Actor {
    /// The current process's operator, from the environment SSH and sudo leave behind.
    pub fn current() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let user = env("SUDO_USER")
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .or_else(|| crate::sys::user_name(crate::sys::current_uid()))
            .unwrap_or_else(|| format!("uid {}", crate::sys::current_uid()));
        let ssh_client = env("SSH_CLIENT")
            .or_else(|| env("SSH_CONNECTION"))
            .and_then(|v| v.split_whitespace().next().map(str::to_string));
        Self {
            user: sanitize_field(&user),
            ssh_client: ssh_client.map(|s| sanitize_field(&s)),
            host: hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "unknown-host".into()),
            pid: std::process::id(),
        }
    }
}

/// Environment values end up on operators' screens: keep them printable and short.
fn sanitize_field(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(128)
        .collect::<String>()
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

const STORE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Put the file in WAL mode. WAL is a property of the file, so after the first open there is
/// nothing to do and no lock to take. Converting needs exclusive access and SQLite does not run
/// the busy handler for it: processes that create the store at the same moment would fail with
/// "database is locked", so the conversion is retried, and another process having done it
/// while we waited counts as done.
fn set_wal(conn: &Connection) -> Result<(), rusqlite::Error> {
    let is_wal = |c: &Connection| -> Result<bool, rusqlite::Error> {
        let mode: String = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        Ok(mode.eq_ignore_ascii_case("wal"))
    };
    let deadline = std::time::Instant::now() + STORE_BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(5);
    loop {
        if is_wal(conn)? {
            return Ok(());
        }
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => return Ok(()),
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

impl Store {
    /// Open (creating if needed) the store in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let path = state_dir.join(STORE_FILE);
        std::fs::create_dir_all(state_dir).map_err(|e| StoreError::Open {
            path: path.clone(),
            message: format!("cannot create {}: {e}", state_dir.display()),
        })?;
        let conn = Connection::open(&path).map_err(|e| StoreError::Open {
            path: path.clone(),
            message: e.to_string(),
        })?;
        // Several operators' processes share the file; wait for each other's short writes.
        conn.busy_timeout(STORE_BUSY_TIMEOUT)?;
        set_wal(&conn)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Self { conn, path };
        store.migrate()?;
        // Outside the versioned schema on purpose: idempotent, run on every open.
        store.github_tables()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes whenever another connection commits: a reader can skip re-reading when it
    /// has not moved.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?)
    }

    /// Bring the schema to this build's version through `MIGRATIONS` (rusqlite_migration,
    /// counted in `user_version`). A store written by a newer elt-console is refused, not
    /// touched.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::Schema {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        // Immediate: processes opening a new store at once take turns instead of failing to
        // upgrade a read transaction; one that waited re-runs the (idempotent) steps.
        self.conn
            .set_transaction_behavior(TransactionBehavior::Immediate);
        let migrations = rusqlite_migration::Migrations::from_slice(MIGRATIONS);
        let done = migrations.to_latest(&mut self.conn);
        self.conn
            .set_transaction_behavior(TransactionBehavior::Deferred);
        done.map_err(|e| StoreError::Migrate {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    // ------------------------------------------------------------------ audit

    pub fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<&str>,
        outcome: &str,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO audit (at, actor, action, target, outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                ts(Utc::now()),
                json(actor),
                action,
                target,
                outcome,
                detail
            ],
        )?;
        Ok(())
    }

    pub fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, actor, action, target, outcome, detail FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: parse_ts(&r.get::<_, String>(1)?),
                actor: from_json(&r.get::<_, String>(2)?),
                action: r.get(3)?,
                target: r.get(4)?,
                outcome: r.get(5)?,
                detail: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest audit row of `action` on `target` whose outcome is one of `outcomes`
    /// (`watch` asks whether it has already deployed a digest).
    pub fn last_audit(
        &self,
        action: &str,
        target: &str,
        outcomes: &[&str],
    ) -> Result<Option<AuditEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, actor, action, target, outcome, detail FROM audit
             WHERE action = ?1 AND target = ?2 ORDER BY id DESC",
        )?;
        let mut rows = stmt.query(params![action, target])?;
        while let Some(r) = rows.next()? {
            let outcome: String = r.get(5)?;
            if outcomes.contains(&outcome.as_str()) {
                return Ok(Some(AuditEntry {
                    id: r.get(0)?,
                    at: parse_ts(&r.get::<_, String>(1)?),
                    actor: from_json(&r.get::<_, String>(2)?),
                    action: r.get(3)?,
                    target: r.get(4)?,
                    outcome,
                    detail: r.get(6)?,
                }));
            }
        }
        Ok(None)
    }

    /// How many audit rows of `action` ended with `outcome`.
    pub fn count_audit(&self, action: &str, outcome: &str) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM audit WHERE action = ?1 AND outcome = ?2",
            params![action, outcome],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// Drop audit rows of `action` with `outcome` older than `before` (watch's routine
    /// `no-change` rows, one a minute, would otherwise grow the file for ever).
    pub fn prune_audit(
        &self,
        action: &str,
        outcome: &str,
        before: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM audit WHERE action = ?1 AND outcome = ?2 AND at < ?3",
            params![action, outcome, ts(before)],
        )?)
    }

    // ------------------------------------------------------------------ lock

    /// Take the deploy lock for `actor` and create its deployment row, in one transaction.
    /// Returns the lock state that refused it otherwise.
    pub fn acquire_lock(
        &mut self,
        actor: &Actor,
        action: &str,
        stale_after: Duration,
        new_deployment: Option<&NewDeployment>,
    ) -> Result<Result<Option<i64>, LockState>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<String> = tx
            .query_row("SELECT holder FROM deploy_lock WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(text) = existing {
            let holder: LockHolder = from_json(&text);
            return Ok(Err(judge(holder, stale_after)));
        }
        let now = Utc::now();
        let deployment_id = match new_deployment {
            Some(d) => Some(insert_deployment(&tx, d, actor, now)?),
            None => None,
        };
        let holder = LockHolder {
            actor: actor.clone(),
            pid_start: process_start(actor.pid),
            action: action.to_string(),
            started_at: now,
            heartbeat_at: now,
            deployment_id,
        };
        tx.execute(
            "INSERT INTO deploy_lock (id, holder) VALUES (1, ?1)",
            [json(&holder)],
        )?;
        tx.commit()?;
        Ok(Ok(deployment_id))
    }

    pub fn lock_state(&self, stale_after: Duration) -> Result<LockState, StoreError> {
        let existing: Option<String> = self
            .conn
            .query_row("SELECT holder FROM deploy_lock WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(match existing {
            None => LockState::Free,
            Some(text) => judge(from_json(&text), stale_after),
        })
    }

    /// Refresh the heartbeat; false when the lock is no longer ours (taken over by force).
    pub fn heartbeat(&self, actor: &Actor) -> Result<bool, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT holder FROM deploy_lock WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(text) = text else { return Ok(false) };
        let mut holder: LockHolder = from_json(&text);
        if holder.actor.pid != actor.pid || holder.actor.host != actor.host {
            return Ok(false);
        }
        holder.heartbeat_at = Utc::now();
        self.conn.execute(
            "UPDATE deploy_lock SET holder = ?1 WHERE id = 1",
            [json(&holder)],
        )?;
        Ok(true)
    }

    /// Release the lock if `actor` holds it.
    pub fn release_lock(&self, actor: &Actor) -> Result<(), StoreError> {
        if let LockState::Held { holder } | LockState::Stale { holder, .. } =
            self.lock_state(Duration::from_secs(u64::MAX / 4))?
            && holder.actor.pid == actor.pid
            && holder.actor.host == actor.host
        {
            self.conn
                .execute("DELETE FROM deploy_lock WHERE id = 1", [])?;
        }
        Ok(())
    }

    /// Remove whoever holds the lock; the holder's unfinished deployment is marked
    /// interrupted. Returns the holder that was removed.
    pub fn force_release(&mut self) -> Result<Option<LockHolder>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<String> = tx
            .query_row("SELECT holder FROM deploy_lock WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(text) = existing else {
            return Ok(None);
        };
        let holder: LockHolder = from_json(&text);
        if let Some(id) = holder.deployment_id {
            tx.execute(
                "UPDATE deployments SET status = 'interrupted', finished_at = ?2,
                 error = COALESCE(error, 'its process stopped before it finished; the lock was released by force')
                 WHERE id = ?1 AND status = 'running'",
                params![id, ts(Utc::now())],
            )?;
            tx.execute(
                "UPDATE steps SET status = 'failed', summary = COALESCE(summary, 'interrupted')
                 WHERE deployment_id = ?1 AND status = 'running'",
                [id],
            )?;
        }
        tx.execute("DELETE FROM deploy_lock WHERE id = 1", [])?;
        tx.commit()?;
        Ok(Some(holder))
    }

    // ------------------------------------------------------------------ deployments

    pub fn create_deployment(&self, d: &NewDeployment, actor: &Actor) -> Result<i64, StoreError> {
        insert_deployment(&self.conn, d, actor, Utc::now())
    }

    pub fn set_deploy_sides(
        &self,
        id: i64,
        from: &ImageSide,
        to: &ImageSide,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deployments SET from_side = ?2, to_side = ?3 WHERE id = ?1",
            params![id, json(from), json(to)],
        )?;
        Ok(())
    }

    /// What ran when the deployment started, known before its target is.
    pub fn set_from_side(&self, id: i64, from: &ImageSide) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deployments SET from_side = ?2 WHERE id = ?1",
            params![id, json(from)],
        )?;
        Ok(())
    }

    pub fn set_progress(&self, id: i64, progress: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deployments SET progress = ?2 WHERE id = ?1",
            params![id, progress],
        )?;
        Ok(())
    }

    /// Why a deployment failed, recorded as soon as it is known (before its rollback ends).
    pub fn set_error(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deployments SET error = ?2 WHERE id = ?1",
            params![id, error],
        )?;
        Ok(())
    }

    /// How the deployment replaces the old version (`start-first`, `stop-first`), once chosen.
    pub fn set_strategy(&self, id: i64, strategy: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deployments SET strategy = ?2 WHERE id = ?1",
            params![id, strategy],
        )?;
        Ok(())
    }

    pub fn set_backup_path(&self, id: i64, path: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deployments SET backup_path = ?2 WHERE id = ?1",
            params![id, path],
        )?;
        Ok(())
    }

    pub fn step_started(&self, id: i64, seq: u32, name: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR REPLACE INTO steps (deployment_id, seq, name, status, started_at) VALUES (?1, ?2, ?3, 'running', ?4)",
            params![id, seq, name, ts(Utc::now())],
        )?;
        Ok(())
    }

    /// Record how a step ended; a step that never started (skipped) gets its row here.
    pub fn step_finished(
        &self,
        id: i64,
        seq: u32,
        name: &str,
        status: &str,
        duration_ms: u64,
        summary: &str,
    ) -> Result<(), StoreError> {
        let now = ts(Utc::now());
        self.conn.execute(
            "INSERT INTO steps (deployment_id, seq, name, status, started_at, finished_at, duration_ms, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)
             ON CONFLICT (deployment_id, seq) DO UPDATE SET
               status = excluded.status, finished_at = excluded.finished_at,
               duration_ms = excluded.duration_ms, summary = excluded.summary",
            params![id, seq, name, status, now, duration_ms as i64, summary],
        )?;
        Ok(())
    }

    pub fn finish_deployment(
        &self,
        id: i64,
        status: DeployStatus,
        error: Option<&str>,
        downtime_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deployments SET status = ?2, error = ?3, downtime_ms = ?4, finished_at = ?5, progress = NULL WHERE id = ?1",
            params![
                id,
                status.as_str(),
                error,
                downtime_ms.map(|d| d as i64),
                ts(Utc::now())
            ],
        )?;
        Ok(())
    }

    pub fn deployment(&self, id: i64) -> Result<Option<Deployment>, StoreError> {
        let mut list = self.query_deployments("WHERE id = ?1", params![id])?;
        Ok(list.pop())
    }

    /// Newest first.
    pub fn deployments(&self, limit: u32) -> Result<Vec<Deployment>, StoreError> {
        self.query_deployments("ORDER BY id DESC LIMIT ?1", params![limit])
    }

    /// The deployment in progress, if any (a deploy's lock holder, else a `running` row).
    pub fn running_deployment(&self) -> Result<Option<Deployment>, StoreError> {
        let mut list = self.query_deployments(
            "WHERE status = 'running' ORDER BY id DESC LIMIT 1",
            params![],
        )?;
        Ok(list.pop())
    }

    /// The most recent finished deployments with one of `statuses`, newest first.
    pub fn deployments_with_status(
        &self,
        statuses: &[DeployStatus],
        limit: u32,
    ) -> Result<Vec<Deployment>, StoreError> {
        let list: Vec<String> = statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        self.query_deployments(
            &format!(
                "WHERE status IN ({}) ORDER BY id DESC LIMIT ?1",
                list.join(",")
            ),
            params![limit],
        )
    }

    fn query_deployments(
        &self,
        tail: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Deployment>, StoreError> {
        let sql = format!(
            "SELECT id, kind, parent_id, started_at, finished_at, actor, services, from_side, to_side,
                    strategy, status, error, backup_path, downtime_ms, progress
             FROM deployments {tail}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut list: Vec<Deployment> = stmt
            .query_map(params, |r| {
                Ok(Deployment {
                    id: r.get(0)?,
                    kind: DeployKind::parse(&r.get::<_, String>(1)?),
                    parent_id: r.get(2)?,
                    started_at: parse_ts(&r.get::<_, String>(3)?),
                    finished_at: r.get::<_, Option<String>>(4)?.map(|s| parse_ts(&s)),
                    actor: from_json(&r.get::<_, String>(5)?),
                    services: r
                        .get::<_, String>(6)?
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                    from: from_json(&r.get::<_, String>(7)?),
                    to: from_json(&r.get::<_, String>(8)?),
                    strategy: r.get(9)?,
                    status: DeployStatus::parse(&r.get::<_, String>(10)?),
                    error: r.get(11)?,
                    backup_path: r.get(12)?,
                    downtime_ms: r.get::<_, Option<i64>>(13)?.map(|d| d.max(0) as u64),
                    progress: r.get(14)?,
                    steps: Vec::new(),
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut steps_stmt = self.conn.prepare(
            "SELECT seq, name, status, started_at, finished_at, duration_ms, summary FROM steps WHERE deployment_id = ?1 ORDER BY seq",
        )?;
        for d in &mut list {
            d.steps = steps_stmt
                .query_map([d.id], |r| {
                    Ok(StepRecord {
                        seq: r.get(0)?,
                        name: r.get(1)?,
                        status: r.get(2)?,
                        started_at: parse_ts(&r.get::<_, String>(3)?),
                        finished_at: r.get::<_, Option<String>>(4)?.map(|s| parse_ts(&s)),
                        duration_ms: r.get::<_, Option<i64>>(5)?.map(|d| d.max(0) as u64),
                        summary: r.get(6)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
        }
        Ok(list)
    }
}

fn insert_deployment(
    conn: &Connection,
    d: &NewDeployment,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let to = ImageSide {
        tag: d
            .to_tag
            .as_deref()
            .and_then(|t| crate::domain::Tag::parse(t).ok()),
        ..Default::default()
    };
    conn.execute(
        "INSERT INTO deployments (kind, parent_id, started_at, actor, services, from_side, to_side, to_tag, strategy, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'running')",
        params![
            d.kind.as_str(),
            d.parent_id,
            ts(now),
            json(actor),
            d.services.join(","),
            json(&ImageSide::default()),
            json(&to),
            d.to_tag,
            d.strategy
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn from_json<T: for<'de> Deserialize<'de> + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

/// A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat).
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn judge(holder: LockHolder, stale_after: Duration) -> LockState {
    let this_host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    if holder.actor.host == this_host {
        let alive = match process_start(holder.actor.pid) {
            None => false,
            Some(start) => holder.pid_start.is_none_or(|s| s == start),
        };
        if !alive {
            return LockState::Stale {
                reason: format!(
                    "its process (pid {}) is no longer running",
                    holder.actor.pid
                ),
                holder,
            };
        }
    }
    let age = (Utc::now() - holder.heartbeat_at).num_seconds().max(0) as u64;
    if age > stale_after.as_secs() {
        return LockState::Stale {
            reason: format!("its last heartbeat was {age} s ago"),
            holder,
        };
    }
    LockState::Held { holder }
}

#[cfg(test)]
mod tests;
