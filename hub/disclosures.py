"""The disclosure log: whose records the hub showed or sent, to whom, why, and on what basis.

An agency that shared information with the MASH is entitled to ask who has
seen it (and data-protection law lets the child's family ask the same). The
audit chain proves that every read happened as recorded, but it is ordered
by time, not by agency, and its details hold ids and codes only. So each
read or send is recorded twice, in the same transaction:

* ONE ``record.read`` audit event (actor: the principal's subject; detail:
  role, purpose, what, the agencies shown, break-glass), which the keyed
  chain makes tamper-evident;
* one ``disclosures`` row per agency whose records were shown or sent,
  naming that event, which answers "everything of ours that was disclosed"
  with one indexed query (``list_disclosures``).

Because both are written in the caller's unit of work, a read that is
served is never missing from the log, and a failed one leaves neither.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config.security import Role
from .audit import MAX_DETAIL_TEXT
from .models import DisclosureRow
from .unit import UnitOfWork

READ_ACTION = "record.read"
#: What was disclosed; new kinds are allowed if they are codes (see ``_CODE``).
KNOWN_WHAT = frozenset({"linked_view", "chronology", "enquiry", "dlq_body", "answer"})
MAX_LIST = 10_000
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ROLES = frozenset(r.value for r in Role)


class DisclosureError(ValueError):
    """A disclosure recorded wrongly (a programming error: the read must not be served unrecorded)."""


class DisclosureEntry(BaseModel):
    """One agency's records disclosed once: a row of the disclosure log."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int = Field(description="Increasing; page with after_id")
    at: datetime
    audit_event_id: str = Field(description="event_id of the record.read audit event this belongs to")
    principal_subject: str = Field(description="Identity provider subject (or client id) of who saw it")
    principal_name: str | None = Field(default=None, description="Their display name when the read happened")
    role: str
    purpose: str | None = None
    referral_id: str | None = None
    agency_id: str = Field(description="The agency whose records were shown or sent")
    what: str = Field(description="linked_view | chronology | enquiry | dlq_body | answer | ...")
    lawful_basis: list[str]
    break_glass: bool = False


def record_disclosure(uow: UnitOfWork, *, principal_subject: str, principal_name: str | None, role: str,
                      purpose: str | None, referral_id: str | None, agencies: list[str], what: str,
                      lawful_basis: list[str], break_glass: bool = False, reason: str | None = None) -> None:
    """Record one read or send: one ``record.read`` audit event and one disclosure row per agency.

    Call it in the same unit of work that serves (or stages) the data, so
    the record and the disclosure commit together. ``agencies`` are the
    agencies whose records were included (duplicates collapse; none is
    allowed: the read is still audited). A break-glass read needs its
    ``reason``, which goes to the audit event's reason, not its detail.
    """
    problems = []
    if not principal_subject:
        problems.append("principal_subject: required")
    if role not in _ROLES:
        problems.append(f"role: {role!r} is not one of {sorted(_ROLES)}")
    if not _CODE.match(what or ""):
        problems.append(f"what: {what!r} must be a lower-case code, e.g. {sorted(KNOWN_WHAT)}")
    if purpose is not None and not _CODE.match(purpose):
        problems.append(f"purpose: {purpose!r} must be a lower-case code")
    if break_glass and not (reason and reason.strip()):
        problems.append("reason: required for a break-glass read")
    if problems:
        raise DisclosureError("; ".join(problems))
    shown = list(dict.fromkeys(agencies))
    bases = list(dict.fromkeys(lawful_basis))
    detail: dict[str, object] = {"role": role, "purpose": purpose, "what": what, "agencies_shown": shown,
                                 "lawful_basis": bases, "break_glass": break_glass}
    if principal_name:
        detail["actor_name"] = principal_name[:MAX_DETAIL_TEXT]
    event_id = uow.audit(READ_ACTION, actor=principal_subject, referral_id=referral_id, detail=detail,
                         reason=reason)
    uow.session.add_all([
        DisclosureRow(at=uow.now, audit_event_id=event_id, principal_subject=principal_subject,
                      principal_name=principal_name, role=role, purpose=purpose, referral_id=referral_id,
                      agency_id=agency_id, what=what, lawful_basis=bases, break_glass=break_glass)
        for agency_id in shown
    ])


def list_disclosures(session: Session, *, agency_id: str, since: datetime | None, until: datetime | None,
                     limit: int, after_id: int = 0) -> list[DisclosureEntry]:
    """One agency's disclosures in order, ``since`` <= at < ``until``, after ``after_id``, at most ``limit``."""
    if not 1 <= limit <= MAX_LIST:
        raise DisclosureError(f"limit: must be between 1 and {MAX_LIST} (got {limit})")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise DisclosureError(f"{name}: must be timezone-aware")
    query = select(DisclosureRow).where(DisclosureRow.agency_id == agency_id, DisclosureRow.id > after_id)
    if since is not None:
        query = query.where(DisclosureRow.at >= since)
    if until is not None:
        query = query.where(DisclosureRow.at < until)
    rows = session.execute(query.order_by(DisclosureRow.id).limit(limit)).scalars().all()
    return [DisclosureEntry.model_validate(row) for row in rows]
