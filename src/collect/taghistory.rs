//! Tag history: the registry's tags with commit, created time, size, CI result, running now and
//! last deployment, newest first. The OCI API lists tags alphabetically, so dates come from the
//! images' labels — or, for GHCR with a token, from the GitHub Packages API, which also says
//! which tags share one image.

use crate::collect::status::RepoTags;
use crate::config::Config;
use crate::domain::{ContainerView, Digest, RunView, Tag, TagView};
use crate::sources::github::{GithubSource, TokenSource};
use serde::Serialize;

pub use crate::domain::{GHCR, ghcr_package};
pub use crate::tagorder::*;

/// The tag `svc.follow` names in the registry now: `latest` as it is (no request); for
/// `semver`, from the tag list; for `newest:`, from the created dates of the commit tags,
/// read batch by batch (kept in `cache` between calls) until none is left uninspected, never
/// picking from a partial view. Shared by `watch` and a tag-less `deploy`.
pub async fn follow_tag(
    registry: &crate::sources::registry::RegistrySource,
    svc: &crate::config::ServiceConfig,
    cache: &mut std::collections::HashMap<Tag, TagView>,
) -> Result<Tag, crate::sources::registry::RegistryError> {
    use crate::domain::FollowRule;
    use crate::sources::registry::RegistryError;
    let none_fits = || RegistryError::NotFound {
        what: format!(
            "a tag of {} for follow = \"{}\" (service {})",
            svc.image, svc.follow, svc.name
        ),
    };
    match &svc.follow {
        FollowRule::Latest => Tag::parse("latest").map_err(|e| RegistryError::Other {
            repo: svc.image.to_string(),
            message: e.to_string(),
        }),
        FollowRule::Semver { .. } => {
            let views: Vec<TagView> = registry
                .list_tags(&svc.image)
                .await?
                .into_iter()
                // semantic-version order needs the name only
                .map(TagView::named)
                .collect();
            pick_follow_tag(&views, &svc.follow).ok_or_else(none_fits)
        }
        FollowRule::Newest(_) => {
            let mut repo =
                crate::collect::status::list_repo_tags_cached(registry, svc, cache).await?;
            let rounds = repo.total / registry.detail_limit() + 2;
            for _ in 0..rounds {
                if repo.not_inspected == 0 {
                    break;
                }
                repo = crate::collect::status::list_repo_tags_cached(registry, svc, cache).await?;
            }
            if repo.not_inspected > 0 {
                return Err(RegistryError::Other {
                    repo: svc.image.to_string(),
                    message: format!(
                        "{} tags still not inspected for follow = \"{}\"; raise registry.tag_detail_limit",
                        repo.not_inspected, svc.follow
                    ),
                });
            }
            pick_follow_tag(&repo.tags, &svc.follow).ok_or_else(none_fits)
        }
    }
}

/// Why the services' follow rules named no one target.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("service {service}: follow = \"{rule}\": {source}")]
    Follow {
        service: String,
        rule: String,
        source: crate::sources::registry::RegistryError,
    },
    #[error("service {service}: {source}")]
    Resolve {
        service: String,
        source: crate::sources::registry::RegistryError,
    },
    #[error(transparent)]
    DifferentTags(#[from] DifferentTags),
}

/// The services' follow rules chose different tags (service, tag), and the engine moves
/// every service to one target.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the services' follow rules chose different tags ({}); watch deploys one tag to every service",
    .0.iter().map(|(s, t)| format!("{s}: {t}")).collect::<Vec<_>>().join(", ")
)]
pub struct DifferentTags(pub Vec<(String, Tag)>);

/// What a tag-less `deploy` means: `latest` when every service follows it (the engine pins it
/// to the commit tag of the same digest); else the one tag the services' follow rules choose
/// now, as `watch` would deploy it. The text says which rule chose it, for the operator.
pub async fn follow_target(
    config: &Config,
) -> Result<(crate::deploy::Target, Option<String>), FollowError> {
    use crate::domain::FollowRule;
    let services = &config.deployment.services;
    if services.iter().all(|s| s.follow == FollowRule::Latest) {
        return Ok((crate::deploy::Target::Latest, None));
    }
    let registry = crate::sources::registry::RegistrySource::new(&config.registry);
    let mut picked = Vec::new();
    for svc in services {
        let mut cache = std::collections::HashMap::new();
        let tag = follow_tag(&registry, svc, &mut cache)
            .await
            .map_err(|source| FollowError::Follow {
                service: svc.name.clone(),
                rule: svc.follow.to_string(),
                source,
            })?;
        let digest =
            registry
                .resolve(&svc.image, &tag)
                .await
                .map_err(|source| FollowError::Resolve {
                    service: svc.name.clone(),
                    source,
                })?;
        picked.push((svc.name.clone(), tag, digest));
    }
    let target = deploy_target(services, &picked)?;
    let why = picked
        .iter()
        .map(|(s, t, _)| {
            let rule = services
                .iter()
                .find(|x| &x.name == s)
                .map(|x| x.follow.to_string())
                .unwrap_or_default();
            format!("{s} follows \"{rule}\": {t}")
        })
        .collect::<Vec<_>>()
        .join("; ");
    Ok((target, Some(why)))
}

