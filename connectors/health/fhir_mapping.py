"""FHIR R4 (UK Core) -> canonical ``AgencyRecord`` through the YAML spec, live and in ``translate fhir``.

``config/mappings/fhir-r4.yaml`` is the one place a trust adapts FHIR codes,
extensions and paths (issue 17): the FHIR search connector and ``mashlink
translate fhir`` both run it, compiled once by ``mapping/``. A deployment may
point the connector's ``mapping.spec`` option at its own copy.

The spec reads one *native record* per Patient, built here the same way on
both paths (``native_record``): the Patient, its contacts (each with the id
its related person gets), the Encounters, Conditions, EpisodesOfCare and
RelatedPersons about it, and its Flags grouped by the flag classifier
(``fhir_translate.classify_flag`` and codes/fhir-flag-class.yaml: code lists
per code system, markers and phrases, which a path language cannot express).
After the spec, ``apply_live_options`` adds the connector options YAML cannot
know: agency id, the trust's ODS code, identifier systems of hospital numbers,
and the modulus 11 note.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .fhir_translate import FhirMappingOptions, classify_flag, default_mapping_options, subject_reference
from .fhir_validate import validate_resource
from .spec_notes import compiled_spec, note_untrusted_nhs_numbers, rejection, set_source, validated
from ...mapping.compiler import CompiledMapping
from ...mapping.errors import Position, RecordError
from ...mapping.formats import mappings_dir
from ...schemas.record import AgencyRecord

#: Resource type -> the native record's group the spec maps it from.
GROUPS = {"Encounter": "encounters", "Flag": "flags", "Condition": "conditions",
          "EpisodeOfCare": "episodes", "RelatedPerson": "related"}
#: Flag class (``classify_flag``) -> the group the spec maps it from.
FLAG_GROUPS = {"child_protection": "flags_child_protection", "safeguarding": "flags_safeguarding",
               "unclassified": "flags_unclassified"}


class FhirMappingError(ValueError):
    """A Patient the spec rejects; names fields and rules, never values."""


def default_spec_path() -> Path:
    return mappings_dir() / "fhir-r4.yaml"


def _code_systems(flag: dict[str, Any]) -> str | None:
    """The code systems of a Flag's code, space-separated."""
    code = flag.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    systems = {str(c["system"]) for c in codings or [] if isinstance(c, dict) and c.get("system")}
    return " ".join(sorted(systems)) or None


def native_record(patient: dict[str, Any], related: Iterable[dict[str, Any]],
                  options: FhirMappingOptions | None = None) -> dict[str, Any]:
    """One Patient and the resources about them, grouped as the spec reads them."""
    opts = options or default_mapping_options()
    record: dict[str, Any] = {"patient": patient, **{g: [] for g in (*GROUPS.values(), *FLAG_GROUPS.values())}}
    pid = f"Patient/{patient.get('id', 'unknown')}"
    record["contacts"] = [{"contact": c, "person_id": f"{pid}#contact-{i}"}
                          for i, c in enumerate(patient.get("contact", []) or [], start=1) if isinstance(c, dict)]
    for resource in related:
        group = GROUPS.get(resource.get("resourceType", ""))
        if group is None:
            continue
        record[group].append(resource)
        if group == "flags":
            flag_class, matched_by = classify_flag(resource, opts)
            record[FLAG_GROUPS[flag_class]].append({"flag": resource, "flag_class": flag_class,
                                                    "matched_by": matched_by, "code_systems": _code_systems(resource)})
    return record


def native_records(document: dict[str, Any], options: FhirMappingOptions | None = None) -> list[dict[str, Any]]:
    """A resource or Bundle as one native record per Patient (resources about no Patient in it are left out)."""
    if document.get("resourceType") == "Bundle":
        resources = [e["resource"] for e in document.get("entry", []) or []
                     if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    else:
        resources = [document]
    about: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        if r.get("resourceType") != "Patient" and r.get("resourceType") in GROUPS:
            ref = subject_reference(r)
            if ref is not None:
                about.setdefault(ref, []).append(r)
    return [native_record(r, about.get(str(r.get("id")), []), options)
            for r in resources if r.get("resourceType") == "Patient"]


def apply_live_options(out: dict[str, Any], patient: dict[str, Any], options: FhirMappingOptions) -> dict[str, Any]:
    """Add the connector options the spec cannot know to the translated record (a dict, before validation)."""
    set_source(out, agency_id=options.agency_id, organisation=options.organisation,
               system=options.system if options.system != "FHIR R4" else None)
    person = out.get("person")
    if options.mrn_systems and isinstance(person, dict):
        for ident in patient.get("identifier", []) or []:
            scope = options.mrn_systems.get(str(ident.get("system")))
            if scope and ident.get("value"):
                person.setdefault("identifiers", []).append(
                    {"system": "hospital_mrn", "value": ident["value"], "scope": scope})
    note_untrusted_nhs_numbers(out)
    return out


class FhirTranslator:
    """Translates native records with the compiled spec plus the connector's ``FhirMappingOptions``."""

    def __init__(self, options: FhirMappingOptions | None = None) -> None:
        self.options = options or default_mapping_options()
        self.mapping: CompiledMapping = compiled_spec(self.options.spec or default_spec_path())

    def translate(self, native: dict[str, Any]) -> AgencyRecord:
        """One native record -> ``AgencyRecord``; raises ``FhirMappingError`` naming fields and rules."""
        patient = native["patient"]
        try:
            out = self.mapping.translate_dict(native, Position("fhir", 1, path=f"Patient/{patient.get('id', '?')}"))
        except RecordError as exc:
            raise FhirMappingError(f"Patient rejected by the FHIR mapping spec ({rejection(exc)})") from None
        apply_live_options(out, patient, self.options)
        try:
            return validated(out)
        except ValueError as exc:
            raise FhirMappingError(str(exc)) from None

    def record(self, patient: dict[str, Any], related: Iterable[dict[str, Any]] = ()) -> AgencyRecord:
        """The Patient with the resources about them."""
        return self.translate(native_record(patient, related, self.options))


def translate_document(document: dict[str, Any], options: FhirMappingOptions | None = None,
                       *, validate: bool = True) -> list[AgencyRecord]:
    """A resource or a Bundle -> one AgencyRecord per Patient in it (R4B-validated first when ``validate``).

    Raises ``FhirValidationError`` (with element paths) when the document does not conform to R4.
    """
    if validate:
        validate_resource(document)
    translator = FhirTranslator(options)
    return [translator.translate(native) for native in native_records(document, translator.options)]
