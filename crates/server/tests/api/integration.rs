//! The host helpdesk's integration: service keys, provisioned users, tickets
//! with the host's id and data, and the tokens a Django/simplejwt host mints.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use soporte_server::auth::Verifier;
use std::process::Command;

/// `soporte api-key …` against the test's database, as an operator runs it.
fn api_key_cli(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_soporte"))
        .arg("api-key")
        .args(args)
        .arg("--database-url")
        .arg(db.url_text())
        .output()
        .expect("the soporte binary runs")
}

fn create_key(db: &TestDb, name: &str) -> String {
    let output = api_key_cli(db, &["create", "--name", name]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A request with `Authorization: Api-Key <key>`.
async fn with_key(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .request(method, app.url(path))
        .header("Authorization", format!("Api-Key {key}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn provision(app: &TestApp, key: &str, id: i64, body: Value) -> (StatusCode, Value) {
    with_key(
        app,
        Method::PUT,
        &format!("/api/soporte/usuarios/{id}/"),
        key,
        Some(body),
    )
    .await
}

async fn app_with_key() -> (TestApp, TestDb, String) {
    let db = TestDb::new().await;
    let app = spawn_on(&db, Verifier::hs256(SECRET).unwrap(), |_| {}).await;
    let key = create_key(&db, "helpdesk");
    (app, db, key)
}

#[tokio::test]
async fn service_keys_are_made_listed_and_revoked_on_the_command_line_and_work_on_rest_only() {
    let (app, db, key) = app_with_key().await;
    assert!(key.starts_with("sop_"), "{key}");
    // Shown once: only its hash is stored, the list shows its prefix.
    let list = api_key_cli(&db, &["list"]);
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(listed.contains("helpdesk"), "{listed}");
    assert!(!listed.contains(&key), "the key itself is listed: {listed}");
    // A name already taken: one line, non-zero exit.
    let again = api_key_cli(&db, &["create", "--name", "helpdesk"]);
    assert!(!again.status.success());
    let error = String::from_utf8(again.stderr).unwrap();
    assert_eq!(error.trim().lines().count(), 1, "{error}");
    assert!(error.contains("helpdesk"), "{error}");

    let (status, body) = with_key(&app, Method::GET, "/api/soporte/tickets/", &key, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Not a chat credential: no socket, and user-only endpoints say why.
    let ticket = app.ticket_for(&customer(1)).await;
    let refused = app.try_connect_with(&app.ws_url(ticket, &key), None).await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(401));
    let (status, body) = with_key(
        &app,
        Method::GET,
        &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["detalle"].as_str().unwrap().contains("clave"),
        "{body}"
    );

    // Unknown, tampered and revoked keys: 401 with a detalle, nothing done.
    let mut tampered = key.clone();
    tampered.pop();
    tampered.push(if key.ends_with('0') { '1' } else { '0' });
    for bad in ["sop_deadbeef.00", "otra-cosa", tampered.as_str()] {
        let (status, body) = provision(&app, bad, 9, json!({"nombre": "X", "rol": "AGENTE"})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {body}");
        assert!(body["detalle"].is_string(), "{body}");
    }
    let revoked = api_key_cli(&db, &["revoke", "helpdesk"]);
    assert!(revoked.status.success(), "{revoked:?}");
    let (status, _) = with_key(&app, Method::GET, "/api/soporte/tickets/", &key, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/soporte/usuarios/9/", &supervisor(99)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "nothing was provisioned by bad keys"
    );
    assert!(!api_key_cli(&db, &["revoke", "nadie"]).status.success());
}

#[tokio::test]
async fn provisioned_agents_are_assigned_and_transferred_to_before_they_ever_connect() {
    let (app, _db, key) = app_with_key().await;
    let (status, ana) = provision(
        &app,
        &key,
        50,
        json!({"nombre": "Ana", "rol": "AGENTE", "email": "ana@example.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ana}");
    assert_eq!(ana["activo"], true);
    let (status, ana) = provision(
        &app,
        &key,
        50,
        json!({"nombre": "Ana María", "rol": "AGENTE"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ana}");
    assert_eq!(
        (ana["nombre"].as_str(), ana["email"].as_str()),
        (Some("Ana María"), None)
    );
    provision(&app, &key, 60, json!({"nombre": "Luis", "rol": "AGENTE"})).await;
    provision(
        &app,
        &key,
        1,
        json!({"nombre": "Cliente Uno", "rol": "CLIENTE"}),
    )
    .await;

    // A ticket for a provisioned customer, assigned at once to an agent who
    // has never connected.
    let (status, ticket) = with_key(
        &app,
        Method::POST,
        "/api/soporte/tickets/",
        &key,
        Some(json!({"asunto": "Factura", "cliente": 1, "agente": 50})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    assert_eq!(ticket["agente"]["id"], 50);
    assert_eq!(ticket["cliente"]["nombre"], "Cliente Uno");
    let id = ticket["id"].as_i64().unwrap();
    // A supervisor transfers it to another agent who never connected.
    let (status, moved) = app
        .post(
            &format!("/api/soporte/tickets/{id}/chat/transfer/"),
            &supervisor(99),
            json!({"agente_id": 60, "motivo": "turno"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["agente"]["id"], 60);

    // Inactive: out of the transfer list, and refused as a target.
    provision(
        &app,
        &key,
        50,
        json!({"nombre": "Ana María", "rol": "AGENTE", "activo": false}),
    )
    .await;
    let (_, agents) = app.get("/api/soporte/agentes/", &supervisor(99)).await;
    let ids: Vec<i64> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![60], "{agents}");
    let (status, body) = app
        .post(
            &format!("/api/soporte/tickets/{id}/chat/transfer/"),
            &supervisor(99),
            json!({"agente_id": 50}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detalle"].as_str().unwrap().contains("no está activo"),
        "{body}"
    );
    let (_, still) = app
        .get(&format!("/api/soporte/tickets/{id}/"), &supervisor(99))
        .await;
    assert_eq!(
        still["agente"]["id"], 60,
        "a refused transfer changes nothing"
    );

    // Provisioning is for services and supervisors, and checks what it gets.
    let (status, _) = app
        .send(
            Method::PUT,
            "/api/soporte/usuarios/70/",
            &agent(60),
            Some(json!({"nombre": "X", "rol": "AGENTE"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in [
        json!({"nombre": "", "rol": "AGENTE"}),
        json!({"nombre": "X", "rol": "JEFE"}),
        json!({"nombre": "X", "rol": "AGENTE", "avatar": "javascript:alert(1)"}),
        json!({"nombre": "X", "rol": "AGENTE", "email": "x"}),
        json!({"nombre": "X", "rol": "AGENTE", "extra": 1}),
    ] {
        let (status, body) = provision(&app, &key, 71, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["detalle"].is_string(), "{body}");
    }
    let (status, _) = app.get("/api/soporte/usuarios/71/", &supervisor(99)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tickets_carry_the_hosts_id_and_data_and_customers_never_see_them() {
    let (app, _db, key) = app_with_key().await;
    provision(
        &app,
        &key,
        1,
        json!({"nombre": "Cliente Uno", "rol": "CLIENTE"}),
    )
    .await;
    let create = |body: Value| {
        with_key(
            &app,
            Method::POST,
            "/api/soporte/tickets/",
            &key,
            Some(body),
        )
    };
    let (status, ticket) = create(json!({
        "asunto": "Factura duplicada", "cliente": 1, "external_id": "FD-1001",
        "metadata": {"plan": "pro", "pedido": 77}
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let id = ticket["id"].as_i64().unwrap();
    assert_eq!(ticket["external_id"], "FD-1001");
    assert_eq!(ticket["metadata"]["plan"], "pro");

    // The same external_id again: 409 naming the ticket, nothing created.
    let (status, body) =
        create(json!({"asunto": "Otra", "cliente": 1, "external_id": " FD-1001 "})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["ticket"], id);
    assert!(body["detalle"].is_string());
    // Bad input: a clear 400 each, nothing created.
    for bad in [
        json!({"asunto": "X", "cliente": 1, "metadata": {"x": "y".repeat(17 * 1024)}}),
        json!({"asunto": "X", "cliente": 1, "metadata": [1, 2]}),
        json!({"asunto": "X", "cliente": 1, "external_id": "x".repeat(129)}),
        json!({"asunto": "X", "cliente": 404}),
        json!({"asunto": "X", "cliente": 1, "agente": 404}),
    ] {
        let (status, body) = create(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["detalle"].is_string(), "{body}");
    }
    let (_, all) = with_key(&app, Method::GET, "/api/soporte/tickets/", &key, None).await;
    assert_eq!(all["count"], 1, "{all}");

    // Found by the host's id.
    let (status, found) = with_key(
        &app,
        Method::GET,
        "/api/soporte/tickets/?external_id=FD-1001",
        &key,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["results"][0]["id"], id);
    let (_, none) = with_key(
        &app,
        Method::GET,
        "/api/soporte/tickets/?external_id=FD-9",
        &key,
        None,
    )
    .await;
    assert_eq!(none["count"], 0);

    // Staff read the host's data; the customer never does, on any path.
    let (_, staff) = app
        .get(&format!("/api/soporte/tickets/{id}/"), &supervisor(99))
        .await;
    assert_eq!(staff["metadata"]["pedido"], 77);
    let (_, own) = app
        .get(&format!("/api/soporte/tickets/{id}/"), &customer(1))
        .await;
    assert!(
        own.get("metadata").is_none() && own.get("external_id").is_none(),
        "{own}"
    );
    let (_, listed) = app.get("/api/soporte/tickets/", &customer(1)).await;
    assert!(listed["results"][0].get("metadata").is_none(), "{listed}");
    let (status, _) = app
        .get("/api/soporte/tickets/?external_id=FD-1001", &customer(1))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut socket = app.connect(id, &customer(1)).await;
    let hello = socket.expect("connection_established").await;
    assert!(!hello.to_string().contains("FD-1001"), "{hello}");
    assert!(!hello.to_string().contains("pedido"), "{hello}");
    // A customer cannot set them.
    let (status, _) = app
        .post(
            "/api/soporte/tickets/",
            &customer(1),
            json!({"asunto": "X", "external_id": "mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// What djangorestframework-simplejwt 5.5 mints by default: HS256, no role,
/// no name, `user_id` as a digit string.
fn simplejwt_access_token(user_id: &str) -> String {
    let now = soporte_protocol::Timestamp::now().millis() / 1000;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"token_type": "access", "exp": now + 300, "iat": now, "jti": "7c0ffee", "user_id": user_id}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_default_simplejwt_token_works_for_a_provisioned_user_and_names_what_is_missing_otherwise(
) {
    let (app, _db, key) = app_with_key().await;
    provision(
        &app,
        &key,
        42,
        json!({"nombre": "Ana Pérez", "rol": "CLIENTE"}),
    )
    .await;
    let token = simplejwt_access_token("42");
    let ticket = app.ticket_for(&token).await;
    let mut socket = app.connect(ticket, &token).await;
    let hello = socket.expect("connection_established").await;
    assert_eq!(hello["usuario"]["nombre"], "Ana Pérez");
    assert_eq!(hello["usuario"]["tipo"], "CLIENTE");
    // Not provisioned, no default role: 401 naming the claim.
    let (status, body) = app
        .get("/api/soporte/tickets/", &simplejwt_access_token("43"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["detalle"].as_str().unwrap().contains("role"), "{body}");
}

/// A socket's token is how the user is stored: a connection that names the
/// user differently renames them, one that says nothing new leaves them
/// (the admission reads the stored user and writes only a change).
#[tokio::test]
async fn each_socket_s_token_names_the_stored_user_and_a_token_without_a_name_reads_it() {
    let app = spawn_app().await;
    let ticket = app
        .ticket_for(&token(42, "Ana", soporte_protocol::Role::Customer))
        .await;
    assert_eq!(stored_name(&app, ticket).await, "Ana");
    for name in ["Ana Pérez", "Ana Pérez", "Ana"] {
        let mut socket = app
            .connect(ticket, &token(42, name, soporte_protocol::Role::Customer))
            .await;
        socket.expect("connection_established").await;
        assert_eq!(stored_name(&app, ticket).await, name);
    }
}

/// The name a token without name or role gets: the stored user's.
async fn stored_name(app: &TestApp, ticket: i64) -> String {
    let mut socket = app.connect(ticket, &simplejwt_access_token("42")).await;
    let hello = socket.expect("connection_established").await;
    hello["usuario"]["nombre"].as_str().unwrap().to_string()
}
