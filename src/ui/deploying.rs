//! From an operator's key to a deploy request awaiting confirmation: which tag, from what,
//! what the steps will be, what to warn about; refused in read-only mode or while another
//! deploy runs. The confirmed request goes to the loop as `Effect::StartDeploy`.

use crate::deploy::previous::{Previous, previous_version};
use crate::deploy::short;
use crate::domain::{
    CommitSha, ContainerState, ContainerView, DeployIntent, DeploySnapshot, TagView,
};
use crate::format::age;
use crate::store::{DeployKind, ImageSide};
use crate::ui::dialogs::confirm::{ConfirmDeploy, confirm_hint};
use crate::ui::model::{App, Effect, Overlay, Panel};
use crate::ui::panels::deploys::Starting;
use chrono::{DateTime, Utc};

pub(crate) fn running_app(app: &App) -> Option<&ContainerView> {
    let list = app.containers.data.as_ref()?;
    // With several services, the one selected in the tags panel (what `d`/`R` move).
    let only = app.tag_service();
    app.services
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.as_str()))
        .find_map(|s| {
            list.iter()
                .find(|c| !c.oneoff && &c.service == s && c.state == ContainerState::Running)
        })
}

pub(crate) fn when(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map_or("-".into(), |t| {
        format!("{} ({} ago)", t.format("%Y-%m-%d %H:%M UTC"), age(t, now))
    })
}

pub(crate) fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn tag_of_image(image: &str) -> String {
    crate::domain::ImageRef::parse(image)
        .ok()
        .and_then(|r| r.tag)
        .map_or_else(|| image.to_string(), |t| t.to_string())
}

/// What the moved service's spec names in a Swarm stack (what runs once Swarm's update ended),
/// as the `from` row shows it; None for compose, or a service not in the stack.
fn swarm_spec_tag(app: &App) -> Option<String> {
    let view = app.swarm.as_ref()?.data.as_ref()?;
    let only = app.tag_service();
    app.services
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.as_str()))
        .find_map(|s| {
            let name = format!("{}_{s}", view.stack);
            let spec = view.services.iter().find(|v| v.name == name)?;
            Some(format!(
                "{}  (the service's spec)",
                tag_of_image(&spec.image)
            ))
        })
}

/// `only`: the one service that moves (`--service`), else every configured one.
pub(crate) fn steps_line(app: &App, rollback: bool, only: Option<&str>) -> String {
    // A Swarm stack is moved by Swarm's own update (the engine's swarm-update strategy).
    if app.swarm.is_some() {
        return format!(
            "backup{} · Swarm updates {} (each node pulls) · Swarm rolls back by itself if a new task fails",
            if rollback {
                ""
            } else {
                " · migrate (a one-off job)"
            },
            only.map_or_else(|| app.services.join(", "), str::to_string),
        );
    }
    if strategy_of(app, only).strategy == crate::deploy::strategy::Strategy::StartFirst {
        return format!(
            "pull · backup{} · start {} beside the old one · wait healthy (asked directly) · switch the proxy · watch, switch back if it fails · remove the old one",
            if rollback { "" } else { " · migrate" },
            only.map_or_else(|| app.services.join(", "), str::to_string),
        );
    }
    format!(
        "pull · backup{} · recreate {} · wait healthy{}",
        if rollback { "" } else { " · migrate" },
        only.map_or_else(|| app.services.join(", "), str::to_string),
        if rollback {
            " (a rollback is not rolled back in turn)"
        } else {
            " · roll back automatically if it fails"
        }
    )
}

/// How the deploy would replace what runs, and why, by the engine's own rule with the GPU and
/// containers the dashboard sees now (the engine decides again when it runs).
pub(crate) fn strategy_line(app: &App, only: Option<&str>) -> String {
    if app.swarm.is_some() {
        return "Swarm's rolling update, with the [swarm] order, parallelism, monitor and failure action".into();
    }
    strategy_of(app, only).why
}

