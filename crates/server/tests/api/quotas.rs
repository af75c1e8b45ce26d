//! Storage limits, attacked as a hostile customer would: quotas per person
//! and per ticket (bytes and files, grants in flight included), the hourly
//! upload budget, many grants asked for at once, and the free-space floor.

use crate::files::{authorize, post_file};
use crate::helpers::*;
use serde_json::Value;
use soporte_server::auth::Verifier;
use soporte_server::domain::uploads::{Quota, UploadQuotas};
use soporte_server::files::storage::StorageLocation;

fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.resize(size, b'x');
    bytes
}

/// Only the limit under test: the others are off.
fn quotas(adjust: impl FnOnce(&mut UploadQuotas)) -> UploadQuotas {
    let mut quotas = UploadQuotas::default();
    adjust(&mut quotas);
    quotas
}

async fn socket(app: &TestApp, ticket: i64, token: &str) -> WsClient {
    let mut ws = app.connect(ticket, token).await;
    ws.expect("connection_established").await;
    ws
}

fn refused_with(frame: &Value, code: &str, says: &str) {
    assert_eq!(frame["tipo"], "error", "{frame}");
    assert_eq!(frame["data"]["codigo"], code, "{frame}");
    assert_eq!(frame["data"]["tipo"], "file_upload_request", "{frame}");
    let detail = frame["data"]["detalle"].as_str().unwrap();
    assert!(detail.contains(says), "{detail}");
}

async fn upload(app: &TestApp, ws: &mut WsClient, name: &str, size: usize) -> Value {
    let grant = authorize(ws, name, size, "application/pdf").await;
    assert_eq!(grant["tipo"], "file_upload_authorized", "{grant}");
    let (status, body) = post_file(app, &grant["data"], name, pdf(size), None).await;
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test]
async fn a_customers_files_are_bounded_over_all_their_tickets() {
    let app = spawn_with(|c| {
        c.upload_quotas = quotas(|q| {
            q.user = Quota {
                bytes: 10_000,
                files: 3,
            }
        })
    })
    .await;
    let first = app.ticket_for(&customer(1)).await;
    let second = app.ticket_for(&customer(1)).await;
    let mut one = socket(&app, first, &customer(1)).await;
    let mut two = socket(&app, second, &customer(1)).await;
    upload(&app, &mut one, "a.pdf", 4_000).await;
    // A grant not used yet counts: two in flight cannot both take the room.
    let pending = authorize(&mut two, "b.pdf", 4_000, "application/pdf").await;
    assert_eq!(pending["tipo"], "file_upload_authorized", "{pending}");
    let over = authorize(&mut two, "c.pdf", 2_001, "application/pdf").await;
    refused_with(&over, "cuota_excedida", "tu límite");
    // What fits is granted, and the third file is the last.
    upload(&app, &mut two, "c.pdf", 2_000).await;
    let fourth = authorize(&mut one, "d.pdf", 10, "application/pdf").await;
    refused_with(&fourth, "cuota_excedida", "3 archivos");
    // Another customer is not held by this one's files.
    let theirs = app.ticket_for(&customer(2)).await;
    let mut other = socket(&app, theirs, &customer(2)).await;
    upload(&app, &mut other, "e.pdf", 9_000).await;
    // Staff answer every customer: a supervisor is held by the ticket's
    // quota (off here), not by a person's.
    let mut staff = socket(&app, first, &supervisor(90)).await;
    for i in 0..4 {
        upload(&app, &mut staff, &format!("s{i}.pdf"), 4_000).await;
    }
}

#[tokio::test]
async fn a_ticket_holds_a_bounded_amount_whoever_uploads() {
    let app = spawn_with(|c| {
        c.upload_quotas = quotas(|q| {
            q.ticket = Quota {
                bytes: 5_000,
                files: 2,
            }
        })
    })
    .await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut c = socket(&app, ticket, &customer(1)).await;
    let mut s = socket(&app, ticket, &supervisor(90)).await;
    upload(&app, &mut c, "a.pdf", 3_000).await;
    let over = authorize(&mut s, "b.pdf", 2_001, "application/pdf").await;
    refused_with(&over, "cuota_excedida", "Este ticket");
    upload(&app, &mut s, "b.pdf", 2_000).await;
    let third = authorize(&mut c, "c.pdf", 1, "application/pdf").await;
    refused_with(&third, "cuota_excedida", "2 archivos");
    // Another ticket has its own room.
    let next = app.ticket_for(&customer(1)).await;
    let mut n = socket(&app, next, &customer(1)).await;
    upload(&app, &mut n, "d.pdf", 5_000).await;
}

#[tokio::test]
async fn the_hourly_budget_counts_every_grant_used_or_not() {
    let app = spawn_with(|c| c.upload_quotas = quotas(|q| q.bytes_per_hour = 5_000)).await;
    let first = app.ticket_for(&customer(1)).await;
    let second = app.ticket_for(&customer(1)).await;
    let mut one = socket(&app, first, &customer(1)).await;
    let mut two = socket(&app, second, &customer(1)).await;
    upload(&app, &mut one, "a.pdf", 2_000).await;
    // Asked for and never used: still counted (the bytes were promised).
    let unused = authorize(&mut two, "b.pdf", 2_000, "application/pdf").await;
    assert_eq!(unused["tipo"], "file_upload_authorized", "{unused}");
    let over = authorize(&mut two, "c.pdf", 1_001, "application/pdf").await;
    refused_with(&over, "cuota_excedida", "última hora");
    upload(&app, &mut one, "d.pdf", 1_000).await;
    // Each person has their own budget.
    let theirs = app.ticket_for(&customer(2)).await;
    let mut other = socket(&app, theirs, &customer(2)).await;
    upload(&app, &mut other, "e.pdf", 5_000).await;
}

