//! Command-line flags with environment fallbacks, validated once at start into
//! a [`Config`] the rest of the server reads.

use crate::domain::csat::CsatPolicy;
use crate::domain::tickets::CustomerTicketLimits;
use crate::domain::uploads::{Quota, UploadQuotas};
use crate::domain::webhooks::RetryPolicy;
use crate::files::storage::StorageLocation;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The version `--version` and `soporte_build_info` report: the crate's,
/// and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("SOPORTE_GIT_COMMIT"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "soporte",
    version = VERSION,
    about = "Soporte: real-time support chat server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Print a signed token (development and tests).
    Token(Box<TokenArgs>),
    /// Apply database migrations and exit.
    Migrate(MigrateArgs),
    /// Service credentials for the host helpdesk's programs
    /// (`Authorization: Api-Key <key>`).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Ask a running server whether it is ready: exit 0 if it is, 1 if not.
    /// A probe for container health checks, where there is no curl.
    Healthcheck(HealthcheckArgs),
    /// A WebSocket echo on 127.0.0.1 with the server's socket settings, for
    /// protocol conformance runs (scripts/autobahn).
    #[command(hide = true)]
    WsEcho(WsEchoArgs),
}

#[derive(Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// The readiness URL to ask.
    #[arg(long, default_value = "http://127.0.0.1:8000/readyz")]
    pub url: String,
    /// How long to wait for the answer (`3s`, `500ms`).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Args, Debug, Clone)]
pub struct WsEchoArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    #[command(flatten)]
    pub frames: FrameArgs,
}

#[derive(Args, Debug, Clone)]
pub struct FrameArgs {
    /// Largest WebSocket text frame the server reads, in bytes (at least 1024);
    /// larger ones get `frame_demasiado_grande`.
    #[arg(long, env = "SOPORTE_MAX_FRAME_SIZE", default_value_t = 49_152)]
    pub max_frame_size: usize,
}

impl FrameArgs {
    pub fn max_frame_size(&self) -> Result<usize, ConfigError> {
        if self.max_frame_size < 1024 {
            return Err(ConfigError::new(
                "SOPORTE_MAX_FRAME_SIZE (--max-frame-size)",
                "must be at least 1024 bytes",
            ));
        }
        Ok(self.max_frame_size)
    }
}

#[derive(Args, Debug, Clone)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Also give the database a new epoch: run it after restoring a backup,
    /// so clients resync instead of resuming into a history that changed.
    #[arg(long)]
    pub new_epoch: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (embedded default) or `postgres://…`.
    #[arg(
        long,
        env = "SOPORTE_DATABASE_URL",
        default_value = "sqlite://./data/soporte.db"
    )]
    pub database_url: String,
}

#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// HS256 key (at least 32 bytes).
    #[arg(long, env = "SOPORTE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM file with the public key of RS256 / ES256 / EdDSA tokens.
    #[arg(long, env = "SOPORTE_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// Required `iss` claim, when set.
    #[arg(long, env = "SOPORTE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[arg(long, env = "SOPORTE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The claim with the user's id (a number or a digit string); unset:
    /// `sub`, else `user_id`.
    #[arg(long, env = "SOPORTE_JWT_USER_ID_CLAIM")]
    pub jwt_user_id_claim: Option<String>,
    /// The claim with the user's role (CLIENTE, AGENTE or SUPERVISOR).
    #[arg(long, env = "SOPORTE_JWT_ROLE_CLAIM", default_value = "role")]
    pub jwt_role_claim: String,
    /// The claim with the user's display name.
    #[arg(long, env = "SOPORTE_JWT_NAME_CLAIM", default_value = "name")]
    pub jwt_name_claim: String,
    /// The role of a user whose token has none and who was not provisioned
    /// (unset: such a token is refused, naming the missing claim).
    #[arg(long, env = "SOPORTE_JWT_DEFAULT_ROLE")]
    pub jwt_default_role: Option<String>,
}

impl KeyArgs {
    /// An HS256 secret, every other setting at its default.
    pub fn hs256(secret: &str) -> KeyArgs {
        KeyArgs {
            jwt_secret: Some(secret.to_string()),
            jwt_public_key: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_user_id_claim: None,
            jwt_role_claim: "role".into(),
            jwt_name_claim: "name".into(),
            jwt_default_role: None,
        }
    }
}

