"""Purpose on referrals and enquiries, and the consent decision record (who, when, why, authorised by)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from mashlink.schemas.codes import ConsentStatus, LawfulBasis, Purpose
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.export import JSON_DIR
from mashlink.schemas.referral import CONSENT_DECISION_FIELDS, CONSENT_DECISION_STATUSES, Consent, Referral
from tests.schemas.test_schema_referral import T0, iso, referral_data

DECISION = {"reason": "seeking consent would place the child at risk", "decided_by": "MASH screener",
            "decided_at": iso(T0), "authorised_by": "MASH team manager"}


def enquiry_data() -> dict[str, Any]:
    return {
        "enquiry_id": "ENQ-1", "referral_id": "REF-1", "agency_id": "health-synth", "agency_kind": "health",
        "subjects": [{"person_id": "C1", "names": [{"given": ["Ava"], "family": "Testchild"}]}],
        "rag": "amber", "requested_at": iso(T0), "due_at": iso(T0 + timedelta(hours=24)),
        "lawful_basis": ["children_act_1989_s47"], "requester": "Synthshire MASH",
    }


# ----------------------------------------------------------------------------- purpose


def test_purpose_defaults_to_mash_screening_and_is_shown() -> None:
    referral = Referral.model_validate(referral_data())
    assert referral.purpose is Purpose.MASH_SCREENING
    assert referral.model_dump(mode="json")["purpose"] == "mash_screening"
    enquiry = Enquiry.model_validate(enquiry_data())
    assert enquiry.purpose is Purpose.MASH_SCREENING
    assert json.loads(enquiry.model_dump_json())["purpose"] == "mash_screening"


@pytest.mark.parametrize("purpose", list(Purpose))
def test_every_purpose_round_trips(purpose: Purpose) -> None:
    referral = Referral.model_validate({**referral_data(), "purpose": purpose.value})
    assert Referral.model_validate_json(referral.model_dump_json()).purpose is purpose
    enquiry = Enquiry.model_validate({**enquiry_data(), "purpose": purpose.value})
    assert Enquiry.model_validate_json(enquiry.model_dump_json()).purpose is purpose


def test_unknown_purpose_is_named() -> None:
    with pytest.raises(ValidationError) as info:
        Referral.model_validate({**referral_data(), "purpose": "section_48"})
    (error,) = info.value.errors()
    assert error["loc"] == ("purpose",) and error["type"] == "enum"
    assert "section_47_enquiry" in error["msg"]


def test_purpose_codes() -> None:
    assert {p.value for p in Purpose} == {
        "mash_screening", "early_help", "section_17_assessment", "strategy_discussion", "section_47_enquiry",
        "immediate_protection",
    }


def test_new_lawful_basis_codes() -> None:
    assert {"uk_gdpr_art9_2_h", "dpa2018_sch1_para2", "dpa2018_s35", "education_act_2002_s175"} <= {
        b.value for b in LawfulBasis
    }


# ----------------------------------------------------------------------------- consent decision


def test_overridden_is_a_consent_status() -> None:
    assert ConsentStatus("overridden") is ConsentStatus.OVERRIDDEN
    assert CONSENT_DECISION_STATUSES == {ConsentStatus.NOT_SOUGHT, ConsentStatus.REFUSED, ConsentStatus.OVERRIDDEN}


@pytest.mark.parametrize("status", sorted(CONSENT_DECISION_STATUSES))
def test_decision_statuses_accept_a_complete_record(status: ConsentStatus) -> None:
    consent = Consent.model_validate({"status": status.value, **DECISION})
    assert consent.decided_at == T0 and consent.authorised_by == "MASH team manager"


@pytest.mark.parametrize("status", sorted(CONSENT_DECISION_STATUSES))
@pytest.mark.parametrize("field", list(CONSENT_DECISION_FIELDS))
def test_each_missing_decision_field_is_named_with_its_rule(status: ConsentStatus, field: str) -> None:
    data = {**referral_data(), "consent": {"status": status.value, **{k: v for k, v in DECISION.items() if k != field}}}
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    (error,) = info.value.errors()
    assert error["loc"] == ("consent", field)
    assert error["type"] == ("consent_reason_required" if field == "reason" else "consent_decision_required")
    assert status.value in error["msg"] and field in error["msg"]


def test_every_missing_field_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        Consent(status=ConsentStatus.OVERRIDDEN, reason="the child's safety comes first")
    assert [e["loc"] for e in info.value.errors()] == [("decided_by",), ("decided_at",), ("authorised_by",)]


@pytest.mark.parametrize("field", ["decided_by", "authorised_by"])
def test_blank_decider_counts_as_missing(field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Consent.model_validate({"status": "overridden", **DECISION, field: "   "})
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_decided_at_must_carry_a_timezone() -> None:
    with pytest.raises(ValidationError) as info:
        Consent.model_validate({"status": "not_sought", **DECISION, "decided_at": "2024-03-04T09:30:00"})
    assert info.value.errors()[0]["loc"] == ("decided_at",)


def test_given_needs_no_decision() -> None:
    assert Consent(status=ConsentStatus.GIVEN).decided_by is None


def test_exported_json_schema_carries_the_rule() -> None:
    schema = json.loads((JSON_DIR / "Referral.json").read_text())
    validator = Draft202012Validator(schema)
    base = json.loads(Referral.model_validate(referral_data()).model_dump_json())
    assert validator.is_valid({**base, "consent": {"status": "overridden", **DECISION}})
    assert validator.is_valid({**base, "consent": {"status": "given"}})
    incomplete = {**base, "consent": {"status": "overridden", "reason": "x", "decided_by": "y", "decided_at": iso(T0)}}
    assert any("authorised_by" in e.message for e in validator.iter_errors(incomplete))
    blank = {**base, "consent": {"status": "not_sought", **DECISION, "decided_by": " "}}
    assert not validator.is_valid(blank)
