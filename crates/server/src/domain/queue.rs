//! Where a customer waiting for an agent stands: their place in the queue
//! (open tickets nobody took, oldest first) and the typical wait for one.

use soporte_protocol::rest::DurationStats;
use soporte_protocol::{Ticket, TicketState};

/// Tickets a typical wait needs behind it before it is shown.
pub const TYPICAL_WAIT_MIN_TICKETS: usize = 5;

/// Whether `ticket` waits in the queue: open, and no agent has it.
pub fn is_queued(ticket: &Ticket) -> bool {
    ticket.state == TicketState::Open && ticket.agent.is_none()
}

/// The ticket's place (1: next), from how many queued tickets are ahead.
pub fn position(ahead: i64) -> u32 {
    u32::try_from(ahead.max(0))
        .unwrap_or(u32::MAX)
        .saturating_add(1)
}

/// The median wait from creation to an agent taking the ticket, in whole
/// seconds, when enough tickets were taken to say it honestly.
pub fn typical_wait(queue_wait: &DurationStats) -> Option<u64> {
    if queue_wait.n < TYPICAL_WAIT_MIN_TICKETS {
        return None;
    }
    queue_wait.median_seconds.map(|s| s.max(0.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_in_line_is_first_and_a_thin_history_says_no_wait() {
        assert_eq!(position(0), 1);
        assert_eq!(position(3), 4);
        assert_eq!(position(-1), 1);
        let thin = DurationStats {
            n: 4,
            median_seconds: Some(30.0),
            p90_seconds: Some(60.0),
        };
        assert_eq!(typical_wait(&thin), None);
        let enough = DurationStats {
            n: 5,
            median_seconds: Some(89.6),
            p90_seconds: Some(200.0),
        };
        assert_eq!(typical_wait(&enough), Some(90));
    }
}
