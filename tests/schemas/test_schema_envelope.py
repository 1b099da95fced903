"""Envelope signing bytes: everything but the signature, deterministically."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings

from mashlink.schemas.base import SCHEMA_VERSION
from mashlink.schemas.envelope import Envelope
from tests.schemas.strategies import envelopes


def envelope(**overrides: object) -> Envelope:
    data: dict[str, object] = {
        "message_id": "M-1",
        "correlation_id": "REF-1",
        "message_type": "decision",
        "sender": "hub",
        "recipient": "police-force",
        "sent_at": datetime(2024, 3, 4, 9, 30, tzinfo=timezone.utc),
        "body": {"b": 1, "a": [1, 2, {"z": "é", "y": None}]},
    }
    data.update(overrides)
    return Envelope.model_validate(data)


def test_signing_bytes_exclude_signature() -> None:
    unsigned = envelope()
    signed = envelope(signature="ab" * 32)
    assert unsigned.signing_bytes() == signed.signing_bytes()
    assert b"signature" not in signed.signing_bytes()
    assert ("ab" * 32).encode() not in signed.signing_bytes()


def test_signing_bytes_cover_every_other_field() -> None:
    base = envelope().signing_bytes()
    changes = {
        "message_id": "M-2",
        "correlation_id": "REF-2",
        "causation_id": "M-0",
        "enquiry_id": "ENQ-1",
        "message_type": "outcome",
        "schema_version": "9.9",
        "sender": "hub-2",
        "recipient": "health",
        "sent_at": datetime(2024, 3, 4, 9, 31, tzinfo=timezone.utc),
        "due_at": datetime(2024, 3, 4, 13, 30, tzinfo=timezone.utc),
        "rag": "red",
        "body": {"b": 2, "a": [1, 2, {"z": "é", "y": None}]},
        "key_id": "hub-20261207-abcdef",  # a key id swapped for another of the sender's fails too
    }
    assert set(changes) | {"signature"} == set(Envelope.model_fields)
    for field, value in changes.items():
        assert envelope(**{field: value}).signing_bytes() != base, field


def test_signing_bytes_are_canonical_json() -> None:
    raw = envelope().signing_bytes()
    data = json.loads(raw)
    assert raw == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert data["schema_version"] == SCHEMA_VERSION
    assert "é".encode() in raw  # UTF-8, not \\u escapes


def test_signing_bytes_independent_of_key_order() -> None:
    a = envelope(body={"x": 1, "y": {"p": 1, "q": 2}})
    b = envelope(body={"y": {"q": 2, "p": 1}, "x": 1})
    assert a.signing_bytes() == b.signing_bytes()


def test_equal_instants_in_other_offsets_sign_the_same_canonical_utc_bytes() -> None:
    # UTC inside: every time is normalised to UTC when validated, so the signed
    # bytes name the instant once ("...T09:00:00Z"), whatever offset the sender used.
    london = timezone(timedelta(hours=1))
    a = envelope(sent_at=datetime(2024, 6, 1, 10, 0, tzinfo=london))
    b = envelope(sent_at=datetime(2024, 6, 1, 9, 0, tzinfo=timezone.utc))
    assert a.sent_at == b.sent_at and a.sent_at.tzinfo is timezone.utc
    assert a.signing_bytes() == b.signing_bytes()
    assert b'"sent_at":"2024-06-01T09:00:00Z"' in a.signing_bytes()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(envelopes(signed=True))
def test_signing_bytes_deterministic_and_survive_transport(env: Envelope) -> None:
    first = env.signing_bytes()
    assert env.signing_bytes() == first
    received = Envelope.model_validate_json(env.model_dump_json())
    assert received.signing_bytes() == first
    assert received.model_copy(update={"signature": None}).signing_bytes() == first
