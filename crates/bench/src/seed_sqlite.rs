//! `seed` into SQLite: prepared statements in large transactions, with the
//! durability a seed does not need turned off for its own connection (the
//! server's connections set theirs when it starts). The search index is
//! kept by the schema's own triggers, as in the product.

use crate::seed::{people, Generator, Options};
use rusqlite::{params, Connection};
use std::path::Path;

/// Tickets per transaction.
const CHUNK: usize = 5_000;

pub fn load(path: &Path, options: &Options, now: i64) -> Result<(), String> {
    let mut conn = Connection::open(path).map_err(|e| e.to_string())?;
    conn.execute_batch(
        "PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000; PRAGMA temp_store = MEMORY;",
    )
    .map_err(|e| e.to_string())?;
    let used: i64 = conn
        .query_row("SELECT COUNT(*) FROM tickets", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if used > 0 {
        return Err(format!(
            "{} already holds {used} tickets: seed an empty database",
            path.display()
        ));
    }
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    {
        let mut user = tx
            .prepare("INSERT INTO users (id, nombre, rol) VALUES (?1, ?2, ?3)")
            .map_err(|e| e.to_string())?;
        for (id, name, role) in people(options) {
            user.execute(params![id, name, role])
                .map_err(|e| e.to_string())?;
        }
    }
    tx.commit().map_err(|e| e.to_string())?;

    let mut tickets = Generator::new(options, now).peekable();
    while tickets.peek().is_some() {
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        {
            let mut ticket = tx
                .prepare(
                    "INSERT INTO tickets (id, asunto, estado, cliente_id, agente_id, creado, actualizado, last_seq,
                         asignado_at, primera_respuesta_at, resuelto_at, publico_seq, publico_actualizado)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(|e| e.to_string())?;
            let mut message = tx
                .prepare(
                    "INSERT INTO messages (ticket_id, seq, autor_id, autor_nombre, autor_tipo, contenido, tipo,
                         estado, creado, interno)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'TEXTO', 'LEIDO', ?7, ?8)",
                )
                .map_err(|e| e.to_string())?;
            let mut author = tx
                .prepare(
                    "INSERT OR IGNORE INTO ticket_authors (usuario_id, ticket_id) VALUES (?1, ?2)",
                )
                .map_err(|e| e.to_string())?;
            for t in tickets.by_ref().take(CHUNK) {
                let last = t.messages.len() as i64;
                ticket
                    .execute(params![
                        t.id,
                        t.subject,
                        t.state,
                        t.customer,
                        t.agent,
                        t.created,
                        t.updated,
                        last,
                        t.agent.map(|_| t.created),
                        t.first_answer,
                        t.resolved,
                        t.public_seq,
                        t.public_updated
                    ])
                    .map_err(|e| e.to_string())?;
                for m in &t.messages {
                    message
                        .execute(params![
                            t.id,
                            m.seq,
                            m.author,
                            m.author_name,
                            m.author_kind,
                            m.content,
                            m.at,
                            m.internal
                        ])
                        .map_err(|e| e.to_string())?;
                }
                for who in std::iter::once(t.customer).chain(t.agent) {
                    author
                        .execute(params![who, t.id])
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
    }
    // The server's writer keeps the search word list; rows written here
    // bypass it, so the list is filled from the indexes.
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    tx.execute_batch(soporte_server::store::sqlite::words::FROM_INDEXES)
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())?;
    // What a long-lived database's planner knows.
    conn.execute_batch("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(|e| e.to_string())
}
