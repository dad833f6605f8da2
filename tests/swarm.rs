//! Docker Swarm as a runtime, against the real single-node swarm that scripts/testenv.sh runs
//! on a dockerd of its own (ELT_TEST_SWARM_DOCKER_HOST), with the stub images from the local
//! registry: start-first updates, Swarm's automatic and manual rollbacks, generic-resource
//! (GPU) scheduling, one-off migrate jobs and task logs.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The Ctrl-C test signals its own child process (libc::kill).
#![allow(unsafe_code)]

mod common;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/swarm_service.rs"]
mod swarm_service;
use common::*;
use elt_console::domain::{GenericResource, SwarmUpdateState};
use elt_console::swarm::{
    JobSpec, SwarmSource, UpdateEnd, UpdateProgress, UpdateSettings, UpdateStarted,
};
use std::process::Command;
use std::time::Duration;
use swarm_service::{TestService, digest_ref, sdocker, swarm_host};

const POLL: Duration = Duration::from_millis(200);
const UPDATE_LIMIT: Duration = Duration::from_secs(120);

fn settings() -> UpdateSettings {
    UpdateSettings {
        monitor: Duration::from_secs(3),
        ..UpdateSettings::default()
    }
}

async fn source() -> SwarmSource {
    SwarmSource::connect(&swarm_host(), 10_000)
        .await
        .expect("connect to the swarm's engine")
}

/// Point `service` at `image` and follow Swarm's update to its end: what Swarm accepted, how
/// it ended, and each change of progress the follower saw.
async fn update_and_follow(
    swarm: &SwarmSource,
    service: &str,
    image: &str,
) -> (UpdateStarted, UpdateEnd, Vec<UpdateProgress>) {
    let started = swarm
        .update_image(service, image, &settings(), None)
        .await
        .unwrap();
    let mut seen: Vec<UpdateProgress> = Vec::new();
    let end = swarm
        .follow_update(&started, POLL, UPDATE_LIMIT, |p| seen.push(p.clone()))
        .await
        .unwrap();
    (started, end, seen)
}

/// The image a service's spec names now.
async fn spec_image(swarm: &SwarmSource, service: &str) -> String {
    swarm.service(service).await.unwrap().unwrap().image
}

/// The console binary with `--config config` and `args`, run to its end.
fn cli(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    run(bin().arg("--config").arg(config).args(args))
}

