"""Referral, enquiry, response and finding rules, with the field path of each error."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from mashlink.schemas.codes import Rag
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse
from mashlink.schemas.finding import Finding
from mashlink.schemas.record import AgencyRecord
from mashlink.schemas.referral import Consent, Referral

T0 = datetime(2024, 3, 4, 9, 30, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.isoformat()


def referral_data() -> dict[str, Any]:
    return {
        "referral_id": "REF-1",
        "received_at": iso(T0),
        "local_authority": "383",
        "source": "2A",
        "referrer": "Test Primary School",
        "concerns": ["neglect"],
        "subjects": [
            {"person_id": "C1", "names": [{"given": ["Ava"], "family": "Testchild"}], "birth_date": {"value": "2016-05-01"}},
            {"person_id": "U1", "unborn": True, "expected_birth_date": "2024-09-01", "mother_person_id": "M1"},
        ],
        "household": [{"person_id": "M1", "names": [{"given": ["Mia"], "family": "Testchild"}]}],
        "relationships": [{"from_person_id": "M1", "to_person_id": "C1", "type": "mother"}],
        "rag_history": [{"rag": "green", "at": iso(T0), "by": "screener"}],
        "lawful_basis": ["children_act_1989_s17"],
        "consent": {"status": "given"},
    }


def only_error(info: pytest.ExceptionInfo[ValidationError]) -> dict[str, Any]:
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return errors[0]


def test_valid_referral() -> None:
    referral = Referral.model_validate(referral_data())
    assert referral.rag is Rag.GREEN
    assert referral.subjects[1].unborn


# ----------------------------------------------------------------------------- consent


def test_consent_not_sought_without_reason_rejected() -> None:
    data = referral_data()
    data["consent"] = {"status": "not_sought", "decided_by": "screener", "decided_at": iso(T0),
                       "authorised_by": "team manager"}
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    error = only_error(info)
    assert error["loc"] == ("consent", "reason")
    assert error["type"] == "consent_reason_required"
    assert "not_sought" in error["msg"]


def test_consent_not_sought_with_reason_accepted() -> None:
    consent = Consent(status="not_sought", reason="seeking consent would place the child at risk",
                      decided_by="screener", decided_at=T0, authorised_by="team manager")
    assert consent.reason


def test_blank_reason_counts_as_missing() -> None:
    with pytest.raises(ValidationError):
        Consent(status="not_sought", reason="   ", decided_by="screener", decided_at=T0, authorised_by="manager")


# ----------------------------------------------------------------------------- RAG


def test_rag_is_latest_of_history_not_last_in_list() -> None:
    data = referral_data()
    data["rag_history"] = [
        {"rag": "amber", "at": iso(T0 + timedelta(hours=2)), "by": "manager", "reason": "new police information"},
        {"rag": "green", "at": iso(T0), "by": "screener"},
        {"rag": "red", "at": iso(T0 + timedelta(hours=1)), "by": "screener"},
    ]
    assert Referral.model_validate(data).rag is Rag.AMBER


def test_rag_latest_compares_instants_across_timezones() -> None:
    data = referral_data()
    data["rag_history"] = [
        {"rag": "red", "at": "2024-06-01T10:30:00+01:00", "by": "a"},  # 09:30 UTC
        {"rag": "amber", "at": "2024-06-01T09:45:00+00:00", "by": "b"},  # later
    ]
    assert Referral.model_validate(data).rag is Rag.AMBER


def test_rag_tie_goes_to_the_later_entry() -> None:
    data = referral_data()
    data["rag_history"] = [{"rag": "green", "at": iso(T0), "by": "a"}, {"rag": "red", "at": iso(T0), "by": "b"}]
    assert Referral.model_validate(data).rag is Rag.RED


def test_rag_history_required() -> None:
    data = referral_data()
    data["rag_history"] = []
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    assert only_error(info)["loc"] == ("rag_history",)


def test_naive_datetime_rejected() -> None:
    data = referral_data()
    data["received_at"] = "2024-03-04T09:30:00"
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    error = only_error(info)
    assert error["loc"] == ("received_at",) and error["type"] == "timezone_aware"


# ----------------------------------------------------------------------------- people references


@pytest.mark.parametrize("end", ["from_person_id", "to_person_id"])
def test_relationship_to_unknown_person_rejected(end: str) -> None:
    data = referral_data()
    data["relationships"].append({"from_person_id": "C1", "to_person_id": "M1", "type": "other"})
    data["relationships"][1][end] = "NOBODY"
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    error = only_error(info)
    assert error["loc"] == ("relationships", 1, end)
    assert error["type"] == "unknown_person_id"
    assert error["input"] == "NOBODY"


def test_unborn_mother_must_be_known() -> None:
    data = referral_data()
    data["subjects"][1]["mother_person_id"] = "M9"
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    assert only_error(info)["loc"] == ("subjects", 1, "mother_person_id")


@pytest.mark.parametrize("received", ["0003-01-01T05:25:19-19:57", "1950-06-01T10:00:00Z"])
def test_a_referral_received_before_1971_is_a_keying_error(received: str) -> None:
    """Found by the hub's API fuzz: a year-3 received_at reached the working-hours calendar as a 500."""
    data = referral_data()
    data["received_at"] = received
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    error = only_error(info)
    assert error["loc"] == ("received_at",) and error["type"] == "received_at_too_early"
    data["received_at"] = "1971-01-01T00:00:00Z"
    assert Referral.model_validate(data).received_at.year == 1971


