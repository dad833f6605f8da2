//! Validated names. Anything that can reach a shell, an env file or a URL is parsed into one of
//! these first, so a hostile tag like `x; rm -rf /` is refused at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error(
        "invalid tag {0:?}: a tag is 1-128 of [A-Za-z0-9_.-] and starts with a letter, digit or '_'"
    )]
    Tag(String),
    #[error(
        "invalid image repository {0:?}: expected [registry/]path with lowercase path components"
    )]
    Repository(String),
    #[error("invalid digest {0:?}: expected sha256:<64 hex>")]
    Digest(String),
    #[error("invalid commit SHA {0:?}: expected 7 to 40 hex characters")]
    Sha(String),
    #[error("invalid GitHub repository {0:?}: expected owner/name")]
    GithubRepo(String),
    #[error("invalid workflow {0:?}: expected a file name like build.yml or a numeric id")]
    Workflow(String),
    #[error("invalid image reference {0:?}: {1}")]
    ImageRef(String, String),
    #[error(
        "follow rule {0:?}: expected \"latest\", \"semver\", \"semver-prerelease\" or \"newest:PATTERN\" (e.g. \"newest:sha-{{sha}}\")"
    )]
    FollowRule(String),
    #[error("commit tag pattern {0:?} must contain {{sha}}")]
    PatternWithoutSha(String),
    #[error("commit tag pattern {0:?} has {{sha}} twice")]
    PatternShaTwice(String),
    #[error("commit tag pattern {0:?}: {1}")]
    PatternTag(String, Box<NameError>),
}