/// Default of `--http-header-timeout`, in seconds (also the `ws-echo` test
/// server's).
pub const HTTP_HEADER_TIMEOUT_SECS: u64 = 30;

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Listen address (`:0` picks a free port).
    #[arg(
        long,
        env = "SOPORTE_BIND",
        default_value = "127.0.0.1:8000",
        help_heading = "Network"
    )]
    pub bind: String,
    /// Serve `/metrics` on this address only (e.g. `127.0.0.1:9100`), not on
    /// the chat port; unset: on the chat port.
    #[arg(long, env = "SOPORTE_METRICS_BIND", help_heading = "Network")]
    pub metrics_bind: Option<String>,
    #[command(flatten, next_help_heading = "Storage")]
    pub database: DatabaseArgs,
    /// Redis URL: set it to run as one node of a cluster.
    #[arg(long, env = "SOPORTE_REDIS_URL", help_heading = "Storage")]
    pub redis_url: Option<String>,
    #[command(flatten, next_help_heading = "Tokens")]
    pub keys: KeyArgs,
    /// Where attachments live: a folder, or an object store URL.
    #[arg(
        long,
        env = "SOPORTE_STORAGE",
        default_value = "./data/files",
        help_heading = "Storage"
    )]
    pub storage: String,
    /// Largest attachment, in bytes.
    #[arg(
        long,
        env = "SOPORTE_MAX_FILE_SIZE",
        default_value_t = 10_485_760,
        help_heading = "Storage"
    )]
    pub max_file_size: u64,
    #[command(flatten, next_help_heading = "Storage quotas and retention")]
    pub storage_limits: StorageLimitArgs,
    /// Image previews decoded at once, each with up to 128 MiB of memory
    /// (default: one per CPU core; 0: no previews).
    #[arg(long, env = "SOPORTE_PREVIEW_DECODES", help_heading = "Storage")]
    pub preview_decodes: Option<usize>,
    /// Attachment extensions allowed, checked against the real content.
    #[arg(
        long,
        env = "SOPORTE_ALLOWED_FILE_TYPES",
        default_value = "jpg,jpeg,png,pdf,doc,docx",
        help_heading = "Storage"
    )]
    pub allowed_file_types: String,
    /// Comma list of browser origins allowed to open a WebSocket (default: the server's own).
    #[arg(long, env = "SOPORTE_ALLOWED_ORIGINS", help_heading = "Network")]
    pub allowed_origins: Option<String>,
    /// Tickets a customer may have open (or waiting for them) at once when
    /// they open one themselves; 0: no limit.
    #[arg(
        long,
        env = "SOPORTE_CUSTOMER_OPEN_TICKETS",
        default_value_t = 10,
        help_heading = "Limits"
    )]
    pub customer_open_tickets: u32,
    /// Tickets a customer may open themselves per hour; 0: no limit.
    #[arg(
        long,
        env = "SOPORTE_CUSTOMER_TICKETS_PER_HOUR",
        default_value_t = 20,
        help_heading = "Limits"
    )]
    pub customer_tickets_per_hour: u32,
    /// Messages per second one connection may send (burst of a few seconds); 0 turns it off.
    #[arg(
        long,
        env = "SOPORTE_MSG_RATE",
        default_value_t = 10,
        help_heading = "Limits"
    )]
    pub msg_rate: u32,
    /// Messages per second one user may send over all their sockets and REST
    /// sync together, on every node in cluster mode (burst of three seconds'
    /// worth); 0 turns it off, and so does --msg-rate 0.
    #[arg(
        long,
        env = "SOPORTE_USER_MSG_RATE",
        default_value_t = 20,
        help_heading = "Limits"
    )]
    pub user_msg_rate: u32,
    /// Largest REST request body in bytes (uploads have their own limit,
    /// --max-file-size); larger ones get 413.
    #[arg(
        long,
        env = "SOPORTE_MAX_REQUEST_BODY",
        default_value_t = 1_048_576,
        help_heading = "Limits"
    )]
    pub max_request_body: usize,
    #[command(flatten, next_help_heading = "Limits")]
    pub frames: FrameArgs,
    #[command(flatten, next_help_heading = "Webhooks")]
    pub webhooks: WebhookArgs,
    #[command(flatten, next_help_heading = "Ticket lifecycle")]
    pub lifecycle: LifecycleArgs,
    #[command(flatten, next_help_heading = "Email")]
    pub email: EmailArgs,
    /// Sockets one user may hold at once; 0 turns the limit off.
    #[arg(
        long,
        env = "SOPORTE_MAX_CONNECTIONS_PER_USER",
        default_value_t = 20,
        help_heading = "Limits"
    )]
    pub max_connections_per_user: u32,
    /// Sockets the whole server holds at once; 0 turns the limit off.
    #[arg(
        long,
        env = "SOPORTE_MAX_CONNECTIONS",
        default_value_t = 18_000,
        help_heading = "Limits"
    )]
    pub max_connections: u32,
    /// HTTP connections (before any WebSocket upgrade) one client address may
    /// hold at once; 0 turns the limit off (behind a proxy that limits them).
    #[arg(
        long,
        env = "SOPORTE_MAX_CONNECTIONS_PER_IP",
        default_value_t = 256,
        help_heading = "Limits"
    )]
    pub max_connections_per_ip: u32,
    /// HTTP requests per second one client address may send over all its
    /// connections (burst of five seconds' worth; 429 past it); 0 turns the
    /// limit off (behind a proxy that limits them: every client then has
    /// the proxy's address).
    #[arg(
        long,
        env = "SOPORTE_REQUESTS_PER_IP",
        default_value_t = 100,
        help_heading = "Limits"
    )]
    pub requests_per_ip: u32,
    /// Base URL clients reach this node by (default: http:// + the bound address).
    #[arg(long, env = "SOPORTE_PUBLIC_URL", help_heading = "Network")]
    pub public_url: Option<String>,
    /// Longest message text, in characters.
    #[arg(
        long,
        env = "SOPORTE_MAX_MESSAGE_LENGTH",
        default_value_t = 5000,
        help_heading = "Limits"
    )]
    pub max_message_length: usize,
    /// Seconds between pings; a connection silent for twice this is closed.
    #[arg(
        long,
        env = "SOPORTE_HEARTBEAT_INTERVAL",
        default_value_t = 30,
        help_heading = "Chat"
    )]
    pub heartbeat_interval: u64,
    /// Seconds an HTTP connection may take to send a request's headers,
    /// counted from when it opens or its previous response ends: an idle
    /// keep-alive connection, or a client trickling its headers, is closed
    /// after it.
    #[arg(long, env = "SOPORTE_HTTP_HEADER_TIMEOUT", default_value_t = HTTP_HEADER_TIMEOUT_SECS, help_heading = "Network")]
    pub http_header_timeout: u64,
    /// Milliseconds a typing state lasts without a new `typing_start`.
    #[arg(
        long,
        env = "SOPORTE_TYPING_TIMEOUT_MS",
        default_value_t = 5000,
        help_heading = "Chat"
    )]
    pub typing_timeout_ms: u64,
    /// Give each new ticket to the available agent (inbox open, `disponible`)
    /// with the fewest open tickets.
    #[arg(
        long,
        env = "SOPORTE_AUTO_ASSIGN",
        default_value_t = false,
        help_heading = "Chat"
    )]
    pub auto_assign: bool,
    /// Open tickets an agent may hold before automatic assignment skips them.
    #[arg(
        long,
        env = "SOPORTE_MAX_CHATS_PER_AGENT",
        default_value_t = 5,
        help_heading = "Chat"
    )]
    pub max_chats_per_agent: u32,
    /// Cluster mode: seconds a node's presence entries count without a
    /// refresh (nodes refresh every third of it). A node that dies stops
    /// counting as present within this time.
    #[arg(
        long,
        env = "SOPORTE_PRESENCE_TTL",
        default_value_t = 15,
        help_heading = "Chat"
    )]
    pub presence_ttl: u64,
    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "SOPORTE_LOG_FORMAT",
        default_value = "text",
        help_heading = "Logging and development"
    )]
    pub log_format: String,
    /// Seed a demo ticket, customer and agent, generate a dev secret if none is set,
    /// and print ready-to-open URLs.
    #[arg(
        long,
        env = "SOPORTE_DEMO",
        default_value_t = false,
        help_heading = "Logging and development"
    )]
    pub demo: bool,
}

