"""When an enquiry is due, and when it is at risk of being late.

Combines a local authority's RAG timescales with the working calendar: a
rating worked out of hours (often red) counts clock hours, the others count
working hours. The at-risk moment is the same calculation over
``at_risk_fraction`` of the time, so an escalation fires while there is still
time to act.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from .models import RagTimescale, RagTimescales
from .settings import MashlinkSettings
from .working_hours import WorkingCalendar, require_aware
from ..schemas.codes import Rag


class DeadlineState(StrEnum):
    """Where an outstanding enquiry stands against its deadline."""

    ON_TIME = "on_time"
    AT_RISK = "at_risk"
    OVERDUE = "overdue"


class DeadlinePolicy:
    """Due and at-risk times per rating, for each configured local authority."""

    def __init__(
        self,
        timescales: Mapping[str, RagTimescales],
        calendar: WorkingCalendar,
        default_la_code: str | None = None,
    ) -> None:
        if not timescales:
            raise ValueError("at least one local authority's RAG timescales are needed")
        self.timescales = dict(timescales)
        self.calendar = calendar
        self.default_la_code = default_la_code or next(iter(self.timescales))

    @classmethod
    def from_settings(cls, settings: MashlinkSettings) -> "DeadlinePolicy":
        return cls(
            settings.rag,
            WorkingCalendar.from_settings(settings.calendar),
            default_la_code=settings.local_authority.code,
        )

    def timescales_for(self, la_code: str | None = None) -> RagTimescales:
        code = la_code or self.default_la_code
        try:
            return self.timescales[code]
        except KeyError:
            known = ", ".join(sorted(self.timescales))
            raise KeyError(f"no RAG timescales for local authority {code!r}; configured: {known}") from None

    def timescale(self, rag: Rag | str, la_code: str | None = None) -> RagTimescale:
        return self.timescales_for(la_code).for_rag(rag)

    def _after(self, scale: RagTimescale, requested_at: datetime, hours: float) -> datetime:
        require_aware(requested_at, "requested_at")
        if scale.out_of_hours:
            return requested_at.astimezone(UTC) + timedelta(hours=hours)
        return self.calendar.add_working_hours(requested_at, hours)

    def deadline_for(self, rag: Rag | str, requested_at: datetime, la_code: str | None = None) -> datetime:
        """When a partner's answer is due (UTC)."""
        scale = self.timescale(rag, la_code)
        return self._after(scale, requested_at, scale.hours)

    def at_risk_at(self, rag: Rag | str, requested_at: datetime, la_code: str | None = None) -> datetime:
        """When the at-risk escalation fires: ``at_risk_fraction`` of the time used (UTC)."""
        scales = self.timescales_for(la_code)
        scale = scales.for_rag(rag)
        return self._after(scale, requested_at, scale.hours * scales.at_risk_fraction)

    def state_at(
        self, rag: Rag | str, requested_at: datetime, now: datetime, la_code: str | None = None
    ) -> DeadlineState:
        """On time, at risk or overdue at ``now`` (the deadline instant itself is overdue)."""
        require_aware(now, "now")
        if now >= self.deadline_for(rag, requested_at, la_code):
            return DeadlineState.OVERDUE
        if now >= self.at_risk_at(rag, requested_at, la_code):
            return DeadlineState.AT_RISK
        return DeadlineState.ON_TIME

    def hours_used(
        self, rag: Rag | str, requested_at: datetime, now: datetime, la_code: str | None = None
    ) -> float:
        """Share of the allowed time used by ``now`` (0.0 .. >1.0), in the rating's own hours."""
        scale = self.timescale(rag, la_code)
        require_aware(requested_at, "requested_at")
        require_aware(now, "now")
        if scale.out_of_hours:
            used = (now - requested_at).total_seconds() / 3600
        else:
            used = self.calendar.working_hours_between(requested_at, now)
        return max(0.0, used) / scale.hours