/// An OCI tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (distribution-spec).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let bytes = s.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if first_ok && rest_ok && bytes.len() <= 128 {
            Ok(Self(s.to_string()))
        } else {
            Err(NameError::Tag(s.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Tag {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Tag::parse(&s)
    }
}
impl From<Tag> for String {
    fn from(t: Tag) -> String {
        t.0
    }
}
impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A content digest, `sha256:<64 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        match s.strip_prefix("sha256:") {
            Some(hex) if hex.len() == 64 && is_lower_hex(hex) => Ok(Self(s.to_string())),
            _ => Err(NameError::Digest(s.to_string())),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The first 12 hex characters, as `docker images` shows them.
    pub fn short(&self) -> &str {
        &self.0[7..19]
    }
}
impl TryFrom<String> for Digest {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Digest::parse(&s)
    }
}
impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A git commit SHA, short (7+) or full (40), lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitSha(String);

impl CommitSha {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let lower = s.to_ascii_lowercase();
        if (7..=40).contains(&lower.len()) && is_lower_hex(&lower) {
            Ok(Self(lower))
        } else {
            Err(NameError::Sha(s.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn short(&self) -> &str {
        &self.0[..7]
    }
    /// True when one SHA is a prefix of the other (short tags name the same commit).
    pub fn matches(&self, other: &CommitSha) -> bool {
        self.0.starts_with(&other.0) || other.0.starts_with(&self.0)
    }
}
impl TryFrom<String> for CommitSha {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        CommitSha::parse(&s)
    }
}
impl From<CommitSha> for String {
    fn from(c: CommitSha) -> String {
        c.0
    }
}
impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image repository: registry host (with optional port) and path, e.g.
/// `ghcr.io` + `arthurlee116/english-listening-trainer`. A bare `name` means Docker Hub's
/// `library/name`, as the docker CLI reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRepo {
    registry: String,
    path: String,
}

pub const DOCKER_HUB: &str = "docker.io";

impl ImageRepo {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let err = || NameError::Repository(s.to_string());
        if s.is_empty() || s.len() > 255 {
            return Err(err());
        }
        let (registry, path) = match s.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), s.to_string()),
        };
        // Docker Hub answers to several names; one spelling keeps `docker.io/acme/bot`,
        // `index.docker.io/acme/bot` and `acme/bot` one repository (oci-client sends the API
        // requests to registry-1.docker.io for it).
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
                DOCKER_HUB.to_string()
            }
            _ => registry,
        };
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let registry_ok = registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
        let path_ok = path.split('/').all(|component| {
            !component.is_empty()
                && component.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && component
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
        });
        if registry_ok && path_ok {
            Ok(Self { registry, path })
        } else {
            Err(err())
        }
    }
    pub fn registry(&self) -> &str {
        &self.registry
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The repository as docker writes it in `repo:tag` references.
    pub fn docker_name(&self) -> String {
        if self.registry == DOCKER_HUB {
            match self.path.strip_prefix("library/") {
                Some(short) => short.to_string(),
                None => self.path.clone(),
            }
        } else {
            format!("{}/{}", self.registry, self.path)
        }
    }
    pub fn with_tag(&self, tag: &Tag) -> String {
        format!("{}:{}", self.docker_name(), tag)
    }
    pub fn with_digest(&self, digest: &Digest) -> String {
        format!("{}@{}", self.docker_name(), digest)
    }
}
impl TryFrom<String> for ImageRepo {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        ImageRepo::parse(&s)
    }
}
impl From<ImageRepo> for String {
    fn from(r: ImageRepo) -> String {
        r.docker_name()
    }
}
impl fmt::Display for ImageRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.docker_name())
    }
}

/// A `vX.Y.Z` or `X.Y.Z` tag, with an optional `-pre.release` (build metadata is not valid in
/// a tag). Ordered by semantic-version precedence: a pre-release sorts below its release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemverTag {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Vec<String>,
}

impl SemverTag {
    pub fn parse(tag: &Tag) -> Option<Self> {
        let s = tag.as_str();
        let s = s.strip_prefix('v').unwrap_or(s);
        let (core, pre) = match s.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (s, None),
        };
        let number = |p: &str| -> Option<u64> {
            // SemVer forbids leading zeros; `01.2.3` is some other scheme.
            (!p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0')))
            .then(|| p.parse().ok())
            .flatten()
        };
        let mut parts = core.split('.');
        let (major, minor, patch) = (
            number(parts.next()?)?,
            number(parts.next()?)?,
            number(parts.next()?)?,
        );
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            Some(p) => {
                let ids: Vec<String> = p.split('.').map(str::to_string).collect();
                if ids.iter().any(String::is_empty) {
                    return None;
                }
                ids
            }
            None => Vec::new(),
        };
        Some(Self {
            major,
            minor,
            patch,
            pre,
        })
    }
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl Ord for SemverTag {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let o = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}
impl PartialOrd for SemverTag {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Which tag `watch` and a tag-less deploy follow for a service: `latest`; the newest
/// `vX.Y.Z` by semantic-version order (`semver`, pre-releases ignored; `semver-prerelease`
/// counts them); or the newest tag of a commit pattern by the image's created date
/// (`newest:sha-{sha}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FollowRule {
    #[default]
    Latest,
    Semver {
        prereleases: bool,
    },
    Newest(CommitTagPattern),
}

impl FollowRule {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        match s {
            "latest" => Ok(Self::Latest),
            "semver" => Ok(Self::Semver { prereleases: false }),
            "semver-prerelease" => Ok(Self::Semver { prereleases: true }),
            _ => match s.strip_prefix("newest:") {
                Some(pattern) => CommitTagPattern::parse(pattern).map(Self::Newest),
                None => Err(NameError::FollowRule(s.to_string())),
            },
        }
    }
}
impl TryFrom<String> for FollowRule {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        FollowRule::parse(&s)
    }
}
impl From<FollowRule> for String {
    fn from(r: FollowRule) -> String {
        r.to_string()
    }
}
impl fmt::Display for FollowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest => f.write_str("latest"),
            Self::Semver { prereleases: false } => f.write_str("semver"),
            Self::Semver { prereleases: true } => f.write_str("semver-prerelease"),
            Self::Newest(p) => write!(f, "newest:{}", String::from(p.clone())),
        }
    }
}

/// A reference to an image as a container reports it: repository plus tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    pub repo: ImageRepo,
    pub tag: Option<Tag>,
    pub digest: Option<Digest>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let bad = |why: &str| NameError::ImageRef(s.to_string(), why.to_string());
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).map_err(|e| bad(&e.to_string()))?)),
            None => (s, None),
        };
        // A ':' after the last '/' separates the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (
                    &rest[..at],
                    Some(Tag::parse(&rest[at + 1..]).map_err(|e| bad(&e.to_string()))?),
                )
            }
            None => (rest, None),
        };
        let repo = ImageRepo::parse(repo).map_err(|e| bad(&e.to_string()))?;
        Ok(Self { repo, tag, digest })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repo.docker_name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `owner/name` of a GitHub repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GithubRepo {
    owner: String,
    name: String,
}

impl GithubRepo {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let ok_part = |p: &str| {
            !p.is_empty()
                && p.len() <= 100
                && p != "."
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        match s.split_once('/') {
            Some((owner, name)) if ok_part(owner) && ok_part(name) => Ok(Self {
                owner: owner.to_string(),
                name: name.to_string(),
            }),
            _ => Err(NameError::GithubRepo(s.to_string())),
        }
    }
    pub fn owner(&self) -> &str {
        &self.owner
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}
impl TryFrom<String> for GithubRepo {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        GithubRepo::parse(&s)
    }
}
impl From<GithubRepo> for String {
    fn from(r: GithubRepo) -> String {
        format!("{}/{}", r.owner, r.name)
    }
}
impl fmt::Display for GithubRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A workflow file name (`build-and-push.yml`) or numeric id, safe to put in a URL path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkflowId(String);

