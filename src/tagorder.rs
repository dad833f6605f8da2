//! The pure half of tag history: ordering, folding the Packages API's versions into a
//! repository's tags, which tags to inspect first, aliases by digest, and which tag a follow
//! rule picks. No I/O, so `status` and `taghistory` both use it without importing each other.

use crate::domain::{CommitSha, Digest, RepoTags, RunView, Tag, TagView};
use crate::sources::github::PackageVersion;

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

/// Which tags a listing reads details of, and in what order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailPlan {
    /// Tags to read now, newest known first, at most the detail limit.
    pub read: Vec<Tag>,
    /// Tags whose details are kept from an earlier read (they never move): no request.
    pub cached: Vec<Tag>,
    /// Tags listed but neither read nor kept.
    pub not_inspected: usize,
}

/// Tags that by convention never move once pushed: a commit's tag and a release version.
pub fn is_immutable(tag: &Tag, commit_tags: &[crate::domain::CommitTagPattern]) -> bool {
    commit_tags.iter().any(|p| p.sha_of(tag).is_some())
        || crate::domain::SemverTag::parse(tag).is_some()
}

/// Choose the tags to describe. The registry lists tags alphabetically, which says nothing of
/// age, so the order is what is known before reading them: `latest`; commit tags by the date
/// of their commit's newest run in the runs list (newest first); `vX.Y.Z` tags by version
/// (highest first); the others last. Kept details cost nothing and are always included, so a
/// dashboard that refreshes reads the next `limit` tags each time until every commit and
/// version tag is known by its image's created date.
pub fn plan_details(
    all: &[Tag],
    commit_tags: &[crate::domain::CommitTagPattern],
    runs: &[RunView],
    cache: &std::collections::HashMap<Tag, TagView>,
    limit: usize,
) -> DetailPlan {
    use crate::domain::SemverTag;
    let (cached, unknown): (Vec<Tag>, Vec<Tag>) = all.iter().cloned().partition(|t| {
        is_immutable(t, commit_tags) && cache.get(t).is_some_and(|v| v.error.is_none())
    });
    let commit_date = |t: &Tag| {
        let sha = commit_tags.iter().find_map(|p| p.sha_of(t))?;
        runs.iter()
            .filter(|r| CommitSha::parse(&r.head_sha).is_ok_and(|s| s.matches(&sha)))
            .map(|r| r.created_at)
            .max()
    };
    // Smaller ranks first; within a rank, newest first.
    let mut ranked: Vec<(
        u8,
        std::cmp::Reverse<_>,
        std::cmp::Reverse<Option<SemverTag>>,
        Tag,
    )> = unknown
        .into_iter()
        .map(|t| {
            let date = commit_date(&t);
            let version = SemverTag::parse(&t);
            let rank = if t.as_str() == "latest" {
                0
            } else if date.is_some() {
                1
            } else if version.is_some() {
                2
            } else {
                3
            };
            (rank, std::cmp::Reverse(date), std::cmp::Reverse(version), t)
        })
        .collect();
    ranked.sort();
    let mut read: Vec<Tag> = ranked.into_iter().map(|(.., t)| t).collect();
    let not_inspected = read.len().saturating_sub(limit);
    read.truncate(limit);
    DetailPlan {
        read,
        cached,
        not_inspected,
    }
}

/// Tags that point to one image are aliases of each other (`latest`, `v1.4.0` and
/// `sha-abc1234` pushed together): known from the digests the registry gave, kept where the
/// Packages API already said.
pub fn alias_by_digest(tags: &mut [TagView]) {
    let digests: Vec<(Tag, Digest)> = tags
        .iter()
        .filter_map(|t| Some((t.tag.clone(), t.digest.clone()?)))
        .collect();
    for view in tags.iter_mut().filter(|v| v.aliases.is_empty()) {
        let Some(digest) = &view.digest else { continue };
        view.aliases = digests
            .iter()
            .filter(|(tag, d)| d == digest && tag != &view.tag)
            .map(|(tag, _)| tag.clone())
            .collect();
    }
}

/// The tag a service follows among its repository's described tags: `latest`; the highest
/// `vX.Y.Z` (pre-releases only when the rule asks); or the commit-pattern tag whose image was
/// created last (ties to the larger tag name, so the choice is stable). None when no tag fits.
pub fn pick_follow_tag(tags: &[TagView], rule: &crate::domain::FollowRule) -> Option<Tag> {
    use crate::domain::{FollowRule, SemverTag};
    match rule {
        FollowRule::Latest => tags
            .iter()
            .find(|t| t.tag.as_str() == "latest")
            .map(|t| t.tag.clone()),
        FollowRule::Semver { prereleases } => tags
            .iter()
            .filter_map(|t| Some((SemverTag::parse(&t.tag)?, &t.tag)))
            .filter(|(v, _)| *prereleases || !v.is_prerelease())
            .max()
            .map(|(_, t)| t.clone()),
        FollowRule::Newest(pattern) => tags
            .iter()
            .filter(|t| pattern.sha_of(&t.tag).is_some())
            .filter_map(|t| Some((t.created?, &t.tag)))
            .max()
            .map(|(_, t)| t.clone()),
    }
}

pub fn sort_newest_first(tags: &mut [TagView]) {
    tags.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.tag.cmp(&b.tag)));
}
