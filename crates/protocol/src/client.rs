//! Frames a client sends: `{"tipo": "...", "data": {...}}`, parsed once at the
//! edge into a typed [`ClientFrame`]. Anything else becomes a [`FrameError`]
//! that the connection answers with an `error` frame.

use crate::error::{ErrorCode, FrameError};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use ts_rs::TS;

/// Longest `client_id` accepted: the seed's ids are about 30 characters.
pub const MAX_CLIENT_ID_LEN: usize = 100;
/// Largest `metadata` object accepted, in bytes of JSON.
pub const MAX_METADATA_BYTES: usize = 4096;

/// A frame from a client, after parsing. Parsed by hand ([`ClientFrame::parse`])
/// to tell each kind of bad input apart; its TypeScript shape is the envelope
/// the client sends.
#[derive(Clone, Debug, PartialEq, TS)]
#[ts(tag = "tipo", content = "data")]
pub enum ClientFrame {
    /// `mensaje`: a new text message.
    #[ts(rename = "mensaje")]
    Message(SendMessage),
    /// `typing_start`
    #[ts(rename = "typing_start")]
    TypingStart,
    /// `typing_stop`
    #[ts(rename = "typing_stop")]
    TypingStop,
    /// `heartbeat`: the client's keep-alive, answered with a `heartbeat`.
    #[ts(rename = "heartbeat")]
    Heartbeat,
    /// `file_upload_request`: permission to upload an attachment.
    #[ts(rename = "file_upload_request")]
    FileUploadRequest(FileUploadRequest),
    /// `editar_mensaje`: a new text for one of the sender's messages.
    #[ts(rename = "editar_mensaje")]
    EditMessage(EditMessage),
    /// `eliminar_mensaje`: a message taken out of the conversation.
    #[ts(rename = "eliminar_mensaje")]
    DeleteMessage(DeleteMessage),
}

/// `data` of a `mensaje` frame, as the seed's `sendMessage` builds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct SendMessage {
    #[serde(rename = "mensaje")]
    pub text: String,
    /// The client's clock when it was written; informative only (the server
    /// stamps the message when it commits it).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The client's id for this message: a retry with the same id is stored once.
    pub client_id: String,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// The message of the same ticket this one answers (shown quoted).
    #[serde(default, alias = "replyTo", skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub reply_to: Option<crate::MessageId>,
}

/// `data` of an `editar_mensaje` frame (and the body of REST `PATCH`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    #[serde(rename = "mensaje_id")]
    pub message_id: crate::MessageId,
    /// The new text, under the same rules as a new message's.
    #[serde(rename = "mensaje")]
    pub text: String,
}

/// `data` of an `eliminar_mensaje` frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct DeleteMessage {
    #[serde(rename = "mensaje_id")]
    pub message_id: crate::MessageId,
}

/// `data` of a `file_upload_request` frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct FileUploadRequest {
    #[serde(rename = "nombre_archivo")]
    pub file_name: String,
    #[serde(rename = "tamaño")]
    pub size: u64,
    #[serde(default)]
    #[serde(rename = "tipo_mime")]
    pub mime_type: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    tipo: String,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

impl ClientFrame {
    /// Parses one text frame. Structure only: content rules (length, …) are
    /// checked by [`SendMessage::validate`], since their limits are configured.
    pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
        let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|_| {
            FrameError::new(
                ErrorCode::InvalidJson,
                "El mensaje no es JSON válido con la forma {\"tipo\": ..., \"data\": {...}}.",
            )
        })?;
        match envelope.tipo.as_str() {
            "mensaje" => Ok(ClientFrame::Message(data(envelope.data)?)),
            "typing_start" => Ok(ClientFrame::TypingStart),
            "typing_stop" => Ok(ClientFrame::TypingStop),
            "heartbeat" => Ok(ClientFrame::Heartbeat),
            "file_upload_request" => Ok(ClientFrame::FileUploadRequest(data(envelope.data)?)),
            "editar_mensaje" => Ok(ClientFrame::EditMessage(data(envelope.data)?)),
            "eliminar_mensaje" => Ok(ClientFrame::DeleteMessage(data(envelope.data)?)),
            other => Err(FrameError::new(
                ErrorCode::UnknownType,
                format!("Tipo de mensaje desconocido: {}", truncate(other, 40)),
            )),
        }
    }

    /// The wire name of this frame's `tipo`.
    pub fn tipo(&self) -> &'static str {
        match self {
            ClientFrame::Message(_) => "mensaje",
            ClientFrame::TypingStart => "typing_start",
            ClientFrame::TypingStop => "typing_stop",
            ClientFrame::Heartbeat => "heartbeat",
            ClientFrame::FileUploadRequest(_) => "file_upload_request",
            ClientFrame::EditMessage(_) => "editar_mensaje",
            ClientFrame::DeleteMessage(_) => "eliminar_mensaje",
        }
    }
}

