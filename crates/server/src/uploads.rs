//! Granting uploads: a `file_upload_request` is checked against the ticket
//! and the rules of `domain::uploads`, and answered with a single-use grant
//! the upload endpoint (`http::files`) then honours.

use crate::auth::Identity;
use crate::chat::storage_error;
use crate::domain::access::{self, TicketAccess};
use crate::domain::uploads;
use crate::files as content;
use crate::state::AppState;
use crate::store::{GrantLimits, UploadGrant};
use soporte_protocol::client::FileUploadRequest;
use soporte_protocol::server::FileUploadAuthorized;
use soporte_protocol::{FrameError, Timestamp};
use std::collections::BTreeMap;

/// The header that carries the upload credential.
pub const UPLOAD_HEADER: &str = "X-Upload-Token";

/// Answers a `file_upload_request`: checks it and grants one upload.
pub async fn authorize(
    state: &AppState,
    identity: &Identity,
    ticket: &TicketAccess,
    request: FileUploadRequest,
) -> Result<FileUploadAuthorized, FrameError> {
    access::check_write(&identity.user, ticket)?;
    let free = state.files.free_space();
    uploads::check_free_space(free, state.config.min_free_space).map_err(|r| r.frame_error())?;
    let name = content::sanitize_name(&request.file_name);
    let extension = uploads::check_request(
        content::extension(&name).as_deref(),
        request.size,
        &state.config.allowed_file_types,
        state.config.max_file_size,
    )?;
    let upload_id = content::random_token(16);
    let credential = content::random_token(32);
    let created_at = Timestamp::now();
    let expires_at = Timestamp::from_millis(
        created_at.millis() + state.config.upload_grant_ttl.as_millis() as i64,
    );
    let grant = UploadGrant {
        upload_id: upload_id.clone(),
        credential_hash: content::credential_hash(&credential),
        user: identity.user.id,
        ticket: ticket.id,
        name: name.clone(),
        size: request.size,
        extension,
        created_at,
        expires_at,
    };
    let limits = GrantLimits {
        quotas: state.config.upload_quotas,
        uploader: identity.user.role,
    };
    state
        .store
        .create_upload_grant(grant, limits)
        .await
        .map_err(storage_error)?;
    Ok(FileUploadAuthorized {
        upload_url: format!("{}/api/soporte/uploads/{upload_id}/", state.public_url),
        upload_id,
        headers: BTreeMap::from([(UPLOAD_HEADER.to_string(), credential)]),
        expires_at,
        max_size: request.size,
        name,
    })
}
