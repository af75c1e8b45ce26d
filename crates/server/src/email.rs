//! The email worker: sends what the outbox owes (`store::email`), once.
//!
//! Each node runs one. A claim leases an email for a minute, so an email
//! whose node dies between the claim and the send goes out from the next
//! claim after the lease (restart included); a sent or cancelled email is
//! finished and never claimed again. An unread-replies email is judged when
//! it falls due: the replies still unread then are what it says, and none
//! (the customer read them first) means nothing is sent. The same holds for
//! the ticket's agent about the customer's messages, unless the agent is
//! connected when it falls due. A transcript carries the ticket's public
//! conversation as it is when sent.

use crate::config::EmailSettings;
use crate::domain::email::{self, EmailKind, Reader};
use crate::mail::{self, SendError, Transport};
use crate::state::AppState;
use crate::store::email::{EmailOutcome, OwedEmail};
use crate::store::Span;
use soporte_protocol::Timestamp;
use std::time::Duration;

/// How often due emails are looked for (the clock moving wakes it too).
const EVERY: Duration = Duration::from_secs(5);
/// How long a claim holds an email before another worker may take it.
const LEASE: Duration = Duration::from_secs(60);
const BATCH: usize = 20;
/// Attempts before an email is given up.
const MAX_ATTEMPTS: u32 = 8;
/// Replies one email carries at most.
const MAX_REPLIES: usize = 50;
/// Messages a transcript carries at most (the rest stay in the chat).
const MAX_TRANSCRIPT: usize = 2_000;

/// Starts the worker when email is configured.
pub fn start(state: AppState) {
    let Some(settings) = state.config.email.clone() else {
        return;
    };
    let transport = match mail::transport(&settings.smtp_url) {
        Ok(transport) => transport,
        Err(error) => {
            // Checked when the configuration was read: cannot happen.
            tracing::error!(%error, "email is off: the SMTP URL does not work");
            return;
        }
    };
    tokio::spawn(run(state, settings, transport));
}

async fn run(state: AppState, settings: EmailSettings, transport: Transport) {
    let mut wakeups = state.config.clock.every(EVERY);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = wakeups.next() => {}
        }
        let now = state.config.clock.now();
        let until = Timestamp::from_millis(now.millis() + LEASE.as_millis() as i64);
        let owed = match state.store.claim_emails(now, until, BATCH).await {
            Ok(owed) => owed,
            Err(error) => {
                tracing::warn!(%error, "could not claim due emails");
                continue;
            }
        };
        for email in owed {
            let outcome = deliver(&state, &settings, &transport, &email).await;
            let at = state.config.clock.now();
            // Kinds come from the database: only known ones become labels.
            let kind = crate::store::email::kind_of(&email.kind)
                .map_or("other", crate::store::email::kind_name);
            let result = match &outcome {
                EmailOutcome::Sent => "enviado",
                EmailOutcome::Cancelled => "cancelado",
                EmailOutcome::Retry { .. } => "reintento",
                EmailOutcome::Failed { .. } => "fallido",
            };
            crate::metrics::EMAILS.add(&[kind, result]);
            match &outcome {
                EmailOutcome::Sent => {
                    tracing::info!(email = email.id, ticket = email.ticket, "email sent")
                }
                EmailOutcome::Cancelled => tracing::debug!(email = email.id, "email not needed"),
                EmailOutcome::Retry { error, .. } | EmailOutcome::Failed { error } => {
                    tracing::warn!(email = email.id, %error, "email not sent")
                }
            }
            if let Err(error) = state.store.finish_email(email.id, outcome, at).await {
                // The lease runs out and it is claimed again.
                tracing::warn!(%error, email = email.id, "could not record an email attempt");
            }
        }
    }
}

