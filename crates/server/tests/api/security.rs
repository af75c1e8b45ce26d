//! Attacks tried against the real server: each test is a promise of
//! docs/SECURITY.md, named there.

use crate::helpers::*;
use futures_util::SinkExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn now() -> i64 {
    soporte_protocol::Timestamp::now().millis() / 1000
}

fn hs256(claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn upload_grant(ws: &mut WsClient) -> Value {
    ws.send_json(json!({"tipo": "file_upload_request", "data": {"nombre_archivo": "foto.png", "tamaño": PNG.len(), "tipo_mime": "image/png"}}))
        .await;
    ws.wait_for("file_upload_authorized").await
}

async fn post_png(app: &TestApp, grant: &Value, headers: &[(&str, String)]) -> u16 {
    let form = Form::new().part("file", Part::bytes(PNG.to_vec()).file_name("foto.png"));
    let mut request = app
        .http
        .post(grant["upload_url"].as_str().unwrap())
        .multipart(form);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn upload_credentials_and_session_tokens_are_not_interchangeable() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    let grant = upload_grant(&mut ws).await;
    let credential = grant["headers"]["X-Upload-Token"]
        .as_str()
        .unwrap()
        .to_string();

    // The upload credential opens no socket and reads nothing over REST.
    let refused = app
        .try_connect_with(&app.ws_url(ticket, &credential), None)
        .await
        .err()
        .expect("an upload credential opens no socket");
    assert_eq!(refused.0, 401, "{:?}", refused.1);
    let (status, _) = app
        .get(&format!("/api/soporte/tickets/{ticket}/"), &credential)
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &credential,
        )
        .await;
    assert_eq!(status, 401);

    // A session token is no upload credential, in the header or as Bearer alone.
    assert_eq!(
        post_png(&app, &grant, &[("X-Upload-Token", customer(1))]).await,
        403
    );
    assert_eq!(
        post_png(
            &app,
            &grant,
            &[("Authorization", format!("Bearer {}", customer(1)))]
        )
        .await,
        403
    );
    // The credential with another user's token is refused too.
    assert_eq!(
        post_png(
            &app,
            &grant,
            &[
                ("X-Upload-Token", credential.clone()),
                ("Authorization", format!("Bearer {}", customer(2)))
            ]
        )
        .await,
        403
    );
    // None of that spent the grant: the right credential still works, once.
    assert_eq!(
        post_png(&app, &grant, &[("X-Upload-Token", credential.clone())]).await,
        201
    );
    assert_eq!(
        post_png(&app, &grant, &[("X-Upload-Token", credential.clone())]).await,
        409
    );
    // A download link takes a session token, never the upload credential.
    let uploaded = ws.wait_for("file_uploaded").await;
    let url = uploaded["url"].as_str().unwrap();
    let status = |token: String| {
        let http = app.http.clone();
        let url = format!("{url}?token={token}");
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(credential).await, 401);
    assert_eq!(status(customer(1)).await, 200);
    assert_eq!(status(customer(2)).await, 403);
}

#[tokio::test]
async fn issuer_audience_and_not_before_are_enforced_when_configured() {
    let keys = soporte_server::config::KeyArgs {
        jwt_secret: Some(SECRET.into()),
        jwt_public_key: None,
        jwt_issuer: Some("https://helpdesk.example".into()),
        jwt_audience: Some("soporte".into()),
        ..soporte_server::config::KeyArgs::hs256("")
    };
    let verifier = soporte_server::auth::Verifier::from_args(&keys)
        .unwrap()
        .unwrap();
    let app = spawn_with_verifier(verifier, |_| {}).await;
    let claims = |extra: Value| {
        let mut claims = json!({"sub": "1", "name": "Ana", "role": "CLIENTE", "exp": now() + 600});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        hs256(claims)
    };
    let good = claims(json!({"iss": "https://helpdesk.example", "aud": "soporte"}));
    for (what, token, detalle) in [
        (
            "no iss",
            claims(json!({"aud": "soporte"})),
            "El emisor o la audiencia del token no son válidos.",
        ),
        (
            "wrong iss",
            claims(json!({"iss": "https://evil.example", "aud": "soporte"})),
            "El emisor o la audiencia del token no son válidos.",
        ),
        (
            "wrong aud",
            claims(json!({"iss": "https://helpdesk.example", "aud": "otra-app"})),
            "El emisor o la audiencia del token no son válidos.",
        ),
        (
            "no aud",
            claims(json!({"iss": "https://helpdesk.example"})),
            "El emisor o la audiencia del token no son válidos.",
        ),
        (
            "nbf in the future",
            claims(
                json!({"iss": "https://helpdesk.example", "aud": "soporte", "nbf": now() + 300}),
            ),
            "El token todavía no es válido.",
        ),
        (
            "exp of the wrong type",
            claims(json!({"iss": "https://helpdesk.example", "aud": "soporte", "exp": "mañana"})),
            "",
        ),
        (
            "name of the wrong type",
            claims(json!({"iss": "https://helpdesk.example", "aud": "soporte", "name": 5})),
            "",
        ),
    ] {
        let (status, body) = app.get("/api/soporte/tickets/", &token).await;
        assert_eq!(status, 401, "{what}: {body}");
        // The refusal's text never echoes the token.
        if !detalle.is_empty() {
            assert_eq!(body["detalle"], detalle, "{what}");
        }
        assert!(!body.to_string().contains(&token), "{what}");
        let ticket_url = format!("ws://{}/ws/soporte/ticket/1/?token={token}", app.addr);
        assert_eq!(
            app.try_connect_with(&ticket_url, None)
                .await
                .err()
                .unwrap()
                .0,
            401,
            "{what} on the socket"
        );
    }
    let (status, body) = app.get("/api/soporte/tickets/", &good).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn permessage_deflate_is_never_negotiated() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "GET /ws/soporte/ticket/{ticket}/?token={} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-webkit-deflate-frame\r\n\r\n",
        customer(1),
        app.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tokio::time::timeout(FRAME_TIMEOUT, tcp.read_exact(&mut byte))
            .await
            .expect("the handshake answers")
            .unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
    assert!(!head.contains("deflate"), "{head}");
}

