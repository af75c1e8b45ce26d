//! Webhooks: which events a subscription wants, what a subscription may
//! point at, and what happens after each delivery attempt (retry with
//! backoff, give up, pause an endpoint that keeps failing).

use super::Refusal;
use soporte_protocol::Timestamp;
use std::time::Duration;

/// What the host is told about, as the `tipo` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    TicketCreated,
    TicketAssigned,
    TicketTransferred,
    TicketStateChanged,
    MessageCreated,
    MessageEdited,
    MessageDeleted,
    FileUploaded,
    UserErased,
    CsatReceived,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::TicketCreated,
        EventType::TicketAssigned,
        EventType::TicketTransferred,
        EventType::TicketStateChanged,
        EventType::MessageCreated,
        EventType::MessageEdited,
        EventType::MessageDeleted,
        EventType::FileUploaded,
        EventType::UserErased,
        EventType::CsatReceived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TicketCreated => "ticket.creado",
            EventType::TicketAssigned => "ticket.asignado",
            EventType::TicketTransferred => "ticket.transferido",
            EventType::TicketStateChanged => "ticket.estado_cambiado",
            EventType::MessageCreated => "mensaje.creado",
            EventType::MessageEdited => "mensaje.editado",
            EventType::MessageDeleted => "mensaje.eliminado",
            EventType::FileUploaded => "archivo.subido",
            EventType::UserErased => "usuario.eliminado",
            EventType::CsatReceived => "csat.recibido",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

/// A new event's id (`evt_` and 128 bits: 64 random ones fixed when the
/// process starts, then a counter): unique across nodes and restarts, and
/// no system call on the path every message takes. The receiver's key to
/// recognise a retry of what it already has.
pub fn new_event_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| random_hex(8));
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("evt_{prefix}{n:016x}")
}

/// A subscription's signing secret (`whsec_` and 256 random bits).
pub fn new_secret() -> String {
    format!("whsec_{}", random_hex(32))
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the OS random source works");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `WebhookEvent` (soporte_protocol::webhook) as written: borrowing its
/// data, serialized once.
#[derive(serde::Serialize)]
struct Body<'a, T> {
    id: &'a str,
    tipo: &'static str,
    creado: Timestamp,
    data: &'a T,
}

/// The body every attempt posts, built once when the event is queued.
pub fn event_body<T: serde::Serialize>(
    id: &str,
    event: EventType,
    created: Timestamp,
    data: &T,
) -> String {
    let body = Body {
        id,
        tipo: event.as_str(),
        creado: created,
        data,
    };
    serde_json::to_string(&body).expect("an event serializes")
}

/// The events a subscription asked for: some, or every one (`["*"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Only(Vec<EventType>),
}

impl EventFilter {
    pub fn parse(events: &[String]) -> Result<EventFilter, Refusal> {
        if events.is_empty() {
            return Err(Refusal::invalid(
                "eventos no puede estar vacío: nombra eventos o [\"*\"].",
            ));
        }
        if events.iter().any(|e| e == "*") {
            return Ok(EventFilter::All);
        }
        let mut wanted = Vec::new();
        for name in events {
            let event = EventType::parse(name).ok_or_else(|| {
                let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
                Refusal::invalid(format!(
                    "Evento desconocido {name:?}. Se aceptan: {} o \"*\".",
                    known.join(", ")
                ))
            })?;
            if !wanted.contains(&event) {
                wanted.push(event);
            }
        }
        Ok(EventFilter::Only(wanted))
    }

    /// As stored and shown: the names, or `["*"]`.
    pub fn names(&self) -> Vec<String> {
        match self {
            EventFilter::All => vec!["*".to_string()],
            EventFilter::Only(events) => events.iter().map(|e| e.as_str().to_string()).collect(),
        }
    }
}

/// A subscription as the writer sees it, deciding which events to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub events: EventFilter,
    /// Internal notes reach this subscription (staff-only data).
    pub include_internal: bool,
}

impl Subscription {
    /// Whether an event of `event` reaches this subscription; `internal`
    /// events (an internal note) only when it asked for them.
    pub fn wants(&self, event: EventType, internal: bool) -> bool {
        if internal && !self.include_internal {
            return false;
        }
        match &self.events {
            EventFilter::All => true,
            EventFilter::Only(events) => events.contains(&event),
        }
    }
}

const MAX_URL_BYTES: usize = 2048;
const MAX_DESCRIPTION_CHARS: usize = 200;

/// A subscription's URL: absolute `http(s)`, with a host, no credentials.
/// Where it may point (no private addresses) is the delivery client's to
/// check, on every resolution.
pub fn check_url(url: &str) -> Result<(), Refusal> {
    let refused = || {
        Refusal::invalid(
            "url debe ser una URL http:// o https:// absoluta, sin usuario ni contraseña.",
        )
    };
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(refused)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if url.len() > MAX_URL_BYTES
        || authority.is_empty()
        || authority.contains('@')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(refused());
    }
    Ok(())
}

pub fn check_description(description: &str) -> Result<(), Refusal> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Refusal::invalid(format!(
            "descripcion tiene como máximo {MAX_DESCRIPTION_CHARS} caracteres."
        )));
    }
    Ok(())
}

/// How delivery goes on after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    /// Try again this long after the attempt.
    Retry(Duration),
    /// Older than the maximum age: given up.
    GiveUp,
}

/// The base wait before the first retry (`--webhook-first-retry`): jittered
/// between half and all of it, so the first retry comes within 10 s.
pub const FIRST_RETRY: Duration = Duration::from_secs(10);
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

