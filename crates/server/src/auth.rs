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
    /// A claim the token lacks and nothing else supplies (the user is not
    /// provisioned, and no default role is configured).
    #[error("El token no es válido: falta el claim {0} y el usuario no está dado de alta.")]
    MissingClaim(String),
    /// An API key, unknown or revoked.
    #[error("La clave de API no es válida o fue revocada.")]
    BadApiKey,
}

/// What a token must have to be read at all; everything else is read by
/// name from the payload (`ClaimNames`).
#[derive(Debug, Deserialize)]
struct Payload {
    exp: i64,
    #[serde(flatten)]
    rest: UniqueClaims,
}

/// The claims besides `exp`, refusing a name given twice. RFC 7519 §4 lets a
/// verifier take the last one instead, but two parsers that pick different
/// duplicates (the host's and ours) would read two different users from one
/// signed token; refusing leaves no room for that.
#[derive(Debug, Default)]
struct UniqueClaims(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for UniqueClaims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueClaims;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueClaims, A::Error> {
                let mut claims = serde_json::Map::new();
                while let Some((name, value)) = map.next_entry::<String, serde_json::Value>()? {
                    if claims.contains_key(&name) {
                        return Err(serde::de::Error::custom(format!(
                            "claim {name:?} appears twice"
                        )));
                    }
                    claims.insert(name, value);
                }
                Ok(UniqueClaims(claims))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// What a minted token says (development tokens, `soporte token`).
#[derive(Debug, Serialize)]
struct Minted<'a> {
    sub: String,
    name: &'a str,
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    avatar: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    exp: i64,
    iat: i64,
}

/// Which claims carry the user's id, role and name. Hosts whose tokens name
/// them otherwise set these (`--jwt-user-id-claim`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// `None`: `sub`, else `user_id` (as django-rest-framework-simplejwt writes it).
    pub user_id: Option<String>,
    pub role: String,
    pub name: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames {
            user_id: None,
            role: "role".into(),
            name: "name".into(),
        }
    }
}

/// What a verified token says of its user. A missing role or name is
/// completed by [`Verifier::identity`] from the provisioned user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub id: UserId,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub avatar: Option<String>,
    pub email: Option<String>,
    pub expires_at: Timestamp,
}

impl TokenClaims {
    /// Whether the token alone says who the user is.
    pub fn is_complete(&self) -> bool {
        self.role.is_some() && self.name.is_some()
    }
}

/// A user id: a positive integer, as a JSON number or a digit string
/// (simplejwt writes `user_id` as a string since 2025).
fn user_id(value: &serde_json::Value) -> Result<UserId, AuthError> {
    let id = match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    };
    match id {
        Some(id) if id > 0 => Ok(id),
        Some(_) => Err(AuthError::Malformed("el id de usuario debe ser positivo")),
        None => Err(AuthError::Malformed(
            "el id de usuario debe ser un número entero (o sus dígitos en texto)",
        )),
    }
}

/// A claim that, when present, must be a string.
fn text(
    payload: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<Option<String>, AuthError> {
    match payload.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AuthError::Malformed(
            "formato o tipos de claims incorrectos",
        )),
    }
}

