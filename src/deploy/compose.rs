//! The runtime seam: how the engine starts one-off steps and recreates services. Today that is
//! the compose CLI on this host (the v2 plugin `docker compose`, or the standalone
//! `docker-compose` 1.x), detected once. Everything compose-specific stays in this file.

pub use crate::format::tail_lines;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum RuntimeError {
    #[error(
        "no compose CLI found: neither `docker compose` (v2 plugin) nor `docker-compose` answers `version`"
    )]
    NoCompose,
    #[error("`{command}` did not finish within {secs} s (stopped)")]
    Timeout { command: String, secs: u64 },
    #[error("`{command}` failed (exit {code}): {output}")]
    Failed {
        command: String,
        code: i32,
        output: String,
    },
    #[error("cannot run `{command}`: {reason}")]
    Spawn { command: String, reason: String },
    /// A compose step asked of a Swarm stack (whose services Swarm runs, not compose).
    #[error("{what}: {runtime} is not run by compose")]
    NotCompose { what: String, runtime: String },
}

/// What the engine needs from whatever runs the services.
pub trait Runtime: Send + Sync {
    /// For the record: which runtime and version.
    fn describe(&self) -> String;

    /// The orchestrator kind this runtime may be (Swarm).
    type Orchestrator: super::orchestrator::Orchestrator;
    /// The orchestrator that runs and updates the services itself, if this runtime is one: the
    /// step machine then hands the deploy to the swarm-update strategy (its one choice point),
    /// and the compose steps below are never asked for.
    fn orchestrator(&self) -> Option<&Self::Orchestrator>;

    /// Run a one-off service to completion with `env` overriding the env file
    /// (the migrate step). Returns the tail of its output.
    fn run_oneoff(
        &self,
        service: &str,
        env: &[(String, String)],
        timeout: Duration,
    ) -> impl Future<Output = Result<String, RuntimeError>> + Send;

    /// Start one more container of `service` beside the running ones (start-first), `count`
    /// in all, with `env` overriding the env file. Returns the tail of the output.
    fn start_beside(
        &self,
        service: &str,
        count: u32,
        env: &[(String, String)],
        timeout: Duration,
    ) -> impl Future<Output = Result<String, RuntimeError>> + Send;

    /// Recreate `services` (only those: never their dependencies) with `env` overriding the env
    /// file. Returns the tail of the output.
    fn recreate(
        &self,
        services: &[String],
        env: &[(String, String)],
        timeout: Duration,
    ) -> impl Future<Output = Result<String, RuntimeError>> + Send;
}

#[derive(Debug, Clone)]
pub struct ComposeCli {
    program: Vec<String>,
    version: String,
    project: String,
    compose_file: PathBuf,
    env_file: PathBuf,
    /// DOCKER_HOST and TLS variables naming the engine compose must use (none: inherited).
    engine_env: Vec<(String, String)>,
}

