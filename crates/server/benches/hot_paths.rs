//! Hot paths, measured in isolation: parsing and validating a client frame,
//! encoding the event every recipient gets, and the storage insert path
//! (group commit through the real SQLite writer, `synchronous=FULL`).
//!
//! `cargo bench -p soporte-server --bench hot_paths`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use soporte_protocol::*;
use soporte_server::domain::User;
use soporte_server::store::sqlite::SqliteStore;
use soporte_server::store::{NewCustomer, NewMessage, NewTicket, NoListener, Store};
use std::hint::black_box;
use std::sync::Arc;

const FRAME: &str = r#"{"tipo":"mensaje","data":{"mensaje":"Hola, no puedo acceder a mi cuenta desde ayer, ¿me ayudan?","timestamp":"2024-09-20T17:30:00.000Z","client_id":"client_1726853400000_k3j2h1g0f","metadata":{}}}"#;

fn message() -> Message {
    Message {
        id: 123_456,
        client_id: Some("client_1726853400000_k3j2h1g0f".into()),
        ticket: 42,
        seq: 1_234,
        timestamp: Timestamp::now(),
        author: Person {
            id: Some(7),
            name: "Juan Pérez".into(),
            kind: AuthorKind::Customer,
            avatar: None,
        },
        content: "Hola, no puedo acceder a mi cuenta desde ayer, ¿me ayudan?".into(),
        kind: MessageKind::Text,
        state: MessageState::Delivered,
        attachments: vec![],
        reply_to: None,
        edited: false,
        deleted: false,
        edited_at: None,
        rev: 0,
        metadata: Default::default(),
        internal: false,
    }
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frames");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_and_validate_mensaje", |b| {
        b.iter(|| {
            let frame = ClientFrame::parse(black_box(FRAME)).unwrap();
            if let ClientFrame::Message(m) = &frame {
                m.validate(5000).unwrap();
            }
            frame
        })
    });
    let m = message();
    group.bench_function("encode_mensaje_recibido", |b| {
        b.iter(|| ServerFrame::encode_message_received(black_box(&m)))
    });
    group.finish();
}

fn storage(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("bench.db"), Arc::new(NoListener), "").unwrap(),
    );
    let customer = User {
        id: 1,
        name: "Juan".into(),
        role: Role::Customer,
        avatar: None,
        email: None,
    };
    let ticket = runtime
        .block_on(store.create_ticket(NewTicket {
            subject: "bench".into(),
            customer: NewCustomer::Described(customer),
            auto_assign: Vec::new(),
            max_open: 0,
            agent: None,
            external_id: None,
            metadata: None,
            customer_limits: Default::default(),
        }))
        .unwrap();
    let author = Person {
        id: Some(1),
        name: "Juan".into(),
        kind: AuthorKind::Customer,
        avatar: None,
    };
    let mut group = c.benchmark_group("storage");
    let mut next = 0u64;
    for concurrent in [1usize, 64, 1024] {
        group.throughput(Throughput::Elements(concurrent as u64));
        group.bench_function(format!("append_{concurrent}_concurrent"), |b| {
            b.iter_batched(
                || {
                    let batch: Vec<NewMessage> = (0..concurrent)
                        .map(|_| {
                            next += 1;
                            NewMessage {
                                ticket: ticket.id,
                                author: author.clone(),
                                client_id: Some(format!("b{next}")),
                                content: "Hola, no puedo acceder a mi cuenta desde ayer".into(),
                                kind: MessageKind::Text,
                                metadata: Default::default(),
                                internal: false,
                                origin: None,
                                unread_email: None,
                                reply_to: None,
                            }
                        })
                        .collect();
                    batch
                },
                |batch| {
                    runtime.block_on(async {
                        let appends = batch.into_iter().map(|m| store.append(m));
                        for result in futures_util::future::join_all(appends).await {
                            result.unwrap();
                        }
                    })
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, frames, storage);
criterion_main!(benches);
