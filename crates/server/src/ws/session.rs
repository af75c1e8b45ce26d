//! One WebSocket connection, from `connection_established` to close.
//!
//! A single task per connection runs one `select!` loop over: frames from the
//! client, events queued for it by the hub (or its eviction), confirmations
//! of its messages as their commits finish, one timer (pings, the typing
//! deadline and token expiry share it) and shutdown. One task (rather than a reader and a writer) keeps
//! per-connection memory small and needs no locks: the loop owns the socket.
//!
//! Ordering and resumption: the session joins its room *before* reading
//! history, so nothing committed in between can fall through the crack; what
//! arrives twice (in history and in the queue) is dropped by `seq`.

use super::keepalive::{self, Due, Keepalive};
use super::{Admitted, Incoming};
use crate::auth::Identity;
use crate::bus::Event;
use crate::chat;
use crate::domain::access;
use crate::hub::inbox::{InboxEvent, InboxRoute};
use crate::hub::{outbox, Audience, Encoded, Except, Member, Next, OutboxReader, TicketEvent};
use crate::metrics::METRICS;
use crate::presence::{announcement, Change};
use crate::rate::TokenBucket;
use crate::state::AppState;
use crate::store::{Appended, StoreError};
use crate::store::{Newest, Span};
use crate::uploads;
use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures_util::future::{BoxFuture, FutureExt};
use futures_util::stream::{FuturesOrdered, StreamExt};
use soporte_protocol::server::*;
use soporte_protocol::*;
use std::sync::atomic::Ordering;
use tokio::time::Instant;
use tracing::Instrument;

/// Events that may wait for a connection before it counts as too slow.
const OUTGOING_QUEUE: usize = 256;
/// Messages of one connection committing at once; past it, reading pauses.
const MAX_IN_FLIGHT: usize = 64;
/// Messages in `connection_established`; a longer catch-up follows as frames.
pub const HISTORY_IN_HELLO: usize = 50;
/// Bytes of messages in `connection_established`: the greeting is one frame
/// and must stay well under the socket's write buffer limit (1 MiB), however
/// long the messages are. What does not fit follows as frames (resuming) or
/// stays in the REST history (a fresh connection).
const HISTORY_IN_HELLO_BYTES: usize = 512 * 1024;
/// Bytes of messages a catch-up after `since` holds at once: it reads a page,
/// then writes it out while the client reads. A client that stops reading
/// pins what it was being sent until the write timeout, so pages are sized by
/// bytes, not by count: pages of 500 long messages held about 10 MB per such
/// socket (measured: 64 KiB pages, about 1 MB).
const CATCH_UP_PAGE_BYTES: usize = 64 * 1024;
/// Messages in a catch-up page, at most; the first page is small until the
/// messages' sizes are known.
const CATCH_UP_PAGE: usize = 500;
/// Changed messages a resuming greeting holds at most; past it, a resync.
const CHANGES_IN_HELLO: usize = 500;
const FIRST_CATCH_UP_PAGE: usize = 4;
/// Consecutive refusals by the rate limit before the connection is closed.
const MAX_RATE_STRIKES: u32 = 20;

type Confirmation = BoxFuture<'static, (String, Result<Appended, FrameError>)>;

/// Why the loop ended, and what to tell the client.
enum End {
    /// The client closed, or the socket failed: nothing to send.
    Gone,
    Close(CloseReason),
}

/// A store failure that ends the connection: logged here, where it becomes
/// a close, since the client is told only that the server failed.
fn internal(error: StoreError) -> End {
    tracing::error!(%error, "closing a connection on a store failure");
    End::Close(CloseReason::INTERNAL_ERROR)
}

/// A session whose ticket its room no longer knows: a defect, not a state.
fn not_in_room() -> End {
    tracing::error!("a session's ticket is not in its room");
    End::Close(CloseReason::INTERNAL_ERROR)
}

/// Something to write to the socket that needs no waiting.
// Lives only on the stack of `write_out`, one at a time: boxing would only add
// an allocation per frame.
#[allow(clippy::large_enum_variant)]
enum Ready {
    Confirmation(String, Result<Appended, FrameError>),
    Event(Next),
}

struct Session {
    state: AppState,
    identity: Identity,
    ticket: TicketId,
    conn: u64,
    socket: WebSocket,
    /// Highest `seq` sent to this client: queued events at or below it were
    /// already sent from history.
    sent_seq: Seq,
    /// Messages committing, answered in the order they came. Made on the
    /// first message: an idle connection holds none.
    pending: Option<FuturesOrdered<Confirmation>>,
    typing_until: Option<Instant>,
    messages: TokenBucket,
    frames: TokenBucket,
    rate_strikes: u32,
    /// This socket's connection slot, given back when the session ends.
    _slot: super::slots::Slot,
}

