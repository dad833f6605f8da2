//! GitHub requests through an HTTP proxy: a small logging proxy (CONNECT and absolute-form
//! requests) in front of the GitHub stand-in. The proxy sends the stand-in's made-up host name
//! to 127.0.0.1, so a request that arrives proves the console let the proxy resolve the name,
//! as it must on a server whose only way out is the proxy. Proxy rules are passed to the
//! source or to the binary's environment, never set on this test process.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use elt_console::config;
use elt_console::sources::github::{self, GithubError, GithubSource, TokenSource};
use elt_console::sources::proxy::ProxySettings;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The name the stand-in is reached by through the proxy; it resolves nowhere else.
const STANDIN_HOST: &str = "github.standin.test";
const USER: &str = "elt-operator";
const PASSWORD: &str = "pr0xy-s3cret-pw";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What the proxy was asked, in order.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    target: String,
    proxy_authorization: Option<String>,
    /// For CONNECT: the first byte the client sent through the tunnel.
    tunnel_first_byte: Option<u8>,
}

struct LoggingProxy {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl LoggingProxy {
    /// `required_auth`: the exact `Proxy-Authorization` value to insist on (407 otherwise).
    fn start(required_auth: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        // The thread ends with the test process; each connection gets its own thread.
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = log.clone();
                let required = required_auth.clone();
                std::thread::spawn(move || serve(client, &log, required.as_deref()));
            }
        });
        Self { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn url_with_credentials(&self) -> String {
        format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn upstream_addr(authority: &str) -> String {
    match authority.rsplit_once(':') {
        Some((host, port)) if host == STANDIN_HOST => format!("127.0.0.1:{port}"),
        _ => authority.to_string(),
    }
}

/// One client connection: requests until the client closes, or one CONNECT tunnel.
fn serve(client: TcpStream, log: &Mutex<Vec<Seen>>, required: Option<&str>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut client = client;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = match (parts.next(), parts.next()) {
            (Some(m), Some(t)) => (m.to_string(), t.to_string()),
            _ => return,
        };
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            headers.push(h);
        }
        let header = |name: &str| {
            headers.iter().find_map(|h| {
                let (k, v) = h.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let index = {
            let mut seen = log.lock().unwrap();
            seen.push(Seen {
                method: method.clone(),
                target: target.clone(),
                proxy_authorization: header("proxy-authorization"),
                tunnel_first_byte: None,
            });
            seen.len() - 1
        };
        if let Some(want) = required
            && header("proxy-authorization").as_deref() != Some(want)
        {
            let _ = client.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
            );
            continue;
        }
        if method == "CONNECT" {
            let Ok(mut upstream) = TcpStream::connect(upstream_addr(&target)) else {
                let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                return;
            };
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .unwrap();
            let mut first = [0u8; 1];
            if reader.read_exact(&mut first).is_err() {
                return;
            }
            // Logged before it is passed on: the client cannot get an answer before this.
            log.lock().unwrap()[index].tunnel_first_byte = Some(first[0]);
            upstream.write_all(&first).unwrap();
            let mut down = upstream.try_clone().unwrap();
            let mut to_client = client.try_clone().unwrap();
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut down, &mut to_client);
                let _ = to_client.shutdown(Shutdown::Both);
            });
            let _ = std::io::copy(&mut reader, &mut upstream);
            let _ = upstream.shutdown(Shutdown::Both);
            return;
        }
        // Absolute form: http://host:port/path → origin form to the named server.
        let Some(rest) = target.strip_prefix("http://") else {
            let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            return;
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        let mut body = vec![
            0u8;
            header("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0)
        ];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let Ok(mut upstream) = TcpStream::connect(upstream_addr(authority)) else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            return;
        };
        let mut request = format!("{method} {path} HTTP/1.1\r\n");
        for h in &headers {
            let name = h
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !matches!(
                name.as_str(),
                "proxy-authorization" | "proxy-connection" | "connection"
            ) {
                request.push_str(h);
                request.push_str("\r\n");
            }
        }
        // One upstream connection per request, so its end marks the answer's end.
        request.push_str("Connection: close\r\n\r\n");
        upstream.write_all(request.as_bytes()).unwrap();
        upstream.write_all(&body).unwrap();
        let mut answer = Vec::new();
        let _ = upstream.read_to_end(&mut answer);
        if client.write_all(&answer).is_err() {
            return;
        }
    }
}

