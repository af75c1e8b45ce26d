//! PostgreSQL only: several stores (nodes) on one database at once, outages
//! and restarts. They run when `SOPORTE_TEST_POSTGRES` names a server
//! (`scripts/test` sets it for its PostgreSQL pass) and say they were skipped
//! otherwise; the start-error checks need no server and always run.

use crate::helpers::*;
use serde_json::json;
use soporte_protocol::rest::CannedResponseInput;
use soporte_protocol::*;
use soporte_server::auth::Verifier;
use soporte_server::config::DatabaseUrl;
use soporte_server::domain::uploads::{Quota, UploadQuotas};
use soporte_server::domain::User;
use soporte_server::metrics::METRICS;
use soporte_server::store::postgres::PostgresStore;
use soporte_server::store::*;
use soporte_server::{Application, Config};
use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

async fn schema_or_skip(test: &str) -> Option<PgSchema> {
    let schema = PgSchema::create().await;
    if schema.is_none() {
        eprintln!("{test}: skipped, {POSTGRES_ENV} is not set");
    }
    schema
}

/// Every commit a store reported, in the order it reported them.
#[derive(Default)]
struct Recorder(Mutex<Vec<(TicketId, Seq, MessageId)>>);

impl CommitListener for Recorder {
    fn committed(&self, messages: &[Committed]) {
        self.0.lock().unwrap().extend(
            messages
                .iter()
                .map(|c| (c.message.ticket, c.message.seq, c.message.id)),
        );
    }
}

impl Recorder {
    fn seen(&self) -> Vec<(TicketId, Seq, MessageId)> {
        self.0.lock().unwrap().clone()
    }
}

fn user(id: UserId, role: Role) -> User {
    User {
        id,
        name: format!("Usuario {id}"),
        role,
        avatar: None,
        email: None,
    }
}

fn message(ticket: TicketId, author: UserId, client_id: &str) -> NewMessage {
    NewMessage {
        ticket,
        author: Person::user(author, &format!("Usuario {author}"), Role::Customer, None),
        client_id: Some(client_id.to_string()),
        content: format!("mensaje {client_id}"),
        kind: MessageKind::Text,
        metadata: serde_json::Map::new(),
        internal: false,
        origin: None,
        unread_email: None,
        reply_to: None,
    }
}

async fn new_ticket(store: &PostgresStore, customer: UserId) -> TicketId {
    store
        .create_ticket(NewTicket {
            subject: "varios nodos".into(),
            customer: NewCustomer::Described(user(customer, Role::Customer)),
            auto_assign: Vec::new(),
            max_open: 0,
            agent: None,
            external_id: None,
            metadata: None,
            customer_limits: Default::default(),
        })
        .await
        .unwrap()
        .id
}

async fn open(url: &str, listener: Arc<Recorder>) -> Arc<PostgresStore> {
    Arc::new(PostgresStore::open(url, listener, "").await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_writing_to_the_same_tickets_get_unique_gapless_seq() {
    let Some(schema) = schema_or_skip("concurrent writers").await else {
        return;
    };
    let (seen_a, seen_b) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let a = open(&schema.url, seen_a.clone()).await;
    let b = open(&schema.url, seen_b.clone()).await;
    // Both tickets belong to one customer, who writes from 16 tabs: half on
    // each node, each tab to both tickets, in opposite orders on the two
    // nodes (the order in which their batches want the two rows).
    let tickets = [new_ticket(&a, 1).await, new_ticket(&b, 1).await];
    let per_writer = 25;
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..16 {
        let store = if writer % 2 == 0 {
            a.clone()
        } else {
            b.clone()
        };
        let order = if writer % 2 == 0 {
            tickets
        } else {
            [tickets[1], tickets[0]]
        };
        writers.spawn(async move {
            let mut stored = Vec::new();
            for n in 0..per_writer {
                for ticket in order {
                    let appended = store
                        .append(message(ticket, 1, &format!("w{writer}-{n}")))
                        .await
                        .unwrap();
                    assert!(!appended.duplicate);
                    stored.push((ticket, appended.message.seq, appended.message.id));
                }
            }
            stored
        });
    }
    let mut stored: Vec<(TicketId, Seq, MessageId)> = Vec::new();
    while let Some(done) = writers.join_next().await {
        stored.extend(done.unwrap());
    }
    let expected: Vec<Seq> = (1..=16 * per_writer as i64).collect();
    for ticket in tickets {
        let mut seqs: Vec<Seq> = stored
            .iter()
            .filter(|s| s.0 == ticket)
            .map(|s| s.1)
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, expected, "ticket {ticket}: every seq once, no gap");
        let history = a
            .recent_messages(Newest::new(ticket, 1000, true))
            .await
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect::<Vec<_>>();
        assert_eq!(history, expected);
        assert_eq!(
            b.ticket(ticket).await.unwrap().unwrap().last_seq,
            16 * per_writer as i64
        );
    }
    // Each node told its listener of its own commits, each once, and in
    // commit order: per ticket, seq only grows.
    let (seen_a, seen_b) = (seen_a.seen(), seen_b.seen());
    for seen in [&seen_a, &seen_b] {
        for ticket in tickets {
            let seqs: Vec<Seq> = seen.iter().filter(|s| s.0 == ticket).map(|s| s.1).collect();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "commit order: {seqs:?}"
            );
        }
    }
    let mut reported: Vec<_> = seen_a.into_iter().chain(seen_b).collect();
    reported.sort_unstable();
    stored.sort_unstable();
    assert_eq!(reported, stored, "every stored message reported once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_sent_through_two_stores_at_once_is_stored_once() {
    let Some(schema) = schema_or_skip("duplicates across stores").await else {
        return;
    };
    let seen = Arc::new(Recorder::default());
    let a = open(&schema.url, seen.clone()).await;
    let b = open(&schema.url, seen.clone()).await;
    let ticket = new_ticket(&a, 7).await;
    let mut sends = tokio::task::JoinSet::new();
    for k in 0..30 {
        for copy in 0..4 {
            let store = if copy % 2 == 0 { a.clone() } else { b.clone() };
            sends.spawn(async move {
                let appended = store
                    .append(message(ticket, 7, &format!("dup-{k}")))
                    .await
                    .unwrap();
                (k, appended)
            });
        }
    }
    let mut by_client: BTreeMap<i32, Vec<Appended>> = BTreeMap::new();
    while let Some(done) = sends.join_next().await {
        let (k, appended) = done.unwrap();
        by_client.entry(k).or_default().push(appended);
    }
    for (k, copies) in &by_client {
        assert_eq!(copies.len(), 4);
        let firsts = copies.iter().filter(|c| !c.duplicate).count();
        assert_eq!(firsts, 1, "dup-{k} stored once");
        assert!(
            copies
                .iter()
                .all(|c| c.message.id == copies[0].message.id
                    && c.message.seq == copies[0].message.seq),
            "every copy of dup-{k} answers with the first one"
        );
    }
    let history = b
        .recent_messages(Newest::new(ticket, 1000, true))
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>(),
        "no seq burnt by a duplicate"
    );
    assert_eq!(seen.seen().len(), 30, "duplicates are not reported as new");
    assert_eq!(
        a.find_sent(Sent::new(ticket, 7, "dup-3"))
            .await
            .unwrap()
            .map(|m| m.id),
        Some(by_client[&3][0].message.id)
    );
}

