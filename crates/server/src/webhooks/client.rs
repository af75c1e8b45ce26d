//! Posting one delivery: the signed request, a timeout, no redirects, no
//! proxy from the environment, and (unless `--webhook-allow-private`) no
//! connection to an address that is not public, checked after DNS on every
//! connection.

use super::address::is_public;
use super::signature::sign;
use crate::domain::Refusal;
use crate::store::DueDelivery;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest13 as reqwest;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What an attempt gave.
#[derive(Debug, Clone)]
pub struct Attempted {
    pub status: Option<u16>,
    /// Why no answer came, for the delivery log (Spanish: the host's staff
    /// read it).
    pub error: Option<String>,
    pub latency: Duration,
}

/// Largest part of a receiver's answer read (then the connection is let go).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct Poster {
    client: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
}

/// The address of a name that resolves to a non-public address.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not a public address")]
struct PrivateAddress(IpAddr);

/// The system resolver, keeping public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(private) = found.iter().find(|a| !is_public(a.ip())) {
                // One private answer refuses the name: a rebinding attacker
                // mixes both.
                return Err(Box::new(PrivateAddress(private.ip())) as _);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

impl Poster {
    pub fn new(allow_private: bool, timeout: Duration) -> Result<Poster, String> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(32)
            .user_agent(concat!("Soporte-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        Ok(Poster {
            client,
            allow_private,
            timeout,
        })
    }

    /// Posts `delivery` once; never fails, the outcome says what happened.
    pub async fn post(&self, delivery: &DueDelivery) -> Attempted {
        let started = Instant::now();
        let (status, error) = match self.try_post(delivery).await {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error)),
        };
        Attempted {
            status,
            error,
            latency: started.elapsed(),
        }
    }

    async fn try_post(&self, delivery: &DueDelivery) -> Result<u16, String> {
        let url = reqwest::Url::parse(&delivery.url).map_err(|_| "URL no válida.".to_string())?;
        if !self.allow_private {
            // A literal address is never resolved, so never seen by PublicOnly.
            if let Some(ip) = literal_ip(&url) {
                if !is_public(ip) {
                    return Err(private_refused());
                }
            }
        }
        let now = soporte_protocol::Timestamp::now().millis() / 1000;
        let response = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-Soporte-Event-Id", &delivery.event_id)
            .header(
                "X-Soporte-Signature",
                sign(&delivery.secret, now, &delivery.body),
            )
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| self.describe(&e))?;
        let status = response.status().as_u16();
        let mut response = response;
        let mut read = 0;
        while let Ok(Some(chunk)) = response.chunk().await {
            read += chunk.len();
            if read >= MAX_ANSWER_BYTES {
                break;
            }
        }
        Ok(status)
    }

    /// A failed request, as the delivery log shows it.
    fn describe(&self, error: &reqwest::Error) -> String {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if cause.downcast_ref::<PrivateAddress>().is_some() {
                return private_refused();
            }
            source = cause.source();
        }
        if error.is_timeout() {
            format!("Sin respuesta en {} s.", self.timeout.as_secs_f64())
        } else if error.is_connect() {
            format!("No se pudo conectar: {}.", innermost(error))
        } else {
            format!("La petición falló: {}.", innermost(error))
        }
    }
}

fn private_refused() -> String {
    "La URL lleva a una dirección privada o local: no se envía (--webhook-allow-private lo permite).".into()
}

/// The host when it is an address (`[::1]` in a URL is `::1`).
fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut last = error;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Where a new subscription may point: refused when its host is (or
/// resolves to) a non-public address, unless private ones are allowed.
pub async fn check_destination(url: &str, allow_private: bool) -> Result<(), Refusal> {
    if allow_private {
        return Ok(());
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|_| Refusal::invalid("url no es una URL válida."))?;
    let refused = || {
        Refusal::invalid(
            "url lleva a una dirección privada o local; los webhooks solo van a direcciones públicas.",
        )
    };
    if let Some(ip) = literal_ip(&parsed) {
        return if is_public(ip) {
            Ok(())
        } else {
            Err(refused())
        };
    }
    let host = parsed.host_str().unwrap_or_default();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| Refusal::invalid(format!("No se pudo resolver el nombre {host:?} de url.")))?
        .collect();
    if found.is_empty() || found.iter().any(|a| !is_public(a.ip())) {
        return Err(refused());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use soporte_protocol::Timestamp;

    fn to(url: &str) -> DueDelivery {
        DueDelivery {
            id: 1,
            webhook: 1,
            url: url.into(),
            secret: "whsec_x".into(),
            event_id: "evt_1".into(),
            body: "{}".into(),
            attempts: 0,
            created: Timestamp::now(),
            ticket: None,
        }
    }

    #[tokio::test]
    async fn deliveries_never_connect_to_private_addresses_by_literal_or_by_name() {
        // A listener that would answer if reached.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let poster = Poster::new(false, Duration::from_secs(2)).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://localhost:{port}/hook"),
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        ] {
            let attempted = poster.post(&to(&url)).await;
            assert_eq!(attempted.status, None, "{url}");
            let error = attempted.error.unwrap();
            assert!(error.contains("privada"), "{url}: {error}");
        }
        // With the flag, the same address is reached (refused here: nothing
        // answers HTTP, but it is a connection, not a refusal of ours).
        drop(listener);
        let allowed = Poster::new(true, Duration::from_secs(2)).unwrap();
        let attempted = allowed
            .post(&to(&format!("http://127.0.0.1:{port}/hook")))
            .await;
        assert!(!attempted.error.unwrap().contains("privada"));
    }
}
