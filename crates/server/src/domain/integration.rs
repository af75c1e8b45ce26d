//! The rules of the host helpdesk's integration: service keys, provisioned
//! users, tickets that carry the host's own id and data.

use super::{Refusal, User};
use soporte_protocol::rest::UserInput;
use soporte_protocol::{Role, UserId};

/// Longest `external_id`.
pub const MAX_EXTERNAL_ID_CHARS: usize = 128;
/// Largest ticket `metadata`, in bytes of JSON.
pub const MAX_TICKET_METADATA_BYTES: usize = 16 * 1024;
const MAX_NAME_CHARS: usize = 100;
const MAX_URL_BYTES: usize = 2048;
const MAX_EMAIL_BYTES: usize = 254;

pub fn key_name_taken(name: &str) -> Refusal {
    Refusal::conflict(format!("Ya existe una clave de API llamada {name:?}."))
}

/// A user as the host provisions them, checked: a name, an `http(s)` avatar,
/// an address-shaped email.
pub fn provisioned_user(id: UserId, input: &UserInput) -> Result<User, Refusal> {
    if id <= 0 {
        return Err(Refusal::invalid(
            "El id de usuario debe ser un entero positivo.",
        ));
    }
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Refusal::invalid(format!(
            "nombre es obligatorio y tiene como máximo {MAX_NAME_CHARS} caracteres."
        )));
    }
    let avatar = avatar(input.avatar.as_deref())?;
    let email = match input.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(email) => Some(email_address(email)?),
    };
    Ok(User {
        id,
        name,
        role: input.role,
        avatar,
        email,
    })
}

/// An avatar people may be shown: an `http(s)` URL (never `javascript:` or
/// `data:`), or none.
pub fn avatar(url: Option<&str>) -> Result<Option<String>, Refusal> {
    match url.map(str::trim) {
        None | Some("") => Ok(None),
        Some(url) if web_url(url) => Ok(Some(url.to_string())),
        Some(_) => Err(Refusal::invalid(
            "avatar debe ser una URL http:// o https:// de hasta 2048 caracteres.",
        )),
    }
}

/// An absolute `http(s)` URL of at most 2048 bytes, without spaces or
/// control characters.
pub fn web_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    url.len() <= MAX_URL_BYTES
        && (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An address someone gave as theirs, trimmed, or why it is not one.
pub fn email_address(raw: &str) -> Result<String, Refusal> {
    let email = raw.trim();
    if plausible_email(email) {
        Ok(email.to_string())
    } else {
        Err(Refusal::invalid("email no es una dirección de correo."))
    }
}

/// One `@`, something on each side, a dot in the domain, nothing a mail
/// header could be split on.
fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_BYTES
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
}

/// The host's id of a ticket, trimmed: 1 to 128 visible characters.
pub fn external_id(raw: &str) -> Result<String, Refusal> {
    let id = raw.trim();
    if id.is_empty()
        || id.chars().count() > MAX_EXTERNAL_ID_CHARS
        || id.chars().any(char::is_control)
    {
        return Err(Refusal::invalid(format!(
            "external_id tiene entre 1 y {MAX_EXTERNAL_ID_CHARS} caracteres visibles."
        )));
    }
    Ok(id.to_string())
}

/// The host's data about a ticket, as stored: a JSON object of at most 16 KiB.
pub fn ticket_metadata(
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, Refusal> {
    let text = serde_json::Value::Object(metadata.clone()).to_string();
    if text.len() > MAX_TICKET_METADATA_BYTES {
        return Err(Refusal::invalid(format!(
            "metadata supera los {} KiB.",
            MAX_TICKET_METADATA_BYTES / 1024
        )));
    }
    Ok(text)
}

/// A ticket is created for a provisioned customer, named by id.
pub fn provisioned_customer(id: UserId, known: Option<&User>) -> Result<(), Refusal> {
    match known {
        None => Err(Refusal::invalid(format!(
            "El cliente {id} no está dado de alta: créalo con PUT /api/soporte/usuarios/{id}/."
        ))),
        Some(user) if user.role != Role::Customer => Err(Refusal::invalid(format!(
            "El usuario {id} no es un cliente."
        ))),
        Some(_) => Ok(()),
    }
}

/// An agent the host marked inactive takes no tickets.
pub fn check_active_agent(agent: &User, active: bool) -> Result<(), Refusal> {
    if active {
        Ok(())
    } else {
        Err(Refusal::invalid(format!(
            "El agente {} ({}) no está activo.",
            agent.name, agent.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, avatar: Option<&str>, email: Option<&str>) -> UserInput {
        UserInput {
            name: name.into(),
            role: Role::Agent,
            avatar: avatar.map(str::to_string),
            email: email.map(str::to_string),
            active: None,
        }
    }

    #[test]
    fn provisioned_users_have_a_name_a_web_avatar_and_a_plain_email() {
        let user = provisioned_user(
            7,
            &input("  Ana ", Some("https://x/a.png"), Some("ana@example.com")),
        )
        .unwrap();
        assert_eq!((user.id, user.name.as_str()), (7, "Ana"));
        assert!(provisioned_user(0, &input("Ana", None, None)).is_err());
        assert!(provisioned_user(7, &input(" ", None, None)).is_err());
        for avatar in [
            "javascript:alert(1)",
            "data:image/png;base64,x",
            "ftp://x",
            "https://x/a b",
        ] {
            assert!(
                provisioned_user(7, &input("Ana", Some(avatar), None)).is_err(),
                "{avatar}"
            );
        }
        for email in [
            "ana",
            "ana@localhost",
            "a@b.c\r\nBcc: x@y.z",
            "<a@b.c>",
            "a@b.c,d@e.f",
        ] {
            assert!(
                provisioned_user(7, &input("Ana", None, Some(email))).is_err(),
                "{email:?}"
            );
        }
        // Blank optional fields mean none.
        let user = provisioned_user(7, &input("Ana", Some(" "), Some(""))).unwrap();
        assert_eq!((user.avatar, user.email), (None, None));
    }

    #[test]
    fn external_ids_and_metadata_have_bounds() {
        assert_eq!(external_id("  FD-42 ").unwrap(), "FD-42");
        assert!(external_id(" ").is_err());
        assert!(external_id(&"x".repeat(129)).is_err());
        assert!(external_id("a\u{0}b").is_err());
        let mut big = serde_json::Map::new();
        big.insert("x".into(), serde_json::Value::String("y".repeat(16 * 1024)));
        assert!(ticket_metadata(&big).is_err());
        let mut small = serde_json::Map::new();
        small.insert("plan".into(), "pro".into());
        assert_eq!(ticket_metadata(&small).unwrap(), r#"{"plan":"pro"}"#);
    }

    #[test]
    fn tickets_go_to_provisioned_customers_and_active_agents() {
        let customer = User {
            id: 3,
            name: "C".into(),
            role: Role::Customer,
            avatar: None,
            email: None,
        };
        assert!(provisioned_customer(3, Some(&customer)).is_ok());
        assert!(provisioned_customer(3, None).is_err());
        let agent = User {
            role: Role::Agent,
            ..customer.clone()
        };
        assert!(provisioned_customer(3, Some(&agent)).is_err());
        assert!(check_active_agent(&agent, true).is_ok());
        assert!(check_active_agent(&agent, false).is_err());
    }
}
