//! The log follower: one container's (or Swarm task's) stream at a time, sanitised and batched off the UI thread.

use super::update::Update;
use crate::config::Config;
use crate::sanitize::{MAX_LINE_BYTES, StyledLine, sanitize};
use crate::sources::docker::DockerSource;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Turn one raw line from the engine (with its RFC 3339 timestamp prefix) into a LogLine.
pub fn parse_engine_line(raw: &[u8], stderr: bool) -> (Option<String>, bool, StyledLine) {
    let (time, rest) = match raw.iter().position(|b| *b == b' ') {
        Some(i) if i >= 20 && raw[4] == b'-' && raw[10] == b'T' => {
            let stamp = String::from_utf8_lossy(&raw[11..i.min(23)]).into_owned();
            (Some(stamp), &raw[i + 1..])
        }
        _ => (None, raw),
    };
    (time, stderr, sanitize(rest, MAX_LINE_BYTES))
}

/// Follow one container's log stream at a time, switching when the selection changes.
/// Lines are sanitised here, off the UI thread, and sent in batches so a flood of 20 000
/// lines a second becomes a few dozen messages.
pub(super) async fn logs_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Update>,
    mut follow: watch::Receiver<Option<(String, u32)>>,
    cancel: CancellationToken,
) {
    loop {
        let current = follow.borrow_and_update().clone();
        let stream_cancel = cancel.child_token();
        let stream = current.clone().map(|(id, tail)| {
            let tx = tx.clone();
            let c = config.clone();
            let token = stream_cancel.clone();
            tokio::spawn(async move {
                // A Swarm deployment's logs panel follows a task, named by its id.
                if c.deployment.runtime == crate::config::RuntimeKind::Swarm {
                    follow_task(&c, id, tail, &tx, &token).await
                } else {
                    follow_container(&c, id, tail, &tx, &token).await
                }
            })
        });
        let changed = tokio::select! {
            _ = cancel.cancelled() => false,
            r = follow.changed() => r.is_ok(),
        };
        stream_cancel.cancel();
        if let Some(handle) = stream {
            let _ = handle.await;
        }
        if !changed {
            return;
        }
    }
}

const BATCH_LINES: usize = 2000;
const BATCH_WINDOW: Duration = Duration::from_millis(25);

/// Follow one container's logs for as long as it is selected. When its stream ends (the
/// container stopped or restarted, the engine went away), wait until it runs again and carry
/// on after the last line shown, telling the dashboard so it can mark the gap. A container
/// that no longer exists is left to the dashboard, which follows its service's replacement.
async fn follow_container(
    config: &Config,
    id: String,
    tail: u32,
    tx: &mpsc::Sender<Update>,
    cancel: &CancellationToken,
) {
    let mut started = match DockerSource::connect_config(&config.docker).await {
        Ok(d) => d
            .run_state(&id)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.started_at),
        Err(_) => None,
    };
    // The engine's timestamp of the last line passed on (fixed-width RFC 3339, so byte order
    // is time order): lines replayed on resuming are dropped up to it.
    let mut last_stamp: Option<Vec<u8>> = None;
    let mut resume = false;
    loop {
        let reason = follow_one(config, &id, tail, resume, &mut last_stamp, tx, cancel).await;
        if cancel.is_cancelled() {
            return;
        }
        let _ = tx
            .send(Update::LogEnded {
                container_id: id.clone(),
                reason: format!("{reason}; waiting for the container to run again"),
            })
            .await;
        let Some(state) = wait_running(config, &id, tx, cancel).await else {
            return;
        };
        let what = match started {
            _ if state.started_at == started => "log stream resumed",
            None => "container started",
            Some(_) => "container restarted",
        };
        started = state.started_at;
        let msg = Update::LogResumed {
            container_id: id.clone(),
            what,
            at: state.started_at.unwrap_or_else(chrono::Utc::now),
        };
        if tx.send(msg).await.is_err() {
            return;
        }
        resume = true;
    }
}

/// Follow one Swarm task's logs (its last `tail` lines, then what it writes) until the stream
/// ends or another is chosen; the dashboard is told why it ended. A task does not run again
/// once stopped: the panel moves on to its service's next task itself.
async fn follow_task(
    config: &Config,
    task_id: String,
    tail: u32,
    tx: &mpsc::Sender<Update>,
    cancel: &CancellationToken,
) {
    let reason = match crate::swarm::SwarmSource::connect_config(&config.docker).await {
        Ok(swarm) => {
            let stream = swarm.task_logs(&task_id, true, Some(tail), None);
            let mut last_stamp = None;
            pump(stream, &task_id, None, &mut last_stamp, tx, cancel).await
        }
        Err(e) => e.to_string(),
    };
    if cancel.is_cancelled() {
        return;
    }
    let _ = tx
        .send(Update::LogEnded {
            container_id: task_id,
            reason: format!("task {reason}"),
        })
        .await;
}

