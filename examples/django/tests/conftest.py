"""Starts a real `soporte serve` for the test session and points Django at it.

The binary is $SOPORTE_BIN (default: the workspace's target/debug/soporte).
The server gets a free port, a temporary SQLite database and file folder,
Django's simplejwt signing key as its SOPORTE_JWT_SECRET, and a service key
made with `soporte api-key create` before it starts.
"""

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import websocket
from django.conf import settings as django_settings

EXAMPLE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_BIN = EXAMPLE_DIR / "../../target/debug/soporte"
START_TIMEOUT_SECONDS = 30


@dataclass
class Soporte:
    url: str
    api_key: str

    def api(self, method, path, **kwargs):
        """A REST call with the service key."""
        headers = {"Authorization": f"Api-Key {self.api_key}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def connect(self, ticket_id, token):
        """Opens the ticket's WebSocket; returns it and its first frame."""
        ws_url = self.url.replace("http://", "ws://", 1)
        ws = websocket.create_connection(
            f"{ws_url}/ws/soporte/ticket/{ticket_id}/?token={token}",
            timeout=10,
            suppress_origin=True,  # no Origin header: a non-browser client
        )
        return ws, json.loads(ws.recv())


@pytest.fixture(scope="session")
def soporte(tmp_path_factory):
    binary = Path(os.environ.get("SOPORTE_BIN") or DEFAULT_BIN).resolve()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no soporte binary at {binary}: build it or set SOPORTE_BIN")

    workdir = tmp_path_factory.mktemp("soporte")
    database_url = f"sqlite://{workdir / 'soporte.db'}"
    # Only the variables set here: a SOPORTE_* from the caller's environment
    # (a Redis URL, a bind address) must not change the server under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPORTE_")}
    env["SOPORTE_JWT_SECRET"] = django_settings.SIMPLE_JWT["SIGNING_KEY"]

    created = subprocess.run(
        [binary, "api-key", "create", "--name", "django", "--database-url", database_url],
        env=env, capture_output=True, text=True, timeout=60,
    )
    api_key = created.stdout.strip()
    assert re.fullmatch(r"sop_[0-9a-f]{8}\.[0-9a-f]{64}", api_key), created

    args = [
        binary, "serve",
        "--bind", "127.0.0.1:0",
        "--database-url", database_url,
        "--storage", str(workdir / "files"),
        "--webhook-allow-private",  # the live server is on 127.0.0.1
    ]

    stdout_log, stderr_log = workdir / "stdout.log", workdir / "stderr.log"
    with open(stdout_log, "wb") as out, open(stderr_log, "wb") as err:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (found := re.search(r"listening on (http://\S+)", stdout_log.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"soporte serve did not start (exit {process.poll()}):\n"
                    + stderr_log.read_text()[-4000:]
                )
            time.sleep(0.05)
        yield Soporte(found.group(1), api_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(autouse=True)
def soporte_settings(settings, soporte):
    """Every test's Django talks to the session's server."""
    settings.SOPORTE_URL = soporte.url
    settings.SOPORTE_PUBLIC_URL = soporte.url
    settings.SOPORTE_API_KEY = soporte.api_key


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory):
    """A file database for the tests (not SQLite's in-memory default): the
    live server's threads, which store webhooks, get connections of their own."""
    test_db = tmp_path_factory.mktemp("helpdesk") / "test.sqlite3"
    django_settings.DATABASES["default"]["TEST"]["NAME"] = str(test_db)
