"""The webhook view: signature checks, dedupe by event id, and real
deliveries from Soporte over HTTP to Django's live server."""

import json
import secrets
import time

import pytest
import requests
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken

from helpdesk import soporte as soporte_api
from helpdesk.models import SoporteEvent, Ticket
from helpdesk.signatures import SignatureError, sign, verify_signature

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()

EVENT = {
    "id": "evt_0123456789abcdef",
    "tipo": "ticket.creado",
    "creado": "2026-12-01T10:00:00.000Z",
    "data": {"ticket": {"id": 1, "asunto": "Cannot log in"}},
}


def post_event(live_server, body, signature=None):
    headers = {"Content-Type": "application/json", "X-Soporte-Event-Id": EVENT["id"]}
    if signature is not None:
        headers["X-Soporte-Signature"] = signature
    return requests.post(live_server.url + "/webhooks/soporte/", data=body, headers=headers, timeout=10)


def signature(secret, body, t=None):
    t = int(time.time()) if t is None else t
    return f"t={t},v1={sign(secret, body, t)}"


def wait_for(find, timeout=20, explain=lambda: ""):
    """Polls `find` until it returns something truthy; on timeout, fails
    with what `explain` says."""
    deadline = time.monotonic() + timeout
    while not (found := find()):
        if time.monotonic() > deadline:
            pytest.fail(f"nothing after {timeout} s. {explain()}")
        time.sleep(0.1)
    return found


@pytest.fixture
def webhook_secret(settings):
    settings.SOPORTE_WEBHOOK_SECRET = "whsec_" + secrets.token_hex(24)
    return settings.SOPORTE_WEBHOOK_SECRET


# --- the view alone (requests signed here) ------------------------------------


def test_the_signature_check_accepts_a_known_signature_within_the_window():
    """A vector computed apart from this code:
    printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test"""
    header = "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    body = b'{"a":1}'
    verify_signature("whsec_test", header, body, now=1_700_000_000 + 300)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature("whsec_test", header, body, now=1_700_000_000 + 301)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature("whsec_test", header, b'{"a":2}', now=1_700_000_000)


def test_a_signed_event_is_stored_once_however_often_it_arrives(live_server, webhook_secret):
    body = json.dumps(EVENT).encode()

    first = post_event(live_server, body, signature(webhook_secret, body))
    assert first.status_code == 200, first.text
    assert first.json() == {"received": EVENT["id"], "duplicate": False}

    again = post_event(live_server, body, signature(webhook_secret, body))
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True

    [event] = SoporteEvent.objects.all()
    assert (event.event_id, event.type, event.payload) == (EVENT["id"], "ticket.creado", EVENT)
    assert event.deliveries == 2