/// The session of an upgraded socket. The set-up (joining the room,
/// announcing the agent) happens here, synchronously; the future returned
/// holds only the session itself: an `async fn` would keep its arguments
/// *and* what they are moved into, and this future lives as long as the
/// connection (its size is memory per connection).
pub fn run(
    state: AppState,
    admitted: Admitted,
    socket: WebSocket,
) -> impl std::future::Future<Output = ()> + Send {
    let Admitted {
        identity,
        ticket,
        resume,
        slot,
        greeting,
    } = admitted;
    let conn = state.next_conn_id();
    METRICS.connections_total.fetch_add(1, Ordering::Relaxed);
    METRICS.connections_open.fetch_add(1, Ordering::Relaxed);
    // A debug span: an info span would keep its fields allocated for the
    // life of every connection, which matters at tens of thousands of them.
    let span = tracing::debug_span!("session", conn, ticket = ticket.id, user = identity.user.id);
    let (outbox, events) = outbox(OUTGOING_QUEUE);
    let me = participant(&identity, true);
    let first_of_user = state.hub.join(
        &ticket,
        Member {
            conn,
            user: me,
            outbox,
        },
    );
    // Read before joining: kept only if still whole (see `Mark`).
    let ticket_id = ticket.id;
    let greeting = greeting
        .filter(|read| state.hub.read_is_whole(read.mark, &ticket))
        .map(|read| Box::new((ticket, read.messages)));
    let msg_rate = state.config.msg_rate;
    let session = Session {
        identity,
        ticket: ticket_id,
        conn,
        socket,
        sent_seq: 0,
        pending: None,
        typing_until: None,
        // A burst of three seconds' worth; every other frame (typing,
        // heartbeats) gets a looser budget of its own.
        messages: TokenBucket::new(msg_rate, msg_rate.saturating_mul(3)),
        frames: TokenBucket::new(if msg_rate == 0 { 0 } else { 50 }, 200),
        rate_strikes: 0,
        _slot: slot,
        state,
    };
    let mut live = Live {
        session,
        events,
        resume,
        greeting,
    };
    async move {
        tracing::debug!("connected");
        if first_of_user {
            Box::pin(live.session.arrive()).await;
        }
        // The greeting and the goodbye run once; boxed, their state does not
        // weigh on every idle connection's task for its whole life.
        let (resume, greeting) = (std::mem::take(&mut live.resume), live.greeting.take());
        let end = match Box::pin(live.session.greet(resume, greeting)).await {
            Ok(()) => live.session.serve(&mut live.events).await,
            Err(end) => end,
        };
        Box::pin(live.session.finish(end)).await;
        tracing::debug!("disconnected");
        // Frees the slot.
        drop(live);
        METRICS.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
    .instrument(span)
}

/// What a running session owns.
struct Live {
    session: Session,
    events: OutboxReader,
    resume: super::Resume,
    /// The ticket and its newest messages, read at admission (boxed: an
    /// idle connection keeps only the empty pointer).
    greeting: Option<Box<(Ticket, Vec<Message>)>>,
}

fn participant(identity: &Identity, online: bool) -> Participant {
    Participant {
        id: identity.user.id,
        name: identity.user.name.clone(),
        role: identity.user.role,
        avatar: identity.user.avatar.clone(),
        online,
        last_seen: Some(Timestamp::now()),
    }
}

impl Session {
    /// The user's first connection to the ticket on this node: counted
    /// present everywhere, and an agent new to the conversation announced.
    async fn arrive(&mut self) {
        let me = participant(&self.identity, true);
        let first_anywhere = self.state.presence.arrived(self.ticket, &me).await;
        if first_anywhere {
            let event = PresenceEvent {
                user: me,
                timestamp: Timestamp::now(),
            };
            self.announce(Change::Arrived, event);
        }
    }

    /// Sends `connection_established`, then whatever else the client missed
    /// since `since`, or tells it to resync when its cursor belongs to
    /// another history.
    async fn greet(
        &mut self,
        resume: super::Resume,
        greeting: Option<Box<(Ticket, Vec<Message>)>>,
    ) -> Result<(), End> {
        let store = self.state.store.clone();
        // Customers never see internal notes.
        let staff = self.identity.user.role.is_staff();
        let newest = Newest::new(self.ticket, HISTORY_IN_HELLO, staff);
        // A fresh connection has the ticket and its newest messages from its
        // admission, or reads them in one trip; a resuming one needs the
        // ticket first to judge its cursor.
        let (ticket, mut newest_messages) = match (resume.since, greeting) {
            (None, Some(read)) => {
                let (ticket, messages) = *read;
                Some((ticket, Some(messages)))
            }
            (None, None) => store
                .ticket_with_recent(newest)
                .await
                .map_err(internal)?
                .map(|(ticket, messages)| (ticket, Some(messages))),
            (Some(_), _) => store
                .ticket(self.ticket)
                .await
                .map_err(internal)?
                .map(|ticket| (ticket, None)),
        }
        .ok_or(End::Close(CloseReason::TICKET_GONE))?;
        let mut resync = match resume.since {
            None => false,
            Some(since) => !cursor_matches(&store, &resume, since, &ticket).await?,
        };
        let mut updated = Vec::new();
        if !resync {
            match changes_since(&store, ticket.id, &resume, staff).await? {
                Some(changed) => updated = changed,
                None => resync = true,
            }
        }
        let since = if resync { None } else { resume.since };
        // Nor the activity of notes in the ticket they are shown.
        let ticket = if staff {
            ticket
        } else {
            ticket.seen_by_customer()
        };
        let history = match since {
            None => match newest_messages.take() {
                Some(messages) => Ok(messages),
                None => store.recent_messages(newest).await,
            },
            Some(since) => {
                store
                    .messages_between(Span::new(
                        ticket.id,
                        since,
                        Seq::MAX,
                        HISTORY_IN_HELLO,
                        staff,
                    ))
                    .await
            }
        }
        .map_err(internal)?;
        let full_page = history.len() == HISTORY_IN_HELLO;
        // Resuming keeps the oldest (the rest follow); a fresh connection
        // keeps the newest.
        let (history, cut) = fit_in_hello(history, since.is_some(), HISTORY_IN_HELLO_BYTES);
        let full_page = full_page || cut;
        let participants = participants(&self.state, &ticket).await;
        let mut last = history.last().map(|m| m.seq);
        // A `since` beyond the ticket's last message (a client that saw a
        // history this server no longer has) must not hide new messages.
        self.sent_seq = last.unwrap_or(since.unwrap_or(0).min(ticket.last_seq));
        let hello = ServerFrame::ConnectionEstablished(ConnectionEstablished {
            user: participant(&self.identity, true),
            participants,
            since,
            epoch: store.epoch().to_string(),
            resync,
            last_seq: ticket.last_seq.max(self.sent_seq),
            rev: ticket.rev,
            updated,
            limits: Limits {
                max_message: self.state.config.max_message_length,
                heartbeat_ms: self.state.config.heartbeat_interval.as_millis() as u64,
                typing_timeout_ms: self.state.config.typing_timeout.as_millis() as u64,
                messages_per_second: self.state.config.msg_rate,
                edit_window_ms: self
                    .state
                    .config
                    .edit_window
                    .map_or(0, |w| w.as_millis() as u64),
            },
            recent_history: history,
            ticket,
        });
        self.send_text(hello.encode()).await?;
        // Resuming: stream the rest of what was missed, page by page, as
        // `mensaje_recibido`, oldest first.
        if since.is_some() && full_page {
            let mut page_size = FIRST_CATCH_UP_PAGE;
            let mut largest = 0;
            while let Some(after) = last {
                let page = store
                    .messages_between(Span::new(self.ticket, after, Seq::MAX, page_size, staff))
                    .await
                    .map_err(internal)?;
                last = if page.len() == page_size {
                    page.last().map(|m| m.seq)
                } else {
                    None
                };
                for message in page {
                    self.sent_seq = message.seq;
                    let frame = ServerFrame::encode_message_received(&message);
                    largest = largest.max(frame.len());
                    drop(message);
                    self.send_text(frame).await?;
                }
                page_size = catch_up_page(largest);
            }
        }
        Ok(())
    }
}

/// Resuming with `since` and `rev`: the messages the client holds (`seq <=
/// since`) edited or deleted after `rev`. They go in the greeting itself, so
/// a client that has the greeting has them and may resume from its `rev`;
/// `None` when there are more than fit (the client then starts over, as on
/// `resync`).
async fn changes_since(
    store: &crate::store::DynStore,
    ticket: TicketId,
    resume: &super::Resume,
    staff: bool,
) -> Result<Option<Vec<Message>>, End> {
    let (Some(since), Some(rev)) = (resume.since, resume.rev) else {
        return Ok(Some(Vec::new()));
    };
    let span = Span::new(ticket, rev as Seq, since, CHANGES_IN_HELLO + 1, staff);
    let changed = store.changed_messages(span).await.map_err(internal)?;
    let bytes: usize = changed.iter().map(|m| m.content.len()).sum();
    if changed.len() > CHANGES_IN_HELLO || bytes > HISTORY_IN_HELLO_BYTES {
        return Ok(None);
    }
    Ok(Some(changed))
}

/// How many messages the next catch-up page may hold, given the largest
/// frame seen so far: [`CATCH_UP_PAGE_BYTES`] of them, at least one.
fn catch_up_page(largest_frame: usize) -> usize {
    (CATCH_UP_PAGE_BYTES / largest_frame.max(1)).clamp(1, CATCH_UP_PAGE)
}

/// The messages of `history` whose JSON fits in `budget` bytes: the oldest
/// ones when `keep_oldest`, else the newest; never fewer than one. True when
/// some were left out.
fn fit_in_hello(
    mut history: Vec<Message>,
    keep_oldest: bool,
    budget: usize,
) -> (Vec<Message>, bool) {
    let size = |m: &Message| serde_json::to_vec(m).map_or(0, |json| json.len());
    let mut total = 0;
    let mut fits = 0;
    let mut consider = |m: &Message| {
        total += size(m);
        if fits > 0 && total > budget {
            return false;
        }
        fits += 1;
        true
    };
    if keep_oldest {
        for message in &history {
            if !consider(message) {
                break;
            }
        }
        let cut = fits < history.len();
        history.truncate(fits);
        (history, cut)
    } else {
        for message in history.iter().rev() {
            if !consider(message) {
                break;
            }
        }
        let cut = fits < history.len();
        history.drain(..history.len() - fits);
        (history, cut)
    }
}

/// Does the client's cursor point into this history? Its epoch (when given)
/// must be this database's, its `since` no further than the ticket's last
/// message, and the message at `since` (when the client names it) the same.
async fn cursor_matches(
    store: &crate::store::DynStore,
    resume: &super::Resume,
    since: Seq,
    ticket: &Ticket,
) -> Result<bool, End> {
    if resume
        .epoch
        .as_deref()
        .is_some_and(|epoch| epoch != store.epoch())
    {
        return Ok(false);
    }
    if since > ticket.last_seq {
        return Ok(false);
    }
    let (Some(expected), true) = (resume.since_id, since > 0) else {
        return Ok(true);
    };
    // Internal notes count too: only ids are compared, nothing is sent.
    let at_since = store
        .messages_between(Span::new(ticket.id, since - 1, since, 1, true))
        .await
        .map_err(internal)?;
    Ok(at_since.first().is_some_and(|m| m.id == expected))
}

/// The ticket's customer and agent, and every other user connected now.
async fn participants(state: &AppState, ticket: &Ticket) -> Vec<Participant> {
    let online = state.presence.online(ticket.id).await;
    let mut people: Vec<Participant> = Vec::new();
    let named = [
        (&Some(ticket.customer.clone()), Role::Customer),
        (&ticket.agent, Role::Agent),
    ];
    for (person, default_role) in named {
        if let Some(Person {
            id: Some(id),
            name: nombre,
            kind: tipo,
            avatar,
        }) = person
        {
            let role = match tipo {
                AuthorKind::Supervisor => Role::Supervisor,
                AuthorKind::Customer => Role::Customer,
                AuthorKind::Agent => Role::Agent,
                AuthorKind::System => default_role,
            };
            people.push(Participant {
                id: *id,
                name: nombre.clone(),
                role,
                avatar: avatar.clone(),
                online: false,
                last_seen: None,
            });
        }
    }
    for person in &mut people {
        if let Some(live) = online.iter().find(|p| p.id == person.id) {
            person.online = true;
            person.last_seen = live.last_seen;
        }
    }
    for live in online {
        // Other agents connected now are listed too (supervisors never: they
        // watch silently, see `presence::announcement`).
        if live.role == Role::Agent && !people.iter().any(|p| p.id == live.id) {
            people.push(live);
        }
    }
    let offline: Vec<UserId> = people.iter().filter(|p| !p.online).map(|p| p.id).collect();
    if !offline.is_empty() {
        if let Ok(seen) = state.store.last_seen(offline).await {
            for person in people.iter_mut().filter(|p| !p.online) {
                person.last_seen = seen.get(&person.id).copied();
            }
        }
    }
    people
}

impl Session {
    async fn serve(&mut self, events: &mut OutboxReader) -> End {
        let shutdown = self.state.shutdown.clone();
        let mut keepalive = Keepalive::new(
            self.state.config.heartbeat_interval,
            self.identity.expires_at,
        );
        // One timer, re-armed for the earliest of pings, token expiry and
        // the typing deadline.
        let timer = tokio::time::sleep_until(keepalive.wake_at(self.typing_until));
        tokio::pin!(timer);
        loop {
            keepalive::arm(timer.as_mut(), keepalive.wake_at(self.typing_until));
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return End::Close(CloseReason::SHUTTING_DOWN),
                Some((client_id, result)) = next_confirmation(&mut self.pending), if self.in_flight() > 0 => {
                    if let Err(end) = Box::pin(self.write_out(Ready::Confirmation(client_id, result), events)).await {
                        return end;
                    }
                }
                next = events.next() => {
                    if let Err(end) = Box::pin(self.write_out(Ready::Event(next), events)).await {
                        return end;
                    }
                }
                incoming = self.socket.recv(), if self.in_flight() < MAX_IN_FLIGHT => {
                    let frame = match super::incoming(incoming) {
                        Incoming::Closed => return End::Gone,
                        Incoming::Fail(close) => return End::Close(close),
                        Incoming::Control => {
                            keepalive.heard();
                            // A ping costs a pong: it spends the frame budget
                            // as any frame does (millions were taken free).
                            if !self.frames.try_take() {
                                return End::Close(CloseReason::TOO_MANY_MESSAGES);
                            }
                            continue;
                        }
                        Incoming::Message(frame) => frame,
                    };
                    keepalive.heard();
                    // Boxed: handling a frame needs far more state than
                    // waiting for one, and connections mostly wait.
                    if let Err(end) = Box::pin(self.on_frame(frame)).await {
                        return end;
                    }
                }
                _ = &mut timer => {
                    let now = Instant::now();
                    if self.typing_until.is_some_and(|until| until <= now) {
                        self.stop_typing();
                    }
                    match keepalive.due(now) {
                        None => {}
                        Some(Due::Expired) => return End::Close(CloseReason::TOKEN_EXPIRED),
                        Some(Due::Silent) => return End::Close(CloseReason::IDLE),
                        Some(Due::Ping) => {
                            if let Err(end) = Box::pin(self.send(WsMessage::Ping(Default::default()))).await {
                                return end;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Writes `first` and whatever else is ready right now (confirmations,
    /// room events) in one go: a batch commit confirms several messages of a
    /// connection at once, and they leave in one write instead of one each.
    async fn write_out(&mut self, first: Ready, events: &mut OutboxReader) -> Result<(), End> {
        let mut ready = Some(first);
        let mut written = 0;
        while let Some(item) = ready.take() {
            match item {
                Ready::Confirmation(client_id, result) => self.confirm(client_id, result).await?,
                Ready::Event(next) => self.feed_event(next).await?,
            }
            written += 1;
            if written < super::MAX_FRAMES_PER_WRITE {
                ready = self.ready_now(events);
            }
        }
        super::flush(&mut self.socket).await.map_err(|()| End::Gone)
    }

    /// A confirmation or an event that is ready without waiting.
    fn ready_now(&mut self, events: &mut OutboxReader) -> Option<Ready> {
        if self.in_flight() > 0 {
            if let Some(Some((client_id, result))) =
                next_confirmation(&mut self.pending).now_or_never()
            {
                return Some(Ready::Confirmation(client_id, result));
            }
        }
        events.try_next().map(Ready::Event)
    }

    /// Queues a room event for this socket (see [`Session::write_out`]).
    async fn feed_event(&mut self, next: Next) -> Result<(), End> {
        let event = match next {
            Next::Event(event) => event,
            Next::Evicted => return Err(End::Close(CloseReason::TOO_SLOW)),
            Next::Closed => return Err(End::Gone),
        };
        let (seq, text) = match &*event {
            Encoded::Frame { seq, text } => (*seq, text),
            Encoded::Close(close) => return Err(End::Close(*close)),
        };
        if let Some(seq) = seq {
            // Already sent (a sync that overlapped with live events).
            if seq <= self.sent_seq {
                return Ok(());
            }
            self.sent_seq = seq;
        }
        super::feed(&mut self.socket, WsMessage::Text(text.clone()))
            .await
            .map_err(|()| End::Gone)
    }

    /// Messages of this connection still committing.
    fn in_flight(&self) -> usize {
        self.pending.as_ref().map_or(0, FuturesOrdered::len)
    }

    /// A text or binary message (control frames stop at [`super::incoming`]).
    async fn on_frame(&mut self, frame: WsMessage) -> Result<(), End> {
        let text = match frame {
            WsMessage::Text(text) => text,
            WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Close(_) => return Ok(()),
            WsMessage::Binary(_) => {
                return self
                    .refuse(
                        None,
                        None,
                        FrameError::new(
                            ErrorCode::InvalidJson,
                            "Solo se aceptan mensajes de texto JSON.",
                        ),
                    )
                    .await
            }
        };
        METRICS.frames_received.fetch_add(1, Ordering::Relaxed);
        if !self.frames.try_take() {
            return Err(End::Close(CloseReason::TOO_MANY_MESSAGES));
        }
        let max_frame = self.state.config.max_frame_size;
        if text.len() > max_frame {
            let error = FrameError::new(
                ErrorCode::FrameTooLarge,
                format!(
                    "El mensaje supera el tamaño máximo de {} KiB.",
                    max_frame / 1024
                ),
            );
            return self.refuse(None, None, error).await;
        }
        let frame = match ClientFrame::parse(text.as_str()) {
            Ok(frame) => frame,
            Err(error) => return self.refuse(None, None, error).await,
        };
        match frame {
            ClientFrame::Message(message) => self.on_message(message).await,
            ClientFrame::TypingStart => {
                self.start_typing();
                Ok(())
            }
            ClientFrame::TypingStop => {
                self.stop_typing();
                Ok(())
            }
            ClientFrame::Heartbeat => {
                self.send_text(
                    ServerFrame::Heartbeat(Heartbeat {
                        timestamp: Timestamp::now(),
                    })
                    .encode(),
                )
                .await
            }
            ClientFrame::EditMessage(edit) => {
                let (id, text) = (edit.message_id, edit.text);
                self.change_message(id, MessageChange::Edited, text).await
            }
            ClientFrame::DeleteMessage(delete) => {
                let id = delete.message_id;
                self.change_message(id, MessageChange::Deleted, String::new())
                    .await
            }
            ClientFrame::FileUploadRequest(request) => {
                if !self.messages.try_take()
                    || !self
                        .state
                        .message_budgets
                        .try_take(self.identity.user.id)
                        .await
                {
                    METRICS.rate_limited.fetch_add(1, Ordering::Relaxed);
                    let error = FrameError::new(
                        ErrorCode::RateLimited,
                        "Demasiadas solicitudes. Espera un momento.",
                    );
                    return self.refuse(Some("file_upload_request"), None, error).await;
                }
                let Some(ticket) = self.state.hub.ticket(self.ticket) else {
                    return Err(not_in_room());
                };
                match uploads::authorize(&self.state, &self.identity, &ticket, request).await {
                    Ok(frame) => {
                        self.send_text(ServerFrame::FileUploadAuthorized(frame).encode())
                            .await
                    }
                    Err(error) => self.refuse(Some("file_upload_request"), None, error).await,
                }
            }
        }
    }

    async fn on_message(&mut self, message: SendMessage) -> Result<(), End> {
        let client_id = message.client_id.clone();
        // This socket's budget first, then the user's over all the ways they write.
        let refusal = if !self.messages.try_take() {
            Some("Estás enviando mensajes demasiado rápido. Espera un momento.")
        } else if !self
            .state
            .message_budgets
            .try_take(self.identity.user.id)
            .await
        {
            Some(chat::USER_RATE_REFUSAL)
        } else {
            None
        };
        if let Some(detail) = refusal {
            METRICS.rate_limited.fetch_add(1, Ordering::Relaxed);
            self.rate_strikes += 1;
            if self.rate_strikes > MAX_RATE_STRIKES {
                return Err(End::Close(CloseReason::TOO_MANY_MESSAGES));
            }
            let error = FrameError::new(ErrorCode::RateLimited, detail);
            return self.refuse(Some("mensaje"), Some(client_id), error).await;
        }
        self.rate_strikes = 0;
        // The ticket as it is now (an assignment may have changed since connect).
        let Some(ticket) = self.state.hub.ticket(self.ticket) else {
            return Err(not_in_room());
        };
        // Validation and permission are chat::post_text's, like for every
        // message; refusals come back through the same ordered answers.
        // Sent while typing: the message itself ends the typing state.
        self.stop_typing();
        let state = self.state.clone();
        let identity = self.identity.clone();
        let origin = self.conn;
        let pending = self.pending.get_or_insert_with(FuturesOrdered::new);
        pending.push_back(Box::pin(async move {
            let result = chat::post_text(&state, &identity, ticket, message, Some(origin)).await;
            (client_id, result)
        }));
        Ok(())
    }

    /// An edit or a deletion: the room (this connection too) is told of it
    /// as `mensaje_actualizado`; a refusal comes back as `error`.
    async fn change_message(
        &mut self,
        id: MessageId,
        change: MessageChange,
        text: String,
    ) -> Result<(), End> {
        let Some(ticket) = self.state.hub.ticket(self.ticket) else {
            return Err(not_in_room());
        };
        let user = self.identity.user.clone();
        let outcome = crate::edits::change(&self.state, &user, ticket, id, change, text).await;
        let error = match outcome {
            Ok(_) => return Ok(()),
            Err(crate::edits::ChangeError::Frame(error)) => error,
            Err(crate::edits::ChangeError::Store(error)) => chat::storage_error(error),
        };
        let tipo = match change {
            MessageChange::Edited => "editar_mensaje",
            MessageChange::Deleted => "eliminar_mensaje",
        };
        self.refuse_frame(ErrorFrame {
            code: error.code,
            detail: error.detail,
            frame_type: Some(tipo.into()),
            client_id: None,
            message_id: Some(id),
        })
        .await
    }

    /// Answers a committed (or failed) message of this connection, in the
    /// order the client sent them.
    async fn confirm(
        &mut self,
        client_id: String,
        result: Result<Appended, FrameError>,
    ) -> Result<(), End> {
        match result {
            Ok(appended) => {
                let frame = ServerFrame::MessageConfirmed(MessageConfirmed {
                    client_id,
                    message_id: appended.message.id,
                    timestamp: appended.message.timestamp,
                    seq: appended.message.seq,
                    duplicate: appended.duplicate,
                });
                // Written out by the caller's flush (or the goodbye's).
                super::feed(&mut self.socket, WsMessage::Text(frame.encode().into()))
                    .await
                    .map_err(|()| End::Gone)
            }
            Err(error) => self.refuse(Some("mensaje"), Some(client_id), error).await,
        }
    }

    fn start_typing(&mut self) {
        let Some(ticket) = self.state.hub.ticket(self.ticket) else {
            return;
        };
        if !access::may_read(&self.identity.user, ticket) {
            return;
        }
        let was_typing = self.typing_until.is_some();
        self.typing_until = Some(Instant::now() + self.state.config.typing_timeout);
        if !was_typing {
            let event = TypingEvent {
                user: self.identity.user.person(),
                timestamp: Timestamp::now(),
            };
            self.publish(
                ServerFrame::UserTyping(event),
                Except::User(self.identity.user.id),
            );
            self.publish_typing_to_inbox(true);
        }
    }

    fn stop_typing(&mut self) {
        if self.typing_until.take().is_some() {
            let event = TypingEvent {
                user: self.identity.user.person(),
                timestamp: Timestamp::now(),
            };
            self.publish(
                ServerFrame::UserStoppedTyping(event),
                Except::User(self.identity.user.id),
            );
            self.publish_typing_to_inbox(false);
        }
    }

    fn publish(&self, frame: ServerFrame, except: Except) {
        self.publish_to(frame, Audience::Everyone, except);
    }

    fn publish_to(&self, frame: ServerFrame, audience: Audience, except: Except) {
        self.state.bus.publish(Event::Room(TicketEvent {
            ticket: self.ticket,
            seq: None,
            audience,
            except,
            text: frame.encode().into(),
        }));
    }

    /// This user's first connection to the ticket anywhere opened, or their
    /// last one closed: told as `presence::announcement` says.
    fn announce(&self, change: Change, event: PresenceEvent) {
        if let Some((frame, audience)) = announcement(self.identity.user.role, change, event) {
            self.publish_to(frame, audience, Except::Conn(self.conn));
        }
    }

    /// Tells the ticket's agent's inbox (and supervisors') who is typing.
    fn publish_typing_to_inbox(&self, typing: bool) {
        let agent = self.state.hub.ticket(self.ticket).and_then(|t| t.agent);
        let frame = ServerFrame::InboxTyping(InboxTyping {
            ticket: self.ticket,
            user: self.identity.user.person(),
            typing,
        });
        self.state.bus.publish(Event::Inbox(InboxEvent {
            route: InboxRoute::Agents(
                agent
                    .into_iter()
                    .filter(|a| *a != self.identity.user.id)
                    .collect(),
            ),
            text: frame.encode().into(),
        }));
    }

    async fn refuse(
        &mut self,
        tipo: Option<&str>,
        client_id: Option<String>,
        error: FrameError,
    ) -> Result<(), End> {
        self.refuse_frame(ErrorFrame {
            code: error.code,
            detail: error.detail,
            frame_type: tipo.map(str::to_string),
            client_id,
            message_id: None,
        })
        .await
    }

    async fn refuse_frame(&mut self, frame: ErrorFrame) -> Result<(), End> {
        // The wire name, as the frame carries it.
        let codigo = serde_json::to_value(frame.code).unwrap_or_default();
        crate::metrics::FRAMES_REFUSED.add(&[codigo.as_str().unwrap_or("other")]);
        self.send_text(ServerFrame::Error(frame).encode()).await
    }

    async fn send_text(&mut self, text: String) -> Result<(), End> {
        self.send(WsMessage::Text(text.into())).await
    }

    async fn send(&mut self, message: WsMessage) -> Result<(), End> {
        super::send(&mut self.socket, message)
            .await
            .map_err(|()| End::Gone)
    }

    /// Leaves cleanly: confirms what is still committing (a confirmation is
    /// owed for every commit), says goodbye, and tells the room.
    async fn finish(&mut self, end: End) {
        if let End::Close(close) = end {
            while let Some((client_id, result)) = next_confirmation(&mut self.pending).await {
                if self.confirm(client_id, result).await.is_err() {
                    break;
                }
            }
            super::finish(&mut self.socket, Some(close)).await;
        } else {
            // The client closed (answered here) or is gone; its messages
            // still commit (they were accepted), it just cannot be told. A
            // retry will be deduplicated.
            super::finish(&mut self.socket, None).await;
            while next_confirmation(&mut self.pending).await.is_some() {}
        }
        self.stop_typing();
        let last_here = self.state.hub.leave(self.ticket, self.conn);
        let now = Timestamp::now();
        if last_here {
            let last_anywhere = self
                .state
                .presence
                .departed(self.ticket, self.identity.user.id)
                .await;
            if last_anywhere {
                let mut gone = participant(&self.identity, false);
                gone.last_seen = Some(now);
                let event = PresenceEvent {
                    user: gone,
                    timestamp: now,
                };
                self.announce(Change::Departed, event);
            }
            if let Err(error) = self
                .state
                .store
                .touch_last_seen(self.identity.user.id, now)
                .await
            {
                if !matches!(error, StoreError::Closed) {
                    tracing::warn!(%error, "could not record last_seen");
                }
            }
        }
    }
}

/// The next of `pending`'s answers, in order (`None`: none in flight).
async fn next_confirmation(
    pending: &mut Option<FuturesOrdered<Confirmation>>,
) -> Option<(String, Result<Appended, FrameError>)> {
    pending.as_mut()?.next().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: Seq, text: &str) -> Message {
        serde_json::from_value(serde_json::json!({
            "id": seq, "client_id": null, "ticket": 1, "seq": seq,
            "timestamp": "2026-11-27T18:20:00.000Z",
            "autor": {"id": 1, "nombre": "Ana", "tipo": "CLIENTE", "avatar": null},
            "contenido": text, "tipo": "TEXTO", "estado": "ENTREGADO", "archivos": [],
            "replyTo": null, "editado": false, "eliminado": false, "metadata": {}, "interno": false
        }))
        .unwrap()
    }

    #[test]
    fn catch_up_pages_hold_a_bounded_number_of_bytes() {
        // Short messages: pages of 500 at most.
        assert_eq!(catch_up_page(100), CATCH_UP_PAGE);
        assert_eq!(catch_up_page(300), 218);
        // 50 KB messages: one at a time.
        assert_eq!(catch_up_page(50_000), 1);
        assert_eq!(catch_up_page(20_000), 3);
        assert!(catch_up_page(50_000) * 50_000 <= CATCH_UP_PAGE_BYTES);
        // A message larger than the budget still goes, one at a time.
        assert_eq!(catch_up_page(1_000_000), 1);
        assert_eq!(catch_up_page(0), CATCH_UP_PAGE);
    }

    #[test]
    fn the_greeting_holds_only_as_much_history_as_its_byte_budget() {
        let long = "😀".repeat(5000);
        let history: Vec<Message> = (1..=50).map(|seq| message(seq, &long)).collect();
        let one = serde_json::to_vec(&history[0]).unwrap().len();
        // Resuming keeps the oldest: the rest follow as frames.
        let (kept, cut) = fit_in_hello(history.clone(), true, one * 10 + 100);
        assert!(cut);
        assert_eq!(
            kept.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
        // A fresh connection keeps the newest.
        let (kept, cut) = fit_in_hello(history.clone(), false, one * 10 + 100);
        assert!(cut);
        assert_eq!(
            kept.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (41..=50).collect::<Vec<_>>()
        );
        // One message always goes, and short histories are whole.
        assert_eq!(fit_in_hello(history.clone(), true, 1).0.len(), 1);
        let short: Vec<Message> = (1..=5).map(|seq| message(seq, "hola")).collect();
        assert_eq!(
            fit_in_hello(short, false, HISTORY_IN_HELLO_BYTES),
            ((1..=5).map(|s| message(s, "hola")).collect(), false)
        );
    }
}
