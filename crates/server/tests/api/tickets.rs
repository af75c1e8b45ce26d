use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_customer_creates_a_ticket_and_lists_only_their_own() {
    let app = spawn_app().await;
    let (status, created) = app
        .post(
            "/api/soporte/tickets/",
            &customer(1),
            json!({"asunto": "  Factura duplicada "}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(created["asunto"], "Factura duplicada");
    assert_eq!(created["estado"], "ABIERTO");
    assert_eq!(created["cliente"]["id"], 1);
    assert!(created["agente"].is_null());
    app.ticket_for(&customer(2)).await;

    let (status, list) = app.get("/api/soporte/tickets/", &customer(1)).await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["id"], created["id"]);
    let (_, list) = app.get("/api/soporte/tickets", &supervisor(9)).await;
    assert_eq!(list["count"], 2, "a supervisor sees every ticket");
}

#[tokio::test]
async fn an_agent_creates_a_ticket_for_a_customer_who_then_owns_it() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/api/soporte/tickets/",
            &agent(50),
            json!({"asunto": "Llamada"}),
        )
        .await;
    assert_eq!(status, 400, "an agent must name the customer: {body}");
    let (status, created) = app
        .post(
            "/api/soporte/tickets/",
            &agent(50),
            json!({"asunto": "Llamada", "cliente": {"id": 7, "nombre": "Eva"}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(created["cliente"]["nombre"], "Eva");
    let (_, list) = app.get("/api/soporte/tickets/", &customer(7)).await;
    assert_eq!(list["count"], 1);
    let (status, _) = app
        .post(
            "/api/soporte/tickets/",
            &customer(7),
            json!({"asunto": "x", "cliente": {"id": 8, "nombre": "Otro"}}),
        )
        .await;
    assert_eq!(
        status, 403,
        "a customer cannot open a ticket for someone else"
    );
}

#[tokio::test]
async fn bad_ticket_bodies_get_400_with_a_detalle() {
    let app = spawn_app().await;
    for body in [
        json!({"asunto": ""}),
        json!({"asunto": "x".repeat(201)}),
        json!({"titulo": "x"}),
        json!({"asunto": 5}),
    ] {
        let (status, answer) = app
            .post("/api/soporte/tickets/", &customer(1), body.clone())
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(answer["detalle"].is_string(), "{answer}");
    }
    let response = app
        .http
        .post(app.url("/api/soporte/tickets/"))
        .bearer_auth(customer(1))
        .header("content-type", "application/json")
        .body("{no es json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn agents_list_their_tickets_and_the_queue_but_not_other_agents_tickets() {
    let app = spawn_app().await;
    let mine = app.ticket_for(&customer(1)).await;
    let theirs = app.ticket_for(&customer(2)).await;
    let queued = app.ticket_for(&customer(3)).await;
    // Opening a ticket assigns it.
    app.connect(mine, &agent(50))
        .await
        .expect("connection_established")
        .await;
    app.connect(theirs, &agent(60))
        .await
        .expect("connection_established")
        .await;
    let (_, list) = app.get("/api/soporte/tickets/", &agent(50)).await;
    let ids: Vec<i64> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&mine) && ids.contains(&queued), "{ids:?}");
    assert!(!ids.contains(&theirs), "{ids:?}");
    let (status, _) = app
        .get(&format!("/api/soporte/tickets/{theirs}/"), &agent(50))
        .await;
    assert_eq!(status, 403);
    let (status, ticket) = app
        .get(&format!("/api/soporte/tickets/{mine}/"), &agent(50))
        .await;
    assert_eq!(status, 200);
    assert_eq!(ticket["agente"]["id"], 50);
}

#[tokio::test]
async fn a_customer_never_reaches_another_customers_ticket_on_any_endpoint() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let intruder = customer(2);
    let base = format!("/api/soporte/tickets/{ticket}");
    for path in [
        format!("{base}/"),
        format!("{base}/chat/historial/"),
        format!("{base}/chat/stats/"),
    ] {
        let (status, body) = app.get(&path, &intruder).await;
        assert_eq!(status, 403, "GET {path}");
        assert!(body["detalle"].is_string());
    }
    let sync = json!({"messages": [{"client_id": "x1", "contenido": "hola"}]});
    assert_eq!(
        app.post(&format!("{base}/chat/sync/"), &intruder, sync)
            .await
            .0,
        403
    );
    assert_eq!(
        app.post(
            &format!("{base}/chat/mark-read/"),
            &intruder,
            json!({"message_ids": [1]})
        )
        .await
        .0,
        403
    );
    let refused = app
        .try_connect_with(&app.ws_url(ticket, &intruder), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 403);
    let (_, list) = app.get("/api/soporte/tickets/", &intruder).await;
    assert_eq!(list["count"], 0);
}

