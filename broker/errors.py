"""Errors of the broker layer.

Two families matter to callers: ``MessageRejected`` means a message can never
be processed as it is (it is parked in its dead-letter queue with the reason,
never retried), ``PublishError`` means the broker did not take responsibility
for a message (nack, unroutable, no confirm in time, connection lost), so the
caller must keep it (e.g. leave it in the outbox) and try again.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """Why a message was parked in a dead-letter queue (``x-mashlink-reason``)."""

    BAD_FORMAT = "bad_format"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    INVALID_BODY = "invalid_body"
    MAPPING_FAILURE = "mapping_failure"
    PROCESSING_FAILURE = "processing_failure"
    DELIVERY_LIMIT = "delivery_limit"
    UNROUTABLE = "unroutable"
    #: Validly signed but sent_at is outside the freshness window (signing.max_age_s).
    STALE = "stale"


class MessageRejected(Exception):
    """A permanent failure: the message goes to its DLQ with ``reason`` and ``detail``.

    ``detail`` ends up in message headers and logs, so it names fields, rules
    and positions but never carries the offending values (personal data).
    """

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class PublishError(Exception):
    """The broker did not confirm every message of a publish.

    ``failed`` maps message id -> why (nacked, unroutable, timeout, connection
    lost); ``confirmed`` lists the message ids the broker did confirm in the
    same call, so an outbox relay can mark those as sent and keep the rest.
    """

    def __init__(
        self,
        message: str,
        *,
        failed: dict[str, str] | None = None,
        confirmed: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.failed: dict[str, str] = dict(failed or {})
        self.confirmed: list[str] = list(confirmed or [])


class BrokerError(Exception):
    """Misuse or an unrecoverable broker condition (e.g. DLQ operation before declare)."""


class ReplayTargetMismatch(BrokerError):
    """A parked message names a queue other than the one its dead-letter queue belongs to.

    Every work queue has its own dead-letter queue (``<queue>.dlq``), so the
    replay target is known from where the message was found. The
    ``x-mashlink-queue`` header is written by whoever parked the message, and
    agencies may publish to the dead-letter exchange: trusting the header would
    let a parked message be replayed, with the hub's broker rights, into
    another agency's queue. Such a message is refused and stays parked.
    """

    def __init__(self, message_id: str, dlq: str, claimed: str) -> None:
        super().__init__(f"parked message {message_id!r} in {dlq!r} claims to come from queue {claimed!r}, "
                         f"which is not the queue that dead-letter queue belongs to; it was not replayed")
        self.message_id = message_id


class ParkedMessageNotFound(LookupError):
    """No parked message with that id in any known dead-letter queue."""

    def __init__(self, message_id: str) -> None:
        super().__init__(f"no parked message with id {message_id!r} in the dead-letter queues")
        self.message_id = message_id
