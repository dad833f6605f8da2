//! Headless commands and their output, human or `--json`.

use crate::config::{self, LoadedConfig, Sources};
use crate::deploy::command as deploy_command;
use crate::domain::{ContainerState, GpuStatus, HealthState};
use crate::format::age;
use crate::status::{self, Section, StatusReport};
use crate::store::DeployKind;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use std::fmt::Write;
use std::path::PathBuf;

/// Exit codes: the program's one table (src/exit_code.rs).
pub use crate::exit_code::{CONFIG as EXIT_CONFIG, INTERNAL as EXIT_INTERNAL, USAGE as EXIT_USAGE};

#[derive(Debug, Parser)]
#[command(
    name = "elt-console",
    version,
    about = "Watch and deploy a Dockerised GPU web app from one terminal screen"
)]
pub struct Cli {
    /// Config file, layered over the built-in defaults, /etc and the user config.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Hide and refuse every action that changes something.
    #[arg(long, global = true)]
    pub read_only: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One snapshot of containers, health, GPU, registry tags and CI runs.
    Status {
        /// Print the documented JSON shape (docs/status-json.md) instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Recent runs of the configured workflow.
    Runs {
        #[arg(long)]
        json: bool,
    },
    /// Trigger the workflow's workflow_dispatch, then optionally follow the run.
    Dispatch {
        /// Branch or tag to run the workflow on (default: the repository's default branch).
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        /// An input the workflow declares, as NAME=VALUE (repeat for more).
        #[arg(long = "input", value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// Follow the run until it ends; exit 1 unless it succeeded.
        #[arg(long)]
        watch: bool,
        /// After the run succeeds and its image tag is in the registry, deploy that tag
        /// (implies --watch; --yes confirms both the dispatch and the deploy).
        #[arg(long)]
        deploy: bool,
        /// Confirm without asking (needed when not on a terminal).
        #[arg(long)]
        yes: bool,
        /// JSON lines: `dispatched`, each `run` update, `image-built`, then the deploy's events.
        #[arg(long)]
        json: bool,
    },
    /// Deploy each new digest behind `latest` as it appears (the replacement for a cron job).
    Watch {
        /// Seconds between checks (default: watch.interval_s, 60).
        #[arg(long, value_name = "SECONDS")]
        interval: Option<u64>,
        /// Check once (deploying if needed) and exit: 0 done or nothing to do, 1 the deploy
        /// failed, 2 the registry or Docker could not be read, 4 another deploy holds the lock.
        #[arg(long)]
        once: bool,
        /// One JSON object per decision instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// A service's container logs (default: the first configured service), sanitised as on
    /// the dashboard.
    Logs {
        /// Compose service (default: the app service).
        service: Option<String>,
        /// Keep following, across restarts and recreates, until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only lines from this long ago (10m, 1h30m) or this RFC 3339 time on.
        #[arg(long, value_name = "DURATION|TIME")]
        since: Option<String>,
        /// Only lines matching this regular expression (after sanitising).
        #[arg(long, value_name = "REGEX")]
        grep: Option<String>,
        /// Only the last N lines (default: all).
        #[arg(long, short = 'n', value_name = "N")]
        tail: Option<u32>,
        /// One JSON object per line: container, stream, time, line.
        #[arg(long)]
        json: bool,
    },
    /// Registry tags with commit, created time, size, CI result and what runs now.
    Tags {
        #[arg(long)]
        json: bool,
    },
    /// Show or check the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Deploy TAG (default: the digest behind `latest`, pinned to its commit tag).
    Deploy {
        /// An image tag, e.g. main-<sha>.
        tag: Option<String>,
        #[command(flatten)]
        opts: DeployOpts,
        /// Redeploy even if the target already runs.
        #[arg(long)]
        force: bool,
    },
    /// Roll back to TAG, or to what ran before the current version.
    Rollback {
        tag: Option<String>,
        /// The version that ran before the current one (from the deploy history).
        #[arg(long, conflicts_with = "tag")]
        previous: bool,
        #[command(flatten)]
        opts: DeployOpts,
    },
    /// Past deployments, newest first.
    History {
        #[arg(long)]
        json: bool,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: u32,
    },
    /// The deploy lock: who holds it, or release a stale one.
    Lock {
        #[command(subcommand)]
        action: LockAction,
    },
    /// Print a shell completion script (docs/operator-guide.md says where to put it).
    Completions {
        /// Shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write it and one page per subcommand into a folder.
    Man {
        /// Write elt-console.1, elt-console-status.1, ... into DIR instead of printing.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct DeployOpts {
    /// Do not ask (needed when not on a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// JSON lines, one per event, instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum LockAction {
    /// Who holds the lock, whether it is stale, and the app's true state.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Remove the lock (the holder's deployment is marked interrupted).
    Release {
        /// Required: releasing a live deploy's lock lets a second deploy run beside it.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the effective config and where each value came from (no secrets).
    Show {
        /// Every key with its value and origin as JSON (docs/status-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Validate the layered config, with FILE as the explicit layer if given.
    Check { file: Option<PathBuf> },
}

pub fn load_config(explicit: Option<&std::path::Path>) -> Result<LoadedConfig, i32> {
    config::load(&Sources::standard(explicit)).map_err(|e| {
        eprintln!("elt-console: config error: {e}");
        EXIT_CONFIG
    })
}

pub async fn run(mut cli: Cli) -> i32 {
    match cli.command.take() {
        Some(Command::Config {
            action: ConfigAction::Check { file },
        }) => {
            let explicit = file.as_deref().or(cli.config.as_deref());
            match load_config(explicit) {
                Ok(loaded) => {
                    let files: Vec<String> = loaded
                        .files
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect();
                    println!(
                        "config ok ({})",
                        if files.is_empty() {
                            "built-in defaults only".to_string()
                        } else {
                            format!("built-in defaults + {}", files.join(" + "))
                        }
                    );
                    0
                }
                Err(code) => code,
            }
        }
        Some(Command::Config {
            action: ConfigAction::Show { json: true },
        }) => match load_config(cli.config.as_deref()) {
            Ok(loaded) => {
                let token = crate::sources::github::resolve_token(&loaded.config.github).await;
                print_json_value(&config_json(&loaded, token.map(|(_, s)| s.to_string())))
            }
            Err(code) => code,
        },
        Some(Command::Config {
            action: ConfigAction::Show { json: false },
        }) => match load_config(cli.config.as_deref()) {
            Ok(loaded) => {
                print!("{}", loaded.show());
                let token = match crate::sources::github::resolve_token(&loaded.config.github).await
                {
                    Ok((_, source)) => source.to_string(),
                    Err(e) => format!("error: {e}"),
                };
                println!("\n# GitHub token: {token} (value never shown)");
                println!(
                    "# {}",
                    crate::sources::github::route_note(&loaded.config.github)
                );
                0
            }
            Err(code) => code,
        },
        Some(Command::Status { json }) => status_command(cli.config.as_deref(), json).await,
        Some(Command::Deploy { tag, opts, force }) => {
            deploy_or_rollback(&cli, DeployKind::Deploy, tag, false, opts, force).await
        }
        Some(Command::Rollback {
            tag,
            previous,
            opts,
        }) => deploy_or_rollback(&cli, DeployKind::Rollback, tag, previous, opts, false).await,
        Some(Command::History { json, limit }) => match load_config(cli.config.as_deref()) {
            Ok(l) => deploy_command::history_command(&l.config, json, limit),
            Err(code) => code,
        },
        Some(Command::Lock { action }) => match load_config(cli.config.as_deref()) {
            Ok(l) => match &action {
                LockAction::Status { json } => {
                    deploy_command::lock_status_command(&l.config, *json).await
                }
                LockAction::Release { force } => {
                    deploy_command::lock_release_command(&l.config, *force, cli.read_only)
                }
            },
            Err(code) => code,
        },
        Some(Command::Runs { json }) => {
            crate::ghcli::runs_command(cli.config.as_deref(), json).await
        }
        Some(Command::Dispatch {
            git_ref,
            inputs,
            watch,
            deploy,
            yes,
            json,
        }) => {
            let args = crate::ghcli::DispatchArgs {
                git_ref,
                inputs,
                watch: watch || deploy,
                deploy,
                yes,
                json,
            };
            crate::ghcli::dispatch_command(cli.config.as_deref(), cli.read_only, args).await
        }
        Some(Command::Watch {
            interval,
            once,
            json,
        }) => match load_config(cli.config.as_deref()) {
            Ok(l) => {
                crate::watch::watch_command(
                    l.config,
                    crate::watch::WatchArgs {
                        interval_s: interval,
                        once,
                        json,
                        read_only: cli.read_only,
                    },
                )
                .await
            }
            Err(code) => code,
        },
        Some(Command::Logs {
            service,
            follow,
            since,
            grep,
            tail,
            json,
        }) => match load_config(cli.config.as_deref()) {
            Ok(l) => {
                crate::logs_cmd::logs_command(
                    &l.config,
                    crate::logs_cmd::LogsArgs {
                        service,
                        follow,
                        since,
                        grep,
                        tail,
                        json,
                    },
                )
                .await
            }
            Err(code) => code,
        },
        Some(Command::Tags { json }) => {
            crate::ghcli::tags_command(cli.config.as_deref(), json).await
        }
        Some(Command::Completions { shell }) => print_generated(|out| {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "elt-console", out);
            Ok(())
        }),
        Some(Command::Man { dir: None }) => print_generated(|out| {
            use clap::CommandFactory;
            // As generate_to does: `help` gets no page, so the top page must not point at one.
            clap_mangen::Man::new(Cli::command().disable_help_subcommand(true)).render(out)
        }),
        Some(Command::Man { dir: Some(dir) }) => {
            use clap::CommandFactory;
            match std::fs::create_dir_all(&dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), &dir))
            {
                Ok(()) => {
                    println!("man pages written to {}", dir.display());
                    0
                }
                Err(e) => {
                    eprintln!(
                        "elt-console: cannot write man pages to {}: {e}",
                        dir.display()
                    );
                    EXIT_INTERNAL
                }
            }
        }
        None => {
            use std::io::IsTerminal;
            if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                eprintln!(
                    "elt-console: the dashboard needs a terminal; for scripts use `elt-console status [--json]`"
                );
                return EXIT_USAGE;
            }
            let loaded = match load_config(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return code,
            };
            match crate::ui::run(loaded, cli.read_only, cli.config.clone()).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("elt-console: {e:#}");
                    EXIT_INTERNAL
                }
            }
        }
    }
}

