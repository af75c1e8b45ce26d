//! Attachments over HTTP: the upload a `file_upload_authorized` points to,
//! and downloads.
//!
//! Upload: the single-use credential (header `X-Upload-Token`) is checked
//! before the body is read; the body streams to a scratch file while its size
//! is counted (stopping at the declared size) and its first bytes are checked
//! against the declared type ([`read_body`]); only a body read to its end is
//! kept, only a whole, fsynced file gets a record, and a refused upload leaves
//! nothing behind.

use crate::bus::Event;
use crate::domain::access::{self};
use crate::edge::error::ApiError;
use crate::edge::extract::{bearer_token, identify, QueryParams};
use crate::files::storage::PendingFile;
use crate::files::{self as content, FileKind};
use crate::hub::{Audience, Except, TicketEvent};
use crate::state::AppState;
use crate::store::{CompleteUpload, StoredFile};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use soporte_protocol::server::FileUploaded;
use soporte_protocol::*;

use crate::uploads::UPLOAD_HEADER;
/// Room for the multipart framing around the file.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

pub fn router(max_file_size: u64) -> Router<AppState> {
    let limit = (max_file_size + MULTIPART_OVERHEAD) as usize;
    let upload = post(upload).layer(DefaultBodyLimit::max(limit));
    let router = crate::edge::routes(Router::new(), "/api/soporte/uploads/{upload}/", upload);
    let router = crate::edge::routes(router, "/api/soporte/archivos/{id}/", get(download));
    crate::edge::routes(
        router,
        "/api/soporte/archivos/{id}/miniatura/",
        get(download_thumbnail),
    )
}

