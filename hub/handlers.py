"""Typed hub handlers: each declares the message model it takes; the rest happens once, around all of them.

Why: the hub's consumers used to take ``list[Delivery]``, dispatch on
message-type strings, validate bodies the broker had already decoded and
repeat the reject-and-audit block in every handler. Here a queue's
:class:`HandlerRegistry` holds one :class:`Route` per message type
(``@EVENTS.handles(MessageType.ALERT, Alert)``), and :class:`Dispatcher` (the
``BatchHandler`` the broker's consumer calls) does, for every message of a
batch, in one transaction:

1. the hub's own events echoed back on a queue that ignores them: ack;
2. a message id already in the inbox (or earlier in this batch): one effect;
3. an unknown message type, or a body that is not the route's model:
   ``message.rejected`` audited and the verdict REJECT (the consumer parks it
   in the dead-letter queue with the reason); the broker's decoded body is used
   as it is when it already is the declared model, so nothing is validated twice;
4. the handler, given an :class:`Inbound` (envelope + typed body), never a
   ``Delivery``. A handler that finds a rule broken raises :class:`Rejected`;
   its writes and audit events are undone (a savepoint) and the rejection is
   audited as in 3;
5. the inbox rows of everything accepted, in one insert.

A batch route (``handles_batch``) takes all of a batch's messages of its type
in one call, for throughput (the responses queue: three reads and one write
per table per batch); it returns one ``Rejected | None`` per message and must
reject before it writes. An unexpected exception rolls the whole batch back
and the consumer retries its messages one by one.

The broker parks some deliveries before any handler sees them (bad signature,
stale, undecodable, a body that is not its type's model). :meth:`ParkedAudit.on_reject`
is the consumer's ``on_reject`` hook for those: every parked message is
audited exactly once, by the handler's transaction when a handler rejected it
and by the hook otherwise.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy import insert, select

from ..broker.codec import describe_validation_error
from ..broker.errors import RejectReason
from ..broker.headers import synthetic_message_id
from ..broker.messages import Delivery, HandlerResult
from ..config.settings import HUB_SENDER_ID
from ..schemas.envelope import Envelope, MessageType
from .models import InboxRow
from .unit import HubStore, UnitOfWork

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=BaseModel)
#: The hub acts in the audit log under the id it signs with.
HUB_ACTOR = HUB_SENDER_ID


@dataclass(frozen=True, slots=True)
class Inbound(Generic[M]):
    """A verified message whose body is the handler's declared model."""

    envelope: Envelope
    body: M

    @property
    def message_id(self) -> str:
        return self.envelope.message_id

    @property
    def sender(self) -> str:
        return self.envelope.sender


class Rejected(Exception):
    """Raised (or returned, by a batch handler) for a message that breaks a rule: audited once, then parked.

    ``detail`` names the field and the rule; it goes into the audit event and
    the dead-letter headers, so it must not quote personal data.
    """

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


#: ``handler(context, uow, message)``: apply one message in the caller's unit of work, or raise Rejected.
MessageHandler = Callable[[Any, UnitOfWork, Inbound[Any]], None]
#: ``handler(context, uow, messages)``: one ``Rejected | None`` per message, same order; rejects write nothing.
BatchMessageHandler = Callable[[Any, UnitOfWork, list[Inbound[Any]]], list[Rejected | None]]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Route:
    """One message type a queue takes, the model its body must be, and who handles it."""

    message_type: MessageType
    model: type[BaseModel]
    handle: MessageHandler | None = None
    handle_batch: BatchMessageHandler | None = None
    #: Whether a message signed by the hub itself is handled (else, on a queue that ignores echoes, acked).
    accepts_own: bool = False


def message_type_name(envelope: Envelope) -> str:
    mt = envelope.message_type
    return mt.value if isinstance(mt, MessageType) else str(mt)


