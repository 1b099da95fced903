"""The "New referral" page: a practitioner types in a contact as the MASH receives it.

``GET /workspace/referrals/new`` shows the form; ``POST`` builds the canonical
``Referral`` from it and submits it with ``HubService.submit_referral`` (the
same validation, lawful-basis check, storage and fan-out as ``POST
/referrals``), then redirects to the referral's page.

The form works without JavaScript:

* Children and household members are numbered blocks (``child-1-given``,
  ``adult-2-relationship`` ...). "Add another child" / "Add another household
  member" are submit buttons that re-render the form with one more blank block
  (the GOV.UK "add another" pattern without script); a block left blank is
  ignored. Pressing Enter in a field submits the referral, never "add
  another": a hidden copy of the main button is the form's first (default)
  submit button.
* Born / unborn is a pair of radios, followed by the date of birth (if born)
  and the expected date and mother (if unborn); the fields that do not apply
  are ignored. No GOV.UK conditional reveal: its script sets aria-expanded on
  the radio, which ARIA 1.2 does not allow there.

Every problem, whether found reading the form (a date that is not a real date),
by the canonical model (pydantic) or by the hub (``InvalidInput``, e.g. the
lawful basis not covering an agency), is mapped back to the field it concerns:
listed in the error summary (linking to the field's id) and shown next to the
field, with everything typed kept.

Identifiers: a value whose *format* is wrong (an NHS number that is not 10
digits) is refused: it is a typo. A well-formed NHS number or UPN that fails
its check digit is shown back with a warning once; submitted again unchanged,
it is accepted and stored flagged ``check="failed"`` (the hub's rule: kept for
an analyst, never used to match), because the referrer may have given exactly
that number and dropping it would lose evidence.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ....config.security import Permission
from ....config.settings import MashlinkSettings
from ....hub.access import actor_of
from ....hub.auth.authorise import authorise
from ....hub.auth.principal import Principal
from ....hub.errors import Conflict, InvalidInput
from ..render import render
from .common import PageForbidden, Workspace
from .formatting import LONDON
from ....schemas.codes import (
    ConcernCategory,
    ConsentStatus,
    LawfulBasis,
    Purpose,
    Rag,
    ReferralSource,
    RelationshipType,
    Sex,
)
from ....schemas.referral import CONSENT_DECISION_STATUSES, Referral

router = APIRouter(include_in_schema=False)

PATH = "/workspace/referrals/new"
#: Most children / household members one form takes (a referral naming more is split or sent through the API).
MAX_BLOCKS = 20
#: Longest value read from any form field (the model's own limits are checked after).
MAX_FIELD = 20000

SOURCES: dict[ReferralSource, str] = {
    ReferralSource.INDIVIDUAL_FAMILY: "Individual: family member, relative or carer",
    ReferralSource.INDIVIDUAL_ACQUAINTANCE: "Individual: acquaintance (including neighbours and child minders)",
    ReferralSource.INDIVIDUAL_SELF: "Individual: self",
    ReferralSource.INDIVIDUAL_OTHER: "Individual: other",
    ReferralSource.SCHOOLS: "Schools",
    ReferralSource.EDUCATION_SERVICES: "Education services",
    ReferralSource.HEALTH_GP: "Health services: GP",
    ReferralSource.HEALTH_VISITOR: "Health services: health visitor",
    ReferralSource.HEALTH_SCHOOL_NURSE: "Health services: school nurse",
    ReferralSource.HEALTH_OTHER_PRIMARY: "Health services: other primary health services",
    ReferralSource.HEALTH_A_AND_E: "Health services: A&E (emergency department)",
    ReferralSource.HEALTH_OTHER: "Health services: other",
    ReferralSource.HOUSING: "Housing (LA housing or housing association)",
    ReferralSource.LA_SOCIAL_CARE: "LA services: social care (e.g. adults' social care)",
    ReferralSource.LA_OTHER_INTERNAL: "LA services: other internal department",
    ReferralSource.LA_EXTERNAL: "LA services: external (e.g. another LA's children's social care)",
    ReferralSource.LA_EARLY_HELP: "LA services: early help",
    ReferralSource.POLICE: "Police",
    ReferralSource.OTHER_LEGAL_AGENCY: "Other legal agency (courts, probation, immigration, CAFCASS, prison)",
    ReferralSource.OTHER: "Other",
    ReferralSource.ANONYMOUS: "Anonymous",
    ReferralSource.UNKNOWN: "Unknown",
}

CONCERNS: dict[ConcernCategory, str] = {
    ConcernCategory.NEGLECT: "Neglect",
    ConcernCategory.PHYSICAL_ABUSE: "Physical abuse",
    ConcernCategory.EMOTIONAL_ABUSE: "Emotional abuse",
    ConcernCategory.SEXUAL_ABUSE: "Sexual abuse",
    ConcernCategory.DOMESTIC_ABUSE: "Domestic abuse",
    ConcernCategory.CHILD_SEXUAL_EXPLOITATION: "Child sexual exploitation",
    ConcernCategory.CHILD_CRIMINAL_EXPLOITATION: "Child criminal exploitation",
    ConcernCategory.MISSING: "Missing episodes",
    ConcernCategory.FGM: "Female genital mutilation (FGM)",
    ConcernCategory.RADICALISATION: "Radicalisation",
    ConcernCategory.OTHER: "Other",
}

LAWFUL_BASES: dict[LawfulBasis, str] = {
    LawfulBasis.CHILDREN_ACT_1989_S17: "Children Act 1989 s17: services for children in need",
    LawfulBasis.CHILDREN_ACT_1989_S47: "Children Act 1989 s47: enquiries where a child may suffer significant harm",
    LawfulBasis.CHILDREN_ACT_2004_S10: "Children Act 2004 s10: co-operation to improve well-being",
    LawfulBasis.CHILDREN_ACT_2004_S11: "Children Act 2004 s11: duty to safeguard and promote welfare",
    LawfulBasis.EDUCATION_ACT_2002_S175: "Education Act 2002 s175: safeguarding duty of LAs and schools",
    LawfulBasis.UK_GDPR_6_1_E: "UK GDPR Article 6(1)(e): public task",
    LawfulBasis.UK_GDPR_9_2_G: "UK GDPR Article 9(2)(g): substantial public interest",
    LawfulBasis.UK_GDPR_9_2_H: "UK GDPR Article 9(2)(h): health or social care",
    LawfulBasis.DPA_2018_SCH1_PARA2: "DPA 2018 Schedule 1 para 2: health or social care purposes",
    LawfulBasis.DPA_2018_SCH1_PARA18: "DPA 2018 Schedule 1 para 18: safeguarding of children",
    LawfulBasis.DPA_2018_S35: "DPA 2018 s35: law enforcement processing (police)",
    LawfulBasis.DPA_2018_SCH8_PARA4: "DPA 2018 Schedule 8 para 4: safeguarding of children (police)",
}

#: The documented default basis (the same set as tests/lawful_support.py SAFEGUARDING_BASIS): under the
#: shipped rules it covers every agency kind and the purposes mash_screening, section_47_enquiry,
#: strategy_discussion and immediate_protection. ``default_lawful_basis`` adds whatever a hub's own
#: ``lawful_basis_rules`` require on top.
DEFAULT_BASIS: tuple[LawfulBasis, ...] = (
    LawfulBasis.CHILDREN_ACT_1989_S47, LawfulBasis.CHILDREN_ACT_2004_S11, LawfulBasis.UK_GDPR_6_1_E,
    LawfulBasis.UK_GDPR_9_2_G, LawfulBasis.DPA_2018_SCH1_PARA18, LawfulBasis.DPA_2018_S35,
    LawfulBasis.DPA_2018_SCH8_PARA4,
)

PURPOSES: dict[Purpose, tuple[str, str]] = {
    Purpose.MASH_SCREENING: ("MASH screening", "Deciding the response to this contact (the usual purpose)"),
    Purpose.EARLY_HELP: ("Early help", "Early help assessment and support (needs Children Act 2004 s10)"),
    Purpose.SECTION_17_ASSESSMENT: ("Section 17 assessment", "Child in need assessment (needs Children Act 1989 s17)"),
    Purpose.STRATEGY_DISCUSSION: ("Strategy discussion", "Reasonable cause to suspect significant harm (needs s47)"),
    Purpose.SECTION_47_ENQUIRY: ("Section 47 enquiry", "Child protection enquiry (needs Children Act 1989 s47)"),
    Purpose.IMMEDIATE_PROTECTION: ("Immediate protection", "Emergency action, then a strategy discussion (needs s47)"),
}

CONSENTS: dict[ConsentStatus, tuple[str, str]] = {
    ConsentStatus.GIVEN: ("Given", "The family agreed to information being shared"),
    ConsentStatus.NOT_SOUGHT: ("Not sought", "Seeking it would place the child at risk, prejudice enquiries, "
                                             "or it cannot reasonably be obtained"),
    ConsentStatus.REFUSED: ("Refused", "Sought and refused or withdrawn"),
    ConsentStatus.OVERRIDDEN: ("Refused and overridden", "Shared without consent because the child's safety "
                                                         "comes first"),
}

SEXES: dict[Sex, str] = {Sex.FEMALE: "Female", Sex.MALE: "Male", Sex.OTHER: "Other", Sex.UNKNOWN: "Not known"}

#: Household member's relationship to the children: form value -> (label, canonical type).
RELATIONSHIPS: dict[str, tuple[str, RelationshipType]] = {
    "mother": ("Mother", RelationshipType.MOTHER),
    "father": ("Father", RelationshipType.FATHER),
    "partner": ("Partner of a parent", RelationshipType.PARTNER_OF_PARENT),
    "other": ("Other household member", RelationshipType.HOUSEHOLD_MEMBER),
}

#: Canonical field (first element of a model / hub problem location) -> the form field it concerns.
TOP_FIELDS: dict[str, str] = {
    "local_authority": "la", "source": "source", "referrer": "referrer", "concerns": "concerns",
    "narrative": "narrative", "lawful_basis": "lawful-basis", "purpose": "purpose", "rag_history": "rag",
    "subjects": "child-1-given", "household": "adult-1-given",
}
CONSENT_FIELDS: dict[str, str] = {
    "status": "consent", "reason": "consent-reason", "decided_by": "consent-decided-by",
    "decided_at": "consent-decided-at", "authorised_by": "consent-authorised-by", "recorded_by": "consent",
}
#: What a field is called in a message that has no better wording.
FIELD_NAMES: dict[str, str] = {
    "la": "Local authority", "source": "Referral source", "referrer": "Referred by", "rag": "RAG rating",
    "rag-reason": "Reason for the rating", "concerns": "Concerns", "narrative": "What the referrer said",
    "lawful-basis": "Lawful basis", "purpose": "Purpose", "consent": "Consent",
    "consent-reason": "Reason", "consent-decided-by": "Decided by", "consent-authorised-by": "Authorised by",
    "consent-decided-at": "Decision date",
}
BLOCK_FIELDS: dict[str, str] = {
    "given": "Given names", "family": "Family name", "dob": "Date of birth", "edd": "Expected date of birth",
    "mother": "Mother", "sex": "Sex", "nhs": "NHS number", "upn": "UPN", "la-id": "LA child id",
    "status": "Born or unborn", "relationship": "Relationship",
}
#: Date inputs: the group id is the prefix of its day/month/year inputs.
DATE_GROUPS = re.compile(r"^(child-\d+-(dob|edd)|adult-\d+-dob|consent-decided-at)$")
NHS_FORMAT = re.compile(r"^\d{10}$")
UPN_FORMAT = re.compile(r"^[A-Z]\d{11}[0-9A-Z]$|^UN[1-7]$")
TIME_FORMAT = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
DIGITS = re.compile(r"^[0-9]{1,4}$")


# --------------------------------------------------------------------------------------- problems

@dataclass
class Problems:
    """What is wrong with the form: the summary list, the message beside each field, the inputs to style."""

    errors: list[dict[str, str]] = field(default_factory=list)  # {"field": link target id, "text"}
    messages: dict[str, str] = field(default_factory=dict)  # field (group) id -> message beside it
    highlight: set[str] = field(default_factory=set)  # input ids drawn with the error border
    warned: dict[str, str] = field(default_factory=dict)  # identifier field id -> value warned about
    explained: set[str] = field(default_factory=set)  # fields whose later problems another message explains

    def add(self, group: str, text: str, *, target: str | None = None, parts: Iterable[str] = (),
            where: str = "") -> None:
        """The first problem of a field wins (later ones are usually consequences of it)."""
        if group in self.messages or group in self.explained:
            return
        if DATE_GROUPS.match(group) and target is None:
            target, parts = f"{group}-day", [f"{group}-{p}" for p in ("day", "month", "year")]
        self.messages[group] = text
        self.errors.append({"field": target or group, "text": f"{where}: {text}" if where else text})
        self.highlight.update(parts or [target or group])

    def __bool__(self) -> bool:
        return bool(self.errors)


def _lower_first(text: str) -> str:
    """``Date of birth must ...`` -> ``date of birth must ...`` (kept for acronyms: ``NHS number ...``)."""
    head = text.split(" ", 1)[0]
    return text if head.isupper() or head[:1].islower() else text[:1].lower() + text[1:]


# --------------------------------------------------------------------------------------- form values

class Values:
    """The posted (or default) values, as plain strings; what the page shows back."""

    def __init__(self, single: Mapping[str, str], lists: Mapping[str, list[str]]) -> None:
        self.single = dict(single)
        self.lists = {k: list(v) for k, v in lists.items()}

    @classmethod
    def of(cls, form: FormData) -> "Values":
        single: dict[str, str] = {}
        lists: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if not isinstance(value, str) or len(key) > 64:
                continue
            text = value[:MAX_FIELD]
            single.setdefault(key, text)
            lists.setdefault(key, []).append(text)
        return cls(single, lists)

    def get(self, key: str, default: str = "") -> str:
        return self.single.get(key, default)

    def text(self, key: str) -> str:
        return self.single.get(key, "").strip()

    def many(self, key: str) -> list[str]:
        return self.lists.get(key, [])

    def count(self, key: str) -> int:
        raw = self.text(key)
        return min(max(int(raw), 1), MAX_BLOCKS) if raw.isdigit() and len(raw) < 4 else 1


def default_lawful_basis(settings: MashlinkSettings) -> list[LawfulBasis]:
    """The basis pre-ticked on a new form: ``DEFAULT_BASIS`` plus what the configured rules need on top.

    For every enabled agency's kind (and the default purpose, MASH screening)
    each requirement the set does not yet meet adds its shortest alternative,
    so the pre-ticked basis passes the hub's check for all configured agencies.
    """
    chosen = list(DEFAULT_BASIS)
    rules = settings.lawful_basis_rules
    kinds = dict.fromkeys(a.kind for a in settings.enabled_agencies())
    requirements = [r for kind in kinds for r in rules.for_kind(kind)] + rules.for_purpose(Purpose.MASH_SCREENING)
    for requirement in requirements:
        if not requirement.satisfied_by(chosen):
            chosen += [c for c in min(requirement.any_of, key=len) if c not in chosen]
    return [code for code in LawfulBasis if code in chosen]


def now_utc(workspace: Workspace) -> datetime:
    return workspace.hub.service.clock()


def default_values(workspace: Workspace, las: Sequence[str]) -> Values:
    local = now_utc(workspace).astimezone(LONDON)
    single = {
        "children": "1", "adults": "1", "child-1-status": "born", "purpose": Purpose.MASH_SCREENING.value,
        "consent-decided-at-day": str(local.day), "consent-decided-at-month": str(local.month),
        "consent-decided-at-year": str(local.year), "consent-decided-at-time": f"{local:%H:%M}",
    }
    if len(las) == 1:
        single["la"] = las[0]
    lists = {"lawful-basis": [c.value for c in default_lawful_basis(workspace.hub.service.settings)]}
    return Values(single, lists)


# --------------------------------------------------------------------------------------- dates

def read_date(values: Values, group: str, label: str, problems: Problems, *, where: str = "",
              required: str | None = None) -> date | None:
    """A GOV.UK date input (``group-day`` / ``-month`` / ``-year``): the date, or None with the problem named.

    ``required``: the message when all three are empty (else an empty date is None, no problem).
    """
    parts = {p: values.text(f"{group}-{p}") for p in ("day", "month", "year")}
    if not any(parts.values()):
        if required:
            problems.add(group, required, where=where)
        return None
    missing = [p for p, v in parts.items() if not v]
    if missing:
        problems.add(group, f"{label} must include a {' and a '.join(missing)}", where=where,
                     target=f"{group}-{missing[0]}", parts=[f"{group}-{p}" for p in missing])
        return None
    if not all(DIGITS.match(v) for v in parts.values()):
        problems.add(group, f"{label} must be a real date", where=where)
        return None
    if len(parts["year"]) != 4:
        problems.add(group, f"{label}: the year must include 4 numbers", where=where,
                     target=f"{group}-year", parts=[f"{group}-year"])
        return None
    try:
        return date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        problems.add(group, f"{label} must be a real date", where=where)
        return None


def read_birth_date(values: Values, group: str, problems: Problems, today: date, *, where: str,
                    required: str | None) -> date | None:
    value = read_date(values, group, "Date of birth", problems, where=where, required=required)
    if value is None:
        return None
    if value > today:
        problems.add(group, "Date of birth must be in the past", where=where)
        return None
    if value.year < 1900:
        problems.add(group, "Date of birth must be after 1900", where=where)
        return None
    return value


# --------------------------------------------------------------------------------------- form -> model

@dataclass
class Built:
    """The canonical referral's data, and where each part of it came from on the form."""

    data: dict[str, Any]
    children: list[int] = field(default_factory=list)  # subjects[i] came from child block children[i]
    adults: list[int] = field(default_factory=list)  # household[i] came from adult block adults[i]
    identifiers: dict[tuple[str, int, int], str] = field(default_factory=dict)  # (group, i, k) -> field id
    relationships: list[int] = field(default_factory=list)  # relationships[i] is of adult block ...