/// Grants asked for at once on many sockets cannot race past a quota: the
/// writer judges each against what the ones before it took.
#[tokio::test]
async fn grants_asked_for_at_once_never_exceed_the_quota() {
    let app = spawn_with(|c| {
        c.max_connections_per_user = 0;
        c.upload_quotas = quotas(|q| q.user = Quota { bytes: 0, files: 5 })
    })
    .await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut sockets = Vec::new();
    for _ in 0..20 {
        sockets.push(socket(&app, ticket, &customer(1)).await);
    }
    let asks = sockets.iter_mut().enumerate().map(|(i, ws)| async move {
        authorize(ws, &format!("f{i}.pdf"), 100, "application/pdf").await
    });
    let answers = futures_util::future::join_all(asks).await;
    let granted = answers
        .iter()
        .filter(|a| a["tipo"] == "file_upload_authorized")
        .count();
    let refused = answers
        .iter()
        .filter(|a| a["data"]["codigo"] == "cuota_excedida")
        .count();
    assert_eq!((granted, refused), (5, 15), "{answers:?}");
}

#[tokio::test]
async fn below_the_free_space_floor_files_are_refused_and_the_gauge_says_why() {
    let database = TestDb::new().await;
    let verifier = || Verifier::hs256(SECRET).unwrap();
    let app = spawn_on(&database, verifier(), |c| c.min_free_space = 0).await;
    let free = crate::security::metric(&app, "soporte_storage_free_bytes").await;
    assert!(free > 0);
    let ticket = app.ticket_for(&customer(1)).await;
    let mut c = socket(&app, ticket, &customer(1)).await;
    let early = authorize(&mut c, "a.pdf", 100, "application/pdf").await;
    assert_eq!(early["tipo"], "file_upload_authorized", "{early}");
    drop(c);
    app.stop().await;

    // The same database, now with a floor above what the disk has.
    let full = spawn_on(&database, verifier(), |c| c.min_free_space = u64::MAX).await;
    let mut c = socket(&full, ticket, &customer(1)).await;
    let refused = authorize(&mut c, "b.pdf", 100, "application/pdf").await;
    refused_with(&refused, "espacio_insuficiente", "espacio");
    // A grant made before the disk filled is refused at upload, with 507.
    let path = early["data"]["upload_url"].as_str().unwrap();
    let path = &path[path.find("/api/").unwrap()..];
    let mut grant = early["data"].clone();
    grant["upload_url"] = full.url(path).into();
    let (status, body) = post_file(&full, &grant, "a.pdf", pdf(100), None).await;
    assert_eq!(status, 507, "{body}");
    assert!(
        body["detalle"].as_str().unwrap().contains("espacio"),
        "{body}"
    );
}

fn attachments_of(page: &Value) -> usize {
    page["results"]
        .as_array()
        .or_else(|| page["mensajes"].as_array())
        .expect("history page")
        .iter()
        .map(|m| m["archivos"].as_array().map_or(0, Vec::len))
        .sum()
}

async fn history(app: &TestApp, ticket: i64) -> Value {
    let (status, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &supervisor(90),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page
}

/// `--file-retention`: a ticket closed longer ago than the retention loses
/// its files (storage, history, quota); open tickets keep theirs.
#[tokio::test]
async fn files_of_long_closed_tickets_go_and_free_their_quota() {
    let database = TestDb::new().await;
    let storage = tempfile::tempdir().unwrap();
    let files = StorageLocation::Folder(storage.path().to_path_buf());
    let configure = |c: &mut soporte_server::Config| {
        c.storage = files.clone();
        // Anything closed before the sweep is past it: no clock to wait for.
        c.file_retention = Some(std::time::Duration::from_millis(1));
        c.upload_quotas = quotas(|q| q.user = Quota { bytes: 0, files: 2 });
    };
    let verifier = || Verifier::hs256(SECRET).unwrap();
    let app = spawn_on(&database, verifier(), configure).await;
    let closed = app.ticket_for(&customer(1)).await;
    let open = app.ticket_for(&customer(1)).await;
    let mut c = socket(&app, closed, &customer(1)).await;
    let gone = upload(&app, &mut c, "viejo.pdf", 1_000).await;
    let mut o = socket(&app, open, &customer(1)).await;
    upload(&app, &mut o, "actual.pdf", 1_000).await;
    let full = authorize(&mut o, "otro.pdf", 10, "application/pdf").await;
    refused_with(&full, "cuota_excedida", "2 archivos");
    let (status, body) = app
        .post(
            &format!("/api/soporte/tickets/{closed}/estado/"),
            &customer(1),
            serde_json::json!({"estado": "CERRADO"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let files_before = crate::files::stored_files_in(storage.path());
    assert_eq!(files_before, 2);
    drop((c, o));
    app.stop().await;

    // The sweep runs as a server starts, and every ten minutes after.
    let app = spawn_on(&database, verifier(), configure).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while attachments_of(&history(&app, closed).await) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    while crate::files::stored_files_in(storage.path()) > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "file left in storage"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(attachments_of(&history(&app, open).await), 1);
    let url = gone["url"].as_str().unwrap();
    let download = app
        .http
        .get(app.url(&url[url.find("/api/").unwrap()..]))
        .bearer_auth(customer(1))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 404);
    // The customer has room for a file again.
    let mut o = socket(&app, open, &customer(1)).await;
    upload(&app, &mut o, "nuevo.pdf", 1_000).await;
}