class HandlerRegistry:
    """The message types one hub queue takes. Handlers register with the decorators at import time.

    ``ignores_own_echoes``: the hub's own events (outcomes, escalations) come
    back on a queue bound to the events exchange; they are acknowledged
    unhandled unless their route ``accepts_own``.
    """

    def __init__(self, queue: str, *, ignores_own_echoes: bool = False) -> None:
        self.queue = queue
        self.ignores_own_echoes = ignores_own_echoes
        self._routes: dict[str, Route] = {}

    def _add(self, route: Route) -> None:
        key = route.message_type.value
        if key in self._routes:
            raise ValueError(f"the {self.queue} queue already has a handler for {key!r}")
        self._routes[key] = route

    def handles(self, message_type: MessageType, model: type[M], *, accepts_own: bool = False) -> Callable[[F], F]:
        """Register ``handler(context, uow, message: Inbound[model])`` for ``message_type``."""
        def register(handler: F) -> F:
            self._add(Route(message_type, model, handle=handler, accepts_own=accepts_own))
            return handler
        return register

    def handles_batch(self, message_type: MessageType, model: type[M]) -> Callable[[F], F]:
        """Register ``handler(context, uow, messages: list[Inbound[model]]) -> list[Rejected | None]``."""
        def register(handler: F) -> F:
            self._add(Route(message_type, model, handle_batch=handler))
            return handler
        return register

    def route(self, message_type: str) -> Route | None:
        return self._routes.get(message_type)

    @property
    def message_types(self) -> list[str]:
        return sorted(self._routes)

    def dispatcher(self, context: Any, store: HubStore, ledger: RejectionLedger) -> Dispatcher:
        """The ``BatchHandler`` for this queue, calling the handlers with ``context`` (the hub service)."""
        return Dispatcher(self, context, store, ledger)


class RejectionLedger:
    """Ids of messages a handler rejected and audited, until the consumer parks them.

    The consumer tells its ``on_reject`` hook of every message it parks,
    handler rejections included; the hook looks here so those are not audited
    a second time. Bounded: a caller that never parks (a test calling a
    handler directly) cannot make it grow without limit.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._ids: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, message_ids: Iterable[str]) -> None:
        with self._lock:
            for message_id in message_ids:
                self._ids[message_id] = self._ids.get(message_id, 0) + 1
                self._ids.move_to_end(message_id)
            while len(self._ids) > self._limit:
                self._ids.popitem(last=False)

    def take(self, message_id: str) -> bool:
        """True (once per add) when a handler already audited this message's rejection."""
        with self._lock:
            count = self._ids.get(message_id, 0)
            if count <= 1:
                return self._ids.pop(message_id, None) is not None
            self._ids[message_id] = count - 1
            return True


@dataclass
class _Batch:
    """What the dispatcher learns about one batch while it works through it, by delivery position."""

    deliveries: list[Delivery]
    results: dict[int, HandlerResult] = field(default_factory=dict)
    refusals: dict[int, tuple[Envelope, Rejected]] = field(default_factory=dict)
    first_copy: dict[str, int] = field(default_factory=dict)
    copies: dict[int, int] = field(default_factory=dict)
    grouped: dict[str, list[tuple[int, Inbound[Any]]]] = field(default_factory=dict)
    accepted: list[Envelope] = field(default_factory=list)

    def ack(self, i: int, env: Envelope | None = None) -> None:
        self.results[i] = HandlerResult.ack()
        if env is not None:
            self.accepted.append(env)

    def reject(self, i: int, env: Envelope, rejection: Rejected) -> None:
        self.refusals[i] = (env, rejection)
        self.results[i] = HandlerResult.reject(rejection.reason, rejection.detail)

    def verdicts(self) -> list[HandlerResult]:
        """One per delivery, in order; a repeated message gets its first copy's verdict."""
        return [self.results[self.copies.get(i, i)] for i in range(len(self.deliveries))]

    def parked_ids(self) -> list[str]:
        """Every message id the consumer will park for a handler's (audited) rejection, repeats included."""
        return [self.deliveries[i].envelope.message_id for i in range(len(self.deliveries))
                if self.copies.get(i, i) in self.refusals]


