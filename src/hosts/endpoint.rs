//! A host's Docker endpoint as the docker CLI writes it: `unix:///path`, `tcp://host:port`
//! (TLS from the host's cert folder or `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`), or
//! `ssh://user@host[:port]`. Parsed once and checked strictly, since the user and host reach an
//! `ssh` command line and every part reaches an environment variable.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
    Ssh(SshTarget),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: String,
    pub host: String,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error(
        "{0:?} is not an endpoint: use unix:///path, tcp://host:port or ssh://user@host[:port]"
    )]
    Scheme(String),
    #[error("{0:?}: a unix socket path must be absolute (unix:///run/docker.sock)")]
    UnixPath(String),
    #[error("{0:?}: expected tcp://host:port (the port is required, e.g. 2376 for TLS)")]
    Tcp(String),
    #[error("{0:?}: expected ssh://user@host[:port] with a user name")]
    SshUser(String),
    #[error("{host:?} in {endpoint:?} is not a host name or an IP address")]
    Host { endpoint: String, host: String },
    #[error("{0:?}: a path, query or password does not belong in this endpoint")]
    Extra(String),
}

/// A DNS name or an IPv4 literal (no leading '-': it would read as an ssh option).
fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && !h.starts_with(['-', '.'])
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// A POSIX-ish login name.
fn is_user_name(u: &str) -> bool {
    let b = u.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

impl Endpoint {
    pub fn parse(s: &str) -> Result<Self, EndpointError> {
        if let Some(path) = s.strip_prefix("unix://") {
            let ok = path.starts_with('/') && !path.contains('\0') && !path.contains('\n');
            return if ok {
                Ok(Endpoint::Unix(PathBuf::from(path)))
            } else {
                Err(EndpointError::UnixPath(s.to_string()))
            };
        }
        let url = url::Url::parse(s).map_err(|_| EndpointError::Scheme(s.to_string()))?;
        if url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
            || !matches!(url.path(), "" | "/")
        {
            return Err(EndpointError::Extra(s.to_string()));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if is_host_name(d) => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            Some(other) => {
                return Err(EndpointError::Host {
                    endpoint: s.to_string(),
                    host: other.to_string(),
                });
            }
            None => {
                return Err(EndpointError::Host {
                    endpoint: s.to_string(),
                    host: String::new(),
                });
            }
        };
        match url.scheme() {
            "tcp" => {
                if !url.username().is_empty() {
                    return Err(EndpointError::Extra(s.to_string()));
                }
                let port = url
                    .port()
                    .ok_or_else(|| EndpointError::Tcp(s.to_string()))?;
                Ok(Endpoint::Tcp { host, port })
            }
            "ssh" => {
                let user = url.username();
                if !is_user_name(user) {
                    return Err(EndpointError::SshUser(s.to_string()));
                }
                Ok(Endpoint::Ssh(SshTarget {
                    user: user.to_string(),
                    host,
                    port: url.port(),
                }))
            }
            _ => Err(EndpointError::Scheme(s.to_string())),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Endpoint::Ssh(t) => write!(f, "{t}"),
        }
    }
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ssh://{}@{}", self.user, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_as_the_docker_cli_writes_them_parse() {
        assert_eq!(
            Endpoint::parse("unix:///run/elt-engine2/docker.sock").unwrap(),
            Endpoint::Unix("/run/elt-engine2/docker.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://gpu2.example:2376").unwrap(),
            Endpoint::Tcp {
                host: "gpu2.example".into(),
                port: 2376
            }
        );
        let ssh = Endpoint::parse("ssh://deploy@10.0.0.7:2222").unwrap();
        assert_eq!(
            ssh,
            Endpoint::Ssh(SshTarget {
                user: "deploy".into(),
                host: "10.0.0.7".into(),
                port: Some(2222)
            })
        );
        assert_eq!(ssh.to_string(), "ssh://deploy@10.0.0.7:2222");
        assert_eq!(
            Endpoint::parse("ssh://root@gpu1").unwrap().to_string(),
            "ssh://root@gpu1"
        );
    }

    #[test]
    fn endpoints_that_could_smuggle_options_or_secrets_are_refused() {
        for bad in [
            "",
            "docker.sock",
            "unix://relative.sock",
            "http://host:2375",
            "tcp://host",
            "tcp://user@host:2376",
            "ssh://host",
            "ssh://-oProxyCommand=x@host",
            "ssh://root@-oProxyCommand=x",
            "ssh://root:secret@host",
            "ssh://root@host/path",
            "ssh://root@host?x=1",
            "ssh://root@ho;st",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
