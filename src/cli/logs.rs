//! `elt-console logs`: a service's container logs, through the dashboard's sanitiser, as
//! plain text (SGR colour only on a colour terminal) or JSON lines. With `--follow` the
//! service is followed, not the container: a restart or a recreate (a deploy) carries on in
//! the new container after a marker line.

use super::common::fail;
use crate::config::Config;
use crate::domain::{ContainerState, ContainerView};
use crate::exit_code::{INTERNAL as EXIT_INTERNAL, USAGE as EXIT_USAGE};
use crate::sources::docker::{DockerError, DockerSource};
// The engine could not be read: the code `status` gives an unreadable source.
use crate::exit_code::UNREACHABLE as EXIT_SOURCE_UNREACHABLE;
use crate::sanitize::{MAX_LINE_BYTES, sanitize};
use futures_util::StreamExt;
use std::io::Write;
use std::time::Duration;

pub struct LogsArgs {
    pub service: Option<String>,
    pub follow: bool,
    pub since: Option<String>,
    pub grep: Option<String>,
    pub tail: Option<u32>,
    pub json: bool,
}

/// `--since`: a duration back from now (`10m`, `1h30m`, `2d`) or an RFC 3339 time; Unix
/// seconds.
pub fn parse_since(s: &str, now: chrono::DateTime<chrono::Utc>) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    match humantime::parse_duration(s) {
        Ok(d) => {
            let back =
                chrono::Duration::from_std(d).map_err(|_| format!("--since {s}: too far back"))?;
            Ok((now - back).timestamp())
        }
        Err(e) => Err(format!(
            "--since {s}: neither a duration such as 10m or 1h30m ({e}) nor an RFC 3339 time such as 2026-12-05T01:00:00Z"
        )),
    }
}

/// How a line is written out.
struct Printer {
    json: bool,
    color: bool,
    grep: Option<regex::Regex>,
}

impl Printer {
    /// JSON lines, or text in colour on a terminal unless NO_COLOR is set.
    fn new(json: bool, grep: Option<regex::Regex>) -> Self {
        Printer {
            json,
            color: !json
                && std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            grep,
        }
    }

    fn line(&self, out: &mut impl Write, container: &str, stderr: bool, raw: &[u8]) -> bool {
        let (time, rest) = split_stamp(raw);
        let line = sanitize(rest, MAX_LINE_BYTES);
        if self
            .grep
            .as_ref()
            .is_some_and(|re| !re.is_match(&line.text))
        {
            return true;
        }
        let stream = if stderr { "stderr" } else { "stdout" };
        let written = if self.json {
            let v = serde_json::json!({
                "container": container,
                "stream": stream,
                "time": time,
                "line": line.text,
            });
            writeln!(out, "{v}")
        } else if self.color {
            writeln!(out, "{}", crate::format::ansi_line(&line))
        } else {
            writeln!(out, "{}", line.text)
        };
        written.is_ok()
    }

    /// A line of ours between containers' lines: `stream` is `marker` in JSON.
    fn marker(&self, out: &mut impl Write, container: &str, text: &str) -> bool {
        let written = if self.json {
            let v = serde_json::json!({
                "container": container,
                "stream": "marker",
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                "line": text,
            });
            writeln!(out, "{v}")
        } else {
            writeln!(out, "--- {text} ---")
        };
        written.and_then(|()| out.flush()).is_ok()
    }
}

/// The engine's RFC 3339 stamp at the start of a raw line, and the rest.
fn split_stamp(raw: &[u8]) -> (Option<String>, &[u8]) {
    match raw.iter().position(|b| *b == b' ') {
        Some(i) if i >= 20 && raw[4] == b'-' && raw[10] == b'T' => (
            Some(String::from_utf8_lossy(&raw[..i]).into_owned()),
            &raw[i + 1..],
        ),
        _ => (None, raw),
    }
}

/// The service's container to read: a running one (the most recently started), else the most
/// recently started of any state. One-off containers (`compose run`) are not the service.
fn pick(containers: &[ContainerView], service: &str) -> Option<ContainerView> {
    containers
        .iter()
        .filter(|c| c.service == service && !c.oneoff)
        .max_by_key(|c| (c.state == ContainerState::Running, c.started_at))
        .cloned()
}

