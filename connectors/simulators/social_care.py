"""Simulated children's social care case system (Mosaic / LCS-like).

The social care view: referrals (with CIN referral source codes),
assessments (with CIN factor codes such as 3A domestic violence, 10A missing,
24A child criminal exploitation), section 47 enquiries, child protection plans
(with category), looked-after episodes and missing episodes. Children carry
the LA child id (scoped to the LA), and usually the NHS number and UPN too.
The pre-birth referral is held on an unborn record.
"""

from __future__ import annotations

from .base import AgencySimulator, SimRecord, unique_ids
from .population import Population, Scenario, SynthPerson
from .views import FindingBook, agency_copy
from ...schemas.codes import AgencyKind, FindingCategory as C
from ...schemas.identifiers import IdentifierSystem

SYSTEM = "Synthetic Case Management"
_SYSTEMS = (IdentifierSystem.LA_CHILD_ID, IdentifierSystem.NHS_NUMBER, IdentifierSystem.UPN)


def build_social_care(population: Population, agency_id: str) -> AgencySimulator:
    records: list[SimRecord] = []
    for family in population.families:
        if AgencyKind.SOCIAL_CARE not in family.known_to:
            continue
        for person in family.children:
            if person.unborn:
                record_id = f"csc-unborn-{family.family_id.lower()}"
            elif person.la_child_id:
                record_id = f"csc-{person.la_child_id}"
            else:
                continue
            book = FindingBook(AgencyKind.SOCIAL_CARE, agency_id, SYSTEM, population.la_code, population.as_of,
                               record_id)
            _findings(family.scenario, person, book)
            if not book.items:
                continue
            copy = agency_copy(population, person, person_id=record_id, systems=_SYSTEMS)
            mother = None
            if person.unborn and person.mother_key:
                mother = agency_copy(population, family.member(person.mother_key),
                                     person_id=f"csc-adult-{person.mother_key.lower()}", systems=())
            records.append(SimRecord(person=copy, findings=tuple(book.items), mother=mother))
    unique_ids(records)
    return AgencySimulator(agency_id=agency_id, kind=AgencyKind.SOCIAL_CARE, system=SYSTEM,
                           organisation=population.la_code, records=tuple(records))


def _findings(scenario: Scenario, p: SynthPerson, book: FindingBook) -> None:
    key = p.key.rsplit("-", 1)[1]
    if scenario is Scenario.RED_DOMESTIC_ABUSE:
        book.add(C.SOCIAL_CARE_REFERRAL, 170, "Referral from police after domestic incident.", codes=("6",),
                 attributes={"referral_source": "6", "primary_need": "N1"})
        factors = ("3A", "3B", "10A", "11A") if key == "C1" else ("3A", "3B")
        book.add(C.SOCIAL_CARE_ASSESSMENT, 165, "Child and family assessment completed.", ended_days_ago=150,
                 codes=factors, attributes={"factors": ",".join(factors), "outcome": "section_47"})
        book.add(C.SOCIAL_CARE_SECTION_47, 160, "Section 47 enquiry: concerns substantiated.", ended_days_ago=152,
                 codes=("S47",), attributes={"icpc": True})
        book.add(C.SOCIAL_CARE_CHILD_PROTECTION_PLAN, 150, "Child protection plan: emotional abuse.",
                 codes=("EMO",), attributes={"category": "EMO", "active": True})
    elif scenario is Scenario.UNBORN:
        if p.unborn:
            book.add(C.SOCIAL_CARE_REFERRAL, 60, "Pre-birth referral from midwifery.", codes=("3F",),
                     attributes={"referral_source": "3F", "pre_birth": True})
        else:
            book.add(C.SOCIAL_CARE_REFERRAL, 110, "Referral from police: child present at domestic incident.",
                     codes=("6",), attributes={"referral_source": "6"})
            book.add(C.SOCIAL_CARE_ASSESSMENT, 105, "Assessment: domestic violence concerning parent; early help.",
                     ended_days_ago=80, codes=("3B",), attributes={"factors": "3B", "outcome": "early_help"})
    elif scenario is Scenario.CHANGED_SURNAME:
        book.add(C.SOCIAL_CARE_REFERRAL, 26, "Referral from school: unexplained bruising.", codes=("2A",),
                 attributes={"referral_source": "2A"})
        book.add(C.SOCIAL_CARE_ASSESSMENT, 24, "Assessment in progress; physical abuse factor.", codes=("5A", "4A"),
                 attributes={"factors": "5A,4A"})
    elif scenario is Scenario.TYPO:
        book.add(C.SOCIAL_CARE_REFERRAL, 14, "Referral from health visitor: supervision concerns.", codes=("3B",),
                 attributes={"referral_source": "3B"})
    elif scenario is Scenario.LOOKED_AFTER:
        book.add(C.SOCIAL_CARE_ASSESSMENT, 320, "Assessment: criminal exploitation and missing.", ended_days_ago=300,
                 codes=("24A", "10A"), attributes={"factors": "24A,10A"})
        book.add(C.SOCIAL_CARE_LOOKED_AFTER_EPISODE, 300, "Looked after: interim care order; foster placement.",
                 codes=("C1", "U4"), attributes={"legal_status": "C1", "placement": "U4", "active": True})
        book.add(C.SOCIAL_CARE_MISSING_EPISODE, 20, "Missing from placement for two days.", ended_days_ago=18,
                 codes=("MISSING",))
    elif scenario is Scenario.FILLER:
        book.add(C.SOCIAL_CARE_REFERRAL, 500, "Referral: no further action after screening.", codes=("8",),
                 attributes={"referral_source": "8", "outcome": "nfa"})
