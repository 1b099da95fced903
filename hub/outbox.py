"""The outbox relay: publish committed messages until the broker confirms them.

A state change and the messages it causes are committed in one transaction
(``UnitOfWork.send``); this relay then publishes unpublished rows in id order,
in batches, through ``Broker.publish`` (which returns only when every message
is confirmed). Rows are marked published only for confirmed message ids; on
``PublishError`` the unconfirmed ones stay for the next pass, so nothing is
lost if the broker or the hub goes down between commit and publish.

The stored payload is the exact signed envelope: the relay verifies its
HMAC over the stored bytes (``EnvelopeCodec.verify_bytes``: a tampered row is
held back with its reason, never published) and publishes those very bytes
with ``Broker.publish_raw``. It does not parse the payload into an Envelope:
the relay only forwards bytes, and every consumer decodes and verifies fully.
At-least-once: a crash after publish but before the mark republishes the
batch, and consumers drop the duplicate by message id.

Rows this process wrote itself skip the signature check (:class:`OwnPayloads`):
``UnitOfWork.send`` remembers a SHA-256 digest of each payload it signed, and
a stored payload with that digest is byte for byte what was signed, so
checking its signature again (an Ed25519 sign plus a JSON parse, about a
fifth of the relay's CPU) could only pass. Any edit to the row changes the
digest, and everything else (after a restart, rows another hub wrote) gets
the full check as before.

Several hubs on one PostgreSQL database each run a relay: a batch is claimed
``FOR UPDATE SKIP LOCKED`` and marked in the claiming transaction, so two
live relays never publish the same row (see ``relay_once``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..broker.codec import EnvelopeCodec
from ..broker.errors import MessageRejected, PublishError
from ..broker.link import RawMessage
from .db import is_sqlite, read_only
from .models import OutboxRow

log = structlog.get_logger(__name__)


class OwnPayloads:
    """Digests of outbox payloads this process signed and has not relayed yet: (message id, message type) by digest.

    Why: the relay checks every stored payload before publishing it, which
    for the hub's own rows meant signing them a second time. A payload whose
    SHA-256 digest is one this process recorded when it signed it is exactly
    those bytes (changing them changes the digest), so it is authentic
    without another signature. Bounded (oldest dropped first), and an entry
    is taken once: a dropped or taken entry only means the full check runs.
    The hub's ``HubStore`` owns one and hands it to the units of work that
    sign and to the relays that publish; a relay given none checks every row.
    """

    def __init__(self, limit: int = 20_000) -> None:
        self._limit = limit
        self._seen: OrderedDict[bytes, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(payload: bytes) -> bytes:
        return hashlib.sha256(payload).digest()

    def remember(self, payload: bytes, message_id: str, message_type: str) -> None:
        """Record a payload just signed by this process's codec."""
        digest = self._digest(payload)
        with self._lock:
            self._seen[digest] = (message_id, message_type)
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)

    def take(self, payload: bytes) -> tuple[str, str] | None:
        """(message id, message type) if this process signed exactly ``payload``, else None; forgets it."""
        digest = self._digest(payload)
        with self._lock:
            return self._seen.pop(digest, None)

    def __len__(self) -> int:
        return len(self._seen)


class Publisher(Protocol):
    """What the relay needs of a broker (``mashlink.broker.client.Broker`` fits)."""

    def publish_raw(self, raws: Sequence[RawMessage]) -> None: ...


@dataclass
class RelayPass:
    published: int = 0
    failed: int = 0
    corrupt: int = 0