async fn deliver(
    state: &AppState,
    settings: &EmailSettings,
    transport: &Transport,
    owed: &OwedEmail,
) -> EmailOutcome {
    let Some(kind) = crate::store::email::kind_of(&owed.kind) else {
        return EmailOutcome::Failed {
            error: format!("unknown kind of email {:?}", owed.kind),
        };
    };
    let reader = kind.reader();
    let ticket = match state.store.ticket(owed.ticket).await {
        Ok(Some(ticket)) => ticket,
        Ok(None) => return EmailOutcome::Cancelled,
        Err(error) => return retry(state, owed, error.to_string()),
    };
    if reader == Reader::Agent {
        // Transferred meanwhile, or watching: nobody to tell by email.
        let holder = ticket.agent.as_ref().and_then(|agent| agent.id);
        if holder != Some(owed.user) || agent_is_watching(state, &ticket, owed.user).await {
            return EmailOutcome::Cancelled;
        }
    }
    let customer_link = match &settings.link {
        Some(template) => template.replace("{ticket}", &ticket.id.to_string()),
        None => format!("{}/?ticket={}", state.public_url, ticket.id),
    };
    let email = if kind == EmailKind::Transcript {
        let messages = match conversation(state, owed.ticket).await {
            Ok(messages) => messages,
            Err(error) => return retry(state, owed, error.to_string()),
        };
        let shown: Vec<_> = messages
            .iter()
            .filter(|m| !m.deleted)
            .take(MAX_TRANSCRIPT)
            .collect();
        let cut = messages.iter().filter(|m| !m.deleted).count() > shown.len();
        email::transcript(&ticket, &shown, cut, &customer_link)
    } else {
        let span = Span::new(
            owed.ticket,
            owed.from_seq - 1,
            i64::MAX,
            MAX_REPLIES * 4,
            false,
        );
        let messages = match state.store.messages_between(span).await {
            Ok(messages) => messages,
            Err(error) => return retry(state, owed, error.to_string()),
        };
        let mut unread = email::still_unread(&messages, reader);
        unread.truncate(MAX_REPLIES);
        if unread.is_empty() {
            return EmailOutcome::Cancelled;
        }
        match reader {
            Reader::Customer => email::unread_replies(&ticket, &unread, &customer_link),
            Reader::Agent => {
                let link = format!("{}/agente/?ticket={}", state.public_url, ticket.id);
                email::unread_by_agent(&ticket, &unread, &link)
            }
        }
    };
    match mail::send(transport, &settings.from, &owed.to, &email).await {
        Ok(()) => EmailOutcome::Sent,
        Err(SendError::Permanent(error)) => EmailOutcome::Failed { error },
        Err(SendError::Transient(error)) => retry(state, owed, error),
    }
}

/// The ticket's public messages, oldest first (notes left out), up to a
/// page past what a transcript shows (so it knows when some did not fit).
async fn conversation(
    state: &AppState,
    ticket: soporte_protocol::TicketId,
) -> crate::store::StoreResult<Vec<soporte_protocol::Message>> {
    const PAGE: usize = 500;
    let mut messages = Vec::new();
    let mut after = 0;
    loop {
        let span = Span::new(ticket, after, i64::MAX, PAGE, false);
        let page = state.store.messages_between(span).await?;
        let full = page.len() == PAGE;
        after = page.last().map_or(after, |m| m.seq);
        messages.extend(page);
        if !full || messages.len() > MAX_TRANSCRIPT + PAGE {
            return Ok(messages);
        }
    }
}

/// Whether the agent has their inbox open or the ticket on screen, on any node.
async fn agent_is_watching(
    state: &AppState,
    ticket: &soporte_protocol::Ticket,
    agent: i64,
) -> bool {
    state.presence.online_agents().await.contains(&agent)
        || state
            .presence
            .online(ticket.id)
            .await
            .iter()
            .any(|p| p.id == agent)
}

/// Again later, waiting twice as long each time (30 s, 1 min, … 1 h), or
/// given up after [`MAX_ATTEMPTS`].
fn retry(state: &AppState, owed: &OwedEmail, error: String) -> EmailOutcome {
    if owed.attempts + 1 >= MAX_ATTEMPTS {
        return EmailOutcome::Failed { error };
    }
    let wait = (30_000i64 << owed.attempts.min(7)).min(3_600_000);
    let at = Timestamp::from_millis(state.config.clock.now().millis() + wait);
    EmailOutcome::Retry { at, error }
}
