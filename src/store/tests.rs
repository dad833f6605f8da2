use super::*;

fn actor(pid: u32) -> Actor {
    Actor {
        user: "ops".into(),
        ssh_client: Some("10.1.2.3".into()),
        host: hostname::get().unwrap().to_string_lossy().into_owned(),
        pid,
    }
}

fn new(kind: DeployKind) -> NewDeployment {
    NewDeployment {
        kind,
        parent_id: None,
        services: vec!["app".into()],
        to_tag: Some("main-abc1234".into()),
        strategy: "recreate".into(),
    }
}

#[test]
fn many_openers_of_a_fresh_store_all_succeed() {
    // Processes (watch, a deploy, history) may open a store that does not exist yet at
    // the same moment; converting it to WAL must not fail any of them.
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let openers: Vec<_> = (0..12)
            .map(|_| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || Store::open(&path).map(|_| ()))
            })
            .collect();
        for o in openers {
            if let Err(e) = o.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
    }
}

/// A store as elt-console wrote it before schema migrations went through
/// rusqlite_migration: its version-1 script verbatim, and rows as that code wrote them.
fn write_schema_1_store(dir: &Path) {
    let conn = Connection::open(dir.join(STORE_FILE)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(
        "BEGIN IMMEDIATE;
        CREATE TABLE IF NOT EXISTS deployments (
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
        );
        PRAGMA user_version = 1;
        COMMIT;
        INSERT INTO deployments (kind, started_at, finished_at, actor, services, from_side,
            to_side, to_tag, strategy, status, downtime_ms)
        VALUES ('deploy', '2026-11-30T10:00:00.000Z', '2026-11-30T10:02:00.000Z',
            '{\"user\":\"ops\",\"ssh_client\":null,\"host\":\"gpu\",\"pid\":7}', 'app',
            '{\"image\":\"r:v1\",\"tag\":\"v1\",\"digest\":null,\"sha\":null,\"image_id\":\"sha256:1\"}',
            '{\"image\":\"r:main-abc1234\",\"tag\":\"main-abc1234\",\"digest\":null,\"sha\":\"abc1234\",\"image_id\":\"sha256:2\",\"created\":null}',
            'main-abc1234', 'recreate', 'succeeded', 1500);
        INSERT INTO steps VALUES (1, 1, 'lock', 'ok', '2026-11-30T10:00:00.000Z',
            '2026-11-30T10:00:00.000Z', 3, 'held');
        INSERT INTO audit (at, actor, action, target, outcome, detail) VALUES
            ('2026-11-30T10:02:00.000Z', '{\"user\":\"ops\",\"ssh_client\":null,\"host\":\"gpu\",\"pid\":7}',
            'watch', 'app@sha256:x', 'deployed', NULL);",
    )
    .unwrap();
}

#[test]
fn a_store_at_schema_1_opens_upgraded_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    write_schema_1_store(dir.path());
    let s = Store::open(dir.path()).unwrap();
    let version: i64 = s
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    assert_eq!(version, 2);
    let index: i64 = s
        .conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'audit_action_target'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, 1);
    let d = s.deployment(1).unwrap().unwrap();
    assert_eq!(d.status, DeployStatus::Succeeded);
    assert_eq!(d.to.tag_str(), Some("main-abc1234"));
    assert_eq!(d.to.sha_str(), Some("abc1234"));
    assert_eq!(d.from.image_id.as_deref(), Some("sha256:1"));
    assert_eq!(d.downtime_ms, Some(1500));
    assert_eq!(d.steps[0].summary.as_deref(), Some("held"));
    assert!(
        s.last_audit("watch", "app@sha256:x", &["deployed"])
            .unwrap()
            .is_some()
    );
    // Opening again changes nothing.
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.deployments(5).unwrap().len(), 1);
}

#[test]
fn a_store_from_a_newer_console_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = Connection::open(dir.path().join(STORE_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 9).unwrap();
    drop(conn);
    match Store::open(dir.path()) {
        Err(StoreError::Schema {
            found: 9, known: 2, ..
        }) => {}
        Err(e) => panic!("expected a schema refusal, got {e}"),
        Ok(_) => panic!("expected a schema refusal"),
    }
}

