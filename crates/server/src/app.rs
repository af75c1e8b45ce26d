//! Building and running the application: bind, open the store, wire the hub
//! and the bus, serve until a shutdown signal, then stop cleanly.

use crate::auth::Verifier;
use crate::bus::{Bus, CommitFanout, InProcessBus};
use crate::cluster::{self, Redis};
use crate::config::{Config, DatabaseUrl};
use crate::files::storage::FileStore;
use crate::hub::inbox::Inboxes;
use crate::hub::Hub;
use crate::presence::{DynPresence, LocalPresence};
use crate::rate::MessageBudgets;
use crate::slots::Slots;
use crate::state::{AppState, Shared};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::DynStore;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown waits for open sessions to finish their in-flight commits.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the application could not start; names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("SOPORTE_BIND (--bind): cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("SOPORTE_DATABASE_URL (--database-url): {0}")]
    Database(String),
    #[error("SOPORTE_STORAGE (--storage): {0}")]
    Storage(String),
    #[error("SOPORTE_REDIS_URL (--redis-url): {0}")]
    Redis(String),
}

pub struct Application {
    listener: TcpListener,
    /// `/metrics` alone (`--metrics-bind`), away from the chat port.
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Binds the listener and opens the store; serving starts with
    /// [`Application::run_until_stopped`].
    pub async fn build(config: Config, verifier: Verifier) -> Result<Application, StartError> {
        let listener =
            crate::edge::serve::listen(config.bind).map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let local = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        let metrics_listener = match config.metrics_bind {
            None => None,
            Some(addr) => Some(
                crate::edge::serve::listen(addr)
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
        };

        let hub = Arc::new(Hub::default());
        let inboxes = Arc::new(Inboxes::default());
        let shutdown = CancellationToken::new();
        // One node: everything in this process. Cluster mode: events,
        // presence and the recent-history cache go through Redis too.
        let redis = match &config.redis_url {
            Some(url) => Some(Redis::open(url).map_err(StartError::Redis)?),
            None => None,
        };
        let (bus, cluster_tasks, presence): (Arc<dyn Bus>, _, DynPresence) = match &redis {
            None => (
                Arc::new(InProcessBus::new(hub.clone(), inboxes.clone())),
                None,
                Arc::new(LocalPresence {
                    hub: hub.clone(),
                    inboxes: inboxes.clone(),
                }),
            ),
            Some(redis) => {
                let (bus, tasks) =
                    cluster::bus::redis_bus(redis.clone(), hub.clone(), inboxes.clone());
                let presence = cluster::presence::RedisPresence::new(
                    redis.clone(),
                    hub.clone(),
                    inboxes.clone(),
                    config.presence_ttl,
                );
                let bus: Arc<dyn Bus> = bus;
                tokio::spawn(presence.clone().keep_fresh(bus.clone(), shutdown.clone()));
                (bus, Some(tasks), presence as DynPresence)
            }
        };
        let listener_for_commits = Arc::new(CommitFanout { bus: bus.clone() });
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"));
        let files = FileStore::open(&config.storage).map_err(StartError::Storage)?;
        files.clear_scratch();
        let store: DynStore = match &config.database {
            DatabaseUrl::Sqlite(path) => {
                let path = path.clone();
                let url_base = public_url.clone();
                let store = tokio::task::spawn_blocking(move || {
                    SqliteStore::open(&path, listener_for_commits, &url_base)
                })
                .await
                .map_err(|e| StartError::Database(e.to_string()))?
                .map_err(StartError::Database)?;
                Arc::new(store)
            }
            DatabaseUrl::Postgres(url) => {
                let store = PostgresStore::open(url, listener_for_commits, &public_url)
                    .await
                    .map_err(StartError::Database)?;
                Arc::new(store)
            }
        };

        let store = match &redis {
            Some(redis) => {
                let cached: DynStore =
                    Arc::new(cluster::cache::CachedStore::new(store, redis.clone()));
                cached
            }
            None => store,
        };
        if let Some(tasks) = cluster_tasks {
            tasks.spawn(store.clone(), shutdown.clone());
        }
        if let Some(redis) = &redis {
            if let Err(error) = redis.ping().await {
                tracing::warn!(%error, "Redis is not reachable yet; serving this node's connections until it is");
            }
        }

        // The server's own pages (the demo, the widget's panel frame) are
        // always allowed; `--allowed-origins` adds the hosts that embed it.
        let mut allowed_origins = own_origins(&public_url, local);
        for origin in config.allowed_origins.iter().flatten() {
            if !allowed_origins.contains(origin) {
                allowed_origins.push(origin.clone());
            }
        }
        // `--msg-rate 0` turns every message limit off (load tests).
        let user_msg_rate = if config.msg_rate == 0 {
            0
        } else {
            config.user_msg_rate
        };
        let slots = Slots::new(config.max_connections_per_user, config.max_connections);
        let message_budgets = match &redis {
            Some(redis) => MessageBudgets::shared(user_msg_rate, redis.clone()),
            None => MessageBudgets::new(user_msg_rate),
        };
        let previews = crate::files::thumbnail::Previews::new(config.preview_decodes);
        let state = AppState(Arc::new(Shared {
            config,
            verifier,
            store,
            hub,
            inboxes,
            bus,
            presence,
            redis,
            files,
            previews,
            slots,
            message_budgets,
            public_url,
            allowed_origins,
            shutdown,
            sessions: TaskTracker::new(),
            next_conn: AtomicU64::new(0),
        }));
        Ok(Application {
            listener,
            metrics_listener,
            state,
        })
    }

    /// Where `/metrics` is served alone, with `--metrics-bind`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `stop` completes, then: stops accepting, lets each session
    /// finish its in-flight commits and close with 1001, and returns.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let router = router(state.clone());
        tokio::spawn(crate::memory::trim_periodically(state.shutdown.clone()));
        tokio::spawn(purge_grants_periodically(state.clone()));
        tokio::spawn(crate::lifecycle::close_idle_periodically(state.clone()));
        crate::email::start(state.clone());
        crate::webhooks::worker::start(
            state.store.clone(),
            state.config.webhooks,
            state.shutdown.clone(),
        )?;
        let shutdown = state.shutdown.clone();
        if let Some(listener) = self.metrics_listener {
            let metrics = crate::http::ops::metrics_router().with_state(state.clone());
            let stop = shutdown.clone().cancelled_owned();
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, metrics)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(%error, "the metrics listener stopped");
                }
            });
        }
        tokio::spawn({
            // Cancelled however `stop` ends, a panic included.
            let cancel_on_drop = shutdown.clone().drop_guard();
            async move {
                stop.await;
                drop(cancel_on_drop);
            }
        });
        crate::edge::serve::serve(
            self.listener,
            router,
            state.config.http_header_timeout,
            crate::edge::per_ip::PerIp::new(
                state.config.max_connections_per_ip,
                state.config.requests_per_ip,
            ),
            shutdown.clone(),
        )
        .await;
        state.sessions.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, state.sessions.wait())
            .await
            .is_err()
        {
            tracing::warn!("sessions still open after the drain timeout; stopping anyway");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Every route: the REST resources and the WebSocket endpoints, behind CORS,
/// the request log and the body limit.
fn router(state: AppState) -> axum::Router {
    use axum::extract::DefaultBodyLimit;
    use axum::middleware;
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    axum::Router::new()
        .merge(crate::http::router(
            state.config.max_file_size,
            state.config.metrics_bind.is_none(),
            state.allowed_origins.join(" "),
        ))
        .merge(crate::ws::router())
        // Largest REST body (`--max-request-body`, default 1 MiB: a sync of
        // 100 long messages fits with room to spare). Uploads set their own.
        .layer(DefaultBodyLimit::max(state.config.max_request_body))
        .layer(crate::edge::cors_layer(&state.allowed_origins))
        .layer(middleware::from_fn(crate::edge::log_request))
        // Outermost: every request has an id before it is logged, and its
        // answer carries it.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Expired upload grants are kept an hour (a late upload gets "expired", not
/// "unknown"), then forgotten; erased files left in storage are removed, and
/// files past their retention deleted.
async fn purge_grants_periodically(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    let mut retention_cursor = (soporte_protocol::Timestamp::from_millis(0), 0);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {
                let before = soporte_protocol::Timestamp::from_millis(soporte_protocol::Timestamp::now().millis() - 3_600_000);
                match state.store.purge_upload_grants(before).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::debug!(purged, "expired upload grants forgotten"),
                    Err(error) => tracing::warn!(%error, "could not purge upload grants"),
                }
                // Files an erasure left (a crash, storage down) go now.
                crate::data_rights::remove_erased_files(&state).await;
                let now = soporte_protocol::Timestamp::now();
                crate::data_rights::expire_files(&state, &mut retention_cursor, now).await;
            }
        }
    }
}

/// The server's own origins: its public URL's, and for a loopback bind the
/// `localhost` spelling of it too (browsers treat them as different origins).
fn own_origins(public_url: &str, local: SocketAddr) -> Vec<String> {
    let mut origins = vec![origin_of(public_url)];
    if local.ip().is_loopback() {
        for host in ["127.0.0.1", "localhost"] {
            let origin = format!("http://{host}:{}", local.port());
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
    }
    origins
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(slash) => url[..after_scheme + slash].to_string(),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_drop_paths_and_cover_localhost() {
        assert_eq!(
            origin_of("https://chat.example.com/soporte"),
            "https://chat.example.com"
        );
        let origins = own_origins("http://127.0.0.1:8000", "127.0.0.1:8000".parse().unwrap());
        assert_eq!(
            origins,
            vec!["http://127.0.0.1:8000", "http://localhost:8000"]
        );
    }
}