def _names(given: str, family: str) -> list[dict[str, Any]]:
    if not given and not family:
        return []
    return [{"given": given.split(), "family": family or None}]


def _child_is_blank(values: Values, n: int) -> bool:
    prefix = f"child-{n}-"
    typed = [k for k, v in values.single.items()
             if k.startswith(prefix) and v.strip() and k not in (f"{prefix}status", f"{prefix}nhs-accepted",
                                                                 f"{prefix}upn-accepted")]
    return not typed and values.text(f"{prefix}status") in ("", "born")


def _adult_is_blank(values: Values, n: int) -> bool:
    prefix = f"adult-{n}-"
    return not any(v.strip() for k, v in values.single.items() if k.startswith(prefix))


def _adult_label(values: Values, n: int) -> str:
    name = " ".join(p for p in (values.text(f"adult-{n}-given"), values.text(f"adult-{n}-family")) if p)
    return f"Household member {n}" + (f": {name}" if name else "")


def _required(values: Values, problems: Problems, name: str, message: str,
              allowed: Sequence[str] | None = None) -> str:
    """The field's value; ``message`` when it is empty (or, with ``allowed``, not one of those)."""
    value = values.text(name)
    if (value not in allowed) if allowed is not None else not value:
        problems.add(name, message)
    return value


