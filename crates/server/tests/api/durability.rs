//! The real binary, killed and restarted: what was confirmed is never lost.
//! On the test's database: SQLite, or PostgreSQL when the suite runs on it.

use crate::helpers::*;
use serde_json::json;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    addr: String,
}

fn start(db: &TestDb, files: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(["serve", "--bind", "127.0.0.1:0", "--msg-rate", "0"])
        .arg("--database-url")
        .arg(db.url_text())
        .arg("--storage")
        .arg(files)
        .env("SOPORTE_JWT_SECRET", SECRET)
        .env("SOPORTE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the soporte binary starts");
    let addr = listening_addr(&mut child);
    Server { child, addr }
}

/// A client for the binary on `addr`, reusing the typed helpers.
fn client(addr: &str) -> (reqwest::Client, String) {
    (reqwest::Client::new(), format!("http://{addr}"))
}

async fn create_ticket(addr: &str, token: &str) -> i64 {
    let (http, base) = client(addr);
    let body: serde_json::Value = http
        .post(format!("{base}/api/soporte/tickets/"))
        .bearer_auth(token)
        .json(&json!({"asunto": "durabilidad"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["id"].as_i64().unwrap()
}

async fn connect(addr: &str, ticket: i64, token: &str) -> WsClient {
    let url = format!("ws://{addr}/ws/soporte/ticket/{ticket}/?token={token}");
    let (stream, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    WsClient { stream }
}

async fn full_history(addr: &str, ticket: i64, token: &str) -> Vec<serde_json::Value> {
    let (http, base) = client(addr);
    let mut all = Vec::new();
    let mut page = 1;
    loop {
        let body: serde_json::Value = http
            .get(format!(
                "{base}/api/soporte/tickets/{ticket}/chat/historial/?page={page}&size=100"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut results = body["results"].as_array().unwrap().clone();
        results.extend(all);
        all = results;
        if body["next"].is_null() {
            return all;
        }
        page += 1;
    }
}

#[tokio::test]
async fn kill_9_right_after_confirmations_loses_no_confirmed_message() {
    let (db, files) = (TestDb::new().await, tempfile::tempdir().unwrap());
    let mut server = start(&db, files.path());
    let token = customer(1);
    let ticket = create_ticket(&server.addr, &token).await;
    let mut ws = connect(&server.addr, ticket, &token).await;
    ws.expect("connection_established").await;
    let sent = 400;
    for n in 0..sent {
        ws.send_message(&format!("m{n}"), &format!("k{n}")).await;
    }
    let mut confirmed: HashMap<String, i64> = HashMap::new();
    while confirmed.len() < 150 {
        let frame = ws.next_frame().await;
        assert_eq!(frame["tipo"], "mensaje_confirmado", "{frame}");
        confirmed.insert(
            frame["data"]["client_id"].as_str().unwrap().into(),
            frame["data"]["mensaje_id"].as_i64().unwrap(),
        );
    }
    // SIGKILL while the rest are still in flight.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(ws);

    let mut restarted = start(&db, files.path());
    let history = full_history(&restarted.addr, ticket, &token).await;
    let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=history.len() as i64).collect::<Vec<_>>(),
        "seq is gapless after a crash"
    );
    let stored: HashMap<String, i64> = history
        .iter()
        .map(|m| {
            (
                m["client_id"].as_str().unwrap().to_string(),
                m["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stored.len(), history.len(), "no client_id stored twice");
    for (client_id, id) in &confirmed {
        assert_eq!(
            stored.get(client_id),
            Some(id),
            "confirmed {client_id} lost"
        );
    }
    // The client's retry of everything it never saw confirmed completes the set once.
    let mut ws = connect(&restarted.addr, ticket, &token).await;
    ws.expect("connection_established").await;
    for n in 0..sent {
        if !confirmed.contains_key(&format!("k{n}")) {
            ws.send_message(&format!("m{n}"), &format!("k{n}")).await;
        }
    }
    for _ in 0..(sent - confirmed.len()) {
        ws.expect("mensaje_confirmado").await;
    }
    let history = full_history(&restarted.addr, ticket, &token).await;
    assert_eq!(history.len(), sent);
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
}

#[tokio::test]
async fn sigterm_finishes_in_flight_commits_and_closes_sockets_with_1001() {
    let (db, files) = (TestDb::new().await, tempfile::tempdir().unwrap());
    let mut server = start(&db, files.path());
    let token = customer(1);
    let ticket = create_ticket(&server.addr, &token).await;
    let mut ws = connect(&server.addr, ticket, &token).await;
    ws.expect("connection_established").await;
    for n in 0..50 {
        ws.send_message(&format!("m{n}"), &format!("t{n}")).await;
    }
    ws.expect("mensaje_confirmado").await;
    Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    let mut confirmations = 1;
    let closed = loop {
        match ws.next_frame_within(Duration::from_secs(10)).await {
            Ok(Some(frame)) if frame["tipo"] == "mensaje_confirmado" => confirmations += 1,
            Ok(Some(frame)) => panic!("unexpected {frame}"),
            Ok(None) => panic!("not closed"),
            Err(closed) => break closed,
        }
    };
    assert_eq!(closed.code, Some(1001), "{closed:?}");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // Messages still unread in the socket when the signal came are neither
    // stored nor confirmed; everything the server took was committed AND
    // confirmed before the close: the two sets are the same.
    let restarted = start(&db, files.path());
    let history = full_history(&restarted.addr, ticket, &token).await;
    assert_eq!(history.len(), confirmations);
    let mut restarted = restarted;
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
}

#[tokio::test]
async fn after_migrate_new_epoch_a_client_resuming_from_the_old_history_is_told_to_resync() {
    let (db, files) = (TestDb::new().await, tempfile::tempdir().unwrap());
    let mut server = start(&db, files.path());
    let token = customer(1);
    let ticket = create_ticket(&server.addr, &token).await;
    let mut ws = connect(&server.addr, ticket, &token).await;
    let epoch = ws.expect("connection_established").await["epoch"]
        .as_str()
        .unwrap()
        .to_string();
    ws.send_message("uno", "k1").await;
    let confirmed = ws.expect("mensaje_confirmado").await;
    drop(ws);
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    // The operator restored a backup and renews the epoch.
    let output = Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(["migrate", "--new-epoch", "--database-url"])
        .arg(db.url_text())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    let renewed = printed
        .lines()
        .find_map(|l| l.strip_prefix("new epoch: "))
        .unwrap_or_else(|| panic!("{printed}"))
        .to_string();
    assert_ne!(renewed, epoch);

    let mut server = start(&db, files.path());
    let url = format!(
        "ws://{}/ws/soporte/ticket/{ticket}/?token={token}&since=1&epoch={epoch}&since_id={}",
        server.addr, confirmed["mensaje_id"]
    );
    let (stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut resumed = WsClient { stream };
    let hello = resumed.expect("connection_established").await;
    assert_eq!(hello["resync"], true);
    assert_eq!(hello["epoch"], renewed.as_str());
    assert_eq!(hello["historial_reciente"][0]["contenido"], "uno");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
