"""The inbound ADT feed as canonical events, and the ED-attendance alert.

A trust's integration engine sends every registration, admission, discharge,
update and merge. Each becomes an ``AdtEvent`` carrying the canonical
``AgencyRecord`` of the patient. Like the national CP-IS service, the feed
also watches for children the MASH is working with: when a child (under 18)
with an open enquiry or a child-protection flag attends an emergency
department (A04 or A01 with patient class E or an ED location), an ``Alert``
(kind ``unscheduled_care_attendance``) is published for the hub.

Who is being watched is the hub's knowledge, so it sits behind the small
``WatchList`` protocol; only *trusted* identifiers are looked up (an NHS
number failing modulus 11 must never match someone else's child). Publishing
is a callable injected by the runtime; if it fails the message is NAKed and
the sender retries, so an alert is never silently lost.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Literal, Protocol

import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .hl7_extract import EventFacts, extract_event
from ...mapping.paths.hl7_er7 import FastMessage, Hl7ParseError, parse_ts
from .hl7_receiver import Hl7Receiver
from .hl7_mapping import ED_CATEGORY, Hl7Translator, LiveOptions
from ...schemas.codes import AgencyKind
from ...schemas.events import Alert, AlertKind
from ...schemas.identifiers import Identifier, IdentifierSystem
from ...schemas.record import AgencyRecord

log = structlog.get_logger("mashlink.connectors.health.adt")

#: Namespace of ADT event and alert ids (never change: ids must be stable across releases).
ADT_NAMESPACE = uuid.UUID("5b0e7a52-3c8d-5f19-a2e4-96d1c7f08b3a")


class AdtEventKind(StrEnum):
    ADMISSION = "admission"  # A01
    DISCHARGE = "discharge"  # A03
    ATTENDANCE = "attendance"  # A04 register an outpatient / ED attendance
    UPDATE = "update"  # A08 update patient information
    PERSON_ADDED = "person_added"  # A28
    PERSON_UPDATED = "person_updated"  # A31
    MERGE = "merge"  # A40 merge patient identifier list


TRIGGERS: dict[str, AdtEventKind] = {
    "A01": AdtEventKind.ADMISSION, "A03": AdtEventKind.DISCHARGE, "A04": AdtEventKind.ATTENDANCE,
    "A08": AdtEventKind.UPDATE, "A28": AdtEventKind.PERSON_ADDED, "A31": AdtEventKind.PERSON_UPDATED,
    "A40": AdtEventKind.MERGE,
}
ACCEPTED_MESSAGES = frozenset(f"ADT^{t}" for t in TRIGGERS)


class AdtEvent(BaseModel):
    """One ADT message, translated: what happened, when, to whom (canonical record)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=64)
    kind: AdtEventKind
    trigger: str
    control_id: str
    agency_id: str
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    emergency: bool = False
    record: AgencyRecord
    merged_identifiers: list[Identifier] = Field(
        default_factory=list, description="A40: the identifiers merged into record.person"
    )


@dataclass(frozen=True)
class WatchedSubject:
    """A child the hub is working with, as the hub lets a connector know it."""

    person_ref: str
    reason: Literal["open_enquiry", "child_protection_flag"]
    referral_id: str | None = None
    enquiry_id: str | None = None


class WatchList(Protocol):
    """Answers "is this person a child the MASH is working with?" (fed by the hub)."""

    def lookup(self, identifiers: Sequence[Identifier]) -> list[WatchedSubject]: ...


