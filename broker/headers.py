"""Header names the broker layer writes, and how a parked message is read back.

A parked message keeps its original body byte for byte plus these headers,
so nothing is lost and replay can send exactly what was received.
Messages dead-lettered by RabbitMQ itself (quorum ``x-delivery-limit``
backstop) carry ``x-death`` instead; both shapes parse to one ParkedMessage.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from .errors import RejectReason
from .messages import ParkedMessage

H_REASON = "x-mashlink-reason"
H_DETAIL = "x-mashlink-detail"
H_QUEUE = "x-mashlink-original-queue"
H_EXCHANGE = "x-mashlink-original-exchange"
H_ROUTING_KEY = "x-mashlink-original-routing-key"
H_ATTEMPTS = "x-mashlink-attempts"
H_PARKED_AT = "x-mashlink-parked-at"
H_LAST_ERROR = "x-mashlink-last-error"
H_REPLAYS = "x-mashlink-replays"

#: Broker-owned headers that must not follow a copy we republish.
SERVER_HEADERS = ("x-delivery-count", "x-death", "x-first-death-exchange", "x-first-death-queue",
                  "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue",
                  "x-last-death-reason")
PARKING_HEADERS = (H_REASON, H_DETAIL, H_QUEUE, H_PARKED_AT, H_ATTEMPTS, H_LAST_ERROR)

_X_DEATH_REASONS = {
    "delivery_limit": RejectReason.DELIVERY_LIMIT,
    "rejected": RejectReason.PROCESSING_FAILURE,
    "expired": RejectReason.PROCESSING_FAILURE,
    "maxlen": RejectReason.PROCESSING_FAILURE,
}

MAX_DETAIL = 900


def synthetic_message_id(body: bytes) -> str:
    """Stable id for a message that arrived without one (so it can be addressed in the DLQ)."""
    return "sha256-" + hashlib.sha256(body).hexdigest()[:32]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, (str, bytes)):
        try:
            parsed = datetime.fromisoformat(_text(value))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def parse_parked(body: bytes, headers: dict[str, Any] | None, properties: dict[str, Any], dlq: str) -> ParkedMessage:
    """Read a DLQ message (app-parked or broker-dead-lettered) into a ParkedMessage."""
    headers = dict(headers or {})
    message_id = _text(properties.get("message_id")) or synthetic_message_id(body)
    default_queue = dlq[: -len(".dlq")] if dlq.endswith(".dlq") else dlq
    reason_text = _text(headers.get(H_REASON))
    if reason_text:
        try:
            reason = RejectReason(reason_text)
        except ValueError:
            reason = RejectReason.PROCESSING_FAILURE
        queue = _text(headers.get(H_QUEUE)) or default_queue
        exchange = _text(headers.get(H_EXCHANGE))
        routing_key = _text(headers.get(H_ROUTING_KEY))
        detail = _text(headers.get(H_DETAIL))
        parked_at = _when(headers.get(H_PARKED_AT))
        attempts = _int(headers.get(H_ATTEMPTS))
    else:
        deaths = headers.get("x-death") or []
        death: dict[str, Any] = deaths[0] if deaths and isinstance(deaths[0], dict) else {}
        why = _text(death.get("reason")) or "unknown"
        reason = _X_DEATH_REASONS.get(why, RejectReason.PROCESSING_FAILURE)
        queue = _text(death.get("queue")) or default_queue
        exchange = _text(death.get("exchange"))
        keys = death.get("routing-keys") or []
        routing_key = _text(keys[0]) if keys else ""
        detail = f"dead-lettered by the broker: {why} (x-death count {_int(death.get('count'), 1)})"
        parked_at = _when(death.get("time"))
        attempts = _int(headers.get("x-delivery-count"), 0) or _int(headers.get(H_ATTEMPTS), 0)
    return ParkedMessage(
        message_id=message_id,
        queue=queue,
        dlq=dlq,
        reason=reason,
        detail=detail,
        parked_at=parked_at,
        attempts=attempts,
        message_type=_text(properties.get("type")) or None,
        original_exchange=exchange,
        original_routing_key=routing_key,
        raw=body.decode("utf-8", "replace"),
    )
