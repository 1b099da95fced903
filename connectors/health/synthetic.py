"""Synthetic health data for simulators, tests, benchmarks and the demo.

Every person here is made up: NHS numbers are drawn from the 999 test range
and pass modulus 11, names and addresses come from small invented lists, and
generation is seeded so a test or benchmark sees the same people every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from ...mapping.paths.hl7_er7 import escape_text
from ...schemas.identifiers import nhs_check_digit

FAMILY = ["Ashdown", "Brightwell", "Calloway", "Dunmore", "Elstow", "Fairbanks", "Greywell", "Holloway",
          "Ingleby", "Jessop", "Kettering", "Lowther", "Marchant", "Northcote", "O'Rourke", "Pennant"]
GIVEN_F = ["Amelia", "Bethany", "Chloe", "Daisy", "Ellie", "Freya", "Grace", "Harriet", "Isla", "Jade"]
GIVEN_M = ["Alfie", "Ben", "Callum", "Dylan", "Ethan", "Finley", "George", "Harry", "Isaac", "Jack"]
STREETS = ["Acacia Avenue", "Beech Road", "Chapel Lane", "Dover Street", "Elm Close", "Fern Way"]
TOWNS = ["Synthtown", "Mockford", "Fakeley", "Testbury"]
PRACTICES = [("Synthtown Surgery", "Y90001"), ("Mockford Medical Centre", "Y90002"), ("Fakeley Health", "Y90003")]


def synthetic_nhs_number(rng: random.Random) -> str:
    """A 999-range NHS number that passes modulus 11."""
    while True:
        nine = "999" + "".join(str(rng.randrange(10)) for _ in range(6))
        check = nhs_check_digit(nine)
        if check is not None:
            return f"{nine}{check}"


def corrupt_nhs_number(value: str) -> str:
    """The same number with its check digit changed, so it fails modulus 11."""
    return value[:9] + str((int(value[9]) + 1) % 10)


@dataclass
class SyntheticPatient:
    nhs_number: str
    mrn: str
    family: str
    given: str
    middle: str
    birth_date: date
    sex: str  # HL7 table 0001: M / F
    line1: str
    line2: str
    town: str
    postcode: str
    gp_name: str
    gp_code: str
    mother_given: str
    verification: str = "NSTS01"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def fhir_gender(self) -> str:
        return {"M": "male", "F": "female"}.get(self.sex, "unknown")


def synthetic_patients(count: int, seed: int = 7, *, child_share: float = 0.7,
                       as_of: date | None = None) -> list[SyntheticPatient]:
    """``count`` made-up patients; about ``child_share`` of them under 18 on ``as_of`` (default today).

    Dates of birth count back from ``as_of``, so two calls with the same seed
    describe the same people only on the same day: callers that build the
    patients twice (a seeded store and the test that refers them) pass one date.
    """
    rng = random.Random(seed)
    today = as_of or date.today()
    out: list[SyntheticPatient] = []
    for i in range(count):
        sex = rng.choice("MF")
        child = rng.random() < child_share
        age_days = rng.randrange(200, 17 * 365) if child else rng.randrange(19 * 365, 80 * 365)
        out.append(
            SyntheticPatient(
                nhs_number=synthetic_nhs_number(rng),
                mrn=f"RXX{100000 + i:07d}",
                family=rng.choice(FAMILY),
                given=rng.choice(GIVEN_F if sex == "F" else GIVEN_M),
                middle=rng.choice(GIVEN_F if sex == "F" else GIVEN_M),
                birth_date=today - timedelta(days=age_days),
                sex=sex,
                line1=f"{rng.randrange(1, 200)} {rng.choice(STREETS)}",
                line2=rng.choice(["", "Flat 2", "Rose Cottage"]),
                town=rng.choice(TOWNS),
                postcode=f"SY{rng.randrange(1, 9)} {rng.randrange(1, 9)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}",
                gp_name=rng.choice(PRACTICES)[0],
                gp_code=rng.choice(PRACTICES)[1],
                mother_given=rng.choice(GIVEN_F),
            )
        )
    return out


def _fields(values: dict[int, str], name: str) -> str:
    top = max(values)
    return "|".join([name, *(values.get(i, "") for i in range(1, top + 1))])


def hl7_ts(when: datetime | date) -> str:
    if isinstance(when, datetime):
        return when.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S+0000")
    return when.strftime("%Y%m%d")


def pid_segment(p: SyntheticPatient, nhs_number: str | None = None) -> str:
    e = escape_text
    return _fields(
        {
            1: "1",
            3: f"{p.mrn}^^^RXX01^MR~{nhs_number or p.nhs_number}^^^NHS^NH",
            5: f"{e(p.family)}^{e(p.given)}^{e(p.middle)}^^{'MISS' if p.sex == 'F' else 'MASTER'}^^L",
            7: hl7_ts(p.birth_date),
            8: p.sex,
            11: f"{e(p.line1)}^{e(p.line2)}^{p.town}^^{p.postcode}^GBR^H",
            13: "01632 960000",
            32: p.verification,
        },
        "PID",
    )


def adt_message(
    p: SyntheticPatient,
    trigger: str = "A04",
    *,
    control_id: str = "MSG00001",
    emergency: bool = True,
    when: datetime | None = None,
    separator: str = "\r",
    version: str = "2.4",
    nhs_number: str | None = None,
    merged_from: str | None = None,
) -> str:
    """A synthetic ADT message (A01/A03/A04/A08/A28/A31/A40) for one patient."""
    when = when or datetime.now(timezone.utc) - timedelta(minutes=5)
    structure = {"A01": "ADT_A01", "A04": "ADT_A01", "A08": "ADT_A01", "A03": "ADT_A03",
                 "A28": "ADT_A05", "A31": "ADT_A05", "A40": "ADT_A39"}.get(trigger, "ADT_A01")
    msh = (f"MSH|^~\\&|SYNTHPAS|RXX01|MASHLINK|LA999|{hl7_ts(when)}||ADT^{trigger}^{structure}|"
           f"{control_id}|P|{version}|||AL|NE")
    segs = [msh, f"EVN|{trigger}|{hl7_ts(when)}", pid_segment(p, nhs_number),
            f"PD1|||{escape_text(p.gp_name)}^^{p.gp_code}|G9999998^Doctor^Synth"]
    if trigger == "A40":
        segs.append(f"MRG|{merged_from or 'RXX9999999'}^^^RXX01^MR")
    elif trigger not in ("A28", "A31"):
        segs.append(
            f"NK1|1|{escape_text(p.family)}^{p.mother_given}|MTH^Mother|{escape_text(p.line1)}^^{p.town}^^{p.postcode}|01632 960001"
        )
    if trigger not in ("A28", "A31", "A40"):
        pclass, loc = ("E", "ED^BAY1^1^RXX01") if emergency else ("I", "WARD7^BED2^1^RXX01")
        pv1 = {1: "1", 2: pclass, 3: loc, 10: "180" if emergency else "420", 19: f"V{control_id[-6:]}",
               44: hl7_ts(when)}
        if trigger == "A03":
            pv1[45] = hl7_ts(when + timedelta(hours=3))
        segs.append(_fields(pv1, "PV1"))
    return separator.join(segs)


def patient_person(p: SyntheticPatient, person_id: str = "patient") -> "Person":
    """The synthetic patient as a canonical ``Person`` (for enquiries and simulated answers)."""
    from ...schemas.identifiers import Identifier, IdentifierSystem
    from ...schemas.person import Address, BirthDate, HumanName, Person
    from ...schemas.codes import Sex

    return Person(
        person_id=person_id,
        names=[HumanName(family=p.family, given=[p.given, p.middle])],
        birth_date=BirthDate(value=p.birth_date),
        sex=Sex.FEMALE if p.sex == "F" else Sex.MALE,
        identifiers=[
            Identifier(system=IdentifierSystem.NHS_NUMBER, value=p.nhs_number),
            Identifier(system=IdentifierSystem.HOSPITAL_MRN, value=p.mrn, scope="RXX01"),
        ],
        addresses=[Address(lines=[x for x in (p.line1, p.line2) if x], town=p.town, postcode=p.postcode)],
    )
