"""Prometheus gauges for closing the loop, for ``/metrics`` (wired in by ``hub.metrics``).

Why gauges of current counts: an outcome nobody acknowledged, an alert
nobody looked at and a decision past its deadline are states to alert on
("more than zero for an hour"), not events to rate. The counts come from
``hub.loop_views.loop_counts`` at the service clock's ``now``, the same
numbers the worklist and ``mashlink status`` show.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.orm import Session

from .loop_views import LoopCounts, loop_counts

#: (metric name, help, LoopCounts field)
GAUGES: tuple[tuple[str, str, str], ...] = (
    ("mashlink_outcomes_undelivered", "Outcomes with no delivered or acknowledged receipt yet",
     "outcomes_undelivered"),
    ("mashlink_outcomes_unacknowledged", "Outcomes not yet settled by an acknowledgement (or delivery where the "
                                         "channel cannot acknowledge)", "outcomes_unacknowledged"),
    ("mashlink_outcomes_failed", "Outcomes whose delivery failed (and nothing later succeeded)", "outcomes_failed"),
    ("mashlink_outcomes_acknowledgement_at_risk", "Unacknowledged outcomes past the at-risk time",
     "outcomes_acknowledgement_at_risk"),
    ("mashlink_outcomes_acknowledgement_overdue", "Unacknowledged outcomes past the acknowledgement window",
     "outcomes_acknowledgement_overdue"),
    ("mashlink_alerts_unacknowledged", "Alerts about watched children no practitioner has acknowledged",
     "alerts_unacknowledged"),
    ("mashlink_decisions_at_risk", "Undecided referrals past the decision at-risk time", "decisions_at_risk"),
    ("mashlink_decisions_overdue", "Undecided referrals past the decision deadline", "decisions_overdue"),
    ("mashlink_team_notifications_pending", "Alerts and escalations waiting to reach the MASH team's channels",
     "notifications_pending"),
    ("mashlink_team_notifications_failed", "Alerts and escalations that could not reach the team's channels",
     "notifications_failed"),
    ("mashlink_referrals_for_transfer", "Undecided cross-border referrals flagged for transfer",
     "referrals_for_transfer"),
)


def _counts(service_or_session: Any) -> LoopCounts:
    if isinstance(service_or_session, Session):
        return loop_counts(service_or_session, datetime.now(timezone.utc))
    return service_or_session.loop_counts()  # type: ignore[no-any-return]


def add_loop_metrics(registry: CollectorRegistry, service_or_session: Any) -> None:
    """Add the loop gauges to ``registry`` from a ``HubService`` (its clock) or an open ``Session`` (now)."""
    counts = _counts(service_or_session)
    for name, help_text, field in GAUGES:
        Gauge(name, help_text, registry=registry).set(getattr(counts, field))
