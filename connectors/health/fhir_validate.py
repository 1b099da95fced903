"""FHIR R4 (4.0.1, as UK Core) validation with fhir.resources' R4B models.

fhir.resources defaults to R5, which misreads R4 data (``Encounter.class``
changed from a Coding to a list of CodeableConcepts, for one), so every
model here is imported from ``fhir.resources.R4B``. Validation failures are
reported with FHIRPath-style element paths (``Bundle.entry[0].resource.birthDate``)
and the rule broken, never with the offending value (it may be personal data).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic.v1 import ValidationError

R4B_MODULES = {
    "Bundle": "bundle", "Patient": "patient", "Encounter": "encounter", "Flag": "flag",
    "Condition": "condition", "EpisodeOfCare": "episodeofcare", "RelatedPerson": "relatedperson",
    "Task": "task", "OperationOutcome": "operationoutcome", "ServiceRequest": "servicerequest",
    "CapabilityStatement": "capabilitystatement",
}


@dataclass(frozen=True)
class ElementError:
    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} ({self.rule})"


class FhirValidationError(ValueError):
    """A FHIR resource that does not conform to R4; lists every element path at fault."""

    def __init__(self, resource_type: str, errors: list[ElementError]) -> None:
        self.resource_type = resource_type
        self.errors = errors
        super().__init__(
            f"invalid FHIR R4 {resource_type}: " + "; ".join(str(e) for e in errors[:10])
            + (f" (+{len(errors) - 10} more)" if len(errors) > 10 else "")
        )

    @property
    def paths(self) -> list[str]:
        return [e.path for e in self.errors]


@lru_cache(maxsize=256)
def model_class(resource_type: str) -> Any:
    """The R4B model class of a resource type (``Patient`` -> fhir.resources.R4B.patient.Patient)."""
    module = R4B_MODULES.get(resource_type) or resource_type.lower()
    cls = None
    if resource_type.isalpha() and resource_type[:1].isupper():
        try:
            cls = getattr(importlib.import_module(f"fhir.resources.R4B.{module}"), resource_type, None)
        except ImportError:
            cls = None
    if cls is None:
        raise FhirValidationError(resource_type, [ElementError("resourceType", "resourceType", "unknown FHIR R4 resource type")])
    return cls


def element_path(resource_type: str, loc: tuple[Any, ...]) -> str:
    out = resource_type
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "__root__":
            continue
        else:
            out += f".{'class' if part == 'class_fhir' else part}"
    return out


def _validate_one(cls: Any, data: dict[str, Any], prefix: str, errors: list[ElementError]) -> Any:
    try:
        return cls.parse_obj(data)
    except ValidationError as exc:
        errors.extend(ElementError(element_path(prefix, tuple(e["loc"])), e["type"], e["msg"]) for e in exc.errors())
        return None


def validate_resource(data: Any, expected: str | None = None) -> Any:
    """Validate a resource (or Bundle) dict with the R4B models; returns the model instance.

    A Bundle is validated as its shell (type, links, entry metadata) plus each
    entry's resource with its own R4B class. That is the same checking the
    Bundle model does through its polymorphic ``entry.resource`` (about a
    quarter faster), and it reports the errors of *every* entry, with paths
    like ``Bundle.entry[3].resource.birthDate``, instead of stopping at the first.
    For a Bundle the return value is the shell model; entries are checked, not kept.
    """
    if not isinstance(data, dict):
        raise FhirValidationError(expected or "Resource", [ElementError(expected or "Resource", "json.object", "a FHIR resource must be a JSON object")])
    rtype = data.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise FhirValidationError(expected or "Resource", [ElementError("resourceType", "required", "resourceType is missing")])
    if expected and rtype != expected:
        raise FhirValidationError(rtype, [ElementError("resourceType", "expected", f"expected {expected}, got {rtype}")])
    cls = model_class(rtype)
    errors: list[ElementError] = []
    entries = data.get("entry") if rtype == "Bundle" else None
    if isinstance(entries, list) and all(isinstance(e, dict) for e in entries):
        shell = {k: v for k, v in data.items() if k != "entry"}
        shell["entry"] = [{k: v for k, v in e.items() if k != "resource"} for e in entries]
        model = _validate_one(cls, shell, rtype, errors)
        for i, entry in enumerate(entries):
            resource = entry.get("resource")
            if resource is None:
                continue
            prefix = f"Bundle.entry[{i}].resource"
            rt = resource.get("resourceType") if isinstance(resource, dict) else None
            try:
                rcls = model_class(rt) if isinstance(rt, str) and rt else None
            except FhirValidationError:
                rcls = None
            if rcls is None:
                errors.append(ElementError(f"{prefix}.resourceType", "resourceType", "missing or unknown resource type"))
                continue
            _validate_one(rcls, resource, prefix, errors)
    else:
        model = _validate_one(cls, data, rtype, errors)
    if errors:
        raise FhirValidationError(rtype, errors)
    return model