/// When each tag was last deployed successfully, from the deploy store's history: by tag
/// name, or by digest when a deploy pinned the digest the tag points to.
pub fn fill_last_deployed(repos: &mut [RepoTags], deployments: &[crate::domain::Deployment]) {
    use crate::domain::{DeployKind, DeployStatus};
    for repo in repos {
        for t in &mut repo.tags {
            t.last_deployed = deployments
                .iter()
                .filter(|d| {
                    d.status == DeployStatus::Succeeded && d.kind != DeployKind::AutoRollback
                })
                .filter(|d| d.services.iter().any(|s| s == &repo.service))
                .filter(|d| {
                    d.to.tag_str() == Some(t.tag.as_str())
                        || (d.to.digest.is_some()
                            && d.to.digest_str() == t.digest.as_ref().map(|x| x.as_str()))
                })
                .map(|d| d.finished_at.unwrap_or(d.started_at))
                .max();
        }
    }
}

/// Everything `elt-console tags` reports.
#[derive(Debug, Clone, Serialize)]
pub struct TagsReport {
    pub repositories: Vec<RepoTags>,
    /// Where dates and aliases came from for each repository, and why the Packages API was not
    /// used where it was not.
    pub notes: Vec<String>,
}

/// Gather tag history: registry tags, the Packages API where it applies, CI results from the
/// workflow's runs, and what runs now.
pub async fn collect(
    config: &Config,
    containers: &[ContainerView],
    runs: &[RunView],
    gh: Option<&GithubSource>,
) -> Result<TagsReport, crate::collect::status::StatusError> {
    let registry = crate::sources::registry::RegistrySource::new(&config.registry);
    let mut repositories = Vec::new();
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    for service in &config.deployment.services {
        let mut repo = match crate::collect::status::list_repo_tags_ordered(
            &registry,
            service,
            &mut Default::default(),
            runs,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                // Kept beside the other repositories, not dropped when one succeeds.
                errors.push((service.name.clone(), e.to_string()));
                repositories.push(crate::collect::status::RepoTags::failed(
                    service,
                    e.to_string(),
                ));
                continue;
            }
        };
        match (ghcr_package(&service.image), gh) {
            (Some((owner, name)), Some(gh)) if gh.token_source != TokenSource::None => {
                match gh.package_versions(&owner, &name).await {
                    Ok(versions) => {
                        merge_package_versions(&mut repo, &versions.versions, &service.commit_tags);
                        notes.push(format!(
                            "{}: dates and aliases from the GitHub Packages API ({})",
                            repo.repository,
                            crate::format::count(versions.versions.len(), "version", "versions")
                        ));
                        if let Some(note) = &versions.note {
                            notes.push(format!("{}: {note}", repo.repository));
                        }
                        repo.note = match (versions.note, repo.note.take()) {
                            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                            (a, b) => a.or(b),
                        };
                    }
                    Err(e) => notes.push(format!(
                        "{}: GitHub Packages API not used ({e}); dates from image labels",
                        repo.repository
                    )),
                }
            }
            (Some(_), _) => notes.push(format!(
                "{}: dates from image labels (a token with read:packages adds the Packages API)",
                repo.repository
            )),
            (None, _) => notes.push(format!("{}: dates from image labels", repo.repository)),
        }
        if repo.not_inspected > 0 {
            notes.push(format!(
                "{}: {} not inspected (registry.tag_detail_limit = {}); read first: latest, commit tags by their run's date, versions by number",
                repo.repository,
                crate::format::count(repo.not_inspected, "tag", "tags"),
                registry.detail_limit()
            ));
        }
        repositories.push(repo);
    }
    if !errors.is_empty() && errors.len() == repositories.len() {
        return Err(crate::collect::status::StatusError::EveryRepository(errors));
    }
    crate::collect::status::correlate_tags(containers, runs, &mut repositories);
    Ok(TagsReport {
        repositories,
        notes,
    })
}

