//! "What am I deploying?": the commits between the version that runs and the target, from
//! GitHub's compare API, for the deploy confirmation (`deploy --dry-run`, the question before a
//! deploy, the dashboard's confirm dialog). A rollback lists what it will undo. Without GitHub
//! (offline, no token and no anonymous budget, an image without a commit label) it says why and
//! still shows both commits and how old their images are.

use crate::config::GithubConfig;
use crate::deploy::PlanService;
use crate::domain::CommitSha;
use crate::format::age;
use crate::sources::github::{Comparison, GithubSource};
use crate::store::{DeployKind, ImageSide};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Below this many requests left in the GitHub budget the confirmation does without the list:
/// the dashboard's runs and tags need them more.
const BUDGET_RESERVE: u64 = 5;
/// Commits listed in text; the rest are counted.
const LIST_AT_MOST: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The target is newer: these commits arrive.
    Deploys,
    /// The target is older (a rollback): these commits go away.
    Undoes,
}

/// One side's commit and its image's build time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Side {
    pub sha: Option<String>,
    pub created: Option<String>,
}

impl From<&ImageSide> for Side {
    fn from(s: &ImageSide) -> Self {
        Self {
            sha: s.sha_str().map(str::to_string),
            created: s.created.clone(),
        }
    }
}

/// The commits one service's move brings or takes away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceCommits {
    pub service: String,
    pub direction: Direction,
    pub running: Side,
    pub target: Side,
    /// GitHub's answer: for `deploys` running...target, for `undoes` target...running, so
    /// `commits` are always the ones that change hands.
    pub comparison: Option<Comparison>,
    /// Why there is no comparison.
    pub unavailable: Option<String>,
}

/// The compare request for one service: (base, head, direction), or why there is none.
fn request_for(
    kind: DeployKind,
    from: &ImageSide,
    to: &ImageSide,
    older: Option<bool>,
) -> Result<(CommitSha, CommitSha, Direction), Unavailable> {
    let parse = |side: &ImageSide, which: &'static str| {
        side.sha.clone().ok_or(Unavailable::NoCommit(which))
    };
    let running = parse(from, "running")?;
    let target = parse(to, "target")?;
    Ok(match direction_of(kind, older) {
        Direction::Undoes => (target, running, Direction::Undoes),
        Direction::Deploys => (running, target, Direction::Deploys),
    })
}

/// A rollback, or a deploy of an older build, undoes commits; a newer build deploys them.
fn direction_of(kind: DeployKind, older: Option<bool>) -> Direction {
    if kind != DeployKind::Deploy || older == Some(true) {
        Direction::Undoes
    } else {
        Direction::Deploys
    }
}

impl ServiceCommits {
    /// One service's move from `from` to `to`, with GitHub's answer or why there is none.
    fn answered(
        service: &str,
        kind: DeployKind,
        (from, to): (&ImageSide, &ImageSide),
        older: Option<bool>,
        answer: Result<Comparison, Unavailable>,
    ) -> Self {
        let (comparison, unavailable) = match answer {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        };
        ServiceCommits {
            service: service.to_string(),
            direction: direction_of(kind, older),
            running: Side::from(from),
            target: Side::from(to),
            comparison,
            unavailable,
        }
    }
}

/// The commits of every service that changes commit, asked of GitHub with one request each
/// (services on the same pair of commits share it).
pub async fn for_plan(
    github: &GithubConfig,
    kind: DeployKind,
    services: &[PlanService],
) -> Vec<ServiceCommits> {
    let mut source: Option<Result<GithubSource, Unavailable>> = None;
    let mut asked: Vec<((String, String), Result<Comparison, Unavailable>)> = Vec::new();
    let mut out = Vec::new();
    for p in services {
        if p.from.sha.is_none() && p.from.image.is_none() {
            continue; // nothing runs: nothing to compare with
        }
        let answer = match request_for(kind, &p.from, &p.to, p.older) {
            Err(why) => Err(why),
            Ok((base, head, _)) if base.matches(&head) => Ok(identical()),
            Ok((base, head, _)) => {
                let key = (base.as_str().to_string(), head.as_str().to_string());
                match asked.iter().find(|(k, _)| *k == key) {
                    Some((_, a)) => a.clone(),
                    None => {
                        let src = match &mut source {
                            Some(s) => s,
                            None => source.insert(
                                GithubSource::new(github).await.map_err(Unavailable::setup),
                            ),
                        };
                        let a = match src {
                            Err(e) => Err(e.clone()),
                            Ok(s) => ask(s, &base, &head).await,
                        };
                        asked.push((key, a.clone()));
                        a
                    }
                }
            }
        };
        out.push(ServiceCommits::answered(
            &p.service,
            kind,
            (&p.from, &p.to),
            p.older,
            answer,
        ));
    }
    out
}

