//! Data rights: what stays of a person's data once they asked for it to be
//! erased. Rows stay (a ticket's `seq` stays gapless, histories keep their
//! shape); what they wrote, sent and were called is replaced.

/// What an erased message reads as.
pub const ERASED_CONTENT: &str = "[Contenido eliminado a petición de la persona]";
/// What an erased person is called.
pub const ERASED_NAME: &str = "Persona eliminada";

/// Who asked for an erasure, as the record keeps it.
pub fn requested_by_key(name: &str) -> String {
    format!("clave de API {name:?}")
}

pub fn requested_by_user(id: soporte_protocol::UserId) -> String {
    format!("supervisor {id}")
}
