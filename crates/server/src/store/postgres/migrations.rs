//! Schema migrations, embedded in the binary and applied in order, recorded
//! in `soporte_migrations`.
//!
//! Several nodes may start at once against one database: all of it happens in
//! one transaction that first takes an advisory lock, so one node migrates
//! and the others, once it has committed, find nothing left to do. PostgreSQL's
//! DDL is transactional: a migration that fails leaves nothing half-applied.

use tokio_postgres::Client;

/// `(version, SQL)`, in order. Never edit a released migration: add one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_epoch.sql")),
    (3, include_str!("migrations/0003_enum_checks.sql")),
    (4, include_str!("migrations/0004_integration.sql")),
    (5, include_str!("migrations/0005_webhooks.sql")),
    (6, include_str!("migrations/0006_erasure.sql")),
    (7, include_str!("migrations/0007_storage_quotas.sql")),
    (8, include_str!("migrations/0008_public_activity.sql")),
    (9, include_str!("migrations/0009_csat.sql")),
    (10, include_str!("migrations/0010_resolved_index.sql")),
    (11, include_str!("migrations/0011_settings.sql")),
    (12, include_str!("migrations/0012_email_outbox.sql")),
    (13, include_str!("migrations/0013_transcripts.sql")),
    (14, include_str!("migrations/0014_search.sql")),
    (15, include_str!("migrations/0015_message_changes.sql")),
    (16, include_str!("migrations/0016_gin_pending_list.sql")),
];

/// How many migrations this build knows.
pub fn known() -> usize {
    MIGRATIONS.len()
}

/// The advisory lock key every node takes to migrate ("soporte" in ASCII).
const MIGRATION_LOCK: i64 = 0x0073_6f70_6f72_7465;

/// Applies what is missing; returns how many were applied.
pub async fn apply(client: &mut Client) -> Result<usize, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS soporte_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
    )
    .await?;
    let done: Vec<i64> = tx
        .query("SELECT version FROM soporte_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut applied = 0;
    for (version, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO soporte_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &soporte_protocol::Timestamp::now().millis()],
        )
        .await?;
        applied += 1;
    }
    tx.commit().await?;
    Ok(applied)
}
