"""``HubService``: the façade the API, the CLI and the demo use, assembled from the hub's jobs.

The jobs live in their own modules, each over the shared ``HubCore``
(settings, store, topology, codec, clock, policies):

* ``intake``     referrals in (API, CLI, agencies' connectors), enquiries out, re-rating, alerts;
* ``responses``  agencies' answers, a batch at a time (the responses queue);
* ``decisions``  the MASH decision and its outcomes, receipts, match decisions, alert acknowledgements;
* ``views``      read-only: status, responses, linked view, the loop, open enquiry stats.

What is left here is the wiring: opening the database, the two queue
handlers (``handlers.Dispatcher``: decoding, idempotency, reject-and-audit,
once for every typed handler), the consumers' ``on_reject`` hook, and the
audit chain's operations. Every public method is one unit of work; this
class never talks to the broker itself (publishing is the outbox relay's
job, deadlines the tracker's, see ``HubRuntime``) and can be used from any
thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from ..broker.codec import EnvelopeCodec
from ..broker.messages import Delivery, HandlerResult
from ..broker.topology import Topology
from ..config.deadlines import DeadlinePolicy
from ..config.settings import HUB_SENDER_ID, MashlinkSettings
from ..schemas.audit import AuditEvent
from .audit import VerificationResult, verify_audit_chain
from .audit_anchor import AuditAnchor, check_anchors, take_anchor
from .core import REFERRER, hub_codec, utcnow
from .db import make_engine, snapshot
from .decisions import Decisions
from .errors import InvalidInput
from .handlers import EVENTS, RESPONSES, ParkedAudit, Rejection, RejectionLedger
from .intake import Intake
from .migrate import migrate_engine
from .models import AuditEventRow
from .outbox import OutboxRelay, Publisher
from .responses import on_responses
from .team_notify import TeamNotifier
from .tracker import DeadlineTracker

__all__ = ["REFERRER", "HubService", "hub_codec", "utcnow"]

_ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
#: The typed handlers of the hub's two queues (each registered by its decorator where it is defined).
QUEUE_HANDLERS = {RESPONSES.queue: (on_responses,),
                  EVENTS.queue: (Intake.on_agency_referral, Intake.on_alert, Decisions.on_receipt)}


class HubService(Decisions, Intake):
    """The hub's use cases over one database."""

    def __init__(self, settings: MashlinkSettings, engine: Engine, *, topology: Topology | None = None,
                 codec: EnvelopeCodec | None = None, clock: Callable[[], datetime] = utcnow,
                 deadlines: DeadlinePolicy | None = None) -> None:
        super().__init__(settings, engine, topology=topology, codec=codec, clock=clock, deadlines=deadlines)
        ledger = RejectionLedger()
        self._responses = RESPONSES.dispatcher(self, self.store, ledger)
        self._events = EVENTS.dispatcher(self, self.store, ledger)
        self._parked = ParkedAudit(self.store, self.codec.senders, ledger)

    @classmethod
    def open(cls, settings: MashlinkSettings, *, schema: str | None = None, migrate: bool = True,
             **kwargs: Any) -> "HubService":
        """Create the engine from ``settings.database_url`` and bring the schema up to date."""
        settings.ensure_state_dir()
        engine = make_engine(settings.database_url, schema=schema)
        if migrate:
            migrate_engine(engine)
        return cls(settings, engine, **kwargs)

    def close(self) -> None:
        self.engine.dispose()

    def deadline_tracker(self, *, batch_size: int = 500) -> DeadlineTracker:
        return DeadlineTracker(self.store, self.topology, clock=self.clock, batch_size=batch_size)

    def outbox_relay(self, broker: Publisher, *, batch_size: int = 200) -> OutboxRelay:
        return OutboxRelay(self.factory, broker, self.codec, clock=self.clock, batch_size=batch_size,
                           own=self.store.own_payloads)

    def team_notifier(self, **kwargs: Any) -> TeamNotifier:
        """Sends alerts and loop escalations to the MASH team's configured channels (``loop.alerts``)."""
        return TeamNotifier(self.store, self.settings, clock=self.clock, **kwargs)

    # ------------------------------------------------------------------ consumers
    def handle_responses(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        """BatchHandler for the responses queue (one transaction per batch)."""
        return self._responses(deliveries)

    def handle_events(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        """BatchHandler for the hub's events queue: agencies' referrals and alerts, receipts for outcomes."""
        return self._events(deliveries)

    def on_reject(self, rejection: Rejection) -> None:
        """The consumers' ``on_reject`` hook: audit each parked delivery once (``handlers.ParkedAudit``)."""
        self._parked.on_reject(rejection)

    # ------------------------------------------------------------------ audit
    def audit_events(self, *, referral_id: str | None = None, action: str | None = None,
                     after_sequence: int = 0, limit: int = 100) -> list[AuditEvent]:
        """Audit events in sequence order, optionally for one referral or one action (prefix with '.*')."""
        if not 1 <= limit <= 10_000:
            raise InvalidInput("audit query", [f"limit: must be between 1 and 10000 (got {limit})"])
        query = select(AuditEventRow).where(AuditEventRow.sequence > after_sequence)
        if referral_id is not None:
            query = query.where(AuditEventRow.referral_id == referral_id)
        if action is not None:
            if action.endswith(".*"):
                query = query.where(AuditEventRow.action.like(action[:-1] + "%"))
            else:
                query = query.where(AuditEventRow.action == action)
        with self.store.read() as session:
            rows = session.execute(query.order_by(AuditEventRow.sequence).limit(limit)).scalars().all()
            return [AuditEvent(**{k: getattr(r, k) for k in AuditEvent.model_fields}) for r in rows]

    def verify_audit(self, anchors: Sequence[AuditAnchor] = ()) -> VerificationResult:
        """The chain checked on its own and, for each anchor kept outside the database, against it."""
        with self.factory() as session:
            snapshot(session)  # chain pages and head from one consistent view, while the hub keeps writing
            result = verify_audit_chain(session, key=self.store.audit_key)
            if not anchors:
                return result
            # Anchors are the hub's own (audit_anchor); any other signer is reported as not signed by its key.
            keys = {HUB_SENDER_ID: self.settings.signing_key(HUB_SENDER_ID)}
            problems = check_anchors(session, anchors, keys=keys)
        return result.model_copy(update={"ok": result.ok and not problems, "problems": result.problems + problems,
                                         "anchors_checked": len(anchors)})

    def audit_anchor(self) -> AuditAnchor:
        """The chain head now, signed with the hub's key: keep it where the database's writers cannot."""
        with self.store.read() as session:
            return take_anchor(session, key=self.settings.signing_key(HUB_SENDER_ID), signer=HUB_SENDER_ID,
                               now=self.clock())

    def record_ops_action(self, actor: str, action: str, message_id: str | None, reason: str | None) -> AuditEvent:
        """Audit an operator's action (e.g. ``dlq.replayed``, ``dlq.discarded``) on a message."""
        problems = []
        if not actor:
            problems.append("actor: required")
        if not _ACTION_RE.match(action or ""):
            problems.append(f"action: {action!r} must be dotted lower-case words, e.g. dlq.replayed")
        if problems:
            raise InvalidInput("ops action", problems)
        with self.store.unit() as uow:
            uow.audit(action, actor=actor, message_id=message_id, reason=reason)
            written = uow.flush_audit()
        return written[-1]
