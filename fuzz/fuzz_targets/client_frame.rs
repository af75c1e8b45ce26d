//! Frame parsing and validation: what every WebSocket text frame goes through.
//!
//! bytes -> UTF-8 text -> `ClientFrame::parse` -> for a `mensaje`,
//! `SendMessage::validate` at a few limits. Besides "no panic", it checks:
//!
//! - a parsed frame agrees with a plain JSON reading of the same text (the
//!   text is a JSON object and its `tipo` is the frame's);
//! - a parsed frame survives re-serialization: serialize its `data`, wrap it in
//!   an envelope, parse again, get the same frame;
//! - `validate` gives the same verdict (and `codigo`) as a naive reference that
//!   counts characters the obvious way; what it accepts respects every limit it
//!   was validated against;
//! - a refused frame's `detalle` is short whatever the input (an error frame is
//!   never a large echo of what the client sent).

#![no_main]

use libfuzzer_sys::fuzz_target;
use soporte_protocol::client::{FileUploadRequest, MAX_CLIENT_ID_LEN, MAX_METADATA_BYTES};
use soporte_protocol::{ClientFrame, ErrorCode, FrameError, SendMessage};

/// The server's default `max_message_length`, and limits around small counts.
const LIMITS: [usize; 5] = [0, 1, 4, 64, 5000];

/// Longest `detalle` of an error frame, in characters.
const MAX_DETAIL_CHARS: usize = 200;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match ClientFrame::parse(text) {
        Err(error) => check_error(&error),
        Ok(frame) => {
            // Read as a plain JSON value, the text says the same `tipo`. (A
            // field the frame ignores may hold an unpaired surrogate escape,
            // `"\uD800"`: valid JSON grammar (RFC 8259 §8.2), skipped by
            // serde, refused by `Value`; then there is nothing to compare.)
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
                assert!(value.is_object());
                assert_eq!(
                    value.get("tipo").and_then(|t| t.as_str()),
                    Some(frame.tipo()),
                    "parsed tipo differs from the text's"
                );
            }
            let data = match &frame {
                ClientFrame::Message(message) => {
                    for max_chars in LIMITS {
                        check_validate(message, max_chars);
                    }
                    Some(serde_json::to_string(message).expect("serializable"))
                }
                ClientFrame::FileUploadRequest(request) => {
                    Some(serde_json::to_string::<FileUploadRequest>(request).expect("serializable"))
                }
                _ => None,
            };
            let again = match data {
                Some(data) => format!(r#"{{"tipo":"{}","data":{data}}}"#, frame.tipo()),
                None => format!(r#"{{"tipo":"{}"}}"#, frame.tipo()),
            };
            let reparsed = ClientFrame::parse(&again).expect("a re-serialized frame parses");
            assert_eq!(reparsed, frame, "round trip changed the frame: {again}");
        }
    }
});

fn check_error(error: &FrameError) {
    assert!(
        error.detail.chars().count() <= MAX_DETAIL_CHARS,
        "error detail of {} characters: {:?}",
        error.detail.chars().count(),
        error.detail
    );
}

fn check_validate(message: &SendMessage, max_chars: usize) {
    let verdict = message.validate(max_chars);
    let expected = reference(message, max_chars);
    assert_eq!(
        verdict.as_ref().map(|_| ()).map_err(|e| e.code),
        expected,
        "validate({max_chars}) disagrees with the reference"
    );
    match verdict {
        Err(error) => check_error(&error),
        Ok(()) => {
            // What passes respects every limit it was validated against.
            assert!(!message.text.trim().is_empty());
            assert!(message.text.chars().count() <= max_chars);
            assert!((1..=MAX_CLIENT_ID_LEN).contains(&message.client_id.len()));
            assert!(message
                .client_id
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b)));
            if let Some(metadata) = &message.metadata {
                assert!(serde_json::to_string(metadata).unwrap().len() <= MAX_METADATA_BYTES);
            }
        }
    }
}

/// Characters that show nothing, one by one: zero-width spaces and joiners,
/// bidirectional marks and controls, the soft hyphen, Hangul fillers.
const INVISIBLE: &[char] = &[
    '\u{00AD}', '\u{034F}', '\u{115F}', '\u{1160}', '\u{180E}', '\u{200B}', '\u{200C}',
    '\u{200D}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
    '\u{202E}', '\u{2060}', '\u{2061}', '\u{2062}', '\u{2063}', '\u{2064}', '\u{2066}',
    '\u{2067}', '\u{2068}', '\u{2069}', '\u{3164}', '\u{FEFF}', '\u{FFA0}',
];

/// The rules of `SendMessage::validate`, written the slow, obvious way, in its order.
fn reference(message: &SendMessage, max_chars: usize) -> Result<(), ErrorCode> {
    let id = &message.client_id;
    if id.is_empty()
        || id.len() > MAX_CLIENT_ID_LEN
        || id
            .chars()
            .any(|c| !c.is_ascii() || c.is_ascii_control() || c == ' ')
    {
        return Err(ErrorCode::InvalidData);
    }
    if message
        .text
        .chars()
        .all(|c| c.is_whitespace() || INVISIBLE.contains(&c))
    {
        return Err(ErrorCode::EmptyMessage);
    }
    if message.text.chars().count() > max_chars {
        return Err(ErrorCode::MessageTooLong);
    }
    if let Some(metadata) = &message.metadata {
        if serde_json::to_vec(metadata).unwrap().len() > MAX_METADATA_BYTES {
            return Err(ErrorCode::InvalidData);
        }
    }
    Ok(())
}
