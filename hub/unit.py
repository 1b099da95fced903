"""A unit of work: one database transaction with its audit events and outbox rows.

State changes, the audit events that describe them and the messages they
cause are committed together or not at all. Audit events are appended to the
chain at the very end (see ``mashlink.hub.audit``) so the chain lock is held
only briefly. ``savepoint()`` lets a batch handler undo one message's effects
(including its buffered audit events) and carry on with the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ..broker.codec import EnvelopeCodec
from ..broker.messages import OutgoingMessage
from .audit import AuditBuffer
from .db import read_only
from .models import OutboxRow
from .outbox import OwnPayloads
from ..schemas.audit import AuditEvent

Clock = Callable[[], datetime]


class UnitOfWork:
    def __init__(self, session: Session, codec: EnvelopeCodec, now: datetime, *, audit_key: bytes,
                 own: OwnPayloads | None = None) -> None:
        self.session = session
        self.codec = codec
        self._own = own
        self.now = now
        self.audit_buffer = AuditBuffer()
        self._audit_key = audit_key

    def audit(self, action: str, *, actor: str, referral_id: str | None = None,
              enquiry_id: str | None = None, message_id: str | None = None,
              detail: dict[str, Any] | None = None, reason: str | None = None) -> str:
        """Buffer an audit event (appended at commit); returns its ``event_id``."""
        return self.audit_buffer.record(actor=actor, action=action, at=self.now, referral_id=referral_id,
                                 enquiry_id=enquiry_id, message_id=message_id, detail=detail,
                                 reason=reason)

    def flush_audit(self) -> list[AuditEvent]:
        """Append the buffered audit events to the chain now (the unit also does this at its end)."""
        return self.audit_buffer.flush(self.session, key=self._audit_key)

    def send(self, message: OutgoingMessage) -> OutboxRow:
        """Stage a message: signed and encoded now, published by the relay after commit."""
        env = message.envelope
        message_type = env.message_type.value if hasattr(env.message_type, "value") else str(env.message_type)
        payload = self.codec.encode(env)
        if self._own is not None:  # the relay publishes these very bytes without a second check (OwnPayloads)
            self._own.remember(payload, env.message_id, message_type)
        row = OutboxRow(
            message_id=env.message_id,
            message_type=message_type,
            exchange=message.exchange,
            routing_key=message.routing_key,
            payload=payload,
            created_at=self.now,
            published_at=None,
            attempts=0,
        )
        self.session.add(row)
        return row

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo this block's effects and audit events if it raises (the exception propagates)."""
        mark = self.audit_buffer.mark()
        nested = self.session.begin_nested()
        try:
            yield
            nested.commit()
        except BaseException:
            nested.rollback()
            self.audit_buffer.rollback_to(mark)
            raise


class HubStore:
    """Opens units of work on the hub database."""

    def __init__(self, factory: sessionmaker[Session], codec: EnvelopeCodec, clock: Clock, *,
                 audit_key: bytes) -> None:
        if not audit_key:
            raise ValueError("HubStore needs the audit key (mashlink.hub.audit_key.audit_key_for)")
        self.factory = factory
        self.codec = codec
        self.clock = clock
        self.audit_key = audit_key  # keys the audit chain's HMAC; never stored in the database
        self.own_payloads = OwnPayloads()  # what this store's units signed, for its relays

    @contextmanager
    def unit(self, now: datetime | None = None) -> Iterator[UnitOfWork]:
        with self.factory() as session:
            with session.begin():
                uow = UnitOfWork(session, self.codec, now or self.clock(), audit_key=self.audit_key,
                                 own=self.own_payloads)
                yield uow
                uow.flush_audit()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads (on SQLite it takes no write lock; do not write in it)."""
        with self.factory() as session:
            with session.begin():
                yield read_only(session)
