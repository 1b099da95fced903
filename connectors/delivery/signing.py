"""HMAC-SHA256 signatures for web-hook requests, with a replay window.

Both directions are signed: the connector signs each task it POSTs to the
agency's tool, and the agency signs each answer it POSTs back. The signature
covers the timestamp and the exact body bytes (``"<timestamp>." + body``), so
neither can be altered, and a request older or newer than the replay window
is refused even when its signature is good (a captured request cannot be
replayed later). Comparison is constant-time.

Headers::

    X-Mashlink-Timestamp: 1717322400              (unix seconds, UTC)
    X-Mashlink-Signature: v1=<hex hmac-sha256>
    Idempotency-Key: <enquiry id>[:<sequence>]
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Mashlink-Timestamp"
SIGNATURE_HEADER = "X-Mashlink-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "v1"
DEFAULT_WINDOW_S = 300


class SignatureError(Exception):
    """The request is not authentic; ``rule`` names which check failed (never the key or body)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={mac}"


def sign_headers(key: bytes, body: bytes, *, now: float | None = None, idempotency_key: str | None = None
                 ) -> dict[str, str]:
    ts = int(now if now is not None else time.time())
    headers = {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: signature(key, ts, body),
               "Content-Type": "application/json"}
    if idempotency_key:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    return headers


def _get(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def verify(key: bytes, headers: Mapping[str, str], body: bytes, *, now: float | None = None,
           window_s: int = DEFAULT_WINDOW_S) -> int:
    """Check signature and freshness; returns the timestamp. Raises SignatureError."""
    ts_text = _get(headers, TIMESTAMP_HEADER)
    sig = _get(headers, SIGNATURE_HEADER)
    if not ts_text or not sig:
        raise SignatureError("signature_missing", f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required")
    try:
        ts = int(ts_text)
    except ValueError:
        raise SignatureError("timestamp_format", f"{TIMESTAMP_HEADER} must be unix seconds") from None
    current = now if now is not None else time.time()
    if abs(current - ts) > window_s:
        raise SignatureError("replay_window", f"timestamp is outside the {window_s} s replay window")
    if not hmac.compare_digest(signature(key, ts, body), sig.strip()):
        raise SignatureError("signature_mismatch", "signature does not match the body and timestamp")
    return ts