/// What the dashboard's confirm dialog asks for: one service's move. The dialog is opened in
/// `update` (no I/O there); the answer comes back as rows for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub kind: DeployKind,
    pub service: String,
    pub running: ImageSide,
    pub target: ImageSide,
    /// The target was built before what runs.
    pub older: Option<bool>,
}

/// The commits of one move (the dashboard's confirm dialog): one request at most.
pub async fn for_ask(github: &GithubConfig, ask_for: &Ask) -> ServiceCommits {
    let answer = match request_for(
        ask_for.kind,
        &ask_for.running,
        &ask_for.target,
        ask_for.older,
    ) {
        Err(why) => Err(why),
        Ok((base, head, _)) if base.matches(&head) => Ok(identical()),
        Ok((base, head, _)) => match GithubSource::new(github).await {
            Err(e) => Err(Unavailable::setup(e)),
            Ok(s) => ask(&s, &base, &head).await,
        },
    };
    ServiceCommits::answered(
        &ask_for.service,
        ask_for.kind,
        (&ask_for.running, &ask_for.target),
        ask_for.older,
        answer,
    )
}

/// The confirm dialog's rows for the answer: `commits` with the summary, then one row per
/// commit (at most `at_most`).
pub fn dialog_rows(
    s: &ServiceCommits,
    now: DateTime<Utc>,
    at_most: usize,
) -> Vec<(String, String)> {
    let text = render_text(std::slice::from_ref(s), now);
    let mut rows = Vec::new();
    for (i, line) in text.iter().enumerate() {
        let line = line.trim_start();
        if i == 0 {
            // "commits app: deploys 2 commits; …" -> "deploys 2 commits; …"
            let value = line
                .split_once(": ")
                .map_or(line, |(_, rest)| rest)
                .to_string();
            rows.push(("commits".to_string(), value));
        } else if rows.len() <= at_most && !line.starts_with('…') {
            rows.push((String::new(), line.to_string()));
        }
    }
    let total = s.comparison.as_ref().map_or(0, |c| c.total_commits);
    let shown = rows.len().saturating_sub(1) as u64;
    if total > shown && shown > 0 {
        rows.push((String::new(), format!("… and {} more", total - shown)));
    }
    rows
}

async fn ask(
    s: &GithubSource,
    base: &CommitSha,
    head: &CommitSha,
) -> Result<Comparison, Unavailable> {
    let rate = s.rate_limit();
    if let Some(left) = rate.remaining
        && left < BUDGET_RESERVE
    {
        return Err(Unavailable::BudgetSpent(left));
    }
    let no_token = matches!(s.token_source, crate::sources::github::TokenSource::None);
    s.compare(base, head)
        .await
        .map_err(|source| Unavailable::Github { source, no_token })
}

/// Why a move has no comparison (`ServiceCommits::unavailable` says it in words).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    #[error("the {0} image names no commit (no revision label)")]
    NoCommit(&'static str),
    #[error("GitHub request budget nearly spent ({0} left), kept for the dashboard")]
    BudgetSpent(u64),
    #[error("GitHub: {source}{}", token_note(*.no_token))]
    Github {
        source: crate::sources::github::GithubError,
        no_token: bool,
    },
    /// Shared by the services that would have asked through the same client.
    #[error(transparent)]
    Setup(std::sync::Arc<crate::sources::github::GithubSetupError>),
}

