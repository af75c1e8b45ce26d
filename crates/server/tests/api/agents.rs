//! Agent workflows: transfers, lifecycle, internal notes, the inbox,
//! assignment (by hand and automatic), canned responses, team stats.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

fn note(text: &str, client_id: &str) -> Value {
    json!({"tipo": "mensaje", "data": {"mensaje": text, "client_id": client_id, "metadata": {"interno": true}}})
}

async fn set_state(
    app: &TestApp,
    ticket: i64,
    token: &str,
    state: &str,
) -> (reqwest::StatusCode, Value) {
    app.post(
        &format!("/api/soporte/tickets/{ticket}/estado/"),
        token,
        json!({"estado": state}),
    )
    .await
}

#[tokio::test]
async fn a_transfer_moves_the_ticket_tells_everyone_and_takes_it_from_the_previous_agent() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let (mut inbox_a, _) = app.inbox(&agent(50)).await;
    let (mut inbox_b, _) = app.inbox(&agent(60)).await;
    let mut c = app.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    let mut a = app.connect(ticket, &agent(50)).await;
    a.expect("connection_established").await;
    c.wait_for("agente_joined").await;
    let path = format!("/api/soporte/tickets/{ticket}/chat/transfer/");

    // Only the assigned agent or a supervisor, only to a known agent.
    assert_eq!(
        app.post(&path, &agent(60), json!({"agente_id": 60, "motivo": "x"}))
            .await
            .0,
        403
    );
    assert_eq!(
        app.post(&path, &customer(1), json!({"agente_id": 60, "motivo": "x"}))
            .await
            .0,
        403
    );
    assert_eq!(
        app.post(&path, &agent(50), json!({"agente_id": 999, "motivo": "x"}))
            .await
            .0,
        400
    );
    assert_eq!(
        app.post(&path, &agent(50), json!({"agente_id": 50, "motivo": "x"}))
            .await
            .0,
        409
    );

    let (status, moved) = app
        .post(
            &path,
            &agent(50),
            json!({"agente_id": 60, "motivo": "Facturación"}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["agente"]["id"], 60);

    let event = c.wait_for("chat_transferred").await;
    assert_eq!(event["agente_anterior"]["id"], 50);
    assert_eq!(event["nuevo_agente"]["id"], 60);
    assert_eq!(event["nuevo_agente"]["tipo"], "AGENTE");
    assert_eq!(event["motivo"], "Facturación");
    assert!(event["mensaje_automatico"]
        .as_str()
        .unwrap()
        .contains("Facturación"));
    assert!(event["timestamp"].is_string());
    assert_eq!(event["mensaje"]["tipo"], "TRANSFERENCIA");
    for inbox in [&mut inbox_a, &mut inbox_b] {
        assert_eq!(
            inbox.wait_for("chat_transferred").await["nuevo_agente"]["id"],
            60
        );
    }
    // The previous agent's socket on the ticket hears it, then closes.
    assert_eq!(
        a.wait_for("chat_transferred").await["nuevo_agente"]["id"],
        60
    );
    let closed = a.closed_within(Duration::from_secs(2)).await;
    // Transferred away: a final close, with the text older clients matched.
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    assert_eq!(closed.reason, "el ticket fue transferido a otro agente");
    let refused = app
        .try_connect_with(&app.ws_url(ticket, &agent(50)), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 403);
    // The new agent takes over.
    let mut b = app.connect(ticket, &agent(60)).await;
    b.expect("connection_established").await;
    b.send_message("Hola, sigo yo", "b1").await;
    b.expect("mensaje_confirmado").await;
    assert_eq!(
        c.wait_for("mensaje_recibido").await["contenido"],
        "Hola, sigo yo"
    );
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    let kinds: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["tipo"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["TRANSFERENCIA", "TEXTO"]);
}

