import json
import logging

from django.conf import settings
from django.db.models import F
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken

from .models import SoporteEvent, Ticket
from .signatures import SignatureError, verify_signature

logger = logging.getLogger(__name__)


class ChatSessionView(APIView):
    """What the chat widget needs: a token, Soporte's URL and the ticket.

    GET /api/chat-session/            the user's latest ticket
    GET /api/chat-session/?ticket=PK  a given helpdesk ticket (staff: any)

    The token is simplejwt's default access token, signed with the key shared
    with Soporte. It has no role or name: Soporte takes them from provisioning.
    It expires after 5 minutes, so the widget asks again when it reconnects.
    """

    def get(self, request):
        user = request.user
        tickets = Ticket.objects.all() if user.is_staff else user.tickets.all()
        tickets = tickets.filter(soporte_ticket_id__isnull=False)
        if "ticket" in request.query_params:
            pk = request.query_params["ticket"]
            if not pk.isdigit():
                raise ValidationError({"ticket": "A ticket number."})
            ticket = get_object_or_404(tickets, pk=pk)
        else:
            ticket = tickets.filter(customer=user).order_by("-created", "-pk").first()
        return Response(
            {
                "token": str(AccessToken.for_user(user)),
                "soporte_url": settings.SOPORTE_PUBLIC_URL,
                "ticket_id": ticket.soporte_ticket_id if ticket else None,
            }
        )


@csrf_exempt
@require_POST
def soporte_webhook(request):
    """Receives Soporte's webhook deliveries: verify, store once, answer 2xx.

    Any answer other than 2xx makes Soporte retry the delivery later, so the
    view does no work beyond storing the event, and a delivery of an event it
    already has (a retry or a resend) is acknowledged without a second row.
    """
    try:
        verify_signature(
            settings.SOPORTE_WEBHOOK_SECRET,
            request.headers.get("X-Soporte-Signature"),
            request.body,
            tolerance=settings.SOPORTE_WEBHOOK_TOLERANCE,
        )
    except SignatureError as error:
        logger.warning("refused a Soporte webhook: %s", error)
        return JsonResponse({"detail": str(error)}, status=error.status)

    try:
        event = json.loads(request.body)
        event_id, event_type = event["id"], event["tipo"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"detail": "not a Soporte event"}, status=400)

    # The id from the signed body, not the (unsigned) X-Soporte-Event-Id header.
    # The unique event_id makes concurrent deliveries of one event store once.
    _, created = SoporteEvent.objects.get_or_create(
        event_id=event_id, defaults={"type": event_type, "payload": event}
    )
    if not created:
        SoporteEvent.objects.filter(event_id=event_id).update(deliveries=F("deliveries") + 1)
    return JsonResponse({"received": event_id, "duplicate": not created})
