use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

async fn send_many(app: &TestApp, ticket: i64, token: &str, count: usize) {
    let mut ws = app.connect(ticket, token).await;
    ws.expect("connection_established").await;
    for n in 1..=count {
        ws.send_message(&format!("m{n}"), &format!("m{n}")).await;
    }
    for _ in 0..count {
        ws.expect("mensaje_confirmado").await;
    }
    ws.close().await;
}

fn contents(page: &serde_json::Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["contenido"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn history_pages_hold_the_newest_first_each_listed_oldest_first() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    send_many(&app, ticket, &customer(1), 120).await;
    let path = format!("/api/soporte/tickets/{ticket}/chat/historial/");

    let (status, page1) = app
        .get(&format!("{path}?page=1&size=50"), &customer(1))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page1["count"], 120);
    assert_eq!(contents(&page1).first().unwrap(), "m71");
    assert_eq!(contents(&page1).last().unwrap(), "m120");
    assert!(page1["previous"].is_null());
    let next = page1["next"].as_str().unwrap();
    assert!(next.starts_with(&format!("http://{}", app.addr)), "{next}");
    let next_path = next.split_once(&app.addr.to_string()).unwrap().1;
    let (_, page2) = app.get(next_path, &customer(1)).await;
    assert_eq!(
        contents(&page2),
        (21..=70).map(|n| format!("m{n}")).collect::<Vec<_>>()
    );
    let (_, page3) = app
        .get(&format!("{path}?page=3&size=50"), &customer(1))
        .await;
    assert_eq!(contents(&page3).len(), 20);
    assert!(page3["next"].is_null());

    // `before` keeps pages stable while new messages arrive.
    let (_, pinned) = app
        .get(&format!("{path}?before=71&size=50"), &customer(1))
        .await;
    send_many(&app, ticket, &customer(1), 5).await;
    let (_, pinned_again) = app
        .get(&format!("{path}?before=71&size=50"), &customer(1))
        .await;
    assert_eq!(contents(&pinned), contents(&pinned_again));
    assert_eq!(contents(&pinned), contents(&page2));
}

/// Staff's first page comes with its ticket in one trip to the store: it
/// holds the notes, matches the same page read by cursor, and is refused to
/// whoever may not read the ticket.
#[tokio::test]
async fn a_staff_first_page_holds_the_notes_and_is_refused_to_strangers() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    send_many(&app, ticket, &customer(1), 60).await;
    // Agent 5 takes the ticket by opening it and writes a note.
    let mut ws = app.connect(ticket, &agent(5)).await;
    ws.expect("connection_established").await;
    ws.send_json(json!({"tipo": "mensaje", "data": {"mensaje": "VIP", "client_id": "n1", "metadata": {"interno": true}}}))
        .await;
    ws.wait_for("mensaje_confirmado").await;
    let path = format!("/api/soporte/tickets/{ticket}/chat/historial/");

    let (status, first) = app.get(&format!("{path}?size=50"), &agent(5)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["count"], 61);
    let seen = contents(&first);
    assert_eq!(seen.len(), 50);
    assert_eq!((seen[0].as_str(), seen[49].as_str()), ("m12", "VIP"));
    assert!(first["next"].as_str().unwrap().contains("page=2"));
    let (_, by_cursor) = app
        .get(&format!("{path}?before=62&size=50"), &agent(5))
        .await;
    assert_eq!(contents(&by_cursor), seen);
    let (_, theirs) = app.get(&format!("{path}?size=50"), &customer(1)).await;
    assert_eq!(theirs["count"], 60);
    assert_eq!(contents(&theirs).last().unwrap(), "m60");

    // Another agent may not read a ticket agent 5 holds; nobody reads one
    // that does not exist.
    let (status, body) = app.get(&format!("{path}?size=50"), &agent(6)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.get("results").is_none(), "{body}");
    let (status, _) = app
        .get(
            "/api/soporte/tickets/987654/chat/historial/",
            &supervisor(9),
        )
        .await;
    assert_eq!(status, 404);
    ws.close().await;
}

#[tokio::test]
async fn history_refuses_bad_paging_parameters() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let path = format!("/api/soporte/tickets/{ticket}/chat/historial/");
    let huge = i64::MAX;
    let cases = [
        "?size=101".to_string(),
        "?size=0".into(),
        "?page=0".into(),
        "?page=abc".into(),
        "?before=x".into(),
        // Past the range of seq: wrapping would return the whole history.
        format!("?page={huge}"),
        format!("?page={}&size=100", huge / 100),
        format!("?page=-{huge}"),
        // A cursor below 1 would act as no cursor.
        "?before=0".into(),
        format!("?before={}", i64::MIN),
    ];
    for query in cases {
        let (status, body) = app.get(&format!("{path}{query}"), &customer(1)).await;
        assert_eq!(status, 400, "{query}");
        assert!(body["detalle"].is_string());
    }
    assert_eq!(
        app.get(&format!("{path}?size=100"), &customer(1)).await.0,
        200
    );
}

