//! Schema migrations, embedded in the binary and applied in order, each in its
//! own transaction, recorded in `soporte_migrations`.

use rusqlite::Connection;

/// `(version, SQL)`, in order. Never edit a released migration: add one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_agent_workflows.sql")),
    (3, include_str!("migrations/0003_attachments.sql")),
    (4, include_str!("migrations/0004_epoch.sql")),
    (5, include_str!("migrations/0005_enum_checks.sql")),
    (6, include_str!("migrations/0006_integration.sql")),
    (7, include_str!("migrations/0007_webhooks.sql")),
    (8, include_str!("migrations/0008_erasure.sql")),
    (9, include_str!("migrations/0009_storage_quotas.sql")),
    (10, include_str!("migrations/0010_public_activity.sql")),
    (11, include_str!("migrations/0011_csat.sql")),
    (12, include_str!("migrations/0012_resolved_index.sql")),
    (13, include_str!("migrations/0013_settings.sql")),
    (14, include_str!("migrations/0014_email_outbox.sql")),
    (15, include_str!("migrations/0015_transcripts.sql")),
    (16, include_str!("migrations/0016_search.sql")),
    (17, include_str!("migrations/0017_message_changes.sql")),
    (
        18,
        concat!(
            include_str!("migrations/0018_search_words.sql"),
            include_str!("migrations/search_words_from_indexes.sql")
        ),
    ),
];

/// Applies what is missing; returns how many were applied.
pub fn apply(conn: &mut Connection) -> rusqlite::Result<usize> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS soporte_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let mut applied = 0;
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM soporte_migrations WHERE version = ?1)",
            [version],
            |row| row.get(0),
        )?;
        if !done {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO soporte_migrations (version, applied_at) VALUES (?1, ?2)",
                rusqlite::params![version, soporte_protocol::Timestamp::now().millis()],
            )?;
            applied += 1;
        }
        tx.commit()?;
    }
    Ok(applied)
}
