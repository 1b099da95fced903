"""Domestic-abuse alerts: a new DA occurrence in a watched child's household is told to the hub.

Like the health connector's ED-attendance alert (``connectors.health.adt``),
the police connector watches the children it has answered enquiries about:
every confirmed match of a child subject (force person id -> the hub's
subject key, referral, enquiry, why watched) is kept in a small SQLite file
in the state directory. When a reload of the POLE export brings a domestic-abuse
occurrence the connector has not seen before, and a person linked to it is
the watched child or a member of the child's household (a family link the
export marks as same household, or the same current home address), one
``Alert`` (kind ``domestic_abuse_incident``) is published per occurrence and
child. The alert carries no names: the hub's subject key, the occurrence
reference and type, when, the beat / area code (else the postcode district)
and the force code.

Why the state is durable (``synchronous=FULL``, so every commit is fsynced):
a restarted connector must neither alert twice (alerted keys are kept) nor
miss an occurrence that arrived while it was down (the occurrences already
seen are kept; the first load ever only sets that baseline, because an
occurrence in the answer the MASH already has is not news). An occurrence is
marked seen only after its alerts were confirmed by the broker; if
publishing fails, the next reload check tries again. The watch on a referral
ends when its outcome or decision arrives on the agency's events queue
(:class:`ReferralClosedEffect`, a local effect of ``connectors.events``).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import structlog

from .store import PoleStore
from ..files import SqliteState, StateSchema
from ...schemas.codes import AgencyKind, FindingCategory
from ...schemas.enquiry import Enquiry, EnquiryResponse
from ...schemas.envelope import MessageType
from ...schemas.events import Alert, AlertKind, WatchReason
from ...schemas.finding import Finding
from ...schemas.record import AgencyRecord

log = structlog.get_logger("mashlink.connectors.police.watch")

#: Namespace of police DA alert ids (never change: ids must be stable across releases and restarts).
POLICE_ALERT_NAMESPACE = uuid.UUID("0c6f3d1e-8a47-5b92-9e1d-2f7a4c85b361")

#: Event attributes that name the beat / policing area (the pole spec maps an event's ``attributes.beat``).
_AREA_ATTRIBUTES = ("beat",)
#: Words in an enquiry's concerns or questions that say the child has a child-protection plan.
_CP_PLAN = re.compile(r"child[ _-]protection[ _-]plan|\bcp[ _-]plan\b", re.IGNORECASE)

_SCHEMA = StateSchema(version=1, create=(
    """CREATE TABLE IF NOT EXISTS watch (
        police_person_id TEXT NOT NULL, person_ref TEXT NOT NULL, referral_id TEXT NOT NULL,
        enquiry_id TEXT NOT NULL, reason TEXT NOT NULL, added_at TEXT NOT NULL,
        PRIMARY KEY (police_person_id, person_ref, referral_id))""",
    "CREATE INDEX IF NOT EXISTS watch_referral ON watch (referral_id)",
    "CREATE TABLE IF NOT EXISTS seen (reference TEXT PRIMARY KEY, seen_at TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS alerted (
        reference TEXT NOT NULL, referral_id TEXT NOT NULL, person_ref TEXT NOT NULL, alert_id TEXT NOT NULL,
        alerted_at TEXT NOT NULL, PRIMARY KEY (reference, referral_id, person_ref))""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
))


@dataclass(frozen=True)
class WatchedChild:
    """A child the connector answered an enquiry about, as the force knows them."""

    police_person_id: str
    person_ref: str
    referral_id: str
    enquiry_id: str
    reason: WatchReason


@dataclass(frozen=True)
class DaOccurrence:
    """One domestic-abuse occurrence of the export and the force person ids linked to it."""

    reference: str
    occurred_at: datetime
    location: str | None
    organisation: str | None
    persons: frozenset[str]


class PoliceWatchState(SqliteState):
    """SQLite-backed watch list, occurrences seen and alerts sent (:class:`~connectors.files.SqliteState`).

    Every commit is fsynced: an alert is remembered, or it was not sent.
    """

    schema = _SCHEMA

    def watch(self, children: Sequence[WatchedChild]) -> int:
        """Watch these children (idempotent); returns rows added."""
        if not children:
            return 0
        now = datetime.now(UTC).isoformat()
        with self._lock, self._conn() as conn:
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO watch VALUES (?, ?, ?, ?, ?, ?)", [
                (c.police_person_id, c.person_ref, c.referral_id, c.enquiry_id, c.reason.value, now)
                for c in children])
            conn.execute("COMMIT")
            return conn.total_changes - before

    def forget_referral(self, referral_id: str) -> int:
        """Stop watching a referral's children (its outcome is known); returns rows removed."""
        with self._lock, self._conn() as conn:
            return conn.execute("DELETE FROM watch WHERE referral_id = ?", (referral_id,)).rowcount

    def watched(self) -> list[WatchedChild]:
        with self._conn() as conn:
            rows = conn.execute("SELECT police_person_id, person_ref, referral_id, enquiry_id, reason FROM watch"
                                " ORDER BY added_at, police_person_id").fetchall()
        return [WatchedChild(p, ref, rid, eid, WatchReason(reason)) for p, ref, rid, eid, reason in rows]

    def watched_count(self) -> int:
        with self._conn() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM watch").fetchone()[0])

    def has_baseline(self) -> bool:
        with self._conn() as conn:
            return conn.execute("SELECT 1 FROM meta WHERE key = 'baseline'").fetchone() is not None

    def seen_references(self) -> set[str]:
        with self._conn() as conn:
            return {r[0] for r in conn.execute("SELECT reference FROM seen")}

    def mark_seen(self, references: Iterable[str], *, baseline: bool = False) -> None:
        now = datetime.now(UTC).isoformat()
        with self._lock, self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", [(r, now) for r in references])
            if baseline:
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('baseline', ?)", (now,))
            conn.execute("COMMIT")

    def was_alerted(self, reference: str, child: WatchedChild) -> bool:
        with self._conn() as conn:
            return conn.execute("SELECT 1 FROM alerted WHERE reference = ? AND referral_id = ? AND person_ref = ?",
                                (reference, child.referral_id, child.person_ref)).fetchone() is not None

    def mark_alerted(self, reference: str, child: WatchedChild, alert_id: str) -> None:
        with self._lock, self._conn() as conn:
            conn.execute("INSERT OR IGNORE INTO alerted VALUES (?, ?, ?, ?, ?)",
                         (reference, child.referral_id, child.person_ref, alert_id, datetime.now(UTC).isoformat()))

    def alerted_count(self) -> int:
        with self._conn() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM alerted").fetchone()[0])


