"""FHIR R4 (UK Core) resources -> canonical people, relationships and findings.

Input is validated first with the R4B models (``fhir_validate``), then read
from the plain JSON (reading the pydantic v1 object tree again would double
the cost). What counts as a safeguarding flag, a child-protection flag, a
sensitive condition or a caseload is decided by ``FhirMappingOptions`` code
sets, which a deployment can override from configuration: a trust with
different codes or extensions changes settings, not Python.

Supported resources: Patient (identifiers with the UK Core NHS number
verification extension, names, gender, birth date, addresses, ethnic
category extension, contacts), Encounter, Flag, Condition, EpisodeOfCare and
RelatedPerson.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from .fhir_validate import validate_resource
from ...schemas.codes import AgencyKind, FindingCategory, RelationshipType, Sensitivity, Sex
from ...schemas.finding import Finding, SourceRef
from ...schemas.identifiers import FHIR_NHS_NUMBER_SYSTEM, Identifier, IdentifierSystem
from ...schemas.person import Address, AddressType, BirthDate, Ethnicity, HumanName, NameUse, Person
from ...schemas.record import AgencyRecord, RecordIssue
from ...schemas.relationship import Relationship

NHS_VERIFICATION_URLS = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
    "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
)
ETHNIC_CATEGORY_URLS = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
    "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-EthnicCategory",
)


FLAG_CLASSES = ("child_protection", "safeguarding")


class FlagClassLists(NamedTuple):
    """The flag classification table, split by kind of evidence: class -> codes / markers / phrases."""

    codes: dict[str, dict[str, frozenset[str]]]
    markers: dict[str, frozenset[str]]
    texts: dict[str, frozenset[str]]


def flag_class_table_path() -> Path:
    """``config/mappings/codes/fhir-flag-class.yaml`` (shared with ``mashlink translate fhir``)."""
    from ...mapping.codes import default_codes_dir

    return default_codes_dir() / "fhir-flag-class.yaml"


@lru_cache(maxsize=4)
def flag_class_lists(path: Path | None = None) -> FlagClassLists:
    """Read the flag classification table (keys ``code:<system>|<code>``, ``marker:<x>``, ``text:<phrase>``)."""
    from ...mapping.codes import load_table

    table = load_table(path or flag_class_table_path())
    codes: dict[str, dict[str, set[str]]] = {c: {} for c in FLAG_CLASSES}
    markers: dict[str, set[str]] = {c: set() for c in FLAG_CLASSES}
    texts: dict[str, set[str]] = {c: set() for c in FLAG_CLASSES}
    for key, entry in table.entries.items():
        cls = str(entry.value)
        if cls not in FLAG_CLASSES:
            raise ValueError(f"{table.file}: {key!r} -> {cls!r}; a flag class is one of {', '.join(FLAG_CLASSES)}")
        kind, _, rest = key.partition(":")
        if kind == "code" and "|" in rest:
            system, _, code = rest.rpartition("|")
            codes[cls].setdefault(system, set()).add(code)
        elif kind == "marker" and rest:
            markers[cls].add(rest)
        elif kind == "text" and rest:
            texts[cls].add(rest)
        else:
            raise ValueError(f"{table.file}: key {key!r} is not code:<system>|<code>, marker:<x> or text:<phrase>")
    return FlagClassLists({c: {s: frozenset(v) for s, v in codes[c].items()} for c in FLAG_CLASSES},
                          {c: frozenset(markers[c]) for c in FLAG_CLASSES},
                          {c: frozenset(texts[c]) for c in FLAG_CLASSES})


class FhirMappingOptions(BaseModel):
    """Code sets that decide how FHIR content maps; override per trust in connector options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agency_id: str | None = None
    system: str = "FHIR R4"
    organisation: str | None = None
    mrn_systems: dict[str, str] = Field(
        default_factory=dict, description="Identifier system URI -> organisation code, for hospital numbers"
    )
    emergency_classes: frozenset[str] = frozenset({"EMER"})
    admission_classes: frozenset[str] = frozenset({"IMP", "ACUTE", "NONAC", "SS"})
    # Flag classification: defaults from config/mappings/codes/fhir-flag-class.yaml, the table
    # `mashlink translate fhir` uses too, so the live connector and a translated file agree.
    safeguarding_markers: frozenset[str] = Field(default_factory=lambda: flag_class_lists().markers["safeguarding"])
    child_protection_markers: frozenset[str] = Field(
        default_factory=lambda: flag_class_lists().markers["child_protection"])
    child_protection_codes: dict[str, frozenset[str]] = Field(
        default_factory=lambda: dict(flag_class_lists().codes["child_protection"]),
        description="Flag code system URI -> codes meaning child protection (CP plan, CP-IS); '*' = any system. "
        "For local or supplier code systems, e.g. {'https://trust.example.nhs.uk/CodeSystem/alerts': ['CP']}",
    )
    safeguarding_codes: dict[str, frozenset[str]] = Field(
        default_factory=lambda: dict(flag_class_lists().codes["safeguarding"]),
        description="Flag code system URI -> codes meaning a safeguarding concern; '*' = any")
    child_protection_texts: frozenset[str] = Field(
        default_factory=lambda: flag_class_lists().texts["child_protection"],
        description="Phrases in a Flag's code.text / display / category meaning child protection (any case)",
    )
    safeguarding_texts: frozenset[str] = Field(
        default_factory=lambda: flag_class_lists().texts["safeguarding"],
        description="Phrases in a Flag's code.text / display / category meaning a safeguarding concern",
    )
    mental_health_labels: frozenset[str] = frozenset({"PSY", "PSYTHPN", "BH", "mental-health", "CAMHS"})
    sexual_health_labels: frozenset[str] = frozenset({"STD", "HIV", "SEX", "sexual-health", "GUM"})
    relationship_codes: dict[str, RelationshipType] = Field(default_factory=lambda: {
        "MTH": RelationshipType.MOTHER, "NMTH": RelationshipType.MOTHER, "FTH": RelationshipType.FATHER,
        "NFTH": RelationshipType.FATHER, "PRN": RelationshipType.PARENT, "STPPRN": RelationshipType.STEP_PARENT,
        "STPMTH": RelationshipType.STEP_PARENT, "STPFTH": RelationshipType.STEP_PARENT,
        "GRD": RelationshipType.GUARDIAN, "GUARD": RelationshipType.GUARDIAN, "SIB": RelationshipType.SIBLING,
        "BRO": RelationshipType.SIBLING, "SIS": RelationshipType.SIBLING, "GRPRN": RelationshipType.GRANDPARENT,
        "GRMTH": RelationshipType.GRANDPARENT, "GRFTH": RelationshipType.GRANDPARENT,
        "FAMMEMB": RelationshipType.OTHER_RELATIVE, "C": RelationshipType.EMERGENCY_CONTACT,
        "ECON": RelationshipType.EMERGENCY_CONTACT, "N": RelationshipType.OTHER, "FSTR": RelationshipType.CARER,
        "FOSTER": RelationshipType.CARER, "SIGOTHR": RelationshipType.PARTNER_OF_PARENT,
    })