#[tokio::test]
async fn a_users_sockets_share_one_message_budget_and_a_flood_is_closed_with_4102() {
    // Each socket alone may send 100/s; the user, over all of them, 1/s
    // with a burst of 3.
    let app = spawn_with(|c| {
        c.msg_rate = 100;
        c.user_msg_rate = 1;
    })
    .await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let mut ws = app.connect(ticket, &customer(1)).await;
        ws.expect("connection_established").await;
        sockets.push(ws);
    }
    for (n, ws) in sockets.iter_mut().enumerate() {
        ws.send_message("uno", &format!("s{n}-a")).await;
        ws.send_message("dos", &format!("s{n}-b")).await;
    }
    let (mut confirmed, mut limited) = (0, 0);
    for ws in &mut sockets {
        for _ in 0..2 {
            let frame = ws.wait_for_any(&["mensaje_confirmado", "error"]).await;
            if frame["tipo"] == "error" {
                assert_eq!(frame["data"]["codigo"], "limite_de_frecuencia", "{frame}");
                assert_eq!(frame["data"]["tipo"], "mensaje");
                assert!(frame["data"]["client_id"].is_string());
                limited += 1;
            } else {
                confirmed += 1;
            }
        }
    }
    assert_eq!((confirmed, limited), (3, 3));
    // Another user on the same ticket has a budget of their own.
    let mut agent_ws = app.connect(ticket, &agent(50)).await;
    agent_ws.expect("connection_established").await;
    agent_ws.send_message("hola", "ag-1").await;
    agent_ws.wait_for("mensaje_confirmado").await;

    // A client that keeps flooding is closed with 4102. One message at a
    // time, so nothing is left unread when the server closes (unread data
    // would turn the close into a reset).
    let mut flooder = sockets.pop().unwrap();
    let mut refused = 0;
    let closed = loop {
        let frame = json!({"tipo": "mensaje", "data": {"mensaje": "x", "client_id": format!("f{refused}")}});
        let _ = flooder
            .stream
            .send(WsMessage::Text(frame.to_string().into()))
            .await;
        match flooder.next_frame_within(Duration::from_secs(2)).await {
            Ok(Some(frame)) if frame["tipo"] == "error" => {
                assert_eq!(frame["data"]["codigo"], "limite_de_frecuencia");
                refused += 1;
                assert!(refused <= 40, "never closed");
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("no answer"),
            Err(closed) => break closed,
        }
    };
    // Its first round may have spent a strike or two already.
    assert!(refused >= 18, "{refused}");
    assert_eq!(closed.code, Some(4102), "{closed:?}");
    assert_eq!(closed.reason, "demasiados mensajes");
    // Only what the budget allowed was stored.
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/?size=100"),
            &customer(1),
        )
        .await;
    assert!(page["count"].as_i64().unwrap() <= 4 + 2 + 1, "{page}");
}

