//! Email when nobody is watching: which of the team's replies a customer
//! is emailed about, who may ask for a transcript and where it goes, and
//! the emails themselves (text and HTML, every piece of a message escaped).
//!
//! The promise is written with the reply (`store::writes`): one pending
//! email per ticket and customer, due `--email-unread-after` after the
//! first reply they have not read. When it falls due the worker asks
//! [`still_unread`] which replies since then are still unread: none means
//! the customer read them first and nothing is sent.

use super::{Refusal, User};
use soporte_protocol::{AuthorKind, Message, MessageKind, MessageState, Role, Ticket, Timestamp};
use std::time::Duration;

/// What a server without `--smtp-url` answers to what needs email.
pub const EMAIL_OFF: &str = "Este servidor no envía correos.";

/// How soon the same person may ask again for a ticket's transcript.
pub const TRANSCRIPT_EVERY: Duration = Duration::from_secs(600);

/// What an owed email is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    /// The team's replies the customer has not read.
    UnreadReplies,
    /// The customer's messages the ticket's agent has not read.
    UnreadByTeam,
    /// The whole public conversation, asked for by the customer (or sent
    /// to them by staff).
    Transcript,
}

impl EmailKind {
    pub const ALL: [EmailKind; 3] = [
        EmailKind::UnreadReplies,
        EmailKind::UnreadByTeam,
        EmailKind::Transcript,
    ];

    /// Who reads it.
    pub fn reader(self) -> Reader {
        match self {
            EmailKind::UnreadReplies | EmailKind::Transcript => Reader::Customer,
            EmailKind::UnreadByTeam => Reader::Agent,
        }
    }

    /// The unread-messages email `reader` gets.
    pub fn unread_for(reader: Reader) -> EmailKind {
        match reader {
            Reader::Customer => EmailKind::UnreadReplies,
            Reader::Agent => EmailKind::UnreadByTeam,
        }
    }
}

/// Where a transcript asked for now goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptTo {
    /// The customer.
    pub user: soporte_protocol::UserId,
    pub address: String,
    /// The customer gave a new address: it becomes theirs.
    pub remember: bool,
}

/// Who may have `ticket`'s transcript sent, and where: its customer, to
/// `given` or their address; staff, to the customer's address (never one
/// of their choosing). `last` is when the same person last asked; asking
/// again within [`TRANSCRIPT_EVERY`] is refused, so the endpoint cannot
/// flood a mailbox.
pub fn transcript_to(
    ticket: &Ticket,
    actor: &User,
    customer: Option<&User>,
    given: Option<&str>,
    last: Option<Timestamp>,
    now: Timestamp,
) -> Result<TranscriptTo, Refusal> {
    let is_customer = ticket.customer.id == Some(actor.id);
    if !is_customer && actor.role == Role::Customer {
        return Err(Refusal::NotFound);
    }
    let given = match given.map(str::trim) {
        None | Some("") => None,
        Some(_) if !is_customer => {
            return Err(Refusal::invalid(
                "La transcripción va al correo del cliente; solo él puede indicar otro.",
            ))
        }
        Some(raw) => Some(super::integration::email_address(raw)?),
    };
    let known = customer.and_then(|user| user.email.clone());
    let (address, remember) = match (given, known) {
        (Some(given), known) => {
            let changed = known.as_deref() != Some(given.as_str());
            (given, changed)
        }
        (None, Some(known)) => (known, false),
        (None, None) if is_customer => {
            return Err(Refusal::invalid(
                "Indica el correo al que enviamos la transcripción.",
            ))
        }
        (None, None) => {
            return Err(Refusal::conflict(
                "El cliente no tiene correo: no se le puede enviar la transcripción.",
            ))
        }
    };
    if let Some(last) = last {
        let wait = TRANSCRIPT_EVERY.as_millis() as i64 - (now.millis() - last.millis());
        if wait > 0 {
            let minutes = (wait + 59_999) / 60_000;
            return Err(Refusal::TooMany(format!(
                "La transcripción ya va de camino; puedes pedirla otra vez en {minutes} min."
            )));
        }
    }
    let user = ticket.customer.id.ok_or(Refusal::NotFound)?;
    Ok(TranscriptTo {
        user,
        address,
        remember,
    })
}

/// When to email customers about replies they have not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnreadPolicy {
    pub after: Duration,
}

/// Who an email is for: the customer, about the team's replies, or the
/// ticket's agent, about the customer's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Customer,
    Agent,
}

