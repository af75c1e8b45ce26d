//! The rows `store::writes` reads and writes, in PostgreSQL, inside the
//! writer's batch transaction, after the batch locked the rows of the
//! tickets it touches (see `writer`): every read here is the latest
//! committed data of those tickets, whichever node wrote last.

use super::batch::{Deferred, MessageIds};
use super::reads::{self, all, execute, query, query_one, query_opt, BY_AUTHOR};
use super::writer::{is_conflict, unavailable};
use crate::domain::csat::CsatFacts;
use crate::domain::uploads::UploadUsage;
use crate::domain::webhooks::Subscription;
use crate::domain::User;
use crate::store::columns::Stored;
use crate::store::email::{EmailOutcome, EmailRow, OwedEmail};
use crate::store::erasure::{ErasureRow, Replacement};
use crate::store::rows::{
    self, customer_ticket_counts, message_columns_of, API_KEY_COLUMNS, CANDIDATE_COLUMNS,
    MESSAGE_COLUMNS, OWED_EMAIL_COLUMNS, PREVIOUS_IN_QUEUE,
};
use crate::store::webhooks::{AttemptRow, Candidate, DeliveryRow, DueClaim, EventBody, WebhookRow};
use crate::store::writes::*;
use crate::store::*;
use async_trait::async_trait;
use deadpool_postgres::Object;
use soporte_protocol::rest::CannedResponse;
use soporte_protocol::webhook::DeliveryState;
use std::collections::HashSet;
use std::sync::Arc;
use tokio_postgres::error::SqlState;

/// The advisory lock key automatic assignment takes, so two nodes do not
/// both count an agent's open tickets and give them one too many.
const AUTO_ASSIGN_LOCK: i64 = 0x0073_6f70_6f72_7461;

/// The writer's open transaction, and what its commit will make visible.
pub struct PgTx<'a> {
    /// Statements go through [`PgTx::tx`] (or [`PgTx::read_tx`]), which
    /// write the rows `deferred` keeps first.
    open: &'a Object,
    /// Appends answered from the batch's copy, their rows kept until the
    /// end; `None` once the batch runs statement by statement.
    pub deferred: Option<Deferred>,
    /// Where new messages' ids come from (before the table's default).
    pub ids: &'a mut MessageIds,
    /// The running job sent statements that change data (or wrote the
    /// kept rows): a job without a savepoint cannot be undone alone.
    pub touched: bool,
    /// A statement failed: the transaction is aborted until a savepoint
    /// is rolled back to.
    pub failed: bool,
    pub committed: Vec<Committed>,
    pub url_base: &'a str,
    /// A database error that ends the whole batch (a conflict with another
    /// node, a lost connection): the writer runs the batch again or fails
    /// it, never just the job that met it.
    pub fatal: Option<tokio_postgres::Error>,
    /// Read once per batch; forgotten when a job fails or changes them.
    pub subscriptions: Option<Arc<[Subscription]>>,
    /// The batch queued webhook deliveries: its commit wakes the workers.
    pub outbox_written: bool,
}

type R<T> = StoreResult<T>;

/// Finished webhook deliveries looked at per prune, oldest first.
const PRUNE_SLICE: i64 = 5_000;

impl<'a> PgTx<'a> {
    pub fn new(
        open: &'a Object,
        url_base: &'a str,
        deferred: Option<Deferred>,
        ids: &'a mut MessageIds,
    ) -> Self {
        PgTx {
            open,
            deferred,
            ids,
            touched: false,
            failed: false,
            committed: Vec::new(),
            url_base,
            fatal: None,
            subscriptions: None,
            outbox_written: false,
        }
    }

    /// The transaction, for any statement: the kept rows are written first
    /// and the batch's copy is dropped, since the statement may change what
    /// it says (a ticket's state, its agent).
    async fn tx(&mut self) -> R<&'a Object> {
        self.touched = true;
        if let Some(mut deferred) = self.deferred.take() {
            let written = deferred.write(self.open).await;
            self.db(written)?;
        }
        Ok(self.open)
    }

    /// The transaction, for a read that must see the kept rows: they are
    /// written first; the copy stays true.
    async fn read_tx(&mut self) -> R<&'a Object> {
        if let Some(deferred) = self.deferred.as_mut().filter(|d| d.kept() > 0) {
            // Earlier jobs' rows written now change nothing of this job's.
            let written = deferred.write(self.open).await;
            self.touched |= self.db(written)?;
        }
        Ok(self.open)
    }

    fn db<T>(&mut self, result: Result<T, tokio_postgres::Error>) -> R<T> {
        result.map_err(|error| {
            self.failed = true;
            let store_error = unavailable(&error);
            if is_conflict(&error) || super::writer::connection_lost(&error) {
                self.fatal.get_or_insert(error);
            }
            store_error
        })
    }
}

/// Deletes the attachments `which` selects (a condition on `$1`), their
/// files and thumbnails queued for removal at `$2`; answers how many files.
fn remove_files_sql(which: &str) -> String {
    format!(
        "WITH gone AS (
             DELETE FROM attachments WHERE {which}
             RETURNING storage_key, thumbnail_key
         ), queued AS (
             INSERT INTO file_deletions (storage_key, creado)
             SELECT storage_key, $2::bigint FROM gone
             UNION ALL SELECT thumbnail_key, $2::bigint FROM gone WHERE thumbnail_key IS NOT NULL
             ON CONFLICT DO NOTHING
         )
         SELECT COUNT(*) FROM gone"
    )
}

