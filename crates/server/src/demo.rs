//! `soporte serve --demo`: a development secret if none is set, a demo
//! customer, agent and supervisor, a ticket, and links that open the web demo
//! as each of them: the customer page and the agent console.

use crate::auth::{Minter, TokenRequest};
use crate::domain::User;
use crate::state::AppState;
use crate::store::NewCustomer;
use crate::store::TicketQuery;
use crate::store::{NewTicket, TicketScope, Viewer};
use soporte_protocol::Role;
use std::path::Path;

pub const CUSTOMER: (i64, &str) = (1001, "Ana Cliente");
pub const AGENT: (i64, &str) = (2001, "Carlos Agente");
pub const SUPERVISOR: (i64, &str) = (3001, "Sofía Supervisora");

/// The development secret kept beside the database, created on first use, so
/// that demo links keep working across restarts.
pub fn dev_secret(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("demo-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= crate::auth::MIN_SECRET_BYTES {
            return Ok(existing);
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret)?;
    Ok(secret)
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(content.as_bytes())
    }
    #[cfg(not(unix))]
    std::fs::write(path, content)
}

/// Creates the demo people and ticket (once) and returns the links to print.
pub async fn seed(state: &AppState, secret: &str) -> Result<Vec<(String, String)>, String> {
    let store = &state.store;
    let record = |(id, name): (i64, &str), role| User {
        id,
        name: name.into(),
        role,
        avatar: None,
        email: None,
    };
    for (person, role) in [(AGENT, Role::Agent), (SUPERVISOR, Role::Supervisor)] {
        store
            .upsert_user(record(person, role))
            .await
            .map_err(|e| e.to_string())?;
    }
    let existing = store
        .list_tickets(TicketQuery::new(
            TicketScope::OwnedBy(CUSTOMER.0),
            Viewer::new(CUSTOMER.0, Role::Customer),
            1,
        ))
        .await
        .map_err(|e| e.to_string())?;
    let ticket = match existing.into_iter().next() {
        Some(view) => view.ticket,
        None => store
            .create_ticket(NewTicket {
                subject: "No puedo acceder a mi cuenta".into(),
                customer: NewCustomer::Described(record(CUSTOMER, Role::Customer)),
                auto_assign: Vec::new(),
                max_open: 0,
                agent: None,
                external_id: None,
                metadata: None,
                customer_limits: Default::default(),
            })
            .await
            .map_err(|e| e.to_string())?,
    };
    let minter = Minter::hs256(secret).map_err(|e| e.to_string())?;
    let token = |(id, name): (i64, &str), role| {
        minter.mint(&TokenRequest {
            id,
            name,
            role,
            avatar: None,
            ttl_seconds: 7 * 86_400,
            issuer: None,
            audience: None,
        })
    };
    // The customer page (`/`) opens the customer's ticket; the agent console
    // (`/agente/`) follows the inbox. The token is in the fragment, so it never
    // reaches a server log or a Referer; the page also accepts `?token=`.
    let base = &state.public_url;
    Ok(vec![
        (
            format!("cliente ({})", CUSTOMER.1),
            format!(
                "{base}/?ticket={}#token={}",
                ticket.id,
                token(CUSTOMER, Role::Customer)
            ),
        ),
        (
            format!("consola del agente ({})", AGENT.1),
            format!(
                "{base}/agente/?ticket={}#token={}",
                ticket.id,
                token(AGENT, Role::Agent)
            ),
        ),
        (
            format!("consola de la supervisora ({})", SUPERVISOR.1),
            format!(
                "{base}/agente/#token={}",
                token(SUPERVISOR, Role::Supervisor)
            ),
        ),
    ])
}