/// How much attachments may take, and how long they are kept. Sizes in
/// bytes; 0 is no limit.
#[derive(Args, Debug, Clone)]
pub struct StorageLimitArgs {
    /// Bytes of files one customer may keep over all their tickets (staff
    /// are held by the ticket quota and the hourly budget).
    #[arg(long, env = "SOPORTE_USER_STORAGE", default_value_t = 1_073_741_824)]
    pub user_storage: u64,
    /// Files one customer may keep over all their tickets.
    #[arg(long, env = "SOPORTE_USER_FILES", default_value_t = 1000)]
    pub user_files: u64,
    /// Bytes of files one ticket may hold.
    #[arg(long, env = "SOPORTE_TICKET_STORAGE", default_value_t = 268_435_456)]
    pub ticket_storage: u64,
    /// Files one ticket may hold.
    #[arg(long, env = "SOPORTE_TICKET_FILES", default_value_t = 500)]
    pub ticket_files: u64,
    /// Bytes one person may upload per hour (counted when granted).
    #[arg(
        long,
        env = "SOPORTE_UPLOAD_BYTES_PER_HOUR",
        default_value_t = 209_715_200
    )]
    pub upload_bytes_per_hour: u64,
    /// Free bytes the file storage's disk must keep: below it, uploads are
    /// refused (`espacio_insuficiente`). Not measured on object stores.
    #[arg(long, env = "SOPORTE_MIN_FREE_SPACE", default_value_t = 1_073_741_824)]
    pub min_free_space: u64,
    /// Files of tickets closed this long ago are deleted (`365d`, `90d`);
    /// unset: kept while their ticket exists.
    #[arg(long, env = "SOPORTE_FILE_RETENTION")]
    pub file_retention: Option<String>,
}

