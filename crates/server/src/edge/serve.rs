//! Accepting TCP connections and serving HTTP/1.1 on them, WebSocket
//! upgrades included.
//!
//! hyper directly rather than `axum::serve`, because that one gives hyper no
//! timer, and without a timer hyper never times out a connection waiting for
//! request headers: a client could hold a socket (and its buffers) forever by
//! trickling its headers a byte at a time, or by keeping an idle keep-alive
//! connection open. With it, a connection that has not sent a whole request
//! head within `header_timeout` of opening, or of its previous response, is
//! closed. An upgraded connection leaves hyper; the WebSocket session's own
//! heartbeat watches it from then on.

use super::per_ip::PerIp;
use axum::Router;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::pin::pin;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Handshakes the kernel queues for us while the accept loop catches up.
/// `TcpListener::bind` asks for 128: a burst of clients (10,000 reconnecting
/// after a restart) overflowed that, and every handshake dropped cost its
/// client a one-second SYN retransmission. The kernel caps the figure at
/// `net.core.somaxconn` (4096 by default since Linux 5.4).
const BACKLOG: u32 = 4096;

/// A listening socket on `addr` with room for bursts of handshakes
/// (`BACKLOG`); otherwise as `TcpListener::bind` makes it.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does on Unix: a restarted server binds at once,
    // while its old connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// How long shutdown waits for requests in flight (an upload on a slow link,
/// say) before leaving them to be dropped with the runtime.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` is cancelled; then stops
/// accepting, lets each connection finish the request it is serving (idle
/// ones close at once) and returns when all are closed, or after
/// `DRAIN_TIMEOUT`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    per_ip: PerIp,
    shutdown: CancellationToken,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connections = TaskTracker::new();
    loop {
        let (tcp, held, peer_ip) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => match per_ip.take(peer.ip()) {
                    Some(held) => (tcp, held, peer.ip()),
                    None => {
                        // Closed at once: the address holds its limit.
                        tracing::debug!(ip = %peer.ip(), "connection refused: per-address limit");
                        continue;
                    }
                },
                Err(error) => {
                    // Out of file descriptors, most likely: give connections
                    // time to close instead of spinning on the error.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // A chat sends many small frames; with Nagle's algorithm a frame
        // written after another unacknowledged one waits for the peer's
        // delayed ACK (up to 40 ms).
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        // Each request spends its address's budget first (the router is
        // not reached past it).
        let router = TowerToHyperService::new(router.clone());
        let (limits, ip) = (per_ip.clone(), peer_ip);
        let service = hyper::service::service_fn(move |request| {
            let routed = limits.request(ip).then(|| router.call(request));
            async move {
                match routed {
                    Some(response) => response.await,
                    None => Ok(too_many_requests(ip)),
                }
            }
        });
        let connection = http
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            // Counted for the address until the connection ends or upgrades.
            let _held = held;
            let mut connection = pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "HTTP requests still in flight after the drain timeout; stopping anyway"
        );
    }
}
/// The answer to a request over its address's rate (`--requests-per-ip`).
fn too_many_requests(ip: std::net::IpAddr) -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::debug!(%ip, "request refused: per-address rate");
    crate::metrics::METRICS
        .http_rate_limited
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut response = super::error::ApiError::TooManyRequests(
        "Demasiadas peticiones desde esta dirección. Espera un momento.".into(),
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    response
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of handshakes larger than the default backlog (128) all
    /// complete while nothing accepts them yet: none waits for a SYN
    /// retransmission.
    #[tokio::test]
    async fn a_burst_of_handshakes_waits_in_the_backlog() {
        let listener = listen(([127, 0, 0, 1], 0).into()).unwrap();
        let addr = listener.local_addr().unwrap();
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(4096);
        let burst = 300;
        let mut open = Vec::new();
        for _ in 0..burst {
            // A full queue drops the SYN: the connect would hang for a second.
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(stream) => open.push(stream),
                Err(_) => break,
            }
        }
        assert!(
            open.len() >= burst.min(somaxconn),
            "{} of {burst} handshakes completed",
            open.len()
        );
        drop(listener);
    }
}
