//! Each source against the real thing (engine, registry) or the GitHub stand-in, including the
//! failure paths an operator meets: refused access, missing tags, hanging or flooding
//! endpoints, GitHub's error codes and conditional requests.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use elt_console::config::{self, GithubConfig, HealthEndpoint, RegistryConfig, Sources};
use elt_console::domain::{ContainerState, ImageRepo, Tag};
use elt_console::sources::docker::{DockerSource, DockerUpdate};
use elt_console::sources::github::{GithubError, GithubSource, TokenSource, resolve_token_with};
use elt_console::sources::health::HealthChecker;
use elt_console::sources::registry::{RegistryError, RegistrySource};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn registry_config(plain: &str) -> RegistryConfig {
    RegistryConfig {
        plain_http: vec![plain.to_string()],
        username: String::new(),
        password_env: String::new(),
        request_timeout_ms: 5000,
        tag_detail_limit: 30,
        mirrors: vec![],
    }
}

// ---------- registry ----------

/// curl against the registry's HTTP API; returns (status, headers lowercased, body).
fn registry_http(args: &[&str]) -> (u16, std::collections::HashMap<String, String>, String) {
    let out = run(Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/stderr", "-w", "%{http_code}"])
        .args(args));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, code) = text.rsplit_once("\r\n\r\n").unwrap_or(("", text.as_str()));
    let headers = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let status = code
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl {args:?}: {text}"));
    (
        status,
        headers,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_manifest_list_with_a_missing_platform_keeps_its_digest_and_names_the_platform() {
    let env = testenv();
    let registry_addr = env.get("ELT_TEST_REGISTRY");
    let path = format!("elt-test/index-missing-{}", std::process::id());
    let repo_name = format!("{registry_addr}/{path}");
    publish(&repo_name, 1, "amd64-image");
    publish(&repo_name, 2, "ppc64le-image");
    let manifest_url = |r: &str| format!("http://{registry_addr}/v2/{path}/manifests/{r}");
    let accept = "Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
    let describe_child = |tag: &str| {
        let (status, h, _) = registry_http(&["-I", "-H", accept, &manifest_url(tag)]);
        assert_eq!(status, 200, "{h:?}");
        (
            h["docker-content-digest"].clone(),
            h["content-type"].clone(),
            h["content-length"].parse::<u64>().unwrap(),
        )
    };
    let (amd64, amd64_type, amd64_size) = describe_child("amd64-image");
    let (ppc64le, ppc64le_type, ppc64le_size) = describe_child("ppc64le-image");
    // The published manifest list (ppc64le + amd64), pointing at the images just pushed.
    let mut list: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("tests/fixtures/oci/docker-manifest-list.json")).unwrap(),
    )
    .unwrap();
    for (entry, (digest, media_type, size)) in
        list["manifests"].as_array_mut().unwrap().iter_mut().zip([
            (&ppc64le, &ppc64le_type, ppc64le_size),
            (&amd64, &amd64_type, amd64_size),
        ])
    {
        entry["digest"] = digest.as_str().into();
        entry["mediaType"] = media_type.as_str().into();
        entry["size"] = size.into();
    }
    let mut amd64_only = list.clone();
    amd64_only["manifests"].as_array_mut().unwrap().remove(0);
    let put = |tag: &str, body: &serde_json::Value| {
        let (status, h, text) = registry_http(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.docker.distribution.manifest.list.v2+json",
            "--data-binary",
            &body.to_string(),
            &manifest_url(tag),
        ]);
        assert_eq!(status, 201, "PUT {tag}: {text}");
        h["docker-content-digest"].clone()
    };
    let multi_digest = put("multi", &list);
    let amd64_only_digest = put("amd64-only", &amd64_only);
    // The amd64 image goes away; the lists still name it.
    let (status, _, text) = registry_http(&["-X", "DELETE", &manifest_url(&amd64)]);
    assert_eq!(status, 202, "{text}");

    let registry = RegistrySource::new(&registry_config(registry_addr));
    let repo = ImageRepo::parse(&repo_name).unwrap();
    rt().block_on(async {
        // Another platform can still be read: its labels, time and size, and what is missing.
        let d = registry
            .describe(&repo, &Tag::parse("multi").unwrap())
            .await
            .unwrap();
        assert_eq!(d.digest.as_str(), multi_digest, "the list's own digest");
        assert_eq!(d.platform.as_deref(), Some("linux/ppc64le"));
        assert_eq!(d.revision().unwrap().as_str(), env.sha(2));
        assert!(d.created.is_some() && d.size_bytes.unwrap() > 0);
        let problem = d.problem.unwrap();
        assert!(
            problem.contains("platform linux/amd64 manifest")
                && problem.contains(&amd64)
                && problem.contains("missing"),
            "{problem}"
        );
        // Nothing else to read: the digest is kept and the platform named, not "not found".
        let d = registry
            .describe(&repo, &Tag::parse("amd64-only").unwrap())
            .await
            .unwrap();
        assert_eq!(d.digest.as_str(), amd64_only_digest);
        assert_eq!((d.created, d.size_bytes, d.platform), (None, None, None));
        let problem = d.problem.unwrap();
        assert!(
            problem.contains("platform linux/amd64 manifest") && problem.contains(&amd64),
            "{problem}"
        );
        // The plain image tags still read as before.
        let d = registry
            .describe(&repo, &Tag::parse("ppc64le-image").unwrap())
            .await
            .unwrap();
        assert_eq!((d.platform, d.problem), (None, None));
    });
}