# --------------------------------------------------------------------------- reading the store
def _age_on(birth: date, when: date) -> int:
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


def _area(finding: Finding) -> str | None:
    """The beat / area code of the occurrence, else the postcode district (never a full address)."""
    attrs = finding.attributes
    for name in _AREA_ATTRIBUTES:
        value = attrs.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    postcode = attrs.get("location_postcode")
    if isinstance(postcode, str) and postcode.split():
        return postcode.split()[0].upper()
    return None


def _when(value: date | datetime | None) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    return datetime.now(UTC)


def da_occurrences(store: PoleStore) -> dict[str, DaOccurrence]:
    """Every domestic-abuse occurrence of the store by reference, with the people linked to it."""
    persons: dict[str, set[str]] = defaultdict(set)
    first: dict[str, Finding] = {}
    for record in store.records:
        for finding in record.findings:
            if finding.category is not FindingCategory.POLICE_DOMESTIC_ABUSE_INCIDENT:
                continue
            ref = finding.attributes.get("reference")
            reference = ref if isinstance(ref, str) and ref else finding.source.record_id
            persons[reference].add(record.person.person_id)
            first.setdefault(reference, finding)
    return {ref: DaOccurrence(reference=ref, occurred_at=_when(f.start), location=_area(f),
                              organisation=f.source.organisation, persons=frozenset(persons[ref]))
            for ref, f in first.items()}