#[tokio::test]
async fn internal_notes_reach_staff_only_on_every_path() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut c = app.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    let mut a = app.connect(ticket, &agent(50)).await;
    a.expect("connection_established").await;
    let mut boss = app.connect(ticket, &supervisor(9)).await;
    boss.expect("connection_established").await;
    c.send_message("hola", "c1").await;
    c.wait_for("mensaje_confirmado").await;
    a.send_json(note("cliente VIP, ojo", "n1")).await;
    a.wait_for("mensaje_confirmado").await;
    let seen = boss.wait_for("mensaje_recibido").await;
    let seen = if seen["contenido"] == "hola" {
        boss.wait_for("mensaje_recibido").await
    } else {
        seen
    };
    assert_eq!(seen["contenido"], "cliente VIP, ojo");
    assert_eq!(seen["interno"], true);
    a.send_message("¿En qué te ayudo?", "a1").await;
    a.wait_for("mensaje_confirmado").await;
    // The customer gets the public answer and never the note.
    assert_eq!(
        c.wait_for("mensaje_recibido").await["contenido"],
        "¿En qué te ayudo?"
    );
    c.assert_no("mensaje_recibido", Duration::from_millis(300))
        .await;
    // Customers cannot write notes.
    c.send_json(note("yo también", "c2")).await;
    let refused = c.expect("error").await;
    assert_eq!(
        (refused["codigo"].as_str(), refused["client_id"].as_str()),
        (Some("sin_permiso"), Some("c2"))
    );

    let history = format!("/api/soporte/tickets/{ticket}/chat/historial/");
    let (_, for_customer) = app.get(&history, &customer(1)).await;
    let texts: Vec<&str> = for_customer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["contenido"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["hola", "¿En qué te ayudo?"]);
    assert_eq!(for_customer["count"], 2);
    let (_, for_staff) = app.get(&history, &agent(50)).await;
    assert_eq!(for_staff["count"], 3);
    let hello = app
        .connect(ticket, &customer(1))
        .await
        .expect("connection_established")
        .await;
    assert_eq!(hello["historial_reciente"].as_array().unwrap().len(), 2);
    let resumed = app
        .connect_url(&format!("{}&since=1", app.ws_url(ticket, &customer(1))))
        .await
        .expect("connection_established")
        .await;
    assert_eq!(
        resumed["historial_reciente"][0]["contenido"],
        "¿En qué te ayudo?"
    );
    let (_, listed) = app.get("/api/soporte/tickets/", &customer(1)).await;
    assert_eq!(
        listed["results"][0]["ultimo_mensaje"]["contenido"],
        "¿En qué te ayudo?"
    );
    let (_, stats) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/stats/"),
            &customer(1),
        )
        .await;
    assert_eq!(stats["total_mensajes"], 2);
    let note_id = seen["id"].as_i64().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/soporte/tickets/{ticket}/chat/mark-read/"),
            &customer(1),
            json!({"message_ids": [note_id]}),
        )
        .await;
    assert_eq!(status, 400, "a note's id is not a message the customer has");
}

