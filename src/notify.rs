//! Deploy notifications (`[[notify]]`): a generic JSON webhook, Slack-compatible incoming
//! webhooks and the Telegram Bot API, told when a deploy starts, how it ended, and when an
//! automatic rollback begins.
//!
//! Notifications are a subscriber of the engine's `DeployEvent`s (`NoticeMapper` turns events
//! into `Notice`s) and are sent from their own tasks, so a slow or hanging receiver never holds
//! up a deploy. Each attempt has a timeout; 5xx, 408, 429 and transport errors are retried with
//! backoff up to `attempts`; another 4xx is reported at once. The webhook URL or bot token is a
//! secret: read from an environment variable or a file that only its owner can read, never
//! logged, stored or printed (errors name the target and the receiver's host only).

use crate::deploy::DeployEvent;
use crate::store::{DeployKind, DeployStatus, ImageSide};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

mod secret;
pub use secret::{BadUrl, ResolveError};
use secret::{check_url, is_bot_token};

/// The body format a target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyFormat {
    /// Our JSON body (docs/status-json.md, "Deploy notification").
    Webhook,
    /// Slack incoming webhooks (and Mattermost, Rocket.Chat, Discord's /slack endpoint).
    Slack,
    /// Telegram Bot API `sendMessage`.
    Telegram,
}

/// Which moments a target hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyOn {
    Started,
    Finished,
    AutoRollback,
}

/// One `[[notify]]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyTarget {
    /// Shown in reports and the audit log; `notify[i]` when empty.
    #[serde(default)]
    pub name: String,
    pub format: NotifyFormat,
    /// The environment variable holding the webhook URL (webhook, slack) or the bot token
    /// (telegram).
    #[serde(default)]
    pub secret_env: String,
    /// Or a file holding it, readable by its owner only.
    #[serde(default)]
    pub secret_file: String,
    /// Telegram: the chat's numeric id or `@channelname`.
    #[serde(default)]
    pub chat_id: String,
    /// Telegram: the Bot API's base URL.
    #[serde(default = "default_telegram_api")]
    pub api_url: String,
    #[serde(default = "default_events")]
    pub events: Vec<NotifyOn>,
    /// One attempt's limit (connect and answer).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts for a 5xx, 408, 429 or a transport error, with backoff between them.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

fn default_telegram_api() -> String {
    "https://api.telegram.org".into()
}
fn default_events() -> Vec<NotifyOn> {
    vec![
        NotifyOn::Started,
        NotifyOn::Finished,
        NotifyOn::AutoRollback,
    ]
}
fn default_timeout_ms() -> u64 {
    5000
}
fn default_attempts() -> u32 {
    3
}

fn is_env_var_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// A Telegram chat id: a (possibly negative) integer, or `@` and a public username.
pub fn is_chat_id(s: &str) -> bool {
    if let Some(user) = s.strip_prefix('@') {
        let b = user.as_bytes();
        return (5..=32).contains(&b.len())
            && b[0].is_ascii_alphabetic()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    (1..=20).contains(&digits.len()) && digits.bytes().all(|c| c.is_ascii_digit())
}

impl NotifyTarget {
    /// Checks at config load: the key that is wrong and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let name_ok = self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
        if !name_ok {
            return Err((
                "name",
                format!("{:?}: up to 64 letters, digits, '-', '_' or '.'", self.name),
            ));
        }
        match (self.secret_env.is_empty(), self.secret_file.is_empty()) {
            (true, true) => {
                return Err((
                    "secret_env",
                    format!(
                        "set secret_env or secret_file: where the {} comes from (never in the config itself)",
                        self.secret_what()
                    ),
                ));
            }
            (false, false) => {
                return Err((
                    "secret_file",
                    "set secret_env or secret_file, not both".into(),
                ));
            }
            (false, true) if !is_env_var_name(&self.secret_env) => {
                return Err((
                    "secret_env",
                    format!("{:?} is not a variable name", self.secret_env),
                ));
            }
            _ => {}
        }
        match self.format {
            NotifyFormat::Telegram => {
                if !is_chat_id(&self.chat_id) {
                    return Err((
                        "chat_id",
                        format!(
                            "{:?} is not a Telegram chat id (a number such as -1001234567890, or @channelname)",
                            self.chat_id
                        ),
                    ));
                }
                check_url(&self.api_url)
                    .map_err(|m| ("api_url", format!("{m}: {:?}", self.api_url)))?;
            }
            NotifyFormat::Webhook | NotifyFormat::Slack => {
                if !self.chat_id.is_empty() {
                    return Err(("chat_id", "only a telegram target has a chat_id".into()));
                }
            }
        }
        if self.events.is_empty() {
            return Err((
                "events",
                "name at least one of started, finished, auto-rollback".into(),
            ));
        }
        if !(1..=120_000).contains(&self.timeout_ms) {
            return Err(("timeout_ms", "must be 1 to 120000".into()));
        }
        if !(1..=10).contains(&self.attempts) {
            return Err(("attempts", "must be 1 to 10".into()));
        }
        Ok(())
    }

    fn secret_what(&self) -> &'static str {
        match self.format {
            NotifyFormat::Telegram => "bot token",
            _ => "webhook URL",
        }
    }
}

