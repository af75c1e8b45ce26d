//! What an upload must satisfy: the file a client asks to send (type, size)
//! and the grant it then uses (once, in time, by its owner), and which
//! message a file may be attached to.

use super::Refusal;
use soporte_protocol::{ErrorCode, FrameError, Message, Timestamp, UserId};

/// How long after sending a message its author may still attach a file to it.
pub const ATTACH_WINDOW_MS: i64 = 10 * 60 * 1000;

/// The extension of a file a client asks to upload, if the server takes it:
/// one of `allowed` (its bytes are checked against it on arrival), not
/// empty, not over `max_size`.
pub fn check_request(
    extension: Option<&str>,
    size: u64,
    allowed: &[String],
    max_size: u64,
) -> Result<String, FrameError> {
    let extension = extension
        .filter(|e| allowed.iter().any(|a| a == e))
        .ok_or_else(|| {
            FrameError::new(
                ErrorCode::TypeNotAllowed,
                format!(
                    "Tipo de archivo no permitido. Se aceptan: {}.",
                    allowed.join(", ")
                ),
            )
        })?;
    if size == 0 {
        return Err(FrameError::new(
            ErrorCode::InvalidData,
            "El archivo está vacío.",
        ));
    }
    if size > max_size {
        return Err(FrameError::new(
            ErrorCode::FileTooLarge,
            format!(
                "El archivo supera el máximo de {} MB.",
                max_size as f64 / 1_048_576.0
            ),
        ));
    }
    Ok(extension.to_string())
}

/// A grant as the store holds it, for [`check_grant`].
#[derive(Debug, Clone, Copy)]
pub struct GrantFacts<'a> {
    pub owner: UserId,
    pub credential_hash: &'a str,
    pub expires_at: Timestamp,
    pub used: bool,
}

pub fn used_already() -> Refusal {
    Refusal::conflict("Esta autorización de subida ya se usó.")
}

/// Single use, by its owner, within its time: checked in the transaction that
/// uses the grant, so two uploads racing on one grant cannot both win.
pub fn check_grant(
    grant: GrantFacts<'_>,
    credential_hash: &str,
    uploader: UserId,
    now: Timestamp,
) -> Result<(), Refusal> {
    if grant.used {
        return Err(used_already());
    }
    if grant.credential_hash != credential_hash || grant.owner != uploader {
        return Err(Refusal::forbidden(
            "La autorización de subida no es válida para este usuario.",
        ));
    }
    if grant.expires_at < now {
        return Err(Refusal::conflict("La autorización de subida ha caducado."));
    }
    Ok(())
}

/// A file may join a message of its uploader's, not a note, sent within
/// [`ATTACH_WINDOW_MS`]; `message` is `None` when no such message is on the
/// ticket.
pub fn check_attach_to(
    message: Option<&Message>,
    uploader: UserId,
    now: Timestamp,
) -> Result<(), Refusal> {
    let message =
        message.ok_or_else(|| Refusal::invalid("mensaje_id no es un mensaje de este ticket."))?;
    if message.author.id != Some(uploader)
        || message.internal
        || now.millis() - message.timestamp.millis() > ATTACH_WINDOW_MS
    {
        return Err(Refusal::invalid(
            "Solo se puede adjuntar a un mensaje propio enviado hace menos de 10 minutos.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use soporte_protocol::{MessageKind, MessageState, Person, Role};

    fn allowed() -> Vec<String> {
        ["png", "pdf"].map(String::from).to_vec()
    }

    #[test]
    fn requests_are_judged_by_type_then_size() {
        let check = |ext: Option<&str>, size| {
            check_request(ext, size, &allowed(), 1000).map_err(|e| e.code)
        };
        assert_eq!(check(Some("png"), 1000), Ok("png".to_string()));
        assert_eq!(check(Some("exe"), 10), Err(ErrorCode::TypeNotAllowed));
        assert_eq!(check(None, 10), Err(ErrorCode::TypeNotAllowed));
        assert_eq!(check(Some("pdf"), 0), Err(ErrorCode::InvalidData));
        assert_eq!(check(Some("pdf"), 1001), Err(ErrorCode::FileTooLarge));
    }

    #[test]
    fn a_grant_is_used_once_by_its_owner_in_time() {
        let grant = |used| GrantFacts {
            owner: 1,
            credential_hash: "h",
            expires_at: Timestamp(100),
            used,
        };
        assert!(check_grant(grant(false), "h", 1, Timestamp(100)).is_ok());
        assert_eq!(
            check_grant(grant(true), "h", 1, Timestamp(0)),
            Err(used_already())
        );
        assert!(matches!(
            check_grant(grant(false), "x", 1, Timestamp(0)),
            Err(Refusal::Forbidden(_))
        ));
        assert!(matches!(
            check_grant(grant(false), "h", 2, Timestamp(0)),
            Err(Refusal::Forbidden(_))
        ));
        assert!(matches!(
            check_grant(grant(false), "h", 1, Timestamp(101)),
            Err(Refusal::Conflict(_))
        ));
    }

    #[test]
    fn files_join_only_the_uploaders_recent_messages() {
        let message = |author: i64, internal: bool, at: i64| Message {
            id: 3,
            client_id: None,
            ticket: 1,
            seq: 1,
            timestamp: Timestamp(at),
            author: Person::user(author, "x", Role::Customer, None),
            content: "x".into(),
            kind: MessageKind::Text,
            state: MessageState::Delivered,
            attachments: vec![],
            reply_to: None,
            edited: false,
            deleted: false,
            metadata: Default::default(),
            internal,
        };
        let now = Timestamp(ATTACH_WINDOW_MS + 1000);
        assert!(check_attach_to(Some(&message(1, false, 1000)), 1, now).is_ok());
        for refused in [
            None,
            Some(message(2, false, 1000)),
            Some(message(1, true, 1000)),
            Some(message(1, false, 999)),
        ] {
            assert!(
                matches!(
                    check_attach_to(refused.as_ref(), 1, now),
                    Err(Refusal::Invalid(_))
                ),
                "{refused:?}"
            );
        }
    }
}
