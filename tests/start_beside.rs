//! The start-first strategy's first move on the real compose (issue 12): a second container of
//! the service starts with the new image beside the running one, which is not touched; a
//! service that publishes a fixed host port cannot have two, and nothing changes.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use elt_console::deploy::compose::{ComposeCli, Runtime, RuntimeError};
use elt_console::sources::docker::DockerSource;
use std::process::Command;
use std::time::Duration;

/// A one-service project running stub v1, publishing `ports` (`127.0.0.1::3000` lets docker
/// choose the host port). Removed on drop.
struct Project {
    name: String,
    dir: tempfile::TempDir,
}

impl Project {
    fn up(name: &str, ports: &str) -> Self {
        let env = testenv();
        let dir = tempfile::tempdir().unwrap();
        write_file(
            dir.path(),
            "docker-compose.yml",
            &format!(
                "version: \"3.8\"\nservices:\n  app:\n    image: ${{IMAGE_TAG}}\n    ports:\n      - \"{ports}\"\n"
            ),
        );
        write_file(
            dir.path(),
            ".env",
            &format!("IMAGE_TAG={}\n", env.image_ref(1)),
        );
        let p = Self {
            name: name.to_string(),
            dir,
        };
        let parts = env.compose();
        run_ok(
            Command::new(&parts[0])
                .args(&parts[1..])
                .args(["-p", name, "up", "-d", "app"])
                .current_dir(p.dir.path()),
        );
        p
    }

    /// (id, image) of each of the project's app containers, running or not.
    fn containers(&self) -> Vec<(String, String)> {
        let ids = run_ok(Command::new("docker").args([
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
        ]));
        let mut list: Vec<(String, String)> = ids
            .split_whitespace()
            .map(|id| {
                let image = run_ok(Command::new("docker").args([
                    "inspect",
                    "-f",
                    "{{.Config.Image}} {{.State.Status}}",
                    id,
                ]));
                (id.to_string(), image.trim().to_string())
            })
            .collect();
        list.sort();
        list
    }

    async fn compose_cli(&self) -> ComposeCli {
        ComposeCli::detect(
            &testenv().compose().join(" "),
            &self.name,
            self.dir.path().join("docker-compose.yml"),
            self.dir.path().join(".env"),
        )
        .await
        .unwrap()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let parts = testenv().compose();
        let _ = Command::new(&parts[0])
            .args(&parts[1..])
            .args(["-p", &self.name, "down", "-t", "1"])
            .current_dir(self.dir.path())
            .output();
    }
}

#[tokio::test]
async fn a_second_container_starts_beside_the_running_one_which_is_untouched() {
    let env = testenv();
    let p = Project::up("eltb-beside", "127.0.0.1::3000");
    let before = p.containers();
    assert_eq!(before.len(), 1, "{before:?}");
    let pin = vec![("IMAGE_TAG".to_string(), env.image_ref(2))];
    p.compose_cli()
        .await
        .start_beside("app", 2, &pin, Duration::from_secs(120))
        .await
        .unwrap();
    let after = p.containers();
    assert_eq!(after.len(), 2, "{after:?}");
    // The old one: same container, same image, still running.
    assert!(after.contains(&before[0]), "{before:?} -> {after:?}");
    let new: Vec<_> = after.iter().filter(|c| *c != &before[0]).collect();
    assert_eq!(
        new[0].1,
        format!("{} running", env.image_ref(2)),
        "{after:?}"
    );

    // Each container is reached on its own published port: the new one's health is asked of
    // it directly, while the old one still answers as v1.
    let docker = DockerSource::connect("unix:///var/run/docker.sock", 5000)
        .await
        .unwrap();
    let old_addr = docker
        .published_addr(&before[0].0, 3000)
        .await
        .unwrap()
        .unwrap();
    let new_addr = docker
        .published_addr(&new[0].0, 3000)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(old_addr, new_addr);
    let version = |addr: std::net::SocketAddr| {
        wait_for(
            "an answer from /api/health",
            Duration::from_secs(30),
            || {
                let out = Command::new("curl")
                    .args(["-s", "-m", "2", &format!("http://{addr}/api/health")])
                    .output()
                    .ok()?;
                let body = String::from_utf8_lossy(&out.stdout).into_owned();
                body.contains("\"version\"").then_some(body)
            },
        )
    };
    assert!(
        version(old_addr).contains("\"v1\""),
        "{}",
        version(old_addr)
    );
    assert!(
        version(new_addr).contains("\"v2\""),
        "{}",
        version(new_addr)
    );
    assert_eq!(docker.published_addr(&new[0].0, 9999).await.unwrap(), None);
}

#[tokio::test]
async fn a_fixed_host_port_refuses_a_second_container_and_changes_nothing() {
    let env = testenv();
    let port = free_port();
    let p = Project::up("eltb-fixed", &format!("127.0.0.1:{port}:3000"));
    let before = p.containers();
    let pin = vec![("IMAGE_TAG".to_string(), env.image_ref(2))];
    let refused = p
        .compose_cli()
        .await
        .start_beside("app", 2, &pin, Duration::from_secs(120))
        .await;
    assert!(
        matches!(&refused, Err(RuntimeError::Failed { output, .. }) if output.contains("allocated") || output.contains("in use")),
        "{refused:?}"
    );
    // compose may leave the second container created but not started: the old one runs on.
    let after = p.containers();
    assert!(after.contains(&before[0]), "{before:?} -> {after:?}");
    assert_eq!(
        after.iter().filter(|c| c.1.ends_with(" running")).count(),
        1,
        "{after:?}"
    );
}