async fn deploy_or_rollback(
    cli: &Cli,
    kind: DeployKind,
    tag: Option<String>,
    previous: bool,
    opts: DeployOpts,
    force: bool,
) -> i32 {
    let loaded = match load_config(cli.config.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    deploy_command::deploy_command(
        loaded.config,
        deploy_command::DeployArgs {
            kind,
            tag,
            previous,
            yes: opts.yes,
            dry_run: opts.dry_run,
            force,
            json: opts.json,
            read_only: cli.read_only,
        },
    )
    .await
}

/// `config show --json`: every leaf key (dotted, `[i]` for array tables) with its value and
/// origin. The config holds no secret values, only where to find them (an env var name, a
/// file path; config validation refuses credentials in URLs), and the token shows its source.
pub fn config_json(loaded: &LoadedConfig, token: Result<String, String>) -> serde_json::Value {
    let value = toml::Value::try_from(&loaded.config)
        .unwrap_or_else(|_| toml::Value::Table(toml::Table::new()));
    let mut keys = Vec::new();
    flatten_config(&value, "", loaded, &mut keys);
    serde_json::json!({
        "files": loaded.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "keys": keys,
        "github_token": match token {
            Ok(source) => serde_json::json!({ "source": source, "error": null }),
            Err(e) => serde_json::json!({ "source": null, "error": e }),
        },
        "github_route": crate::sources::github::route_note(&loaded.config.github),
    })
}

fn flatten_config(
    v: &toml::Value,
    path: &str,
    loaded: &LoadedConfig,
    out: &mut Vec<serde_json::Value>,
) {
    let table_array = |v: &toml::Value| matches!(v, toml::Value::Array(a) if !a.is_empty() && a.iter().all(toml::Value::is_table));
    match v {
        toml::Value::Table(t) => {
            for (k, sub) in t {
                let full = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten_config(sub, &full, loaded, out);
            }
        }
        toml::Value::Array(items) if table_array(v) => {
            for (i, item) in items.iter().enumerate() {
                flatten_config(item, &format!("{path}[{i}]"), loaded, out);
            }
        }
        leaf => out.push(serde_json::json!({
            "key": path,
            "value": serde_json::to_value(leaf).unwrap_or_default(),
            "origin": config::origin_of(&loaded.origins, path).to_string(),
        })),
    }
}

fn print_json_value(v: &serde_json::Value) -> i32 {
    match serde_json::to_string_pretty(v) {
        Ok(text) => print_generated(|out| {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
            Ok(())
        }),
        Err(e) => {
            eprintln!("elt-console: cannot encode JSON: {e}");
            EXIT_INTERNAL
        }
    }
}

/// Generate into memory, then write once: a failed write (closed pipe, full disk) becomes an
/// error message and exit code instead of a panic inside the generator.
fn print_generated(generate: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> i32 {
    use std::io::Write;
    let mut buf = Vec::new();
    let written = generate(&mut buf).and_then(|()| {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&buf)?;
        stdout.flush()
    });
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("elt-console: cannot write output: {e}");
            EXIT_INTERNAL
        }
    }
}

