//! Collection: reading the outside systems, apart from the dashboard and the CLI that show
//! it. The dashboard's tasks each own a client, run until cancelled, and report owned domain
//! values (`Update`) over a channel; none of them knows the UI's state or drawing. The status
//! report, tag history and the GitHub pipeline (`status`, `taghistory`, `pipeline`) are the
//! one-shot reads the headless commands and these tasks share.

mod deploys;
pub mod github;
mod logs;
mod periodic;
pub mod pipeline;
pub mod status;
mod swarm_status;
mod swarm_watch;
pub mod taghistory;
pub mod update;

pub use logs::parse_engine_line;
pub use periodic::on_the_beat;
pub use swarm_watch::{STACK_EVERY, swarm_stack_task};
pub use update::Update;

use crate::config::Config;
use crate::domain::ContainersUpdate;
use crate::sources::docker::{DockerSource, DockerUpdate};
use github::GithubEffect;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

pub struct Handles {
    /// Which container's logs to follow (id, tail lines).
    pub follow: watch::Sender<Option<(String, u32)>>,
    /// Whether the GPU panel is on screen; sampling stops while it is not.
    pub gpu_visible: watch::Sender<bool>,
    /// Wake the GitHub and registry pollers now.
    pub refresh: Arc<Notify>,
    /// Read the deploy store now (a deploy was just started).
    pub deploys_poke: Arc<Notify>,
    /// Work for the GitHub task: follow a run, load the dispatch form, dispatch.
    pub github: mpsc::Sender<GithubEffect>,
}

pub fn spawn_all(
    config: Arc<Config>,
    tx: mpsc::Sender<Update>,
    cancel: &CancellationToken,
) -> (Handles, Vec<tokio::task::JoinHandle<()>>) {
    let (follow_tx, follow_rx) = watch::channel(None);
    let (gpu_tx, gpu_rx) = watch::channel(true);
    let refresh = Arc::new(Notify::new());
    let deploys_poke = Arc::new(Notify::new());
    let (github_tx, github_rx) = mpsc::channel(16);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(deploys::deploys_task(
        config.clone(),
        tx.clone(),
        deploys_poke.clone(),
        cancel.child_token(),
    )));

    if config.deployment.runtime == crate::config::RuntimeKind::Swarm {
        // A stack has no compose project to watch: its services and tasks are read instead.
        tasks.push(tokio::spawn(swarm_watch::swarm_stack_task(
            config.clone(),
            tx.clone(),
            cancel.child_token(),
        )));
    } else {
        // Docker: the event-driven watcher forwards its updates.
        let (dtx, mut drx) = mpsc::channel(16);
        let c = config.clone();
        tasks.push(tokio::spawn(DockerSource::watch(
            c.docker.host.clone(),
            c.docker.request_timeout_ms,
            c.deployment.project.clone(),
            dtx,
            cancel.child_token(),
        )));
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(u) = drx.recv().await {
                // the source's type stops here: the dashboard gets the domain's
                let u = match u {
                    DockerUpdate::Containers(list) => ContainersUpdate::Containers(list),
                    DockerUpdate::Error(e) => ContainersUpdate::Error(e.to_string()),
                };
                if tx.send(Update::Docker(u)).await.is_err() {
                    return;
                }
            }
        }));
    }
    tasks.push(tokio::spawn(periodic::health_task(
        config.clone(),
        tx.clone(),
        cancel.child_token(),
    )));
    // A stack's GPUs are its nodes' (the GPU panel shows them): this machine's NVML is not read.
    if config.deployment.runtime != crate::config::RuntimeKind::Swarm {
        tasks.push(tokio::spawn(periodic::gpu_task(
            config.clone(),
            tx.clone(),
            gpu_rx,
            cancel.child_token(),
        )));
    }
    tasks.push(tokio::spawn(github::github_task(
        config.clone(),
        tx.clone(),
        refresh.clone(),
        github_rx,
        cancel.child_token(),
    )));
    tasks.push(tokio::spawn(periodic::registry_task(
        config.clone(),
        tx.clone(),
        refresh.clone(),
        cancel.child_token(),
    )));
    tasks.push(tokio::spawn(logs::logs_task(
        config,
        tx,
        follow_rx,
        cancel.child_token(),
    )));
    (
        Handles {
            follow: follow_tx,
            gpu_visible: gpu_tx,
            refresh,
            deploys_poke,
            github: github_tx,
        },
        tasks,
    )
}
