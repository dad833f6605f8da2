//! The dashboard's work for several hosts, off the loop: the overview's periodic probe of every
//! host (each on its own, with a deadline, so a dead host holds back no other), and the shown
//! host's collectors (the same ones the single-host dashboard runs, given that host's config:
//! its engine, store, lock and health), restarted on each switch.

use super::msg::Msg;
use crate::collect::{self, Handles, Update};
use crate::config::{Config, HostConfig};
use crate::domain::GpuStatus;
use crate::hosts::link::GpuSource;
use crate::hosts::link::HostLink;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// How often the overview probes every host when nothing asks sooner.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// How long one host's probe may take before the overview calls it down: the engine's own
/// request timeout (twice: ssh's connect, then the reads) and the remote GPU read's own
/// margin (hosts::remote_gpu gives nvidia-smi 10 s past the connect).
pub fn probe_deadline(base: &Config) -> Duration {
    Duration::from_millis(base.docker.request_timeout_ms).saturating_mul(2)
        + Duration::from_secs(12)
}

/// The shortest gap between two reads of an ssh host's GPUs (each is an ssh command).
const REMOTE_GPU_MIN_INTERVAL: Duration = Duration::from_secs(5);

/// GitHub's runs and the registry's tags for every host's probe, read again at most every
/// `ui.github_interval_unauthenticated_s`: the same for every host, and GitHub's hourly
/// allowance would not last a probe per host every 10 s.
#[derive(Default)]
pub struct SharedCache {
    last: tokio::sync::Mutex<Option<(std::time::Instant, collect::status::SharedSources)>>,
}

impl SharedCache {
    pub async fn get(&self, base: &Config) -> collect::status::SharedSources {
        let fresh_for = Duration::from_secs(base.ui.github_interval_unauthenticated_s);
        // Held across the read: the first probes wait for one read instead of each making one.
        let mut last = self.last.lock().await;
        if let Some((at, shared)) = last.as_ref()
            && at.elapsed() < fresh_for
        {
            return shared.clone();
        }
        let shared = collect::status::read_shared(base).await;
        *last = Some((std::time::Instant::now(), shared.clone()));
        shared
    }
}

/// Probe every host, each on its own beat: probe (within the deadline), report, wait
/// `PROBE_INTERVAL` or a poke, again. A host that hangs delays only its own row.
pub async fn probe_task(
    base: Arc<Config>,
    tx: mpsc::Sender<Msg>,
    poke: Arc<Notify>,
    cancel: CancellationToken,
) {
    let shared = Arc::new(SharedCache::default());
    let loops = base.hosts.iter().map(|host| {
        probe_loop(
            base.clone(),
            shared.clone(),
            host.clone(),
            tx.clone(),
            poke.clone(),
            cancel.clone(),
        )
    });
    futures_util::future::join_all(loops).await;
}

async fn probe_loop(
    base: Arc<Config>,
    shared: Arc<SharedCache>,
    host: HostConfig,
    tx: mpsc::Sender<Msg>,
    poke: Arc<Notify>,
    cancel: CancellationToken,
) {
    let deadline = probe_deadline(&base);
    loop {
        let shared = shared.get(&base).await;
        let probe = tokio::time::timeout(
            deadline,
            crate::hosts::overview::host_status(&base, &host, Some(shared)),
        );
        let msg = tokio::select! {
            _ = cancel.cancelled() => return,
            answer = probe => match answer {
                Ok(status) => Msg::HostProbed(Box::new(status)),
                Err(_) => Msg::HostProbeFailed {
                    name: host.name.clone(),
                    error: format!("no answer within {} s (probe timeout)", deadline.as_secs()),
                },
            },
        };
        if tx.send(msg).await.is_err() {
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(PROBE_INTERVAL) => {}
            _ = poke.notified() => {}
        }
    }
}

/// A process in a container the last container list did not know (yet).
fn has_unnamed_process(gpu: &GpuStatus) -> bool {
    matches!(gpu, GpuStatus::Available { devices, .. } if devices
        .iter()
        .flat_map(|d| &d.processes)
        .any(|p| p.container_id.is_some() && p.container.is_none()))
}

/// The shown host's collectors, as the loop's effects need them.
pub struct HostSessions {
    base: Arc<Config>,
    root: CancellationToken,
    current: Option<CancellationToken>,
    generation: u64,
    ready_tx: mpsc::UnboundedSender<Ready>,
    ready_rx: mpsc::UnboundedReceiver<Ready>,
    /// The shown host's collectors' handles, once its engine is reached.
    handles: Option<Handles>,
    /// The shown host, and its config (its store, state dir and lock; the engine address
    /// that matters to deploys is the host's own endpoint: they reach it themselves).
    pub shown: Option<(HostConfig, Arc<Config>)>,
    pub probe_poke: Arc<Notify>,
}

/// A host's collectors started (sent before any of their updates, so the handles are in
/// place when an update's effect needs them).
struct Ready {
    generation: u64,
    handles: Handles,
}

impl HostSessions {
    pub fn new(base: Arc<Config>, root: CancellationToken) -> Self {
        let (ready_tx, ready_rx) = mpsc::unbounded_channel();
        Self {
            base,
            root,
            current: None,
            generation: 0,
            ready_tx,
            ready_rx,
            handles: None,
            shown: None,
            probe_poke: Arc::new(Notify::new()),
        }
    }