def read_form(values: Values, problems: Problems, *, las: Sequence[str], principal: Principal,
              now: datetime) -> Built:
    """Check what only the form can check (choices, dates, formats) and assemble the referral's data."""
    today = now.astimezone(LONDON).date()
    la = _required(values, problems, "la", "Choose the local authority the referral is for", las)
    source = _required(values, problems, "source", "Choose where the referral came from",
                       [s.value for s in ReferralSource])
    referrer = _required(values, problems, "referrer", "Enter who made the referral: their organisation or role")
    rag = _required(values, problems, "rag", "Choose the RAG rating", [r.value for r in Rag])
    rag_reason = _required(values, problems, "rag-reason", "Enter why you gave this rating")
    purpose = _required(values, problems, "purpose", "Choose why the MASH is asking", [p.value for p in Purpose])
    concerns = [c for c in values.many("concerns") if c in {c.value for c in ConcernCategory}]
    if not concerns:
        problems.add("concerns", "Choose at least one concern")
    basis = [b for b in values.many("lawful-basis") if b in {b.value for b in LawfulBasis}]
    if not basis:
        problems.add("lawful-basis", "Choose the lawful basis for sharing")

    built = Built(data={})
    household: list[dict[str, Any]] = []
    relationship_of: dict[int, RelationshipType] = {}
    for n in range(1, values.count("adults") + 1):
        if _adult_is_blank(values, n):
            continue
        where = f"Household member {n}"
        given, family = values.text(f"adult-{n}-given"), values.text(f"adult-{n}-family")
        if not given and not family:
            problems.add(f"adult-{n}-given", "Enter their given name or family name", where=where)
        born = read_birth_date(values, f"adult-{n}-dob", problems, today, where=where, required=None)
        relationship = values.text(f"adult-{n}-relationship")
        if relationship not in RELATIONSHIPS:
            problems.add(f"adult-{n}-relationship", "Choose how they are related to the children", where=where)
        else:
            relationship_of[n] = RELATIONSHIPS[relationship][1]
        person: dict[str, Any] = {"person_id": f"h{n}", "names": _names(given, family)}
        if born:
            person["birth_date"] = {"value": born.isoformat()}
        household.append(person)
        built.adults.append(n)

    subjects: list[dict[str, Any]] = []
    for n in range(1, values.count("children") + 1):
        if _child_is_blank(values, n):
            continue
        subjects.append(_read_child(values, n, problems, built, today=today, la=la or None,
                                    index=len(subjects)))
        built.children.append(n)
    if not subjects:
        problems.add("child-1-given", "Enter at least one child")

    relationships = []
    for n in built.adults:
        if n not in relationship_of:
            continue
        for child in subjects:
            relationships.append({"from_person_id": f"h{n}", "to_person_id": child["person_id"],
                                  "type": relationship_of[n].value, "same_household": True})
            built.relationships.append(n)

    built.data = {
        "referral_id": "pending", "received_at": now.isoformat(), "local_authority": la, "source": source,
        "referrer": referrer, "concerns": concerns, "narrative": values.text("narrative"),
        "subjects": subjects, "household": household, "relationships": relationships,
        "rag_history": [{"rag": rag, "at": now.isoformat(), "by": actor_of(principal), "reason": rag_reason}],
        "purpose": purpose, "lawful_basis": basis, "consent": _read_consent(values, problems, now),
    }
    return built