/// Wait until the container runs: its `start` event, or a fresh look every 30 s; an engine
/// that is away is retried with backoff (0.5 s doubling to 5 s). None when cancelled, or when
/// the container no longer exists (said to the dashboard).
async fn wait_running(
    config: &Config,
    id: &str,
    tx: &mpsc::Sender<Update>,
    cancel: &CancellationToken,
) -> Option<crate::sources::docker::RunState> {
    enum Seen {
        Running(crate::sources::docker::RunState),
        Gone,
        LookAgain,
    }
    let mut backoff = Duration::from_millis(500);
    loop {
        let attempt = async {
            let docker = DockerSource::connect_config(&config.docker).await?;
            let looked_at = chrono::Utc::now();
            match docker.run_state(id).await? {
                None => Ok(Seen::Gone),
                Some(s) if s.running => Ok(Seen::Running(s)),
                Some(_) => {
                    // Replayed from the look, so a start in between is not missed.
                    docker
                        .wait_for_start(id, looked_at, Duration::from_secs(30))
                        .await?;
                    Ok::<_, crate::sources::docker::DockerError>(Seen::LookAgain)
                }
            }
        };
        let seen = tokio::select! {
            _ = cancel.cancelled() => return None,
            r = attempt => r,
        };
        match seen {
            Ok(Seen::Running(s)) => return Some(s),
            Ok(Seen::Gone) => {
                let _ = tx
                    .send(Update::LogEnded {
                        container_id: id.to_string(),
                        reason: "container removed".into(),
                    })
                    .await;
                return None;
            }
            Ok(Seen::LookAgain) => backoff = Duration::from_millis(500),
            Err(_) => {
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The engine's timestamp at the start of a raw log line, if it has one.
fn line_stamp(raw: &[u8]) -> Option<&[u8]> {
    let end = raw.iter().position(|b| *b == b' ')?;
    (end >= 20 && raw[4] == b'-' && raw[10] == b'T').then(|| &raw[..end])
}

/// Follow the stream until it ends; the reason it ended. With `resume`, lines from the second
/// of `last_stamp` on are asked for and those up to it dropped, so none is shown twice.
async fn follow_one(
    config: &Config,
    id: &str,
    tail: u32,
    resume: bool,
    last_stamp: &mut Option<Vec<u8>>,
    tx: &mpsc::Sender<Update>,
    cancel: &CancellationToken,
) -> String {
    let docker = match DockerSource::connect_config(&config.docker).await {
        Ok(d) => d,
        Err(e) => return e.to_string(),
    };
    let since = if resume {
        last_stamp
            .as_deref()
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp())
    } else {
        None
    };
    let skip_until = since.and(last_stamp.clone());
    let stream = docker.follow_logs(id, tail, since);
    pump(stream, id, skip_until, last_stamp, tx, cancel).await
}

/// Pass a raw log stream (container's or Swarm task's) on as sanitised lines in batches until
/// it ends or is cancelled; the reason it ended. Lines stamped up to `skip_until` are dropped
/// (already shown before a resume); `last_stamp` keeps the newest passed on.
pub(super) async fn pump<E: std::fmt::Display>(
    stream: impl futures_util::Stream<Item = Result<(bool, bytes::Bytes), E>>,
    id: &str,
    mut skip_until: Option<Vec<u8>>,
    last_stamp: &mut Option<Vec<u8>>,
    tx: &mpsc::Sender<Update>,
    cancel: &CancellationToken,
) -> String {
    let mut stream = std::pin::pin!(stream);
    let mut carry: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut batch = Vec::new();
    let mut deadline = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return "stopped".into(),
            _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => {
                send_batch(tx, id, &mut batch).await;
            }
            item = stream.next() => match item {
                None => {
                    flush_partial(&mut carry, &mut batch);
                    send_batch(tx, id, &mut batch).await;
                    return "log stream closed".into();
                }
                Some(Err(e)) => {
                    send_batch(tx, id, &mut batch).await;
                    return e.to_string();
                }
                Some(Ok((stderr, bytes))) => {
                    if batch.is_empty() {
                        deadline = tokio::time::Instant::now() + BATCH_WINDOW;
                    }
                    let buf = &mut carry[stderr as usize];
                    buf.extend_from_slice(&bytes);
                    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        let line = &line[..line.len() - 1];
                        if let Some(stamp) = line_stamp(line) {
                            if skip_until.as_deref().is_some_and(|s| stamp <= s) {
                                continue;
                            }
                            skip_until = None;
                            *last_stamp = Some(stamp.to_vec());
                        }
                        batch.push(parse_engine_line(line, stderr));
                    }
                    // A line that never ends is cut rather than held (and grown) forever.
                    if buf.len() > MAX_LINE_BYTES * 2 {
                        let line = std::mem::take(buf);
                        batch.push(parse_engine_line(&line, stderr));
                    }
                    if batch.len() >= BATCH_LINES {
                        send_batch(tx, id, &mut batch).await;
                    }
                }
            },
        }
    }
}

fn flush_partial(carry: &mut [Vec<u8>; 2], batch: &mut Vec<(Option<String>, bool, StyledLine)>) {
    for (i, buf) in carry.iter_mut().enumerate() {
        if !buf.is_empty() {
            batch.push(parse_engine_line(buf, i == 1));
            buf.clear();
        }
    }
}

async fn send_batch(
    tx: &mpsc::Sender<Update>,
    id: &str,
    batch: &mut Vec<(Option<String>, bool, StyledLine)>,
) {
    if batch.is_empty() {
        return;
    }
    let lines = std::mem::take(batch);
    let _ = tx
        .send(Update::LogLines {
            container_id: id.to_string(),
            lines,
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_timestamps_are_split_off() {
        let (time, _, line) =
            parse_engine_line(b"2026-11-22T07:30:01.123456789Z hello \x1b[2Jworld", false);
        assert_eq!(time.as_deref(), Some("07:30:01.123"));
        assert_eq!(line.text, "hello world");
        let (time, _, line) = parse_engine_line(b"no timestamp here", true);
        assert!(time.is_none());
        assert_eq!(line.text, "no timestamp here");
    }
}