def options_from_flag_table(path: Path) -> FhirMappingOptions:
    """Default options with the flag classification read from another table (a trust's own code lists)."""
    lists = flag_class_lists(path)
    return FhirMappingOptions(
        child_protection_codes=lists.codes["child_protection"], safeguarding_codes=lists.codes["safeguarding"],
        child_protection_markers=lists.markers["child_protection"], safeguarding_markers=lists.markers["safeguarding"],
        child_protection_texts=lists.texts["child_protection"], safeguarding_texts=lists.texts["safeguarding"])


@lru_cache(maxsize=1)
def default_mapping_options() -> FhirMappingOptions:
    """The defaults, built once (a frozen model: safe to share)."""
    return FhirMappingOptions()


_SEX = {"male": Sex.MALE, "female": Sex.FEMALE, "other": Sex.OTHER, "unknown": Sex.UNKNOWN}
_NAME_USE = {"official": NameUse.OFFICIAL, "usual": NameUse.PREFERRED, "nickname": NameUse.PREFERRED,
             "old": NameUse.PREVIOUS, "maiden": NameUse.MAIDEN, "anonymous": NameUse.ALIAS, "temp": NameUse.OTHER}
_ADDR_USE = {"home": AddressType.HOME, "temp": AddressType.TEMPORARY, "old": AddressType.PREVIOUS,
             "work": AddressType.OTHER, "billing": AddressType.OTHER}


