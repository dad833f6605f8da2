//! "The previous version": the last version that ran healthy before what runs now.
//!
//! One answer for `rollback --previous`, `R` in the dashboard and the tags panel's marker. It is
//! read from the deploy history, oldest first: a deployment that succeeded ran its target
//! healthy (an automatic rollback's target too); one that failed after the switch left its
//! target running but never healthy (`failed-down`, and briefly `rolled-back` until its
//! automatic rollback); what a deployment found running counts as healthy when history did not
//! already account for it (history starts there, or it was changed outside the console).

use crate::domain::{DeployStatus, Deployment, ImageSide};

/// The version `previous_version` picks, and the deployment that recorded it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Previous<'a> {
    pub side: &'a ImageSide,
    pub deployment: &'a Deployment,
}

/// What identifies an image across rows: its local id, else its digest, else its reference.
fn key(side: &ImageSide) -> Option<&str> {
    side.image_id
        .as_deref()
        .or(side.digest_str())
        .or(side.image.as_deref())
}

/// The last version of `service` that ran healthy before the one that runs now.
/// `newest_first` is the history as the store lists it; `running` is the image id of the
/// service's running container (None when nothing runs or it is unknown: then what the history
/// says runs).
pub fn previous_version<'a>(
    newest_first: &'a [Deployment],
    service: &str,
    running: Option<&str>,
) -> Option<Previous<'a>> {
    let mut healthy: Vec<Previous<'a>> = Vec::new();
    let mut current: Option<&'a ImageSide> = None;
    let rows = newest_first
        .iter()
        .rev()
        // A row's sides are its first service's (the store keeps one pair): a deployment
        // that moved `service` second says nothing about `service`'s images.
        .filter(|d| {
            d.status != DeployStatus::Running && d.services.first().is_some_and(|s| s == service)
        });
    for d in rows {
        if key(&d.from).is_some() && key(&d.from) != current.and_then(key) {
            healthy.push(Previous {
                side: &d.from,
                deployment: d,
            });
            current = Some(&d.from);
        }
        match d.status {
            DeployStatus::Succeeded => {
                healthy.push(Previous {
                    side: &d.to,
                    deployment: d,
                });
                current = Some(&d.to);
            }
            // The target replaced what ran and never turned healthy.
            DeployStatus::FailedDown | DeployStatus::RolledBack => current = Some(&d.to),
            // Nothing changed (failed or cancelled before the switch, already running), or
            // nothing is known (the process died): the next row's from-side tells.
            _ => {}
        }
    }
    let now = running.or(current.and_then(key));
    healthy
        .into_iter()
        .rev()
        .find(|p| key(p.side).is_some() && key(p.side) != now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, DeployKind, Tag};
    use chrono::{TimeZone, Utc};

    fn side(v: &str) -> ImageSide {
        ImageSide {
            image: Some(format!("reg/app:{v}")),
            tag: Some(Tag::parse(v).unwrap()),
            image_id: Some(format!("sha256:{v}")),
            ..Default::default()
        }
    }

    fn row(id: i64, kind: DeployKind, from: &str, to: &str, status: DeployStatus) -> Deployment {
        let at =
            Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap() + chrono::Duration::minutes(id);
        Deployment {
            id,
            kind,
            parent_id: None,
            started_at: at,
            finished_at: Some(at),
            actor: Actor {
                user: "ops".into(),
                ssh_client: None,
                host: "h".into(),
                pid: 1,
            },
            services: vec!["app".into()],
            from: if from.is_empty() {
                ImageSide::default()
            } else {
                side(from)
            },
            to: side(to),
            strategy: "recreate".into(),
            status,
            error: None,
            backup_path: None,
            downtime_ms: None,
            progress: None,
            steps: Vec::new(),
        }
    }

    /// Newest first, as the store lists them.
    fn history(rows: &[Deployment]) -> Vec<Deployment> {
        rows.iter().rev().cloned().collect()
    }

    fn prev(rows: &[Deployment], running: Option<&str>) -> Option<String> {
        let h = history(rows);
        previous_version(&h, "app", running.map(|r| format!("sha256:{r}")).as_deref())
            .and_then(|p| p.side.tag_str().map(str::to_string))
    }

    use DeployKind::{AutoRollback, Deploy, Rollback};
    use DeployStatus::{Cancelled, Failed, FailedDown, RolledBack, Skipped, Succeeded};

    #[test]
    fn previous_across_a_chain_of_deploys_rollbacks_and_failures() {
        let mut rows = vec![
            row(1, Deploy, "z", "a", Succeeded),
            row(2, Deploy, "a", "b", Succeeded),
        ];
        assert_eq!(prev(&rows, Some("b")).as_deref(), Some("a"));
        assert_eq!(prev(&rows[..1], Some("a")).as_deref(), Some("z"));

        // A deploy that failed health and was rolled back automatically: c never ran healthy.
        rows.push(row(3, Deploy, "b", "c", RolledBack));
        let mut undo = row(4, AutoRollback, "c", "b", Succeeded);
        undo.parent_id = Some(3);
        rows.push(undo);
        assert_eq!(prev(&rows, Some("b")).as_deref(), Some("a"));

        // A rollback that ended failed-down: a runs, unhealthy. The one that ran healthy just
        // before it is b, not z from two deploys back.
        rows.push(row(5, Rollback, "b", "a", FailedDown));
        assert_eq!(prev(&rows, Some("a")).as_deref(), Some("b"));
        // Unknown container: history says a runs.
        assert_eq!(prev(&rows, None).as_deref(), Some("b"));

        // Failed before the switch, cancelled, skipped: nothing changed.
        rows.push(row(6, Deploy, "a", "d", Failed));
        rows.push(row(7, Deploy, "a", "d", Cancelled));
        rows.push(row(8, Deploy, "a", "a", Skipped));
        assert_eq!(prev(&rows, Some("a")).as_deref(), Some("b"));

        // Rolling back to b succeeds: previous is now a (it ran healthy before the failed
        // rollback).
        rows.push(row(9, Rollback, "a", "b", Succeeded));
        assert_eq!(prev(&rows, Some("b")).as_deref(), Some("a"));

        // A deploy whose automatic rollback failed too: e runs down, b had run healthy.
        rows.push(row(10, Deploy, "b", "e", FailedDown));
        let mut undo = row(11, AutoRollback, "e", "b", FailedDown);
        undo.parent_id = Some(10);
        rows.push(undo);
        // The container is b again (the rollback switched, then b failed health): the last
        // healthy other than b is a.
        assert_eq!(prev(&rows, Some("b")).as_deref(), Some("a"));
        // If e still runs: b ran healthy right before it.
        assert_eq!(prev(&rows, Some("e")).as_deref(), Some("b"));
    }

    #[test]
    fn a_version_changed_outside_the_console_counts_as_having_run() {
        let rows = vec![
            row(1, Deploy, "z", "a", Succeeded),
            // Someone ran `compose up` with m by hand; then deployed b.
            row(2, Deploy, "m", "b", Succeeded),
        ];
        assert_eq!(prev(&rows, Some("b")).as_deref(), Some("m"));
    }

    #[test]
    fn a_row_that_moved_the_service_second_does_not_count_for_it() {
        // gateway and api moved together: the row's sides are gateway's images.
        let mut both = row(1, Deploy, "g1", "g2", Succeeded);
        both.services = vec!["gateway".into(), "api".into()];
        let list = vec![both];
        assert!(previous_version(&list, "api", None).is_none());
        assert_eq!(
            previous_version(&list, "gateway", None)
                .and_then(|p| p.side.tag_str().map(str::to_string)),
            Some("g1".into())
        );
    }

    #[test]
    fn nothing_before_is_none_and_other_services_do_not_count() {
        let rows = vec![row(1, Deploy, "", "a", Succeeded)];
        assert_eq!(prev(&rows, Some("a")), None);
        let mut other = row(2, Deploy, "q", "r", Succeeded);
        other.services = vec!["worker".into()];
        let rows = vec![row(1, Deploy, "", "a", Succeeded), other];
        assert_eq!(prev(&rows, Some("a")), None);
    }
}
