//! Why a frame was refused: the `codigo` of an `error` frame, with a Spanish
//! `detalle` a person can read.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Machine-readable reason of an `error` frame (`codigo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
pub enum ErrorCode {
    /// The frame is not JSON, or not an object with a string `tipo`.
    #[serde(rename = "json_invalido")]
    InvalidJson,
    /// `tipo` names no frame a client may send.
    #[serde(rename = "tipo_desconocido")]
    UnknownType,
    /// `data` is missing a field or a field has the wrong type.
    #[serde(rename = "datos_invalidos")]
    InvalidData,
    /// The text is empty or only whitespace.
    #[serde(rename = "mensaje_vacio")]
    EmptyMessage,
    /// The text is longer than the configured maximum.
    #[serde(rename = "mensaje_demasiado_largo")]
    MessageTooLong,
    /// The frame is larger than the server accepts.
    #[serde(rename = "frame_demasiado_grande")]
    FrameTooLarge,
    /// Too many messages per second from this connection.
    #[serde(rename = "limite_de_frecuencia")]
    RateLimited,
    /// The user may not do this on this ticket (any more).
    #[serde(rename = "sin_permiso")]
    Forbidden,
    /// The ticket is closed and takes no new messages.
    #[serde(rename = "ticket_cerrado")]
    TicketClosed,
    /// The message named does not exist in this ticket (or is not visible).
    #[serde(rename = "mensaje_no_encontrado")]
    MessageNotFound,
    /// Only the author may edit a message (or delete it, for customers).
    #[serde(rename = "no_es_autor")]
    NotAuthor,
    /// The time to edit the message is over.
    #[serde(rename = "fuera_de_plazo")]
    EditWindowPassed,
    /// The message was deleted already.
    #[serde(rename = "ya_eliminado")]
    AlreadyDeleted,
    /// This kind of message cannot be edited (files, system messages).
    #[serde(rename = "no_editable")]
    NotEditable,
    /// The file is larger than the server accepts.
    #[serde(rename = "archivo_demasiado_grande")]
    FileTooLarge,
    /// The file's type is not among those allowed.
    #[serde(rename = "tipo_no_permitido")]
    TypeNotAllowed,
    /// The upload would take its uploader or ticket past a storage quota, or
    /// the uploader past their upload budget for the hour.
    #[serde(rename = "cuota_excedida")]
    QuotaExceeded,
    /// The server's disk is below its free-space floor: it takes no files now.
    #[serde(rename = "espacio_insuficiente")]
    InsufficientStorage,
    /// The capability exists in the protocol but is not enabled on this server.
    #[serde(rename = "no_disponible")]
    Unavailable,
    /// The message could not be stored; nothing was confirmed, retry with the same `client_id`.
    #[serde(rename = "error_almacenamiento")]
    StorageError,
    /// Anything else that went wrong on the server.
    #[serde(rename = "error_interno")]
    InternalError,
}

/// A refused frame: what goes into an `error` frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    pub code: ErrorCode,
    pub detail: String,
}

impl FrameError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        FrameError {
            code,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.detail)
    }
}

impl std::error::Error for FrameError {}
