//! Business hours: the team's week in its time zone, with dated exceptions;
//! whether it is in at an instant, when that changes, and how much office
//! time lies between two instants (the honest measure of a reply's wait).
//!
//! Local times become instants through the zone's rules for that very date
//! (jiff, IANA database), so 09:00 in Madrid is 08:00 UTC in winter and
//! 07:00 in summer, and the day clocks go back has 25 hours. A local time
//! that does not exist (the hour skipped in spring) is read as the same
//! wall-clock time after the jump, as calendars do.

use super::Refusal;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use soporte_protocol::hours::{BusinessHours, Span};
use soporte_protocol::Timestamp;
use std::collections::BTreeMap;

/// Spans one day may have.
const MAX_SPANS: usize = 12;
/// Exceptions one schedule may have (a few years of holidays).
const MAX_EXCEPTIONS: usize = 1000;
/// How far ahead the next opening or closing is looked for.
const HORIZON_DAYS: usize = 400;
const DAY_MINUTES: u16 = 24 * 60;

/// Minutes since local midnight, `[from, to)`.
type Minutes = (u16, u16);

/// A validated schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    zone: TimeZone,
    /// Monday first.
    week: [Vec<Minutes>; 7],
    exceptions: BTreeMap<Date, Vec<Minutes>>,
}

/// Whether the team is in at an instant, and when that changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    pub open: bool,
    /// While open: the end of this stretch of office time.
    pub closes: Option<Timestamp>,
    /// While closed: the start of the next one.
    pub opens: Option<Timestamp>,
}

impl Availability {
    /// No hours set: always in.
    pub const ALWAYS: Availability = Availability {
        open: true,
        closes: None,
        opens: None,
    };
}

impl Schedule {
    /// Checks `hours` as a supervisor sent them: a 400 saying what is wrong.
    pub fn parse(hours: &BusinessHours) -> Result<Schedule, Refusal> {
        let zone = TimeZone::get(hours.zone.trim()).map_err(|_| {
            Refusal::invalid(format!(
                "Zona horaria desconocida: «{}». Usa un nombre IANA como Europe/Madrid.",
                hours.zone
            ))
        })?;
        let mut week: [Vec<Minutes>; 7] = Default::default();
        for (slot, (day, spans)) in week.iter_mut().zip(hours.week.days()) {
            *slot = day_spans(spans, day)?;
        }
        if hours.exceptions.len() > MAX_EXCEPTIONS {
            return Err(Refusal::invalid(format!(
                "Como máximo {MAX_EXCEPTIONS} excepciones."
            )));
        }
        let mut exceptions = BTreeMap::new();
        for exception in &hours.exceptions {
            let date: Date = exception.date.trim().parse().map_err(|_| {
                Refusal::invalid(format!("«{}» no es una fecha AAAA-MM-DD.", exception.date))
            })?;
            let spans = day_spans(&exception.spans, &exception.date)?;
            if exceptions.insert(date, spans).is_some() {
                return Err(Refusal::invalid(format!(
                    "La fecha {} tiene dos excepciones.",
                    exception.date
                )));
            }
        }
        Ok(Schedule {
            zone,
            week,
            exceptions,
        })
    }

    fn spans_on(&self, date: Date) -> &[Minutes] {
        match self.exceptions.get(&date) {
            Some(spans) => spans,
            None => &self.week[date.weekday().to_monday_zero_offset() as usize],
        }
    }

    /// The instant of `minute` past local midnight of `date`.
    fn instant(&self, date: Date, minute: u16) -> Option<Timestamp> {
        let (date, minute) = if minute >= DAY_MINUTES {
            (date.tomorrow().ok()?, minute - DAY_MINUTES)
        } else {
            (date, minute)
        };
        let local = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
        let zoned = self.zone.to_ambiguous_zoned(local).compatible().ok()?;
        Some(Timestamp::from_millis(zoned.timestamp().as_millisecond()))
    }

    fn local_date(&self, at: Timestamp) -> Option<Date> {
        let instant = jiff::Timestamp::from_millisecond(at.millis()).ok()?;
        Some(instant.to_zoned(self.zone.clone()).date())
    }

