//! Appends without a round trip of their own. Each statement inside the
//! writer's transaction waits for the database, so a batch of appends run
//! one statement at a time costs two round trips per message (the ticket's
//! state and earlier copy, then the insert). Instead, the round trip that
//! takes the batch's row locks also reads what appending needs: each locked
//! ticket's state, `last_seq`, agent and host id, the earlier copies of the
//! batch's `client_id`s, and one message id per append. Appends are then
//! answered from that copy ([`Deferred`]) and their rows kept, to be written
//! by one statement before COMMIT. The ticket rows stay locked until then,
//! so the copy is the latest data and the `seq`s are gapless as before.
//!
//! Anything else a job does (see `PgTx::tx`) writes the kept rows first and
//! ends the copy: the rest of the batch runs statement by statement.

use super::reads::{query, Params};
use crate::store::columns::Stored;
use crate::store::rows::{self, message_columns_of};
use crate::store::writes::{AppendContext, Inserted, Job, MessageRow};
use crate::store::*;
use deadpool_postgres::{GenericClient, Object};
use futures_util::future;
use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;
use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;

/// What the batch read of a ticket it locked.
#[derive(Debug)]
struct Locked {
    state: TicketState,
    last_seq: Seq,
    agent: Option<UserId>,
    external_id: Option<String>,
}

/// An append's earlier copy is looked for by ticket, author and `client_id`.
type SentKey = (TicketId, UserId, String);

/// A message row kept until the batch writes them all.
#[derive(Debug)]
struct KeptRow {
    id: MessageId,
    ticket: TicketId,
    seq: Seq,
    client_id: Option<String>,
    author_id: Option<UserId>,
    author_name: String,
    author_kind: &'static str,
    author_avatar: Option<String>,
    content: String,
    kind: &'static str,
    metadata: Option<String>,
    internal: bool,
    at: i64,
    first_answer: bool,
    reply_to: Option<MessageId>,
}

/// The batch's copy of what its appends need, and the rows they kept.
#[derive(Debug, Default)]
pub struct Deferred {
    tickets: HashMap<TicketId, Locked>,
    /// Every key the jobs announced, with its earlier copy if there is one.
    earlier: HashMap<SentKey, Option<Message>>,
    rows: Vec<KeptRow>,
    /// Where the running job's rows begin in `rows`.
    job_start: usize,
}

/// Message ids the writer took from the table's sequence ahead of need.
/// One an append did not use (a duplicate, a refusal, a batch rolled back)
/// is the next one given, so that ids follow the order messages are stored
/// on a node, with no gaps, as on SQLite.
#[derive(Debug, Default)]
pub struct MessageIds {
    free: VecDeque<MessageId>,
    /// Given to messages of the running attempt, in order.
    given: Vec<MessageId>,
}

impl MessageIds {
    pub fn take(&mut self) -> Option<MessageId> {
        let id = self.free.pop_front()?;
        self.given.push(id);
        Some(id)
    }

    /// How many were given so far: a mark for [`MessageIds::take_back`].
    pub fn given(&self) -> usize {
        self.given.len()
    }

    /// Those given after `mark` were not stored (their job failed).
    pub fn take_back(&mut self, mark: usize) {
        let back: Vec<MessageId> = self.given.drain(mark.min(self.given.len())..).collect();
        self.free.extend(back);
        self.free.make_contiguous().sort_unstable();
    }

    /// The attempt ended: `stored` says whether what it gave is in the
    /// table (or may be: a COMMIT whose answer was lost).
    pub fn settle(&mut self, stored: bool) {
        if stored {
            self.given.clear();
        } else {
            self.take_back(0);
        }
    }

    fn add(&mut self, id: MessageId) {
        self.free.push_back(id);
    }

    fn len(&self) -> usize {
        self.free.len()
    }
}

const LOCK: &str = "SELECT id, estado, last_seq, agente_id, external_id FROM tickets
     WHERE id = ANY($1) OR id IN (SELECT ticket_id FROM upload_grants WHERE id = ANY($2))
     ORDER BY id FOR NO KEY UPDATE";

/// Sent after the lock on the same connection, so it reads under it.
static EARLIER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM messages m
         JOIN unnest($1::bigint[], $2::bigint[], $3::text[]) AS k (ticket_id, autor_id, client_id)
           ON m.ticket_id = k.ticket_id AND m.autor_id = k.autor_id AND m.client_id = k.client_id
         WHERE m.client_id IS NOT NULL",
        message_columns_of("m")
    )
});

