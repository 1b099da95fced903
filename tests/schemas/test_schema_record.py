"""AgencyRecord rules: one record is one agency's account of one subject."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mashlink.schemas.record import AgencyRecord


def record(finding_kind: str, category: str) -> dict:
    return {
        "source": {"agency_kind": "health", "system": "PAS", "record_id": "R1"},
        "person": {"person_id": "P1"},
        "findings": [{
            "finding_id": "F1", "subject_person_id": "P1", "category": category,
            "source": {"agency_kind": finding_kind, "system": "PAS", "record_id": "R1"},
        }],
    }


def test_findings_from_the_records_own_agency_accepted() -> None:
    parsed = AgencyRecord.model_validate(record("health", "health.ed_attendance"))
    assert parsed.findings[0].source.agency_kind == parsed.source.agency_kind


def test_finding_from_another_agency_rejected_at_its_position() -> None:
    with pytest.raises(ValidationError) as info:
        AgencyRecord.model_validate(record("social_care", "social_care.referral"))
    errors = info.value.errors()
    assert len(errors) == 1, errors
    assert errors[0]["loc"] == ("findings", 0, "source", "agency_kind")
    assert errors[0]["type"] == "finding_agency_mismatch"
    assert "social_care" in errors[0]["msg"] and "health" in errors[0]["msg"]


# --- keep and flag: native inconsistencies (issue 18) ------------------------------------------


def _native(**person: object) -> dict:
    source = {"agency_kind": "social_care", "system": "Mosaic", "record_id": "C1"}
    return {
        "source": source,
        "person": {"person_id": "C1", "birth_date": {"value": "2015-06-01"}, **person},
        "findings": [{"finding_id": "F1", "subject_person_id": "C1", "category": "social_care.referral",
                      "start": "2024-03-01", "end": "2024-02-01", "attributes": {"closure_reason": "RC8"},
                      "source": source}],
    }


def test_inconsistent_native_dates_are_kept_and_flagged_not_rejected() -> None:
    data = _native(death_date="2014-01-01",
                   addresses=[{"postcode": "ZZ99 1ZZ", "period": {"start": "2020-01-02", "end": "2020-01-01"}}])
    parsed = AgencyRecord.model_validate(data)
    assert parsed.findings[0].end is None and parsed.findings[0].start.isoformat() == "2024-03-01"
    assert parsed.findings[0].attributes == {"closure_reason": "RC8", "end_as_reported": "2024-02-01"}
    assert parsed.person.death_date is None                        # a child wrongly shown dead hides risk
    assert parsed.person.addresses[0].period.end is None
    rules = {(i.field, i.rule) for i in parsed.issues}
    assert rules == {("findings[0].end", "finding_order"), ("person.death_date", "death_before_birth"),
                     ("person.addresses[0].period.end", "period_order")}
    assert all("kept and flagged" in i.detail and "2014" not in i.detail for i in parsed.issues)
    assert data["findings"][0]["end"] == "2024-02-01"               # the caller's data is not changed
    again = AgencyRecord.model_validate_json(parsed.model_dump_json())
    assert again == parsed                                          # round trip: consistent, no new issues


def test_existing_issues_are_kept_alongside_the_new_ones() -> None:
    data = _native(expected_birth_date="2016-01-01")
    data["issues"] = [{"field": "person.identifiers[upn]", "rule": "upn_check", "detail": "x"}]
    parsed = AgencyRecord.model_validate(data)
    assert [i.rule for i in parsed.issues][0] == "upn_check"
    assert {i.rule for i in parsed.issues} == {"upn_check", "finding_order", "expected_birth_date_unborn_only"}
    assert parsed.person.expected_birth_date is None


def test_what_cannot_be_represented_is_still_rejected_naming_the_field() -> None:
    data = _native(unborn=True)                                   # unborn, with a birth date and no expected date
    with pytest.raises(ValidationError) as info:
        AgencyRecord.model_validate(data)
    assert info.value.errors()[0]["loc"][:2] == ("person", "birth_date")
    assert info.value.errors()[0]["type"] == "unborn_birth_date"


def test_a_finding_on_its_own_stays_strict() -> None:
    from mashlink.schemas.finding import Finding

    with pytest.raises(ValidationError) as info:
        Finding.model_validate(_native()["findings"][0])
    assert info.value.errors()[0]["type"] == "finding_order"


def test_keep_and_flag_from_json_reads_json_values_as_json() -> None:
    """A midnight UTC date-time stays a date-time (JSON semantics are not lost on the keep-and-flag path)."""
    import json

    data = _native()
    data["findings"][0]["start"] = "2024-03-01T00:00:00Z"
    parsed = AgencyRecord.model_validate_json(json.dumps(data))
    assert parsed.findings[0].start.isoformat() == "2024-03-01T00:00:00+00:00"
    assert [i.rule for i in parsed.issues] == ["finding_order"]
    ok = AgencyRecord.model_validate_json(json.dumps({**_native(), "findings": []}))
    assert ok.issues == []
