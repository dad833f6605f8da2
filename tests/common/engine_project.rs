//! The stub app as a compose project on one engine (DOCKER_HOST), in its own folder, with a
//! healthcheck; removed with its volumes when dropped. Included with
//! `#[path = "common/engine_project.rs"] mod engine_project;` beside `mod common;`.
#![allow(dead_code)]

use crate::common::{
    free_port, registry, run, run_ok, stub_compose_file, testenv, wait_for, write_file,
};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// The stub app on one engine: its folder (compose file, .env, store), port and engine.
pub struct EngineProject {
    pub project: String,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// DOCKER_HOST for compose and the docker CLI (unix:// sockets only: the test drives
    /// the engine directly, the console goes through the configured endpoint).
    pub docker_host: String,
}

impl EngineProject {
    /// `refuse`: a stub version (`v2`) whose container this host's healthcheck fails, so a
    /// deploy of it is rolled back here (and only here); `none` refuses nothing.
    pub fn up(project: &str, docker_host: &str, image: &str, refuse: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // The healthcheck fails the stub version named by HEALTH_REFUSE (.env).
        let healthcheck = r#"    healthcheck:
      test: ["CMD", "/bin/sh", "-c", "! grep -q '^stub ${HEALTH_REFUSE:-none} ' /etc/elt-stub-version && wget -q -O /dev/null http://127.0.0.1:3000/api/health"]
      interval: 1s
      timeout: 2s
      retries: 2
      start_period: 2s
"#;
        write_file(
            dir.path(),
            "docker-compose.yml",
            &stub_compose_file(&format!("127.0.0.1:{port}:3000"), 1, healthcheck),
        );
        write_file(
            dir.path(),
            ".env",
            &format!("IMAGE_TAG={image}\nHEALTH_REFUSE={refuse}\n"),
        );
        let p = Self {
            project: project.to_string(),
            dir,
            port,
            docker_host: docker_host.to_string(),
        };
        run_ok(p.docker().args(["pull", "-q", image]));
        let out = p.compose(&["up", "-d", "app"]);
        assert!(
            out.status.success(),
            "compose up on {docker_host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        p.wait_healthy();
        p
    }

    pub fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", &self.docker_host);
        c
    }

    pub fn compose(&self, args: &[&str]) -> Output {
        let parts = testenv().compose();
        run(Command::new(&parts[0])
            .args(&parts[1..])
            .env("DOCKER_HOST", &self.docker_host)
            .args(["-p", &self.project, "-f"])
            .arg(self.dir.path().join("docker-compose.yml"))
            .args(args)
            .current_dir(self.dir.path()))
    }

    pub fn app_image(&self) -> String {
        let id = self.app_container();
        if id.is_empty() {
            return String::new();
        }
        run_ok(
            self.docker()
                .args(["inspect", "-f", "{{.Config.Image}}", &id]),
        )
        .trim()
        .to_string()
    }

    pub fn app_container(&self) -> String {
        run_ok(self.docker().args([
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            "label=com.docker.compose.service=app",
            "--filter",
            "label=com.docker.compose.oneoff=False",
        ]))
        .trim()
        .to_string()
    }

    /// The container's own healthcheck says healthy (what `status` judges by) and the
    /// published port answers from the host.
    pub fn wait_healthy(&self) {
        wait_for(
            &format!("{} healthy on {}", self.project, self.docker_host),
            Duration::from_secs(60),
            || {
                let id = self.app_container();
                if id.is_empty() {
                    return None;
                }
                let health =
                    run_ok(
                        self.docker()
                            .args(["inspect", "-f", "{{.State.Health.Status}}", &id]),
                    );
                if health.trim() != "healthy" {
                    return None;
                }
                let ok = Command::new("curl")
                    .args(["-fsS", "-m", "2"])
                    .arg(format!("http://127.0.0.1:{}/api/health", self.port))
                    .output()
                    .ok()?;
                ok.status.success().then_some(())
            },
        );
    }

    /// The app container's id and image, on one line: what a test compares before and after
    /// a deploy elsewhere.
    pub fn app(&self) -> String {
        format!("{} {}", self.app_container(), self.app_image())
    }

    pub fn folder(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for EngineProject {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]);
    }
}

/// `extra`: more keys of the table (TLS settings).
pub fn engine_host_table(name: &str, endpoint: &str, extra: &str, p: &EngineProject) -> String {
    format!(
        r#"[[hosts]]
name = "{name}"
endpoint = "{endpoint}"
folder = "{folder}"
{extra}
health = [{{ name = "app", url = "http://127.0.0.1:{port}/api/health", timeout_ms = 1000 }}]
"#,
        folder = p.folder().display(),
        port = p.port,
    )
}

/// The deployment, registry and GitHub sections of a several-hosts config, for `project` (the
/// compose project every host runs) deploying `repo` tagged `t<sha>`; `service_extra`: more
/// lines of the service's table. Paths are relative: each host's folder holds its compose
/// file, .env and store.
pub fn hosts_deployment_toml(project: &str, repo: &str, service_extra: &str) -> String {
    format!(
        r#"[deployment]
project = "{project}"
compose_file = "docker-compose.yml"
env_file = ".env"
state_dir = "state"

[[deployment.services]]
name = "app"
image = "{repo}"
image_var = "IMAGE_TAG"
commit_tags = ["t{{sha}}"]
{service_extra}
[registry]
plain_http = ["{registry}"]
request_timeout_ms = 3000

[github]
api_url = "http://127.0.0.1:9"
"#,
        registry = registry(),
    )
}