fn claims_of(payload: Payload, names: &ClaimNames) -> Result<TokenClaims, AuthError> {
    let rest = &payload.rest.0;
    let id = match &names.user_id {
        Some(claim) => rest.get(claim),
        None => rest.get("sub").or_else(|| rest.get("user_id")),
    };
    let id = match id {
        Some(value) => user_id(value)?,
        None => {
            let claim = names.user_id.as_deref().unwrap_or("sub o user_id");
            return Err(AuthError::MissingClaim(claim.to_string()));
        }
    };
    let role = match text(rest, &names.role)? {
        None => None,
        Some(role) => Some(Role::parse(&role).ok_or(AuthError::Malformed(
            "role debe ser CLIENTE, AGENTE o SUPERVISOR",
        ))?),
    };
    let name = text(rest, &names.name)?
        .map(|n| n.trim().chars().take(100).collect::<String>())
        .filter(|n| !n.is_empty());
    Ok(TokenClaims {
        id,
        name,
        role,
        // An avatar that is not a web address is left out, not refused: the
        // token is the host's, and the person can still chat.
        avatar: text(rest, "avatar")?.filter(|a| crate::domain::integration::web_url(a)),
        email: text(rest, "email")?.filter(|e| e.len() <= 254 && e.contains('@')),
        expires_at: Timestamp::from_millis(payload.exp.saturating_mul(1000)),
    })
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
    names: ClaimNames,
    /// The role of a user whose token has none and who is not provisioned.
    default_role: Option<Role>,
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
        let default_role = match &keys.jwt_default_role {
            None => None,
            Some(role) => Some(Role::parse(&role.to_ascii_uppercase()).ok_or_else(|| {
                ConfigError::new(
                    "SOPORTE_JWT_DEFAULT_ROLE (--jwt-default-role)",
                    format!("expected CLIENTE, AGENTE or SUPERVISOR, got {role:?}"),
                )
            })?),
        };
        let names = ClaimNames {
            user_id: keys.jwt_user_id_claim.clone(),
            role: keys.jwt_role_claim.clone(),
            name: keys.jwt_name_claim.clone(),
        };
        Ok(Some(Verifier {
            key,
            validation,
            names,
            default_role,
        }))
    }

    /// A verifier for an HS256 secret, with no issuer or audience.
    pub fn hs256(secret: &str) -> Result<Verifier, ConfigError> {
        let keys = KeyArgs::hs256(secret);
        Verifier::from_args(&keys)?
            .ok_or_else(|| ConfigError::new("SOPORTE_JWT_SECRET (--jwt-secret)", "no secret"))
    }

    /// The token's claims, if its signature, algorithm and times hold.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let data = jsonwebtoken::decode::<Payload>(token, &self.key, &self.validation).map_err(
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
        claims_of(data.claims, &self.names)
    }

    /// Who `claims` name: a role and name from the token when it has them,
    /// else from `provisioned` (the user as the host provisioned them), else
    /// the configured default role; without any, the token is refused
    /// naming the missing claim.
    pub fn identity(
        &self,
        claims: TokenClaims,
        provisioned: Option<&User>,
    ) -> Result<Identity, AuthError> {
        let role = claims
            .role
            .or(provisioned.map(|user| user.role))
            .or(self.default_role)
            .ok_or_else(|| AuthError::MissingClaim(self.names.role.clone()))?;
        let id = claims.id;
        let name = claims
            .name
            .or_else(|| provisioned.map(|user| user.name.clone()))
            .unwrap_or_else(|| format!("Usuario {id}"));
        Ok(Identity {
            user: User {
                id,
                name,
                role,
                avatar: claims
                    .avatar
                    .or_else(|| provisioned.and_then(|user| user.avatar.clone())),
                email: claims
                    .email
                    .or_else(|| provisioned.and_then(|user| user.email.clone())),
            },
            expires_at: claims.expires_at,
        })
    }

    /// For tokens that need no provisioned user (tests and tools): the
    /// identity of a complete token.
    pub fn verify_identity(&self, token: &str) -> Result<Identity, AuthError> {
        let claims = self.verify(token)?;
        self.identity(claims, None)
    }
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
    /// `iss` and `aud`, for a server that requires them.
    pub issuer: Option<&'a str>,
    pub audience: Option<&'a str>,
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
        let claims = Minted {
            sub: request.id.to_string(),
            name: request.name,
            role: request.role.as_str(),
            avatar: request.avatar,
            iss: request.issuer,
            aud: request.audience,
            exp: now + request.ttl_seconds as i64,
            iat: now,
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
            issuer: None,
            audience: None,
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
            .verify_identity(&mint(Role::Agent, 60))
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
            ..KeyArgs::hs256("")
        };
        let err = Verifier::from_args(&keys).unwrap_err();
        assert!(err.to_string().contains("exactly one accepted algorithm"));
    }

    #[test]
    fn short_secrets_are_refused() {
        let err = Verifier::hs256("corto").unwrap_err();
        assert!(err.to_string().contains("SOPORTE_JWT_SECRET"));
    }

    fn user(id: UserId, role: Role) -> User {
        User {
            id,
            name: "Provisioned".into(),
            role,
            avatar: Some("https://x/a.png".into()),
            email: Some("p@example.com".into()),
        }
    }

    /// Claims written in order, duplicates included (a `Value` cannot hold them).
    struct Entries(Vec<(&'static str, serde_json::Value)>);

    impl Serialize for Entries {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = serializer.serialize_map(Some(self.0.len()))?;
            for (name, value) in &self.0 {
                map.serialize_entry(name, value)?;
            }
            map.end()
        }
    }

    #[test]
    fn a_claim_given_twice_is_refused() {
        let verifier = Verifier::hs256(SECRET).unwrap();
        let signed = |entries: Vec<(&'static str, serde_json::Value)>| {
            install_crypto();
            let key = EncodingKey::from_secret(SECRET.as_bytes());
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &Entries(entries), &key).unwrap()
        };
        let base = || {
            vec![
                ("sub", serde_json::json!("7")),
                ("name", serde_json::json!("Ana")),
                ("exp", serde_json::json!(exp())),
            ]
        };
        let mut once = base();
        once.push(("role", serde_json::json!("CLIENTE")));
        assert_eq!(
            verifier.verify(&signed(once)).unwrap().role,
            Some(Role::Customer)
        );
        for twice in ["role", "sub", "exp", "user_id"] {
            let mut entries = base();
            entries.push(("role", serde_json::json!("CLIENTE")));
            entries.push((twice, serde_json::json!("SUPERVISOR")));
            entries.push((twice, serde_json::json!("8")));
            assert!(
                matches!(
                    verifier.verify(&signed(entries)),
                    Err(AuthError::Malformed(_))
                ),
                "{twice} given twice"
            );
        }
    }

    #[test]
    fn the_user_id_is_a_number_or_its_digits_in_sub_or_user_id() {
        let verifier = Verifier::hs256(SECRET).unwrap();
        let id_of = |claims: serde_json::Value| verifier.verify(&sign(claims)).map(|c| c.id);
        // simplejwt writes user_id as a digit string since 2025, as a number before.
        assert_eq!(
            id_of(serde_json::json!({"user_id": "42", "exp": exp()})),
            Ok(42)
        );
        assert_eq!(
            id_of(serde_json::json!({"user_id": 7, "exp": exp()})),
            Ok(7)
        );
        assert_eq!(id_of(serde_json::json!({"sub": "9", "exp": exp()})), Ok(9));
        assert_eq!(id_of(serde_json::json!({"sub": 9, "exp": exp()})), Ok(9));
        // sub wins over user_id when both are there.
        assert_eq!(
            id_of(serde_json::json!({"sub": "1", "user_id": 2, "exp": exp()})),
            Ok(1)
        );
        for bad in [
            serde_json::json!("x7"),
            serde_json::json!(""),
            serde_json::json!(7.5),
            serde_json::json!(-3),
            serde_json::json!("0"),
            serde_json::json!([7]),
        ] {
            assert!(
                matches!(
                    id_of(serde_json::json!({"user_id": bad, "exp": exp()})),
                    Err(AuthError::Malformed(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            id_of(serde_json::json!({"exp": exp()})),
            Err(AuthError::MissingClaim("sub o user_id".into()))
        );
    }

    #[test]
    fn a_default_simplejwt_access_token_names_a_provisioned_user() {
        let verifier = Verifier::hs256(SECRET).unwrap();
        // What djangorestframework-simplejwt 5.5 mints by default.
        let token = sign(serde_json::json!({
            "token_type": "access", "exp": exp(), "iat": exp() - 600,
            "jti": "3f9c2a0b5e", "user_id": "42"
        }));
        let claims = verifier.verify(&token).unwrap();
        assert!(!claims.is_complete());
        // Unknown and without a role: refused, naming the claim.
        assert_eq!(
            verifier.identity(claims.clone(), None),
            Err(AuthError::MissingClaim("role".into()))
        );
        let identity = verifier
            .identity(claims, Some(&user(42, Role::Agent)))
            .unwrap();
        assert_eq!(identity.user, user(42, Role::Agent));
    }

    #[test]
    fn the_token_wins_then_the_provisioned_user_then_the_default_role() {
        let mut keys = KeyArgs::hs256(SECRET);
        keys.jwt_default_role = Some("cliente".into());
        let verifier = Verifier::from_args(&keys).unwrap().unwrap();
        let token = sign(
            serde_json::json!({"sub": "5", "name": "Ana", "role": "SUPERVISOR", "exp": exp()}),
        );
        let identity = verifier
            .identity(
                verifier.verify(&token).unwrap(),
                Some(&user(5, Role::Agent)),
            )
            .unwrap();
        assert_eq!(
            (identity.user.name.as_str(), identity.user.role),
            ("Ana", Role::Supervisor)
        );
        // Avatar and email the token leaves out come from provisioning.
        assert_eq!(identity.user.email.as_deref(), Some("p@example.com"));
        let bare = sign(serde_json::json!({"sub": "6", "exp": exp()}));
        let identity = verifier
            .identity(verifier.verify(&bare).unwrap(), None)
            .unwrap();
        assert_eq!(
            (identity.user.name.as_str(), identity.user.role),
            ("Usuario 6", Role::Customer)
        );
    }

    #[test]
    fn claim_names_are_configurable() {
        let mut keys = KeyArgs::hs256(SECRET);
        keys.jwt_user_id_claim = Some("uid".into());
        keys.jwt_role_claim = "perfil".into();
        keys.jwt_name_claim = "nombre".into();
        let verifier = Verifier::from_args(&keys).unwrap().unwrap();
        let token = sign(
            serde_json::json!({"uid": "8", "perfil": "AGENTE", "nombre": "Luis", "sub": "99", "exp": exp()}),
        );
        let identity = verifier.verify_identity(&token).unwrap();
        assert_eq!(
            (
                identity.user.id,
                identity.user.role,
                identity.user.name.as_str()
            ),
            (8, Role::Agent, "Luis")
        );
        // With a claim configured, sub is not a fallback.
        let other = sign(serde_json::json!({"sub": "99", "perfil": "AGENTE", "exp": exp()}));
        assert_eq!(
            verifier.verify(&other),
            Err(AuthError::MissingClaim("uid".into()))
        );
        let mut keys = KeyArgs::hs256(SECRET);
        keys.jwt_default_role = Some("ADMIN".into());
        assert!(Verifier::from_args(&keys)
            .unwrap_err()
            .to_string()
            .contains("SOPORTE_JWT_DEFAULT_ROLE"));
    }

    #[test]
    fn claims_of_the_wrong_type_are_refused() {
        let verifier = Verifier::hs256(SECRET).unwrap();
        let bad_role = sign(serde_json::json!({"sub": "7", "role": "ADMIN", "exp": exp()}));
        assert!(matches!(
            verifier.verify(&bad_role),
            Err(AuthError::Malformed(_))
        ));
        let numeric_name =
            sign(serde_json::json!({"sub": "7", "role": "CLIENTE", "name": 5, "exp": exp()}));
        assert!(matches!(
            verifier.verify(&numeric_name),
            Err(AuthError::Malformed(_))
        ));
        let no_exp = sign(serde_json::json!({"sub": "7", "role": "CLIENTE"}));
        assert!(verifier.verify(&no_exp).is_err());
    }

    #[test]
    fn minted_tokens_carry_the_issuer_and_audience_they_are_given() {
        let mut keys = KeyArgs::hs256(SECRET);
        keys.jwt_issuer = Some("https://helpdesk.example".into());
        keys.jwt_audience = Some("soporte".into());
        let verifier = Verifier::from_args(&keys).unwrap().unwrap();
        let minter = Minter::hs256(SECRET).unwrap();
        let request = |issuer, audience| TokenRequest {
            id: 3,
            name: "Eva",
            role: Role::Customer,
            avatar: None,
            ttl_seconds: 60,
            issuer,
            audience,
        };
        let token = minter.mint(&request(Some("https://helpdesk.example"), Some("soporte")));
        assert_eq!(verifier.verify_identity(&token).unwrap().user.id, 3);
        let bare = minter.mint(&request(None, None));
        assert_eq!(
            verifier.verify(&bare),
            Err(AuthError::WrongIssuerOrAudience)
        );
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
                issuer: None,
                audience: None,
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