async fn upload(
    State(state): State<AppState>,
    Path(upload_id): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<FileUploaded>), ApiError> {
    // The credential first: nothing of the body is read for a bad one.
    let credential = headers
        .get(UPLOAD_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::Forbidden("Falta la autorización de subida.".into()))?;
    let grant = state
        .store
        .upload_grant(&upload_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if grant.grant.credential_hash != content::credential_hash(credential) {
        return Err(ApiError::Forbidden(
            "La autorización de subida no es válida.".into(),
        ));
    }
    if let Some(token) = bearer_token(&headers) {
        let caller = state
            .verifier
            .verify(token)
            .map_err(ApiError::Unauthorized)?;
        if caller.id != grant.grant.user {
            return Err(ApiError::Forbidden(
                "La autorización de subida es de otro usuario.".into(),
            ));
        }
    }
    if grant.used {
        return Err(ApiError::Conflict(
            "Esta autorización de subida ya se usó.".into(),
        ));
    }
    if grant.grant.expires_at.millis() < Timestamp::now().millis() {
        return Err(ApiError::Gone(
            "La autorización de subida ha caducado.".into(),
        ));
    }
    // The grant may predate a disk that filled since.
    crate::domain::uploads::check_free_space(
        state.files.free_space(),
        state.config.min_free_space,
    )?;
    let declared = grant.grant.size;
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if content_length.is_some_and(|length| length > declared + MULTIPART_OVERHEAD) {
        return Err(too_large(declared));
    }
    let mut multipart = multipart.map_err(|e| {
        tracing::debug!(error = %e.body_text(), "upload is not multipart");
        ApiError::BadRequest("Se esperaba un formulario multipart/form-data.".into())
    })?;
    let expected = FileKind::from_extension(&grant.grant.extension)
        .ok_or_else(|| ApiError::BadRequest("Tipo no admitido.".into()))?;
    // The whole body is read before anything is kept: an error anywhere in
    // it (a bad field after the file, a body cut short) leaves nothing.
    let mut pending = state.files.begin().await.map_err(storage_down)?;
    // On an error `pending` is dropped, and its scratch copy with it.
    let body = read_body(&mut multipart, declared, expected, &mut pending).await?;
    // The preview is made from the scratch copy, before it goes.
    let preview = if expected.is_image() {
        state.previews.make(pending.path()).await
    } else {
        None
    };
    let key = state.files.keep(pending).await.map_err(storage_down)?;
    let thumbnail_key = match preview {
        Some(bytes) => match state.files.put_beside(&key, ".miniatura.png", bytes).await {
            Ok(derived) => Some(derived),
            Err(error) => {
                tracing::warn!(%error, "could not store a thumbnail");
                None
            }
        },
        None => None,
    };
    let file = StoredFile {
        key,
        thumbnail_key,
        size: body.size,
        mime: expected.mime().to_string(),
        sha256: body.sha256,
    };
    let attach_to = body.attach_to;
    let keys: Vec<String> = std::iter::once(file.key.clone())
        .chain(file.thumbnail_key.clone())
        .collect();
    let completed = state
        .store
        .complete_upload(CompleteUpload {
            upload_id,
            credential_hash: content::credential_hash(credential),
            uploader: grant.grant.user,
            file,
            attach_to,
        })
        .await;
    let uploaded = match completed {
        Ok(uploaded) => uploaded,
        Err(error) => {
            // No record points to the files: they go.
            for key in &keys {
                state.files.remove(key).await;
            }
            return Err(error.into());
        }
    };
    let event = FileUploaded {
        message_id: uploaded.message.id,
        ticket: uploaded.message.ticket,
        file: uploaded.attachment,
    };
    state.bus.publish(Event::Room(TicketEvent {
        ticket: event.ticket,
        seq: None,
        audience: Audience::Everyone,
        except: Except::Nobody,
        text: ServerFrame::FileUploaded(event.clone()).encode().into(),
    }));
    tracing::info!(
        ticket = event.ticket,
        attachment = event.file.id,
        size = event.file.size,
        "file uploaded"
    );
    Ok((StatusCode::CREATED, Json(event)))
}

/// Where an upload's bytes go while its body is read: a scratch file in the
/// server, memory in the fuzzer (`fuzz/fuzz_targets/upload_body.rs`).
pub trait Scratch {
    fn write(
        &mut self,
        bytes: &[u8],
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

impl Scratch for PendingFile {
    fn write(
        &mut self,
        bytes: &[u8],
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        PendingFile::write(self, bytes)
    }
}

impl Scratch for Vec<u8> {
    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// What an upload's form held, read to its end.
#[derive(Debug)]
pub struct ReceivedBody {
    /// The message the file answers (`mensaje_id`), when the form names one.
    pub attach_to: Option<MessageId>,
    pub size: u64,
    pub sha256: String,
}

/// The longest `mensaje_id` field read (an i64 has at most 20 characters).
const MAX_ID_FIELD: usize = 32;

/// Reads an upload's form to its end. The first `file` field streams into
/// `scratch`, never more than `declared` bytes, its first bytes checked
/// against `expected`; `mensaje_id` is parsed; other fields are skipped.
/// On an error, what `scratch` holds is the caller's to discard.
pub async fn read_body(
    multipart: &mut Multipart,
    declared: u64,
    expected: FileKind,
    scratch: &mut impl Scratch,
) -> Result<ReceivedBody, ApiError> {
    let mut attach_to = None;
    let mut file = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, declared))?
    {
        match field.name() {
            Some("mensaje_id") => {
                let mut text = Vec::new();
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| multipart_error(e, declared))?
                {
                    text.extend_from_slice(&chunk);
                    if text.len() > MAX_ID_FIELD {
                        break;
                    }
                }
                let id = std::str::from_utf8(&text)
                    .ok()
                    .filter(|_| text.len() <= MAX_ID_FIELD)
                    .and_then(|t| t.trim().parse::<MessageId>().ok());
                attach_to = Some(id.ok_or_else(|| {
                    ApiError::BadRequest("mensaje_id debe ser un número.".into())
                })?);
            }
            Some("file") if file.is_none() => {
                file = Some(read_file(&mut field, declared, expected, scratch).await?);
            }
            _ => {}
        }
    }
    let (size, sha256) = file.ok_or_else(|| ApiError::BadRequest("Falta el campo file.".into()))?;
    Ok(ReceivedBody {
        attach_to,
        size,
        sha256,
    })
}

/// Streams the `file` field into `scratch`: its size and SHA-256.
async fn read_file(
    field: &mut axum::extract::multipart::Field<'_>,
    declared: u64,
    expected: FileKind,
    scratch: &mut impl Scratch,
) -> Result<(u64, String), ApiError> {
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(FileKind::SNIFF_BYTES);
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_error(e, declared))?
    {
        size += chunk.len() as u64;
        if size > declared {
            return Err(too_large(declared));
        }
        if head.len() < FileKind::SNIFF_BYTES {
            let take = (FileKind::SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() == FileKind::SNIFF_BYTES && FileKind::sniff(&head) != Some(expected) {
                return Err(not_that_type(expected));
            }
        }
        hasher.update(&chunk);
        scratch.write(&chunk).await.map_err(storage_down)?;
    }
    if size == 0 {
        return Err(ApiError::BadRequest("El archivo está vacío.".into()));
    }
    if head.len() < FileKind::SNIFF_BYTES && FileKind::sniff(&head) != Some(expected) {
        return Err(not_that_type(expected));
    }
    Ok((size, content::sha256_hex(hasher)))
}

fn not_that_type(expected: FileKind) -> ApiError {
    ApiError::BadBody(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "El contenido del archivo no es {} como dice su nombre.",
            expected.mime()
        ),
    )
}

fn too_large(declared: u64) -> ApiError {
    ApiError::BadBody(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("El archivo supera los {declared} bytes autorizados."),
    )
}

fn multipart_error(error: axum::extract::multipart::MultipartError, declared: u64) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(declared);
    }
    // multer's own words are English: they go to the log, not to the person.
    tracing::debug!(error = %error.body_text(), "invalid multipart body");
    ApiError::BadRequest("El cuerpo de la subida no es un formulario multipart válido.".into())
}

fn storage_down(error: std::io::Error) -> ApiError {
    tracing::error!(%error, "attachment storage failed");
    ApiError::Unavailable("No se pudo guardar el archivo. Inténtalo de nuevo.".into())
}