def test_duplicate_person_id_rejected_at_its_position() -> None:
    data = referral_data()
    data["household"].append({"person_id": "C1"})
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    assert only_error(info)["loc"] == ("household", 1, "person_id")


def test_relationship_to_self_rejected() -> None:
    data = referral_data()
    data["relationships"][0]["to_person_id"] = "M1"
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    assert only_error(info)["loc"] == ("relationships", 0, "to_person_id")


def test_nested_person_error_has_full_path() -> None:
    data = referral_data()
    data["subjects"][0]["birth_date"] = {"value": (datetime.now().date() + timedelta(days=3)).isoformat()}
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    assert only_error(info)["loc"] == ("subjects", 0, "birth_date", "value")


# ----------------------------------------------------------------------------- enquiry


def enquiry_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "enquiry_id": "ENQ-1",
        "referral_id": "REF-1",
        "agency_id": "health-trust",
        "agency_kind": "health",
        "subjects": [{"person_id": "C1", "identifiers": [{"system": "nhs_number", "value": "9434765870"}]}],
        "rag": "red",
        "requested_at": iso(T0),
        "due_at": iso(T0 + timedelta(hours=4)),
        "lawful_basis": ["children_act_2004_s11"],
        "requester": "MASH team",
    }
    data.update(overrides)
    return data


def test_valid_enquiry() -> None:
    assert Enquiry.model_validate(enquiry_data()).subjects[0].identifiers[0].trusted


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(minutes=-1)])
def test_enquiry_due_must_be_after_requested(delta: timedelta) -> None:
    with pytest.raises(ValidationError) as info:
        Enquiry.model_validate(enquiry_data(due_at=iso(T0 + delta)))
    error = only_error(info)
    assert error["loc"] == ("due_at",)
    assert error["type"] == "due_before_requested"


def test_enquiry_due_compared_as_instants() -> None:
    # 10:00+01:00 is 09:00Z, before the 09:30Z request
    with pytest.raises(ValidationError):
        Enquiry.model_validate(enquiry_data(due_at="2024-03-04T10:00:00+01:00"))


# ----------------------------------------------------------------------------- response


def response_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "response_id": "RSP-1",
        "enquiry_id": "ENQ-1",
        "referral_id": "REF-1",
        "agency_id": "police-force",
        "agency_kind": "police",
        "status": "information_found",
        "people": [{"person_id": "R1", "names": [{"family": "Testchild"}]}],
        "matches": [
            {
                "subject_person_id": "C1",
                "record_person_id": "R1",
                "source": {"agency_kind": "police", "system": "Niche RMS", "record_id": "N-1"},
                "method": "demographic",
                "confidence": 0.92,
            }
        ],
        "findings": [finding_data()],
        "responder": "Police MASH",
        "responded_at": iso(T0 + timedelta(hours=2)),
    }
    data.update(overrides)
    return data


def finding_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "finding_id": "F-1",
        "subject_person_id": "R1",
        "category": "police.domestic_abuse_incident",
        "start": "2024-01-02",
        "source": {"agency_kind": "police", "system": "Niche RMS", "record_id": "OCC-1"},
        "handling_code": "P",
    }
    data.update(overrides)
    return data


def test_valid_response() -> None:
    assert EnquiryResponse.model_validate(response_data()).findings[0].handling_code == "P"


def test_declined_needs_reason() -> None:
    with pytest.raises(ValidationError) as info:
        EnquiryResponse.model_validate(response_data(status="declined", findings=[]))
    error = only_error(info)
    assert error["loc"] == ("declined_reason",) and error["type"] == "declined_reason_required"
    ok = EnquiryResponse.model_validate(response_data(status="declined", findings=[], declined_reason="not proportionate"))
    assert ok.declined_reason


def test_not_known_has_no_findings() -> None:
    with pytest.raises(ValidationError) as info:
        EnquiryResponse.model_validate(response_data(status="not_known"))
    error = only_error(info)
    assert error["loc"] == ("findings",) and error["type"] == "not_known_with_findings"
    assert EnquiryResponse.model_validate(response_data(status="not_known", findings=[], matches=[], people=[]))


def test_match_must_refer_to_response_people() -> None:
    data = response_data()
    data["matches"][0]["record_person_id"] = "R9"
    with pytest.raises(ValidationError) as info:
        EnquiryResponse.model_validate(data)
    error = only_error(info)
    assert error["loc"] == ("matches", 0, "record_person_id") and error["input"] == "R9"