fn data<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Result<T, FrameError> {
    let raw = raw.ok_or_else(|| FrameError::new(ErrorCode::InvalidData, "Falta el campo data."))?;
    serde_json::from_str(raw.get()).map_err(|e| {
        // serde's message names the field and the expected type; the value the
        // client sent is cut out of it (an error frame is short whatever the
        // frame was), then it is safe to return.
        FrameError::new(
            ErrorCode::InvalidData,
            format!(
                "Datos inválidos: {}",
                without_value(strip_position(&e.to_string()))
            ),
        )
    })
}

fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

/// serde's `invalid type: string "<the client's text>", expected a map` without
/// the client's value: `invalid type: string, expected a map`. Its other
/// messages (missing or duplicate field, syntax) name only our own fields.
fn without_value(message: &str) -> std::borrow::Cow<'_, str> {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // The kind ("string", "integer", "floating point", …) ends where
            // the quoted value starts; the expected part is ours and comes last.
            let kind = rest
                .split(['"', '`', ','])
                .next()
                .unwrap_or_default()
                .trim_end();
            let expected = rest.rfind(", expected").map_or("", |at| &rest[at..]);
            return format!("{prefix}{kind}{expected}").into();
        }
    }
    message.into()
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

impl SendMessage {
    /// Content rules of a text message: not blank, at most `max_chars`
    /// characters (Unicode scalar values, as a person counts them), a usable
    /// `client_id`, a small `metadata` object.
    pub fn validate(&self, max_chars: usize) -> Result<(), FrameError> {
        validate_client_id(&self.client_id)?;
        validate_text(&self.text, max_chars)?;
        if let Some(metadata) = &self.metadata {
            let size = serde_json::to_string(metadata)
                .map(|s| s.len())
                .unwrap_or(usize::MAX);
            if size > MAX_METADATA_BYTES {
                return Err(FrameError::new(
                    ErrorCode::InvalidData,
                    format!("metadata supera los {MAX_METADATA_BYTES} bytes."),
                ));
            }
        }
        Ok(())
    }
}

/// Characters that show nothing: white space, and the invisible format and
/// filler characters (zero-width spaces and joiners, bidirectional controls,
/// the soft hyphen, Hangul fillers) a message made only of would look empty.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{2064}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
        )
        || is_bidi_control(c)
}

/// The bidirectional embedding, override and isolate controls (U+202A–U+202E,
/// U+2066–U+2069): they let a text display as something else than it says
/// (`exe.pdf` shown for `fdp.exe`).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` without [bidirectional controls](is_bidi_control). The marks U+200E
/// and U+200F, which right-to-left writing uses, stay.
pub fn without_bidi_controls(text: String) -> String {
    if text.contains(is_bidi_control) {
        text.replace(is_bidi_control, "")
    } else {
        text
    }
}

/// A message text: something visible, and at most `max_chars` characters.
pub fn validate_text(text: &str, max_chars: usize) -> Result<(), FrameError> {
    if text.chars().all(is_invisible) {
        return Err(FrameError::new(
            ErrorCode::EmptyMessage,
            "El mensaje está vacío.",
        ));
    }
    // Count lazily: stop as soon as the limit is passed.
    if text.len() > max_chars && text.chars().nth(max_chars).is_some() {
        return Err(FrameError::new(
            ErrorCode::MessageTooLong,
            format!("El mensaje supera el máximo de {max_chars} caracteres."),
        ));
    }
    Ok(())
}

