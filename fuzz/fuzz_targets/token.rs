//! Token verification: `auth::Verifier::verify_identity` with an HS256
//! secret, as the server runs it on every WebSocket upgrade and REST call
//! (for a token that names its role; others also read the provisioned user).
//!
//! The first byte picks one of three modes; besides "no panic":
//!
//! - 0, raw: the rest as a token. Only a correctly signed one may verify (its
//!   signature is the HMAC of its header and claims under the secret), with
//!   `alg: HS256`; an arbitrary string never does.
//! - 1, mutated: mint a token for fuzzer-chosen claims with `Minter`; it must
//!   verify to exactly that identity (name trimmed and cut at 100 characters,
//!   an avatar that is not an http(s) URL of at most 2048 bytes dropped, a
//!   non-positive id refused); then change one
//!   byte, chosen by the fuzzer: the result must never verify.
//! - 2, signed: fuzzer-chosen header and claims (split at the first newline;
//!   without one the header is `{"alg":"HS256","typ":"JWT"}`), correctly signed
//!   with the secret, so the claim checks behind the signature are reached.
//!   Whatever verifies has `alg: HS256`, an `exp` not past, a positive id from
//!   `sub` or `user_id` (a number or its digits), a valid role, a short
//!   non-empty name.

#![no_main]

use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use soporte_protocol::Role;
use soporte_server::auth::{AuthError, Identity, Minter, TokenRequest, Verifier};
use std::sync::LazyLock;

const SECRET: &str = "fuzz-secret-de-al-menos-32-bytes-para-hs256";
const DEFAULT_HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| Verifier::hs256(SECRET).unwrap());
static MINTER: LazyLock<Minter> = LazyLock::new(|| Minter::hs256(SECRET).unwrap());

fuzz_target!(|bytes: &[u8]| {
    let Some((&mode, rest)) = bytes.split_first() else {
        return;
    };
    match mode % 3 {
        0 => raw(rest),
        1 => mutated(rest),
        _ => signed(rest),
    }
});

fn now_seconds() -> i64 {
    soporte_protocol::Timestamp::now().millis() / 1000
}

/// The HS256 signature of `message` under the secret, base64url.
fn signature(message: &[u8]) -> String {
    LazyLock::force(&VERIFIER); // installs the crypto provider
    jsonwebtoken::crypto::sign(
        message,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn raw(bytes: &[u8]) {
    let Ok(token) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(identity) = VERIFIER.verify_identity(token) {
        let (message, sig) = token.rsplit_once('.').expect("a verified token has dots");
        assert_eq!(
            sig,
            signature(message.as_bytes()),
            "a forged token verified: {token:?}"
        );
        let (header, claims) = message.split_once('.').unwrap();
        check_accepted(&decode(header), &decode(claims), &identity);
    }
}

fn decode(segment: &str) -> Vec<u8> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in segment.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("a verified token has a non-base64url segment: {segment:?}"),
        };
        bits = bits << 6 | v as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[derive(Debug)]
struct Mutation {
    id: i64,
    name: String,
    role: u8,
    avatar: Option<String>,
    ttl_seconds: u16,
    position: usize,
    byte: u8,
}

impl<'a> Arbitrary<'a> for Mutation {
    fn arbitrary(u: &mut Unstructured<'a>) -> libfuzzer_sys::arbitrary::Result<Self> {
        Ok(Mutation {
            id: u.arbitrary()?,
            name: u.arbitrary()?,
            role: u.arbitrary()?,
            avatar: u.arbitrary()?,
            ttl_seconds: u.arbitrary()?,
            position: u.arbitrary()?,
            byte: u.arbitrary()?,
        })
    }
}

fn mutated(bytes: &[u8]) {
    let Ok(m) = Mutation::arbitrary(&mut Unstructured::new(bytes)) else {
        return;
    };
    let role = [Role::Customer, Role::Agent, Role::Supervisor][m.role as usize % 3];
    let ttl_seconds = 60 + m.ttl_seconds as u64;
    let before = now_seconds();
    let token = MINTER.mint(&TokenRequest {
        id: m.id,
        name: &m.name,
        role,
        avatar: m.avatar.as_deref(),
        ttl_seconds,
        issuer: None,
        audience: None,
    });
    let after = now_seconds();
    match VERIFIER.verify_identity(&token) {
        Ok(identity) => {
            assert!(m.id > 0, "id {} verified", m.id);
            assert_eq!(identity.user.id, m.id);
            assert_eq!(identity.user.role, role);
            let name: String = m.name.trim().chars().take(100).collect();
            let name = if name.is_empty() {
                format!("Usuario {}", m.id)
            } else {
                name
            };
            assert_eq!(identity.user.name, name);
            // Kept when it is a web address (at most 2048 bytes), else left out.
            let avatar = m
                .avatar
                .filter(|a| soporte_server::domain::integration::web_url(a));
            assert_eq!(identity.user.avatar, avatar);
            let expires = identity.expires_at.millis() / 1000;
            assert!(
                (before + ttl_seconds as i64..=after + ttl_seconds as i64).contains(&expires),
                "expires at {expires}, minted between {before} and {after} for {ttl_seconds} s"
            );
        }
        Err(error) => {
            assert!(m.id <= 0, "a minted token was refused: {error:?}");
            assert!(matches!(error, AuthError::Malformed(_)), "{error:?}");
        }
    }

    let mut changed = token.clone().into_bytes();
    let position = m.position % changed.len();
    if changed[position] == m.byte {
        return;
    }
    changed[position] = m.byte;
    let Ok(changed) = String::from_utf8(changed) else {
        return;
    };
    let verdict = VERIFIER.verify_identity(&changed);
    assert!(
        verdict.is_err(),
        "a token changed at byte {position} ({:?} -> {:?}) still verifies: {changed}",
        token.as_bytes()[position] as char,
        m.byte as char
    );
}

fn signed(bytes: &[u8]) {
    let (header, claims) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (DEFAULT_HEADER, bytes),
    };
    let message = format!("{}.{}", b64(header), b64(claims));
    let token = format!("{message}.{}", signature(message.as_bytes()));
    if let Ok(identity) = VERIFIER.verify_identity(&token) {
        check_accepted(header, claims, &identity);
    }
}

