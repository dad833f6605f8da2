//! A TCP proxy in front of the test registry: it counts the HTTP requests it relays
//! (tests/watch.rs) and can slow or cut what comes back, standing for a slow or broken network
//! between the host and the registry (tests/deploy.rs).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Clone, Copy)]
pub enum ProxyMode {
    /// Relay as it comes.
    Plain,
    /// Relay at most this many bytes per second per connection, downstream.
    Throttle(usize),
    /// Close each connection once it has relayed this many bytes downstream.
    CutAfter(usize),
}

pub struct RegistryProxy {
    port: u16,
    requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RegistryProxy {
    pub fn start(mode: ProxyMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let (stop2, count) = (stop.clone(), requests.clone());
        let upstream = super::registry();
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            continue;
                        };
                        let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                        let count = count.clone();
                        std::thread::spawn(move || count_up(c2, s2, &count));
                        let stop3 = stop2.clone();
                        std::thread::spawn(move || relay_down(server, client, mode, &stop3));
                    }
                    // Accept is non-blocking so the thread notices `stop`.
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            port,
            requests,
            stop,
        }
    }

    /// The test repository `name` as seen through the proxy.
    pub fn repo(&self, name: &str) -> String {
        format!("127.0.0.1:{}/elt-t/{name}", self.port)
    }

    /// HTTP requests relayed so far.
    pub fn count(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RegistryProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Relay client → registry, counting request lines (`… HTTP/1.1\r\n`; the console's
/// requests during a check carry no bodies).
fn count_up(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64) {
    const MARK: &[u8] = b" HTTP/1.1\r\n";
    let mut buf = vec![0u8; 16384];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut window = std::mem::take(&mut tail);
        window.extend_from_slice(&buf[..n]);
        let hits = window.windows(MARK.len()).filter(|w| *w == MARK).count();
        count.fetch_add(hits as u64, Ordering::SeqCst);
        // Keep a partial mark for the next read (never a whole one: it is counted).
        let keep = MARK.len() - 1;
        tail = window[window.len().saturating_sub(keep)..].to_vec();
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Relay registry → client as `mode` says.
fn relay_down(mut from: TcpStream, mut to: TcpStream, mode: ProxyMode, stop: &AtomicBool) {
    if let ProxyMode::Plain = mode {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
        return;
    }
    let mut buf = vec![0u8; 8192];
    let mut sent = 0usize;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let chunk = match mode {
            ProxyMode::Throttle(rate) => (rate / 20).clamp(1, buf.len()),
            ProxyMode::CutAfter(_) | ProxyMode::Plain => buf.len(),
        };
        let n = match from.read(&mut buf[..chunk]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let ProxyMode::CutAfter(limit) = mode
            && sent + n > limit
        {
            let _ = to.write_all(&buf[..limit.saturating_sub(sent)]);
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
        if let ProxyMode::Throttle(_) = mode {
            // The stand-in for a slow link: pace the bytes, this is not synchronisation.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}
