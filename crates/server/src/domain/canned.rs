//! The team's canned responses: what a shortcut may be.

use super::Refusal;
use soporte_protocol::rest::CannedResponseInput;

const MAX_SHORTCUT_CHARS: usize = 50;

/// The input as stored (shortcut trimmed), or why it is refused.
pub fn validate(
    input: &CannedResponseInput,
    max_text: usize,
) -> Result<CannedResponseInput, Refusal> {
    let shortcut = input.shortcut.trim().to_string();
    let ok = !shortcut.is_empty()
        && shortcut.chars().count() <= MAX_SHORTCUT_CHARS
        && !shortcut.chars().any(char::is_whitespace);
    if !ok {
        return Err(Refusal::invalid(format!(
            "El atajo tiene entre 1 y {MAX_SHORTCUT_CHARS} caracteres, sin espacios."
        )));
    }
    soporte_protocol::client::validate_text(&input.text, max_text)
        .map_err(|e| Refusal::Invalid(e.detail))?;
    Ok(CannedResponseInput {
        shortcut,
        text: input.text.clone(),
    })
}

/// Another response has this shortcut already.
pub fn shortcut_taken(shortcut: &str) -> Refusal {
    Refusal::conflict(format!(
        "Ya existe una respuesta con el atajo {shortcut:?}."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(shortcut: &str, text: &str) -> CannedResponseInput {
        CannedResponseInput {
            shortcut: shortcut.into(),
            text: text.into(),
        }
    }

    #[test]
    fn shortcuts_are_one_word_of_at_most_fifty_characters() {
        assert_eq!(
            validate(&input("  /saludo ", "Hola"), 100)
                .unwrap()
                .shortcut,
            "/saludo"
        );
        for bad in ["", "  ", "dos palabras", &"x".repeat(51)] {
            assert!(
                matches!(validate(&input(bad, "Hola"), 100), Err(Refusal::Invalid(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            validate(&input("/x", " "), 100),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            validate(&input("/x", "abc"), 2),
            Err(Refusal::Invalid(_))
        ));
    }
}