    /// Stop the last host's collectors and start `name`'s, under `generation`.
    pub fn switch(&mut self, name: &str, generation: u64, tx: &mpsc::Sender<Msg>) {
        let Some(host) = self.base.hosts.iter().find(|h| h.name == name).cloned() else {
            return;
        };
        if let Some(old) = self.current.take() {
            old.cancel();
        }
        self.handles = None;
        self.generation = generation;
        let cancel = self.root.child_token();
        self.current = Some(cancel.clone());
        // Deploys and audits need the host's state dir only, which its endpoint does not
        // change (an ssh:// host's bridge socket is the collectors' own).
        let config = Arc::new(crate::hosts::host_config(&self.base, &host, &host.endpoint));
        self.shown = Some((host.clone(), config));
        tokio::spawn(session(
            self.base.clone(),
            host,
            generation,
            tx.clone(),
            self.ready_tx.clone(),
            cancel,
        ));
    }

    /// The shown host's collectors' handles, if its engine has been reached.
    pub fn handles(&mut self) -> Option<&Handles> {
        while let Ok(ready) = self.ready_rx.try_recv() {
            if ready.generation == self.generation {
                self.handles = Some(ready.handles);
            }
        }
        self.handles.as_ref()
    }
}

/// Read an ssh host's GPUs every `interval` until cancelled.
async fn remote_gpu_task(
    ssh: crate::hosts::ssh::SshOptions,
    gpu_command: String,
    interval: Duration,
    tx: mpsc::Sender<GpuStatus>,
    cancel: CancellationToken,
) {
    loop {
        let sample = tokio::select! {
            _ = cancel.cancelled() => return,
            s = crate::hosts::remote_gpu::sample(&ssh, &gpu_command) => s,
        };
        if tx.send(sample).await.is_err() {
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// One host's collectors: reach its engine (an ssh:// host's bridge lives as long as this
/// task), start them with its config, forward what they report under `generation`.
async fn session(
    base: Arc<Config>,
    host: HostConfig,
    generation: u64,
    tx: mpsc::Sender<Msg>,
    ready: mpsc::UnboundedSender<Ready>,
    cancel: CancellationToken,
) {
    let timeout = Duration::from_millis(base.docker.request_timeout_ms);
    let link = tokio::select! {
        _ = cancel.cancelled() => return,
        link = HostLink::open(&host, timeout) => link,
    };
    let link = match link {
        Ok(l) => l,
        Err(e) => {
            let update = Update::Docker(crate::domain::ContainersUpdate::Error(e.to_string()));
            let _ = tx.send(Msg::HostUpdate { generation, update }).await;
            return;
        }
    };
    let config = Arc::new(link.config(&base, &host));
    let (updates_tx, mut updates) = mpsc::channel::<Update>(256);
    let (remote_gpu_tx, mut remote_gpu) = mpsc::channel::<GpuStatus>(1);
    let gpu_source = GpuSource::of(&host, &link);
    if let GpuSource::Ssh(ssh) = &gpu_source {
        let interval =
            Duration::from_millis(config.gpu.sample_interval_ms).max(REMOTE_GPU_MIN_INTERVAL);
        tokio::spawn(remote_gpu_task(
            ssh.clone(),
            host.gpu_command.clone(),
            interval,
            remote_gpu_tx,
            cancel.child_token(),
        ));
    }
    let (handles, _tasks) = collect::spawn_all(config, updates_tx, &cancel);
    if ready
        .send(Ready {
            generation,
            handles,
        })
        .is_err()
    {
        return;
    }
    // The host's containers, to put each remote GPU process on its container.
    let mut containers: Vec<crate::domain::ContainerView> = Vec::new();
    // The last remote sample, named again when the container list arrives after it (the
    // first sample usually does), instead of showing its processes unnamed until the next.
    let mut last_remote: Option<GpuStatus> = None;
    loop {
        let update = tokio::select! {
            _ = cancel.cancelled() => break,
            Some(mut gpu) = remote_gpu.recv() => {
                crate::collect::status::name_gpu_processes(&containers, &mut gpu);
                last_remote = Some(gpu.clone());
                Update::Gpu(gpu)
            }
            u = updates.recv() => match u {
                None => break,
                Some(Update::Docker(crate::domain::ContainersUpdate::Containers(list))) => {
                    containers.clone_from(&list);
                    if let Some(mut gpu) = last_remote.take_if(|g| has_unnamed_process(g)) {
                        crate::collect::status::name_gpu_processes(&containers, &mut gpu);
                        let update = Update::Gpu(gpu.clone());
                        last_remote = Some(gpu);
                        if tx.send(Msg::HostUpdate { generation, update }).await.is_err() {
                            break;
                        }
                    }
                    Update::Docker(crate::domain::ContainersUpdate::Containers(list))
                }
                // NVML reads the GPUs of the machine the console runs on, not this host's.
                Some(Update::Gpu(local)) => match &gpu_source {
                    GpuSource::Local => Update::Gpu(local),
                    // The remote task's samples stand in for them.
                    GpuSource::Ssh(_) => continue,
                    GpuSource::Unknown => Update::Gpu(GpuSource::unknown(&host)),
                },
                Some(u) => u,
            },
        };
        if tx
            .send(Msg::HostUpdate { generation, update })
            .await
            .is_err()
        {
            break;
        }
    }
    drop(link);
}
