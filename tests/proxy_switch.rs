//! The start-first deploy's traffic switch through a real nginx and a real Caddy (Debian's,
//! installed by scripts/testenv.sh), each on loopback with its own instance and config: a
//! request probe through the proxy during the switch loses nothing (>= 1,000 requests), a
//! request in flight on the old upstream finishes, and a change the proxy refuses switches
//! nothing.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::proxies::{get, nginx_bin, start_caddy, start_nginx};
use common::{free_port, wait_for};
use elt_console::switch::caddy::CaddySwitch;
use elt_console::switch::nginx::NginxSwitch;
use elt_console::switch::{SwitchError, TrafficSwitch};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// An HTTP backend answering `name` to every request; `/slow` waits `slow` first.
fn backend(name: &'static str, slow: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                if buf.starts_with(b"GET /slow") {
                    std::thread::sleep(slow);
                }
                let _ = conn.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                        name.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    addr
}

/// Switch `port`'s proxy from the old backend to `new` while a probe sends requests one after
/// another through it, and a slow request is in flight on the old one: no request fails, the
/// slow one completes on the old version, and the proxy answers from the new one after.
async fn switch_under_probe(switch: &impl TrafficSwitch, port: u16, new: SocketAddr) {
    // The probe: requests one after another through the proxy for the whole switch.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed, saw_new) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
    );
    let probe = {
        let (stop, sent, failed, saw_new) =
            (stop.clone(), sent.clone(), failed.clone(), saw_new.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match get(port, "/") {
                    Some((200, body)) => {
                        if body == "new" {
                            saw_new.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    wait_for("300 probe requests", Duration::from_secs(60), || {
        (sent.load(Ordering::SeqCst) >= 300).then_some(())
    });
    // A slow request in flight on the old version when the switch happens.
    let in_flight = std::thread::spawn(move || get(port, "/slow"));
    std::thread::sleep(Duration::from_millis(200));
    switch.switch_to(&[new]).await.unwrap();
    wait_for(
        "the probe answered by the new upstream",
        Duration::from_secs(20),
        || (saw_new.load(Ordering::SeqCst) >= 300).then_some(()),
    );
    wait_for("1,000 probe requests", Duration::from_secs(60), || {
        (sent.load(Ordering::SeqCst) >= 1000).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    probe.join().unwrap();
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "failed requests of {} through the switch",
        sent.load(Ordering::SeqCst)
    );
    assert_eq!(
        in_flight.join().unwrap(),
        Some((200, "old".to_string())),
        "the request in flight on the old upstream was cut"
    );
    assert_eq!(get(port, "/"), Some((200, "new".to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_switch_loses_no_request_and_a_refused_config_switches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let old = backend("old", Duration::from_millis(1500));
    let new = backend("new", Duration::ZERO);
    let port = free_port();
    let switch = NginxSwitch::new(
        dir.path().join("upstream.conf"),
        "elt_app",
        vec![
            nginx_bin().to_string(),
            "-p".into(),
            dir.path().display().to_string(),
            "-c".into(),
            dir.path().join("nginx.conf").display().to_string(),
        ],
    )
    .unwrap();
    std::fs::write(dir.path().join("upstream.conf"), switch.render(&[old])).unwrap();
    let _nginx = start_nginx(dir.path(), port);
    wait_for(
        "nginx serving the old upstream",
        Duration::from_secs(20),
        || (get(port, "/")? == (200, "old".to_string())).then_some(()),
    );

    switch_under_probe(&switch, port, new).await;

    // A config nginx refuses (another file of the operator's is broken): nothing switches,
    // the upstream file is what it was, and nginx still serves the new version.
    let before = std::fs::read_to_string(dir.path().join("upstream.conf")).unwrap();
    std::fs::write(dir.path().join("conf.d/broken.conf"), "this is not nginx\n").unwrap();
    let refused = switch.switch_to(&[old]).await;
    assert!(
        matches!(&refused, Err(SwitchError::Refused { output, .. }) if output.contains("broken.conf")),
        "{refused:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("upstream.conf")).unwrap(),
        before
    );
    assert_eq!(get(port, "/"), Some((200, "new".to_string())));
    std::fs::remove_file(dir.path().join("conf.d/broken.conf")).unwrap();

    // Nothing but typed addresses and a checked name reach the file.
    assert!(matches!(
        switch.switch_to(&[]).await,
        Err(SwitchError::NoAddress)
    ));
    assert!(matches!(
        NginxSwitch::new(
            dir.path().join("u.conf"),
            "app; include /etc/passwd",
            vec![]
        ),
        Err(SwitchError::BadName(_))
    ));
    assert!(switch.describe().contains("upstream elt_app"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_switch_loses_no_request_and_a_refused_change_switches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let old = backend("old", Duration::from_millis(1500));
    let new = backend("new", Duration::ZERO);
    let (admin, port) = (free_port(), free_port());
    let _caddy = start_caddy(dir.path(), admin, port, old);
    wait_for(
        "caddy serving the old upstream",
        Duration::from_secs(20),
        || (get(port, "/")? == (200, "old".to_string())).then_some(()),
    );
    let switch = CaddySwitch::new(&format!("http://127.0.0.1:{admin}/"), "elt_app").unwrap();
    switch_under_probe(&switch, port, new).await;

    // A handler id the running config does not have: Caddy refuses, nothing switches.
    let wrong = CaddySwitch::new(&format!("http://127.0.0.1:{admin}/"), "not_there").unwrap();
    let refused = wrong.switch_to(&[old]).await;
    assert!(
        matches!(&refused, Err(SwitchError::Refused { output, .. }) if output.contains("not_there")),
        "{refused:?}"
    );
    assert_eq!(get(port, "/"), Some((200, "new".to_string())));
    assert!(matches!(
        CaddySwitch::new("http://127.0.0.1:2019/config/", "elt_app"),
        Err(SwitchError::BadAdmin(_))
    ));
    assert!(switch.describe().contains("@id elt_app"));
}
