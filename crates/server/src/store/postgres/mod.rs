//! The shared store: PostgreSQL, for several server nodes on one database
//! (cluster mode). It keeps every promise of [`Store`] exactly as the SQLite
//! store does, with the same answers, texts and orderings:
//! - writes go through one writer task per node doing group commit
//!   (`writer`); each ticket's `seq` follows its row's `last_seq`, read under
//!   the row lock the batch holds until it commits, in the transaction that
//!   inserts the messages and moves `last_seq` (`batch`), so nodes writing to
//!   one ticket at once still get 1, 2, 3, … with no gap and no repeat;
//! - reads go through a small pool of connections and never wait for the
//!   writer;
//! - a database that cannot be reached answers [`StoreError::Unavailable`]
//!   (never a false `Ok`); connections are made again as needed, so the store
//!   recovers by itself when the database is back.
//!
//! Connections are plain TCP (`NoTls`): the database is expected on a
//! private network. TLS would go where `NoTls` is passed here (`connect` and
//! `pool`).

mod batch;
mod migrations;
mod reads;
mod tx;
mod writer;

use super::queue::WriteQueue;
use super::*;
use crate::config::redact_url;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use soporte_protocol::rest::{CannedResponse, ChatStats, TeamStats, TicketView};
use soporte_protocol::server::AgentView;
use soporte_protocol::webhook::{DeliveryView, WebhookView};
use std::time::Duration;
use tokio_postgres::NoTls;
use writer::{connection_lost, unavailable, unreachable};

/// Read connections: enough for both cores plus requests waiting on I/O.
const READERS: usize = 4;
/// How long a connection attempt may take before the database counts as
/// unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a free read connection.
const POOL_WAIT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    writer: WriteQueue,
    readers: Pool,
    /// Base of the download URLs of attachments (the server's public URL).
    url_base: Arc<str>,
    /// This database's history id (`meta.epoch`).
    epoch: String,
    /// Rung by the writer when a commit queued webhook deliveries.
    outbox: Arc<tokio::sync::Notify>,
}

/// Parses the URL and sets what every connection of ours uses.
fn connection_config(url: &str) -> Result<tokio_postgres::Config, String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("{}: not a PostgreSQL URL: {e}", redact_url(url)))?;
    if config.get_application_name().is_none() {
        // How operators tell our connections in `pg_stat_activity`.
        config.application_name("soporte");
    }
    config
        .connect_timeout(CONNECT_TIMEOUT)
        // A peer that vanished without closing (a crashed host, a cut
        // network) is noticed within about half a minute: by keepalives on
        // an idle connection, by the user timeout when a query's bytes go
        // unacknowledged (waiting for a lock sends nothing, so it is not
        // cut short).
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(30));
    Ok(config)
}

fn pool(config: &tokio_postgres::Config, size: usize) -> Result<Pool, String> {
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            // A connection that was closed (the backend terminated, the
            // server restarted) is dropped when it comes back to the pool.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| e.to_string())
}

/// One connection outside the pools (migrations), with its driver task.
async fn connect(
    config: &tokio_postgres::Config,
    url: &str,
) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", redact_url(url)))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "migration connection ended");
        }
    });
    Ok(client)
}

impl PostgresStore {
    /// Connects, applies migrations and starts the writer, which reports
    /// commits to `listener`. Fails when the database cannot be reached.
    pub async fn open(
        url: &str,
        listener: Arc<dyn CommitListener>,
        url_base: &str,
    ) -> Result<PostgresStore, String> {
        let config = connection_config(url)?;
        let mut client = connect(&config, url).await?;
        migrations::apply(&mut client)
            .await
            .map_err(|e| format!("migrating {}: {e}", redact_url(url)))?;
        let epoch: String = client
            .query_one("SELECT value FROM meta WHERE key = 'epoch'", &[])
            .await
            .map_err(|e| format!("reading {}: {e}", redact_url(url)))?
            .get(0);
        drop(client);
        let readers = pool(&config, READERS)?;
        // The first read connection now, so the first request does not wait
        // for it.
        drop(
            readers
                .get()
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", redact_url(url)))?,
        );
        let writer_pool = pool(&config, 1)?;
        let url_base: Arc<str> = Arc::from(url_base.trim_end_matches('/'));
        let outbox = Arc::new(tokio::sync::Notify::new());
        let writer = writer::spawn(writer_pool, listener, url_base.clone(), outbox.clone())
            .map_err(|e| format!("cannot start the writer of {}: {e}", redact_url(url)))?;
        Ok(PostgresStore {
            writer,
            readers,
            url_base,
            epoch,
            outbox,
        })
    }

