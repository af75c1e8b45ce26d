//! Search, on each store (the PostgreSQL pass runs it again): accents and
//! case folded, the last word a prefix, subjects before messages, and every
//! permission rule — a customer finds neither another customer's ticket nor
//! a note by any query; erased messages are found by their current text only.

use crate::email::say;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use soporte_protocol::Role;

async fn find(app: &TestApp, token: &str, query: &str) -> Value {
    let path = format!(
        "/api/soporte/buscar/?q={}",
        percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC)
    );
    let (status, body) = app.get(&path, token).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

/// The tickets of the hits, in order.
fn tickets(found: &Value) -> Vec<i64> {
    found["resultados"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["ticket"]["id"].as_i64().unwrap())
        .collect()
}

async fn note(app: &TestApp, ticket: i64, token: &str, text: &str) {
    let body = json!({"messages": [{"client_id": "nota", "contenido": text, "metadata": {"interno": true}}]});
    let (status, answer) = app
        .post(
            &format!("/api/soporte/tickets/{ticket}/chat/sync/"),
            token,
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn accents_case_and_prefixes_are_folded_and_matches_are_located() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    say(
        &app,
        ticket,
        &customer(1),
        "a",
        "😀 La Facturación de diciembre llegó mal",
    )
    .await;

    for query in [
        "facturacion",
        "FACTURACIÓN",
        "factur",
        "diciembre fact",
        "llego",
    ] {
        assert_eq!(
            tickets(&find(&app, &customer(1), query).await),
            vec![ticket],
            "{query}"
        );
    }
    // A finished word is a word: "factur " is not a prefix any more.
    assert_eq!(
        tickets(&find(&app, &customer(1), "factur ").await),
        Vec::<i64>::new()
    );
    assert_eq!(
        tickets(&find(&app, &customer(1), "enero").await),
        Vec::<i64>::new()
    );

    let hit = &find(&app, &customer(1), "facturacion").await["resultados"][0];
    assert_eq!(hit["campo"], "mensaje");
    assert!(hit["mensaje_id"].as_i64().unwrap() > 0);
    // JavaScript indices of "Facturación" (the emoji is two UTF-16 units).
    assert_eq!(hit["coincidencias"], json!([[6, 17]]));
    assert_eq!(hit["texto"], "😀 La Facturación de diciembre llegó mal");
}

/// A prefix finds every word it starts, whichever way the word was
/// written: a message, a ticket's subject, a customer's name, an edit.
/// (SQLite searches a prefix as the whole words it knows it starts; a word
/// any write failed to record would be missed here.)
#[tokio::test]
async fn a_prefix_finds_the_words_it_starts_in_every_kind_of_text() {
    let app = spawn_app().await;
    let first = app.ticket_for(&customer(1)).await;
    say(&app, first, &customer(1), "a", "la factura no llegó").await;
    let (status, body) = app
        .post(
            "/api/soporte/tickets/",
            &customer(1),
            json!({"asunto": "Facturación anual"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let by_subject = body["id"].as_i64().unwrap();
    let facundo = token(2, "Facundo Pérez", Role::Customer);
    let by_name = app.ticket_for(&facundo).await;
    let edited_ticket = app.ticket_for(&customer(3)).await;
    let edited = say(&app, edited_ticket, &customer(3), "b", "hola").await;
    let (status, body) = app
        .send(
            Method::PATCH,
            &format!("/api/soporte/tickets/{edited_ticket}/chat/mensajes/{edited}/"),
            &customer(3),
            Some(json!({"mensaje": "mis facturitas"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut found = tickets(&find(&app, &supervisor(90), "factu").await);
    found.sort();
    assert_eq!(found, vec![first, by_subject, edited_ticket]);
    assert_eq!(
        tickets(&find(&app, &supervisor(90), "facu").await),
        vec![by_name]
    );
    // More words than a prefix is searched as: every one still found.
    let many = app.ticket_for(&customer(4)).await;
    let words: Vec<String> = (0..140).map(|i| format!("zeta{i:03}")).collect();
    say(&app, many, &customer(4), "c", &words.join(" ")).await;
    let lone = app.ticket_for(&customer(5)).await;
    say(&app, lone, &customer(5), "d", "zeta999").await;
    let mut found = tickets(&find(&app, &supervisor(90), "zeta").await);
    found.sort();
    assert_eq!(found, vec![many, lone]);
}

#[tokio::test]
async fn subjects_and_ids_rank_first_and_filters_narrow() {
    let app = spawn_app().await;
    let by_message = app.ticket_for(&customer(1)).await;
    say(
        &app,
        by_message,
        &customer(1),
        "a",
        "tengo una duda con mi factura",
    )
    .await;
    let (status, body) = app
        .post(
            "/api/soporte/tickets/",
            &customer(1),
            json!({"asunto": "Factura duplicada"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let by_subject = body["id"].as_i64().unwrap();

    let found = find(&app, &supervisor(90), "factura").await;
    assert_eq!(tickets(&found), vec![by_subject, by_message]);
    assert_eq!(found["resultados"][0]["campo"], "asunto");
    // A ticket's number finds it first.
    let found = find(&app, &supervisor(90), &format!("#{by_message}")).await;
    assert_eq!(tickets(&found)[0], by_message);

    // Only resolved ones.
    let (status, _) = app
        .post(
            &format!("/api/soporte/tickets/{by_message}/estado/"),
            &customer(1),
            json!({"estado": "RESUELTO"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = app
        .get(
            "/api/soporte/buscar/?q=factura&estado=RESUELTO",
            &supervisor(90),
        )
        .await;
    assert_eq!(tickets(&body), vec![by_message]);
}

#[tokio::test]
async fn nobody_finds_what_they_may_not_read() {
    let app = spawn_app().await;
    let ana = app.ticket_for(&customer(1)).await;
    let luis = app.ticket_for(&customer(2)).await;
    say(&app, ana, &customer(1), "a", "mi pedido naranja no llega").await;
    say(&app, luis, &customer(2), "l", "mi pedido naranja está roto").await;
    note(&app, ana, &supervisor(90), "cliente confidencial naranja").await;

    // Customers: their own ticket, never the other's, never the note.
    assert_eq!(
        tickets(&find(&app, &customer(1), "naranja").await),
        vec![ana]
    );
    assert_eq!(
        tickets(&find(&app, &customer(2), "naranja").await),
        vec![luis]
    );
    assert_eq!(
        tickets(&find(&app, &customer(1), "confidencial").await),
        Vec::<i64>::new()
    );
    assert_eq!(
        tickets(&find(&app, &customer(2), &format!("#{ana}")).await),
        Vec::<i64>::new()
    );
    // Staff read notes; the supervisor finds both tickets.
    assert_eq!(
        tickets(&find(&app, &supervisor(90), "confidencial").await),
        vec![ana]
    );
    let mut both = tickets(&find(&app, &supervisor(90), "naranja").await);
    both.sort();
    both.dedup();
    assert_eq!(both, vec![ana, luis]);

    // An agent: their tickets and the queue; not another agent's.
    let (status, _) = app
        .post(
            &format!("/api/soporte/tickets/{luis}/assign/"),
            &agent(51),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut seen = tickets(&find(&app, &agent(50), "naranja").await);
    seen.dedup();
    assert_eq!(seen, vec![ana]);

    // Erased, a message is found by its current text only.
    let (status, body) = app
        .send(
            Method::DELETE,
            "/api/soporte/usuarios/2/",
            &supervisor(90),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        tickets(&find(&app, &supervisor(90), "roto").await),
        Vec::<i64>::new()
    );
}

#[tokio::test]
async fn bad_searches_are_refused_with_why() {
    let app = spawn_app().await;
    for (query, why) in [
        ("q=", "palabra"),
        ("q=%C2%BF%3F", "palabra"),
        (&*format!("q={}", "a".repeat(201)), "200"),
        ("q=hola&page=0", "page"),
        ("q=hola&desde=ayer", "desde"),
        ("q=hola&estado=PERDIDO", ""),
    ] {
        let (status, body) = app
            .get(&format!("/api/soporte/buscar/?{query}"), &customer(1))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(
            body["detalle"].as_str().unwrap().contains(why),
            "{query}: {body}"
        );
    }
}
