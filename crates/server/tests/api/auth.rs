use crate::helpers::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use soporte_protocol::Role;
use soporte_server::auth::Verifier;
use soporte_server::config::KeyArgs;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn now() -> i64 {
    soporte_protocol::Timestamp::now().millis() / 1000
}

fn sign(algorithm: Algorithm, key: &EncodingKey, claims: serde_json::Value) -> String {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    jsonwebtoken::encode(&Header::new(algorithm), &claims, key).unwrap()
}

fn hs256(claims: serde_json::Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        claims,
    )
}

async fn ws_status(app: &TestApp, ticket: i64, token: &str) -> (u16, serde_json::Value) {
    match app.try_connect_with(&app.ws_url(ticket, token), None).await {
        Ok(_) => (101, serde_json::Value::Null),
        Err(refused) => refused,
    }
}

#[tokio::test]
async fn forged_expired_and_alg_none_tokens_are_refused_with_401_before_the_upgrade() {
    let app = spawn_app().await;
    let ticket = app.ticket_for(&customer(1)).await;
    let claims = json!({"sub": "1", "name": "Ana", "role": "CLIENTE", "exp": now() + 600});

    let forged = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"otra-clave-que-no-es-la-del-servidor"),
        claims.clone(),
    );
    let expired = hs256(json!({"sub": "1", "name": "Ana", "role": "CLIENTE", "exp": now() - 3600}));
    let just_expired =
        hs256(json!({"sub": "1", "name": "Ana", "role": "CLIENTE", "exp": now() - 2}));
    let none = {
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        let payload = hs256(claims.clone()).split('.').nth(1).unwrap().to_string();
        format!("{header}.{payload}.")
    };
    for (what, token) in [
        ("forged", forged),
        ("expired", expired),
        ("just expired", just_expired),
        ("alg none", none),
        ("garbage", "x.y.z".into()),
        ("empty", String::new()),
    ] {
        let (status, body) = ws_status(&app, ticket, &token).await;
        assert_eq!(status, 401, "{what} token on the WebSocket");
        assert!(
            body["detalle"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {body}"
        );
        let (status, body) = app
            .get(&format!("/api/soporte/tickets/{ticket}/"), &token)
            .await;
        assert_eq!(status, 401, "{what} token on REST");
        assert!(body["detalle"].is_string());
    }
    let (status, _) = ws_status(&app, ticket, &customer(1)).await;
    assert_eq!(status, 101, "the right token still works");
}

#[tokio::test]
async fn a_request_without_a_token_is_refused_with_401() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/api/soporte/tickets/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["detalle"], "Falta el token de autenticación.");
    let url = format!("ws://{}/ws/soporte/ticket/1/", app.addr);
    assert_eq!(app.try_connect_with(&url, None).await.err().unwrap().0, 401);
}

#[tokio::test]
async fn simplejwt_tokens_with_a_numeric_user_id_are_accepted() {
    let app = spawn_app().await;
    let token = hs256(
        json!({"user_id": 77, "name": "Ana", "role": "CLIENTE", "exp": now() + 600, "token_type": "access"}),
    );
    let ticket = app.ticket_for(&token).await;
    let mut ws = app.connect(ticket, &token).await;
    let hello = ws.expect("connection_established").await;
    assert_eq!(hello["usuario"]["id"], 77);
}

async fn public_key_app(public: &str) -> TestApp {
    let keys = KeyArgs {
        jwt_secret: None,
        jwt_public_key: Some(fixture(public)),
        jwt_issuer: None,
        jwt_audience: None,
        ..soporte_server::config::KeyArgs::hs256("")
    };
    spawn_with_verifier(Verifier::from_args(&keys).unwrap().unwrap(), |_| {}).await
}

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_verify_against_their_public_keys_only() {
    let claims = json!({"sub": "5", "name": "Ana", "role": "CLIENTE", "exp": now() + 600});
    let cases = [
        (
            "rsa_public.pem",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa_private.pem")).unwrap()).unwrap(),
        ),
        (
            "ec_public.pem",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&std::fs::read(fixture("ec_private.pem")).unwrap()).unwrap(),
        ),
        (
            "ed_public.pem",
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(&std::fs::read(fixture("ed_private.pem")).unwrap()).unwrap(),
        ),
    ];
    for (public, algorithm, private) in cases {
        let app = public_key_app(public).await;
        let good = sign(algorithm, &private, claims.clone());
        let (status, body) = app.get("/api/soporte/tickets/", &good).await;
        assert_eq!(status, 200, "{public}: {body}");
        // The same claims as HS256 signed with the public key's bytes
        // (algorithm confusion) are refused.
        let pem = std::fs::read(fixture(public)).unwrap();
        let confused = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(&pem),
            claims.clone(),
        );
        let (status, _) = app.get("/api/soporte/tickets/", &confused).await;
        assert_eq!(status, 401, "{public}: HS256 with the public key as secret");
        let hs = token(5, "Ana", Role::Customer);
        assert_eq!(
            app.get("/api/soporte/tickets/", &hs).await.0,
            401,
            "{public}: HS256 token"
        );
        app.stop().await;
    }
}

#[test]
fn an_rsa_key_under_2048_bits_refuses_to_start() {
    let keys = |file: &str| KeyArgs {
        jwt_secret: None,
        jwt_public_key: Some(fixture(file)),
        jwt_issuer: None,
        jwt_audience: None,
        ..soporte_server::config::KeyArgs::hs256("")
    };
    let Err(error) = Verifier::from_args(&keys("rsa1024_public.pem")) else {
        panic!("a 1024-bit key is refused");
    };
    let error = error.to_string();
    assert!(error.contains("SOPORTE_JWT_PUBLIC_KEY"), "{error}");
    assert!(error.contains("1024-bit"), "{error}");
    assert!(Verifier::from_args(&keys("rsa_public.pem")).is_ok());
}

#[tokio::test]
async fn a_token_of_an_unknown_role_is_refused() {
    let app = spawn_app().await;
    let token = hs256(json!({"sub": "5", "name": "Ana", "role": "ADMIN", "exp": now() + 600}));
    let (status, body) = app.get("/api/soporte/tickets/", &token).await;
    assert_eq!(status, 401);
    assert!(body["detalle"].as_str().unwrap().contains("role"));
}
