//! Why a frame was refused: the `codigo` of an `error` frame, with a Spanish
//! `detalle` a person can read.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Machine-readable reason of an `error` frame (`codigo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON, or not an object with a string `tipo`.
    JsonInvalido,
    /// `tipo` names no frame a client may send.
    TipoDesconocido,
    /// `data` is missing a field or a field has the wrong type.
    DatosInvalidos,
    /// The text is empty or only whitespace.
    MensajeVacio,
    /// The text is longer than the configured maximum.
    MensajeDemasiadoLargo,
    /// The frame is larger than the server accepts.
    FrameDemasiadoGrande,
    /// Too many messages per second from this connection.
    LimiteDeFrecuencia,
    /// The user may not do this on this ticket (any more).
    SinPermiso,
    /// The ticket is closed and takes no new messages.
    TicketCerrado,
    /// The file is larger than the server accepts.
    ArchivoDemasiadoGrande,
    /// The file's type is not among those allowed.
    TipoNoPermitido,
    /// The capability exists in the protocol but is not enabled on this server.
    NoDisponible,
    /// The message could not be stored; nothing was confirmed, retry with the same `client_id`.
    ErrorAlmacenamiento,
    /// Anything else that went wrong on the server.
    ErrorInterno,
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
