"""Keeps Soporte in step with the helpdesk.

The calls run after the database transaction commits (on_commit): Soporte
never hears of a row that was rolled back. They run inside the request here to
keep the example short; a production helpdesk would hand them to its task
queue and retry, which is safe: provisioning is a PUT, and a ticket retry gets
the first attempt's ticket back (see soporte.create_ticket).
"""

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from . import soporte
from .models import Ticket


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def provision_staff(sender, instance, **kwargs):
    """Staff are Soporte agents (superusers supervisors) from their first save;
    every later save updates their name, email and active flag."""
    if kwargs["update_fields"] == {"last_login"}:
        return  # a login: nothing Soporte knows of changed
    if instance.is_staff or instance.is_superuser:
        transaction.on_commit(lambda: soporte.provision_user(instance))


@receiver(post_save, sender=Ticket)
def open_soporte_ticket(sender, instance, **kwargs):
    if instance.soporte_ticket_id is None:
        transaction.on_commit(lambda: sync_ticket(instance))


def sync_ticket(ticket):
    """Makes sure the ticket's customer and the ticket exist in Soporte."""
    # Customers become Soporte users when they first need a ticket.
    soporte.provision_user(ticket.customer)
    ticket.soporte_ticket_id = soporte.create_ticket(ticket)
    # update(), not save(): no second post_save.
    Ticket.objects.filter(pk=ticket.pk).update(soporte_ticket_id=ticket.soporte_ticket_id)