/// The parts of an accepted token checked below, read on their own (not with
/// the server's types). Typed, like the server's: serde skips unknown fields
/// without checking their UTF-8 or surrogate pairs, a `Value` would not.
#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Claims {
    exp: i64,
    nbf: Option<serde_json::Value>,
    sub: Option<serde_json::Value>,
    user_id: Option<serde_json::Value>,
    role: String,
    avatar: Option<String>,
}

/// A user id as a token may carry it: a number, or its digits as text.
fn id_of(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    }
}

/// What an accepted token's header and claims say, against the identity.
fn check_accepted(header: &[u8], claims: &[u8], identity: &Identity) {
    let header: Header = serde_json::from_slice(header).expect("header is JSON");
    assert_eq!(header.alg, "HS256", "accepted with alg {}", header.alg);
    let claims: Claims = serde_json::from_slice(claims).expect("claims are JSON");
    assert!(
        claims.exp >= now_seconds() - 1,
        "accepted with exp {}",
        claims.exp
    );
    assert_eq!(
        identity.expires_at.millis(),
        claims.exp.saturating_mul(1000)
    );
    if let Some(nbf) = claims.nbf.as_ref().and_then(|nbf| nbf.as_f64()) {
        assert!(nbf <= now_seconds() as f64 + 1.0, "accepted with nbf {nbf}");
    }
    let user = &identity.user;
    assert!(user.id > 0);
    match (&claims.sub, &claims.user_id) {
        (Some(sub), _) => assert_eq!(id_of(sub), Some(user.id)),
        (None, Some(user_id)) => assert_eq!(id_of(user_id), Some(user.id)),
        (None, None) => panic!("accepted without sub or user_id"),
    }
    assert_eq!(claims.role, user.role.as_str());
    let name = user.name.chars().count();
    assert!((1..=100).contains(&name), "name of {name} characters");
    assert!(!user.name.trim().is_empty());
    if let Some(avatar) = &user.avatar {
        assert!(soporte_server::domain::integration::web_url(avatar), "{avatar:?}");
        assert_eq!(claims.avatar.as_ref(), Some(avatar));
    }
}
