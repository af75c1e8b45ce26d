//! Attachments: what a file really is (by its bytes, not its name), names
//! made safe to show and to put in a header, and where the bytes live.
//!
//! The store keeps the record (name, size, type, owner ticket); the bytes go
//! to [`storage`] under a generated key, never under the user's file name.

pub mod storage;
pub mod thumbnail;

use sha2::{Digest, Sha256};
use soporte_protocol::client::is_bidi_control;

/// A type we accept, recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Png,
    Jpeg,
    Pdf,
    /// Word 97-2003: an OLE compound file.
    Doc,
    /// Office Open XML: a ZIP container.
    Docx,
}

impl FileKind {
    /// Every kind the server can check.
    pub const ALL: [FileKind; 5] = [
        FileKind::Png,
        FileKind::Jpeg,
        FileKind::Pdf,
        FileKind::Doc,
        FileKind::Docx,
    ];

    /// The kind an extension claims (`jpg` and `jpeg` are the same).
    pub fn from_extension(extension: &str) -> Option<FileKind> {
        match extension.to_ascii_lowercase().as_str() {
            "png" => Some(FileKind::Png),
            "jpg" | "jpeg" => Some(FileKind::Jpeg),
            "pdf" => Some(FileKind::Pdf),
            "doc" => Some(FileKind::Doc),
            "docx" => Some(FileKind::Docx),
            _ => None,
        }
    }

    /// What the first bytes say the file is, if it is one of ours.
    pub fn sniff(head: &[u8]) -> Option<FileKind> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
        if head.starts_with(PNG) {
            Some(FileKind::Png)
        } else if head.starts_with(b"\xFF\xD8\xFF") {
            Some(FileKind::Jpeg)
        } else if head.starts_with(b"%PDF-") {
            Some(FileKind::Pdf)
        } else if head.starts_with(OLE) {
            Some(FileKind::Doc)
        } else if head.starts_with(b"PK\x03\x04") {
            Some(FileKind::Docx)
        } else {
            None
        }
    }

    /// Bytes [`FileKind::sniff`] needs.
    pub const SNIFF_BYTES: usize = 8;

    pub fn mime(self) -> &'static str {
        match self {
            FileKind::Png => "image/png",
            FileKind::Jpeg => "image/jpeg",
            FileKind::Pdf => "application/pdf",
            FileKind::Doc => "application/msword",
            FileKind::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
        }
    }

    pub fn is_image(self) -> bool {
        matches!(self, FileKind::Png | FileKind::Jpeg)
    }

    pub fn from_mime(mime: &str) -> Option<FileKind> {
        [
            FileKind::Png,
            FileKind::Jpeg,
            FileKind::Pdf,
            FileKind::Doc,
            FileKind::Docx,
        ]
        .into_iter()
        .find(|kind| kind.mime() == mime)
    }
}

/// The extension of a file name, lower-cased (`None` without one).
pub fn extension(name: &str) -> Option<String> {
    let (stem, extension) = name.rsplit_once('.')?;
    (!stem.is_empty() && !extension.is_empty()).then(|| extension.to_ascii_lowercase())
}

/// A file name safe to store, show and send in a header: the last path
/// component only, no control or bidirectional-override characters, no
/// quotes or backslashes, at most 120 characters, never empty or a dot-name.
pub fn sanitize_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .filter(|&c| !is_bidi_control(c) && !matches!(c, '\u{200E}' | '\u{200F}'))
        .map(|c| {
            if matches!(c, '"' | '\\' | ';' | ':' | '*' | '?' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    // Dots and spaces together (". ." must not become ".").
    let trimmed = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    let safe: String = trimmed.chars().take(120).collect();
    // Cut at 120, it may end in a space: trimmed again, a name is a fixed
    // point (sanitizing it twice changes nothing).
    match safe.trim_end() {
        "" => "archivo".into(),
        safe => safe.into(),
    }
}

/// `Content-Disposition` for a download: `inline` for images, `attachment`
/// otherwise, with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987).
pub fn content_disposition(name: &str, kind: FileKind) -> String {
    let disposition = if kind.is_image() {
        "inline"
    } else {
        "attachment"
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Hex SHA-256: the download's ETag and a check on what was stored.
pub fn sha256_hex(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random token of `bytes` bytes, hex encoded.
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the OS random source works");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a credential: the store keeps this, never the credential.
pub fn credential_hash(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(token.as_bytes());
    sha256_hex(hasher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_told_by_their_bytes() {
        assert_eq!(
            FileKind::sniff(b"\x89PNG\r\n\x1a\nrest"),
            Some(FileKind::Png)
        );
        assert_eq!(FileKind::sniff(b"\xFF\xD8\xFF\xE0"), Some(FileKind::Jpeg));
        assert_eq!(FileKind::sniff(b"%PDF-1.7"), Some(FileKind::Pdf));
        assert_eq!(
            FileKind::sniff(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"),
            Some(FileKind::Doc)
        );
        assert_eq!(FileKind::sniff(b"PK\x03\x04...."), Some(FileKind::Docx));
        assert_eq!(FileKind::sniff(b"<html><script>"), None);
        assert_eq!(FileKind::from_extension("JPG"), Some(FileKind::Jpeg));
        assert_eq!(FileKind::from_extension("exe"), None);
    }

    #[test]
    fn names_are_neutralised() {
        assert_eq!(sanitize_name("../../etc/passwd.png"), "passwd.png");
        assert_eq!(sanitize_name("C:\\Users\\x\\foto.jpg"), "foto.jpg");
        assert_eq!(sanitize_name("fac\u{202E}gnp.exe"), "facgnp.exe");
        assert_eq!(
            sanitize_name("a\r\nContent-Type: text/html\".pdf"),
            // Line breaks and quotes gone; the slash makes it a path.
            "html_.pdf"
        );
        assert_eq!(sanitize_name("a\r\nX-Evil: 1\".pdf"), "aX-Evil_ 1_.pdf");
        assert_eq!(sanitize_name("..."), "archivo");
        assert_eq!(sanitize_name(".htaccess"), "htaccess");
        // Dots and spaces mixed never leave a dot-name (". ." was ".").
        assert_eq!(sanitize_name(". ."), "archivo");
        assert_eq!(sanitize_name(" . .x"), "x");
        // Cut at 120 characters without a trailing space: sanitizing twice
        // changes nothing.
        let cut = sanitize_name(&format!("{} b", "a".repeat(119)));
        assert_eq!(cut, "a".repeat(119));
        assert_eq!(sanitize_name(&cut), cut);
        assert_eq!(extension("informe.final.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension(".png"), None);
        assert_eq!(extension("sin_extension"), None);
    }

    #[test]
    fn downloads_name_the_file_safely() {
        let header = content_disposition("año fiscal.pdf", FileKind::Pdf);
        assert_eq!(
            header,
            "attachment; filename=\"a_o fiscal.pdf\"; filename*=UTF-8''a%C3%B1o%20fiscal.pdf"
        );
        assert!(content_disposition("x.png", FileKind::Png).starts_with("inline;"));
    }
}
