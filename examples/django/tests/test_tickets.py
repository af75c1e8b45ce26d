"""Each helpdesk ticket gets exactly one Soporte ticket, keyed by its pk."""

import pytest
from django.contrib.auth import get_user_model

from helpdesk.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()


def soporte_tickets_for(soporte, ticket):
    response = soporte.api("GET", "/api/soporte/tickets/", params={"external_id": str(ticket.pk)})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_helpdesk_ticket_opens_one_soporte_ticket_with_its_pk_as_external_id(soporte):
    carla = User.objects.create_user("carla", first_name="Carla", last_name="Méndez")
    ticket = Ticket.objects.create(subject="Cannot log in", customer=carla)

    found = soporte_tickets_for(soporte, ticket)
    assert found["count"] == 1
    [remote] = found["results"]
    assert remote["external_id"] == str(ticket.pk)
    assert remote["asunto"] == "Cannot log in"
    assert remote["cliente"]["id"] == carla.pk
    assert remote["metadata"] == {"helpdesk_ticket": ticket.pk}
    ticket.refresh_from_db()
    assert ticket.soporte_ticket_id == remote["id"]

    # The customer was provisioned on the way, as a CLIENTE.
    customer = soporte.api("GET", f"/api/soporte/usuarios/{carla.pk}/").json()
    assert (customer["rol"], customer["nombre"]) == ("CLIENTE", "Carla Méndez")

    ticket.subject = "Cannot log in since Monday"
    ticket.save()
    assert soporte_tickets_for(soporte, ticket)["count"] == 1
    ticket.refresh_from_db()
    assert ticket.soporte_ticket_id == remote["id"]


def test_a_retry_after_a_lost_answer_gets_the_first_soporte_ticket_back(soporte):
    """The helpdesk crashed after Soporte made the ticket but before it stored
    the id: the next attempt gets 409 with that ticket's id, not a new ticket."""
    carla = User.objects.create_user("carla")
    ticket = Ticket.objects.create(subject="Invoice is wrong", customer=carla)
    first_id = ticket.soporte_ticket_id
    assert first_id is not None

    Ticket.objects.filter(pk=ticket.pk).update(soporte_ticket_id=None)
    ticket.refresh_from_db()
    ticket.save()

    ticket.refresh_from_db()
    assert ticket.soporte_ticket_id == first_id
    found = soporte_tickets_for(soporte, ticket)
    assert [t["id"] for t in found["results"]] == [first_id]