async fn status_command(explicit: Option<&std::path::Path>, json: bool) -> i32 {
    let loaded = match config::load(&Sources::standard(explicit)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("elt-console: config error: {e}");
            // Scripts parse stdout: they get an answer in the documented shape, not nothing.
            if json {
                println!("{}", status::config_error_json(&e.to_string(), Utc::now()));
            }
            return EXIT_CONFIG;
        }
    };
    let report = status::collect(&loaded.config).await;
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("elt-console: cannot encode status: {e}");
                return EXIT_INTERNAL;
            }
        }
    } else {
        print!("{}", render_status(&report, Utc::now()));
    }
    report.exit_code
}

/// Binary units, one decimal: the CLI's sizes (`tags`, `status`).
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn short_sha(s: &str) -> &str {
    s.get(..7).unwrap_or(s)
}

/// Render rows as left-aligned columns sized to their widest cell.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c:<w$}  ", w = widths[i]);
            }
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(
        out,
        "{}",
        line(header.iter().map(|s| s.to_string()).collect())
    );
    for row in rows {
        let _ = writeln!(out, "{}", line(row.clone()));
    }
}

fn section_head<T>(out: &mut String, title: &str, section: &Section<T>, extra: &str) {
    let _ = writeln!(out, "\n{title}{extra}  ({} ms)", section.elapsed_ms());
    if let Some(e) = section.error() {
        let _ = writeln!(out, "  error: {e}");
    }
}

