//! Shared test harness: the real test environment (dockerd, registry, stub images) that
//! `scripts/testenv.sh up` starts, the GitHub stand-in, the NVML stand-in library, and
//! deadline-bounded waiting. A missing environment is a test failure, never a skip.
#![allow(dead_code)]

pub mod proxies;
pub mod registry_proxy;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Values written by `scripts/testenv.sh up` (ELT_TEST_*).
pub struct TestEnv {
    vars: HashMap<String, String>,
}

impl TestEnv {
    pub fn get(&self, key: &str) -> &str {
        self.vars.get(key).unwrap_or_else(|| {
            panic!("{key} missing from testenv.env; rerun scripts/testenv.sh up")
        })
    }
    pub fn sha(&self, n: u32) -> &str {
        self.get(&format!("ELT_TEST_SHA_V{n}"))
    }
    pub fn tag(&self, n: u32) -> &str {
        self.get(&format!("ELT_TEST_TAG_V{n}"))
    }
    pub fn image(&self) -> &str {
        self.get("ELT_TEST_IMAGE")
    }
    pub fn image_ref(&self, n: u32) -> String {
        format!("{}:{}", self.image(), self.tag(n))
    }
    /// The compose command: prefer standalone docker-compose (what Debian ships).
    pub fn compose(&self) -> Vec<String> {
        if let Some(v1) = self
            .vars
            .get("ELT_TEST_COMPOSE_V1")
            .filter(|s| !s.is_empty())
        {
            return vec![v1.clone()];
        }
        self.get("ELT_TEST_COMPOSE")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

fn unquote(v: &str) -> String {
    // testenv.sh writes values with printf %q; undo the simple backslash escaping it uses.
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn testenv() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = std::env::var_os("ELT_TESTENV_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".sandbox/testenv"));
        let path = dir.join("testenv.env");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "test environment not found ({}: {e}). Run scripts/test.sh, or scripts/testenv.sh up first.",
                path.display()
            )
        });
        let vars = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), unquote(v.trim())))
            .collect();
        let env = TestEnv { vars };
        let engine = Command::new("docker").arg("info").output().expect("docker CLI");
        assert!(
            engine.status.success(),
            "Docker engine not answering; run scripts/testenv.sh up: {}",
            String::from_utf8_lossy(&engine.stderr)
        );
        env
    })
}

/// Poll `check` until it returns Some, or fail the test at the deadline with `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The GitHub API stand-in (scripts/github-standin.py), on its own port, killed on drop.
pub struct GithubStandin {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl GithubStandin {
    pub fn start(shas: &[&str]) -> Self {
        Self::start_with(shas, &[])
    }
    pub fn start_with(shas: &[&str], extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let mut cmd = Command::new("python3");
        cmd.arg(repo_root().join("scripts/github-standin.py"))
            .args(["--port", "0", "--port-file"])
            .arg(&port_file)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for sha in shas {
            cmd.args(["--sha", sha]);
        }
        let child = cmd.spawn().expect("start github stand-in");
        let port = wait_for("GitHub stand-in port file", Duration::from_secs(15), || {
            std::fs::read_to_string(&port_file)
                .ok()?
                .trim()
                .parse::<u16>()
                .ok()
        });
        Self {
            child,
            port,
            _dir: dir,
        }
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn control(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        let out = run_ok(
            Command::new("curl")
                .args([
                    "-sS",
                    "-X",
                    method,
                    "-H",
                    "Content-Type: application/json",
                    "-d",
                    body,
                ])
                .arg(format!("{}{path}", self.url())),
        );
        serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
    }
    pub fn fail(&self, status: u16, times: Option<u32>) {
        let body = match times {
            Some(n) => format!(r#"{{"status":{status},"times":{n}}}"#),
            None => format!(r#"{{"status":{status}}}"#),
        };
        self.control("POST", "/_standin/fail", &body);
    }
    pub fn requests(&self) -> serde_json::Value {
        let out = run_ok(
            Command::new("curl")
                .args(["-sS"])
                .arg(format!("{}/_standin/requests", self.url())),
        );
        serde_json::from_str(&out).expect("requests JSON")
    }
}

impl Drop for GithubStandin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Build the NVML stand-in (tests/nvml-standin) once per test binary; returns its path.
pub fn nvml_standin() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nvml-standin");
        std::fs::create_dir_all(&dir).unwrap();
        let lib = dir.join(format!("libnvidia-ml-{}.so.1", std::process::id()));
        run_ok(
            Command::new("cc")
                .args(["-shared", "-fPIC", "-Wall", "-Werror", "-o"])
                .arg(&lib)
                .arg(repo_root().join("tests/nvml-standin/nvml_standin.c")),
        );
        lib
    })
}

pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_elt-console"));
    // Keep the developer's own config and tokens out of the tests.
    for var in ["GH_TOKEN", "GITHUB_TOKEN", "DOCKER_HOST"] {
        cmd.env_remove(var);
    }
    // A developer's proxy would carry the tests' loopback requests (loopback is not exempt).
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(var);
    }
    for (k, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("ELT_") && !k.starts_with("ELT_TEST"))
    {
        cmd.env_remove(k);
    }
    cmd.env("XDG_CONFIG_HOME", "/nonexistent-elt-test-config");
    cmd.env(
        "XDG_STATE_HOME",
        std::env::temp_dir().join("elt-console-test-state"),
    );
    cmd
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    path
}