#[tokio::test(flavor = "multi_thread")]
async fn start_first_update_keeps_the_old_task_until_the_new_one_runs() {
    let svc = TestService::create("elt-sw-good", "app", &digest_ref(1), &[]);
    let swarm = source().await;
    let (started, end, seen) = update_and_follow(&swarm, &svc.name, &digest_ref(2)).await;
    assert!(started.changed);
    assert_eq!(started.from_image, digest_ref(1));
    assert!(
        matches!(end, UpdateEnd::Completed { .. }),
        "{end:?}; progress: {seen:#?}"
    );
    // Never a moment without a running task, as far as the follower saw.
    assert!(
        seen.iter().all(|p| p.updated + p.others_running >= 1),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|p| p.state == Some(SwarmUpdateState::Updating) && p.others_running == 1),
        "the old task was seen running during the update: {seen:#?}"
    );
    // Swarm's own record: the old task was shut down only after the new one was running.
    let tasks = swarm.tasks_of(&svc.name).await.unwrap();
    let new = tasks
        .iter()
        .find(|t| t.image == digest_ref(2) && t.is_running())
        .expect("a running task on v2");
    let old = tasks
        .iter()
        .find(|t| t.image == digest_ref(1))
        .expect("the v1 task");
    assert_eq!(old.state, "shutdown", "{tasks:#?}");
    assert!(
        old.since.unwrap() >= new.since.unwrap(),
        "old stopped at {:?}, new running since {:?}",
        old.since,
        new.since
    );
    let view = swarm.service(&svc.name).await.unwrap().unwrap();
    assert_eq!(view.image, digest_ref(2));
    assert_eq!(view.update.unwrap().state, SwarmUpdateState::Completed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_image_is_rolled_back_by_swarm_and_said_so() {
    let svc = TestService::create("elt-sw-bad", "app", &digest_ref(1), &[]);
    let swarm = source().await;
    // v3 answers its health check with 503: its task never becomes healthy.
    let (_, end, seen) = update_and_follow(&swarm, &svc.name, &digest_ref(3)).await;
    let UpdateEnd::RolledBack { reason } = &end else {
        panic!("expected Swarm's rollback, got {end:?}; progress: {seen:#?}");
    };
    assert!(reason.contains("rolled back"), "{reason}");
    assert!(
        seen.iter().all(|p| p.updated + p.others_running >= 1),
        "the old version kept running through the failed update: {seen:#?}"
    );
    let view = swarm.service(&svc.name).await.unwrap().unwrap();
    assert_eq!(view.image, digest_ref(1), "the spec names v1 again");
    assert_eq!(
        view.update.unwrap().state,
        SwarmUpdateState::RollbackCompleted
    );
    let tasks = swarm.tasks_of(&svc.name).await.unwrap();
    assert!(
        tasks
            .iter()
            .any(|t| t.is_running() && t.image == digest_ref(1)),
        "{tasks:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_rollback_and_an_update_to_a_chosen_tag() {
    // v4 is "slow" (unhealthy for STUB_READY_AFTER seconds): 1 s keeps it within the image's
    // healthcheck, so it is a third good version to choose.
    let svc = TestService::create(
        "elt-sw-manual",
        "app",
        &digest_ref(1),
        &["--env", "STUB_READY_AFTER=1"],
    );
    let swarm = source().await;
    let (_, end, _) = update_and_follow(&swarm, &svc.name, &digest_ref(2)).await;
    assert!(matches!(end, UpdateEnd::Completed { .. }), "{end:?}");

    // `docker service rollback`: Swarm restores the previous spec.
    let rollback = swarm.rollback_service(&svc.name).await.unwrap();
    assert_eq!(rollback.from_image, digest_ref(2));
    let end = swarm
        .follow_update(&rollback, POLL, UPDATE_LIMIT, |_| {})
        .await
        .unwrap();
    let UpdateEnd::RolledBack { reason } = &end else {
        panic!("expected a rollback, got {end:?}");
    };
    assert!(reason.contains("manually requested rollback"), "{reason}");
    let view = swarm.service(&svc.name).await.unwrap().unwrap();
    assert_eq!(view.image, digest_ref(1));

    // A rollback to any chosen tag is an update to that tag's digest.
    let (_, end, _) = update_and_follow(&swarm, &svc.name, &digest_ref(4)).await;
    assert!(matches!(end, UpdateEnd::Completed { .. }), "{end:?}");
    let view = swarm.service(&svc.name).await.unwrap().unwrap();
    assert_eq!(view.image, digest_ref(4));
    assert_eq!(view.running, 1);

    // Asking for what already runs changes nothing.
    let again = swarm
        .update_image(&svc.name, &digest_ref(4), &settings(), None)
        .await
        .unwrap();
    assert!(!again.changed);
    assert_eq!(
        swarm
            .follow_update(&again, POLL, UPDATE_LIMIT, |_| {})
            .await
            .unwrap(),
        UpdateEnd::Unchanged
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gpu_generic_resources_are_scheduled_and_shown() {
    let svc = TestService::create(
        "elt-sw-gpu",
        "app",
        &digest_ref(1),
        &["--generic-resource", "NVIDIA-GPU=1"],
    );
    let swarm = source().await;
    let gpus: Vec<String> = testenv()
        .get("ELT_TEST_SWARM_GPUS")
        .split(',')
        .map(str::to_string)
        .collect();
    assert!(gpus.len() >= 2, "{gpus:?}");
    let stack = swarm.stack("elt-sw-gpu").await.unwrap();
    assert_eq!(stack.services.len(), 1, "{stack:#?}");
    let service = &stack.services[0];
    assert_eq!(service.name, svc.name);
    assert_eq!(
        service.reserved,
        vec![GenericResource::Discrete {
            kind: "NVIDIA-GPU".into(),
            count: 1
        }]
    );
    assert_eq!(service.running, 1);
    let task = stack
        .tasks
        .iter()
        .find(|t| t.is_running())
        .expect("a running task");
    assert_eq!(task.assigned.len(), 1, "{task:#?}");
    let GenericResource::Named { kind, value } = &task.assigned[0] else {
        panic!("a named GPU, got {:?}", task.assigned);
    };
    assert_eq!(kind, "NVIDIA-GPU");
    assert!(gpus.contains(value), "{value} not in {gpus:?}");
    assert!(
        task.node.is_some(),
        "the task's node by hostname: {task:#?}"
    );
    assert!(task.container_id.is_some());
    let node = stack
        .nodes
        .iter()
        .find(|n| Some(&n.id) == task.node_id.as_ref())
        .expect("the task's node");
    assert_eq!(node.state, "ready");
    assert!(node.leader);
    for gpu in &gpus {
        assert!(
            node.resources.contains(&GenericResource::Named {
                kind: "NVIDIA-GPU".into(),
                value: gpu.clone()
            }),
            "{node:#?}"
        );
    }
    // The scheduler tells the container which GPU it got, as NVIDIA's runtime expects.
    let env = sdocker(&[
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        task.container_id.as_deref().unwrap(),
    ]);
    let env = String::from_utf8_lossy(&env.stdout);
    assert!(
        env.contains(&format!("DOCKER_RESOURCE_NVIDIA-GPU={value}")),
        "{env}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migrate_job_reports_exit_code_and_output_and_task_logs_read() {
    let ok = TestService::create("elt-sw-job", "app", &digest_ref(1), &[]);
    let failing = TestService::create(
        "elt-sw-job",
        "bot",
        &digest_ref(1),
        &["--env", "STUB_MIGRATE_FAIL=1"],
    );
    let swarm = source().await;
    let job = |template: &str, name: &str| JobSpec {
        name: name.into(),
        template_service: template.into(),
        image: digest_ref(2),
        args: vec!["migrate".into()],
        stack: "elt-sw-job".into(),
    };
    let outcome = swarm
        .run_job(&job(&ok.name, "elt-sw-job_migrate-ok"), POLL, UPDATE_LIMIT)
        .await
        .unwrap();
    assert!(outcome.succeeded(), "{outcome:#?}");
    assert_eq!(outcome.exit_code, Some(0));
    assert!(
        outcome
            .output_tail
            .iter()
            .any(|l| l.contains("stub-app v2 migrate ok")),
        "{outcome:#?}"
    );
    let failed = swarm
        .run_job(
            &job(&failing.name, "elt-sw-job_migrate-fail"),
            POLL,
            UPDATE_LIMIT,
        )
        .await
        .unwrap();
    assert!(!failed.succeeded());
    assert_eq!(failed.state, "failed", "{failed:#?}");
    assert_eq!(failed.exit_code, Some(3));
    assert!(
        failed
            .output_tail
            .iter()
            .any(|l| l.contains("simulated migration error")),
        "{failed:#?}"
    );
    // The job services are gone; the stack keeps its two services.
    let stack = swarm.stack("elt-sw-job").await.unwrap();
    let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, [ok.name.as_str(), failing.name.as_str()]);

    // A running task's own logs.
    let task = stack
        .tasks
        .iter()
        .find(|t| t.service == ok.name && t.is_running())
        .expect("the app's task");
    let lines = swarm.task_log_lines(&task.id, None).await.unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("stub-app v1 listening on :3000")),
        "{lines:#?}"
    );
}

/// A stack this test deploys with `docker stack deploy` and removes.
struct TestStack {
    name: String,
}

impl Drop for TestStack {
    fn drop(&mut self) {
        sdocker(&["stack", "rm", &self.name]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_stack_deploys_with_its_gpu_reservation() {
    let example = std::fs::read_to_string(
        repo_root().join("assets/examples/swarm-gpu-stack/docker-stack.yml"),
    )
    .unwrap();
    // This kernel has no IPVS, which the routing mesh (an ingress port) needs, and the
    // 20.10 engine here keeps rejecting tasks that reserve generic resources on a new overlay
    // network ("node is missing network attachments"): the copy publishes no port and uses
    // the engine's bridge. The rest of the file is deployed as shipped.
    let without_ports = example
        .replace(
            "    ports:\n      - \"3000:3000\"\n",
            "    networks: [outside]\n",
        )
        .replace(
            "\nvolumes:\n",
            "\nnetworks:\n  outside:\n    external: true\n    name: bridge\n\nvolumes:\n",
        );
    assert_eq!(
        without_ports.matches("outside").count(),
        2,
        "the example changed; update this test"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker-stack.yml");
    std::fs::write(&file, without_ports).unwrap();
    // The example places the app on nodes labelled gpu=true.
    let node = sdocker(&["info", "--format", "{{.Swarm.NodeID}}"]);
    let node = String::from_utf8_lossy(&node.stdout).trim().to_string();
    let out = sdocker(&["node", "update", "--label-add", "gpu=true", &node]);
    assert!(out.status.success(), "{out:?}");
    let stack = TestStack {
        name: "elt-sw-example".into(),
    };
    let out = Command::new("docker")
        .args(["stack", "deploy", "-c", file.to_str().unwrap(), &stack.name])
        .env("DOCKER_HOST", swarm_host())
        .env("APP_IMAGE", digest_ref(1))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker stack deploy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let swarm = source().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    let view = loop {
        let view = swarm.stack(&stack.name).await.unwrap();
        if view.services.first().is_some_and(|s| s.running == 1) {
            break view;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the example's app never ran: {view:#?}"
        );
        tokio::time::sleep(POLL).await;
    };
    let app = &view.services[0];
    assert_eq!(app.name, "elt-sw-example_app");
    assert_eq!(
        app.reserved,
        vec![GenericResource::Discrete {
            kind: "NVIDIA-GPU".into(),
            count: 1
        }]
    );
    let task = view.tasks.iter().find(|t| t.is_running()).unwrap();
    assert!(
        matches!(&task.assigned[..], [GenericResource::Named { kind, .. }] if kind == "NVIDIA-GPU"),
        "{task:#?}"
    );
}

#[test]
fn status_json_shows_a_swarm_deployment_with_its_gpus() {
    let env = testenv();
    let svc = TestService::create(
        "elt-sw-status",
        "app",
        &digest_ref(2),
        &["--generic-resource", "NVIDIA-GPU=1"],
    );
    let dir = tempfile::tempdir().unwrap();
    // The stack publishes no port here (no endpoints to ask), and nothing listens at the
    // GitHub API: the runs section fails at once, the rest is read.
    swarm_config(
        dir.path(),
        "elt-sw-status",
        "\n[github]\napi_url = \"http://127.0.0.1:9\"\n",
    );
    let config = dir.path().join("elt-console.toml");
    let out = cli(&config, &["status", "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let swarm = &s["swarm"];
    assert_eq!(swarm["status"], "ok", "{s:#}");
    let data = &swarm["data"];
    assert_eq!(data["stack"], "elt-sw-status");
    assert_eq!(data["services"][0]["name"], svc.name.as_str());
    assert_eq!(data["services"][0]["running"], 1);
    assert_eq!(
        data["services"][0]["reserved"][0],
        serde_json::json!({"type": "discrete", "kind": "NVIDIA-GPU", "count": 1})
    );
    let task = data["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["state"] == "running")
        .expect("a running task");
    assert_eq!(task["assigned"][0]["kind"], "NVIDIA-GPU");
    assert!(task["node"].is_string(), "{task:#}");
    assert_eq!(
        data["nodes"][0]["resources"].as_array().unwrap().len(),
        env.get("ELT_TEST_SWARM_GPUS").split(',').count(),
        "{data:#}"
    );
    // The configured service's state comes from the stack.
    assert_eq!(s["services"][0]["up"], true, "{s:#}");
    assert_eq!(s["services"][0]["tag"], env.tag(2));
    assert_eq!(s["containers"]["status"], "ok");
    // The app is up; only GitHub could not be read.
    assert_eq!(s["overall"], "degraded", "{s:#}");

    // The text form shows the same.
    let out = cli(&config, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SWARM"), "{text}");
    assert!(text.contains("NVIDIA-GPU:1"), "{text}");
    assert!(text.contains("GENERIC RESOURCES"), "{text}");

    // `logs`: the service's running task, or a task by its id.
    let out = cli(&config, &["logs", "app"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("stub-app v2 listening on :3000"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let task_id = task["id"].as_str().unwrap();
    let out = cli(&config, &["logs", "--json", &task_id[..8]]);
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["container"], "elt-sw-status_app.1", "{first:#}");
    let out = cli(&config, &["logs", "no-such-thing"]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
}

fn swarm_config(dir: &std::path::Path, stack: &str, extra: &str) -> elt_console::config::Config {
    swarm_config_of(dir, stack, testenv().image(), extra)
}

/// A Swarm deployment of `image`'s repository in `stack`, with `extra` in its `[swarm]`.
fn swarm_config_of(
    dir: &std::path::Path,
    stack: &str,
    image: &str,
    extra: &str,
) -> elt_console::config::Config {
    let file = write_swarm_config(
        dir,
        stack,
        image,
        &swarm_host(),
        testenv().get("ELT_TEST_REGISTRY"),
        &format!("[swarm]\nmonitor_s = 3\nupdate_timeout_s = 120\n{extra}"),
    );
    elt_console::config::load(&elt_console::config::Sources {
        files: vec![(file, true)],
        env: vec![],
    })
    .unwrap()
    .config
}

fn request(
    kind: elt_console::domain::DeployKind,
    target: elt_console::domain::Target,
) -> elt_console::domain::DeployRequest {
    elt_console::domain::DeployRequest {
        kind,
        target,
        force: false,
        dry_run: false,
    }
}

/// A deploy through the engine, as the CLI, `--detach`, the dashboard and `watch` run one.
async fn engine_run(
    config: &elt_console::config::Config,
    req: elt_console::domain::DeployRequest,
    events: Option<elt_console::deploy::Events>,
) -> elt_console::deploy::Outcome {
    let events = events.unwrap_or_else(|| tokio::sync::mpsc::unbounded_channel().0);
    let interrupt = tokio_util::sync::CancellationToken::new();
    elt_console::deploy::Engine::connect(config.clone(), events, interrupt)
        .await
        .expect("connect the engine to the swarm")
        .run(req)
        .await
}

/// The store's row of a deploy's outcome.
fn recorded(
    store: &elt_console::store::Store,
    outcome: &elt_console::deploy::Outcome,
) -> elt_console::domain::Deployment {
    store
        .deployment(outcome.deployment_id.unwrap())
        .unwrap()
        .unwrap()
}

fn tag_target(n: u32) -> elt_console::domain::Target {
    elt_console::domain::Target::Tag(elt_console::domain::Tag::parse(testenv().tag(n)).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn swarm_deploys_and_rollbacks_are_recorded_like_any_deploy() {
    use elt_console::domain::{DeployEvent, DeployKind, DeployStatus, Target};
    let svc = TestService::create("elt-sw-deploy", "app", &digest_ref(1), &[]);
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.tar");
    std::fs::write(&backup, "backup").unwrap();
    let config = swarm_config(
        dir.path(),
        "elt-sw-deploy",
        &format!(
            "migrate_args = [\"migrate\"]\n\n[deploy]\nbackup_command = \"echo {}\"\n",
            backup.display()
        ),
    );
    let swarm = source().await;
    let store = || elt_console::store::Store::open(&dir.path().join("state")).unwrap();

    // A good image: start-first, migrated, backed up, completed.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = engine_run(
        &config,
        request(DeployKind::Deploy, tag_target(2)),
        Some(tx),
    )
    .await;
    assert_eq!(outcome.status, DeployStatus::Succeeded, "{outcome:?}");
    let mut progress = 0;
    while let Ok(event) = rx.try_recv() {
        if matches!(event, DeployEvent::Progress { .. }) {
            progress += 1;
        }
    }
    assert!(progress >= 1, "Swarm's progress reached the event stream");
    let row = recorded(&store(), &outcome);
    assert_eq!(row.status, DeployStatus::Succeeded);
    assert_eq!(
        row.to.digest_str(),
        Some(testenv().get("ELT_TEST_DIGEST_V2"))
    );
    assert_eq!(
        row.from.digest_str(),
        Some(testenv().get("ELT_TEST_DIGEST_V1"))
    );
    assert_eq!(row.backup_path.as_deref(), Some(backup.to_str().unwrap()));
    let step = |row: &elt_console::domain::Deployment, name: &str| {
        row.steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| (s.status.clone(), s.summary.clone().unwrap_or_default()))
            .unwrap_or_else(|| panic!("no {name} step in {row:#?}"))
    };
    let (state, summary) = step(&row, "migrate");
    assert_eq!(state, "ok");
    assert!(
        summary.contains("exited 0") && summary.contains("migrate ok"),
        "{summary}"
    );
    assert_eq!(step(&row, "health").0, "ok");
    assert_eq!(spec_image(&swarm, &svc.name).await, digest_ref(2));

    // Swarm's own rollback: back to v1, recorded as a rollback that succeeded.
    let outcome = engine_run(
        &config,
        request(DeployKind::Rollback, Target::Previous),
        None,
    )
    .await;
    assert_eq!(outcome.status, DeployStatus::Succeeded, "{outcome:?}");
    let row = recorded(&store(), &outcome);
    assert_eq!(row.kind, DeployKind::Rollback);
    assert!(
        step(&row, "health")
            .1
            .contains("manually requested rollback"),
        "{row:#?}"
    );
    assert_eq!(spec_image(&swarm, &svc.name).await, digest_ref(1));

    // A bad image: Swarm rolls it back; the deploy says so, with Swarm's reason, and the
    // automatic rollback has its own row pointing at it.
    let outcome = engine_run(&config, request(DeployKind::Deploy, tag_target(3)), None).await;
    assert_eq!(outcome.status, DeployStatus::RolledBack, "{outcome:?}");
    assert!(
        outcome.message.contains("rolled back due to failure"),
        "{outcome:?}"
    );
    let failed = outcome.deployment_id.unwrap();
    let rows = store().deployments(20).unwrap();
    let row = rows.iter().find(|d| d.id == failed).unwrap();
    assert_eq!(row.status, DeployStatus::RolledBack);
    assert!(
        row.error
            .as_deref()
            .unwrap_or("")
            .contains("Swarm rolled the update back"),
        "{row:#?}"
    );
    let auto = rows
        .iter()
        .find(|d| d.parent_id == Some(failed))
        .expect("the automatic rollback's row");
    assert_eq!(auto.kind, DeployKind::AutoRollback);
    assert_eq!(auto.status, DeployStatus::Succeeded);
    assert_eq!(spec_image(&swarm, &svc.name).await, digest_ref(1));

    // A rollback to a chosen tag is an update to it.
    let outcome = engine_run(&config, request(DeployKind::Rollback, tag_target(2)), None).await;
    assert_eq!(outcome.status, DeployStatus::Succeeded, "{outcome:?}");
    assert_eq!(spec_image(&swarm, &svc.name).await, digest_ref(2));
    // And again: nothing to do.
    let outcome = engine_run(&config, request(DeployKind::Deploy, tag_target(2)), None).await;
    assert_eq!(outcome.status, DeployStatus::Skipped, "{outcome:?}");
    // The lock was released each time.
    assert!(matches!(
        store()
            .lock_state(std::time::Duration::from_secs(30))
            .unwrap(),
        elt_console::domain::LockState::Free
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deploy_command_deploys_a_swarm_stack() {
    let svc = TestService::create("elt-sw-cli", "app", &digest_ref(1), &[]);
    let dir = tempfile::tempdir().unwrap();
    swarm_config(dir.path(), "elt-sw-cli", "");
    let config = dir.path().join("elt-console.toml");
    let swarm = source().await;
    let tag = testenv().tag(2).to_string();

    let out = cli(&config, &["deploy", "--dry-run", &tag]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{out:?}");
    assert!(
        text.contains(&format!("update {} to {}", svc.name, digest_ref(2))),
        "{text}"
    );
    assert_eq!(spec_image(&swarm, &svc.name).await, digest_ref(1));

    let out = cli(&config, &["deploy", "--yes", &tag]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{out:?}");
    assert!(text.contains("via swarm stack elt-sw-cli"), "{text}");
    assert!(text.contains("update completed"), "{text}");
    assert_eq!(spec_image(&swarm, &svc.name).await, digest_ref(2));

    // The history shows it like any deploy.
    let out = cli(&config, &["history", "--json"]);
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = history.to_string();
    assert!(
        text.contains("succeeded") && text.contains(&tag),
        "{history:#}"
    );
}

/// The history's rows as JSON.
fn history(config: &std::path::Path) -> Vec<serde_json::Value> {
    let out = cli(config, &["history", "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_the_backup_cancels_a_swarm_deploy_and_leaves_the_service_alone() {
    let svc = TestService::create("elt-sw-cancel", "app", &digest_ref(1), &[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("backup-started");
    swarm_config(
        dir.path(),
        "elt-sw-cancel",
        &format!(
            "migrate_args = [\"migrate\"]\n\n[deploy]\nbackup_command = \"touch {} && exec sleep 300\"\n",
            marker.display()
        ),
    );
    let config = dir.path().join("elt-console.toml");
    let log = std::fs::File::create(dir.path().join("deploy.log")).unwrap();
    let mut child = bin()
        .arg("--config")
        .arg(&config)
        .args(["deploy", "--yes", "--json", testenv().tag(2)])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for("the backup to start", Duration::from_secs(60), || {
        marker.exists().then_some(())
    });
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let code = wait_for("the deploy to exit", Duration::from_secs(60), || {
        child.try_wait().unwrap().map(|s| s.code())
    });
    let output = std::fs::read_to_string(dir.path().join("deploy.log")).unwrap();
    assert_eq!(code, Some(130), "{output}");
    assert!(output.contains("\"status\":\"cancelled\""), "{output}");
    let swarm = source().await;
    assert_eq!(spec_image(&swarm, &svc.name).await, digest_ref(1));
    // No migration job was left behind: the stack has its one service.
    let stack = swarm.stack("elt-sw-cancel").await.unwrap();
    let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, [svc.name.as_str()]);
    let rows = history(&config);
    assert_eq!(rows[0]["status"], "cancelled", "{rows:#?}");
    // The lock was released (`lock status` exits 0 only when it is free).
    let out = cli(&config, &["lock", "status"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_detached_swarm_deploy_is_waited_for_notified_and_on_github() {
    let svc = TestService::create("elt-sw-detach", "app", &digest_ref(1), &[]);
    let dir = tempfile::tempdir().unwrap();
    let github = GithubStandin::start(&[]);
    swarm_config(
        dir.path(),
        "elt-sw-detach",
        &format!(
            "\n[github]\napi_url = \"{}\"\n\n[[notify]]\nname = \"ops\"\nformat = \"webhook\"\nsecret_env = \"ELT_TEST_HOOK\"\n",
            github.url()
        ),
    );
    let config = dir.path().join("elt-console.toml");
    let hook = receiver::Receiver::start(&[]);
    let tag = testenv().tag(2);
    let out = run(bin()
        .arg("--config")
        .arg(&config)
        .args(["deploy", tag, "--detach", "--yes", "--json"])
        .env("GH_TOKEN", "test-token")
        .env("ELT_TEST_HOOK", hook.url("/hook")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{out:?}");
    let detached: serde_json::Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "detached")
        .unwrap_or_else(|| panic!("no detached event: {text}"));
    let id = detached["deployment_id"].as_i64().unwrap();

    let out = cli(&config, &["deploy", "wait", &id.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{out:?}");
    assert!(text.contains("update completed"), "{text}");
    assert!(text.contains("\nsucceeded: deployed "), "{text}");
    let swarm = source().await;
    assert_eq!(spec_image(&swarm, &svc.name).await, digest_ref(2));

    // The webhook heard the deploy's start and its end.
    let got = hook.wait_for(2, Duration::from_secs(30));
    let bodies: Vec<serde_json::Value> = got.iter().map(|r| r.json()).collect();
    let started = bodies.iter().find(|b| b["event"] == "started");
    assert!(started.is_some(), "{bodies:#?}");
    let finished = bodies
        .iter()
        .find(|b| b["event"] == "finished")
        .unwrap_or_else(|| panic!("{bodies:#?}"));
    assert_eq!(finished["status"], "succeeded", "{finished:#}");
    assert_eq!(finished["deployment_id"], id, "{finished:#}");

    // And GitHub a deployment of the target's commit, in progress, then a success.
    let deployments = github.control("GET", "/_standin/deployments", "");
    let d = &deployments[0];
    assert_eq!(d["sha"], testenv().sha(2), "{deployments:#}");
    let states: Vec<&str> = d["statuses"]
        .as_array()
        .unwrap_or_else(|| panic!("{deployments:#}"))
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["in_progress", "success"], "{d:#}");
}

/// One `watch --once --json` check: it exits 0 with `decision` among its lines.
fn watch_once(config: &std::path::Path, decision: &str) {
    let out = cli(config, &["watch", "--once", "--json"]);
    let seen: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(out.status.code(), Some(0), "{seen:#?}\n{out:?}");
    assert!(seen.iter().any(|d| d["decision"] == decision), "{seen:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_deploys_a_new_latest_to_a_swarm_stack_once() {
    let env = testenv();
    let repo = format!("{}/elt-t/sw-watch", registry());
    publish(&repo, 1, env.tag(1));
    publish(&repo, 1, "latest");
    let dir = tempfile::tempdir().unwrap();
    let loaded = swarm_config_of(dir.path(), "elt-sw-watch", &repo, "");
    let config = dir.path().join("elt-console.toml");
    let registry = elt_console::sources::registry::RegistrySource::new(&loaded.registry);
    let service = &loaded.deployment.services[0];
    let digest_of = async |tag: &str| {
        let tag = elt_console::domain::Tag::parse(tag).unwrap();
        registry.resolve(&service.image, &tag).await.unwrap()
    };
    let v1 = format!("{repo}:{}@{}", env.tag(1), digest_of(env.tag(1)).await);
    let svc = TestService::create("elt-sw-watch", "app", &v1, &[]);
    let swarm = source().await;
    // `latest` is what the service's spec names: nothing to do.
    watch_once(&config, "no-change");
    assert_eq!(spec_image(&swarm, &svc.name).await, v1);

    // CI pushes v2 as its commit tag and as `latest`: watch deploys it through the engine.
    publish(&repo, 2, env.tag(2));
    publish(&repo, 2, "latest");
    let v2 = format!("{repo}:{}@{}", env.tag(2), digest_of(env.tag(2)).await);
    watch_once(&config, "deployed");
    assert_eq!(spec_image(&swarm, &svc.name).await, v2);

    // And then it runs: no second deploy.
    watch_once(&config, "no-change");
    let rows = history(&config);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["status"], "succeeded", "{rows:#?}");
}
