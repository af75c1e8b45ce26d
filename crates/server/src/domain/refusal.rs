//! Why the rules said no. Every refusal carries the Spanish text the person
//! reads; the edges only choose the status or `codigo` from its kind.

use soporte_protocol::{ErrorCode, FrameError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// What the request names does not exist (a ticket, a grant, a message).
    #[error("not found")]
    NotFound,
    /// The ticket is closed and takes no new messages.
    #[error("ticket closed")]
    TicketClosed,
    /// The request does not fit the resource as it is now (already assigned,
    /// a transition its state does not allow, a grant already used, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The actor may not do this to this resource as it is now.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request names something that does not fit (an unknown agent, …).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The host's `external_id` names this ticket already.
    #[error("external_id taken by ticket {0}")]
    ExternalIdTaken(soporte_protocol::TicketId),
    /// Over a limit of how much or how often (tickets a customer opens, …).
    #[error("too many: {0}")]
    TooMany(String),
    /// Over a storage quota, or the upload budget of the hour.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The disk is below its free-space floor.
    #[error("storage full")]
    StorageFull,
    /// A change to a message, or a reply to one, that its rules refuse.
    #[error("message refused: {0:?}")]
    Message(super::edits::MessageRefusal),
}

/// What a person reads when the server takes no files for lack of disk.
pub const STORAGE_FULL: &str =
    "El servidor no tiene espacio para archivos ahora mismo. Inténtalo más tarde.";

/// What a customer reads when their ticket takes no more messages.
pub const TICKET_CLOSED: &str = "El ticket está cerrado y no admite mensajes nuevos.";

impl Refusal {
    pub fn conflict(text: impl Into<String>) -> Refusal {
        Refusal::Conflict(text.into())
    }

    pub fn forbidden(text: impl Into<String>) -> Refusal {
        Refusal::Forbidden(text.into())
    }

    pub fn invalid(text: impl Into<String>) -> Refusal {
        Refusal::Invalid(text.into())
    }

    /// As an `error` frame (a socket's message, a `sync/` entry, an upload
    /// request): a missing ticket reads as no permission, so a probe learns
    /// nothing of which tickets exist.
    pub fn frame_error(&self) -> FrameError {
        match self {
            Refusal::NotFound => FrameError::new(ErrorCode::Forbidden, "El ticket no existe."),
            Refusal::TicketClosed => FrameError::new(ErrorCode::TicketClosed, TICKET_CLOSED),
            Refusal::Conflict(text) | Refusal::Forbidden(text) => {
                FrameError::new(ErrorCode::Forbidden, text.clone())
            }
            Refusal::Invalid(text) => FrameError::new(ErrorCode::InvalidData, text.clone()),
            Refusal::ExternalIdTaken(_) => FrameError::new(ErrorCode::InvalidData, self.text()),
            Refusal::TooMany(text) => FrameError::new(ErrorCode::RateLimited, text.clone()),
            Refusal::QuotaExceeded(text) => FrameError::new(ErrorCode::QuotaExceeded, text.clone()),
            Refusal::StorageFull => FrameError::new(ErrorCode::InsufficientStorage, STORAGE_FULL),
            Refusal::Message(refusal) => FrameError::new(refusal.code(), refusal.text()),
        }
    }

    /// What a person reads.
    pub fn text(&self) -> String {
        match self {
            Refusal::NotFound => "No encontrado.".into(),
            Refusal::TicketClosed => TICKET_CLOSED.into(),
            Refusal::Conflict(text)
            | Refusal::Forbidden(text)
            | Refusal::Invalid(text)
            | Refusal::TooMany(text)
            | Refusal::QuotaExceeded(text) => text.clone(),
            Refusal::StorageFull => STORAGE_FULL.into(),
            Refusal::Message(refusal) => refusal.text().into(),
            Refusal::ExternalIdTaken(ticket) => {
                format!("Ese external_id ya es del ticket {ticket}.")
            }
        }
    }
}