#[test]
fn registry_lists_tags_across_pages_and_reads_labels() {
    let env = testenv();
    let registry = RegistrySource::new(&registry_config(env.get("ELT_TEST_REGISTRY")));
    let repo = ImageRepo::parse(env.image()).unwrap();
    rt().block_on(async {
        let tags = registry.list_tags(&repo).await.unwrap();
        for n in 1..=4 {
            assert!(tags.iter().any(|t| t.as_str() == env.tag(n)), "{tags:?}");
        }
        assert!(tags.iter().any(|t| t.as_str() == "latest"));
        let details = registry
            .describe(&repo, &Tag::parse(env.tag(1)).unwrap())
            .await
            .unwrap();
        assert_eq!(details.revision().unwrap().as_str(), env.sha(1));
        assert_eq!(details.digest.as_str(), env.get("ELT_TEST_DIGEST_V1"));
        assert!(details.created.is_some());
        assert!(details.size_bytes.unwrap() > 0);
        // `latest` resolves to the same digest as the newest good version.
        let latest = registry
            .resolve(&repo, &Tag::parse("latest").unwrap())
            .await
            .unwrap();
        let v = env.get("ELT_TEST_LATEST_VERSION");
        assert_eq!(
            latest.as_str(),
            env.get(&format!("ELT_TEST_DIGEST_V{}", v.trim_start_matches('v')))
        );
    });
}

