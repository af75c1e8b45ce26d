//! Identity: the host helpdesk mints a JWT and the chat trusts it.
//!
//! One key, one algorithm (RFC 8725): an HS256 secret, or a PEM public key
//! whose type decides RS256, ES256 or EdDSA. A token signed with anything else,
//! `alg: none` included, is refused. `exp` is required; `nbf`, `iss` and `aud`
//! are checked when present or configured.

use crate::config::{ConfigError, KeyArgs};
use crate::domain::User;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use soporte_protocol::{Role, Timestamp, UserId};

/// HS256 secrets shorter than this are refused at start (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// Who is calling, as their token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Who the token says the caller is.
    pub user: User,
    /// When the token stops being valid: an open socket is closed then.
    pub expires_at: Timestamp,
}

/// Why a token was refused. The text is Spanish: it reaches the person in a
/// 401 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Falta el token de autenticación.")]
    Missing,
    #[error("El token ha expirado.")]
    Expired,
    #[error("El token todavía no es válido.")]
    NotYetValid,
    #[error("El token está firmado con un algoritmo no permitido.")]
    WrongAlgorithm,
    #[error("La firma del token no es válida.")]
    BadSignature,
    #[error("El emisor o la audiencia del token no son válidos.")]
    WrongIssuerOrAudience,
    #[error("El token no es válido: {0}")]
    Malformed(&'static str),
}

/// The claims we read. Types are strict: a `sub` that is not a string or a
/// `user_id` that is not a number refuses the token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    avatar: Option<String>,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

/// Makes sure jsonwebtoken has its crypto backend before the first use.
fn install_crypto() {
    // Err means one is installed already: ours.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// Checks tokens with the one configured key.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Verifier")
            .field("algorithms", &self.validation.algorithms)
            .finish()
    }
}

impl Verifier {
    /// Builds the verifier from the flags. `Ok(None)` when no key is configured.
    pub fn from_args(keys: &KeyArgs) -> Result<Option<Verifier>, ConfigError> {
        install_crypto();
        let (key, algorithm) = match (&keys.jwt_secret, &keys.jwt_public_key) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "SOPORTE_JWT_SECRET / SOPORTE_JWT_PUBLIC_KEY",
                    "set one key, not both: each token must have exactly one accepted algorithm",
                ))
            }
            (None, None) => return Ok(None),
            (Some(secret), None) => (hs256_key(secret)?.1, Algorithm::HS256),
            (None, Some(path)) => {
                const SETTING: &str = "SOPORTE_JWT_PUBLIC_KEY (--jwt-public-key)";
                let pem = std::fs::read(path).map_err(|e| {
                    ConfigError::new(SETTING, format!("cannot read {}: {e}", path.display()))
                })?;
                if let Some(bits) = rsa_bits(&pem) {
                    if bits < MIN_RSA_BITS {
                        return Err(ConfigError::new(
                                SETTING,
                                format!(
                                    "{} is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required",
                                    path.display()
                                ),
                            ));
                    }
                }
                public_key(&pem).ok_or_else(|| {
                    ConfigError::new(
                        SETTING,
                        format!(
                            "{} is not a PEM RSA, EC (P-256) or Ed25519 public key",
                            path.display()
                        ),
                    )
                })?
            }
        };
        let mut validation = Validation::new(algorithm);
        // jsonwebtoken checks `iss` and `aud` only when the token has them:
        // when configured they must also be present (a token without them
        // is refused, not waved through).
        let mut required = vec!["exp"];
        if keys.jwt_issuer.is_some() {
            required.push("iss");
        }
        if keys.jwt_audience.is_some() {
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        validation.validate_nbf = true;
        // No leeway: an expired token is refused, as the contract says; hosts
        // keep their clocks in sync (NTP) and mint tokens with some life left.
        validation.leeway = 0;
        if let Some(iss) = &keys.jwt_issuer {
            validation.set_issuer(&[iss]);
        }
        match &keys.jwt_audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Ok(Some(Verifier { key, validation }))
    }

    /// A verifier for an HS256 secret, with no issuer or audience.
    pub fn hs256(secret: &str) -> Result<Verifier, ConfigError> {
        let keys = KeyArgs {
            jwt_secret: Some(secret.to_string()),
            jwt_public_key: None,
            jwt_issuer: None,
            jwt_audience: None,
        };
        Ok(Verifier::from_args(&keys)?.expect("a secret was given"))
    }

    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    AuthError::WrongAlgorithm
                }
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                    AuthError::WrongIssuerOrAudience
                }
                // `iss` and `aud` are required only when configured.
                ErrorKind::MissingRequiredClaim(claim) if claim == "iss" || claim == "aud" => {
                    AuthError::WrongIssuerOrAudience
                }
                ErrorKind::MissingRequiredClaim(_) => AuthError::Malformed("falta exp"),
                _ => AuthError::Malformed("formato o tipos de claims incorrectos"),
            },
        )?;
        identity_from(data.claims)
    }
}

