//! The containers panel: the compose project's containers, state, health, image, restarts
//! (a Swarm stack's services and tasks: panels/swarm.rs).

use super::logs::StreamState;
use super::logs::follow;
use super::{panel_block, state_cell, table_state};
use crate::domain::{ContainerState, ContainerView, ImageRef};
use crate::format::age;
use crate::ui::model::{App, Panel};
use crate::ui::model::{Effect, Overlay};
use crate::ui::text::*;
use crate::ui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    if let Some(stack) = &app.swarm {
        return super::swarm::draw_services(frame, app, stack, area);
    }
    let theme = Theme { color: app.color };
    let block = panel_block(
        app,
        Panel::Containers,
        Some(&app.containers),
        vec![],
        area.width,
    );
    let list = app.containers.data.as_deref().unwrap_or_default();
    if list.is_empty() {
        let text = if app.containers.data.is_some() {
            format!("no containers in project {}", app.project)
        } else {
            String::new()
        };
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    // Rows kept from before an engine outage are what was, not what is: dimmed, and the
    // title says as of when.
    let stale = app.containers.error.is_some();
    let widths = [
        Constraint::Length(11),
        Constraint::Length(13),
        Constraint::Min(6),
        Constraint::Length(6),
        Constraint::Length(3),
    ];
    let tags: Vec<String> = list
        .iter()
        .map(|c| {
            ImageRef::parse(&c.image)
                .ok()
                .and_then(|r| r.tag)
                .map_or_else(|| c.image.clone(), |t| t.to_string())
        })
        .collect();
    let tags = distinct_fits(
        &tags.iter().map(String::as_str).collect::<Vec<_>>(),
        fill_width(area.width.saturating_sub(2), &widths),
    );
    let switched = start_first_switched(app);
    let rows: Vec<Row> = list
        .iter()
        .zip(tags)
        .map(|(c, tag)| {
            let role = overlap_role(list, c, switched);
            let uptime = match (c.state, c.started_at) {
                (ContainerState::Running, Some(t)) => age(t, app.now),
                _ => "-".into(),
            };
            let follows = app.logs.container_id.as_deref() == Some(c.id.as_str());
            Row::new(vec![
                Cell::from(format!(
                    "{}{}{}{}",
                    if follows { "≡ " } else { "  " },
                    c.service,
                    if c.oneoff { "*" } else { "" },
                    role.map(|r| format!(" {r}")).unwrap_or_default()
                )),
                state_cell(c.state, c.health, c.exit_code, theme, stale),
                Cell::from(tag),
                Cell::from(uptime),
                Cell::from(c.restarts.to_string()).style(if c.restarts > 0 && !stale {
                    theme.warn()
                } else {
                    Style::default()
                }),
            ])
            .style(if stale { theme.dim() } else { Style::default() })
        })
        .collect();
    let table = Table::new(rows, widths)
        .header(Row::new(["  SERVICE", "STATE", "TAG", "UP", "RST"]).style(theme.dim()))
        .row_highlight_style(theme.selected())
        .block(block);
    frame.render_stateful_widget(table, area, &mut table_state(app, Panel::Containers));
}

/// A start-first deploy runs now: whether it has switched the proxy yet (None: no such deploy).
fn start_first_switched(app: &App) -> Option<bool> {
    let Some(super::deploys::PanelView::Deployment(d)) = super::deploys::panel_view(app) else {
        return None;
    };
    if d.finished_at.is_some() {
        return None;
    }
    let live = crate::deploy::follow::Followed::from_store(d);
    (live.strategy.as_deref() == Some("start-first")).then(|| {
        live.steps
            .iter()
            .any(|s| s.name == "switch" && s.state == crate::domain::StepState::Ok)
    })
}

