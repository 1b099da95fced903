"""EnvelopeCodec: signatures, versions, types and bodies (no transport needed)."""

from __future__ import annotations

import json

import pytest

from tests.broker.broker_helpers import AGENCY, KEYS, enquiry_envelope
from mashlink.broker import EnvelopeCodec, MessageRejected, RejectReason
from mashlink.schemas.enquiry import Enquiry


def _reject(codec: EnvelopeCodec, raw: bytes) -> MessageRejected:
    with pytest.raises(MessageRejected) as info:
        codec.decode(raw)
    return info.value


def test_round_trip_verifies_and_validates_body() -> None:
    codec = EnvelopeCodec(KEYS)
    env = enquiry_envelope()
    decoded = codec.decode(codec.encode(env))
    assert decoded.message_id == env.message_id
    assert decoded.signature and len(decoded.signature) == 86  # Ed25519, URL-safe base64
    body = codec.body(decoded)
    assert isinstance(body, Enquiry)
    assert body.agency_id == AGENCY


def test_tampered_body_is_bad_signature() -> None:
    codec = EnvelopeCodec(KEYS)
    data = json.loads(codec.encode(enquiry_envelope()))
    data["body"]["requester"] = "someone-else"
    assert _reject(codec, json.dumps(data).encode()).reason is RejectReason.BAD_SIGNATURE


def test_other_serialisation_of_a_correctly_signed_envelope_still_verifies() -> None:
    # A sender in another language may write the same envelope with other spacing and key
    # order; the signature covers the canonical form, so it verifies the slower way.
    codec = EnvelopeCodec(KEYS)
    data = json.loads(codec.encode(enquiry_envelope()))
    reordered = {"signature": data.pop("signature"), **dict(reversed(list(data.items())))}
    decoded = codec.decode(json.dumps(reordered, indent=2).encode())
    assert decoded.message_id == data["message_id"]


def test_edited_bytes_with_the_signature_still_last_are_bad_signature() -> None:
    codec = EnvelopeCodec(KEYS)
    raw = codec.encode(enquiry_envelope())
    edited = raw.replace(b'"requester":"', b'"requester":"x', 1)
    assert edited != raw
    assert _reject(codec, edited).reason is RejectReason.BAD_SIGNATURE


def test_signature_with_another_senders_key_is_bad_signature() -> None:
    forger = EnvelopeCodec({"hub": KEYS[AGENCY]})  # signs "hub" messages with the police key
    raw = forger.encode(enquiry_envelope())
    assert _reject(EnvelopeCodec(KEYS), raw).reason is RejectReason.BAD_SIGNATURE


def test_unknown_sender_and_missing_signature_are_bad_signature() -> None:
    codec = EnvelopeCodec(KEYS)
    stranger = EnvelopeCodec({"stranger": b"k" * 16})
    raw = stranger.encode(enquiry_envelope(sender="stranger"))
    rejected = _reject(codec, raw)
    assert rejected.reason is RejectReason.BAD_SIGNATURE
    assert "stranger" in rejected.detail
    unsigned = enquiry_envelope().model_dump_json().encode()
    assert _reject(codec, unsigned).reason is RejectReason.BAD_SIGNATURE


def test_signer_guard_refuses_to_sign_as_someone_else() -> None:
    codec = EnvelopeCodec(KEYS, signer=AGENCY)
    with pytest.raises(ValueError, match="signer"):
        codec.encode(enquiry_envelope(sender="hub"))


def test_unknown_schema_version_checked_before_envelope_validation() -> None:
    codec = EnvelopeCodec(KEYS)
    data = json.loads(codec.encode(enquiry_envelope()))
    data["schema_version"] = "9.9"
    data["unexpected_field_of_v9"] = True
    rejected = _reject(codec, json.dumps(data).encode())
    assert rejected.reason is RejectReason.UNKNOWN_SCHEMA_VERSION
    assert "9.9" in rejected.detail


def test_unknown_message_type() -> None:
    codec = EnvelopeCodec(KEYS)
    data = json.loads(codec.encode(enquiry_envelope()))
    data["message_type"] = "telepathy"
    assert _reject(codec, json.dumps(data).encode()).reason is RejectReason.UNKNOWN_MESSAGE_TYPE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "line 1 column 2"),
        (b"\xff\xfe garbage", "not UTF-8"),
        (b"[1, 2]", "JSON object"),
    ],
)
def test_bad_format_names_the_position(raw: bytes, expected: str) -> None:
    rejected = _reject(EnvelopeCodec(KEYS), raw)
    assert rejected.reason is RejectReason.BAD_FORMAT
    assert expected in rejected.detail


def test_envelope_missing_field_is_bad_format_naming_field() -> None:
    codec = EnvelopeCodec(KEYS)
    data = json.loads(codec.encode(enquiry_envelope()))
    del data["sender"]
    rejected = _reject(codec, json.dumps(data).encode())
    assert rejected.reason is RejectReason.BAD_FORMAT
    assert "sender" in rejected.detail


def test_invalid_body_names_field_without_leaking_values() -> None:
    codec = EnvelopeCodec(KEYS)
    env = enquiry_envelope()
    body = dict(env.body)
    body["subjects"] = [{"person_id": "p-1", "names": "Jane Synthetic"}]
    env = env.model_copy(update={"body": body})
    decoded = codec.decode(codec.encode(env))  # envelope is fine; body is not
    with pytest.raises(MessageRejected) as info:
        codec.body(decoded)
    assert info.value.reason is RejectReason.INVALID_BODY
    assert "body.subjects.0.names" in info.value.detail
    assert "Jane" not in info.value.detail


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        EnvelopeCodec({"hub": b""})


def _verify_rejects(codec: EnvelopeCodec, raw: bytes) -> MessageRejected:
    with pytest.raises(MessageRejected) as info:
        codec.verify_bytes(raw)
    return info.value


def test_verify_bytes_accepts_encoded_bytes_and_refuses_any_edit() -> None:
    codec = EnvelopeCodec(KEYS)
    env = enquiry_envelope()
    raw = codec.encode(env)
    fields = codec.verify_bytes(raw)
    assert fields["message_id"] == env.message_id and fields["message_type"] == "enquiry"

    edited_body = raw.replace(env.message_id.encode(), b"0" * len(env.message_id), 1)
    assert _verify_rejects(codec, edited_body).reason is RejectReason.BAD_SIGNATURE
    sig = json.loads(raw)["signature"]
    flipped = raw.replace(sig.encode(), ("0" if sig[0] != "0" else "1").encode() + sig[1:].encode())
    assert _verify_rejects(codec, flipped).reason is RejectReason.BAD_SIGNATURE
    assert _verify_rejects(EnvelopeCodec({"hub": b"another-key-0a1b2c3d4eabcdef"}), raw).reason in (
        RejectReason.BAD_SIGNATURE,)
    assert _verify_rejects(codec, b"not json at all").reason in (RejectReason.BAD_FORMAT, RejectReason.BAD_SIGNATURE)
