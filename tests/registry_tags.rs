//! Tag history against the real registry when it holds more tags than are read in detail:
//! the newest are read first and the rest are counted, not silently dropped.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use elt_console::collect::status::list_repo_tags_ordered;
use elt_console::config::{RegistryConfig, ServiceConfig};
use elt_console::domain::{CommitTagPattern, FollowRule, ImageRepo, RunView, Tag, TagView};
use elt_console::sources::registry::RegistrySource;
use std::collections::HashMap;
use std::process::{Command, Stdio};

const REPO: &str = "elt/tag-history-test";

/// Commits in the order they were built (oldest first): their SHAs do not sort that way, so
/// the registry's alphabetical listing says nothing about which is newest.
const COMMITS: [(&str, &str); 6] = [
    (
        "3333333333333333333333333333333333333333",
        "2026-11-01T08:00:00Z",
    ),
    (
        "9999999999999999999999999999999999999999",
        "2026-11-02T08:00:00Z",
    ),
    (
        "1111111111111111111111111111111111111111",
        "2026-11-03T08:00:00Z",
    ),
    (
        "cccccccccccccccccccccccccccccccccccccccc",
        "2026-11-04T08:00:00Z",
    ),
    (
        "5555555555555555555555555555555555555555",
        "2026-11-05T08:00:00Z",
    ),
    (
        "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
        "2026-11-06T08:00:00Z",
    ),
];

