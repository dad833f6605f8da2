//! An identity token in `~/.docker/config.json` (`auths.HOST.identitytoken`, what `docker login`
//! leaves for registries that hand out OAuth2 refresh tokens) is exchanged at the registry's
//! token endpoint (`grant_type=refresh_token`, Docker's token spec) for the registry client's
//! own requests. The registry here is a stand-in (Python) that speaks exactly that flow and
//! nothing else: `/v2/` challenges, `/token` checks the refresh token, the tag list wants the
//! access token. Nothing touches Docker, so no docker lock is needed.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The environment and signals of the processes under test.
#![allow(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const STANDIN: &str = r#"
import json, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

REFRESH, ACCESS = "idtok-refresh-123", "access-456"
log = open(sys.argv[1], "a", buffering=1)

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def challenge(self):
        port = self.server.server_address[1]
        realm = f'Bearer realm="http://127.0.0.1:{port}/token",service="standin"'
        self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [("WWW-Authenticate", realm)])

    def do_GET(self):
        if self.path == "/v2/":
            return self.challenge()
        if self.path.startswith("/v2/acme/bot/tags/list"):
            if self.headers.get("Authorization") != "Bearer " + ACCESS:
                log.write("tags refused: " + str(self.headers.get("Authorization", "none")[:6]) + "\n")
                return self.challenge()
            log.write("tags served\n")
            body = json.dumps({"name": "acme/bot", "tags": ["latest", "v1.0.0"]}).encode()
            return self.send(200, body, [("Content-Type", "application/json")])
        self.send(404)

    def do_POST(self):
        if self.path != "/token":
            return self.send(404)
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        one = lambda k: (form.get(k) or [""])[0]
        ok = (one("grant_type") == "refresh_token" and one("refresh_token") == REFRESH
              and one("scope") == "repository:acme/bot:pull" and one("service") == "standin")
        log.write(f"token grant_type={one('grant_type')} scope={one('scope')} ok={ok}\n")
        if not ok:
            return self.send(401, b'{"error":"invalid_grant"}')
        body = json.dumps({"access_token": ACCESS, "expires_in": 300}).encode()
        self.send(200, body, [("Content-Type", "application/json")])

s = HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

struct Standin(Child, u16, tempfile::TempDir);

impl Standin {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .args(["-c", STANDIN])
            .arg(dir.path().join("requests.log"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the stand-in's port");
        Standin(child, port, dir)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.2.path().join("requests.log")).unwrap_or_default()
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn an_identity_token_is_exchanged_for_an_access_token() {
    let standin = Standin::start();
    let host = format!("127.0.0.1:{}", standin.1);
    let docker_config = tempfile::tempdir().unwrap();
    let write = |token: &str| {
        std::fs::write(
            docker_config.path().join("config.json"),
            format!(r#"{{"auths":{{"{host}":{{"identitytoken":"{token}"}}}}}}"#),
        )
        .unwrap();
    };
    write("idtok-refresh-123");
    // SAFETY: this test binary has one test; nothing else reads the environment meanwhile.
    unsafe {
        std::env::set_var("DOCKER_CONFIG", docker_config.path());
    }
    let config = elt_console::config::RegistryConfig {
        plain_http: vec![host.clone()],
        username: String::new(),
        password_env: String::new(),
        request_timeout_ms: 5000,
        tag_detail_limit: 30,
        mirrors: vec![],
    };
    let repo = elt_console::domain::ImageRepo::parse(&format!("{host}/acme/bot")).unwrap();
    let registry = elt_console::sources::registry::RegistrySource::new(&config);
    let tags = registry
        .list_tags(&repo)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", standin.log()));
    let names: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    assert_eq!(names, ["latest", "v1.0.0"]);
    let log = standin.log();
    assert!(
        log.contains("token grant_type=refresh_token scope=repository:acme/bot:pull ok=True"),
        "{log}"
    );
    assert!(log.contains("tags served"), "{log}");

    // A refresh token the registry does not accept is a 401 for the operator, and the error
    // never carries the token.
    write("idtok-wrong");
    let registry = elt_console::sources::registry::RegistrySource::new(&config);
    let err = registry.list_tags(&repo).await.unwrap_err();
    assert!(
        matches!(
            err,
            elt_console::sources::registry::RegistryError::Unauthorized { .. }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("idtok"), "{err}");
}