impl ComposeCli {
    /// Find the compose CLI: `configured` (words, e.g. "docker-compose") if set, else the v2
    /// plugin, else the standalone binary.
    pub async fn detect(
        configured: &str,
        project: &str,
        compose_file: PathBuf,
        env_file: PathBuf,
    ) -> Result<Self, RuntimeError> {
        let candidates: Vec<Vec<String>> = if configured.trim().is_empty() {
            vec![
                vec!["docker".into(), "compose".into()],
                vec!["docker-compose".into()],
            ]
        } else {
            vec![configured.split_whitespace().map(str::to_string).collect()]
        };
        for program in candidates {
            let mut cmd = tokio::process::Command::new(&program[0]);
            cmd.args(&program[1..])
                .args(["version", "--short"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true);
            if let Ok(Ok(out)) = tokio::time::timeout(Duration::from_secs(10), cmd.output()).await
                && out.status.success()
            {
                let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
                return Ok(Self {
                    program,
                    version,
                    project: project.to_string(),
                    compose_file,
                    env_file,
                    engine_env: Vec::new(),
                });
            }
        }
        Err(RuntimeError::NoCompose)
    }

    /// Run compose against this engine (`DockerConfig::compose_env`).
    pub fn with_engine_env(mut self, env: Vec<(String, String)>) -> Self {
        self.engine_env = env;
        self
    }

    fn base_args(&self) -> Vec<String> {
        let mut args = self.program[1..].to_vec();
        args.extend(["-p".into(), self.project.clone()]);
        args.extend(["-f".into(), self.compose_file.display().to_string()]);
        // Passed only when it exists: compose refuses a missing --env-file.
        if self.env_file.exists() {
            args.extend(["--env-file".into(), self.env_file.display().to_string()]);
        }
        args
    }

    async fn run(
        &self,
        extra: &[String],
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<String, RuntimeError> {
        let mut args = self.base_args();
        args.extend(extra.iter().cloned());
        let shown = format!("{} {}", self.program[0], args.join(" "));
        let mut cmd = tokio::process::Command::new(&self.program[0]);
        cmd.args(&args)
            .envs(
                self.engine_env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A cancelled or timed-out step must not leave compose running behind us.
            .kill_on_drop(true);
        // Out of the console's process group: a terminal hangup must not kill compose
        // mid-recreate (see child.rs).
        super::child::own_process_group(&mut cmd);
        let child = cmd.spawn().map_err(|e| RuntimeError::Spawn {
            command: shown.clone(),
            reason: e.to_string(),
        })?;
        let mut group = super::child::GroupKill::new(&child);
        let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Err(_) => {
                return Err(RuntimeError::Timeout {
                    command: shown,
                    secs: timeout.as_secs(),
                });
            }
            Ok(Err(e)) => {
                return Err(RuntimeError::Spawn {
                    command: shown,
                    reason: e.to_string(),
                });
            }
            Ok(Ok(out)) => {
                group.exited(&out.status);
                out
            }
        };
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        let tail = tail_lines(&text, 12);
        if out.status.success() {
            Ok(tail)
        } else {
            Err(RuntimeError::Failed {
                command: shown,
                code: out.status.code().unwrap_or(-1),
                output: tail,
            })
        }
    }
}

impl Runtime for ComposeCli {
    fn describe(&self) -> String {
        format!("{} {}", self.program.join(" "), self.version)
    }

    type Orchestrator = super::orchestrator::SwarmOrchestrator;
    /// Compose recreates the containers itself: no orchestrator.
    fn orchestrator(&self) -> Option<&Self::Orchestrator> {
        None
    }

    /// Start one more container of `service` beside the running ones, with `env` overriding
    /// the env file (`up -d --no-deps --no-recreate --scale SERVICE=COUNT SERVICE`): the
    /// running containers are not touched, so the old version keeps serving while the new one
    /// starts (the start-first strategy, issue 12). `count` is the service's containers with
    /// the new one. A service that publishes a fixed host port cannot have two: compose says
    /// the port is taken and the old container runs on, but compose 1.29 leaves the new one
    /// created and not started, so the caller removes it.
    async fn start_beside(
        &self,
        service: &str,
        count: u32,
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<String, RuntimeError> {
        let args: Vec<String> = vec![
            "up".into(),
            "-d".into(),
            "--no-deps".into(),
            "--no-recreate".into(),
            "--scale".into(),
            format!("{service}={count}"),
            service.into(),
        ];
        self.run(&args, env, timeout).await
    }

    async fn run_oneoff(
        &self,
        service: &str,
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<String, RuntimeError> {
        let args: Vec<String> = ["run", "--rm", "--no-deps", "-T", service]
            .iter()
            .map(|s| s.to_string())
            .collect();
        self.run(&args, env, timeout).await
    }

    async fn recreate(
        &self,
        services: &[String],
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<String, RuntimeError> {
        let mut args: Vec<String> = ["up", "-d", "--no-deps", "--force-recreate"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(services.iter().cloned());
        self.run(&args, env, timeout).await
    }
}

/// Compose processes of `project` still running on this host (`-p PROJECT` in their command
/// line): a deploy killed mid-recreate leaves its compose, in a process group of its own,
/// finishing the work. Whoever repairs after it waits for them first.
pub fn running_for_project(project: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            let is_compose = args.iter().take(3).any(|a| {
                let a = String::from_utf8_lossy(a);
                a.ends_with("docker-compose") || a == "compose"
            });
            is_compose
                && args
                    .windows(2)
                    .any(|w| w[0] == b"-p" && w[1] == project.as_bytes())
        })
        .collect()
}