#[tokio::test]
async fn the_lifecycle_moves_only_along_allowed_transitions_and_each_step_is_told() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let mut c = app.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    // Only the assigned agent (or a supervisor) runs the lifecycle.
    assert_eq!(set_state(&app, ticket, &agent(50), "RESUELTO").await.0, 403);
    let mut a = app.connect(ticket, &agent(50)).await;
    a.expect("connection_established").await;
    assert_eq!(set_state(&app, ticket, &agent(60), "RESUELTO").await.0, 403);

    let (status, body) = set_state(&app, ticket, &agent(50), "EN_ESPERA").await;
    assert_eq!(
        (status.as_u16(), body["estado"].as_str()),
        (200, Some("EN_ESPERA"))
    );
    let told = c.wait_for("mensaje_recibido").await;
    assert_eq!(
        (told["tipo"].as_str(), told["autor"]["tipo"].as_str()),
        (Some("SISTEMA"), Some("SISTEMA"))
    );
    assert_eq!(
        c.wait_for("ticket_actualizado").await["ticket"]["estado"],
        "EN_ESPERA"
    );
    // The customer answering reopens it.
    c.send_message("ya lo probé", "c1").await;
    c.wait_for("mensaje_confirmado").await;
    while a.wait_for("ticket_actualizado").await["ticket"]["estado"] != "ABIERTO" {}
    assert_eq!(set_state(&app, ticket, &agent(50), "RESUELTO").await.0, 200);
    c.send_message("sigue fallando", "c2").await;
    c.wait_for("mensaje_confirmado").await;
    let (_, now) = app
        .get(&format!("/api/soporte/tickets/{ticket}/"), &customer(1))
        .await;
    assert_eq!(
        now["estado"], "ABIERTO",
        "writing on a resolved ticket reopens it"
    );
    // Customers may resolve or close, never hold nor reopen by hand;
    // illegal moves are 409.
    assert_eq!(
        set_state(&app, ticket, &customer(1), "EN_ESPERA").await.0,
        409
    );
    assert_eq!(set_state(&app, ticket, &agent(50), "ABIERTO").await.0, 409);
    assert_eq!(
        set_state(&app, ticket, &customer(1), "RESUELTO").await.0,
        200
    );
    assert_eq!(
        set_state(&app, ticket, &customer(1), "ABIERTO").await.0,
        409
    );
    assert_eq!(
        set_state(&app, ticket, &agent(50), "EN_ESPERA").await.0,
        409
    );
    assert_eq!(
        set_state(&app, ticket, &customer(1), "CERRADO").await.0,
        200
    );
    assert_eq!(
        set_state(&app, ticket, &supervisor(9), "ABIERTO").await.0,
        409,
        "closed stays closed"
    );
    assert_eq!(
        set_state(&app, ticket, &customer(1), "INVENTADO").await.0,
        400
    );
    // A closed ticket refuses messages, on every path.
    c.send_message("¿hola?", "c3").await;
    assert_eq!(c.wait_for("error").await["codigo"], "ticket_cerrado");
    let (_, sync) = app
        .post(
            &format!("/api/soporte/tickets/{ticket}/chat/sync/"),
            &customer(1),
            json!({"messages": [{"client_id": "c4", "contenido": "x"}]}),
        )
        .await;
    assert_eq!(sync["errores"][0]["codigo"], "ticket_cerrado");
    // …but a retry of something stored before is still confirmed.
    c.send_message("sigue fallando", "c2").await;
    assert_eq!(c.wait_for("mensaje_confirmado").await["duplicado"], true);
}

#[tokio::test]
async fn the_inbox_shows_an_agent_their_tickets_and_the_queue_and_nothing_of_others() {
    let app = spawn_app().await;
    let (status, _) = match app
        .try_connect_with(
            &format!(
                "ws://{}/ws/soporte/agentes/?token={}",
                app.addr,
                customer(1)
            ),
            None,
        )
        .await
    {
        Ok(_) => (101, Value::Null),
        Err(refused) => refused,
    };
    assert_eq!(status, 403, "customers have no inbox");
    let (mut inbox_a, snapshot) = app.inbox(&agent(50)).await;
    assert_eq!(snapshot["usuario"]["id"], 50);
    assert_eq!(snapshot["tickets"], json!([]));
    let (mut inbox_b, _) = app.inbox(&agent(60)).await;
    let (mut inbox_s, _) = app.inbox(&supervisor(9)).await;
    // Agents see each other come online.
    while inbox_a.wait_for("agente_disponibilidad").await["id"] != 60 {}

    let ticket = app.ticket_for(&customer(1)).await;
    for inbox in [&mut inbox_a, &mut inbox_b, &mut inbox_s] {
        let new = inbox.wait_for("ticket_actualizado").await;
        assert_eq!(
            (new["evento"].as_str(), new["ticket"]["id"].as_i64()),
            (Some("nuevo"), Some(ticket))
        );
    }
    let (status, taken) = app
        .post(
            &format!("/api/soporte/tickets/{ticket}/assign/"),
            &agent(50),
            json!({}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), taken["agente"]["id"].as_i64()),
        (200, Some(50))
    );
    for inbox in [&mut inbox_a, &mut inbox_b, &mut inbox_s] {
        assert_eq!(
            inbox.wait_for("ticket_actualizado").await["evento"],
            "asignado"
        );
    }
    // A customer message reaches the agent's inbox (no ticket socket open)
    // and the supervisor's, never another agent's.
    let mut c = app.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    c.send_json(json!({"tipo": "typing_start", "data": {}}))
        .await;
    let typing = inbox_a.wait_for("inbox_escribiendo").await;
    assert_eq!(
        (typing["ticket"].as_i64(), typing["escribiendo"].as_bool()),
        (Some(ticket), Some(true))
    );
    c.send_message("¿hay alguien?", "c1").await;
    c.wait_for("mensaje_confirmado").await;
    for inbox in [&mut inbox_a, &mut inbox_s] {
        let preview = inbox.wait_for("inbox_mensaje").await;
        assert_eq!(
            (preview["ticket"].as_i64(), preview["contenido"].as_str()),
            (Some(ticket), Some("¿hay alguien?"))
        );
    }
    inbox_b
        .assert_no("inbox_mensaje", Duration::from_millis(300))
        .await;
    inbox_b
        .assert_no("inbox_escribiendo", Duration::from_millis(100))
        .await;
    // Opening again: the agent's ticket with its unread count; not the other agent's.
    let (_, again) = app.inbox(&agent(50)).await;
    assert_eq!(again["tickets"][0]["id"], ticket);
    assert_eq!(again["tickets"][0]["no_leidos"], 1);
    let (_, other) = app.inbox(&agent(60)).await;
    assert_eq!(other["tickets"], json!([]));
    // A ticket closed while still in the queue leaves every agent's queue.
    let queued = app.ticket_for(&customer(2)).await;
    inbox_b.wait_for("ticket_actualizado").await;
    assert_eq!(
        set_state(&app, queued, &customer(2), "CERRADO").await.0,
        200
    );
    let closed = inbox_b.wait_for("ticket_actualizado").await;
    assert_eq!(
        (
            closed["evento"].as_str(),
            closed["ticket"]["estado"].as_str()
        ),
        (Some("estado"), Some("CERRADO"))
    );
    inbox_a.send_json(json!({"tipo": "heartbeat"})).await;
    inbox_a.wait_for("heartbeat").await;
}

