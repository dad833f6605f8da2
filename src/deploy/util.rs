//! Small pure helpers: image references, backup paths, output lines, human figures.

use crate::domain::{CommitSha, Digest, ImageRepo, ImageSide, Tag};
use crate::sources::docker::LocalImage;
use std::collections::HashMap;

pub(super) fn totals(layers: &HashMap<String, (u64, u64, bool)>) -> (u64, u64, usize) {
    layers
        .values()
        .fold((0, 0, 0), |(c, t, d), (lc, lt, done)| {
            (c + lc, t + lt, d + usize::from(*done))
        })
}

pub(super) fn side_of_local(img: &LocalImage, repo: &ImageRepo) -> ImageSide {
    ImageSide {
        image: None,
        tag: None,
        digest: digest_for(&img.repo_digests, repo),
        sha: img
            .labels
            .get("org.opencontainers.image.revision")
            .and_then(|r| CommitSha::parse(r).ok()),
        image_id: Some(img.id.clone()),
        created: img.labels.get("org.opencontainers.image.created").cloned(),
    }
}

/// The digest under which `repo` knows the image (`repo@sha256:...` entries).
pub(super) fn digest_for(repo_digests: &[String], repo: &ImageRepo) -> Option<Digest> {
    let name = repo.docker_name();
    repo_digests
        .iter()
        .find_map(|d| d.split_once('@').filter(|(r, _)| *r == name))
        .or_else(|| repo_digests.first().and_then(|d| d.split_once('@')))
        .and_then(|(_, d)| Digest::parse(d).ok())
}

/// The tag of `repo:tag` (not of `host:port/repo`), if any.
pub(super) fn tag_of(image: &str) -> Option<Tag> {
    let name = image.split('@').next()?;
    let last = name.rsplit('/').next()?;
    last.split_once(':').and_then(|(_, t)| Tag::parse(t).ok())
}

/// Last line of a backup command's output that names an existing file.
pub(super) fn backup_path_in(output: &str) -> Option<String> {
    output.lines().rev().find_map(|line| {
        line.split_whitespace()
            .rev()
            .map(|w| w.trim_matches(|c: char| c == '"' || c == '\'' || c == ',' || c == ';'))
            .find(|w| !w.is_empty() && std::path::Path::new(w).is_file())
            .map(str::to_string)
    })
}

pub(super) fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

pub(super) fn last_line(out: &str) -> String {
    out.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(" ({})", l.trim()))
        .unwrap_or_default()
}

/// Failures of a pull that may pass by themselves (network, registry overload).
pub fn is_transient_pull_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let permanent = [
        "manifest unknown",
        "not found",
        "unauthorized",
        "denied",
        "invalid reference",
        "no such host",
    ];
    if permanent.iter().any(|p| m.contains(p)) {
        return false;
    }
    [
        "timeout",
        "timed out",
        "connection reset",
        "connection refused",
        "eof",
        "broken pipe",
        "tls handshake",
        "http 5",
        " 500",
        " 502",
        " 503",
        " 504",
        "429",
        "toomanyrequests",
        "temporar",
        "i/o",
        "unreachable",
        "no progress",
    ]
    .iter()
    .any(|p| m.contains(p))
}

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

pub fn short_digest(d: &str) -> &str {
    let hex_start = d.find(':').map_or(0, |i| i + 1);
    &d[..(hex_start + 12).min(d.len())]
}

/// The deployment folder's paths, resolved against the current folder.
pub fn state_dir(config: &crate::config::Config) -> std::path::PathBuf {
    absolute(&config.deployment.state_dir)
}

pub fn absolute(p: &std::path::Path) -> std::path::PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::types::seq;

    #[test]
    fn transient_pull_errors() {
        assert!(is_transient_pull_error(
            "Get \"http://x/v2/\": dial tcp: connection refused"
        ));
        assert!(is_transient_pull_error("unexpected EOF"));
        assert!(is_transient_pull_error(
            "received unexpected HTTP status: 503 Service Unavailable"
        ));
        assert!(!is_transient_pull_error(
            "manifest unknown: manifest unknown"
        ));
        assert!(!is_transient_pull_error(
            "unauthorized: authentication required"
        ));
    }

    #[test]
    fn tags_of_references() {
        assert_eq!(
            tag_of("127.0.0.1:5000/elt/app:main-abc")
                .as_ref()
                .map(Tag::as_str),
            Some("main-abc")
        );
        assert_eq!(tag_of("127.0.0.1:5000/elt/app"), None);
        assert_eq!(tag_of("ghcr.io/a/b@sha256:00"), None);
        assert_eq!(tag_of("redis:7"), Tag::parse("7").ok());
    }

    #[test]
    fn backup_path_is_the_last_existing_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("db-2026.sql.gz");
        std::fs::write(&f, "x").unwrap();
        let out = format!("dumping...\nwrote {}\ndone in 2s\n", f.display());
        assert_eq!(backup_path_in(&out), Some(f.display().to_string()));
        assert_eq!(backup_path_in("no file here\n/does/not/exist\n"), None);
    }

    #[test]
    fn steps_are_numbered_in_order() {
        assert_eq!(seq("lock"), 1);
        assert_eq!(seq("recreate"), 7);
        assert_eq!(seq("switch"), 9);
        assert_eq!(seq("record"), 12);
    }
}
