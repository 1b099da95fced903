"""Inbound: a child-coming-to-notice / PPN record becomes a MASH referral.

A police officer who attends an incident with a child present submits a
public protection notice (PPN) / child-coming-to-notice (CCTN) record; the
MASH must receive it as a referral. This module builds a canonical
``Referral`` from the POLE record (source ``6`` police; concerns from the
PPN concern codes; initial RAG from the PPN risk grading, both through code
tables council IT can edit; the lawful basis for police sharing; consent
``not_sought`` with the reason) and submits it with
:meth:`HubService.submit_referral`.

Why the hub service and not a ``referral`` broker message: the hub's events
consumer takes alerts only (``HubService.handle_events`` rejects any other
message type), while ``submit_referral`` commits the referral, its audit
record and its enquiries (outbox) in one database transaction: durable the
moment it returns. Referral ids are deterministic (uuid5 of force and
occurrence reference), so importing the same export twice creates one
referral (the second import reports it as already submitted).

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

from mashlink.broker.codec import describe_validation_error
from mashlink.connectors.base import CONNECTOR_NAMESPACE
from mashlink.hub.errors import Conflict
from mashlink.hub.service import HubService
from mashlink.mapping.codes import CodeTable, default_codes_dir, load_table
from mashlink.schemas.codes import (
    ConcernCategory,
    ConsentStatus,
    FindingCategory,
    LawfulBasis,
    Rag,
    ReferralSource,
)
from mashlink.schemas.finding import Finding
from mashlink.schemas.record import AgencyRecord
from mashlink.schemas.referral import Consent, RagChange, Referral

log = structlog.get_logger(__name__)

CONSENT_REASON = (
    "Police child-coming-to-notice referral: consent not sought because seeking it could place the child at "
    "risk or prejudice police enquiries; shared under statutory safeguarding duties (Children Act 2004 s11)."
)
ACTOR = "police-connector"


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
        lawful = [LawfulBasis.CHILDREN_ACT_2004_S11,
                  LawfulBasis.CHILDREN_ACT_1989_S47 if rag is Rag.RED else LawfulBasis.CHILDREN_ACT_1989_S17,
                  LawfulBasis.UK_GDPR_6_1_E, LawfulBasis.DPA_2018_SCH8_PARA4]
        return Referral(
            referral_id=referral_id_for(finding.source.organisation or "force", reference),
            received_at=now,
            local_authority=str(attrs.get("ppn_local_authority") or self.default_la),
            source=ReferralSource.POLICE,
            referrer=f"Police ({finding.source.organisation or 'force'}) {finding.source.system}, ref {reference}",
            concerns=concerns or [ConcernCategory.OTHER],
            narrative=finding.summary,
            subjects=[child],
            household=household,
            relationships=[r for r in record.relationships if r.from_person_id in known and r.to_person_id in known],
            rag_history=[RagChange(rag=rag, at=now, by=ACTOR, reason=f"PPN risk grading {grading}")],
            lawful_basis=lawful,
            consent=Consent(status=ConsentStatus.NOT_SOUGHT, reason=CONSENT_REASON, recorded_by=ACTOR),
        )


class CctnIntake:
    """Submits CCTN/PPN records found in police records to the hub, once each."""

    def __init__(self, hub: HubService, builder: CctnReferralBuilder) -> None:
        self.hub = hub
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
                try:
                    self.hub.submit_referral(referral, agencies=agencies, actor=ACTOR)
                except Conflict:
                    report.already_submitted.append(referral.referral_id)
                    continue
                report.submitted.append(referral.referral_id)
                log.info("police.cctn_referred", referral_id=referral.referral_id, rag=referral.rag.value)
        return report
