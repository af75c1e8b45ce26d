//! Why the server closes a WebSocket: a code a client switches on, and the
//! reason text a person (or a client older than these codes) reads.
//!
//! Application codes: 4000–4099 are final (do not reconnect: the client
//! cannot get back in as it is), 4100–4199 ask for a reconnection (each
//! says how). Standard codes keep their RFC 6455 meaning.

/// A close the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    /// Spanish, at most 123 bytes (a close frame's limit).
    pub reason: &'static str,
}

impl CloseReason {
    /// The server is shutting down: reconnect (to another node) with `since`.
    pub const SHUTTING_DOWN: CloseReason = CloseReason {
        code: 1001,
        reason: "el servidor se está reiniciando",
    };
    /// No sign of life from the client for two heartbeat intervals.
    pub const IDLE: CloseReason = CloseReason {
        code: 1001,
        reason: "conexión inactiva",
    };
    /// The server failed (the database, while greeting): reconnect later.
    pub const INTERNAL_ERROR: CloseReason = CloseReason {
        code: 1011,
        reason: "error interno",
    };
    /// The ticket was transferred away from this agent: final.
    pub const TRANSFERRED: CloseReason = CloseReason {
        code: 4001,
        reason: "el ticket fue transferido a otro agente",
    };
    /// The ticket vanished between admission and greeting: final.
    pub const TICKET_GONE: CloseReason = CloseReason {
        code: 4004,
        reason: "el ticket ya no existe",
    };
    /// The token expired while the socket was open: get a new one, then
    /// reconnect at once with `since`.
    pub const TOKEN_EXPIRED: CloseReason = CloseReason {
        code: 4100,
        reason: "el token ha expirado",
    };
    /// The client did not read its frames in time: reconnect at once with `since`.
    pub const TOO_SLOW: CloseReason = CloseReason {
        code: 4101,
        reason: "no se leen los mensajes a tiempo; reconecta con since",
    };
    /// The same, on an agent's inbox socket (which has no `since`).
    pub const INBOX_TOO_SLOW: CloseReason = CloseReason {
        code: 4101,
        reason: "no se leen los mensajes a tiempo; reconecta",
    };
    /// Too many frames, or too many refused messages in a row: back off,
    /// then reconnect with `since`.
    pub const TOO_MANY_MESSAGES: CloseReason = CloseReason {
        code: 4102,
        reason: "demasiados mensajes",
    };

    /// Every close the server sends on its own account, by name, for the
    /// clients' generated list of codes.
    pub const ALL: [(&'static str, CloseReason); 9] = [
        ("SHUTTING_DOWN", CloseReason::SHUTTING_DOWN),
        ("IDLE", CloseReason::IDLE),
        ("INTERNAL_ERROR", CloseReason::INTERNAL_ERROR),
        ("TRANSFERRED", CloseReason::TRANSFERRED),
        ("TICKET_GONE", CloseReason::TICKET_GONE),
        ("TOKEN_EXPIRED", CloseReason::TOKEN_EXPIRED),
        ("TOO_SLOW", CloseReason::TOO_SLOW),
        ("INBOX_TOO_SLOW", CloseReason::INBOX_TOO_SLOW),
        ("TOO_MANY_MESSAGES", CloseReason::TOO_MANY_MESSAGES),
    ];

    /// Whether a client closed with `code` should stay away.
    pub fn is_final(code: u16) -> bool {
        (4000..4100).contains(&code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_codes_sort_final_from_reconnect_and_fit_a_close_frame() {
        for (name, close) in CloseReason::ALL {
            assert!(close.reason.len() <= 123, "{name}");
            let expected_final = matches!(name, "TRANSFERRED" | "TICKET_GONE");
            assert_eq!(CloseReason::is_final(close.code), expected_final, "{name}");
        }
    }
}
