"""Property tests: every top-level model round-trips through JSON and matches its exported JSON Schema."""

from __future__ import annotations

import json
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from mashlink.schemas.export import JSON_DIR
from mashlink.schemas.registry import TOP_LEVEL_MODELS
from tests.schemas.strategies import MODEL_STRATEGIES

PROPERTY_SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@cache
def validator_for(name: str) -> Draft202012Validator:
    schema = json.loads((JSON_DIR / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_top_level_model_has_a_strategy() -> None:
    assert set(MODEL_STRATEGIES) == set(TOP_LEVEL_MODELS)


def test_format_checking_is_active() -> None:
    # without rfc3339-validator, "date-time" would silently not be checked
    checker = Draft202012Validator.FORMAT_CHECKER
    assert {"date", "date-time"} <= set(checker.checkers)
    assert not validator_for("Decision").is_valid(
        {"decision_id": "D", "referral_id": "R", "outcome": "early_help", "rationale": "r", "decided_by": "x", "decided_at": "2024-01-01T10:00:00"}
    )


@pytest.mark.parametrize("name", sorted(TOP_LEVEL_MODELS))
def test_json_round_trip_and_schema(name: str) -> None:
    model: type[BaseModel] = TOP_LEVEL_MODELS[name]
    validator = validator_for(name)

    @PROPERTY_SETTINGS
    @given(MODEL_STRATEGIES[name])
    def check(instance: BaseModel) -> None:
        assert isinstance(instance, model)
        dumped = instance.model_dump_json()
        again = model.model_validate_json(dumped)
        assert again == instance
        assert again.model_dump_json() == dumped  # stable: a second trip changes nothing
        errors = sorted(validator.iter_errors(json.loads(dumped)), key=lambda e: list(e.absolute_path))
        assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]]

    check()


@PROPERTY_SETTINGS
@given(st.sampled_from(sorted(TOP_LEVEL_MODELS)).flatmap(lambda n: st.tuples(st.just(n), MODEL_STRATEGIES[n])))
def test_python_mode_dump_revalidates(pair: tuple[str, BaseModel]) -> None:
    name, instance = pair
    assert TOP_LEVEL_MODELS[name].model_validate(instance.model_dump()) == instance


@pytest.mark.parametrize("name", sorted(TOP_LEVEL_MODELS))
def test_schema_rejects_unknown_fields(name: str) -> None:
    # models forbid extras; the exported schema must say so too, or other-language
    # agencies would build messages the hub refuses
    schema = json.loads((JSON_DIR / f"{name}.json").read_text())
    assert schema.get("additionalProperties") is False
    assert schema["x-mashlink-schema-version"]