    /// Gives the database a new epoch (after restoring a backup, so clients
    /// resync rather than resume from a history that is no longer this one).
    pub async fn renew_epoch(url: &str) -> Result<String, String> {
        let config = connection_config(url)?;
        let client = connect(&config, url).await?;
        let row = client
            .query_one(
                "UPDATE meta SET value = substr(md5(random()::text || clock_timestamp()::text), 1, 16) \
                 WHERE key = 'epoch' RETURNING value",
                &[],
            )
            .await
            .map_err(|e| format!("updating {}: {e}", redact_url(url)))?;
        Ok(row.get(0))
    }

    /// How many migrations this build knows (all are applied at open).
    pub fn known_migrations() -> usize {
        migrations::known()
    }

    /// Applies migrations and returns how many were new (`soporte migrate`).
    pub async fn migrate(url: &str) -> Result<usize, String> {
        let config = connection_config(url)?;
        let mut client = connect(&config, url).await?;
        migrations::apply(&mut client)
            .await
            .map_err(|e| format!("migrating {}: {e}", redact_url(url)))
    }
}

/// Runs `$body` (a `Result<_, tokio_postgres::Error>` expression using the
/// connection `$c`) on a pooled read connection. A connection found dead
/// (the backend was terminated, the server restarted since it was last
/// used) is thrown away and the read runs again on another: at worst every
/// pooled connection is dead, and the last try makes a new one.
macro_rules! read {
    ($self:ident, |$c:ident| $body:expr) => {{
        let mut tries = 0;
        loop {
            tries += 1;
            let $c = $self.reader().await?;
            let result = async { $body }.await;
            match result {
                Ok(value) => break Ok(value),
                Err(error) if tries <= READERS && connection_lost(&error) => {
                    drop(Object::take($c));
                }
                Err(error) => break Err(unavailable(&error)),
            }
        }
    }};
}

impl PostgresStore {
    async fn reader(&self) -> StoreResult<Object> {
        self.readers.get().await.map_err(unreachable)
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn url_base(&self) -> Arc<str> {
        self.url_base.clone()
    }

    async fn submit(&self, job: Box<dyn Job>) -> StoreResult<()> {
        self.writer.submit(job).await
    }

    async fn ping(&self) -> StoreResult<()> {
        read!(self, |c| c.simple_query("SELECT 1").await.map(|_| ()))
    }

    async fn last_seen(&self, users: Vec<UserId>) -> StoreResult<HashMap<UserId, Timestamp>> {
        read!(self, |c| reads::last_seen(&c, &users).await)
    }

    async fn agents(&self) -> StoreResult<Vec<AgentView>> {
        read!(self, |c| reads::agents(&c).await)
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        read!(self, |c| reads::user(&c, id).await)
    }

    async fn user_view(&self, id: UserId) -> StoreResult<Option<soporte_protocol::rest::UserView>> {
        read!(self, |c| reads::user_view(&c, id).await)
    }

    async fn ticket_by_external_id(&self, external_id: &str) -> StoreResult<Option<Ticket>> {
        read!(self, |c| reads::ticket_by_external_id(&c, external_id)
            .await)
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        read!(self, |c| reads::api_keys(&c).await)
    }

    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }

    async fn webhooks(&self) -> StoreResult<Vec<WebhookView>> {
        read!(self, |c| reads::webhooks(&c).await)
    }

    async fn webhook(&self, id: i64) -> StoreResult<Option<WebhookView>> {
        read!(self, |c| reads::webhook(&c, id).await)
    }

    async fn deliveries(&self, webhook: i64, limit: usize) -> StoreResult<Vec<DeliveryView>> {
        read!(self, |c| reads::deliveries(&c, webhook, limit).await)
    }

    async fn outbox_backlog(&self) -> StoreResult<Backlog> {
        read!(self, |c| reads::outbox_backlog(&c).await)
    }

    async fn tickets_of_person(&self, user: UserId) -> StoreResult<Vec<Ticket>> {
        read!(self, |c| reads::tickets_of_person(&c, user).await)
    }

    async fn messages_by(&self, user: UserId) -> StoreResult<Vec<Message>> {
        read!(self, |c| {
            let mut messages = reads::messages_by(&c, user).await?;
            reads::fill_attachments(&c, &mut messages, &self.url_base).await?;
            Ok(messages)
        })
    }