#[tokio::test]
async fn the_assignment_endpoint_takes_from_the_queue_only() {
    let app = spawn_app().await;
    app.inbox(&agent(50)).await;
    app.inbox(&agent(60)).await;
    let first = app.ticket_for(&customer(1)).await;
    let second = app.ticket_for(&customer(2)).await;
    let assign = |t: i64| format!("/api/soporte/tickets/{t}/assign/");
    assert_eq!(
        app.post(&assign(first), &customer(1), json!({})).await.0,
        403
    );
    assert_eq!(
        app.post(&assign(first), &agent(50), json!({"agente_id": 60}))
            .await
            .0,
        403
    );
    let response = app
        .http
        .post(app.url(&assign(first)))
        .bearer_auth(agent(50))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "no body: the agent takes it");
    assert_eq!(
        app.post(&assign(first), &agent(60), json!({})).await.0,
        403,
        "someone else's now"
    );
    assert_eq!(
        app.post(&assign(second), &supervisor(9), json!({})).await.0,
        400
    );
    assert_eq!(
        app.post(&assign(second), &supervisor(9), json!({"agente_id": 999}))
            .await
            .0,
        400
    );
    let (status, given) = app
        .post(&assign(second), &supervisor(9), json!({"agente_id": 60}))
        .await;
    assert_eq!(
        (status.as_u16(), given["agente"]["id"].as_i64()),
        (200, Some(60))
    );
    assert_eq!(
        app.post(&assign(second), &supervisor(9), json!({"agente_id": 50}))
            .await
            .0,
        409,
        "moving it is a transfer"
    );
}

