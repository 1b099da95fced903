"""Build the linked view of a referral from its enquiries and the agencies' responses.

Pure logic: the hub's storage loads the referral, enquiries and responses and
calls ``build_linked_view``; nothing here touches a database or broker.

Rules (and why)
===============
* **An agency's match is a claim.** Each ``SubjectMatch`` is re-checked with
  ``match_person`` against the hub's full referral record, and the *lower* of
  the two confidences is kept. The decision comes from that confidence and the
  hub's thresholds; an agency that flagged its own match ``candidate`` is never
  promoted to a match by the hub.
* **An agency's own person-confirmed match is honoured.** A claim with method
  ``manual`` (a practitioner at the agency confirmed the record, e.g. a
  completed FHIR Task) that the agency did not flag ``candidate`` is a match
  even when the hub's score is lower (``confirmed_by_agency_person``); only a
  hard veto, a different trusted NHS number, UPN or PNC id, still rejects or
  holds it. A hub practitioner's own decision overrides either way.
* **Candidates are never merged.** Findings linked only through a candidate
  match go to ``LinkedView.for_review`` (each entry flagged ``candidate=True``),
  not to ``chronology``. A practitioner reading the chronology in a strategy
  discussion must be able to trust that every line is about this child; a
  possible match is shown next to it, in its own section, until a person
  confirms it (``MatchConfirmation``; the link then becomes ``manual``).
* **Rejected claims withhold their findings.** When the hub's re-check says
  no match (e.g. a twin's different NHS number), the claim is listed under the
  subject as ``rejected`` with its reasons and a finding count, but the
  findings' content is not shown: it is probably about another family.
* **Findings about people the agency matched to nobody** (e.g. an adult the
  police linked to the address) go to ``for_review`` as ``unlinked``.
* **Follow-ups merge.** Responses from one agency are applied in ``sequence``
  order: findings are de-duplicated by (source system, record id, finding
  id), the later version winning; the latest response sets the status; a
  response with ``more_to_follow`` shows ``partial`` and stays outstanding.
* **Do-not-disseminate defence in depth.** The police connector already
  replaces DND material with an "information held" finding; if DND content
  arrives anyway, only "Information held - contact police MASH" and the record
  reference are shown, never the summary, codes, attributes or dates.
* **Nothing silently dropped.** Anything the builder cannot use as sent (a
  response for another referral, a match to an unknown subject) is listed in
  ``issues``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone

from .linked_models import (
    AgencyMatch,
    AgencyState,
    AgencyStatus,
    ChronologyEntry,
    LinkedSubject,
    LinkedView,
    LinkState,
    MatchConfirmation,
    RecordIssueNote,
    SubjectRole,
    ViewIssue,
)
from .linked_render import render_text
from ..matching.rules import (
    DEFAULT_THRESHOLDS,
    MatchDecision,
    MatchThresholds,
    match_person,
    min_decision,
)
from ..schemas.codes import (
    AgencyKind,
    FindingCategory,
    MatchMethod,
    RelationshipType,
    ResponseStatus,
)
from ..schemas.enquiry import Enquiry, EnquiryResponse, ResponseRecordIssue, SubjectMatch
from ..schemas.finding import Finding
from ..schemas.identifiers import IdentifierSystem
from ..schemas.person import Person
from ..schemas.referral import Referral
from ..schemas.relationship import Relationship

__all__ = [
    "AgencyMatch", "AgencyState", "AgencyStatus", "ChronologyEntry", "LinkedSubject", "LinkedView",
    "LinkState", "MatchConfirmation", "ViewIssue", "build_linked_view", "render_text",
    "DND_SUMMARY",
]

DND_SUMMARY = "Information held - contact police MASH"

#: Re-check reasons no agency's confirmation overrides: two different trusted national identifiers.
HARD_VETOES = frozenset(f"{system.value}_conflict" for system in (
    IdentifierSystem.NHS_NUMBER, IdentifierSystem.UPN, IdentifierSystem.PNC_ID))

_STATUS_FROM_RESPONSE: dict[ResponseStatus, AgencyState] = {
    ResponseStatus.INFORMATION_FOUND: AgencyState.INFORMATION_FOUND,
    ResponseStatus.NOT_KNOWN: AgencyState.NOT_KNOWN,
    ResponseStatus.PARTIAL: AgencyState.PARTIAL,
    ResponseStatus.DECLINED: AgencyState.DECLINED,
}


# --------------------------------------------------------------------------- helpers


def display_name(person: Person) -> str:
    """A short human label for the practitioner's screen (never for logs)."""
    if person.unborn:
        edd = person.expected_birth_date.isoformat() if person.expected_birth_date else "?"
        return f"Unborn child (EDD {edd})"
    name = person.official_name
    if name is None:
        return person.person_id
    if name.given or name.family:
        return " ".join([*name.given, name.family or ""]).strip()
    return name.text or person.person_id