/// A side of the deploy as a notification shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeSide {
    pub image: Option<String>,
    pub tag: Option<String>,
    pub sha: Option<String>,
}

impl From<&ImageSide> for NoticeSide {
    fn from(s: &ImageSide) -> Self {
        Self {
            image: s.image.clone(),
            tag: s.tag_str().map(str::to_string),
            sha: s.sha_str().map(str::to_string),
        }
    }
}

/// One notification: the generic webhook's body (docs/status-json.md), and what the chat
/// formats render as text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// The body's version: fields are only added within a version.
    pub version: u32,
    pub event: NotifyOn,
    pub deployment_id: Option<i64>,
    pub kind: DeployKind,
    pub target: String,
    pub actor: String,
    pub host: String,
    pub project: String,
    pub environment: String,
    /// How it ended (`finished` only).
    pub status: Option<DeployStatus>,
    pub message: String,
    pub from: Option<NoticeSide>,
    pub to: Option<NoticeSide>,
    /// The step that failed, when one did.
    pub failed_step: Option<String>,
    pub duration_ms: Option<u64>,
    pub downtime_ms: Option<u64>,
    pub at: DateTime<Utc>,
}

impl Notice {
    /// One line for chat formats.
    pub fn text(&self) -> String {
        let what = format!(
            "{} {} {}",
            self.project,
            self.kind.as_str(),
            self.to
                .as_ref()
                .and_then(|t| t.tag.clone())
                .unwrap_or_else(|| self.target.clone())
        );
        let id = self
            .deployment_id
            .map(|i| format!(" (#{i})"))
            .unwrap_or_default();
        match self.event {
            NotifyOn::Started => {
                format!("🚀 {what}{id} started by {} on {}", self.actor, self.host)
            }
            NotifyOn::AutoRollback => format!("↩️ {what}{id}: rolling back: {}", self.message),
            NotifyOn::Finished => {
                let (mark, word) = match self.status {
                    Some(DeployStatus::Succeeded) => ("✅", "succeeded"),
                    Some(DeployStatus::Skipped) => ("➖", "skipped"),
                    Some(DeployStatus::RolledBack) => ("↩️", "rolled back"),
                    Some(DeployStatus::FailedDown) => ("🔥", "FAILED, the app may be down"),
                    Some(DeployStatus::Cancelled) => ("⏹", "cancelled"),
                    _ => ("❌", "failed"),
                };
                format!("{mark} {what}{id} {word}: {}", self.message)
            }
        }
    }
}

/// What every notice carries besides the events' own facts.
#[derive(Debug, Clone)]
pub struct NoticeContext {
    pub host: String,
    pub project: String,
    pub environment: String,
}

/// Turns the engine's events into notices: `Started` → started, the automatic rollback's
/// first step → auto-rollback, `Finished` of a started deploy → finished. Dry runs and refusals
/// (no `Started`) notify nobody.
pub struct NoticeMapper {
    ctx: NoticeContext,
    started: Option<(Option<i64>, DeployKind, String, String)>,
    from: Option<NoticeSide>,
    to: Option<NoticeSide>,
    failed_step: Option<String>,
    error: Option<String>,
}

impl NoticeMapper {
    pub fn new(ctx: NoticeContext) -> Self {
        Self {
            ctx,
            started: None,
            from: None,
            to: None,
            failed_step: None,
            error: None,
        }
    }