#[test]
fn registry_tag_pagination_follows_last() {
    // Push more tags than one page holds to a fresh repository, by manifest copy (no pulls).
    let env = testenv();
    let registry_addr = env.get("ELT_TEST_REGISTRY");
    let repo_path = "elt/pagination-test";
    let source_manifest = run_ok(Command::new("curl").args([
        "-fsS",
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
        &format!(
            "http://{registry_addr}/v2/elt/english-listening-trainer/manifests/{}",
            env.tag(1)
        ),
    ]));
    // Blobs must exist in the target repo: mount them from the source repo.
    let manifest: serde_json::Value = serde_json::from_str(&source_manifest).unwrap();
    let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
    digests.extend(
        manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string()),
    );
    for d in &digests {
        run_ok(Command::new("curl").args([
            "-fsS",
            "-X",
            "POST",
            &format!("http://{registry_addr}/v2/{repo_path}/blobs/uploads/?mount={d}&from=elt/english-listening-trainer"),
        ]));
    }
    let media = manifest["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.docker.distribution.manifest.v2+json");
    for i in 0..130 {
        let mut child = Command::new("curl")
            .args([
                "-fsS",
                "-X",
                "PUT",
                "-H",
                &format!("Content-Type: {media}"),
                "--data-binary",
                "@-",
            ])
            .arg(format!(
                "http://{registry_addr}/v2/{repo_path}/manifests/page-{i:03}"
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(source_manifest.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
    let registry = RegistrySource::new(&registry_config(registry_addr));
    let repo = ImageRepo::parse(&format!("{registry_addr}/{repo_path}")).unwrap();
    let tags = rt().block_on(registry.list_tags(&repo)).unwrap();
    assert_eq!(tags.len(), 130, "all pages read: {tags:?}");
    assert_eq!(tags[0].as_str(), "page-000");
    assert_eq!(tags[129].as_str(), "page-129");
}

#[test]
fn registry_missing_tag_and_repository_are_not_found() {
    let env = testenv();
    let registry = RegistrySource::new(&registry_config(env.get("ELT_TEST_REGISTRY")));
    let repo = ImageRepo::parse(env.image()).unwrap();
    rt().block_on(async {
        let missing = Tag::parse("main-0000000000000000000000000000000000000000").unwrap();
        let err = registry.resolve(&repo, &missing).await.unwrap_err();
        assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("main-0000000"), "{err}");
        let nowhere = ImageRepo::parse(&format!(
            "{}/elt/no-such-repo",
            env.get("ELT_TEST_REGISTRY")
        ))
        .unwrap();
        let err = registry.list_tags(&nowhere).await.unwrap_err();
        assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    });
}

/// A second real registry with htpasswd auth: anonymous access is refused with a clear 401,
/// and configured credentials (password from an env var) are accepted.
#[test]
fn registry_401_without_credentials_and_basic_auth_with_them() {
    let env = testenv();
    let dir = tempfile::tempdir().unwrap();
    // bcrypt of "elt-test-password"; a test credential for a loopback-only registry.
    write_file(
        dir.path(),
        "htpasswd",
        "elt:$2b$05$3V3YhZdkUbr0nrLC0ZmOX..1kXxC2F2Z33EG/VNd0juuZIJ37QlT2\n",
    );
    let port = free_port();
    let config = write_file(
        dir.path(),
        "config.yml",
        &format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: elt-test\n    path: {root}/htpasswd\n",
            root = dir.path().display()
        ),
    );
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry binary (installed by scripts/testenv.sh)");
    let addr = format!("127.0.0.1:{port}");
    wait_for("auth registry listening", Duration::from_secs(10), || {
        std::net::TcpStream::connect(&addr).ok()
    });
    let repo = ImageRepo::parse(&format!("{addr}/elt/app")).unwrap();
    let result = rt().block_on(async {
        let anonymous = RegistrySource::new(&registry_config(&addr));
        let err = anonymous.list_tags(&repo).await.unwrap_err();
        let mut with_creds = registry_config(&addr);
        with_creds.username = "elt".into();
        let authed = RegistrySource::with_password(&with_creds, Some("elt-test-password".into()));
        let authed_result = authed.list_tags(&repo).await;
        (err, authed_result)
    });
    let _ = child.kill();
    let _ = child.wait();
    let (err, authed) = result;
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert!(
        err.to_string().contains("401") && err.to_string().contains("password_env"),
        "{err}"
    );
    // Authenticated, the empty repository is unknown (404), not unauthorized.
    let authed_err = authed.unwrap_err();
    assert!(
        matches!(authed_err, RegistryError::NotFound { .. }),
        "{authed_err:?}"
    );
    let _ = env;
}

#[test]
fn registry_down_is_unreachable() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let registry = RegistrySource::new(&registry_config(&addr));
    let repo = ImageRepo::parse(&format!("{addr}/elt/app")).unwrap();
    let err = rt().block_on(registry.list_tags(&repo)).unwrap_err();
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err:?}");
    assert!(err.is_transient());
}

// ---------- health ----------

fn endpoint(url: String, timeout_ms: u64) -> HealthEndpoint {
    HealthEndpoint {
        name: "t".into(),
        url,
        timeout_ms,
    }
}