    async fn erasures_of(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<soporte_protocol::rest::ErasureRecord>> {
        read!(self, |c| reads::erasures_of(&c, user).await)
    }

    async fn pending_file_removals(&self, limit: usize) -> StoreResult<Vec<String>> {
        read!(self, |c| reads::pending_file_removals(&c, limit).await)
    }

    async fn api_key(&self, prefix: &str) -> StoreResult<Option<StoredApiKey>> {
        read!(self, |c| reads::api_key(&c, prefix).await)
    }

    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>> {
        read!(self, |c| reads::load_ticket(&c, id).await)
    }

    /// One query, however many tickets the node watches.
    async fn last_seqs(&self, ids: Vec<TicketId>) -> StoreResult<HashMap<TicketId, Seq>> {
        read!(self, |c| reads::last_seqs(&c, &ids).await)
    }

    async fn list_tickets(&self, query: TicketQuery) -> StoreResult<Vec<TicketView>> {
        read!(self, |c| reads::list_tickets(&c, query, &self.url_base)
            .await)
    }

    async fn find_sent(&self, sent: Sent<'_>) -> StoreResult<Option<Message>> {
        read!(self, |c| reads::find_sent(&c, sent).await)
    }

    async fn recent_messages(&self, newest: Newest) -> StoreResult<Vec<Message>> {
        read!(self, |c| {
            let mut messages = reads::recent_messages(&c, newest).await?;
            reads::fill_attachments(&c, &mut messages, &self.url_base).await?;
            Ok(messages)
        })
    }

    async fn messages_between(&self, span: Span) -> StoreResult<Vec<Message>> {
        read!(self, |c| {
            let mut messages = reads::messages_between(&c, span).await?;
            reads::fill_attachments(&c, &mut messages, &self.url_base).await?;
            Ok(messages)
        })
    }

    async fn changed_messages(&self, span: Span) -> StoreResult<Vec<Message>> {
        read!(self, |c| {
            let mut messages = reads::changed_messages(&c, span).await?;
            reads::fill_attachments(&c, &mut messages, &self.url_base).await?;
            Ok(messages)
        })
    }

    async fn message_versions(
        &self,
        ticket: TicketId,
        message: MessageId,
    ) -> StoreResult<Option<Vec<rest::MessageVersion>>> {
        read!(self, |c| reads::message_versions(&c, ticket, message).await)
    }

    async fn notes_up_to(&self, ticket: TicketId, top: Seq) -> StoreResult<i64> {
        read!(self, |c| reads::notes_up_to(&c, ticket, top).await)
    }

    async fn visible_skipping_notes(&self, page: PageAt) -> StoreResult<Vec<Message>> {
        read!(self, |c| {
            let mut messages = reads::visible_skipping_notes(&c, page).await?;
            reads::fill_attachments(&c, &mut messages, &self.url_base).await?;
            Ok(messages)
        })
    }

    async fn unread_count(&self, ticket: TicketId, viewer: Viewer) -> StoreResult<i64> {
        read!(self, |c| reads::unread_count(&c, ticket, viewer).await)
    }

    async fn stats(&self, ticket: TicketId, viewer: Viewer) -> StoreResult<ChatStats> {
        read!(self, |c| reads::stats(&c, ticket, viewer).await)
    }

    async fn team_stats(&self, period: Period) -> StoreResult<TeamStats> {
        read!(self, |c| reads::team_stats(&c, period).await)
    }

    async fn search(
        &self,
        query: crate::domain::search::Query,
        raw: String,
        scope: search::SearchScope,
    ) -> StoreResult<Vec<crate::domain::search::Candidate>> {
        read!(self, |c| reads::search(&c, &query, &raw, &scope).await)
    }
    async fn tickets_ahead(&self, ticket: TicketId) -> StoreResult<i64> {
        read!(self, |c| reads::tickets_ahead(&c, ticket).await)
    }
    async fn first_replies(&self, since: Timestamp) -> StoreResult<Vec<(Timestamp, Timestamp)>> {
        read!(self, |c| reads::first_replies(&c, since).await)
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        read!(self, |c| reads::setting(&c, key).await)
    }

    async fn upload_grant(&self, upload_id: &str) -> StoreResult<Option<GrantState>> {
        read!(self, |c| reads::upload_grant(&c, upload_id).await)
    }

    async fn attachment_file(&self, id: i64) -> StoreResult<Option<AttachmentFile>> {
        read!(self, |c| reads::attachment_file(&c, id, &self.url_base)
            .await)
    }

    async fn canned_responses(&self) -> StoreResult<Vec<CannedResponse>> {
        read!(self, |c| reads::canned_responses(&c).await)
    }

    async fn canned_response(&self, id: i64) -> StoreResult<Option<CannedResponse>> {
        read!(self, |c| reads::canned_response(&c, id).await)
    }
}
