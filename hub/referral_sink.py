"""A referral sink straight into a hub service in this process.

Why it lives in the hub: connectors hand referrals to any object with
``submit(referral, agencies=..., actor=...) -> bool`` (the
``ReferralSink`` protocol in ``connectors/referral_sender.py``). The sink that
writes into the hub's own database is hub code; keeping it here means no
connector imports the hub (imports run connectors -> broker, never -> hub).
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import Conflict
from .service import HubService
from ..schemas.referral import Referral


class HubReferralSink:
    """Submits into a :class:`HubService` (the CLI on the hub's machine); False when the hub already had it."""

    def __init__(self, hub: HubService) -> None:
        self.hub = hub

    def submit(self, referral: Referral, *, agencies: Sequence[str] | None, actor: str) -> bool:
        try:
            self.hub.submit_referral(referral, agencies=agencies, actor=actor)
        except Conflict:
            return False
        return True