    fn notice(&self, event: NotifyOn, message: String) -> Option<Notice> {
        let (deployment_id, kind, target, actor) = self.started.clone()?;
        Some(Notice {
            version: 1,
            event,
            deployment_id,
            kind,
            target,
            actor,
            host: self.ctx.host.clone(),
            project: self.ctx.project.clone(),
            environment: self.ctx.environment.clone(),
            status: None,
            message,
            from: self.from.clone(),
            to: self.to.clone(),
            failed_step: self.failed_step.clone(),
            duration_ms: None,
            downtime_ms: None,
            at: Utc::now(),
        })
    }

    pub fn feed(&mut self, event: &DeployEvent) -> Option<Notice> {
        match event {
            DeployEvent::Started {
                deployment_id,
                kind,
                target,
                actor,
                ..
            } => {
                self.started = Some((*deployment_id, *kind, target.clone(), actor.clone()));
                self.notice(NotifyOn::Started, format!("{} {target}", kind.as_str()))
            }
            DeployEvent::Sides { from, to } => {
                self.from = Some(from.into());
                if let Some(to) = to {
                    self.to = Some(to.into());
                }
                None
            }
            DeployEvent::Error { message } => {
                self.error = Some(message.clone());
                None
            }
            DeployEvent::Step {
                name,
                state: crate::deploy::StepState::Failed,
                ..
            } if self.failed_step.is_none() => {
                self.failed_step = Some((*name).to_string());
                None
            }
            DeployEvent::Step {
                name: "rollback",
                state: crate::deploy::StepState::Running,
                ..
            } => self.notice(
                NotifyOn::AutoRollback,
                self.error
                    .clone()
                    .unwrap_or_else(|| "the new version failed".into()),
            ),
            DeployEvent::Finished {
                status,
                message,
                downtime_ms,
                duration_ms,
                ..
            } => {
                let mut n = self.notice(NotifyOn::Finished, message.clone())?;
                n.status = Some(*status);
                n.downtime_ms = *downtime_ms;
                n.duration_ms = Some(*duration_ms);
                Some(n)
            }
            _ => None,
        }
    }
}

// ------------------------------------------------------------------ delivery

