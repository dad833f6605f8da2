//! Which proxy a URL goes through, from the variables curl and reqwest read:
//! `HTTPS_PROXY`/`https_proxy` for https URLs, `HTTP_PROXY`/`http_proxy` for http URLs,
//! `ALL_PROXY`/`all_proxy` for either when the scheme's own variable is unset, and
//! `NO_PROXY`/`no_proxy` for the exceptions. The upper-case name wins when both are set, as
//! in reqwest, so the GitHub client and the registry client (reqwest) pick the same proxy.
//!
//! The HTTP clients do the proxying themselves (reqwest: `CONNECT` tunnels for https,
//! absolute-form requests for http, `Proxy-Authorization` from the URL's credentials); here
//! is only the choice, made once for every client so the GitHub client and the registry client
//! pick the same proxy: the operator can be shown it (host and port only), an unusable variable
//! is an error rather than a silent direct connection, and `NO_PROXY` also understands
//! `host:port` entries, which reqwest's own `NoProxy` does not. Credentials in a proxy URL are kept only inside `ProxyUrl`, never shown: its
//! `Display` and `Debug` give host and port, and `redact` scrubs them from error text.

use std::net::IpAddr;
use thiserror::Error;
use url::{Host, Url};

#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{var} is not a usable proxy: {why}")]
pub struct ProxyError {
    pub var: &'static str,
    /// Never contains the variable's value, which may hold a password.
    pub why: String,
}

/// A proxy named by one variable: where to connect, and the credentials to send, if any.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    url: Url,
    /// The variable's text as given, only to scrub it from error messages.
    raw: String,
    var: &'static str,
    host_port: String,
}

impl ProxyUrl {
    fn parse(var: &'static str, raw: &str) -> Result<Self, ProxyError> {
        let err = |why: &str| ProxyError {
            var,
            why: why.to_string(),
        };
        // curl and reqwest take `host:port` without a scheme as an http proxy.
        let text = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("http://{raw}")
        };
        let url =
            Url::parse(&text).map_err(|_| err("expected http://[user:password@]host:port"))?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(err(&format!(
                    "scheme {other}:// is not supported; use an http:// proxy"
                )));
            }
        }
        let host = match url.host() {
            Some(Host::Ipv6(a)) => format!("[{a}]"),
            Some(h) => h.to_string(),
            None => return Err(err("no host in the proxy URL")),
        };
        if host.is_empty() {
            return Err(err("no host in the proxy URL"));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| err("no port in the proxy URL"))?;
        Ok(Self {
            host_port: format!("{host}:{port}"),
            url,
            raw: raw.to_string(),
            var,
        })
    }

    /// `host:port`: safe to show and log.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }

    /// The variable that named this proxy.
    pub fn var(&self) -> &'static str {
        self.var
    }

    pub fn has_credentials(&self) -> bool {
        !self.url.username().is_empty() || self.url.password().is_some()
    }

    /// The full URL with credentials, for the HTTP client only.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// `text` with anything that could be this proxy's credentials replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.replace(&self.raw, &self.host_port);
        if !self.has_credentials() {
            return out;
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = self.url.username();
        let pass = self.url.password().unwrap_or("");
        let mut secrets = vec![
            format!("{user}:{pass}@"),
            format!("{}:{}@", decode(user), decode(pass)),
        ];
        // A very short password would turn every occurrence of a common letter into `***`;
        // the forms above still catch it next to its user name.
        for p in [pass.to_string(), decode(pass)] {
            if p.chars().count() >= 4 {
                secrets.push(p);
            }
        }
        for s in secrets {
            if !s.is_empty() && s != "@" && s != ":@" {
                out = out.replace(&s, "***");
            }
        }
        out
    }
}

impl std::fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.host_port)
    }
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyUrl({} from {})", self.host_port, self.var)
    }
}

/// The proxy rules of one environment.
#[derive(Debug, Clone, Default)]
pub struct ProxySettings {
    http: Option<Result<ProxyUrl, ProxyError>>,
    https: Option<Result<ProxyUrl, ProxyError>>,
    no_proxy: NoProxy,
}

impl ProxySettings {
    /// No proxy for anything.
    pub fn none() -> Self {
        Self::default()
    }

    /// The process environment's rules.
    pub fn from_env() -> Self {
        Self::from_vars(|v| std::env::var(v).ok())
    }

