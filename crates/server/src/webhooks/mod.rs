//! Webhooks, the service: subscriptions are checked here before the store
//! keeps them, and each node runs one delivery [`worker`] that posts what
//! the outbox owes (see `store::webhooks` for the outbox itself).

pub mod address;
pub mod client;
pub mod signature;
pub mod worker;

use crate::config::WebhookSettings;
use crate::domain::webhooks::{check_description, check_url, new_secret, EventFilter};
use crate::domain::Refusal;
use crate::store::NewWebhook;
use soporte_protocol::webhook::WebhookInput;

/// A subscription as asked for, checked: its URL, where that leads, its
/// events and description. The secret is made here.
pub async fn new_webhook(
    input: WebhookInput,
    settings: &WebhookSettings,
) -> Result<NewWebhook, Refusal> {
    let url = input.url.trim().to_string();
    check_url(&url)?;
    let events = EventFilter::parse(&input.events)?;
    let description = input
        .description
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty());
    if let Some(description) = &description {
        check_description(description)?;
    }
    client::check_destination(&url, settings.allow_private).await?;
    Ok(NewWebhook {
        url,
        events,
        include_internal: input.include_internal,
        description,
        secret: new_secret(),
    })
}