#[tokio::test]
async fn rest_sync_spends_the_users_message_budget_whether_or_not_a_socket_is_open() {
    // Each socket alone may send 100/s; the user, over sockets and REST
    // together, 1/s with a burst of 3. The budget refills by at most one
    // message per second since `start`, so at any moment the user can have
    // had at most `3 + elapsed` messages stored.
    let app = spawn_with(|c| {
        c.msg_rate = 100;
        c.user_msg_rate = 1;
    })
    .await;
    let ticket = app.ticket_for(&customer(1)).await;
    let sync = format!("/api/soporte/tickets/{ticket}/chat/sync/");
    let batch = |prefix: &str, n: usize| {
        let messages: Vec<Value> = (0..n)
            .map(|i| json!({"client_id": format!("{prefix}-{i}"), "contenido": format!("mensaje {i}")}))
            .collect();
        json!({ "messages": messages })
    };
    let start = std::time::Instant::now();
    let mut stored = 0usize;
    let within_budget = |stored: usize| {
        assert!(
            stored as f64 <= 3.0 + start.elapsed().as_secs_f64(),
            "{stored} messages stored in {:?}",
            start.elapsed()
        );
    };

    // A socket spends the burst, then closes: the budget outlives it.
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    for n in 0..3 {
        ws.send_message("por el socket", &format!("ws-{n}")).await;
        ws.wait_for("mensaje_confirmado").await;
    }
    stored += 3;
    ws.close().await;

    // A sync right after gets only what refilled since, as a prefix of the
    // request; the rest is refused in order, with the same code as on a socket.
    let (status, body) = app.post(&sync, &customer(1), batch("a", 10)).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    let errores = body["errores"].as_array().unwrap();
    assert_eq!(results.len() + errores.len(), 10, "{body}");
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["client_id"], format!("a-{i}"));
    }
    for (i, error) in errores.iter().enumerate() {
        assert_eq!(error["client_id"], format!("a-{}", results.len() + i));
        assert_eq!(error["codigo"], "limite_de_frecuencia", "{error}");
        assert_eq!(
            error["detalle"],
            "Estás enviando demasiados mensajes. Espera un momento."
        );
    }
    stored += results.len();
    within_budget(stored);

    // What REST spent, a new socket cannot spend again.
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    for n in 0..3 {
        ws.send_message("otra vez", &format!("ws2-{n}")).await;
    }
    for _ in 0..3 {
        let frame = ws.wait_for_any(&["mensaje_confirmado", "error"]).await;
        if frame["tipo"] == "error" {
            assert_eq!(frame["data"]["codigo"], "limite_de_frecuencia", "{frame}");
        } else {
            stored += 1;
        }
    }
    within_budget(stored);

    // A script flooding sync/ with full batches gets no further.
    let (mut requests, mut refused) = (0, 0);
    while start.elapsed() < Duration::from_secs(4) {
        let (status, body) = app
            .post(&sync, &customer(1), batch(&format!("f{requests}"), 100))
            .await;
        assert_eq!(status, 200, "{body}");
        let passed = body["results"].as_array().unwrap().len();
        let limited = body["errores"].as_array().unwrap().len();
        assert_eq!(passed + limited, 100, "{body}");
        stored += passed;
        refused += limited;
        requests += 1;
        within_budget(stored);
    }
    assert!(
        requests > 1 && refused > 0,
        "{refused} refused in {requests} requests"
    );

    // Another user has a budget of their own.
    let other = app.ticket_for(&customer(2)).await;
    let (_, body) = app
        .post(
            &format!("/api/soporte/tickets/{other}/chat/sync/"),
            &customer(2),
            batch("b", 3),
        )
        .await;
    assert_eq!(body["results"].as_array().unwrap().len(), 3, "{body}");
    // Someone who may not write there spends nothing: every message gets its
    // lasting refusal, none a "wait and retry".
    let (_, body) = app
        .post(
            &format!("/api/soporte/tickets/{other}/chat/sync/"),
            &agent(50),
            batch("no-asignado", 10),
        )
        .await;
    let codes: Vec<&str> = body["errores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["codigo"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["sin_permiso"; 10], "{body}");

    // A moment later, a refused message sent again with its client_id is stored.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (_, body) = app
        .post(
            &sync,
            &customer(1),
            json!({"messages": [{"client_id": "a-9", "contenido": "mensaje 9"}]}),
        )
        .await;
    assert_eq!(body["results"][0]["client_id"], "a-9", "{body}");
    assert_eq!(body["results"][0]["duplicado"], false);
    stored += 1;

    // Exactly what was accepted is in the history; nothing refused was kept.
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/?size=100"),
            &customer(1),
        )
        .await;
    assert_eq!(page["count"].as_u64().unwrap() as usize, stored, "{page}");
}

/// A JSON body just over `limit` bytes.
fn body_over(limit: usize) -> String {
    json!({"relleno": "a".repeat(limit + 1)}).to_string()
}