const RESERVE_IDS: &str =
    "SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1::int)";

/// Locks the rows of the tickets the batch writes to, in id order, so that
/// batches on different nodes touching the same tickets queue up instead of
/// deadlocking. `FOR NO KEY UPDATE`: new messages and grants may still
/// reference the tickets (foreign keys) meanwhile. With `defer`, the same
/// round trip reads the batch's [`Deferred`] copy.
pub async fn lock(
    tx: &Object,
    jobs: &[Box<dyn Job>],
    defer: bool,
    ids: &mut MessageIds,
) -> Result<Option<Deferred>, tokio_postgres::Error> {
    let mut tickets: Vec<i64> = jobs.iter().filter_map(|job| job.locks().ticket).collect();
    let grants: Vec<&str> = jobs
        .iter()
        .filter_map(|job| job.locks().grant.as_deref())
        .collect();
    tickets.sort_unstable();
    tickets.dedup();
    let appends = jobs
        .iter()
        .filter(|job| job.locks().append.is_some())
        .count();
    if !defer || appends == 0 {
        if !tickets.is_empty() || !grants.is_empty() {
            query(tx, LOCK, &[&tickets, &grants]).await?;
        }
        return Ok(None);
    }
    let mut keys: (Vec<TicketId>, Vec<UserId>, Vec<String>) = Default::default();
    for job in jobs {
        let locks = job.locks();
        let key = locks
            .append
            .as_ref()
            .and_then(|append| Some((locks.ticket?, append.author?, append.client_id.clone()?)));
        if let Some((ticket, author, client_id)) = key {
            keys.0.push(ticket);
            keys.1.push(author);
            keys.2.push(client_id);
        }
    }
    // Prepared first (once per connection), so that each statement below
    // is sent on its first poll, in this order: the lock is taken first.
    let (lock, earlier, reserve) = future::try_join3(
        tx.prepare_cached(LOCK),
        tx.prepare_cached(&EARLIER),
        tx.prepare_cached(RESERVE_IDS),
    )
    .await?;
    let count = appends.saturating_sub(ids.len()) as i32;
    let key_values: Params = &[&keys.0, &keys.1, &keys.2];
    let (locked, earlier, reserved) = future::try_join3(
        tx.query(&lock, &[&tickets, &grants]),
        tx.query(&earlier, key_values),
        tx.query(&reserve, &[&count]),
    )
    .await?;
    let mut deferred = Deferred::default();
    for row in &locked {
        let ticket = Locked {
            state: row.try_get::<_, Stored<TicketState>>(1)?.0,
            last_seq: row.try_get(2)?,
            agent: row.try_get(3)?,
            external_id: row.try_get(4)?,
        };
        deferred.tickets.insert(row.try_get(0)?, ticket);
    }
    for ((ticket, author), client_id) in keys.0.into_iter().zip(keys.1).zip(keys.2) {
        deferred.earlier.insert((ticket, author, client_id), None);
    }
    for row in &earlier {
        let message = rows::message(row)?;
        if let (Some(author), Some(client_id)) = (message.author.id, message.client_id.clone()) {
            deferred
                .earlier
                .insert((message.ticket, author, client_id), Some(message));
        }
    }
    for row in &reserved {
        ids.add(row.try_get(0)?);
    }
    Ok(Some(deferred))
}

impl Deferred {
    /// What appending `new` needs, when the copy can tell: `None` for a
    /// ticket the batch did not lock, or a key no job announced or an
    /// earlier job of this batch sent already ([`Deferred::insert`] forgets
    /// it; the caller writes the kept rows and reads it).
    pub fn context(&self, new: &NewMessage) -> Option<AppendContext> {
        let ticket = self.tickets.get(&new.ticket)?;
        let earlier = match new.author.id.zip(new.client_id.clone()) {
            None => None,
            Some((author, client_id)) => {
                self.earlier.get(&(new.ticket, author, client_id))?.clone()
            }
        };
        Some(AppendContext {
            state: ticket.state,
            earlier,
        })
    }

    /// Did the batch lock (and read) `ticket`?
    pub fn holds(&self, ticket: TicketId) -> bool {
        self.tickets.contains_key(&ticket)
    }

