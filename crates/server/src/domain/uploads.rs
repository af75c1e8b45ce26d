//! What an upload must satisfy: the file a client asks to send (type, size,
//! the quotas it would count against, the disk it would fill) and the grant
//! it then uses (once, in time, by its owner), and which message a file may
//! be attached to.

use super::Refusal;
use soporte_protocol::{ErrorCode, FrameError, Message, Role, Timestamp, UserId};

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

/// How much may be stored; 0 in a field is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    pub bytes: u64,
    pub files: u64,
}

/// The storage limits an upload is granted within.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadQuotas {
    /// What one customer may store over all their tickets. Staff are not
    /// held to it (they answer every customer); the ticket quota and the
    /// hourly budget hold them.
    pub user: Quota,
    pub ticket: Quota,
    /// Bytes one person may be granted per hour; 0: no limit.
    pub bytes_per_hour: u64,
}

/// What is stored or promised (files kept, plus grants not used yet and
/// not expired: an upload in flight counts from its grant).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    pub bytes: u64,
    pub files: u64,
}

/// What an uploader and a ticket hold, read in the transaction that grants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadUsage {
    pub user: Held,
    pub ticket: Held,
    /// Bytes granted to the uploader in the last hour.
    pub user_last_hour: u64,
}

/// Which limit of `quota` one more file of `size` would pass, as the person
/// reads it ("4 archivos", "1024 MB").
fn passed(quota: Quota, held: Held, size: u64) -> Option<String> {
    if quota.files > 0 && held.files >= quota.files {
        return Some(format!("{} archivos", quota.files));
    }
    if quota.bytes > 0 && held.bytes.saturating_add(size) > quota.bytes {
        return Some(megabytes(quota.bytes));
    }
    None
}

/// A size as a person reads it: whole MB, KB or bytes.
fn megabytes(bytes: u64) -> String {
    match bytes {
        1_048_576.. => format!("{:.0} MB", bytes as f64 / 1_048_576.0),
        1024.. => format!("{:.0} KB", bytes as f64 / 1024.0),
        _ => format!("{bytes} bytes"),
    }
}

/// Whether one more file of `size` bytes fits the quotas.
pub fn check_quotas(
    quotas: &UploadQuotas,
    usage: &UploadUsage,
    size: u64,
    uploader: Role,
) -> Result<(), Refusal> {
    if uploader == Role::Customer {
        if let Some(limit) = passed(quotas.user, usage.user, size) {
            return Err(Refusal::QuotaExceeded(format!(
                "Has alcanzado tu límite de archivos guardados ({limit})."
            )));
        }
    }
    if let Some(limit) = passed(quotas.ticket, usage.ticket, size) {
        return Err(Refusal::QuotaExceeded(format!(
            "Este ticket ha alcanzado su límite de archivos ({limit})."
        )));
    }
    if quotas.bytes_per_hour > 0
        && usage.user_last_hour.saturating_add(size) > quotas.bytes_per_hour
    {
        return Err(Refusal::QuotaExceeded(format!(
            "Has subido demasiado en la última hora (máximo {}): inténtalo más tarde.",
            megabytes(quotas.bytes_per_hour)
        )));
    }
    Ok(())
}

/// Files are taken only while the disk keeps `floor` bytes free (`free` is
/// `None` where it cannot be measured, as on an object store).
pub fn check_free_space(free: Option<u64>, floor: u64) -> Result<(), Refusal> {
    match free {
        Some(free) if free < floor => Err(Refusal::StorageFull),
        _ => Ok(()),
    }
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
    use soporte_protocol::{MessageKind, MessageState, Person};

    #[test]
    fn quotas_hold_customers_tickets_and_the_hour() {
        let quotas = UploadQuotas {
            user: Quota {
                bytes: 100,
                files: 3,
            },
            ticket: Quota {
                bytes: 50,
                files: 2,
            },
            bytes_per_hour: 80,
        };
        let usage = |user: (u64, u64), ticket: (u64, u64), hour| UploadUsage {
            user: Held {
                bytes: user.0,
                files: user.1,
            },
            ticket: Held {
                bytes: ticket.0,
                files: ticket.1,
            },
            user_last_hour: hour,
        };
        let check = |usage, size, role| check_quotas(&quotas, &usage, size, role);
        assert!(check(usage((90, 2), (40, 1), 70), 10, Role::Customer).is_ok());
        let refused = |usage, size, role, says: &str| match check(usage, size, role) {
            Err(Refusal::QuotaExceeded(text)) => assert!(text.contains(says), "{text}"),
            other => panic!("{other:?}"),
        };
        // A customer's bytes, then files.
        refused(
            usage((91, 0), (0, 0), 0),
            10,
            Role::Customer,
            "tu límite de archivos guardados (100 bytes)",
        );
        refused(usage((0, 3), (0, 0), 0), 1, Role::Customer, "3 archivos");
        // Staff are held by the ticket and the hour, not the person quota.
        assert!(check(usage((1000, 99), (0, 0), 0), 10, Role::Agent).is_ok());
        refused(usage((0, 0), (41, 0), 0), 10, Role::Agent, "Este ticket");
        refused(usage((0, 0), (0, 2), 0), 1, Role::Supervisor, "2 archivos");
        refused(usage((0, 0), (0, 0), 71), 10, Role::Agent, "última hora");
        // No overflow near the top, and 0 is no limit.
        refused(usage((0, 0), (0, 0), u64::MAX), 1, Role::Customer, "hora");
        let none = UploadQuotas::default();
        assert!(check_quotas(
            &none,
            &usage((u64::MAX, u64::MAX), (9, 9), 9),
            9,
            Role::Customer
        )
        .is_ok());
    }

    #[test]
    fn files_wait_for_a_free_space_floor() {
        assert!(check_free_space(Some(1000), 1000).is_ok());
        assert_eq!(check_free_space(Some(999), 1000), Err(Refusal::StorageFull));
        assert!(check_free_space(None, u64::MAX).is_ok());
        assert_eq!(
            Refusal::StorageFull.frame_error().code,
            ErrorCode::InsufficientStorage
        );
    }

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
            edited_at: None,
            rev: 0,
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