fn identity_from(claims: Claims) -> Result<Identity, AuthError> {
    let id = match (&claims.sub, claims.user_id) {
        (Some(sub), _) => sub
            .parse::<i64>()
            .map_err(|_| AuthError::Malformed("sub debe ser un número entero en texto"))?,
        (None, Some(id)) => id,
        (None, None) => return Err(AuthError::Malformed("falta sub o user_id")),
    };
    if id <= 0 {
        return Err(AuthError::Malformed("el id de usuario debe ser positivo"));
    }
    let role = claims
        .role
        .as_deref()
        .and_then(Role::parse)
        .ok_or(AuthError::Malformed(
            "role debe ser CLIENTE, AGENTE o SUPERVISOR",
        ))?;
    let name = claims
        .name
        .map(|n| n.trim().chars().take(100).collect::<String>())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("Usuario {id}"));
    let avatar = claims.avatar.filter(|a| a.len() <= 2048);
    Ok(Identity {
        user: User {
            id,
            name,
            role,
            avatar,
        },
        expires_at: Timestamp::from_millis(claims.exp.saturating_mul(1000)),
    })
}

fn hs256_key(secret: &str) -> Result<(EncodingKey, DecodingKey), ConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::new(
            "SOPORTE_JWT_SECRET (--jwt-secret)",
            format!("the HS256 secret must be at least {MIN_SECRET_BYTES} bytes"),
        ));
    }
    Ok((
        EncodingKey::from_secret(secret.as_bytes()),
        DecodingKey::from_secret(secret.as_bytes()),
    ))
}

/// Shortest RSA modulus accepted (RFC 8725 §3.5; NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;

/// The modulus size of an RSA public key in PEM (SPKI `PUBLIC KEY` or PKCS#1
/// `RSA PUBLIC KEY`); `None` for any other key.
fn rsa_bits(pem: &[u8]) -> Option<usize> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    let text = std::str::from_utf8(pem).ok()?;
    let key = rsa::RsaPublicKey::from_public_key_pem(text)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(text))
        .ok()?;
    Some(key.size() * 8)
}

/// The key and its one algorithm, from the PEM's own type.
fn public_key(pem: &[u8]) -> Option<(DecodingKey, Algorithm)> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Some((key, Algorithm::RS256));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Some((key, Algorithm::ES256));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        return Some((key, Algorithm::EdDSA));
    }
    None
}

/// What a minted token says.
pub struct TokenRequest<'a> {
    pub id: UserId,
    pub name: &'a str,
    pub role: Role,
    pub avatar: Option<&'a str>,
    pub ttl_seconds: u64,
}

/// Signs development tokens with the HS256 secret.
pub struct Minter {
    key: EncodingKey,
}

impl Minter {
    pub fn hs256(secret: &str) -> Result<Minter, ConfigError> {
        install_crypto();
        Ok(Minter {
            key: hs256_key(secret)?.0,
        })
    }

