//! The recent history of each ticket in Redis (the guide's "Obtener
//! historial reciente"), in front of the database for the greeting every
//! connection gets.
//!
//! The cache is never the source of truth:
//! - it is written only after the database commit (a new message is added
//!   once `append` returned; a ticket whose messages change, by a receipt,
//!   an attachment or a change of the ticket, is forgotten);
//! - an entry is used only if its messages are consecutive and its newest
//!   is the ticket's `last_seq` in the database; anything else (a miss, a
//!   hole left by a failed write, an entry older than the ticket) is read
//!   from the database, and the cache is refilled from what was read;
//! - Redis unreachable means every read goes to the database.

use super::Redis;
use crate::domain::User;
use crate::store::*;
use async_trait::async_trait;
use soporte_protocol::rest::{CannedResponse, ChatStats, TicketView};
use soporte_protocol::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Messages kept per ticket: enough for the greeting's 50 even with
/// internal notes among them.
const KEPT: usize = 100;
/// A ticket nobody reads or writes for this long leaves the cache.
const KEY_TTL_SECONDS: i64 = 3_600;

fn key(ticket: TicketId) -> String {
    format!("soporte:recent:{ticket}")
}

/// A [`Store`] with the recent-history cache in front of `inner`.
pub struct CachedStore {
    inner: DynStore,
    redis: Arc<Redis>,
}

impl CachedStore {
    pub fn new(inner: DynStore, redis: Arc<Redis>) -> CachedStore {
        CachedStore { inner, redis }
    }

    async fn add(&self, message: &Message) {
        let json = serde_json::to_string(message).expect("message serializes");
        let key = key(message.ticket);
        let mut pipe = redis::pipe();
        pipe.zadd(&key, json, message.seq)
            .ignore()
            .zremrangebyrank(&key, 0, -(KEPT as isize) - 1)
            .ignore()
            .expire(&key, KEY_TTL_SECONDS)
            .ignore();
        let mut conn = self.redis.conn();
        if let Err(error) = super::within(pipe.query_async::<()>(&mut conn)).await {
            // The hole it leaves makes the entry unusable until refilled.
            tracing::debug!(%error, "cannot add to the history cache");
        }
    }

    async fn forget(&self, ticket: TicketId) {
        let mut conn = self.redis.conn();
        let mut del = redis::cmd("DEL");
        del.arg(key(ticket));
        if let Err(error) = super::within(del.query_async::<()>(&mut conn)).await {
            tracing::warn!(%error, ticket, "cannot forget a changed ticket in the history cache");
        }
    }

    /// Replaces the entry with what the database just said.
    async fn refill(&self, ticket: TicketId, messages: &[Message]) {
        let key = key(ticket);
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).ignore();
        for message in messages {
            let json = serde_json::to_string(message).expect("message serializes");
            pipe.zadd(&key, json, message.seq).ignore();
        }
        pipe.expire(&key, KEY_TTL_SECONDS).ignore();
        let mut conn = self.redis.conn();
        if let Err(error) = super::within(pipe.query_async::<()>(&mut conn)).await {
            tracing::debug!(%error, "cannot refill the history cache");
        }
    }

    /// The cached messages, oldest first, if Redis answers.
    async fn cached(&self, ticket: TicketId) -> Option<Vec<Message>> {
        let mut conn = self.redis.conn();
        let mut read = redis::cmd("ZRANGE");
        read.arg(key(ticket)).arg(0).arg(-1);
        let raw = super::within(read.query_async::<Vec<String>>(&mut conn))
            .await
            .ok()?;
        raw.iter()
            .map(|json| serde_json::from_str::<Message>(json).ok())
            .collect()
    }
}