pub async fn logs_command(config: &Config, args: LogsArgs) -> i32 {
    let grep = match args.grep.as_deref().map(regex::Regex::new).transpose() {
        Ok(g) => g,
        Err(e) => return fail(format!("--grep: {e}"), EXIT_USAGE),
    };
    let since = match args.since.as_deref() {
        Some(s) => match parse_since(s, chrono::Utc::now()) {
            Ok(t) => Some(t),
            Err(e) => return fail(e, EXIT_USAGE),
        },
        None => None,
    };
    if config.deployment.runtime == crate::config::RuntimeKind::Swarm {
        return swarm_task_logs(config, &args, grep, since).await;
    }
    let project = &config.deployment.project;
    let docker = match DockerSource::connect_config(&config.docker).await {
        Ok(d) => d,
        Err(e) => return fail(e, EXIT_SOURCE_UNREACHABLE),
    };
    let containers = match docker.project_containers(project).await {
        Ok(c) => c,
        Err(e) => return fail(e, EXIT_SOURCE_UNREACHABLE),
    };
    let service = named_service(config, &args);
    // The services the operator may name: the configured ones and any the project runs.
    let mut known: Vec<String> = config
        .deployment
        .services
        .iter()
        .map(|s| s.name.clone())
        .chain(containers.iter().map(|c| c.service.clone()))
        .collect();
    known.sort();
    known.dedup();
    if !known.contains(&service) {
        return fail(
            format!(
                "no service {service:?} in compose project {project}; its services: {}",
                known.join(", ")
            ),
            EXIT_USAGE,
        );
    }
    let printer = Printer::new(args.json, grep);
    let Some(first) = pick(&containers, &service) else {
        if !args.follow {
            return fail(
                format!("service {service} of project {project} has no container"),
                EXIT_SOURCE_UNREACHABLE,
            );
        }
        return follow_service(config, &printer, &service, None, since, args.tail).await;
    };
    if !args.follow {
        let mut out = std::io::stdout().lock();
        let mut stream = std::pin::pin!(docker.logs(&first.id, false, args.tail, since));
        let mut lines = LineSplitter::default();
        while let Some(item) = stream.next().await {
            match item {
                Ok((stderr, bytes)) => {
                    for line in lines.push(stderr, &bytes) {
                        if !printer.line(&mut out, &first.name, stderr, &line) {
                            return 0;
                        }
                    }
                }
                Err(e) => return fail(e, EXIT_SOURCE_UNREACHABLE),
            }
        }
        for (stderr, line) in lines.finish() {
            if !printer.line(&mut out, &first.name, stderr, &line) {
                return 0;
            }
        }
        // A reader that went away is no failure of ours (as with SIGPIPE).
        let _ = out.flush();
        return 0;
    }
    follow_service(config, &printer, &service, Some(first), since, args.tail).await
}