#[derive(Deserialize)]
struct DownloadParams {
    #[serde(default)]
    token: Option<String>,
}

/// A single byte range of a file of `size` bytes, or `Err` when unsatisfiable.
/// `None`: no (usable) range asked, send it all.
pub fn byte_range(header: Option<&str>, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header?.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // several ranges: the whole file is a valid answer
    }
    let (start, end) = spec.split_once('-')?;
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 || size == 0 {
                return Some(Err(()));
            }
            (size.saturating_sub(n), size - 1)
        }
        (start, "") => (start.parse().ok()?, size.saturating_sub(1)),
        (start, end) => (
            start.parse().ok()?,
            end.parse::<u64>().ok()?.min(size.saturating_sub(1)),
        ),
    };
    if range.0 >= size || range.0 > range.1 {
        return Some(Err(()));
    }
    Some(Ok(range))
}

async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(params): QueryParams<DownloadParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(state, id, params, headers, false).await
}

async fn download_thumbnail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(params): QueryParams<DownloadParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(state, id, params, headers, true).await
}

/// Streams attachment `id` (or its thumbnail) to a participant of its ticket.
async fn serve(
    state: AppState,
    id: String,
    params: DownloadParams,
    headers: HeaderMap,
    thumbnail: bool,
) -> Result<Response, ApiError> {
    // A bearer header, or `?token=` for links and <img> tags.
    let token = bearer_token(&headers)
        .map(str::to_string)
        .or(params.token)
        .unwrap_or_default();
    let caller = identify(&state, token.trim()).await?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let file = state
        .store
        .attachment_file(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let ticket = state
        .store
        .ticket(file.ticket)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !access::may_read(&caller.user, &ticket) {
        return Err(ApiError::Forbidden(
            "No tienes acceso a este archivo.".into(),
        ));
    }
    let (key, kind, name, etag) = if thumbnail {
        let key = file.thumbnail_key.clone().ok_or(ApiError::NotFound)?;
        let name = format!("miniatura-{}.png", file.attachment.name);
        (
            key,
            FileKind::Png,
            name,
            format!("\"{}-miniatura\"", file.sha256),
        )
    } else {
        let kind = FileKind::from_mime(&file.attachment.mime_type).unwrap_or(FileKind::Pdf);
        (
            file.key.clone(),
            kind,
            file.attachment.name.clone(),
            format!("\"{}\"", file.sha256),
        )
    };
    let mut response_headers = HeaderMap::new();
    let put = |headers: &mut HeaderMap, name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    put(&mut response_headers, header::CONTENT_TYPE, kind.mime());
    put(
        &mut response_headers,
        header::CONTENT_DISPOSITION,
        &content::content_disposition(&name, kind),
    );
    put(
        &mut response_headers,
        header::X_CONTENT_TYPE_OPTIONS,
        "nosniff",
    );
    // Never a page of our origin, whatever a browser makes of it.
    put(
        &mut response_headers,
        header::CONTENT_SECURITY_POLICY,
        "sandbox; default-src 'none'",
    );
    put(&mut response_headers, header::ETAG, &etag);
    put(
        &mut response_headers,
        header::CACHE_CONTROL,
        "private, max-age=3600",
    );
    put(&mut response_headers, header::ACCEPT_RANGES, "bytes");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    let size = state.files.size(&key).await.map_err(storage_down)?;
    // RFC 9110 §13.1.5: a Range sent with an If-Range that does not name
    // this version (our strong ETag; we send no Last-Modified, so a date
    // never does) is ignored, and the whole file is the answer.
    let current = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v.trim() == etag));
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| current);
    let (status, start, length) = match byte_range(range, size) {
        None => (StatusCode::OK, 0, size),
        Some(Ok((start, end))) => {
            put(
                &mut response_headers,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{size}"),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Some(Err(())) => {
            put(
                &mut response_headers,
                header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            );
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response());
        }
    };
    let stream = state
        .files
        .read(&key, start, length)
        .await
        .map_err(storage_down)?;
    put(
        &mut response_headers,
        header::CONTENT_LENGTH,
        &length.to_string(),
    );
    let body = Body::from_stream(stream);
    Ok((status, response_headers, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(byte_range(Some("bytes=0-99"), 1000), Some(Ok((0, 99))));
        assert_eq!(byte_range(Some("bytes=900-"), 1000), Some(Ok((900, 999))));
        assert_eq!(byte_range(Some("bytes=-100"), 1000), Some(Ok((900, 999))));
        assert_eq!(
            byte_range(Some("bytes=990-5000"), 1000),
            Some(Ok((990, 999)))
        );
        assert_eq!(byte_range(Some("bytes=1000-"), 1000), Some(Err(())));
        assert_eq!(byte_range(Some("bytes=5-2"), 1000), Some(Err(())));
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 1000), None);
        assert_eq!(byte_range(Some("items=0-1"), 1000), None);
        assert_eq!(byte_range(None, 1000), None);
    }
}
