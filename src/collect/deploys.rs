//! The dashboard's reader of the deploy store.

use super::periodic::on_the_beat;
use super::update::Update;
use crate::config::Config;
use crate::domain::DeploySnapshot;
use crate::store::StoreError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// Read the deploy store: twice a second while a deploy runs (from any operator), every
/// 2 s otherwise. A store that does not exist yet is an empty history, not created here.
pub(super) async fn deploys_task(
    config: Arc<Config>,
    tx: mpsc::Sender<Update>,
    poke: Arc<Notify>,
    cancel: CancellationToken,
) {
    let dir = crate::deploy::state_dir(&config);
    let stale_after = crate::deploy::lock_stale_after(&config);
    let mut reader = DeployReader {
        store: None,
        seen: None,
    };
    loop {
        let (snapshot, back) = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || {
                let snapshot = reader.read(&dir, stale_after);
                (snapshot, reader)
            })
            .await
            .unwrap_or_else(|e| {
                (
                    Some(Err(ReadError::Reader(e))),
                    DeployReader {
                        store: None,
                        seen: None,
                    },
                )
            })
        };
        reader = back;
        if let Some(snapshot) = snapshot
            // The panel shows the failure's text.
            && tx
                .send(Update::Deploys(Box::new(snapshot.map_err(|e| e.to_string()))))
                .await
                .is_err()
        {
            return;
        }
        let busy = reader.seen.is_some_and(|(_, quiet)| !quiet);
        let pause = Duration::from_millis(if busy { 500 } else { 2000 });
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(on_the_beat(pause)) => {}
            _ = poke.notified() => {}
        }
    }
}

/// Why the deploy store could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("deploy store reader failed: {0}")]
    Reader(tokio::task::JoinError),
}

/// The dashboard's reader of the deploy store. It re-reads only when another process has
/// committed since (SQLite's data_version), or while a deploy or lock is active (a dead
/// holder turns stale without any write).
struct DeployReader {
    store: Option<crate::store::Store>,
    /// (data_version, quiet: no deploy running and the lock free) at the last read.
    seen: Option<(i64, bool)>,
}

impl DeployReader {
    fn read(
        &mut self,
        dir: &std::path::Path,
        stale_after: Duration,
    ) -> Option<Result<DeploySnapshot, ReadError>> {
        if self.store.is_none() {
            if !dir.join(crate::store::STORE_FILE).exists() {
                let first = self.seen.is_none();
                self.seen = Some((0, true));
                return first.then(|| Ok(DeploySnapshot::empty()));
            }
            match crate::store::Store::open(dir) {
                Ok(s) => self.store = Some(s),
                Err(e) => return Some(Err(e.into())),
            }
        }
        let store = self.store.as_ref()?;
        let result = (|| -> Result<_, StoreError> {
            let version = store.data_version()?;
            if let Some((seen, true)) = self.seen
                && seen == version
            {
                return Ok(None);
            }
            let snapshot = DeploySnapshot {
                running: store.running_deployment()?,
                recent: store.deployments(50)?,
                lock: store.lock_state(stale_after)?,
            };
            let quiet =
                snapshot.running.is_none() && snapshot.lock == crate::store::LockState::Free;
            self.seen = Some((version, quiet));
            Ok(Some(snapshot))
        })();
        match result {
            Ok(s) => s.map(Ok),
            Err(e) => {
                self.store = None;
                self.seen = None;
                Some(Err(e.into()))
            }
        }
    }
}
