//! Services on the test environment's single-node swarm (ELT_TEST_SWARM_DOCKER_HOST),
//! labelled into a stack the way `docker stack deploy` labels them, and removed when dropped.
//! Included with `#[path = "common/swarm_service.rs"] mod swarm_service;` beside `mod common;`.
#![allow(dead_code)]

use crate::common::testenv;
use elt_console::swarm::{STACK_LABEL, SwarmSource};
use std::process::{Command, Output};

pub fn swarm_host() -> String {
    testenv().get("ELT_TEST_SWARM_DOCKER_HOST").to_string()
}

/// The stub image of version `n` as a digest reference (what a deploy resolves a tag to).
pub fn digest_ref(n: u32) -> String {
    let env = testenv();
    format!(
        "{}:{}@{}",
        env.image(),
        env.tag(n),
        env.get(&format!("ELT_TEST_DIGEST_V{n}"))
    )
}

/// The docker CLI against the swarm engine.
pub fn sdocker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", swarm_host())
        .output()
        .expect("docker CLI")
}

/// A stack service this test creates and removes (also when the test fails).
pub struct TestService {
    pub name: String,
}

impl TestService {
    /// `docker service create` (which waits until the service converged) in stack `stack`,
    /// with `extra` flags.
    pub fn create(stack: &str, service: &str, image: &str, extra: &[&str]) -> Self {
        Self::create_service(stack, service, image, false, extra, &[])
    }

    /// `docker service create --detach` (which returns at once) in stack `stack`, with `extra`
    /// flags and `args` after the image (the stub's command).
    pub fn start(stack: &str, service: &str, image: &str, extra: &[&str], args: &[&str]) -> Self {
        Self::create_service(stack, service, image, true, extra, args)
    }

    fn create_service(
        stack: &str,
        service: &str,
        image: &str,
        detach: bool,
        extra: &[&str],
        args: &[&str],
    ) -> Self {
        let name = SwarmSource::service_name(stack, service);
        // A service left by an interrupted earlier run would take the name.
        sdocker(&["service", "rm", &name]);
        let label = format!("{STACK_LABEL}={stack}");
        let mut all = vec!["service", "create", "--quiet"];
        if detach {
            all.push("--detach");
        }
        all.extend_from_slice(&["--name", &name, "--label", &label]);
        all.extend_from_slice(extra);
        all.push(image);
        all.extend_from_slice(args);
        let out = sdocker(&all);
        assert!(
            out.status.success(),
            "docker service create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { name }
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        sdocker(&["service", "rm", &self.name]);
    }
}