/// One batch mixes appends answered from the batch's copy with refusals,
/// second copies of a `client_id`, replies, a staff answer and a change of
/// state that makes the rest of the batch run statement by statement: each
/// job is answered as it would be alone, and the `seq`s stay gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_keeps_every_rule_of_appending() {
    let Some(schema) = schema_or_skip("mixed batch").await else {
        return;
    };
    let seen = Arc::new(Recorder::default());
    let store = open(&schema.url, seen.clone()).await;
    let ticket = new_ticket(&store, 7).await;
    let first = store.append(message(ticket, 7, "first")).await.unwrap();
    let stepwise = || METRICS.commit_stepwise.load(Ordering::Relaxed);
    let stepwise_before = stepwise();
    // The writer's next batch waits on the held row, and everything sent
    // meanwhile queues up behind it.
    let admin = hold_ticket(&schema, ticket).await;
    let blocked = tokio::spawn({
        let store = store.clone();
        async move { store.append(message(ticket, 7, "blocked")).await }
    });
    until_a_writer_waits(&admin, &schema).await;
    let supervisor = user(90, Role::Supervisor);
    let mut sends = tokio::task::JoinSet::new();
    let mut send = |label: String, new: NewMessage| {
        let store = store.clone();
        sends.spawn(async move { (label, store.append(new).await) });
    };
    for n in 0..20 {
        send(format!("c{n}"), message(ticket, 7, &format!("c{n}")));
    }
    for n in 0..5 {
        send(format!("c{n}"), message(ticket, 7, &format!("c{n}")));
    }
    for n in 0..3 {
        let reply = NewMessage {
            reply_to: Some(first.message.id + 1_000_000),
            ..message(ticket, 7, &format!("missing{n}"))
        };
        send(format!("missing{n}"), reply);
    }
    let reply = NewMessage {
        reply_to: Some(first.message.id),
        ..message(ticket, 7, "reply")
    };
    send("reply".into(), reply);
    let answer = NewMessage {
        author: Person::user(90, "Usuario 90", Role::Supervisor, None),
        ..message(ticket, 90, "answer")
    };
    send("answer".into(), answer);
    // Queued after those, a customer's transfer: refused after reading the
    // ticket, which writes the rows kept so far first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = tokio::spawn({
        let store = store.clone();
        let command = TicketCommand::Transfer {
            agent: 90,
            reason: "otro".into(),
        };
        let customer = user(7, Role::Customer);
        async move {
            store
                .change_ticket(ticket, customer, command, Default::default())
                .await
        }
    });
    // Then a change of state: the rest of the batch runs statement by
    // statement.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let resolved = tokio::spawn({
        let store = store.clone();
        let command = TicketCommand::SetState {
            state: TicketState::Resolved,
        };
        async move {
            store
                .change_ticket(ticket, supervisor, command, Default::default())
                .await
        }
    });
    for n in 0..10 {
        send(format!("d{n}"), message(ticket, 7, &format!("d{n}")));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    admin.batch_execute("COMMIT").await.unwrap();
    blocked.await.unwrap().unwrap();
    resolved.await.unwrap().unwrap();
    let refusal = refused.await.unwrap().unwrap_err();
    assert!(matches!(refusal, StoreError::Refused(_)), "{refusal:?}");

    let mut answers: BTreeMap<String, Vec<Appended>> = BTreeMap::new();
    while let Some(done) = sends.join_next().await {
        let (label, outcome) = done.unwrap();
        match outcome {
            Ok(appended) => answers.entry(label).or_default().push(appended),
            Err(error) => {
                assert!(label.starts_with("missing"), "{label}: {error:?}");
                assert!(matches!(error, StoreError::Refused(_)), "{error:?}");
            }
        }
    }
    assert!(!answers.keys().any(|label| label.starts_with("missing")));
    let history = store
        .recent_messages(Newest::new(ticket, 1000, true))
        .await
        .unwrap();
    let last_seq = store.ticket(ticket).await.unwrap().unwrap().last_seq;
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=last_seq).collect::<Vec<_>>(),
        "every seq once, no gap"
    );
    for (label, copies) in &answers {
        let stored: Vec<&Message> = history
            .iter()
            .filter(|m| m.client_id.as_deref() == Some(label.as_str()))
            .collect();
        assert_eq!(stored.len(), 1, "{label} stored once");
        assert_eq!(copies.iter().filter(|c| !c.duplicate).count(), 1, "{label}");
        for copy in copies {
            assert_eq!(
                (copy.message.id, copy.message.seq),
                (stored[0].id, stored[0].seq)
            );
            assert_eq!(copy.message.content, stored[0].content);
        }
    }
    assert_eq!(answers["c3"].len(), 2);
    let reply = history
        .iter()
        .find(|m| m.client_id.as_deref() == Some("reply"));
    assert_eq!(reply.unwrap().reply_to, Some(first.message.id));
    // The ticket's row says what its last messages say.
    let stored = store.ticket(ticket).await.unwrap().unwrap();
    assert_eq!(stored.last_seq, history.last().unwrap().seq);
    // Each commit told once, as stored.
    let mut reported = seen.seen();
    reported.sort_unstable();
    let mut expected: Vec<_> = history.iter().map(|m| (ticket, m.seq, m.id)).collect();
    expected.sort_unstable();
    assert_eq!(reported, expected);
    // Refusals and second copies need no second run of the batch (nextest
    // runs each test in a process of its own), not even a refusal that came
    // after earlier jobs' rows were written for it.
    assert_eq!(stepwise(), stepwise_before);
}