impl Unavailable {
    fn setup(e: crate::sources::github::GithubSetupError) -> Self {
        Unavailable::Setup(std::sync::Arc::new(e))
    }
}

fn token_note(no_token: bool) -> &'static str {
    if no_token { " (no GitHub token)" } else { "" }
}

fn short(sha: &Option<String>) -> &str {
    sha.as_deref()
        .map(|s| s.get(..7).unwrap_or(s))
        .unwrap_or("?")
}

fn built(created: &Option<String>, now: DateTime<Utc>) -> String {
    match created
        .as_deref()
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
    {
        Some(t) => format!("built {} ago", age(t.with_timezone(&Utc), now)),
        None => "build time unknown".into(),
    }
}

/// The confirmation's lines for people, one block per service.
pub fn render_text(list: &[ServiceCommits], now: DateTime<Utc>) -> Vec<String> {
    let mut lines = Vec::new();
    for s in list {
        let sides = format!(
            "running {} ({}) -> target {} ({})",
            short(&s.running.sha),
            built(&s.running.created, now),
            short(&s.target.sha),
            built(&s.target.created, now)
        );
        let Some(c) = &s.comparison else {
            lines.push(format!(
                "     commits {}: not listed: {}; {sides}",
                s.service,
                s.unavailable.as_deref().unwrap_or("no answer")
            ));
            continue;
        };
        if c.total_commits == 0 {
            lines.push(format!(
                "     commits {}: none ({}); {sides}",
                s.service,
                if c.status == "identical" {
                    "the same commit"
                } else {
                    c.status.as_str()
                }
            ));
            continue;
        }
        let noun = crate::format::count(c.total_commits as usize, "commit", "commits");
        lines.push(match s.direction {
            Direction::Deploys => format!("     commits {}: deploys {noun}; {sides}", s.service),
            Direction::Undoes => format!("     commits {}: UNDOES {noun}; {sides}", s.service),
        });
        if c.status == "diverged" {
            lines.push(format!(
                "       (diverged: the target also lacks {} of what runs)",
                crate::format::count(c.behind_by as usize, "commit", "commits")
            ));
        }
        // Newest first: the top line is what the operator most likely means to ship.
        for commit in c.commits.iter().rev().take(LIST_AT_MOST) {
            let who = match (&commit.author, commit.date) {
                (Some(a), Some(d)) => format!("  ({a}, {} ago)", age(d, now)),
                (Some(a), None) => format!("  ({a})"),
                (None, Some(d)) => format!("  ({} ago)", age(d, now)),
                (None, None) => String::new(),
            };
            lines.push(format!(
                "       {} {}{who}",
                commit.sha.get(..7).unwrap_or(&commit.sha),
                commit.title
            ));
        }
        let shown = c.commits.len().min(LIST_AT_MOST) as u64;
        if c.total_commits > shown {
            lines.push(format!("       … and {} more", c.total_commits - shown));
        }
    }
    lines
}

/// The confirmation's JSON line for one service (`deploy --dry-run --json`).
pub fn json_event(s: &ServiceCommits) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("event".into(), "commits".into());
    }
    v
}

