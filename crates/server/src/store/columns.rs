//! Typed columns both databases read the same way: the enums stored as their
//! wire text, and JSON objects stored as text. A value that is not one we
//! write (a hand edit, a bad restore) fails the read with [`CorruptValue`],
//! never turns into a default (a corrupt state reading back as `ABIERTO`
//! would reopen a closed ticket).

use crate::domain::webhooks::EventFilter;
use soporte_protocol::webhook::DeliveryState;
use soporte_protocol::{AuthorKind, Availability, MessageKind, MessageState, Role, TicketState};
use std::error::Error;
use tokio_postgres::types::{FromSql as PgFromSql, Type};

/// An enum stored as the text of its wire name.
pub trait StoredEnum: Sized + Copy + 'static {
    const NAME: &'static str;
    fn parse(text: &str) -> Option<Self>;
}

macro_rules! stored_enum {
    ($($t:ty),*) => {$(
        impl StoredEnum for $t {
            const NAME: &'static str = stringify!($t);
            fn parse(text: &str) -> Option<Self> {
                <$t>::parse(text)
            }
        }
    )*};
}
stored_enum!(
    Role,
    AuthorKind,
    MessageKind,
    MessageState,
    TicketState,
    Availability,
    DeliveryState
);

/// A column that held what no version of ours writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt {kind} in the database: {value:?}")]
pub struct CorruptValue {
    pub kind: &'static str,
    pub value: String,
}

/// A [`StoredEnum`] column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored<T>(pub T);

fn parse<T: StoredEnum>(text: &str) -> Result<Stored<T>, CorruptValue> {
    T::parse(text).map(Stored).ok_or_else(|| CorruptValue {
        kind: T::NAME,
        value: text.chars().take(64).collect(),
    })
}

impl<T: StoredEnum> rusqlite::types::FromSql for Stored<T> {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        parse(text).map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

impl<'a, T: StoredEnum> PgFromSql<'a> for Stored<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let text = <&str as PgFromSql>::from_sql(ty, raw)?;
        Ok(parse(text)?)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as PgFromSql>::accepts(ty)
    }
}

/// A JSON object stored as text (a message's `metadata`); NULL is empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonObject(pub serde_json::Map<String, serde_json::Value>);

fn parse_json(text: &str) -> Result<JsonObject, CorruptValue> {
    serde_json::from_str(text)
        .map(JsonObject)
        .map_err(|_| CorruptValue {
            kind: "JSON object",
            value: text.chars().take(64).collect(),
        })
}

impl rusqlite::types::FromSql for JsonObject {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        parse_json(value.as_str()?).map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

impl<'a> PgFromSql<'a> for JsonObject {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(parse_json(<&str as PgFromSql>::from_sql(ty, raw)?)?)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as PgFromSql>::accepts(ty)
    }
}

/// The corrupt value behind a database error, if that is what it was.
pub fn corrupt_value<'e>(error: &'e (dyn Error + 'static)) -> Option<&'e CorruptValue> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(corrupt) = error.downcast_ref::<CorruptValue>() {
            return Some(corrupt);
        }
        cause = error.source();
    }
    None
}

/// A subscription's events, stored as a JSON array of names (or `["*"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvents(pub EventFilter);

fn parse_events(text: &str) -> Result<StoredEvents, CorruptValue> {
    serde_json::from_str::<Vec<String>>(text)
        .ok()
        .and_then(|names| EventFilter::parse(&names).ok())
        .map(StoredEvents)
        .ok_or_else(|| CorruptValue {
            kind: "webhook events",
            value: text.chars().take(64).collect(),
        })
}

impl rusqlite::types::FromSql for StoredEvents {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        parse_events(value.as_str()?).map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

impl<'a> PgFromSql<'a> for StoredEvents {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(parse_events(<&str as PgFromSql>::from_sql(ty, raw)?)?)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as PgFromSql>::accepts(ty)
    }
}