impl StorageLimitArgs {
    pub fn quotas(&self) -> UploadQuotas {
        UploadQuotas {
            user: Quota {
                bytes: self.user_storage,
                files: self.user_files,
            },
            ticket: Quota {
                bytes: self.ticket_storage,
                files: self.ticket_files,
            },
            bytes_per_hour: self.upload_bytes_per_hour,
        }
    }

    pub fn retention(&self) -> Result<Option<Duration>, ConfigError> {
        self.file_retention
            .as_deref()
            .map(|text| {
                positive_duration(
                    "SOPORTE_FILE_RETENTION (--file-retention)",
                    text,
                    "90d or 365d",
                )
            })
            .transpose()
    }
}

/// Email to customers who did not read a reply (off without `--smtp-url`).
#[derive(Args, Debug, Clone)]
pub struct EmailArgs {
    /// The SMTP server: `smtp://host:port` (plain, for a local relay),
    /// `smtp://host:port?tls=required` (STARTTLS), `smtps://host:465`; user
    /// and password as `smtp://user:pass@host`. Unset: no email is sent.
    #[arg(long, env = "SOPORTE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender, `Soporte <soporte@example.com>` (required with --smtp-url).
    #[arg(long, env = "SOPORTE_EMAIL_FROM")]
    pub email_from: Option<String>,
    /// Seconds a reply may stay unread before its customer is emailed.
    #[arg(long, env = "SOPORTE_EMAIL_UNREAD_AFTER", default_value_t = 180)]
    pub email_unread_after: u64,
    /// The link emails carry back to the chat, `{ticket}` replaced by the
    /// ticket's id (default: the web UI at the public URL).
    #[arg(long, env = "SOPORTE_EMAIL_LINK")]
    pub email_link: Option<String>,
}

impl EmailArgs {
    pub fn settings(&self) -> Result<Option<EmailSettings>, ConfigError> {
        let Some(url) = self.smtp_url.as_deref().map(str::trim) else {
            return Ok(None);
        };
        crate::mail::transport(url).map_err(|error| {
            ConfigError::new(
                "SOPORTE_SMTP_URL (--smtp-url)",
                format!(
                    "not an SMTP URL ({error}); expected smtp://HOST:PORT or smtps://HOST:PORT"
                ),
            )
        })?;
        let from = self
            .email_from
            .as_deref()
            .map(str::trim)
            .unwrap_or_default();
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "SOPORTE_EMAIL_FROM (--email-from)",
                format!("{from:?} is not an address like \"Soporte <soporte@example.com>\" (needed with --smtp-url)"),
            ));
        }
        if self.email_unread_after == 0 {
            return Err(ConfigError::new(
                "SOPORTE_EMAIL_UNREAD_AFTER (--email-unread-after)",
                "must be at least 1 second",
            ));
        }
        Ok(Some(EmailSettings {
            smtp_url: url.to_string(),
            from: from.to_string(),
            unread_after: Duration::from_secs(self.email_unread_after),
            link: self.email_link.clone(),
        }))
    }
}

/// Email, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub smtp_url: String,
    pub from: String,
    pub unread_after: Duration,
    /// `{ticket}` is replaced; `None`: the web UI at the public URL.
    pub link: Option<String>,
}

/// What happens to tickets over time (durations as `7d`, `48h`; `off`).
#[derive(Args, Debug, Clone)]
pub struct LifecycleArgs {
    /// A resolved ticket the customer does not answer closes this long after
    /// it was resolved; `off`: resolved tickets stay resolved.
    #[arg(long, env = "SOPORTE_AUTO_CLOSE_AFTER", default_value = "7d")]
    pub auto_close_after: String,
    /// How long after the team's last reply a resolved or closed ticket may
    /// still be rated by its customer (CSAT); `off`: no ratings.
    #[arg(long, env = "SOPORTE_CSAT_WINDOW", default_value = "7d")]
    pub csat_window: String,
    /// How long after sending it its author may edit a text message (`15m`,
    /// `1h`); `off`: messages cannot be edited (deleting stays possible).
    #[arg(long, env = "SOPORTE_EDIT_WINDOW", default_value = "15m")]
    pub edit_window: String,
}

impl LifecycleArgs {
    pub fn auto_close_after(&self) -> Result<Option<Duration>, ConfigError> {
        duration_or_off(
            "SOPORTE_AUTO_CLOSE_AFTER (--auto-close-after)",
            &self.auto_close_after,
        )
    }

    pub fn edit_window(&self) -> Result<Option<Duration>, ConfigError> {
        duration_or_off("SOPORTE_EDIT_WINDOW (--edit-window)", &self.edit_window)
    }

    pub fn csat(&self) -> Result<CsatPolicy, ConfigError> {
        Ok(CsatPolicy {
            window: duration_or_off("SOPORTE_CSAT_WINDOW (--csat-window)", &self.csat_window)?,
        })
    }
}