class InMemoryWatchList:
    """A ``WatchList`` held in memory: the hub (or a test) adds and removes entries."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str | None, str], list[WatchedSubject]] = {}

    def watch(self, identifier: Identifier, subject: WatchedSubject) -> None:
        if not identifier.trusted:
            raise ValueError("only a trusted identifier (check passed) can be watched")
        self._entries.setdefault(identifier.key, []).append(subject)

    def unwatch(self, person_ref: str) -> None:
        for key in list(self._entries):
            kept = [s for s in self._entries[key] if s.person_ref != person_ref]
            if kept:
                self._entries[key] = kept
            else:
                del self._entries[key]

    def lookup(self, identifiers: Sequence[Identifier]) -> list[WatchedSubject]:
        found: list[WatchedSubject] = []
        for identifier in identifiers:
            for subject in self._entries.get(identifier.key, ()):
                if subject not in found:
                    found.append(subject)
        return found


def age_on(birth: date, when: date) -> int:
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


def _occurred_at(facts: EventFacts, fallback: datetime) -> datetime:
    for value, name in (
        (facts.visit.admit_time if facts.visit else "", "PV1-44"),
        (facts.event_time, "EVN-2"),
        (facts.message_time, "MSH-7"),
    ):
        if not value:
            continue
        try:
            parsed = parse_ts(value, field=name)
        except Hl7ParseError:
            continue
        if isinstance(parsed, datetime):
            return parsed
        if parsed is not None:
            return datetime(parsed.year, parsed.month, parsed.day, tzinfo=timezone.utc)
    return fallback


class AdtFeed:
    """Handles ADT messages: canonical event out, ED-attendance alerts for watched children.

    ``publish_event`` and ``publish_alert`` are given by the runtime (the
    broker in production, a list in tests). Use ``receiver()`` as the MLLP
    server's handler to get ACK/NAK semantics for free.
    """

    def __init__(
        self,
        *,
        agency_id: str,
        watch_list: WatchList,
        publish_alert: Callable[[Alert], None],
        publish_event: Callable[[AdtEvent], None] | None = None,
        options: LiveOptions | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        alert_memory: int = 10_000,
    ) -> None:
        self.agency_id = agency_id
        self.watch_list = watch_list
        self.publish_alert = publish_alert
        self.publish_event = publish_event
        self.options = options or LiveOptions(agency_id=agency_id)
        self.translator = Hl7Translator(self.options)  # config/mappings/hl7v2-adt.yaml, or options.spec
        self.clock = clock
        self._alerted: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._alert_memory = alert_memory

    def receiver(self, *, validate: bool = False, application: str = "MASHLINK") -> Hl7Receiver:
        return Hl7Receiver(self.handle_message, accept=ACCEPTED_MESSAGES, validate=validate, application=application)

    def handle_message(self, msg: FastMessage) -> None:
        """``Hl7Receiver`` callback: translate and publish (raises on failure so the peer gets a NAK)."""
        self.handle(msg)

    def handle(self, msg: FastMessage) -> AdtEvent:
        trigger = msg.trigger or msg.value("EVN", 1)
        kind = TRIGGERS.get(trigger)
        if kind is None:
            raise Hl7ParseError(f"ADT trigger event {trigger or '(empty)'} is not supported", code=201,
                                segment="MSH", field=9, reject=True)
        facts = extract_event(msg)
        if kind is AdtEventKind.MERGE and not facts.merged_identifiers:
            raise Hl7ParseError("A40 merge needs MRG-1 (prior patient identifier list)", code=101,
                                segment="MRG", sequence=1, field=1)
        if not facts.identifiers:
            raise Hl7ParseError("PID-3 patient identifier list is required", code=101, segment="PID",
                                sequence=1, field=3)
        record = self.translator.translate(msg)
        now = self.clock()
        # An ED attendance is what the spec (and the trust's emergency locations) made of the visit.
        emergency = trigger in ("A01", "A04") and any(f.category == ED_CATEGORY for f in record.findings)
        merged = [
            Identifier(system=IdentifierSystem.HOSPITAL_MRN, value=cx.value,
                       scope=cx.authority or facts.sending_facility or "UNKNOWN")
            if cx.type_code.upper() != "NH" and cx.authority.upper() != "NHS"
            else Identifier(system=IdentifierSystem.NHS_NUMBER, value=cx.value)
            for cx in facts.merged_identifiers
        ]
        event = AdtEvent(
            # Same message (a retransmission after a lost ACK), same id.
            event_id=uuid.uuid5(ADT_NAMESPACE, f"adt:{self.agency_id}:{facts.sending_application}:"
                                f"{facts.sending_facility}:{facts.control_id}").hex,
            kind=kind,
            trigger=trigger,
            control_id=facts.control_id,
            agency_id=self.agency_id,
            occurred_at=_occurred_at(facts, now),
            received_at=now,
            emergency=emergency,
            record=record,
            merged_identifiers=merged,
        )
        if emergency:
            self._maybe_alert(event, facts)
        if self.publish_event is not None:
            self.publish_event(event)
        log.info("adt.event", kind=kind.value, control_id=event.control_id, emergency=emergency)
        return event

    def _maybe_alert(self, event: AdtEvent, facts: EventFacts) -> None:
        person = event.record.person
        trusted = [i for i in person.identifiers if i.trusted]
        if not trusted:
            return
        birth = person.birth_date.value if person.birth_date else None
        if birth is not None and age_on(birth, event.occurred_at.date()) >= 18:
            return
        visit_key = f"{facts.visit.facility if facts.visit else ''}:{facts.visit.visit_number if facts.visit else ''}"
        for subject in self.watch_list.lookup(trusted):
            key = (subject.person_ref, visit_key if facts.visit and facts.visit.visit_number else event.event_id)
            if key in self._alerted:
                continue
            location = (facts.visit.facility if facts.visit else "") or facts.sending_facility or None
            alert = Alert(
                # Deterministic: the same attendance re-sent (or re-read after a restart) gives the same
                # alert id and the hub stores it once.
                alert_id=uuid.uuid5(ADT_NAMESPACE, f"alert:{self.agency_id}:{key[0]}:{key[1]}").hex,
                kind=AlertKind.UNSCHEDULED_CARE_ATTENDANCE,
                agency_id=self.agency_id,
                agency_kind=AgencyKind.HEALTH,
                referral_id=subject.referral_id,
                enquiry_id=subject.enquiry_id,
                person_ref=subject.person_ref,
                occurred_at=event.occurred_at,
                location=location,
                detail=(
                    f"Emergency department attendance ({event.trigger}, patient class "
                    f"{facts.visit.patient_class if facts.visit else '?'}); watched because: {subject.reason}"
                    + ("; age not recorded" if birth is None else "")
                ),
            )
            self.publish_alert(alert)
            self._alerted[key] = None
            while len(self._alerted) > self._alert_memory:
                self._alerted.popitem(last=False)
            log.info("adt.alert", alert_id=alert.alert_id, person_ref=subject.person_ref, reason=subject.reason)