/// During a start-first overlap (two running containers of one service): the newest is the
/// new version, the others the old one, serving until the switch and draining after it.
fn overlap_role(
    list: &[ContainerView],
    c: &ContainerView,
    switched: Option<bool>,
) -> Option<&'static str> {
    let running = |x: &&ContainerView| {
        x.service == c.service && !x.oneoff && x.state == ContainerState::Running
    };
    if c.oneoff || c.state != ContainerState::Running || list.iter().filter(running).count() < 2 {
        return None;
    }
    let newest = list.iter().filter(running).max_by_key(|x| x.started_at)?;
    Some(match (newest.id == c.id, switched) {
        (true, _) => "new",
        (false, Some(true)) => "drain",
        (false, _) => "old",
    })
}

/// The container `name` means, as the containers panel shows it: a container's name, a
/// service (its running container first; one-off runs show as `service*`), or an id prefix.
pub(crate) fn find_container<'a>(
    list: &'a [ContainerView],
    name: &str,
) -> Option<&'a ContainerView> {
    let by_service = |service: &str, oneoff: bool| {
        list.iter()
            .filter(|c| c.service == service && c.oneoff == oneoff)
            .max_by_key(|c| (c.state == ContainerState::Running, c.started_at))
    };
    list.iter()
        .find(|c| c.name == name)
        .or_else(|| by_service(name, false))
        .or_else(|| by_service(name.strip_suffix('*')?, true))
        .or_else(|| by_service(name, true))
        .or_else(|| {
            let prefix =
                (name.len() >= 4 && name.chars().all(|c| c.is_ascii_hexdigit())).then_some(name)?;
            let mut hits = list.iter().filter(|c| c.id.starts_with(prefix));
            let first = hits.next()?;
            hits.next().is_none().then_some(first)
        })
}

/// Enter on a container: follow its logs and show its details (a container whose stream
/// ended is followed again).
pub fn open(app: &mut App, sel: usize, fx: &mut Vec<Effect>) {
    let Some(c) = app
        .containers
        .data
        .as_ref()
        .and_then(|l| l.get(sel))
        .cloned()
    else {
        return;
    };
    let followed = app.logs.container_id.as_deref() == Some(c.id.as_str());
    if followed && matches!(app.logs.state, StreamState::Ended(_)) {
        // Its stream ended: enter follows it again rather than showing details.
        follow(app, &c, fx);
        app.say(format!("following {} again", c.name));
        return;
    }
    if !followed {
        follow(app, &c, fx);
    }
    app.overlay = Overlay::Details {
        title: format!("container {}", c.name),
        rows: vec![
            ("id".into(), c.id.clone()),
            ("service".into(), c.service.clone()),
            ("state".into(), format!("{:?}", c.state).to_lowercase()),
            ("health".into(), format!("{:?}", c.health).to_lowercase()),
            (
                "exit code".into(),
                c.exit_code.map_or("-".into(), |e| e.to_string()),
            ),
            ("restarts".into(), c.restarts.to_string()),
            (
                "started".into(),
                c.started_at.map_or("-".into(), |t| t.to_rfc3339()),
            ),
            ("image".into(), c.image.clone()),
            ("image id".into(), c.image_id.clone()),
            ("digests".into(), c.repo_digests.join(", ")),
            ("revision".into(), c.revision.clone().unwrap_or_default()),
            (
                "image created".into(),
                c.image_created.clone().unwrap_or_default(),
            ),
        ],
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlap_of_a_start_first_deploy_names_old_and_new() {
        let (old, new) = (
            ContainerView::running_for_test("1", "app", 60),
            ContainerView::running_for_test("2", "app", 1),
        );
        let list = vec![old.clone(), new.clone()];
        assert_eq!(overlap_role(&list, &new, Some(false)), Some("new"));
        assert_eq!(overlap_role(&list, &old, Some(false)), Some("old"));
        assert_eq!(overlap_role(&list, &old, Some(true)), Some("drain"));
        // One container of the service: no role to show.
        assert_eq!(
            overlap_role(std::slice::from_ref(&old), &old, Some(true)),
            None
        );
    }
}