    /// Keeps `row` as message `id` with its ticket's next `seq`; the
    /// ticket must be one the batch [holds](Deferred::holds).
    pub fn insert(&mut self, row: &MessageRow<'_>, id: MessageId) -> Option<Inserted> {
        let ticket = self.tickets.get_mut(&row.ticket)?;
        ticket.last_seq += 1;
        // A second copy of it is found by reading the table, not here.
        if let Some((author, client_id)) = row.author.id.zip(row.client_id) {
            self.earlier
                .remove(&(row.ticket, author, client_id.to_owned()));
        }
        self.rows.push(KeptRow {
            id,
            ticket: row.ticket,
            seq: ticket.last_seq,
            client_id: row.client_id.map(str::to_owned),
            author_id: row.author.id,
            author_name: row.author.name.clone(),
            author_kind: row.author.kind.as_str(),
            author_avatar: row.author.avatar.clone(),
            content: row.content.to_owned(),
            kind: row.kind.as_str(),
            metadata: row.metadata.map(str::to_owned),
            internal: row.internal,
            at: row.at.millis(),
            first_answer: row.first_answer,
            reply_to: row.reply_to,
        });
        Some(Inserted {
            id,
            seq: ticket.last_seq,
            ticket_agent: ticket.agent,
            external_id: ticket.external_id.clone(),
        })
    }

    /// Is message `id` among the rows kept (not in the table yet)?
    pub fn keeps(&self, id: MessageId) -> bool {
        self.rows.iter().any(|row| row.id == id)
    }

    pub fn kept(&self) -> usize {
        self.rows.len()
    }

    /// A job begins: the rows kept from here on are its own.
    pub fn begin_job(&mut self) {
        self.job_start = self.rows.len();
    }

    /// The running job failed: forgets the rows it kept and the `seq`s they
    /// took (their ids go back with [`MessageIds::take_back`]).
    pub fn forget_job(&mut self) {
        while self.rows.len() > self.job_start {
            let Some(row) = self.rows.pop() else { break };
            if let Some(ticket) = self.tickets.get_mut(&row.ticket) {
                ticket.last_seq -= 1;
            }
        }
    }

    /// Writes the kept rows, and what each ticket's row records of them, in
    /// one statement. The copy stays true: the table now holds what it says.
    /// True when rows of the running job were among them (it cannot be
    /// undone alone any more).
    pub async fn write(&mut self, tx: &Object) -> Result<bool, tokio_postgres::Error> {
        if self.rows.is_empty() {
            return Ok(false);
        }
        let statement = Self::prepare(tx).await?;
        let running_job = self.rows.len() > self.job_start;
        self.execute(tx, &statement).await?;
        Ok(running_job)
    }

    /// The statement that writes kept rows, prepared on this connection:
    /// [`Deferred::write_then_commit`] needs it ready, so that it is sent
    /// on its first poll, ahead of COMMIT.
    pub async fn prepare(tx: &Object) -> Result<Statement, tokio_postgres::Error> {
        tx.prepare_cached(WRITE).await
    }

    /// [`Deferred::write`], with COMMIT sent behind it on the same round
    /// trip: the answers to both. Should the server refuse the write, it
    /// answers that COMMIT with a rollback.
    pub async fn write_then_commit(
        &mut self,
        tx: &Object,
        statement: &Statement,
    ) -> (
        Result<(), tokio_postgres::Error>,
        Result<(), tokio_postgres::Error>,
    ) {
        future::join(self.execute(tx, statement), tx.batch_execute("COMMIT")).await
    }

    /// Sends the kept rows on its first poll.
    async fn execute(
        &mut self,
        tx: &Object,
        statement: &Statement,
    ) -> Result<(), tokio_postgres::Error> {
        let rows = std::mem::take(&mut self.rows);
        self.job_start = 0;
        let columns = MessageColumns::of(&rows);
        let tickets = TicketColumns::of(&rows);
        tx.execute(statement, &columns.values(&tickets))
            .await
            .map(drop)
    }
}

