//! A local HTTP receiver for notification tests: std `TcpListener`, one thread per connection,
//! answers from a script (a status, or hang: read the request and never answer), records every
//! request, and lets a test wait for the n-th one with a deadline (no sleeps).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Read the request, then hold the connection open without a word.
    Hang,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: String,
    pub at: Instant,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Shared {
    requests: Vec<Request>,
    script: VecDeque<Reply>,
    held: Vec<TcpStream>,
}

pub struct Receiver {
    pub port: u16,
    shared: Arc<(Mutex<Shared>, Condvar)>,
}

impl Receiver {
    /// Answers in `script` order, then 200 to everything.
    pub fn start(script: &[Reply]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new((
            Mutex::new(Shared {
                script: script.iter().copied().collect(),
                ..Default::default()
            }),
            Condvar::new(),
        ));
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let s = s.clone();
                std::thread::spawn(move || serve(stream, s));
            }
        });
        Self { port, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.0.lock().unwrap().requests.clone()
    }

    /// Wait until at least `n` requests arrived; panics at the deadline.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Request> {
        let deadline = Instant::now() + limit;
        let (lock, cv) = &*self.shared;
        let mut g = lock.lock().unwrap();
        while g.requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "receiver: {n} request(s) expected within {limit:?}, got {:?}",
                g.requests
            );
            g = cv.wait_timeout(g, left).unwrap().0;
        }
        g.requests.clone()
    }
}

fn serve(stream: TcpStream, shared: Arc<(Mutex<Shared>, Condvar)>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (lock, cv) = &*shared;
    let reply = {
        let mut g = lock.lock().unwrap();
        g.requests.push(Request {
            method,
            path,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        cv.notify_all();
        g.script.pop_front().unwrap_or(Reply::Status(200))
    };
    let mut stream = stream;
    match reply {
        Reply::Status(code) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            );
        }
        Reply::Hang => lock.lock().unwrap().held.push(stream),
    }
}