fn proxies(vars: &[(&str, String)]) -> ProxySettings {
    let vars = vars.to_vec();
    ProxySettings::from_vars(move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
}

fn source(rt: &tokio::runtime::Runtime, api_url: String, rules: &ProxySettings) -> GithubSource {
    let _guard = rt.enter();
    let mut c = config::defaults().github;
    c.api_url = api_url;
    c.request_timeout_ms = 10_000;
    GithubSource::with_proxy(&c, None, TokenSource::None, rules).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn runs_reach_the_standin_through_the_proxy_with_its_credentials() {
    let env = testenv();
    let standin = GithubStandin::start(&[env.sha(1), env.sha(2)]);
    let proxy = LoggingProxy::start(Some(basic(USER, PASSWORD)));
    let runtime = rt();
    let api = format!("http://{STANDIN_HOST}:{}", standin.port);
    let gh = source(
        &runtime,
        api.clone(),
        &proxies(&[("HTTP_PROXY", proxy.url_with_credentials())]),
    );
    assert_eq!(
        gh.proxy(),
        Some(format!("127.0.0.1:{}", proxy.port).as_str())
    );
    let (first, second) =
        runtime.block_on(async { (gh.runs().await.unwrap(), gh.runs().await.unwrap()) });
    assert_eq!(first.runs.len(), 2);
    assert_eq!(first.runs[0].head_sha, env.sha(2));
    // The ETag cache works through the proxy too.
    assert!(second.not_modified);
    let seen = proxy.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for s in &seen {
        assert_eq!(s.method, "GET");
        assert!(
            s.target.starts_with(&format!("{api}/repos/"))
                && s.target.contains("/actions/workflows/"),
            "absolute-form target expected: {s:?}"
        );
        assert_eq!(s.proxy_authorization, Some(basic(USER, PASSWORD)));
    }
    // The stand-in got both, without the proxy's credentials.
    let reqs = standin.requests()["requests"].as_array().unwrap().clone();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1]["status"], 304);
}

#[test]
fn no_proxy_sends_the_standin_direct_and_loopback_is_not_exempt_by_itself() {
    let env = testenv();
    let standin = GithubStandin::start(&[env.sha(1)]);
    let proxy = LoggingProxy::start(None);
    let runtime = rt();
    let api = standin.url(); // http://127.0.0.1:PORT
    let cases = [
        ("127.0.0.1".to_string(), true),
        (format!("example.org, 127.0.0.1:{}", standin.port), true),
        ("*".to_string(), true),
        (format!("127.0.0.1:{}", free_port()), false),
        ("localhost".to_string(), false),
        (String::new(), false),
    ];
    for (no_proxy, direct) in cases {
        let before = proxy.seen().len();
        let gh = source(
            &runtime,
            api.clone(),
            &proxies(&[("HTTP_PROXY", proxy.url()), ("NO_PROXY", no_proxy.clone())]),
        );
        assert_eq!(gh.proxy().is_none(), direct, "NO_PROXY={no_proxy:?}");
        let page = runtime.block_on(gh.runs()).unwrap();
        assert_eq!(page.runs[0].head_sha, env.sha(1));
        let asked = proxy.seen().len() - before;
        assert_eq!(asked, usize::from(!direct), "NO_PROXY={no_proxy:?}");
    }
}

#[test]
fn https_is_tunnelled_with_connect_and_tls_runs_inside_the_tunnel() {
    let env = testenv();
    // A plain-http stand-in behind an https URL: the TLS handshake reaches it through the
    // tunnel and fails there, which shows the TLS is end to end, not with the proxy.
    let standin = GithubStandin::start(&[env.sha(1)]);
    let proxy = LoggingProxy::start(Some(basic(USER, PASSWORD)));
    let runtime = rt();
    let gh = source(
        &runtime,
        format!("https://{STANDIN_HOST}:{}", standin.port),
        &proxies(&[
            ("HTTPS_PROXY", proxy.url_with_credentials()),
            ("HTTP_PROXY", "http://wrong.example:1".into()),
        ]),
    );
    let err = runtime.block_on(gh.runs()).unwrap_err();
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, format!("{STANDIN_HOST}:{}", standin.port));
    assert_eq!(seen[0].proxy_authorization, Some(basic(USER, PASSWORD)));
    assert_eq!(
        seen[0].tunnel_first_byte,
        Some(0x16),
        "a TLS handshake record first"
    );
    assert!(
        matches!(&err, GithubError::Unreachable { proxy: Some(p), .. } if *p == format!("127.0.0.1:{}", proxy.port)),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err}");
}