/// The newest `limit` messages the viewer may see out of a cached entry,
/// if the entry can be trusted against the database's `last_seq`.
fn usable(
    cached: &[Message],
    last_seq: Seq,
    limit: usize,
    sees_internal: bool,
) -> Option<Vec<Message>> {
    if last_seq == 0 {
        return Some(Vec::new());
    }
    let (first, newest) = (cached.first()?.seq, cached.last()?.seq);
    let consecutive = cached.iter().zip(first..).all(|(m, seq)| m.seq == seq);
    if !consecutive || newest != last_seq {
        return None;
    }
    let visible: Vec<&Message> = cached
        .iter()
        .filter(|m| sees_internal || !m.internal)
        .collect();
    // Fewer than asked is the whole answer only if the entry starts at the
    // ticket's first message.
    if visible.len() < limit && first != 1 {
        return None;
    }
    let skip = visible.len().saturating_sub(limit);
    Some(visible.into_iter().skip(skip).cloned().collect())
}

#[async_trait]
impl Store for CachedStore {
    async fn recent_messages(&self, newest: Newest) -> StoreResult<Vec<Message>> {
        let Newest {
            ticket,
            limit,
            sees_internal,
        } = newest;
        let last_seq = match self.inner.ticket(ticket).await? {
            Some(found) => found.last_seq,
            None => return Ok(Vec::new()),
        };
        if let Some(cached) = self.cached(ticket).await {
            if let Some(messages) = usable(&cached, last_seq, limit, sees_internal) {
                return Ok(messages);
            }
        }
        let window = self
            .inner
            .recent_messages(Newest::new(ticket, KEPT, true))
            .await?;
        self.refill(ticket, &window).await;
        match usable(&window, last_seq, limit, sees_internal) {
            Some(messages) => Ok(messages),
            // Newer messages came meanwhile, or too many notes: ask exactly.
            None => {
                self.inner
                    .recent_messages(Newest::new(ticket, limit, sees_internal))
                    .await
            }
        }
    }

    async fn append(&self, message: NewMessage) -> StoreResult<Appended> {
        let appended = self.inner.append(message).await?;
        if !appended.duplicate {
            self.add(&appended.message).await;
        }
        Ok(appended)
    }

    async fn claim_ticket(&self, id: TicketId, agent: User) -> StoreResult<Claimed> {
        let claim = self.inner.claim_ticket(id, agent).await?;
        self.forget(id).await;
        Ok(claim)
    }

    async fn change_ticket(
        &self,
        id: TicketId,
        actor: User,
        command: TicketCommand,
        csat: crate::domain::csat::CsatPolicy,
    ) -> StoreResult<Ticket> {
        let ticket = self.inner.change_ticket(id, actor, command, csat).await?;
        self.forget(id).await;
        Ok(ticket)
    }

    async fn mark_read(
        &self,
        ticket: TicketId,
        reader: Viewer,
        reader_role: Role,
        ids: Vec<MessageId>,
    ) -> StoreResult<MarkRead> {
        let marked = self
            .inner
            .mark_read(ticket, reader, reader_role, ids)
            .await?;
        if !marked.marked.is_empty() {
            self.forget(ticket).await;
        }
        Ok(marked)
    }

    async fn change_message(&self, edit: edits::MessageEdit) -> StoreResult<edits::Edited> {
        let ticket = edit.ticket;
        let edited = self.inner.change_message(edit).await?;
        if edited.changed {
            self.forget(ticket).await;
        }
        Ok(edited)
    }

    async fn changed_messages(&self, span: Span) -> StoreResult<Vec<Message>> {
        self.inner.changed_messages(span).await
    }

    async fn message_versions(
        &self,
        ticket: TicketId,
        message: MessageId,
    ) -> StoreResult<Option<Vec<soporte_protocol::rest::MessageVersion>>> {
        self.inner.message_versions(ticket, message).await
    }

    async fn complete_upload(&self, upload: CompleteUpload) -> StoreResult<Uploaded> {
        let uploaded = self.inner.complete_upload(upload).await?;
        self.forget(uploaded.message.ticket).await;
        Ok(uploaded)
    }