    /// The rules from variables looked up by `get`, so tests need not change the real
    /// environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: [&'static str; 2]| {
            names.into_iter().find_map(|n| {
                get(n)
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .map(|v| (n, v))
            })
        };
        let parse = |found: Option<(&'static str, String)>| {
            found.map(|(var, value)| ProxyUrl::parse(var, &value))
        };
        let all = first(["ALL_PROXY", "all_proxy"]);
        let http = first(["HTTP_PROXY", "http_proxy"]).or_else(|| all.clone());
        let https = first(["HTTPS_PROXY", "https_proxy"]).or(all);
        Self {
            http: parse(http),
            https: parse(https),
            no_proxy: NoProxy::parse(&first(["NO_PROXY", "no_proxy"]).unwrap_or_default().1),
        }
    }

    /// The proxy `url` goes through; `Ok(None)` means direct. An unusable proxy variable is an
    /// error only for the URLs it would apply to.
    pub fn for_url(&self, url: &Url) -> Result<Option<&ProxyUrl>, ProxyError> {
        let chosen = match url.scheme() {
            "https" => &self.https,
            "http" => &self.http,
            _ => return Ok(None),
        };
        let Some(chosen) = chosen else {
            return Ok(None);
        };
        let port = url.port_or_known_default().unwrap_or(0);
        match url.host() {
            Some(host) if !self.no_proxy.matches(&host, port) => {
                chosen.as_ref().map(Some).map_err(Clone::clone)
            }
            _ => Ok(None),
        }
    }
}

/// The proxy fields of an oci-client `ClientConfig` for one registry: oci-client hands them to
/// reqwest (`Proxy::https`/`Proxy::http` with a `NoProxy`), so they must say what
/// [`ProxySettings::for_url`] says for that registry.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientProxyFields {
    pub https_proxy: Option<String>,
    pub http_proxy: Option<String>,
    pub no_proxy: Option<String>,
}

impl std::fmt::Debug for ClientProxyFields {
    // The URLs may hold credentials: show hosts only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = |u: &Option<String>| {
            u.as_deref().and_then(|u| Url::parse(u).ok()).map(|u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or(""),
                    u.port_or_known_default().unwrap_or(0)
                )
            })
        };
        f.debug_struct("ClientProxyFields")
            .field("https_proxy", &host(&self.https_proxy))
            .field("http_proxy", &host(&self.http_proxy))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// Where a client that should go direct is pointed, together with `NO_PROXY=*`: setting any
/// proxy keeps reqwest from reading the environment itself, and `*` means none is used.
const NEVER_USED: &str = "http://127.0.0.1:9";

impl ProxySettings {
    /// The fields for a client whose requests go to the registry at `registry_url`: direct
    /// when [`Self::for_url`] says direct (a `host:port` entry included), else the chosen
    /// proxy for that scheme, the other scheme's proxy as usual, and the `NO_PROXY` entries
    /// without a port for the other hosts the client meets (token services, blob stores).
    pub fn client_fields(&self, registry_url: &Url) -> Result<ClientProxyFields, ProxyError> {
        let Some(chosen) = self.for_url(registry_url)? else {
            return Ok(ClientProxyFields {
                https_proxy: Some(NEVER_USED.into()),
                http_proxy: None,
                no_proxy: Some("*".into()),
            });
        };
        let usable = |p: &Option<Result<ProxyUrl, ProxyError>>| {
            p.as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(|p| p.url().to_string())
        };
        let (mut https_proxy, mut http_proxy) = (usable(&self.https), usable(&self.http));
        let own = Some(chosen.url().to_string());
        if registry_url.scheme() == "https" {
            https_proxy = own;
        } else {
            http_proxy = own;
        }
        let no_proxy = self.no_proxy.without_ports();
        Ok(ClientProxyFields {
            https_proxy,
            http_proxy,
            no_proxy: (!no_proxy.is_empty()).then_some(no_proxy),
        })
    }
}

/// `NO_PROXY`: comma-separated entries, each `*` (everything), a domain (`example.com` and
/// `.example.com` both match the domain and every name under it; `*.example.com` is read the
/// same way), an IP address, an IP network (`10.0.0.0/8`), or any of these with `:port`
/// (`[::1]:8080` for IPv6), which then matches that port only. Names are not resolved, and
/// loopback is not exempt unless listed, as in curl.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NoProxy {
    everything: bool,
    entries: Vec<(Pattern, Option<u16>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Domain(String),
    Ip(IpAddr),
    Net(IpAddr, u8),
}

