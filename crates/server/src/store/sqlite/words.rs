//! The words the full-text indexes hold (`search_words`), so a prefix is
//! searched as the whole words it starts (see `store::search::LastWord`).
//!
//! The writer adds the words of every text it writes in the batch's own
//! transaction. The list may hold more words than the indexes (a text
//! edited away, a job rolled back in its savepoint): a word without rows
//! costs its search one seek and finds nothing.

use crate::domain::search::{each_term, MAX_EXPANSION};
use rusqlite::Connection;
use std::collections::HashSet;

/// Fills the list from the indexes themselves: what migration 18 runs on
/// an existing store, and a bulk load after it wrote rows by itself.
pub const FROM_INDEXES: &str = include_str!("migrations/search_words_from_indexes.sql");

/// Words known to be in the list, so a batch looks up only new ones.
/// Forgotten whole when it grows past its bound (then relearned).
#[derive(Default)]
pub struct KnownWords(HashSet<String>);

/// Words remembered at most.
const KNOWN_BOUND: usize = 200_000;

impl KnownWords {
    /// Adds the words of `texts` the list may lack, inside the open
    /// transaction; returns them, for [`KnownWords::remember`] once it commits.
    pub fn write_new(&self, conn: &Connection, texts: &[String]) -> rusqlite::Result<Vec<String>> {
        // Only a word not known yet is copied.
        let mut new = HashSet::new();
        for text in texts {
            each_term(text, |word| {
                if listed(word) && !self.0.contains(word) && !new.contains(word) {
                    new.insert(word.to_string());
                }
            });
        }
        let mut insert =
            conn.prepare_cached("INSERT OR IGNORE INTO search_words (word) VALUES (?1)")?;
        for word in &new {
            insert.execute([word])?;
        }
        Ok(new.into_iter().collect())
    }

    /// Words now committed.
    pub fn remember(&mut self, words: Vec<String>) {
        if self.0.len() + words.len() > KNOWN_BOUND {
            self.0.clear();
        }
        self.0.extend(words);
    }
}

/// Whether `word` belongs in the list. Numbers do not: most are new
/// (order numbers, phone numbers, amounts), so keeping them cost the writer
/// an insert for nearly every message, and a number's rows are few, so
/// FTS5's own prefix matching merges little for them.
fn listed(word: &str) -> bool {
    !word.bytes().all(|b| b.is_ascii_digit())
}

/// The words starting with `prefix`, when there are at most
/// [`MAX_EXPANSION`]; `None` when there are more, or `prefix` is a number.
pub fn starting_with(conn: &Connection, prefix: &str) -> rusqlite::Result<Option<Vec<String>>> {
    if !listed(prefix) {
        return Ok(None);
    }
    // Every word starting with `prefix` sorts before `prefix` followed by
    // the last code point (no word holds it: it is not a letter or digit).
    let end = format!("{prefix}\u{10FFFF}");
    let mut stmt = conn.prepare_cached(
        "SELECT word FROM search_words WHERE word >= ?1 AND word < ?2 ORDER BY word LIMIT ?3",
    )?;
    let words = stmt
        .query_map(
            rusqlite::params![prefix, end, MAX_EXPANSION as i64 + 1],
            |row| row.get(0),
        )?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok((words.len() <= MAX_EXPANSION).then_some(words))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::super::open_connection(&dir.path().join("w.db"), false).unwrap();
        super::super::migrations::apply(&mut conn).unwrap();
        (dir, conn)
    }

    fn list(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT word FROM search_words ORDER BY word")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// What a store held before the list existed is read from its indexes.
    #[test]
    fn the_list_is_filled_from_the_indexes() {
        let (_dir, conn) = store();
        conn.execute_batch(
            "INSERT INTO users (id, nombre, rol) VALUES (1, 'Ana Núñez', 'CLIENTE');
             INSERT INTO tickets (id, asunto, estado, cliente_id, creado, actualizado)
                 VALUES (1, 'Envío tardío', 'ABIERTO', 1, 0, 0);
             INSERT INTO messages (ticket_id, seq, autor_id, autor_nombre, autor_tipo, contenido, tipo, creado)
                 VALUES (1, 1, 1, 'Ana', 'CLIENTE', '¿Y la Facturación?', 'TEXTO', 0);
             DELETE FROM search_words;",
        )
        .unwrap();
        conn.execute_batch(FROM_INDEXES).unwrap();
        assert_eq!(
            list(&conn),
            ["ana", "envio", "facturacion", "la", "nunez", "tardio", "y"]
        );
    }

    #[test]
    fn a_prefix_is_the_words_it_starts_while_they_are_few() {
        let (_dir, conn) = store();
        let known = KnownWords::default();
        let texts = ["fabada factura facturas facial fad".to_string()];
        known.write_new(&conn, &texts).unwrap();
        assert_eq!(
            starting_with(&conn, "fac").unwrap().unwrap(),
            ["facial", "factura", "facturas"]
        );
        assert_eq!(
            starting_with(&conn, "factura").unwrap().unwrap(),
            ["factura", "facturas"]
        );
        assert_eq!(
            starting_with(&conn, "x").unwrap().unwrap(),
            Vec::<String>::new()
        );
        let many: Vec<String> = (0..=MAX_EXPANSION).map(|i| format!("zeta{i:03}")).collect();
        known.write_new(&conn, &[many.join(" ")]).unwrap();
        assert_eq!(starting_with(&conn, "zeta").unwrap(), None);
        assert_eq!(starting_with(&conn, "zeta12").unwrap().unwrap().len(), 9);
    }

    /// Words already written are not looked up again; new ones are.
    #[test]
    fn known_words_are_skipped_and_new_ones_written() {
        let (_dir, conn) = store();
        let mut known = KnownWords::default();
        let new = known.write_new(&conn, &["Hola hola".to_string()]).unwrap();
        assert_eq!(new, ["hola"]);
        known.remember(new);
        conn.execute_batch("DELETE FROM search_words").unwrap();
        let new = known.write_new(&conn, &["hola Adiós".to_string()]).unwrap();
        assert_eq!(new, ["adios"]);
        assert_eq!(list(&conn), ["adios"]);
    }
}
