//! A secret read from a file that only its owner can read: the GitHub token file and a
//! notification target's secret file. Errors name the file, never its content.

use std::os::unix::fs::PermissionsExt;

/// Why a secret file was not read; `what` names the file's kind ("token file").
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`")]
    Open {
        what: &'static str,
        path: String,
        mode: u32,
    },
    #[error("{what} {path} is empty")]
    Empty { what: &'static str, path: String },
}

/// The file's text, trimmed: refused when group or others may read it, or when it is empty.
pub fn read(what: &'static str, path: &str) -> Result<String, SecretFileError> {
    let io = |source| SecretFileError::Io {
        what,
        path: path.to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretFileError::Open {
            what,
            path: path.to_string(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(SecretFileError::Empty {
            what,
            path: path.to_string(),
        });
    }
    Ok(text.to_string())
}
