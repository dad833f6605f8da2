//! Container package versions (GitHub Packages API), followed across pages on the API's host.

use super::client::GithubSource;
use super::error::GithubError;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A package with more pages than this is not one this console can show usefully.
const MAX_PACKAGE_PAGES: u32 = 50;

/// Every version of a package that could be listed, and why the listing is incomplete when
/// it is (a next page GitHub pointed at that this client will not follow).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageVersions {
    pub versions: Vec<PackageVersion>,
    pub note: Option<String>,
}

/// One version of a container package (GitHub Packages API): its digest, when it was pushed,
/// and every tag it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageVersion {
    pub id: u64,
    pub digest: String,
    pub created_at: DateTime<Utc>,
    pub tags: Vec<String>,
}

impl GithubSource {
    /// Every version of a container package, following pagination. `owner` may be a user or
    /// an organisation: the user listing is tried first, then the organisation's.
    pub async fn package_versions(
        &self,
        owner: &str,
        package: &str,
    ) -> Result<PackageVersions, GithubError> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        };
        if !name_ok(owner) || owner.contains('/') || !name_ok(package) {
            return Err(GithubError::Decode(format!(
                "unusable package name {owner}/{package}"
            )));
        }
        let encoded: String = url::form_urlencoded::byte_serialize(package.as_bytes()).collect();
        let what = format!("container package {owner}/{package}");
        let mut out = PackageVersions::default();
        for scope in ["users", "orgs"] {
            let mut next = Some(format!(
                "{}/{scope}/{owner}/packages/container/{encoded}/versions?per_page=100",
                self.api_url
            ));
            let mut pages = 0;
            let mut result = Ok(());
            while let Some(url) = next.take() {
                pages += 1;
                match self.get(&url, &what).await {
                    Ok(f) => {
                        out.versions.extend(parse_package_versions(&f.body)?);
                        let Some(link) = f.link_next else { break };
                        if pages >= MAX_PACKAGE_PAGES {
                            out.note = Some(format!(
                                "GitHub Packages API: stopped after {pages} pages ({} versions)",
                                out.versions.len()
                            ));
                        } else {
                            match self.same_host_link(&link) {
                                Ok(u) => next = Some(u),
                                Err(why) => {
                                    out.note = Some(format!(
                                        "GitHub Packages API: page {} not read ({why}); showing the first {}",
                                        pages + 1,
                                        crate::format::count(
                                            out.versions.len(),
                                            "version",
                                            "versions"
                                        )
                                    ))
                                }
                            }
                        }
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            match result {
                Ok(()) => return Ok(out),
                Err(GithubError::NotFound { .. }) if scope == "users" => {
                    out = PackageVersions::default()
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct RawPackageVersion {
    id: u64,
    name: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    metadata: Option<RawPackageMetadata>,
}

#[derive(Deserialize)]
struct RawPackageMetadata {
    container: Option<RawContainerMetadata>,
}

#[derive(Deserialize)]
struct RawContainerMetadata {
    #[serde(default)]
    tags: Vec<String>,
}

/// Parse a package-versions list (exposed for tests on the published payloads). Versions of
/// other package types carry no container tags and come back with an empty list.
pub fn parse_package_versions(body: &[u8]) -> Result<Vec<PackageVersion>, GithubError> {
    let list: Vec<RawPackageVersion> = serde_json::from_slice(body)
        .map_err(|e| GithubError::Decode(format!("package versions: {e}")))?;
    Ok(list
        .into_iter()
        .map(|v| PackageVersion {
            id: v.id,
            digest: v.name,
            created_at: v.created_at,
            tags: v
                .metadata
                .and_then(|m| m.container)
                .map(|c| c.tags)
                .unwrap_or_default(),
        })
        .collect())
}
