//! `/api/soporte/horario/`: when the team answers, and what that means now.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The team's weekly hours in a time zone, with dated exceptions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// An IANA time zone (`Europe/Madrid`); every time below is local to it.
    #[serde(rename = "zona")]
    pub zone: String,
    #[serde(rename = "semana")]
    pub week: WeekHours,
    /// Dates whose hours differ (holidays: no spans), in any order.
    #[serde(rename = "excepciones", default)]
    pub exceptions: Vec<HoursException>,
}

/// Spans of each weekday; a day left out or empty is closed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct WeekHours {
    #[serde(default)]
    pub lunes: Vec<Span>,
    #[serde(default)]
    pub martes: Vec<Span>,
    #[serde(default)]
    pub miercoles: Vec<Span>,
    #[serde(default)]
    pub jueves: Vec<Span>,
    #[serde(default)]
    pub viernes: Vec<Span>,
    #[serde(default)]
    pub sabado: Vec<Span>,
    #[serde(default)]
    pub domingo: Vec<Span>,
}

impl WeekHours {
    /// Monday first.
    pub fn days(&self) -> [(&'static str, &[Span]); 7] {
        [
            ("lunes", &self.lunes),
            ("martes", &self.martes),
            ("miércoles", &self.miercoles),
            ("jueves", &self.jueves),
            ("viernes", &self.viernes),
            ("sábado", &self.sabado),
            ("domingo", &self.domingo),
        ]
    }
}

/// From `desde` to `hasta`, local `HH:MM` (`hasta` may be `24:00`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Span {
    #[serde(rename = "desde")]
    pub from: String,
    #[serde(rename = "hasta")]
    pub to: String,
}

/// One date's own hours: none is closed all day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct HoursException {
    /// `YYYY-MM-DD`, in the schedule's zone.
    #[serde(rename = "fecha")]
    pub date: String,
    #[serde(rename = "tramos", default)]
    pub spans: Vec<Span>,
    /// What people are told it is (`Navidad`).
    #[serde(rename = "motivo", default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /api/soporte/horario/`: the hours and whether the team is in now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct HoursStatus {
    /// `None`: no hours set, the team is always in.
    #[serde(rename = "horario")]
    pub hours: Option<BusinessHours>,
    #[serde(rename = "abierto")]
    pub open: bool,
    /// While open: when it closes (`None`: not within a year).
    #[serde(rename = "cierra")]
    pub closes: Option<Timestamp>,
    /// While closed: when it opens again (`None`: not within a year).
    #[serde(rename = "abre")]
    pub opens: Option<Timestamp>,
    /// The median first reply, counted in office hours, over the tickets
    /// of the last 7 days; `None` with fewer than 5 answered.
    #[serde(rename = "respuesta_tipica_segundos")]
    pub typical_reply_seconds: Option<f64>,
}
