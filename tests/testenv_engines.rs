//! The test environment's engines side by side: the second dockerd and the swarm's (each with a
//! bridge of its own) must not break the main engine's default network. dockerd deletes docker0
//! when it starts with `--bridge`, so without scripts/lib/default-bridge.sh every `docker run`
//! on the main engine fails with "could not find bridge docker0".

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::process::Command;

#[test]
fn the_main_engines_default_network_works_beside_the_other_engines() {
    let env = testenv();
    // The others are up (testenv.sh started them before this).
    for host in [
        env.get("ELT_TEST_ENGINE2_HOST"),
        env.get("ELT_TEST_SWARM_DOCKER_HOST"),
    ] {
        run_ok(Command::new("docker").args(["-H", host, "info", "-f", "{{.ServerVersion}}"]));
    }
    let out = run(Command::new("docker").args([
        "run",
        "--rm",
        env.get("ELT_TEST_BUSYBOX_IMAGE"),
        "true",
    ]));
    assert!(
        out.status.success(),
        "docker run on the main engine's default network: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
