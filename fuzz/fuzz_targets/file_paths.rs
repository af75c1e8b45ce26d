//! What the files API does with names and headers a client chose: the name of
//! an upload (`files::sanitize_name`, then `files::content_disposition` on
//! every download) and the `Range` header of a download
//! (`http::files::byte_range`).
//!
//! Besides "no panic":
//! - a sanitized name is never empty, at most 120 characters, the last path
//!   component only (no `/` or `\`), without control or bidirectional
//!   characters, quotes or other characters a header or a file system takes
//!   specially, never a dot-name (`.`, `..`, `.htaccess`), without spaces at
//!   either end, and sanitizing it again changes nothing;
//! - the `Content-Disposition` built from it is one line of visible ASCII with
//!   exactly the two quotes around the fallback name, so it can neither end
//!   the header nor add a parameter;
//! - a byte range, when one is served, lies inside the file: start <= end <
//!   size; a suffix range of n bytes is the last min(n, size) bytes.

#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use soporte_server::files::{content_disposition, sanitize_name, FileKind};
use soporte_server::http::files::byte_range;

#[derive(Debug)]
struct Input<'a> {
    name: &'a str,
    kind: u8,
    range: &'a str,
    size: u64,
}

impl<'a> Arbitrary<'a> for Input<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> libfuzzer_sys::arbitrary::Result<Self> {
        Ok(Input {
            name: u.arbitrary()?,
            kind: u.arbitrary()?,
            size: u.arbitrary()?,
            range: u.arbitrary()?,
        })
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(input) = Input::arbitrary(&mut Unstructured::new(bytes)) else {
        return;
    };
    check_name(
        input.name,
        FileKind::ALL[input.kind as usize % FileKind::ALL.len()],
    );
    check_range(input.range, input.size);
});

fn check_name(name: &str, kind: FileKind) {
    let safe = sanitize_name(name);
    let chars = safe.chars().count();
    assert!((1..=120).contains(&chars), "{chars} characters: {safe:?}");
    assert!(!safe.starts_with('.'), "a dot-name: {safe:?}");
    assert_eq!(safe.trim(), safe, "spaces at an end: {safe:?}");
    for c in safe.chars() {
        assert!(!c.is_control(), "control {c:?} in {safe:?}");
        assert!(
            !matches!(
                c,
                '/' | '\\' | '"' | ';' | ':' | '*' | '?' | '<' | '>' | '|'
            ),
            "{c:?} in {safe:?}"
        );
        assert!(
            !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}'),
            "bidirectional {c:?} in {safe:?}"
        );
    }
    assert_eq!(sanitize_name(&safe), safe, "not a fixed point");

    let header = content_disposition(&safe, kind);
    assert!(
        header.bytes().all(|b| (b' '..=b'~').contains(&b)),
        "not visible ASCII: {header:?}"
    );
    assert_eq!(header.matches('"').count(), 2, "{header:?}");
}

fn check_range(range: &str, size: u64) {
    let header = format!("bytes={range}");
    for asked in [Some(range), Some(header.as_str())] {
        if let Some(Ok((start, end))) = byte_range(asked, size) {
            assert!(
                start <= end && end < size,
                "{asked:?} of {size}: {start}-{end}"
            );
            if let Some(suffix) = asked
                .and_then(|a| a.strip_prefix("bytes=-"))
                .and_then(|n| n.trim().parse::<u64>().ok())
            {
                assert_eq!(end, size - 1);
                assert_eq!(end - start + 1, suffix.min(size), "{asked:?} of {size}");
            }
        }
    }
    assert_eq!(byte_range(None, size), None);
}