#[async_trait(?Send)]
impl WriteTx for PgTx<'_> {
    fn url_base(&self) -> &str {
        self.url_base
    }

    fn committed(&mut self, committed: Committed) {
        self.committed.push(committed);
    }

    async fn user(&mut self, id: UserId) -> R<Option<User>> {
        // The kept rows do not change users.
        let found = reads::user(self.open, id).await;
        self.db(found)
    }

    /// Most calls describe the user as stored already: those only read, and
    /// take no row lock another node's batch could queue behind.
    async fn save_user(&mut self, user: &User) -> R<()> {
        if !user.changes(self.user(user.id).await?.as_ref()) {
            return Ok(());
        }
        let written = execute(
            self.tx().await?,
            "INSERT INTO users (id, nombre, rol, avatar, email) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET nombre = excluded.nombre, rol = excluded.rol,
                 avatar = COALESCE(excluded.avatar, users.avatar), email = COALESCE(excluded.email, users.email)",
            &[&user.id, &user.name, &user.role.as_str(), &user.avatar, &user.email],
        )
        .await;
        self.db(written).map(drop)
    }

    async fn touch_last_seen(&mut self, user: UserId, at: Timestamp) -> R<()> {
        let sql = "UPDATE users SET last_seen = $2 WHERE id = $1";
        let written = execute(self.tx().await?, sql, &[&user, &at.millis()]).await;
        self.db(written).map(drop)
    }

    async fn set_availability(&mut self, user: UserId, availability: Availability) -> R<bool> {
        let sql = "UPDATE users SET disponibilidad = $2 WHERE id = $1";
        let changed = execute(self.tx().await?, sql, &[&user, &availability.as_str()]).await;
        Ok(self.db(changed)? > 0)
    }

    async fn ticket(&mut self, id: TicketId) -> R<Option<Ticket>> {
        let found = reads::load_ticket(self.read_tx().await?, id).await;
        self.db(found)
    }

    async fn ticket_state(&mut self, id: TicketId) -> R<Option<TicketState>> {
        let sql = "SELECT estado FROM tickets WHERE id = $1";
        let row = query_opt(self.read_tx().await?, sql, &[&id]).await;
        let state = row.and_then(|row| {
            row.map(|r| r.try_get::<_, Stored<TicketState>>(0))
                .transpose()
        });
        Ok(self.db(state)?.map(|s| s.0))
    }

    /// The earlier copy and the ticket's state in one round trip: only the
    /// state is needed on this hot path.
    async fn append_context(&mut self, new: &NewMessage) -> R<Option<AppendContext>> {
        if let Some(context) = self.deferred.as_ref().and_then(|d| d.context(new)) {
            return Ok(Some(context));
        }
        let ticket = new.ticket;
        let sent = new.author.id.zip(new.client_id.as_deref());
        let Some((author, client_id)) = sent else {
            return Ok(self.ticket_state(ticket).await?.map(|state| AppendContext {
                state,
                earlier: None,
            }));
        };
        let sql = format!(
            "SELECT t.estado, {} FROM tickets t
             LEFT JOIN messages m ON m.ticket_id = t.id AND m.autor_id = $2 AND m.client_id = $3
             WHERE t.id = $1",
            message_columns_of("m")
        );
        let row = query_opt(self.read_tx().await?, &sql, &[&ticket, &author, &client_id]).await;
        let context = row.and_then(|row| {
            row.map(|row| {
                let state = row.try_get::<_, Stored<TicketState>>(0)?.0;
                let earlier = match row.try_get::<_, Option<i64>>(1)? {
                    Some(_) => Some(rows::message_at(&row, 1)?),
                    None => None,
                };
                Ok(AppendContext { state, earlier })
            })
            .transpose()
        });
        self.db(context)
    }

    async fn insert_ticket(&mut self, row: &TicketRow<'_>) -> R<Option<TicketId>> {
        let sql =
            "INSERT INTO tickets (asunto, cliente_id, external_id, metadata, creado, actualizado, publico_actualizado)
             VALUES ($1, $2, $3, $4, $5, $5, $5)
             ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING RETURNING id";
        let values: reads::Params = &[
            &row.subject,
            &row.customer,
            &row.external_id,
            &row.metadata,
            &row.at.millis(),
        ];
        let id = query_opt(self.tx().await?, sql, values)
            .await
            .and_then(|found| found.map(|r| r.try_get(0)).transpose());
        self.db(id)
    }

    async fn ticket_by_external_id(&mut self, external_id: &str) -> R<Option<TicketId>> {
        let sql = "SELECT id FROM tickets WHERE external_id = $1";
        let found = query_opt(self.tx().await?, sql, &[&external_id])
            .await
            .and_then(|found| found.map(|r| r.try_get(0)).transpose());
        self.db(found)
    }

    async fn is_active(&mut self, user: UserId) -> R<bool> {
        let sql = "SELECT activo FROM users WHERE id = $1";
        let found = query_opt(self.tx().await?, sql, &[&user])
            .await
            .and_then(|found| found.map(|r| r.try_get(0)).transpose());
        Ok(self.db(found)?.unwrap_or(false))
    }

    async fn provision_user(&mut self, user: &User, active: bool) -> R<bool> {
        let existed = self.user(user.id).await?.is_some();
        let written = execute(
            self.tx().await?,
            "INSERT INTO users (id, nombre, rol, avatar, email, activo) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET nombre = excluded.nombre, rol = excluded.rol,
                 avatar = excluded.avatar, email = excluded.email, activo = excluded.activo",
            &[&user.id, &user.name, &user.role.as_str(), &user.avatar, &user.email, &active],
        )
        .await;
        self.db(written)?;
        Ok(!existed)
    }

    /// One node at a time counts and assigns (held until commit).
    async fn lock_auto_assign(&mut self) -> R<()> {
        let locked = execute(
            self.tx().await?,
            "SELECT pg_advisory_xact_lock($1)",
            &[&AUTO_ASSIGN_LOCK],
        )
        .await;
        self.db(locked).map(drop)
    }

    async fn open_tickets_of(&mut self, agent: UserId) -> R<i64> {
        let open = reads::open_tickets_of(self.tx().await?, agent).await;
        self.db(open)
    }

    async fn customer_tickets(&mut self, customer: UserId, since: Timestamp) -> R<(i64, i64)> {
        let sql = customer_ticket_counts("$1", "$2");
        let values: reads::Params = &[&customer, &since.millis()];
        // An aggregate: always one row.
        let counts = query_one(self.tx().await?, &sql, values)
            .await
            .and_then(|row| Ok((row.try_get(0)?, row.try_get(1)?)));
        self.db(counts)
    }

    async fn set_agent(&mut self, ticket: TicketId, agent: UserId, at: Timestamp) -> R<()> {
        let sql = "UPDATE tickets SET agente_id = $2, actualizado = $3, publico_actualizado = $3,
                 asignado_at = COALESCE(asignado_at, $3) WHERE id = $1";
        let written = execute(self.tx().await?, sql, &[&ticket, &agent, &at.millis()]).await;
        self.db(written).map(drop)
    }

    async fn set_state(&mut self, ticket: TicketId, change: &StateChange) -> R<()> {
        let (state, at) = (change.state, change.at);
        let resolved_at = rows::resolved_at(change.resolved, "$3");
        let sql = format!(
            "UPDATE tickets SET estado = $2, actualizado = $3, publico_actualizado = $3,
                 resuelto_at = {resolved_at} WHERE id = $1"
        );
        let written = execute(
            self.tx().await?,
            &sql,
            &[&ticket, &state.as_str(), &at.millis()],
        )
        .await;
        self.db(written).map(drop)
    }

    /// The ticket's next `seq` (under the ticket row's lock) and the row, in
    /// one statement.
    async fn insert_message(&mut self, row: &MessageRow<'_>) -> R<Option<Inserted>> {
        if let Some(deferred) = self.deferred.as_mut().filter(|d| d.holds(row.ticket)) {
            if let Some(id) = self.ids.take() {
                return Ok(deferred.insert(row, id));
            }
        }
        let tx = self.tx().await?;
        let id = self.ids.take();
        let inserted = query_opt(
            tx,
            "WITH t AS (
                 UPDATE tickets SET last_seq = last_seq + 1, actualizado = $11,
                     publico_seq = CASE WHEN $10 THEN publico_seq ELSE last_seq + 1 END,
                     publico_actualizado = CASE WHEN $10 THEN publico_actualizado ELSE $11 END,
                     primera_respuesta_at = CASE WHEN $12 AND primera_respuesta_at IS NULL THEN $11
                                                 ELSE primera_respuesta_at END
                 WHERE id = $1 RETURNING last_seq, agente_id, external_id
             ), author AS (
                 INSERT INTO ticket_authors (usuario_id, ticket_id)
                 SELECT $3::bigint, $1::bigint FROM t WHERE $3::bigint IS NOT NULL
                 ON CONFLICT DO NOTHING
             )
             INSERT INTO messages (id, ticket_id, seq, client_id, autor_id, autor_nombre, autor_tipo, autor_avatar,
                                   contenido, tipo, metadata, interno, creado, reply_to)
             SELECT COALESCE($14::bigint, nextval(pg_get_serial_sequence('messages', 'id'))),
                    $1::bigint, t.last_seq, $2::text, $3::bigint, $4::text, $5::text, $6::text,
                    $7::text, $8::text, $9::text, $10::boolean, $11::bigint, $13::bigint FROM t
             RETURNING id, seq, (SELECT agente_id FROM t), (SELECT external_id FROM t)",
            &[
                &row.ticket,
                &row.client_id,
                &row.author.id,
                &row.author.name,
                &row.author.kind.as_str(),
                &row.author.avatar,
                &row.content,
                &row.kind.as_str(),
                &row.metadata,
                &row.internal,
                &row.at.millis(),
                &row.first_answer,
                &row.reply_to,
                &id,
            ],
        )
        .await
        .and_then(|found| {
            found
                .map(|r| {
                    Ok(Inserted {
                        id: r.try_get(0)?,
                        seq: r.try_get(1)?,
                        ticket_agent: r.try_get(2)?,
                        external_id: r.try_get(3)?,
                    })
                })
                .transpose()
        });
        self.db(inserted)
    }

    async fn message(&mut self, ticket: TicketId, id: MessageId) -> R<Option<Message>> {
        let sql =
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND ticket_id = $2");
        // An earlier message (a reply's) is in the table unless kept.
        let kept = self.deferred.as_ref().is_some_and(|d| d.keeps(id));
        let tx = if kept {
            self.read_tx().await?
        } else {
            self.open
        };
        let found = query_opt(tx, &sql, &[&id, &ticket])
            .await
            .and_then(|row| row.map(|row| rows::message(&row)).transpose());
        self.db(found)
    }

    async fn fill_attachments(&mut self, messages: &mut [Message]) -> R<()> {
        let filled = reads::fill_attachments(self.tx().await?, messages, self.url_base).await;
        self.db(filled)
    }

    async fn change_message(&mut self, row: &edits::ChangeRow<'_>) -> R<u64> {
        let sql = format!("{} RETURNING rev", reads::dollars(edits::NEXT_REV_SQL));
        let rev = query_one(self.tx().await?, &sql, &[&row.ticket])
            .await
            .and_then(|r| r.try_get::<_, i64>(0));
        let rev = self.db(rev)?;
        let deleted = row.change == MessageChange::Deleted;
        let at = row.at.millis();
        let changed = execute(
            self.tx().await?,
            &reads::dollars(edits::CHANGE_SQL),
            &[&row.message, &row.content, &deleted, &rev, &at],
        )
        .await;
        self.db(changed)?;
        let kept = execute(
            self.tx().await?,
            &reads::dollars(edits::VERSION_SQL),
            &[
                &row.message,
                &rev,
                &row.previous,
                &row.change.as_str(),
                &row.by,
                &at,
            ],
        )
        .await;
        self.db(kept)?;
        Ok(rev as u64)
    }

    async fn remove_attachments(&mut self, message: MessageId, at: Timestamp) -> R<u64> {
        let count = query_one(
            self.tx().await?,
            &remove_files_sql("mensaje_id = $1"),
            &[&message, &at.millis()],
        )
        .await
        .and_then(|r| r.try_get::<_, i64>(0));
        Ok(self.db(count)?.max(0) as u64)
    }

    async fn visible_seqs(&mut self, receipt: &Receipt<'_>) -> R<HashMap<MessageId, Seq>> {
        let (ticket, ids, sees_internal) = (receipt.ticket, receipt.ids, receipt.sees_internal);
        let notes = if sees_internal {
            ""
        } else {
            " AND NOT interno"
        };
        let sql =
            format!("SELECT id, seq FROM messages WHERE id = ANY($1) AND ticket_id = $2{notes}");
        let found = query(self.tx().await?, &sql, &[&ids, &ticket])
            .await
            .and_then(|rows| {
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect()
            });
        self.db(found)
    }

    async fn mark_read(&mut self, receipt: &Receipt<'_>) -> R<HashSet<MessageId>> {
        let (ticket, ids, at) = (receipt.ticket, receipt.ids, receipt.at);
        let sql = format!(
            "UPDATE messages SET estado = 'LEIDO', leido_at = $3
             WHERE id = ANY($1) AND ticket_id = $2 AND estado = 'ENTREGADO' AND autor_tipo IN ({})
             RETURNING id",
            rows::author_kinds(receipt.authors)
        );
        let marked = query(self.tx().await?, &sql, &[&ids, &ticket, &at.millis()])
            .await
            .and_then(|rows| rows.iter().map(|row| row.try_get(0)).collect());
        self.db(marked)
    }

    async fn advance_read_cursor(&mut self, ticket: TicketId, user: UserId, seq: Seq) -> R<()> {
        let written = execute(
            self.tx().await?,
            "INSERT INTO ticket_reads (ticket_id, user_id, last_read_seq) VALUES ($1, $2, $3)
             ON CONFLICT (ticket_id, user_id) DO UPDATE
             SET last_read_seq = GREATEST(ticket_reads.last_read_seq, excluded.last_read_seq)",
            &[&ticket, &user, &seq],
        )
        .await;
        self.db(written).map(drop)
    }

    async fn insert_grant(&mut self, grant: &UploadGrant) -> R<()> {
        let written = execute(
            self.tx().await?,
            "INSERT INTO upload_grants (id, credential_hash, user_id, ticket_id, nombre, tamano, extension, expires_at, creado)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &grant.upload_id,
                &grant.credential_hash,
                &grant.user,
                &grant.ticket,
                &grant.name,
                &(grant.size as i64),
                &grant.extension,
                &grant.expires_at.millis(),
                &grant.created_at.millis(),
            ],
        )
        .await;
        self.db(written).map(drop)
    }

    async fn upload_grant(&mut self, upload_id: &str) -> R<Option<GrantState>> {
        let found = reads::upload_grant(self.tx().await?, upload_id).await;
        self.db(found)
    }

    async fn use_grant(&mut self, upload_id: &str, at: Timestamp) -> R<bool> {
        let sql = "UPDATE upload_grants SET used_at = $2 WHERE id = $1 AND used_at IS NULL";
        let taken = execute(self.tx().await?, sql, &[&upload_id, &at.millis()]).await;
        Ok(self.db(taken)? > 0)
    }

    async fn purge_grants(&mut self, expired_before: Timestamp) -> R<usize> {
        let sql = "DELETE FROM upload_grants WHERE expires_at < $1";
        let purged = execute(self.tx().await?, sql, &[&expired_before.millis()]).await;
        Ok(self.db(purged)? as usize)
    }

    async fn upload_usage(
        &mut self,
        user: UserId,
        ticket: TicketId,
        now: Timestamp,
        since: Timestamp,
    ) -> R<UploadUsage> {
        let sql = "SELECT
             (SELECT COALESCE(SUM(tamano), 0)::bigint FROM attachments WHERE usuario_id = $1),
             (SELECT COUNT(*) FROM attachments WHERE usuario_id = $1),
             (SELECT COALESCE(SUM(tamano), 0)::bigint FROM upload_grants
                 WHERE user_id = $1 AND used_at IS NULL AND expires_at >= $3),
             (SELECT COUNT(*) FROM upload_grants
                 WHERE user_id = $1 AND used_at IS NULL AND expires_at >= $3),
             (SELECT COALESCE(SUM(tamano), 0)::bigint FROM attachments WHERE ticket_id = $2),
             (SELECT COUNT(*) FROM attachments WHERE ticket_id = $2),
             (SELECT COALESCE(SUM(tamano), 0)::bigint FROM upload_grants
                 WHERE ticket_id = $2 AND used_at IS NULL AND expires_at >= $3),
             (SELECT COUNT(*) FROM upload_grants
                 WHERE ticket_id = $2 AND used_at IS NULL AND expires_at >= $3),
             (SELECT COALESCE(SUM(tamano), 0)::bigint FROM upload_grants
                 WHERE user_id = $1 AND creado >= $4)";
        let found = query_one(
            self.tx().await?,
            sql,
            &[&user, &ticket, &now.millis(), &since.millis()],
        )
        .await
        .and_then(|row| {
            let mut values = [0i64; 9];
            for (i, value) in values.iter_mut().enumerate() {
                *value = row.try_get(i)?;
            }
            Ok(values)
        });
        Ok(rows::upload_usage(self.db(found)?))
    }

    async fn insert_attachment(&mut self, row: &AttachmentRow<'_>) -> R<i64> {
        let id = query_one(
            self.tx().await?,
            "INSERT INTO attachments (ticket_id, mensaje_id, storage_key, nombre, tamano, tipo_mime, sha256, thumbnail_key, creado, usuario_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &row.ticket,
                &row.message,
                &row.file.key,
                &row.name,
                &(row.file.size as i64),
                &row.file.mime,
                &row.file.sha256,
                &row.file.thumbnail_key,
                &row.at.millis(),
                &row.uploader,
            ],
        )
        .await
        .and_then(|row| row.try_get(0));
        self.db(id)
    }

    async fn canned_with_shortcut(&mut self, shortcut: &str) -> R<Option<i64>> {
        let sql = "SELECT id FROM respuestas WHERE atajo = $1";
        let found = query_opt(self.tx().await?, sql, &[&shortcut])
            .await
            .and_then(|row| row.map(|r| r.try_get(0)).transpose());
        self.db(found)
    }

    /// Another node may take the shortcut between the check and the write:
    /// the unique index refuses it.
    async fn save_canned(&mut self, row: &CannedRow<'_>) -> R<CannedSave> {
        let (id, input, by) = (row.id, row.input, row.by);
        let at = row.at.millis();
        let saved = match id {
            Some(id) => execute(
                self.tx().await?,
                "UPDATE respuestas SET atajo = $2, texto = $3, actualizado = $4 WHERE id = $1",
                &[&id, &input.shortcut, &input.text, &at],
            )
            .await
            .map(|changed| if changed == 0 { CannedSave::NotFound } else { CannedSave::Saved(id) }),
            None => query_one(
                self.tx().await?,
                "INSERT INTO respuestas (atajo, texto, creado_por, creado, actualizado) VALUES ($1, $2, $3, $4, $4) RETURNING id",
                &[&input.shortcut, &input.text, &by, &at],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map(CannedSave::Saved),
        };
        match saved {
            Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Ok(CannedSave::ShortcutTaken)
            }
            other => self.db(other),
        }
    }

    async fn canned_response(&mut self, id: i64) -> R<Option<CannedResponse>> {
        let found = reads::canned_response(self.tx().await?, id).await;
        self.db(found)
    }

    async fn delete_canned(&mut self, id: i64) -> R<bool> {
        let deleted = execute(
            self.tx().await?,
            "DELETE FROM respuestas WHERE id = $1",
            &[&id],
        )
        .await;
        Ok(self.db(deleted)? > 0)
    }

    async fn insert_api_key(&mut self, row: &ApiKeyRow<'_>) -> R<Option<ApiKey>> {
        let sql = format!(
            "INSERT INTO api_keys (name, prefix, key_hash, created) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING {API_KEY_COLUMNS}"
        );
        let values: reads::Params = &[&row.name, &row.prefix, &row.hash, &row.at.millis()];
        let inserted = query_opt(self.tx().await?, &sql, values)
            .await
            .and_then(|found| found.map(|r| rows::api_key(&r)).transpose());
        Ok(self.db(inserted)?.map(|stored| stored.key))
    }

    async fn revoke_api_key(&mut self, name: &str, at: Timestamp) -> R<bool> {
        let sql = "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL";
        let changed = execute(self.tx().await?, sql, &[&name, &at.millis()]).await;
        Ok(self.db(changed)? > 0)
    }

    async fn touch_api_key(&mut self, id: i64, at: Timestamp) -> R<()> {
        let sql = "UPDATE api_keys SET last_used = $2 WHERE id = $1";
        let written = execute(self.tx().await?, sql, &[&id, &at.millis()]).await;
        self.db(written).map(drop)
    }

    async fn subscriptions(&mut self) -> R<Arc<[Subscription]>> {
        if let Some(cached) = &self.subscriptions {
            return Ok(cached.clone());
        }
        // The kept rows do not change subscriptions.
        let read = reads::subscriptions(self.open).await;
        let read: Arc<[Subscription]> = self.db(read)?.into();
        self.subscriptions = Some(read.clone());
        Ok(read)
    }

    async fn insert_delivery(&mut self, row: &DeliveryRow<'_>) -> R<()> {
        let sql = "INSERT INTO webhook_deliveries (webhook_id, evento_id, tipo, ticket_id, cuerpo, mensaje_id, creado, proximo_intento)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
        let (body, message) = match row.body {
            EventBody::Written(body) => (Some(body), None),
            EventBody::Message(id) => (None, Some(id)),
        };
        let values: reads::Params = &[
            &row.webhook,
            &row.event_id,
            &row.event.as_str(),
            &row.ticket,
            &body,
            &message,
            &row.at.millis(),
        ];
        // Neither kept rows nor tickets are read or changed here: the copy
        // stays (webhook deliveries would otherwise end it at every
        // append). It is a write all the same.
        self.touched = true;
        let written = execute(self.open, sql, values).await;
        self.db(written)?;
        self.outbox_written = true;
        Ok(())
    }

    async fn insert_webhook(&mut self, row: &WebhookRow<'_>) -> R<i64> {
        let sql =
            "INSERT INTO webhooks (url, eventos, incluir_internos, descripcion, secreto, creado)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        let values: reads::Params = &[
            &row.url,
            &row.events,
            &row.include_internal,
            &row.description,
            &row.secret,
            &row.at.millis(),
        ];
        let id = query_one(self.tx().await?, sql, values)
            .await
            .and_then(|r| r.try_get(0));
        self.subscriptions = None;
        self.db(id)
    }

    async fn delete_webhook(&mut self, id: i64, at: Timestamp) -> R<bool> {
        let sql = "UPDATE webhooks SET borrado = $2 WHERE id = $1 AND borrado IS NULL";
        let deleted = execute(self.tx().await?, sql, &[&id, &at.millis()]).await;
        let deleted = self.db(deleted)?;
        // What it was still owed is given up with it.
        let sql = "UPDATE webhook_deliveries SET estado = 'fallido', terminado = $2, reclamado_hasta = NULL
             WHERE webhook_id = $1 AND estado = 'pendiente'";
        let given_up = execute(self.tx().await?, sql, &[&id, &at.millis()]).await;
        self.db(given_up)?;
        self.subscriptions = None;
        Ok(deleted > 0)
    }

    async fn redeliver(&mut self, webhook: i64, delivery: i64, at: Timestamp) -> R<bool> {
        let sql = "UPDATE webhook_deliveries
             SET estado = 'pendiente', proximo_intento = $3, reclamado_hasta = NULL, terminado = NULL
             WHERE id = $2 AND webhook_id = $1
               AND webhook_id IN (SELECT id FROM webhooks WHERE borrado IS NULL)";
        let queued = execute(self.tx().await?, sql, &[&webhook, &delivery, &at.millis()]).await;
        if self.db(queued)? == 0 {
            return Ok(false);
        }
        // Asked by a person who fixed the endpoint: try it at once.
        let sql = "UPDATE webhooks SET pausado_hasta = NULL WHERE id = $1";
        let resumed = execute(self.tx().await?, sql, &[&webhook]).await;
        self.db(resumed)?;
        self.outbox_written = true;
        Ok(true)
    }

    async fn due_candidates(&mut self, claim: &DueClaim) -> R<Vec<Candidate>> {
        // SKIP LOCKED: rows another node's worker is claiming right now are
        // left to it (and `webhooks::runs` keeps a queue's order around them).
        let sql = format!(
            "SELECT {CANDIDATE_COLUMNS}, {PREVIOUS_IN_QUEUE} FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.estado = 'pendiente' AND (d.intentos = 0 OR d.proximo_intento <= $1)
               AND (d.reclamado_hasta IS NULL OR d.reclamado_hasta <= $1)
               AND w.borrado IS NULL AND (w.pausado_hasta IS NULL OR w.pausado_hasta <= $1)
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                               WHERE e.webhook_id = d.webhook_id AND e.ticket_id = d.ticket_id
                                 AND e.estado = 'pendiente' AND e.id < d.id
                                 AND (e.reclamado_hasta IS NOT NULL OR e.intentos > 0)
                                 AND (e.proximo_intento > $1 OR e.reclamado_hasta > $1))
             ORDER BY d.id LIMIT $2
             FOR UPDATE OF d SKIP LOCKED"
        );
        let values: reads::Params = &[&claim.now.millis(), &(claim.limit as i64)];
        let found = query(self.tx().await?, &sql, values)
            .await
            .and_then(|found| {
                found
                    .iter()
                    .map(rows::candidate)
                    .collect::<Result<Vec<_>, _>>()
            });
        self.db(found)
    }

    async fn lease_deliveries(&mut self, ids: &[i64], until: Timestamp) -> R<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = "UPDATE webhook_deliveries SET reclamado_hasta = $2 WHERE id = ANY($1)";
        let written = execute(self.tx().await?, sql, &[&ids, &until.millis()]).await;
        self.db(written).map(drop)
    }

    async fn release_deliveries(&mut self, ids: &[i64]) -> R<()> {
        let sql = "UPDATE webhook_deliveries SET reclamado_hasta = NULL WHERE id = ANY($1) AND estado = 'pendiente'";
        let written = execute(self.tx().await?, sql, &[&ids]).await;
        self.db(written).map(drop)
    }

    async fn record_attempt(&mut self, row: &AttemptRow<'_>) -> R<()> {
        if row.state == DeliveryState::Delivered {
            // The delivering attempt lives on the delivery's row.
            let sql = "UPDATE webhook_deliveries
                 SET estado = 'entregado', intentos = GREATEST(intentos, $2), terminado = $3,
                     estado_http = $4, latencia_ms = $5, reclamado_hasta = NULL
                 WHERE id = $1 AND estado = 'pendiente'";
            let values: reads::Params = &[
                &row.delivery,
                &(row.attempt as i64),
                &row.at.millis(),
                &row.status.map(i64::from),
                &(row.latency_ms as i64),
            ];
            let written = execute(self.tx().await?, sql, values).await;
            return self.db(written).map(drop);
        }
        let sql = "INSERT INTO webhook_attempts (delivery_id, intento, en, estado_http, error, latencia_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
        let values: reads::Params = &[
            &row.delivery,
            &(row.attempt as i64),
            &row.at.millis(),
            &row.status.map(i64::from),
            &row.error,
            &(row.latency_ms as i64),
        ];
        let written = execute(self.tx().await?, sql, values).await;
        self.db(written)?;
        let sql = "UPDATE webhook_deliveries
             SET estado = $2, intentos = GREATEST(intentos, $3), proximo_intento = $4, reclamado_hasta = NULL,
                 terminado = CASE WHEN $2 = 'pendiente' THEN NULL ELSE $5::bigint END
             WHERE id = $1 AND estado = 'pendiente'";
        let values: reads::Params = &[
            &row.delivery,
            &row.state.as_str(),
            &(row.attempt as i64),
            &row.next_attempt.millis(),
            &row.at.millis(),
        ];
        let moved = execute(self.tx().await?, sql, values).await;
        self.db(moved).map(drop)
    }

    async fn count_failure(&mut self, webhook: i64, failed: bool) -> R<u32> {
        let sql = "UPDATE webhooks SET fallos_seguidos = CASE WHEN $2 THEN fallos_seguidos + 1 ELSE 0 END,
                 pausado_hasta = CASE WHEN $2 THEN pausado_hasta ELSE NULL END
             WHERE id = $1 RETURNING fallos_seguidos";
        let failures = query_opt(self.tx().await?, sql, &[&webhook, &failed])
            .await
            .and_then(|found| found.map(|r| r.try_get::<_, i64>(0)).transpose());
        Ok(self.db(failures)?.unwrap_or(0).clamp(0, u32::MAX as i64) as u32)
    }

    async fn pause_webhook(&mut self, webhook: i64, until: Timestamp) -> R<()> {
        let sql = "UPDATE webhooks SET pausado_hasta = $2 WHERE id = $1";
        let written = execute(self.tx().await?, sql, &[&webhook, &until.millis()]).await;
        self.db(written).map(drop)
    }

    async fn prune_deliveries(&mut self, finished_before: Timestamp) -> R<usize> {
        // The oldest rows by id, a slice at a time: no index on `terminado`
        // for every delivery to keep up.
        let sql = "DELETE FROM webhook_deliveries WHERE id IN (
                 SELECT id FROM webhook_deliveries ORDER BY id LIMIT $2)
               AND estado <> 'pendiente' AND terminado < $1";
        let deleted = execute(
            self.tx().await?,
            sql,
            &[&finished_before.millis(), &PRUNE_SLICE],
        )
        .await;
        Ok(self.db(deleted)? as usize)
    }

    async fn erase_files(&mut self, user: UserId, at: Timestamp) -> R<u64> {
        let which = format!("mensaje_id IN (SELECT id FROM messages WHERE {BY_AUTHOR})");
        let count = query_one(
            self.tx().await?,
            &remove_files_sql(&which),
            &[&user, &at.millis()],
        )
        .await
        .and_then(|r| r.try_get::<_, i64>(0));
        Ok(self.db(count)?.max(0) as u64)
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
        let versions = execute(self.tx().await?, &sql, &[&user]).await;
        self.db(versions)?;
        let sql = format!(
            "UPDATE messages SET contenido = $2, metadata = NULL, autor_nombre = $3,
                 autor_avatar = NULL, eliminado = TRUE
             WHERE {BY_AUTHOR} RETURNING ticket_id"
        );
        let touched = query(
            self.tx().await?,
            &sql,
            &[&user, &replacement.content, &replacement.name],
        )
        .await
        .and_then(|found| {
            found
                .iter()
                .map(|r| r.try_get::<_, TicketId>(0))
                .collect::<Result<Vec<_>, _>>()
        });
        self.db(touched)
    }

    async fn erase_person(&mut self, user: UserId, name: &str) -> R<()> {
        let sql =
            "UPDATE users SET nombre = $2, avatar = NULL, email = NULL, activo = FALSE WHERE id = $1";
        let written = execute(self.tx().await?, sql, &[&user, &name]).await;
        self.db(written)?;
        // Their address goes with them, and nothing more is sent to it.
        let owed = "DELETE FROM email_outbox WHERE usuario_id = $1";
        let written = execute(self.tx().await?, owed, &[&user]).await;
        self.db(written).map(drop)
    }

    async fn record_erasure(&mut self, row: &ErasureRow<'_>) -> R<()> {
        let sql = "INSERT INTO erasures (usuario_id, por, en, mensajes, archivos) VALUES ($1, $2, $3, $4, $5)";
        let values: reads::Params = &[
            &row.user,
            &row.by,
            &row.at.millis(),
            &(row.messages as i64),
            &(row.files as i64),
        ];
        let written = execute(self.tx().await?, sql, values).await;
        self.db(written).map(drop)
    }

    async fn tickets_inactive(
        &mut self,
        state: TicketState,
        after: (Timestamp, TicketId),
        before: Timestamp,
        limit: usize,
    ) -> R<Vec<(Timestamp, TicketId)>> {
        let sql = "SELECT actualizado, id FROM tickets
             WHERE (actualizado, id) > ($1, $2) AND actualizado < $3 AND estado = $4
             ORDER BY actualizado, id LIMIT $5";
        let found = query(
            self.tx().await?,
            sql,
            &[
                &after.0.millis(),
                &after.1,
                &before.millis(),
                &state.as_str(),
                &(limit as i64),
            ],
        )
        .await
        .and_then(|rows| {
            rows.iter()
                .map(|row| Ok((Timestamp::from_millis(row.try_get(0)?), row.try_get(1)?)))
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        });
        self.db(found)
    }

    async fn expire_files(&mut self, tickets: &[TicketId], at: Timestamp) -> R<u64> {
        let sql = remove_files_sql("ticket_id = ANY($1)");
        let count = query_one(self.tx().await?, &sql, &[&tickets, &at.millis()])
            .await
            .and_then(|r| r.try_get::<_, i64>(0));
        Ok(self.db(count)?.max(0) as u64)
    }

    async fn resolved_before(&mut self, before: Timestamp, limit: usize) -> R<Vec<TicketId>> {
        // Locked here, as the tickets a job names are before it runs; one
        // another transaction holds is left for the next sweep, so this
        // never waits on (nor deadlocks with) another node's batch.
        let sql = "SELECT id FROM tickets
             WHERE estado = 'RESUELTO' AND resuelto_at <= $1 ORDER BY resuelto_at, id LIMIT $2
             FOR UPDATE SKIP LOCKED";
        let found = query(self.tx().await?, sql, &[&before.millis(), &(limit as i64)])
            .await
            .and_then(|rows| rows.iter().map(|row| row.try_get(0)).collect());
        self.db(found)
    }

    async fn csat_facts(&mut self, ticket: TicketId) -> R<CsatFacts> {
        let sql = "SELECT MAX(creado) FILTER (WHERE autor_tipo IN ('AGENTE', 'SUPERVISOR')
                                            AND NOT interno),
                          COALESCE(BOOL_OR(autor_tipo = 'CLIENTE'), false)
                   FROM messages WHERE ticket_id = $1";
        let facts = query_one(self.tx().await?, sql, &[&ticket])
            .await
            .and_then(|row| {
                Ok(CsatFacts {
                    last_staff_reply: row
                        .try_get::<_, Option<i64>>(0)?
                        .map(Timestamp::from_millis),
                    customer_wrote: row.try_get(1)?,
                })
            });
        self.db(facts)
    }

    async fn set_csat(&mut self, ticket: TicketId, rating: &Rating) -> R<()> {
        let sql = "UPDATE tickets SET csat_puntuacion = $2, csat_comentario = $3, csat_creado = $4
                   WHERE id = $1";
        let score = i16::from(rating.score);
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&ticket, &score, &rating.comment, &rating.created.millis()];
        let written = execute(self.tx().await?, sql, &params).await;
        self.db(written).map(drop)
    }

    async fn put_setting(&mut self, key: &str, value: Option<&str>, at: Timestamp) -> R<()> {
        let written = match value {
            Some(value) => {
                let sql = "INSERT INTO ajustes (clave, valor, actualizado) VALUES ($1, $2, $3)
                     ON CONFLICT (clave) DO UPDATE SET valor = $2, actualizado = $3";
                execute(self.tx().await?, sql, &[&key, &value, &at.millis()]).await
            }
            None => {
                execute(
                    self.tx().await?,
                    "DELETE FROM ajustes WHERE clave = $1",
                    &[&key],
                )
                .await
            }
        };
        self.db(written).map(drop)
    }

    async fn queue_email(&mut self, row: &EmailRow<'_>) -> R<()> {
        let sql = "INSERT INTO email_outbox (ticket_id, usuario_id, para, tipo, desde_seq, debido, creado)
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
        let values: reads::Params = &[
            &row.ticket,
            &row.user,
            &row.to,
            &row.kind,
            &row.from_seq,
            &row.due.millis(),
            &row.at.millis(),
        ];
        let written = execute(self.tx().await?, sql, values).await;
        self.db(written).map(drop)
    }

    async fn last_email(
        &mut self,
        ticket: TicketId,
        user: UserId,
        kind: &str,
    ) -> R<Option<Timestamp>> {
        let sql = reads::dollars(rows::LAST_EMAIL_SQL);
        let at = query_one(self.tx().await?, &sql, &[&ticket, &user, &kind])
            .await
            .and_then(|row| row.try_get::<_, Option<i64>>(0));
        Ok(self.db(at)?.map(Timestamp::from_millis))
    }

    async fn claim_emails(
        &mut self,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> R<Vec<OwedEmail>> {
        // Another node's claim holds its rows locked: skipped, never waited on.
        let sql = format!(
            "UPDATE email_outbox SET reclamado_hasta = $2 WHERE id IN (
                 SELECT id FROM email_outbox
                 WHERE estado = 'pendiente' AND debido <= $1
                   AND (reclamado_hasta IS NULL OR reclamado_hasta <= $1)
                 ORDER BY debido LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING {OWED_EMAIL_COLUMNS}"
        );
        let found = query(
            self.tx().await?,
            &sql,
            &[&now.millis(), &until.millis(), &(limit as i64)],
        )
        .await
        .and_then(|rows| all(&rows, rows::owed_email));
        self.db(found)
    }

    async fn finish_email(&mut self, id: i64, outcome: &EmailOutcome, at: Timestamp) -> R<bool> {
        let (state, next, error) = rows::email_outcome(outcome);
        let sql = "UPDATE email_outbox SET estado = $2, intentos = intentos + 1,
                       reclamado_hasta = $3, error = $4,
                       terminado = CASE WHEN $2 = 'pendiente' THEN NULL ELSE $5::bigint END
                   WHERE id = $1 AND estado = 'pendiente'";
        let next = next.map(|t| t.millis());
        let values: reads::Params = &[&id, &state, &next, &error, &at.millis()];
        let written = execute(self.tx().await?, sql, values).await;
        Ok(self.db(written)? > 0)
    }

    async fn files_removed(&mut self, keys: &[String]) -> R<()> {
        let sql = "DELETE FROM file_deletions WHERE storage_key = ANY($1)";
        let written = execute(self.tx().await?, sql, &[&keys]).await;
        self.db(written).map(drop)
    }
}
