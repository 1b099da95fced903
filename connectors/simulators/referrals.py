"""Synthetic referrals about the synthetic population, for the demo and tests.

``demo_referrals`` gives a small, fixed cast that exercises the hard paths
(a red referral, an unborn child, a changed surname, a nickname, twins, a
misspelt name); ``bulk_referrals`` gives many ordinary ones for load tests.
Both are deterministic for a population and a ``now``: ids are uuid5 over the
population seed, so a rerun produces the same referral ids.

Referrals describe people as a *referrer* would: the name the child is known
by, the current surname, only the identifiers a referrer tends to have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .population import Population, Scenario
from ...schemas.codes import ConcernCategory as CC, ConsentStatus, LawfulBasis as LB, Rag, ReferralSource
from ...schemas.identifiers import IdentifierSystem
from ...schemas.person import Person
from ...schemas.referral import Consent, RagChange, Referral

CONSENT_NOT_SOUGHT = (
    "Consent not sought: seeking it would alert the alleged perpetrator and place the child at "
    "risk of significant harm (recorded by MASH screening)."
)
# Each is sufficient for all four agency kinds under the default lawful-basis rules
# (the police Part 3 route is DPA 2018 s35 with Sch 8 para 4).
_S47_BASIS = [LB.CHILDREN_ACT_1989_S47, LB.CHILDREN_ACT_2004_S11, LB.UK_GDPR_6_1_E, LB.UK_GDPR_9_2_G,
              LB.DPA_2018_SCH1_PARA18, LB.DPA_2018_S35, LB.DPA_2018_SCH8_PARA4]
_S17_BASIS = [LB.CHILDREN_ACT_1989_S17, LB.CHILDREN_ACT_2004_S10, LB.UK_GDPR_6_1_E, LB.UK_GDPR_9_2_G,
              LB.DPA_2018_SCH1_PARA18, LB.DPA_2018_S35, LB.DPA_2018_SCH8_PARA4]


@dataclass(frozen=True)
class _Subject:
    key: str
    nickname: bool = False
    identifiers: tuple[IdentifierSystem, ...] = ()


def _referral(
    population: Population,
    *,
    referral_id: str,
    now: datetime,
    rag: Rag,
    source: ReferralSource,
    referrer: str,
    concerns: list[CC],
    narrative: str,
    subjects: list[_Subject],
    household: list[str],
    household_ids: tuple[IdentifierSystem, ...] = (),
) -> Referral:
    people_subjects: list[Person] = [
        population.as_person(s.key, use_nickname=s.nickname, identifiers=s.identifiers) for s in subjects
    ]
    people_household = [population.as_person(k, identifiers=household_ids) for k in household]
    keys = {s.key for s in subjects} | set(household)
    family_id = subjects[0].key.split("-", 1)[0]
    return Referral(
        referral_id=referral_id,
        received_at=now - timedelta(minutes=30),
        local_authority=population.la_code,
        source=source,
        referrer=referrer,
        concerns=concerns,
        narrative=narrative,
        subjects=people_subjects,
        household=people_household,
        relationships=population.relationships(family_id, keys),
        rag_history=[RagChange(rag=rag, at=now - timedelta(minutes=10), by="MASH screening",
                               reason=f"Rated {rag.value} at screening")],
        lawful_basis=_S47_BASIS if rag is Rag.RED else _S17_BASIS,
        consent=Consent(status=ConsentStatus.NOT_SOUGHT, reason=CONSENT_NOT_SOUGHT, recorded_by="MASH screening",
                        decided_by="MASH screening", decided_at=now - timedelta(minutes=10),
                        authorised_by="MASH team manager"),
    )


def demo_referrals(population: Population, now: datetime) -> list[Referral]:
    """Six referrals: red, unborn (amber), amber, green (nickname), green (twin), green (typo).

    Order is stable; index 0 is always the red one. Household adults and
    relationships come from the family; consent is ``not_sought`` with reason.
    """
    f01 = population.by_scenario(Scenario.RED_DOMESTIC_ABUSE).family_id
    f02 = population.by_scenario(Scenario.UNBORN).family_id
    f03 = population.by_scenario(Scenario.TWINS).family_id
    f04 = population.by_scenario(Scenario.CHANGED_SURNAME).family_id
    f05 = population.by_scenario(Scenario.NICKNAME).family_id
    f06 = population.by_scenario(Scenario.TYPO).family_id
    sid = population.stable_id
    return [
        _referral(
            population, referral_id=sid("demo", "red"), now=now, rag=Rag.RED, source=ReferralSource.POLICE,
            referrer="Synthshire Police MASH", concerns=[CC.DOMESTIC_ABUSE, CC.CHILD_SEXUAL_EXPLOITATION, CC.MISSING],
            narrative="Police attended a domestic incident overnight; mother injured; the older child was "
                      "missing for a night last week. Synthetic test narrative.",
            subjects=[_Subject(f"{f01}-C1", identifiers=(IdentifierSystem.UPN,)), _Subject(f"{f01}-C2")],
            household=[f"{f01}-M", f"{f01}-P"],
        ),
        _referral(
            population, referral_id=sid("demo", "unborn"), now=now, rag=Rag.AMBER,
            source=ReferralSource.HEALTH_OTHER, referrer="Synthshire maternity safeguarding team",
            concerns=[CC.DOMESTIC_ABUSE, CC.NEGLECT],
            narrative="Late booking, missed antenatal appointments, past domestic abuse. Synthetic test narrative.",
            subjects=[_Subject(f"{f02}-U1"), _Subject(f"{f02}-C1")],
            household=[f"{f02}-M", f"{f02}-F"], household_ids=(IdentifierSystem.NHS_NUMBER,),
        ),
        _referral(
            population, referral_id=sid("demo", "amber"), now=now, rag=Rag.AMBER, source=ReferralSource.SCHOOLS,
            referrer="Synthbridge Academy DSL", concerns=[CC.PHYSICAL_ABUSE],
            narrative="Bruising noticed in PE; account inconsistent. Synthetic test narrative.",
            subjects=[_Subject(f"{f04}-C1")], household=[f"{f04}-M", f"{f04}-S"],
        ),
        _referral(
            population, referral_id=sid("demo", "green"), now=now, rag=Rag.GREEN, source=ReferralSource.HEALTH_GP,
            referrer="Synthbridge GP practice", concerns=[CC.NEGLECT],
            narrative="Missed appointments and poor hygiene. Synthetic test narrative.",
            subjects=[_Subject(f"{f05}-C1", nickname=True)], household=[f"{f05}-F"],
        ),
        _referral(
            population, referral_id=sid("demo", "twin"), now=now, rag=Rag.GREEN,
            source=ReferralSource.EDUCATION_SERVICES, referrer="SEN team", concerns=[CC.NEGLECT],
            narrative="Concerns about unmet needs at home. Synthetic test narrative.",
            subjects=[_Subject(f"{f03}-C2")], household=[f"{f03}-M"],
        ),
        _referral(
            population, referral_id=sid("demo", "typo"), now=now, rag=Rag.GREEN,
            source=ReferralSource.HEALTH_VISITOR, referrer="Health visiting team", concerns=[CC.NEGLECT],
            narrative="Accidental ingestion; supervision concerns. Synthetic test narrative.",
            subjects=[_Subject(f"{f06}-C1", identifiers=(IdentifierSystem.NHS_NUMBER,))], household=[f"{f06}-M"],
        ),
    ]


def bulk_referrals(population: Population, n: int, now: datetime, *, rag: Rag | None = None) -> list[Referral]:
    """``n`` ordinary referrals cycling through the population's born children.

    Without ``rag`` one in ten is red, three amber, six green (by index, so
    the mix is the same every run). Each names one child, the family's
    adults as household, and has a distinct referral id.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    children = [p for p in population.people() if p.role == "child"]
    out = []
    for i in range(n):
        child = children[i % len(children)]
        family = population.family(child.family_id)
        rating = rag or (Rag.RED if i % 10 == 0 else Rag.AMBER if i % 10 in (1, 2, 3) else Rag.GREEN)
        out.append(
            _referral(
                population, referral_id=population.stable_id("bulk", i), now=now, rag=rating,
                source=ReferralSource.SCHOOLS, referrer="Synthetic load test", concerns=[CC.NEGLECT],
                narrative="", subjects=[_Subject(child.key, identifiers=(IdentifierSystem.NHS_NUMBER,))],
                household=[a.key for a in family.adults],
            )
        )
    return out
