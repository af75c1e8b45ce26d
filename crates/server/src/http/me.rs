//! `/api/soporte/yo/`: the signed-in person as Soporte knows them, and the
//! address they want to be emailed at (the widget asks for one when the
//! team is away).

use crate::domain::{integration, User};
use crate::edge::error::ApiError;
use crate::edge::extract::{Caller, JsonBody};
use crate::edge::routes;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use soporte_protocol::rest::{Me, MeUpdate};

pub fn router() -> Router<AppState> {
    routes(Router::new(), "/api/soporte/yo/", get(show).patch(update))
}

async fn show(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Me>, ApiError> {
    let mut user = caller.user;
    if user.email.is_none() {
        // A complete token is not completed from the stored user: an
        // address the person gave is only there.
        let stored = state.store.user(user.id).await?;
        user.email = stored.and_then(|stored| stored.email);
    }
    Ok(Json(view(&state, user)))
}

async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<MeUpdate>,
) -> Result<Json<Me>, ApiError> {
    let mut user = caller.user;
    user.email = Some(integration::email_address(&body.email)?);
    state.store.upsert_user(user.clone()).await?;
    Ok(Json(view(&state, user)))
}

fn view(state: &AppState, user: User) -> Me {
    Me {
        id: user.id,
        name: user.name,
        role: user.role,
        avatar: user.avatar,
        email: user.email,
        email_enabled: state.config.email.is_some(),
    }
}
