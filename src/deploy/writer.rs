//! The recorder on a thread of its own, so a slow store never slows the deploy.
//!
//! The soak found it (issue 16, `sqlite-lock:downtime`): written in line, each event waited
//! out SQLite's busy timeout while another process held the store, and a stall between the
//! recreate and the first health poll was counted as the users' downtime. Now `emit` only
//! queues the event; this thread writes the queue in order, through its own connection. The
//! final record is the one write the engine waits for (and retries): it is queued behind
//! every earlier event, so when it is answered the history is complete up to it. Dropping
//! the link waits for the queue to drain, so a deploy that returns has written everything.

use super::recorder::Recorder;
use super::types::{DeployEvent, Outcome};
use crate::domain::Actor;
use crate::store::{Store, StoreError};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

enum Job {
    Event(Box<DeployEvent>),
    Final(Box<Outcome>, oneshot::Sender<Result<(), StoreError>>),
}

/// The engine's end of the recorder thread.
pub(crate) struct RecorderLink {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl RecorderLink {
    /// Start the thread; it opens its own connection to the store in `state_dir` (the file
    /// the engine's store uses).
    pub(crate) fn start(actor: Actor, state_dir: PathBuf) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let recorder = Recorder::new(actor);
        let thread = std::thread::Builder::new()
            .name("deploy-recorder".into())
            .spawn(move || write_jobs(&recorder, &state_dir, rx));
        match thread {
            Ok(handle) => Self {
                jobs: Some(tx),
                thread: Some(handle),
            },
            Err(e) => {
                // Without a thread nothing can be recorded; the final record then fails and
                // the deploy says so (`record` step failed) instead of claiming a history.
                tracing::warn!("cannot start the deploy recorder: {e}");
                Self {
                    jobs: None,
                    thread: None,
                }
            }
        }
    }

    pub(crate) fn record(&self, event: DeployEvent) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job::Event(Box::new(event)));
        }
    }

    /// The deployment's final record, after everything queued before it.
    pub(crate) async fn record_final(&self, outcome: &Outcome) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .jobs
            .as_ref()
            .map(|jobs| jobs.send(Job::Final(Box::new(outcome.clone()), tx)).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(StoreError::Unavailable(
                "the deploy recorder is not running",
            ));
        }
        rx.await
            .unwrap_or(Err(StoreError::Unavailable("the deploy recorder stopped")))
    }
}

impl Drop for RecorderLink {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has written what was queued.
        self.jobs.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the deploy recorder thread panicked");
        }
    }
}

fn write_jobs(recorder: &Recorder, state_dir: &std::path::Path, jobs: mpsc::Receiver<Job>) {
    let mut store: Option<Store> = None;
    for job in jobs {
        // Opened on first use and again after a failed open: a full disk may pass.
        if store.is_none() {
            match Store::open(state_dir) {
                Ok(s) => store = Some(s),
                Err(e) => {
                    tracing::warn!("deploy recorder: {e}");
                    if let Job::Final(_, reply) = job {
                        let _ = reply.send(Err(e));
                    }
                    continue;
                }
            }
        }
        let Some(store) = store.as_ref() else {
            continue;
        };
        match job {
            Job::Event(event) => recorder.record(store, &event),
            Job::Final(outcome, reply) => {
                let _ = reply.send(recorder.record_final(store, &outcome));
            }
        }
    }
}
