"""Settings of the example helpdesk: a minimal Django project plus what Soporte needs.

Every Soporte setting comes from the environment (see README.md):

- SOPORTE_URL: where this server reaches Soporte's REST API.
- SOPORTE_PUBLIC_URL: where browsers reach Soporte (default: SOPORTE_URL).
- SOPORTE_API_KEY: the service key made with `soporte api-key create`.
- SOPORTE_JWT_SECRET: the HS256 key shared with Soporte (at least 32 bytes);
  simplejwt signs the users' access tokens with it.
- SOPORTE_WEBHOOK_SECRET: the `secreto` Soporte returned when the webhook
  endpoint was registered; the webhook view verifies signatures with it.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-only")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "helpdesk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "helpdesk_site.urls"
WSGI_APPLICATION = "helpdesk_site.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# --- Soporte -----------------------------------------------------------------

SOPORTE_URL = os.environ.get("SOPORTE_URL", "http://127.0.0.1:8000")
SOPORTE_PUBLIC_URL = os.environ.get("SOPORTE_PUBLIC_URL", SOPORTE_URL)
SOPORTE_API_KEY = os.environ.get("SOPORTE_API_KEY", "")
SOPORTE_WEBHOOK_SECRET = os.environ.get("SOPORTE_WEBHOOK_SECRET", "")
# Seconds a webhook's `t` may be away from this server's clock.
SOPORTE_WEBHOOK_TOLERANCE = 300
# The development fallback is 32+ bytes so a local `soporte serve` accepts it;
# never deploy with it.
SOPORTE_JWT_SECRET = os.environ.get(
    "SOPORTE_JWT_SECRET", "dev-only-shared-key-change-me-0123456789"
)

# simplejwt's defaults (HS256, `user_id` claim, 5-minute access tokens), with
# the key shared with Soporte instead of SECRET_KEY.
SIMPLE_JWT = {"SIGNING_KEY": SOPORTE_JWT_SECRET}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"helpdesk": {"handlers": ["console"], "level": "INFO"}},
}