def _read_child(values: Values, n: int, problems: Problems, built: Built, *, today: date, la: str | None,
                index: int) -> dict[str, Any]:
    prefix, where = f"child-{n}-", f"Child {n}"
    given, family = values.text(prefix + "given"), values.text(prefix + "family")
    person: dict[str, Any] = {"person_id": f"c{n}", "names": _names(given, family)}
    if values.text(prefix + "status") == "unborn":
        person["unborn"] = True
        expected = read_date(values, prefix + "edd", "Expected date of birth", problems, where=where,
                             required="Enter the expected date of birth")
        if expected is not None and expected < today - timedelta(weeks=6):
            problems.add(prefix + "edd", "Expected date of birth is more than 6 weeks ago: if the baby has "
                                         "been born, choose 'Born' and enter the date of birth", where=where)
        elif expected is not None and expected > today + timedelta(days=300):
            problems.add(prefix + "edd", "Expected date of birth must be within the next 10 months", where=where)
        elif expected is not None:
            person["expected_birth_date"] = expected.isoformat()
        mother = values.text(prefix + "mother")
        if not mother:
            problems.add(prefix + "mother", "Choose the unborn child's mother from the household", where=where)
        elif not (mother.isdigit() and int(mother) in built.adults):
            problems.add(prefix + "mother", "The mother must be in the household: enter her name under "
                                            f"household member {mother}", where=where)
        else:
            person["mother_person_id"] = f"h{int(mother)}"
    else:
        if not given and not family:
            problems.add(prefix + "given", "Enter the child's given name or family name", where=where)
        born = read_birth_date(values, prefix + "dob", problems, today, where=where,
                               required="Enter the child's date of birth")
        if born is not None:
            person["birth_date"] = {"value": born.isoformat(),
                                    "estimated": values.text(prefix + "dob-estimated") == "yes"}
    sex = values.text(prefix + "sex")
    if sex:
        if sex in SEXES:
            person["sex"] = sex
        else:
            problems.add(prefix + "sex", "Choose the child's sex, or leave it as not recorded", where=where)
    identifiers: list[dict[str, Any]] = []
    nhs = re.sub(r"[\s-]", "", values.text(prefix + "nhs"))
    if nhs:
        if NHS_FORMAT.match(nhs):
            built.identifiers[("subjects", index, len(identifiers))] = prefix + "nhs"
            identifiers.append({"system": "nhs_number", "value": nhs})
        else:
            problems.add(prefix + "nhs", "NHS number must be 10 digits", where=where)
    upn = values.text(prefix + "upn").replace(" ", "").upper()
    if upn:
        if UPN_FORMAT.match(upn):
            built.identifiers[("subjects", index, len(identifiers))] = prefix + "upn"
            identifiers.append({"system": "upn", "value": upn})
        else:
            problems.add(prefix + "upn", "UPN must be 13 characters: a letter, 11 numbers, then a number or "
                                         "a letter", where=where)
    la_id = values.text(prefix + "la-id")
    if la_id:
        built.identifiers[("subjects", index, len(identifiers))] = prefix + "la-id"
        identifiers.append({"system": "la_child_id", "value": la_id, "scope": la or "unknown"})
    person["identifiers"] = identifiers
    return person