    // Everything else is the database's alone.

    fn url_base(&self) -> Arc<str> {
        self.inner.url_base()
    }

    fn memory_in_use(&self) -> Option<u64> {
        self.inner.memory_in_use()
    }

    async fn submit(&self, job: Box<dyn Job>) -> StoreResult<()> {
        self.inner.submit(job).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    fn epoch(&self) -> &str {
        self.inner.epoch()
    }
    async fn last_seen(&self, users: Vec<UserId>) -> StoreResult<HashMap<UserId, Timestamp>> {
        self.inner.last_seen(users).await
    }
    async fn agents(&self) -> StoreResult<Vec<soporte_protocol::server::AgentView>> {
        self.inner.agents().await
    }
    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.inner.user(id).await
    }
    async fn user_view(&self, id: UserId) -> StoreResult<Option<soporte_protocol::rest::UserView>> {
        self.inner.user_view(id).await
    }
    async fn ticket_by_external_id(&self, external_id: &str) -> StoreResult<Option<Ticket>> {
        self.inner.ticket_by_external_id(external_id).await
    }
    async fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.inner.api_keys().await
    }
    fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.inner.outbox_signal()
    }
    async fn webhooks(&self) -> StoreResult<Vec<soporte_protocol::webhook::WebhookView>> {
        self.inner.webhooks().await
    }
    async fn webhook(
        &self,
        id: i64,
    ) -> StoreResult<Option<soporte_protocol::webhook::WebhookView>> {
        self.inner.webhook(id).await
    }
    async fn deliveries(
        &self,
        webhook: i64,
        limit: usize,
    ) -> StoreResult<Vec<soporte_protocol::webhook::DeliveryView>> {
        self.inner.deliveries(webhook, limit).await
    }
    async fn outbox_backlog(&self) -> StoreResult<crate::store::Backlog> {
        self.inner.outbox_backlog().await
    }
    async fn tickets_of_person(&self, user: UserId) -> StoreResult<Vec<Ticket>> {
        self.inner.tickets_of_person(user).await
    }
    async fn messages_by(&self, user: UserId) -> StoreResult<Vec<Message>> {
        self.inner.messages_by(user).await
    }
    async fn erasures_of(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<soporte_protocol::rest::ErasureRecord>> {
        self.inner.erasures_of(user).await
    }
    async fn pending_file_removals(&self, limit: usize) -> StoreResult<Vec<String>> {
        self.inner.pending_file_removals(limit).await
    }
    /// The erased messages are in cached histories: those are forgotten.
    async fn expire_closed_files(
        &self,
        after: crate::store::erasure::RetentionCursor,
        closed_before: Timestamp,
    ) -> StoreResult<crate::store::erasure::Expired> {
        let expired = self.inner.expire_closed_files(after, closed_before).await?;
        for &ticket in &expired.tickets {
            self.forget(ticket).await;
        }
        Ok(expired)
    }

    async fn erase_user(&self, user: UserId, by: String) -> StoreResult<Erased> {
        let erased = self.inner.erase_user(user, by).await?;
        for &ticket in &erased.tickets {
            self.forget(ticket).await;
        }
        Ok(erased)
    }
    async fn api_key(&self, prefix: &str) -> StoreResult<Option<StoredApiKey>> {
        self.inner.api_key(prefix).await
    }
    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>> {
        self.inner.ticket(id).await
    }
    async fn last_seqs(&self, ids: Vec<TicketId>) -> StoreResult<HashMap<TicketId, Seq>> {
        self.inner.last_seqs(ids).await
    }
    async fn list_tickets(&self, query: TicketQuery) -> StoreResult<Vec<TicketView>> {
        self.inner.list_tickets(query).await
    }
    async fn find_sent(&self, sent: Sent<'_>) -> StoreResult<Option<Message>> {
        self.inner.find_sent(sent).await
    }
    async fn messages_between(&self, span: Span) -> StoreResult<Vec<Message>> {
        self.inner.messages_between(span).await
    }
    async fn notes_up_to(&self, ticket: TicketId, top: Seq) -> StoreResult<i64> {
        self.inner.notes_up_to(ticket, top).await
    }
    async fn visible_skipping_notes(&self, page: PageAt) -> StoreResult<Vec<Message>> {
        self.inner.visible_skipping_notes(page).await
    }
    async fn unread_count(&self, ticket: TicketId, viewer: Viewer) -> StoreResult<i64> {
        self.inner.unread_count(ticket, viewer).await
    }
    async fn stats(&self, ticket: TicketId, viewer: Viewer) -> StoreResult<ChatStats> {
        self.inner.stats(ticket, viewer).await
    }
    async fn team_stats(&self, period: Period) -> StoreResult<soporte_protocol::rest::TeamStats> {
        self.inner.team_stats(period).await
    }
    async fn search(
        &self,
        query: crate::domain::search::Query,
        raw: String,
        scope: crate::store::search::SearchScope,
    ) -> StoreResult<Vec<crate::domain::search::Candidate>> {
        self.inner.search(query, raw, scope).await
    }
    async fn tickets_ahead(&self, ticket: TicketId) -> StoreResult<i64> {
        self.inner.tickets_ahead(ticket).await
    }
    async fn first_replies(&self, since: Timestamp) -> StoreResult<Vec<(Timestamp, Timestamp)>> {
        self.inner.first_replies(since).await
    }
    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        self.inner.setting(key).await
    }
    async fn upload_grant(&self, upload_id: &str) -> StoreResult<Option<GrantState>> {
        self.inner.upload_grant(upload_id).await
    }
    async fn attachment_file(&self, id: i64) -> StoreResult<Option<AttachmentFile>> {
        self.inner.attachment_file(id).await
    }
    async fn canned_responses(&self) -> StoreResult<Vec<CannedResponse>> {
        self.inner.canned_responses().await
    }
    async fn canned_response(&self, id: i64) -> StoreResult<Option<CannedResponse>> {
        self.inner.canned_response(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: Seq, interno: bool) -> Message {
        let json = serde_json::json!({
            "id": seq * 10, "client_id": null, "ticket": 1, "seq": seq,
            "timestamp": "2026-11-27T10:00:00Z",
            "autor": {"id": 5, "nombre": "Ana", "tipo": "CLIENTE", "avatar": null},
            "contenido": "hola", "tipo": "TEXTO", "estado": "ENTREGADO", "archivos": [],
            "replyTo": null, "editado": false, "eliminado": false, "interno": interno
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_entry_is_trusted_only_when_whole_and_current() {
        let entry: Vec<Message> = (1..=5).map(|s| message(s, s == 4)).collect();
        let staff = usable(&entry, 5, 3, true).unwrap();
        assert_eq!(staff.iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 4, 5]);
        let customer = usable(&entry, 5, 3, false).unwrap();
        assert_eq!(
            customer.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [2, 3, 5]
        );
        // The database has a newer message: stale.
        assert!(usable(&entry, 6, 3, true).is_none());
        // A hole (a failed write): unusable.
        let holed: Vec<Message> = [1, 2, 4, 5]
            .into_iter()
            .map(|s| message(s, false))
            .collect();
        assert!(usable(&holed, 5, 2, true).is_none());
        // Not enough visible messages and not the start of the ticket.
        let tail: Vec<Message> = (3..=5).map(|s| message(s, false)).collect();
        assert!(usable(&tail, 5, 10, true).is_none());
        assert_eq!(usable(&tail, 5, 2, true).unwrap().len(), 2);
        assert!(usable(&[], 0, 50, true).unwrap().is_empty());
        assert!(usable(&[], 3, 50, true).is_none());
    }
}
