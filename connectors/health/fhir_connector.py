"""The FHIR health connector: Model 2 search and Model 3 Task delivery.

Model 2 (``FhirSearchConnector.handle``): for each enquiry subject, search
the trust's FHIR API by NHS number (only a number that passes modulus 11 is
used) and otherwise by demographics, score each candidate, and gather the
matched patient's encounters, flags, conditions, caseloads and related
people into one ``EnquiryResponse``. Uncertain or multiple matches are
reported as candidates with their confidence and carry *no* findings: a
false match would disclose another family's health record. Sensitive
findings (sexual health, mental health) are released only when the sharing
policy (``release``) allows; otherwise the response says how many were
withheld.

Model 3 (``FhirTaskDelivery``): each subject becomes a FHIR ``Task`` on the
trust's server (idempotent on an enquiry identifier), which their staff
work in their own tool; a completed Task's outputs become the response.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mashlink.connectors.base import PermanentEnquiryError, response_id_for
from mashlink.connectors.health.fhir_client import FhirClient
from mashlink.connectors.health.fhir_translate import FhirMappingOptions, build_record, patient_person
from mashlink.connectors.health.fhir_validate import FhirValidationError, validate_resource
from mashlink.schemas.codes import AgencyKind, FindingCategory, MatchMethod, Rag, ResponseStatus, Sensitivity
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse, ResponseRecordIssue, SubjectMatch, record_issues_of
from mashlink.schemas.finding import Finding, SourceRef
from mashlink.schemas.identifiers import FHIR_NHS_NUMBER_SYSTEM, IdentifierSystem
from mashlink.schemas.person import Person
from mashlink.schemas.record import AgencyRecord

CLINICAL_SEARCHES = (("Encounter", "patient"), ("Flag", "patient"), ("Condition", "patient"),
                     ("EpisodeOfCare", "patient"), ("RelatedPerson", "patient"))
ENQUIRY_SYSTEM = "urn:mashlink:enquiry"
REFERRAL_SYSTEM = "urn:mashlink:referral"
CATEGORY_SYSTEM = "urn:mashlink:finding-category"
SENSITIVITY_SYSTEM = "urn:mashlink:sensitivity"
TASK_PRIORITY = {Rag.RED: "stat", Rag.AMBER: "asap", Rag.GREEN: "routine"}


class FhirConnectorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    release: frozenset[Sensitivity] = frozenset({Sensitivity.STANDARD})
    auto_match_threshold: float = Field(default=0.95, ge=0, le=1)
    candidate_threshold: float = Field(default=0.5, ge=0, le=1)
    responder: str = "Trust safeguarding team"
    mapping: FhirMappingOptions = FhirMappingOptions()


def _norm(text: str | None) -> str:
    return re.sub(r"[^a-z]", "", (text or "").lower())


def demographic_confidence(subject: Person, candidate: Person) -> float:
    """0..1 agreement of name, birth date and postcode; documented weights, no magic.

    family 0.30 (0.10 same first three letters), first given 0.20 (0.08 same
    initial), birth date 0.35 (0.12 same year and month, or day/month
    swapped), postcode 0.15 (0.07 same outward code).
    """
    score = 0.0
    s_name, c_name = subject.official_name, candidate.official_name
    if s_name and c_name:
        sf, cf = _norm(s_name.family), _norm(c_name.family)
        if sf and sf == cf:
            score += 0.30
        elif sf[:3] and sf[:3] == cf[:3]:
            score += 0.10
        sg = _norm(s_name.given[0]) if s_name.given else ""
        cg = _norm(c_name.given[0]) if c_name.given else ""
        if sg and sg == cg:
            score += 0.20
        elif sg[:1] and sg[:1] == cg[:1]:
            score += 0.08
    if subject.birth_date and candidate.birth_date:
        a, b = subject.birth_date.value, candidate.birth_date.value
        if a == b:
            score += 0.35
        elif (a.year, a.month) == (b.year, b.month) or (a.year == b.year and a.day == b.month and a.month == b.day):
            score += 0.12
    s_pc = {a.postcode for a in subject.addresses if a.postcode}
    c_pc = {a.postcode for a in candidate.addresses if a.postcode}
    if s_pc & c_pc:
        score += 0.15
    elif {p.split(" ")[0] for p in s_pc} & {p.split(" ")[0] for p in c_pc}:
        score += 0.07
    return round(min(score, 1.0), 3)


class FhirSearchConnector:
    """``AgencyConnector`` for a trust FHIR API (Model 2)."""

    agency_kind = AgencyKind.HEALTH

    def __init__(self, agency_id: str, client: FhirClient, options: FhirConnectorOptions | None = None) -> None:
        self.agency_id = agency_id
        self.client = client
        opts = options or FhirConnectorOptions()
        if opts.mapping.agency_id is None:
            opts = opts.model_copy(update={"mapping": opts.mapping.model_copy(update={"agency_id": agency_id})})
        self.options = opts

    # -- search ------------------------------------------------------------------
    def _validated_search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for bundle in self.client.search_pages(resource_type, params):
            try:
                validate_resource(bundle, "Bundle")
            except FhirValidationError as exc:
                raise PermanentEnquiryError(f"trust FHIR server returned invalid {resource_type} data: "
                                            + "; ".join(exc.paths[:5])) from None
            for entry in bundle.get("entry", []) or []:
                res = entry.get("resource") or {}
                if res.get("resourceType") == resource_type and (entry.get("search") or {}).get("mode", "match") == "match":
                    out.append(res)
        return out

    def find_candidates(self, subject: Person) -> tuple[list[tuple[dict[str, Any], float, MatchMethod]], list[str]]:
        """Patients that may be ``subject``: (resource, confidence, method); plus notes."""
        notes: list[str] = []
        nhs = subject.identifier(IdentifierSystem.NHS_NUMBER)
        if nhs is not None and nhs.trusted:
            found = self._validated_search("Patient", {"identifier": f"{FHIR_NHS_NUMBER_SYSTEM}|{nhs.value}"})
            if len(found) == 1:
                return [(found[0], 1.0, MatchMethod.NHS_NUMBER)], notes
            if len(found) > 1:
                notes.append(f"{len(found)} patient records share the NHS number; all reported as candidates")
                return [(p, 0.8, MatchMethod.NHS_NUMBER) for p in found], notes
            notes.append("NHS number not found; searched by demographics")
        elif nhs is not None:
            notes.append("NHS number fails the modulus 11 check and was not used; searched by demographics")
        name = subject.official_name
        params: dict[str, str] = {}
        if name and name.family:
            params["family"] = name.family
        if subject.birth_date and subject.birth_date.precision == "day":
            params["birthdate"] = subject.birth_date.value.isoformat()
        if len(params) < 2:
            if name and name.given:
                params["given"] = name.given[0]
            postcode = next((a.postcode for a in subject.addresses if a.postcode), None)
            if postcode:
                params["address-postalcode"] = postcode
        if not params:
            notes.append("not enough demographics to search")
            return [], notes
        scored = []
        for resource in self._validated_search("Patient", params):
            person = patient_person(resource, self.options.mapping, [])
            confidence = demographic_confidence(subject, person)
            if confidence >= self.options.candidate_threshold:
                scored.append((resource, confidence, MatchMethod.DEMOGRAPHIC))
        scored.sort(key=lambda item: -item[1])
        return scored, notes

    def patient_record(self, patient: dict[str, Any]) -> AgencyRecord:
        """The patient with everything about them the connector reads."""
        related: list[dict[str, Any]] = []
        ref = f"Patient/{patient['id']}"
        for rtype, param in CLINICAL_SEARCHES:
            related.extend(self._validated_search(rtype, {param: ref}))
        return build_record(patient, related, self.options.mapping)

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        people: list[Person] = []
        matches: list[SubjectMatch] = []
        findings: list[Finding] = []
        relationships = []
        notes: list[str] = []
        withheld = 0
        record_issues: list[ResponseRecordIssue] = []
        seen: set[str] = set()
        for subject in enquiry.subjects:
            candidates, sub_notes = self.find_candidates(subject)
            notes.extend(f"{subject.person_id}: {n}" for n in sub_notes)
            certain = (
                len(candidates) == 1
                and (candidates[0][2] is MatchMethod.NHS_NUMBER and candidates[0][1] == 1.0
                     or candidates[0][1] >= self.options.auto_match_threshold)
            )
            for resource, confidence, method in candidates:
                source = SourceRef(agency_kind=AgencyKind.HEALTH, agency_id=self.agency_id, system=self.options.mapping.system,
                                   record_id=f"Patient/{resource['id']}", organisation=self.options.mapping.organisation)
                if certain:
                    record = self.patient_record(resource)
                    person = record.person
                else:
                    record = None
                    person = patient_person(resource, self.options.mapping, [])
                matches.append(SubjectMatch(subject_person_id=subject.person_id, record_person_id=person.person_id,
                                            source=source, method=method, confidence=confidence, candidate=not certain))
                if person.person_id in seen:
                    continue
                seen.add(person.person_id)
                people.append(person)
                if record is not None:
                    people.extend(p for p in record.related_people if p.person_id not in seen)
                    seen.update(p.person_id for p in record.related_people)
                    relationships.extend(record.relationships)
                    released_ids: set[str] = set()
                    for finding in record.findings:
                        if finding.sensitivity in self.options.release:
                            findings.append(finding)
                            released_ids.add(finding.finding_id)
                        else:
                            withheld += 1
                    record_issues.extend(record_issues_of(record, self.agency_id, released_ids))
        if withheld:
            notes.append(f"{withheld} sensitive finding(s) held and not released under the sharing policy")
        status = ResponseStatus.INFORMATION_FOUND if matches else ResponseStatus.NOT_KNOWN
        return [EnquiryResponse(
            response_id=response_id_for(enquiry.enquiry_id, self.agency_id, 1), enquiry_id=enquiry.enquiry_id,
            referral_id=enquiry.referral_id, agency_id=self.agency_id, agency_kind=AgencyKind.HEALTH, status=status,
            people=people if matches else [], matches=matches, findings=findings, relationships=relationships if matches else [],
            record_issues=record_issues if matches else [],
            responder=self.options.responder, responded_at=datetime.now(timezone.utc),
            note="\n".join(notes)[:4000] or None,
        )]


class FhirTaskDelivery:
    """Model 3: enquiries become Tasks in the trust's FHIR server; completed Tasks become responses."""

    def __init__(self, agency_id: str, client: FhirClient, *, requester: str = "MASH") -> None:
        self.agency_id = agency_id
        self.client = client
        self.requester = requester

    @staticmethod
    def task_identifier(enquiry: Enquiry, subject: Person) -> str:
        return f"{enquiry.enquiry_id}/{subject.person_id}"

    def _existing(self, identifier: str) -> dict[str, Any] | None:
        found = self.client.search("Task", {"identifier": f"{ENQUIRY_SYSTEM}|{identifier}"})
        return found[0] if found else None

    def build_task(self, enquiry: Enquiry, subject: Person, patient_id: str | None) -> dict[str, Any]:
        nhs = subject.identifier(IdentifierSystem.NHS_NUMBER)
        if patient_id:
            focus: dict[str, Any] = {"reference": f"Patient/{patient_id}"}
        elif nhs is not None and nhs.trusted:
            focus = {"identifier": {"system": FHIR_NHS_NUMBER_SYSTEM, "value": nhs.value}}
        else:
            name = subject.official_name
            focus = {"display": " ".join([*(name.given if name else []), (name.family or "") if name else ""]).strip() or subject.person_id}
        inputs = [{"type": {"text": "question"}, "valueString": q} for q in enquiry.questions]
        inputs += [{"type": {"text": "lawful-basis"}, "valueString": b.value} for b in enquiry.lawful_basis]
        if subject.birth_date:
            inputs.append({"type": {"text": "birth-date"}, "valueDate": subject.birth_date.value.isoformat()})
        task: dict[str, Any] = {
            "resourceType": "Task",
            "identifier": [{"system": ENQUIRY_SYSTEM, "value": self.task_identifier(enquiry, subject)}],
            "groupIdentifier": {"system": REFERRAL_SYSTEM, "value": enquiry.referral_id},
            "status": "requested", "intent": "order", "priority": TASK_PRIORITY[enquiry.rag],
            "code": {"text": "MASH safeguarding information request"},
            "description": ("Concerns: " + ", ".join(enquiry.concerns)) if enquiry.concerns else "MASH enquiry",
            "for": focus,
            "authoredOn": enquiry.requested_at.isoformat(),
            "requester": {"display": enquiry.requester or self.requester},
            "restriction": {"period": {"end": enquiry.due_at.isoformat()}},
            "meta": {"security": [{"system": "urn:mashlink:classification", "code": enquiry.classification.value}]},
        }
        if inputs:
            task["input"] = inputs
        return task

    def deliver(self, enquiry: Enquiry) -> list[str]:
        """Create one Task per subject (or find the one already created); returns Task ids."""
        ids: list[str] = []
        for subject in enquiry.subjects:
            ident = self.task_identifier(enquiry, subject)
            existing = self._existing(ident)
            if existing is not None:
                ids.append(existing["id"])
                continue
            patient_id = None
            nhs = subject.identifier(IdentifierSystem.NHS_NUMBER)
            if nhs is not None and nhs.trusted:
                found = self.client.search_patient_by_nhs_number(nhs.value)
                if len(found) == 1:
                    patient_id = found[0]["id"]
            created = self.client.create(self.build_task(enquiry, subject, patient_id))
            ids.append(created["id"])
        return ids

    def collect(self, enquiry: Enquiry, *, sequence: int = 1) -> EnquiryResponse | None:
        """The response once every subject's Task is finished (completed/rejected), else None.

        ``sequence`` numbers the answer among the enquiry's responses (2 when an
        acknowledgement was sent first), so its ``response_id`` is stable.
        """
        tasks = []
        for subject in enquiry.subjects:
            task = self._existing(self.task_identifier(enquiry, subject))
            if task is None:
                raise PermanentEnquiryError("no Task was delivered for this enquiry subject")
            tasks.append((subject, task))
        if any(t.get("status") not in ("completed", "rejected", "cancelled", "failed") for _s, t in tasks):
            return None
        people: list[Person] = []
        findings: list[Finding] = []
        matches: list[SubjectMatch] = []
        declined: list[str] = []
        for subject, task in tasks:
            if task["status"] != "completed":
                declined.append((task.get("statusReason") or {}).get("text") or f"Task {task['status']}")
                continue
            outputs = task.get("output", []) or []
            if not outputs:
                continue
            focus = task.get("for") or {}
            record_person_id = focus.get("reference") or f"Task/{task['id']}#for"
            source = SourceRef(agency_kind=AgencyKind.HEALTH, agency_id=self.agency_id, system="FHIR Task",
                               record_id=f"Task/{task['id']}")
            if record_person_id not in {p.person_id for p in people}:
                people.append(Person(person_id=record_person_id, names=subject.names, birth_date=subject.birth_date,
                                     identifiers=subject.identifiers))
            matches.append(SubjectMatch(subject_person_id=subject.person_id, record_person_id=record_person_id,
                                        source=source, method=MatchMethod.MANUAL, confidence=1.0))
            for i, out in enumerate(outputs, start=1):
                codings = (out.get("type") or {}).get("coding", []) or []
                cat = next((c.get("code") for c in codings if c.get("system") == CATEGORY_SYSTEM), None)
                sens = next((c.get("code") for c in codings if c.get("system") == SENSITIVITY_SYSTEM), None)
                try:
                    category = FindingCategory(cat)
                    sensitivity = Sensitivity(sens) if sens else Sensitivity.STANDARD
                except ValueError:
                    raise PermanentEnquiryError(f"Task/{task['id']}.output[{i - 1}].type: unknown finding category or sensitivity") from None
                findings.append(Finding(finding_id=f"Task/{task['id']}#output-{i}", subject_person_id=record_person_id,
                                        category=category, summary=str(out.get("valueString", ""))[:4000],
                                        source=source, sensitivity=sensitivity))
        base = dict(response_id=response_id_for(enquiry.enquiry_id, self.agency_id, sequence), sequence=sequence,
                    enquiry_id=enquiry.enquiry_id,
                    referral_id=enquiry.referral_id, agency_id=self.agency_id, agency_kind=AgencyKind.HEALTH,
                    responder="Trust safeguarding team (FHIR Task)", responded_at=datetime.now(timezone.utc))
        if declined and not matches:
            return EnquiryResponse(status=ResponseStatus.DECLINED, declined_reason="; ".join(declined)[:2000], **base)  # type: ignore[arg-type]
        if not matches:
            return EnquiryResponse(status=ResponseStatus.NOT_KNOWN, **base)  # type: ignore[arg-type]
        return EnquiryResponse(status=ResponseStatus.PARTIAL if declined else ResponseStatus.INFORMATION_FOUND,
                               people=people, matches=matches, findings=findings,
                               note=("; ".join(declined) or None), **base)  # type: ignore[arg-type]


def task_output(category: FindingCategory, summary: str, sensitivity: Sensitivity | None = None) -> dict[str, Any]:
    """How the trust side writes one finding into ``Task.output`` (for simulators, tests and docs)."""
    coding = [{"system": CATEGORY_SYSTEM, "code": category.value}]
    if sensitivity is not None:
        coding.append({"system": SENSITIVITY_SYSTEM, "code": sensitivity.value})
    return {"type": {"coding": coding}, "valueString": summary}

