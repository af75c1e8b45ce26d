//! `GET /api/soporte/buscar/?q=…&estado=&agente=&cliente=&desde=&hasta=&page=`:
//! search over message texts, subjects, customer names and ticket ids, in
//! what the caller may see (a customer: their tickets, never notes; an
//! agent: theirs and the queue; supervisors and services: all). The store
//! finds candidates; `domain::search` ranks them and says where they match.

use crate::domain::search::{self, Field};
use crate::edge::error::ApiError;
use crate::edge::extract::{Actor, QueryParams};
use crate::edge::routes;
use crate::http::team::instant;
use crate::http::tickets::{scope_of, viewer_of};
use crate::state::AppState;
use crate::store::search::SearchScope;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use soporte_protocol::rest::{SearchField, SearchHit, SearchResults};
use soporte_protocol::{TicketState, UserId};
use std::collections::hash_map::{Entry, HashMap};

pub fn router() -> Router<AppState> {
    routes(Router::new(), "/api/soporte/buscar/", get(find))
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    q: String,
    #[serde(default)]
    estado: Option<TicketState>,
    #[serde(default)]
    agente: Option<UserId>,
    #[serde(default)]
    cliente: Option<UserId>,
    #[serde(default)]
    desde: Option<String>,
    #[serde(default)]
    hasta: Option<String>,
    #[serde(default)]
    page: Option<u32>,
}

/// Pages beyond this are not served (refine the search instead).
const MAX_PAGE: u32 = 50;

async fn find(
    State(state): State<AppState>,
    actor: Actor,
    QueryParams(params): QueryParams<Params>,
) -> Result<Json<SearchResults>, ApiError> {
    let query = search::parse(&params.q)?;
    let page = params.page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ApiError::BadRequest(format!(
            "page va de 1 a {MAX_PAGE}; afina la búsqueda para ver más."
        )));
    }
    let scope = SearchScope {
        scope: scope_of(&actor),
        sees_internal: viewer_of(&actor).sees_internal,
        state: params.estado,
        agent: params.agente,
        customer: params.cliente,
        from: instant("desde", params.desde.as_deref())?,
        to: instant("hasta", params.hasta.as_deref())?,
    };
    let mut candidates = state
        .store
        .search(query.whole_words(), params.q.clone(), scope.clone())
        .await?;
    let messages = candidates
        .iter()
        .filter(|c| c.field == Field::Message)
        .count();
    if query.widen(messages) {
        candidates = state
            .store
            .search(query.clone(), params.q.clone(), scope)
            .await?;
    }
    let ranked = search::rank(&query, candidates);
    let skip = (page as usize - 1) * search::PAGE;
    let more = ranked.len() > skip + search::PAGE;
    let mut results = Vec::new();
    // Several hits may share a ticket: each is read once.
    let mut tickets = HashMap::new();
    for (hit, _) in ranked.into_iter().skip(skip).take(search::PAGE) {
        if let Entry::Vacant(slot) = tickets.entry(hit.ticket) {
            slot.insert(state.store.ticket(hit.ticket).await?);
        }
        // Found moments ago in what the caller sees: gone now means erased.
        let Some(ticket) = tickets[&hit.ticket].clone() else {
            continue;
        };
        let (text, matches) = search::snippet(&query, &hit.text);
        results.push(SearchHit {
            ticket,
            field: match hit.field {
                Field::Subject => SearchField::Subject,
                Field::Customer => SearchField::Customer,
                Field::Message => SearchField::Message,
            },
            message_id: hit.message.map(|(id, _)| id),
            seq: hit.message.map(|(_, seq)| seq),
            text,
            matches: matches
                .into_iter()
                .map(|[a, b]| [a as u32, b as u32])
                .collect(),
            at: hit.at,
        });
    }
    Ok(Json(SearchResults {
        results,
        page,
        more,
    }))
}