/// Another session that holds `ticket`'s row until it commits.
async fn hold_ticket(schema: &PgSchema, ticket: TicketId) -> tokio_postgres::Client {
    let admin = pg_admin(&schema.admin_url).await;
    admin
        .batch_execute(&format!(
            "BEGIN; SELECT id FROM {}.tickets WHERE id = {ticket} FOR UPDATE",
            schema.name
        ))
        .await
        .unwrap();
    admin
}

/// Waits until a backend of the schema's stores waits for a lock.
async fn until_a_writer_waits(admin: &tokio_postgres::Client, schema: &PgSchema) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let waiting: i64 = admin
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&schema.name],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no writer waits");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_assignment_on_two_stores_respects_the_limit() {
    let Some(schema) = schema_or_skip("automatic assignment").await else {
        return;
    };
    let a = open(&schema.url, Arc::new(Recorder::default())).await;
    let b = open(&schema.url, Arc::new(Recorder::default())).await;
    a.upsert_user(user(50, Role::Agent)).await.unwrap();
    for id in [60, 61] {
        a.upsert_user(user(id, Role::Customer)).await.unwrap();
    }
    let renamed = |id| User {
        name: "Otro nombre".into(),
        ..user(id, Role::Customer)
    };
    let auto = |customer| NewTicket {
        subject: "automática".into(),
        customer: NewCustomer::Described(user(customer, Role::Customer)),
        auto_assign: vec![50],
        max_open: 1,
        agent: None,
        external_id: None,
        metadata: None,
        customer_limits: Default::default(),
    };
    // Two sessions hold users 60 and 61. Store A's writer first waits on 60;
    // meanwhile a creation with automatic assignment and a write that will
    // wait on 61 queue up behind it, and become A's next batch.
    let hold = |id: i64| {
        let (url, name) = (schema.admin_url.clone(), schema.name.clone());
        async move {
            let admin = pg_admin(&url).await;
            admin
                .batch_execute(&format!(
                    "BEGIN; SELECT id FROM {name}.users WHERE id = {id} FOR UPDATE"
                ))
                .await
                .unwrap();
            admin
        }
    };
    let (first, second) = (hold(60).await, hold(61).await);
    let blocked = tokio::spawn({
        let a = a.clone();
        async move { a.upsert_user(renamed(60)).await }
    });
    until_a_writer_waits(&first, &schema).await;
    let created_on_a = tokio::spawn({
        let a = a.clone();
        async move { a.create_ticket(auto(70)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let then_blocked = tokio::spawn({
        let a = a.clone();
        async move { a.upsert_user(renamed(61)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.batch_execute("COMMIT").await.unwrap();
    blocked.await.unwrap().unwrap();
    // A's batch has assigned its ticket and waits on 61, uncommitted.
    until_a_writer_waits(&second, &schema).await;
    let created_on_b = tokio::spawn({
        let b = b.clone();
        async move { b.create_ticket(auto(71)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !created_on_b.is_finished(),
        "B counted the agent's open tickets while A was assigning one"
    );
    second.batch_execute("COMMIT").await.unwrap();
    then_blocked.await.unwrap().unwrap();
    let on_a = created_on_a.await.unwrap().unwrap();
    let on_b = created_on_b.await.unwrap().unwrap();
    assert_eq!(on_a.agent.and_then(|p| p.id), Some(50));
    assert_eq!(on_b.agent, None, "the agent already holds max_open tickets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_when_nodes_start_together_and_again_changes_nothing() {
    let Some(schema) = schema_or_skip("migrations").await else {
        return;
    };
    let runs =
        futures_util::future::join_all((0..4).map(|_| PostgresStore::migrate(&schema.url))).await;
    let applied: Vec<usize> = runs.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(
        applied.iter().sum::<usize>(),
        PostgresStore::known_migrations(),
        "{applied:?}"
    );
    assert_eq!(PostgresStore::migrate(&schema.url).await.unwrap(), 0);
    let output = Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(["migrate", "--database-url", &schema.url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "migrations applied: 0"
    );

    // Two servers starting at once on an empty schema both come up.
    let Some(fresh) = schema_or_skip("migrations").await else {
        return;
    };
    let (a, b) = tokio::join!(
        PostgresStore::open(&fresh.url, Arc::new(NoListener), ""),
        PostgresStore::open(&fresh.url, Arc::new(NoListener), ""),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    a.ping().await.unwrap();
    b.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_share_tickets_and_seq() {
    let Some(schema) = schema_or_skip("two servers").await else {
        return;
    };
    let db = TestDb::Postgres(Arc::new(schema));
    let verifier = || Verifier::hs256(SECRET).unwrap();
    let a = spawn_on(&db, verifier(), |_| {}).await;
    let b = spawn_on(&db, verifier(), |_| {}).await;
    let ticket = a.ticket_for(&customer(1)).await;
    let path = format!("/api/soporte/tickets/{ticket}/chat/sync/");
    let batch = |i: usize| {
        let messages: Vec<_> = (0..10)
            .map(
                |j| json!({"client_id": format!("n{i}-{j}"), "contenido": format!("hola {i}-{j}")}),
            )
            .collect();
        json!({ "messages": messages })
    };
    // Ten offline batches, sent to both servers at once; every second one
    // is retried on the other server.
    let token = customer(1);
    let mut posts = Vec::new();
    for i in 0..10 {
        let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        posts.push(first.post(&path, &token, batch(i)));
        if i % 2 == 0 {
            posts.push(second.post(&path, &token, batch(i)));
        }
    }
    let answers = futures_util::future::join_all(posts).await;
    let mut confirmed: HashMap<String, (i64, i64)> = HashMap::new();
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
        for result in body["results"].as_array().unwrap() {
            let client_id = result["client_id"].as_str().unwrap().to_string();
            let stored = (
                result["mensaje_id"].as_i64().unwrap(),
                result["seq"].as_i64().unwrap(),
            );
            if let Some(earlier) = confirmed.insert(client_id.clone(), stored) {
                assert_eq!(earlier, stored, "{client_id} confirmed as two messages");
            }
        }
    }
    assert_eq!(confirmed.len(), 100);
    let mut history = Vec::new();
    for page in 1..=2 {
        let (status, body) = b
            .get(
                &format!("/api/soporte/tickets/{ticket}/chat/historial/?page={page}&size=50"),
                &customer(1),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let mut results = body["results"].as_array().unwrap().clone();
        results.extend(history);
        history = results;
    }
    let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    for m in &history {
        let client_id = m["client_id"].as_str().unwrap();
        assert_eq!(
            confirmed[client_id],
            (m["id"].as_i64().unwrap(), m["seq"].as_i64().unwrap())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_are_replaced_without_failing_anyone() {
    let Some(schema) = schema_or_skip("terminated connections").await else {
        return;
    };
    let db = TestDb::Postgres(Arc::new(schema));
    let app = spawn_on(&db, Verifier::hs256(SECRET).unwrap(), |_| {}).await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    ws.send_message("antes", "r-1").await;
    assert_eq!(ws.expect("mensaje_confirmado").await["seq"], 1);
    // As a database restart or a failover would: every backend of ours ends.
    let ended = db.postgres().unwrap().terminate_connections().await;
    assert!(
        ended >= 2,
        "the writer and a reader were connected ({ended})"
    );
    ws.send_message("después", "r-2").await;
    let confirmed = ws.expect("mensaje_confirmado").await;
    assert_eq!(confirmed["seq"], 2, "{confirmed}");
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let (status, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["count"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_connection_dies_before_commit_runs_again_on_a_new_one() {
    let Some(schema) = schema_or_skip("connection lost mid-batch").await else {
        return;
    };
    let seen = Arc::new(Recorder::default());
    let store = open(&schema.url, seen.clone()).await;
    let ticket = new_ticket(&store, 5).await;
    store.append(message(ticket, 5, "l-1")).await.unwrap();
    // The writer's next batch waits for the held row, inside its
    // transaction, and its backend is ended there.
    let admin = hold_ticket(&schema, ticket).await;
    let pending = tokio::spawn({
        let store = store.clone();
        async move { store.append(message(ticket, 5, "l-2")).await }
    });
    let waiting_writer = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                          WHERE application_name = $1 AND wait_event_type = 'Lock'";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let ended = admin
            .execute(waiting_writer, &[&schema.name])
            .await
            .unwrap();
        if ended > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writer never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the batch start again (and wait again) before the row is let go.
    tokio::time::sleep(Duration::from_millis(200)).await;
    admin.batch_execute("COMMIT").await.unwrap();
    let stored = pending.await.unwrap().expect("stored on a new connection");
    assert!(!stored.duplicate);
    assert_eq!(stored.message.seq, 2);
    assert_eq!(
        seen.seen().iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

/// A TCP relay to the database that can be cut, as a network or a database
/// outage would: open connections are dropped and new ones refused until it
/// is restored.
struct Relay {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<(bool, CancellationToken)>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new((false, CancellationToken::new())));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (down, cut) = {
                    let state = shared.lock().unwrap();
                    (state.0, state.1.clone())
                };
                if down {
                    continue; // dropped: the connection is closed at once
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream) => {}
                        _ = cut.cancelled() => {}
                    }
                });
            }
        });
        Relay { addr, state, task }
    }

    fn cut(&self) {
        let mut state = self.state.lock().unwrap();
        state.0 = true;
        state.1.cancel();
    }

    fn restore(&self) {
        let mut state = self.state.lock().unwrap();
        *state = (false, CancellationToken::new());
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: std::net::SocketAddr) -> String {
    let start = url.find("://").unwrap() + 3;
    let rest = &url[start..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_start = rest[..end].rfind('@').map(|at| at + 1).unwrap_or(0);
    format!(
        "{}{}{addr}{}",
        &url[..start],
        &rest[..host_start],
        &rest[end..]
    )
}

/// The `host:port` the test server listens on, when it is reached over TCP.
fn tcp_target(url: &str) -> Option<String> {
    let config: tokio_postgres::Config = url.parse().ok()?;
    let host = match config.get_hosts().first()? {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        _ => return None,
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    Some(format!("{host}:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable_never_ok_and_then_recovers() {
    let Some(schema) = schema_or_skip("outage").await else {
        return;
    };
    let Some(target) = tcp_target(&schema.url) else {
        eprintln!("outage: skipped, {POSTGRES_ENV} is not a TCP address");
        return;
    };
    let relay = Relay::start(target).await;
    let url = through(&schema.url, relay.addr);
    let seen = Arc::new(Recorder::default());
    let store = open(&url, seen.clone()).await;
    let ticket = new_ticket(&store, 3).await;
    let first = store.append(message(ticket, 3, "o-1")).await.unwrap();
    assert_eq!(first.message.seq, 1);

    relay.cut();
    let refused = store.append(message(ticket, 3, "o-2")).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(matches!(
        store.ticket(ticket).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(seen.seen().len(), 1, "nothing reported while down");

    relay.restore();
    // The client retries with the same client_id until it gets an answer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let stored = loop {
        match store.append(message(ticket, 3, "o-2")).await {
            Ok(appended) => break appended,
            Err(StoreError::Unavailable(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(other) => panic!("not recovered: {other:?}"),
        }
    };
    assert!(!stored.duplicate, "the refused attempt stored nothing");
    assert_eq!(stored.message.seq, 2, "no seq burnt by the refused attempt");
    let again = store.append(message(ticket, 3, "o-2")).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.message.id, stored.message.id);
    store.ping().await.unwrap();
    assert_eq!(
        seen.seen().iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database() {
    let Some(schema) = schema_or_skip("readiness").await else {
        return;
    };
    let Some(target) = tcp_target(&schema.url) else {
        return;
    };
    let relay = Relay::start(target).await;
    let url = through(&schema.url, relay.addr);
    let db = TestDb::Postgres(Arc::new(schema));
    let app = spawn_on(&db, Verifier::hs256(SECRET).unwrap(), |c| {
        c.database = DatabaseUrl::Postgres(url)
    })
    .await;
    let ready = || async {
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, 200);
    relay.cut();
    // The relay drops its open connections from its own tasks: on a busy
    // host a ping may still pass through one that is about to go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ready().await != 503 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still ready after the cut"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = app
        .post(
            "/api/soporte/tickets/",
            &customer(1),
            json!({"asunto": "sin base"}),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    relay.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while ready().await != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.ticket_for(&customer(1)).await;
}

/// Needs no database: the address refuses connections.
const UNREACHABLE: &str = "postgres://soporte:secreto@127.0.0.1:1/soporte";

#[tokio::test]
async fn an_unreachable_database_at_start_is_an_error_naming_the_setting() {
    let mut config = Config::for_database("unused.db");
    config.database = DatabaseUrl::Postgres(UNREACHABLE.into());
    let error = match Application::build(config, Verifier::hs256(SECRET).unwrap()).await {
        Ok(_) => panic!("started without a database"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.starts_with("SOPORTE_DATABASE_URL (--database-url):"),
        "{error}"
    );
    assert!(!error.contains("secreto"), "password shown: {error}");

    for args in [
        vec![
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            UNREACHABLE,
        ],
        vec!["migrate", "--database-url", UNREACHABLE],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_soporte"))
            .args(&args)
            .env("SOPORTE_JWT_SECRET", SECRET)
            .env("SOPORTE_LOG", "error")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line, got {stderr:?}");
        assert!(lines[0].contains("SOPORTE_DATABASE_URL"), "{stderr}");
        assert!(!stderr.contains("secreto"), "password shown: {stderr}");
    }
}

/// Every commit a store reported, as JSON (for the parity test).
#[derive(Default)]
struct FullRecorder(Mutex<Vec<serde_json::Value>>);

impl CommitListener for FullRecorder {
    fn committed(&self, messages: &[Committed]) {
        self.0.lock().unwrap().extend(messages.iter().map(|c| {
            json!({
                "message": c.message,
                "origin": c.origin,
                "ticket_agent": c.ticket_agent,
                "ticket_change": c.ticket_change.as_ref().map(|change| json!({
                    "change": change.change,
                    "ticket": change.ticket,
                    "previous_agent": change.previous_agent,
                })),
            })
        }));
    }
}

/// A result as JSON: the value, or the error as the store gave it.
fn outcome<T>(
    result: StoreResult<T>,
    json: impl FnOnce(T) -> serde_json::Value,
) -> serde_json::Value {
    match result {
        Ok(value) => json!({ "ok": json(value) }),
        Err(error) => json!({ "error": format!("{error:?}") }),
    }
}

fn to_json<T: serde::Serialize>(value: T) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

/// Times and durations differ from run to run: the rest must not.
fn normalize(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text)
            if time::OffsetDateTime::parse(
                text,
                &time::format_description::well_known::Rfc3339,
            )
            .is_ok() =>
        {
            *text = "<time>".into()
        }
        serde_json::Value::Number(number) if number.is_f64() => {
            *value = json!("<seconds>");
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(normalize),
        serde_json::Value::Object(map) => map.values_mut().for_each(normalize),
        _ => {}
    }
}

fn person(id: UserId, name: &str, role: Role) -> User {
    User {
        id,
        name: name.into(),
        role,
        avatar: Some(format!("https://img.example/{id}.png")),
        email: None,
    }
}

fn said(
    ticket: TicketId,
    who: &User,
    client_id: Option<&str>,
    text: &str,
    internal: bool,
) -> NewMessage {
    let mut metadata = serde_json::Map::new();
    metadata.insert("origen".into(), json!("prueba"));
    NewMessage {
        ticket,
        author: who.person(),
        client_id: client_id.map(String::from),
        content: text.into(),
        kind: MessageKind::Text,
        metadata,
        internal,
        origin: Some(7),
        unread_email: None,
        reply_to: None,
    }
}

fn grant(id: &str, ticket: TicketId, user: UserId, expires_in_ms: i64) -> UploadGrant {
    UploadGrant {
        upload_id: id.into(),
        credential_hash: format!("hash-{id}"),
        user,
        ticket,
        name: format!("{id}.png"),
        size: 68,
        extension: "png".into(),
        created_at: Timestamp::now(),
        expires_at: Timestamp::from_millis(Timestamp::now().millis() + expires_in_ms),
    }
}

fn upload(
    id: &str,
    uploader: UserId,
    attach_to: Option<MessageId>,
    thumbnail: bool,
) -> CompleteUpload {
    CompleteUpload {
        upload_id: id.into(),
        credential_hash: format!("hash-{id}"),
        uploader,
        file: StoredFile {
            key: format!("k/{id}"),
            thumbnail_key: thumbnail.then(|| format!("k/{id}.thumb")),
            size: 68,
            mime: "image/png".into(),
            sha256: "ab".repeat(32),
        },
        attach_to,
    }
}

/// One long session of everything a server asks of its store, with the
/// answers (and errors) recorded in order.
async fn store_session(store: &dyn Store) -> Vec<(String, serde_json::Value)> {
    let mut log: Vec<(String, serde_json::Value)> = Vec::new();
    macro_rules! step {
        ($label:expr, $result:expr, $json:expr) => {{
            log.push(($label.to_string(), outcome($result, $json)));
        }};
    }
    let ana = person(1, "Ana", Role::Customer);
    let beto = person(2, "Beto", Role::Customer);
    let zoe = person(10, "Zoe", Role::Agent);
    let alba = person(11, "alba", Role::Agent);
    let omar = person(12, "Ómar", Role::Agent);
    let sara = person(20, "Sara", Role::Supervisor);
    for who in [&zoe, &alba, &omar, &sara] {
        step!("upsert", store.upsert_user(who.clone()).await, to_json);
    }
    step!(
        "away",
        store.set_availability(11, Availability::Away).await,
        to_json
    );
    step!(
        "away unknown",
        store.set_availability(999, Availability::Away).await,
        to_json
    );
    step!("agents", store.agents().await, to_json);

    let new_ticket = |customer: &User, auto: Vec<UserId>| NewTicket {
        auto_assign: auto,
        max_open: 1,
        ..NewTicket::new(format!("Ayuda para {}", customer.name), customer.clone())
    };
    let t1 = store
        .create_ticket(new_ticket(&ana, vec![11, 10]))
        .await
        .unwrap();
    log.push(("t1".into(), to_json(&t1)));
    let t2 = store
        .create_ticket(new_ticket(&beto, vec![10]))
        .await
        .unwrap();
    log.push(("t2 (zoe is full)".into(), to_json(&t2)));
    step!(
        "customer who is staff",
        store.create_ticket(new_ticket(&zoe, vec![])).await,
        to_json
    );
    step!(
        "auto-assign to a non-agent",
        store.create_ticket(new_ticket(&beto, vec![20])).await,
        to_json
    );
    let claim = |c: Claimed| match c {
        Claimed::Assigned(t) => json!({"assigned": t}),
        Claimed::HeldBy(t) => json!({"held_by": t}),
        Claimed::Closed(t) => json!({"closed": t}),
    };
    step!(
        "claim t2",
        store.claim_ticket(t2.id, alba.clone()).await,
        claim
    );
    step!(
        "claim t2 again",
        store.claim_ticket(t2.id, zoe.clone()).await,
        claim
    );
    step!(
        "claim t2 by holder",
        store.claim_ticket(t2.id, alba.clone()).await,
        claim
    );
    step!(
        "claim unknown",
        store.claim_ticket(999, zoe.clone()).await,
        claim
    );

    let appended = |a: Appended| json!({"message": a.message, "duplicate": a.duplicate});
    let mut staff_messages = Vec::new();
    let mut customer_messages = Vec::new();
    let a = store
        .append(said(t1.id, &ana, Some("c1"), "Hola", false))
        .await
        .unwrap();
    customer_messages.push(a.message.id);
    log.push(("append c1".into(), appended(a)));
    let a = store
        .append(said(t1.id, &zoe, Some("z1"), "Buenas", false))
        .await
        .unwrap();
    staff_messages.push(a.message.id);
    log.push(("append z1".into(), appended(a)));
    step!(
        "note",
        store
            .append(said(t1.id, &zoe, None, "nota interna", true))
            .await,
        appended
    );
    step!(
        "retry c1",
        store
            .append(said(t1.id, &ana, Some("c1"), "Hola otra vez", false))
            .await,
        appended
    );
    step!(
        "same client_id, other author",
        store
            .append(said(t1.id, &zoe, Some("c1"), "mío", false))
            .await,
        appended
    );
    step!(
        "append unknown ticket",
        store.append(said(999, &ana, Some("x"), "?", false)).await,
        appended
    );

    let change = |id, actor: &User, command| {
        store.change_ticket(id, actor.clone(), command, Default::default())
    };
    let transfer = |agent, reason: &str| TicketCommand::Transfer {
        agent,
        reason: reason.into(),
    };
    let state = |state| TicketCommand::SetState { state };
    step!(
        "transfer by a stranger",
        change(t1.id, &omar, transfer(12, "")).await,
        to_json
    );
    step!(
        "transfer to the holder",
        change(t1.id, &sara, transfer(10, "")).await,
        to_json
    );
    step!(
        "transfer to a non-agent",
        change(t1.id, &sara, transfer(20, "")).await,
        to_json
    );
    step!(
        "transfer",
        change(t1.id, &sara, transfer(12, "  cambio de turno ")).await,
        to_json
    );
    step!(
        "assign when assigned",
        change(t1.id, &sara, TicketCommand::Assign { agent: 10 }).await,
        to_json
    );
    step!(
        "customer assigns",
        change(t2.id, &ana, TicketCommand::Assign { agent: 10 }).await,
        to_json
    );
    step!(
        "wait by a stranger",
        change(t1.id, &zoe, state(TicketState::Waiting)).await,
        to_json
    );
    step!(
        "wait",
        change(t1.id, &omar, state(TicketState::Waiting)).await,
        to_json
    );
    let a = store
        .append(said(t1.id, &ana, Some("c2"), "Sigo aquí", false))
        .await
        .unwrap();
    customer_messages.push(a.message.id);
    log.push(("customer reopens".into(), appended(a)));
    let a = store
        .append(said(t1.id, &omar, Some("o1"), "Listo", false))
        .await
        .unwrap();
    staff_messages.push(a.message.id);
    log.push(("append o1".into(), appended(a)));
    step!(
        "resolve",
        change(t1.id, &omar, state(TicketState::Resolved)).await,
        to_json
    );
    step!(
        "resolve again",
        change(t1.id, &omar, state(TicketState::Resolved)).await,
        to_json
    );

    let mark = |m: MarkRead| json!({"marked": m.marked, "unknown": m.unknown});
    let ana_sees = Viewer::new(1, Role::Customer);
    let omar_sees = Viewer::new(12, Role::Agent);
    let sara_sees = Viewer::new(20, Role::Supervisor);
    let mut both = staff_messages.clone();
    both.extend(&customer_messages);
    step!(
        "ana reads",
        store
            .mark_read(t1.id, ana_sees, Role::Customer, both.clone())
            .await,
        mark
    );
    step!(
        "ana reads again",
        store
            .mark_read(t1.id, ana_sees, Role::Customer, both.clone())
            .await,
        mark
    );
    step!(
        "unknown ids",
        store
            .mark_read(
                t1.id,
                ana_sees,
                Role::Customer,
                vec![staff_messages[0], 99_999]
            )
            .await,
        mark
    );
    step!(
        "nothing",
        store
            .mark_read(t1.id, ana_sees, Role::Customer, vec![])
            .await,
        mark
    );
    step!(
        "omar reads",
        store
            .mark_read(
                t1.id,
                omar_sees,
                Role::Agent,
                customer_messages[..1].to_vec()
            )
            .await,
        mark
    );
    for (who, viewer) in [("ana", ana_sees), ("omar", omar_sees), ("sara", sara_sees)] {
        step!(
            format!("unread {who}"),
            store.unread_count(t1.id, viewer).await,
            to_json
        );
        step!(
            format!("stats {who}"),
            store.stats(t1.id, viewer).await,
            to_json
        );
    }
    for (label, scope, viewer) in [
        ("ana's", TicketScope::OwnedBy(1), ana_sees),
        (
            "zoe's queue",
            TicketScope::AgentQueue(10),
            Viewer::new(10, Role::Agent),
        ),
        ("omar's queue", TicketScope::AgentQueue(12), omar_sees),
        ("all", TicketScope::All, sara_sees),
    ] {
        step!(
            format!("list {label}"),
            store
                .list_tickets(TicketQuery::new(scope, viewer, 50))
                .await,
            to_json
        );
    }
    step!(
        "list one",
        store
            .list_tickets(TicketQuery::new(TicketScope::All, sara_sees, 1))
            .await,
        to_json
    );
    let top = store.ticket(t1.id).await.unwrap().unwrap().last_seq;
    step!(
        "recent customer",
        store.recent_messages(Newest::new(t1.id, 3, false)).await,
        to_json
    );
    step!(
        "recent staff",
        store.recent_messages(Newest::new(t1.id, 3, true)).await,
        to_json
    );
    step!(
        "between",
        store
            .messages_between(Span::new(t1.id, 1, 5, 10, false))
            .await,
        to_json
    );
    let page = |p: VisiblePage| json!({"count": p.count, "messages": p.messages});
    step!(
        "page",
        store.visible_page(PageAt::new(t1.id, top, 0, 2)).await,
        page
    );
    step!(
        "page 2",
        store.visible_page(PageAt::new(t1.id, top, 2, 2)).await,
        page
    );
    step!(
        "page of t2",
        store.visible_page(PageAt::new(t2.id, 0, 0, 2)).await,
        page
    );
    step!(
        "find c1",
        store.find_sent(Sent::new(t1.id, 1, "c1")).await,
        to_json
    );
    step!(
        "find none",
        store.find_sent(Sent::new(t1.id, 1, "zz")).await,
        to_json
    );
    step!(
        "close",
        change(t1.id, &ana, state(TicketState::Closed)).await,
        to_json
    );
    step!(
        "append closed",
        store
            .append(said(t1.id, &ana, Some("c3"), "¿Hola?", false))
            .await,
        appended
    );
    step!(
        "claim closed",
        store.claim_ticket(t1.id, zoe.clone()).await,
        claim
    );
    step!("t1", store.ticket(t1.id).await, to_json);
    step!("unknown ticket", store.ticket(999).await, to_json);
    step!(
        "last seqs",
        store.last_seqs(vec![t1.id, 999, t2.id]).await,
        |seqs| to_json(seqs.into_iter().collect::<BTreeMap<_, _>>())
    );

    let by = 20;
    let input = |atajo: &str, texto: &str| CannedResponseInput {
        shortcut: atajo.into(),
        text: texto.into(),
    };
    let first = store
        .save_canned_response(None, input("/hola", "¡Hola!"), by)
        .await
        .unwrap();
    log.push(("canned".into(), to_json(&first)));
    step!(
        "canned B",
        store
            .save_canned_response(None, input("/Zeta", "z"), by)
            .await,
        to_json
    );
    step!(
        "canned b",
        store
            .save_canned_response(None, input("/adios", "Adiós"), by)
            .await,
        to_json
    );
    step!(
        "canned taken",
        store
            .save_canned_response(None, input("/hola", "otra"), by)
            .await,
        to_json
    );
    step!(
        "canned update",
        store
            .save_canned_response(Some(first.id), input("/buenas", "Buenas"), by)
            .await,
        to_json
    );
    step!(
        "canned update unknown",
        store
            .save_canned_response(Some(999), input("/x", "x"), by)
            .await,
        to_json
    );
    step!("canned all", store.canned_responses().await, to_json);
    step!("canned one", store.canned_response(first.id).await, to_json);
    step!(
        "canned delete",
        store.delete_canned_response(first.id).await,
        to_json
    );
    step!(
        "canned delete again",
        store.delete_canned_response(first.id).await,
        to_json
    );

    for g in [
        grant("g1", t2.id, 2, 60_000),
        grant("g2", t2.id, 2, 60_000),
        grant("g3", t2.id, 2, -1_000),
        grant("g4", t2.id, 2, 60_000),
        grant("g5", t2.id, 2, 60_000),
        grant("g6", t1.id, 1, 60_000),
    ] {
        step!(
            "grant",
            store.create_upload_grant(g, GrantLimits::none()).await,
            to_json
        );
    }
    let grant_state = |g: Option<GrantState>| {
        g.map(|g| json!({"used": g.used, "user": g.grant.user, "ticket": g.grant.ticket, "name": g.grant.name, "size": g.grant.size, "extension": g.grant.extension, "hash": g.grant.credential_hash}))
            .unwrap_or_default()
    };
    step!("grant g1", store.upload_grant("g1").await, grant_state);
    step!("grant none", store.upload_grant("nope").await, grant_state);
    let uploaded = |u: Uploaded| json!({"attachment": u.attachment, "message": u.message});
    let beto_said = store
        .append(said(t2.id, &beto, Some("b1"), "Adjunto", false))
        .await
        .unwrap();
    step!(
        "upload",
        store.complete_upload(upload("g1", 2, None, true)).await,
        uploaded
    );
    step!(
        "upload again",
        store.complete_upload(upload("g1", 2, None, true)).await,
        uploaded
    );
    step!(
        "upload by another",
        store.complete_upload(upload("g2", 1, None, false)).await,
        uploaded
    );
    step!(
        "upload expired",
        store.complete_upload(upload("g3", 2, None, false)).await,
        uploaded
    );
    step!(
        "upload to a message",
        store
            .complete_upload(upload("g4", 2, Some(beto_said.message.id), false))
            .await,
        uploaded
    );
    step!(
        "upload to another's",
        store
            .complete_upload(upload("g5", 2, Some(staff_messages[0]), false))
            .await,
        uploaded
    );
    step!(
        "upload to a closed ticket",
        store.complete_upload(upload("g6", 1, None, false)).await,
        uploaded
    );
    step!(
        "upload unknown",
        store.complete_upload(upload("g9", 2, None, false)).await,
        uploaded
    );
    let file = |f: Option<AttachmentFile>| {
        f.map(|f| json!({"attachment": f.attachment, "ticket": f.ticket, "key": f.key, "thumbnail_key": f.thumbnail_key, "sha256": f.sha256}))
            .unwrap_or_default()
    };
    step!("file 1", store.attachment_file(1).await, file);
    step!("file none", store.attachment_file(999).await, file);
    step!(
        "t2 with files",
        store.recent_messages(Newest::new(t2.id, 10, false)).await,
        to_json
    );
    step!(
        "beto's list",
        store
            .list_tickets(TicketQuery::new(
                TicketScope::OwnedBy(2),
                Viewer::new(2, Role::Customer),
                10
            ))
            .await,
        to_json
    );
    // Quotas, judged on the rows each store counts: Beto holds two files
    // and two grants not used (g2, g5) on t2.
    let limits = |user: u64, ticket: u64, hour: u64, uploader| GrantLimits {
        quotas: UploadQuotas {
            user: Quota {
                bytes: 0,
                files: user,
            },
            ticket: Quota {
                bytes: 0,
                files: ticket,
            },
            bytes_per_hour: hour,
        },
        uploader,
    };
    for (label, quota) in [
        (
            "grant past the person quota",
            limits(4, 0, 0, Role::Customer),
        ),
        (
            "grant past the ticket quota",
            limits(0, 4, 0, Role::Customer),
        ),
        ("grant past the hour", limits(0, 0, 68 * 5, Role::Customer)),
        (
            "grant by staff past a person quota",
            limits(4, 0, 0, Role::Agent),
        ),
        ("grant within", limits(6, 6, 68 * 7, Role::Customer)),
    ] {
        let g = grant(&format!("q-{label}"), t2.id, 2, 60_000);
        step!(label, store.create_upload_grant(g, quota).await, to_json);
    }
    // Retention: t1 was closed (no files), t2 is open (files); nothing is
    // closed before the epoch.
    let expired = |e: soporte_server::store::erasure::Expired| json!({"tickets": e.tickets, "files": e.files, "next": e.next.map(|(at, id)| (at.millis(), id))});
    let start = (Timestamp::from_millis(0), 0);
    step!(
        "expire nothing yet",
        store
            .expire_closed_files(start, Timestamp::from_millis(1))
            .await,
        expired
    );
    step!(
        "expire closed",
        store
            .expire_closed_files(
                start,
                Timestamp::from_millis(Timestamp::now().millis() + 1_000)
            )
            .await,
        expired
    );
    step!(
        "t2 files kept",
        store.recent_messages(Newest::new(t2.id, 10, false)).await,
        to_json
    );
    step!(
        "close t2",
        change(t2.id, &sara, state(TicketState::Closed)).await,
        to_json
    );
    step!(
        "expire t2",
        store
            .expire_closed_files(
                start,
                Timestamp::from_millis(Timestamp::now().millis() + 1_000)
            )
            .await,
        expired
    );
    step!(
        "t2 files gone",
        store.recent_messages(Newest::new(t2.id, 10, false)).await,
        to_json
    );
    step!(
        "files to remove",
        store.pending_file_removals(10).await,
        |mut keys: Vec<String>| {
            keys.sort();
            to_json(keys.len())
        }
    );
    step!(
        "purge",
        store
            .purge_upload_grants(Timestamp::from_millis(Timestamp::now().millis()))
            .await,
        to_json
    );
    step!(
        "seen",
        store
            .touch_last_seen(1, Timestamp::from_millis(1_700_000_000_000))
            .await,
        to_json
    );
    step!(
        "seen unknown",
        store.touch_last_seen(998, Timestamp::from_millis(1)).await,
        to_json
    );
    step!(
        "last seen",
        store.last_seen(vec![1, 2, 998]).await,
        |seen| {
            to_json(
                seen.into_iter()
                    .map(|(id, at)| (id, at.millis()))
                    .collect::<BTreeMap<_, _>>(),
            )
        }
    );
    step!("agents at the end", store.agents().await, to_json);
    step!(
        "team",
        store.team_stats(Period::new(None, None)).await,
        to_json
    );
    step!(
        "team, none in range",
        store
            .team_stats(Period::new(
                Some(Timestamp::from_millis(0)),
                Some(Timestamp::from_millis(1))
            ))
            .await,
        to_json
    );
    step!("ping", store.ping().await, to_json);
    log
}

#[tokio::test]
async fn the_postgres_store_answers_exactly_as_the_sqlite_store() {
    let Some(schema) = schema_or_skip("parity").await else {
        return;
    };
    let base = "https://chat.example.com/";
    let dir = tempfile::tempdir().unwrap();
    let sqlite_commits = Arc::new(FullRecorder::default());
    let sqlite = soporte_server::store::sqlite::SqliteStore::open(
        &dir.path().join("parity.db"),
        sqlite_commits.clone(),
        base,
    )
    .unwrap();
    let pg_commits = Arc::new(FullRecorder::default());
    let pg = PostgresStore::open(&schema.url, pg_commits.clone(), base)
        .await
        .unwrap();
    let on_sqlite = store_session(&sqlite).await;
    let on_postgres = store_session(&pg).await;
    assert_eq!(on_sqlite.len(), on_postgres.len());
    for ((label, mut expected), (_, mut got)) in on_sqlite.into_iter().zip(on_postgres) {
        normalize(&mut expected);
        normalize(&mut got);
        assert_eq!(
            got, expected,
            "{label}: PostgreSQL (left) differs from SQLite (right)"
        );
    }
    let mut expected = json!(*sqlite_commits.0.lock().unwrap());
    let mut got = json!(*pg_commits.0.lock().unwrap());
    normalize(&mut expected);
    normalize(&mut got);
    assert!(expected.as_array().unwrap().len() > 10);
    assert_eq!(got, expected, "committed records differ");
}