fn strategy_of(app: &App, only: Option<&str>) -> crate::deploy::strategy::Chosen {
    let moved: Vec<&str> = match only {
        Some(s) => vec![s],
        None => app.services.iter().map(String::as_str).collect(),
    };
    let rule = &app.strategy_rule;
    let running = app.containers.data.as_ref().and_then(|list| {
        list.iter()
            .filter(|c| c.service == rule.proxied() && !c.oneoff)
            .max_by_key(|c| {
                (
                    c.state == crate::domain::ContainerState::Running,
                    c.started_at,
                )
            })
    });
    let unknown = crate::domain::GpuStatus::Unavailable {
        reason: "not read yet".into(),
    };
    let gpu = app.gpu.data.as_ref().unwrap_or(&unknown);
    rule.decide(&moved, running, gpu)
}

/// The running side and the `commits` row that waits for GitHub's answer.
fn compare_ask(
    kind: DeployKind,
    service: &str,
    running: Option<&ContainerView>,
    target: ImageSide,
    older: Option<bool>,
) -> (Option<Box<crate::compare::Ask>>, (String, String)) {
    let Some(c) = running else {
        return (
            None,
            ("commits".into(), "nothing runs to compare with".into()),
        );
    };
    let ask = crate::compare::Ask {
        kind,
        service: service.to_string(),
        running: ImageSide {
            image: Some(c.image.clone()),
            sha: c.revision.as_deref().and_then(|r| CommitSha::parse(r).ok()),
            created: c.image_created.clone(),
            ..ImageSide::default()
        },
        target,
        older,
    };
    (
        Some(Box::new(ask)),
        ("commits".into(), "asking GitHub…".into()),
    )
}

/// The dialog for deploying the selected tag.
pub fn confirm_tag(app: &App, service: &str, t: &TagView) -> ConfirmDeploy {
    let now = app.now;
    let from = running_app(app);
    let from_created = from.and_then(|c| parse_time(c.image_created.as_deref()));
    let mut rows = vec![(
        "from".to_string(),
        match from {
            Some(c) => format!(
                "{}  {}  built {}",
                tag_of_image(&c.image),
                c.revision.as_deref().map(short).unwrap_or("-"),
                when(from_created, now)
            ),
            None => swarm_spec_tag(app).unwrap_or_else(|| "nothing running".into()),
        },
    )];
    rows.push((
        "to".into(),
        format!(
            "{}  {}  built {}",
            t.tag,
            t.revision.as_ref().map_or("-", |r| r.short()),
            when(t.created, now)
        ),
    ));
    let older = match (from_created, t.created) {
        (Some(f), Some(to)) => Some(to < f),
        _ => None,
    };
    let (compare, commits_row) = compare_ask(
        DeployKind::Deploy,
        service,
        from,
        ImageSide {
            tag: Some(t.tag.clone()),
            sha: t.revision.clone(),
            created: t.created.map(|c| c.to_rfc3339()),
            ..ImageSide::default()
        },
        older,
    );
    rows.push(commits_row);
    rows.push((
        "CI".into(),
        t.ci.clone()
            .unwrap_or_else(|| "unknown (no run for this commit)".into()),
    ));
    rows.push(("service".into(), service.to_string()));
    if let Some(basis) = app.health_basis.get(service) {
        rows.push(("health".into(), basis.clone()));
    }
    // The tags panel's selected service moves alone; a tag offered for the whole deployment
    // (a run's image, `service` naming them all) moves every service.
    let only = app.tag_service().filter(|s| *s == service);
    rows.push(("strategy".into(), strategy_line(app, only)));
    rows.push(("steps".into(), steps_line(app, false, only)));
    let mut warnings = Vec::new();
    if let (Some(f), Some(to)) = (from_created, t.created)
        && to < f
    {
        warnings.push("the target is OLDER than what runs now".to_string());
    }
    if t.running {
        warnings.push("this tag already runs: the deploy will stop at the compare step".into());
    }
    if t.ci.as_deref().is_some_and(|c| c != "success") {
        warnings.push(format!(
            "its CI result is {}",
            t.ci.as_deref().unwrap_or("?")
        ));
    }
    ConfirmDeploy {
        request: DeployIntent::Deploy(t.tag.clone()),
        title: format!("Deploy {} to {}?", t.tag, service),
        rows,
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
        confirm_selected: false,
        service: only.map(str::to_string),
        compare,
        compare_asked: false,
        hint: confirm_hint(&app.keymap),
    }
}