/// A duration (`7d`, `48h`), or `off` (also `0`) for none.
fn duration_or_off(setting: &'static str, text: &str) -> Result<Option<Duration>, ConfigError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") || text == "0" {
        return Ok(None);
    }
    positive_duration(setting, text, "7d or 48h, nor off").map(Some)
}

/// A duration above zero in humantime's spelling (`10s`, `500ms`, `72h`,
/// `7d`); `examples` name what the setting expects when it is not one.
fn positive_duration(
    setting: &'static str,
    text: &str,
    examples: &str,
) -> Result<Duration, ConfigError> {
    let text = text.trim();
    humantime::parse_duration(text)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ConfigError::new(
                setting,
                format!("{text:?} is not a duration like {examples}"),
            )
        })
}

/// Webhook deliveries (durations as `10s`, `500ms`, `72h`, `7d`).
#[derive(Args, Debug, Clone)]
pub struct WebhookArgs {
    /// Let webhooks go to private, loopback and link-local addresses (local
    /// development and tests; never in production: it opens SSRF).
    #[arg(long, env = "SOPORTE_WEBHOOK_ALLOW_PRIVATE", default_value_t = false)]
    pub webhook_allow_private: bool,
    /// How long a receiver has to answer one attempt.
    #[arg(long, env = "SOPORTE_WEBHOOK_TIMEOUT", default_value = "10s")]
    pub webhook_timeout: String,
    /// An event not delivered this long after it happened is given up.
    #[arg(long, env = "SOPORTE_WEBHOOK_MAX_AGE", default_value = "72h")]
    pub webhook_max_age: String,
    /// Base wait before the first retry (jittered to half of it or more);
    /// each next wait doubles, up to an hour.
    #[arg(long, env = "SOPORTE_WEBHOOK_FIRST_RETRY", default_value = "10s")]
    pub webhook_first_retry: String,
    /// How long delivered and given-up deliveries stay in the delivery log.
    #[arg(long, env = "SOPORTE_WEBHOOK_RETENTION", default_value = "7d")]
    pub webhook_retention: String,
}

impl WebhookArgs {
    pub fn settings(&self) -> Result<WebhookSettings, ConfigError> {
        let duration = |setting: &'static str, text: &str| {
            positive_duration(setting, text, "10s, 500ms, 72h or 7d")
        };
        Ok(WebhookSettings {
            allow_private: self.webhook_allow_private,
            timeout: duration(
                "SOPORTE_WEBHOOK_TIMEOUT (--webhook-timeout)",
                &self.webhook_timeout,
            )?,
            policy: RetryPolicy {
                first_retry: duration(
                    "SOPORTE_WEBHOOK_FIRST_RETRY (--webhook-first-retry)",
                    &self.webhook_first_retry,
                )?,
                max_age: duration(
                    "SOPORTE_WEBHOOK_MAX_AGE (--webhook-max-age)",
                    &self.webhook_max_age,
                )?,
            },
            retention: duration(
                "SOPORTE_WEBHOOK_RETENTION (--webhook-retention)",
                &self.webhook_retention,
            )?,
        })
    }
}

/// How webhooks are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    pub allow_private: bool,
    pub timeout: Duration,
    pub policy: RetryPolicy,
    pub retention: Duration,
}

impl Default for WebhookSettings {
    fn default() -> WebhookSettings {
        WebhookSettings {
            allow_private: false,
            timeout: Duration::from_secs(10),
            policy: RetryPolicy {
                first_retry: crate::domain::webhooks::FIRST_RETRY,
                max_age: Duration::from_secs(72 * 3600),
            },
            retention: Duration::from_secs(7 * 86_400),
        }
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum ApiKeyCommand {
    /// Create a key and print it (once: only its hash is kept).
    Create {
        /// What the key is for, to list and revoke it by.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the keys: name, prefix, created, last used, revoked.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a key by name: it stops working at once.
    Revoke {
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Args, Debug, Clone)]
pub struct TokenArgs {
    /// The user's id.
    #[arg(long)]
    pub sub: i64,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// CLIENTE, AGENTE or SUPERVISOR.
    #[arg(long)]
    pub role: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 86_400)]
    pub ttl: u64,
    /// Avatar URL.
    #[arg(long)]
    pub avatar: Option<String>,
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// A setting that cannot be used, named so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        ConfigError {
            setting,
            reason: reason.into(),
        }
    }
}

/// Where messages are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        const SETTING: &str = "SOPORTE_DATABASE_URL (--database-url)";
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(ConfigError::new(SETTING, "sqlite:// needs a file path"));
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_string()))
        } else {
            Err(ConfigError::new(
                SETTING,
                format!(
                    "expected sqlite://PATH or postgres://…, got {:?}",
                    redact_url(url)
                ),
            ))
        }
    }
}

