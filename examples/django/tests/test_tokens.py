"""simplejwt's default access token, minted by the real library, is accepted
by Soporte for provisioned users (REST and the ticket WebSocket)."""

import jwt
import pytest
import requests
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from helpdesk.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()


def chat_session(user, **params):
    client = APIClient()
    client.force_login(user)  # a logged-in helpdesk user (session cookie)
    return client.get("/api/chat-session/", params)


def test_the_chat_session_token_of_a_customer_opens_their_ticket(soporte):
    carla = User.objects.create_user("carla", first_name="Carla", last_name="Méndez")
    ticket = Ticket.objects.create(subject="Cannot log in", customer=carla)

    response = chat_session(carla)
    assert response.status_code == 200, response.content
    session = response.json()
    assert session["soporte_url"] == soporte.url
    assert session["ticket_id"] == ticket.soporte_ticket_id
    token = session["token"]

    # simplejwt's defaults, nothing Soporte-specific: no role, no name.
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"token_type", "exp", "iat", "jti", "user_id"}
    assert claims["user_id"] == str(carla.pk)

    rest = requests.get(
        soporte.url + "/api/soporte/tickets/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert rest.status_code == 200, rest.text
    assert [t["id"] for t in rest.json()["results"]] == [ticket.soporte_ticket_id]

    ws, first = soporte.connect(ticket.soporte_ticket_id, token)
    ws.close()
    assert first["tipo"] == "connection_established"
    assert first["data"]["ticket"]["id"] == ticket.soporte_ticket_id
    user = first["data"]["usuario"]
    assert (user["id"], user["tipo"], user["nombre"]) == (carla.pk, "CLIENTE", "Carla Méndez")


def test_the_same_token_of_a_user_never_provisioned_is_refused(soporte):
    dora = User.objects.create_user("dora")  # a customer with no ticket yet
    token = str(AccessToken.for_user(dora))

    rest = requests.get(
        soporte.url + "/api/soporte/tickets/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert rest.status_code == 401
    assert "role" in rest.json()["detalle"]


def test_a_customer_cannot_ask_for_another_customers_ticket(soporte):
    carla = User.objects.create_user("carla")
    theirs = Ticket.objects.create(subject="Mine", customer=User.objects.create_user("eva"))
    assert chat_session(carla, ticket=theirs.pk).status_code == 404

    assert chat_session(carla, ticket="x").status_code == 400

    agent = User.objects.create_user("ana", is_staff=True)
    response = chat_session(agent, ticket=theirs.pk)
    assert response.status_code == 200
    assert response.json()["ticket_id"] == theirs.soporte_ticket_id


def test_the_chat_session_needs_a_logged_in_user(soporte):
    assert APIClient().get("/api/chat-session/").status_code in (401, 403)
