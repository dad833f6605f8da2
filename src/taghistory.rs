//! Tag history: the registry's tags with commit, created time, size, CI result, running now and
//! last deployment, newest first. The OCI API lists tags alphabetically, so dates come from the
//! images' labels — or, for GHCR with a token, from the GitHub Packages API, which also says
//! which tags share one image.

use crate::config::Config;
use crate::domain::{CommitSha, ContainerView, Digest, RunView, Tag, TagView};
use crate::sources::github::{GithubSource, PackageVersion, TokenSource};
use crate::status::RepoTags;
use serde::Serialize;

pub const GHCR: &str = "ghcr.io";

/// Fold package versions into a repository's tags: created dates the labels lack, the digest,
/// the other tags of the same version, and tags the registry listing did not describe.
pub fn merge_package_versions(
    repo: &mut RepoTags,
    versions: &[PackageVersion],
    commit_tags: &[crate::domain::CommitTagPattern],
) {
    for v in versions {
        let tags: Vec<Tag> = v.tags.iter().filter_map(|t| Tag::parse(t).ok()).collect();
        for tag in &tags {
            let aliases: Vec<Tag> = tags.iter().filter(|t| *t != tag).cloned().collect();
            match repo.tags.iter_mut().find(|t| &t.tag == tag) {
                Some(view) => {
                    if view.created.is_none() {
                        view.created = Some(v.created_at);
                    }
                    if view.digest.is_none() {
                        view.digest = Digest::parse(&v.digest).ok();
                    }
                    view.aliases = aliases;
                }
                None => repo.tags.push(TagView {
                    revision: commit_tags.iter().find_map(|p| p.sha_of(tag)),
                    tag: tag.clone(),
                    digest: Digest::parse(&v.digest).ok(),
                    created: Some(v.created_at),
                    size_bytes: None,
                    ci: None,
                    running: false,
                    error: None,
                    aliases,
                    last_deployed: None,
                }),
            }
        }
    }
    for view in repo.tags.iter_mut().filter(|t| t.revision.is_none()) {
        view.revision = commit_tags.iter().find_map(|p| p.sha_of(&view.tag));
    }
    // A version's short and long commit tags name one commit: a revision found on one is
    // true of its aliases (the longest known form wins).
    let revisions: Vec<(Tag, CommitSha)> = repo
        .tags
        .iter()
        .filter_map(|t| t.revision.clone().map(|r| (t.tag.clone(), r)))
        .collect();
    for view in repo.tags.iter_mut().filter(|t| t.revision.is_none()) {
        view.revision = revisions
            .iter()
            .filter(|(tag, _)| view.aliases.contains(tag))
            .max_by_key(|(_, r)| r.as_str().len())
            .map(|(_, r)| r.clone());
    }
    repo.total = repo.total.max(repo.tags.len());
    sort_newest_first(&mut repo.tags);
}

pub fn sort_newest_first(tags: &mut [TagView]) {
    tags.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.tag.cmp(&b.tag)));
}

/// GHCR image repositories map to a container package: `ghcr.io/OWNER/NAME...`.
pub fn ghcr_package(image: &crate::domain::ImageRepo) -> Option<(String, String)> {
    if image.registry() != GHCR {
        return None;
    }
    let (owner, name) = image.path().split_once('/')?;
    Some((owner.to_string(), name.to_string()))
}

/// When each tag was last deployed successfully, from the deploy store's history: by tag
/// name, or by digest when a deploy pinned the digest the tag points to.
pub fn fill_last_deployed(repos: &mut [RepoTags], deployments: &[crate::store::Deployment]) {
    use crate::store::{DeployKind, DeployStatus};
    for repo in repos {
        for t in &mut repo.tags {
            t.last_deployed = deployments
                .iter()
                .filter(|d| {
                    d.status == DeployStatus::Succeeded && d.kind != DeployKind::AutoRollback
                })
                .filter(|d| d.services.iter().any(|s| s == &repo.service))
                .filter(|d| {
                    d.to.tag.as_deref() == Some(t.tag.as_str())
                        || (d.to.digest.is_some()
                            && d.to.digest.as_deref() == t.digest.as_ref().map(|x| x.as_str()))
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
) -> Result<TagsReport, String> {
    let registry = crate::sources::registry::RegistrySource::new(&config.registry);
    let mut repositories = Vec::new();
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    for service in &config.deployment.services {
        let mut repo =
            match crate::status::list_repo_tags_cached(&registry, service, &mut Default::default())
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    // Kept beside the other repositories, not dropped when one succeeds.
                    errors.push(format!("{}: {e}", service.name));
                    repositories.push(crate::status::RepoTags::failed(service, e.to_string()));
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
                        repo.note = versions.note;
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
        repositories.push(repo);
    }
    if !errors.is_empty() && errors.len() == repositories.len() {
        return Err(errors.join("; "));
    }
    crate::status::correlate_tags(containers, runs, &mut repositories);
    Ok(TagsReport {
        repositories,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::github::parse_package_versions;

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
            tag: t(tag),
            digest: None,
            revision: None,
            created,
            size_bytes: None,
            ci: None,
            running: false,
            error: None,
            aliases: vec![],
            last_deployed: None,
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
}
