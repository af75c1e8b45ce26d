//! The rows `store::writes` reads and writes, in SQLite, on the writer's
//! connection inside its open batch transaction. Synchronous: each future
//! here is ready when first polled (see `writes::run_now`).

use super::reads::{self, BY_AUTHOR};
use super::writer::unavailable;
use crate::domain::csat::CsatFacts;
use crate::domain::uploads::UploadUsage;
use crate::domain::webhooks::Subscription;
use crate::domain::User;
use crate::store::email::{EmailOutcome, EmailRow, OwedEmail};
use crate::store::erasure::{ErasureRow, Replacement};
use crate::store::rows::{
    self, customer_ticket_counts, API_KEY_COLUMNS, CANDIDATE_COLUMNS, MESSAGE_COLUMNS,
    OWED_EMAIL_COLUMNS,
};
use crate::store::webhooks::{AttemptRow, Candidate, DeliveryRow, DueClaim, EventBody, WebhookRow};
use crate::store::writes::*;
use crate::store::*;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use soporte_protocol::rest::CannedResponse;
use soporte_protocol::webhook::DeliveryState;
use std::collections::HashSet;
use std::sync::Arc;

/// The writer's connection in an open batch, and what the batch's commit
/// will make visible.
pub struct SqliteTx<'c> {
    pub conn: &'c Connection,
    pub committed: Vec<Committed>,
    pub url_base: &'c str,
    /// Read once per batch; forgotten when a job fails or changes them.
    pub subscriptions: Option<Arc<[Subscription]>>,
    /// The batch queued webhook deliveries: its commit wakes the workers.
    pub outbox_written: bool,
    /// Delivery rows not written yet: the batch writes them in a few
    /// multi-row INSERTs (see [`SqliteTx::flush_deliveries`]).
    pub deliveries: Vec<QueuedDelivery>,
    /// Texts written in the batch, whose words the search word list needs
    /// (see `words.rs`; written before the batch commits).
    pub texts: Vec<String>,
}

/// A delivery row as [`SqliteTx::flush_deliveries`] binds it.
pub struct QueuedDelivery {
    webhook: i64,
    event_id: String,
    event: &'static str,
    ticket: Option<TicketId>,
    body: Option<String>,
    message: Option<i64>,
    at: i64,
}

impl<'c> SqliteTx<'c> {
    pub fn new(conn: &'c Connection, url_base: &'c str) -> SqliteTx<'c> {
        SqliteTx {
            conn,
            committed: Vec::new(),
            url_base,
            subscriptions: None,
            outbox_written: false,
            deliveries: Vec::new(),
            texts: Vec::new(),
        }
    }

    /// Writes the queued delivery rows, in queue order (their ids keep each
    /// queue's order). Rows of 64, 16, 4 and 1: one statement per message
    /// was a tenth of the writer's time per message with one subscription;
    /// a few statement shapes stay in the statement cache. Runs before the
    /// batch commits, before a job's savepoint is released, and before any
    /// statement that reads or changes deliveries.
    pub fn flush_deliveries(&mut self) -> R<()> {
        let mut rest = &self.deliveries[..];
        while !rest.is_empty() {
            let rows = [64, 16, 4, 1]
                .into_iter()
                .find(|&n| n <= rest.len())
                .unwrap_or(1);
            let (chunk, tail) = rest.split_at(rows);
            let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(rows * 7);
            for row in chunk {
                values.extend([
                    &row.webhook as &dyn rusqlite::ToSql,
                    &row.event_id,
                    &row.event,
                    &row.ticket,
                    &row.body,
                    &row.message,
                    &row.at,
                ]);
            }
            one(self
                .conn
                .prepare_cached(&insert_deliveries_sql(rows))
                .and_then(|mut s| s.execute(&*values)))?;
            rest = tail;
        }
        self.deliveries.clear();
        Ok(())
    }
}

/// `INSERT INTO webhook_deliveries` of `rows` rows of 7 parameters each.
fn insert_deliveries_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO webhook_deliveries (webhook_id, evento_id, tipo, ticket_id, cuerpo, mensaje_id, creado, proximo_intento) VALUES ",
    );
    for row in 0..rows {
        let p = row * 7;
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7,
            p + 7
        ));
    }
    sql
}

type R<T> = StoreResult<T>;

/// Finished webhook deliveries looked at per prune, oldest first.
const PRUNE_SLICE: i64 = 5_000;

fn one<T>(result: rusqlite::Result<T>) -> R<T> {
    result.map_err(unavailable)
}

/// Deletes the attachments of the messages `messages` names (ids, or a
/// subquery, on `?1` = `value`), their files and thumbnails queued for
/// removal after the commit; how many files.
fn remove_files_of(conn: &Connection, messages: &str, value: i64, at: Timestamp) -> R<u64> {
    let sql = format!(
        "SELECT storage_key, thumbnail_key FROM attachments WHERE mensaje_id IN ({messages})"
    );
    let files = one(conn.prepare_cached(&sql).and_then(|mut s| {
        s.query_map([value], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
    }))?;
    let sql = "INSERT OR IGNORE INTO file_deletions (storage_key, creado) VALUES (?1, ?2)";
    for key in files
        .iter()
        .flat_map(|(file, thumb)| std::iter::once(file).chain(thumb))
    {
        one(conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![key, at.millis()])))?;
    }
    let sql = format!("DELETE FROM attachments WHERE mensaje_id IN ({messages})");
    one(conn
        .prepare_cached(&sql)
        .and_then(|mut s| s.execute([value])))?;
    Ok(files.len() as u64)
}

