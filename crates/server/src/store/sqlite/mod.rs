//! The embedded store: SQLite in WAL mode with `synchronous=FULL`, one writer
//! thread doing group commit ([`writer`]) and a small pool of read-only
//! connections that never wait for it (WAL lets readers run beside a writer).

mod checkpointer;
mod migrations;
mod rows;
mod writer;

use super::*;
use rows::*;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use soporte_protocol::rest::{ChatStats, TicketView};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::sync::Semaphore;
use writer::{unavailable, Batch, WriterHandle};

/// Read connections: enough for both cores plus requests waiting on I/O.
const READERS: usize = 4;

pub struct SqliteStore {
    /// Dropping it stops the checkpoint thread.
    _checkpoints: checkpointer::Handle,
    writer: WriterHandle,
    readers: Mutex<Vec<Connection>>,
    reader_permits: Semaphore,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, applies migrations
    /// and starts the writer, which reports commits to `listener`.
    pub fn open(path: &Path, listener: Arc<dyn CommitListener>) -> Result<SqliteStore, String> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut writer_conn = open_connection(path, false)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        migrations::apply(&mut writer_conn)
            .map_err(|e| format!("migrating {}: {e}", path.display()))?;
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
            .map_err(|e| format!("configuring {}: {e}", path.display()))?;
        let checkpoints = checkpointer::spawn(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let (writer, _thread) = writer::spawn(writer_conn, listener);
        Ok(SqliteStore {
            _checkpoints: checkpoints,
            writer,
            readers: Mutex::new(readers),
            reader_permits: Semaphore::new(READERS),
            path: path.to_path_buf(),
        })
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

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `query` on a read connection, off the async threads.
    async fn read<T, F>(&self, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _permit = self
            .reader_permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let conn = self
            .readers
            .lock()
            .expect("reader pool lock")
            .pop()
            .expect("a permit guarantees a free reader");
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = query(&conn);
            (conn, result)
        })
        .await
        .map_err(|_| StoreError::Closed)?;
        self.readers.lock().expect("reader pool lock").push(conn);
        result.map_err(unavailable)
    }

    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Batch<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.writer.write(work).await
    }
}

