"""Inbound: a child-coming-to-notice / PPN record becomes a MASH referral.

A police officer who attends an incident with a child present submits a
public protection notice (PPN) / child-coming-to-notice (CCTN) record; the
MASH must receive it as a referral. This module builds a canonical
``Referral`` from the POLE record (source ``6`` police; concerns from the
PPN concern codes; initial RAG from the PPN risk grading, both through code
tables council IT can edit; the lawful basis for police sharing; consent
``not_sought`` with the reason) and submits it with
:meth:`HubService.submit_referral`.

Two ways in. On the hub's machine (``mashlink police intake``) the referral
goes straight to ``HubService.submit_referral``, which commits it, its audit
record and its enquiries (outbox) in one transaction. From the force's side
(the police connector with ``cctn_intake: true``, or ``intake --via-broker``)
it is a signed ``referral`` message over the broker, which the hub's events
consumer stores and fans out the same way. Referral ids are deterministic
(uuid5 of force and occurrence reference), so importing the same export twice
creates one referral.

DND records never become referrals (they are never disseminated); they are
reported as skipped with the reason, by reference only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError

from ...broker.codec import describe_validation_error
from ..base import CONNECTOR_NAMESPACE
from ..referral_sender import ReferralSink
from ...mapping.codes import CodeTable, default_codes_dir, load_table
from ...schemas.codes import (
    ConcernCategory,
    ConsentStatus,
    FindingCategory,
    LawfulBasis,
    Rag,
    ReferralSource,
)
from ...schemas.finding import Finding
from ...schemas.record import AgencyRecord
from ...schemas.referral import Consent, RagChange, Referral

log = structlog.get_logger(__name__)

CONSENT_REASON = (
    "Police child-coming-to-notice referral: consent not sought because seeking it could place the child at "
    "risk or prejudice police enquiries; shared under statutory safeguarding duties (Children Act 2004 s11)."
)
ACTOR = "police-connector"
#: Who authorises sharing a PPN without consent: the force's standing decision, recorded as such.
CONSENT_AUTHORITY = "Force PPN policy under the MASH information sharing agreement"


@dataclass
class IntakeReport:
    submitted: list[str] = field(default_factory=list)        # referral ids
    already_submitted: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (occurrence reference, reason)


def referral_id_for(force: str, reference: str) -> str:
    return str(uuid.uuid5(CONNECTOR_NAMESPACE, f"police-cctn:{force}:{reference}"))


class CctnReferralBuilder:
    def __init__(self, *, default_local_authority: str, concerns: CodeTable | None = None,
                 rag: CodeTable | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        codes = default_codes_dir()
        self.concerns = concerns or load_table(codes / "police-ppn-concerns.yaml")
        self.rag = rag or load_table(codes / "police-ppn-rag.yaml")
        self.default_la = default_local_authority
        self.clock = clock

    @staticmethod
    def cctn_findings(record: AgencyRecord) -> list[Finding]:
        return [f for f in record.findings
                if f.category is FindingCategory.POLICE_CHILD_COMING_TO_NOTICE
                and f.subject_person_id == record.person.person_id]

    def build(self, record: AgencyRecord, finding: Finding) -> Referral:
        """The referral for one CCTN/PPN finding on a child's record. Raises ValueError (reason) when it cannot."""
        if finding.do_not_disseminate:
            raise ValueError("handling_code DND: never disseminated")
        attrs = finding.attributes
        reference = str(attrs.get("reference") or finding.source.record_id)
        grading = str(attrs.get("ppn_risk_grading") or "medium").lower()
        rag_entry = self.rag.lookup(grading)
        if rag_entry is None:
            raise ValueError(f"ppn_risk_grading: code {grading!r} is not in table police-ppn-rag")
        concerns: list[ConcernCategory] = []
        for code in str(attrs.get("ppn_concerns") or "").split(";"):
            if not code.strip():
                continue
            entry = self.concerns.lookup(code)
            if entry is None:
                raise ValueError(f"ppn_concerns: code {code.strip()!r} is not in table police-ppn-concerns")
            if ConcernCategory(entry.value) not in concerns:
                concerns.append(ConcernCategory(entry.value))
        now = self.clock()
        rag = Rag(rag_entry.value)
        child = record.person
        people = {p.person_id: p for p in record.related_people}
        household_ids = {
            r.from_person_id if r.to_person_id == child.person_id else r.to_person_id
            for r in record.relationships
            if child.person_id in (r.from_person_id, r.to_person_id)
            and (r.same_household or r.parental_responsibility)
        }
        household = [people[i] for i in sorted(household_ids) if i in people]
        known = {child.person_id, *(p.person_id for p in household)}
        # Sufficient for enquiries to every agency kind (default lawful-basis rules): the
        # gateways, UK GDPR Art 6(1)(e) and Art 9(2)(g) + DPA 2018 Sch 1 para 18 for the
        # partners, DPA 2018 Part 3 (s35 + Sch 8 para 4) for the police's own data.
        lawful = [LawfulBasis.CHILDREN_ACT_2004_S11,
                  LawfulBasis.CHILDREN_ACT_1989_S47 if rag is Rag.RED else LawfulBasis.CHILDREN_ACT_1989_S17,
                  LawfulBasis.UK_GDPR_6_1_E, LawfulBasis.UK_GDPR_9_2_G, LawfulBasis.DPA_2018_SCH1_PARA18,
                  LawfulBasis.DPA_2018_S35, LawfulBasis.DPA_2018_SCH8_PARA4]
        # Keep and flag (issue 18): built as data and validated with Referral.from_agency, so a native
        # value that breaks a cross-field rule is left out and flagged rather than losing the referral; the
        # record's own kept-and-flagged issues about the child and household travel with it.
        data = dict(
            referral_id=referral_id_for(finding.source.organisation or "force", reference),
            received_at=now,
            local_authority=str(attrs.get("ppn_local_authority") or self.default_la),
            source=ReferralSource.POLICE,
            referrer=f"Police ({finding.source.organisation or 'force'}) {finding.source.system}, ref {reference}",
            concerns=concerns or [ConcernCategory.OTHER],
            narrative=finding.summary,
            subjects=[child.model_dump(mode="json")],
            household=[p.model_dump(mode="json") for p in household],
            relationships=[r.model_dump(mode="json") for r in record.relationships
                           if r.from_person_id in known and r.to_person_id in known],
            rag_history=[RagChange(rag=rag, at=now, by=ACTOR, reason=f"PPN risk grading {grading}")],
            lawful_basis=lawful,
            consent=Consent(status=ConsentStatus.NOT_SOUGHT, reason=CONSENT_REASON, recorded_by=ACTOR,
                            decided_by=f"Submitting officer, PPN {reference}", decided_at=now,
                            authorised_by=CONSENT_AUTHORITY),
            issues=person_issues(record, [p.person_id for p in household]),
        )
        return Referral.from_agency(data)