/// How retries are spaced and when they stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The base wait before the first retry; each next one doubles it.
    pub first_retry: Duration,
    /// An event older than this is given up.
    pub max_age: Duration,
}

/// What follows an attempt: `succeeded` (a 2xx), the attempts made so far
/// (this one included), the event's age, and a jitter in `[0, 1)` that
/// spreads the retries of many failures (the thundering herd of an outage).
pub fn after_attempt(
    succeeded: bool,
    attempts: u32,
    age: Duration,
    policy: RetryPolicy,
    jitter: f64,
) -> AfterAttempt {
    if succeeded {
        return AfterAttempt::Delivered;
    }
    let max_age = policy.max_age;
    let doubled = policy
        .first_retry
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let wait = doubled.min(LONGEST_WAIT);
    let wait = wait.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    if age + wait > max_age {
        return AfterAttempt::GiveUp;
    }
    AfterAttempt::Retry(wait)
}

/// Failures in a row after which an endpoint is paused (a circuit breaker):
/// its deliveries wait, and other endpoints go on.
pub const FAILURES_BEFORE_PAUSE: u32 = 5;

/// How long an endpoint with `failures` failures in a row is paused: from
/// the fifth, 30 s, doubling up to 30 minutes.
pub fn pause_for(failures: u32) -> Option<Duration> {
    if failures < FAILURES_BEFORE_PAUSE {
        return None;
    }
    let doublings = (failures - FAILURES_BEFORE_PAUSE).min(6);
    Some(Duration::from_secs(30 * (1u64 << doublings)).min(Duration::from_secs(1800)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use soporte_protocol::webhook::WebhookEvent;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn subscriptions_want_their_events_and_notes_only_when_asked() {
        let some = Subscription {
            id: 1,
            events: EventFilter::parse(&names(&["mensaje.creado", "ticket.creado"])).unwrap(),
            include_internal: false,
        };
        assert!(some.wants(EventType::MessageCreated, false));
        assert!(
            !some.wants(EventType::MessageCreated, true),
            "a note without incluir_internos"
        );
        assert!(!some.wants(EventType::TicketTransferred, false));
        let all = Subscription {
            id: 2,
            events: EventFilter::parse(&names(&["*"])).unwrap(),
            include_internal: true,
        };
        for event in EventType::ALL {
            assert!(all.wants(event, true), "{event:?}");
        }
        assert!(EventFilter::parse(&[]).is_err());
        assert!(EventFilter::parse(&names(&["mensaje.borrado"])).is_err());
        assert_eq!(
            EventFilter::parse(&names(&["ticket.creado", "ticket.creado"]))
                .unwrap()
                .names(),
            names(&["ticket.creado"])
        );
    }

    #[test]
    fn event_ids_are_unique_and_of_one_shape() {
        let (a, b) = (new_event_id(), new_event_id());
        assert_ne!(a, b);
        for id in [a, b] {
            assert!(id.starts_with("evt_") && id.len() == 36, "{id}");
            assert!(id[4..].bytes().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
    }

    #[test]
    fn the_body_is_a_webhook_event() {
        let body = event_body(
            "evt_1",
            EventType::UserErased,
            Timestamp::from_millis(0),
            &serde_json::json!({"usuario": 7}),
        );
        let event: WebhookEvent = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (
                event.id.as_str(),
                event.tipo.as_str(),
                event.data["usuario"].as_i64()
            ),
            ("evt_1", "usuario.eliminado", Some(7))
        );
    }

    #[test]
    fn urls_are_absolute_web_addresses_without_credentials() {
        assert!(check_url("https://helpdesk.example/hooks/soporte/").is_ok());
        assert!(check_url("http://127.0.0.1:8000/h").is_ok());
        for bad in [
            "ftp://x/",
            "https://",
            "https://user:pw@x/",
            "/relative",
            "https://x/a b",
            "javascript:alert(1)",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retries_back_off_from_under_ten_seconds_and_give_up_at_the_maximum_age() {
        let day = Duration::from_secs(86_400);
        let max = RetryPolicy {
            first_retry: FIRST_RETRY,
            max_age: 3 * day,
        };
        assert_eq!(
            after_attempt(true, 1, day, max, 0.5),
            AfterAttempt::Delivered
        );
        // The first retry comes within 10 s, whatever the jitter.
        for jitter in [0.0, 0.5, 0.999] {
            let AfterAttempt::Retry(wait) = after_attempt(false, 1, Duration::ZERO, max, jitter)
            else {
                panic!("no retry");
            };
            assert!(
                wait <= Duration::from_secs(10) && wait >= Duration::from_secs(5),
                "{wait:?}"
            );
        }
        // Waits grow, and never pass an hour.
        let wait = |n| match after_attempt(false, n, Duration::ZERO, max, 0.999) {
            AfterAttempt::Retry(wait) => wait,
            other => panic!("{other:?}"),
        };
        assert!(wait(2) > wait(1) && wait(3) > wait(2));
        assert!(wait(40) <= Duration::from_secs(3600));
        assert_eq!(
            after_attempt(false, 9, max.max_age, max, 0.0),
            AfterAttempt::GiveUp
        );
    }

    #[test]
    fn an_endpoint_is_paused_after_five_failures_in_a_row_for_a_growing_while() {
        assert_eq!(pause_for(4), None);
        assert_eq!(pause_for(5), Some(Duration::from_secs(30)));
        assert_eq!(pause_for(6), Some(Duration::from_secs(60)));
        assert_eq!(pause_for(100), Some(Duration::from_secs(1800)));
    }
}