pub(crate) fn open_connection(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
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
    Ok(conn)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    async fn upsert_user(&self, user: UserRecord) -> StoreResult<()> {
        self.write(move |batch| upsert_user(batch.conn, &user).map_err(unavailable))
            .await
    }

    async fn touch_last_seen(&self, user: UserId, at: Timestamp) -> StoreResult<()> {
        self.write(move |batch| {
            batch
                .conn
                .prepare_cached("UPDATE users SET last_seen = ?2 WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute(params![user, at.millis()]))
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }

    async fn last_seen(&self, users: Vec<UserId>) -> StoreResult<HashMap<UserId, Timestamp>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT last_seen FROM users WHERE id = ?1")?;
            let mut seen = HashMap::new();
            for user in users {
                let at: Option<Option<i64>> =
                    stmt.query_row([user], |row| row.get(0)).optional()?;
                if let Some(Some(at)) = at {
                    seen.insert(user, Timestamp::from_millis(at));
                }
            }
            Ok(seen)
        })
        .await
    }

    async fn create_ticket(&self, ticket: NewTicket) -> StoreResult<Ticket> {
        self.write(move |batch| {
            let conn = batch.conn;
            let now = Timestamp::now().millis();
            upsert_user(conn, &ticket.customer).map_err(unavailable)?;
            conn.execute(
                "INSERT INTO tickets (asunto, cliente_id, creado, actualizado) VALUES (?1, ?2, ?3, ?3)",
                params![ticket.subject, ticket.customer.id, now],
            )
            .map_err(unavailable)?;
            let id = conn.last_insert_rowid();
            load_ticket(conn, id).map_err(unavailable)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>> {
        self.read(move |conn| load_ticket(conn, id)).await
    }

    async fn claim_ticket(&self, id: TicketId, agent: UserRecord) -> StoreResult<Claim> {
        self.write(move |batch| {
            let conn = batch.conn;
            upsert_user(conn, &agent).map_err(unavailable)?;
            conn.execute(
                "UPDATE tickets SET agente_id = ?2, actualizado = ?3 WHERE id = ?1 AND agente_id IS NULL",
                params![id, agent.id, Timestamp::now().millis()],
            )
            .map_err(unavailable)?;
            let ticket = load_ticket(conn, id).map_err(unavailable)?.ok_or(StoreError::NotFound)?;
            let holder = ticket.agente.as_ref().and_then(|a| a.id);
            Ok(if holder == Some(agent.id) { Claim::Assigned(ticket) } else { Claim::HeldBy(ticket) })
        })
        .await
    }

    async fn list_tickets(
        &self,
        scope: TicketScope,
        viewer: UserId,
        limit: usize,
    ) -> StoreResult<Vec<TicketView>> {
        self.read(move |conn| {
            let (filter, owner) = match scope {
                TicketScope::OwnedBy(id) => ("t.cliente_id = ?1", id),
                TicketScope::AgentQueue(id) => ("(t.agente_id = ?1 OR t.agente_id IS NULL)", id),
                TicketScope::All => ("?1 = ?1", 0),
            };
            let sql = format!(
                "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE {filter} ORDER BY t.actualizado DESC, t.id DESC LIMIT ?2"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let tickets = stmt
                .query_map(params![owner, limit as i64], ticket_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut views = Vec::with_capacity(tickets.len());
            for ticket in tickets {
                let last = if ticket.last_seq > 0 {
                    messages_between(conn, ticket.id, ticket.last_seq - 1, ticket.last_seq, 1)?.pop()
                } else {
                    None
                };
                views.push(TicketView {
                    no_leidos: unread_count(conn, ticket.id, viewer)?,
                    ultimo_mensaje: last,
                    ticket,
                });
            }
            Ok(views)
        })
        .await
    }

    async fn append(&self, message: NewMessage) -> StoreResult<Appended> {
        self.write(move |batch| append(batch, message)).await
    }

    async fn recent_messages(&self, ticket: TicketId, limit: usize) -> StoreResult<Vec<Message>> {
        self.read(move |conn| {
            let last_seq: i64 = conn
                .prepare_cached("SELECT last_seq FROM tickets WHERE id = ?1")?
                .query_row([ticket], |row| row.get(0))
                .optional()?
                .unwrap_or(0);
            messages_between(
                conn,
                ticket,
                (last_seq - limit as i64).max(0),
                last_seq,
                limit,
            )
        })
        .await
    }

    async fn messages_between(
        &self,
        ticket: TicketId,
        after: Seq,
        up_to: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        self.read(move |conn| messages_between(conn, ticket, after, up_to, limit))
            .await
    }

    async fn find_sent(
        &self,
        ticket: TicketId,
        author: UserId,
        client_id: &str,
    ) -> StoreResult<Option<Message>> {
        let client_id = client_id.to_string();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = ?1 AND autor_id = ?2 AND client_id = ?3"
            ))?
            .query_row(params![ticket, author, client_id], message_from_row)
            .optional()
        })
        .await
    }

    async fn mark_read(
        &self,
        ticket: TicketId,
        reader: UserId,
        reader_role: Role,
        ids: Vec<MessageId>,
    ) -> StoreResult<MarkRead> {
        self.write(move |batch| {
            let conn = batch.conn;
            // All or nothing: first make sure every id is a message of this
            // ticket; a request naming anything else changes nothing.
            let mut find = conn
                .prepare_cached("SELECT seq FROM messages WHERE id = ?1 AND ticket_id = ?2")
                .map_err(unavailable)?;
            let mut highest_seq = 0;
            let mut outcome = MarkRead::default();
            for &id in &ids {
                let seq: Option<i64> = find
                    .query_row(params![id, ticket], |row| row.get(0))
                    .optional()
                    .map_err(unavailable)?;
                match seq {
                    Some(seq) => highest_seq = highest_seq.max(seq),
                    None => outcome.unknown.push(id),
                }
            }
            if !outcome.unknown.is_empty() || ids.is_empty() {
                return Ok(outcome);
            }
            let now = Timestamp::now().millis();
            // Receipts go across the conversation: staff's reading marks the
            // customer's messages, the customer's reading marks staff's.
            let other_side = if reader_role == Role::Cliente {
                "autor_tipo IN ('AGENTE', 'SUPERVISOR')"
            } else {
                "autor_tipo = 'CLIENTE'"
            };
            let mut mark = conn
                .prepare_cached(&format!(
                    "UPDATE messages SET estado = 'LEIDO', leido_at = ?3
                     WHERE id = ?1 AND ticket_id = ?2 AND estado = 'ENTREGADO' AND {other_side}"
                ))
                .map_err(unavailable)?;
            for id in ids {
                if mark
                    .execute(params![id, ticket, now])
                    .map_err(unavailable)?
                    > 0
                {
                    outcome.marked.push(id);
                }
            }
            conn.prepare_cached(
                "INSERT INTO ticket_reads (ticket_id, user_id, last_read_seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (ticket_id, user_id) DO UPDATE
                 SET last_read_seq = max(last_read_seq, excluded.last_read_seq)",
            )
            .and_then(|mut stmt| stmt.execute(params![ticket, reader, highest_seq]))
            .map_err(unavailable)?;
            Ok(outcome)
        })
        .await
    }

    async fn unread_count(&self, ticket: TicketId, viewer: UserId) -> StoreResult<i64> {
        self.read(move |conn| unread_count(conn, ticket, viewer))
            .await
    }

    async fn stats(&self, ticket: TicketId, viewer: UserId) -> StoreResult<ChatStats> {
        self.read(move |conn| {
            let mut stats = ChatStats::default();
            let mut stmt = conn.prepare_cached(
                "SELECT autor_tipo, creado, tipo FROM messages WHERE ticket_id = ?1 ORDER BY seq",
            )?;
            let mut rows = stmt.query([ticket])?;
            let mut timeline = Vec::new();
            while let Some(row) = rows.next()? {
                let kind_text: String = row.get(0)?;
                let at = Timestamp::from_millis(row.get(1)?);
                let message_kind: String = row.get(2)?;
                let kind = AuthorKind::parse(&kind_text).unwrap_or(AuthorKind::Sistema);
                *stats
                    .por_tipo_autor
                    .entry(kind.as_str().to_string())
                    .or_default() += 1;
                stats.total_mensajes += 1;
                if message_kind == MessageKind::Archivo.as_str() {
                    stats.archivos += 1;
                }
                stats.primer_mensaje.get_or_insert(at);
                stats.ultimo_mensaje = Some(at);
                timeline.push((kind, at));
            }
            for kind in ["CLIENTE", "AGENTE", "SUPERVISOR", "SISTEMA"] {
                stats.por_tipo_autor.entry(kind.to_string()).or_default();
            }
            let (first, average) = response_times(timeline);
            stats.primera_respuesta_segundos = first;
            stats.tiempo_respuesta_promedio_segundos = average;
            stats.duracion_segundos = match (stats.primer_mensaje, stats.ultimo_mensaje) {
                (Some(a), Some(b)) => Some((b.millis() - a.millis()) as f64 / 1000.0),
                _ => None,
            };
            stats.no_leidos = unread_count(conn, ticket, viewer)?;
            Ok(stats)
        })
        .await
    }
}

/// Stores one message in the open batch: next `seq` of its ticket, or the
/// earlier copy when this author already sent this `client_id`.
fn append(batch: &mut Batch<'_>, new: NewMessage) -> StoreResult<Appended> {
    let conn = batch.conn;
    if let (Some(client_id), Some(author)) = (&new.client_id, new.author.id) {
        let existing = conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = ?1 AND autor_id = ?2 AND client_id = ?3"
            ))
            .and_then(|mut stmt| stmt.query_row(params![new.ticket, author, client_id], message_from_row).optional())
            .map_err(unavailable)?;
        if let Some(message) = existing {
            return Ok(Appended {
                message,
                duplicate: true,
            });
        }
    }
    let now = Timestamp::now();
    let seq: Option<i64> = conn
        .prepare_cached("UPDATE tickets SET last_seq = last_seq + 1, actualizado = ?2 WHERE id = ?1 RETURNING last_seq")
        .and_then(|mut stmt| stmt.query_row(params![new.ticket, now.millis()], |row| row.get(0)).optional())
        .map_err(unavailable)?;
    let seq = seq.ok_or(StoreError::NotFound)?;
    let metadata = (!new.metadata.is_empty())
        .then(|| serde_json::to_string(&new.metadata).expect("a JSON map serializes"));
    conn.prepare_cached(
        "INSERT INTO messages (ticket_id, seq, client_id, autor_id, autor_nombre, autor_tipo, autor_avatar,
                               contenido, tipo, metadata, creado)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            new.ticket,
            seq,
            new.client_id,
            new.author.id,
            new.author.nombre,
            new.author.tipo.as_str(),
            new.author.avatar,
            new.content,
            new.kind.as_str(),
            metadata,
            now.millis(),
        ])
    })
    .map_err(unavailable)?;
    let message = Message {
        id: conn.last_insert_rowid(),
        client_id: new.client_id,
        ticket: new.ticket,
        seq,
        timestamp: now,
        autor: new.author,
        content: new.content,
        kind: new.kind,
        state: MessageState::Entregado,
        attachments: Vec::new(),
        reply_to: None,
        edited: false,
        deleted: false,
        metadata: new.metadata,
    };
    batch.committed.push(Committed {
        message: message.clone(),
        origin: new.origin,
    });
    Ok(Appended {
        message,
        duplicate: false,
    })
}