/// Hides a password in a URL before it is printed.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The server's settings after validation.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Where `/metrics` is served alone; `None`: on `bind` with the rest.
    pub metrics_bind: Option<SocketAddr>,
    pub database: DatabaseUrl,
    pub redis_url: Option<String>,
    pub storage: StorageLocation,
    pub max_file_size: u64,
    /// Storage quotas and the hourly upload budget.
    pub upload_quotas: UploadQuotas,
    /// Uploads are refused while the storage disk has less free.
    pub min_free_space: u64,
    /// Files of tickets closed this long ago are deleted; `None`: kept.
    pub file_retention: Option<Duration>,
    /// Image previews decoded at once (see `files::thumbnail::Previews`).
    pub preview_decodes: usize,
    pub allowed_file_types: Vec<String>,
    /// `None`: only the server's own origin (known once bound).
    pub allowed_origins: Option<Vec<String>>,
    pub msg_rate: u32,
    /// Tickets customers may open themselves (see `domain::tickets`).
    pub customer_ticket_limits: CustomerTicketLimits,
    /// Per user, over all their sockets and REST sync, on every node (0: off).
    pub user_msg_rate: u32,
    /// Largest REST request body, in bytes.
    pub max_request_body: usize,
    /// Largest WebSocket text frame the application reads, in bytes.
    pub max_frame_size: usize,
    pub max_connections_per_user: u32,
    pub max_connections: u32,
    /// Plain HTTP connections per client address (see `edge::per_ip`).
    pub max_connections_per_ip: u32,
    /// HTTP requests per second per client address (0: no limit).
    pub requests_per_ip: u32,
    pub public_url: Option<String>,
    pub max_message_length: usize,
    pub heartbeat_interval: Duration,
    /// See `--http-header-timeout`.
    pub http_header_timeout: Duration,
    pub typing_timeout: Duration,
    pub auto_assign: bool,
    pub max_chats_per_agent: u32,
    /// Cluster mode: how long presence counts without a refresh.
    pub presence_ttl: Duration,
    /// How long an upload credential stays valid.
    pub upload_grant_ttl: Duration,
    pub webhooks: WebhookSettings,
    /// Resolved tickets close this long after; `None`: never.
    pub auto_close_after: Option<Duration>,
    pub csat: CsatPolicy,
    /// How long its author may edit a message (`None`: no editing).
    pub edit_window: Option<Duration>,
    /// `None`: no email.
    pub email: Option<EmailSettings>,
    /// What time-dependent rules judge by (tests move it).
    pub clock: crate::clock::Clock,
    pub demo: bool,
}