/// A Swarm deployment's logs: one task's, named by its id (or a unique prefix), or a
/// configured service's newest running task. Followed until the task's stream ends.
async fn swarm_task_logs(
    config: &Config,
    args: &LogsArgs,
    grep: Option<regex::Regex>,
    since: Option<i64>,
) -> i32 {
    use crate::swarm::SwarmSource;
    let stack = &config.deployment.stack;
    let swarm = match SwarmSource::connect_config(&config.docker).await {
        Ok(s) => s,
        Err(e) => return fail(e, EXIT_SOURCE_UNREACHABLE),
    };
    let view = match swarm.stack(stack).await {
        Ok(v) => v,
        Err(e) => return fail(e, EXIT_SOURCE_UNREACHABLE),
    };
    let wanted = named_service(config, args);
    let full = SwarmSource::service_name(stack, &wanted);
    let task = if view
        .services
        .iter()
        .any(|s| s.name == full || s.name == wanted)
    {
        let name = if view.services.iter().any(|s| s.name == full) {
            full
        } else {
            wanted.clone()
        };
        view.tasks
            .iter()
            .filter(|t| t.service == name)
            .max_by_key(|t| (t.is_running(), t.since))
    } else {
        let matching: Vec<_> = view
            .tasks
            .iter()
            .filter(|t| t.id.starts_with(&wanted))
            .collect();
        if matching.len() > 1 {
            return fail(
                format!("task id prefix {wanted:?} names {} tasks", matching.len()),
                EXIT_USAGE,
            );
        }
        let Some(task) = matching.first().copied() else {
            let services: Vec<&str> = view.services.iter().map(|s| s.name.as_str()).collect();
            return fail(
                format!(
                    "no service or task {wanted:?} in stack {stack}; its services: {}",
                    services.join(", ")
                ),
                EXIT_USAGE,
            );
        };
        Some(task)
    };
    let Some(task) = task else {
        return fail(
            format!("service {wanted} of stack {stack} has no task"),
            EXIT_SOURCE_UNREACHABLE,
        );
    };
    let printer = Printer::new(args.json, grep);
    let label = format!(
        "{}.{}",
        task.service,
        task.slot.map_or_else(|| task.id.clone(), |s| s.to_string())
    );
    let mut out = std::io::stdout().lock();
    let mut stream = std::pin::pin!(swarm.task_logs(&task.id, args.follow, args.tail, since));
    let mut lines = LineSplitter::default();
    while let Some(item) = stream.next().await {
        match item {
            Ok((stderr, bytes)) => {
                for line in lines.push(stderr, &bytes) {
                    if !printer.line(&mut out, &label, stderr, &line) {
                        return 0;
                    }
                }
            }
            Err(e) => return fail(e, EXIT_SOURCE_UNREACHABLE),
        }
    }
    for (stderr, line) in lines.finish() {
        if !printer.line(&mut out, &label, stderr, &line) {
            return 0;
        }
    }
    let _ = out.flush();
    0
}

/// Bytes from the engine come in chunks, per stream; lines are cut here.
#[derive(Default)]
struct LineSplitter {
    carry: [Vec<u8>; 2],
}

impl LineSplitter {
    fn push(&mut self, stderr: bool, bytes: &[u8]) -> Vec<Vec<u8>> {
        let buf = &mut self.carry[usize::from(stderr)];
        buf.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = buf.drain(..=pos).collect();
            line.pop();
            lines.push(line);
        }
        // A line that never ends is cut rather than held (and grown) forever.
        if buf.len() > MAX_LINE_BYTES * 2 {
            lines.push(std::mem::take(buf));
        }
        lines
    }

    fn finish(&mut self) -> Vec<(bool, Vec<u8>)> {
        let mut out = Vec::new();
        for (i, buf) in self.carry.iter_mut().enumerate() {
            if !buf.is_empty() {
                out.push((i == 1, std::mem::take(buf)));
            }
        }
        out
    }
}

/// Follow the service until SIGINT/SIGTERM: each container's stream to its end, then the
/// service's next running container (the same one restarted, or a new one) from the last
/// line shown on, after a marker line.
async fn follow_service(
    config: &Config,
    printer: &Printer,
    service: &str,
    first: Option<ContainerView>,
    since: Option<i64>,
    tail: Option<u32>,
) -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut sigint, mut sigterm) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            return fail(format!("cannot handle signals: {e}"), EXIT_INTERNAL);
        }
    };
    let stopped = async {
        tokio::select! {
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
        }
    };
    tokio::select! {
        code = follow_loop(config, printer, service, first, since, tail) => code,
        () = stopped => {
            let _ = std::io::stdout().flush();
            0
        }
    }
}