def _home_keys(record: AgencyRecord) -> set[str]:
    """Current home addresses of a person, as comparable keys (UPRN, else lines and postcode)."""
    keys: set[str] = set()
    for address in record.person.addresses:
        period = getattr(address, "period", None)
        if period is not None and getattr(period, "end", None) is not None:
            continue
        uprn = getattr(address, "uprn", None)
        if uprn:
            keys.add(f"uprn:{uprn}")
            continue
        postcode = (getattr(address, "postcode", None) or "").replace(" ", "").upper()
        lines = " ".join(getattr(address, "lines", None) or []).lower()
        if postcode and lines:
            keys.add(f"addr:{re.sub(r'[^a-z0-9]+', ' ', lines).strip()}:{postcode}")
    return keys


class Households:
    """Who lives with whom in one store: same-household family links and shared current home addresses."""

    def __init__(self, store: PoleStore) -> None:
        self.store = store
        self._by_address: dict[str, set[str]] | None = None

    def _address_index(self) -> dict[str, set[str]]:
        if self._by_address is None:
            index: dict[str, set[str]] = defaultdict(set)
            for record in self.store.records:
                for key in _home_keys(record):
                    index[key].add(record.person.person_id)
            self._by_address = index
        return self._by_address

    def of(self, person_id: str) -> set[str]:
        """The person and everyone the export places in their household."""
        try:
            record = self.store.record(person_id)
        except KeyError:
            return set()
        members = {person_id}
        for rel in record.relationships:
            if rel.same_household:
                members.update((rel.from_person_id, rel.to_person_id))
        index = self._address_index()
        for key in _home_keys(record):
            members.update(index.get(key, ()))
        return members


# --------------------------------------------------------------------------- the watcher
def watch_reason(enquiry: Enquiry) -> WatchReason:
    """A child-protection plan when the enquiry says so, else the open referral."""
    text = " ".join([*enquiry.concerns, *enquiry.questions])
    return WatchReason.CHILD_PROTECTION_PLAN if _CP_PLAN.search(text) else WatchReason.OPEN_REFERRAL


def alert_id_for(agency_id: str, reference: str, child: WatchedChild) -> str:
    """Deterministic: the same occurrence and child always give the same alert (the hub stores it once)."""
    return uuid.uuid5(POLICE_ALERT_NAMESPACE,
                      f"police-da:{agency_id}:{reference}:{child.referral_id}:{child.person_ref}").hex


@dataclass(frozen=True)
class ScanResult:
    new_occurrences: int = 0
    alerts: int = 0
    baseline: bool = False