REFUSED = {
    "no signature": (lambda secret, body: None, 400),
    "malformed header": (lambda secret, body: "v1=" + sign(secret, body, 1), 400),
    "another secret": (lambda secret, body: signature("whsec_not-ours", body), 401),
    "another body": (lambda secret, body: signature(secret, body + b" "), 401),
    # Well outside the 300 s window: `t` is whole seconds and the receiver's
    # clock reads later, so "+301" fell inside it whenever the second turned
    # before the check.
    "stale t": (lambda secret, body: signature(secret, body, int(time.time()) - 330), 401),
    "t from the future": (lambda secret, body: signature(secret, body, int(time.time()) + 330), 401),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_delivery_not_signed_now_with_our_secret_is_refused(live_server, webhook_secret, case):
    make_signature, status = REFUSED[case]
    body = json.dumps(EVENT).encode()

    response = post_event(live_server, body, make_signature(webhook_secret, body))

    assert response.status_code == status, response.text
    assert not SoporteEvent.objects.exists()


# --- real deliveries from the soporte server ------------------------------------


@pytest.fixture
def registered_webhook(soporte, live_server, settings):
    """Registers the live server's webhook URL for mensaje.creado (with the
    example's own helper) and configures the returned secret."""
    hook = soporte_api.register_webhook(
        live_server.url + "/webhooks/soporte/", ["mensaje.creado"], "pytest"
    )
    assert hook["secreto"].startswith("whsec_")
    settings.SOPORTE_WEBHOOK_SECRET = hook["secreto"]
    yield hook
    deleted = soporte.api("DELETE", f"/api/soporte/webhooks/{hook['id']}/")
    assert deleted.status_code == 204, deleted.text


def send_hola(soporte, customer):
    """A customer's ticket, and "Hola" sent on its WebSocket; returns the
    ticket and the message id Soporte confirmed."""
    ticket = Ticket.objects.create(subject="Cannot log in", customer=customer)
    ws, first = soporte.connect(ticket.soporte_ticket_id, str(AccessToken.for_user(customer)))
    try:
        assert first["tipo"] == "connection_established"
        message = {"mensaje": "Hola", "client_id": "c1", "metadata": {}}
        ws.send(json.dumps({"tipo": "mensaje", "data": message}))
        while (frame := json.loads(ws.recv()))["tipo"] != "mensaje_confirmado":
            assert frame["tipo"] != "error", frame
    finally:
        ws.close()
    return ticket, frame["data"]["mensaje_id"]


def delivery_log(soporte, hook):
    response = soporte.api("GET", f"/api/soporte/webhooks/{hook['id']}/entregas/")
    assert response.status_code == 200, response.text
    return response.json()["results"]


def delivered_log(soporte, hook):
    """The hook's delivery log once every delivery in it is done (else None)."""
    log = delivery_log(soporte, hook)
    return log if log and all(d["estado"] == "entregado" for d in log) else None


def wait_for_event(soporte, hook, **filters):
    """The stored event matching `filters`, once the live server has it."""
    return wait_for(
        lambda: SoporteEvent.objects.filter(**filters).first(),
        explain=lambda: f"Soporte's delivery log: {delivery_log(soporte, hook)}",
    )


def test_a_message_arrives_as_a_verified_mensaje_creado_event_stored_once(
    soporte, registered_webhook
):
    carla = User.objects.create_user("carla", first_name="Carla")
    ticket, message_id = send_hola(soporte, carla)

    event = wait_for_event(soporte, registered_webhook, type="mensaje.creado")
    assert event.event_id.startswith("evt_")
    data = event.payload["data"]
    # Both ids: Soporte's, and the helpdesk's pk as external_id.
    assert data["ticket"] == {"id": ticket.soporte_ticket_id, "external_id": str(ticket.pk)}
    assert data["mensaje"]["id"] == message_id
    assert data["mensaje"]["contenido"] == "Hola"
    assert data["mensaje"]["autor"]["id"] == carla.pk

    # Soporte saw the view's 2xx: delivered on the first attempt, not retried.
    log = wait_for(
        lambda: delivered_log(soporte, registered_webhook),
        explain=lambda: str(delivery_log(soporte, registered_webhook)),
    )
    attempts = [(d["evento_id"], [a["estado_http"] for a in d["historial"]]) for d in log]
    assert attempts == [(event.event_id, [200])]
    assert SoporteEvent.objects.count() == 1
    event.refresh_from_db()
    assert event.deliveries == 1


def test_a_resent_event_is_acknowledged_but_stored_once(soporte, registered_webhook):
    carla = User.objects.create_user("carla")
    send_hola(soporte, carla)
    event = wait_for_event(soporte, registered_webhook, type="mensaje.creado")
    [delivery] = wait_for(lambda: delivered_log(soporte, registered_webhook))

    resend = soporte.api(
        "POST",
        f"/api/soporte/webhooks/{registered_webhook['id']}/entregas/{delivery['id']}/reenviar/",
    )
    assert resend.status_code == 202, resend.text

    wait_for(
        lambda: SoporteEvent.objects.get(pk=event.pk).deliveries == 2,
        explain=lambda: str(delivery_log(soporte, registered_webhook)),
    )
    assert SoporteEvent.objects.count() == 1
    # The view answered the duplicate with 2xx too: nothing left to retry.
    log = wait_for(
        lambda: delivered_log(soporte, registered_webhook),
        explain=lambda: str(delivery_log(soporte, registered_webhook)),
    )
    assert {d["evento_id"] for d in log} == {event.event_id}
