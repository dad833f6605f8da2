//! The hosts overview's state (several hosts): each configured host with its last probe, which
//! host the dashboard shows, and the overview's selection. Plain data; hosts_ui changes it.

use crate::hosts::overview::HostStatus;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// One configured host as the overview holds it.
#[derive(Debug, Clone)]
pub struct HostEntry {
    pub name: String,
    pub endpoint: String,
    pub labels: BTreeMap<String, String>,
    /// The last probe's report, and when it came.
    pub last: Option<HostStatus>,
    pub checked_at: Option<DateTime<Utc>>,
    /// A probe that did not end in time, and since when they have not.
    pub probe_error: Option<(String, DateTime<Utc>)>,
    /// When this dashboard first saw the host down (for a host never seen up, which the
    /// probe's own record has no "down since" for); cleared when it answers.
    pub down_seen_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct HostsView {
    pub hosts: Vec<HostEntry>,
    /// The host the full dashboard shows (an index into `hosts`).
    pub shown: usize,
    /// The overview screen is on (over the shown host's dashboard).
    pub overview: bool,
    /// The overview's selected row.
    pub selected: usize,
    /// Counts switches: collectors' updates from a host left behind carry an older one and
    /// are dropped.
    pub generation: u64,
    /// The ring size of a fresh log view, for the next host's logs.
    pub log_ring: usize,
}

impl HostsView {
    /// The overview on, the dashboard behind it on the first host (generation 1, which the
    /// loop starts the collectors with).
    pub fn new(hosts: &[crate::config::HostConfig], log_ring: usize) -> Self {
        Self {
            hosts: hosts
                .iter()
                .map(|h| HostEntry {
                    name: h.name.clone(),
                    endpoint: h.endpoint.clone(),
                    labels: h.labels.clone(),
                    last: None,
                    checked_at: None,
                    probe_error: None,
                    down_seen_since: None,
                })
                .collect(),
            shown: 0,
            overview: true,
            selected: 0,
            generation: 1,
            log_ring,
        }
    }

    pub fn shown_name(&self) -> &str {
        self.hosts.get(self.shown).map_or("?", |h| h.name.as_str())
    }

    pub fn names(&self) -> String {
        self.hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How many hosts' engines are known not to answer.
    pub fn down(&self) -> usize {
        self.hosts.iter().filter(|h| h.is_down()).count()
    }
}

impl HostEntry {
    /// The engine did not answer: the probe said so, or the probe itself did not end in time.
    pub fn is_down(&self) -> bool {
        self.probe_error.is_some() || self.last.as_ref().is_some_and(|s| !s.reachable)
    }

    pub fn set(&mut self, status: HostStatus, now: DateTime<Utc>) {
        self.last = Some(status);
        self.checked_at = Some(now);
        self.probe_error = None;
        self.note_down(now);
    }

    /// Keep the last report and the time the failures started.
    pub fn fail(&mut self, error: String, now: DateTime<Utc>) {
        let since = self.probe_error.as_ref().map_or(now, |(_, t)| *t);
        self.probe_error = Some((error, since));
        self.note_down(now);
    }

    fn note_down(&mut self, now: DateTime<Utc>) {
        self.down_seen_since = if self.is_down() {
            Some(self.down_seen_since.unwrap_or(now))
        } else {
            None
        };
    }

    /// Since when the host has not answered: the earliest of the probe's own record (kept
    /// across runs), the failing probes' start, and when this dashboard first saw it down.
    pub fn down_since(&self) -> Option<DateTime<Utc>> {
        if !self.is_down() {
            return None;
        }
        [
            self.last.as_ref().and_then(|s| s.down_since),
            self.probe_error.as_ref().map(|(_, t)| *t),
            self.down_seen_since,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
