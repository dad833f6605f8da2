//! A target's secret read and checked: the URL checks, the owner-only secret file, and why a
//! target makes no receiver. No error here holds the secret.

/// A bot token as BotFather issues it: `<bot id>:<secret>`.
pub(super) fn is_bot_token(s: &str) -> bool {
    match s.split_once(':') {
        Some((id, secret)) => {
            !id.is_empty()
                && id.bytes().all(|c| c.is_ascii_digit())
                && secret.len() >= 20
                && secret
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
        }
        None => false,
    }
}

/// Why a URL is not one to send to. The text never holds the URL (it may be the secret).
#[derive(Debug, thiserror::Error)]
pub enum BadUrl {
    #[error("not a URL ({0})")]
    Parse(url::ParseError),
    #[error("expected an http(s) URL with a host")]
    NotHttp,
    #[error("credentials do not belong in the URL")]
    Credentials,
}

pub(super) fn check_url(s: &str) -> Result<url::Url, BadUrl> {
    let url = url::Url::parse(s).map_err(BadUrl::Parse)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(BadUrl::NotHttp);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BadUrl::Credentials);
    }
    Ok(url)
}

/// Why a target's secret makes no receiver; `name` is the target's. Never holds the secret.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{name}: {source}")]
    SecretFile {
        name: String,
        source: crate::secret_file::SecretFileError,
    },
    #[error("{name}: environment variable {var} is not set")]
    EnvUnset { name: String, var: String },
    #[error("{name}: the webhook URL in {from}: {source}")]
    WebhookUrl {
        name: String,
        from: String,
        source: BadUrl,
    },
    #[error("{name}: the bot token in {from} is not a Telegram bot token (<digits>:<secret>)")]
    NotBotToken { name: String, from: String },
    #[error("{name}: api_url: {source}")]
    ApiUrl { name: String, source: BadUrl },
    #[error("{name}: api_url and the bot token make no URL")]
    NoUrl { name: String },
}
