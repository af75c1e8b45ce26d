//! Editing, deleting and replying, over the WebSocket and REST, on each
//! store (the PostgreSQL pass runs them again): live changes, every refusal
//! with its code, a resuming client told of what changed while it was away,
//! supervisors' versions, and search finding the current text only. "Later
//! than the window" is a moved clock, never a sleep.

use crate::email::say;
use crate::files::{authorize, post_file, stored_files};
use crate::helpers::*;
use crate::webhooks::Receiver;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use soporte_server::clock::Clock;
use std::time::Duration;

fn message_path(ticket: i64, message: i64) -> String {
    format!("/api/soporte/tickets/{ticket}/chat/mensajes/{message}/")
}

async fn edit(
    app: &TestApp,
    token: &str,
    ticket: i64,
    message: i64,
    text: &str,
) -> (StatusCode, Value) {
    let body = json!({"mensaje": text});
    app.send(
        Method::PATCH,
        &message_path(ticket, message),
        token,
        Some(body),
    )
    .await
}

async fn delete(app: &TestApp, token: &str, ticket: i64, message: i64) -> (StatusCode, Value) {
    app.send(Method::DELETE, &message_path(ticket, message), token, None)
        .await
}

/// The ticket's messages as `token` reads them over REST, by id.
async fn history(app: &TestApp, token: &str, ticket: i64) -> Vec<Value> {
    let path = format!("/api/soporte/tickets/{ticket}/chat/historial/");
    let (status, body) = app.get(&path, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().unwrap().clone()
}

fn by_id(messages: &[Value], id: i64) -> Value {
    messages
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no message {id} in {messages:?}"))
}

/// Agent 5 writes an internal note on `ticket`; its id.
async fn note(app: &TestApp, ticket: i64) -> i64 {
    let path = format!("/api/soporte/tickets/{ticket}/chat/sync/");
    let body = json!({"messages": [{"client_id": "nota", "contenido": "VIP", "metadata": {"interno": true}}]});
    let (status, answer) = app.post(&path, &agent(5), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["results"][0]["mensaje_id"].as_i64().unwrap()
}

/// Sends `frame` and reads the `error` it gets: its code and its data.
async fn refused(socket: &mut WsClient, frame: Value) -> (String, Value) {
    socket.send_json(frame).await;
    let error = socket.wait_for("error").await.clone();
    (error["codigo"].as_str().unwrap().to_string(), error)
}

/// A ticket of customer 1 assigned to agent 5.
async fn assigned_ticket(app: &TestApp) -> i64 {
    let ticket = app.ticket_for(&customer(1)).await;
    let path = format!("/api/soporte/tickets/{ticket}/assign/");
    let (status, body) = app.post(&path, &agent(5), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ticket
}

#[tokio::test]
async fn an_edit_and_a_delete_reach_everyone_on_the_ticket_live() {
    let app = spawn_app().await;
    let ticket = assigned_ticket(&app).await;
    let mut ana = app.connect(ticket, &customer(1)).await;
    ana.expect("connection_established").await;
    let mut maria = app.connect(ticket, &agent(5)).await;
    let hello = maria.expect("connection_established").await;
    assert_eq!(hello["rev"], 0);

    ana.send_message("Mi pedido es el 1234", "m1").await;
    let id = ana.wait_for("mensaje_confirmado").await["mensaje_id"]
        .as_i64()
        .unwrap();
    maria.wait_for("mensaje_recibido").await;

    ana.send_json(json!({"tipo": "editar_mensaje", "data": {"mensaje_id": id, "mensaje": "Mi pedido es el 1243"}}))
        .await;
    for socket in [&mut ana, &mut maria] {
        let update = socket.wait_for("mensaje_actualizado").await.clone();
        assert_eq!(update["evento"], "editado");
        assert_eq!(update["mensaje"]["id"], id);
        assert_eq!(update["mensaje"]["contenido"], "Mi pedido es el 1243");
        assert_eq!(update["mensaje"]["editado"], true);
        assert_eq!(update["mensaje"]["eliminado"], false);
        assert_eq!(update["mensaje"]["rev"], 1);
        assert!(update["mensaje"]["editado_en"].is_string());
    }

    // Staff may delete what a customer should not have sent.
    maria
        .send_json(json!({"tipo": "eliminar_mensaje", "data": {"mensaje_id": id}}))
        .await;
    for socket in [&mut ana, &mut maria] {
        let update = socket.wait_for("mensaje_actualizado").await.clone();
        assert_eq!(update["evento"], "eliminado");
        assert_eq!(update["mensaje"]["eliminado"], true);
        assert_eq!(update["mensaje"]["editado"], false);
        assert_eq!(update["mensaje"]["contenido"], "Mensaje eliminado.");
        assert_eq!(update["mensaje"]["rev"], 2);
    }

    // REST history and a new greeting read the message as it now is.
    let now = by_id(&history(&app, &customer(1), ticket).await, id);
    assert_eq!(now["eliminado"], true);
    assert_eq!(now["contenido"], "Mensaje eliminado.");
    let mut again = app.connect(ticket, &customer(1)).await;
    let hello = again.expect("connection_established").await;
    assert_eq!(hello["rev"], 2);
    let greeted = by_id(hello["historial_reciente"].as_array().unwrap(), id);
    assert_eq!(greeted["eliminado"], true);
}

#[tokio::test]
async fn refusals_over_the_websocket_name_their_code_and_message() {
    let clock = Clock::movable();
    let app = {
        let clock = clock.clone();
        spawn_with(move |c| c.clock = clock).await
    };
    let ticket = assigned_ticket(&app).await;
    let mine = say(&app, ticket, &customer(1), "a", "hola").await;
    let theirs = say(&app, ticket, &agent(5), "b", "¿En qué te ayudo?").await;
    let internal = note(&app, ticket).await;
    let mut ana = app.connect(ticket, &customer(1)).await;
    ana.expect("connection_established").await;

    let edit = |id: i64, text: &str| json!({"tipo": "editar_mensaje", "data": {"mensaje_id": id, "mensaje": text}});
    let (code, error) = refused(&mut ana, edit(theirs, "otro")).await;
    assert_eq!(code, "no_es_autor");
    assert_eq!(error["tipo"], "editar_mensaje");
    assert_eq!(error["mensaje_id"], theirs);
    assert_eq!(
        refused(&mut ana, edit(mine, "   ")).await.0,
        "mensaje_vacio"
    );
    assert_eq!(
        refused(&mut ana, edit(987_654, "x")).await.0,
        "mensaje_no_encontrado"
    );
    // A customer cannot even tell a note is there.
    assert_eq!(
        refused(&mut ana, edit(internal, "x")).await.0,
        "mensaje_no_encontrado"
    );
    let delete_note = json!({"tipo": "eliminar_mensaje", "data": {"mensaje_id": internal}});
    assert_eq!(
        refused(&mut ana, delete_note).await.0,
        "mensaje_no_encontrado"
    );
    let bad = json!({"tipo": "editar_mensaje", "data": {"mensaje_id": "uno"}});
    assert_eq!(refused(&mut ana, bad).await.0, "datos_invalidos");

    clock.advance(Duration::from_secs(15 * 60 + 1));
    assert_eq!(
        refused(&mut ana, edit(mine, "tarde")).await.0,
        "fuera_de_plazo"
    );
    // Deleting has no window.
    ana.send_json(json!({"tipo": "eliminar_mensaje", "data": {"mensaje_id": mine}}))
        .await;
    ana.wait_for("mensaje_actualizado").await;
    let again = json!({"tipo": "eliminar_mensaje", "data": {"mensaje_id": mine}});
    assert_eq!(refused(&mut ana, again).await.0, "ya_eliminado");

    // Nothing refused was written: the text is as it was.
    let messages = history(&app, &agent(5), ticket).await;
    assert_eq!(by_id(&messages, theirs)["contenido"], "¿En qué te ayudo?");
    assert_eq!(by_id(&messages, theirs)["editado"], false);
}

#[tokio::test]
async fn rest_edits_and_deletes_with_clear_refusals() {
    let clock = Clock::movable();
    let app = {
        let clock = clock.clone();
        spawn_with(move |c| c.clock = clock).await
    };
    let ticket = assigned_ticket(&app).await;
    let mine = say(&app, ticket, &customer(1), "a", "Hola, mi tarjeta es 4111").await;
    let agents = say(&app, ticket, &agent(5), "b", "Te ayudo").await;

    let (status, body) = edit(&app, &customer(1), ticket, mine, "Hola, necesito ayuda").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["contenido"], "Hola, necesito ayuda");
    assert_eq!(body["editado"], true);
    // The same text again is no change, and no new revision.
    let (status, same) = edit(&app, &customer(1), ticket, mine, "Hola, necesito ayuda").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["rev"], body["rev"]);

    let (status, body) = edit(&app, &agent(5), ticket, mine, "nada").await;
    assert_eq!(
        (status, body["codigo"].as_str()),
        (StatusCode::FORBIDDEN, Some("no_es_autor"))
    );
    assert!(body["detalle"]
        .as_str()
        .unwrap()
        .contains("Solo quien escribió"));
    let (status, body) = edit(&app, &customer(1), ticket, 99_999, "x").await;
    assert_eq!(
        (status, body["codigo"].as_str()),
        (StatusCode::NOT_FOUND, Some("mensaje_no_encontrado"))
    );
    let (status, body) = edit(&app, &customer(1), ticket, mine, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app
        .send(
            Method::PATCH,
            &message_path(ticket, mine),
            &customer(1),
            Some(json!({"texto": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Another customer's ticket is not theirs to touch.
    let (status, _) = delete(&app, &customer(2), ticket, mine).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    clock.advance(Duration::from_secs(16 * 60));
    let (status, body) = edit(&app, &agent(5), ticket, agents, "tarde").await;
    assert_eq!(
        (status, body["codigo"].as_str()),
        (StatusCode::CONFLICT, Some("fuera_de_plazo"))
    );

    let (status, body) = delete(&app, &customer(1), ticket, agents).await;
    assert_eq!(
        (status, body["codigo"].as_str()),
        (StatusCode::FORBIDDEN, Some("no_es_autor"))
    );
    let (status, body) = delete(&app, &agent(5), ticket, mine).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["eliminado"], true);
    let (status, body) = delete(&app, &agent(5), ticket, mine).await;
    assert_eq!(
        (status, body["codigo"].as_str()),
        (StatusCode::CONFLICT, Some("ya_eliminado"))
    );

    // Supervisors read every earlier text; nobody else does.
    let versions = format!("{}versiones/", message_path(ticket, mine));
    let (status, body) = app.get(&versions, &supervisor(9)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let texts: Vec<&str> = body["versiones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["contenido"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Hola, mi tarjeta es 4111", "Hola, necesito ayuda"]);
    assert_eq!(body["versiones"][0]["cambio"], "editado");
    assert_eq!(body["versiones"][0]["por"]["id"], 1);
    assert_eq!(body["versiones"][1]["cambio"], "eliminado");
    assert_eq!(body["versiones"][1]["por"]["tipo"], "AGENTE");
    for token in [agent(5), customer(1)] {
        assert_eq!(app.get(&versions, &token).await.0, StatusCode::FORBIDDEN);
    }
    let (status, _) = app
        .get(
            &format!("{}versiones/", message_path(ticket, 424_242)),
            &supervisor(9),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_resuming_client_learns_what_changed_while_it_was_away() {
    let app = spawn_app().await;
    let ticket = assigned_ticket(&app).await;
    let first = say(&app, ticket, &customer(1), "a", "uno").await;
    let second = say(&app, ticket, &customer(1), "b", "dos").await;
    let note = note(&app, ticket).await;

    let mut away = app.connect(ticket, &customer(1)).await;
    let hello = away.expect("connection_established").await.clone();
    let (since, rev) = (
        hello["last_seq"].as_i64().unwrap(),
        hello["rev"].as_i64().unwrap(),
    );
    let epoch = hello["epoch"].as_str().unwrap().to_string();
    away.close().await;

    // While it is away: an edit, a deletion, a note edited, a new message.
    assert_eq!(
        edit(&app, &customer(1), ticket, first, "uno (corregido)")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        delete(&app, &customer(1), ticket, second).await.0,
        StatusCode::OK
    );
    assert_eq!(
        edit(&app, &agent(5), ticket, note, "nota corregida")
            .await
            .0,
        StatusCode::OK
    );
    let newer = say(&app, ticket, &agent(5), "c", "tres").await;

    let resume = |token: String, since: i64, rev: i64| {
        format!(
            "{}&since={since}&epoch={epoch}&rev={rev}",
            app.ws_url(ticket, &token)
        )
    };
    let mut back = app.connect_url(&resume(customer(1), since, rev)).await;
    let hello = back.expect("connection_established").await.clone();
    assert_eq!(hello["rev"], 3);
    let history: Vec<i64> = hello["historial_reciente"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(history, [newer]);
    // And what changed, as it now is, in revision order: never a note to a
    // customer.
    let updated = |hello: &Value| -> Vec<(i64, String, bool)> {
        hello["actualizados"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|m| {
                        let text = m["contenido"].as_str().unwrap().to_string();
                        (m["id"].as_i64().unwrap(), text, m["eliminado"] == true)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let deleted = "Mensaje eliminado.".to_string();
    assert_eq!(
        updated(&hello),
        [
            (first, "uno (corregido)".to_string(), false),
            (second, deleted.clone(), true)
        ]
    );

    // Staff get the note's edit too; a client already current gets nothing.
    let mut staff = app.connect_url(&resume(agent(5), since + 1, rev)).await;
    let hello = staff.expect("connection_established").await;
    let ids: Vec<i64> = updated(&hello).iter().map(|u| u.0).collect();
    assert_eq!(ids, [first, second, note]);
    let mut current = app.connect_url(&resume(customer(1), since, 3)).await;
    let hello = current.expect("connection_established").await;
    assert!(hello.get("actualizados").is_none(), "{hello}");
    // A bad revision is refused at the door.
    let bad = format!("{}&since=1&rev=-2", app.ws_url(ticket, &customer(1)));
    assert!(matches!(
        app.try_connect_with(&bad, None).await,
        Err((400, _))
    ));
}

#[tokio::test]
async fn replies_quote_an_earlier_message_their_readers_can_see() {
    let app = spawn_app().await;
    let ticket = assigned_ticket(&app).await;
    let other = app.ticket_for(&customer(1)).await;
    let asked = say(&app, ticket, &customer(1), "a", "¿Cuándo llega?").await;
    let elsewhere = say(&app, other, &customer(1), "x", "otro ticket").await;
    let mut maria = app.connect(ticket, &agent(5)).await;
    maria.expect("connection_established").await;

    maria
        .send_json(json!({"tipo": "mensaje", "data": {"mensaje": "Mañana", "client_id": "r1", "reply_to": asked}}))
        .await;
    maria.wait_for("mensaje_confirmado").await;
    let reply = history(&app, &customer(1), ticket)
        .await
        .last()
        .unwrap()
        .clone();
    assert_eq!(reply["replyTo"], asked);

    // The seed's camelCase name is read too.
    let sync =
        json!({"messages": [{"client_id": "r2", "contenido": "Gracias", "replyTo": reply["id"]}]});
    let path = format!("/api/soporte/tickets/{ticket}/chat/sync/");
    let (status, body) = app.post(&path, &customer(1), sync).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["errores"].as_array().unwrap().is_empty(), "{body}");

    let reply = |reply_to: i64| json!({"tipo": "mensaje", "data": {"mensaje": "re", "client_id": format!("x{reply_to}"), "reply_to": reply_to}});
    assert_eq!(
        refused(&mut maria, reply(elsewhere)).await.0,
        "mensaje_no_encontrado"
    );
    let note = note(&app, ticket).await;
    // A reply the customer sees cannot quote a note; another note can.
    assert_eq!(refused(&mut maria, reply(note)).await.0, "datos_invalidos");
    maria
        .send_json(json!({"tipo": "mensaje", "data": {"mensaje": "ok", "client_id": "n2", "reply_to": note, "metadata": {"interno": true}}}))
        .await;
    maria.wait_for("mensaje_confirmado").await;
    assert_eq!(
        delete(&app, &customer(1), ticket, asked).await.0,
        StatusCode::OK
    );
    let again =
        json!({"tipo": "mensaje", "data": {"mensaje": "re", "client_id": "y", "reply_to": asked}});
    assert_eq!(refused(&mut maria, again).await.0, "datos_invalidos");
    // And a customer cannot quote what they cannot see.
    let sync = json!({"messages": [{"client_id": "r3", "contenido": "?", "reply_to": note}]});
    let (_, body) = app.post(&path, &customer(1), sync).await;
    assert_eq!(
        body["errores"][0]["codigo"], "mensaje_no_encontrado",
        "{body}"
    );
}

#[tokio::test]
async fn deleting_a_message_removes_its_files() {
    let app = spawn_app().await;
    let ticket = assigned_ticket(&app).await;
    let mut ana = app.connect(ticket, &customer(1)).await;
    ana.expect("connection_established").await;
    let grant = authorize(&mut ana, "factura.pdf", 64, "application/pdf").await;
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.resize(64, b'x');
    let (status, uploaded) = post_file(&app, &grant["data"], "factura.pdf", bytes, None).await;
    assert_eq!(status, 201, "{uploaded}");
    let (message, url) = (
        uploaded["mensaje_id"].as_i64().unwrap(),
        uploaded["url"].as_str().unwrap().to_string(),
    );
    assert_eq!(stored_files(&app), 1);

    let (status, body) = delete(&app, &customer(1), ticket, message).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["archivos"], json!([]));
    assert_eq!(stored_files(&app), 0, "the file is gone from storage");
    let download = app
        .http
        .get(&url)
        .bearer_auth(agent(5))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        by_id(&history(&app, &agent(5), ticket).await, message)["archivos"],
        json!([])
    );
}

#[tokio::test]
async fn the_host_is_told_of_edits_and_deletions_and_notes_only_if_it_asked() {
    let app = spawn_with(|c| c.webhooks.allow_private = true).await;
    let receiver = Receiver::start(&[]).await;
    let events = json!(["mensaje.editado", "mensaje.eliminado"]);
    let (status, hook) = app
        .post(
            "/api/soporte/webhooks/",
            &supervisor(900),
            json!({"url": receiver.url(), "eventos": events}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let ticket = assigned_ticket(&app).await;
    let message = say(&app, ticket, &customer(1), "a", "hola").await;
    let internal = note(&app, ticket).await;
    assert_eq!(
        edit(&app, &customer(1), ticket, message, "hola!").await.0,
        StatusCode::OK
    );
    assert_eq!(
        edit(&app, &agent(5), ticket, internal, "VIP!").await.0,
        StatusCode::OK
    );
    assert_eq!(
        delete(&app, &agent(5), ticket, message).await.0,
        StatusCode::OK
    );
    receiver
        .wait_until("both events", Duration::from_secs(10), |got| got.len() >= 2)
        .await;
    let edited = receiver.events("mensaje.editado");
    assert_eq!(edited.len(), 1, "the note's edit stays in: {edited:?}");
    assert_eq!(edited[0]["data"]["mensaje"]["contenido"], "hola!");
    assert_eq!(edited[0]["data"]["por"]["id"], 1);
    assert_eq!(edited[0]["data"]["ticket"]["id"], ticket);
    let deleted = receiver.events("mensaje.eliminado");
    assert_eq!(deleted[0]["data"]["mensaje"]["eliminado"], true);
    assert_eq!(deleted[0]["data"]["por"]["tipo"], "AGENTE");
}

#[tokio::test]
async fn search_finds_the_current_text_only() {
    let app = spawn_app().await;
    let ticket = assigned_ticket(&app).await;
    let message = say(
        &app,
        ticket,
        &customer(1),
        "a",
        "La factura llegó duplicada",
    )
    .await;
    let gone = say(
        &app,
        ticket,
        &customer(1),
        "b",
        "Mi contraseña es hipopótamo",
    )
    .await;
    assert_eq!(
        edit(
            &app,
            &customer(1),
            ticket,
            message,
            "El recibo llegó duplicado"
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        delete(&app, &customer(1), ticket, gone).await.0,
        StatusCode::OK
    );
    let hits = |found: &Value| found["resultados"].as_array().unwrap().len();
    for (query, expected) in [
        ("factura", 0),
        ("recibo", 1),
        ("hipopotamo", 0),
        ("eliminado", 0),
    ] {
        for token in [customer(1), supervisor(9)] {
            let (status, found) = app
                .get(&format!("/api/soporte/buscar/?q={query}"), &token)
                .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(hits(&found), expected, "{query}: {found}");
        }
    }
}

/// The inboxes that see a ticket get the change too, so a preview showing
/// the message is not left with a text that was edited or deleted; an agent
/// whose inbox does not see the ticket gets nothing.
#[tokio::test]
async fn inboxes_that_see_the_ticket_learn_of_edits_and_deletions() {
    let app = spawn_app().await;
    let ticket = assigned_ticket(&app).await;
    let (mut mine, _) = app.inbox(&agent(5)).await;
    let (mut other, _) = app.inbox(&agent(6)).await;
    let (mut boss, _) = app.inbox(&supervisor(9)).await;
    let mut ana = app.connect(ticket, &customer(1)).await;
    ana.expect("connection_established").await;
    ana.send_message("Mi dirección es Calle Falsa 123", "m1")
        .await;
    let id = ana.wait_for("mensaje_confirmado").await["mensaje_id"]
        .as_i64()
        .unwrap();
    mine.wait_for("inbox_mensaje").await;

    let (status, body) = delete(&app, &customer(1), ticket, id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for inbox in [&mut mine, &mut boss] {
        let update = inbox.wait_for("mensaje_actualizado").await.clone();
        assert_eq!(update["evento"], "eliminado");
        assert_eq!(update["mensaje"]["id"], id);
        assert_eq!(update["mensaje"]["ticket"], ticket);
        assert_eq!(update["mensaje"]["contenido"], "Mensaje eliminado.");
    }
    other
        .assert_no("mensaje_actualizado", Duration::from_millis(300))
        .await;
}