/// What `R` and `rollback --previous` go back to (the same function as the engine's).
pub fn previous_for<'a>(app: &App, snapshot: &'a DeploySnapshot) -> Option<Previous<'a>> {
    let running = running_app(app);
    let service = running
        .map(|c| c.service.as_str())
        .or(app.tag_service())
        .or(app.services.first().map(String::as_str))?;
    previous_version(
        &snapshot.recent,
        service,
        running.map(|c| c.image_id.as_str()),
    )
}

/// The dialog for rolling back to the tag selected in the tags panel: a rollback, so no
/// migration runs (`d` deploys the same tag with its migration).
pub fn confirm_rollback_to(app: &App, service: &str, t: &TagView) -> ConfirmDeploy {
    let mut c = confirm_tag(app, service, t);
    let from_created = running_app(app).and_then(|r| parse_time(r.image_created.as_deref()));
    c.request = DeployIntent::RollbackTo(t.tag.clone());
    if let Some(ask) = &mut c.compare {
        ask.kind = DeployKind::Rollback;
    }
    c.title = format!("Roll back {service} to {}?", t.tag);
    for (k, v) in &mut c.rows {
        if k == "steps" {
            *v = steps_line(app, true, c.service.as_deref());
        }
    }
    c.rows.push((
        "migration".into(),
        "none: a rollback runs no migration (d deploys this tag with its migration)".into(),
    ));
    let mut warnings: Vec<String> = c
        .warning
        .take()
        .map(|w| {
            w.split("; ")
                .filter(|p| !p.starts_with("the target is OLDER"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let (Some(f), Some(to)) = (from_created, t.created)
        && to > f
    {
        warnings.insert(
            0,
            "the target is NEWER than what runs now: its migrations have not run".to_string(),
        );
    }
    c.warning = (!warnings.is_empty()).then(|| warnings.join("; "));
    c
}

/// The dialog for rolling back to what ran before the current version.
pub fn confirm_rollback(app: &App) -> Result<ConfirmDeploy, String> {
    let now = app.now;
    let snapshot = app
        .deploys
        .data
        .as_ref()
        .ok_or("deploy history not loaded yet")?;
    let running = running_app(app);
    let prev = previous_for(app, snapshot)
        .ok_or("no previous version recorded to roll back to (use `elt-console rollback TAG`)")?;
    let target = prev.side;
    let prev = prev.deployment;
    let mut rows = vec![(
        "from".to_string(),
        match running {
            Some(c) => format!(
                "{}  {}",
                tag_of_image(&c.image),
                c.revision.as_deref().map(short).unwrap_or("-")
            ),
            None => swarm_spec_tag(app).unwrap_or_else(|| "nothing running".into()),
        },
    )];
    rows.push((
        "to".into(),
        format!(
            "{}  {}  built {}",
            target
                .tag_str()
                .map(str::to_string)
                .or_else(|| target.image.as_deref().map(tag_of_image))
                .unwrap_or_else(|| "?".into()),
            target.sha_str().map(short).unwrap_or("-"),
            when(parse_time(target.created.as_deref()), now)
        ),
    ));
    let (compare, commits_row) = compare_ask(
        DeployKind::Rollback,
        running
            .map(|c| c.service.as_str())
            .or(app.services.first().map(String::as_str))
            .unwrap_or_default(),
        running,
        target.clone(),
        None,
    );
    rows.push(commits_row);
    // Either the version a deployment replaced, or the one it deployed.
    let replaced = std::ptr::eq(target, &prev.from);
    rows.push((
        if replaced { "ran until" } else { "deployed by" }.into(),
        format!(
            "deployment #{} by {} ({})",
            prev.id,
            prev.actor.user,
            when(
                if replaced {
                    Some(prev.started_at)
                } else {
                    prev.finished_at
                },
                now
            )
        ),
    ));
    rows.push((
        "why".into(),
        "the last version that ran healthy before what runs now; a rollback runs no migration"
            .into(),
    ));
    let moved: Vec<&str> = match app.tag_service() {
        Some(s) => vec![s],
        None => app.services.iter().map(String::as_str).collect(),
    };
    for service in moved {
        if let Some(basis) = app.health_basis.get(service) {
            rows.push(("health".into(), format!("{service}: {basis}")));
        }
    }
    rows.push(("strategy".into(), strategy_line(app, app.tag_service())));
    rows.push(("steps".into(), steps_line(app, true, app.tag_service())));
    Ok(ConfirmDeploy {
        request: DeployIntent::RollbackPrevious,
        title: match app.tag_service() {
            Some(s) => format!("Roll back {s} to the previous version?"),
            None => "Roll back to the previous version?".into(),
        },
        rows,
        warning: None,
        confirm_selected: false,
        service: app.tag_service().map(str::to_string),
        compare,
        compare_asked: false,
        hint: confirm_hint(&app.keymap),
    })
}

pub(crate) fn finish_confirm(
    app: &mut App,
    confirmed: bool,
    c: ConfirmDeploy,
    fx: &mut Vec<Effect>,
) {
    if confirmed {
        fx.push(Effect::StartDeploy(c.start_request()));
        app.deploy_starting = Some(Starting::new(
            c.kind(),
            c.target(),
            app.deploys.data.as_ref(),
            app.now,
        ));
        app.say(format!("{} {}: starting…", c.kind().as_str(), c.target()));
    } else {
        fx.push(Effect::Audit {
            action: c.kind().as_str().into(),
            target: c.target(),
            outcome: "refused".into(),
            detail: "not confirmed by the operator (dashboard)".into(),
        });
        app.say(format!(
            "{} {}: cancelled, nothing changed",
            c.kind().as_str(),
            c.target()
        ));
    }
}

/// Refuse a mutating action in read-only mode, recording the attempt.
pub(crate) fn refuse_read_only(
    app: &mut App,
    action: &str,
    target: String,
    fx: &mut Vec<Effect>,
) -> bool {
    if !app.read_only {
        return false;
    }
    fx.push(Effect::Audit {
        action: action.into(),
        target,
        outcome: "refused".into(),
        detail: "read-only mode (dashboard)".into(),
    });
    app.say(format!("read-only: {action} refused"));
    true
}

pub(crate) fn deploy_in_progress(app: &mut App) -> bool {
    if let Some(s) = app.deploy_starting.as_ref().filter(|s| !s.expired(app.now)) {
        let text = format!("a {} to {} is starting", s.kind.as_str(), s.target);
        app.say(text);
        return true;
    }
    let Some(d) = app.deploys.data.as_ref().and_then(|s| s.running.as_ref()) else {
        return false;
    };
    let text = format!(
        "a {} to {} by {} is in progress (deployment #{})",
        d.kind.as_str(),
        d.to.tag_str().unwrap_or("?"),
        d.actor.user,
        d.id
    );
    app.say(text);
    true
}

pub(crate) fn start_deploy_dialog(app: &mut App, fx: &mut Vec<Effect>) {
    if app.focus != Panel::Tags {
        app.say("select a tag in the tags panel first, then deploy it");
        return;
    }
    let sel = app.selected(Panel::Tags);
    let Some((service, tag)) = app
        .tag_rows()
        .get(sel)
        .map(|(s, t)| (s.to_string(), (*t).clone()))
    else {
        app.say("no tag selected");
        return;
    };
    if refuse_read_only(app, "deploy", tag.tag.to_string(), fx) || deploy_in_progress(app) {
        return;
    }
    app.overlay = Overlay::Confirm(confirm_tag(app, &service, &tag));
}

/// The deploy confirmation for a tag offered elsewhere (a finished run's image in the jobs
/// dialog), under the same rules as the tags panel's.
pub(crate) fn open_deploy_confirm(
    app: &mut App,
    tag: crate::domain::TagView,
    fx: &mut Vec<Effect>,
) {
    if refuse_read_only(app, "deploy", tag.tag.to_string(), fx) || deploy_in_progress(app) {
        return;
    }
    let service = app.services.join(", ");
    // A run's image goes to the whole deployment, whichever service the tags panel shows.
    app.overlay = Overlay::Confirm(confirm_tag(app, &service, &tag));
}

/// `R`: in the tags panel a rollback to the selected tag, elsewhere to the previous version.
pub(crate) fn start_rollback_dialog(app: &mut App, fx: &mut Vec<Effect>) {
    if app.focus == Panel::Tags {
        let sel = app.selected(Panel::Tags);
        if let Some((service, tag)) = app
            .tag_rows()
            .get(sel)
            .map(|(s, t)| (s.to_string(), (*t).clone()))
        {
            if refuse_read_only(app, "rollback", tag.tag.to_string(), fx) || deploy_in_progress(app)
            {
                return;
            }
            app.overlay = Overlay::Confirm(confirm_rollback_to(app, &service, &tag));
            return;
        }
    }
    if refuse_read_only(app, "rollback", "previous".into(), fx) || deploy_in_progress(app) {
        return;
    }
    match confirm_rollback(app) {
        Ok(c) => app.overlay = Overlay::Confirm(c),
        Err(e) => app.say(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Digest, SwarmServiceView, SwarmStackView, Tag};
    use crate::ui::app::test_support::settings;
    use crate::ui::model::{AppSettings, Fresh};

    fn app(swarm: bool) -> App {
        let now = Utc::now();
        let mut a = App::new(
            AppSettings {
                host: "web-1".into(),
                ..settings()
            },
            now,
        );
        if swarm {
            a.swarm = Some(Fresh {
                data: Some(SwarmStackView {
                    stack: "elt".into(),
                    services: vec![SwarmServiceView {
                        id: "s1".into(),
                        name: "elt_app".into(),
                        image: format!("reg/app:main-aaaaaaa@sha256:{}", "a".repeat(64)),
                        replicas: Some(1),
                        running: 1,
                        update: None,
                        reserved: vec![],
                    }],
                    tasks: vec![],
                    nodes: vec![],
                }),
                loaded_at: Some(now),
                error: None,
            });
        }
        a
    }

    fn rows(a: &App) -> Vec<(String, String)> {
        let t = TagView {
            digest: Some(Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap()),
            ..TagView::named(Tag::parse("main-bbbbbbb").unwrap())
        };
        confirm_tag(a, "app", &t).rows
    }

    fn row(rows: &[(String, String)], key: &str) -> String {
        rows.iter().find(|(k, _)| k == key).unwrap().1.clone()
    }

    #[test]
    fn a_swarm_deploys_confirmation_says_what_swarm_will_do() {
        let swarm = rows(&app(true));
        assert_eq!(row(&swarm, "from"), "main-aaaaaaa  (the service's spec)");
        let steps = row(&swarm, "steps");
        assert!(steps.contains("Swarm updates app"), "{steps}");
        assert!(
            !steps.contains("pull ·") && !steps.contains("recreate"),
            "{steps}"
        );
        assert!(row(&swarm, "strategy").starts_with("Swarm's rolling update"));
        // Compose keeps its own.
        let compose = rows(&app(false));
        assert_eq!(row(&compose, "from"), "nothing running");
        assert!(row(&compose, "steps").contains("recreate app"));
    }
}
