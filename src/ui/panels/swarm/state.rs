//! The Swarm containers panel's rows: which services and tasks it lists, in which order.

use crate::domain::{SwarmStackView, SwarmTaskView};

/// Tasks Swarm keeps after they stopped (failed, rejected, shut down): this many of the
/// newest are shown under their service, so a crash loop's errors stay in sight.
pub const TASK_HISTORY: usize = 3;

/// A row of the containers panel for a stack: a service, or one of its tasks under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackRow {
    Service(usize),
    Task(usize),
}

/// The rows in display order: each service (by name), then its tasks that Swarm wants
/// running (by slot), then the newest `TASK_HISTORY` of its others.
pub fn stack_rows(view: &SwarmStackView) -> Vec<StackRow> {
    let mut rows = Vec::new();
    for (i, service) in view.services.iter().enumerate() {
        rows.push(StackRow::Service(i));
        let (mut current, mut past): (Vec<usize>, Vec<usize>) = view
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.service == service.name)
            .map(|(j, _)| j)
            .partition(|&j| is_current(&view.tasks[j]));
        current.sort_by_key(|&j| view.tasks[j].slot);
        past.sort_by(|&a, &b| view.tasks[b].since.cmp(&view.tasks[a].since));
        past.truncate(TASK_HISTORY);
        rows.extend(current.into_iter().chain(past).map(StackRow::Task));
    }
    rows
}

/// Swarm still wants this task to run (or to be ready to).
pub(super) fn is_current(t: &SwarmTaskView) -> bool {
    !matches!(t.desired_state.as_str(), "shutdown" | "remove" | "complete")
}
