"""Redacted parked bodies: ops can diagnose a dead letter without seeing the child.

The property tests generate canonical referrals, enquiries and responses
(alone and inside envelopes, as dicts and as the raw bytes that are parked)
and check that no name, birth/expected/death date, identifier value,
address line, postcode, contact or free text of the input survives in the
redacted output, while ids, codes and message metadata do.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mashlink.broker.messages import ParkedMessage
from mashlink.broker.redact import MAX_KEPT, code_values, parked_metadata, redact_body, redact_detail, redacted_parked
from mashlink.broker.errors import RejectReason
from mashlink.schemas.enquiry import Enquiry, EnquiryResponse
from mashlink.schemas.envelope import Envelope, MessageType
from mashlink.schemas.person import Person
from mashlink.schemas.referral import Referral
from tests.hub.hub_support import referral_data
from tests.schemas.strategies import aware_datetimes, enquiries, enquiry_responses, ids, referrals

MARKER = re.compile(r"^\[redacted(: [^\]]*)?\]$")
#: Input fields that hold ids, codes and message times: a personal value equal to one of these cannot be
#: told apart from it by any redactor, so such (rare, generated) coincidences are discarded.
_META_KEY = re.compile(r"(^|_)(id|at)$|^(sender|recipient|signature|schema_version|local_authority|scope|"
                       r"organisation|system|notify|hash|previous_hash)$")


# ---------------------------------------------------------------------------- the oracle: what is personal


def _person_values(person: Person) -> list[str]:
    out: list[str] = []
    for name in person.names:
        out += [*name.given, *(v for v in (name.family, name.prefix, name.text) if v)]
    for when in (person.birth_date.value if person.birth_date else None, person.expected_birth_date,
                 person.death_date):
        if when is not None:
            out.append(when.isoformat())
    out += [i.value for i in person.identifiers]
    for address in person.addresses:
        out += [*address.lines, *(v for v in (address.town, address.postcode, address.uprn) if v)]
    out += [c.value for c in person.contacts]
    return out


def personal_values(model: Referral | Enquiry | EnquiryResponse) -> set[str]:
    """Every personal value of a canonical body, by the schema's meaning (not by the redactor's key list)."""
    out: list[str] = []
    if isinstance(model, Referral):
        for person in [*model.subjects, *model.household]:
            out += _person_values(person)
        out += [model.narrative, model.referrer, *(c.reason for c in model.rag_history),
                *(c.by for c in model.rag_history)]
        consent = model.consent
        out += [v for v in (consent.reason, consent.recorded_by, consent.decided_by, consent.authorised_by) if v]
    elif isinstance(model, Enquiry):
        for person in model.subjects:
            out += _person_values(person)
        out += [*model.questions, model.requester, *([model.consent_note] if model.consent_note else [])]
    else:
        for person in model.people:
            out += _person_values(person)
        out += [model.responder, *(v for v in (model.declined_reason, model.note) if v)]
        for finding in model.findings:
            out += [finding.summary, *([finding.contact] if finding.contact else [])]
            out += [v for v in finding.attributes.values() if isinstance(v, str)]
            for when in (finding.start, finding.end):
                if when is not None:
                    out.append(when.isoformat() if isinstance(when, date) else str(when))
    return {v for v in out if v}


def _leaves(value: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, str(k))]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v, key)]
    return [(key, value)]


def assert_nothing_personal_survives(original: Any, redacted: Any, personal: set[str]) -> None:
    metadata = [v for k, v in _leaves(original) if isinstance(v, str) and (_META_KEY.search(k) or v in code_values())]
    # A personal value identical to (or inside) an id, code or time of the same message: a coincidence of the
    # generator that no redactor could resolve; discard the example rather than weaken the check.
    assume(not any(p == m or (len(p) >= 4 and p in m) for p in personal for m in metadata))
    kept = [v for _k, v in _leaves(redacted) if isinstance(v, str) and not MARKER.match(v)]
    survivors = sorted(set(kept) & personal)
    assert survivors == [], f"kept as values: {survivors}"
    # Inside any value shown (keys are the schema's field names, not data: a name "post" is not in "postcode").
    text = "\x00".join(kept)
    leaked = sorted(p for p in personal if len(p) >= 4 and p in text)
    assert leaked == [], f"found in the redacted text: {leaked}"


BODIES = st.one_of(referrals(), enquiries(), enquiry_responses())
_TYPE = {Referral: MessageType.REFERRAL, Enquiry: MessageType.ENQUIRY, EnquiryResponse: MessageType.ENQUIRY_RESPONSE}
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                           HealthCheck.filter_too_much])


@PROPERTY
@given(BODIES)
def test_no_personal_value_of_a_canonical_body_survives(model: Referral | Enquiry | EnquiryResponse) -> None:
    body = model.model_dump(mode="json")
    assert_nothing_personal_survives(body, redact_body(body), personal_values(model))


@PROPERTY
@given(BODIES, ids("M"), aware_datetimes())
def test_no_personal_value_of_a_parked_envelope_survives_and_its_metadata_stays(
        model: Referral | Enquiry | EnquiryResponse, message_id: str, sent_at: Any) -> None:
    envelope = Envelope(message_id=message_id, correlation_id="REF-corr", message_type=_TYPE[type(model)],
                        sender="police-synth", recipient="hub", sent_at=sent_at,
                        body=model.model_dump(mode="json"), signature="ab" * 32)
    raw = envelope.model_dump_json().encode()
    redacted = redact_body(raw)
    assert_nothing_personal_survives(json.loads(raw), redacted, personal_values(model))
    # What ops diagnose with is still there.
    assert redacted["message_id"] == message_id
    assert redacted["message_type"] == _TYPE[type(model)].value
    assert (redacted["sender"], redacted["recipient"]) == ("police-synth", "hub")
    assert redacted["sent_at"] == json.loads(raw)["sent_at"]
    for key in ("referral_id", "enquiry_id", "response_id"):
        if key in redacted["body"]:
            assert redacted["body"][key] == getattr(model, key)
    assert redacted.keys() == json.loads(raw).keys()
    assert redacted["body"].keys() == json.loads(raw)["body"].keys()


# ---------------------------------------------------------------------------- examples


def test_the_synthetic_referral_keeps_structure_ids_and_codes() -> None:
    referral = Referral.model_validate(referral_data("REF-RED-1"))
    out = redact_body(referral.model_dump(mode="json"))
    text = json.dumps(out)
    for personal in ("Ada", "Testchild", "Beth", "2016-03-14", "ZZ99 1ZZ", "Synthetic Row", "07700", "A123456789012",
                     "LA-77", "hungry", "Synthfield"):
        assert personal not in text, personal
    child = out["subjects"][0]
    assert child["person_id"] == "c1"
    assert child["names"][0]["given"] == ["[redacted: 3 chars]"]
    assert [i["system"] for i in child["identifiers"]] == ["nhs_number", "upn", "la_child_id"]
    assert child["identifiers"][0]["check"] == "passed"
    assert out["referral_id"] == "REF-RED-1" and out["concerns"] == ["neglect", "domestic_abuse"]
    assert out["narrative"].startswith("[redacted: ")
    assert out["relationships"][0]["type"] == "mother"


def test_bytes_that_are_not_json_show_only_length_and_sha256() -> None:
    for raw in (b"{not json", "Ada Testchild 2016-03-14".encode(), b"\xff\xfe\x00garbage"):
        out = redact_body(raw)
        assert out == {"redacted": "body is not UTF-8 JSON", "length": len(raw),
                       "sha256": hashlib.sha256(raw).hexdigest()}


def test_unknown_keys_keep_only_codes_small_numbers_and_booleans() -> None:
    out = redact_body({"mystery": "Ada Testchild", "status_hint": "neglect", "count": 3, "nhs": 9991234566,
                       "flag": True, "nested": {"x": ["Beth", "red"]}, "long_id_like": "x" * (MAX_KEPT + 1)})
    assert out == {"mystery": "[redacted: 13 chars]", "status_hint": "neglect", "count": 3,
                   "nhs": "[redacted: number]", "flag": True, "nested": {"x": ["[redacted: 4 chars]", "red"]},
                   "long_id_like": f"[redacted: {MAX_KEPT + 1} chars]"}
    # A kept key holding an over-long value is redacted anyway.
    assert redact_body({"message_id": "m" * (MAX_KEPT + 1)})["message_id"].startswith("[redacted")
    # JSON that is not an object: a bare string is free text.
    assert redact_body(b'"Ada Testchild"') == "[redacted: 13 chars]"


def test_parking_detail_keeps_paths_and_rules_but_masks_values() -> None:
    kept = "HMAC-SHA256 does not match for sender 'police-synth'; body.subjects.0.names: Field required [missing]"
    assert redact_detail(kept) == kept
    leaky = ("gave up after 5 attempt(s); last error: IntegrityError: duplicate 'Ada Testchild' 9991234566 "
             "born 2016-03-14 [SQL: INSERT INTO x VALUES (%s)] [parameters: ('Ada',)]")
    masked = redact_detail(leaky)
    assert masked.startswith("gave up after 5 attempt(s); last error: IntegrityError: duplicate ")
    for personal in ("Ada", "Testchild", "9991234566", "2016-03-14", "INSERT"):
        assert personal not in masked


def test_parked_views_never_carry_the_raw_body() -> None:
    referral = Referral.model_validate(referral_data("REF-RED-2")).model_dump(mode="json")
    parked = ParkedMessage(message_id="m-1", queue="q", dlq="q.dlq", reason=RejectReason.INVALID_BODY,
                           detail="Referral: body.subjects: bad [x]", message_type="referral",
                           raw=json.dumps({"message_id": "m-1", "message_type": "referral", "body": referral}))
    listing = parked_metadata(parked)
    assert "raw" not in listing and "body" not in listing and "Ada" not in json.dumps(listing)
    shown = redacted_parked(parked)
    assert shown["redacted"] is True and "raw" not in shown
    assert shown["body"]["body"]["referral_id"] == "REF-RED-2"
    assert "Ada" not in json.dumps(shown) and "Testchild" not in json.dumps(shown)


def test_kept_keys_keep_only_id_like_values_and_data_shaped_keys_are_redacted() -> None:
    """Parked messages are malformed by definition: a name can turn up under a kept key, or as a key."""
    out = json.dumps(redact_body({
        "status": "Ada Testchild", "codes": ["Jane Smith lives at 1 High St", "NEG"],
        "record_id": "NHS 999 123 4560", "Ada Testchild 2016-03-14": {"x": 1},
        "message_id": "msg-123", "rag": "red",
    }))
    for value in ("Ada", "Testchild", "Jane Smith", "High St", "999 123 4560", "2016-03-14"):
        assert value not in out, value
    assert '"msg-123"' in out and '"NEG"' in out and '"red"' in out


def test_parking_detail_masks_postcodes_names_and_spelled_out_dates() -> None:
    detail = redact_detail("invalid postcode ZZ99 1ZZ for child Ada Testchild born 14 March 2016 at subjects[0]")
    for value in ("ZZ99", "Ada Testchild", "March 2016"):
        assert value not in detail, value
    assert "subjects[0]" in detail and "invalid postcode" in detail