#[test]
fn an_unreachable_proxy_is_named_without_its_credentials() {
    let runtime = rt();
    let port = free_port();
    for api in ["https://api.github.com", "http://ghe.example.test/api/v3"] {
        let gh = source(
            &runtime,
            api.to_string(),
            &proxies(&[(
                "ALL_PROXY",
                format!("http://{USER}:{PASSWORD}@127.0.0.1:{port}"),
            )]),
        );
        let err = runtime.block_on(gh.runs()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, GithubError::Unreachable { .. }), "{err:?}");
        assert!(
            text.starts_with(&format!(
                "GitHub API not reachable at {api} via proxy 127.0.0.1:{port}: "
            )),
            "{text}"
        );
        // Refused by the closed proxy port, not a failed lookup of the API's name.
        assert!(text.contains("Connection refused"), "{text}");
        assert!(!text.contains(PASSWORD) && !text.contains(USER), "{text}");
        assert!(!format!("{err:?}").contains(PASSWORD), "{err:?}");
    }
}

#[test]
fn a_proxy_that_wants_credentials_says_so() {
    let env = testenv();
    let standin = GithubStandin::start(&[env.sha(1)]);
    let proxy = LoggingProxy::start(Some(basic(USER, PASSWORD)));
    let runtime = rt();
    let api = format!("http://{STANDIN_HOST}:{}", standin.port);
    let without = source(
        &runtime,
        api.clone(),
        &proxies(&[("HTTP_PROXY", proxy.url())]),
    );
    let err = runtime.block_on(without.runs()).unwrap_err();
    assert!(
        err.to_string()
            .contains("the proxy wants credentials (407)"),
        "{err}"
    );
    let wrong = source(
        &runtime,
        api,
        &proxies(&[(
            "HTTP_PROXY",
            format!("http://{USER}:not-{PASSWORD}@127.0.0.1:{}", proxy.port),
        )]),
    );
    let err = runtime.block_on(wrong.runs()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the proxy refused its credentials (407)"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
    assert_eq!(standin.requests()["count"], 0);
}

#[test]
fn an_unusable_proxy_variable_is_a_clear_error_without_its_value() {
    let mut c = config::defaults().github;
    c.api_url = "https://api.github.com".into();
    let runtime = rt();
    let _guard = runtime.enter();
    let rules = proxies(&[("HTTPS_PROXY", format!("socks5://{USER}:{PASSWORD}@p:1080"))]);
    let err = GithubSource::with_proxy(&c, None, TokenSource::None, &rules)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("HTTPS_PROXY is not a usable proxy"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert_eq!(
        github::route_note_with(&c, &rules),
        "GitHub proxy: error: HTTPS_PROXY: scheme socks5:// is not supported; use an http:// proxy"
    );
}

// ---------- the binary ----------

fn config_file(dir: &std::path::Path, api: &str) -> std::path::PathBuf {
    write_file(
        dir,
        "config.toml",
        &format!("[github]\napi_url = \"{api}\"\n"),
    )
}

#[test]
fn the_runs_command_uses_the_proxy_variables_and_never_prints_credentials() {
    let env = testenv();
    let standin = GithubStandin::start(&[env.sha(1), env.sha(2)]);
    let proxy = LoggingProxy::start(Some(basic(USER, PASSWORD)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(
        dir.path(),
        &format!("http://{STANDIN_HOST}:{}", standin.port),
    );
    let out = run(bin()
        .arg("--config")
        .arg(&cfg)
        .args(["runs", "--json"])
        .env("http_proxy", proxy.url_with_credentials()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["runs"][0]["head_sha"], env.sha(2));
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].proxy_authorization, Some(basic(USER, PASSWORD)));
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));

    // NO_PROXY covering the stand-in: straight there, the proxy is not asked.
    let direct_cfg = config_file(dir.path(), &standin.url());
    let out = run(bin()
        .arg("--config")
        .arg(&direct_cfg)
        .args(["runs", "--json"])
        .env("http_proxy", proxy.url_with_credentials())
        .env(
            "no_proxy",
            format!("example.org,127.0.0.1:{}", standin.port),
        ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["runs"][0]["head_sha"], env.sha(2));
    assert_eq!(proxy.seen().len(), 1, "the proxy saw nothing more");
}

#[test]
fn the_binary_names_an_unreachable_proxy_and_config_show_names_the_proxy() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), "https://api.github.com");
    let url = format!("http://{USER}:{PASSWORD}@127.0.0.1:{port}");
    let out = run(bin()
        .arg("--config")
        .arg(&cfg)
        .arg("runs")
        .env("HTTPS_PROXY", &url));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains(&format!(
            "GitHub API not reachable at https://api.github.com via proxy 127.0.0.1:{port}"
        )),
        "{all}"
    );
    assert!(all.contains("Connection refused"), "{all}");
    assert!(!all.contains(PASSWORD) && !all.contains(USER), "{all}");

    let show = run_ok(
        bin()
            .arg("--config")
            .arg(&cfg)
            .args(["config", "show"])
            .env("HTTPS_PROXY", &url),
    );
    assert!(
        show.contains(&format!(
            "# GitHub via proxy 127.0.0.1:{port} (from HTTPS_PROXY, with credentials, never shown)"
        )),
        "{show}"
    );
    assert!(!show.contains(PASSWORD) && !show.contains(USER), "{show}");
    let show = run_ok(
        bin()
            .arg("--config")
            .arg(&cfg)
            .args(["config", "show"])
            .env("HTTPS_PROXY", &url)
            .env("NO_PROXY", "github.com"),
    );
    assert!(
        show.contains("# GitHub direct (no proxy applies to api.github.com)"),
        "{show}"
    );
}

