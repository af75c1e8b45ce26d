//! Business hours over REST: set by supervisors and service keys, checked
//! with a reason, read by everyone with whether the team is in now, and the
//! typical reply time once there are enough answered tickets.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const HOURS: &str = "/api/soporte/horario/";

async fn put(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.send(Method::PUT, HOURS, token, Some(body)).await
}

/// Tomorrow's date in UTC, `YYYY-MM-DD`.
fn tomorrow_utc() -> String {
    let now = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

#[tokio::test]
async fn supervisors_set_the_hours_and_everyone_reads_whether_the_team_is_in() {
    let app = spawn_app().await;
    // No hours: always in.
    let (status, always) = app.get(HOURS, &customer(7)).await;
    assert_eq!(status, StatusCode::OK, "{always}");
    assert_eq!(
        (&always["horario"], &always["abierto"]),
        (&Value::Null, &json!(true))
    );

    // Closed all week, open only tomorrow 09:00-17:00 (UTC): closed now,
    // back tomorrow at nine, whatever time the test runs.
    let tomorrow = tomorrow_utc();
    let hours = json!({
        "zona": "UTC",
        "semana": {},
        "excepciones": [{"fecha": tomorrow, "tramos": [{"desde": "09:00", "hasta": "17:00"}], "motivo": "Apertura especial"}]
    });
    for token in [customer(7), agent(50)] {
        let (status, body) = put(&app, &token, hours.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, set) = put(&app, &supervisor(90), hours.clone()).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let (_, seen) = app.get(HOURS, &customer(7)).await;
    assert_eq!(seen["abierto"], false, "{seen}");
    assert_eq!(seen["abre"], format!("{tomorrow}T09:00:00.000Z"), "{seen}");
    assert_eq!(
        seen["horario"]["excepciones"][0]["motivo"],
        "Apertura especial"
    );
    assert_eq!(seen["respuesta_tipica_segundos"], Value::Null);

    // A mistake is a 400 saying which, and the hours stay as they were.
    for (bad, says) in [
        (
            json!({"zona": "Marte/Olimpo", "semana": {}}),
            "Marte/Olimpo",
        ),
        (
            json!({"zona": "UTC", "semana": {"lunes": [{"desde": "09:00", "hasta": "14:00"}, {"desde": "13:00", "hasta": "18:00"}]}}),
            "se solapan",
        ),
        (
            json!({"zona": "UTC", "semana": {"martes": [{"desde": "9", "hasta": "18:00"}]}}),
            "HH:MM",
        ),
        (json!({"zona": "UTC", "semana": {"festivo": []}}), "festivo"),
    ] {
        let (status, body) = put(&app, &supervisor(90), bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["detalle"].as_str().unwrap().contains(says),
            "{bad}: {body}"
        );
    }
    let (_, still) = app.get(HOURS, &agent(50)).await;
    assert_eq!(still["horario"], set["horario"]);

    // Open around the clock: in, and no closing within the horizon.
    let every_day = json!([{"desde": "00:00", "hasta": "24:00"}]);
    let always = json!({"zona": "Europe/Madrid", "semana": {
        "lunes": every_day, "martes": every_day, "miercoles": every_day, "jueves": every_day,
        "viernes": every_day, "sabado": every_day, "domingo": every_day}});
    let (status, open) = put(&app, &supervisor(90), always).await;
    assert_eq!(status, StatusCode::OK, "{open}");
    assert_eq!(
        (&open["abierto"], &open["cierra"]),
        (&json!(true), &Value::Null)
    );

    // Removed: always in again.
    let (status, _) = app.send(Method::DELETE, HOURS, &supervisor(90), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, gone) = app.get(HOURS, &customer(7)).await;
    assert_eq!(gone["horario"], Value::Null);
}

/// The typical reply time appears once five tickets of the week were
/// answered, and not before.
#[tokio::test]
async fn the_typical_reply_time_needs_five_answered_tickets() {
    let app = spawn_app().await;
    for n in 1..=5 {
        let (_, before) = app.get(HOURS, &customer(1)).await;
        assert_eq!(
            before["respuesta_tipica_segundos"],
            Value::Null,
            "{n}: {before}"
        );
        let ticket = app.ticket_for(&customer(n)).await;
        let path = format!("/api/soporte/tickets/{ticket}/chat/sync/");
        let question = json!({"messages": [{"client_id": "q", "contenido": "¿Hola?"}]});
        let (status, _) = app.post(&path, &customer(n), question).await;
        assert_eq!(status, StatusCode::OK);
        let answer = json!({"messages": [{"client_id": "a", "contenido": "¡Hola!"}]});
        let (status, body) = app.post(&path, &supervisor(90), answer).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, after) = app.get(HOURS, &customer(1)).await;
    let typical = after["respuesta_tipica_segundos"].as_f64();
    assert!(typical.is_some_and(|s| (0.0..60.0).contains(&s)), "{after}");
}