/// A target ready to send: its secret read and checked.
#[derive(Clone)]
pub struct Receiver {
    pub name: String,
    format: NotifyFormat,
    /// Where the request goes; holds the secret (the webhook URL, or the bot token in the path).
    url: url::Url,
    chat_id: String,
    events: Vec<NotifyOn>,
    timeout: Duration,
    attempts: u32,
    secret: String,
    /// `format → host`, safe to show.
    pub shown: String,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Receiver {
    /// Read the target's secret and build where it sends to; errors never contain the secret.
    pub fn resolve(
        index: usize,
        t: &NotifyTarget,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ResolveError> {
        let name = if t.name.is_empty() {
            format!("notify[{index}]")
        } else {
            t.name.clone()
        };
        let secret = if t.secret_env.is_empty() {
            crate::secret_file::read("secret file", &t.secret_file).map_err(|source| {
                ResolveError::SecretFile {
                    name: name.clone(),
                    source,
                }
            })?
        } else {
            env(&t.secret_env)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ResolveError::EnvUnset {
                    name: name.clone(),
                    var: t.secret_env.clone(),
                })?
        };
        let from = if t.secret_env.is_empty() {
            format!("secret file {}", t.secret_file)
        } else {
            format!("environment variable {}", t.secret_env)
        };
        let url = match t.format {
            NotifyFormat::Webhook | NotifyFormat::Slack => {
                check_url(&secret).map_err(|source| ResolveError::WebhookUrl {
                    name: name.clone(),
                    from: from.clone(),
                    source,
                })?
            }
            NotifyFormat::Telegram => {
                if !is_bot_token(&secret) {
                    return Err(ResolveError::NotBotToken { name, from });
                }
                let base = check_url(&t.api_url).map_err(|source| ResolveError::ApiUrl {
                    name: name.clone(),
                    source,
                })?;
                let base = base.as_str().trim_end_matches('/').to_string();
                url::Url::parse(&format!("{base}/bot{secret}/sendMessage"))
                    .map_err(|_| ResolveError::NoUrl { name: name.clone() })?
            }
        };
        let format_name = match t.format {
            NotifyFormat::Webhook => "webhook",
            NotifyFormat::Slack => "slack",
            NotifyFormat::Telegram => "telegram",
        };
        let shown = format!("{name} ({format_name} → {})", url.host_str().unwrap_or("?"));
        Ok(Self {
            name,
            format: t.format,
            url,
            chat_id: t.chat_id.clone(),
            events: t.events.clone(),
            timeout: Duration::from_millis(t.timeout_ms),
            attempts: t.attempts,
            secret,
            shown,
        })
    }

    pub fn wants(&self, n: &Notice) -> bool {
        self.events.contains(&n.event)
    }

    pub fn body(&self, n: &Notice) -> serde_json::Value {
        match self.format {
            NotifyFormat::Webhook => serde_json::to_value(n).unwrap_or_default(),
            NotifyFormat::Slack => {
                // Slack reads `&`, `<` and `>` as markup in both fields.
                let text = n
                    .text()
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                serde_json::json!({
                    "text": text,
                    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
                })
            }
            NotifyFormat::Telegram => serde_json::json!({
                "chat_id": self.chat_id,
                "text": n.text(),
                "disable_web_page_preview": true,
            }),
        }
    }

    /// Never the secret: replaced wherever a lower layer might have echoed it.
    fn redact(&self, text: &str) -> String {
        let mut t = text.replace(self.url.as_str(), "[redacted URL]");
        if !self.secret.is_empty() {
            t = t.replace(&self.secret, "[redacted]");
        }
        t
    }

    /// Send one notice, retrying what may pass; the result says what happened, secret-free.
    pub async fn deliver(&self, client: &reqwest::Client, n: &Notice) -> Delivery {
        let body = self.body(n);
        let mut pause = RETRY_BASE;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = client
                .post(self.url.clone())
                .timeout(self.timeout)
                .json(&body)
                .send()
                .await;
            let (retry, why) = match sent {
                Ok(r) if r.status().is_success() => {
                    return Delivery {
                        receiver: self.shown.clone(),
                        event: n.event,
                        attempts: attempt,
                        error: None,
                    };
                }
                Ok(r) => {
                    let s = r.status();
                    let retry = s.is_server_error() || s.as_u16() == 408 || s.as_u16() == 429;
                    (retry, format!("HTTP {s}"))
                }
                Err(e) => {
                    let kind = if e.is_timeout() {
                        "timed out"
                    } else if e.is_connect() {
                        "cannot connect"
                    } else {
                        "request failed"
                    };
                    // reqwest puts the URL in its messages; drop it, then make sure.
                    (
                        true,
                        format!("{kind}: {}", self.redact(&e.without_url().to_string())),
                    )
                }
            };
            if !retry || attempt >= self.attempts {
                return Delivery {
                    receiver: self.shown.clone(),
                    event: n.event,
                    attempts: attempt,
                    error: Some(format!(
                        "{why} after {attempt} attempt{}",
                        if attempt == 1 { "" } else { "s" }
                    )),
                };
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    }
}

const RETRY_BASE: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How one notice to one receiver went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub receiver: String,
    pub event: NotifyOn,
    pub attempts: u32,
    /// None: delivered.
    pub error: Option<String>,
}

impl Delivery {
    pub fn describe(&self) -> String {
        let event = match self.event {
            NotifyOn::Started => "started",
            NotifyOn::Finished => "finished",
            NotifyOn::AutoRollback => "auto-rollback",
        };
        match &self.error {
            None => format!("notify {}: {event} delivered", self.receiver),
            Some(e) => format!("notify {}: {event} not delivered: {e}", self.receiver),
        }
    }
}

/// Each `[[notify]]` target's secret read and checked, for `config check`: what it would send
/// to (`name (format → host)`), or why it would be skipped. Never the secret.
pub fn check_targets(
    targets: &[NotifyTarget],
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Result<String, ResolveError>> {
    targets
        .iter()
        .enumerate()
        .map(|(i, t)| Receiver::resolve(i, t, env).map(|r| r.shown))
        .collect()
}

/// The HTTP client notifications share (no proxy from the environment: receivers are usually
/// on the LAN or the chat service; per-request timeouts come from each target).
pub fn client() -> Result<reqwest::Client, ClientError> {
    crate::sources::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(ClientError)
}

/// The notification client could not be built (no TLS backend, for one).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the notification client: {0}")]
pub struct ClientError(reqwest::Error);

#[cfg(test)]
mod tests {
    use super::*;

    fn target(format: NotifyFormat) -> NotifyTarget {
        NotifyTarget {
            name: String::new(),
            format,
            secret_env: "HOOK".into(),
            secret_file: String::new(),
            chat_id: String::new(),
            api_url: default_telegram_api(),
            events: default_events(),
            timeout_ms: 1000,
            attempts: 3,
        }
    }

    #[test]
    fn slack_text_escapes_its_markup_characters() {
        let r = Receiver::resolve(0, &target(NotifyFormat::Slack), &|_| {
            Some("https://hooks.example.org/x".into())
        })
        .unwrap();
        let mut m = NoticeMapper::new(NoticeContext {
            host: "h".into(),
            project: "elt".into(),
            environment: "production".into(),
        });
        let n = m
            .feed(&DeployEvent::Started {
                deployment_id: Some(1),
                kind: DeployKind::Deploy,
                target: "v1".into(),
                actor: "a<b>&c".into(),
                runtime: "test".into(),
            })
            .unwrap();
        let body = r.body(&n);
        assert_eq!(
            body["text"],
            "🚀 elt deploy v1 (#1) started by a&lt;b&gt;&amp;c on h"
        );
        assert_eq!(body["blocks"][0]["text"]["text"], body["text"]);
    }

    #[test]
    fn chat_ids_and_tokens_are_checked() {
        for ok in ["-1001234567890", "12345", "@my_channel"] {
            assert!(is_chat_id(ok), "{ok}");
        }
        for bad in ["", "-", "@ab", "12a", "@1abcde", "123456789012345678901"] {
            assert!(!is_chat_id(bad), "{bad}");
        }
        assert!(is_bot_token("123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"));
        assert!(!is_bot_token("123456:short"));
        assert!(!is_bot_token("abc:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"));
    }

    #[test]
    fn validation_names_the_key() {
        let mut t = target(NotifyFormat::Telegram);
        assert_eq!(t.validate().unwrap_err().0, "chat_id");
        t.chat_id = "-100123".into();
        assert!(t.validate().is_ok());
        t.api_url = "ftp://x".into();
        assert_eq!(t.validate().unwrap_err().0, "api_url");
        let mut w = target(NotifyFormat::Slack);
        w.secret_file = "/x".into();
        assert_eq!(w.validate().unwrap_err().0, "secret_file");
        w.secret_env.clear();
        w.secret_file.clear();
        assert_eq!(w.validate().unwrap_err().0, "secret_env");
        let mut a = target(NotifyFormat::Webhook);
        a.attempts = 0;
        assert_eq!(a.validate().unwrap_err().0, "attempts");
    }

    #[test]
    fn a_bad_secret_is_reported_without_its_value() {
        let t = target(NotifyFormat::Webhook);
        let e = Receiver::resolve(0, &t, &|_| Some("not a url at all s3cr3t".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("notify[0]") && e.contains("environment variable HOOK"),
            "{e}"
        );
        assert!(!e.contains("s3cr3t"), "{e}");
        let mut tg = target(NotifyFormat::Telegram);
        tg.chat_id = "-1".into();
        let e = Receiver::resolve(2, &tg, &|_| Some("s3cr3t".into()))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cr3t") && e.contains("bot token"), "{e}");
        let e = Receiver::resolve(2, &tg, &|_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("HOOK is not set"), "{e}");
    }

    #[test]
    fn telegram_sends_to_the_bot_path_and_shows_only_the_host() {
        let mut tg = target(NotifyFormat::Telegram);
        tg.chat_id = "-100".into();
        tg.api_url = "http://127.0.0.1:9/".into();
        let r = Receiver::resolve(0, &tg, &|_| {
            Some("123:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into())
        })
        .unwrap();
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:9/bot123:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/sendMessage"
        );
        assert_eq!(r.shown, "notify[0] (telegram → 127.0.0.1)");
        assert!(!format!("{r:?}").contains("AAAA"));
    }
}