#[test]
fn lock_is_exclusive_and_reports_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Store::open(dir.path()).unwrap();
    let mut b = Store::open(dir.path()).unwrap();
    let me = actor(std::process::id());
    let id = a
        .acquire_lock(
            &me,
            "deploy",
            Duration::from_secs(30),
            Some(&new(DeployKind::Deploy)),
        )
        .unwrap()
        .unwrap();
    assert!(id.is_some());
    let other = Actor {
        pid: me.pid + 1,
        ..me.clone()
    };
    match b
        .acquire_lock(&other, "deploy", Duration::from_secs(30), None)
        .unwrap()
    {
        Err(LockState::Held { holder }) => {
            assert_eq!(holder.actor, me);
            assert_eq!(holder.deployment_id, id);
        }
        other => panic!("expected held, got {other:?}"),
    }
    a.release_lock(&me).unwrap();
    assert_eq!(
        b.lock_state(Duration::from_secs(30)).unwrap(),
        LockState::Free
    );
}

#[test]
fn dead_holder_is_stale_and_force_release_marks_its_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    // A pid that cannot be running: above the kernel's pid_max.
    let ghost = actor(4_194_305);
    let id = s
        .acquire_lock(
            &ghost,
            "deploy",
            Duration::from_secs(30),
            Some(&new(DeployKind::Deploy)),
        )
        .unwrap()
        .unwrap()
        .unwrap();
    s.step_started(id, 3, "pull").unwrap();
    match s.lock_state(Duration::from_secs(30)).unwrap() {
        LockState::Stale { reason, .. } => assert!(reason.contains("no longer running")),
        other => panic!("expected stale, got {other:?}"),
    }
    let removed = s.force_release().unwrap().unwrap();
    assert_eq!(removed.actor.pid, ghost.pid);
    let d = s.deployment(id).unwrap().unwrap();
    assert_eq!(d.status, DeployStatus::Interrupted);
    assert_eq!(d.steps[0].status, "failed");
    assert_eq!(
        s.lock_state(Duration::from_secs(30)).unwrap(),
        LockState::Free
    );
}

#[test]
fn stopped_heartbeat_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let me = actor(std::process::id());
    s.acquire_lock(&me, "deploy", Duration::from_secs(30), None)
        .unwrap()
        .unwrap();
    // Our own process is alive, so only the heartbeat can make it stale.
    s.conn
        .execute(
            "UPDATE deploy_lock SET holder = json_set(holder, '$.heartbeat_at', '2020-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
    match s.lock_state(Duration::from_secs(30)).unwrap() {
        LockState::Stale { reason, .. } => assert!(reason.contains("heartbeat"), "{reason}"),
        other => panic!("expected stale, got {other:?}"),
    }
    assert!(s.heartbeat(&me).unwrap());
    assert!(matches!(
        s.lock_state(Duration::from_secs(30)).unwrap(),
        LockState::Held { .. }
    ));
}

#[test]
fn deployments_round_trip_with_steps_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let me = actor(1);
    let first = s.create_deployment(&new(DeployKind::Deploy), &me).unwrap();
    s.step_started(first, 1, "lock").unwrap();
    s.step_finished(first, 1, "lock", "ok", 3, "taken").unwrap();
    let from = ImageSide {
        image: Some("r:old".into()),
        image_id: Some("sha256:1".into()),
        ..Default::default()
    };
    let to = ImageSide {
        image: Some("r:new".into()),
        tag: Some(crate::domain::Tag::parse("new").unwrap()),
        ..Default::default()
    };
    s.set_deploy_sides(first, &from, &to).unwrap();
    s.finish_deployment(first, DeployStatus::Succeeded, None, Some(1234))
        .unwrap();
    let second = s
        .create_deployment(&new(DeployKind::Rollback), &me)
        .unwrap();
    let list = s.deployments(10).unwrap();
    assert_eq!(
        list.iter().map(|d| d.id).collect::<Vec<_>>(),
        [second, first]
    );
    let d = &list[1];
    assert_eq!(d.from, from);
    assert_eq!(d.to, to);
    assert_eq!(d.downtime_ms, Some(1234));
    assert_eq!(d.steps.len(), 1);
    assert_eq!(d.steps[0].summary.as_deref(), Some("taken"));
    assert_eq!(s.running_deployment().unwrap().unwrap().id, second);
    s.audit(
        &me,
        "deploy",
        Some("main-abc"),
        "refused",
        Some("lock held"),
    )
    .unwrap();
    let audit = s.audit_entries(5).unwrap();
    assert_eq!(audit[0].outcome, "refused");
    assert_eq!(audit[0].actor, me);
}