#[test]
fn health_endpoint_that_hangs_times_out_on_time() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and read, but never answer.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let checker = HealthChecker::new().unwrap();
    let started = Instant::now();
    let r = rt().block_on(checker.check(&endpoint(
        format!("http://127.0.0.1:{port}/api/health"),
        500,
    )));
    let took = started.elapsed();
    assert!(!r.ok);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("no answer within 500 ms"),
        "{r:?}"
    );
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[test]
fn health_body_of_10_mb_is_capped() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent_by_server = sent.clone();
    // The sender is dropped when the thread ends: its end, seen from outside with a deadline.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let _done = done_tx;
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let total = 10 * 1024 * 1024;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {total}\r\n\r\n"
            );
            let chunk = vec![b'x'; 64 * 1024];
            let mut n = 0;
            while n < total {
                if s.write_all(&chunk).is_err() {
                    break;
                }
                n += chunk.len();
                sent_by_server.store(n, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    let checker = HealthChecker::new().unwrap();
    let r = rt().block_on(checker.check(&endpoint(format!("http://127.0.0.1:{port}/big"), 5000)));
    assert_eq!(r.status, Some(200));
    assert!(
        r.error.as_deref().unwrap_or("").contains("read cut short"),
        "{r:?}"
    );
    // The client stopped reading and closed the connection: the writer's next write fails and
    // its thread ends (joined, with a deadline), having sent far less than 10 MB.
    drop(checker);
    assert!(
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .is_err_and(|e| e == std::sync::mpsc::RecvTimeoutError::Disconnected),
        "the server thread still writes after 10 s: the client kept the connection open"
    );
    server.join().unwrap();
    assert!(sent.load(std::sync::atomic::Ordering::SeqCst) < 10 * 1024 * 1024);
}

#[test]
fn health_redirect_is_reported_not_followed_and_json_status_is_read() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let answers = [
            "HTTP/1.1 302 Found\r\nLocation: http://example.invalid/login\r\nContent-Length: 0\r\n\r\n".to_string(),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"status\":\"degraded\",\"version\":\"9.9.9\"}\n".to_string(),
        ];
        for (answer, stream) in answers.iter().zip(listener.incoming()) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(answer.as_bytes());
        }
    });
    let checker = HealthChecker::new().unwrap();
    let url = format!("http://127.0.0.1:{port}/api/health");
    let (first, second) = rt().block_on(async {
        (
            checker.check(&endpoint(url.clone(), 2000)).await,
            checker.check(&endpoint(url, 2000)).await,
        )
    });
    assert!(!first.ok);
    assert!(
        first
            .error
            .unwrap()
            .contains("redirect to http://example.invalid/login (not followed)")
    );
    assert!(!second.ok, "a JSON status other than ok is a failure");
    assert_eq!(second.version.as_deref(), Some("9.9.9"));
    assert_eq!(second.app_status.as_deref(), Some("degraded"));
}

// ---------- GitHub ----------

fn github_config(api_url: String) -> GithubConfig {
    let mut c = config::defaults().github;
    c.api_url = api_url;
    c
}

/// A client with no token, whatever the developer's environment holds. octocrab spawns its
/// service worker on the current runtime, so the client lives and dies with `runtime`.
fn anonymous(runtime: &tokio::runtime::Runtime, api_url: String) -> GithubSource {
    let _guard = runtime.enter();
    GithubSource::with_token(&github_config(api_url), None, TokenSource::None).unwrap()
}

