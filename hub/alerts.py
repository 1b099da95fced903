"""Alerts about watched children: why the child is watched, which team is responsible, what the team is told.

Why a module: an ED attendance or a domestic-abuse incident about a child
the MASH is working with must reach a person who acts, with the facts needed
to act (when, where, which trust or force, why the child is watched) and no
more: never a name, a date of birth or the partner's free text, which may
carry far more than the team channel (an email inbox, a chat web hook) is
cleared for. The same facts are the payload of the team notification and the
line shown on the referral page.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from .models import AlertRow, LoopEscalationRow, ReferralRow, ReferralStatus
from ..schemas.events import Alert, AlertKind, WatchReason

NOT_STATED = "not_stated"
_DETAIL_REASON = re.compile(r"watched because:\s*([a-z_]+)")

KIND_LABELS = {
    AlertKind.UNSCHEDULED_CARE_ATTENDANCE.value: "Emergency department attendance",
    AlertKind.HOSPITAL_ADMISSION.value: "Hospital admission",
    AlertKind.DOMESTIC_ABUSE_INCIDENT.value: "Domestic abuse incident in the child's household",
    AlertKind.CHILD_COMING_TO_NOTICE.value: "Child came to police notice",
    AlertKind.MISSING_EPISODE.value: "Missing episode",
}
REASON_LABELS = {
    WatchReason.OPEN_REFERRAL.value: "open MASH referral",
    WatchReason.OPEN_ENQUIRY.value: "open MASH enquiry",
    WatchReason.CHILD_PROTECTION_PLAN.value: "child protection plan",
    WatchReason.CHILD_PROTECTION_FLAG.value: "child protection flag (CP-IS)",
    NOT_STATED: "not stated by the sender",
}


def watch_reason(alert: Alert, referral: ReferralRow | None) -> str:
    """Why the child is watched: the alert's own field, else an open referral, else the sender's detail text."""
    if alert.watched_because is not None:
        return alert.watched_because.value
    found = _DETAIL_REASON.search(alert.detail or "")
    if found and found.group(1) in {r.value for r in WatchReason}:
        return found.group(1)
    if referral is not None and referral.status != ReferralStatus.DECIDED.value:
        return WatchReason.OPEN_REFERRAL.value
    return NOT_STATED


def alert_facts(row: AlertRow, agency_name: str) -> dict[str, Any]:
    """The facts of an alert a team channel receives: ids, times, places, reasons; no names, no free text."""
    alert = Alert.model_validate(row.body)
    return {
        "type": "mashlink.alert",
        "alert_id": row.alert_id,
        "kind": row.kind,
        "what": KIND_LABELS.get(row.kind, row.kind.replace("_", " ")),
        "occurred_at": row.occurred_at.isoformat(),
        "location": alert.location,
        "organisation": alert.organisation or agency_name,
        "agency_id": row.agency_id,
        "watched_because": row.watched_because or NOT_STATED,
        "why_watched": REASON_LABELS.get(row.watched_because or NOT_STATED, row.watched_because or NOT_STATED),
        "referral_id": row.referral_id,
        "person_ref": alert.person_ref,
        "received_at": row.received_at.isoformat(),
    }


def escalation_facts(row: LoopEscalationRow) -> dict[str, Any]:
    """The facts of a decision or acknowledgement escalation for the team channel (ids and times only)."""
    if row.kind == "decision":
        what = f"MASH decision {row.level.replace('_', ' ')}"
    elif row.level == "failed":
        what = f"Outcome to {row.recipient} could not be delivered"
    else:
        what = f"Outcome to {row.recipient} not acknowledged ({row.level.replace('_', ' ')})"
    return {
        "type": "mashlink.escalation", "escalation_id": row.escalation_id, "kind": row.kind, "level": row.level,
        "what": what, "referral_id": row.referral_id, "outcome_id": row.outcome_id, "recipient": row.recipient,
        "due_at": row.due_at.isoformat() if row.due_at else None, "raised_at": row.raised_at.isoformat(),
        "detail": row.detail,
    }


def email_text(payload: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of a team email from a notification payload."""
    ref = payload.get("referral_id")
    if payload.get("type") == "mashlink.alert":
        subject = f"MASH alert: {payload['what']}" + (f" (referral {ref})" if ref else "")
        lines = [
            f"{payload['what']}.",
            "",
            f"When: {payload['occurred_at']}",
            f"Where: {payload.get('location') or 'not given'}",
            f"Reported by: {payload['organisation']}",
            f"Why the child is watched: {payload['why_watched']}",
            f"Referral: {ref or 'none open'}",
            f"Person reference: {payload['person_ref']}",
            "",
            "Open the MASH workspace to see the referral and acknowledge this alert. "
            f"Alert reference {payload['alert_id']}.",
        ]
    else:
        subject = f"MASH escalation: {payload['what']} (referral {ref})"
        lines = [f"{payload['what']}.", "", f"Referral: {ref}",
                 f"Due: {payload.get('due_at') or 'n/a'}", f"Raised: {payload['raised_at']}",
                 f"Detail: {payload.get('detail') or ''}", "",
                 f"Escalation reference {payload['escalation_id']}."]
    return subject, "\n".join(lines) + "\n"


class AlertView(BaseModel):
    """An alert as the referral page and the API show it."""

    alert_id: str
    kind: str
    what: str
    agency_id: str
    organisation: str | None
    location: str | None
    occurred_at: datetime
    received_at: datetime
    referral_id: str | None
    team_la: str | None = None
    person_ref: str
    watched_because: str
    why_watched: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledgement_note: str | None
    notified: list[str] = []

    @classmethod
    def of(cls, row: AlertRow, notified: list[str] | None = None) -> "AlertView":
        alert = Alert.model_validate(row.body)
        reason = row.watched_because or NOT_STATED
        return cls(alert_id=row.alert_id, kind=row.kind, what=KIND_LABELS.get(row.kind, row.kind),
                   agency_id=row.agency_id, organisation=alert.organisation, location=alert.location,
                   occurred_at=row.occurred_at, received_at=row.received_at, referral_id=row.referral_id,
                   team_la=row.team_la, person_ref=alert.person_ref, watched_because=reason, why_watched=REASON_LABELS.get(reason, reason),
                   acknowledged_at=row.acknowledged_at, acknowledged_by=row.acknowledged_by,
                   acknowledgement_note=row.acknowledgement_note, notified=notified or [])
