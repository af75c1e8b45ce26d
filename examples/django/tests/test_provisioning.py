"""Staff are provisioned as Soporte agents when they are saved."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()


def test_saving_a_staff_user_provisions_an_agent_and_later_saves_update_it(soporte):
    ana = User.objects.create_user(
        "ana", email="ana@helpdesk.example", first_name="Ana", last_name="García", is_staff=True
    )

    response = soporte.api("GET", f"/api/soporte/usuarios/{ana.pk}/")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": ana.pk,
        "nombre": "Ana García",
        "rol": "AGENTE",
        "avatar": None,
        "email": "ana@helpdesk.example",
        "activo": True,
    }

    ana.last_name = "Ruiz"
    ana.save()
    assert soporte.api("GET", f"/api/soporte/usuarios/{ana.pk}/").json()["nombre"] == "Ana Ruiz"

    ana.is_active = False
    ana.save()
    assert soporte.api("GET", f"/api/soporte/usuarios/{ana.pk}/").json()["activo"] is False


def test_a_superuser_is_provisioned_as_a_supervisor(soporte):
    boss = User.objects.create_superuser("boss", "boss@helpdesk.example", "pw")
    response = soporte.api("GET", f"/api/soporte/usuarios/{boss.pk}/")
    assert response.status_code == 200, response.text
    assert response.json()["rol"] == "SUPERVISOR"
    assert response.json()["nombre"] == "boss"  # no full name: the username


def test_saving_a_customer_does_not_provision_them(soporte):
    carla = User.objects.create_user("carla", first_name="Carla")
    assert soporte.api("GET", f"/api/soporte/usuarios/{carla.pk}/").status_code == 404


def test_a_login_does_not_call_soporte(soporte):
    ana = User.objects.create_user("ana", first_name="Ana", is_staff=True)
    renamed = {"nombre": "Renamed in Soporte", "rol": "AGENTE"}
    assert soporte.api("PUT", f"/api/soporte/usuarios/{ana.pk}/", json=renamed).status_code == 200

    Client().force_login(ana)  # saves the user with update_fields=["last_login"]

    ana.refresh_from_db()
    assert ana.last_login is not None
    in_soporte = soporte.api("GET", f"/api/soporte/usuarios/{ana.pk}/").json()
    assert in_soporte["nombre"] == "Renamed in Soporte"
