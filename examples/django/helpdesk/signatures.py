"""Verifying Soporte's webhook signatures. Standard library only: copy it.

Soporte signs every delivery with the endpoint's secret (`whsec_...`):

    X-Soporte-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

`t` is the time of the attempt, so a captured request stops being accepted
once it is older than the tolerance window, and the HMAC covers `t` too.
"""

import hashlib
import hmac
import time


class SignatureError(Exception):
    """The request is not a genuine, fresh Soporte delivery. `status` is the
    HTTP status to answer: 400 for a missing or malformed header, 401 for a
    signature that does not match or a `t` outside the tolerance window."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def sign(secret, body, timestamp):
    """The `v1` signature of a raw body (bytes) at `timestamp` (unix seconds)."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(secret, header, body, tolerance=300, now=None):
    """Raises SignatureError unless `header` (the X-Soporte-Signature value) is
    a valid signature of `body` (the raw request bytes, before any JSON
    parsing) made with `secret` less than `tolerance` seconds from `now`."""
    if not secret:
        raise SignatureError("no webhook secret is configured", 401)
    if not header:
        raise SignatureError("missing X-Soporte-Signature header", 400)
    timestamp, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not timestamp.isdigit() or not candidates:
        raise SignatureError("malformed X-Soporte-Signature header", 400)

    expected = sign(secret, body, timestamp).encode()
    # Constant time, and any v1 may match (more than one can be sent).
    if not any(hmac.compare_digest(expected, c.encode()) for c in candidates):
        raise SignatureError("signature does not match", 401)
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureError("timestamp outside the tolerance window", 401)