class DaAlertWatcher:
    """Watches answered children; on a reload, alerts the hub of new DA occurrences in their households.

    ``publish_alert`` is the broker publish (with confirms) given by the
    runtime; if it raises, the occurrence stays unseen and ``poll`` tries
    again on the next reload check.
    """

    def __init__(self, agency_id: str, state: PoliceWatchState, publish_alert: Callable[[Alert], None], *,
                 organisation: str | None = None) -> None:
        self.agency_id = agency_id
        self.state = state
        self.publish_alert = publish_alert
        self.organisation = organisation
        self._lock = threading.Lock()
        self._pending = False

    # ---- watching ---------------------------------------------------------------
    def watch_answer(self, enquiry: Enquiry, responses: Sequence[EnquiryResponse]) -> int:
        """Watch each child subject confirmed as a force person in the answer; returns rows added."""
        children_ids = {s.person_id for s in enquiry.subjects
                        if s.birth_date is None or _age_on(s.birth_date.value, date.today()) < 18}
        reason = watch_reason(enquiry)
        rows = [WatchedChild(police_person_id=m.record_person_id, person_ref=m.subject_person_id,
                             referral_id=enquiry.referral_id, enquiry_id=enquiry.enquiry_id, reason=reason)
                for response in responses for m in response.matches
                if not m.candidate and m.subject_person_id in children_ids]
        added = self.state.watch(rows)
        if added:
            log.info("police.watching", enquiry_id=enquiry.enquiry_id, referral_id=enquiry.referral_id, rows=added)
        return added

    def close_referral(self, referral_id: str) -> int:
        removed = self.state.forget_referral(referral_id)
        log.info("police.referral_closed", referral_id=referral_id, unwatched=removed)
        return removed

    # ---- scanning -----------------------------------------------------------------
    def start(self, store: PoleStore) -> ScanResult:
        """At start-up: the first load ever sets the baseline; later ones alert what arrived while down."""
        return self.after_reload(store)

    def after_reload(self, store: PoleStore) -> ScanResult:
        """Called with the new store after each reload; a publish failure is logged and retried by ``poll``."""
        try:
            result = self.scan(store)
        except Exception as exc:  # noqa: BLE001 - the reload stands; the alert is retried
            self._pending = True
            log.error("police.da_alert_failed", agency_id=self.agency_id, error=type(exc).__name__)
            return ScanResult()
        self._pending = False
        return result

    def poll(self, store: PoleStore) -> ScanResult | None:
        """Retry a scan that failed to publish (called on every reload check); None when nothing is pending."""
        return self.after_reload(store) if self._pending else None

    def scan(self, store: PoleStore) -> ScanResult:
        """Alert new DA occurrences involving a watched child's household; raises if publishing fails."""
        with self._lock:
            occurrences = da_occurrences(store)
            if not self.state.has_baseline():
                self.state.mark_seen(occurrences, baseline=True)
                log.info("police.da_baseline", agency_id=self.agency_id, occurrences=len(occurrences))
                return ScanResult(baseline=True)
            seen = self.state.seen_references()
            new = [o for ref, o in sorted(occurrences.items()) if ref not in seen]
            if not new:
                return ScanResult()
            watched = self.state.watched()
            households = Households(store)
            members = {c.police_person_id: households.of(c.police_person_id) for c in watched}
            alerts = 0
            for occurrence in new:
                for child in watched:
                    if not occurrence.persons & members[child.police_person_id]:
                        continue
                    if self.state.was_alerted(occurrence.reference, child):
                        continue
                    alert = self._alert(occurrence, child)
                    self.publish_alert(alert)  # raises: nothing marked, retried
                    self.state.mark_alerted(occurrence.reference, child, alert.alert_id)
                    alerts += 1
                    log.info("police.da_alert", alert_id=alert.alert_id, referral_id=child.referral_id,
                             reason=child.reason.value)
                self.state.mark_seen([occurrence.reference])
            return ScanResult(new_occurrences=len(new), alerts=alerts)

    def _alert(self, occurrence: DaOccurrence, child: WatchedChild) -> Alert:
        return Alert(
            alert_id=alert_id_for(self.agency_id, occurrence.reference, child),
            kind=AlertKind.DOMESTIC_ABUSE_INCIDENT, agency_id=self.agency_id, agency_kind=AgencyKind.POLICE,
            referral_id=child.referral_id, enquiry_id=child.enquiry_id, person_ref=child.person_ref,
            occurred_at=occurrence.occurred_at, location=occurrence.location,
            organisation=self.organisation or occurrence.organisation,
            detail=f"Domestic abuse occurrence {occurrence.reference} (type DA)",
            watched_because=child.reason,
        )


class ReferralClosedEffect:
    """``connectors.events`` local effect: an outcome or decision ends the watch on its referral (idempotent)."""

    def __init__(self, watcher: DaAlertWatcher) -> None:
        self.watcher = watcher

    def __call__(self, event: Any) -> None:
        if event.kind in (MessageType.OUTCOME.value, MessageType.DECISION.value):
            self.watcher.close_referral(event.referral_id)
