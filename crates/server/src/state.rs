//! What every request and session shares: configuration, the store, the
//! hubs and the bus, presence, limits. Built by `app`, read by the edges
//! (`http`, `ws`) and the services they call (`chat`, `team`).

use crate::auth::Verifier;
use crate::bus::Bus;
use crate::cluster::Redis;
use crate::config::Config;
use crate::files::storage::FileStore;
use crate::hub::inbox::Inboxes;
use crate::hub::Hub;
use crate::presence::DynPresence;
use crate::rate::MessageBudgets;
use crate::slots::Slots;
use crate::store::DynStore;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a request or a session needs; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Shared>);

pub struct Shared {
    pub config: Config,
    pub verifier: Verifier,
    pub store: DynStore,
    pub hub: Arc<Hub>,
    /// Agents' inboxes (who follows many tickets at once).
    pub inboxes: Arc<Inboxes>,
    pub bus: Arc<dyn Bus>,
    /// Who is connected where, across the deployment.
    pub presence: DynPresence,
    /// Cluster mode: this node's link to the other nodes.
    pub redis: Option<Arc<Redis>>,
    /// Where attachment bytes live.
    pub files: FileStore,
    /// Image previews, a bounded number decoded at once.
    pub previews: crate::files::thumbnail::Previews,
    pub slots: Slots,
    /// Each user's message budget on this node, spent by sockets and REST alike.
    pub message_budgets: MessageBudgets,
    /// Base of the URLs handed to clients, without a trailing slash.
    pub public_url: String,
    /// Browser origins allowed to open a WebSocket or call the API.
    pub allowed_origins: Vec<String>,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
    /// Tracks sessions so shutdown can wait for them.
    pub sessions: TaskTracker,
    pub(crate) next_conn: AtomicU64,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }
}