impl Reader {
    /// Who is emailed about a message by `author` (notes and server
    /// records: nobody).
    pub fn of_message_by(author: AuthorKind, internal: bool) -> Option<Reader> {
        match author {
            _ if internal => None,
            AuthorKind::Agent | AuthorKind::Supervisor => Some(Reader::Customer),
            AuthorKind::Customer => Some(Reader::Agent),
            AuthorKind::System => None,
        }
    }
}

/// Whether `message` is one the customer is emailed about: a public reply
/// by the team (not a note, not a record of the server).
pub fn notifies_customer(message_author: AuthorKind, internal: bool) -> bool {
    Reader::of_message_by(message_author, internal) == Some(Reader::Customer)
}

/// The messages of `messages` (from the promised `seq` on) that `reader`
/// is emailed about and has still not read, in order.
pub fn still_unread(messages: &[Message], reader: Reader) -> Vec<&Message> {
    messages
        .iter()
        .filter(|m| Reader::of_message_by(m.author.kind, m.internal) == Some(reader))
        .filter(|m| m.state != MessageState::Read && !m.deleted)
        .collect()
}

/// The email about the customer's `messages` to the agent of `ticket`,
/// linking to `link`.
pub fn unread_by_agent(ticket: &Ticket, messages: &[&Message], link: &str) -> Email {
    let customer = &ticket.customer.name;
    let subject = format!(
        "{customer} te escribió en el ticket #{}: {}",
        ticket.id, ticket.subject
    );
    let intro = format!(
        "{customer} escribió en el ticket #{} «{}» y nadie del equipo lo ha leído.",
        ticket.id, ticket.subject
    );
    render(
        subject,
        &intro,
        messages,
        link,
        "Abre la conversación",
        "Recibes este correo porque el ticket es tuyo y no estabas conectado.",
    )
}

/// The transcript of `ticket`: its public `messages` in order (`cut`: later
/// ones did not fit), linking to `link`.
pub fn transcript(ticket: &Ticket, messages: &[&Message], cut: bool, link: &str) -> Email {
    let subject = format!(
        "Transcripción de tu ticket #{}: {}",
        ticket.id, ticket.subject
    );
    let mut intro = format!(
        "Hola, {}:\n\nEsta es la conversación de tu ticket #{} «{}».",
        ticket.customer.name, ticket.id, ticket.subject
    );
    if cut {
        intro.push_str(&format!(
            "\n\nIncluye los primeros {} mensajes; el resto está en el chat.",
            messages.len()
        ));
    }
    render(
        subject,
        &intro,
        messages,
        link,
        "Abre el chat",
        "Recibes este correo porque se pidió la transcripción de tu ticket.",
    )
}

/// An email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The email about `replies` to the customer of `ticket`, linking to `link`.
pub fn unread_replies(ticket: &Ticket, replies: &[&Message], link: &str) -> Email {
    let count = replies.len();
    let greeting = format!("Hola, {}:", ticket.customer.name);
    let subject = if count == 1 {
        format!(
            "Nueva respuesta en tu ticket #{}: {}",
            ticket.id, ticket.subject
        )
    } else {
        format!(
            "{count} respuestas nuevas en tu ticket #{}: {}",
            ticket.id, ticket.subject
        )
    };
    let intro = format!(
        "{greeting}\n\nTe respondieron en tu ticket #{} «{}» y aún no lo has leído.",
        ticket.id, ticket.subject
    );
    render(
        subject,
        &intro,
        replies,
        link,
        "Sigue la conversación",
        "Recibes este correo porque hay respuestas que no has visto; si ya las leíste, puedes ignorarlo.",
    )
}

/// The email: `intro` (paragraphs split by blank lines), each message with
/// its author and time, the link, and why it was sent.
fn render(
    subject: String,
    intro: &str,
    messages: &[&Message],
    link: &str,
    follow: &str,
    why: &str,
) -> Email {
    let mut text = format!("{intro}\n\n");
    let mut html = String::from(
        "<!doctype html><html lang=\"es\"><body style=\"font-family:system-ui,sans-serif;color:#1d2430\">",
    );
    for paragraph in intro.split("\n\n") {
        html.push_str(&format!("<p>{}</p>", escape(paragraph)));
    }
    for message in messages {
        let when = stamp(message.timestamp);
        let body = body_of(message);
        text.push_str(&format!("{} ({when}):\n{body}\n\n", message.author.name));
        html.push_str(&format!(
            "<p style=\"margin:16px 0 4px;color:#5f6b7a\">{} ({when}):</p>\
             <div style=\"white-space:pre-wrap;border-left:3px solid #1f6feb;padding-left:10px\">{}</div>",
            escape(&message.author.name),
            escape(&body)
        ));
    }
    text.push_str(&format!("{follow}: {link}\n\n{why}\n"));
    html.push_str(&format!(
        "<p style=\"margin-top:20px\"><a href=\"{}\">{}</a></p>\
         <p style=\"color:#5f6b7a;font-size:12px\">{}</p></body></html>",
        escape(link),
        escape(follow),
        escape(why)
    ));
    Email {
        subject,
        text,
        html,
    }
}

