//! Real reverse proxies for the start-first tests (Debian's nginx and Caddy, installed by
//! scripts/testenv.sh): each with its own prefix, config and loopback port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One GET through the proxy: (status code, body), or None when the connection failed.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: app\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((status, body))
}

/// A proxy process of the test's, stopped on drop.
pub struct Proxy(Child);

impl Proxy {
    /// Start `cmd` without a terminal or our pipes (its workers must not hold them open).
    pub fn start(mut cmd: Command, what: &str) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what} (scripts/testenv.sh up installs it): {e}"));
        Proxy(child)
    }
}

impl Drop for Proxy {
    /// SIGTERM to the master, which stops its workers (a SIGKILL would orphan them).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

pub fn nginx_bin() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// nginx with its own prefix on `port`, proxying to the upstream in `upstream.conf`.
pub fn start_nginx(dir: &Path, port: u16) -> Proxy {
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "pid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\nworker_processes 1;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  include {d}/upstream.conf;\n  include {d}/conf.d/*.conf;\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://elt_app; }}\n  }}\n}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(nginx_bin());
    child
        .args(["-p"])
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"]);
    Proxy::start(child, "nginx")
}

/// Caddy with its admin API on `admin`, serving `port` through a reverse_proxy handler whose
/// `@id` is `elt_app`, to `upstream`. Its state and config folders are the test's own.
pub fn start_caddy(dir: &Path, admin: u16, port: u16, upstream: SocketAddr) -> Proxy {
    let config = serde_json::json!({
        "admin": { "listen": format!("127.0.0.1:{admin}"), "config": { "persist": false } },
        "logging": { "logs": { "default": { "level": "ERROR" } } },
        "apps": { "http": { "servers": { "elt": {
            "listen": [format!("127.0.0.1:{port}")],
            "automatic_https": { "disable": true },
            "routes": [ { "handle": [ {
                "handler": "reverse_proxy",
                "@id": "elt_app",
                "upstreams": [ { "dial": upstream.to_string() } ]
            } ] } ]
        } } } }
    });
    std::fs::write(dir.join("caddy.json"), config.to_string()).unwrap();
    let mut child = Command::new("caddy");
    child
        .args(["run", "--config"])
        .arg(dir.join("caddy.json"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("HOME", dir);
    Proxy::start(child, "caddy")
}
