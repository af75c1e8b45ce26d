//! The body of an upload (`http::files::read_body`): axum's multipart parser
//! with our limits and checks on top, fed a body the fuzzer chose, for a
//! fuzzer-chosen declared size and file kind (the grant's).
//!
//! Input: byte 0 picks the kind, bytes 1-2 the declared size (little endian),
//! the rest is the body, sent as `multipart/form-data; boundary=b`.
//!
//! Besides "no panic" and no hang:
//! - the scratch never holds more than the declared size;
//! - an accepted body's file is not empty, its size and SHA-256 are those of
//!   the bytes written, and its first bytes are of the declared kind;
//! - a refused one is a client error: 400, 413 or 415 (never a 5xx: the
//!   scratch here cannot fail).

#![no_main]

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::Request;
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use soporte_server::files::{sha256_hex, FileKind};
use soporte_server::http::files::read_body;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
}

fuzz_target!(|data: &[u8]| {
    let [kind, low, high, body @ ..] = data else {
        return;
    };
    let expected = FileKind::ALL[usize::from(*kind) % FileKind::ALL.len()];
    let declared = u64::from(u16::from_le_bytes([*low, *high]));
    let request = Request::builder()
        .method("POST")
        .header("content-type", "multipart/form-data; boundary=b")
        .body(Body::from(body.to_vec()))
        .expect("a request");
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let mut multipart = Multipart::from_request(request, &())
                .await
                .expect("the content type is multipart");
            let mut scratch = Vec::new();
            let outcome = read_body(&mut multipart, declared, expected, &mut scratch).await;
            assert!(
                scratch.len() as u64 <= declared,
                "wrote past the declared size"
            );
            match outcome {
                Ok(received) => {
                    assert!(received.size > 0);
                    assert_eq!(received.size, scratch.len() as u64);
                    assert_eq!(
                        received.sha256,
                        sha256_hex(Sha256::new_with_prefix(&scratch))
                    );
                    let head = &scratch[..scratch.len().min(FileKind::SNIFF_BYTES)];
                    assert_eq!(FileKind::sniff(head), Some(expected));
                }
                Err(error) => {
                    let status = error.into_response().status().as_u16();
                    assert!(matches!(status, 400 | 413 | 415), "status {status}");
                }
            }
        })
    });
});
