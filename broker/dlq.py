"""Dead-letter queue operations: list, show, replay, discard.

Browsing never loses or consumes anything: messages are fetched with
``basic_get`` *without* ack and handed back when the browsing channel closes
(``Transport.give_back``: RabbitMQ requeues unacked messages itself; the
memory transport puts them back on the same queue, as it would drop them).
Replay republishes the original body to the queue it was consumed from (via
the topology's replay exchange, where every work queue is bound by its own
name, so a topic event is not fanned out again to queues that already
processed it, and the hub's least-privilege broker user, confined to its
namespace, may do it: the default exchange would need a grant reaching every
queue of the virtual host), waits for the confirm, and only then acks the
parked copy. Discard acks it. Auditing is the caller's job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import structlog

from .errors import ParkedMessageNotFound, PublishError, ReplayTargetMismatch
from .headers import (
    H_REPLAYS,
    PARKING_HEADERS,
    SERVER_HEADERS,
    parse_parked,
)
from .link import RawMessage
from .messages import ParkedMessage
from .transport import Transport

log = structlog.get_logger(__name__)

#: What to do with the message found: return True to ack it (it is gone from the DLQ).
Action = Callable[[ParkedMessage, Any], bool]


class _Browse:
    """One channel over one DLQ; everything fetched goes back on close unless acked."""

    def __init__(self, link: Transport, dlq: str) -> None:
        self.link = link
        self.dlq = dlq
        self.channel = link.channel()
        self.held: list[Any] = []

    def next(self) -> tuple[ParkedMessage, Any] | None:
        raw = self.channel.basic_get(self.dlq, no_ack=False)
        if raw is None:
            return None
        message = self.link.fetched(self.channel, raw)
        self.held.append(message)
        body = message.body
        body = body.encode() if isinstance(body, str) else bytes(body or b"")
        return parse_parked(body, message.headers, dict(message.properties or {}), self.dlq), message

    def ack(self, message: Any) -> None:
        message.ack()
        self.held.remove(message)

    def close(self) -> None:
        try:
            for message in self.held:
                self.link.give_back(self.channel, message, self.dlq)
            self.held.clear()
        finally:
            self.channel.close()


def _queue_exists(link: Transport, queue: str) -> bool:
    ch = link.channel()
    try:
        ch.queue_declare(queue=queue, passive=True)
        return True
    except link.connection_errors():
        raise
    except Exception:  # noqa: BLE001 - NOT_FOUND closes the channel (amqp) or raises (memory)
        return False
    finally:
        try:
            ch.close()
        except Exception:  # noqa: BLE001
            pass


def list_parked(link: Transport, dlqs: Iterable[str], limit: int = 1000) -> list[ParkedMessage]:
    """Every parked message (up to ``limit``) without removing any."""
    found: list[ParkedMessage] = []
    for dlq in dlqs:
        if len(found) >= limit or not _queue_exists(link, dlq):
            continue
        browse = _Browse(link, dlq)
        try:
            while len(found) < limit:
                item = browse.next()
                if item is None:
                    break
                found.append(item[0])
        finally:
            browse.close()
    return found


def find_and(link: Transport, dlqs: Iterable[str], message_id: str, action: Action) -> ParkedMessage:
    """Find ``message_id`` in the DLQs and apply ``action``; everything else stays put."""
    for dlq in dlqs:
        if not _queue_exists(link, dlq):
            continue
        browse = _Browse(link, dlq)
        try:
            while True:
                item = browse.next()
                if item is None:
                    break
                parked, message = item
                if parked.message_id == message_id:
                    if action(parked, message):
                        browse.ack(message)
                    return parked
        finally:
            browse.close()
    raise ParkedMessageNotFound(message_id)


def home_queue(dlq: str) -> str:
    """The work queue a dead-letter queue belongs to (``<queue>.dlq`` -> ``<queue>``): the only replay target."""
    return dlq[: -len(".dlq")] if dlq.endswith(".dlq") else dlq


def replay_copy(parked: ParkedMessage, message: Any, exchange: str = "") -> RawMessage:
    """The original body and properties, routed to the original queue, parking headers removed.

    ``exchange`` is the replay exchange (each work queue bound by its own name); "" is the default exchange.
    """
    headers = dict(message.headers or {})
    for name in SERVER_HEADERS + PARKING_HEADERS:
        headers.pop(name, None)
    try:
        headers[H_REPLAYS] = int(headers.get(H_REPLAYS, 0)) + 1
    except (TypeError, ValueError):
        headers[H_REPLAYS] = 1
    headers["x-mashlink-replayed-at"] = datetime.now(UTC).isoformat()
    if parked.original_exchange or parked.original_routing_key:
        headers.setdefault("x-mashlink-original-exchange", parked.original_exchange)
        headers.setdefault("x-mashlink-original-routing-key", parked.original_routing_key)
    body = message.body
    return RawMessage(
        body=body.encode() if isinstance(body, str) else bytes(body or b""),
        exchange=exchange,
        routing_key=parked.queue,
        message_id=parked.message_id,
        message_type=parked.message_type,
        headers=headers,
    )


def replay(link: Transport, publisher: Callable[[RawMessage], None], dlqs: Iterable[str], message_id: str,
           *, exchange: str = "") -> ParkedMessage:
    """Republish to the original queue through ``exchange`` with confirms, then ack the parked copy."""

    def act(parked: ParkedMessage, message: Any) -> bool:
        home = home_queue(parked.dlq)
        if parked.queue != home:
            log.warning("dlq.replay_refused", message_id=parked.message_id, dlq=parked.dlq, queue=parked.queue,
                        reason="replay_target_mismatch")
            raise ReplayTargetMismatch(parked.message_id, parked.dlq, parked.queue)
        try:
            publisher(replay_copy(parked, message, exchange))  # raises PublishError -> parked copy stays
        except PublishError as exc:
            log.warning("dlq.replay_failed", message_id=parked.message_id, queue=parked.queue,
                        reason=parked.reason.value, error=type(exc).__name__, detail=str(exc)[:300])
            raise
        log.info("dlq.replayed", message_id=parked.message_id, queue=parked.queue, reason=parked.reason.value)
        return True

    return find_and(link, dlqs, message_id, act)


def discard(link: Transport, dlqs: Iterable[str], message_id: str) -> ParkedMessage:
    def act(parked: ParkedMessage, _message: Any) -> bool:
        log.info("dlq.discarded", message_id=parked.message_id, queue=parked.queue, reason=parked.reason.value)
        return True

    return find_and(link, dlqs, message_id, act)


__all__ = ["list_parked", "find_and", "replay", "discard", "PublishError"]
