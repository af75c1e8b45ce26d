//! The team's business hours: kept as a team setting, judged by
//! [`crate::domain::hours`] at the clock's now.

use crate::domain::hours::{self, Availability, Schedule};
use crate::state::AppState;
use crate::store::StoreResult;
use soporte_protocol::hours::{BusinessHours, HoursStatus};
use soporte_protocol::Timestamp;

/// The setting's key.
const KEY: &str = "horario";
/// The tickets the typical reply time is measured over.
const TYPICAL_REPLY_DAYS: i64 = 7;

/// The hours, whether the team is in now, and its typical reply time.
pub async fn status(state: &AppState) -> StoreResult<HoursStatus> {
    let hours = stored(state).await?;
    // Stored hours were checked when they were set.
    let schedule = hours.as_ref().and_then(|hours| Schedule::parse(hours).ok());
    let now = state.config.clock.now();
    let availability = schedule
        .as_ref()
        .map_or(Availability::ALWAYS, |schedule| schedule.availability(now));
    let since = Timestamp::from_millis(now.millis() - TYPICAL_REPLY_DAYS * 86_400_000);
    let replies = state.store.first_replies(since).await?;
    Ok(HoursStatus {
        hours,
        open: availability.open,
        closes: availability.closes,
        opens: availability.opens,
        typical_reply_seconds: hours::typical_reply(schedule.as_ref(), &replies),
    })
}

/// Sets the hours (`None`: always in), refused with why when they do not
/// make sense; returns the status they give.
pub async fn set(state: &AppState, hours: Option<BusinessHours>) -> StoreResult<HoursStatus> {
    if let Some(hours) = &hours {
        Schedule::parse(hours)?;
    }
    let json = hours.map(|hours| serde_json::to_string(&hours).expect("hours serialize"));
    state.store.save_setting(KEY, json).await?;
    status(state).await
}

async fn stored(state: &AppState) -> StoreResult<Option<BusinessHours>> {
    let Some(json) = state.store.setting(KEY).await? else {
        return Ok(None);
    };
    match serde_json::from_str(&json) {
        Ok(hours) => Ok(Some(hours)),
        Err(error) => {
            tracing::warn!(%error, "stored business hours unreadable: treated as none");
            Ok(None)
        }
    }
}