    /// The office stretches as instants, from the local day of `from` on
    /// (and the day before, whose late spans may still run).
    fn stretches(&self, from: Timestamp, days: usize) -> Vec<(Timestamp, Timestamp)> {
        let Some(mut date) = self.local_date(from).and_then(|d| d.yesterday().ok()) else {
            return Vec::new();
        };
        let mut found: Vec<(Timestamp, Timestamp)> = Vec::new();
        for _ in 0..days + 1 {
            for &(start, end) in self.spans_on(date) {
                let (Some(start), Some(end)) = (self.instant(date, start), self.instant(date, end))
                else {
                    continue;
                };
                // Back to back across midnight: one stretch.
                match found.last_mut() {
                    Some(last) if last.1 >= start => last.1 = last.1.max(end),
                    _ => found.push((start, end)),
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        found
    }

    /// Whether the team is in at `at`, and when that changes.
    pub fn availability(&self, at: Timestamp) -> Availability {
        for (start, end) in self.stretches(at, HORIZON_DAYS) {
            if end <= at {
                continue;
            }
            if start <= at {
                // Open until `end`, unless it runs past the horizon.
                let far = end.millis() - at.millis() > (HORIZON_DAYS as i64 - 2) * 86_400_000;
                return Availability {
                    open: true,
                    closes: (!far).then_some(end),
                    opens: None,
                };
            }
            return Availability {
                open: false,
                closes: None,
                opens: Some(start),
            };
        }
        Availability {
            open: false,
            closes: None,
            opens: None,
        }
    }

    /// Milliseconds of office time within `[from, to)`.
    pub fn office_millis(&self, from: Timestamp, to: Timestamp) -> i64 {
        if to <= from {
            return 0;
        }
        let days = ((to.millis() - from.millis()) / 86_400_000) as usize + 2;
        self.stretches(from, days.min(HORIZON_DAYS))
            .into_iter()
            .map(|(start, end)| (end.min(to).millis() - start.max(from).millis()).max(0))
            .sum()
    }
}

/// A day's spans, checked and in order: `HH:MM`, each starting before it
/// ends, none overlapping.
fn day_spans(spans: &[Span], day: &str) -> Result<Vec<Minutes>, Refusal> {
    if spans.len() > MAX_SPANS {
        return Err(Refusal::invalid(format!(
            "{day}: como máximo {MAX_SPANS} tramos."
        )));
    }
    let mut parsed = spans
        .iter()
        .map(|span| {
            let (from, to) = (minutes(&span.from)?, minutes(&span.to)?);
            if from >= to {
                return Err(Refusal::invalid(format!(
                    "{day}: el tramo {}–{} termina antes de empezar.",
                    span.from, span.to
                )));
            }
            Ok((from, to))
        })
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort_unstable();
    for pair in parsed.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(Refusal::invalid(format!(
                "{day}: los tramos {}–{} y {}–{} se solapan.",
                clock(pair[0].0),
                clock(pair[0].1),
                clock(pair[1].0),
                clock(pair[1].1)
            )));
        }
    }
    Ok(parsed)
}

/// `HH:MM` (00:00 to 24:00) as minutes past midnight.
fn minutes(text: &str) -> Result<u16, Refusal> {
    let refuse = || Refusal::invalid(format!("«{text}» no es una hora HH:MM."));
    let (h, m) = text.trim().split_once(':').ok_or_else(refuse)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(refuse());
    }
    let (h, m): (u16, u16) = (
        h.parse().map_err(|_| refuse())?,
        m.parse().map_err(|_| refuse())?,
    );
    match h * 60 + m {
        total if m < 60 && total <= DAY_MINUTES => Ok(total),
        _ => Err(refuse()),
    }
}

fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Fewer answered tickets than this give no typical reply time: a median of
/// three says nothing.
pub const TYPICAL_REPLY_MIN_TICKETS: usize = 5;

