// Generated from crates/protocol/src/close.rs by its typescript test. Do not edit.

/** The closes the server sends on its own account. 4000-4099: final; 4100-4199: reconnect. */
export const ServerClose = {
  SHUTTING_DOWN: { code: 1001, reason: "el servidor se está reiniciando" },
  IDLE: { code: 1001, reason: "conexión inactiva" },
  INTERNAL_ERROR: { code: 1011, reason: "error interno" },
  TRANSFERRED: { code: 4001, reason: "el ticket fue transferido a otro agente" },
  TICKET_GONE: { code: 4004, reason: "el ticket ya no existe" },
  TOKEN_EXPIRED: { code: 4100, reason: "el token ha expirado" },
  TOO_SLOW: { code: 4101, reason: "no se leen los mensajes a tiempo; reconecta con since" },
  INBOX_TOO_SLOW: { code: 4101, reason: "no se leen los mensajes a tiempo; reconecta" },
  TOO_MANY_MESSAGES: { code: 4102, reason: "demasiados mensajes" },
} as const;