#[async_trait(?Send)]
impl WriteTx for SqliteTx<'_> {
    fn url_base(&self) -> &str {
        self.url_base
    }

    fn committed(&mut self, committed: Committed) {
        self.committed.push(committed);
    }

    async fn user(&mut self, id: UserId) -> R<Option<User>> {
        one(reads::user(self.conn, id))
    }

    async fn save_user(&mut self, user: &User) -> R<()> {
        let sql = "INSERT INTO users (id, nombre, rol, avatar, email) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET nombre = excluded.nombre, rol = excluded.rol,
                 avatar = COALESCE(excluded.avatar, avatar), email = COALESCE(excluded.email, email)
             WHERE nombre IS NOT excluded.nombre OR rol IS NOT excluded.rol
                OR avatar IS NOT COALESCE(excluded.avatar, avatar) OR email IS NOT COALESCE(excluded.email, email)";
        let values = params![
            user.id,
            user.name,
            user.role.as_str(),
            user.avatar,
            user.email
        ];
        if one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values)))?
            > 0
        {
            self.texts.push(user.name.clone());
        }
        Ok(())
    }

    async fn touch_last_seen(&mut self, user: UserId, at: Timestamp) -> R<()> {
        let sql = "UPDATE users SET last_seen = ?2 WHERE id = ?1";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![user, at.millis()])))
        .map(drop)
    }

    async fn set_availability(&mut self, user: UserId, availability: Availability) -> R<bool> {
        let sql = "UPDATE users SET disponibilidad = ?2 WHERE id = ?1";
        let changed = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![user, availability.as_str()]));
        Ok(one(changed)? > 0)
    }

    async fn ticket(&mut self, id: TicketId) -> R<Option<Ticket>> {
        one(reads::load_ticket(self.conn, id))
    }

    async fn ticket_state(&mut self, id: TicketId) -> R<Option<TicketState>> {
        let sql = "SELECT estado FROM tickets WHERE id = ?1";
        let state = self.conn.prepare_cached(sql).and_then(|mut s| {
            s.query_row([id], |row| row.get::<_, columns::Stored<TicketState>>(0))
                .optional()
        });
        Ok(one(state)?.map(|s| s.0))
    }

    async fn append_context(&mut self, new: &NewMessage) -> R<Option<AppendContext>> {
        let ticket = new.ticket;
        let sent = new.author.id.zip(new.client_id.as_deref());
        let earlier = match sent {
            None => None,
            Some((author, client_id)) => {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket_id = ?1 AND autor_id = ?2 AND client_id = ?3"
                );
                one(self.conn.prepare_cached(&sql).and_then(|mut s| {
                    s.query_row(params![ticket, author, client_id], |row| rows::message(row))
                        .optional()
                }))?
            }
        };
        // Only the state is needed on this hot path.
        Ok(self
            .ticket_state(ticket)
            .await?
            .map(|state| AppendContext { state, earlier }))
    }

    async fn insert_ticket(&mut self, row: &TicketRow<'_>) -> R<Option<TicketId>> {
        let sql =
            "INSERT INTO tickets (asunto, cliente_id, external_id, metadata, creado, actualizado, publico_actualizado)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5)
             ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING RETURNING id";
        let values = params![
            row.subject,
            row.customer,
            row.external_id,
            row.metadata,
            row.at.millis()
        ];
        self.texts.push(row.subject.to_string());
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row(values, |r| r.get(0)).optional()))
    }

    async fn ticket_by_external_id(&mut self, external_id: &str) -> R<Option<TicketId>> {
        let sql = "SELECT id FROM tickets WHERE external_id = ?1";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row([external_id], |r| r.get(0)).optional()))
    }

    async fn is_active(&mut self, user: UserId) -> R<bool> {
        let sql = "SELECT activo FROM users WHERE id = ?1";
        let active = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row([user], |r| r.get(0)).optional());
        Ok(one(active)?.unwrap_or(false))
    }

    async fn provision_user(&mut self, user: &User, active: bool) -> R<bool> {
        let existed = one(reads::user(self.conn, user.id))?.is_some();
        let sql = "INSERT INTO users (id, nombre, rol, avatar, email, activo) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET nombre = excluded.nombre, rol = excluded.rol,
                 avatar = excluded.avatar, email = excluded.email, activo = excluded.activo";
        let values = params![
            user.id,
            user.name,
            user.role.as_str(),
            user.avatar,
            user.email,
            active
        ];
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values)))?;
        self.texts.push(user.name.clone());
        Ok(!existed)
    }

    /// The single writer already serializes every write of the node.
    async fn lock_auto_assign(&mut self) -> R<()> {
        Ok(())
    }

    async fn open_tickets_of(&mut self, agent: UserId) -> R<i64> {
        one(reads::open_tickets_of(self.conn, agent))
    }

    async fn customer_tickets(&mut self, customer: UserId, since: Timestamp) -> R<(i64, i64)> {
        let sql = customer_ticket_counts("?1", "?2");
        one(self.conn.prepare_cached(&sql).and_then(|mut s| {
            s.query_row(params![customer, since.millis()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        }))
    }

    async fn set_agent(&mut self, ticket: TicketId, agent: UserId, at: Timestamp) -> R<()> {
        let sql = "UPDATE tickets SET agente_id = ?2, actualizado = ?3, publico_actualizado = ?3,
                 asignado_at = COALESCE(asignado_at, ?3) WHERE id = ?1";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![ticket, agent, at.millis()])))
        .map(drop)
    }

    async fn set_state(&mut self, ticket: TicketId, change: &StateChange) -> R<()> {
        let (state, at) = (change.state, change.at);
        let resolved_at = rows::resolved_at(change.resolved, "?3");
        let sql = format!(
            "UPDATE tickets SET estado = ?2, actualizado = ?3, publico_actualizado = ?3,
                 resuelto_at = {resolved_at} WHERE id = ?1"
        );
        one(self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.execute(params![ticket, state.as_str(), at.millis()])))
        .map(drop)
    }

    async fn insert_message(&mut self, row: &MessageRow<'_>) -> R<Option<Inserted>> {
        let conn = self.conn;
        let at = row.at.millis();
        // An UPDATE and then a SELECT, not UPDATE … RETURNING: SQLite runs
        // RETURNING as a trigger, which makes it keep a statement journal (a
        // copy of every page the statement touches: the ticket's row and four
        // of its indexes), measured at a third more time per message.
        // A note moves the activity staff see only (see `publico_seq`).
        let sql = "UPDATE tickets SET last_seq = last_seq + 1, actualizado = ?2,
                 publico_seq = CASE WHEN ?3 THEN publico_seq ELSE last_seq + 1 END,
                 publico_actualizado = CASE WHEN ?3 THEN publico_actualizado ELSE ?2 END
             WHERE id = ?1";
        if one(conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![row.ticket, at, row.internal])))?
            == 0
        {
            return Ok(None);
        }
        let sql = "SELECT last_seq, agente_id, external_id FROM tickets WHERE id = ?1";
        let (seq, ticket_agent, external_id) = one(conn.prepare_cached(sql).and_then(|mut s| {
            s.query_row([row.ticket], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        }))?;
        let sql = "INSERT INTO messages (ticket_id, seq, client_id, autor_id, autor_nombre, autor_tipo, autor_avatar,
                                   contenido, tipo, metadata, interno, creado, reply_to)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
        let values = params![
            row.ticket,
            seq,
            row.client_id,
            row.author.id,
            row.author.name,
            row.author.kind.as_str(),
            row.author.avatar,
            row.content,
            row.kind.as_str(),
            row.metadata,
            row.internal,
            at,
            row.reply_to,
        ];
        one(conn.prepare_cached(sql).and_then(|mut s| s.execute(values)))?;
        let id = conn.last_insert_rowid();
        self.texts.push(row.content.to_string());
        if let Some(author) = row.author.id {
            // Once per person and ticket; afterwards a lookup that writes nothing.
            let sql =
                "INSERT OR IGNORE INTO ticket_authors (usuario_id, ticket_id) VALUES (?1, ?2)";
            one(conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute(params![author, row.ticket])))?;
        }
        if row.first_answer {
            let sql = "UPDATE tickets SET primera_respuesta_at = ?2 WHERE id = ?1 AND primera_respuesta_at IS NULL";
            one(conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute(params![row.ticket, at])))?;
        }
        Ok(Some(Inserted {
            id,
            seq,
            ticket_agent,
            external_id,
        }))
    }

    async fn message(&mut self, ticket: TicketId, id: MessageId) -> R<Option<Message>> {
        let sql =
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND ticket_id = ?2");
        one(self.conn.prepare_cached(&sql).and_then(|mut s| {
            s.query_row(params![id, ticket], |row| rows::message(row))
                .optional()
        }))
    }

    async fn fill_attachments(&mut self, messages: &mut [Message]) -> R<()> {
        one(reads::fill_attachments(self.conn, messages, self.url_base))
    }

    async fn change_message(&mut self, row: &edits::ChangeRow<'_>) -> R<u64> {
        let conn = self.conn;
        one(conn
            .prepare_cached(edits::NEXT_REV_SQL)
            .and_then(|mut s| s.execute([row.ticket])))?;
        let rev: i64 = one(conn
            .prepare_cached(edits::REV_SQL)
            .and_then(|mut s| s.query_row([row.ticket], |r| r.get(0))))?;
        let deleted = row.change == MessageChange::Deleted;
        let at = row.at.millis();
        let values = params![row.message, row.content, deleted, rev, at];
        one(conn
            .prepare_cached(edits::CHANGE_SQL)
            .and_then(|mut s| s.execute(values)))?;
        self.texts.push(row.content.to_string());
        let values = params![
            row.message,
            rev,
            row.previous,
            row.change.as_str(),
            row.by,
            at
        ];
        one(conn
            .prepare_cached(edits::VERSION_SQL)
            .and_then(|mut s| s.execute(values)))?;
        Ok(rev as u64)
    }

    async fn remove_attachments(&mut self, message: MessageId, at: Timestamp) -> R<u64> {
        remove_files_of(self.conn, "?1", message, at)
    }

    async fn visible_seqs(&mut self, receipt: &Receipt<'_>) -> R<HashMap<MessageId, Seq>> {
        let (ticket, ids, sees_internal) = (receipt.ticket, receipt.ids, receipt.sees_internal);
        let notes = if sees_internal {
            ""
        } else {
            " AND interno = 0"
        };
        let sql = format!("SELECT seq FROM messages WHERE id = ?1 AND ticket_id = ?2{notes}");
        let mut stmt = one(self.conn.prepare_cached(&sql))?;
        let mut seqs = HashMap::with_capacity(ids.len());
        for &id in ids {
            if let Some(seq) = one(stmt
                .query_row(params![id, ticket], |row| row.get(0))
                .optional())?
            {
                seqs.insert(id, seq);
            }
        }
        Ok(seqs)
    }

    async fn mark_read(&mut self, receipt: &Receipt<'_>) -> R<HashSet<MessageId>> {
        let (ticket, ids, at) = (receipt.ticket, receipt.ids, receipt.at);
        let sql = format!(
            "UPDATE messages SET estado = 'LEIDO', leido_at = ?3
             WHERE id = ?1 AND ticket_id = ?2 AND estado = 'ENTREGADO' AND autor_tipo IN ({})",
            rows::author_kinds(receipt.authors)
        );
        let mut stmt = one(self.conn.prepare_cached(&sql))?;
        let mut marked = HashSet::new();
        for &id in ids {
            if one(stmt.execute(params![id, ticket, at.millis()]))? > 0 {
                marked.insert(id);
            }
        }
        Ok(marked)
    }

    async fn advance_read_cursor(&mut self, ticket: TicketId, user: UserId, seq: Seq) -> R<()> {
        let sql = "INSERT INTO ticket_reads (ticket_id, user_id, last_read_seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (ticket_id, user_id) DO UPDATE
             SET last_read_seq = max(last_read_seq, excluded.last_read_seq)";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![ticket, user, seq])))
        .map(drop)
    }

    async fn insert_grant(&mut self, grant: &UploadGrant) -> R<()> {
        let sql = "INSERT INTO upload_grants (id, credential_hash, user_id, ticket_id, nombre, tamano, extension, expires_at, creado)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
        let values = params![
            grant.upload_id,
            grant.credential_hash,
            grant.user,
            grant.ticket,
            grant.name,
            grant.size as i64,
            grant.extension,
            grant.expires_at.millis(),
            grant.created_at.millis(),
        ];
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values)))
        .map(drop)
    }

    async fn upload_grant(&mut self, upload_id: &str) -> R<Option<GrantState>> {
        one(reads::upload_grant(self.conn, upload_id))
    }

    async fn use_grant(&mut self, upload_id: &str, at: Timestamp) -> R<bool> {
        let sql = "UPDATE upload_grants SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL";
        Ok(one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![upload_id, at.millis()])))?
            > 0)
    }

    async fn purge_grants(&mut self, expired_before: Timestamp) -> R<usize> {
        let sql = "DELETE FROM upload_grants WHERE expires_at < ?1";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([expired_before.millis()])))
    }

    async fn upload_usage(
        &mut self,
        user: UserId,
        ticket: TicketId,
        now: Timestamp,
        since: Timestamp,
    ) -> R<UploadUsage> {
        let sql = UPLOAD_USAGE_SQL;
        let values: [i64; 9] = one(self.conn.prepare_cached(sql).and_then(|mut s| {
            s.query_row(params![user, ticket, now.millis(), since.millis()], |row| {
                let mut values = [0; 9];
                for (i, value) in values.iter_mut().enumerate() {
                    *value = row.get(i)?;
                }
                Ok(values)
            })
        }))?;
        Ok(rows::upload_usage(values))
    }

    async fn insert_attachment(&mut self, row: &AttachmentRow<'_>) -> R<i64> {
        let sql = "INSERT INTO attachments (ticket_id, mensaje_id, storage_key, nombre, tamano, tipo_mime, sha256, thumbnail_key, creado, usuario_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
        let values = params![
            row.ticket,
            row.message,
            row.file.key,
            row.name,
            row.file.size as i64,
            row.file.mime,
            row.file.sha256,
            row.file.thumbnail_key,
            row.at.millis(),
            row.uploader,
        ];
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values)))?;
        Ok(self.conn.last_insert_rowid())
    }

    async fn canned_with_shortcut(&mut self, shortcut: &str) -> R<Option<i64>> {
        let sql = "SELECT id FROM respuestas WHERE atajo = ?1";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row([shortcut], |row| row.get(0)).optional()))
    }

    async fn save_canned(&mut self, row: &CannedRow<'_>) -> R<CannedSave> {
        let (id, input, by) = (row.id, row.input, row.by);
        let at = row.at.millis();
        match id {
            Some(id) => {
                let sql =
                    "UPDATE respuestas SET atajo = ?2, texto = ?3, actualizado = ?4 WHERE id = ?1";
                let changed = one(self
                    .conn
                    .execute(sql, params![id, input.shortcut, input.text, at]))?;
                Ok(if changed == 0 {
                    CannedSave::NotFound
                } else {
                    CannedSave::Saved(id)
                })
            }
            None => {
                let sql = "INSERT INTO respuestas (atajo, texto, creado_por, creado, actualizado) VALUES (?1, ?2, ?3, ?4, ?4)";
                one(self
                    .conn
                    .execute(sql, params![input.shortcut, input.text, by, at]))?;
                Ok(CannedSave::Saved(self.conn.last_insert_rowid()))
            }
        }
    }

    async fn canned_response(&mut self, id: i64) -> R<Option<CannedResponse>> {
        one(reads::canned_response(self.conn, id))
    }

    async fn delete_canned(&mut self, id: i64) -> R<bool> {
        Ok(one(self
            .conn
            .execute("DELETE FROM respuestas WHERE id = ?1", [id]))?
            > 0)
    }

    async fn insert_api_key(&mut self, row: &ApiKeyRow<'_>) -> R<Option<ApiKey>> {
        let sql = format!(
            "INSERT INTO api_keys (name, prefix, key_hash, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING RETURNING {API_KEY_COLUMNS}"
        );
        let values = params![row.name, row.prefix, row.hash, row.at.millis()];
        let inserted = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(values, |r| rows::api_key(r)).optional());
        Ok(one(inserted)?.map(|stored| stored.key))
    }

    async fn revoke_api_key(&mut self, name: &str, at: Timestamp) -> R<bool> {
        let sql = "UPDATE api_keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL";
        let changed = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![name, at.millis()]));
        Ok(one(changed)? > 0)
    }

    async fn touch_api_key(&mut self, id: i64, at: Timestamp) -> R<()> {
        let sql = "UPDATE api_keys SET last_used = ?2 WHERE id = ?1";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![id, at.millis()])))
        .map(drop)
    }

    async fn subscriptions(&mut self) -> R<Arc<[Subscription]>> {
        if let Some(cached) = &self.subscriptions {
            return Ok(cached.clone());
        }
        let read: Arc<[Subscription]> = one(reads::subscriptions(self.conn))?.into();
        self.subscriptions = Some(read.clone());
        Ok(read)
    }

    async fn insert_delivery(&mut self, row: &DeliveryRow<'_>) -> R<()> {
        let (body, message) = match row.body {
            EventBody::Written(body) => (Some(body.to_string()), None),
            EventBody::Message(id) => (None, Some(id)),
        };
        self.deliveries.push(QueuedDelivery {
            webhook: row.webhook,
            event_id: row.event_id.to_string(),
            event: row.event.as_str(),
            ticket: row.ticket,
            body,
            message,
            at: row.at.millis(),
        });
        self.outbox_written = true;
        Ok(())
    }

    async fn insert_webhook(&mut self, row: &WebhookRow<'_>) -> R<i64> {
        let sql =
            "INSERT INTO webhooks (url, eventos, incluir_internos, descripcion, secreto, creado)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
        let values = params![
            row.url,
            row.events,
            row.include_internal,
            row.description,
            row.secret,
            row.at.millis()
        ];
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values)))?;
        self.subscriptions = None;
        Ok(self.conn.last_insert_rowid())
    }

    async fn delete_webhook(&mut self, id: i64, at: Timestamp) -> R<bool> {
        self.flush_deliveries()?;
        let sql = "UPDATE webhooks SET borrado = ?2 WHERE id = ?1 AND borrado IS NULL";
        let deleted = one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![id, at.millis()])))?;
        // What it was still owed is given up with it.
        let sql = "UPDATE webhook_deliveries SET estado = 'fallido', terminado = ?2, reclamado_hasta = NULL
             WHERE webhook_id = ?1 AND estado = 'pendiente'";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![id, at.millis()])))?;
        self.subscriptions = None;
        Ok(deleted > 0)
    }

    async fn redeliver(&mut self, webhook: i64, delivery: i64, at: Timestamp) -> R<bool> {
        self.flush_deliveries()?;
        let sql = "UPDATE webhook_deliveries
             SET estado = 'pendiente', proximo_intento = ?3, reclamado_hasta = NULL, terminado = NULL
             WHERE id = ?2 AND webhook_id = ?1
               AND webhook_id IN (SELECT id FROM webhooks WHERE borrado IS NULL)";
        let queued = one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![webhook, delivery, at.millis()])))?;
        if queued == 0 {
            return Ok(false);
        }
        // Asked by a person who fixed the endpoint: try it at once.
        let sql = "UPDATE webhooks SET pausado_hasta = NULL WHERE id = ?1";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([webhook])))?;
        self.outbox_written = true;
        Ok(true)
    }

    async fn due_candidates(&mut self, claim: &DueClaim) -> R<Vec<Candidate>> {
        self.flush_deliveries()?;
        let sql = due_candidates_sql();
        one(self.conn.prepare_cached(&sql).and_then(|mut s| {
            s.query_map(params![claim.now.millis(), claim.limit as i64], |row| {
                rows::candidate(row)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        }))
    }

    async fn lease_deliveries(&mut self, ids: &[i64], until: Timestamp) -> R<()> {
        let sql = "UPDATE webhook_deliveries SET reclamado_hasta = ?2 WHERE id = ?1";
        for id in ids {
            one(self
                .conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute(params![id, until.millis()])))?;
        }
        Ok(())
    }

    async fn release_deliveries(&mut self, ids: &[i64]) -> R<()> {
        let sql = "UPDATE webhook_deliveries SET reclamado_hasta = NULL WHERE id = ?1 AND estado = 'pendiente'";
        for id in ids {
            one(self
                .conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute([id])))?;
        }
        Ok(())
    }

    async fn record_attempt(&mut self, row: &AttemptRow<'_>) -> R<()> {
        if row.state == DeliveryState::Delivered {
            // The delivering attempt lives on the delivery's row.
            let sql = "UPDATE webhook_deliveries
                 SET estado = 'entregado', intentos = MAX(intentos, ?2), terminado = ?3,
                     estado_http = ?4, latencia_ms = ?5, reclamado_hasta = NULL
                 WHERE id = ?1 AND estado = 'pendiente'";
            let values = params![
                row.delivery,
                row.attempt,
                row.at.millis(),
                row.status,
                row.latency_ms as i64
            ];
            return one(self
                .conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute(values)))
            .map(drop);
        }
        let sql = "INSERT INTO webhook_attempts (delivery_id, intento, en, estado_http, error, latencia_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING";
        let values = params![
            row.delivery,
            row.attempt,
            row.at.millis(),
            row.status,
            row.error,
            row.latency_ms as i64
        ];
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values)))?;
        let sql = "UPDATE webhook_deliveries
             SET estado = ?2, intentos = MAX(intentos, ?3), proximo_intento = ?4, reclamado_hasta = NULL,
                 terminado = CASE WHEN ?2 = 'pendiente' THEN NULL ELSE ?5 END
             WHERE id = ?1 AND estado = 'pendiente'";
        let values = params![
            row.delivery,
            row.state.as_str(),
            row.attempt,
            row.next_attempt.millis(),
            row.at.millis()
        ];
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values)))
        .map(drop)
    }

    async fn count_failure(&mut self, webhook: i64, failed: bool) -> R<u32> {
        let sql = "UPDATE webhooks SET fallos_seguidos = CASE WHEN ?2 THEN fallos_seguidos + 1 ELSE 0 END,
                 pausado_hasta = CASE WHEN ?2 THEN pausado_hasta ELSE NULL END
             WHERE id = ?1 RETURNING fallos_seguidos";
        let failures = one(self.conn.prepare_cached(sql).and_then(|mut s| {
            s.query_row(params![webhook, failed], |row| row.get::<_, i64>(0))
                .optional()
        }))?;
        Ok(failures.unwrap_or(0).clamp(0, u32::MAX as i64) as u32)
    }

    async fn pause_webhook(&mut self, webhook: i64, until: Timestamp) -> R<()> {
        let sql = "UPDATE webhooks SET pausado_hasta = ?2 WHERE id = ?1";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![webhook, until.millis()])))
        .map(drop)
    }

    async fn prune_deliveries(&mut self, finished_before: Timestamp) -> R<usize> {
        self.flush_deliveries()?;
        // The oldest rows by id, a slice at a time: no index on `terminado`
        // for every delivery to keep up.
        let sql = "DELETE FROM webhook_deliveries WHERE id IN (
                 SELECT id FROM webhook_deliveries ORDER BY id LIMIT ?2)
               AND estado <> 'pendiente' AND terminado < ?1";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![finished_before.millis(), PRUNE_SLICE])))
    }

    async fn erase_files(&mut self, user: UserId, at: Timestamp) -> R<u64> {
        let messages = format!("SELECT id FROM messages WHERE {BY_AUTHOR}");
        remove_files_of(self.conn, &messages, user, at)
    }

    async fn erase_messages(
        &mut self,
        user: UserId,
        replacement: &Replacement<'_>,
    ) -> R<Vec<TicketId>> {
        // Their earlier texts, kept for audit, go with them.
        let sql = format!(
            "DELETE FROM message_versions WHERE mensaje_id IN (SELECT id FROM messages WHERE {BY_AUTHOR})"
        );
        one(self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.execute([user])))?;
        let sql = format!(
            "UPDATE messages SET contenido = ?2, metadata = NULL, autor_nombre = ?3,
                 autor_avatar = NULL, eliminado = 1
             WHERE {BY_AUTHOR} RETURNING ticket_id"
        );
        one(self.conn.prepare_cached(&sql).and_then(|mut s| {
            s.query_map(
                params![user, replacement.content, replacement.name],
                |row| row.get::<_, TicketId>(0),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        }))
    }

    async fn erase_person(&mut self, user: UserId, name: &str) -> R<()> {
        let sql =
            "UPDATE users SET nombre = ?2, avatar = NULL, email = NULL, activo = 0 WHERE id = ?1";
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![user, name])))?;
        // Their address goes with them, and nothing more is sent to it.
        let owed = "DELETE FROM email_outbox WHERE usuario_id = ?1";
        one(self
            .conn
            .prepare_cached(owed)
            .and_then(|mut s| s.execute([user])))
        .map(drop)
    }

    async fn record_erasure(&mut self, row: &ErasureRow<'_>) -> R<()> {
        let sql = "INSERT INTO erasures (usuario_id, por, en, mensajes, archivos) VALUES (?1, ?2, ?3, ?4, ?5)";
        let values = params![
            row.user,
            row.by,
            row.at.millis(),
            row.messages as i64,
            row.files as i64
        ];
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values)))
        .map(drop)
    }

    async fn tickets_inactive(
        &mut self,
        state: TicketState,
        after: (Timestamp, TicketId),
        before: Timestamp,
        limit: usize,
    ) -> R<Vec<(Timestamp, TicketId)>> {
        let sql = TICKETS_INACTIVE_SQL;
        one(self.conn.prepare_cached(sql).and_then(|mut s| {
            s.query_map(
                params![
                    after.0.millis(),
                    after.1,
                    before.millis(),
                    state.as_str(),
                    limit as i64
                ],
                |row| Ok((Timestamp::from_millis(row.get(0)?), row.get(1)?)),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        }))
    }

    async fn expire_files(&mut self, tickets: &[TicketId], at: Timestamp) -> R<u64> {
        let queue = "INSERT OR IGNORE INTO file_deletions (storage_key, creado)
             SELECT storage_key, ?2 FROM attachments WHERE ticket_id = ?1
             UNION ALL SELECT thumbnail_key, ?2 FROM attachments
                 WHERE ticket_id = ?1 AND thumbnail_key IS NOT NULL";
        let delete = "DELETE FROM attachments WHERE ticket_id = ?1";
        let mut files = 0;
        for &ticket in tickets {
            one(self
                .conn
                .prepare_cached(queue)
                .and_then(|mut s| s.execute(params![ticket, at.millis()])))?;
            files += one(self
                .conn
                .prepare_cached(delete)
                .and_then(|mut s| s.execute([ticket])))? as u64;
        }
        Ok(files)
    }

    async fn resolved_before(&mut self, before: Timestamp, limit: usize) -> R<Vec<TicketId>> {
        one(self
            .conn
            .prepare_cached(RESOLVED_BEFORE_SQL)
            .and_then(|mut s| {
                s.query_map(params![before.millis(), limit as i64], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            }))
    }

    async fn csat_facts(&mut self, ticket: TicketId) -> R<CsatFacts> {
        let sql = "SELECT MAX(CASE WHEN autor_tipo IN ('AGENTE', 'SUPERVISOR') AND interno = 0
                                   THEN creado END),
                          COALESCE(MAX(autor_tipo = 'CLIENTE'), 0)
                   FROM messages WHERE ticket_id = ?1";
        one(self.conn.prepare_cached(sql).and_then(|mut s| {
            s.query_row([ticket], |row| {
                Ok(CsatFacts {
                    last_staff_reply: row.get::<_, Option<i64>>(0)?.map(Timestamp::from_millis),
                    customer_wrote: row.get(1)?,
                })
            })
        }))
    }

    async fn set_csat(&mut self, ticket: TicketId, rating: &Rating) -> R<()> {
        let sql = "UPDATE tickets SET csat_puntuacion = ?2, csat_comentario = ?3, csat_creado = ?4
                   WHERE id = ?1";
        one(self.conn.prepare_cached(sql).and_then(|mut s| {
            s.execute(params![
                ticket,
                rating.score,
                rating.comment,
                rating.created.millis()
            ])
        }))
        .map(drop)
    }

    async fn put_setting(&mut self, key: &str, value: Option<&str>, at: Timestamp) -> R<()> {
        let written = match value {
            Some(value) => self.conn.execute(
                "INSERT INTO ajustes (clave, valor, actualizado) VALUES (?1, ?2, ?3)
                 ON CONFLICT (clave) DO UPDATE SET valor = ?2, actualizado = ?3",
                params![key, value, at.millis()],
            ),
            None => self
                .conn
                .execute("DELETE FROM ajustes WHERE clave = ?1", [key]),
        };
        one(written).map(drop)
    }

    async fn queue_email(&mut self, row: &EmailRow<'_>) -> R<()> {
        let sql = "INSERT INTO email_outbox (ticket_id, usuario_id, para, tipo, desde_seq, debido, creado)
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";
        let values = params![
            row.ticket,
            row.user,
            row.to,
            row.kind,
            row.from_seq,
            row.due.millis(),
            row.at.millis()
        ];
        one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values)))
        .map(drop)
    }

    async fn last_email(
        &mut self,
        ticket: TicketId,
        user: UserId,
        kind: &str,
    ) -> R<Option<Timestamp>> {
        let at = one(self
            .conn
            .prepare_cached(rows::LAST_EMAIL_SQL)
            .and_then(|mut s| {
                s.query_row(params![ticket, user, kind], |row| {
                    row.get::<_, Option<i64>>(0)
                })
            }))?;
        Ok(at.map(Timestamp::from_millis))
    }

    async fn claim_emails(
        &mut self,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> R<Vec<OwedEmail>> {
        // One writer: the select and the lease cannot interleave with another claim.
        let sql = format!(
            "SELECT {OWED_EMAIL_COLUMNS} FROM email_outbox
             WHERE estado = 'pendiente' AND debido <= ?1
               AND (reclamado_hasta IS NULL OR reclamado_hasta <= ?1)
             ORDER BY debido LIMIT ?2"
        );
        let owed = one(self.conn.prepare_cached(&sql).and_then(|mut s| {
            s.query_map(params![now.millis(), limit as i64], |row| {
                rows::owed_email(row)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        }))?;
        let lease = "UPDATE email_outbox SET reclamado_hasta = ?2 WHERE id = ?1";
        for email in &owed {
            one(self
                .conn
                .prepare_cached(lease)
                .and_then(|mut s| s.execute(params![email.id, until.millis()])))?;
        }
        Ok(owed)
    }

    async fn finish_email(&mut self, id: i64, outcome: &EmailOutcome, at: Timestamp) -> R<bool> {
        let (state, next, error) = rows::email_outcome(outcome);
        let sql = "UPDATE email_outbox SET estado = ?2, intentos = intentos + 1,
                       reclamado_hasta = ?3, error = ?4,
                       terminado = CASE WHEN ?2 = 'pendiente' THEN NULL ELSE ?5 END
                   WHERE id = ?1 AND estado = 'pendiente'";
        let values = params![id, state, next.map(|t| t.millis()), error, at.millis()];
        Ok(one(self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(values)))?
            > 0)
    }

    async fn files_removed(&mut self, keys: &[String]) -> R<()> {
        let sql = "DELETE FROM file_deletions WHERE storage_key = ?1";
        for key in keys {
            one(self
                .conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute([key])))?;
        }
        Ok(())
    }
}