/// The console's config file (`dir/elt-console.toml`) for a Swarm deployment: stack `stack`
/// on the engine `host`, its `app` service from `image` (a repository) in the plain-HTTP
/// `registry`, its store in `dir/state`, no health endpoints; `tail` is the rest (sections
/// such as `[github]` or `[swarm]`).
pub fn write_swarm_config(
    dir: &Path,
    stack: &str,
    image: &str,
    host: &str,
    registry: &str,
    tail: &str,
) -> PathBuf {
    write_file(
        dir,
        "elt-console.toml",
        &format!(
            r#"
health = []

[deployment]
runtime = "swarm"
stack = "{stack}"
state_dir = "{state}"

[[deployment.services]]
name = "app"
image = "{image}"
image_var = "APP_IMAGE"
commit_tags = ["main-{{sha}}"]

[docker]
host = "{host}"

[registry]
plain_http = ["{registry}"]

{tail}
"#,
            state = dir.join("state").display(),
        ),
    )
}

/// A compose project of the stub app, brought up for one test and removed (with its volumes)
/// when dropped.
pub struct ComposeProject {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl ComposeProject {
    pub fn up(name: &str, image: &str) -> Self {
        let env = testenv();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        write_file(
            dir.path(),
            "docker-compose.yml",
            &format!(
                r#"version: "3.8"
services:
  app:
    image: ${{IMAGE_TAG}}
    ports:
      - "127.0.0.1:{port}:3000"
    volumes:
      - data:/data
  migrate:
    image: ${{IMAGE_TAG}}
    command: ["migrate"]
    profiles: ["migrate"]
    volumes:
      - data:/data
volumes:
  data:
"#
            ),
        );
        write_file(dir.path(), ".env", &format!("IMAGE_TAG={image}\n"));
        let project = Self {
            name: name.to_string(),
            dir,
            port,
        };
        // A leftover from an interrupted earlier run would make `up` reuse odd state.
        let _ = project.compose(&["down", "-v", "--remove-orphans"]);
        let out = project.compose(&["up", "-d"]);
        assert!(
            out.status.success(),
            "compose up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = env;
        project
    }

    pub fn compose(&self, args: &[&str]) -> Output {
        let cmd_parts = testenv().compose();
        let mut cmd = Command::new(&cmd_parts[0]);
        cmd.args(&cmd_parts[1..])
            .args(["-p", &self.name, "-f"])
            .arg(self.dir.path().join("docker-compose.yml"))
            .args(args)
            .current_dir(self.dir.path());
        run(&mut cmd)
    }

    pub fn container_id(&self, service: &str) -> String {
        run_ok(Command::new("docker").args([
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]))
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no container for service {service}"))
        .to_string()
    }

    pub fn inspect(&self, service: &str, format: &str) -> String {
        run_ok(Command::new("docker").args(["inspect", "-f", format, &self.container_id(service)]))
            .trim()
            .to_string()
    }

    pub fn wait_healthy(&self, service: &str) {
        wait_for(
            &format!("{service} of {} healthy", self.name),
            Duration::from_secs(60),
            || (self.inspect(service, "{{.State.Health.Status}}") == "healthy").then_some(()),
        );
    }

    pub fn compose_file(&self) -> PathBuf {
        self.dir.path().join("docker-compose.yml")
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]);
    }
}

/// A config file for the binary that points every source at the test environment.
/// What the end-to-end tests start from: a healthy compose project on stub image `image`,
/// the GitHub stand-in serving the commits of stub images `commits`, and a config for both
/// in a fresh folder.
pub struct Stack {
    pub config: PathBuf,
    pub dir: tempfile::TempDir,
    pub project: ComposeProject,
    pub github: GithubStandin,
}

impl Stack {
    pub fn up(name: &str, image: u32, commits: &[u32], nvml: &str) -> Self {
        let env = testenv();
        let shas: Vec<&str> = commits.iter().map(|n| env.sha(*n)).collect();
        let github = GithubStandin::start(&shas);
        let project = ComposeProject::up(name, &env.image_ref(image));
        project.wait_healthy("app");
        let dir = tempfile::tempdir().unwrap();
        let config = sandbox_config(dir.path(), &project, &github.url(), nvml);
        Stack {
            config,
            dir,
            project,
            github,
        }
    }
}