/// The median wait for the first reply of `tickets` (created, first reply),
/// in office time when there are hours; `None` below
/// [`TYPICAL_REPLY_MIN_TICKETS`].
pub fn typical_reply(
    schedule: Option<&Schedule>,
    tickets: &[(Timestamp, Timestamp)],
) -> Option<f64> {
    if tickets.len() < TYPICAL_REPLY_MIN_TICKETS {
        return None;
    }
    let waits = tickets
        .iter()
        .map(|&(created, replied)| match schedule {
            Some(schedule) => schedule.office_millis(created, replied),
            None => (replied.millis() - created.millis()).max(0),
        })
        .collect();
    super::stats::durations(waits).median_seconds
}

#[cfg(test)]
mod tests {
    use super::*;
    use soporte_protocol::hours::{HoursException, WeekHours};

    fn span(from: &str, to: &str) -> Span {
        Span {
            from: from.into(),
            to: to.into(),
        }
    }

    fn weekdays(zone: &str, spans: Vec<Span>) -> BusinessHours {
        BusinessHours {
            zone: zone.into(),
            week: WeekHours {
                lunes: spans.clone(),
                martes: spans.clone(),
                miercoles: spans.clone(),
                jueves: spans.clone(),
                viernes: spans,
                ..WeekHours::default()
            },
            exceptions: Vec::new(),
        }
    }