    pub fn mint(&self, request: &TokenRequest<'_>) -> String {
        let now = Timestamp::now().millis() / 1000;
        let claims = Claims {
            sub: Some(request.id.to_string()),
            user_id: None,
            name: Some(request.name.to_string()),
            role: Some(request.role.as_str().to_string()),
            avatar: request.avatar.map(str::to_string),
            exp: now + request.ttl_seconds as i64,
            iat: Some(now),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .expect("HS256 signing with a valid key cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "una-clave-de-prueba-de-al-menos-32-bytes";

    fn mint(role: Role, ttl: u64) -> String {
        Minter::hs256(SECRET).unwrap().mint(&TokenRequest {
            id: 42,
            name: "Juan Pérez",
            role,
            avatar: None,
            ttl_seconds: ttl,
        })
    }

    fn sign(claims: serde_json::Value) -> String {
        install_crypto();
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn exp() -> i64 {
        Timestamp::now().millis() / 1000 + 600
    }

    #[test]
    fn a_minted_token_verifies_to_its_identity() {
        let identity = Verifier::hs256(SECRET)
            .unwrap()
            .verify(&mint(Role::Agent, 60))
            .unwrap();
        assert_eq!(identity.user.id, 42);
        assert_eq!(identity.user.name, "Juan Pérez");
        assert_eq!(identity.user.role, Role::Agent);
    }

    #[test]
    fn a_secret_and_a_public_key_together_refuse_to_start() {
        let keys = KeyArgs {
            jwt_secret: Some(SECRET.into()),
            jwt_public_key: Some("/no/importa.pem".into()),
            jwt_issuer: None,
            jwt_audience: None,
        };
        let err = Verifier::from_args(&keys).unwrap_err();
        assert!(err.to_string().contains("exactly one accepted algorithm"));
    }

    #[test]
    fn short_secrets_are_refused() {
        let err = Verifier::hs256("corto").unwrap_err();
        assert!(err.to_string().contains("SOPORTE_JWT_SECRET"));
    }

    #[test]
    fn simplejwt_user_id_claim_is_accepted() {
        let token =
            sign(serde_json::json!({"user_id": 7, "name": "Ana", "role": "CLIENTE", "exp": exp()}));
        assert_eq!(
            Verifier::hs256(SECRET)
                .unwrap()
                .verify(&token)
                .unwrap()
                .user
                .id,
            7
        );
    }

    #[test]
    fn claims_of_the_wrong_type_are_refused() {
        let verifier = Verifier::hs256(SECRET).unwrap();
        let numeric_sub = sign(serde_json::json!({"sub": 7, "role": "CLIENTE", "exp": exp()}));
        assert!(matches!(
            verifier.verify(&numeric_sub),
            Err(AuthError::Malformed(_))
        ));
        let string_user_id =
            sign(serde_json::json!({"user_id": "7", "role": "CLIENTE", "exp": exp()}));
        assert!(verifier.verify(&string_user_id).is_err());
        let bad_role = sign(serde_json::json!({"sub": "7", "role": "ADMIN", "exp": exp()}));
        assert!(matches!(
            verifier.verify(&bad_role),
            Err(AuthError::Malformed(_))
        ));
        let no_exp = sign(serde_json::json!({"sub": "7", "role": "CLIENTE"}));
        assert!(verifier.verify(&no_exp).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let token = sign(serde_json::json!({"sub": "7", "role": "CLIENTE", "exp": exp() - 3600}));
        assert_eq!(
            Verifier::hs256(SECRET).unwrap().verify(&token),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        use base64_url as b64;
        let header = b64::encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body =
            b64::encode(format!(r#"{{"sub":"7","role":"SUPERVISOR","exp":{}}}"#, exp()).as_bytes());
        let token = format!("{header}.{body}.");
        assert!(Verifier::hs256(SECRET).unwrap().verify(&token).is_err());
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let other = Minter::hs256("otra-clave-distinta-de-al-menos-32-bytes")
            .unwrap()
            .mint(&TokenRequest {
                id: 1,
                name: "x",
                role: Role::Supervisor,
                avatar: None,
                ttl_seconds: 60,
            });
        assert_eq!(
            Verifier::hs256(SECRET).unwrap().verify(&other),
            Err(AuthError::BadSignature)
        );
    }

    /// Minimal unpadded base64url, only for building hostile tokens in tests.
    mod base64_url {
        pub fn encode(bytes: &[u8]) -> String {
            const ALPHABET: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
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
    }
}