pub fn render_status(r: &StatusReport, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "elt-console status: project {} at {}",
        r.project,
        r.generated_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let overall = match r.overall {
        status::Overall::Healthy => "healthy",
        status::Overall::AppDown => "APP DOWN",
        status::Overall::Degraded => "degraded (a source could not be read)",
        status::Overall::Unknown => "unknown (Docker engine not readable)",
    };
    let _ = writeln!(out, "overall: {overall} (exit {})", r.exit_code);
    for reason in &r.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    for s in &r.services {
        let _ = writeln!(
            out,
            "running: {} = {} (rev {})",
            s.service,
            s.image.as_deref().unwrap_or("-"),
            s.revision.as_deref().map(short_sha).unwrap_or("-")
        );
    }

    section_head(&mut out, "CONTAINERS", &r.containers, "");
    if let Some(list) = r.containers.data() {
        if list.is_empty() {
            let _ = writeln!(out, "  no containers in project {}", r.project);
        } else {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|c| {
                    let state = match (c.state, c.exit_code) {
                        (ContainerState::Exited, Some(code)) => format!("exited({code})"),
                        (s, _) => serde_json::to_value(s)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                    };
                    let health = match c.health {
                        HealthState::Healthy => "healthy",
                        HealthState::Unhealthy => "UNHEALTHY",
                        HealthState::Starting => "starting",
                        HealthState::None => "-",
                    };
                    let tag = crate::domain::ImageRef::parse(&c.image)
                        .ok()
                        .and_then(|i| i.tag.map(|t| t.to_string()))
                        .unwrap_or_else(|| c.image.clone());
                    let uptime = match (c.state, c.started_at) {
                        (ContainerState::Running, Some(t)) => age(t, now),
                        _ => "-".into(),
                    };
                    vec![
                        format!("{}{}", c.service, if c.oneoff { " (run)" } else { "" }),
                        c.name.clone(),
                        state,
                        health.into(),
                        tag,
                        c.revision.as_deref().map(short_sha).unwrap_or("-").into(),
                        uptime,
                        c.restarts.to_string(),
                    ]
                })
                .collect();
            table(
                &mut out,
                &[
                    "SERVICE", "NAME", "STATE", "HEALTH", "TAG", "REV", "UP", "RESTARTS",
                ],
                &rows,
            );
        }
    }

    section_head(&mut out, "HEALTH", &r.health, "");
    if let Some(list) = r.health.data() {
        if list.is_empty() {
            let _ = writeln!(out, "  no endpoints configured");
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|h| {
                vec![
                    h.name.clone(),
                    h.status.map_or("-".into(), |s| s.to_string()),
                    format!("{} ms", h.latency_ms),
                    if h.ok { "ok".into() } else { "FAIL".into() },
                    match (&h.error, &h.version) {
                        (Some(e), _) => e.clone(),
                        (None, Some(v)) => format!("version {v}"),
                        (None, None) => String::new(),
                    },
                    h.url.clone(),
                ]
            })
            .collect();
        if !rows.is_empty() {
            table(
                &mut out,
                &["NAME", "HTTP", "LATENCY", "RESULT", "DETAIL", "URL"],
                &rows,
            );
        }
    }

    section_head(&mut out, "GPU", &r.gpu, "");
    match r.gpu.data() {
        Some(GpuStatus::Unavailable { reason }) => {
            let _ = writeln!(out, "  unavailable: {reason}");
        }
        Some(GpuStatus::Available {
            devices,
            driver_version,
            ..
        }) => {
            if let Some(v) = driver_version {
                let _ = writeln!(out, "  driver {v}");
            }
            let rows: Vec<Vec<String>> = devices
                .iter()
                .map(|d| {
                    vec![
                        d.index.to_string(),
                        d.name.clone(),
                        d.utilization_pct.map_or("-".into(), |u| format!("{u}%")),
                        match (d.memory_used_bytes, d.memory_total_bytes) {
                            (Some(u), Some(t)) => format!("{} / {}", bytes(u), bytes(t)),
                            _ => "-".into(),
                        },
                        d.temperature_c.map_or("-".into(), |t| format!("{t}°C")),
                        match (d.power_mw, d.power_limit_mw) {
                            (Some(p), Some(l)) => format!("{} / {} W", p / 1000, l / 1000),
                            (Some(p), None) => format!("{} W", p / 1000),
                            _ => "-".into(),
                        },
                    ]
                })
                .collect();
            table(
                &mut out,
                &["GPU", "NAME", "UTIL", "VRAM", "TEMP", "POWER"],
                &rows,
            );
            for d in devices {
                for p in &d.processes {
                    let _ = writeln!(
                        out,
                        "  gpu {} pid {} {} {}",
                        d.index,
                        p.pid,
                        p.used_bytes.map_or("-".into(), bytes),
                        p.container
                            .as_deref()
                            .unwrap_or("(not in a project container)")
                    );
                }
            }
        }
        None => {}
    }

    section_head(&mut out, "TAGS", &r.tags, "");
    if let Some(repos) = r.tags.data() {
        for repo in repos {
            let _ = writeln!(
                out,
                "  {} ({} of {} described{})",
                repo.repository,
                repo.tags.len(),
                crate::format::count(repo.total, "tag", "tags"),
                if repo.truncated {
                    ", more not shown"
                } else {
                    ""
                }
            );
            for line in [&repo.error, &repo.note].into_iter().flatten() {
                let _ = writeln!(out, "  {line}");
            }
            let rows: Vec<Vec<String>> = repo
                .tags
                .iter()
                .map(|t| {
                    vec![
                        format!("{}{}", if t.running { "* " } else { "  " }, t.tag),
                        t.revision
                            .as_ref()
                            .map_or("-".into(), |s| s.short().to_string()),
                        t.created
                            .map_or("-".into(), |c| format!("{} ago", age(c, now))),
                        t.size_bytes.map_or("-".into(), bytes),
                        t.ci.clone().unwrap_or_else(|| "-".into()),
                        t.digest.as_ref().map_or_else(
                            || t.error.clone().unwrap_or_default(),
                            |d| d.short().to_string(),
                        ),
                    ]
                })
                .collect();
            table(
                &mut out,
                &["  TAG", "SHA", "CREATED", "SIZE", "CI", "DIGEST"],
                &rows,
            );
        }
        let _ = writeln!(out, "  (* = running now)");
    }

    let runs_extra = r
        .runs
        .data()
        .map(|s| {
            let rate = match (s.rate_limit.remaining, s.rate_limit.limit) {
                (Some(rem), Some(lim)) => format!(
                    "; budget {rem}/{lim}{}",
                    s.rate_limit
                        .reset
                        .map(|t| format!(", {}", crate::format::rate_reset(t, now)))
                        .unwrap_or_default()
                ),
                _ => String::new(),
            };
            let via = s
                .proxy
                .as_ref()
                .map(|p| format!("; via proxy {p}"))
                .unwrap_or_default();
            format!(
                "  {} in {} (token: {}{rate}{via})",
                s.workflow, s.repository, s.token
            )
        })
        .unwrap_or_default();
    section_head(&mut out, "RUNS", &r.runs, &runs_extra);
    if let Some(s) = r.runs.data() {
        let rows: Vec<Vec<String>> = s
            .runs
            .iter()
            .map(|run| {
                vec![
                    format!("#{}", run.number),
                    run.conclusion.clone().unwrap_or_else(|| run.status.clone()),
                    run.branch.clone().unwrap_or_default(),
                    run.short_sha().to_string(),
                    run.event.clone(),
                    format!("{}s", run.duration_secs()),
                    format!("{} ago", age(run.created_at, now)),
                    run.title
                        .clone()
                        .unwrap_or_default()
                        .chars()
                        .take(50)
                        .collect(),
                ]
            })
            .collect();
        if rows.is_empty() {
            let _ = writeln!(out, "  no runs");
        } else {
            table(
                &mut out,
                &[
                    "RUN", "RESULT", "BRANCH", "SHA", "EVENT", "TOOK", "AGE", "TITLE",
                ],
                &rows,
            );
        }
    }
    out
}
