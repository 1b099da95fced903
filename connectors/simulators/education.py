"""Simulated LA education system (school MIS returns pooled by the LA).

The education view: attendance (with the persistent-absence flag at under
90%), suspensions and exclusions, SEN support / EHCP, free school meals,
school moves and children in care. It knows school-age children by UPN and
records the nickname as a preferred name, as school systems do.
"""

from __future__ import annotations

from .base import AgencySimulator, SimRecord, unique_ids
from .names import SCHOOLS
from .population import Population, Scenario, SynthPerson
from .views import FindingBook, agency_copy
from ...schemas.codes import AgencyKind, FindingCategory as C
from ...schemas.identifiers import IdentifierSystem

SYSTEM = "Synthetic LA Education"
PERSISTENT_ABSENCE_BELOW = 90.0


def build_education(population: Population, agency_id: str) -> AgencySimulator:
    records: list[SimRecord] = []
    for family in population.families:
        if AgencyKind.EDUCATION not in family.known_to:
            continue
        for person in family.members:
            if not person.upn:
                continue
            record_id = f"edu-{person.upn}"
            book = FindingBook(AgencyKind.EDUCATION, agency_id, SYSTEM, population.la_code, population.as_of,
                               record_id)
            _findings(family.scenario, person, book)
            copy = agency_copy(population, person, person_id=record_id, systems=(IdentifierSystem.UPN,),
                               record_preferred_name=True)
            records.append(SimRecord(person=copy, findings=tuple(book.items)))
    unique_ids(records)
    return AgencySimulator(agency_id=agency_id, kind=AgencyKind.EDUCATION, system=SYSTEM,
                           organisation=population.la_code, records=tuple(records))


def _school(urn: str | None) -> str:
    return next((name for u, name in SCHOOLS if u == urn), "Unknown school")


def _attendance(book: FindingBook, p: SynthPerson, percent: float) -> None:
    persistent = percent < PERSISTENT_ABSENCE_BELOW
    book.add(
        C.EDUCATION_ATTENDANCE, 200,
        f"Attendance this academic year {percent:.1f}%" + (" (persistent absence)." if persistent else "."),
        attributes={"attendance_percent": percent, "persistent_absence": persistent,
                    "school_urn": p.school_urn, "school": _school(p.school_urn)},
    )


def _findings(scenario: Scenario, p: SynthPerson, book: FindingBook) -> None:
    role_key = p.key.rsplit("-", 1)[1]
    if scenario is Scenario.RED_DOMESTIC_ABUSE:
        if role_key == "C1":
            _attendance(book, p, 78.4)
            book.add(C.EDUCATION_SUSPENSION_EXCLUSION, 30, "Suspension: 3 days, persistent disruptive behaviour.",
                     ended_days_ago=27, codes=("SUSP", "PD"), attributes={"days": 3, "type": "suspension"})
            book.add(C.EDUCATION_FREE_SCHOOL_MEALS, 600, "Eligible for free school meals.", attributes={"fsm": True})
        else:
            _attendance(book, p, 93.1)
            book.add(C.EDUCATION_FREE_SCHOOL_MEALS, 600, "Eligible for free school meals.", attributes={"fsm": True})
    elif scenario is Scenario.TWINS:
        if role_key == "C1":
            _attendance(book, p, 96.2)
        elif role_key == "C2":
            _attendance(book, p, 95.0)
            book.add(C.EDUCATION_SEN_EHCP, 400, "Education, health and care plan in place.",
                     codes=("EHCP",), attributes={"sen_provision": "E", "primary_need": "SLCN"})
        else:
            _attendance(book, p, 91.4)
            book.add(C.EDUCATION_SCHOOL_MOVE, 250, "Moved school mid-year.", attributes={"from_urn": "199001"})
        book.add(C.EDUCATION_FREE_SCHOOL_MEALS, 500, "Eligible for free school meals.", attributes={"fsm": True})
    elif scenario is Scenario.CHANGED_SURNAME:
        _attendance(book, p, 86.9)
        book.add(C.EDUCATION_SCHOOL_MOVE, 180, "Moved school after a change of address.", attributes={"from_urn": "199002"})
        book.add(C.EDUCATION_SUSPENSION_EXCLUSION, 45, "Suspension: 1 day, physical assault against a pupil.",
                 ended_days_ago=44, codes=("SUSP", "PP"), attributes={"days": 1, "type": "suspension"})
    elif scenario is Scenario.NICKNAME:
        _attendance(book, p, 96.8)
        book.add(C.EDUCATION_SEN_EHCP, 150, "SEN support.", codes=("K",), attributes={"sen_provision": "K"})
    elif scenario is Scenario.LOOKED_AFTER:
        _attendance(book, p, 82.0)
        book.add(C.EDUCATION_IN_CARE, 300, "Child looked after; personal education plan in place.",
                 attributes={"pep": True})
        book.add(C.EDUCATION_SCHOOL_MOVE, 280, "Moved school on entering care.", attributes={"from_urn": "199003"})
        book.add(C.EDUCATION_SCHOOL_MOVE, 90, "Moved school after a placement change.", attributes={"from_urn": "199004"})
        book.add(C.EDUCATION_SUSPENSION_EXCLUSION, 60, "Suspension: 5 days, drug and alcohol related.",
                 ended_days_ago=55, codes=("SUSP", "DA"), attributes={"days": 5, "type": "suspension"})
    else:
        _attendance(book, p, 97.0 - (int(p.upn[-1]) if p.upn and p.upn[-1].isdigit() else 0) * 1.1)