def _read_consent(values: Values, problems: Problems, now: datetime) -> dict[str, Any]:
    status = values.text("consent")
    if status not in {s.value for s in ConsentStatus}:
        problems.add("consent", "Choose whether consent was given, not sought or refused")
        return {"status": status or None}
    consent: dict[str, Any] = {"status": status}
    if ConsentStatus(status) not in CONSENT_DECISION_STATUSES:
        return consent
    label = CONSENTS[ConsentStatus(status)][0].lower()
    for name, group, message in (
            ("reason", "consent-reason", f"Enter why consent was {label}: the reason sharing goes ahead without it"),
            ("decided_by", "consent-decided-by", "Enter who decided to share without consent"),
            ("authorised_by", "consent-authorised-by", "Enter who authorised the decision")):
        value = values.text(group)
        if not value:
            problems.add(group, message)
        consent[name] = value or None
    day = read_date(values, "consent-decided-at", "Decision date", problems,
                    required="Enter the date of the decision")
    clock = values.text("consent-decided-at-time")
    match = TIME_FORMAT.match(clock)
    if not match:
        problems.add("consent-decided-at-time", "Enter the time of the decision, for example 14:30")
        problems.explained.add("consent-decided-at")  # decided_at is missing because of the time
    if day is not None and match:
        at = datetime.combine(day, time(int(match.group(1)), int(match.group(2))), tzinfo=LONDON)
        if at > now + timedelta(minutes=5):
            problems.add("consent-decided-at", "Decision date and time must be in the past")
        else:
            consent["decided_at"] = at.isoformat()
    return consent