/// The kept rows, the messages' and the tickets' parts, in one statement.
/// A ticket's columns take what its last row says, as one insert at a time
/// would have left them.
const WRITE: &str = "WITH kept AS (
         INSERT INTO messages (id, ticket_id, seq, client_id, autor_id, autor_nombre, autor_tipo,
                               autor_avatar, contenido, tipo, metadata, interno, creado, reply_to)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[],
                              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                              $11::text[], $12::boolean[], $13::bigint[], $14::bigint[])
     ), authors AS (
         INSERT INTO ticket_authors (usuario_id, ticket_id)
         SELECT DISTINCT a, t FROM unnest($5::bigint[], $2::bigint[]) AS x (a, t)
         WHERE a IS NOT NULL
         ON CONFLICT DO NOTHING
     )
     UPDATE tickets SET last_seq = u.last_seq, actualizado = u.at,
         publico_seq = COALESCE(u.public_seq, tickets.publico_seq),
         publico_actualizado = COALESCE(u.public_at, tickets.publico_actualizado),
         primera_respuesta_at = COALESCE(tickets.primera_respuesta_at, u.first_answer_at)
     FROM unnest($15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[],
                 $20::bigint[]) AS u (id, last_seq, at, public_seq, public_at, first_answer_at)
     WHERE tickets.id = u.id";

/// The kept rows as one array per column (`unnest` makes rows of them).
#[derive(Default)]
struct MessageColumns<'a> {
    id: Vec<MessageId>,
    ticket: Vec<TicketId>,
    seq: Vec<Seq>,
    client_id: Vec<Option<&'a str>>,
    author_id: Vec<Option<UserId>>,
    author_name: Vec<&'a str>,
    author_kind: Vec<&'static str>,
    author_avatar: Vec<Option<&'a str>>,
    content: Vec<&'a str>,
    kind: Vec<&'static str>,
    metadata: Vec<Option<&'a str>>,
    internal: Vec<bool>,
    at: Vec<i64>,
    reply_to: Vec<Option<MessageId>>,
}

impl<'a> MessageColumns<'a> {
    /// The parameters of [`WRITE`].
    fn values<'v>(&'v self, tickets: &'v TicketColumns) -> Vec<&'v (dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.ticket,
            &self.seq,
            &self.client_id,
            &self.author_id,
            &self.author_name,
            &self.author_kind,
            &self.author_avatar,
            &self.content,
            &self.kind,
            &self.metadata,
            &self.internal,
            &self.at,
            &self.reply_to,
            &tickets.id,
            &tickets.last_seq,
            &tickets.at,
            &tickets.public_seq,
            &tickets.public_at,
            &tickets.first_answer_at,
        ]
    }

    fn of(rows: &'a [KeptRow]) -> Self {
        let mut columns = Self::default();
        for row in rows {
            columns.id.push(row.id);
            columns.ticket.push(row.ticket);
            columns.seq.push(row.seq);
            columns.client_id.push(row.client_id.as_deref());
            columns.author_id.push(row.author_id);
            columns.author_name.push(&row.author_name);
            columns.author_kind.push(row.author_kind);
            columns.author_avatar.push(row.author_avatar.as_deref());
            columns.content.push(&row.content);
            columns.kind.push(row.kind);
            columns.metadata.push(row.metadata.as_deref());
            columns.internal.push(row.internal);
            columns.at.push(row.at);
            columns.reply_to.push(row.reply_to);
        }
        columns
    }
}

/// What each ticket's row records of its kept messages: the last `seq` and
/// time, the last ones customers see, and the first answer's time.
#[derive(Default)]
struct TicketColumns {
    id: Vec<TicketId>,
    last_seq: Vec<Seq>,
    at: Vec<i64>,
    public_seq: Vec<Option<Seq>>,
    public_at: Vec<Option<i64>>,
    first_answer_at: Vec<Option<i64>>,
}

impl TicketColumns {
    fn of(rows: &[KeptRow]) -> Self {
        let mut columns = Self::default();
        let mut index: HashMap<TicketId, usize> = HashMap::new();
        for row in rows {
            let at = *index.entry(row.ticket).or_insert_with(|| {
                columns.id.push(row.ticket);
                columns.last_seq.push(0);
                columns.at.push(0);
                columns.public_seq.push(None);
                columns.public_at.push(None);
                columns.first_answer_at.push(None);
                columns.id.len() - 1
            });
            columns.last_seq[at] = row.seq;
            columns.at[at] = row.at;
            if !row.internal {
                columns.public_seq[at] = Some(row.seq);
                columns.public_at[at] = Some(row.at);
            }
            if row.first_answer && columns.first_answer_at[at].is_none() {
                columns.first_answer_at[at] = Some(row.at);
            }
        }
        columns
    }
}
