//! The headless commands and their output, human or `--json`: the command line (clap), and
//! one module per command family. Nothing outside `cli/` imports it (main.rs excepted).

mod common;
mod config_cmd;
mod dispatch;
mod github;
mod history;
mod hosts_cmd;
mod lock;
mod logs;
mod status_cmd;

pub use common::{bytes, load_config};
pub use config_cmd::{ConfigAction, config_json};
pub use github::{render_jobs, render_runs, render_tags};
pub use logs::parse_since;
pub use status_cmd::render_status;

use crate::deploy::command as deploy_command;
use crate::exit_code::{INTERNAL as EXIT_INTERNAL, USAGE as EXIT_USAGE};
use crate::store::DeployKind;
use clap::{Parser, Subcommand};
use common::print_generated;
use std::path::PathBuf;

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
    #[command(args_conflicts_with_subcommands = true)]
    Deploy {
        #[command(subcommand)]
        follow: Option<DeployFollow>,
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
        /// With [[hosts]]: only these (`all`, a label value or names); every host's history
        /// is merged by default.
        #[arg(long = "hosts", value_name = "all|LABEL|NAME", num_args = 1..)]
        hosts: Vec<String>,
    },
    /// The deploy lock: who holds it, or release a stale one.
    Lock {
        #[command(subcommand)]
        action: LockAction,
    },
    /// Every configured host (`[[hosts]]`): engine reachable or down since when, app state,
    /// running tag and commit, GPU, health. Exit code: the worst host's, as `status`.
    Hosts {
        #[command(subcommand)]
        action: Option<HostsAction>,
        #[arg(long)]
        json: bool,
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
    /// Move only this service (repeat for several); the others keep running untouched.
    /// Default: every service of deployment.services.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
    /// Run it in the background in a session of its own (needs --yes), print its deployment
    /// id and return; `elt-console deploy wait ID` follows it from any shell.
    #[arg(long, conflicts_with = "dry_run")]
    pub detach: bool,
    /// Roll across [[hosts]], host by host (canaries first), stopping at the first failure:
    /// `all`, a label value (e.g. `canary`) or host names (repeat or comma-separate).
    #[arg(long = "hosts", value_name = "all|LABEL|NAME", num_args = 1.., conflicts_with = "detach")]
    pub hosts: Vec<String>,
}

/// Follow a deployment started elsewhere (`--detach`, the dashboard, another shell).
#[derive(Debug, Subcommand)]
pub enum DeployFollow {
    /// Print its steps as they end, then exit with the deploy's own exit code.
    #[command(visible_alias = "attach")]
    Wait {
        /// The deployment id (`deploy --detach` prints it; `history` lists them).
        id: i64,
        /// JSON lines (started, step, finished) instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HostsAction {
    /// Print the docker CLI's contexts as [[hosts]] tables to paste into the config (names,
    /// endpoints and TLS folders only; nothing is written).
    ImportContexts,
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

pub async fn run(mut cli: Cli) -> i32 {
    match cli.command.take() {
        Some(Command::Config { action }) => {
            config_cmd::config_command(cli.config.as_deref(), action).await
        }
        Some(Command::Status { json }) => {
            status_cmd::status_command(cli.config.as_deref(), json).await
        }
        Some(Command::Deploy {
            follow: Some(DeployFollow::Wait { id, json }),
            ..
        }) => match load_config(cli.config.as_deref()) {
            Ok(l) => crate::deploy_detach::wait_command(&l.config, id, json).await,
            Err(code) => code,
        },
        Some(Command::Deploy {
            tag, opts, force, ..
        }) => deploy_or_rollback(&cli, DeployKind::Deploy, tag, false, opts, force).await,
        Some(Command::Rollback {
            tag,
            previous,
            opts,
        }) => deploy_or_rollback(&cli, DeployKind::Rollback, tag, previous, opts, false).await,
        Some(Command::History { json, limit, hosts }) => match load_config(cli.config.as_deref()) {
            Ok(l) if !l.config.hosts.is_empty() || !hosts.is_empty() => {
                hosts_cmd::history_command(&l.config, &hosts, json, limit)
            }
            Ok(l) => history::history_command(&l.config, json, limit),
            Err(code) => code,
        },
        Some(Command::Lock { action }) => match load_config(cli.config.as_deref()) {
            Ok(l) => match &action {
                LockAction::Status { json } => lock::lock_status_command(&l.config, *json).await,
                LockAction::Release { force } => {
                    lock::lock_release_command(&l.config, *force, cli.read_only).await
                }
            },
            Err(code) => code,
        },
        Some(Command::Hosts {
            action: Some(HostsAction::ImportContexts),
            ..
        }) => crate::hosts::contexts::import_command().await,
        Some(Command::Hosts { action: None, json }) => match load_config(cli.config.as_deref()) {
            Ok(l) => hosts_cmd::hosts_command(&l.config, json).await,
            Err(code) => code,
        },
        Some(Command::Runs { json }) => github::runs_command(cli.config.as_deref(), json).await,
        Some(Command::Dispatch {
            git_ref,
            inputs,
            watch,
            deploy,
            yes,
            json,
        }) => {
            let args = dispatch::DispatchArgs {
                git_ref,
                inputs,
                watch: watch || deploy,
                deploy,
                yes,
                json,
            };
            dispatch::dispatch_command(cli.config.as_deref(), cli.read_only, args).await
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
                logs::logs_command(
                    &l.config,
                    logs::LogsArgs {
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
        Some(Command::Tags { json }) => github::tags_command(cli.config.as_deref(), json).await,
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
    let mut loaded = match load_config(cli.config.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if let Err(e) = crate::deploy::select_services(&mut loaded.config, &opts.services) {
        eprintln!("elt-console: {}: {e}", kind.as_str());
        return EXIT_USAGE;
    }
    let args = deploy_command::DeployArgs {
        kind,
        tag: tag.clone(),
        previous,
        yes: opts.yes,
        dry_run: opts.dry_run,
        force,
        json: opts.json,
        read_only: cli.read_only,
    };
    if !opts.hosts.is_empty() {
        return match crate::hosts::select(&loaded.config, &opts.hosts) {
            Ok(hosts) => crate::hosts::roll::roll(&loaded.config, &hosts, args).await,
            Err(e) => {
                eprintln!("elt-console: {}: {e}", kind.as_str());
                EXIT_USAGE
            }
        };
    }
    if opts.detach {
        let detach = crate::deploy_detach::DetachArgs {
            kind,
            tag,
            previous,
            yes: opts.yes,
            force,
            json: opts.json,
            read_only: cli.read_only,
            explicit_config: cli.config.clone(),
            services: opts.services.clone(),
        };
        return crate::deploy_detach::detach_command(&loaded.config, detach).await;
    }
    deploy_command::deploy_command(loaded.config, args).await
}