def _codes(concepts: Iterable[dict[str, Any]] | dict[str, Any] | None) -> list[str]:
    """Every code and the text/display of CodeableConcepts or Codings, for marker matching."""
    if concepts is None:
        return []
    if isinstance(concepts, dict):
        concepts = [concepts]
    out: list[str] = []
    for cc in concepts:
        if not isinstance(cc, dict):
            continue
        if cc.get("code"):
            out.append(str(cc["code"]))
        if cc.get("display"):
            out.append(str(cc["display"]))
        if cc.get("text"):
            out.append(str(cc["text"]))
        for coding in cc.get("coding", []) or []:
            for key in ("code", "display"):
                if coding.get(key):
                    out.append(str(coding[key]))
    return out


@lru_cache(maxsize=64)
def _lowered(markers: frozenset[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Markers lower-cased, and the multi-word ones (matched as substrings of free text)."""
    lowered = frozenset(m.lower() for m in markers)
    return lowered, tuple(m for m in lowered if " " in m)


def _matches(values: list[str], markers: frozenset[str]) -> bool:
    exact, phrases = _lowered(markers)
    for v in values:
        low = v.lower()
        if low in exact or any(p in low for p in phrases):
            return True
    return False


def _text(cc: dict[str, Any] | None) -> str:
    if not cc:
        return ""
    if cc.get("text"):
        return str(cc["text"])
    for coding in cc.get("coding", []) or []:
        if coding.get("display"):
            return str(coding["display"])
    return ""


def _when(value: Any) -> date | datetime | None:
    if not isinstance(value, str) or not value:
        return None
    if len(value) <= 10:
        parts = value.split("-")
        return date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ref_id(reference: dict[str, Any] | None) -> str | None:
    if not reference or not isinstance(reference.get("reference"), str):
        return None
    ref = reference["reference"]
    return ref.split("/_history/")[0].rsplit("/", 1)[-1] if "/" in ref else ref


def _names(items: list[dict[str, Any]] | None) -> list[HumanName]:
    out = []
    for n in items or []:
        given = [g for g in n.get("given", []) or [] if g]
        family = n.get("family")
        if not given and not family and not n.get("text"):
            continue
        out.append(HumanName(use=_NAME_USE.get(n.get("use", "official"), NameUse.OFFICIAL), given=given,
                             family=family, prefix=(n.get("prefix") or [None])[0], text=n.get("text")))
    return out


def _address(a: dict[str, Any], issues: list[RecordIssue], where: str) -> Address | None:
    lines = [x for x in a.get("line", []) or [] if x]
    if not lines and not a.get("postalCode"):
        issues.append(RecordIssue(field=where, rule="address.incomplete", detail="address has no lines or postalCode"))
        return None
    return Address(lines=lines, town=a.get("city"), postcode=a.get("postalCode"),
                   type=_ADDR_USE.get(a.get("use", "home"), AddressType.HOME))


def patient_person(resource: dict[str, Any], options: FhirMappingOptions, issues: list[RecordIssue],
                   person_id: str | None = None) -> Person:
    """Patient -> Person, with UK Core NHS number verification and ethnic category."""
    identifiers: list[Identifier] = []
    for i, ident in enumerate(resource.get("identifier", []) or []):
        system, value = ident.get("system"), ident.get("value")
        if not value:
            continue
        if system == FHIR_NHS_NUMBER_SYSTEM:
            status = None
            for ext in ident.get("extension", []) or []:
                if ext.get("url") in NHS_VERIFICATION_URLS:
                    code = next((c.get("code") for c in (ext.get("valueCodeableConcept") or {}).get("coding", [])), None)
                    if code in {f"0{n}" for n in range(1, 9)}:
                        status = code
                    else:
                        issues.append(RecordIssue(field=f"Patient.identifier[{i}].extension", rule="code_table.nhs_verification",
                                                  detail="NHS number verification status is not 01-08"))
            nhs = Identifier(system=IdentifierSystem.NHS_NUMBER, value=value, verification=status)
            if not nhs.trusted:
                issues.append(RecordIssue(field=f"Patient.identifier[{i}]", rule="nhs_number.modulus11",
                                          detail="NHS number fails the modulus 11 check: kept, not trusted"))
            identifiers.append(nhs)
        elif system in options.mrn_systems:
            identifiers.append(Identifier(system=IdentifierSystem.HOSPITAL_MRN, value=value, scope=options.mrn_systems[system]))
    ethnicity = None
    for ext in resource.get("extension", []) or []:
        if ext.get("url") in ETHNIC_CATEGORY_URLS:
            coding = next(iter((ext.get("valueCodeableConcept") or {}).get("coding", []) or []), {})
            if coding.get("code"):
                ethnicity = Ethnicity(code_set="nhs", code=coding["code"], display=coding.get("display"))
    birth = None
    if resource.get("birthDate"):
        value = resource["birthDate"]
        parsed = _when(value)
        precision = "day" if len(value) >= 10 else "month" if len(value) == 7 else "year"
        if isinstance(parsed, date) and not isinstance(parsed, datetime) and parsed <= date.today():
            birth = BirthDate(value=parsed, precision=precision)  # type: ignore[arg-type]
        else:
            issues.append(RecordIssue(field="Patient.birthDate", rule="date.future", detail="birth date is in the future"))
    gender = resource.get("gender")
    addresses = [a for a in (_address(x, issues, f"Patient.address[{i}]") for i, x in enumerate(resource.get("address", []) or [])) if a]
    death = resource.get("deceasedDateTime")
    return Person(
        person_id=person_id or f"Patient/{resource.get('id', 'unknown')}",
        names=_names(resource.get("name")),
        birth_date=birth,
        sex=_SEX.get(gender) if gender else None,
        ethnicity=ethnicity,
        identifiers=identifiers,
        addresses=addresses,
        death_date=(_when(death).date() if isinstance(_when(death), datetime) else _when(death)) if death else None,  # type: ignore[union-attr]
    )


def _relationship_type(concepts: list[dict[str, Any]] | None, options: FhirMappingOptions) -> RelationshipType | None:
    for code in _codes(concepts):
        rel = options.relationship_codes.get(code.upper()) or options.relationship_codes.get(code)
        if rel is not None:
            return rel
    return None


def _sensitivity(resource: dict[str, Any], extra: list[str], options: FhirMappingOptions) -> Sensitivity:
    labels = _codes((resource.get("meta") or {}).get("security")) + extra
    if _matches(labels, options.sexual_health_labels):
        return Sensitivity.SEXUAL_HEALTH
    if _matches(labels, options.mental_health_labels):
        return Sensitivity.MENTAL_HEALTH
    return Sensitivity.STANDARD


def _flag_codings(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(system, code) of every coding in a Flag's code and category."""
    concepts = [resource.get("code") or {}, *(resource.get("category") or [])]
    return [(str(c.get("system") or ""), str(c["code"]))
            for cc in concepts if isinstance(cc, dict)
            for c in cc.get("coding", []) or [] if isinstance(c, dict) and c.get("code")]


def _flag_texts(resource: dict[str, Any]) -> list[str]:
    """code.text, category text and every display, lower-cased with '-' / '_' / runs of spaces as one space."""
    concepts = [resource.get("code") or {}, *(resource.get("category") or [])]
    texts: list[str] = []
    for cc in concepts:
        if not isinstance(cc, dict):
            continue
        raw = [cc.get("text")] + [c.get("display") for c in cc.get("coding", []) or [] if isinstance(c, dict)]
        texts += [" ".join(str(t).lower().replace("-", " ").replace("_", " ").split()) for t in raw if t]
    return texts


def _code_listed(codings: list[tuple[str, str]], lists: dict[str, frozenset[str]]) -> bool:
    return any(code in lists.get(system, ()) or code in lists.get("*", ()) for system, code in codings)


def _text_listed(texts: list[str], phrases: frozenset[str]) -> bool:
    wanted = [" ".join(p.lower().replace("-", " ").replace("_", " ").split()) for p in phrases]
    return any(p and p in t for t in texts for p in wanted)


def classify_flag(resource: dict[str, Any], options: FhirMappingOptions | None = None) -> tuple[str, str | None]:
    """(class, matched_by) of a FHIR Flag: ``child_protection``, ``safeguarding`` or ``unclassified``.

    Child protection wins over safeguarding. Evidence, in order: the configured
    code lists (``child_protection_codes`` / ``safeguarding_codes``, per code
    system, so local and supplier code systems work as well as SNOMED CT), the
    marker codes (``child_protection_markers`` / ``safeguarding_markers``, any
    system, also on meta.tag), then the text: ``code.text``, displays and
    category text containing a configured phrase (``child_protection_texts`` /
    ``safeguarding_texts``). A Flag none of these recognise is ``unclassified``:
    it is still carried as a finding, marked for review, never dropped.
    """
    opts = options or default_mapping_options()
    codings = _flag_codings(resource)
    markers = (_codes(resource.get("category")) + _codes((resource.get("meta") or {}).get("tag"))
               + _codes(resource.get("code")))
    texts = _flag_texts(resource)
    if _code_listed(codings, opts.child_protection_codes):
        return "child_protection", "code"
    if _matches(markers, opts.child_protection_markers):
        return "child_protection", "marker"
    if _text_listed(texts, opts.child_protection_texts):
        return "child_protection", "text"
    if _code_listed(codings, opts.safeguarding_codes):
        return "safeguarding", "code"
    if _matches(markers, opts.safeguarding_markers):
        return "safeguarding", "marker"
    if _text_listed(texts, opts.safeguarding_texts):
        return "safeguarding", "text"
    return "unclassified", None


def resource_finding(resource: dict[str, Any], subject_person_id: str, source: SourceRef,
                     options: FhirMappingOptions) -> Finding | None:
    """Encounter / Flag / Condition / EpisodeOfCare -> one Finding (None when not safeguarding-relevant).

    Every Flag becomes a finding (``classify_flag``): child protection, safeguarding,
    or unclassified with ``needs_review`` (category health.safeguarding_flag, the
    only general flag category the schema has, with ``flag_class=unclassified``).
    """
    rtype = resource.get("resourceType")
    rid = f"{rtype}/{resource.get('id', '?')}"
    src = source.model_copy(update={"record_id": rid})
    period = resource.get("period") or {}
    if rtype == "Encounter":
        cls = resource.get("class") or {}
        code = cls.get("code") if isinstance(cls, dict) else None
        if code in options.emergency_classes:
            category, summary = FindingCategory.HEALTH_ED_ATTENDANCE, "Emergency department attendance"
        elif code in options.admission_classes:
            category, summary = FindingCategory.HEALTH_ADMISSION, "Hospital admission"
        else:
            return None
        reason = "; ".join(_text(r) for r in resource.get("reasonCode", []) or [] if _text(r))
        return Finding(finding_id=rid, subject_person_id=subject_person_id, category=category,
                       start=_when(period.get("start")), end=_when(period.get("end")),
                       summary=f"{summary}: {reason}" if reason else summary,
                       codes=[c for c in (code, resource.get("status")) if c],
                       attributes={"status": resource.get("status")}, source=src,
                       sensitivity=_sensitivity(resource, _codes(resource.get("reasonCode")), options))
    if rtype == "Flag":
        flag_class, matched_by = classify_flag(resource, options)
        category = (FindingCategory.HEALTH_CHILD_PROTECTION_FLAG if flag_class == "child_protection"
                    else FindingCategory.HEALTH_SAFEGUARDING_FLAG)
        text = _text(resource.get("code"))
        if flag_class == "unclassified":
            summary = f"Flag not classified (review): {text}" if text else "Flag not classified (review)"
        else:
            summary = text or ("Child protection flag" if flag_class == "child_protection" else "Safeguarding flag")
        codings = [c for c in ((resource.get("code") or {}).get("coding") or []) if isinstance(c, dict)]
        return Finding(finding_id=rid, subject_person_id=subject_person_id, category=category,
                       start=_when(period.get("start")), end=_when(period.get("end")),
                       summary=summary[:4000],
                       codes=[c for c in _codes(resource.get("code"))[:5]],
                       attributes={"status": resource.get("status"), "flag_class": flag_class,
                                   "matched_by": matched_by, "needs_review": flag_class == "unclassified",
                                   "code_text": (resource.get("code") or {}).get("text") or None,
                                   "code_systems": " ".join(sorted({str(c["system"]) for c in codings
                                                                    if c.get("system")})) or None},
                       source=src, sensitivity=_sensitivity(resource, [], options))
    if rtype == "Condition":
        start = _when(resource.get("onsetDateTime") or resource.get("recordedDate"))
        end = _when(resource.get("abatementDateTime"))
        status = _codes(resource.get("clinicalStatus"))
        return Finding(finding_id=rid, subject_person_id=subject_person_id, category=FindingCategory.HEALTH_CONDITION,
                       start=start, end=end, summary=_text(resource.get("code")) or "Condition",
                       codes=_codes(resource.get("code"))[:5], attributes={"clinical_status": status[0] if status else None},
                       source=src,
                       sensitivity=_sensitivity(resource, _codes(resource.get("category")) + _codes(resource.get("code")), options))
    if rtype == "EpisodeOfCare":
        types = resource.get("type", []) or []
        label = "; ".join(_text(t) for t in types if _text(t)) or "Caseload"
        return Finding(finding_id=rid, subject_person_id=subject_person_id, category=FindingCategory.HEALTH_CASELOAD,
                       start=_when(period.get("start")), end=_when(period.get("end")), summary=label,
                       codes=_codes(types)[:5], attributes={"status": resource.get("status")}, source=src,
                       sensitivity=_sensitivity(resource, _codes(types), options))
    return None


def subject_reference(resource: dict[str, Any]) -> str | None:
    """The Patient id a clinical resource is about (subject / patient / for)."""
    for key in ("subject", "patient", "for"):
        value = resource.get(key)
        if isinstance(value, dict):
            ref = value.get("reference", "")
            if isinstance(ref, str) and (ref.startswith("Patient/") or "/Patient/" in ref):
                return _ref_id(value)
    return None


def build_record(patient: dict[str, Any], related: list[dict[str, Any]], options: FhirMappingOptions,
                 person_id: str | None = None) -> AgencyRecord:
    """One Patient plus the resources about them -> AgencyRecord."""
    issues: list[RecordIssue] = []
    source = SourceRef(agency_kind=AgencyKind.HEALTH, agency_id=options.agency_id, system=options.system,
                       record_id=f"Patient/{patient.get('id', 'unknown')}",
                       organisation=options.organisation or _ref_id(patient.get("managingOrganization")))
    person = patient_person(patient, options, issues, person_id)
    people: list[Person] = []
    relationships: list[Relationship] = []
    for i, contact in enumerate(patient.get("contact", []) or []):
        names = _names([contact["name"]] if contact.get("name") else [])
        if not names:
            continue
        pid = f"{person.person_id}#contact-{i + 1}"
        addr = _address(contact["address"], issues, f"Patient.contact[{i}].address") if contact.get("address") else None
        people.append(Person(person_id=pid, names=names, addresses=[addr] if addr else []))
        rel = _relationship_type(contact.get("relationship"), options)
        if rel is None:
            issues.append(RecordIssue(field=f"Patient.contact[{i}].relationship", rule="code_table.relationship",
                                      detail="relationship code not known; recorded as other"))
        relationships.append(Relationship(from_person_id=pid, to_person_id=person.person_id,
                                          type=rel or RelationshipType.OTHER, source_record_id=source.record_id))
    findings: list[Finding] = []
    for res in related:
        if res.get("resourceType") == "RelatedPerson":
            names = _names(res.get("name"))
            if not names:
                continue
            pid = f"RelatedPerson/{res.get('id', len(people))}"
            addrs = [a for a in (_address(x, issues, f"{pid}.address") for x in res.get("address", []) or []) if a]
            people.append(Person(person_id=pid, names=names, addresses=addrs,
                                 sex=_SEX.get(res.get("gender", "")) if res.get("gender") else None))
            rel = _relationship_type(res.get("relationship"), options)
            if rel is None:
                issues.append(RecordIssue(field=f"{pid}.relationship", rule="code_table.relationship",
                                          detail="relationship code not known; recorded as other"))
            relationships.append(Relationship(from_person_id=pid, to_person_id=person.person_id,
                                              type=rel or RelationshipType.OTHER, source_record_id=pid))
            continue
        finding = resource_finding(res, person.person_id, source, options)
        if finding is not None:
            findings.append(finding)
            if finding.attributes.get("needs_review"):
                issues.append(RecordIssue(
                    field=f"{finding.finding_id}.code", rule="flag.unclassified",
                    detail="Flag code and text match no child-protection or safeguarding list; kept for review"))
    return AgencyRecord(source=source, person=person, related_people=people, relationships=relationships,
                        findings=findings, issues=issues)


def translate_document(document: dict[str, Any], options: FhirMappingOptions | None = None,
                       *, validate: bool = True) -> list[AgencyRecord]:
    """A resource or a Bundle -> one AgencyRecord per Patient in it.

    Raises ``FhirValidationError`` (with element paths) when ``validate`` and
    the document does not conform to R4.
    """
    opts = options or default_mapping_options()
    if validate:
        validate_resource(document)
    if document.get("resourceType") == "Bundle":
        resources = [e.get("resource") for e in document.get("entry", []) or [] if isinstance(e.get("resource"), dict)]
    else:
        resources = [document]
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        if r.get("resourceType") == "Patient":
            continue
        pid = subject_reference(r)
        if pid is not None:
            by_patient.setdefault(pid, []).append(r)
    return [build_record(p, by_patient.get(str(p.get("id")), []), opts) for p in patients]
