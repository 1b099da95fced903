"""Simulated police records system (POLE-shaped, Niche/Athena-like).

The police view: domestic-abuse incidents, missing episodes, arrests,
warning markers and children coming to notice, each with a handling code.
Some intelligence is ``DND`` (do not disseminate) and must never leave the
force; one record carries a live-investigation flag so the connector's
"declined with reason" path has something real to decline on. The police
hold the changed-surname child under the old surname only.
"""

from __future__ import annotations

from .base import AgencySimulator, SimRecord, unique_ids
from .population import Population, Scenario, SynthPerson
from .views import FindingBook, agency_copy
from ...schemas.codes import AgencyKind, FindingCategory as C, HandlingCode as H, Reliability
from ...schemas.identifiers import IdentifierSystem

SYSTEM = "Synthetic RMS"
LIVE_INVESTIGATION = "live_investigation"


def build_police(population: Population, agency_id: str) -> AgencySimulator:
    records: list[SimRecord] = []
    org = population.force_code

    for family in population.families:
        if AgencyKind.POLICE not in family.known_to:
            continue
        for person in family.members:
            if person.unborn or not person.police_id:
                continue
            record_id = f"pol-{person.police_id}"
            book = FindingBook(AgencyKind.POLICE, agency_id, SYSTEM, org, population.as_of, record_id)
            flags: set[str] = set()
            _findings(family.scenario, person, book, flags, population)
            if not book.items:
                continue
            copy = agency_copy(
                population, person, person_id=record_id, systems=(IdentifierSystem.POLICE_PERSON_ID,),
                # the police never learnt of the surname change
                family=person.previous_family if family.scenario is Scenario.CHANGED_SURNAME and person.is_child else None,
                record_previous_name=False,
            )
            records.append(SimRecord(person=copy, findings=tuple(book.items), flags=frozenset(flags)))
    unique_ids(records)
    return AgencySimulator(agency_id=agency_id, kind=AgencyKind.POLICE, system=SYSTEM, organisation=org,
                           records=tuple(records))


def _findings(scenario: Scenario, p: SynthPerson, book: FindingBook, flags: set[str], pop: Population) -> None:
    role = p.role
    if scenario is Scenario.RED_DOMESTIC_ABUSE:
        if role == "mother":
            book.add(C.POLICE_DOMESTIC_ABUSE_INCIDENT, 9, "Domestic incident at home address; victim. DASH risk high.",
                     codes=("DA", "DASH-HIGH"), attributes={"role": "victim", "dash_risk": "high"}, handling=H.PERMITTED)
            book.add(C.POLICE_DOMESTIC_ABUSE_INCIDENT, 64, "Verbal argument reported by neighbour; victim.",
                     codes=("DA", "DASH-MEDIUM"), attributes={"role": "victim", "dash_risk": "medium"}, handling=H.PERMITTED)
        elif role == "partner":
            book.add(C.POLICE_DOMESTIC_ABUSE_INCIDENT, 9, "Domestic incident at partner's address; suspect.",
                     codes=("DA",), attributes={"role": "suspect"}, handling=H.PERMITTED)
            book.add(C.POLICE_ARREST_CHARGE, 9, "Arrested: assault occasioning actual bodily harm. Released on bail.",
                     codes=("ABH",), attributes={"outcome": "bail"}, handling=H.PERMITTED)
            book.add(C.POLICE_WARNING_MARKER, 400, "Warning marker: violent.", codes=("VI",), handling=H.CONDITIONS)
            book.add(C.POLICE_WARNING_MARKER, 30, "Intelligence: linked to supply of controlled drugs from the address.",
                     codes=("INT",), handling=H.DO_NOT_DISSEMINATE, reliability=Reliability.UNTESTED)
        elif role == "child" and (p.age_on(pop.as_of) or 0) >= 12:
            book.add(C.POLICE_MISSING_EPISODE, 12, "Reported missing overnight; found at an unknown adult's flat.",
                     ended_days_ago=11, codes=("MISSING",), attributes={"risk": "high"}, handling=H.PERMITTED)
            book.add(C.POLICE_MISSING_EPISODE, 40, "Missing for six hours; returned home.", ended_days_ago=40,
                     codes=("MISSING",), attributes={"risk": "medium"}, handling=H.PERMITTED)
            book.add(C.POLICE_CHILD_COMING_TO_NOTICE, 12, "Child coming to notice: CSE indicators on return interview.",
                     codes=("CCTN", "CSE"), handling=H.PERMITTED)
        elif role == "child":
            book.add(C.POLICE_CHILD_COMING_TO_NOTICE, 9, "Child present during domestic incident.",
                     codes=("CCTN", "DA"), handling=H.PERMITTED)
    elif scenario is Scenario.UNBORN:
        if role == "father":
            book.add(C.POLICE_DOMESTIC_ABUSE_INCIDENT, 120, "Domestic incident; suspect. No further action.",
                     codes=("DA",), attributes={"role": "suspect"}, handling=H.PERMITTED)
        elif role == "mother":
            book.add(C.POLICE_DOMESTIC_ABUSE_INCIDENT, 120, "Domestic incident; victim. Pregnant at the time.",
                     codes=("DA", "DASH-MEDIUM"), attributes={"role": "victim"}, handling=H.PERMITTED)
    elif scenario is Scenario.CHANGED_SURNAME:
        if role == "child":
            book.add(C.POLICE_CHILD_COMING_TO_NOTICE, 200, "Child coming to notice: found alone late at night.",
                     codes=("CCTN",), handling=H.PERMITTED)
        elif role == "step_father":
            book.add(C.POLICE_ARREST_CHARGE, 900, "Arrested: possession of a controlled drug. Caution.",
                     codes=("DRUGS",), attributes={"outcome": "caution"}, handling=H.PERMITTED)
    elif scenario is Scenario.NICKNAME:
        if role == "child":
            book.add(C.POLICE_CHILD_COMING_TO_NOTICE, 50, "Child found wandering near the canal; returned to father.",
                     codes=("CCTN",), handling=H.PERMITTED)
    elif scenario is Scenario.LOOKED_AFTER:
        if role == "child":
            book.add(C.POLICE_MISSING_EPISODE, 20, "Missing from placement for two days.", ended_days_ago=18,
                     codes=("MISSING",), attributes={"risk": "high"}, handling=H.PERMITTED)
            book.add(C.POLICE_CHILD_COMING_TO_NOTICE, 18, "Child coming to notice: criminal exploitation concerns.",
                     codes=("CCTN", "CCE"), handling=H.CONDITIONS)
            flags.add(LIVE_INVESTIGATION)
    elif scenario is Scenario.FILLER and role in ("mother", "father"):
        # Only some filler adults have a police history; decided by the id so it is stable.
        if p.police_id and int(p.police_id[-1]) % 3 == 0:
            book.add(C.POLICE_DOMESTIC_ABUSE_INCIDENT, 300, "Historic domestic incident; no further action.",
                     codes=("DA",), handling=H.PERMITTED)