class Dispatcher:
    """One queue's ``BatchHandler``: decode, dedupe, route, reject-and-audit and remember, once per batch."""

    def __init__(self, registry: HandlerRegistry, context: Any, store: HubStore, ledger: RejectionLedger) -> None:
        self.registry = registry
        self.context = context
        self.store = store
        self.ledger = ledger

    def __call__(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        batch = _Batch(deliveries)
        with self.store.unit() as uow:
            processed = self._processed(uow, [d.envelope.message_id for d in deliveries])
            for i, delivery in enumerate(deliveries):
                self._one(uow, batch, i, delivery, processed)
            self._grouped(uow, batch)
            for i in sorted(batch.refusals):  # audited in delivery order, after every handler's savepoint
                self._audit_rejection(uow, *batch.refusals[i])
            self._remember(uow, batch.accepted)
        self.ledger.add(batch.parked_ids())  # only once the audit events are committed
        return batch.verdicts()

    def _one(self, uow: UnitOfWork, batch: _Batch, i: int, delivery: Delivery, processed: set[str]) -> None:
        """Ack, reject, handle now (a message route) or set aside for its batch route."""
        env = delivery.envelope
        route = self.registry.route(message_type_name(env))
        if self.registry.ignores_own_echoes and env.sender == HUB_SENDER_ID \
                and (route is None or not route.accepts_own):
            return batch.ack(i)
        if env.message_id in processed:
            return batch.ack(i)
        if env.message_id in batch.first_copy:  # the same message twice in one batch: one effect, one audit
            batch.copies[i] = batch.first_copy[env.message_id]
            return None
        batch.first_copy[env.message_id] = i
        try:
            message = Inbound(env, self._body(route, env, delivery.body))
        except Rejected as rejection:
            return batch.reject(i, env, rejection)
        assert route is not None  # _body rejects an unknown type
        if route.handle_batch is not None:
            batch.grouped.setdefault(route.message_type.value, []).append((i, message))
            return None
        assert route.handle is not None
        try:
            with uow.savepoint():
                route.handle(self.context, uow, message)
        except Rejected as rejection:
            return batch.reject(i, env, rejection)
        return batch.ack(i, env)

    def _grouped(self, uow: UnitOfWork, batch: _Batch) -> None:
        """Each batch route once, with all of this batch's messages of its type."""
        for message_type, items in batch.grouped.items():
            route = self.registry.route(message_type)
            assert route is not None and route.handle_batch is not None
            verdicts = route.handle_batch(self.context, uow, [message for _, message in items])
            if len(verdicts) != len(items):
                raise RuntimeError(f"{message_type} handler returned {len(verdicts)} verdicts for {len(items)}")
            for (i, message), verdict in zip(items, verdicts, strict=True):
                if verdict is None:
                    batch.ack(i, message.envelope)
                else:
                    batch.reject(i, message.envelope, verdict)

    def _body(self, route: Route | None, env: Envelope, decoded: BaseModel | None) -> BaseModel:
        """The declared model: the broker's decoded body as it is, else validated here (direct callers)."""
        if route is None:
            raise Rejected(RejectReason.UNKNOWN_MESSAGE_TYPE,
                           f"message_type {message_type_name(env)!r}: the {self.registry.queue} queue takes "
                           f"{', '.join(self.registry.message_types)} only")
        if isinstance(decoded, route.model):
            return decoded
        try:
            return route.model.model_validate(env.body)
        except ValidationError as exc:
            raise Rejected(RejectReason.INVALID_BODY,
                           f"{route.model.__name__}: " + describe_validation_error(exc, "body.")) from None

    @staticmethod
    def _processed(uow: UnitOfWork, message_ids: Sequence[str]) -> set[str]:
        if not message_ids:
            return set()
        return set(uow.session.execute(
            select(InboxRow.message_id).where(InboxRow.message_id.in_(sorted(set(message_ids))))).scalars())

    @staticmethod
    def _remember(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
        """Inbox rows for every accepted message, in one insert, committed with their effects."""
        if envelopes:
            uow.session.execute(insert(InboxRow.__table__), [
                {"message_id": env.message_id, "message_type": message_type_name(env), "processed_at": uow.now}
                for env in envelopes])

    @staticmethod
    def _audit_rejection(uow: UnitOfWork, env: Envelope, rejection: Rejected) -> None:
        uow.audit("message.rejected", actor=HUB_ACTOR, message_id=env.message_id,
                  detail={"reason": rejection.reason.value, "message_type": message_type_name(env),
                          "sender": env.sender}, reason=rejection.detail[:1000])


# ---------------------------------------------------------------- messages the broker parks itself
_SENDER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")  # config.models.SLUG_PATTERN
_MESSAGE_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_MESSAGE_TYPES = frozenset(t.value for t in MessageType)


def _claims(body: bytes) -> dict[str, Any]:
    """What an unauthenticated body claims about itself (never trusted, only recorded as codes)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


class Rejection(Protocol):
    """A delivery the consumer is parking, as told to its ``on_reject`` hook (``broker.consumer.Rejection``)."""

    @property
    def queue(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def reason(self) -> RejectReason: ...
    @property
    def detail(self) -> str: ...
    @property
    def body(self) -> bytes: ...


class ParkedAudit:
    """The consumers' ``on_reject`` hook: every parked delivery is audited once, by codes and ids only.

    * ``bad_signature`` -> ``message.signature_failed`` with why (``missing``:
      no signature; ``unknown_sender``: no public key for the claimed sender;
      ``unknown_key``: the ``key_id`` is not one of the sender's;
      ``key_not_valid``: outside its validity; ``mismatch``: another key, or altered);
    * ``stale`` -> ``message.stale`` (validly signed, outside the freshness window);
    * anything else the broker parked on its own (undecodable, a body that is
      not its type's model, retries exhausted) -> ``message.rejected``;
    * a message a handler rejected was audited in the handler's transaction
      (:class:`RejectionLedger`) and is not audited again.

    The body is unauthenticated unless the signature held, so only values
    shaped like codes (a sender id, a known message type) are kept; nothing
    of the content is recorded.
    """

    def __init__(self, store: HubStore, senders: Callable[[], frozenset[str]], ledger: RejectionLedger) -> None:
        self.store = store
        self.senders = senders
        self.ledger = ledger

    def on_reject(self, rejection: Rejection) -> None:
        if self.ledger.take(rejection.message_id):
            return
        claims = _claims(rejection.body)
        sender = claims.get("sender")
        sender = sender if isinstance(sender, str) and _SENDER_RE.match(sender) else "<invalid>"
        message_type = claims.get("message_type")
        message_type = message_type if message_type in _MESSAGE_TYPES else None
        message_id = rejection.message_id if _MESSAGE_ID_RE.match(rejection.message_id) \
            else synthetic_message_id(rejection.body)
        detail: dict[str, Any] = {"sender": sender, "queue": rejection.queue, "reason": rejection.reason.value,
                                  "message_type": message_type}
        reason: str | None = rejection.detail[:300]
        if rejection.reason is RejectReason.BAD_SIGNATURE:
            action, reason = "message.signature_failed", None
            detail["failure"] = self._signature_failure(claims, sender, rejection.detail)
        elif rejection.reason is RejectReason.STALE:
            action = "message.stale"
        else:
            action = "message.rejected"
        with self.store.unit() as uow:
            uow.audit(action, actor=HUB_ACTOR, message_id=message_id, detail=detail, reason=reason)
        log.warning("hub.message_parked", action=action, message_id=message_id, sender=sender,
                    queue=rejection.queue, reason=rejection.reason.value)

    def _signature_failure(self, claims: dict[str, Any], sender: str, detail: str) -> str:
        if not claims.get("signature"):
            return "missing"
        if sender not in self.senders():
            return "unknown_sender"
        if "key_id" in detail and "is not a key of" in detail:
            return "unknown_key"
        if "expired at" in detail or "not valid before" in detail:
            return "key_not_valid"
        return "mismatch"


#: The hub's two queues. Handlers register in ``intake``, ``decisions`` and ``responses``.
RESPONSES = HandlerRegistry("responses")
EVENTS = HandlerRegistry("events", ignores_own_echoes=True)
