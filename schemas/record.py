"""AgencyRecord: one native record translated into canonical form.

This is what a mapping spec produces and what ``mashlink translate`` prints:
the subject as the agency knows them, the people related to them, and the
findings, each with the source it came from.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from pydantic import Field, ValidationError, model_validator

from .base import CanonicalModel, rule_error
from .finding import Finding, SourceRef
from .person import Person
from .relationship import Relationship


# Every RecordIssue is a data-quality issue: the record is usable, one field of it is doubtful or
# was left out. ``field`` is the canonical path (``findings[1].end``), ``rule`` the rule it broke,
# ``detail`` what was done; details name positions, never values (issues travel wherever the
# record goes, past the sharing policy's field choices). (The docstring is the JSON Schema's
# description: change it only with a re-export.)
class RecordIssue(CanonicalModel):
    """A data-quality problem kept with the record (stray text, failed check) rather than dropped."""

    field: str
    rule: str
    detail: str = ""


# --- keep and flag: native data that breaks a cross-field rule --------------------------------
#
# Real returns contain inconsistent data (a CIN closure date before its referral date, a death
# date before the birth date). The rules stay strict for everything built in Python and for
# every model on its own (a Finding, a Person), but an AgencyRecord is one agency's account of
# its own data: rejecting the whole child for one inconsistent date would hide everything else
# the agency knows. So when validating an AgencyRecord hits one of the rules below, the
# offending field (the one the rule names: the later, contradicted value) is left out of the
# canonical record, a RecordIssue names the field, the rule and the position of the value it
# contradicts, and the record is validated again. Other errors still reject the record.
#
# Why leave the contradicted value out rather than keep it as reported: the canonical models
# then hold only consistent values wherever they travel (an envelope re-validated by the hub,
# a finding copied into a response), and what is shown errs on the side that prompts a
# question: an episode shown as open, a child shown as alive, rather than one wrongly shown as
# closed or dead (which would hide current risk). Nothing is lost for the practitioner: a
# finding keeps the value as reported in ``attributes.<field>_as_reported`` (released with the
# finding under the same policy), the issue says what was left out, and source.record_id
# points at the agency record to check.


class NativeInconsistency:
    """How one cross-field rule is kept and flagged: what the value contradicts, and a sentence."""

    __slots__ = ("rule", "against", "explain")

    def __init__(self, rule: str, against: str | None, explain: str) -> None:
        self.rule = rule
        self.against = against          # sibling field the value contradicts (None: today, or a flag)
        self.explain = explain


#: Rule (the pydantic error type raised with ``rule_error``) -> how it is kept and flagged.
#: Add a rule here only when leaving out the field the rule names leaves a consistent record.
NATIVE_INCONSISTENCIES: dict[str, NativeInconsistency] = {
    r.rule: r for r in (
        NativeInconsistency("finding_order", "start", "end is before the start"),
        NativeInconsistency("period_order", "start", "period end is before its start"),
        NativeInconsistency("death_before_birth", "birth_date", "date of death is before the date of birth"),
        NativeInconsistency("death_date_future", None, "date of death is in the future"),
        NativeInconsistency("expected_birth_date_unborn_only", "unborn",
                            "an expected date of birth on a child who is not unborn"),
    )
}

_MAX_REPAIR_ROUNDS = 8  # each round removes at least one value; nested models surface errors one level at a time


def _loc_text(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _parent_of(data: Any, loc: tuple[Any, ...]) -> Any:
    node = data
    for part in loc[:-1]:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _as_reported(value: Any) -> str:
    iso = getattr(value, "isoformat", None)
    return iso() if callable(iso) else str(value)


def keep_and_flag(data: dict[str, Any], exc: ValidationError) -> tuple[dict[str, Any], list[dict[str, str]]] | None:
    """Repair the native inconsistencies named in ``exc``; None when there is none to repair.

    Returns a repaired copy of ``data`` and the issues to add. Errors of other
    kinds are left alone (validation is run again and reports them).
    """
    repaired: dict[str, Any] | None = None
    issues: list[dict[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        how = NATIVE_INCONSISTENCIES.get(err["type"])
        loc = tuple(err["loc"])
        if how is None or not loc or not isinstance(loc[-1], str):
            continue
        if repaired is None:
            repaired = copy.deepcopy(data)
        parent = _parent_of(repaired, loc)
        name = loc[-1]
        if not isinstance(parent, dict) or parent.get(name) is None:
            continue
        value = parent.pop(name)
        field = _loc_text(loc)
        where = f" ({_loc_text(loc[:-1] + (how.against,))})" if how.against else ""
        detail = (f"kept and flagged: {how.explain}{where} in the agency's record; "
                  f"{field} is left out of the canonical record")
        if loc[:1] == ("findings",) and len(loc) == 3:
            attributes = parent.get("attributes")
            if attributes is None or isinstance(attributes, dict):
                attributes = dict(attributes or {})
                attributes[f"{name}_as_reported"] = _as_reported(value)
                parent["attributes"] = attributes
                detail += f" (kept as reported in {_loc_text(loc[:-1])}.attributes.{name}_as_reported)"
        issues.append({"field": field, "rule": err["type"], "detail": detail + "; check with the agency"})
    if repaired is None or not issues:
        return None
    return repaired, issues


def validate_keeping_and_flagging(data: Any, validate: Callable[[Any], Any], first: ValidationError) -> Any:
    """After ``first`` failed on ``data``: keep and flag the native inconsistencies, validate again.

    ``validate`` is the plain validation (Python or JSON); errors that are not
    native inconsistencies are raised as they are.
    """
    if not isinstance(data, dict):
        raise first
    current: dict[str, Any] = data
    error = first
    for _ in range(_MAX_REPAIR_ROUNDS):
        result = keep_and_flag(current, error)
        if result is None:
            raise error
        current, issues = result
        existing = current.get("issues")
        current["issues"] = [*(existing if isinstance(existing, list) else []), *issues]
        try:
            return validate(current)
        except ValidationError as exc:
            error = exc
    raise error


class AgencyRecord(CanonicalModel):
    source: SourceRef
    person: Person
    related_people: list[Person] = Field(default_factory=list)
    relationships: list[Relationship] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    issues: list[RecordIssue] = Field(default_factory=list)

    # Native data that breaks a cross-field rule is kept and flagged (see NATIVE_INCONSISTENCIES).
    # Done around model_validate / model_validate_json rather than in a wrap validator, which would
    # hand pydantic a Python object for JSON input and change how JSON values are read (a midnight
    # date-time would become a date). The mapping engine and every reader of a record go through
    # these; a record nested in another message was made by this class, so it is already consistent.

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> "AgencyRecord":  # type: ignore[override]
        validate = super().model_validate
        try:
            return validate(obj, **kwargs)
        except ValidationError as exc:
            return validate_keeping_and_flagging(obj, lambda data: validate(data, **kwargs), exc)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any  # type: ignore[override]
                            ) -> "AgencyRecord":
        validate = super().model_validate_json
        try:
            return validate(json_data, **kwargs)
        except ValidationError as exc:
            try:
                data = json.loads(json_data)
            except ValueError:
                raise exc from None
            return validate_keeping_and_flagging(data, lambda d: validate(json.dumps(d), **kwargs), exc)

    @model_validator(mode="after")
    def _references_resolve(self) -> "AgencyRecord":
        ids = {self.person.person_id}
        for i, related in enumerate(self.related_people):
            if related.person_id in ids:
                raise rule_error(
                    "AgencyRecord", ("related_people", i, "person_id"), "person_id_duplicate",
                    "person_id values must be unique within a record", related.person_id,
                )
            ids.add(related.person_id)
        for i, rel in enumerate(self.relationships):
            for end in ("from_person_id", "to_person_id"):
                if getattr(rel, end) not in ids:
                    raise rule_error(
                        "AgencyRecord", ("relationships", i, end), "unknown_person_id",
                        "relationship refers to a person_id that is not in this record", getattr(rel, end),
                    )
        kind = self.source.agency_kind
        for i, finding in enumerate(self.findings):
            if finding.source.agency_kind is not kind:
                # One record is one agency's account; a finding from another agency inside it
                # would be shown in the chronology under the wrong source.
                raise rule_error(
                    "AgencyRecord", ("findings", i, "source", "agency_kind"), "finding_agency_mismatch",
                    f"finding comes from {finding.source.agency_kind.value} but the record is from {kind.value}",
                    finding.source.agency_kind.value,
                )
            if finding.subject_person_id not in ids:
                raise rule_error(
                    "AgencyRecord", ("findings", i, "subject_person_id"), "unknown_person_id",
                    "finding refers to a person_id that is not in this record", finding.subject_person_id,
                )
        return self
