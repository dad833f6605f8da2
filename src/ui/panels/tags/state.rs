//! The tags panel's state: which service's tags it shows when the deployment has several
//! images (`S` moves it; `d`/`R` then move that service only), and its rows in that light.

use crate::domain::{RepoTags, TagView};

/// The service whose tags are shown (`index` into the tags data, wrapped); None with one
/// repository, where the tags move the whole deployment.
pub fn shown_service(repos: Option<&[RepoTags]>, index: usize) -> Option<&str> {
    let repos = repos.filter(|r| r.len() > 1)?;
    repos.get(index % repos.len()).map(|r| r.service.as_str())
}

/// Tags of every repository, flattened in display order; only `only`'s when it is set.
pub fn rows<'a>(repos: Option<&'a [RepoTags]>, only: Option<&str>) -> Vec<(&'a str, &'a TagView)> {
    repos
        .into_iter()
        .flatten()
        .filter(|r| only.is_none_or(|s| s == r.service))
        .flat_map(|r| r.tags.iter().map(move |t| (r.service.as_str(), t)))
        .collect()
}