#[tokio::test]
async fn offline_sync_is_idempotent_and_reaches_connected_clients_once() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut agent_ws = app.connect(ticket, &agent(50)).await;
    agent_ws.expect("connection_established").await;
    let path = format!("/api/soporte/tickets/{ticket}/chat/sync/");
    let body = json!({"messages": [
        {"client_id": "off-1", "contenido": "escrito sin red", "timestamp": "2024-09-20T17:30:00Z", "metadata": {}},
        {"client_id": "off-2", "contenido": "y otro"},
        {"client_id": "off-3", "contenido": "   "}
    ]});
    let (status, first) = app.post(&path, &customer(1), body.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert_eq!(first["results"][0]["client_id"], "off-1");
    assert_eq!(first["results"][0]["seq"], 1);
    assert_eq!(first["results"][1]["seq"], 2);
    assert_eq!(first["errores"][0]["client_id"], "off-3");
    assert_eq!(first["errores"][0]["codigo"], "mensaje_vacio");
    let (_, second) = app.post(&path, &customer(1), body).await;
    assert_eq!(
        second["results"][0]["mensaje_id"],
        first["results"][0]["mensaje_id"]
    );
    assert_eq!(second["results"][0]["duplicado"], true);
    assert_eq!(
        agent_ws.wait_for("mensaje_recibido").await["contenido"],
        "escrito sin red"
    );
    assert_eq!(
        agent_ws.wait_for("mensaje_recibido").await["contenido"],
        "y otro"
    );
    agent_ws
        .assert_no("mensaje_recibido", Duration::from_millis(300))
        .await;
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    assert_eq!(page["count"], 2);
}

#[tokio::test]
async fn mark_read_sets_leido_across_the_conversation_and_tells_the_sender() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut c = app.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    c.send_message("¿alguien?", "q1").await;
    let id = c.expect("mensaje_confirmado").await["mensaje_id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/soporte/tickets/{ticket}/chat/mark-read/");
    let (_, listed) = app.get("/api/soporte/tickets/", &agent(50)).await;
    assert_eq!(listed["results"][0]["no_leidos"], 1);
    assert_eq!(
        listed["results"][0]["ultimo_mensaje"]["contenido"],
        "¿alguien?"
    );

    // An agent looking at the queue has not taken the ticket: no receipt.
    let (status, _) = app
        .post(&path, &agent(50), json!({"message_ids": [id]}))
        .await;
    assert_eq!(status, 403);
    let mut a = app.connect(ticket, &agent(50)).await;
    a.expect("connection_established").await;
    c.wait_for("agente_joined").await;

    // Reading one's own message changes nothing.
    let (_, own) = app
        .post(&path, &customer(1), json!({"message_ids": [id]}))
        .await;
    assert_eq!(own["marcados"], json!([]));
    let (status, read) = app
        .post(&path, &agent(50), json!({"message_ids": [id]}))
        .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["marcados"], json!([id]));
    assert_eq!(read["no_leidos"], 0);
    let receipt = c.wait_for("mensajes_leidos").await;
    assert_eq!(receipt["message_ids"], json!([id]));
    assert_eq!(receipt["lector"]["id"], 50);
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    assert_eq!(page["results"][0]["estado"], "LEIDO");

    // The agent's reply is marked read by the customer, not by a supervisor.
    a.send_message("aquí estoy", "a1").await;
    let reply = a.wait_for("mensaje_confirmado").await["mensaje_id"]
        .as_i64()
        .unwrap();
    let (_, by_boss) = app
        .post(&path, &supervisor(9), json!({"message_ids": [reply]}))
        .await;
    assert_eq!(by_boss["marcados"], json!([]));
    let (_, by_customer) = app
        .post(&path, &customer(1), json!({"message_ids": [reply]}))
        .await;
    assert_eq!(by_customer["marcados"], json!([reply]));
    assert_eq!(
        a.wait_for("mensajes_leidos").await["message_ids"],
        json!([reply])
    );

    // Ids of other tickets are refused and change nothing.
    let other = app.ticket_for(&customer(2)).await;
    let mut o = app.connect(other, &customer(2)).await;
    o.expect("connection_established").await;
    o.send_message("otro", "o1").await;
    let foreign = o.expect("mensaje_confirmado").await["mensaje_id"]
        .as_i64()
        .unwrap();
    let (status, body) = app
        .post(&path, &supervisor(9), json!({"message_ids": [id, foreign]}))
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn oversized_and_non_json_bodies_get_413_and_415() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let url = app.url(&format!("/api/soporte/tickets/{ticket}/chat/sync/"));
    let huge = json!({"messages": [{"client_id": "x", "contenido": "a".repeat(2 * 1024 * 1024)}]});
    let response = app
        .http
        .post(&url)
        .bearer_auth(customer(1))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let response = app
        .http
        .post(&url)
        .bearer_auth(customer(1))
        .body("hola")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["detalle"].is_string());
}

#[tokio::test]
async fn stats_count_messages_by_author_and_measure_the_first_response() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut c = app.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    let mut a = app.connect(ticket, &agent(50)).await;
    a.expect("connection_established").await;
    c.send_message("hola", "c1").await;
    c.wait_for("mensaje_confirmado").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.send_message("buenas", "a1").await;
    a.wait_for("mensaje_confirmado").await;
    c.send_message("gracias", "c2").await;
    c.wait_for("mensaje_confirmado").await;
    let (status, stats) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/stats/"),
            &agent(50),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(stats["total_mensajes"], 3);
    assert_eq!(stats["por_tipo_autor"]["CLIENTE"], 2);
    assert_eq!(stats["por_tipo_autor"]["AGENTE"], 1);
    assert_eq!(stats["archivos"], 0);
    assert_eq!(stats["no_leidos"], 2);
    let first = stats["primera_respuesta_segundos"].as_f64().unwrap();
    assert!((0.25..5.0).contains(&first), "{first}");
    assert!(stats["duracion_segundos"].as_f64().unwrap() >= first);
}