impl WorkflowId {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let numeric = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let file = (s.ends_with(".yml") || s.ends_with(".yaml"))
            && s.len() <= 200
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if numeric || file {
            Ok(Self(s.to_string()))
        } else {
            Err(NameError::Workflow(s.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for WorkflowId {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        WorkflowId::parse(&s)
    }
}
impl From<WorkflowId> for String {
    fn from(w: WorkflowId) -> String {
        w.0
    }
}
impl fmt::Display for WorkflowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pattern for tags that name one commit, such as `main-{sha}` or `sha-{sha}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitTagPattern {
    prefix: String,
    suffix: String,
}

impl CommitTagPattern {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let (prefix, suffix) = s
            .split_once("{sha}")
            .ok_or_else(|| NameError::PatternWithoutSha(s.to_string()))?;
        if suffix.contains("{sha}") {
            return Err(NameError::PatternShaTwice(s.to_string()));
        }
        // The fixed parts must themselves be valid inside a tag.
        let probe = format!("{prefix}0123456{suffix}");
        Tag::parse(&probe).map_err(|e| NameError::PatternTag(s.to_string(), Box::new(e)))?;
        Ok(Self {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        })
    }
    /// The commit a tag names, when the tag follows this pattern.
    pub fn sha_of(&self, tag: &Tag) -> Option<CommitSha> {
        let inner = tag
            .as_str()
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        CommitSha::parse(inner).ok()
    }
    pub fn tag_for(&self, sha: &CommitSha) -> Tag {
        Tag(format!("{}{}{}", self.prefix, sha, self.suffix))
    }
}
impl TryFrom<String> for CommitTagPattern {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        CommitTagPattern::parse(&s)
    }
}
impl From<CommitTagPattern> for String {
    fn from(p: CommitTagPattern) -> String {
        format!("{}{{sha}}{}", p.prefix, p.suffix)
    }
}

/// GitHub's environment names: printable, at most 255 characters (no control characters,
/// nothing that would need escaping in a query beyond what `url` does).
pub fn is_environment_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_rules_and_patterns_refuse_with_typed_errors() {
        assert_eq!(
            FollowRule::parse("oldest"),
            Err(NameError::FollowRule("oldest".into()))
        );
        assert_eq!(
            CommitTagPattern::parse("main-"),
            Err(NameError::PatternWithoutSha("main-".into()))
        );
        assert_eq!(
            CommitTagPattern::parse("{sha}-{sha}")
                .unwrap_err()
                .to_string(),
            "commit tag pattern \"{sha}-{sha}\" has {sha} twice"
        );
        assert!(matches!(
            CommitTagPattern::parse("a b-{sha}"),
            Err(NameError::PatternTag(_, _))
        ));
    }

    #[test]
    fn tags_follow_the_oci_grammar() {
        for good in ["latest", "main-0123abc", "v1.2.3", "_x", "A.b-c_d"] {
            assert!(Tag::parse(good).is_ok(), "{good}");
        }
        let long = "a".repeat(129);
        for bad in [
            "",
            ".x",
            "-x",
            "a b",
            "x;rm -rf /",
            "$(id)",
            "a\nb",
            "a/b",
            "a:b",
            &long,
        ] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn image_refs_split_registry_port_tag_and_digest() {
        let r = ImageRef::parse("127.0.0.1:5000/elt/app:main-abcdef0").unwrap();
        assert_eq!(r.repo.registry(), "127.0.0.1:5000");
        assert_eq!(r.repo.path(), "elt/app");
        assert_eq!(r.tag.unwrap().as_str(), "main-abcdef0");
        let r = ImageRef::parse("127.0.0.1:5000/elt/app").unwrap();
        assert!(r.tag.is_none());
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("ghcr.io/o/n@{d}")).unwrap();
        assert_eq!(r.digest.unwrap().as_str(), d);
        let r = ImageRef::parse("redis:7").unwrap();
        assert_eq!(r.repo.registry(), DOCKER_HUB);
        assert_eq!(r.repo.path(), "library/redis");
        assert_eq!(r.repo.docker_name(), "redis");
        assert!(ImageRef::parse("ghcr.io/O/N:latest").is_err());
        assert!(ImageRef::parse("ghcr.io/o/n:bad tag").is_err());
    }

    #[test]
    fn commit_tag_patterns_extract_shas() {
        let p = CommitTagPattern::parse("main-{sha}").unwrap();
        let sha = p.sha_of(&Tag::parse("main-0123abc").unwrap()).unwrap();
        assert_eq!(sha.as_str(), "0123abc");
        assert!(p.sha_of(&Tag::parse("latest").unwrap()).is_none());
        assert!(p.sha_of(&Tag::parse("main-xyz1234").unwrap()).is_none());
        assert_eq!(p.tag_for(&sha).as_str(), "main-0123abc");
        assert!(CommitTagPattern::parse("main").is_err());
        assert!(CommitTagPattern::parse("m;{sha}").is_err());
        let full = CommitSha::parse(&"b".repeat(40)).unwrap();
        assert!(full.matches(&CommitSha::parse("bbbbbbb").unwrap()));
    }

    #[test]
    fn github_names_are_checked() {
        assert!(GithubRepo::parse("arthurlee116/english-listening-trainer").is_ok());
        assert!(GithubRepo::parse("a/b/c").is_err());
        assert!(GithubRepo::parse("../x").is_err());
        assert!(WorkflowId::parse("build-and-push.yml").is_ok());
        assert!(WorkflowId::parse("12345").is_ok());
        assert!(WorkflowId::parse("../../x.yml").is_err());
    }

    #[test]
    fn docker_hub_names_are_one_repository() {
        let hub = |s: &str| {
            let r = ImageRepo::parse(s).unwrap();
            (
                r.registry().to_string(),
                r.path().to_string(),
                r.to_string(),
            )
        };
        let bot = (
            "docker.io".to_string(),
            "acme/chat-bot".to_string(),
            "acme/chat-bot".to_string(),
        );
        for s in [
            "acme/chat-bot",
            "docker.io/acme/chat-bot",
            "index.docker.io/acme/chat-bot",
            "registry-1.docker.io/acme/chat-bot",
        ] {
            assert_eq!(hub(s), bot, "{s}");
        }
        let redis = (
            "docker.io".to_string(),
            "library/redis".to_string(),
            "redis".to_string(),
        );
        for s in [
            "redis",
            "library/redis",
            "docker.io/redis",
            "docker.io/library/redis",
            "index.docker.io/library/redis",
        ] {
            assert_eq!(hub(s), redis, "{s}");
        }
        // A registry with a port or another host stays itself.
        assert_eq!(hub("127.0.0.1:5000/acme/bot").0, "127.0.0.1:5000");
        assert_eq!(hub("ghcr.io/acme/bot").0, "ghcr.io");
    }

    #[test]
    fn commit_tag_schemes() {
        let sha = "08f0ab8d98c3ef79aa6fdebeb3964929ba08eb7b";
        let t = |s: &str| Tag::parse(s).unwrap();
        let bare = CommitTagPattern::parse("{sha}").unwrap();
        assert_eq!(bare.sha_of(&t(sha)).unwrap().as_str(), sha);
        assert_eq!(bare.sha_of(&t("08f0ab8")).unwrap().as_str(), "08f0ab8");
        for other in ["latest", "v1.2.3", "1.2.3", "sha-08f0ab8", "main"] {
            assert_eq!(bare.sha_of(&t(other)), None, "{other}");
        }
        let prefixed = CommitTagPattern::parse("sha-{sha}").unwrap();
        assert_eq!(
            prefixed.sha_of(&t(&format!("sha-{sha}"))).unwrap().as_str(),
            sha
        );
        assert_eq!(prefixed.sha_of(&t(sha)), None);
        assert_eq!(prefixed.sha_of(&t("v1.4.0")), None);
    }

    #[test]
    fn semver_tags_order_by_precedence() {
        let v = |s: &str| SemverTag::parse(&Tag::parse(s).unwrap());
        for bad in [
            "latest",
            "v1.2",
            "1.2.3.4",
            "v01.2.3",
            "sha-abc1234",
            "v1.2.3-",
            "v1.2.x",
        ] {
            assert_eq!(v(bad), None, "{bad}");
        }
        let ordered = [
            "v1.0.0-alpha",
            "v1.0.0-alpha.1",
            "v1.0.0-alpha.beta",
            "v1.0.0-beta",
            "v1.0.0-beta.2",
            "v1.0.0-beta.11",
            "v1.0.0-rc.1",
            "1.0.0",
            "v1.4.0",
            "v1.10.0",
            "v2.0.0",
        ];
        for w in ordered.windows(2) {
            assert!(v(w[0]).unwrap() < v(w[1]).unwrap(), "{} < {}", w[0], w[1]);
        }
        assert!(v("v1.0.0-rc.1").unwrap().is_prerelease());
        assert!(!v("v1.0.0").unwrap().is_prerelease());
    }
}