class OutboxRelay:
    def __init__(self, factory: sessionmaker[Session], broker: Publisher, codec: EnvelopeCodec, *,
                 clock: Callable[[], datetime], batch_size: int = 200, own: OwnPayloads | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.factory = factory
        self.broker = broker
        self.codec = codec
        self.clock = clock
        self.batch_size = batch_size
        self.own = own if own is not None else OwnPayloads(limit=0)  # none: every row gets the full check

    def pending(self) -> int:
        with self.factory() as session:
            return session.execute(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.published_at.is_(None))
            ).scalar_one()

    def relay_once(self) -> RelayPass:
        """Publish one batch of unpublished rows; mark the confirmed ones.

        PostgreSQL (several hubs may share the database): the batch is
        claimed ``FOR UPDATE SKIP LOCKED`` and the row locks are held across
        the publish until the confirmed rows are marked in the same
        transaction, so two live hubs never publish the same row; another
        hub's scan skips the claimed rows and takes the next ones. A hub
        that dies mid-batch loses its connection, the server rolls the
        claim back and another hub publishes the batch again (the
        at-least-once case consumers absorb by message id).

        SQLite (one hub per file): a read-only scan, the publish outside any
        transaction, then the marks; holding ``BEGIN IMMEDIATE`` across a
        publish would stall every writer of the hub for a confirm round trip.
        """
        with self.factory() as session:
            if is_sqlite(session.get_bind()):
                with session.begin():
                    read_only(session)  # a scan: no write lock, so it never waits for the response writers
                    rows = self._scan(session, claim=False)
                if not rows:
                    return RelayPass()
                confirmed, failures, corrupt = self._publish(rows)
                with session.begin():
                    self._mark(session, rows, confirmed, failures, corrupt)
            else:
                with session.begin():
                    rows = self._scan(session, claim=True)
                    if not rows:
                        return RelayPass()
                    confirmed, failures, corrupt = self._publish(rows)
                    self._mark(session, rows, confirmed, failures, corrupt)
        result = RelayPass(published=len(confirmed), failed=len(failures), corrupt=len(corrupt))
        if failures or corrupt:
            log.warning("outbox.publish_incomplete", published=result.published, failed=result.failed,
                        corrupt=result.corrupt)
        return result

    def _scan(self, session: Session, *, claim: bool) -> Sequence[Row[Any]]:
        query = (
            select(OutboxRow.id, OutboxRow.message_id, OutboxRow.exchange, OutboxRow.routing_key,
                   OutboxRow.payload)
            .where(OutboxRow.published_at.is_(None))
            .order_by(OutboxRow.id)
            .limit(self.batch_size)
        )
        if claim:
            query = query.with_for_update(skip_locked=True)
        return session.execute(query).all()

    def _publish(self, rows: Sequence[Row[Any]]) -> tuple[set[str], dict[str, str], dict[int, str]]:
        """Verify and publish ``rows``; returns (confirmed message ids, failures by id, corrupt by row id)."""
        messages: list[RawMessage] = []
        corrupt: dict[int, str] = {}
        for row in rows:
            payload = bytes(row.payload)
            signed = self.own.take(payload)
            if signed is not None:  # byte for byte what this process signed: authentic
                message_id, message_type = signed
            else:
                try:
                    data = self.codec.verify_bytes(payload)
                except MessageRejected as exc:
                    corrupt[row.id] = f"{exc.reason.value}: {exc.detail}"[:500]
                    continue
                message_id, message_type = data.get("message_id"), str(data["message_type"])
            if message_id != row.message_id:
                corrupt[row.id] = "payload message_id differs from the outbox row"
                continue
            messages.append(RawMessage(body=payload, exchange=row.exchange, routing_key=row.routing_key,
                                       message_id=row.message_id, message_type=message_type))
        confirmed: set[str] = set()
        failures: dict[str, str] = {}
        if messages:
            try:
                self.broker.publish_raw(messages)
                confirmed = {m.message_id for m in messages}
            except PublishError as exc:
                confirmed = set(exc.confirmed)
                failures = {m.message_id: exc.failed.get(m.message_id, str(exc))
                            for m in messages if m.message_id not in confirmed}
        return confirmed, failures, corrupt

    def _mark(self, session: Session, rows: Sequence[Row[Any]], confirmed: set[str], failures: dict[str, str],
              corrupt: dict[int, str]) -> None:
        now = self.clock()
        ids = [r.id for r in rows if r.message_id in confirmed]
        if ids:
            session.execute(update(OutboxRow).where(OutboxRow.id.in_(ids))
                            .values(published_at=now, attempts=OutboxRow.attempts + 1, last_error=None))
        for row in rows:
            reason = failures.get(row.message_id) or corrupt.get(row.id)
            if reason is not None:
                session.execute(update(OutboxRow).where(OutboxRow.id == row.id)
                                .values(attempts=OutboxRow.attempts + 1, last_error=reason[:500]))

    def drain(self, max_passes: int = 1000) -> int:
        """Publish until nothing is left or a pass makes no progress; returns how many were published."""
        total = 0
        for _ in range(max_passes):
            done = self.relay_once()
            total += done.published
            if done.published == 0 or done.failed or done.corrupt:
                break
        return total

    def run(self, stop: threading.Event, *, idle_wait_s: float = 0.05, error_wait_s: float = 1.0) -> None:
        """Relay until ``stop`` is set; back off after failures, never exit on them."""
        while not stop.is_set():
            try:
                done = self.relay_once()
            except Exception:  # database or broker trouble: log, wait, retry
                log.exception("outbox.relay_error")
                stop.wait(error_wait_s)
                continue
            if done.failed or done.corrupt:
                stop.wait(error_wait_s)
            elif done.published < self.batch_size:
                stop.wait(idle_wait_s)
