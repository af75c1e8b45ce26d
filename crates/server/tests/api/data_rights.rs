//! A person's data: exported whole, and erased on request without breaking
//! anyone's history.

use crate::files::{authorize, post_file, stored_files};
use crate::helpers::*;
use crate::webhooks::Receiver;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn a_persons_data_is_exported_then_erased_with_files_gone_and_histories_whole() {
    let app = spawn_with(|config| config.webhooks.allow_private = true).await;
    let receiver = Receiver::start(&[]).await;
    let (status, _) = app
        .post(
            "/api/soporte/webhooks/",
            &supervisor(900),
            json!({"url": receiver.url(), "eventos": ["usuario.eliminado"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let ticket = app.ticket_for(&customer(1)).await;
    let mut c = app.connect(ticket, &customer(1)).await;
    let mut a = app.connect(ticket, &agent(50)).await;
    c.send_message("Mi DNI es 12345678Z", "c-1").await;
    c.wait_for("mensaje_confirmado").await;
    a.send_message("Gracias, lo reviso", "a-1").await;
    a.wait_for("mensaje_confirmado").await;
    let authorized = authorize(&mut c, "dni.png", PNG.len(), "image/png").await;
    let (status, file) = post_file(&app, &authorized["data"], "dni.png", PNG.to_vec(), None).await;
    assert_eq!(status, 201, "{file}");
    assert!(stored_files(&app) >= 1);
    // Someone else's ticket stays out of it.
    let other = app.ticket_for(&customer(2)).await;
    let mut o = app.connect(other, &customer(2)).await;
    o.send_message("otro cliente", "o-1").await;
    o.wait_for("mensaje_confirmado").await;

    let (status, export) = app
        .get("/api/soporte/usuarios/1/export/", &supervisor(900))
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["usuario"]["id"], 1);
    let tickets: Vec<i64> = export["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(tickets, vec![ticket]);
    let mine: Vec<&str> = export["mensajes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["contenido"].as_str().unwrap())
        .collect();
    assert_eq!(
        mine,
        vec!["Mi DNI es 12345678Z", "dni.png"],
        "only what they wrote"
    );
    assert_eq!(export["mensajes"][1]["archivos"][0]["nombre"], "dni.png");
    assert_eq!(export["eliminaciones"], json!([]));

    // Not for agents; an unknown person is a 404.
    let (status, _) = app
        .send(Method::DELETE, "/api/soporte/usuarios/1/", &agent(50), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .send(
            Method::DELETE,
            "/api/soporte/usuarios/777/",
            &supervisor(900),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, erased) = app
        .send(
            Method::DELETE,
            "/api/soporte/usuarios/1/",
            &supervisor(900),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(
        erased,
        json!({"usuario": 1, "mensajes": 2, "archivos": 1, "por": "supervisor 900"})
    );
    // The file is gone from storage and from the API.
    assert_eq!(
        stored_files(&app),
        0,
        "the file and its thumbnail are removed"
    );
    let response = app
        .http
        .get(file["url"].as_str().unwrap())
        .bearer_auth(agent(50))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // The history keeps its shape: same seqs, content replaced, the
    // agent's reply untouched.
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &agent(50),
        )
        .await;
    let history: Vec<Value> = page["results"].as_array().unwrap().clone();
    let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=history.len() as i64).collect::<Vec<_>>(),
        "gapless"
    );
    for message in &history {
        if message["autor"]["id"] == 1 {
            assert_eq!(
                message["contenido"],
                "[Contenido eliminado a petición de la persona]"
            );
            assert_eq!(message["autor"]["nombre"], "Persona eliminada");
            assert_eq!(message["eliminado"], true);
            assert_eq!(message["archivos"], json!([]));
        }
    }
    assert!(history
        .iter()
        .any(|m| m["contenido"] == "Gracias, lo reviso"));
    assert!(!page.to_string().contains("12345678Z"));
    let (_, other_page) = app
        .get(
            &format!("/api/soporte/tickets/{other}/chat/historial/"),
            &customer(2),
        )
        .await;
    assert_eq!(other_page["results"][0]["contenido"], "otro cliente");

    // Who erased what and when is kept, and the host is told.
    let (_, export) = app
        .get("/api/soporte/usuarios/1/export/", &supervisor(900))
        .await;
    assert_eq!(export["usuario"]["nombre"], "Persona eliminada");
    assert_eq!(export["eliminaciones"][0]["por"], "supervisor 900");
    assert_eq!(export["eliminaciones"][0]["mensajes"], 2);
    assert!(export["eliminaciones"][0]["en"].is_string());
    let got = receiver
        .wait_until("usuario.eliminado", Duration::from_secs(10), |got| {
            !got.is_empty()
        })
        .await;
    let event = got[0].json();
    assert_eq!(event["tipo"], "usuario.eliminado");
    assert_eq!(event["data"]["usuario"], 1);
    assert_eq!(event["data"]["archivos"], 1);
}
