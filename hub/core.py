"""What every part of the hub's service shares: settings, the database store, topology, codec, clock, policies.

Why a base of its own: ``HubService`` is split by job (``intake``,
``decisions``, ``views``; consumers in ``handlers`` and ``responses``), and
each job needs the same handful of collaborators. Building them once here
keeps the jobs free of construction code and lets each be read (and typed)
on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import Engine

from ..broker.codec import EnvelopeCodec, settings_codec
from ..broker.topology import Topology
from ..config.deadlines import DeadlinePolicy
from ..config.settings import HUB_SENDER_ID, MashlinkSettings
from .audit_key import audit_key_for
from .db import session_factory
from .loop import LoopPolicy
from .unit import HubStore

#: Who a referral's outcome goes to besides the agencies (the person or team that referred).
REFERRER = "referrer"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def hub_codec(settings: MashlinkSettings, clock: Callable[[], datetime] = utcnow) -> EnvelopeCodec:
    """Signs as the hub (its private key only); verifies every sender's public keys; the hub's own are fresh."""
    return settings_codec(settings, signs_as=HUB_SENDER_ID, verifies=settings.signing_senders(),
                          trusted={HUB_SENDER_ID}, clock=clock)


class HubCore:
    """The collaborators of every hub job, built once from the settings and one database engine."""

    def __init__(
        self,
        settings: MashlinkSettings,
        engine: Engine,
        *,
        topology: Topology | None = None,
        codec: EnvelopeCodec | None = None,
        clock: Callable[[], datetime] = utcnow,
        deadlines: DeadlinePolicy | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.topology = topology or Topology(settings.broker_namespace)
        self.codec = codec or hub_codec(settings, clock)
        self.clock = clock
        self.deadlines = deadlines or DeadlinePolicy.from_settings(settings)
        self.loop = LoopPolicy(settings.loop, self.deadlines.calendar)
        self.factory = session_factory(engine)
        self.store = HubStore(self.factory, self.codec, clock, audit_key=audit_key_for(settings))