impl NoProxy {
    fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for entry in text.split([',', ' ', '\t']).map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                out.everything = true;
                continue;
            }
            let (host, port) = split_port(entry);
            if let Some(p) = parse_pattern(host) {
                out.entries.push((p, port));
            }
        }
        out
    }

    /// The entries without a port, in reqwest's `NoProxy` syntax.
    fn without_ports(&self) -> String {
        if self.everything {
            return "*".into();
        }
        let entries: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, port)| port.is_none())
            .map(|(pattern, _)| match pattern {
                Pattern::Domain(d) => d.clone(),
                Pattern::Ip(ip) => ip.to_string(),
                Pattern::Net(ip, bits) => format!("{ip}/{bits}"),
            })
            .collect();
        entries.join(",")
    }

    fn matches(&self, host: &Host<&str>, port: u16) -> bool {
        if self.everything {
            return true;
        }
        let ip: Option<IpAddr> = match host {
            Host::Ipv4(a) => Some((*a).into()),
            Host::Ipv6(a) => Some((*a).into()),
            Host::Domain(_) => None,
        };
        self.entries.iter().any(|(pattern, want_port)| {
            if want_port.is_some_and(|p| p != port) {
                return false;
            }
            match (pattern, host, ip) {
                (Pattern::Domain(d), Host::Domain(name), _) => {
                    let name = name.trim_end_matches('.').to_ascii_lowercase();
                    name == *d || name.ends_with(&format!(".{d}"))
                }
                (Pattern::Ip(want), _, Some(ip)) => *want == ip,
                (Pattern::Net(net, bits), _, Some(ip)) => in_network(ip, *net, *bits),
                _ => false,
            }
        })
    }
}

/// `host:port`, `[v6]:port`, or no port (a bare IPv6 address has colons but no port).
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((addr, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (addr, port);
        }
        return (entry, None);
    }
    if entry.matches(':').count() == 1
        && let Some((host, port)) = entry.rsplit_once(':')
        && let Ok(port) = port.parse::<u16>()
    {
        return (host, Some(port));
    }
    (entry, None)
}

