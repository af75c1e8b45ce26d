//! The embedded store: SQLite in WAL mode with `synchronous=FULL`, one writer
//! thread doing group commit (`writer`) and a small pool of read-only
//! connections that never wait for it (WAL lets readers run beside a writer).

mod checkpointer;
mod migrations;
mod readers;
mod reads;
mod tx;
pub mod words;
mod writer;

use super::queue::WriteQueue;
use super::*;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use soporte_protocol::rest::{CannedResponse, ChatStats, TeamStats, TicketView};
use soporte_protocol::server::AgentView;
use soporte_protocol::webhook::{DeliveryView, WebhookView};
use std::path::Path;

/// Read connections: enough for both cores plus requests waiting on I/O.
const READERS: usize = 4;

pub struct SqliteStore {
    /// Dropping it stops the checkpoint thread.
    _checkpoints: checkpointer::Handle,
    writer: WriteQueue,
    readers: readers::Readers,
    /// Base of the download URLs of attachments (the server's public URL).
    url_base: Arc<str>,
    /// This database's history id (`meta.epoch`).
    epoch: String,
    /// Rung by the writer when a commit queued webhook deliveries.
    outbox: Arc<tokio::sync::Notify>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, applies migrations
    /// and starts the writer, which reports commits to `listener`.
    pub fn open(
        path: &Path,
        listener: Arc<dyn CommitListener>,
        url_base: &str,
    ) -> Result<SqliteStore, String> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut writer_conn = open_connection(path, false)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        migrations::apply(&mut writer_conn)
            .map_err(|e| format!("migrating {}: {e}", path.display()))?;
        let epoch: String = writer_conn
            .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |row| {
                row.get(0)
            })
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let readers = (0..READERS)
            .map(|_| open_connection(path, true))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // Checkpoints run beside the writer, not inside its commits: SQLite's
        // automatic checkpoint would make the commit that crosses the WAL
        // threshold copy pages and fsync the database file while every
        // waiting message waits behind it.
        writer_conn
            .pragma_update(None, "wal_autocheckpoint", 0)
            .and_then(|()| {
                writer_conn.pragma_update(None, "journal_size_limit", checkpointer::WAL_SIZE_LIMIT)
            })
            .map_err(|e| format!("configuring {}: {e}", path.display()))?;
        checkpointer::count_frames(&writer_conn);
        let restart = checkpointer::RestartRequest::default();
        let checkpoints = checkpointer::spawn(path, restart.clone())
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let url_base: Arc<str> = Arc::from(url_base.trim_end_matches('/'));
        let outbox = Arc::new(tokio::sync::Notify::new());
        let (writer, _thread) = writer::spawn(
            writer_conn,
            listener,
            restart,
            url_base.clone(),
            outbox.clone(),
        )
        .map_err(|e| format!("cannot start the writer of {}: {e}", path.display()))?;
        Ok(SqliteStore {
            _checkpoints: checkpoints,
            writer,
            readers: readers::Readers::new(readers),
            url_base,
            epoch,
            outbox,
        })
    }

    /// Gives the database a new epoch (after restoring a backup, so clients
    /// resync rather than resume from a history that is no longer this one).
    pub fn renew_epoch(path: &Path) -> Result<String, String> {
        let conn = open_connection(path, false)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        conn.query_row(
            "UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'epoch' RETURNING value",
            [],
            |row| row.get(0),
        )
        .map_err(|e| format!("updating {}: {e}", path.display()))
    }

    /// Applies migrations and returns how many were new (`soporte migrate`).
    pub fn migrate(path: &Path) -> Result<usize, String> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut conn = open_connection(path, false)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        migrations::apply(&mut conn).map_err(|e| format!("migrating {}: {e}", path.display()))
    }

    /// Reads messages, then fills in their attachments, on one connection.
    async fn read_messages<F>(&self, query: F) -> StoreResult<Vec<Message>>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<Vec<Message>> + Send + 'static,
    {
        let base = self.url_base.clone();
        self.read(move |conn| {
            let mut messages = query(conn)?;
            reads::fill_attachments(conn, &mut messages, &base)?;
            Ok(messages)
        })
        .await
    }

    /// Runs `query` on a read connection, off the async threads.
    async fn read<T, F>(&self, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.readers.run(query).await
    }

    /// Runs a short `query` (rows by key, a bounded page) on a read
    /// connection, on this thread if one is idle (see `Readers::run_short`).
    async fn read_short<T, F>(&self, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.readers.run_short(query).await
    }
}

