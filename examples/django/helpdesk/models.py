from django.conf import settings
from django.db import models


class Ticket(models.Model):
    """The helpdesk's own ticket. Each one gets a Soporte ticket for its chat."""

    subject = models.CharField(max_length=200)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tickets"
    )
    created = models.DateTimeField(auto_now_add=True)
    # Set once Soporte has the ticket (signals.open_soporte_ticket).
    soporte_ticket_id = models.PositiveBigIntegerField(
        null=True, blank=True, unique=True, editable=False
    )

    def __str__(self):
        return f"#{self.pk} {self.subject}"


class SoporteEvent(models.Model):
    """A webhook event from Soporte, stored once however often it arrives.

    The webhook view only verifies and stores; whatever the helpdesk does with
    an event (notify, reopen, index...) reads it from here, off the request.
    """

    event_id = models.CharField(max_length=128, unique=True)
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    received = models.DateTimeField(auto_now_add=True)
    # How many deliveries of this event arrived (retries, manual resends).
    deliveries = models.PositiveIntegerField(default=1)

    def __str__(self):
        return f"{self.event_id} {self.type}"
