"""Person rules: unborn children, postcodes, partial and future dates of birth."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from mashlink.schemas.identifiers import IdentifierSystem
from mashlink.schemas.person import Address, BirthDate, Person, normalise_postcode, postcode_is_valid
from tests.schemas.strategies import postcodes, raw_postcodes

def _today() -> date:
    """Read the clock per test: a constant taken at import goes stale when a run crosses midnight."""
    return date.today()


def person(**fields: object) -> Person:
    return Person(person_id="P1", names=[{"given": ["Ava"], "family": "Testchild"}], **fields)


def only_error(info: pytest.ExceptionInfo[ValidationError]) -> dict:
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return errors[0]


def test_unborn_child_with_expected_date_and_mother() -> None:
    p = person(unborn=True, expected_birth_date=_today() + timedelta(days=90), mother_person_id="M1")
    assert p.unborn and p.birth_date is None and p.mother_person_id == "M1"


def test_unborn_child_needs_expected_birth_date() -> None:
    with pytest.raises(ValidationError) as info:
        person(unborn=True)
    error = only_error(info)
    assert error["loc"] == ("expected_birth_date",)
    assert error["type"] == "unborn_expected_birth_date_required"


def test_unborn_child_cannot_have_birth_date() -> None:
    with pytest.raises(ValidationError) as info:
        person(unborn=True, expected_birth_date=_today(), birth_date={"value": _today().isoformat()})
    error = only_error(info)
    assert error["loc"] == ("birth_date",)
    assert "expected_birth_date" in error["msg"]


def test_expected_birth_date_only_for_unborn() -> None:
    with pytest.raises(ValidationError) as info:
        person(expected_birth_date=_today() + timedelta(days=10))
    assert only_error(info)["loc"] == ("expected_birth_date",)


def test_future_date_of_birth_rejected_naming_the_field() -> None:
    tomorrow = (_today() + timedelta(days=1)).isoformat()
    with pytest.raises(ValidationError) as info:
        person(birth_date={"value": tomorrow})
    error = only_error(info)
    assert error["loc"] == ("birth_date", "value")
    assert "future" in error["msg"] and "expected_birth_date" in error["msg"]
    assert "birth_date.value" in str(info.value)


def test_future_date_of_birth_nested_location() -> None:
    from mashlink.schemas.record import AgencyRecord

    with pytest.raises(ValidationError) as info:
        AgencyRecord.model_validate(
            {
                "source": {"agency_kind": "health", "system": "PAS", "record_id": "1"},
                "person": {"person_id": "P1"},
                "related_people": [{"person_id": "P2", "birth_date": {"value": "2999-01-01"}}],
            }
        )
    assert only_error(info)["loc"] == ("related_people", 0, "birth_date", "value")


def test_death_before_birth_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        person(birth_date={"value": "2015-06-10"}, death_date="2015-06-09")
    error = only_error(info)
    assert error["loc"] == ("death_date",) and error["type"] == "death_before_birth"


def test_future_death_date_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        person(death_date=(_today() + timedelta(days=1)).isoformat())
    assert only_error(info)["type"] == "death_date_future"


@pytest.mark.parametrize(("precision", "birth", "death", "ok"), [
    ("year", "2015-01-01", "2015-03-02", True),     # born "in 2015": a death in March 2015 is possible
    ("year", "2015-01-01", "2014-12-31", False),
    ("month", "2015-06-01", "2015-06-01", True),
    ("month", "2015-06-01", "2015-05-31", False),
    ("day", "2015-06-10", "2015-06-10", True),
])
def test_death_date_compared_at_the_birth_dates_precision(precision: str, birth: str, death: str, ok: bool) -> None:
    fields = {"birth_date": {"value": birth, "precision": precision}, "death_date": death}
    if ok:
        assert person(**fields).death_date == date.fromisoformat(death)
    else:
        with pytest.raises(ValidationError) as info:
            person(**fields)
        assert only_error(info)["type"] == "death_before_birth"


def test_today_is_a_valid_birth_date() -> None:
    assert person(birth_date={"value": _today()}).birth_date.value == _today()  # type: ignore[union-attr]


@pytest.mark.parametrize(("precision", "estimated"), [("year", False), ("month", False), ("day", True), ("year", True)])
def test_partial_and_estimated_birth_dates(precision: str, estimated: bool) -> None:
    bd = BirthDate(value=date(2015, 6, 1), precision=precision, estimated=estimated)
    p = person(birth_date=bd)
    again = Person.model_validate_json(p.model_dump_json())
    assert again.birth_date == bd


def test_unknown_precision_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        BirthDate(value=date(2015, 6, 1), precision="week")
    assert only_error(info)["loc"] == ("precision",)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("ls11aa", "LS1 1AA"), ("LS1  1AA", "LS1 1AA"), (" sw1a2aa ", "SW1A 2AA"), ("m1 1ae", "M1 1AE"), ("gir0aa", "GIR 0AA")],
)
def test_postcodes_normalised(raw: str, normalised: str) -> None:
    address = Address(postcode=raw)
    assert address.postcode == normalised
    assert address.postcode_valid is True


@pytest.mark.parametrize("raw", ["NOT A PC", "LS1 1A", "QQ1 1AA", "LS1 1CA", "12345"])
def test_invalid_postcode_flagged_not_rejected(raw: str) -> None:
    address = Address(postcode=raw)
    assert address.postcode is not None  # kept
    assert address.postcode_valid is False


def test_postcode_validity_is_recomputed_not_trusted() -> None:
    assert Address(postcode="NOT A PC", postcode_valid=True).postcode_valid is False
    assert Address(lines=["1 Test Street"], postcode_valid=True).postcode_valid is None


@given(raw_postcodes())
@settings(max_examples=50)
def test_generated_postcodes_normalise_to_valid(raw: str) -> None:
    assert postcode_is_valid(normalise_postcode(raw))
    assert Address(postcode=raw).postcode_valid


@given(postcodes())
@settings(max_examples=50)
def test_normalisation_is_idempotent(pc: str) -> None:
    assert normalise_postcode(pc) == pc
    assert normalise_postcode(normalise_postcode(pc.lower())) == pc


def test_address_needs_something() -> None:
    with pytest.raises(ValidationError):
        Address(town="Leeds")


def test_period_end_before_start_names_end() -> None:
    with pytest.raises(ValidationError) as info:
        Address(lines=["1 Test Street"], period={"start": "2020-01-02", "end": "2020-01-01"})
    assert only_error(info)["loc"] == ("period", "end")


def test_unknown_field_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        Person.model_validate({"person_id": "P1", "nhs_number": "9434765870"})
    error = only_error(info)
    assert error["loc"] == ("nhs_number",) and error["type"] == "extra_forbidden"


def test_person_identifier_prefers_trusted() -> None:
    p = person(
        identifiers=[
            {"system": "nhs_number", "value": "9434765871"},
            {"system": "nhs_number", "value": "9434765870"},
        ]
    )
    assert p.identifier(IdentifierSystem.NHS_NUMBER).value == "9434765870"  # type: ignore[union-attr]
    assert [i.check for i in p.identifiers] == ["failed", "passed"]  # the failed one is kept
    assert p.identifier(IdentifierSystem.UPN) is None


def test_scoped_identifier_error_names_its_position() -> None:
    with pytest.raises(ValidationError) as info:
        person(identifiers=[{"system": "nhs_number", "value": "9434765870"}, {"system": "la_child_id", "value": "9"}])
    assert only_error(info)["loc"] == ("identifiers", 1, "scope")
