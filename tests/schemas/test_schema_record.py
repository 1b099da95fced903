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
