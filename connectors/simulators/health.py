"""Simulated health records (trust EPR with community caseloads).

The health view: ED attendances, admissions, safeguarding and CP-IS flags,
conditions (one mental-health and one sexual-health, marked sensitive so the
hub's policy decides their release), and caseloads (health visiting,
midwifery, CAMHS). Health holds the unborn child as its own record with an
expected date a few days off the mother's booking date, and it misspells the
given name of the typo family's child.
"""

from __future__ import annotations

import zlib
from datetime import timedelta

from .base import AgencySimulator, SimRecord, unique_ids
from .names import misspell
from .population import HEALTH_ORG, Population, Scenario, SynthPerson
from .views import FindingBook, agency_copy
from ...schemas.codes import AgencyKind, FindingCategory as C, Sensitivity as S
from ...schemas.identifiers import Identifier, IdentifierSystem

SYSTEM = "Synthetic EPR"


def build_health(population: Population, agency_id: str) -> AgencySimulator:
    records: list[SimRecord] = []
    for family in population.families:
        if AgencyKind.HEALTH not in family.known_to:
            continue
        for person in family.members:
            if person.unborn:
                record_id = f"hlth-unborn-{family.family_id.lower()}"
            elif person.nhs_number:
                record_id = f"hlth-{person.nhs_number}"
            else:
                continue
            book = FindingBook(AgencyKind.HEALTH, agency_id, SYSTEM, HEALTH_ORG, population.as_of, record_id)
            _findings(family.scenario, person, book, population)
            if not book.items:
                continue
            mrn = Identifier(system=IdentifierSystem.HOSPITAL_MRN, value=f"MRN{zlib.crc32(record_id.encode()) % 10**7:07d}",
                             scope=HEALTH_ORG) if not person.unborn else None
            copy = agency_copy(
                population, person, person_id=record_id, systems=(IdentifierSystem.NHS_NUMBER,),
                given=misspell(person.given) if family.scenario is Scenario.TYPO and person.is_child else None,
                extra_identifiers=(mrn,) if mrn else (),
                # the scan date moved the expected date a few days from the booking estimate
                expected_birth_date=person.expected_birth_date + timedelta(days=5) if person.unborn else None,
            )
            mother = None
            if person.unborn and person.mother_key:
                synth_mother = family.member(person.mother_key)
                mother = agency_copy(population, synth_mother, person_id=f"hlth-{synth_mother.nhs_number}",
                                     systems=(IdentifierSystem.NHS_NUMBER,))
            records.append(SimRecord(person=copy, findings=tuple(book.items), mother=mother))
    unique_ids(records)
    return AgencySimulator(agency_id=agency_id, kind=AgencyKind.HEALTH, system=SYSTEM, organisation=HEALTH_ORG,
                           records=tuple(records))


def _findings(scenario: Scenario, p: SynthPerson, book: FindingBook, pop: Population) -> None:
    role = p.role
    age = p.age_on(pop.as_of) or 0
    if scenario is Scenario.RED_DOMESTIC_ABUSE:
        if role == "mother":
            book.add(C.HEALTH_ED_ATTENDANCE, 9, "ED attendance: facial injury, explained as a fall.",
                     codes=("ED",), attributes={"department": "ED"})
            book.add(C.HEALTH_CONDITION, 700, "Depression; under GP review.", codes=("SNOMED:35489007",),
                     sensitivity=S.MENTAL_HEALTH)
        elif role == "child" and age >= 12:
            book.add(C.HEALTH_ED_ATTENDANCE, 11, "ED attendance after missing episode; intoxicated.", codes=("ED",))
            book.add(C.HEALTH_CONDITION, 60, "Sexual health clinic attendance.", codes=("SH",),
                     sensitivity=S.SEXUAL_HEALTH)
            book.add(C.HEALTH_SAFEGUARDING_FLAG, 11, "Safeguarding flag: CSE concern raised by ED.",
                     codes=("SG",))
            book.add(C.HEALTH_CHILD_PROTECTION_FLAG, 150, "CP-IS: child subject to a child protection plan.",
                     codes=("CP-IS",), attributes={"cp_is": "child_protection_plan"})
        elif role == "child":
            book.add(C.HEALTH_CHILD_PROTECTION_FLAG, 150, "CP-IS: child subject to a child protection plan.",
                     codes=("CP-IS",), attributes={"cp_is": "child_protection_plan"})
    elif scenario is Scenario.UNBORN:
        if role == "mother":
            book.add(C.HEALTH_CASELOAD, 90, "Midwifery: late booking for antenatal care.",
                     attributes={"service": "midwifery", "booked_weeks": 24})
        elif role == "unborn":
            book.add(C.HEALTH_CASELOAD, 90, "Unborn: midwifery caseload; two missed antenatal appointments.",
                     attributes={"service": "midwifery", "missed_appointments": 2})
        elif role == "child":
            book.add(C.HEALTH_CASELOAD, 300, "Health visiting caseload: universal plus.",
                     attributes={"service": "health_visiting", "level": "universal_plus"})
            book.add(C.HEALTH_ED_ATTENDANCE, 35, "ED attendance: scald to forearm.", codes=("ED",))
    elif scenario is Scenario.TWINS:
        if p.key.endswith("C1"):
            book.add(C.HEALTH_ADMISSION, 220, "Admitted with acute asthma; discharged after two days.",
                     ended_days_ago=218, codes=("J45",))
        elif p.key.endswith("C3"):
            book.add(C.HEALTH_CONDITION, 500, "ADHD; community paediatrics.", codes=("F90",))
    elif scenario is Scenario.CHANGED_SURNAME:
        if role == "child":
            book.add(C.HEALTH_ED_ATTENDANCE, 70, "ED attendance: wrist fracture.", codes=("ED",))
            book.add(C.HEALTH_ED_ATTENDANCE, 25, "ED attendance: bruising to back; inconsistent history.", codes=("ED",))
            book.add(C.HEALTH_SAFEGUARDING_FLAG, 25, "Safeguarding flag raised by ED.", codes=("SG",))
    elif scenario is Scenario.NICKNAME:
        if role == "child":
            book.add(C.HEALTH_CONDITION, 800, "Eczema.", codes=("L20",))
    elif scenario is Scenario.TYPO:
        if role == "child":
            book.add(C.HEALTH_CASELOAD, 400, "Health visiting caseload: universal partnership plus.",
                     attributes={"service": "health_visiting", "level": "universal_partnership_plus"})
            book.add(C.HEALTH_ED_ATTENDANCE, 15, "ED attendance: ingestion of medication.", codes=("ED",))
            book.add(C.HEALTH_SAFEGUARDING_FLAG, 15, "Safeguarding flag: accidental ingestion, supervision.",
                     codes=("SG",))
    elif scenario is Scenario.LOOKED_AFTER:
        if role == "child":
            book.add(C.HEALTH_CASELOAD, 120, "CAMHS: open case, self-harm.", attributes={"service": "camhs"},
                     sensitivity=S.MENTAL_HEALTH)
            book.add(C.HEALTH_CHILD_PROTECTION_FLAG, 300, "CP-IS: looked-after child.", codes=("CP-IS",),
                     attributes={"cp_is": "looked_after"})
    elif scenario is Scenario.FILLER and role == "child" and p.nhs_number and int(p.nhs_number[-2]) % 2 == 0:
        book.add(C.HEALTH_ED_ATTENDANCE, 100 + int(p.nhs_number[-3]) * 10, "ED attendance: minor injury.",
                 codes=("ED",))
