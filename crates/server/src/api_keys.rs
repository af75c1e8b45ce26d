//! Service credentials: the host helpdesk's own programs call the REST API
//! with `Authorization: Api-Key <key>` (the djangorestframework-api-key
//! convention) and act with a supervisor's rights there; they never open a
//! chat socket.
//!
//! A key is `sop_<prefix>.<secret>`: the prefix finds its row, and the store
//! keeps only the SHA-256 of the whole key. The secret is 32 random bytes, so
//! a fast hash is enough (nothing to guess, unlike a password), and comparing
//! hashes leaks nothing an attacker could use.

use crate::files::{credential_hash, random_token};
use axum::http::{header, HeaderMap};

/// A new key: what is shown once, and what is stored.
pub struct NewKey {
    /// The whole key, for the person creating it; never stored.
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

pub fn generate() -> NewKey {
    let prefix = random_token(4);
    let key = format!("sop_{prefix}.{}", random_token(32));
    NewKey {
        hash: credential_hash(&key),
        prefix,
        key,
    }
}

/// The prefix and hash of a key as presented (`None`: not shaped like ours).
pub fn parse(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix("sop_")?;
    let (prefix, secret) = rest.split_once('.')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(prefix, 8) && hex(secret, 64)).then(|| (prefix.to_string(), credential_hash(key)))
}

/// The key of `Authorization: Api-Key <key>` (the scheme in any case).
pub fn from_headers(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("api-key").then(|| key.trim())
}

/// Names people give keys: what `api-key revoke NAME` finds them by.
pub fn valid_name(name: &str) -> bool {
    let name = name.trim();
    !name.is_empty()
        && name.chars().count() <= 100
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_. ".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_to_its_row_and_nothing_else_does() {
        let new = generate();
        assert_eq!(
            parse(&new.key),
            Some((new.prefix.clone(), new.hash.clone()))
        );
        let mut tampered = new.key.clone();
        tampered.push('0');
        assert_eq!(parse(&tampered), None);
        for bad in [
            "",
            "sop_",
            "sop_abcd.ef",
            "Bearer x",
            &new.key.replace("sop_", "sk_"),
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("api-key {}", new.key).parse().unwrap(),
        );
        assert_eq!(from_headers(&headers), Some(new.key.as_str()));
        headers.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(from_headers(&headers), None);
    }

    #[test]
    fn names_are_short_and_plain() {
        assert!(valid_name("helpdesk-prod"));
        assert!(valid_name("Integración Django"));
        assert!(!valid_name(" "));
        assert!(!valid_name("a;drop"));
        assert!(!valid_name(&"x".repeat(101)));
    }
}
