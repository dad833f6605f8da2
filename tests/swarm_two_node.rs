//! Docker Swarm across two nodes: two dockerds in network namespaces of their own on this
//! machine (scripts/lib/two-node-swarm.sh), each advertising one NVIDIA-GPU, pulling the stub
//! images through the registry's forwarded address. A GPU-reserving service of two replicas
//! is spread over both nodes; the console shows each task on its node and each node's GPU, and
//! a deploy rolls the new image across both nodes, one task at a time.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const STACK: &str = "elt-sw2";

fn manager() -> String {
    testenv().get("ELT_TEST_SWARM2_MANAGER").to_string()
}

/// The stub image as the nodes name it: the test registry through its forwarded address.
fn repo() -> String {
    let env = testenv();
    let path = env
        .image()
        .split_once('/')
        .map(|(_, p)| p.to_string())
        .unwrap();
    format!("{}/{path}", env.get("ELT_TEST_SWARM2_REGISTRY"))
}

fn digest_ref(n: u32) -> String {
    let env = testenv();
    format!(
        "{}:{}@{}",
        repo(),
        env.tag(n),
        env.get(&format!("ELT_TEST_DIGEST_V{n}"))
    )
}

fn mdocker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", manager())
        .output()
        .expect("docker CLI")
}

/// The stack's service, removed when the test ends (also when it fails).
struct Service(String);

impl Drop for Service {
    fn drop(&mut self) {
        mdocker(&["service", "rm", &self.0]);
    }
}

/// `order`: Swarm's update order (`stop-first`, `start-first`).
fn write_config(dir: &Path, order: &str) -> std::path::PathBuf {
    write_swarm_config(
        dir,
        STACK,
        &repo(),
        &manager(),
        testenv().get("ELT_TEST_SWARM2_REGISTRY"),
        &format!(
            r#"[github]
api_url = "http://127.0.0.1:9"

[swarm]
order = "{order}"
parallelism = 1
monitor_s = 2
update_timeout_s = 180"#
        ),
    )
}

fn status(config: &Path) -> serde_json::Value {
    let out = run(bin().arg("--config").arg(config).args(["status", "--json"]));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The nodes the running tasks of image `n` are on.
fn running_nodes(report: &serde_json::Value, n: u32) -> BTreeSet<String> {
    report["swarm"]["data"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "running" && t["image"] == digest_ref(n))
        .map(|t| t["node"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The status report once both nodes run a task of image `n`.
fn one_task_on_each_node(config: &Path, n: u32, limit: Duration) -> serde_json::Value {
    let both: BTreeSet<String> = ["eltsw-n1", "eltsw-n2"].map(String::from).into();
    wait_for(
        &format!("two running v{n} tasks, one on each node"),
        limit,
        || {
            let report = status(config);
            (running_nodes(&report, n) == both).then_some(report)
        },
    )
}

#[test]
fn a_gpu_service_spreads_over_two_nodes_and_a_deploy_rolls_across_both() {
    let env = testenv();
    let name = format!("{STACK}_app");
    mdocker(&["service", "rm", &name]);
    let label = format!("com.docker.stack.namespace={STACK}");
    let out = mdocker(&[
        "service",
        "create",
        "--quiet",
        "--name",
        &name,
        "--label",
        &label,
        "--replicas",
        "2",
        "--generic-resource",
        "NVIDIA-GPU=1",
        &digest_ref(1),
    ]);
    assert!(
        out.status.success(),
        "docker service create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _service = Service(name.clone());
    let dir = tempfile::tempdir().unwrap();
    // One GPU per node and both in use: a new task can only start where an old one stopped.
    let config = write_config(dir.path(), "stop-first");

    // Each node has one GPU, so the two tasks run on different nodes; both nodes show theirs.
    let report = one_task_on_each_node(&config, 1, Duration::from_secs(60));
    let nodes = report["swarm"]["data"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{report:#}");
    for node in nodes {
        let resources = node["resources"].as_array().unwrap();
        assert_eq!(resources.len(), 1, "{node:#}");
        assert_eq!(resources[0]["kind"], "NVIDIA-GPU", "{node:#}");
    }
    assert_eq!(report["services"][0]["tag"], env.tag(1), "{report:#}");
    let text =
        String::from_utf8_lossy(&run(bin().arg("--config").arg(&config).arg("status")).stdout)
            .to_string();
    assert!(
        text.contains("eltsw-n1") && text.contains("eltsw-n2"),
        "{text}"
    );

    // The deploy: Swarm replaces the tasks one at a time, each on a node with a free GPU.
    let out = run(bin()
        .arg("--config")
        .arg(&config)
        .args(["deploy", env.tag(2), "--yes"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = one_task_on_each_node(&config, 2, Duration::from_secs(30));
    assert!(running_nodes(&report, 1).is_empty(), "{report:#}");
    assert_eq!(report["services"][0]["tag"], env.tag(2), "{report:#}");

    // Recorded like any deploy, from v1's digest to v2's.
    let out = run(bin()
        .arg("--config")
        .arg(&config)
        .args(["history", "--json"]));
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = &history.as_array().unwrap()[0];
    assert_eq!(last["status"], "succeeded", "{last:#}");
    assert_eq!(
        last["to"]["digest"],
        env.get("ELT_TEST_DIGEST_V2"),
        "{last:#}"
    );

    // Start-first with every GPU taken: no node can take the new task. Swarm would wait for
    // ever with the update half done; the console gives up after a while, has Swarm roll
    // the update back, and says why and what to change. The old tasks never stopped.
    let config = write_config(dir.path(), "start-first");
    let started = std::time::Instant::now();
    let out = run(bin()
        .arg("--config")
        .arg(&config)
        .args(["deploy", env.tag(1), "--yes"]));
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("Swarm cannot place the new task (no suitable node")
            && said.contains("order = \"stop-first\""),
        "{said}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "gave up after {:?}",
        started.elapsed()
    );
    let spec = mdocker(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        &name,
    ]);
    assert_eq!(String::from_utf8_lossy(&spec.stdout).trim(), digest_ref(2));
    let report = one_task_on_each_node(&config, 2, Duration::from_secs(30));
    let pending = report["swarm"]["data"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "pending" && t["desired_state"] == "running")
        .count();
    assert_eq!(pending, 0, "{report:#}");
}
