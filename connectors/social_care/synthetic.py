"""Synthetic CIN census and SSDA903 extracts for tests, demos and benchmarks.

Everything here is made up: LA child ids, NHS numbers in the 999 test range
that pass modulus 11, UPNs with correct check letters, invented names. Files
are written incrementally, so a 1 GB census can be generated without holding
it in memory.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import IO

from ...schemas.identifiers import nhs_check_digit, upn_check_letter

_FACTORS = ["3A", "3B", "10A", "11A", "24A", "1B", "4B", "2B", "16A", "21"]
_SOURCES = ["1A", "2A", "3A", "3E", "5A", "6", "8", "9"]
_CATEGORIES = ["NEG", "PHY", "SAB", "EMO", "MUL"]
_GIVEN = ["Ava", "Ben", "Cara", "Dev", "Ella", "Finn", "Gina", "Harry", "Isla", "Jack"]
_FAMILY = ["Testerson", "Sampleton", "Exampleby", "Mockridge", "Fakeham", "Dummett"]


def synthetic_nhs_number(n: int) -> str:
    """The ``n``-th valid 999-range NHS number (deterministic)."""
    i = n
    while True:
        body = f"999{i % 1_000_000:06d}"
        check = nhs_check_digit(body)
        if check is not None:
            return body + str(check)
        i += 1_000_003


def synthetic_upn(la_code: str, n: int) -> str:
    """A permanent UPN with a correct check letter."""
    body = f"{la_code[:3]:0>3}{n % 10**9:09d}"
    return upn_check_letter(body) + body


@dataclass(frozen=True)
class CinChild:
    la_child_id: str
    birth_date: date | None
    expected_birth_date: date | None
    sex: str
    upn: str | None
    nhs_number: str | None
    given: str | None
    family: str | None


def cin_child_xml(child: CinChild, rng: random.Random, *, referrals: int = 1, with_names: bool = True,
                  extensions: bool = True) -> str:
    """One ``<Child>`` element as text in the DfE 2023/24 shape.

    ``extensions`` adds what many LA extracts carry but the DfE schema does
    not (NHS number and names inside ``ChildIdentifiers``); without
    them the child validates against the DfE schema.
    """
    ids = [f"<LAchildID>{child.la_child_id}</LAchildID>"]
    if child.upn:
        ids.append(f"<UPN>{child.upn}</UPN>")
    else:
        ids.append("<UPNunknown>UN1</UPNunknown>")
    if child.birth_date:
        ids.append(f"<PersonBirthDate>{child.birth_date.isoformat()}</PersonBirthDate>")
    if child.expected_birth_date:
        ids.append(f"<ExpectedPersonBirthDate>{child.expected_birth_date.isoformat()}</ExpectedPersonBirthDate>")
    ids.append(f"<GenderCurrent>{child.sex}</GenderCurrent>")
    if extensions and child.nhs_number:
        ids.append(f"<NHSNumber>{child.nhs_number}</NHSNumber>")
    if extensions and with_names and child.given:
        ids.append(f"<Forename>{child.given}</Forename><Surname>{child.family}</Surname>")
    parts = [f"<Child><ChildIdentifiers>{''.join(ids)}</ChildIdentifiers>",
             "<ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>"]
    start = (child.birth_date or date(2024, 1, 1)) + timedelta(days=200)
    for r in range(referrals):
        ref = start + timedelta(days=90 * r)
        picked = rng.sample(_FACTORS, 2)
        if "21" in picked:  # "21 no factors identified" stands alone (DfE validation rule 8869)
            picked = ["21"]
        factors = "".join(f"<AssessmentFactors>{f}</AssessmentFactors>" for f in picked)
        category = rng.choice(_CATEGORIES)
        parts.append(
            "<CINdetails>"
            f"<CINreferralDate>{ref.isoformat()}</CINreferralDate>"
            f"<ReferralSource>{rng.choice(_SOURCES)}</ReferralSource>"
            "<PrimaryNeedCode>N1</PrimaryNeedCode>"
            f"<Assessments><AssessmentActualStartDate>{(ref + timedelta(days=2)).isoformat()}"
            f"</AssessmentActualStartDate><AssessmentAuthorisationDate>{(ref + timedelta(days=30)).isoformat()}"
            f"</AssessmentAuthorisationDate><FactorsIdentifiedAtAssessment>{factors}"
            "</FactorsIdentifiedAtAssessment></Assessments>"
            f"<Section47><S47ActualStartDate>{(ref + timedelta(days=5)).isoformat()}</S47ActualStartDate>"
            f"<DateOfInitialCPC>{(ref + timedelta(days=15)).isoformat()}</DateOfInitialCPC>"
            "<ICPCnotRequired>false</ICPCnotRequired></Section47>"
            "<ReferralNFA>false</ReferralNFA>"
            f"<ChildProtectionPlans><CPPstartDate>{(ref + timedelta(days=15)).isoformat()}</CPPstartDate>"
            f"<InitialCategoryOfAbuse>{category}</InitialCategoryOfAbuse>"
            f"<LatestCategoryOfAbuse>{category}</LatestCategoryOfAbuse>"
            "<NumberOfPreviousCPP>1</NumberOfPreviousCPP>"  # xs:positiveInteger in the DfE schema
            f"<Reviews><CPPreviewDate>{(ref + timedelta(days=60)).isoformat()}</CPPreviewDate></Reviews>"
            "</ChildProtectionPlans>"
            "</CINdetails>"
        )
    parts.append("</Child>")
    return "".join(parts)


def cin_header_xml(la_code: str) -> str:
    return ("<Header><CollectionDetails><Collection>CIN</Collection><Year>2024</Year>"
            "<ReferenceDate>2024-03-31</ReferenceDate></CollectionDetails>"
            f"<Source><SourceLevel>L</SourceLevel><LEA>{la_code}</LEA><SoftwareCode>Synthetic CMS</SoftwareCode>"
            "<Release>1</Release><SerialNo>001</SerialNo><DateTime>2024-05-01T09:00:00</DateTime></Source>"
            "</Header>")


def synthetic_children(la_code: str, count: int, seed: int = 11) -> Iterator[CinChild]:
    rng = random.Random(seed)
    for i in range(count):
        born = date(2008, 1, 1) + timedelta(days=rng.randint(0, 5500))
        yield CinChild(
            la_child_id=f"CH{i:07d}", birth_date=born, expected_birth_date=None, sex=rng.choice("12"),
            upn=synthetic_upn(la_code, i), nhs_number=synthetic_nhs_number(i),
            given=rng.choice(_GIVEN), family=rng.choice(_FAMILY),
        )


def write_cin_file(out: IO[str] | Path, *, la_code: str = "999", children: int | None = None,
                   target_bytes: int | None = None, seed: int = 11, referrals: int = 2,
                   extensions: bool = True) -> int:
    """Write a CIN census with ``children`` children, or until about ``target_bytes``; returns children written.

    ``extensions=False`` writes only what the DfE schema defines (the file then validates against it).
    """
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8") as fh:
            return write_cin_file(fh, la_code=la_code, children=children, target_bytes=target_bytes, seed=seed,
                                  referrals=referrals, extensions=extensions)
    rng = random.Random(seed)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n<Message>')
    out.write(cin_header_xml(la_code))
    out.write("<Children>\n")
    written = 0
    size = 0
    limit = children if children is not None else 10**12
    for child in synthetic_children(la_code, limit, seed):
        if target_bytes is not None and size >= target_bytes:
            break
        text = cin_child_xml(child, rng, referrals=referrals, extensions=extensions) + "\n"
        out.write(text)
        size += len(text)
        written += 1
    out.write("</Children></Message>\n")
    return written