def _mother_of(person: Person, people: dict[str, Person], relationships: Sequence[Relationship]) -> Person | None:
    if person.mother_person_id and person.mother_person_id in people:
        return people[person.mother_person_id]
    for rel in relationships:
        if rel.type is RelationshipType.MOTHER and rel.to_person_id == person.person_id:
            return people.get(rel.from_person_id)
    return None


def _sort_key(value: date | datetime | None) -> tuple[int, datetime]:
    """Dated entries first in time order; undated at the end (the sort is stable)."""
    if value is None:
        return (1, datetime.min.replace(tzinfo=timezone.utc))
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return (0, aware.astimezone(timezone.utc))
    return (0, datetime.combine(value, time.min, tzinfo=timezone.utc))


@dataclass
class _AgencyResponses:
    agency_id: str
    kind: AgencyKind
    enquiries: list[Enquiry] = field(default_factory=list)
    responses: list[EnquiryResponse] = field(default_factory=list)


@dataclass
class _Link:
    """One accepted/candidate/rejected record link, keyed by the agency's record identity."""

    match: AgencyMatch
    response: EnquiryResponse
    subject: Person
    role: SubjectRole


# --------------------------------------------------------------------------- builder


def build_linked_view(
    referral: Referral,
    enquiries: list[Enquiry],
    responses: list[EnquiryResponse],
    *,
    now: datetime,
    overdue: set[str] | None = None,
    confirmations: Sequence[MatchConfirmation] = (),
    thresholds: MatchThresholds = DEFAULT_THRESHOLDS,
) -> LinkedView:
    """The linked view of one referral.

    ``overdue`` is the hub's own set of overdue agency ids (from its working-
    hours deadline tracking); when None an agency is overdue once ``now`` is
    past its enquiry's ``due_at``. ``confirmations`` are practitioners'
    decisions on candidate links.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC inside the hub)")
    issues: list[ViewIssue] = []
    people: dict[str, Person] = {p.person_id: p for p in [*referral.subjects, *referral.household]}
    roles: dict[str, SubjectRole] = {
        **{p.person_id: "household" for p in referral.household},
        **{p.person_id: "subject" for p in referral.subjects},
    }
    agencies = _group(referral, enquiries, responses, issues)
    decisions = {c.key: c for c in confirmations}

    statuses: list[AgencyStatus] = []
    links: list[_Link] = []
    pending: list[_Pending] = []
    for group in agencies.values():
        statuses.append(_status(group, now, overdue))
        links.extend(_links(group, referral, people, roles, decisions, thresholds, issues))
        pending.extend(_pending(group, issues))
    _demote_ambiguous(links, thresholds)
    chronology, for_review = _place(pending, links, issues)
    record_issues = _record_issue_notes(agencies, links)
    linked_subjects = _subjects(referral, links, roles)
    return LinkedView(
        referral_id=referral.referral_id,
        rag=referral.rag,
        built_at=now,
        subjects=[s for s in linked_subjects if s.role == "subject"],
        household=[s for s in linked_subjects if s.role == "household"],
        agencies=statuses,
        chronology=chronology,
        for_review=for_review,
        outstanding=[s.agency_id for s in statuses if s.outstanding],
        issues=issues,
        record_issues=record_issues,
    )


def _group(
    referral: Referral,
    enquiries: list[Enquiry],
    responses: list[EnquiryResponse],
    issues: list[ViewIssue],
) -> dict[str, _AgencyResponses]:
    groups: dict[str, _AgencyResponses] = {}
    enquiry_agency: dict[str, str] = {}
    for enquiry in enquiries:
        if enquiry.referral_id != referral.referral_id:
            issues.append(ViewIssue(code="enquiry_other_referral", agency_id=enquiry.agency_id,
                                    detail=f"enquiry {enquiry.enquiry_id} belongs to another referral"))
            continue
        group = groups.setdefault(enquiry.agency_id, _AgencyResponses(enquiry.agency_id, enquiry.agency_kind))
        group.enquiries.append(enquiry)
        enquiry_agency[enquiry.enquiry_id] = enquiry.agency_id
    late: dict[str, _AgencyResponses] = {}
    for response in responses:
        if response.referral_id != referral.referral_id:
            issues.append(ViewIssue(code="response_other_referral", agency_id=response.agency_id,
                                    response_id=response.response_id,
                                    detail="response names another referral; not shown"))
            continue
        expected = enquiry_agency.get(response.enquiry_id)
        if expected is not None and expected != response.agency_id:
            issues.append(ViewIssue(code="response_agency_mismatch", agency_id=response.agency_id,
                                    response_id=response.response_id,
                                    detail=f"enquiry {response.enquiry_id} was sent to {expected}; not shown"))
            continue
        if expected is None:
            issues.append(ViewIssue(code="response_unknown_enquiry", agency_id=response.agency_id,
                                    response_id=response.response_id,
                                    detail=f"no enquiry {response.enquiry_id} for this referral; shown"))
        target = groups.get(response.agency_id) or late.setdefault(
            response.agency_id, _AgencyResponses(response.agency_id, response.agency_kind)
        )
        target.responses.append(response)
    for agency_id in sorted(late):
        groups[agency_id] = late[agency_id]
    for group in groups.values():
        # Dedup redelivered copies of one response; apply follow-ups in order.
        unique = {r.response_id: r for r in group.responses}
        group.responses = sorted(unique.values(), key=lambda r: (r.sequence, r.responded_at, r.response_id))
    return groups


def _status(group: _AgencyResponses, now: datetime, overdue: set[str] | None) -> AgencyStatus:
    latest_enquiry = max(group.enquiries, key=lambda e: e.requested_at, default=None)
    due_at = latest_enquiry.due_at if latest_enquiry else None
    past_due = (group.agency_id in overdue) if overdue is not None else (due_at is not None and now > due_at)
    base = dict(
        agency_id=group.agency_id,
        kind=group.kind,
        due_at=due_at,
        responses=len(group.responses),
        enquiry_ids=[e.enquiry_id for e in group.enquiries],
    )
    if not group.responses:
        state = AgencyState.OVERDUE if past_due else AgencyState.AWAITING
        return AgencyStatus(**base, status=state, overdue=past_due)
    last = group.responses[-1]
    state = _STATUS_FROM_RESPONSE[last.status]
    if last.more_to_follow and state is not AgencyState.DECLINED:
        state = AgencyState.PARTIAL
    declined = next((r.declined_reason for r in reversed(group.responses) if r.declined_reason), None)
    still_owed = last.more_to_follow and state is AgencyState.PARTIAL
    return AgencyStatus(
        **base,
        status=state,
        responded_at=last.responded_at,
        more_to_follow=last.more_to_follow,
        declined_reason=declined if state is AgencyState.DECLINED else None,
        overdue=past_due and still_owed,
    )


def _record_key(agency_id: str, match: SubjectMatch) -> tuple[str, str, str, str]:
    return (match.subject_person_id, agency_id, match.source.system, match.source.record_id)


def _links(
    group: _AgencyResponses,
    referral: Referral,
    people: dict[str, Person],
    roles: dict[str, SubjectRole],
    decisions: dict[tuple[str, str, str, str], MatchConfirmation],
    thresholds: MatchThresholds,
    issues: list[ViewIssue],
) -> list[_Link]:
    """Re-check every claimed match of one agency; later sequences replace earlier claims."""
    claims: dict[tuple[str, str, str, str], tuple[SubjectMatch, EnquiryResponse]] = {}
    for response in group.responses:
        for claim in response.matches:
            if claim.subject_person_id not in people:
                issues.append(ViewIssue(code="match_unknown_subject", agency_id=group.agency_id,
                                        response_id=response.response_id,
                                        detail="match names a subject that is not in the referral; "
                                               "its findings are listed for review as unlinked"))
                continue
            claims[_record_key(group.agency_id, claim)] = (claim, response)
    links: list[_Link] = []
    for key, (claim, response) in claims.items():
        subject = people[claim.subject_person_id]
        response_people = {p.person_id: p for p in response.people}
        record = response_people[claim.record_person_id]
        hub = match_person(
            subject,
            record,
            subject_mother=_mother_of(subject, people, referral.relationships),
            record_mother=_mother_of(record, response_people, response.relationships),
            thresholds=thresholds,
        )
        confidence = min(claim.confidence, hub.confidence)
        decision = min_decision(thresholds.decide(confidence), hub.decision)
        if claim.candidate:
            decision = min_decision(decision, MatchDecision.CANDIDATE)
        reasons = list(hub.reasons)
        if claim.confidence < hub.confidence:
            reasons.append("agency_confidence_lower")
        method = hub.method
        decided_by = None
        if claim.method is MatchMethod.MANUAL and not claim.candidate and not _hard_veto(hub.reasons):
            # A person at the agency confirmed this record: honoured, not re-scored below the threshold.
            decision, method = MatchDecision.MATCH, MatchMethod.MANUAL
            reasons.append("confirmed_by_agency_person")
        person_decision = decisions.get(key)
        if person_decision is not None:
            decided_by = person_decision.by
            if person_decision.confirmed:
                decision, method = MatchDecision.MATCH, MatchMethod.MANUAL
                reasons.append("confirmed_by_person")
            else:
                decision = MatchDecision.NO_MATCH
                reasons.append("rejected_by_person")
        match = AgencyMatch(
            agency_id=group.agency_id,
            agency_kind=group.kind,
            response_id=response.response_id,
            sequence=response.sequence,
            record_person_id=claim.record_person_id,
            source=claim.source,
            method=method,
            confidence=confidence,
            decision=decision,
            agency_method=claim.method,
            agency_confidence=claim.confidence,
            agency_flagged_candidate=claim.candidate,
            hub_method=hub.method,
            hub_confidence=hub.confidence,
            reasons=reasons,
            decided_by=decided_by,
        )
        links.append(_Link(match, response, subject, roles[subject.person_id]))
    return links


def _hard_veto(reasons: list[str]) -> bool:
    """The hub holds a different trusted national identifier (NHS number, UPN, PNC id): a different person."""
    return any(reason in HARD_VETOES for reason in reasons)


def _demote_ambiguous(links: list[_Link], thresholds: MatchThresholds) -> None:
    """One agency record matched to two referral people (twins, unborn twins) cannot be both.

    Only a hub practitioner's own decision (``decided_by``) is exempt: an agency
    that confirmed one record for two children still needs a person here.
    """
    by_record: dict[tuple[str, str, str], list[_Link]] = {}
    for link in links:
        if link.match.decision is MatchDecision.MATCH and link.match.decided_by is None:
            key = (link.match.agency_id, link.match.source.system, link.match.source.record_id)
            by_record.setdefault(key, []).append(link)
    for group in by_record.values():
        if len({link.subject.person_id for link in group}) < 2:
            continue
        for link in group:
            link.match = link.match.model_copy(
                update={
                    "decision": MatchDecision.CANDIDATE,
                    "confidence": min(link.match.confidence, thresholds.candidate_cap),
                    "reasons": [*link.match.reasons, "record_matches_several_people"],
                }
            )


def _record_identity(group: _AgencyResponses) -> dict[tuple[str, str], list[tuple[str, str, str, str]]]:
    """(response_id, record person_id) -> claim keys, for attaching findings to links."""
    identity: dict[tuple[str, str], list[tuple[str, str, str, str]]] = {}
    for response in group.responses:
        for claim in response.matches:
            key = _record_key(group.agency_id, claim)
            slot = identity.setdefault((response.response_id, claim.record_person_id), [])
            if key not in slot:
                slot.append(key)
    return identity


def _redact(finding: Finding) -> Finding:
    return finding.model_copy(
        update={
            "category": FindingCategory.POLICE_INFORMATION_HELD,
            "summary": DND_SUMMARY,
            "codes": [],
            "attributes": {},
            "start": None,
            "end": None,
        }
    )


@dataclass
class _Pending:
    """A finding ready to place, with the claim keys (subject, agency, system, record) it came through."""

    fields: dict[str, object]
    keys: list[tuple[str, str, str, str]]


def _pending(group: _AgencyResponses, issues: list[ViewIssue]) -> list[_Pending]:
    """De-duplicated findings of one agency (later sequence wins), not yet placed."""
    latest: dict[tuple[str, str, str], tuple[Finding, EnquiryResponse]] = {}
    for response in group.responses:
        for finding in response.findings:
            latest[(finding.source.system, finding.source.record_id, finding.finding_id)] = (finding, response)
    identity = _record_identity(group)
    out: list[_Pending] = []
    for finding, response in latest.values():
        quality = [issue_text(i, finding, values=not finding.do_not_disseminate)
                   for i in response.record_issues if i.finding_id == finding.finding_id
                   and i.source.record_id == finding.source.record_id]
        redacted = finding.do_not_disseminate
        if redacted:
            issues.append(ViewIssue(code="dnd_content_suppressed", agency_id=group.agency_id,
                                    response_id=response.response_id,
                                    detail=f"finding {finding.finding_id}: do-not-disseminate content not shown"))
            finding = _redact(finding)
        keys = identity.get((response.response_id, finding.subject_person_id)) or _fallback_keys(
            finding.subject_person_id, response, group, identity
        )
        fields: dict[str, object] = dict(
            date=finding.start or finding.end,
            end=finding.end if finding.start else None,
            category=finding.category,
            summary=finding.summary,
            codes=list(finding.codes),
            agency_id=group.agency_id,
            agency_kind=group.kind,
            source_system=finding.source.system,
            record_id=finding.source.record_id,
            organisation=finding.source.organisation,
            finding_id=finding.finding_id,
            sensitivity=finding.sensitivity,
            handling_code=finding.handling_code,
            reliability=finding.reliability,
            contact=finding.contact,
            record_person_id=finding.subject_person_id,
            response_id=response.response_id,
            response_sequence=response.sequence,
            redacted=redacted,
            data_quality=quality,
        )
        out.append(_Pending(fields, list(keys)))
    return out


# --------------------------------------------------------------------------- record issues (keep and flag)

#: (later, earlier) date names of a finding whose end was before its start, by category.
_ORDER_WORDS: dict[FindingCategory, tuple[str, str]] = {
    FindingCategory.SOCIAL_CARE_REFERRAL: ("closure date", "referral date"),
    FindingCategory.SOCIAL_CARE_CHILD_PROTECTION_PLAN: ("plan end date", "plan start date"),
    FindingCategory.SOCIAL_CARE_LOOKED_AFTER_EPISODE: ("episode end date", "episode start date"),
    FindingCategory.SOCIAL_CARE_MISSING_EPISODE: ("return date", "date missing"),
}
_PERSON_RULES = {
    "death_before_birth": "date of death before date of birth",
    "death_date_future": "date of death in the future",
    "period_order": "an end date before its start date",
    "expected_birth_date_unborn_only": "an expected date of birth on a child who is born",
}


def issue_text(issue: ResponseRecordIssue, finding: Finding | None = None, *, values: bool = True) -> str:
    """A record issue in a practitioner's words, e.g. "closure date before referral date (kept as recorded)".

    Native inconsistencies (``schemas.record.NATIVE_INCONSISTENCIES``) were kept, not corrected: the
    text says so, and gives the dates as the agency recorded them when the finding carries them.
    Other issues are shown by field and rule with the agency's detail.
    """
    if issue.rule == "finding_order":
        later, earlier = _ORDER_WORDS.get(finding.category, ("end date", "start date")) if finding else (
            "end date", "start date")
        text = f"{later} before {earlier}"
        reported = finding.attributes.get("end_as_reported") if finding is not None else None
        if values and reported and finding is not None and finding.start is not None:
            text += f" ({later} {reported}, {earlier} {finding.start.isoformat()})"
        return text + " (kept as recorded; check with the agency)"
    if issue.rule in _PERSON_RULES:
        return f"{_PERSON_RULES[issue.rule]} (kept as recorded; check with the agency)"
    detail = f": {issue.detail}" if issue.detail else ""
    return f"{issue.field} ({issue.rule}){detail}"


def _record_issue_notes(agencies: dict[str, "_AgencyResponses"], links: list["_Link"]) -> list[RecordIssueNote]:
    """Record issues of each agency's records that are linked (matched or possible), latest response first.

    A record the hub rejected as a match is probably about someone else: its issues stay with its
    withheld findings.
    """
    shown = {(link.match.response_id, link.match.record_person_id) for link in links
             if link.match.decision is not MatchDecision.NO_MATCH}
    notes: list[RecordIssueNote] = []
    for group in agencies.values():
        seen: set[tuple[str, str, str, str]] = set()
        for response in sorted(group.responses, key=lambda r: -r.sequence):
            findings = {(f.source.record_id, f.finding_id): f for f in response.findings}
            for issue in response.record_issues:
                key = (issue.source.system, issue.source.record_id, issue.field, issue.rule)
                if key in seen or (response.response_id, issue.record_person_id) not in shown:
                    continue
                seen.add(key)
                finding = findings.get((issue.source.record_id, issue.finding_id)) if issue.finding_id else None
                if issue.finding_id and finding is None:
                    continue  # about a finding this answer does not carry
                notes.append(RecordIssueNote(
                    agency_id=group.agency_id, response_id=response.response_id,
                    record_person_id=issue.record_person_id, record_id=issue.source.record_id,
                    source_system=issue.source.system, finding_id=issue.finding_id, field=issue.field,
                    rule=issue.rule,
                    text=issue_text(issue, finding, values=not (finding and finding.do_not_disseminate))))
    return notes


def _fallback_keys(
    person_id: str,
    response: EnquiryResponse,
    group: _AgencyResponses,
    identity: dict[tuple[str, str], list[tuple[str, str, str, str]]],
) -> list[tuple[str, str, str, str]]:
    """A follow-up may list findings without repeating its matches: reuse the matches made for
    the same person_id in another response of this agency, but only if it is the same record."""
    here = next((p for p in response.people if p.person_id == person_id), None)
    if here is None:
        return []
    for other_response in reversed(group.responses):
        if other_response.response_id == response.response_id:
            continue
        keys = identity.get((other_response.response_id, person_id))
        other = next((p for p in other_response.people if p.person_id == person_id), None)
        if not keys or other is None:
            continue
        if other.model_dump(exclude={"person_id"}) == here.model_dump(exclude={"person_id"}) or match_person(
            here, other
        ).is_match:
            return keys
    return []


def _place(
    pending: list[_Pending], links: list[_Link], issues: list[ViewIssue]
) -> tuple[list[ChronologyEntry], list[ChronologyEntry]]:
    """Chronology for matched links; for_review for candidates and unlinked; rejected withheld."""
    by_key = {
        (link.subject.person_id, link.match.agency_id, link.match.source.system, link.match.source.record_id): link
        for link in links
    }
    counts: dict[int, int] = {}
    chronology: list[ChronologyEntry] = []
    review: list[ChronologyEntry] = []
    withheld: dict[tuple[str, str], int] = {}
    for item in pending:
        targets = [by_key[k] for k in item.keys if k in by_key]
        if not targets:
            review.append(ChronologyEntry(**item.fields, subject_ref=None, link=LinkState.UNLINKED))
            continue
        for link in targets:
            m = link.match
            counts[id(link)] = counts.get(id(link), 0) + 1
            linked = dict(subject_ref=link.subject.person_id, subject_role=link.role,
                          match_method=m.method, match_confidence=m.confidence)
            if m.decision is MatchDecision.MATCH:
                chronology.append(ChronologyEntry(**item.fields, **linked, link=LinkState.MATCHED))
            elif m.decision is MatchDecision.CANDIDATE:
                review.append(ChronologyEntry(**item.fields, **linked, link=LinkState.CANDIDATE, candidate=True))
            else:
                k = (m.agency_id, link.subject.person_id)
                withheld[k] = withheld.get(k, 0) + 1
    for link in links:
        link.match = link.match.model_copy(update={"finding_count": counts.get(id(link), 0)})
    for (agency_id, subject_ref), count in withheld.items():
        issues.append(ViewIssue(code="findings_withheld_rejected_match", agency_id=agency_id,
                                detail=f"{count} finding(s) withheld: the hub did not accept the "
                                       f"agency's match to person {subject_ref}"))
    chronology.sort(key=lambda e: _sort_key(e.date))
    review.sort(key=lambda e: _sort_key(e.date))
    return chronology, review


def _subjects(referral: Referral, links: list[_Link], roles: dict[str, SubjectRole]) -> list[LinkedSubject]:
    out: list[LinkedSubject] = []
    for person in [*referral.subjects, *referral.household]:
        mine = [link.match for link in links if link.subject.person_id == person.person_id]
        out.append(
            LinkedSubject(
                person_id=person.person_id,
                role=roles[person.person_id],
                display_name=display_name(person),
                person=person,
                matches=[m for m in mine if m.decision is MatchDecision.MATCH],
                candidates=[m for m in mine if m.decision is MatchDecision.CANDIDATE],
                rejected=[m for m in mine if m.decision is MatchDecision.NO_MATCH],
            )
        )
    return out