#[tokio::test]
async fn an_unknown_ticket_is_404_everywhere() {
    let app = spawn_app().await;
    for path in [
        "/api/soporte/tickets/999/",
        "/api/soporte/tickets/abc/",
        "/api/soporte/tickets/999/chat/historial/",
    ] {
        assert_eq!(app.get(path, &supervisor(9)).await.0, 404, "{path}");
    }
    let refused = app
        .try_connect_with(&app.ws_url(999, &supervisor(9)), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 404);
}

/// A customer opening tickets themselves meets the limits (open at once,
/// per hour), with a 429 and a detalle; staff opening one for them does not,
/// and nothing is stored for a refused one.
#[tokio::test]
async fn customers_cannot_flood_the_queue_with_tickets() {
    let app = spawn_with(|c| {
        c.customer_ticket_limits.open = 3;
        c.customer_ticket_limits.per_hour = 5;
    })
    .await;
    async fn open(app: &TestApp) -> (reqwest::StatusCode, Value) {
        app.post(
            "/api/soporte/tickets/",
            &customer(7),
            json!({"asunto": "Ayuda"}),
        )
        .await
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, body) = open(&app).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_i64().unwrap());
    }
    let (status, body) = open(&app).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["detalle"]
            .as_str()
            .unwrap()
            .contains("3 tickets abiertos"),
        "{body}"
    );
    // Staff may still open one for them (it counts in their hour).
    let (status, _) = app
        .post(
            "/api/soporte/tickets/",
            &agent(50),
            json!({"asunto": "Llamada", "cliente": {"id": 7, "nombre": "Cliente 7"}}),
        )
        .await;
    assert_eq!(status, 201);
    // Resolved tickets free their places; the hour's count still holds.
    for ticket in &ids {
        let (status, body) = app
            .post(
                &format!("/api/soporte/tickets/{ticket}/estado/"),
                &supervisor(90),
                json!({"estado": "RESUELTO"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    let (status, body) = open(&app).await;
    assert_eq!(status, 201, "the fifth of the hour: {body}");
    let (status, body) = open(&app).await;
    assert_eq!(status, 429, "the sixth of the hour: {body}");
    assert!(
        body["detalle"].as_str().unwrap().contains("última hora"),
        "{body}"
    );
    let (_, mine) = app.get("/api/soporte/tickets/", &customer(7)).await;
    assert_eq!(mine["count"], 5, "{mine}");
}

/// Lists page by cursor: however many tickets come after, the oldest stays
/// reachable, each ticket once, in activity order; a made-up cursor is 400.
#[tokio::test]
async fn ticket_lists_page_through_every_ticket_once() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for customer_id in 1..=7 {
        created.push(app.ticket_for(&customer(customer_id)).await);
    }
    // The oldest ticket has the newest activity of one: a message.
    let mut ws = app.connect(created[0], &customer(1)).await;
    ws.expect("connection_established").await;
    ws.send_message("sigo aquí", "c1").await;
    ws.wait_for("mensaje_confirmado").await;
    let mut expected: Vec<i64> = created[1..].iter().rev().copied().collect();
    expected.insert(0, created[0]);

    let (seen, pages) = follow_pages(&app, "/api/soporte/tickets/?limit=3", &supervisor(9)).await;
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    for bad in ["x", "12", "1.x", "9223372036854775808.1"] {
        let (status, body) = app
            .get(
                &format!("/api/soporte/tickets/?cursor={bad}"),
                &supervisor(9),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["detalle"].as_str().unwrap().contains("cursor"),
            "{body}"
        );
    }
}

/// `?estado=` and `?agente=` narrow a list (never widen it): by state, by
/// agent, the unassigned queue, together, through every page; bad values
/// are 400 with the reason.
#[tokio::test]
async fn ticket_lists_filter_by_state_and_agent_through_every_page() {
    let app = spawn_app().await;
    let mut tickets = Vec::new();
    for customer_id in 1..=6 {
        tickets.push(app.ticket_for(&customer(customer_id)).await);
    }
    // Agent 50 takes three, agent 60 one, two stay queued; one of 50's is resolved.
    for (ticket, agent_id) in [(0, 50), (1, 50), (2, 50), (3, 60)] {
        app.connect(tickets[ticket], &agent(agent_id))
            .await
            .expect("connection_established")
            .await;
    }
    let (status, body) = app
        .post(
            &format!("/api/soporte/tickets/{}/estado/", tickets[1]),
            &supervisor(9),
            json!({"estado": "RESUELTO"}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    // Every page of a narrowed list, by following `next`, sorted.
    async fn all_pages(app: &TestApp, query: &str, token: String) -> Vec<i64> {
        let path = format!("/api/soporte/tickets/?limit=1&{query}");
        let (mut seen, _) = follow_pages(app, &path, &token).await;
        seen.sort_unstable();
        seen
    }
    let of = |which: &[usize]| {
        let mut ids: Vec<i64> = which.iter().map(|&i| tickets[i]).collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(
        all_pages(&app, "agente=50", supervisor(9)).await,
        of(&[0, 1, 2])
    );
    assert_eq!(
        all_pages(&app, "agente=50&estado=ABIERTO", supervisor(9)).await,
        of(&[0, 2])
    );
    assert_eq!(
        all_pages(&app, "estado=RESUELTO", supervisor(9)).await,
        of(&[1])
    );
    assert_eq!(
        all_pages(&app, "agente=ninguno", supervisor(9)).await,
        of(&[4, 5])
    );
    // An agent's filters stay inside what they see: their own and the queue.
    assert_eq!(
        all_pages(&app, "agente=ninguno", agent(50)).await,
        of(&[4, 5])
    );
    assert!(all_pages(&app, "agente=60", agent(50)).await.is_empty());
    assert_eq!(
        all_pages(&app, "estado=ABIERTO", agent(50)).await,
        of(&[0, 2, 4, 5])
    );
    for (query, word) in [
        ("estado=abierto", "estado"),
        ("estado=PERDIDO", "estado"),
        ("agente=maria", "agente"),
    ] {
        let (status, body) = app
            .get(&format!("/api/soporte/tickets/?{query}"), &supervisor(9))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["detalle"].as_str().unwrap().contains(word), "{body}");
    }
}

/// The ticket ids of a list from `path` on, following `next` to the end, in
/// the order given, and how many pages that took.
async fn follow_pages(app: &TestApp, path: &str, token: &str) -> (Vec<i64>, usize) {
    let mut url = app.url(path);
    let (mut seen, mut pages) = (Vec::new(), 0);
    loop {
        let page: Value = app.follow(&url, token).await;
        pages += 1;
        seen.extend(ids_in(&page["results"]));
        match page["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => return (seen, pages),
        }
        assert!(pages < 20, "paging does not end");
    }
}
