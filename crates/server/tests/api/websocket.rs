use crate::helpers::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use soporte_protocol::Role;
use std::time::Duration;

#[tokio::test]
async fn connection_established_carries_the_user_the_ticket_participants_and_recent_history() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    let hello = ws.expect("connection_established").await;
    assert_eq!(hello["usuario"]["id"], 1);
    assert_eq!(hello["usuario"]["tipo"], "CLIENTE");
    assert_eq!(hello["ticket"]["id"], ticket);
    assert_eq!(hello["historial_reciente"], json!([]));
    assert_eq!(hello["limites"]["max_mensaje"], 5000);
    let me = &hello["participants"][0];
    assert_eq!(
        (me["id"].as_i64(), me["online"].as_bool()),
        (Some(1), Some(true))
    );
    for n in 0..60 {
        ws.send_message(&format!("mensaje {n}"), &format!("c{n}"))
            .await;
    }
    for _ in 0..60 {
        ws.expect("mensaje_confirmado").await;
    }
    ws.close().await;

    let mut agent_ws = app.connect(ticket, &agent(50)).await;
    let hello = agent_ws.expect("connection_established").await;
    let history = hello["historial_reciente"].as_array().unwrap();
    assert_eq!(history.len(), 50, "the last 50 messages");
    assert_eq!(history[0]["contenido"], "mensaje 10", "oldest first");
    assert_eq!(history[49]["contenido"], "mensaje 59");
    assert_eq!(hello["last_seq"], 60);
    let customer_entry = hello["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == 1)
        .unwrap()
        .clone();
    assert_eq!(customer_entry["online"], false);
    assert!(customer_entry["lastSeen"].is_string(), "{customer_entry}");
    let agent_entry = hello["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == 50)
        .unwrap()
        .clone();
    assert_eq!(agent_entry["tipo"], "AGENTE");
    assert_eq!(agent_entry["online"], true);
}

#[tokio::test]
async fn a_message_is_confirmed_to_its_sender_and_received_by_every_other_connection() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut tab1 = app.connect(ticket, &customer(1)).await;
    tab1.expect("connection_established").await;
    let mut tab2 = app.connect(ticket, &customer(1)).await;
    tab2.expect("connection_established").await;
    let mut agent_ws = app.connect(ticket, &agent(50)).await;
    agent_ws.expect("connection_established").await;
    tab1.wait_for("agente_joined").await;

    tab1.send_message("Hola, ¿me ayudan?", "client_1_a").await;
    let confirmed = tab1.expect("mensaje_confirmado").await;
    assert_eq!(confirmed["client_id"], "client_1_a");
    assert_eq!(confirmed["seq"], 1);
    assert_eq!(confirmed["duplicado"], false);
    assert!(confirmed["timestamp"].as_str().unwrap().ends_with('Z'));
    for ws in [&mut tab2, &mut agent_ws] {
        let received = ws.wait_for("mensaje_recibido").await;
        assert_eq!(received["id"], confirmed["mensaje_id"]);
        assert_eq!(received["contenido"], "Hola, ¿me ayudan?");
        assert_eq!(received["autor"]["id"], 1);
        assert_eq!(received["autor"]["tipo"], "CLIENTE");
        assert_eq!(received["tipo"], "TEXTO");
        assert_eq!(received["estado"], "ENTREGADO");
        assert_eq!(received["client_id"], "client_1_a");
        assert_eq!(received["archivos"], json!([]));
        assert_eq!(received["replyTo"], serde_json::Value::Null);
        assert_eq!(received["editado"], false);
        assert_eq!(received["eliminado"], false);
        assert_eq!(received["seq"], 1);
    }
    tab1.assert_no("mensaje_recibido", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn two_customers_and_an_agent_chat_at_once_without_crossing_tickets() {
    let app = spawn_app().await;
    let first = app.ticket_for(&customer(1)).await;
    let second = app.ticket_for(&customer(2)).await;
    let mut c1 = app.connect(first, &customer(1)).await;
    let mut c2 = app.connect(second, &customer(2)).await;
    let mut a1 = app.connect(first, &agent(50)).await;
    let mut a2 = app.connect(second, &agent(50)).await;
    for ws in [&mut c1, &mut c2, &mut a1, &mut a2] {
        ws.expect("connection_established").await;
    }
    c1.send_message("soy uno", "u1").await;
    c2.send_message("soy dos", "u2").await;
    a1.send_message("hola uno", "a1").await;
    a2.send_message("hola dos", "a2").await;
    assert_eq!(
        a1.wait_for("mensaje_recibido").await["contenido"],
        "soy uno"
    );
    assert_eq!(
        a2.wait_for("mensaje_recibido").await["contenido"],
        "soy dos"
    );
    assert_eq!(
        c1.wait_for("mensaje_recibido").await["contenido"],
        "hola uno"
    );
    assert_eq!(
        c2.wait_for("mensaje_recibido").await["contenido"],
        "hola dos"
    );
    c1.assert_no("mensaje_recibido", Duration::from_millis(300))
        .await;
    c2.assert_no("mensaje_recibido", Duration::from_millis(100))
        .await;
}

#[tokio::test]
async fn a_retry_with_the_same_client_id_is_stored_once_and_confirmed_with_the_same_id() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    let mut watcher = app.connect(ticket, &agent(50)).await;
    watcher.expect("connection_established").await;
    ws.send_message("una vez", "retry-1").await;
    let first = ws.wait_for("mensaje_confirmado").await;
    ws.close().await;
    // A reconnect re-sends what it never saw confirmed.
    let mut again = app.connect(ticket, &customer(1)).await;
    again.expect("connection_established").await;
    again.send_message("una vez", "retry-1").await;
    let second = again.expect("mensaje_confirmado").await;
    assert_eq!(second["mensaje_id"], first["mensaje_id"]);
    assert_eq!(second["seq"], first["seq"]);
    assert_eq!(second["duplicado"], true);
    assert_eq!(
        watcher.wait_for("mensaje_recibido").await["id"],
        first["mensaje_id"]
    );
    watcher
        .assert_no("mensaje_recibido", Duration::from_millis(300))
        .await;
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    assert_eq!(page["count"], 1);
}

#[tokio::test]
async fn seq_grows_by_one_per_message_and_delivery_keeps_that_order() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut a = app.connect(ticket, &customer(1)).await;
    let mut b = app.connect(ticket, &agent(50)).await;
    let mut watcher = app.connect(ticket, &supervisor(9)).await;
    for ws in [&mut a, &mut b, &mut watcher] {
        ws.wait_for("connection_established").await;
    }
    for n in 0..50 {
        a.send_message(&format!("a{n}"), &format!("a{n}")).await;
        b.send_message(&format!("b{n}"), &format!("b{n}")).await;
    }
    let mut seqs = Vec::new();
    while seqs.len() < 100 {
        let frame = watcher.next_frame().await;
        if frame["tipo"] == "mensaje_recibido" {
            seqs.push(frame["data"]["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
}

#[tokio::test]
async fn typing_is_relayed_to_the_others_and_ends_by_itself() {
    let app = spawn_with(|c| c.typing_timeout = Duration::from_millis(600)).await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut c = app.connect(ticket, &customer(1)).await;
    let mut a = app.connect(ticket, &agent(50)).await;
    c.expect("connection_established").await;
    a.expect("connection_established").await;

    c.send_json(json!({"tipo": "typing_start", "data": {"timestamp": "2024-01-01T00:00:00Z"}}))
        .await;
    let typing = a.wait_for("usuario_escribiendo").await;
    assert_eq!(typing["usuario"]["id"], 1);
    c.send_json(json!({"tipo": "typing_stop", "data": {}}))
        .await;
    assert_eq!(
        a.wait_for("usuario_dejo_escribir").await["usuario"]["id"],
        1
    );

    // No stop: it ends after the typing timeout.
    c.send_json(json!({"tipo": "typing_start", "data": {}}))
        .await;
    a.wait_for("usuario_escribiendo").await;
    let started = std::time::Instant::now();
    a.wait_for("usuario_dejo_escribir").await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    c.assert_no("usuario_escribiendo", Duration::from_millis(200))
        .await;
}

#[tokio::test]
async fn an_agents_first_connection_is_announced_and_their_last_one_leaving_too() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut c = app.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    let mut tab1 = app.connect(ticket, &agent(50)).await;
    tab1.expect("connection_established").await;
    let joined = c.expect("agente_joined").await;
    assert_eq!(joined["usuario"]["id"], 50);
    assert_eq!(joined["usuario"]["tipo"], "AGENTE");
    assert_eq!(joined["usuario"]["online"], true);
    let mut tab2 = app.connect(ticket, &agent(50)).await;
    tab2.expect("connection_established").await;
    c.assert_no("agente_joined", Duration::from_millis(300))
        .await;
    tab1.close().await;
    c.assert_no("agente_left", Duration::from_millis(300)).await;
    tab2.close().await;
    let left = c.expect("agente_left").await;
    assert_eq!(left["usuario"]["id"], 50);
    assert_eq!(left["usuario"]["online"], false);
    // Supervisors monitor silently: no announcement, not listed.
    let mut boss = app.connect(ticket, &supervisor(9)).await;
    boss.expect("connection_established").await;
    c.assert_no("agente_joined", Duration::from_millis(300))
        .await;
    let again = app
        .connect(ticket, &customer(1))
        .await
        .expect("connection_established")
        .await;
    let ids: Vec<i64> = again["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert!(!ids.contains(&9), "{ids:?}");
    boss.close().await;
    c.assert_no("agente_left", Duration::from_millis(300)).await;
}

/// The team learns when the customer comes and goes (`cliente_joined`,
/// `cliente_left`, to staff only); the customer is told nothing of it.
#[tokio::test]
async fn the_customers_comings_and_goings_are_told_to_staff_only() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut a = app.connect(ticket, &agent(50)).await;
    a.expect("connection_established").await;
    let mut boss = app.connect(ticket, &supervisor(9)).await;
    boss.expect("connection_established").await;
    let mut tab1 = app.connect(ticket, &customer(1)).await;
    tab1.expect("connection_established").await;
    for staff in [&mut a, &mut boss] {
        let joined = staff.expect("cliente_joined").await;
        assert_eq!(joined["usuario"]["id"], 1);
        assert_eq!(joined["usuario"]["tipo"], "CLIENTE");
        assert_eq!(joined["usuario"]["online"], true);
    }
    // A second tab is the same person, still here.
    let mut tab2 = app.connect(ticket, &customer(1)).await;
    tab2.expect("connection_established").await;
    a.assert_no("cliente_joined", Duration::from_millis(300))
        .await;
    tab1.close().await;
    a.assert_no("cliente_left", Duration::from_millis(300))
        .await;
    // The customer's own tab hears nothing about itself.
    tab2.assert_no("cliente_left", Duration::from_millis(100))
        .await;
    tab2.close().await;
    for staff in [&mut a, &mut boss] {
        let left = staff.expect("cliente_left").await;
        assert_eq!(left["usuario"]["id"], 1);
        assert_eq!(left["usuario"]["online"], false);
        assert!(left["usuario"]["lastSeen"].is_string(), "{left}");
    }
    // Back again: told again; the agent leaving is still told to them.
    let mut c = app.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    a.expect("cliente_joined").await;
    a.close().await;
    assert_eq!(c.expect("agente_left").await["usuario"]["id"], 50);
}

#[tokio::test]
async fn a_heartbeat_frame_is_answered() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    ws.send_json(json!({"tipo": "heartbeat", "data": {"timestamp": "2024-01-01T00:00:00Z"}}))
        .await;
    assert!(ws.expect("heartbeat").await["timestamp"].is_string());
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_twice_the_heartbeat_interval() {
    let app = spawn_with(|c| c.heartbeat_interval = Duration::from_secs(1)).await;
    let ticket = app.ticket_for(&customer(1)).await;
    // A raw TCP client that completes the handshake and then never reads or answers pings.
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    // tungstenite answers pings only when the stream is polled: stay silent.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let closed = ws.closed_within(Duration::from_secs(2)).await;
    assert_eq!(closed.code, Some(1001), "{closed:?}");
}

#[tokio::test]
async fn a_client_that_answers_pings_stays_connected() {
    let app = spawn_with(|c| c.heartbeat_interval = Duration::from_secs(1)).await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    // Reading keeps answering pings.
    assert!(ws
        .next_frame_within(Duration::from_millis(3500))
        .await
        .unwrap()
        .is_none());
    ws.send_json(json!({"tipo": "heartbeat"})).await;
    ws.expect("heartbeat").await;
}

#[tokio::test]
async fn refused_frames_get_an_error_frame_and_the_connection_survives() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    let long = "a".repeat(5001);
    let cases: Vec<(String, &str)> = vec![
        ("esto no es json".into(), "json_invalido"),
        ("[1, 2, 3]".into(), "json_invalido"),
        (json!({"tipo": "borrar_todo", "data": {}}).to_string(), "tipo_desconocido"),
        (json!({"tipo": "mensaje", "data": {"mensaje": 42, "client_id": "x"}}).to_string(), "datos_invalidos"),
        (json!({"tipo": "mensaje", "data": {"mensaje": "sin id"}}).to_string(), "datos_invalidos"),
        (json!({"tipo": "mensaje", "data": {"mensaje": "   ", "client_id": "vacio"}}).to_string(), "mensaje_vacio"),
        (json!({"tipo": "mensaje", "data": {"mensaje": long, "client_id": "largo"}}).to_string(), "mensaje_demasiado_largo"),
        (json!({"tipo": "mensaje", "data": {"mensaje": "x".repeat(60_000), "client_id": "enorme"}}).to_string(), "frame_demasiado_grande"),
    ];
    for (frame, code) in cases {
        ws.send_raw(&frame).await;
        let error = ws.expect("error").await;
        assert_eq!(
            error["codigo"],
            code,
            "for {}",
            &frame[..frame.len().min(60)]
        );
        assert!(error["detalle"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // The error names the client_id so the client can mark that message failed.
    ws.send_json(json!({"tipo": "mensaje", "data": {"mensaje": "", "client_id": "c-err"}}))
        .await;
    assert_eq!(ws.expect("error").await["client_id"], "c-err");
    ws.stream
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![1, 2, 3].into(),
        ))
        .await
        .unwrap();
    assert_eq!(ws.expect("error").await["codigo"], "json_invalido");
    // Still alive, and nothing was stored.
    ws.send_message("sigo aquí", "ok-1").await;
    assert_eq!(ws.expect("mensaje_confirmado").await["seq"], 1);
}

#[tokio::test]
async fn a_message_larger_than_the_websocket_limit_closes_the_connection_with_1009() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    let huge = "x".repeat(300 * 1024);
    let _ = ws
        .stream
        .send(tokio_tungstenite::tungstenite::Message::Text(huge.into()))
        .await;
    let closed = ws.closed_within(Duration::from_secs(3)).await;
    assert_eq!(closed.code, Some(1009), "{closed:?}");
    // Nothing was stored, and the server is fine.
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    assert_eq!(page["count"], 0);
}

#[tokio::test]
async fn the_message_rate_limit_answers_with_an_error_frame() {
    let app = spawn_with(|c| c.msg_rate = 2).await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    // A burst of three seconds' worth (6) passes; the next ones are refused.
    for n in 0..10 {
        ws.send_message("rápido", &format!("r{n}")).await;
    }
    let (mut confirmed, mut limited) = (0, 0);
    for _ in 0..10 {
        let frame = ws.next_frame().await;
        match frame["tipo"].as_str().unwrap() {
            "mensaje_confirmado" => confirmed += 1,
            "error" => {
                assert_eq!(frame["data"]["codigo"], "limite_de_frecuencia");
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((confirmed, limited), (6, 4));
}

#[tokio::test]
async fn a_user_cannot_hold_more_sockets_than_the_limit() {
    let app = spawn_with(|c| c.max_connections_per_user = 2).await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut first = app.connect(ticket, &customer(1)).await;
    first.expect("connection_established").await;
    let mut second = app.connect(ticket, &customer(1)).await;
    second.expect("connection_established").await;
    let refused = app
        .try_connect_with(&app.ws_url(ticket, &customer(1)), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 429);
    assert!(refused.1["detalle"].is_string());
    first.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.connect(ticket, &customer(1))
        .await
        .expect("connection_established")
        .await;
}

#[tokio::test]
async fn only_allowed_browser_origins_may_open_a_socket() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let url = app.ws_url(ticket, &customer(1));
    let own = format!("http://{}", app.addr);
    let localhost = format!("http://localhost:{}", app.addr.port());
    for origin in [
        "https://evil.example",
        "null",
        &format!("{own}.evil.example"),
        &own[..own.len() - 1],
    ] {
        let refused = app
            .try_connect_with(&url, Some(origin))
            .await
            .err()
            .unwrap_or_else(|| panic!("{origin} accepted"));
        assert_eq!(refused.0, 403, "{origin}");
    }
    for origin in [own.as_str(), localhost.as_str()] {
        assert!(
            app.try_connect_with(&url, Some(origin)).await.is_ok(),
            "{origin} refused"
        );
    }
    let configured =
        spawn_with(|c| c.allowed_origins = Some(vec!["https://helpdesk.example".into()])).await;
    let ticket = configured.ticket_for(&customer(1)).await;
    let url = configured.ws_url(ticket, &customer(1));
    assert!(configured
        .try_connect_with(&url, Some("https://helpdesk.example"))
        .await
        .is_ok());
    // The server's own pages (the widget's panel frame) stay allowed; any
    // other origin does not.
    let own = format!("http://{}", configured.addr);
    assert!(configured.try_connect_with(&url, Some(&own)).await.is_ok());
    assert_eq!(
        configured
            .try_connect_with(&url, Some("https://evil.example"))
            .await
            .err()
            .unwrap()
            .0,
        403
    );
}

#[tokio::test]
async fn an_agent_opening_an_unassigned_ticket_takes_it_and_another_agent_is_refused() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut first = app.connect(ticket, &agent(50)).await;
    assert_eq!(
        first.expect("connection_established").await["ticket"]["agente"]["id"],
        50
    );
    let refused = app
        .try_connect_with(&app.ws_url(ticket, &agent(60)), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 403);
    // A supervisor may still join and write.
    let mut boss = app.connect(ticket, &supervisor(9)).await;
    boss.expect("connection_established").await;
    boss.send_message("superviso", "s1").await;
    boss.expect("mensaje_confirmado").await;
}

#[tokio::test]
async fn resuming_with_since_delivers_every_missed_message_once_in_order() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut sender = app.connect(ticket, &customer(1)).await;
    sender.expect("connection_established").await;
    let total = 620;
    for n in 1..=total {
        sender
            .send_message(&format!("m{n}"), &format!("m{n}"))
            .await;
    }
    for _ in 0..total {
        sender.expect("mensaje_confirmado").await;
    }
    let url = format!("{}&since=3", app.ws_url(ticket, &agent(50)));
    let mut resumed = app.connect_url(&url).await;
    let hello = resumed.expect("connection_established").await;
    assert_eq!(hello["since"], 3);
    let mut seqs: Vec<i64> = hello["historial_reciente"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    // Keep sending while the catch-up streams: nothing may be lost or doubled.
    sender.send_message("en vivo", "live-1").await;
    while seqs.len() < total as usize - 3 + 1 {
        let frame = resumed.next_frame().await;
        if frame["tipo"] == "mensaje_recibido" {
            seqs.push(frame["data"]["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(seqs, (4..=total + 1).collect::<Vec<_>>());
    resumed
        .assert_no("mensaje_recibido", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn a_since_beyond_the_last_message_is_told_to_resync_and_misses_nothing_new() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut sender = app.connect(ticket, &customer(1)).await;
    sender.expect("connection_established").await;
    sender.send_message("uno", "u1").await;
    sender.expect("mensaje_confirmado").await;
    // A client that saw seq 500 of a history this server does not have (a
    // restored database).
    let url = format!("{}&since=500", app.ws_url(ticket, &agent(50)));
    let mut resumed = app.connect_url(&url).await;
    let hello = resumed.expect("connection_established").await;
    assert_eq!(hello["resync"], true);
    assert_eq!(hello["since"], Value::Null);
    assert_eq!(hello["historial_reciente"][0]["contenido"], "uno");
    assert_eq!(hello["last_seq"], 1);
    sender.send_message("dos", "u2").await;
    assert_eq!(resumed.wait_for("mensaje_recibido").await["seq"], 2);
}

#[tokio::test]
async fn a_cursor_from_another_history_is_told_to_resync_and_a_matching_one_resumes() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut sender = app.connect(ticket, &customer(1)).await;
    let epoch = sender.expect("connection_established").await["epoch"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(epoch.len(), 16, "{epoch}");
    let mut ids = Vec::new();
    for n in 1..=4 {
        sender
            .send_message(&format!("m{n}"), &format!("c{n}"))
            .await;
        ids.push(sender.expect("mensaje_confirmado").await["mensaje_id"].clone());
    }
    async fn hello_of(app: &TestApp, url: String) -> Value {
        let mut ws = app.connect_url(&url).await;
        ws.expect("connection_established").await
    }
    let base = app.ws_url(ticket, &customer(1));
    let resume = |query: String| hello_of(&app, format!("{base}&{query}"));
    // The same history: resumes after seq 2.
    let hello = resume(format!("since=2&epoch={epoch}&since_id={}", ids[1])).await;
    assert_eq!(
        (hello["resync"].clone(), hello["since"].clone()),
        (json!(false), json!(2))
    );
    let seqs: Vec<i64> = hello["historial_reciente"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4]);
    // Another database's epoch, or another message at seq 2: start again.
    for query in [
        "since=2&epoch=0123456789abcdef".to_string(),
        format!("since=2&epoch={epoch}&since_id={}", ids[2]),
    ] {
        let hello = resume(query.clone()).await;
        assert_eq!(hello["resync"], true, "{query}");
        assert_eq!(hello["since"], Value::Null, "{query}");
        assert_eq!(hello["historial_reciente"].as_array().unwrap().len(), 4);
    }
    // A malformed since_id is a bad request before the upgrade.
    let url = format!("{}&since=2&since_id=x", app.ws_url(ticket, &customer(1)));
    let Err(refused) = app.try_connect_with(&url, None).await else {
        panic!("a malformed since_id is refused");
    };
    assert_eq!(refused.0, 400);
}

#[tokio::test]
async fn a_connection_is_closed_with_4100_when_its_token_expires() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    // Expiry is in whole seconds: 4 leaves 3 s or more to connect in, even
    // on a loaded CI host.
    let short = token_with_ttl(1, "Ana", Role::Customer, 4);
    let mut ws = app.connect(ticket, &short).await;
    ws.expect("connection_established").await;
    let closed = ws.closed_within(Duration::from_secs(10)).await;
    assert_eq!(closed.code, Some(4100), "{closed:?}");
    assert!(closed.reason.contains("token"), "{closed:?}");
}

#[tokio::test]
async fn the_path_works_without_the_trailing_slash() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let url = format!(
        "ws://{}/ws/soporte/ticket/{}?token={}",
        app.addr,
        ticket,
        customer(1)
    );
    app.connect_url(&url)
        .await
        .expect("connection_established")
        .await;
}

#[tokio::test]
async fn a_retry_of_a_stored_message_is_confirmed_even_if_it_would_now_be_refused() {
    // The server restarts with a lower length limit; a client retries a
    // message stored under the old one: it is in the history, so it is
    // confirmed, never reported as failed.
    let db = TestDb::new().await;
    let verifier = || soporte_server::auth::Verifier::hs256(SECRET).unwrap();
    let first = spawn_on(&db, verifier(), |_| {}).await;
    let ticket = first.ticket_for(&customer(1)).await;
    let mut ws = first.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    let text = "un mensaje bastante largo";
    ws.send_message(text, "long-1").await;
    let stored = ws.expect("mensaje_confirmado").await;
    ws.close().await;
    first.stop().await;

    let second = spawn_on(&db, verifier(), |c| c.max_message_length = 10).await;
    let mut ws = second.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    ws.send_message(text, "long-1").await;
    let retried = ws.expect("mensaje_confirmado").await;
    assert_eq!(retried["mensaje_id"], stored["mensaje_id"]);
    assert_eq!(retried["duplicado"], true);
    ws.send_message(text, "long-2").await;
    assert_eq!(
        ws.expect("error").await["codigo"],
        "mensaje_demasiado_largo"
    );
}

#[tokio::test]
async fn a_client_that_closes_gets_the_closing_handshake_answered() {
    use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    ws.stream
        .send(tokio_tungstenite::tungstenite::Message::Close(Some(
            CloseFrame {
                code: CloseCode::Away,
                reason: "me voy".into(),
            },
        )))
        .await
        .unwrap();
    // The server's close frame answers with the same code (RFC 6455 5.5.1),
    // rather than the connection just dropping.
    let closed = ws.closed_within(Duration::from_secs(3)).await;
    assert_eq!(closed.code, Some(1001), "{closed:?}");
}

#[tokio::test]
async fn a_protocol_breach_closes_with_1002_and_text_that_is_not_utf8_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut reserved_bit = Frame::message("{}", OpCode::Data(Data::Text), true);
    reserved_bit.header_mut().rsv2 = true;
    let cases = [
        ("a reserved bit", reserved_bit, 1002),
        (
            "a reserved opcode",
            Frame::message("x", OpCode::Data(Data::Reserved(3)), true),
            1002,
        ),
        (
            "a continuation with nothing to continue",
            Frame::message("x", OpCode::Data(Data::Continue), true),
            1002,
        ),
        (
            "text that is not UTF-8",
            Frame::message(&b"\xce\xba\xed\xa0\x80"[..], OpCode::Data(Data::Text), true),
            1007,
        ),
    ];
    for (what, frame, code) in cases {
        let mut ws = app.connect(ticket, &customer(1)).await;
        ws.expect("connection_established").await;
        ws.stream
            .send(tokio_tungstenite::tungstenite::Message::Frame(frame))
            .await
            .unwrap();
        let closed = ws.closed_within(Duration::from_secs(3)).await;
        assert_eq!(closed.code, Some(code), "{what}: {closed:?}");
    }
}

/// `soporte ws-echo`, the stand-in of `scripts/autobahn`, has the chat
/// sockets' limits: the same flag raises them.
#[tokio::test]
async fn the_conformance_echo_answers_with_the_servers_socket_limits() {
    use futures_util::StreamExt;
    use std::process::{Command, Stdio};
    use tokio_tungstenite::tungstenite::Message;
    let start = |frame_size: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_soporte"))
            .args(["ws-echo", "--port", "0", "--max-frame-size", frame_size])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let addr = listening_addr(&mut child);
        (child, format!("ws://{addr}/"))
    };
    type Socket = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;
    async fn next(ws: &mut Socket) -> Message {
        let next = tokio::time::timeout(FRAME_TIMEOUT, ws.next()).await;
        next.expect("in time").expect("open").expect("a message")
    }
    let large = "x".repeat(300 * 1024);

    // The default limit (48 KiB frames: 256 KiB messages).
    let (mut child, url) = start("49152");
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    ws.send(Message::Text("hola".into())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::Text("hola".into()));
    ws.send(Message::Binary(vec![0, 255].into())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::Binary(vec![0, 255].into()));
    ws.send(Message::Ping("¿sigues?".into())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::Pong("¿sigues?".into()));
    let _ = ws.send(Message::Text(large.clone().into())).await;
    match next(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a close, got {other:?}"),
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Raised (1 MiB frames: 4 MiB messages), as the conformance run does.
    let (mut child, url) = start("1048576");
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    ws.send(Message::Text(large.clone().into())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::Text(large.into()));
    child.kill().unwrap();
    child.wait().unwrap();
}