# --------------------------------------------------------------------------------------- model / hub problems

def field_for(loc: Sequence[str | int], built: Built) -> tuple[str, str]:
    """The form field a canonical location concerns (``subjects.1.birth_date.value`` -> ``child-2-dob``), and its block."""
    head = str(loc[0]) if loc else ""
    if head in ("subjects", "household") and len(loc) >= 2 and isinstance(loc[1], int):
        blocks = built.children if head == "subjects" else built.adults
        if loc[1] >= len(blocks):
            return TOP_FIELDS[head], ""
        n, kind = blocks[loc[1]], "child" if head == "subjects" else "adult"
        where = f"Child {n}" if kind == "child" else f"Household member {n}"
        part = str(loc[2]) if len(loc) > 2 else "given"
        if part == "identifiers" and len(loc) > 3 and isinstance(loc[3], int):
            return built.identifiers.get((head, loc[1], loc[3]), f"{kind}-{n}-nhs"), where
        suffix = {"names": "family" if "family" in loc else "given", "birth_date": "dob",
                  "expected_birth_date": "edd", "mother_person_id": "mother", "sex": "sex", "unborn": "status",
                  }.get(part, "given")
        return f"{kind}-{n}-{suffix}", where
    if head == "relationships" and len(loc) >= 2 and isinstance(loc[1], int) and loc[1] < len(built.relationships):
        n = built.relationships[loc[1]]
        return f"adult-{n}-relationship", f"Household member {n}"
    if head == "consent":
        return CONSENT_FIELDS.get(str(loc[1]) if len(loc) > 1 else "status", "consent"), ""
    if head == "rag_history" and "reason" in loc:
        return "rag-reason", ""
    return TOP_FIELDS.get(head, "la"), ""