/// Both sides name the same commit: nothing changes hands, and GitHub need not be asked.
fn identical() -> Comparison {
    Comparison {
        status: "identical".into(),
        ahead_by: 0,
        behind_by: 0,
        total_commits: 0,
        commits: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::github::parse_comparison;

    fn published() -> Comparison {
        let path = format!(
            "{}/tests/fixtures/github/compare-commits.json",
            env!("CARGO_MANIFEST_DIR")
        );
        parse_comparison(&std::fs::read(path).unwrap()).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2011-04-16T16:00:49Z".parse().unwrap()
    }

    fn side(sha: &str, created: &str) -> Side {
        Side {
            sha: Some(sha.into()),
            created: Some(created.into()),
        }
    }

    #[test]
    fn the_published_comparison_reads_as_githubs_example_says() {
        let c = published();
        assert_eq!(
            (c.status.as_str(), c.ahead_by, c.behind_by, c.total_commits),
            ("behind", 1, 2, 1)
        );
        assert_eq!(c.commits.len(), 1);
        assert_eq!(c.commits[0].sha, "6dcb09b5b57875f334f61aebed695e2e4193db5e");
        assert_eq!(c.commits[0].title, "Fix all the bugs");
        assert_eq!(c.commits[0].author.as_deref(), Some("Monalisa Octocat"));
        assert_eq!(
            c.commits[0].date,
            Some("2011-04-14T16:00:49Z".parse().unwrap())
        );
    }

    #[test]
    fn a_deploy_lists_what_arrives_a_rollback_what_goes_and_offline_still_shows_shas_and_ages() {
        let mut s = ServiceCommits {
            service: "app".into(),
            direction: Direction::Deploys,
            running: side(
                "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "2011-04-13T16:00:49Z",
            ),
            target: side(
                "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "2011-04-16T10:00:49Z",
            ),
            comparison: Some(published()),
            unavailable: None,
        };
        assert_eq!(
            render_text(std::slice::from_ref(&s), now()),
            [
                "     commits app: deploys 1 commit; running 1111111 (built 3d0h ago) -> target 6dcb09b (built 6h00m ago)",
                "       6dcb09b Fix all the bugs  (Monalisa Octocat, 2d0h ago)",
            ]
        );
        s.direction = Direction::Undoes;
        assert!(render_text(std::slice::from_ref(&s), now())[0].contains("UNDOES 1 commit"));
        s.comparison = None;
        s.unavailable = Some("GitHub: cannot reach api.github.com (no GitHub token)".into());
        assert_eq!(
            render_text(std::slice::from_ref(&s), now()),
            [
                "     commits app: not listed: GitHub: cannot reach api.github.com (no GitHub token); running 1111111 (built 3d0h ago) -> target 6dcb09b (built 6h00m ago)"
            ]
        );
        let v = json_event(&s);
        assert_eq!(v["event"], "commits");
        assert_eq!(v["direction"], "undoes");
        assert_eq!(
            v["running"]["sha"],
            "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        );
        assert!(v["comparison"].is_null());
    }

    #[test]
    fn the_dialog_gets_a_summary_row_and_one_row_per_commit() {
        let mut c = published();
        c.total_commits = 3;
        let s = ServiceCommits {
            service: "app".into(),
            direction: Direction::Deploys,
            running: side("1111111aaaa", "2011-04-13T16:00:49Z"),
            target: side(
                "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "2011-04-16T10:00:49Z",
            ),
            comparison: Some(c),
            unavailable: None,
        };
        let rows = dialog_rows(&s, now(), 8);
        assert_eq!(rows[0].0, "commits");
        assert!(
            rows[0].1.starts_with("deploys 3 commits; running 1111111"),
            "{rows:?}"
        );
        assert_eq!(
            rows[1],
            (
                String::new(),
                "6dcb09b Fix all the bugs  (Monalisa Octocat, 2d0h ago)".into()
            )
        );
        assert_eq!(rows[2], (String::new(), "… and 2 more".into()));
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn the_request_goes_from_what_runs_to_the_target_or_back_for_a_rollback() {
        let at = |sha: Option<&str>| ImageSide {
            sha: sha.and_then(|s| CommitSha::parse(s).ok()),
            ..ImageSide::default()
        };
        let (a, b) = (at(Some("aaaaaaa")), at(Some("bbbbbbb")));
        let (base, head, d) = request_for(DeployKind::Deploy, &a, &b, Some(false)).unwrap();
        assert_eq!(
            (base.as_str(), head.as_str(), d),
            ("aaaaaaa", "bbbbbbb", Direction::Deploys)
        );
        let (base, head, d) = request_for(DeployKind::Deploy, &a, &b, Some(true)).unwrap();
        assert_eq!(
            (base.as_str(), head.as_str(), d),
            ("bbbbbbb", "aaaaaaa", Direction::Undoes)
        );
        let (base, _, d) = request_for(DeployKind::Rollback, &a, &b, None).unwrap();
        assert_eq!((base.as_str(), d), ("bbbbbbb", Direction::Undoes));
        let why = request_for(DeployKind::Deploy, &at(None), &b, None).unwrap_err();
        assert!(why.to_string().contains("running image"), "{why}");
    }
}
