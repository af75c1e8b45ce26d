//! A customer waiting for an agent learns their place in the queue, which
//! moves as the tickets ahead are taken and ends when theirs is.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn place(app: &TestApp, ticket: i64, token: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/soporte/tickets/{ticket}/cola/"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["posicion"].clone()
}

async fn take(app: &TestApp, ticket: i64, agent_token: &str) {
    let (status, body) = app
        .post(
            &format!("/api/soporte/tickets/{ticket}/assign/"),
            agent_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_place_in_the_queue_moves_as_tickets_ahead_are_taken() {
    let app = spawn_app().await;
    let first = app.ticket_for(&customer(1)).await;
    let second = app.ticket_for(&customer(2)).await;
    let third = app.ticket_for(&customer(3)).await;
    assert_eq!(place(&app, first, &customer(1)).await, json!(1));
    assert_eq!(place(&app, third, &customer(3)).await, json!(3));

    take(&app, first, &agent(50)).await;
    assert_eq!(place(&app, first, &customer(1)).await, Value::Null);
    assert_eq!(place(&app, second, &customer(2)).await, json!(1));
    assert_eq!(place(&app, third, &customer(3)).await, json!(2));

    // A ticket that leaves the queue another way (resolved) frees its place too.
    let (status, body) = app
        .post(
            &format!("/api/soporte/tickets/{second}/estado/"),
            &customer(2),
            json!({"estado": "RESUELTO"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(place(&app, third, &customer(3)).await, json!(1));

    // Not enough tickets taken yet to state a typical wait.
    let (_, body) = app
        .get(&format!("/api/soporte/tickets/{third}/cola/"), &customer(3))
        .await;
    assert_eq!(body["espera_tipica_segundos"], Value::Null);
    // Another customer learns nothing of this ticket.
    let (status, _) = app
        .get(&format!("/api/soporte/tickets/{third}/cola/"), &customer(1))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