/// What a reply says: its text, or the names of the files it carries.
fn body_of(message: &Message) -> String {
    if message.kind == MessageKind::File || message.content.trim().is_empty() {
        let names: Vec<&str> = message
            .attachments
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        if !names.is_empty() {
            return format!("[Archivos: {}]", names.join(", "));
        }
    }
    message.content.clone()
}

fn stamp(at: Timestamp) -> String {
    let when = time::OffsetDateTime::from_unix_timestamp_nanos(at.millis() as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:02}/{:02}/{} {:02}:{:02} UTC",
        when.day(),
        u8::from(when.month()),
        when.year(),
        when.hour(),
        when.minute()
    )
}

/// Text as HTML text and attribute values.
fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use soporte_protocol::{Person, TicketState};

    fn person(id: i64, name: &str, kind: AuthorKind) -> Person {
        Person {
            id: Some(id),
            name: name.into(),
            kind,
            avatar: None,
        }
    }

    fn message(seq: i64, author: Person, content: &str, state: MessageState) -> Message {
        Message {
            id: seq,
            client_id: None,
            ticket: 1,
            seq,
            timestamp: Timestamp::from_millis(1_765_015_380_000),
            author,
            content: content.into(),
            kind: MessageKind::Text,
            state,
            attachments: Vec::new(),
            reply_to: None,
            edited: false,
            deleted: false,
            edited_at: None,
            rev: 0,
            metadata: Default::default(),
            internal: false,
        }
    }

    fn ticket() -> Ticket {
        Ticket {
            id: 7,
            subject: "Factura <duplicada>".into(),
            state: TicketState::Open,
            customer: person(1, "Ana & Co", AuthorKind::Customer),
            agent: None,
            created: Timestamp::from_millis(0),
            updated: Timestamp::from_millis(0),
            last_seq: 3,
            external_id: None,
            metadata: None,
            public_activity: None,
            resolved_at: None,
            rev: 0,
            csat: None,
        }
    }

    #[test]
    fn only_the_teams_unread_public_replies_count() {
        let maria = person(5, "María", AuthorKind::Agent);
        let mut note = message(3, maria.clone(), "nota", MessageState::Delivered);
        note.internal = true;
        let messages = [
            message(1, maria.clone(), "leída", MessageState::Read),
            message(2, maria.clone(), "sin leer", MessageState::Delivered),
            note,
            message(
                4,
                person(1, "Ana", AuthorKind::Customer),
                "yo",
                MessageState::Delivered,
            ),
            message(5, Person::system(), "registro", MessageState::Delivered),
        ];
        let unread: Vec<i64> = still_unread(&messages, Reader::Customer)
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(unread, vec![2]);
        // The agent's side: the customer's unread message only.
        let unread: Vec<i64> = still_unread(&messages, Reader::Agent)
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(unread, vec![4]);
    }

    #[test]
    fn the_email_escapes_every_piece_of_a_message_in_html() {
        let maria = person(5, "María <b>", AuthorKind::Agent);
        let hostile = message(
            2,
            maria,
            "<script>alert(1)</script> & \"comillas\"\nsegunda línea",
            MessageState::Delivered,
        );
        let email = unread_replies(
            &ticket(),
            &[&hostile],
            "https://chat.example/?ticket=7&x=\"1\"",
        );
        assert_eq!(
            email.subject,
            "Nueva respuesta en tu ticket #7: Factura <duplicada>"
        );
        assert!(!email.html.contains("<script>"), "{}", email.html);
        assert!(email
            .html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;comillas&quot;"));
        assert!(email.html.contains("María &lt;b&gt;"));
        assert!(email.html.contains("Ana &amp; Co"));
        assert!(email
            .html
            .contains("href=\"https://chat.example/?ticket=7&amp;x=&quot;1&quot;\""));
        // The text part is plain text, as written.
        assert!(email
            .text
            .contains("<script>alert(1)</script> & \"comillas\"\nsegunda línea"));
        assert!(
            email.text.contains("María <b> (06/12/2025 10:03 UTC):"),
            "{}",
            email.text
        );
    }
}
