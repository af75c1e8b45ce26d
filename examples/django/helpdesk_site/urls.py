from django.urls import path

from helpdesk import views

urlpatterns = [
    path("api/chat-session/", views.ChatSessionView.as_view(), name="chat-session"),
    path("webhooks/soporte/", views.soporte_webhook, name="soporte-webhook"),
]
