"""A small client for Soporte's service API, authenticated with the service key.

Every call is a plain HTTP request (requests); failures raise SoporteError
with the status and Soporte's `detalle`.
"""

import requests
from django.conf import settings

TIMEOUT_SECONDS = 10


class SoporteError(Exception):
    def __init__(self, response):
        self.status = response.status_code
        try:
            self.detail = response.json().get("detalle", response.text)
        except ValueError:
            self.detail = response.text
        super().__init__(
            f"{response.request.method} {response.url}: {self.status} {self.detail}"
        )


def request(method, path, **kwargs):
    """Calls Soporte with the service key; returns the requests.Response."""
    url = settings.SOPORTE_URL.rstrip("/") + path
    headers = {"Authorization": f"Api-Key {settings.SOPORTE_API_KEY}"}
    return requests.request(method, url, headers=headers, timeout=TIMEOUT_SECONDS, **kwargs)


def role_for(user):
    """The Soporte role of a helpdesk user."""
    if user.is_superuser:
        return "SUPERVISOR"
    if user.is_staff:
        return "AGENTE"
    return "CLIENTE"


def provision_user(user):
    """Creates or updates the user in Soporte (same id); returns Soporte's copy."""
    body = {
        "nombre": user.get_full_name() or user.get_username(),
        "rol": role_for(user),
        "email": user.email or None,
        "activo": user.is_active,
    }
    response = request("PUT", f"/api/soporte/usuarios/{user.pk}/", json=body)
    if response.status_code not in (200, 201):
        raise SoporteError(response)
    return response.json()


def create_ticket(ticket):
    """Opens the Soporte ticket of a helpdesk ticket; returns its Soporte id.

    `external_id` is the helpdesk's primary key, so a retry after a crash or a
    timeout gets 409 with the id of the ticket the first attempt made, instead
    of a second ticket.
    """
    body = {
        "asunto": ticket.subject,
        "cliente": ticket.customer_id,
        "external_id": str(ticket.pk),
        "metadata": {"helpdesk_ticket": ticket.pk},
    }
    response = request("POST", "/api/soporte/tickets/", json=body)
    if response.status_code == 201:
        return response.json()["id"]
    if response.status_code == 409 and "ticket" in response.json():
        return response.json()["ticket"]
    raise SoporteError(response)


def register_webhook(url, events, description=""):
    """Registers a webhook endpoint. The answer's `secreto` is shown only now:
    keep it as SOPORTE_WEBHOOK_SECRET."""
    body = {"url": url, "eventos": events, "descripcion": description}
    response = request("POST", "/api/soporte/webhooks/", json=body)
    if response.status_code != 201:
        raise SoporteError(response)
    return response.json()