/// What the engine is asked to deploy: `latest` when every service follows it (the engine
/// pins it to the commit tag of the same digest), else the one tag the services' rules
/// chose. The engine moves the services together to one target, so services whose rules
/// chose different tags cannot be followed by one watch.
pub fn deploy_target(
    services: &[crate::config::ServiceConfig],
    picked: &[(String, Tag, Digest)],
) -> Result<crate::domain::Target, DifferentTags> {
    use crate::domain::{FollowRule, Target};
    if services.iter().all(|s| s.follow == FollowRule::Latest) {
        return Ok(Target::Latest);
    }
    let mut tags: Vec<&Tag> = picked.iter().map(|(_, t, _)| t).collect();
    tags.dedup();
    match tags.as_slice() {
        [one] => Ok(Target::Tag((*one).clone())),
        _ => Err(DifferentTags(
            picked
                .iter()
                .map(|(s, t, _)| (s.clone(), t.clone()))
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::github::{PackageVersion, parse_package_versions};

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/github/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn packages_payload_gives_dates_and_aliases_newest_first() {
        // The published list whose versions carry container tags (one version has none).
        let versions =
            parse_package_versions(&fixture("packages-versions-list-authenticated-user.json"))
                .unwrap();
        assert!(versions.iter().any(|v| v.tags.is_empty()));
        let tagged: Vec<&PackageVersion> = versions.iter().filter(|v| !v.tags.is_empty()).collect();
        assert!(!tagged.is_empty());
        let mut repo = RepoTags {
            service: "app".into(),
            repository: "ghcr.io/octocat/hello".into(),
            total: 0,
            tags: vec![],
            truncated: false,
            not_inspected: 0,
            error: None,
            note: None,
        };
        merge_package_versions(&mut repo, &versions, &[]);
        let expected: usize = tagged.iter().map(|v| v.tags.len()).sum();
        assert_eq!(repo.tags.len(), expected);
        for w in repo.tags.windows(2) {
            assert!(w[0].created >= w[1].created, "newest first");
        }
        for v in &tagged {
            let view = repo
                .tags
                .iter()
                .find(|t| t.tag.as_str() == v.tags[0])
                .unwrap();
            assert_eq!(view.created, Some(v.created_at));
            assert_eq!(view.aliases.len(), v.tags.len() - 1);
        }
    }

    #[test]
    fn other_package_types_have_no_container_tags() {
        for f in [
            "packages-versions-list-user.json",
            "packages-versions-list-org.json",
        ] {
            let versions = parse_package_versions(&fixture(f)).unwrap();
            assert!(!versions.is_empty(), "{f}");
            assert!(versions.iter().all(|v| v.tags.is_empty()), "{f}");
        }
    }

    #[test]
    fn label_dates_win_and_missing_ones_are_filled() {
        let t = |s: &str| Tag::parse(s).unwrap();
        let sha = "08f0ab8d98c3ef79aa6fdebeb3964929ba08eb7b";
        let labelled = chrono::DateTime::parse_from_rfc3339("2026-11-19T08:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let pushed = labelled + chrono::Duration::minutes(3);
        let view = |tag: &str, created| TagView {
            created,
            ..TagView::named(t(tag))
        };
        let mut repo = RepoTags {
            service: "app".into(),
            repository: "ghcr.io/o/n".into(),
            total: 2,
            tags: vec![
                view("latest", None),
                view(&format!("main-{sha}"), Some(labelled)),
            ],
            truncated: false,
            not_inspected: 0,
            error: None,
            note: None,
        };
        let pattern = crate::domain::CommitTagPattern::parse("main-{sha}").unwrap();
        let versions = vec![PackageVersion {
            id: 1,
            digest: format!("sha256:{}", "a".repeat(64)),
            created_at: pushed,
            tags: vec![
                "latest".into(),
                format!("main-{sha}"),
                "main-08f0ab8".into(),
            ],
        }];
        merge_package_versions(&mut repo, &versions, &[pattern]);
        let get = |name: &str| repo.tags.iter().find(|v| v.tag.as_str() == name).unwrap();
        assert_eq!(get(&format!("main-{sha}")).created, Some(labelled));
        assert_eq!(get("latest").created, Some(pushed));
        assert_eq!(
            get("main-08f0ab8").revision.as_ref().unwrap().as_str(),
            "08f0ab8"
        );
        assert_eq!(get("latest").revision.as_ref().unwrap().as_str(), sha);
        assert_eq!(get("latest").aliases.len(), 2);
        assert_eq!(repo.total, 3);
    }

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    fn tag_view(tag: &str, created: Option<&str>, digest: Option<char>) -> TagView {
        TagView {
            digest: digest
                .map(|c| Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()),
            created: created.map(at),
            ..TagView::named(Tag::parse(tag).unwrap())
        }
    }

    fn run(sha: &str, created: &str) -> RunView {
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

    #[test]
    fn details_are_read_newest_known_first_and_the_rest_counted() {
        let t = |s: &str| Tag::parse(s).unwrap();
        let pattern = crate::domain::CommitTagPattern::parse("sha-{sha}").unwrap();
        let (a, b, c, d) = (
            "a".repeat(40),
            "b".repeat(40),
            "c".repeat(40),
            "d".repeat(40),
        );
        // Alphabetical, as the registry lists them.
        let all: Vec<Tag> = [
            "latest".to_string(),
            format!("sha-{a}"),
            format!("sha-{b}"),
            format!("sha-{c}"),
            format!("sha-{d}"),
            "v1.10.0".into(),
            "v1.9.0".into(),
            "wip".into(),
        ]
        .iter()
        .map(|s| t(s))
        .collect();
        // Commit d is the newest, then a; b and c have no run in the list.
        let runs = [
            run(&a, "2026-11-20T08:00:00Z"),
            run(&d, "2026-11-21T08:00:00Z"),
        ];
        let mut cache = std::collections::HashMap::new();
        let plan = plan_details(&all, std::slice::from_ref(&pattern), &runs, &cache, 5);
        assert_eq!(
            plan.read,
            vec![
                t("latest"),
                t(&format!("sha-{d}")),
                t(&format!("sha-{a}")),
                t("v1.10.0"),
                t("v1.9.0")
            ]
        );
        assert_eq!((plan.cached.len(), plan.not_inspected), (0, 3));
        // Once read, commit and version tags are kept: the next refresh reads the rest.
        for tag in &plan.read {
            cache.insert(
                tag.clone(),
                tag_view(tag.as_str(), Some("2026-11-01T00:00:00Z"), None),
            );
        }
        let next = plan_details(&all, &[pattern], &runs, &cache, 5);
        assert_eq!(next.cached.len(), 4, "latest is read again: it moves");
        assert_eq!(next.read.len(), 4);
        assert_eq!(next.not_inspected, 0);
    }

    #[test]
    fn tags_of_one_digest_are_aliases() {
        let mut tags = vec![
            tag_view("latest", None, Some('a')),
            tag_view("v1.4.0", None, Some('a')),
            tag_view("sha-abc1234", None, Some('a')),
            tag_view("v1.3.0", None, Some('b')),
            tag_view("broken", None, None),
        ];
        alias_by_digest(&mut tags);
        let names = |v: &TagView| v.aliases.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&tags[1]), ["latest", "sha-abc1234"]);
        assert_eq!(names(&tags[2]), ["latest", "v1.4.0"]);
        assert!(tags[3].aliases.is_empty() && tags[4].aliases.is_empty());
    }

    #[test]
    fn follow_rules_pick_their_tag() {
        use crate::domain::{CommitTagPattern, FollowRule};
        let tags = vec![
            tag_view("latest", Some("2026-11-10T00:00:00Z"), None),
            tag_view("v1.9.0", Some("2026-11-01T00:00:00Z"), None),
            tag_view("v1.10.0", Some("2026-10-01T00:00:00Z"), None),
            tag_view("v1.11.0-rc.1", Some("2026-11-09T00:00:00Z"), None),
            tag_view("sha-aaaaaaa", Some("2026-11-08T00:00:00Z"), None),
            tag_view("sha-fffffff", Some("2026-11-02T00:00:00Z"), None),
            tag_view("sha-0000000", None, None),
            tag_view("main-bbbbbbb", Some("2026-11-11T00:00:00Z"), None),
        ];
        let pick = |rule: FollowRule| pick_follow_tag(&tags, &rule).map(|t| t.to_string());
        assert_eq!(pick(FollowRule::Latest).as_deref(), Some("latest"));
        // Version order, not date order and not string order.
        assert_eq!(
            pick(FollowRule::Semver { prereleases: false }).as_deref(),
            Some("v1.10.0")
        );
        assert_eq!(
            pick(FollowRule::Semver { prereleases: true }).as_deref(),
            Some("v1.11.0-rc.1")
        );
        // Created date, not the name; other patterns and undated tags ignored.
        let sha = FollowRule::Newest(CommitTagPattern::parse("sha-{sha}").unwrap());
        assert_eq!(pick(sha).as_deref(), Some("sha-aaaaaaa"));
        assert_eq!(pick_follow_tag(&tags[1..], &FollowRule::Latest), None);
        assert_eq!(
            pick_follow_tag(&tags[..1], &FollowRule::Semver { prereleases: false }),
            None
        );
    }
}