/// Due deliveries (see [`DueClaim`]), oldest first; `?1` is now, `?2` the limit.
/// No candidate has a pending delivery before it in its queue that is not
/// itself a candidate earlier in the list: one writer claims, nothing is
/// skipped, and a held one excludes the rest of its queue. So `previous` is
/// NULL, and no index of every pending row by queue is needed (one would
/// cost the path every message takes a page per ticket per commit).
pub(super) fn due_candidates_sql() -> String {
    format!(
            "SELECT {CANDIDATE_COLUMNS}, NULL FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.estado = 'pendiente' AND (d.intentos = 0 OR d.proximo_intento <= ?1)
               AND (d.reclamado_hasta IS NULL OR d.reclamado_hasta <= ?1)
               AND w.borrado IS NULL AND (w.pausado_hasta IS NULL OR w.pausado_hasta <= ?1)
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                               WHERE e.webhook_id = d.webhook_id AND e.ticket_id = d.ticket_id
                                 AND e.estado = 'pendiente' AND e.id < d.id
                                 AND (e.reclamado_hasta IS NOT NULL OR e.intentos > 0)
                                 AND (e.proximo_intento > ?1 OR e.reclamado_hasta > ?1))
             ORDER BY d.id LIMIT ?2"
        )
}

/// What an uploader and a ticket hold (see `rows::upload_usage` for the
/// order): `?1` user, `?2` ticket, `?3` now, `?4` start of the hour. Every
/// sum is read from an index that carries the size.
pub(super) const UPLOAD_USAGE_SQL: &str = "SELECT
             (SELECT COALESCE(SUM(tamano), 0) FROM attachments WHERE usuario_id = ?1),
             (SELECT COUNT(*) FROM attachments WHERE usuario_id = ?1),
             (SELECT COALESCE(SUM(tamano), 0) FROM upload_grants
                 WHERE user_id = ?1 AND used_at IS NULL AND expires_at >= ?3),
             (SELECT COUNT(*) FROM upload_grants
                 WHERE user_id = ?1 AND used_at IS NULL AND expires_at >= ?3),
             (SELECT COALESCE(SUM(tamano), 0) FROM attachments WHERE ticket_id = ?2),
             (SELECT COUNT(*) FROM attachments WHERE ticket_id = ?2),
             (SELECT COALESCE(SUM(tamano), 0) FROM upload_grants
                 WHERE ticket_id = ?2 AND used_at IS NULL AND expires_at >= ?3),
             (SELECT COUNT(*) FROM upload_grants
                 WHERE ticket_id = ?2 AND used_at IS NULL AND expires_at >= ?3),
             (SELECT COALESCE(SUM(tamano), 0) FROM upload_grants
                 WHERE user_id = ?1 AND creado >= ?4)";

/// Resolved tickets from the oldest resolution, read from the index
/// `tickets_resolved` (estado, resuelto_at) alone. `?1`: the cutoff; `?2`: how many.
pub(super) const RESOLVED_BEFORE_SQL: &str = "SELECT id FROM tickets
     WHERE estado = 'RESUELTO' AND resuelto_at <= ?1 ORDER BY resuelto_at, id LIMIT ?2";

/// `tickets_by_state` holds (estado, actualizado, rowid): the range and the
/// order come from it alone. `?1`, `?2`: the cursor; `?3` the cutoff; `?4`
/// the state.
pub(super) const TICKETS_INACTIVE_SQL: &str = "SELECT actualizado, id FROM tickets
     WHERE (actualizado > ?1 OR (actualizado = ?1 AND id > ?2)) AND actualizado < ?3
         AND estado = ?4
     ORDER BY actualizado, id LIMIT ?5";