def test_finding_must_refer_to_response_people() -> None:
    with pytest.raises(ValidationError) as info:
        EnquiryResponse.model_validate(response_data(findings=[finding_data(), finding_data(subject_person_id="R7")]))
    assert only_error(info)["loc"] == ("findings", 1, "subject_person_id")


def test_response_finding_from_other_agency_kind_rejected() -> None:
    health = finding_data(
        category="health.ed_attendance", handling_code=None, source={"agency_kind": "health", "system": "PAS", "record_id": "1"}
    )
    with pytest.raises(ValidationError) as info:
        EnquiryResponse.model_validate(response_data(findings=[health]))
    error = only_error(info)
    assert error["loc"] == ("findings", 0, "source", "agency_kind")
    assert error["type"] == "agency_kind_mismatch"


def test_response_relationship_must_refer_to_people() -> None:
    rel = {"from_person_id": "R1", "to_person_id": "R2", "type": "sibling"}
    with pytest.raises(ValidationError) as info:
        EnquiryResponse.model_validate(response_data(relationships=[rel]))
    assert only_error(info)["loc"] == ("relationships", 0, "to_person_id")


def test_match_confidence_bounded() -> None:
    data = response_data()
    data["matches"][0]["confidence"] = 1.5
    with pytest.raises(ValidationError) as info:
        EnquiryResponse.model_validate(data)
    assert only_error(info)["loc"] == ("matches", 0, "confidence")


def test_nan_confidence_rejected() -> None:
    data = response_data()
    data["matches"][0]["confidence"] = float("nan")
    with pytest.raises(ValidationError):
        EnquiryResponse.model_validate(data)


# ----------------------------------------------------------------------------- finding


@pytest.mark.parametrize(
    ("category", "kind"),
    [("health.ed_attendance", "police"), ("police.missing_episode", "education"), ("education.attendance", "social_care")],
)
def test_finding_category_must_fit_source_agency_kind(category: str, kind: str) -> None:
    data = finding_data(category=category, handling_code=None)
    data["source"] = {**data["source"], "agency_kind": kind}
    with pytest.raises(ValidationError) as info:
        Finding.model_validate(data)
    error = only_error(info)
    assert error["loc"] == ("category",)
    assert error["type"] == "category_agency_mismatch"
    assert kind in error["msg"]


@pytest.mark.parametrize("kind", ["health", "education", "social_care"])
def test_handling_codes_only_on_police_material(kind: str) -> None:
    data = finding_data(category=f"{kind}.{ {'health': 'admission', 'education': 'attendance', 'social_care': 'referral'}[kind] }")
    data["source"] = {**data["source"], "agency_kind": kind}
    with pytest.raises(ValidationError) as info:
        Finding.model_validate(data)
    error = only_error(info)
    assert error["loc"] == ("handling_code",) and error["type"] == "handling_code_police_only"
    del data["handling_code"]
    assert Finding.model_validate(data).handling_code is None


def test_do_not_disseminate() -> None:
    assert Finding.model_validate(finding_data(handling_code="DND")).do_not_disseminate
    assert not Finding.model_validate(finding_data()).do_not_disseminate


def test_finding_end_before_start() -> None:
    with pytest.raises(ValidationError) as info:
        Finding.model_validate(finding_data(start="2024-01-02T10:00:00Z", end="2024-01-01"))
    assert only_error(info)["loc"] == ("end",)


def test_finding_times_must_be_aware_or_plain_dates() -> None:
    assert Finding.model_validate(finding_data(start="2024-01-02T10:00:00+00:00")).start.tzinfo is not None  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        Finding.model_validate(finding_data(start="2024-01-02T10:00:00"))


def test_finding_attributes_reject_nested_objects() -> None:
    with pytest.raises(ValidationError) as info:
        Finding.model_validate(finding_data(attributes={"legal_status": {"code": "C2"}}))
    assert info.value.errors()[0]["loc"][:2] == ("attributes", "legal_status")


# ----------------------------------------------------------------------------- agency record


def test_agency_record_references() -> None:
    base = {
        "source": {"agency_kind": "police", "system": "Niche RMS", "record_id": "N-1"},
        "person": {"person_id": "R1"},
        "related_people": [{"person_id": "R2"}],
    }
    assert AgencyRecord.model_validate(base)
    bad = copy.deepcopy(base)
    bad["findings"] = [finding_data(subject_person_id="R3")]
    with pytest.raises(ValidationError) as info:
        AgencyRecord.model_validate(bad)
    assert only_error(info)["loc"] == ("findings", 0, "subject_person_id")
    dup = copy.deepcopy(base)
    dup["related_people"].append({"person_id": "R1"})
    with pytest.raises(ValidationError) as info:
        AgencyRecord.model_validate(dup)
    assert only_error(info)["loc"] == ("related_people", 1, "person_id")