fn parse_pattern(host: &str) -> Option<Pattern> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(Pattern::Ip(ip));
    }
    if let Some((addr, bits)) = host.split_once('/') {
        let ip = addr.parse::<IpAddr>().ok()?;
        let bits = bits.parse::<u8>().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        return (bits <= max).then_some(Pattern::Net(ip, bits));
    }
    let domain = host
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    (!domain.is_empty()).then_some(Pattern::Domain(domain))
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let mask = |width: u32| {
        if bits == 0 {
            0u128
        } else {
            (u128::MAX << (width - u32::from(bits))) & (u128::MAX >> (128 - width))
        }
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = mask(32);
            u128::from(u32::from(a)) & m == u128::from(u32::from(b)) & m
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let m = mask(128);
            u128::from(a) & m == u128::from(b) & m
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> ProxySettings {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxySettings::from_vars(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn via(s: &ProxySettings, url: &str) -> Option<String> {
        s.for_url(&Url::parse(url).unwrap())
            .unwrap()
            .map(|p| p.host_port().to_string())
    }

    #[test]
    fn scheme_variables_and_all_proxy() {
        let s = settings(&[
            ("HTTPS_PROXY", "http://secure.example:3128"),
            ("http_proxy", "plain.example:8080"),
            ("ALL_PROXY", "http://all.example:1"),
        ]);
        assert_eq!(
            via(&s, "https://api.github.com/x").as_deref(),
            Some("secure.example:3128")
        );
        assert_eq!(
            via(&s, "http://ghe.corp/api/v3").as_deref(),
            Some("plain.example:8080")
        );
        let s = settings(&[("all_proxy", "http://all.example:1")]);
        assert_eq!(
            via(&s, "https://api.github.com").as_deref(),
            Some("all.example:1")
        );
        assert_eq!(via(&s, "http://x").as_deref(), Some("all.example:1"));
        assert_eq!(via(&settings(&[]), "https://api.github.com"), None);
        // Upper case wins, as in reqwest; an empty value counts as unset.
        let s = settings(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
        ]);
        assert_eq!(via(&s, "https://a").as_deref(), Some("upper:1"));
        let s = settings(&[("HTTPS_PROXY", " "), ("https_proxy", "http://lower:2")]);
        assert_eq!(via(&s, "https://a").as_deref(), Some("lower:2"));
        // The default port of the proxy's scheme, as reqwest connects to.
        let s = settings(&[("HTTPS_PROXY", "http://proxy.example")]);
        assert_eq!(via(&s, "https://a").as_deref(), Some("proxy.example:80"));
    }

    #[test]
    fn no_proxy_entries() {
        let s = |no: &str| settings(&[("HTTPS_PROXY", "http://p:3128"), ("NO_PROXY", no)]);
        let direct = |no: &str, url: &str| via(&s(no), url).is_none();
        assert!(direct("*", "https://api.github.com"));
        assert!(direct("github.com", "https://api.github.com"));
        assert!(direct("github.com", "https://github.com"));
        assert!(direct(".github.com", "https://github.com"));
        assert!(direct(".github.com", "https://api.github.com"));
        assert!(direct("*.corp", "https://ghe.corp"));
        assert!(direct("a.example, .corp", "https://ghe.CORP."));
        assert!(!direct("hub.com", "https://api.github.com"));
        assert!(!direct("api.github.com.evil", "https://api.github.com"));
        // host:port matches that port only (the URL's default port counts).
        assert!(direct("api.github.com:443", "https://api.github.com"));
        assert!(!direct("api.github.com:8443", "https://api.github.com"));
        assert!(direct("127.0.0.1:8080", "https://127.0.0.1:8080"));
        assert!(!direct("127.0.0.1:8081", "https://127.0.0.1:8080"));
        // IPs and networks; names are never resolved, loopback is not exempt by itself.
        assert!(!direct("", "https://127.0.0.1:8080"));
        assert!(!direct("localhost", "https://127.0.0.1"));
        assert!(direct("127.0.0.1", "https://127.0.0.1:9"));
        assert!(direct("10.0.0.0/8", "https://10.1.2.3"));
        assert!(!direct("10.0.0.0/8", "https://11.1.2.3"));
        assert!(direct("::1", "https://[::1]:8080"));
        assert!(direct("[::1]:8080", "https://[::1]:8080"));
        assert!(!direct("[::1]:8081", "https://[::1]:8080"));
        assert!(direct("fd00::/8", "https://[fd12::1]"));
        assert!(direct("0.0.0.0/0", "https://192.0.2.1"));
        // Lower-case no_proxy is read when NO_PROXY is unset.
        let s = settings(&[("HTTPS_PROXY", "http://p:3128"), ("no_proxy", "a.example")]);
        assert!(via(&s, "https://a.example").is_none());
    }

    #[test]
    fn credentials_stay_inside() {
        let s = settings(&[("HTTPS_PROXY", "http://alice:s%40cret-pw@proxy.example:3128")]);
        let url = Url::parse("https://api.github.com").unwrap();
        let p = s.for_url(&url).unwrap().unwrap();
        assert!(p.has_credentials());
        assert_eq!(p.to_string(), "proxy.example:3128");
        assert_eq!(
            format!("{p:?}"),
            "ProxyUrl(proxy.example:3128 from HTTPS_PROXY)"
        );
        assert_eq!(p.url().password(), Some("s%40cret-pw"));
        let text = "failed: http://alice:s%40cret-pw@proxy.example:3128 said s@cret-pw and \
                    alice:s@cret-pw@ and s%40cret-pw";
        let red = p.redact(text);
        assert!(!red.contains("cret-pw"), "{red}");
        assert!(red.contains("proxy.example:3128"), "{red}");
    }

    #[test]
    fn client_fields_say_what_for_url_says() {
        let s = settings(&[
            ("HTTPS_PROXY", "http://u:pw@secure:3128"),
            ("HTTP_PROXY", "http://plain:8080"),
            ("NO_PROXY", "127.0.0.1:5000, .corp, 10.0.0.0/8"),
        ]);
        let f = s
            .client_fields(&Url::parse("https://ghcr.io/").unwrap())
            .unwrap();
        assert_eq!(f.https_proxy.as_deref(), Some("http://u:pw@secure:3128/"));
        assert_eq!(f.http_proxy.as_deref(), Some("http://plain:8080/"));
        assert_eq!(f.no_proxy.as_deref(), Some("corp,10.0.0.0/8"));
        assert!(!format!("{f:?}").contains("pw"), "{f:?}");
        // Exempt by a host:port entry, which reqwest cannot read: direct, whatever else is set.
        let f = s
            .client_fields(&Url::parse("http://127.0.0.1:5000/").unwrap())
            .unwrap();
        assert_eq!(f.no_proxy.as_deref(), Some("*"));
        let bad = settings(&[("HTTP_PROXY", "socks5://p:1")]);
        assert!(
            bad.client_fields(&Url::parse("http://r:5000/").unwrap())
                .is_err()
        );
    }

    #[test]
    fn unusable_proxies_are_errors_where_they_apply() {
        let s = settings(&[
            ("HTTPS_PROXY", "socks5://bob:hunter22@proxy:1080"),
            ("HTTP_PROXY", "http://ok:3128"),
        ]);
        let err = s
            .for_url(&Url::parse("https://api.github.com").unwrap())
            .unwrap_err();
        assert_eq!(err.var, "HTTPS_PROXY");
        assert!(err.to_string().contains("socks5"), "{err}");
        assert!(!err.to_string().contains("hunter22"), "{err}");
        // The http side is still usable.
        assert_eq!(via(&s, "http://ghe.corp").as_deref(), Some("ok:3128"));
        let s = settings(&[("HTTPS_PROXY", "http://")]);
        assert!(s.for_url(&Url::parse("https://a").unwrap()).is_err());
        // Excluded by NO_PROXY: the bad variable does not matter.
        let s = settings(&[("HTTPS_PROXY", "socks5://p:1"), ("NO_PROXY", "*")]);
        assert_eq!(s.for_url(&Url::parse("https://a").unwrap()), Ok(None));
    }
}
