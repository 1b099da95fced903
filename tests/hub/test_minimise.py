"""Minimisation per sharing policy: each agency gets only the fields its policy releases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from mashlink.config.models import SharingPolicy
from mashlink.hub.minimise import minimise_person, withheld_fields
from mashlink.schemas.person import Person


def _child() -> Person:
    return Person.model_validate({
        "person_id": "c1",
        "names": [{"given": ["Ada"], "family": "Testchild"}],
        "birth_date": {"value": "2016-03-14"},
        "sex": "female",
        "identifiers": [
            {"system": "nhs_number", "value": "9434765870"},
            {"system": "upn", "value": "A123456789012"},
            {"system": "la_child_id", "value": "LA-77", "scope": "999"},
        ],
        "addresses": [{"lines": ["1 Synthetic Row"], "postcode": "ZZ99 1ZZ"}],
        "contacts": [{"system": "phone", "value": "07700 900000"}],
    })


def test_education_never_receives_the_nhs_number() -> None:
    policy = SharingPolicy(subject_fields=frozenset({"names", "birth_date", "identifiers.upn"}))
    out = minimise_person(_child(), policy)
    assert [i.system.value for i in out.identifiers] == ["upn"]
    assert out.contacts == [] and out.addresses == [] and out.sex is None
    assert out.names and out.birth_date is not None
    assert "9434765870" not in out.model_dump_json()
    assert withheld_fields(_child(), policy) == [
        "addresses", "contacts", "identifiers.la_child_id", "identifiers.nhs_number", "sex"]


def test_bare_identifiers_releases_every_system() -> None:
    policy = SharingPolicy(subject_fields=frozenset({"names", "identifiers"}))
    out = minimise_person(_child(), policy)
    assert {i.system.value for i in out.identifiers} == {"nhs_number", "upn", "la_child_id"}
    assert out.birth_date is None


def test_identifiers_filtered_per_system_keep_scope_and_check() -> None:
    policy = SharingPolicy(subject_fields=frozenset({"identifiers.la_child_id", "identifiers.nhs_number"}))
    out = minimise_person(_child(), policy)
    la = out.identifier(out.identifiers[0].system.__class__("la_child_id"))
    assert la is not None and la.scope == "999"
    nhs = [i for i in out.identifiers if i.system.value == "nhs_number"][0]
    assert nhs.check == "passed"
    assert out.names == []


def test_references_always_travel_and_unborn_stays_valid() -> None:
    unborn = Person(person_id="u1", unborn=True, expected_birth_date=date.today() + timedelta(days=30),
                    mother_person_id="m1")
    policy = SharingPolicy(subject_fields=frozenset({"names"}))
    out = minimise_person(unborn, policy)
    assert out.person_id == "u1" and out.unborn and out.mother_person_id == "m1"
    assert out.expected_birth_date == unborn.expected_birth_date


@pytest.mark.parametrize("field", ["birth_date", "addresses", "contacts", "sex", "names"])
def test_each_field_is_released_only_when_listed(field: str) -> None:
    with_field = minimise_person(_child(), SharingPolicy(subject_fields=frozenset({field})))
    without = minimise_person(_child(), SharingPolicy(subject_fields=frozenset({"ethnicity"})))
    assert getattr(with_field, field) == getattr(_child(), field)
    assert getattr(without, field) in (None, [])
