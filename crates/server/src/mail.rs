//! SMTP: the transport a `--smtp-url` names, and one email sent through it
//! (lettre; text and HTML as alternatives).

use crate::domain::email::Email;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// How long one SMTP conversation may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The transport `url` names (`smtp://`, `smtps://`, credentials, `?tls=`).
pub fn transport(url: &str) -> Result<Transport, lettre::transport::smtp::Error> {
    Ok(Transport::from_url(url)?.timeout(Some(TIMEOUT)).build())
}

/// Why an email was not sent: worth trying again, or not.
#[derive(Debug)]
pub enum SendError {
    /// The address or the message cannot be sent as it is.
    Permanent(String),
    /// The server is down, busy or refused for now.
    Transient(String),
}

/// Sends `email` from `from` to `to`.
pub async fn send(
    transport: &Transport,
    from: &str,
    to: &str,
    email: &Email,
) -> Result<(), SendError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| SendError::Permanent(format!("sender: {e}")))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| SendError::Permanent(format!("recipient: {e}")))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|e| SendError::Permanent(format!("message: {e}")))?;
    match transport.send(message).await {
        Ok(_) => Ok(()),
        Err(error) if error.is_permanent() => Err(SendError::Permanent(error.to_string())),
        Err(error) => Err(SendError::Transient(error.to_string())),
    }
}
