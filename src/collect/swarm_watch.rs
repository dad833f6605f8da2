//! The dashboard's Swarm collector: the stack (services, tasks, nodes) read from the manager
//! on a beat (a task's logs are followed in logs.rs, beside a container's).

use super::periodic::sleep_or_cancel;
use super::update::Update;
use crate::config::Config;
use crate::swarm::SwarmSource;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often the stack is read again. Swarm has no event stream for a task's progress that
/// a manager keeps for us, and a stack's read is a few small API calls.
pub const STACK_EVERY: Duration = Duration::from_secs(2);

/// Read the deployment's stack every `STACK_EVERY` until cancelled, one read at a time, and
/// report each read (or why it failed: the panel keeps the last good one). A manager that
/// cannot be reached is connected to again at the next beat.
pub async fn swarm_stack_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Update>,
    cancel: CancellationToken,
) {
    let mut swarm: Option<SwarmSource> = None;
    loop {
        let read = async {
            let source = match &swarm {
                Some(s) => s.clone(),
                None => {
                    let s = SwarmSource::connect_config(&config.docker).await?;
                    swarm = Some(s.clone());
                    s
                }
            };
            source.stack(&config.deployment.stack).await
        };
        let read = tokio::select! {
            _ = cancel.cancelled() => return,
            r = read => r,
        };
        if read.is_err() {
            // The next read connects afresh (the manager may have restarted elsewhere).
            swarm = None;
        }
        let msg = Update::Swarm(Box::new(read.map_err(|e| e.to_string())));
        if tx.send(msg).await.is_err() || !sleep_or_cancel(STACK_EVERY, &cancel).await {
            return;
        }
    }
}