impl Config {
    pub fn from_args(args: &ServeArgs) -> Result<Config, ConfigError> {
        let bind = parse_bind(&args.bind, "SOPORTE_BIND (--bind)")?;
        let metrics_bind = args
            .metrics_bind
            .as_deref()
            .map(|bind| parse_bind(bind, "SOPORTE_METRICS_BIND (--metrics-bind)"))
            .transpose()?;
        if let Some(url) = &args.redis_url {
            redis::Client::open(url.as_str()).map_err(|error| {
                ConfigError::new(
                    "SOPORTE_REDIS_URL (--redis-url)",
                    format!("not a Redis URL ({error}); expected redis://HOST:PORT[/DB]"),
                )
            })?;
        }
        let database = DatabaseUrl::parse(&args.database.database_url)?;
        let storage = StorageLocation::parse(&args.storage, |name| std::env::var(name).ok())
            .map_err(|reason| ConfigError::new("SOPORTE_STORAGE (--storage)", reason))?;
        let allowed_file_types = split_list(&args.allowed_file_types)
            .into_iter()
            .map(|t| t.trim_start_matches('.').to_ascii_lowercase())
            .collect::<Vec<_>>();
        if let Some(unknown) = allowed_file_types
            .iter()
            .find(|t| crate::files::FileKind::from_extension(t).is_none())
        {
            return Err(ConfigError::new(
                "SOPORTE_ALLOWED_FILE_TYPES (--allowed-file-types)",
                format!("{unknown:?} is not a type whose content can be checked (jpg, jpeg, png, pdf, doc, docx)"),
            ));
        }
        if allowed_file_types.is_empty() {
            return Err(ConfigError::new(
                "SOPORTE_ALLOWED_FILE_TYPES (--allowed-file-types)",
                "needs at least one extension",
            ));
        }
        let allowed_origins = match &args.allowed_origins {
            None => None,
            Some(list) => {
                let origins = split_list(list)
                    .iter()
                    .map(|origin| {
                        browser_origin(origin).map_err(|why| {
                            ConfigError::new("SOPORTE_ALLOWED_ORIGINS (--allowed-origins)", why)
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Some(origins)
            }
        };
        let public_url = match &args.public_url {
            None => None,
            Some(url) => {
                let url = url.trim_end_matches('/').to_string();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::new(
                        "SOPORTE_PUBLIC_URL (--public-url)",
                        format!("{url:?} must start with http:// or https://"),
                    ));
                }
                Some(url)
            }
        };
        if args.max_message_length == 0 {
            return Err(ConfigError::new(
                "SOPORTE_MAX_MESSAGE_LENGTH (--max-message-length)",
                "must be at least 1",
            ));
        }
        let webhooks = args.webhooks.settings()?;
        let max_frame_size = args.frames.max_frame_size()?;
        if args.heartbeat_interval == 0 {
            return Err(ConfigError::new(
                "SOPORTE_HEARTBEAT_INTERVAL (--heartbeat-interval)",
                "must be at least 1 second",
            ));
        }
        if args.http_header_timeout == 0 {
            return Err(ConfigError::new(
                "SOPORTE_HTTP_HEADER_TIMEOUT (--http-header-timeout)",
                "must be at least 1 second",
            ));
        }
        Ok(Config {
            bind,
            metrics_bind,
            database,
            redis_url: args.redis_url.clone(),
            storage,
            max_file_size: args.max_file_size,
            upload_quotas: args.storage_limits.quotas(),
            min_free_space: args.storage_limits.min_free_space,
            file_retention: args.storage_limits.retention()?,
            preview_decodes: args.preview_decodes.unwrap_or_else(cores),
            allowed_file_types,
            allowed_origins,
            msg_rate: args.msg_rate,
            customer_ticket_limits: CustomerTicketLimits {
                open: args.customer_open_tickets,
                per_hour: args.customer_tickets_per_hour,
            },
            user_msg_rate: args.user_msg_rate,
            max_request_body: args.max_request_body,
            max_frame_size,
            max_connections_per_user: args.max_connections_per_user,
            max_connections: args.max_connections,
            max_connections_per_ip: args.max_connections_per_ip,
            requests_per_ip: args.requests_per_ip,
            public_url,
            max_message_length: args.max_message_length,
            heartbeat_interval: Duration::from_secs(args.heartbeat_interval),
            http_header_timeout: Duration::from_secs(args.http_header_timeout),
            typing_timeout: Duration::from_millis(args.typing_timeout_ms.max(100)),
            auto_assign: args.auto_assign,
            max_chats_per_agent: args.max_chats_per_agent,
            presence_ttl: Duration::from_secs(args.presence_ttl.max(3)),
            upload_grant_ttl: Duration::from_secs(300),
            webhooks,
            auto_close_after: args.lifecycle.auto_close_after()?,
            csat: args.lifecycle.csat()?,
            edit_window: args.lifecycle.edit_window()?,
            email: args.email.settings()?,
            clock: crate::clock::Clock::system(),
            demo: args.demo,
        })
    }

    /// Settings for tests and embedding: a database file, everything else default.
    pub fn for_database(path: impl Into<PathBuf>) -> Config {
        Config {
            bind: "127.0.0.1:0".parse().expect("valid address"),
            metrics_bind: None,
            database: DatabaseUrl::Sqlite(path.into()),
            redis_url: None,
            storage: StorageLocation::Folder("./data/files".into()),
            max_file_size: 10_485_760,
            upload_quotas: UploadQuotas {
                user: Quota {
                    bytes: 1_073_741_824,
                    files: 1000,
                },
                ticket: Quota {
                    bytes: 268_435_456,
                    files: 500,
                },
                bytes_per_hour: 209_715_200,
            },
            min_free_space: 1_073_741_824,
            file_retention: None,
            preview_decodes: cores(),
            allowed_file_types: split_list("jpg,jpeg,png,pdf,doc,docx"),
            allowed_origins: None,
            msg_rate: 10,
            customer_ticket_limits: CustomerTicketLimits {
                open: 10,
                per_hour: 20,
            },
            user_msg_rate: 20,
            max_request_body: 1_048_576,
            max_frame_size: 49_152,
            max_connections_per_user: 20,
            max_connections: 18_000,
            max_connections_per_ip: 256,
            requests_per_ip: 100,
            public_url: None,
            max_message_length: 5000,
            heartbeat_interval: Duration::from_secs(30),
            http_header_timeout: Duration::from_secs(HTTP_HEADER_TIMEOUT_SECS),
            typing_timeout: Duration::from_secs(5),
            auto_assign: false,
            max_chats_per_agent: 5,
            presence_ttl: Duration::from_secs(15),
            upload_grant_ttl: Duration::from_secs(300),
            webhooks: WebhookSettings::default(),
            auto_close_after: Some(Duration::from_secs(7 * 86_400)),
            csat: CsatPolicy::default(),
            edit_window: Some(crate::domain::edits::DEFAULT_EDIT_WINDOW),
            email: None,
            clock: crate::clock::Clock::system(),
            demo: false,
        }
    }
}

fn parse_bind(bind: &str, setting: &'static str) -> Result<SocketAddr, ConfigError> {
    // `:0` (no host) means the loopback address with that port.
    let with_host = if bind.starts_with(':') {
        format!("127.0.0.1{bind}")
    } else {
        bind.to_string()
    };
    with_host.parse().map_err(|_| {
        ConfigError::new(
            setting,
            format!("{bind:?} is not an address like 127.0.0.1:8000"),
        )
    })
}

/// An origin as browsers send it in `Origin` (scheme, host in lower case,
/// port): anything else would silently match nothing.
fn browser_origin(origin: &str) -> Result<String, String> {
    let (scheme, rest) = origin
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        .ok_or_else(|| format!("{origin:?} is not an origin like https://example.com"))?;
    if rest.contains('*') {
        return Err(format!(
            "{origin:?}: wildcards are not supported, list each origin"
        ));
    }
    let bad = |c: char| matches!(c, '/' | '?' | '#' | '@' | ' ');
    if rest.is_empty() || rest.contains(bad) {
        return Err(format!(
            "{origin:?} is not an origin like https://example.com (no path, user or query)"
        ));
    }
    Ok(format!("{scheme}://{}", rest.to_ascii_lowercase()))
}

/// The CPU cores this process may use (1 when unknown).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_needs_an_smtp_url_and_a_sender() {
        let args = |url: Option<&str>, from: Option<&str>| EmailArgs {
            smtp_url: url.map(Into::into),
            email_from: from.map(Into::into),
            email_unread_after: 180,
            email_link: None,
        };
        assert_eq!(args(None, None).settings().unwrap(), None);
        let on = args(
            Some("smtp://127.0.0.1:2525"),
            Some("Soporte <s@example.com>"),
        )
        .settings()
        .unwrap()
        .unwrap();
        assert_eq!(on.unread_after, Duration::from_secs(180));
        let no_sender = args(Some("smtp://127.0.0.1:2525"), None)
            .settings()
            .unwrap_err()
            .to_string();
        assert!(no_sender.contains("--email-from"), "{no_sender}");
        let bad_url = args(Some("mailto:x@y"), Some("s@example.com"))
            .settings()
            .unwrap_err()
            .to_string();
        assert!(bad_url.contains("--smtp-url"), "{bad_url}");
    }