#[test]
fn github_runs_use_etags_and_a_304_costs_no_body() {
    let env = testenv();
    let standin = GithubStandin::start(&[env.sha(1), env.sha(2)]);
    let runtime = rt();
    let gh = anonymous(&runtime, standin.url());
    let (first, second) =
        runtime.block_on(async { (gh.runs().await.unwrap(), gh.runs().await.unwrap()) });
    assert!(!first.not_modified);
    assert!(second.not_modified);
    assert_eq!(first.runs, second.runs);
    assert_eq!(first.runs[0].head_sha, env.sha(2));
    assert!(first.rate.limit.is_some() && first.rate.remaining.is_some());
    let log = standin.requests();
    let reqs = log["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0]["if_none_match"].is_null());
    assert!(reqs[1]["if_none_match"].is_string());
    assert_eq!(reqs[1]["status"], 304);
    assert_eq!(reqs[0]["authorized"], false);
}

#[test]
fn github_error_codes_become_clear_messages() {
    let env = testenv();
    let standin = GithubStandin::start(&[env.sha(1)]);
    let runtime = rt();
    let gh = anonymous(&runtime, standin.url());
    type Case = (u16, fn(&GithubError) -> bool, &'static str);
    let cases: [Case; 5] = [
        (
            401,
            |e| matches!(e, GithubError::Unauthorized(_)),
            "rejected the token",
        ),
        (
            403,
            |e| matches!(e, GithubError::RateLimited { .. }),
            "rate limited until",
        ),
        (
            404,
            |e| matches!(e, GithubError::NotFound { .. }),
            "not found, or the token cannot see it",
        ),
        (
            422,
            |e| matches!(e, GithubError::Validation(_)),
            "Validation Failed",
        ),
        (
            500,
            |e| matches!(e, GithubError::Server { status: 500, .. }),
            "server error",
        ),
    ];
    for (status, is_expected, text) in cases {
        // A fresh client per case: a rate-limited one holds every request until the reset.
        let gh = anonymous(&runtime, standin.url());
        standin.fail(status, Some(1));
        let err = runtime.block_on(gh.runs()).unwrap_err();
        assert!(is_expected(&err), "{status}: {err:?}");
        assert!(err.to_string().contains(text), "{status}: {err}");
    }
    // After the injected failures, the next request succeeds again.
    assert!(runtime.block_on(gh.runs()).is_ok());
}

#[test]
fn github_unreachable_is_reported() {
    let runtime = rt();
    let gh = anonymous(&runtime, format!("http://127.0.0.1:{}", free_port()));
    let err = runtime.block_on(gh.runs()).unwrap_err();
    assert!(matches!(err, GithubError::Unreachable { .. }), "{err:?}");
}

#[test]
fn github_token_file_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "token", "ghp_example_not_a_real_token\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = github_config("http://127.0.0.1:9".into());
    c.token_file = path.display().to_string();
    let no_env = |_: &str| None;
    let err = rt()
        .block_on(resolve_token_with(&c, no_env))
        .expect_err("refused")
        .to_string();
    assert!(err.contains("chmod 600"), "{err}");
    assert!(
        !err.contains("ghp_example"),
        "token must never appear: {err}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (token, source) = rt().block_on(resolve_token_with(&c, no_env)).unwrap();
    assert_eq!(token.as_deref(), Some("ghp_example_not_a_real_token"));
    assert!(source.to_string().contains("token file"));
    // GH_TOKEN wins over the file, and GITHUB_TOKEN is next.
    let env = |k: &str| (k == "GITHUB_TOKEN").then(|| "from-env".to_string());
    let (token, source) = rt().block_on(resolve_token_with(&c, env)).unwrap();
    assert_eq!(
        (token.as_deref(), source),
        (Some("from-env"), TokenSource::Env("GITHUB_TOKEN"))
    );
}

// ---------- docker ----------

#[test]
fn docker_unreachable_socket_is_a_clear_error() {
    let err = rt()
        .block_on(DockerSource::connect(
            "unix:///nonexistent/docker.sock",
            1000,
        ))
        .err()
        .expect("no engine there");
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/docker.sock") && text.contains("not found"),
        "{text}"
    );
}

#[test]
fn docker_watcher_follows_engine_events() {
    let env = testenv();
    let project = ComposeProject::up("elt-test-watch", &env.image_ref(1));
    project.wait_healthy("app");
    let runtime = rt();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let cancel = tokio_util::sync::CancellationToken::new();
    let host = env.get("ELT_TEST_DOCKER_HOST").to_string();
    let watcher = runtime.spawn(DockerSource::watch(
        host,
        5000,
        project.name.clone(),
        tx,
        cancel.clone(),
    ));
    let first =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), rx.recv()).await });
    let Ok(Some(DockerUpdate::Containers(views))) = first else {
        panic!("no initial view: {first:?}")
    };
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].state, ContainerState::Running);
    assert_eq!(views[0].revision.as_deref(), Some(env.sha(1)));

    assert!(
        project
            .compose(&["stop", "-t", "1", "app"])
            .status
            .success()
    );
    let stopped = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(15), async {
            while let Some(update) = rx.recv().await {
                if let DockerUpdate::Containers(v) = update
                    && v.first().is_some_and(|c| c.state == ContainerState::Exited)
                {
                    return v;
                }
            }
            Vec::new()
        })
        .await
    });
    let stopped = stopped.expect("an event-driven update after the stop");
    assert!(stopped[0].exit_code.is_some());
    cancel.cancel();
    runtime.block_on(watcher).unwrap();
}

// ---------- config through the binary ----------

#[test]
fn config_check_reports_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "bad.toml",
        "[registry]\nplain_http = []\n\n[github]\nworkflows = \"x.yml\"\n",
    );
    let out = run(bin().arg("config").arg("check").arg(&path));
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:5:1: key `github.workflows`: unknown key",
            path.display()
        )),
        "{err}"
    );
    let good = write_file(dir.path(), "good.toml", "[github]\nworkflow = \"ci.yml\"\n");
    let out = run_ok(bin().arg("config").arg("check").arg(&good));
    assert!(out.contains("config ok"), "{out}");
    // Usage errors have their own exit code.
    assert_eq!(run(bin().arg("no-such-command")).status.code(), Some(64));
}

#[test]
fn config_show_names_origins_and_never_a_token() {
    let out = run_ok(
        bin()
            .args(["config", "show"])
            .env("GH_TOKEN", "ghp_secret_value_for_test")
            .env("ELT_GITHUB_RUNS_PER_PAGE", "7"),
    );
    assert!(
        out.contains("runs_per_page = 7  # environment variable ELT_GITHUB_RUNS_PER_PAGE"),
        "{out}"
    );
    assert!(
        out.contains("project = \"elt\"  # built-in defaults"),
        "{out}"
    );
    assert!(
        out.contains("GitHub token: environment variable GH_TOKEN (value never shown)"),
        "{out}"
    );
    assert!(!out.contains("ghp_secret_value_for_test"));
}