#[tokio::test]
async fn automatic_assignment_picks_the_least_loaded_available_agent_within_the_limit() {
    let app = spawn_with(|c| {
        c.auto_assign = true;
        c.max_chats_per_agent = 2;
    })
    .await;
    let _a = app.inbox(&agent(50)).await;
    let _b = app.inbox(&agent(60)).await;
    let mut assigned = Vec::new();
    for n in 1..=5 {
        let (_, ticket) = app
            .post(
                "/api/soporte/tickets/",
                &customer(n),
                json!({"asunto": "ayuda"}),
            )
            .await;
        assigned.push(ticket["agente"]["id"].as_i64());
    }
    assert_eq!(
        assigned,
        vec![Some(50), Some(60), Some(50), Some(60), None],
        "fair, then the limit"
    );
    // Away agents get nothing; an agent with room again does.
    let (status, me) = app
        .post(
            "/api/soporte/agentes/disponibilidad/",
            &agent(60),
            json!({"disponibilidad": "ausente"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), me["disponibilidad"].as_str()),
        (200, Some("ausente"))
    );
    let (_, mine) = app.get("/api/soporte/tickets/", &agent(50)).await;
    let first_of_a = mine["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["agente"]["id"] == 50)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        set_state(&app, first_of_a, &agent(50), "RESUELTO").await.0,
        200
    );
    let (_, sixth) = app
        .post(
            "/api/soporte/tickets/",
            &customer(6),
            json!({"asunto": "ayuda"}),
        )
        .await;
    assert_eq!(sixth["agente"]["id"], 50);
    let (_, agents) = app.get("/api/soporte/agentes/", &supervisor(9)).await;
    let b = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == 60)
        .unwrap()
        .clone();
    assert_eq!(
        (b["online"].as_bool(), b["tickets_abiertos"].as_i64()),
        (Some(true), Some(2))
    );
    assert_eq!(app.get("/api/soporte/agentes/", &customer(1)).await.0, 403);
    assert_eq!(
        app.post(
            "/api/soporte/agentes/disponibilidad/",
            &supervisor(9),
            json!({"disponibilidad": "ausente"})
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn canned_responses_are_shared_by_the_team() {
    let app = spawn_app().await;
    let base = "/api/soporte/respuestas/";
    let (status, created) = app
        .post(
            base,
            &agent(50),
            json!({"atajo": "saludo", "texto": "¡Hola! ¿En qué te ayudo?"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        app.post(
            base,
            &agent(60),
            json!({"atajo": "saludo", "texto": "otro"})
        )
        .await
        .0,
        409
    );
    assert_eq!(
        app.post(
            base,
            &agent(60),
            json!({"atajo": "con espacio", "texto": "x"})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        app.post(base, &agent(60), json!({"atajo": "vacio", "texto": " "}))
            .await
            .0,
        400
    );
    assert_eq!(
        app.post(base, &customer(1), json!({"atajo": "x", "texto": "x"}))
            .await
            .0,
        403
    );
    let (_, listed) = app.get(base, &agent(60)).await;
    assert_eq!(listed[0]["atajo"], "saludo");
    assert_eq!(app.get(base, &customer(1)).await.0, 403);
    let one = format!("{base}{id}/");
    let (status, updated) = app
        .send(
            Method::PUT,
            &one,
            &supervisor(9),
            Some(json!({"atajo": "hola", "texto": "Buenas"})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), updated["atajo"].as_str()),
        (200, Some("hola"))
    );
    assert_eq!(app.get(&one, &agent(50)).await.1["texto"], "Buenas");
    assert_eq!(
        app.send(Method::DELETE, &one, &agent(50), None).await.0,
        204
    );
    assert_eq!(app.get(&one, &agent(50)).await.0, 404);
    assert_eq!(
        app.send(Method::DELETE, &one, &agent(50), None).await.0,
        404
    );
}

#[tokio::test]
async fn team_stats_measure_the_queue_first_responses_and_resolutions() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    app.ticket_for(&customer(2)).await;
    let mut c = app.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    c.send_message("hola", "c1").await;
    c.expect("mensaje_confirmado").await;
    let mut a = app.connect(ticket, &agent(50)).await;
    a.expect("connection_established").await;
    a.send_json(note("solo interno", "n1")).await;
    a.wait_for("mensaje_confirmado").await;
    a.send_message("buenas", "a1").await;
    a.wait_for("mensaje_confirmado").await;
    assert_eq!(set_state(&app, ticket, &agent(50), "RESUELTO").await.0, 200);
    let (status, stats) = app.get("/api/soporte/stats/", &supervisor(9)).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["tickets_creados"], 2);
    assert_eq!(stats["por_estado"]["ABIERTO"], 1);
    assert_eq!(stats["por_estado"]["RESUELTO"], 1);
    assert_eq!(stats["espera_en_cola"]["n"], 1);
    assert_eq!(stats["primera_respuesta"]["n"], 1);
    assert_eq!(stats["resolucion"]["n"], 1);
    assert!(
        stats["resolucion"]["mediana_segundos"].as_f64().unwrap()
            >= stats["primera_respuesta"]["mediana_segundos"]
                .as_f64()
                .unwrap()
    );
    assert_eq!(stats["por_agente"][0]["agente"]["id"], 50);
    assert_eq!(stats["por_agente"][0]["tickets"], 1);
    let (_, future) = app
        .get(
            "/api/soporte/stats/?desde=2999-01-01T00:00:00Z",
            &supervisor(9),
        )
        .await;
    assert_eq!(future["tickets_creados"], 0);
    assert_eq!(
        app.get("/api/soporte/stats/?desde=ayer", &supervisor(9))
            .await
            .0,
        400
    );
    assert_eq!(app.get("/api/soporte/stats/", &agent(50)).await.0, 403);
}

#[tokio::test]
async fn closed_tickets_are_not_taken_and_queue_transfers_reach_every_inbox() {
    let app = spawn_app().await;
    let (mut inbox_a, _) = app.inbox(&agent(50)).await;
    app.inbox(&agent(60)).await;
    // A ticket closed while waiting in the queue is not taken by opening it.
    let closed = app.ticket_for(&customer(1)).await;
    assert_eq!(
        set_state(&app, closed, &customer(1), "CERRADO").await.0,
        200
    );
    let refused = app
        .try_connect_with(&app.ws_url(closed, &agent(50)), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 403);
    let (_, still) = app
        .get(&format!("/api/soporte/tickets/{closed}/"), &supervisor(9))
        .await;
    assert!(still["agente"].is_null());
    // A supervisor sending a queued ticket straight to an agent: every queue drops it.
    let queued = app.ticket_for(&customer(2)).await;
    let path = format!("/api/soporte/tickets/{queued}/chat/transfer/");
    let (status, _) = app
        .post(
            &path,
            &supervisor(9),
            json!({"agente_id": 60, "motivo": "especialista"}),
        )
        .await;
    assert_eq!(status, 200);
    loop {
        let update = inbox_a.wait_for("ticket_actualizado").await;
        if update["evento"] == "transferido" {
            assert_eq!(update["ticket"]["agente"]["id"], 60);
            break;
        }
    }
    // Staff cannot turn a known agent into a customer.
    let (status, body) = app
        .post(
            "/api/soporte/tickets/",
            &agent(50),
            json!({"asunto": "x", "cliente": {"id": 60, "nombre": "Impostor"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, agents) = app.get("/api/soporte/agentes/", &supervisor(9)).await;
    assert!(agents
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == 60 && a["nombre"] == "Agente 60"));
}

#[tokio::test]
async fn the_inbox_refuses_oversized_messages_and_floods() {
    use futures_util::SinkExt;
    let app = spawn_app().await;
    let (mut inbox, _) = app.inbox(&agent(50)).await;
    let huge = "x".repeat(300 * 1024);
    let _ = inbox
        .stream
        .send(tokio_tungstenite::tungstenite::Message::Text(huge.into()))
        .await;
    assert_eq!(
        inbox.closed_within(Duration::from_secs(3)).await.code,
        Some(1009)
    );
    // One heartbeat at a time, so nothing is left unread when the server
    // closes (unread data would turn the close into a reset).
    let (mut inbox, _) = app.inbox(&agent(50)).await;
    let mut answered = 0;
    let closed = loop {
        let frame = tokio_tungstenite::tungstenite::Message::Text(r#"{"tipo":"heartbeat"}"#.into());
        let _ = inbox.stream.send(frame).await;
        match inbox.next_frame_within(Duration::from_secs(2)).await {
            // Other events (availability announcements) may come in between.
            Ok(Some(frame)) if frame["tipo"] != "heartbeat" => {}
            Ok(Some(_)) => {
                answered += 1;
                assert!(answered < 200, "never limited");
            }
            Ok(None) => panic!("no answer"),
            Err(closed) => break closed,
        }
    };
    assert!(answered >= 50, "the burst passes: {answered}");
    assert_eq!(closed.code, Some(4102));
}

/// When and how often the team writes notes does not show to the customer:
/// their ticket views, their list's order and their greeting keep the
/// activity of what they can see; staff see the notes' activity.
#[tokio::test]
async fn internal_notes_leave_no_trace_in_what_the_customer_sees_of_the_ticket() {
    let app = spawn_app().await;
    let older = app.ticket_for(&customer(1)).await;
    let newer = app.ticket_for(&customer(1)).await;
    let mut c = app.connect(older, &customer(1)).await;
    c.expect("connection_established").await;
    c.send_message("hola", "c1").await;
    let said = c.wait_for("mensaje_confirmado").await;
    // The newer ticket's public activity comes after the older one's.
    let mut n = app.connect(newer, &customer(1)).await;
    n.expect("connection_established").await;
    n.send_message("otra cosa", "c2").await;
    n.wait_for("mensaje_confirmado").await;
    let before = customer_view(&app, older).await;
    assert_eq!(before["last_seq"], 1, "{before}");
    // A few milliseconds, so that a note's time differs from the message's.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut boss = app.connect(older, &supervisor(9)).await;
    boss.expect("connection_established").await;
    boss.send_json(note("cliente VIP, ojo", "n1")).await;
    let noted = boss.wait_for("mensaje_confirmado").await;
    assert_ne!(noted["timestamp"], said["timestamp"]);

    let after = customer_view(&app, older).await;
    assert_eq!(after["last_seq"], before["last_seq"], "{after}");
    assert_eq!(after["actualizado"], before["actualizado"], "{after}");
    let (_, staff) = app
        .get(&format!("/api/soporte/tickets/{older}/"), &supervisor(9))
        .await;
    assert_eq!(staff["last_seq"], 2, "{staff}");
    assert_ne!(staff["actualizado"], before["actualizado"], "{staff}");
    // The customer's list keeps its order; staff see the note's ticket first.
    let order = |list: &Value| -> Vec<i64> {
        list["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    let (_, theirs) = app.get("/api/soporte/tickets/", &customer(1)).await;
    assert_eq!(order(&theirs), vec![newer, older], "{theirs}");
    assert_eq!(theirs["results"][1]["actualizado"], before["actualizado"]);
    let (_, all) = app.get("/api/soporte/tickets/", &supervisor(9)).await;
    assert_eq!(order(&all), vec![older, newer], "{all}");
    // A new customer connection is greeted with the public activity.
    let mut again = app.connect(older, &customer(1)).await;
    let hello = again.expect("connection_established").await;
    assert_eq!(hello["last_seq"], 1, "{hello}");
    assert_eq!(hello["ticket"]["last_seq"], 1, "{hello}");
    assert_eq!(hello["ticket"]["actualizado"], before["actualizado"]);
    let mut staff_again = app.connect(older, &agent(50)).await;
    let hello = staff_again.expect("connection_established").await;
    assert_eq!(hello["last_seq"], 2, "{hello}");
}

async fn customer_view(app: &TestApp, ticket: i64) -> Value {
    let (status, view) = app
        .get(&format!("/api/soporte/tickets/{ticket}/"), &customer(1))
        .await;
    assert_eq!(status, 200, "{view}");
    view
}

/// The inbox snapshot holds the newest 200 tickets; past them it says where
/// the REST list goes on, so a flood of new tickets never hides the others.
#[tokio::test]
async fn the_inbox_snapshot_leads_to_every_older_ticket() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for id in 1..=205 {
        created.push(app.ticket_for(&customer(id)).await);
    }
    let (_inbox, snapshot) = app.inbox(&supervisor(9)).await;
    let mut seen = ids_in(&snapshot["tickets"]);
    assert_eq!(seen.len(), 200);
    let next = snapshot["next"].as_str().expect("a next page").to_string();
    let page: Value = app.follow(&next, &supervisor(9)).await;
    seen.extend(ids_in(&page["results"]));
    assert!(page["next"].is_null(), "{}", page["next"]);
    created.reverse();
    assert_eq!(seen, created, "every ticket once, newest first");
    // A small inbox is whole: no next.
    let small = spawn_app().await;
    small.ticket_for(&customer(1)).await;
    let (_inbox, snapshot) = small.inbox(&supervisor(9)).await;
    assert!(snapshot["next"].is_null(), "{snapshot}");
}
