//! Property tests of the store's promises, over random interleavings of
//! writers, tickets and retries: `seq` is gapless per ticket, each
//! `(ticket, author, client_id)` is stored once and a retry gets the first
//! copy, and commits are told to the listener in `seq` order per ticket.

use proptest::prelude::*;
use soporte_protocol::{MessageKind, Person, Role};
use soporte_server::domain::User;
use soporte_server::store::sqlite::SqliteStore;
use soporte_server::store::Newest;
use soporte_server::store::{CommitListener, Committed, NewMessage, NewTicket, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Recorder(Mutex<Vec<(i64, i64)>>);

impl CommitListener for Recorder {
    fn committed(&self, messages: &[Committed]) {
        let mut seen = self.0.lock().unwrap();
        seen.extend(messages.iter().map(|c| (c.message.ticket, c.message.seq)));
    }
}

/// One send: which ticket (of 3), which author (of 3), which client_id (of
/// 6, so retries are common), sent by which of 4 concurrent writers.
fn send() -> impl Strategy<Value = (usize, i64, u8, usize)> {
    (0..3usize, 1..=3i64, 0..6u8, 0..4usize)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn seq_is_gapless_and_each_client_id_is_stored_once(sends in prop::collection::vec(send(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let dir = tempfile::tempdir().unwrap();
            let recorder = Arc::new(Recorder::default());
            let store = Arc::new(SqliteStore::open(&dir.path().join("p.db"), recorder.clone(), "").unwrap());
            let mut tickets = Vec::new();
            for n in 0..3 {
                let ticket = store
                    .create_ticket(NewTicket::new(
                        format!("t{n}"),
                        User { id: 1, name: "Ana".into(), role: Role::Customer, avatar: None, email: None },
                    ))
                    .await
                    .unwrap();
                tickets.push(ticket.id);
            }
            // Four writers, each sending its share in order, all at once.
            let mut writers: Vec<Vec<(usize, i64, u8)>> = vec![Vec::new(); 4];
            for (ticket, author, client_id, writer) in &sends {
                writers[*writer].push((*ticket, *author, *client_id));
            }
            let runs = writers.into_iter().map(|mine| {
                let store = store.clone();
                let tickets = tickets.clone();
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    for (ticket, author, client_id) in mine {
                        let appended = store
                            .append(NewMessage {
                                ticket: tickets[ticket],
                                author: Person::user(author, "x", Role::Customer, None),
                                client_id: Some(format!("k{client_id}")),
                                content: format!("{author}/{client_id}"),
                                kind: MessageKind::Text,
                                metadata: Default::default(),
                                internal: false,
                                origin: None,
                                unread_email: None,
                                reply_to: None,
                            })
                            .await
                            .unwrap();
                        outcomes.push(((tickets[ticket], author, client_id), appended));
                    }
                    outcomes
                })
            });
            let mut first: HashMap<(i64, i64, u8), i64> = HashMap::new();
            let mut all = Vec::new();
            for run in runs.collect::<Vec<_>>() {
                all.extend(run.await.unwrap());
            }
            for (key, appended) in &all {
                let id = *first.entry(*key).or_insert(appended.message.id);
                prop_assert_eq!(id, appended.message.id, "a retry gets the first copy");
            }
            for ticket in &tickets {
                let stored = store.recent_messages(Newest::new(*ticket, 1000, true)).await.unwrap();
                let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
                prop_assert_eq!(&seqs, &(1..=stored.len() as i64).collect::<Vec<_>>());
                let distinct = first.keys().filter(|(t, _, _)| t == ticket).count();
                prop_assert_eq!(stored.len(), distinct, "one message per client_id");
                let told: Vec<i64> = recorder.0.lock().unwrap().iter()
                    .filter(|(t, _)| t == ticket).map(|(_, s)| *s).collect();
                prop_assert_eq!(told, seqs, "commits told once each, in seq order");
            }
            Ok(())
        })?;
    }
}