fn upsert_user(conn: &Connection, user: &UserRecord) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO users (id, nombre, rol, avatar) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET nombre = excluded.nombre, rol = excluded.rol, avatar = excluded.avatar
         WHERE nombre IS NOT excluded.nombre OR rol IS NOT excluded.rol OR avatar IS NOT excluded.avatar",
    )?
    .execute(params![user.id, user.name, user.role.as_str(), user.avatar])?;
    Ok(())
}

fn load_ticket(conn: &Connection, id: TicketId) -> rusqlite::Result<Option<Ticket>> {
    conn.prepare_cached(&format!(
        "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.id = ?1"
    ))?
    .query_row([id], ticket_from_row)
    .optional()
}

fn messages_between(
    conn: &Connection,
    ticket: TicketId,
    after: Seq,
    up_to: Seq,
    limit: usize,
) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE ticket_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4"
    ))?;
    let rows = stmt.query_map(
        params![ticket, after, up_to, limit as i64],
        message_from_row,
    )?;
    rows.collect()
}

fn unread_count(conn: &Connection, ticket: TicketId, viewer: UserId) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM messages
         WHERE ticket_id = ?1
           AND seq > COALESCE((SELECT last_read_seq FROM ticket_reads WHERE ticket_id = ?1 AND user_id = ?2), 0)
           AND (autor_id IS NULL OR autor_id != ?2)",
    )?
    .query_row(params![ticket, viewer], |row| row.get(0))
}