/// Push one stub image per commit (the stub app plus labels: created date and revision),
/// `latest` and `v1.4.0` on the newest. Idempotent: reruns move the tags to equal images.
fn push_history() -> String {
    let env = testenv();
    let repo = format!("{}/{REPO}", env.get("ELT_TEST_REGISTRY"));
    let base = env.image_ref(1);
    for (i, (sha, created)) in COMMITS.iter().enumerate() {
        let image = format!("{repo}:sha-{sha}");
        let mut build = Command::new("docker");
        build
            .args(["build", "-q", "-t", &image])
            .args([
                "--label",
                &format!("org.opencontainers.image.created={created}"),
            ])
            .args([
                "--label",
                &format!("org.opencontainers.image.revision={sha}"),
            ])
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = build.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("FROM {base}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker build: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut tags = vec![image.clone()];
        if i == COMMITS.len() - 1 {
            for extra in ["latest", "v1.4.0"] {
                let t = format!("{repo}:{extra}");
                run_ok(Command::new("docker").args(["tag", &image, &t]));
                tags.push(t);
            }
        }
        for t in &tags {
            run_ok(Command::new("docker").args(["push", "-q", t]));
        }
        for t in &tags {
            run_ok(Command::new("docker").args(["rmi", t]));
        }
    }
    repo
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn service(repo: &str) -> ServiceConfig {
    ServiceConfig {
        name: "app".into(),
        image: ImageRepo::parse(repo).unwrap(),
        image_var: "IMAGE_TAG".into(),
        commit_tags: vec![CommitTagPattern::parse("sha-{sha}").unwrap()],
        migrate_service: None,
        follow: FollowRule::Latest,
        ready: None,
        strategy: None,
        expected_vram_mib: None,
    }
}

fn source(limit: usize) -> RegistrySource {
    RegistrySource::new(&RegistryConfig {
        plain_http: vec![testenv().get("ELT_TEST_REGISTRY").to_string()],
        username: String::new(),
        password_env: String::new(),
        request_timeout_ms: 5000,
        tag_detail_limit: limit,
        mirrors: vec![],
    })
}

fn run_of(sha: &str, created: &str) -> RunView {
    RunView {
        id: 1,
        number: 1,
        status: "completed".into(),
        conclusion: Some("success".into()),
        branch: Some("main".into()),
        event: "push".into(),
        head_sha: sha.into(),
        title: None,
        actor: None,
        created_at: at(created),
        updated_at: at(created),
        run_started_at: None,
        html_url: String::new(),
    }
}

fn names(tags: &[TagView]) -> Vec<String> {
    tags.iter().map(|t| t.tag.to_string()).collect()
}

/// Eight tags, details for three: with the runs list's commit dates (what the console has
/// without a GitHub token for a public repository), `latest` and the two newest commits are
/// read, and the five others are counted. Then, as the dashboard refreshes, the kept details
/// let each refresh read the next ones until every tag is known by its created date, and a
/// version tag is grouped with the commit tag of the same image.
#[test]
fn newest_tags_are_read_first_and_the_rest_counted() {
    let repo = push_history();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let service = service(&repo);
    let registry = source(3);
    let runs: Vec<RunView> = COMMITS.iter().map(|(s, c)| run_of(s, c)).collect();
    let (newest, second) = (COMMITS[5].0, COMMITS[4].0);

    let one_shot = rt
        .block_on(list_repo_tags_ordered(
            &registry,
            &service,
            &mut HashMap::new(),
            &runs,
        ))
        .unwrap();
    assert_eq!(one_shot.total, 8);
    assert_eq!(one_shot.not_inspected, 5, "{:?}", names(&one_shot.tags));
    assert!(one_shot.truncated);
    assert_eq!(
        names(&one_shot.tags)
            .into_iter()
            .filter(|t| t != "latest")
            .collect::<Vec<_>>(),
        [format!("sha-{newest}"), format!("sha-{second}")]
    );
    assert_eq!(one_shot.tags[0].created, Some(at(COMMITS[5].1)));
    let note = one_shot.note.clone().unwrap_or_default();
    assert!(note.contains("5 tags not inspected"), "{note}");

    // The dashboard: no runs known, details kept between refreshes.
    let mut cache: HashMap<Tag, TagView> = HashMap::new();
    let mut counts = Vec::new();
    let mut last = None;
    for _ in 0..6 {
        let r = rt
            .block_on(list_repo_tags_ordered(&registry, &service, &mut cache, &[]))
            .unwrap();
        counts.push(r.not_inspected);
        let done = r.not_inspected == 0;
        last = Some(r);
        if done {
            break;
        }
    }
    let last = last.unwrap();
    // `latest` is read again each time (it moves): two new tags per refresh.
    assert_eq!(counts, [5, 3, 1, 0], "not inspected per refresh");
    let dated: Vec<String> = last
        .tags
        .iter()
        .filter(|t| t.tag.as_str().starts_with("sha-"))
        .map(|t| t.tag.to_string())
        .collect();
    let newest_first: Vec<String> = COMMITS
        .iter()
        .rev()
        .map(|(s, _)| format!("sha-{s}"))
        .collect();
    assert_eq!(dated, newest_first);
    let version = last
        .tags
        .iter()
        .find(|t| t.tag.as_str() == "v1.4.0")
        .unwrap();
    assert!(
        version
            .aliases
            .iter()
            .any(|a| a.as_str() == format!("sha-{newest}")),
        "{:?}",
        version.aliases
    );
    let follow = |rule: FollowRule| {
        elt_console::collect::taghistory::pick_follow_tag(&last.tags, &rule).map(|t| t.to_string())
    };
    assert_eq!(
        follow(FollowRule::Newest(
            CommitTagPattern::parse("sha-{sha}").unwrap()
        )),
        Some(format!("sha-{newest}"))
    );
    assert_eq!(
        follow(FollowRule::Semver { prereleases: false }).as_deref(),
        Some("v1.4.0")
    );
}

/// `follow = "semver"`: `watch --once` deploys the highest release by version order
/// (v1.10.0, not the alphabetically last v1.9.0, and not the pre-release v1.11.0-rc.1),
/// through the engine with that tag as the target.
#[test]
fn watch_follows_the_highest_version() {
    let _env = testenv();
    let pushed = format!("{}/elt-t/follow-semver", registry());
    publish(&pushed, 1, "v1.0.0");
    publish(&pushed, 2, "v1.10.0");
    publish(&pushed, 1, "v1.9.0");
    publish(&pushed, 1, "v1.11.0-rc.1");
    run_ok(Command::new("docker").args(["pull", "-q", &format!("{pushed}:v1.0.0")]));
    let p = StubProject::up("eltw-follow-semver", &format!("{pushed}:v1.0.0"));
    p.write_config(&pushed, "main-{sha}", "", "");
    let config = std::fs::read_to_string(p.path("config.toml")).unwrap();
    let config = config.replacen(
        "migrate_service = \"migrate\"\n",
        "migrate_service = \"migrate\"\nfollow = \"semver\"\n",
        1,
    );
    write_file(p.dir.path(), "config.toml", &config);
    let out = run(p.console().args(["watch", "--once", "--json"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"deployed\""), "{stdout}");
    let env_file = std::fs::read_to_string(p.path(".env")).unwrap();
    assert!(
        env_file.contains(&format!("IMAGE_TAG={pushed}:v1.10.0\n")),
        "{env_file}\n{stdout}"
    );
}