#[tokio::test]
async fn every_json_endpoint_refuses_an_oversized_body_with_413_and_a_detalle() {
    let app = spawn_with(|c| c.max_request_body = 4096).await;
    let ticket = app.ticket_for(&customer(1)).await;
    let (_, canned) = app
        .post(
            "/api/soporte/respuestas/",
            &agent(50),
            json!({"atajo": "hola", "texto": "¡Hola!"}),
        )
        .await;
    let canned = canned["id"].as_i64().unwrap();
    let endpoints = [
        ("POST", "/api/soporte/tickets/".to_string()),
        ("POST", format!("/api/soporte/tickets/{ticket}/assign/")),
        ("POST", format!("/api/soporte/tickets/{ticket}/estado/")),
        ("POST", format!("/api/soporte/tickets/{ticket}/chat/sync/")),
        (
            "POST",
            format!("/api/soporte/tickets/{ticket}/chat/mark-read/"),
        ),
        (
            "POST",
            format!("/api/soporte/tickets/{ticket}/chat/transfer/"),
        ),
        ("POST", "/api/soporte/agentes/disponibilidad/".to_string()),
        ("POST", "/api/soporte/respuestas/".to_string()),
        ("PUT", format!("/api/soporte/respuestas/{canned}/")),
    ];
    for (method, path) in &endpoints {
        // A caller the endpoint serves: the body limit is what refuses.
        let token = if path.ends_with("disponibilidad/") {
            agent(50)
        } else {
            supervisor(9)
        };
        let response = app
            .http
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body_over(4096))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 413, "{method} {path}: {body}");
        assert_eq!(
            body["detalle"], "El cuerpo de la petición es demasiado grande.",
            "{method} {path}"
        );
    }
    // A body without Content-Length (chunked) is cut off at the limit too.
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/soporte/tickets/{ticket}/chat/sync/ HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.addr,
        customer(1)
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..8 {
        let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(FRAME_TIMEOUT, tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("El cuerpo de la petición es demasiado grande."),
        "{answer}"
    );
    // Under the limit, the same endpoints work.
    let (status, _) = app
        .post(
            "/api/soporte/tickets/",
            &customer(1),
            json!({"asunto": "pequeño"}),
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_evicted_with_4101_and_resumes_with_since() {
    let app = spawn_with(|c| c.max_message_length = 20_000).await;
    let ticket = app.ticket_for(&customer(1)).await;
    // The slow reader: an agent who opens the ticket and then reads nothing.
    let mut slow = app.connect(ticket, &agent(50)).await;
    slow.expect("connection_established").await;
    let mut writer = app.connect(ticket, &customer(1)).await;
    writer.expect("connection_established").await;
    let rss_before = rss_kib();
    // ~40 KB frames: far more than the socket buffers and the 256-event
    // queue hold, so the reader falls behind for good.
    let text = "ñ".repeat(19_000);
    let mut evicted = false;
    let mut sent = 0;
    for round in 0..200 {
        for n in 0..10 {
            writer
                .send_message(&text, &format!("big-{round}-{n}"))
                .await;
            sent += 1;
        }
        for _ in 0..10 {
            writer.wait_for("mensaje_confirmado").await;
        }
        if metric(&app, "soporte_slow_consumers_closed_total").await >= 1 {
            evicted = true;
            break;
        }
    }
    assert!(evicted, "no eviction after {sent} messages");
    // Memory did not follow what the reader was owed (~40 KB x {sent}).
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(
        grown < 64 * 1024,
        "RSS grew by {grown} KiB for {sent} messages"
    );
    // The reader now reads: what the socket held, then the close.
    let mut last_seq = 0;
    let closed = loop {
        match slow.next_frame_within(Duration::from_secs(15)).await {
            Ok(Some(frame)) => {
                if let Some(seq) = frame["data"]["seq"].as_i64() {
                    last_seq = last_seq.max(seq);
                }
            }
            Ok(None) => panic!("the slow reader was not closed"),
            Err(closed) => break closed,
        }
    };
    assert_eq!(closed.code, Some(4101), "{closed:?}");
    // It resumes with `since` and gets every message it missed, once.
    let url = format!("{}&since={last_seq}", app.ws_url(ticket, &agent(50)));
    let mut resumed = app.connect_url(&url).await;
    let hello = resumed.expect("connection_established").await;
    let mut seqs: Vec<i64> = hello["historial_reciente"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    let last = hello["last_seq"].as_i64().unwrap();
    while seqs.last().copied().unwrap_or(last_seq) < last {
        let message = resumed.expect("mensaje_recibido").await;
        seqs.push(message["seq"].as_i64().unwrap());
    }
    let expected: Vec<i64> = (last_seq + 1..=last).collect();
    assert_eq!(seqs, expected);
}

pub(crate) async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// This process's resident memory (the server runs in it), in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn guessed_ids_of_other_tickets_messages_and_files_get_nothing() {
    let app = spawn_app().await;
    // Customer 1's ticket, with a message and a file.
    let mine = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(mine, &customer(1)).await;
    ws.expect("connection_established").await;
    ws.send_message("privado", "p-1").await;
    let message = ws.wait_for("mensaje_confirmado").await["mensaje_id"]
        .as_i64()
        .unwrap();
    let grant = upload_grant(&mut ws).await;
    let credential = grant["headers"]["X-Upload-Token"].as_str().unwrap();
    assert_eq!(
        post_png(&app, &grant, &[("X-Upload-Token", credential.to_string())]).await,
        201
    );
    let file = ws.wait_for("file_uploaded").await["id"].as_i64().unwrap();
    // Customer 2, on a ticket of their own, walks the ids around them.
    let theirs = app.ticket_for(&customer(2)).await;
    let intruder = customer(2);
    for id in 1..=mine + 2 {
        if id == theirs {
            continue;
        }
        for path in [
            format!("/api/soporte/tickets/{id}/"),
            format!("/api/soporte/tickets/{id}/chat/historial/"),
            format!("/api/soporte/tickets/{id}/chat/stats/"),
        ] {
            let (status, body) = app.get(&path, &intruder).await;
            assert!(status == 403 || status == 404, "{path}: {status} {body}");
            assert!(!body.to_string().contains("privado"), "{path}");
        }
        let (status, _) = app
            .post(
                &format!("/api/soporte/tickets/{id}/chat/sync/"),
                &intruder,
                json!({"messages": [{"client_id": "x", "contenido": "intruso"}]}),
            )
            .await;
        assert!(status == 403 || status == 404, "sync {id}: {status}");
        let (status, _) = app
            .post(
                &format!("/api/soporte/tickets/{id}/chat/mark-read/"),
                &intruder,
                json!({"message_ids": [message]}),
            )
            .await;
        assert!(status == 403 || status == 404, "mark-read {id}: {status}");
        let refused = app
            .try_connect_with(&app.ws_url(id, &intruder), None)
            .await
            .err()
            .expect("no socket on another's ticket");
        assert!(refused.0 == 403 || refused.0 == 404, "ws {id}: {refused:?}");
    }
    // Marking customer 1's message read from customer 2's own ticket does nothing.
    let (status, _) = app
        .post(
            &format!("/api/soporte/tickets/{theirs}/chat/mark-read/"),
            &intruder,
            json!({"message_ids": [message]}),
        )
        .await;
    assert_eq!(status, 400, "a message of another ticket is refused");
    // Files: every id near the real one is 403 or 404, never the bytes.
    for id in 1..=file + 2 {
        for suffix in ["", "miniatura/"] {
            let response = app
                .http
                .get(app.url(&format!("/api/soporte/archivos/{id}/{suffix}")))
                .bearer_auth(&intruder)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!(
                status == 403 || status == 404,
                "file {id}{suffix}: {status}"
            );
        }
    }
    // And the file's own uploader still gets it.
    let response = app
        .http
        .get(app.url(&format!("/api/soporte/archivos/{file}/")))
        .bearer_auth(customer(1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Reads until the server closes `stream`; how long that took, or `None`
/// if it was still open after `limit`.
async fn closed_after(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            stream.read(&mut buffer),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // hyper may answer 408 before closing.
            Ok(Ok(_)) => continue,
        }
    }
}

/// A connection that sends no whole request head within
/// `--http-header-timeout` is closed: one that never sends a byte, one that
/// trickles its headers a byte at a time (slowloris), and a keep-alive
/// connection left idle after its response. A request sent in time is served.
#[tokio::test]
async fn http_connections_that_send_no_whole_request_in_time_are_closed() {
    let app = spawn_with(|c| c.http_header_timeout = Duration::from_secs(1)).await;
    let mut silent = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: soporte\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let read = idle.read(&mut answer).await.unwrap();
    assert!(
        answer[..read].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer[..read])
    );
    let trickle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut trickle_read, mut trickle_write) = trickle.into_split();
    let trickler = tokio::spawn(async move {
        for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: "
            .iter()
            .chain(std::iter::repeat(&b'a'))
        {
            if trickle_write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let limit = Duration::from_secs(5);
    let silent_closed = closed_after(&mut silent, limit)
        .await
        .expect("the silent connection is closed");
    closed_after(&mut idle, limit)
        .await
        .expect("the idle keep-alive connection is closed");
    let mut buffer = [0u8; 1024];
    let trickle_closed = tokio::time::timeout(limit, async {
        loop {
            match trickle_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(trickle_closed.is_ok(), "the trickling connection is closed");
    trickler.abort();
    // Closed by the timeout, not at once.
    assert!(
        silent_closed >= Duration::from_millis(500),
        "{silent_closed:?}"
    );
}

#[tokio::test]
async fn the_server_wide_connection_cap_refuses_with_503_and_frees_on_close() {
    let app = spawn_with(|c| c.max_connections = 2).await;
    let ticket = app.ticket_for(&customer(1)).await;
    let other = app.ticket_for(&customer(2)).await;
    let mut first = app.connect(ticket, &customer(1)).await;
    first.expect("connection_established").await;
    let (mut inbox, _) = app.inbox(&agent(50)).await;
    // Every kind of socket counts: the third, of anyone, is refused.
    let refused = app
        .try_connect_with(&app.ws_url(other, &customer(2)), None)
        .await
        .err()
        .expect("the server is full");
    assert_eq!(refused.0, 503);
    assert_eq!(
        refused.1["detalle"],
        "El servidor no admite más conexiones ahora."
    );
    // A refused upgrade changed nothing; a closed socket frees its place.
    inbox
        .assert_no("ticket_actualizado", Duration::from_millis(100))
        .await;
    first.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.connect(other, &customer(2))
        .await
        .expect("connection_established")
        .await;
}

#[tokio::test]
async fn an_open_socket_is_judged_on_each_action_by_the_ticket_as_it_is_now() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    // A grant obtained while the ticket was open…
    let grant = upload_grant(&mut ws).await;
    // …then the ticket is closed while the socket stays open.
    let (status, _) = app
        .post(
            &format!("/api/soporte/tickets/{ticket}/estado/"),
            &supervisor(9),
            json!({"estado": "CERRADO"}),
        )
        .await;
    assert_eq!(status, 200);
    ws.wait_for("ticket_actualizado").await;
    // Every later action is checked against the closed ticket.
    ws.send_message("¿sigue abierto?", "tarde-1").await;
    let refused = ws.wait_for("error").await;
    assert_eq!(refused["codigo"], "ticket_cerrado");
    assert_eq!(refused["client_id"], "tarde-1");
    ws.send_json(json!({"tipo": "file_upload_request", "data": {"nombre_archivo": "foto.png", "tamaño": PNG.len(), "tipo_mime": "image/png"}}))
        .await;
    let refused = ws.wait_for("error").await;
    assert_eq!(refused["codigo"], "ticket_cerrado");
    assert_eq!(refused["tipo"], "file_upload_request");
    // The earlier grant is checked again when the upload commits.
    let credential = grant["headers"]["X-Upload-Token"].as_str().unwrap();
    assert_eq!(
        post_png(&app, &grant, &[("X-Upload-Token", credential.to_string())]).await,
        409
    );
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    assert_eq!(page["count"], 1, "only the closing SISTEMA message: {page}");
}

#[tokio::test]
async fn downloads_are_never_a_page_of_the_apps_origin_and_hostile_names_are_neutralised() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    // A name with a path, a right-to-left override, a header injection and quotes.
    let hostile = "../../x/fac\u{202E}gnp.\r\nSet-Cookie: a=b\".pdf";
    let pdf = b"%PDF-1.4\n<html><script>alert(1)</script></html>\n%%EOF".to_vec();
    ws.send_json(json!({"tipo": "file_upload_request", "data": {"nombre_archivo": hostile, "tamaño": pdf.len(), "tipo_mime": "text/html"}}))
        .await;
    let grant = ws.wait_for("file_upload_authorized").await;
    let nombre = grant["nombre"].as_str().unwrap().to_string();
    assert!(
        !nombre.contains(['/', '\\', '\r', '\n', '"', '\u{202E}']),
        "{nombre:?}"
    );
    let form = Form::new().part("file", Part::bytes(pdf).file_name("x.pdf"));
    let response = app
        .http
        .post(grant["upload_url"].as_str().unwrap())
        .header(
            "X-Upload-Token",
            grant["headers"]["X-Upload-Token"].as_str().unwrap(),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let uploaded = ws.wait_for("file_uploaded").await;
    assert_eq!(uploaded["nombre"], nombre.as_str());
    let download = app
        .http
        .get(uploaded["url"].as_str().unwrap())
        .bearer_auth(customer(1))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let headers = download.headers();
    // The declared text/html is ignored: the type comes from the checked bytes.
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("sandbox"));
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(!headers.contains_key("set-cookie"));
    // The ASCII filename is one quoted token: no way out of the header.
    assert_eq!(disposition.matches('"').count(), 2, "{disposition}");
}

#[tokio::test]
async fn an_inbox_socket_is_closed_with_4100_when_its_token_expires() {
    let app = spawn_app().await;
    // Expiry is in whole seconds: 4 leaves 3 s or more to connect in, even
    // on a loaded CI host.
    let short = token_with_ttl(50, "Agente 50", soporte_protocol::Role::Agent, 4);
    let (mut inbox, _) = app.inbox(&short).await;
    let closed = inbox.closed_within(Duration::from_secs(10)).await;
    assert_eq!(closed.code, Some(4100), "{closed:?}");
}

#[tokio::test]
async fn cors_answers_only_allowed_origins_exactly() {
    let app =
        spawn_with(|c| c.allowed_origins = Some(vec!["https://helpdesk.example".into()])).await;
    let url = app.url("/api/soporte/tickets/");
    let get = |origin: &'static str| {
        let request = app
            .http
            .get(&url)
            .bearer_auth(customer(1))
            .header("origin", origin);
        async move { request.send().await.unwrap() }
    };
    let allowed = get("https://helpdesk.example").await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://helpdesk.example"
    );
    let vary = allowed.headers()["vary"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(vary.contains("origin"), "{vary}");
    assert!(!allowed
        .headers()
        .contains_key("access-control-allow-credentials"));
    for origin in [
        "https://evil.example",
        "null",
        "https://helpdesk.example.evil.example",
        "http://helpdesk.example",
    ] {
        let response = get(origin).await;
        assert!(
            !response
                .headers()
                .contains_key("access-control-allow-origin"),
            "{origin}"
        );
    }
    let preflight = |origin: &'static str| {
        let request = app
            .http
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            );
        async move { request.send().await.unwrap() }
    };
    let ok = preflight("https://helpdesk.example").await;
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://helpdesk.example"
    );
    // The upload grant's header too: a widget on the host's page uploads.
    assert_eq!(
        ok.headers()["access-control-allow-headers"],
        "authorization,content-type,x-upload-token"
    );
    assert!(ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    // Another origin's preflight is answered without an allowed origin: the
    // browser refuses the call (before, a 405 from the router).
    for origin in ["null", "https://evil.example"] {
        let refused = preflight(origin).await;
        assert!(
            !refused
                .headers()
                .contains_key("access-control-allow-origin"),
            "{origin}"
        );
    }
}

/// Every answer carries an `X-Request-Id` (a proxy's is kept), the id the
/// access log writes beside the request.
#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let first = app.http.get(app.url("/healthz")).send().await.unwrap();
    let second = app.http.get(app.url("/healthz")).send().await.unwrap();
    let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id(&first), id(&second));
    assert!(!id(&first).is_empty());
    let proxied = app
        .http
        .get(app.url("/api/soporte/tickets/"))
        .header("x-request-id", "nginx-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 401);
    assert_eq!(id(&proxied), "nginx-7f3a");
}

#[tokio::test]
async fn the_frame_size_limit_is_configurable() {
    let app = spawn_with(|c| c.max_frame_size = 2048).await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    ws.send_message(&"a".repeat(1500), "cabe").await;
    ws.expect("mensaje_confirmado").await;
    ws.send_message(&"a".repeat(2500), "no-cabe").await;
    let refused = ws.expect("error").await;
    assert_eq!(refused["codigo"], "frame_demasiado_grande");
    // The connection stays; over the library's limit it is closed with 1009.
    ws.send_message("sigo", "sigo").await;
    ws.expect("mensaje_confirmado").await;
    let _ = ws
        .stream
        .send(WsMessage::Text("x".repeat(300 * 1024).into()))
        .await;
    assert_eq!(
        ws.closed_within(Duration::from_secs(3)).await.code,
        Some(1009)
    );
}

/// Staff opening a ticket for a customer who exists already cannot rename
/// them or change their avatar (it showed everywhere they appear); avatars
/// are web addresses only, wherever they come from.
#[tokio::test]
async fn a_ticket_opened_by_staff_never_rewrites_an_existing_customer() {
    let app = spawn_app().await;
    let own = app.ticket_for(&customer(7)).await;
    let (status, body) = app
        .post(
            "/api/soporte/tickets/",
            &agent(50),
            json!({"asunto": "Otro", "cliente": {"id": 7, "nombre": "Impostor", "avatar": "https://evil.example/a.png"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for ticket in [own, body["id"].as_i64().unwrap()] {
        let (_, shown) = app
            .get(&format!("/api/soporte/tickets/{ticket}/"), &agent(50))
            .await;
        assert_eq!(shown["cliente"]["nombre"], "Cliente 7", "{shown}");
        assert!(shown["cliente"]["avatar"].is_null(), "{shown}");
    }
    // A new customer described by staff is stored as described…
    let (status, body) = app
        .post(
            "/api/soporte/tickets/",
            &agent(50),
            json!({"asunto": "Nuevo", "cliente": {"id": 8, "nombre": "Eva", "avatar": "https://cdn.example/eva.png"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["cliente"]["nombre"], "Eva");
    // …and an avatar that is not a web address is refused, changing nothing.
    for avatar in [
        "javascript:alert(1)",
        "data:image/svg+xml,<svg/>",
        "//evil.example/a",
    ] {
        let (status, body) = app
            .post(
                "/api/soporte/tickets/",
                &agent(50),
                json!({"asunto": "x", "cliente": {"id": 9, "nombre": "Mal", "avatar": avatar}}),
            )
            .await;
        assert_eq!(status, 400, "{avatar}: {body}");
        assert!(
            body["detalle"].as_str().unwrap().contains("avatar"),
            "{body}"
        );
    }
    let (_, listed) = app.get("/api/soporte/tickets/", &supervisor(90)).await;
    assert_eq!(listed["count"], 3, "{listed}");
}

/// Pings spend the frame budget like any frame: a client pinging as fast as
/// it can is closed with 4102 (each ping cost a pong, for free, before).
#[tokio::test]
async fn a_ping_flood_is_closed_like_any_flood() {
    async fn flood_with_pings(mut ws: WsClient) -> Closed {
        for _ in 0..400 {
            if ws
                .stream
                .send(WsMessage::Ping(Vec::new().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        ws.closed_within(Duration::from_secs(5)).await
    }
    // The shipped budgets (the suite turns them off).
    let app = spawn_with(|c| c.msg_rate = 10).await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    let closed = flood_with_pings(ws).await;
    assert_eq!(closed.code, Some(4102), "{closed:?}");
    // The agents' inbox socket too.
    let (inbox, _) = app.inbox(&agent(50)).await;
    let closed = flood_with_pings(inbox).await;
    assert_eq!(closed.code, Some(4102), "{closed:?}");
}

/// Readers that resume from the start of a long history and never read pin
/// a bounded amount of memory each: catch-up pages are sized in bytes. (Pages
/// of 500 messages held about 10 MB per such socket.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_catch_up_readers_pin_little_memory() {
    if !peak_rss_resettable() {
        return; // peak memory is read from Linux's /proc
    }
    let app = spawn_with(|c| c.max_message_length = 50_000).await;
    let ticket = app.ticket_for(&customer(1)).await;
    // 200 messages of 50,000 characters: 10 MB of history.
    let long = "x".repeat(50_000);
    for batch in 0..20 {
        let messages: Vec<Value> = (0..10)
            .map(|i| json!({"client_id": format!("long-{batch}-{i}"), "contenido": long}))
            .collect();
        let (status, body) = app
            .post(
                &format!("/api/soporte/tickets/{ticket}/chat/sync/"),
                &customer(1),
                json!({ "messages": messages }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let before = reset_peak_rss();
    // Twenty sockets resume from the start and never read.
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let url = format!("{}&since=0", app.ws_url(ticket, &agent(50)));
        stalled.push(app.connect_url(&url).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown = peak_rss().saturating_sub(before);
    // Each holds a page, its greeting and its socket buffers: about 2 MiB.
    assert!(
        grown < 80 * 1024 * 1024,
        "peak grew by {} MiB",
        grown / 1024 / 1024
    );
    drop(stalled);
    // A reader that does read gets the whole history, in order.
    let url = format!("{}&since=0", app.ws_url(ticket, &supervisor(90)));
    let mut reader = app.connect_url(&url).await;
    let mut seqs = Vec::new();
    let hello = reader.expect("connection_established").await;
    for message in hello["historial_reciente"].as_array().unwrap() {
        seqs.push(message["seq"].as_i64().unwrap());
    }
    while seqs.len() < 200 {
        let message = reader.wait_for("mensaje_recibido").await;
        seqs.push(message["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
}

/// One address cannot take the server's file handles with idle TCP
/// connections: past `--max-connections-per-ip` its new connections are
/// closed at once, and a connection that ends frees its place.
#[tokio::test]
async fn one_address_holds_a_bounded_number_of_idle_connections() {
    let app = spawn_with(|c| c.max_connections_per_ip = 5).await;
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(tokio::net::TcpStream::connect(app.addr).await.unwrap());
    }
    let mut sixth = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), sixth.read(&mut byte))
        .await
        .expect("the sixth connection is closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // One ends: a request gets through again.
    drop(idle.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = reqwest::Client::new().get(app.url("/healthz")).send().await;
        if answer.as_ref().is_ok_and(|a| a.status() == 200) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One address cannot make the server answer requests as fast as it sends
/// them: past `--requests-per-ip` (burst of five seconds' worth) it gets 429
/// with `Retry-After`, before any route runs; another address is not held.
#[tokio::test]
async fn one_address_sends_a_bounded_number_of_requests_per_second() {
    // Metrics on their own listener: the chat port refuses this address.
    let app = spawn_with(|c| {
        c.requests_per_ip = 4;
        c.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let answer = http.get(app.url("/healthz")).send().await.unwrap();
        if answer.status() == 429 {
            assert_eq!(answer.headers()["retry-after"], "1");
            let body: serde_json::Value = answer.json().await.unwrap();
            assert!(body["detalle"]
                .as_str()
                .unwrap()
                .contains("Demasiadas peticiones"));
            statuses.push(429);
        } else {
            statuses.push(answer.status().as_u16());
        }
    }
    let served = statuses.iter().filter(|s| **s == 200).count();
    // The burst (20), and what refilled while the 40 were sent (4/s).
    assert!((20..=24).contains(&served), "{statuses:?}");
    assert!(statuses[..20].iter().all(|s| *s == 200), "{statuses:?}");
    let refused = metric(&app, "soporte_http_rate_limited_total").await;
    assert!(refused >= 16, "{refused}");
    // A WebSocket upgrade is a request like any other.
    let refused = tokio_tungstenite::connect_async(app.ws_url(1, &customer(1))).await;
    assert!(refused.is_err(), "the upgrade got through");
}