    /// An instant from its UTC spelling.
    fn utc(text: &str) -> Timestamp {
        let instant: jiff::Timestamp = text.parse().unwrap();
        Timestamp::from_millis(instant.as_millisecond())
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn madrid_opens_at_nine_local_on_both_sides_of_the_spring_change() {
        let madrid =
            Schedule::parse(&weekdays("Europe/Madrid", vec![span("09:00", "18:00")])).unwrap();
        // Friday 26 March 2027, 18:00 CET (UTC+1): just closed.
        let friday_close = madrid.availability(utc("2027-03-26T17:00:00Z"));
        assert!(!friday_close.open);
        // Clocks go forward on Sunday the 28th: Monday 09:00 is CEST, 07:00 UTC.
        assert_eq!(friday_close.opens, Some(utc("2027-03-29T07:00:00Z")));
        let friday = madrid.availability(utc("2027-03-26T16:59:00Z"));
        assert_eq!(
            (friday.open, friday.closes),
            (true, Some(utc("2027-03-26T17:00:00Z")))
        );
        // One office hour on Friday and one on Monday; the weekend counts nothing.
        assert_eq!(
            madrid.office_millis(utc("2027-03-26T16:00:00Z"), utc("2027-03-29T08:00:00Z")),
            2 * HOUR
        );
    }

    #[test]
    fn the_autumn_sunday_has_twenty_five_hours() {
        let mut hours = weekdays("Europe/Madrid", vec![]);
        hours.week.domingo = vec![span("00:00", "24:00")];
        let madrid = Schedule::parse(&hours).unwrap();
        // 25 October 2026: 03:00 CEST becomes 02:00 CET.
        assert_eq!(
            madrid.office_millis(utc("2026-10-24T00:00:00Z"), utc("2026-10-27T00:00:00Z")),
            25 * HOUR
        );
        let sunday = madrid.availability(utc("2026-10-25T12:00:00Z"));
        assert_eq!(sunday.closes, Some(utc("2026-10-25T23:00:00Z")));
    }

    #[test]
    fn mexico_city_keeps_utc_minus_six_all_year() {
        let mexico = Schedule::parse(&weekdays(
            "America/Mexico_City",
            vec![span("09:00", "17:00")],
        ))
        .unwrap();
        // No daylight saving since 2022: 09:00 is 15:00 UTC in April and in December.
        for (before, opening) in [
            ("2027-04-05T14:00:00Z", "2027-04-05T15:00:00Z"),
            ("2026-12-07T14:00:00Z", "2026-12-07T15:00:00Z"),
        ] {
            assert_eq!(mexico.availability(utc(before)).opens, Some(utc(opening)));
        }
    }

    #[test]
    fn a_holiday_closes_its_date_and_special_hours_replace_the_week() {
        let mut hours = weekdays("Europe/Madrid", vec![span("09:00", "18:00")]);
        hours.exceptions = vec![
            HoursException {
                date: "2026-12-25".into(),
                spans: vec![],
                reason: Some("Navidad".into()),
            },
            HoursException {
                date: "2026-12-24".into(),
                spans: vec![span("09:00", "14:00")],
                reason: None,
            },
        ];
        let madrid = Schedule::parse(&hours).unwrap();
        // Thursday 24th closes at 14:00; Friday 25th is a holiday: back Monday 28th.
        let christmas_eve = madrid.availability(utc("2026-12-24T12:00:00Z"));
        assert_eq!(christmas_eve.closes, Some(utc("2026-12-24T13:00:00Z")));
        let christmas = madrid.availability(utc("2026-12-25T10:00:00Z"));
        assert!(!christmas.open);
        assert_eq!(christmas.opens, Some(utc("2026-12-28T08:00:00Z")));
    }

    #[test]
    fn back_to_back_days_are_one_stretch() {
        let mut hours = weekdays("UTC", vec![span("00:00", "24:00")]);
        hours.week.sabado = vec![span("00:00", "12:00")];
        let always = Schedule::parse(&hours).unwrap();
        let monday = always.availability(utc("2026-12-07T10:00:00Z"));
        assert_eq!(monday.closes, Some(utc("2026-12-12T12:00:00Z")));
        assert_eq!(
            Schedule::parse(&weekdays("UTC", vec![]))
                .unwrap()
                .availability(utc("2026-12-07T10:00:00Z")),
            Availability {
                open: false,
                closes: None,
                opens: None
            }
        );
    }

    #[test]
    fn a_schedule_with_a_mistake_is_refused_saying_which() {
        let refused = |hours: BusinessHours| match Schedule::parse(&hours) {
            Err(Refusal::Invalid(text)) => text,
            other => panic!("not refused: {other:?}"),
        };
        assert!(refused(weekdays("Europe/Atlantis", vec![])).contains("Europe/Atlantis"));
        let overlap = refused(weekdays(
            "UTC",
            vec![span("13:00", "18:00"), span("09:00", "14:00")],
        ));
        assert_eq!(
            overlap,
            "lunes: los tramos 09:00–14:00 y 13:00–18:00 se solapan."
        );
        assert!(refused(weekdays("UTC", vec![span("18:00", "09:00")])).contains("termina antes"));
        for bad in ["9:00", "25:00", "24:01", "12:60", "noon"] {
            let text = refused(weekdays("UTC", vec![span(bad, "24:00")]));
            assert!(text.contains(bad), "{text}");
        }
        let mut twice = weekdays("UTC", vec![]);
        let holiday = HoursException {
            date: "2026-12-25".into(),
            spans: vec![],
            reason: None,
        };
        twice.exceptions = vec![holiday.clone(), holiday];
        assert!(refused(twice).contains("dos excepciones"));
        let mut bad_date = weekdays("UTC", vec![]);
        bad_date.exceptions = vec![HoursException {
            date: "2026-02-30".into(),
            spans: vec![],
            reason: None,
        }];
        assert!(refused(bad_date).contains("2026-02-30"));
    }

    #[test]
    fn the_typical_reply_needs_five_tickets_and_counts_office_time() {
        let madrid =
            Schedule::parse(&weekdays("Europe/Madrid", vec![span("09:00", "18:00")])).unwrap();
        // Asked Friday 17:30 local, answered Monday 09:30: 60 office minutes.
        let weekend = (utc("2026-12-04T16:30:00Z"), utc("2026-12-07T08:30:00Z"));
        let quick = (utc("2026-12-07T09:00:00Z"), utc("2026-12-07T09:02:00Z"));
        let tickets = [weekend, weekend, weekend, quick, quick];
        assert_eq!(typical_reply(Some(&madrid), &tickets[..4]), None);
        assert_eq!(typical_reply(Some(&madrid), &tickets), Some(3600.0));
        assert_eq!(typical_reply(None, &[quick; 5]), Some(120.0));
    }
}