def _message(group: str, text: str) -> str:
    """A model or hub message as a sentence about the field."""
    text = text.removeprefix("Value error, ").strip()
    text = text[:1].upper() + text[1:]
    name = FIELD_NAMES.get(group) or BLOCK_FIELDS.get(group.split("-", 2)[-1] if "-" in group else group, "")
    return text if not name or text.lower().startswith(name.lower()) else f"{name}: {_lower_first(text)}"


def add_model_problems(exc: ValidationError, built: Built, problems: Problems) -> None:
    for error in exc.errors(include_input=False, include_url=False):
        group, where = field_for(error.get("loc", ()), built)
        text = error.get("msg", "")
        if error.get("type") == "string_too_long":
            text = f"must be {error.get('ctx', {}).get('max_length')} characters or fewer"
        problems.add(group, _message(group, text), where=where)


def add_hub_problems(exc: InvalidInput, built: Built, problems: Problems) -> None:
    """``InvalidInput`` problems are ``path: message`` (``lawful_basis: enquiries to police need ...``).

    All of a field's problems are shown together (the lawful basis may miss
    something for several agency kinds), codes as their provisions.
    """
    texts: dict[tuple[str, str], list[str]] = {}
    for problem in exc.problems:
        path, _, text = problem.partition(": ")
        loc: list[str | int] = [int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", path) if p]
        for code, label in LAWFUL_BASES.items():
            text = re.sub(rf"\b{re.escape(code.value)}\b", label.split(":")[0], text)
        for purpose, (label, _hint) in PURPOSES.items():
            text = text.replace(f"purpose {purpose.value}", f"the purpose {label}")
        text = re.sub(r"\s*\[rule [^\]]*\]$", "", text or problem).replace("social_care", "social care").strip()
        texts.setdefault(field_for(loc, built), []).append(text[:1].upper() + text[1:].rstrip(".") + ".")
    for (group, where), parts in texts.items():
        problems.add(group, " ".join(parts), where=where)


def identifier_warnings(referral: Referral, built: Built, values: Values, problems: Problems) -> None:
    """Well-formed identifiers failing their check digit: shown once; accepted when submitted again unchanged."""
    for i, person in enumerate(referral.subjects):
        for k, ident in enumerate(person.identifiers):
            if ident.check != "failed":
                continue
            group = built.identifiers.get(("subjects", i, k))
            if group is None or values.text(f"{group}-accepted") == ident.value:
                continue
            name = BLOCK_FIELDS[group.rsplit("-", 1)[-1]]
            problems.warned[group] = ident.value
            problems.add(group, f"{name} {ident.value} does not pass its check digit. Correct it, or submit "
                                "again to record it as given: it is kept flagged and never used to match records",
                         where=f"Child {built.children[i]}")


# --------------------------------------------------------------------------------------- pages

def _scope(workspace: Workspace, principal: Principal) -> list[str]:
    """The principal's local authorities that have RAG timescales (so deadlines can be set)."""
    workspace.require(principal, Permission.REFERRAL_CREATE)
    settings = workspace.hub.service.settings
    las = sorted(la for la in principal.local_authorities if la in settings.rag)
    if not las:
        raise PageForbidden("none of your local authorities has RAG timescales configured, so no referral "
                            "can be created here")
    return las


def _form_page(request: Request, workspace: Workspace, principal: Principal, values: Values, las: Sequence[str],
               problems: Problems | None = None, status_code: int = 200) -> HTMLResponse:
    problems = problems or Problems()
    children = values.count("children")
    adults = values.count("adults")
    for n in range(1, children + 1):
        if values.text(f"child-{n}-status") not in ("born", "unborn"):
            values.single[f"child-{n}-status"] = "born"
    warned = dict(problems.warned)
    for n in range(1, children + 1):  # a warning already accepted stays accepted while the value is unchanged
        for kind in ("nhs", "upn"):
            group = f"child-{n}-{kind}"
            accepted = values.text(f"{group}-accepted")
            if group not in warned and accepted:
                warned[group] = accepted
    return render(request, "workspace/new_referral.html", workspace.context(
        request, principal, "New referral", errors=problems.errors, messages=problems.messages,
        highlight=problems.highlight, values=values, warned=warned,
        children=list(range(1, children + 1)), adults=list(range(1, adults + 1)),
        max_blocks=MAX_BLOCKS, adult_labels=[(str(n), _adult_label(values, n)) for n in range(1, adults + 1)],
        local_authorities=las, sources=[(s.value, f"{s.value}: {t}") for s, t in SOURCES.items()],
        concerns=[(c.value, t) for c, t in CONCERNS.items()], rags=[r.value for r in Rag],
        sexes=[(s.value, t) for s, t in SEXES.items()],
        relationships=[(k, v[0]) for k, v in RELATIONSHIPS.items()],
        lawful_bases=[(b.value, t) for b, t in LAWFUL_BASES.items()],
        purposes=[(p.value, t, h) for p, (t, h) in PURPOSES.items()],
        consents=[(c.value, t, h) for c, (t, h) in CONSENTS.items()]), status_code=status_code)


@router.get(PATH, response_class=HTMLResponse)
def new_referral_form(request: Request) -> HTMLResponse:
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    las = _scope(workspace, principal)
    return _form_page(request, workspace, principal, default_values(workspace, las), las)


@router.post(PATH, response_class=HTMLResponse)
async def new_referral_submit(request: Request) -> Response:
    form = await request.form(max_fields=2000, max_files=0)
    return await run_in_threadpool(_submit, request, Values.of(form))


def new_referral_id(now: datetime) -> str:
    """``MASH-YYYYMMDD-<6 hex>``: the UK date of receipt and 24 random bits."""
    return f"MASH-{now.astimezone(LONDON):%Y%m%d}-{secrets.token_hex(3).upper()}"


def _submit(request: Request, values: Values) -> Response:
    workspace = Workspace.of(request)
    principal = workspace.principal(request)
    workspace.session.check_csrf(request, values.get("csrf_token"))
    las = _scope(workspace, principal)
    action = values.text("action")
    if action in ("add-child", "add-adult"):
        key = "children" if action == "add-child" else "adults"
        values.single[key] = str(min(values.count(key) + 1, MAX_BLOCKS))
        return _form_page(request, workspace, principal, values, las)

    now = now_utc(workspace)
    problems = Problems()
    built = read_form(values, problems, las=las, principal=principal, now=now)
    referral: Referral | None = None
    try:
        referral = Referral.model_validate(built.data)
    except ValidationError as exc:
        add_model_problems(exc, built, problems)
    if referral is not None:
        identifier_warnings(referral, built, values, problems)
    if problems or referral is None:
        return _form_page(request, workspace, principal, values, las, problems, status_code=422)

    decision = authorise(principal, Permission.REFERRAL_CREATE, workspace.hub.service.settings.security,
                         local_authority=referral.local_authority)
    if not decision.allowed:
        raise PageForbidden(decision.reason)
    conflict = ""
    for _attempt in range(3):
        referral = referral.model_copy(update={"referral_id": new_referral_id(now)})
        try:
            result = workspace.hub.service.submit_referral(referral, actor=actor_of(principal))
        except InvalidInput as exc:
            add_hub_problems(exc, built, problems)
            break
        except Conflict as exc:  # an id taken already (24 random bits a day): draw another
            conflict = str(exc)
            continue
        return RedirectResponse(f"/workspace/referrals/{result.referral_id}?updated=created", status_code=303)
    else:
        problems.add("la", f"The referral could not be stored: {conflict}")
    return _form_page(request, workspace, principal, values, las, problems, status_code=422)
