//! The project's `.env`: where the deployed image is pinned, so that a later plain
//! `docker compose up -d` keeps this version. Rewritten atomically (temp file + rename in the
//! same folder), other lines kept byte for byte.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("refusing to write {0:?} to the env file: not an image reference")]
    NotAnImageRef(String),
    #[error("refusing to write variable {0:?}: not a variable name")]
    NotAVariable(String),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Characters an image reference may contain (`registry:port/path:tag@sha256:hex`). Anything
/// else could change the meaning of the env file or a shell that reads it.
pub fn check_image_ref(value: &str) -> Result<(), EnvFileError> {
    let ok = !value.is_empty()
        && value.len() <= 512
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
        });
    if ok {
        Ok(())
    } else {
        Err(EnvFileError::NotAnImageRef(value.to_string()))
    }
}

fn is_assignment_of<'a>(line: &'a str, var: &str) -> Option<&'a str> {
    let trimmed = line.trim_start();
    let trimmed = trimmed
        .strip_prefix("export ")
        .unwrap_or(trimmed)
        .trim_start();
    let rest = trimmed.strip_prefix(var)?;
    let rest = rest.trim_start();
    rest.strip_prefix('=')
}

/// The value `var` has in the file, unquoted; None when the file or the line is missing.
pub fn read_var(path: &Path, var: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find_map(|l| is_assignment_of(l, var))
        .map(|v| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v)
                .to_string()
        })
}

/// Set each `(var, value)` in the env file, creating it if needed. Every value is checked
/// first; on any error the file is left as it was.
pub fn pin(path: &Path, pins: &[(String, String)]) -> Result<(), EnvFileError> {
    for (var, value) in pins {
        if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(EnvFileError::NotAVariable(var.clone()));
        }
        check_image_ref(value)?;
    }
    let original = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(EnvFileError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut out = String::with_capacity(original.len() + 64);
    let mut done = vec![false; pins.len()];
    for line in original.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        match pins
            .iter()
            .position(|(var, _)| is_assignment_of(body, var).is_some())
        {
            Some(i) if !done[i] => {
                out.push_str(&format!("{}={}\n", pins[i].0, pins[i].1));
                done[i] = true;
            }
            // A second assignment of a pinned variable would override ours: drop it.
            Some(_) => {}
            None => out.push_str(line),
        }
    }
    for (i, (var, value)) in pins.iter().enumerate() {
        if !done[i] {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("{var}={value}\n"));
        }
    }
    crate::atomic_file::replace(path, &out).map_err(|source| EnvFileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_in_place_and_keeps_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        std::fs::write(
            &p,
            "# comment\nFOO=1\nexport IMAGE_TAG=\"r:old\"\nBAR=x y\nIMAGE_TAG=dup\n",
        )
        .unwrap();
        pin(&p, &[("IMAGE_TAG".into(), "r/app:main-abc".into())]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "# comment\nFOO=1\nIMAGE_TAG=r/app:main-abc\nBAR=x y\n"
        );
        assert_eq!(read_var(&p, "IMAGE_TAG").as_deref(), Some("r/app:main-abc"));
        assert_eq!(read_var(&p, "FOO").as_deref(), Some("1"));
        assert_eq!(read_var(&p, "IMAGE"), None);
    }

    #[test]
    fn creates_missing_file_and_appends_missing_var() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        pin(&p, &[("A".into(), "r:1".into())]).unwrap();
        std::fs::write(&p, "X=1").unwrap();
        pin(&p, &[("A".into(), "r:2".into())]).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "X=1\nA=r:2\n");
    }

    #[test]
    fn hostile_values_are_refused_and_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        std::fs::write(&p, "IMAGE_TAG=r:1\n").unwrap();
        for bad in ["r:1\nEVIL=1", "r:$(id)", "r:1; rm -rf /", "", "r:`x`"] {
            assert!(
                pin(&p, &[("IMAGE_TAG".into(), bad.into())]).is_err(),
                "{bad:?}"
            );
        }
        assert!(pin(&p, &[("BAD VAR".into(), "r:1".into())]).is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "IMAGE_TAG=r:1\n");
    }
}