#[test]
fn shipped_default_config_parses() {
    let loaded = config::load(&Sources::default()).unwrap();
    assert_eq!(loaded.config.deployment.project, "elt");
}

/// An htpasswd-protected registry of its own (user `elt`, password `elt-test-password`),
/// killed on drop.
struct AuthRegistry {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl AuthRegistry {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // bcrypt of "elt-test-password"; a test credential for a loopback-only registry.
        write_file(
            dir.path(),
            "htpasswd",
            "elt:$2b$05$3V3YhZdkUbr0nrLC0ZmOX..1kXxC2F2Z33EG/VNd0juuZIJ37QlT2\n",
        );
        let port = free_port();
        let config = write_file(
            dir.path(),
            "config.yml",
            &format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: elt-test\n    path: {root}/htpasswd\n",
                root = dir.path().display()
            ),
        );
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry binary (installed by scripts/testenv.sh)");
        let addr = format!("127.0.0.1:{port}");
        wait_for("auth registry listening", Duration::from_secs(10), || {
            std::net::TcpStream::connect(&addr).ok()
        });
        Self {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Credentials as operators keep them: `docker login` with a credential helper leaves only
/// the helper's name in config.json (`credHelpers` per registry, or `credsStore` for all).
/// The source runs `docker-credential-elttest get` (a stub on PATH), authenticates with
/// what it answers, and the secret shows up in no output and no log.
#[test]
fn registry_credentials_come_from_docker_credential_helpers() {
    use std::os::unix::fs::PermissionsExt;
    let _env = testenv();
    let registry = AuthRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let asked = dir.path().join("asked");
    let helper = write_file(
        &bin_dir,
        "docker-credential-elttest",
        &format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho \"$server\" >> {asked}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"elt\",\"Secret\":\"elt-test-password\"}}' \"$server\"\n",
            asked = asked.display()
        ),
    );
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = write_file(
        dir.path(),
        "config.toml",
        &format!(
            "health = []\n[deployment]\nproject = \"elt-credtest\"\nstate_dir = \"{state}\"\n\n[[deployment.services]]\nname = \"app\"\nimage = \"{addr}/elt/app\"\nimage_var = \"IMAGE_TAG\"\ncommit_tags = [\"main-{{sha}}\"]\n\n[registry]\nplain_http = [\"{addr}\"]\n\n[github]\napi_url = \"http://127.0.0.1:9\"\n",
            state = dir.path().join("state").display(),
            addr = registry.addr
        ),
    );
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (kind, docker_config) in [
        (
            "credHelpers",
            format!("{{\"credHelpers\":{{\"{}\":\"elttest\"}}}}", registry.addr),
        ),
        ("credsStore", "{\"credsStore\":\"elttest\"}".to_string()),
        ("none", "{}".to_string()),
    ] {
        let docker_dir = dir.path().join(format!("docker-{kind}"));
        std::fs::create_dir(&docker_dir).unwrap();
        write_file(&docker_dir, "config.json", &docker_config);
        let state = dir.path().join(format!("xdg-{kind}"));
        let out = run(bin()
            .args(["--config"])
            .arg(&config)
            .args(["tags", "--json"])
            .env("PATH", &path)
            .env("DOCKER_CONFIG", &docker_dir)
            .env("XDG_STATE_HOME", &state));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let mut logs = String::new();
        for entry in walk(&state) {
            logs.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
        }
        for (what, text) in [("stdout", &stdout), ("stderr", &stderr), ("log", &logs)] {
            assert!(
                !text.contains("elt-test-password"),
                "{kind}: secret in {what}: {text}"
            );
        }
        // Every repository failing, `tags` reports on stderr.
        let said = format!("{stdout}{stderr}");
        if kind == "none" {
            // The same registry without a helper refuses access: the helper is what opened it.
            assert!(said.contains("(401)"), "{kind}: {said}");
            continue;
        }
        // Authenticated, the empty repository is unknown (404), not unauthorized (401).
        assert!(
            said.contains("not found in the registry (404)") && !said.contains("(401)"),
            "{kind}: {said}"
        );
        let asked_for = std::fs::read_to_string(&asked).unwrap_or_default();
        assert!(
            asked_for.lines().any(|l| l == registry.addr),
            "{kind}: helper asked for {asked_for:?}"
        );
        std::fs::remove_file(&asked).unwrap();
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}