/// A `client_id`: 1 to 100 visible ASCII characters.
pub fn validate_client_id(client_id: &str) -> Result<(), FrameError> {
    let ok = !client_id.is_empty()
        && client_id.len() <= MAX_CLIENT_ID_LEN
        && client_id.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(FrameError::new(
            ErrorCode::InvalidData,
            format!(
                "client_id debe tener entre 1 y {MAX_CLIENT_ID_LEN} caracteres ASCII visibles."
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_message_frame() {
        let frame = ClientFrame::parse(
            r#"{"tipo":"mensaje","data":{"mensaje":"Hola","timestamp":"2024-09-20T17:30:00Z","client_id":"client_1_abc","metadata":{}}}"#,
        )
        .unwrap();
        match frame {
            ClientFrame::Message(m) => {
                assert_eq!(m.text, "Hola");
                assert_eq!(m.client_id, "client_1_abc");
                m.validate(5000).unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bidirectional_overrides_are_taken_out_of_texts() {
        assert_eq!(
            without_bidi_controls("factura\u{202E}fdp.exe".into()),
            "facturafdp.exe"
        );
        assert_eq!(without_bidi_controls("\u{2067}x\u{2069} y".into()), "x y");
        let hebrew = "\u{200F}שלום, pedido 123".to_string();
        assert_eq!(without_bidi_controls(hebrew.clone()), hebrew);
    }

    #[test]
    fn a_text_of_invisible_characters_is_empty() {
        for blank in [
            "",
            "   ",
            "\u{200B}\u{200B}",
            "\u{FEFF}\n\u{2060}",
            "\u{3164}",
            "\u{202E}\u{200D}",
        ] {
            let refused = validate_text(blank, 100).unwrap_err();
            assert_eq!(refused.code, ErrorCode::EmptyMessage, "{blank:?}");
        }
        for visible in ["a", "\u{200B}a", "👍", "\u{200F}שלום"] {
            validate_text(visible, 100).unwrap();
        }
    }

    #[test]
    fn typing_and_heartbeat_frames_need_no_data() {
        assert_eq!(
            ClientFrame::parse(r#"{"tipo":"typing_start","data":{"timestamp":"x"}}"#).unwrap(),
            ClientFrame::TypingStart
        );
        assert_eq!(
            ClientFrame::parse(r#"{"tipo":"typing_stop"}"#).unwrap(),
            ClientFrame::TypingStop
        );
        assert_eq!(
            ClientFrame::parse(r#"{"tipo":"heartbeat","data":null}"#).unwrap(),
            ClientFrame::Heartbeat
        );
    }

    #[test]
    fn refuses_text_that_is_not_json() {
        assert_eq!(
            ClientFrame::parse("hola").unwrap_err().code,
            ErrorCode::InvalidJson
        );
        assert_eq!(
            ClientFrame::parse("[1,2]").unwrap_err().code,
            ErrorCode::InvalidJson
        );
        assert_eq!(
            ClientFrame::parse(r#"{"tipo":5}"#).unwrap_err().code,
            ErrorCode::InvalidJson
        );
    }

    #[test]
    fn refuses_an_unknown_tipo() {
        let err = ClientFrame::parse(r#"{"tipo":"borrar_todo","data":{}}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownType);
        assert!(err.detail.contains("borrar_todo"));
    }

    #[test]
    fn refuses_fields_of_the_wrong_type() {
        let err = ClientFrame::parse(r#"{"tipo":"mensaje","data":{"mensaje":42,"client_id":"a"}}"#)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidData);
        let err =
            ClientFrame::parse(r#"{"tipo":"mensaje","data":{"mensaje":"hola"}}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidData);
        assert!(err.detail.contains("client_id"), "{}", err.detail);
        let err = ClientFrame::parse(r#"{"tipo":"mensaje"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidData);
    }

    #[test]
    fn blank_and_overlong_texts_are_refused_at_exact_boundaries() {
        assert_eq!(
            validate_text("   \n\t", 10).unwrap_err().code,
            ErrorCode::EmptyMessage
        );
        assert!(validate_text(&"ñ".repeat(10), 10).is_ok());
        assert_eq!(
            validate_text(&"ñ".repeat(11), 10).unwrap_err().code,
            ErrorCode::MessageTooLong
        );
        assert!(validate_text(&"a".repeat(5000), 5000).is_ok());
        assert!(validate_text(&"a".repeat(5001), 5000).is_err());
    }

    #[test]
    fn client_ids_must_be_short_visible_ascii() {
        assert!(validate_client_id("client_1732_k3j2h1g0f").is_ok());
        assert!(validate_client_id("").is_err());
        assert!(validate_client_id("con espacio").is_err());
        assert!(validate_client_id(&"x".repeat(101)).is_err());
        assert!(validate_client_id(&"x".repeat(100)).is_ok());
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/client_frame.rs`): serde's
    /// message quoted the value, so a long string of the wrong type came back
    /// whole in the error frame.
    #[test]
    fn an_error_detail_never_echoes_the_clients_value() {
        let long = "x".repeat(10_000);
        for frame in [
            format!(
                r#"{{"tipo":"mensaje","data":{{"mensaje":"hola","client_id":"c","metadata":"{long}"}}}}"#
            ),
            format!(r#"{{"tipo":"mensaje","data":"{long}, expected"}}"#),
            format!(
                r#"{{"tipo":"file_upload_request","data":{{"nombre_archivo":"a","tamaño":-{}}}}}"#,
                "9".repeat(18)
            ),
            r#"{"tipo":"file_upload_request","data":{"nombre_archivo":"a","tamaño":1.5}}"#
                .to_string(),
        ] {
            let err = ClientFrame::parse(&frame).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidData);
            assert!(
                !err.detail.contains("xx")
                    && !err.detail.contains("99")
                    && !err.detail.contains("1.5"),
                "{}",
                err.detail
            );
            assert!(
                err.detail.starts_with("Datos inválidos: invalid "),
                "{}",
                err.detail
            );
            assert!(err.detail.contains(", expected "), "{}", err.detail);
        }
        let err =
            ClientFrame::parse(r#"{"tipo":"mensaje","data":{"mensaje":"hola"}}"#).unwrap_err();
        assert_eq!(err.detail, "Datos inválidos: missing field `client_id`");
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/client_frame.rs`): without
    /// serde_json's `float_roundtrip`, a long number was parsed one unit in the
    /// last place off, so the message changed on its way through the store.
    #[test]
    fn metadata_numbers_survive_a_round_trip() {
        let frame = r#"{"tipo":"mensaje","data":{"mensaje":"hola","client_id":"c-2","metadata":{"n":1222222222222222222222222222222222222222222222,"f":0.30000000000000004,"e":1.7976931348623157e308}}}"#;
        let ClientFrame::Message(first) = ClientFrame::parse(frame).unwrap() else {
            panic!("not a message");
        };
        let again = format!(
            r#"{{"tipo":"mensaje","data":{}}}"#,
            serde_json::to_string(&first).unwrap()
        );
        let ClientFrame::Message(second) = ClientFrame::parse(&again).unwrap() else {
            panic!("not a message");
        };
        assert_eq!(first, second);
        assert_eq!(
            first.metadata.unwrap()["n"].as_f64(),
            Some(1.2222222222222222e45)
        );
    }

    #[test]
    fn oversized_metadata_is_refused() {
        let mut metadata = serde_json::Map::new();
        metadata.insert("k".into(), serde_json::Value::String("v".repeat(5000)));
        let m = SendMessage {
            text: "hola".into(),
            timestamp: None,
            client_id: "c1".into(),
            metadata: Some(metadata),
            reply_to: None,
        };
        assert_eq!(m.validate(100).unwrap_err().code, ErrorCode::InvalidData);
    }
}
