"""The FHIR health connector: Model 2 search and Model 3 Task delivery.

Model 2 (``FhirSearchConnector.handle``): for each enquiry subject, search
the trust's FHIR API (the source of truth) with several bounded queries whose
results are pooled: the NHS number (only one that passes modulus 11), the
date of birth with its day/month swap (``birthdate=a,b``), the family names'
sound with the birth year (``phonetic``; the family name as a prefix when the
server does not support ``phonetic``), and without a date of birth the family
name with the given name or postcode. Every Patient returned, however it was
found, is re-scored with the shared matcher (``Scorer`` with the weights
``matching.model`` names, else the default model, and ``decide`` for near-ties
and household members) before anything is
released: a patient found only by an NHS number whose demographics disagree
(a sibling's number keyed on the referral) is a candidate at most, and when
the right child is found too the number is explained and only that child is
released. An unborn subject is searched for through the mother the enquiry
names (the trust holds the pregnancy on her record), and each woman returned is
scored as that pregnancy's mother (:mod:`.matching`). Only the best record of a match outcome is fetched in full; a search
cut short by the client's page limit releases nothing (every result is a
candidate). Uncertain or multiple matches are reported as candidates (a
minimal view) and carry *no* findings: a false match would disclose another
family's health record. Sensitive
findings (sexual health, mental health) are released only when the sharing
policy (``release``) allows; otherwise the response says how many were
withheld.

Model 3 (``FhirTaskDelivery``): each subject becomes a FHIR ``Task`` on the
trust's server (idempotent on an enquiry identifier), which their staff
work in their own tool; a completed Task's outputs become the response.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...config.matching import MatchPolicy
from ..base import PermanentEnquiryError, response_id_for
from .fhir_client import FhirClient, FhirError
from ..indexed_search import IndexedHit, hits_from_outcome, mother_in_enquiry, others_in_enquiry
from ..found import candidate_view
from .fhir_mapping import FhirMappingError, FhirTranslator
from .fhir_translate import FhirMappingOptions
from .fhir_validate import FhirValidationError, validate_resource
from ...matching.decide import ScoredCandidate, SearchOutcome, decide
from ...matching.model_file import TrainedWeights
from ...matching.rules import MatchDecision
from ...matching.scorer import ScoredPair
from .matching import health_scorer, score_patient
from ...schemas.codes import AgencyKind, FindingCategory, MatchMethod, Rag, ResponseStatus, Sensitivity
from ...schemas.enquiry import Enquiry, EnquiryResponse, ResponseRecordIssue, SubjectMatch, record_issues_of
from ...schemas.finding import Finding, SourceRef
from ...schemas.identifiers import FHIR_NHS_NUMBER_SYSTEM, IdentifierSystem
from ...schemas.person import Person
from ...schemas.record import AgencyRecord

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
    auto_match_threshold: float = Field(default=0.95, ge=0, le=1,
                                        description="Superseded by matching.auto_match (kept so configurations load)")
    candidate_threshold: float = Field(default=0.5, ge=0, le=1,
                                       description="Superseded by matching.review (kept so configurations load)")
    matching: MatchPolicy = Field(default_factory=MatchPolicy.default,
                                  description="The shared matcher's thresholds for this trust (docs/matching.md)")
    phonetic_search: bool = Field(default=True, description="Use the FHIR phonetic parameter (the family name "
                                                            "prefix is used if the server refuses it)")
    responder: str = "Trust safeguarding team"
    mapping: FhirMappingOptions = FhirMappingOptions()


class FhirSearchConnector:
    """``AgencyConnector`` for a trust FHIR API (Model 2)."""

    agency_kind = AgencyKind.HEALTH

    def __init__(self, agency_id: str, client: FhirClient, options: FhirConnectorOptions | None = None,
                 *, weights: TrainedWeights | None = None) -> None:
        self.agency_id = agency_id
        self.client = client
        opts = options or FhirConnectorOptions()
        if opts.mapping.agency_id is None:
            opts = opts.model_copy(update={"mapping": opts.mapping.model_copy(update={"agency_id": agency_id})})
        self.options = opts
        # matching.model: weights trained on a health extract (no local index to train on); else the defaults
        self.scorer = health_scorer(opts.matching, weights)
        # config/mappings/fhir-r4.yaml (or the trust's mapping.spec): the one place FHIR codes are adapted
        self.translator = FhirTranslator(opts.mapping)

    # -- search ------------------------------------------------------------------
    def _validated_search(self, resource_type: str, params: dict[str, str],
                          cut_short: list[bool] | None = None) -> list[dict[str, Any]]:
        """Every resource the search returns; ``cut_short`` gets True when the client's page limit stopped it."""
        out: list[dict[str, Any]] = []
        pages = 0
        more = False
        for bundle in self.client.search_pages(resource_type, params):
            pages += 1
            try:
                validate_resource(bundle, "Bundle")
            except FhirValidationError as exc:
                raise PermanentEnquiryError(f"trust FHIR server returned invalid {resource_type} data: "
                                            + "; ".join(exc.paths[:5])) from None
            more = any(link.get("relation") == "next" for link in bundle.get("link", []) or [])
            for entry in bundle.get("entry", []) or []:
                res = entry.get("resource") or {}
                if res.get("resourceType") == resource_type and (entry.get("search") or {}).get("mode", "match") == "match":
                    out.append(res)
        if cut_short is not None and more and pages >= self.client.settings.max_pages:
            cut_short.append(True)
        return out

    def _queries(self, subject: Person, notes: list[str]) -> list[dict[str, str]]:
        """The bounded Patient searches whose results are pooled for one subject (see the module docstring)."""
        queries: list[dict[str, str]] = []
        nhs = subject.identifier(IdentifierSystem.NHS_NUMBER)
        if nhs is not None and nhs.trusted:
            queries.append({"identifier": f"{FHIR_NHS_NUMBER_SYSTEM}|{nhs.value}"})
        elif nhs is not None:
            notes.append("NHS number fails the modulus 11 check and was not used; searched by demographics")
        born = subject.birth_date
        if born is not None and born.precision == "day":
            d = born.value
            dates = [d.isoformat()]
            if d.day <= 12 and d.day != d.month:  # day and month swapped by a careless or US-style entry
                dates.append(f"{d.year:04d}-{d.day:02d}-{d.month:02d}")
            queries.append({"birthdate": ",".join(dates)})
        families = sorted({n.family.strip() for n in subject.names if n.family and n.family.strip()})
        if families and born is not None:
            key = "phonetic" if self.options.phonetic_search else "family"
            queries.append({key: ",".join(families), "birthdate": f"{born.value.year:04d}"})
        elif families:
            name = subject.official_name
            params = {"family": ",".join(families)}
            postcode = next((a.postcode for a in subject.addresses if a.postcode), None)
            if name and name.given:
                params["given"] = name.given[0]
            elif postcode:
                params["address-postalcode"] = postcode
            queries.append(params)
        return queries

    def search_subject(self, subject: Person, *, mother: Person | None = None, others: Sequence[Person] = ()
                       ) -> tuple[SearchOutcome, dict[str, dict[str, Any]], list[str]]:
        """The shared matcher's outcome over every Patient the trust returned; the resources by record id; notes.

        ``others``: the enquiry's other people, scored against the same Patients, so one plainly
        another person on the referral is not offered for the subject (``matching.decide``).
        """
        notes: list[str] = []
        if subject.unborn and mother is None:
            notes.append("an unborn child is found through the mother's record; the enquiry names no mother")
            return SearchOutcome(outcome=MatchDecision.NO_MATCH, reasons=["unborn_mother_unknown"]), {}, notes
        queries = self._queries(mother if subject.unborn and mother is not None else subject, notes)
        if not queries:
            notes.append("not enough demographics to search")
            return SearchOutcome(outcome=MatchDecision.NO_MATCH, reasons=["no_search"]), {}, notes
        found: dict[str, dict[str, Any]] = {}
        cut_short: list[bool] = []
        for params in queries:
            try:
                results = self._validated_search("Patient", params, cut_short)
            except FhirError as exc:
                if "phonetic" not in params or exc.status != 400:
                    raise
                notes.append("the trust's server does not support phonetic search; searched the family name")
                fallback = {("family" if k == "phonetic" else k): v for k, v in params.items()}
                results = self._validated_search("Patient", fallback, cut_short)
            for resource in results:
                found.setdefault(f"Patient/{resource['id']}", resource)
        scored = []
        claims: dict[str, list[ScoredPair]] = {}
        for record_id, resource in found.items():
            person = self._translate(resource).person
            scored.append(ScoredCandidate(record_id=record_id, person=person,
                                          pair=score_patient(self.scorer, subject, person, mother=mother)))
            if not subject.unborn and not person.unborn:  # an unborn subject's candidate is a pregnancy
                claims[record_id] = [score_patient(self.scorer, other, person) for other in others if not other.unborn]
        outcome = decide(subject, scored, self.options.matching, others=claims)
        if cut_short and outcome.outcome is MatchDecision.MATCH:
            notes.append("a search stopped at the page limit, so a closer record may be missing: "
                         "every result is for a person to confirm")
            results = [r.model_copy(update={"pair": r.pair.model_copy(update={
                "decision": MatchDecision.CANDIDATE, "reasons": [*r.pair.reasons, "search_cut_short"]})})
                if r.pair.decision is MatchDecision.MATCH else r for r in outcome.results]
            outcome = SearchOutcome(outcome=MatchDecision.CANDIDATE, results=results,
                                    reasons=[*outcome.reasons, "search_cut_short"])
        return outcome, found, notes

    def find_candidates(self, subject: Person, *, mother: Person | None = None, others: Sequence[Person] = ()
                        ) -> tuple[list[tuple[dict[str, Any], IndexedHit]], list[str]]:
        """Patients shown for ``subject``, best first: (resource, hit); at most the first is confirmed."""
        outcome, found, notes = self.search_subject(subject, mother=mother, others=others)
        hits = hits_from_outcome(outcome, other_id_method=MatchMethod.DEMOGRAPHIC)
        return [(found[h.record_id], h) for h in hits], notes

    def patient_record(self, patient: dict[str, Any]) -> AgencyRecord:
        """The patient with everything about them the connector reads."""
        related: list[dict[str, Any]] = []
        ref = f"Patient/{patient['id']}"
        for rtype, param in CLINICAL_SEARCHES:
            related.extend(self._validated_search(rtype, {param: ref}))
        return self._translate(patient, related)

    def _translate(self, patient: dict[str, Any], related: list[dict[str, Any]] | None = None) -> AgencyRecord:
        """The Patient (and what is about them) through the spec; a rejected Patient is a permanent error."""
        try:
            return self.translator.record(patient, related or [])
        except FhirMappingError as exc:
            raise PermanentEnquiryError(f"trust FHIR data could not be translated: {exc}") from None

    def handle(self, enquiry: Enquiry) -> list[EnquiryResponse]:
        people: list[Person] = []
        matches: list[SubjectMatch] = []
        findings: list[Finding] = []
        relationships = []
        notes: list[str] = []
        withheld = 0
        record_issues: list[ResponseRecordIssue] = []
        seen: set[str] = set()
        released: set[str] = set()
        for subject in enquiry.subjects:
            mother = mother_in_enquiry(subject, enquiry.subjects, enquiry.relationships)
            candidates, sub_notes = self.find_candidates(subject, mother=mother,
                                                         others=others_in_enquiry(subject, enquiry.subjects))
            notes.extend(f"{subject.person_id}: {n}" for n in sub_notes)
            for resource, hit in candidates:
                source = SourceRef(agency_kind=AgencyKind.HEALTH, agency_id=self.agency_id, system=self.options.mapping.system,
                                   record_id=f"Patient/{resource['id']}", organisation=self.options.mapping.organisation)
                if hit.confirmed:
                    record = self.patient_record(resource)
                    person = record.person
                else:
                    record = None
                    person = candidate_view(hit.person)
                matches.append(SubjectMatch(subject_person_id=subject.person_id, record_person_id=person.person_id,
                                            source=source, method=hit.method, confidence=hit.confidence,
                                            candidate=not hit.confirmed))
                if person.person_id in released or (person.person_id in seen and record is None):
                    continue
                if person.person_id in seen:
                    # Confirmed for this subject after being a candidate for another: the full record replaces the view.
                    people[:] = [p for p in people if p.person_id != person.person_id]
                seen.add(person.person_id)
                if record is not None:
                    released.add(person.person_id)
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

