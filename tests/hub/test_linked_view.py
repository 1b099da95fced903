"""build_linked_view: re-checked matches, merged follow-ups, statuses, chronology and DND defence.

A synthetic referral about two brothers (twins) and their household goes to four
agencies: police answer with findings (one candidate, one do-not-disseminate),
health answers partially then follows up, education declines, social care is
overdue.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from mashlink.hub.linked_view import (
    DND_SUMMARY,
    AgencyState,
    LinkState,
    MatchConfirmation,
    build_linked_view,
    render_text,
)
from mashlink.matching.rules import MatchDecision
from mashlink.schemas.codes import (
    AgencyKind,
    ConcernCategory,
    FindingCategory,
    HandlingCode,
    LawfulBasis,
    MatchMethod,
    Rag,
    ReferralSource,
    ResponseStatus,
    Sensitivity,
    Sex,
)
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse, SubjectMatch
from mashlink.schemas.finding import Finding, SourceRef
from mashlink.schemas.identifiers import Identifier, IdentifierSystem, nhs_check_digit
from mashlink.schemas.person import Address, BirthDate, HumanName, Person
from mashlink.schemas.referral import Consent, RagChange, Referral
from tests.lawful_support import consent_not_sought

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)
DUE = T0 + timedelta(hours=4)
NOW = T0 + timedelta(hours=6)
DOB = date(2015, 3, 14)
REF = "R-0001"

POLICE, HEALTH, EDUCATION, SOCIAL = "police-synth", "health-synth", "education-synth", "social-care-synth"
KINDS = {POLICE: AgencyKind.POLICE, HEALTH: AgencyKind.HEALTH, EDUCATION: AgencyKind.EDUCATION,
         SOCIAL: AgencyKind.SOCIAL_CARE}
SYSTEMS = {POLICE: "Niche RMS", HEALTH: "Synth PAS", EDUCATION: "Synth MIS", SOCIAL: "Mosaic"}


def nhs(seed: int) -> Identifier:
    while nhs_check_digit(f"999{seed:06d}") is None:
        seed += 1
    first_nine = f"999{seed:06d}"
    return Identifier(system=IdentifierSystem.NHS_NUMBER, value=f"{first_nine}{nhs_check_digit(first_nine)}")


def person(pid: str, given: str, family: str = "Smith", dob: date = DOB, sex: Sex = Sex.MALE,
           ids: list[Identifier] | None = None, postcode: str = "LS1 4AB", **extra: object) -> Person:
    return Person(person_id=pid, names=[HumanName(given=[given], family=family)], birth_date=BirthDate(value=dob),
                  sex=sex, identifiers=ids or [], addresses=[Address(lines=["1 Test Street"], postcode=postcode)],
                  **extra)


def referral(subjects: list[Person] | None = None, household: list[Person] | None = None) -> Referral:
    return Referral(
        referral_id=REF, received_at=T0 - timedelta(hours=1), local_authority="E08000035",
        source=ReferralSource.POLICE, referrer="Synth Police MASH", concerns=[ConcernCategory.DOMESTIC_ABUSE],
        subjects=subjects if subjects is not None else [
            person("C1", "Jayden", ids=[nhs(1)]),
            person("C2", "Harry", ids=[nhs(2)]),
        ],
        household=household if household is not None else [
            person("M1", "Kelly", dob=date(1990, 6, 1), sex=Sex.FEMALE, ids=[nhs(3)]),
            person("A1", "Dean", family="Walker", dob=date(1987, 2, 9)),
        ],
        rag_history=[RagChange(rag=Rag.RED, at=T0 - timedelta(minutes=30), by="mash-screener")],
        lawful_basis=[LawfulBasis.CHILDREN_ACT_2004_S11],
        consent=Consent.model_validate(consent_not_sought(T0 - timedelta(hours=1),
                                                          "seeking consent could place the children at risk")),
    )


def enquiry(agency: str, ref: Referral) -> Enquiry:
    return Enquiry(enquiry_id=f"E-{agency}", referral_id=REF, agency_id=agency, agency_kind=KINDS[agency],
                   subjects=[*ref.subjects, *ref.household], rag=Rag.RED, requested_at=T0, due_at=DUE,
                   lawful_basis=[LawfulBasis.CHILDREN_ACT_2004_S11], requester="mash")


def src(agency: str, record_id: str) -> SourceRef:
    return SourceRef(agency_kind=KINDS[agency], agency_id=agency, system=SYSTEMS[agency], record_id=record_id)


def claim(agency: str, subject: str, record: str, record_id: str, confidence: float,
          method: MatchMethod = MatchMethod.DEMOGRAPHIC, candidate: bool = False) -> SubjectMatch:
    return SubjectMatch(subject_person_id=subject, record_person_id=record, source=src(agency, record_id),
                        method=method, confidence=confidence, candidate=candidate)


def finding(agency: str, fid: str, about: str, category: FindingCategory, when: date | datetime | None,
            summary: str, record_id: str | None = None, **extra: object) -> Finding:
    return Finding(finding_id=fid, subject_person_id=about, category=category, start=when, summary=summary,
                   source=src(agency, record_id or f"{fid}-rec"), **extra)


def response(agency: str, status: ResponseStatus, *, seq: int = 1, people: list[Person] = (),  # type: ignore[assignment]
             matches: list[SubjectMatch] = (), findings: list[Finding] = (),  # type: ignore[assignment]
             more: bool = False, declined: str | None = None, at: datetime | None = None) -> EnquiryResponse:
    return EnquiryResponse(
        response_id=f"{agency}-{seq}", enquiry_id=f"E-{agency}", referral_id=REF, agency_id=agency,
        agency_kind=KINDS[agency], status=status, declined_reason=declined, people=list(people),
        matches=list(matches), findings=list(findings), responder=f"{agency} MASH team",
        responded_at=at or T0 + timedelta(hours=seq), sequence=seq, more_to_follow=more,
    )


def police_response() -> EnquiryResponse:
    people = [
        person("P-1", "Jayden"),                                     # the child, no NHS number in police systems
        person("P-2", "Dean", family="Walker", dob=date(1987, 2, 9)),  # mother's partner
        person("P-4", "Hary"),                                       # typo: Harry? or Jayden's twin? a person decides
        person("P-9", "Lee", family="Brown", dob=date(1979, 1, 1), postcode="LS2 7ZZ"),  # linked to address, unmatched
    ]
    return response(POLICE, ResponseStatus.INFORMATION_FOUND, people=people, matches=[
        claim(POLICE, "C1", "P-1", "PER-1", 0.97),
        claim(POLICE, "A1", "P-2", "PER-2", 0.96),
        claim(POLICE, "C2", "P-4", "PER-4", 0.95),
    ], findings=[
        finding(POLICE, "F-DA", "P-2", FindingCategory.POLICE_DOMESTIC_ABUSE_INCIDENT, date(2024, 1, 10),
                "Domestic incident at the home address; children present", handling_code=HandlingCode.PERMITTED,
                sensitivity=Sensitivity.POLICE_RESTRICTED),
        finding(POLICE, "F-MISS", "P-1", FindingCategory.POLICE_MISSING_EPISODE,
                datetime(2023, 11, 2, 22, 15, tzinfo=timezone.utc), "Reported missing overnight, found next day"),
        finding(POLICE, "F-DND", "P-2", FindingCategory.POLICE_WARNING_MARKER, date(2023, 5, 5),
                "SECRET-INTEL-TEXT source reporting", handling_code=HandlingCode.DO_NOT_DISSEMINATE,
                codes=["XINT"], record_id="INT-77"),
        finding(POLICE, "F-CAND", "P-4", FindingCategory.POLICE_CHILD_COMING_TO_NOTICE, date(2023, 6, 1),
                "Child came to notice at a shop theft"),
        finding(POLICE, "F-UNL", "P-9", FindingCategory.POLICE_WARNING_MARKER, None, "Warning marker: weapons"),
    ])


def health_responses() -> list[EnquiryResponse]:
    people = [person("H-1", "Jayden", ids=[nhs(1)]), person("H-2", "Harry", ids=[nhs(9)])]
    first = response(HEALTH, ResponseStatus.PARTIAL, seq=1, people=people, more=True, matches=[
        claim(HEALTH, "C1", "H-1", "MRN-1", 1.0, MatchMethod.NHS_NUMBER),
    ], findings=[
        finding(HEALTH, "F-ED", "H-1", FindingCategory.HEALTH_ED_ATTENDANCE, date(2024, 2, 1),
                "ED attendance: head injury (initial)", record_id="ATT-1"),
    ])
    second = response(HEALTH, ResponseStatus.INFORMATION_FOUND, seq=2, people=people, matches=[
        claim(HEALTH, "C1", "H-1", "MRN-1", 1.0, MatchMethod.NHS_NUMBER),
        # Health claims a record for the twin, but it carries a different NHS number.
        claim(HEALTH, "C2", "H-2", "MRN-2", 0.9),
    ], findings=[
        finding(HEALTH, "F-ED", "H-1", FindingCategory.HEALTH_ED_ATTENDANCE, date(2024, 2, 1),
                "ED attendance: head injury, explanation inconsistent", record_id="ATT-1"),
        finding(HEALTH, "F-FLAG", "H-1", FindingCategory.HEALTH_SAFEGUARDING_FLAG, None,
                "Safeguarding flag on record", record_id="FLAG-1"),
        finding(HEALTH, "F-TWIN", "H-2", FindingCategory.HEALTH_CONDITION, date(2022, 1, 1),
                "TWIN-RECORD-CONTENT", record_id="COND-9"),
    ])
    return [second, first]  # out of order on purpose: the builder orders by sequence


def full_view(**kwargs: object):  # type: ignore[no-untyped-def]
    ref = referral()
    enquiries = [enquiry(a, ref) for a in (POLICE, HEALTH, EDUCATION, SOCIAL)]
    responses = [police_response(), *health_responses(),
                 response(EDUCATION, ResponseStatus.DECLINED, declined="Not necessary: no education concern stated")]
    return build_linked_view(ref, enquiries, responses, now=NOW, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- statuses


def test_agency_statuses_for_four_agencies() -> None:
    view = full_view()
    assert [a.agency_id for a in view.agencies] == [POLICE, HEALTH, EDUCATION, SOCIAL]
    status = {a.agency_id: a for a in view.agencies}
    assert status[POLICE].status is AgencyState.INFORMATION_FOUND
    assert status[HEALTH].status is AgencyState.INFORMATION_FOUND
    assert status[HEALTH].responses == 2 and not status[HEALTH].more_to_follow
    assert status[EDUCATION].status is AgencyState.DECLINED
    assert status[EDUCATION].declined_reason == "Not necessary: no education concern stated"
    assert status[SOCIAL].status is AgencyState.OVERDUE and status[SOCIAL].overdue
    assert status[SOCIAL].due_at == DUE
    assert view.outstanding == [SOCIAL]
    assert view.rag is Rag.RED


def test_partial_with_more_to_follow_is_outstanding() -> None:
    ref = referral()
    first = [r for r in health_responses() if r.sequence == 1]
    before_due = build_linked_view(ref, [enquiry(HEALTH, ref)], first, now=T0 + timedelta(hours=2))
    health = before_due.agency(HEALTH)
    assert health is not None
    assert health.status is AgencyState.PARTIAL and health.more_to_follow and not health.overdue
    assert before_due.outstanding == [HEALTH]
    after_due = build_linked_view(ref, [enquiry(HEALTH, ref)], first, now=NOW)
    assert after_due.agency(HEALTH).overdue  # type: ignore[union-attr]


def test_awaiting_before_due_and_hub_overdue_set_wins() -> None:
    ref = referral()
    enquiries = [enquiry(POLICE, ref), enquiry(SOCIAL, ref)]
    early = build_linked_view(ref, enquiries, [], now=T0 + timedelta(minutes=5))
    assert [a.status for a in early.agencies] == [AgencyState.AWAITING, AgencyState.AWAITING]
    # The hub's working-hours tracker says police is overdue; its view is authoritative.
    told = build_linked_view(ref, enquiries, [], now=T0 + timedelta(minutes=5), overdue={POLICE})
    assert told.agency(POLICE).status is AgencyState.OVERDUE  # type: ignore[union-attr]
    assert told.agency(SOCIAL).status is AgencyState.AWAITING  # type: ignore[union-attr]
    assert told.outstanding == [POLICE, SOCIAL]


# --------------------------------------------------------------------------- matches


def test_subjects_and_household_with_rechecked_matches() -> None:
    view = full_view()
    c1 = view.person("C1")
    assert c1 is not None and c1.role == "subject" and c1.display_name == "Jayden Smith"
    by_agency = c1.matches_by_agency()
    assert set(by_agency) == {POLICE, HEALTH}
    health = by_agency[HEALTH][0]
    assert health.method is MatchMethod.NHS_NUMBER and health.confidence == 1.0
    assert health.finding_count == 2  # follow-up merged: ED attendance once, plus the flag
    police = by_agency[POLICE][0]
    # The police said 0.97; the hub agrees fully; the lower of the two is kept.
    assert police.agency_confidence == 0.97 and police.hub_confidence == 1.0 and police.confidence == 0.97
    assert [p.person_id for p in view.household] == ["M1", "A1"]
    partner = view.person("A1")
    assert partner is not None and partner.role == "household"
    assert [m.agency_id for m in partner.matches] == [POLICE]


def test_candidate_is_listed_not_merged() -> None:
    view = full_view()
    c2 = view.person("C2")
    assert c2 is not None
    assert c2.matches == []
    assert [(m.agency_id, m.source.record_id) for m in c2.candidates] == [(POLICE, "PER-4")]
    candidate = c2.candidates[0]
    assert candidate.decision is MatchDecision.CANDIDATE
    assert "given_name_fuzzy" in candidate.reasons
    assert candidate.confidence < 0.95
    # Its finding is for review, flagged, and not in the chronology.
    assert all(e.finding_id != "F-CAND" for e in view.chronology)
    review = [e for e in view.for_review if e.finding_id == "F-CAND"]
    assert len(review) == 1
    assert review[0].candidate and review[0].link is LinkState.CANDIDATE and review[0].subject_ref == "C2"


def test_conflicting_nhs_number_claim_is_rejected_and_findings_withheld() -> None:
    view = full_view()
    c2 = view.person("C2")
    assert c2 is not None
    rejected = [m for m in c2.rejected if m.agency_id == HEALTH]
    assert len(rejected) == 1
    assert "nhs_number_conflict" in rejected[0].reasons
    assert rejected[0].finding_count == 1
    everything = [*view.chronology, *view.for_review]
    assert all("TWIN-RECORD-CONTENT" not in e.summary for e in everything)
    assert any(i.code == "findings_withheld_rejected_match" and i.agency_id == HEALTH for i in view.issues)
    assert "TWIN-RECORD-CONTENT" not in render_text(view)


def test_follow_up_without_repeated_matches_attaches_through_earlier_match() -> None:
    ref = referral()
    first, second = sorted(health_responses(), key=lambda r: r.sequence)
    bare = second.model_copy(update={"matches": [], "findings": second.findings[:2]})
    view = build_linked_view(ref, [enquiry(HEALTH, ref)], [first, bare], now=NOW)
    assert [e.finding_id for e in view.chronology] == ["F-ED", "F-FLAG"]
    assert all(e.subject_ref == "C1" and e.response_sequence == 2 for e in view.chronology)
    assert view.for_review == []


def test_unmatched_agency_person_goes_to_review_unlinked() -> None:
    view = full_view()
    unlinked = [e for e in view.for_review if e.finding_id == "F-UNL"]
    assert len(unlinked) == 1
    assert unlinked[0].link is LinkState.UNLINKED and unlinked[0].subject_ref is None
    assert unlinked[0].record_person_id == "P-9"


def test_agency_confidence_lower_wins_and_candidate_flag_respected() -> None:
    ref = referral()
    people = [person("H-1", "Jayden", ids=[nhs(1)]), person("H-2", "Harry", ids=[nhs(2)])]
    resp = response(HEALTH, ResponseStatus.INFORMATION_FOUND, people=people, matches=[
        claim(HEALTH, "C1", "H-1", "MRN-1", 0.8),                    # unsure agency, certain hub
        claim(HEALTH, "C2", "H-2", "MRN-2", 0.99, candidate=True),   # agency asks a person to check
    ], findings=[finding(HEALTH, "F1", "H-1", FindingCategory.HEALTH_ADMISSION, date(2024, 1, 1), "Admitted"),
                 finding(HEALTH, "F2", "H-2", FindingCategory.HEALTH_ADMISSION, date(2024, 1, 2), "Admitted")])
    view = build_linked_view(ref, [enquiry(HEALTH, ref)], [resp], now=NOW)
    c1 = view.person("C1")
    c2 = view.person("C2")
    assert c1 is not None and c2 is not None
    assert c1.candidates[0].confidence == 0.8 and c1.candidates[0].hub_confidence == 1.0
    assert "agency_confidence_lower" in c1.candidates[0].reasons
    assert c2.candidates[0].agency_flagged_candidate and c2.candidates[0].confidence == 0.99
    assert view.chronology == []
    assert {e.finding_id for e in view.for_review} == {"F1", "F2"}


def test_person_confirmation_moves_candidate_into_chronology() -> None:
    confirm = MatchConfirmation(subject_person_id="C2", agency_id=POLICE, source_system="Niche RMS",
                                record_id="PER-4", confirmed=True, by="mash-practitioner-7", at=NOW)
    view = full_view(confirmations=[confirm])
    c2 = view.person("C2")
    assert c2 is not None
    assert [m.method for m in c2.matches] == [MatchMethod.MANUAL]
    assert c2.matches[0].decided_by == "mash-practitioner-7"
    entry = next(e for e in view.chronology if e.finding_id == "F-CAND")
    assert entry.subject_ref == "C2" and entry.match_method is MatchMethod.MANUAL and not entry.candidate

    reject = confirm.model_copy(update={"confirmed": False})
    rejected_view = full_view(confirmations=[reject])
    assert rejected_view.person("C2").rejected[0].source.record_id == "PER-4"  # type: ignore[union-attr]
    assert all(e.finding_id != "F-CAND" for e in [*rejected_view.chronology, *rejected_view.for_review])


def test_one_record_matched_to_two_people_is_demoted() -> None:
    # A data error in the referral: both children carry the same NHS number, so the hub's
    # re-check accepts the agency record for each. One record cannot be two children.
    ref = referral(subjects=[person("C1", "Jayden", ids=[nhs(1)]), person("C2", "Jayden", ids=[nhs(1)])])
    people = [person("X-1", "Jayden", ids=[nhs(1)])]
    resp = response(SOCIAL, ResponseStatus.INFORMATION_FOUND, people=people, matches=[
        claim(SOCIAL, "C1", "X-1", "MOS-1", 1.0, MatchMethod.NHS_NUMBER),
        claim(SOCIAL, "C2", "X-1", "MOS-1", 0.99),
    ], findings=[finding(SOCIAL, "S1", "X-1", FindingCategory.SOCIAL_CARE_REFERRAL, date(2022, 5, 1), "Referral")])
    view = build_linked_view(ref, [enquiry(SOCIAL, ref)], [resp], now=NOW)
    for pid in ("C1", "C2"):
        subject = view.person(pid)
        assert subject is not None and subject.matches == []
        assert "record_matches_several_people" in subject.candidates[0].reasons
    assert view.chronology == []
    assert sorted(e.subject_ref for e in view.for_review) == ["C1", "C2"]


def test_unborn_child_matched_through_mother() -> None:
    edd = date.today() + timedelta(days=90)
    ref = referral(
        subjects=[Person(person_id="U1", unborn=True, expected_birth_date=edd, mother_person_id="M1")],
        household=[person("M1", "Kelly", dob=date(1990, 6, 1), sex=Sex.FEMALE, ids=[nhs(3)])],
    )
    people = [Person(person_id="HU", unborn=True, expected_birth_date=edd + timedelta(days=7),
                     mother_person_id="HM", names=[HumanName(text="Baby of Kelly Smith")]),
              person("HM", "Kelly", dob=date(1990, 6, 1), sex=Sex.FEMALE, ids=[nhs(3)])]
    resp = response(HEALTH, ResponseStatus.INFORMATION_FOUND, people=people, matches=[
        claim(HEALTH, "U1", "HU", "PREG-1", 0.97), claim(HEALTH, "M1", "HM", "MRN-M", 1.0, MatchMethod.NHS_NUMBER),
    ], findings=[finding(HEALTH, "F-AN", "HU", FindingCategory.HEALTH_CASELOAD, date(2024, 2, 20),
                         "Booked with midwifery; late booking")])
    view = build_linked_view(ref, [enquiry(HEALTH, ref)], [resp], now=NOW)
    unborn = view.person("U1")
    assert unborn is not None and unborn.display_name.startswith("Unborn child")
    assert len(unborn.matches) == 1
    assert "unborn_mother_match" in unborn.matches[0].reasons
    assert [e.subject_ref for e in view.chronology] == ["U1"]


# --------------------------------------------------------------------------- chronology


def test_chronology_ordered_with_provenance_and_undated_last() -> None:
    view = full_view()
    ids = [e.finding_id for e in view.chronology]
    # DND: dates removed, so it is undated; undated entries keep their arrival order at the end.
    assert ids == ["F-MISS", "F-DA", "F-ED", "F-DND", "F-FLAG"]
    for entry in view.chronology:
        assert entry.link is LinkState.MATCHED and not entry.candidate
        assert entry.source_system == SYSTEMS[entry.agency_id]
        assert entry.record_id and entry.agency_kind is KINDS[entry.agency_id]
        assert entry.match_confidence is not None and entry.match_method is not None
    da = next(e for e in view.chronology if e.finding_id == "F-DA")
    assert da.subject_ref == "A1" and da.subject_role == "household"
    assert da.sensitivity is Sensitivity.POLICE_RESTRICTED and da.handling_code is HandlingCode.PERMITTED
    ed = next(e for e in view.chronology if e.finding_id == "F-ED")
    assert ed.summary == "ED attendance: head injury, explanation inconsistent"  # later sequence wins
    assert ed.response_sequence == 2
    assert sum(1 for e in view.chronology if e.finding_id == "F-ED") == 1


def test_dnd_content_never_shown() -> None:
    view = full_view()
    dnd = next(e for e in view.chronology if e.finding_id == "F-DND")
    assert dnd.summary == DND_SUMMARY
    assert dnd.redacted and dnd.codes == [] and dnd.date is None
    assert dnd.category is FindingCategory.POLICE_INFORMATION_HELD
    assert dnd.record_id == "INT-77"  # the reference to quote to the police MASH
    text = render_text(view)
    assert "SECRET-INTEL-TEXT" not in text and "XINT" not in text
    assert "SECRET-INTEL-TEXT" not in view.model_dump_json()
    assert any(i.code == "dnd_content_suppressed" for i in view.issues)


def test_mixed_dates_and_datetimes_sort_together() -> None:
    ref = referral()
    people = [person("P-1", "Jayden")]
    fs = [
        finding(POLICE, "late", "P-1", FindingCategory.POLICE_MISSING_EPISODE, date(2024, 1, 3), "c"),
        finding(POLICE, "none1", "P-1", FindingCategory.POLICE_WARNING_MARKER, None, "u1"),
        finding(POLICE, "evening", "P-1", FindingCategory.POLICE_MISSING_EPISODE,
                datetime(2024, 1, 2, 23, 0, tzinfo=timezone(timedelta(hours=1))), "b"),
        finding(POLICE, "day", "P-1", FindingCategory.POLICE_MISSING_EPISODE, date(2024, 1, 2), "d"),
        finding(POLICE, "none2", "P-1", FindingCategory.POLICE_WARNING_MARKER, None, "u2"),
        finding(POLICE, "early", "P-1", FindingCategory.POLICE_MISSING_EPISODE,
                datetime(2024, 1, 2, 8, 0, tzinfo=timezone.utc), "a"),
    ]
    resp = response(POLICE, ResponseStatus.INFORMATION_FOUND, people=people,
                    matches=[claim(POLICE, "C1", "P-1", "PER-1", 0.99)], findings=fs)
    view = build_linked_view(ref, [enquiry(POLICE, ref)], [resp], now=NOW)
    assert [e.finding_id for e in view.chronology] == ["day", "early", "evening", "late", "none1", "none2"]


# --------------------------------------------------------------------------- robustness


def test_responses_for_other_referrals_or_agencies_are_not_shown_but_reported() -> None:
    ref = referral()
    stray = police_response().model_copy(update={"referral_id": "R-OTHER", "response_id": "stray"})
    wrong_agency = police_response().model_copy(update={"enquiry_id": f"E-{HEALTH}", "response_id": "wrong"})
    view = build_linked_view(ref, [enquiry(POLICE, ref), enquiry(HEALTH, ref)], [stray, wrong_agency], now=NOW)
    assert view.chronology == [] and view.for_review == []
    codes = {i.code for i in view.issues}
    assert {"response_other_referral", "response_agency_mismatch"} <= codes
    assert view.agency(POLICE).status is AgencyState.OVERDUE  # type: ignore[union-attr]


def test_redelivered_response_counted_once() -> None:
    ref = referral()
    resp = police_response()
    view = build_linked_view(ref, [enquiry(POLICE, ref)], [resp, resp.model_copy()], now=NOW)
    assert view.agency(POLICE).responses == 1  # type: ignore[union-attr]
    assert len([e for e in view.chronology if e.finding_id == "F-MISS"]) == 1


def test_naive_now_rejected() -> None:
    ref = referral()
    with pytest.raises(ValueError, match="timezone-aware"):
        build_linked_view(ref, [], [], now=datetime(2024, 1, 1))


def test_render_text_is_readable_with_sources() -> None:
    text = render_text(full_view())
    assert "Referral R-0001" in text and "RAG RED" in text
    assert "Jayden Smith" in text and "Household" in text
    assert "social-care-synth" in text and "overdue" in text and "OVERDUE" in text
    assert "declined: Not necessary" in text
    assert "police-synth / Niche RMS / F-MISS-rec" in text
    assert "[A1] Dean Walker" in text.split("Chronology", 1)[1]
    assert "UNLINKED agency person P-9" in text
    assert "health-synth / Synth PAS / ATT-1" in text
    assert "For review" in text and "CANDIDATE" in text
    assert "outstanding: social-care-synth" in text
    chron = text.split("Chronology", 1)[1].split("For review", 1)[0]
    assert "Child came to notice" not in chron  # the candidate's finding is outside the chronology
