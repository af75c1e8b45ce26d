//! Transcripts and the address a customer gives (`/yo/`), against a real
//! SMTP server: the conversation arrives without the team's notes and with
//! every message escaped; who may ask and where it goes; asking again too
//! soon is refused; and a bad address is refused before anything is stored.

use crate::email::{say, spawn_emailing, still, SmtpSink};
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use soporte_server::clock::Clock;
use std::time::Duration;

fn transcript_path(ticket: i64) -> String {
    format!("/api/soporte/tickets/{ticket}/transcripcion/")
}

#[tokio::test]
async fn a_customer_gets_the_conversation_at_the_address_they_give_once_per_ten_minutes() {
    let sink = SmtpSink::start();
    let clock = Clock::movable();
    let app = spawn_emailing(&sink, &clock).await;
    let ticket = app.ticket_for(&customer(7)).await;
    say(&app, ticket, &customer(7), "q", "¿Y mi <b>factura</b>?").await;
    say(&app, ticket, &supervisor(90), "a", "Adjunta & enviada.").await;
    let note = json!({"messages": [{"client_id": "n", "contenido": "Cliente moroso", "metadata": {"interno": true}}]});
    let path = format!("/api/soporte/tickets/{ticket}/chat/sync/");
    app.post(&path, &supervisor(90), note).await;

    // Without an address known or given: asked for one.
    let (status, body) = app
        .post(&transcript_path(ticket), &customer(7), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detalle"].as_str().unwrap().contains("correo"),
        "{body}"
    );

    let (status, body) = app
        .post(
            &transcript_path(ticket),
            &customer(7),
            json!({"email": " ana@example.com "}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["para"], "ana@example.com");
    let got = sink.wait_for(1).await;
    let email = &got[0];
    assert_eq!(email["to"], json!(["ana@example.com"]));
    assert_eq!(
        email["subject"],
        format!("Transcripción de tu ticket #{ticket}: No puedo entrar")
    );
    let text = email["text"].as_str().unwrap();
    assert!(text.contains("¿Y mi <b>factura</b>?"), "{text}");
    assert!(text.contains("Adjunta & enviada."), "{text}");
    assert!(!text.contains("Cliente moroso"), "a note leaked: {text}");
    let html = email["html"].as_str().unwrap();
    assert!(html.contains("¿Y mi &lt;b&gt;factura&lt;/b&gt;?"), "{html}");
    assert!(!html.contains("<b>factura"), "{html}");
    assert!(!html.contains("Cliente moroso"), "{html}");
    let sent = "soporte_emails_total{tipo=\"transcripcion\",resultado=\"enviado\"} 1";
    let metrics = app.metrics_when(|m| m.contains(sent)).await;
    assert!(metrics.contains(sent), "{metrics}");

    // The address given is theirs now: `/yo/` says so.
    let (status, me) = app.get("/api/soporte/yo/", &customer(7)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "ana@example.com");
    assert_eq!(me["avisos_por_correo"], true);

    // Again at once: refused with when; ten minutes later: sent again.
    let (status, body) = app
        .post(&transcript_path(ticket), &customer(7), json!({}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detalle"].as_str().unwrap().contains("10 min"),
        "{body}"
    );
    clock.advance(Duration::from_secs(601));
    let (status, body) = app
        .post(&transcript_path(ticket), &customer(7), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    sink.wait_for(2).await;
    still(&sink, 2).await;
}

#[tokio::test]
async fn staff_send_it_to_the_customers_address_only_and_strangers_get_nothing() {
    let sink = SmtpSink::start();
    let clock = Clock::movable();
    let app = spawn_emailing(&sink, &clock).await;
    let ticket = app.ticket_for(&customer(7)).await;

    // The customer has no address yet: staff cannot send it anywhere.
    let (status, body) = app
        .post(&transcript_path(ticket), &supervisor(90), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .send(
            Method::PATCH,
            "/api/soporte/yo/",
            &customer(7),
            Some(json!({"email": "ana@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Staff may not choose where the conversation goes.
    let (status, body) = app
        .post(
            &transcript_path(ticket),
            &supervisor(90),
            json!({"email": "otro@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Another customer may not ask for it at all.
    let (status, _) = app
        .post(
            &transcript_path(ticket),
            &customer(8),
            json!({"email": "intruso@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(&transcript_path(ticket), &supervisor(90), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["para"], "ana@example.com");
    let got = sink.wait_for(1).await;
    assert_eq!(got[0]["to"], json!(["ana@example.com"]));
    still(&sink, 1).await;
}

#[tokio::test]
async fn an_address_that_could_split_a_mail_header_is_refused_and_nothing_is_stored() {
    let sink = SmtpSink::start();
    let clock = Clock::movable();
    let app = spawn_emailing(&sink, &clock).await;
    let ticket = app.ticket_for(&customer(7)).await;
    for hostile in [
        "ana@example.com\r\nBcc: victima@example.com",
        "ana@example.com, victima@example.com",
        "<ana@example.com>",
        "sin-arroba",
        "",
    ] {
        let (status, body) = app
            .send(
                Method::PATCH,
                "/api/soporte/yo/",
                &customer(7),
                Some(json!({ "email": hostile })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{hostile:?}: {body}");
        let (status, body) = app
            .post(
                &transcript_path(ticket),
                &customer(7),
                json!({ "email": hostile }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{hostile:?}: {body}");
    }
    // Unknown fields are refused, not ignored.
    let (status, _) = app
        .post(
            &transcript_path(ticket),
            &customer(7),
            json!({"email": "ana@example.com", "bcc": "x@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, me) = app.get("/api/soporte/yo/", &customer(7)).await;
    assert_eq!(me["email"], serde_json::Value::Null);
    still(&sink, 0).await;
}

#[tokio::test]
async fn an_address_given_when_the_team_is_away_gets_the_unread_reply_email() {
    let sink = SmtpSink::start();
    let clock = Clock::movable();
    let app = spawn_emailing(&sink, &clock).await;
    let ticket = app.ticket_for(&customer(7)).await;
    let (status, body) = app
        .send(
            Method::PATCH,
            "/api/soporte/yo/",
            &customer(7),
            Some(json!({"email": "ana@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], "ana@example.com");
    say(&app, ticket, &supervisor(90), "a", "Ya lo miramos.").await;
    clock.advance(Duration::from_secs(181));
    let got = sink.wait_for(1).await;
    assert_eq!(got[0]["to"], json!(["ana@example.com"]));
    assert!(got[0]["text"].as_str().unwrap().contains("Ya lo miramos."));
}

#[tokio::test]
async fn without_smtp_there_is_no_transcript_and_yo_says_so() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(7)).await;
    let (status, body) = app
        .post(
            &transcript_path(ticket),
            &customer(7),
            json!({"email": "ana@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["detalle"], "Este servidor no envía correos.");
    let (status, me) = app.get("/api/soporte/yo/", &customer(7)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["avisos_por_correo"], false);
    assert_eq!(me["rol"], "CLIENTE");
}