async fn follow_loop(
    config: &Config,
    printer: &Printer,
    service: &str,
    first: Option<ContainerView>,
    since: Option<i64>,
    tail: Option<u32>,
) -> i32 {
    let project = &config.deployment.project;
    let mut current = first;
    // (container id, start time) last followed, and the last engine stamp shown.
    let mut last: Option<(String, Option<chrono::DateTime<chrono::Utc>>)> = None;
    let mut last_stamp: Option<Vec<u8>> = None;
    let mut backoff = Duration::from_millis(250);
    let mut resume_pause = Duration::from_millis(250);
    loop {
        let docker = match DockerSource::connect_config(&config.docker).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("logs: {e}; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let next = match current.take() {
            Some(c) => Some(c),
            None => match wait_for_running(&docker, project, service, last.as_ref()).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!("logs: {e}; retrying");
                    None
                }
            },
        };
        let Some(c) = next else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        };
        backoff = Duration::from_millis(250);
        let mut out = std::io::stdout().lock();
        // Resuming: from the second of the last line shown, dropping lines up to it.
        let (from, mut skip_until) = match &last {
            None => (since, None),
            Some((old_id, old_start)) => {
                let what = if *old_id == c.id {
                    if *old_start == c.started_at {
                        "log stream resumed"
                    } else {
                        "container restarted"
                    }
                } else {
                    "new container"
                };
                if !printer.marker(
                    &mut out,
                    &c.name,
                    &format!("{what}: {} ({})", c.name, short_id(&c.id)),
                ) {
                    return 0;
                }
                let stamp_secs = last_stamp
                    .as_deref()
                    .and_then(|s| std::str::from_utf8(s).ok())
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.timestamp());
                if *old_id == c.id {
                    (stamp_secs, last_stamp.clone())
                } else {
                    // A new container's lines are all new; those before it started were
                    // written by nobody we followed.
                    (stamp_secs.or(since), None)
                }
            }
        };
        drop(out);
        let tail_now = if last.is_none() { tail } else { None };
        last = Some((c.id.clone(), c.started_at));
        let mut stream = std::pin::pin!(docker.logs(&c.id, true, tail_now, from));
        let mut lines = LineSplitter::default();
        let mut got_lines = false;
        while let Some(item) = stream.next().await {
            let Ok((stderr, bytes)) = item else { break };
            got_lines = true;
            let mut out = std::io::stdout().lock();
            for line in lines.push(stderr, &bytes) {
                if let Some(stamp) = stamp_of(&line) {
                    if skip_until.as_deref().is_some_and(|s| stamp <= s) {
                        continue;
                    }
                    skip_until = None;
                    last_stamp = Some(stamp.to_vec());
                }
                if !printer.line(&mut out, &c.name, stderr, &line) {
                    return 0;
                }
            }
            if out.flush().is_err() {
                return 0;
            }
        }
        {
            let mut out = std::io::stdout().lock();
            for (stderr, line) in lines.finish() {
                if !printer.line(&mut out, &c.name, stderr, &line) {
                    return 0;
                }
            }
        }
        if let Ok(Some(state)) = docker.run_state(&c.id).await
            && state.running
            && state.started_at == c.started_at
        {
            // The engine closed the stream while the container still runs (a daemon restart,
            // a cut connection): carry on in it, pausing longer each time nothing came.
            resume_pause = if got_lines {
                Duration::from_millis(250)
            } else {
                (resume_pause * 2).min(Duration::from_secs(5))
            };
            tokio::time::sleep(resume_pause).await;
            current = Some(c);
            continue;
        }
        let mut out = std::io::stdout().lock();
        if !printer.marker(
            &mut out,
            &c.name,
            &format!(
                "{} ({}) stopped; waiting for {service} to run",
                c.name,
                short_id(&c.id)
            ),
        ) {
            return 0;
        }
    }
}

fn stamp_of(raw: &[u8]) -> Option<&[u8]> {
    let end = raw.iter().position(|b| *b == b' ')?;
    (end >= 20 && raw[4] == b'-' && raw[10] == b'T').then(|| &raw[..end])
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Wait until the service has a running container that is not the one just followed (or is
/// it, started again): the engine's events wake the look, and a fresh look every 2 s covers a
/// missed event.
async fn wait_for_running(
    docker: &DockerSource,
    project: &str,
    service: &str,
    last: Option<&(String, Option<chrono::DateTime<chrono::Utc>>)>,
) -> Result<ContainerView, DockerError> {
    loop {
        let looked_at = chrono::Utc::now();
        let containers = docker.project_containers(project).await?;
        if let Some(c) = pick(&containers, service)
            && c.state == ContainerState::Running
            && last.is_none_or(|(id, started)| *id != c.id || *started != c.started_at)
        {
            return Ok(c);
        }
        // Any start in the project (replayed from the look) is worth a fresh look.
        match containers.iter().find(|c| c.service == service) {
            Some(c) => {
                let _ = docker
                    .wait_for_start(&c.id, looked_at, Duration::from_secs(2))
                    .await;
            }
            None => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// The service the operator named, else the deployment's first one.
fn named_service(config: &Config, args: &LogsArgs) -> String {
    args.service
        .clone()
        .or_else(|| config.deployment.services.first().map(|s| s.name.clone()))
        .unwrap_or_else(|| "app".to_string())
}