fn open_connection(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    // WAL: readers never block the writer. synchronous=FULL: the WAL is
    // fsynced at every commit, so a committed batch survives power loss.
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.set_prepared_statement_cache_capacity(64);
    // The query planner's stability guarantee: plans do not depend on bound
    // values. Without it SQLite (the bundled 3.50) reads a bound `LIMIT ?` while
    // planning, marks the statement to be planned again whenever that
    // parameter is bound, and so re-parses every cached statement with a
    // `LIMIT ?` on every run: a third of a greeting's CPU (perf, 2026-12-07).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn url_base(&self) -> Arc<str> {
        self.url_base.clone()
    }

    /// All connections together: page caches (each up to its
    /// `cache_size`), prepared statements, schema.
    fn memory_in_use(&self) -> Option<u64> {
        // SAFETY: a read of SQLite's global memory statistics, thread-safe.
        let used = unsafe { rusqlite::ffi::sqlite3_memory_used() };
        Some(used.max(0) as u64)
    }

    async fn submit(&self, job: Box<dyn Job>) -> StoreResult<()> {
        self.writer.submit(job).await
    }

    async fn last_seen(&self, users: Vec<UserId>) -> StoreResult<HashMap<UserId, Timestamp>> {
        let seen = self
            .read(move |conn| reads::last_seen(conn, &users))
            .await?;
        Ok(seen.into_iter().collect())
    }

    async fn agents(&self) -> StoreResult<Vec<AgentView>> {
        self.read(reads::agents).await
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.read_short(move |conn| reads::user(conn, id)).await
    }

    async fn user_view(&self, id: UserId) -> StoreResult<Option<soporte_protocol::rest::UserView>> {
        self.read(move |conn| reads::user_view(conn, id)).await
    }

    async fn ticket_by_external_id(&self, external_id: &str) -> StoreResult<Option<Ticket>> {
        let external_id = external_id.to_string();
        self.read(move |conn| reads::ticket_by_external_id(conn, &external_id))
            .await
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read(reads::api_keys).await
    }

    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }

    async fn webhooks(&self) -> StoreResult<Vec<WebhookView>> {
        self.read(reads::webhooks).await
    }

    async fn webhook(&self, id: i64) -> StoreResult<Option<WebhookView>> {
        self.read(move |conn| reads::webhook(conn, id)).await
    }

    async fn deliveries(&self, webhook: i64, limit: usize) -> StoreResult<Vec<DeliveryView>> {
        self.read(move |conn| reads::deliveries(conn, webhook, limit))
            .await
    }

    async fn outbox_backlog(&self) -> StoreResult<Backlog> {
        self.read(reads::outbox_backlog).await
    }

    async fn tickets_of_person(&self, user: UserId) -> StoreResult<Vec<Ticket>> {
        self.read(move |conn| reads::tickets_of_person(conn, user))
            .await
    }

    async fn messages_by(&self, user: UserId) -> StoreResult<Vec<Message>> {
        self.read_messages(move |conn| reads::messages_by(conn, user))
            .await
    }

    async fn erasures_of(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<soporte_protocol::rest::ErasureRecord>> {
        self.read(move |conn| reads::erasures_of(conn, user)).await
    }

    async fn pending_file_removals(&self, limit: usize) -> StoreResult<Vec<String>> {
        self.read(move |conn| reads::pending_file_removals(conn, limit))
            .await
    }

    async fn api_key(&self, prefix: &str) -> StoreResult<Option<StoredApiKey>> {
        let prefix = prefix.to_string();
        self.read_short(move |conn| reads::api_key(conn, &prefix))
            .await
    }

    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>> {
        self.read_short(move |conn| reads::load_ticket(conn, id))
            .await
    }

    async fn list_tickets(&self, query: TicketQuery) -> StoreResult<Vec<TicketView>> {
        let base = self.url_base.clone();
        self.read(move |conn| reads::list_tickets(conn, query, &base))
            .await
    }

    async fn find_sent(&self, sent: Sent<'_>) -> StoreResult<Option<Message>> {
        let (ticket, author, client_id) = (sent.ticket, sent.author, sent.client_id.to_string());
        self.read(move |conn| reads::find_sent(conn, Sent::new(ticket, author, &client_id)))
            .await
    }

    async fn recent_messages(&self, newest: Newest) -> StoreResult<Vec<Message>> {
        self.read_messages(move |conn| reads::recent_messages(conn, newest))
            .await
    }

    async fn admission(
        &self,
        ticket: TicketId,
        user: UserId,
        newest: Option<Newest>,
    ) -> StoreResult<Admission> {
        let base = self.url_base.clone();
        self.read_short(move |conn| {
            let found = reads::load_ticket(conn, ticket)?;
            let recent = match (&found, newest) {
                (Some(_), Some(newest)) => {
                    let mut messages = reads::recent_messages(conn, newest)?;
                    reads::fill_attachments(conn, &mut messages, &base)?;
                    Some(messages)
                }
                _ => None,
            };
            Ok(Admission {
                ticket: found,
                user: reads::user(conn, user)?,
                recent,
            })
        })
        .await
    }

    async fn ticket_with_recent(
        &self,
        newest: Newest,
    ) -> StoreResult<Option<(Ticket, Vec<Message>)>> {
        let base = self.url_base.clone();
        self.read_short(move |conn| {
            let Some(ticket) = reads::load_ticket(conn, newest.ticket)? else {
                return Ok(None);
            };
            let mut messages = reads::recent_messages(conn, newest)?;
            reads::fill_attachments(conn, &mut messages, &base)?;
            Ok(Some((ticket, messages)))
        })
        .await
    }

    async fn ticket_with_newest_page(
        &self,
        ticket: TicketId,
        limit: usize,
    ) -> StoreResult<Option<(Ticket, Vec<Message>)>> {
        let base = self.url_base.clone();
        self.read_short(move |conn| {
            let Some(ticket) = reads::load_ticket(conn, ticket)? else {
                return Ok(None);
            };
            // Bounded by the ticket as read: a message committed meanwhile
            // is not on this page.
            let mut messages =
                reads::messages_between(conn, Span::newest(ticket.id, ticket.last_seq, limit))?;
            reads::fill_attachments(conn, &mut messages, &base)?;
            Ok(Some((ticket, messages)))
        })
        .await
    }

    async fn messages_between(&self, span: Span) -> StoreResult<Vec<Message>> {
        self.read_messages(move |conn| reads::messages_between(conn, span))
            .await
    }

    async fn changed_messages(&self, span: Span) -> StoreResult<Vec<Message>> {
        self.read_messages(move |conn| reads::changed_messages(conn, span))
            .await
    }

    async fn message_versions(
        &self,
        ticket: TicketId,
        message: MessageId,
    ) -> StoreResult<Option<Vec<rest::MessageVersion>>> {
        self.read(move |conn| reads::message_versions(conn, ticket, message))
            .await
    }

    async fn notes_up_to(&self, ticket: TicketId, top: Seq) -> StoreResult<i64> {
        self.read(move |conn| reads::notes_up_to(conn, ticket, top))
            .await
    }

    async fn visible_skipping_notes(&self, page: PageAt) -> StoreResult<Vec<Message>> {
        self.read_messages(move |conn| reads::visible_skipping_notes(conn, page))
            .await
    }

    async fn unread_count(&self, ticket: TicketId, viewer: Viewer) -> StoreResult<i64> {
        self.read(move |conn| reads::unread_count(conn, ticket, viewer))
            .await
    }

    async fn stats(&self, ticket: TicketId, viewer: Viewer) -> StoreResult<ChatStats> {
        self.read(move |conn| reads::stats(conn, ticket, viewer))
            .await
    }

    async fn team_stats(&self, period: Period) -> StoreResult<TeamStats> {
        self.read(move |conn| reads::team_stats(conn, period)).await
    }

    async fn search(
        &self,
        query: crate::domain::search::Query,
        raw: String,
        scope: search::SearchScope,
    ) -> StoreResult<Vec<crate::domain::search::Candidate>> {
        self.read(move |conn| reads::search(conn, &query, &raw, &scope))
            .await
    }
    async fn tickets_ahead(&self, ticket: TicketId) -> StoreResult<i64> {
        self.read(move |conn| reads::tickets_ahead(conn, ticket))
            .await
    }
    async fn first_replies(&self, since: Timestamp) -> StoreResult<Vec<(Timestamp, Timestamp)>> {
        self.read(move |conn| reads::first_replies(conn, since))
            .await
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_string();
        self.read(move |conn| reads::setting(conn, &key)).await
    }

    async fn upload_grant(&self, upload_id: &str) -> StoreResult<Option<GrantState>> {
        let upload_id = upload_id.to_string();
        self.read(move |conn| reads::upload_grant(conn, &upload_id))
            .await
    }

    async fn attachment_file(&self, id: i64) -> StoreResult<Option<AttachmentFile>> {
        let base = self.url_base.clone();
        self.read(move |conn| reads::attachment_file(conn, id, &base))
            .await
    }

    async fn canned_responses(&self) -> StoreResult<Vec<CannedResponse>> {
        self.read(reads::canned_responses).await
    }

    async fn canned_response(&self, id: i64) -> StoreResult<Option<CannedResponse>> {
        self.read(move |conn| reads::canned_response(conn, id))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::METRICS;
    use std::sync::atomic::Ordering;

    fn grant(id: &str, ticket: TicketId, expires_at: Timestamp) -> UploadGrant {
        UploadGrant {
            upload_id: id.into(),
            credential_hash: "h".into(),
            user: 1,
            ticket,
            name: "a.png".into(),
            size: 10,
            extension: "png".into(),
            created_at: Timestamp::from_millis(expires_at.millis() - 300_000),
            expires_at,
        }
    }

    /// A person's messages are found through `ticket_authors` and an index
    /// on messages, never by reading every message (erasure runs on the
    /// writer, and a helpdesk holds tens of millions of messages).
    #[test]
    fn a_persons_messages_are_found_without_reading_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join("p.db"), false).unwrap();
        migrations::apply(&mut conn).unwrap();
        for sql in [
            format!("SELECT id FROM messages WHERE {}", reads::BY_AUTHOR),
            format!(
                "DELETE FROM attachments WHERE mensaje_id IN (SELECT id FROM messages WHERE {})",
                reads::BY_AUTHOR
            ),
        ] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map([7], |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert!(
                plan.iter().all(|step| !step.starts_with("SCAN messages")),
                "{sql}: {plan:?}"
            );
        }
    }

    /// A customer's name finds the newest tickets of everyone so named:
    /// when many share it, by walking the tickets newest first (never a
    /// sort of all their tickets), when few, through each one's tickets.
    #[test]
    fn a_name_finds_the_newest_tickets_of_everyone_so_named() {
        use crate::domain::search::{parse, Field};
        use crate::store::search::SearchScope;
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join("n.db"), false).unwrap();
        migrations::apply(&mut conn).unwrap();
        // 1,200 Pérez and 3 Ortiz, two tickets each, ids interleaved.
        let tx = conn.transaction().unwrap();
        for id in 1..=1203i64 {
            let name = if id <= 1200 {
                "Luis Pérez"
            } else {
                "Ana Ortiz"
            };
            tx.execute(
                "INSERT INTO users (id, nombre, rol) VALUES (?1, ?2, 'CLIENTE')",
                rusqlite::params![id, name],
            )
            .unwrap();
            for ticket in [id, id + 2000] {
                tx.execute(
                    "INSERT INTO tickets (id, asunto, estado, cliente_id, creado, actualizado)
                     VALUES (?1, 'x', 'ABIERTO', ?2, 0, 0)",
                    rusqlite::params![ticket, id],
                )
                .unwrap();
            }
        }
        tx.commit().unwrap();
        let scope = SearchScope {
            scope: TicketScope::All,
            sees_internal: true,
            state: None,
            agent: None,
            customer: None,
            from: None,
            to: None,
        };
        let names = |q: &str| -> Vec<i64> {
            reads::search(&conn, &parse(q).unwrap(), q, &scope)
                .unwrap()
                .into_iter()
                .filter(|c| c.field == Field::Customer)
                .map(|c| c.ticket)
                .collect()
        };
        let newest_perez: Vec<i64> = (2000..=3200).rev().take(300).collect();
        assert_eq!(names("perez "), newest_perez);
        assert_eq!(names("ortiz "), vec![3203, 3202, 3201, 1203, 1202, 1201]);
    }

    /// Quota checks and the retention sweep run on the writer: each reads
    /// through an index, never a table of every file or ticket.
    #[test]
    fn quotas_and_retention_read_through_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join("p.db"), false).unwrap();
        migrations::apply(&mut conn).unwrap();
        let plan = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Vec<String> {
            conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(params, |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        let usage = plan(tx::UPLOAD_USAGE_SQL, &[&1, &1, &0, &0]);
        assert_eq!(
            usage.iter().filter(|s| s.starts_with("SEARCH")).count(),
            9,
            "{usage:?}"
        );
        assert!(
            usage
                .iter()
                .all(|s| !s.starts_with("SCAN") || s == "SCAN CONSTANT ROW"),
            "{usage:?}"
        );
        assert!(
            usage
                .iter()
                .filter(|s| s.starts_with("SEARCH attachments"))
                .all(|s| s.contains("COVERING INDEX")),
            "{usage:?}"
        );
        let inactive = plan(tx::TICKETS_INACTIVE_SQL, &[&0, &0, &1, &"CERRADO", &10]);
        assert!(
            inactive
                .iter()
                .any(|s| s.starts_with("SEARCH tickets USING COVERING INDEX"))
                && inactive.iter().all(|s| !s.contains("TEMP B-TREE")),
            "{inactive:?}"
        );
        // The idle-close sweep reads the index of resolved tickets.
        let resolved = plan(tx::RESOLVED_BEFORE_SQL, &[&0, &10]);
        assert!(
            resolved
                .iter()
                .any(|s| s.contains("USING COVERING INDEX tickets_resolved"))
                && resolved.iter().all(|s| !s.contains("TEMP B-TREE")),
            "{resolved:?}"
        );
    }

    /// The sweep pages through closed tickets in activity order and ends
    /// where its cutoff is: every closed ticket is seen once.
    #[tokio::test]
    async fn retention_pages_through_every_closed_ticket_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        {
            let mut conn = open_connection(&path, false).unwrap();
            migrations::apply(&mut conn).unwrap();
            conn.execute(
                "INSERT INTO users (id, nombre, rol) VALUES (1, 'Ana', 'CLIENTE')",
                [],
            )
            .unwrap();
            // 450 tickets, the same activity time in threes (ties across
            // pages), every other one closed.
            for id in 1..=450i64 {
                let state = if id % 2 == 0 { "CERRADO" } else { "ABIERTO" };
                conn.execute(
                    "INSERT INTO tickets (id, asunto, estado, cliente_id, creado, actualizado)
                     VALUES (?1, 'x', ?2, 1, 0, ?3)",
                    rusqlite::params![id, state, 1_000 + id / 3],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&path, Arc::new(NoListener), "").unwrap();
        let mut cursor = (Timestamp::from_millis(0), 0);
        let mut seen = Vec::new();
        let cutoff = Timestamp::from_millis(1_000 + 100);
        loop {
            let page = store.expire_closed_files(cursor, cutoff).await.unwrap();
            seen.extend(page.tickets);
            match page.next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        // Closed and last active before the cutoff: even ids with id / 3 < 100.
        let expected: Vec<i64> = (1..=450).filter(|id| id % 2 == 0 && id / 3 < 100).collect();
        assert_eq!(seen, expected);
    }

    /// Claiming reads pending deliveries through their index and checks each
    /// one's queue through the index of held deliveries: never a scan of the
    /// outbox, which holds every pending event while the writer is busy.
    #[test]
    fn due_deliveries_are_found_through_the_outbox_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join("p.db"), false).unwrap();
        migrations::apply(&mut conn).unwrap();
        let sql = tx::due_candidates_sql();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([1, 10], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let on = |table: &str| -> Vec<&String> {
            let prefixes = [format!("SCAN {table}"), format!("SEARCH {table}")];
            plan.iter()
                .filter(|step| prefixes.iter().any(|p| step.starts_with(p.as_str())))
                .collect()
        };
        let (pending, queue) = (on("d"), on("e"));
        assert!(!pending.is_empty() && !queue.is_empty(), "{plan:?}");
        assert!(
            pending
                .iter()
                .all(|step| step.contains("INDEX webhook_deliveries_pending")),
            "{plan:?}"
        );
        assert!(
            queue
                .iter()
                .all(|step| step.contains("INDEX webhook_deliveries_held")),
            "{plan:?}"
        );
    }

    #[tokio::test]
    async fn expired_upload_grants_are_purged_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db"), Arc::new(NoListener), "").unwrap();
        let customer = crate::domain::User {
            id: 1,
            name: "Ana".into(),
            role: Role::Customer,
            avatar: None,
            email: None,
        };
        let ticket = store
            .create_ticket(NewTicket {
                subject: "x".into(),
                customer: NewCustomer::Described(customer),
                auto_assign: Vec::new(),
                max_open: 0,
                agent: None,
                external_id: None,
                metadata: None,
                customer_limits: Default::default(),
            })
            .await
            .unwrap();
        let now = Timestamp::now().millis();
        store
            .create_upload_grant(
                grant("old", ticket.id, Timestamp::from_millis(now - 10_000)),
                GrantLimits::none(),
            )
            .await
            .unwrap();
        store
            .create_upload_grant(
                grant("new", ticket.id, Timestamp::from_millis(now + 10_000)),
                GrantLimits::none(),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .purge_upload_grants(Timestamp::from_millis(now))
                .await
                .unwrap(),
            1
        );
        assert!(store.upload_grant("old").await.unwrap().is_none());
        assert!(store.upload_grant("new").await.unwrap().is_some());
    }

    /// Under steady writes the WAL starts over instead of growing without
    /// end (it grew to 2.3 GB in a 20-minute soak before the writer took its
    /// part in checkpoints).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(&path, Arc::new(NoListener), "").unwrap();
        let customer = crate::domain::User {
            id: 1,
            name: "Ana".into(),
            role: Role::Customer,
            avatar: None,
            email: None,
        };
        let author = customer.person();
        let mut tickets = Vec::new();
        for _ in 0..50 {
            let ticket = store
                .create_ticket(NewTicket {
                    subject: "x".into(),
                    customer: NewCustomer::Described(customer.clone()),
                    auto_assign: Vec::new(),
                    max_open: 0,
                    agent: None,
                    external_id: None,
                    metadata: None,
                    customer_limits: Default::default(),
                })
                .await
                .unwrap();
            tickets.push(ticket.id);
        }
        let wal = dir.path().join("t.db-wal");
        let wal_bytes = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        // Messages spread over 50 tickets touch a page of each ticket's
        // indexes: several times RESTART_FRAMES of frames in all. Without
        // the restarts the WAL ends several times longer than its limit.
        let frames_limit = (checkpointer::RESTART_FRAMES * 4096) as u64;
        let restarts_before = METRICS.wal_restarts.load(Ordering::Relaxed);
        // One message to each ticket, at once.
        let round = |n: usize| {
            let writes: Vec<_> = tickets
                .iter()
                .enumerate()
                .map(|(i, &ticket)| {
                    store.append(NewMessage {
                        ticket,
                        author: author.clone(),
                        client_id: Some(format!("c{n}-{i}")),
                        content: "hola ".repeat(20),
                        kind: MessageKind::Text,
                        metadata: Default::default(),
                        internal: false,
                        origin: None,
                        unread_email: None,
                        reply_to: None,
                    })
                })
                .collect();
            async move {
                for result in futures_util::future::join_all(writes).await {
                    result.unwrap();
                }
            }
        };
        let (mut appended, mut largest) = (0usize, 0u64);
        let started = std::time::Instant::now();
        while appended < 12_000 && started.elapsed() < std::time::Duration::from_secs(120) {
            round(appended).await;
            appended += tickets.len();
            largest = largest.max(wal_bytes());
            // Paced, so that however fast the machine, the checkpoint thread
            // (every 500 ms) sees the WAL grow by a bounded amount between
            // two of its rounds.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // What was written would have made a WAL of this size.
        let written: i64 = store
            .read(|conn| conn.query_row("SELECT count(*) FROM messages", [], |row| row.get(0)))
            .await
            .unwrap();
        assert_eq!(written as usize, appended);
        assert!(
            largest < 3 * frames_limit,
            "the WAL reached {largest} bytes after {appended} messages"
        );
        // On a fast disk the pauses let the checkpoint thread copy every
        // frame, and the next transaction starts the WAL over by itself. A
        // writer that never pauses leaves it no such moment: the WAL
        // outgrows RESTART_FRAMES, and the writer, asked, finishes a
        // checkpoint between two batches and says so.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while METRICS.wal_restarts.load(Ordering::Relaxed) == restarts_before
            && std::time::Instant::now() < deadline
        {
            round(appended).await;
            appended += tickets.len();
        }
        assert!(
            METRICS.wal_restarts.load(Ordering::Relaxed) > restarts_before,
            "no WAL restart by the writer after {appended} messages"
        );
    }
}
