//! `history`: page latency on a ticket with many messages (a million by
//! default): the newest page, deep pages by `before` cursor, and deep pages by
//! page number. The ticket is filled through the server's own storage path
//! (the same `Store::append` and group-commit writer) before the server starts.

use crate::client;
use crate::server::Server;
use crate::stats::{Samples, Summary};
use serde::Serialize;
use soporte_protocol::{AuthorKind, MessageKind, Person, Role};
use soporte_server::domain::User;
use soporte_server::store::sqlite::SqliteStore;
use soporte_server::store::{NewCustomer, NewMessage, NewTicket, NoListener, Store};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Messages in the ticket.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Requests per kind of page.
    #[arg(long, default_value_t = 500)]
    pub requests: usize,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub messages: usize,
    pub fill_seconds: f64,
    pub newest_page: Summary,
    pub deep_before_cursor: Summary,
    pub deep_page_number: Summary,
}

const CUSTOMER: i64 = 900_000;

/// Fills a new database at `path` with one ticket of `messages` messages.
pub async fn fill(path: &Path, messages: usize) -> Result<(i64, f64), String> {
    let path = path.to_path_buf();
    let store = Arc::new(
        tokio::task::spawn_blocking(move || SqliteStore::open(&path, Arc::new(NoListener), ""))
            .await
            .map_err(|e| e.to_string())??,
    );
    let customer = User {
        id: CUSTOMER,
        name: "Cliente".into(),
        role: Role::Customer,
        avatar: None,
        email: None,
    };
    let ticket = store
        .create_ticket(NewTicket {
            subject: "historia larga".into(),
            customer: NewCustomer::Described(customer),
            auto_assign: Vec::new(),
            max_open: 0,
            agent: None,
            external_id: None,
            metadata: None,
            customer_limits: Default::default(),
        })
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let author = Person {
        id: Some(CUSTOMER),
        name: "Cliente".into(),
        kind: AuthorKind::Customer,
        avatar: None,
    };
    let mut next = 0;
    while next < messages {
        let chunk = (messages - next).min(4096);
        let appends = (next..next + chunk).map(|n| {
            let store = store.clone();
            let author = author.clone();
            async move {
                store
                    .append(NewMessage {
                        ticket: ticket.id,
                        author,
                        client_id: Some(format!("h{n}")),
                        content: format!("mensaje número {n} de una conversación muy larga"),
                        kind: MessageKind::Text,
                        metadata: Default::default(),
                        internal: false,
                        origin: None,
                        unread_email: None,
                        reply_to: None,
                    })
                    .await
            }
        });
        for result in futures_util::future::join_all(appends).await {
            result.map_err(|e| e.to_string())?;
        }
        next += chunk;
    }
    Ok((ticket.id, started.elapsed().as_secs_f64()))
}

pub async fn run(
    server: &Server,
    ticket: i64,
    options: &Options,
    fill_seconds: f64,
) -> Result<Report, String> {
    let http = reqwest::Client::new();
    let token = client::token(CUSTOMER, Role::Customer);
    let base = format!(
        "{}/api/soporte/tickets/{ticket}/chat/historial/",
        server.base
    );
    let mut random = 0x2545_f491_4f6c_dd1du64;
    let mut next_random = move |below: usize| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        (random % below.max(1) as u64) as usize
    };
    let pages = options.messages / 50;
    let mut newest = Samples::default();
    let mut deep_before = Samples::default();
    let mut deep_page = Samples::default();
    for _ in 0..options.requests {
        newest.push(timed_get(&http, &format!("{base}?page=1&size=50"), &token).await?);
        let before = 51 + next_random(options.messages.saturating_sub(50));
        deep_before
            .push(timed_get(&http, &format!("{base}?before={before}&size=50"), &token).await?);
        let page = 1 + next_random(pages);
        deep_page.push(timed_get(&http, &format!("{base}?page={page}&size=50"), &token).await?);
    }
    Ok(Report {
        scenario: "history",
        messages: options.messages,
        fill_seconds,
        newest_page: newest.summary(),
        deep_before_cursor: deep_before.summary(),
        deep_page_number: deep_page.summary(),
    })
}

async fn timed_get(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<std::time::Duration, String> {
    let (took, size) = client::timed_get(http, url, token).await?;
    if size < 100 {
        return Err(format!("{url}: suspiciously small page"));
    }
    Ok(took)
}