#[test]
fn status_says_which_proxy_github_requests_use() {
    let env = testenv();
    let standin = GithubStandin::start(&[env.sha(1), env.sha(2)]);
    let proxy = LoggingProxy::start(Some(basic(USER, PASSWORD)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_file(
        dir.path(),
        "config.toml",
        &format!(
            "[deployment]\nproject = \"elt-gh-proxy-test\"\n\n[[deployment.services]]\nname = \"app\"\nimage = \"{}\"\nimage_var = \"IMAGE_TAG\"\ncommit_tags = [\"main-{{sha}}\"]\n\n[registry]\nplain_http = [\"{}\"]\n\n[github]\napi_url = \"http://{STANDIN_HOST}:{}\"\n",
            env.image(),
            env.get("ELT_TEST_REGISTRY"),
            standin.port
        ),
    );
    let status = |json: bool| {
        let mut cmd = bin();
        cmd.arg("--config").arg(&cfg).arg("status");
        if json {
            cmd.arg("--json");
        }
        let out = run(cmd.env("HTTP_PROXY", proxy.url_with_credentials()));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(PASSWORD) && !text.contains(USER), "{text}");
        (out.stdout, text)
    };
    let (stdout, text) = status(true);
    let report: serde_json::Value =
        serde_json::from_slice(&stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    let runs = &report["runs"]["data"];
    assert_eq!(runs["proxy"], format!("127.0.0.1:{}", proxy.port), "{text}");
    assert_eq!(runs["runs"][0]["head_sha"], env.sha(2));
    let api = format!("http://{STANDIN_HOST}:{}/", standin.port);
    assert!(
        proxy.seen().iter().any(|s| s.target.starts_with(&api)),
        "{:?}",
        proxy.seen()
    );
    let (_, text) = status(false);
    assert!(
        text.contains(&format!("; via proxy 127.0.0.1:{})", proxy.port)),
        "{text}"
    );
}

// ---------- the registry client: the same choice ----------

#[test]
fn the_registry_client_picks_the_proxy_the_github_client_picks() {
    use elt_console::domain::{ImageRepo, Tag};
    use elt_console::sources::registry::RegistrySource;
    let env = testenv();
    let proxy = LoggingProxy::start(None);
    let runtime = rt();
    let mut c = config::defaults().registry;
    c.plain_http = vec![registry()];
    c.request_timeout_ms = 10_000;
    let repo = ImageRepo::parse(env.image()).unwrap();
    let tag = Tag::parse(env.tag(1)).unwrap();
    let cases = [
        (String::new(), false),
        // A host:port entry, which reqwest's own NO_PROXY does not understand.
        (registry(), true),
        (format!("127.0.0.1:{}", free_port()), false),
        ("127.0.0.1".to_string(), true),
    ];
    for (no_proxy, direct) in cases {
        let rules = proxies(&[("HTTP_PROXY", proxy.url()), ("NO_PROXY", no_proxy.clone())]);
        let before = proxy.seen().len();
        let registry_source = RegistrySource::with_proxies(&c, None, &rules);
        runtime
            .block_on(registry_source.resolve(&repo, &tag))
            .unwrap_or_else(|e| panic!("NO_PROXY={no_proxy:?}: {e}"));
        let seen = proxy.seen()[before..].to_vec();
        assert_eq!(seen.is_empty(), direct, "NO_PROXY={no_proxy:?}: {seen:?}");
        for s in &seen {
            assert!(
                s.target.starts_with(&format!("http://{}/v2/", registry())),
                "absolute-form target expected: {s:?}"
            );
        }
        // The GitHub client, asked about a URL on the same host and port, agrees.
        let gh = source(&runtime, format!("http://{}", registry()), &rules);
        assert_eq!(gh.proxy().is_none(), direct, "NO_PROXY={no_proxy:?}");
    }
    // An unusable variable refuses the request, as it refuses the GitHub client, and never
    // shows the password.
    let rules = proxies(&[("HTTP_PROXY", format!("socks5://{USER}:{PASSWORD}@p:1080"))]);
    let err = runtime
        .block_on(RegistrySource::with_proxies(&c, None, &rules).resolve(&repo, &tag))
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP_PROXY is not a usable proxy"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}