pub fn sandbox_config(dir: &Path, project: &ComposeProject, github: &str, nvml: &str) -> PathBuf {
    let env = testenv();
    write_file(
        dir,
        "config.toml",
        &format!(
            r#"[deployment]
project = "{project}"
compose_file = "{compose}"
env_file = "{envfile}"
state_dir = "{state}"

[[deployment.services]]
name = "app"
image = "{image}"
image_var = "IMAGE_TAG"
commit_tags = ["main-{{sha}}"]
migrate_service = "migrate"

[registry]
plain_http = ["{registry}"]

[[health]]
name = "app"
url = "http://127.0.0.1:{port}/api/health"
timeout_ms = 2000

[[health]]
name = "tts"
url = "http://127.0.0.1:{port}/api/tts/health"
timeout_ms = 2000

[github]
api_url = "{github}"

[gpu]
nvml_library = "{nvml}"
"#,
            project = project.name,
            compose = project.compose_file().display(),
            envfile = project.dir.path().join(".env").display(),
            state = project.dir.path().join("state").display(),
            image = env.image(),
            registry = env.get("ELT_TEST_REGISTRY"),
            port = project.port,
        ),
    )
}

/// The local registry's address (`127.0.0.1:5000`).
pub fn registry() -> String {
    testenv().get("ELT_TEST_REGISTRY").to_string()
}

/// Copy stub version `n`'s image into `repo` under `tag`, push it, and drop the local tag so
/// that a deploy has to pull it (the layers stay local, shared with the testenv images).
pub fn publish(repo: &str, n: u32, tag: &str) {
    let env = testenv();
    let target = format!("{repo}:{tag}");
    run_ok(Command::new("docker").args(["tag", &env.image_ref(n), &target]));
    run_ok(Command::new("docker").args(["push", "-q", &target]));
    run_ok(Command::new("docker").args(["rmi", &target]));
}

/// The stub app's compose file: `app` published on `published` (a compose port mapping),
/// ready `ready_after_s` seconds after it starts, with `app_extra` (whole YAML lines, such as
/// a healthcheck) in its service; `migrate` in a profile; both on one data volume.
pub fn stub_compose_file(published: &str, ready_after_s: u32, app_extra: &str) -> String {
    format!(
        r#"version: "3.8"
services:
  app:
    image: ${{IMAGE_TAG}}
    ports:
      - "{published}"
    environment:
      STUB_READY_AFTER: "{ready_after_s}"
{app_extra}    volumes:
      - data:/data
  migrate:
    image: ${{IMAGE_TAG}}
    command: ["migrate"]
    environment:
      STUB_MIGRATE_FAIL: "${{STUB_MIGRATE_FAIL:-0}}"
    profiles: ["migrate"]
    volumes:
      - data:/data
volumes:
  data:
"#
    )
}

/// A compose project of the stub app (`app`, and `migrate` in a profile, on one data volume)
/// for the deploy engine's tests, running `image`; removed with its volume when dropped.
pub struct StubProject {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl StubProject {
    pub fn up(name: &str, image: &str) -> Self {
        Self::up_published(name, image, false)
    }

    /// The app publishes port 3000 on a host port Docker picks (`127.0.0.1::3000`), so two
    /// copies can run: a proxy in front of it answers on `port` (the health endpoint's).
    pub fn up_behind_proxy(name: &str, image: &str) -> Self {
        Self::up_published(name, image, true)
    }