def person_issues(record: AgencyRecord, household_ids: list[str]) -> list[dict[str, str]]:
    """The record's issues about the child (``person.``) and household (``related_people[i].``), on referral paths."""
    position = {pid: j for j, pid in enumerate(household_ids)}
    out: list[dict[str, str]] = []
    for issue in record.issues:
        field = issue.field
        if field.startswith("person."):
            field = "subjects[0]." + field[len("person."):]
        elif field.startswith("related_people["):
            index, _, rest = field[len("related_people["):].partition("]")
            try:
                pid = record.related_people[int(index)].person_id
            except (ValueError, IndexError):
                continue
            if pid not in position:
                continue
            field = f"household[{position[pid]}]{rest}"
        else:
            continue
        out.append({"field": field, "rule": issue.rule, "detail": issue.detail})
    return out


class CctnIntake:
    """Submits CCTN/PPN records found in police records to the hub, once each.

    ``sink`` is any :class:`~mashlink.connectors.referral_sender.ReferralSink`:
    the broker sink a police connector uses from the force's side, or (on the
    hub's machine) ``mashlink.hub.referral_sink.HubReferralSink``, which the
    caller builds so that this package never imports the hub.
    """

    def __init__(self, sink: ReferralSink, builder: CctnReferralBuilder) -> None:
        self.sink = sink
        self.builder = builder

    def submit(self, records: Iterable[AgencyRecord], *, agencies: list[str] | None = None) -> IntakeReport:
        report = IntakeReport()
        for record in records:
            for finding in self.builder.cctn_findings(record):
                reference = str(finding.attributes.get("reference") or finding.source.record_id)
                try:
                    referral = self.builder.build(record, finding)
                except ValidationError as exc:  # canonical rule broken: name fields and rules, never values
                    reason = "Referral: " + describe_validation_error(exc)
                    report.skipped.append((reference, reason))
                    log.warning("police.cctn_skipped", reference=reference, reason=reason)
                    continue
                except ValueError as exc:
                    report.skipped.append((reference, str(exc)))
                    log.warning("police.cctn_skipped", reference=reference, reason=str(exc))
                    continue
                if not self.sink.submit(referral, agencies=agencies, actor=ACTOR):
                    report.already_submitted.append(referral.referral_id)
                    continue
                report.submitted.append(referral.referral_id)
                log.info("police.cctn_referred", referral_id=referral.referral_id, rag=referral.rag.value)
        return report


class CctnForwarder:
    """The police connector's CCTN/PPN intake: every new notice in the current exports, to the hub, once.

    Runs as a background pass (after each export reload it finds the new
    notices). Referral ids sent in this process are remembered so a pass
    only sends what is new; after a restart everything is sent again and the
    hub keeps one of each (deterministic referral and message ids). A notice
    that cannot be sent (broker down) is not remembered, so the next pass
    tries it again; one that cannot become a referral is logged once by
    reference and reason.
    """

    def __init__(self, records: Callable[[], Iterable[AgencyRecord]], sink: ReferralSink,
                 builder: CctnReferralBuilder) -> None:
        self.records = records
        self.sink = sink
        self.builder = builder
        self.sent: set[str] = set()
        self._skipped: set[str] = set()

    def run_once(self) -> IntakeReport:
        report = IntakeReport()
        for record in self.records():
            for finding in self.builder.cctn_findings(record):
                reference = str(finding.attributes.get("reference") or finding.source.record_id)
                referral_id = referral_id_for(finding.source.organisation or "force", reference)
                if referral_id in self.sent or referral_id in self._skipped:
                    continue
                try:
                    referral = self.builder.build(record, finding)
                except ValidationError as exc:
                    reason = "Referral: " + describe_validation_error(exc)
                except ValueError as exc:
                    reason = str(exc)
                else:
                    self.sink.submit(referral, agencies=None, actor=ACTOR)  # raises when it cannot send
                    self.sent.add(referral_id)
                    report.submitted.append(referral_id)
                    log.info("police.cctn_forwarded", referral_id=referral_id, rag=referral.rag.value)
                    continue
                self._skipped.add(referral_id)
                report.skipped.append((reference, reason))
                log.warning("police.cctn_skipped", reference=reference, reason=reason)
        return report
