//! Cluster mode: several `soporte serve` nodes sharing one database and one
//! Redis (`--redis-url`).
//!
//! The database stays the only source of truth. Redis carries what is
//! ephemeral or derived, and every part of it here degrades to "this node
//! alone" when Redis is unreachable, never to a lost or false confirmation:
//! - [`bus`]: every event a node produces reaches the other nodes through
//!   one pub/sub channel; rooms deliver messages in `seq` order and fill any
//!   gap (a dropped publish, a subscription that was down, a node that died
//!   before publishing) from the database.
//! - [`presence`]: who is connected to which ticket and which agents have an
//!   inbox open, with an expiry each node keeps refreshing.
//! - [`cache`]: the recent history of each ticket, written after the commit,
//!   checked against the database's `last_seq` before it is trusted.
//! - [`budgets`]: each user's message budget, shared by the nodes.

pub mod budgets;
pub mod bus;
pub mod cache;
pub mod presence;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

/// How long one Redis command may take before it counts as failed: a node
/// must not stall on an unreachable Redis.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// This node's handle on Redis.
pub struct Redis {
    client: redis::Client,
    /// Commands (publish, presence, cache): multiplexed, reconnects by itself.
    conn: ConnectionManager,
    /// This process's id, so a node ignores its own publications.
    pub node: Arc<str>,
}

impl Redis {
    /// Prepares the connection without waiting for it: a node starts (and
    /// serves its own connections) while Redis is down, and `/readyz` says so.
    pub fn open(url: &str) -> Result<Arc<Redis>, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = client
            .get_connection_manager_lazy(config)
            .map_err(|e| e.to_string())?;
        let mut id = [0u8; 6];
        getrandom::fill(&mut id).map_err(|e| e.to_string())?;
        let node: String = id.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Arc::new(Redis {
            client,
            conn,
            node: node.into(),
        }))
    }

    /// A connection for commands (cheap to clone).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = self.conn();
        let ping = redis::cmd("PING");
        within(ping.query_async::<String>(&mut conn))
            .await
            .map(drop)
    }
}

/// Runs `command` with the node's time limit; errors are logged by callers.
async fn within<T>(
    command: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("timed out".into()),
    }
}
