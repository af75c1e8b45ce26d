//! `seed` into PostgreSQL: batches of rows as arrays (`UNNEST`), the search
//! index built once at the end instead of row by row, asynchronous commit
//! for this session only.

use crate::seed::{people, Generator, Options};
use tokio_postgres::{Client, NoTls};

/// Tickets per batch.
const CHUNK: usize = 5_000;

async fn connect(url: &str) -> Result<Client, String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("seed: PostgreSQL connection: {error}");
        }
    });
    Ok(client)
}

/// Drops and makes `schema` (letters, digits and `_` only).
pub async fn new_schema(url: &str, schema: &str) -> Result<(), String> {
    if schema.is_empty()
        || !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!(
            "{schema:?} is not a schema name (letters, digits, _)"
        ));
    }
    connect(url)
        .await?
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
        ))
        .await
        .map_err(|e| e.to_string())
}

pub async fn load(url: &str, options: &Options, now: i64) -> Result<(), String> {
    let db = connect(url).await?;
    let e = |e: tokio_postgres::Error| e.to_string();
    let used: i64 = db
        .query_one("SELECT COUNT(*) FROM tickets", &[])
        .await
        .map_err(e)?
        .get(0);
    if used > 0 {
        return Err(format!(
            "the database already holds {used} tickets: seed an empty one"
        ));
    }
    db.batch_execute(
        "SET synchronous_commit = off; SET maintenance_work_mem = '1GB';
         DROP INDEX IF EXISTS messages_busqueda;",
    )
    .await
    .map_err(e)?;
    let (ids, names, roles): (Vec<i64>, Vec<String>, Vec<&str>) = {
        let mut all = (Vec::new(), Vec::new(), Vec::new());
        for (id, name, role) in people(options) {
            all.0.push(id);
            all.1.push(name);
            all.2.push(role);
        }
        all
    };
    db.execute(
        "INSERT INTO users (id, nombre, rol) SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[])",
        &[&ids, &names, &roles],
    )
    .await
    .map_err(e)?;

    let mut tickets = Generator::new(options, now).peekable();
    while tickets.peek().is_some() {
        let chunk: Vec<_> = tickets.by_ref().take(CHUNK).collect();
        let col = |f: &dyn Fn(&crate::seed::SeedTicket) -> Option<i64>| {
            chunk.iter().map(f).collect::<Vec<_>>()
        };
        let (id, customer, agent) = (
            col(&|t| Some(t.id)),
            col(&|t| Some(t.customer)),
            col(&|t| t.agent),
        );
        let (created, updated) = (col(&|t| Some(t.created)), col(&|t| Some(t.updated)));
        let last = col(&|t| Some(t.messages.len() as i64));
        let assigned = col(&|t| t.agent.map(|_| t.created));
        let (first, resolved) = (col(&|t| t.first_answer), col(&|t| t.resolved));
        let (public_seq, public_at) = (
            col(&|t| Some(t.public_seq)),
            col(&|t| Some(t.public_updated)),
        );
        let subject: Vec<&str> = chunk.iter().map(|t| t.subject.as_str()).collect();
        let state: Vec<&str> = chunk.iter().map(|t| t.state).collect();
        db.execute(
            "INSERT INTO tickets (id, asunto, estado, cliente_id, agente_id, creado, actualizado, last_seq,
                 asignado_at, primera_respuesta_at, resuelto_at, publico_seq, publico_actualizado)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                 $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[])",
            &[&id, &subject, &state, &customer, &agent, &created, &updated, &last, &assigned, &first, &resolved, &public_seq, &public_at],
        )
        .await
        .map_err(e)?;
        let messages = chunk
            .iter()
            .flat_map(|t| t.messages.iter().map(move |m| (t.id, m)));
        let (mut ticket, mut seq, mut author, mut name, mut kind, mut text, mut at, mut internal) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for (t, m) in messages {
            ticket.push(t);
            seq.push(m.seq);
            author.push(m.author);
            name.push(m.author_name.as_str());
            kind.push(m.author_kind);
            text.push(m.content.as_str());
            at.push(m.at);
            internal.push(m.internal);
        }
        db.execute(
            "INSERT INTO messages (ticket_id, seq, autor_id, autor_nombre, autor_tipo, contenido, creado, interno, tipo, estado)
             SELECT *, 'TEXTO', 'LEIDO' FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],
                 $6::text[], $7::bigint[], $8::boolean[])",
            &[&ticket, &seq, &author, &name, &kind, &text, &at, &internal],
        )
        .await
        .map_err(e)?;
        let (who, of): (Vec<i64>, Vec<i64>) = chunk
            .iter()
            .flat_map(|t| {
                std::iter::once(t.customer)
                    .chain(t.agent)
                    .map(move |w| (w, t.id))
            })
            .unzip();
        db.execute(
            "INSERT INTO ticket_authors (usuario_id, ticket_id) SELECT * FROM UNNEST($1::bigint[], $2::bigint[])
             ON CONFLICT DO NOTHING",
            &[&who, &of],
        )
        .await
        .map_err(e)?;
    }
    db.batch_execute(
        "CREATE INDEX messages_busqueda ON messages USING gin (busqueda) WITH (gin_pending_list_limit = 256);
         SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT MAX(id) FROM tickets));",
    )
    .await
    .map_err(e)?;
    // What autovacuum would have done to a store this old: statistics, and
    // the visibility map that lets a count read only an index. (A statement
    // of its own: VACUUM cannot run inside a multi-statement string; the
    // seeded tables only, not every schema of the database.)
    db.batch_execute("VACUUM (ANALYZE) tickets, messages, users, ticket_reads, ticket_authors")
        .await
        .map_err(e)
}