    #[test]
    fn lifecycle_periods_are_durations_or_off() {
        let args = |auto_close: &str, csat: &str| LifecycleArgs {
            auto_close_after: auto_close.into(),
            csat_window: csat.into(),
            edit_window: "15m".into(),
        };
        assert_eq!(
            args("7d", "7d").edit_window().unwrap(),
            Some(Duration::from_secs(900))
        );
        let week = Some(Duration::from_secs(7 * 86_400));
        assert_eq!(args("7d", "7d").auto_close_after().unwrap(), week);
        assert_eq!(args(" off ", "7d").auto_close_after().unwrap(), None);
        assert_eq!(args("7d", "0").csat().unwrap().window, None);
        assert_eq!(
            args("7d", "48h").csat().unwrap().window,
            Some(Duration::from_secs(172_800))
        );
        let bad = args("siete", "7d")
            .auto_close_after()
            .unwrap_err()
            .to_string();
        assert!(bad.contains("--auto-close-after"), "{bad}");
        assert!(bad.contains("\"siete\" is not a duration"), "{bad}");
    }

    #[test]
    fn database_urls_are_recognised_or_refused() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://./data/x.db").unwrap(),
            DatabaseUrl::Sqlite("./data/x.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        let err = DatabaseUrl::parse("mysql://root:secreto@h/db").unwrap_err();
        assert!(err.to_string().contains("SOPORTE_DATABASE_URL"));
        assert!(!err.to_string().contains("secreto"));
    }

    #[test]
    fn allowed_origins_are_origins_as_browsers_send_them() {
        assert_eq!(
            browser_origin("https://Help.Example:8443").unwrap(),
            "https://help.example:8443"
        );
        assert_eq!(
            browser_origin("http://localhost:5173").unwrap(),
            "http://localhost:5173"
        );
        // Each of these would be accepted and then match no browser's Origin.
        for bad in [
            "http://*.example",
            "https://*",
            "https://help.example/",
            "https://help.example/chat",
            "https://u@help.example",
            "https://help.example?x",
            "help.example",
            "ftp://help.example",
            "https://",
        ] {
            assert!(browser_origin(bad).is_err(), "{bad}");
        }
        assert!(browser_origin("http://*.example")
            .unwrap_err()
            .contains("wildcards"));
    }

    #[test]
    fn bind_accepts_a_bare_port() {
        assert_eq!(parse_bind(":0", "x").unwrap().to_string(), "127.0.0.1:0");
        assert!(parse_bind("localhost", "x").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:p@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
    }
}