    fn up_published(name: &str, image: &str, behind_proxy: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let published = if behind_proxy {
            "127.0.0.1::3000".to_string()
        } else {
            format!("127.0.0.1:{port}:3000")
        };
        write_file(
            dir.path(),
            "docker-compose.yml",
            &stub_compose_file(&published, 3, ""),
        );
        write_file(
            dir.path(),
            ".env",
            &format!(
                "# the operator's own settings\nCOMPOSE_HTTP_TIMEOUT=120\nIMAGE_TAG={image}\n"
            ),
        );
        let p = Self {
            name: name.to_string(),
            dir,
            port,
        };
        let _ = p.compose(&["down", "-v", "--remove-orphans"]);
        let out = p.compose(&["up", "-d", "app"]);
        assert!(
            out.status.success(),
            "compose up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        p.wait_healthy();
        p
    }

    /// The console's config: deploys from `image` (the registry, or a proxy before it), with
    /// `commit_tags`; `deploy_extra` lines go into `[deploy]`, `sections` after it.
    pub fn write_config(&self, image: &str, commit_tags: &str, deploy_extra: &str, sections: &str) {
        let registry_host = image.split('/').next().unwrap();
        write_file(
            self.dir.path(),
            "config.toml",
            &format!(
                r#"[deployment]
project = "{project}"
compose_file = "{dir}/docker-compose.yml"
env_file = "{dir}/.env"
state_dir = "{dir}/state"

[[deployment.services]]
name = "app"
image = "{image}"
image_var = "IMAGE_TAG"
commit_tags = ["{commit_tags}"]
migrate_service = "migrate"

[registry]
plain_http = ["{registry_host}", "{registry}"]
request_timeout_ms = 3000

[[health]]
name = "app"
url = "http://127.0.0.1:{port}/api/health"
timeout_ms = 1000

[deploy]
health_timeout_s = 30
health_interval_ms = 250
health_successes = 2
pull_attempts = 2
compose_command = "{compose}"
{deploy_extra}

{sections}
"#,
                project = self.name,
                dir = self.dir.path().display(),
                port = self.port,
                registry = registry(),
                compose = testenv().compose().join(" "),
            ),
        );
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn compose(&self, args: &[&str]) -> Output {
        let parts = testenv().compose();
        run(Command::new(&parts[0])
            .args(&parts[1..])
            .args(["-p", &self.name, "-f"])
            .arg(self.path("docker-compose.yml"))
            .args(args)
            .current_dir(self.dir.path()))
    }

    /// The binary with this project's config, run in its folder.
    pub fn console(&self) -> Command {
        let mut cmd = bin();
        cmd.arg("--config")
            .arg(self.path("config.toml"))
            .current_dir(self.dir.path());
        cmd
    }

    /// The app's long-running container (not a one-off), or "" when there is none.
    pub fn app_container(&self) -> String {
        run_ok(Command::new("docker").args([
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--filter",
            "label=com.docker.compose.service=app",
            "--filter",
            "label=com.docker.compose.oneoff=False",
        ]))
        .trim()
        .to_string()
    }

    pub fn inspect(&self, format: &str) -> String {
        run_ok(Command::new("docker").args(["inspect", "-f", format, &self.app_container()]))
            .trim()
            .to_string()
    }

    pub fn wait_healthy(&self) {
        wait_for("app healthy", Duration::from_secs(60), || {
            if self.app_container().is_empty() {
                return None;
            }
            (self.inspect("{{.State.Health.Status}}") == "healthy").then_some(())
        });
    }

    pub fn env_file(&self) -> String {
        std::fs::read_to_string(self.path(".env")).unwrap()
    }
}

impl Drop for StubProject {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]);
    }
}

/// A stub-app compose project running `repo:t1`, whose images come from a registry repository
/// of its own (`127.0.0.1:5000/elt-t/<name>`, or a proxy in front of it): what tests/deploy.rs
/// and tests/watch.rs deploy to.
pub struct RepoProject {
    pub project: StubProject,
    /// What the project runs and the console deploys from.
    pub repo: String,
}

impl std::ops::Deref for RepoProject {
    type Target = StubProject;
    fn deref(&self) -> &StubProject {
        &self.project
    }
}

impl RepoProject {
    /// Pushes stub versions `versions` as `t<n>` to `pushed_to` (the registry's own name for
    /// `repo`: pushes never go through a proxy), then brings up compose project `project`
    /// running `repo:t1`.
    pub fn up(project: &str, repo: &str, pushed_to: &str, versions: &[u32]) -> Self {
        Self::up_with(project, repo, pushed_to, versions, false)
    }

    /// As `up`, with the app behind a proxy (`StubProject::up_behind_proxy`).
    pub fn up_behind_proxy(project: &str, repo: &str, versions: &[u32]) -> Self {
        Self::up_with(project, repo, repo, versions, true)
    }

    fn up_with(
        project: &str,
        repo: &str,
        pushed_to: &str,
        versions: &[u32],
        behind_proxy: bool,
    ) -> Self {
        for n in versions {
            publish(pushed_to, *n, &format!("t{n}"));
        }
        // The running version must exist locally for `compose up`.
        run_ok(Command::new("docker").args(["pull", "-q", &format!("{repo}:t1")]));
        Self {
            project: StubProject::up_published(project, &format!("{repo}:t1"), behind_proxy),
            repo: repo.to_string(),
        }
    }

    /// The deploy history, newest first (`history --json`).
    pub fn history(&self) -> Vec<serde_json::Value> {
        let out = run_ok(self.console().args(["history", "--json", "-n", "100"]));
        serde_json::from_str(&out).unwrap()
    }
}

/// The local image id of stub version `n`.
pub fn image_id(n: u32) -> String {
    run_ok(Command::new("docker").args([
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        &testenv().image_ref(n),
    ]))
    .trim()
    .to_string()
}
