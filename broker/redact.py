"""Redacted views of parked (dead-lettered) messages: what ops may see without personal data.

A parked message's body is whatever a partner sent: usually a signed
envelope around a canonical referral, enquiry or response, sometimes bytes
that are not even JSON. Ops must be able to diagnose it (which message,
type, sender, recipient, times, ids, codes, why it was parked) without
seeing the child: names, dates of birth, identifiers, addresses, contacts
and free text are replaced by a marker such as ``"[redacted: 14 chars]"``.

The rules, in order (a pure function; nothing here decodes, verifies or logs):

* a key in ``REDACT_KEYS`` (names, birth dates, addresses, identifier
  values, narrative, summaries, reasons, attributes, who wrote it, ...)
  redacts its whole subtree: keys and list lengths stay, every leaf
  becomes a marker;
* a key in ``KEEP_KEYS`` (message metadata, ids, codes, message times) keeps
  a scalar (or a list of scalars) as it is, when it is short;
* any other key: ``None`` and booleans stay, numbers stay, a string stays
  only when it is a value of a canonical code list (``mashlink.schemas``
  enums), everything else is redacted. When unsure, redact.

Bytes that are not UTF-8 JSON are shown only by length and SHA-256.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import json
import pkgutil
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from .messages import ParkedMessage

#: Subtrees that are (or may hold) personal data: always redacted, whatever the value.
REDACT_KEYS: frozenset[str] = frozenset({
    # people
    "names", "name", "given", "family", "prefix", "suffix", "text", "forename", "forenames", "surname",
    "first_name", "last_name", "middle_names", "maiden_name", "alias", "aliases",
    "birth_date", "death_date", "expected_birth_date", "dob", "date_of_birth", "date_of_death", "age",
    "sex", "gender", "ethnicity", "language", "religion",
    "addresses", "address", "lines", "line", "town", "city", "county", "postcode", "post_code", "uprn",
    "contacts", "contact", "phone", "telephone", "mobile", "email",
    "value", "nhs_number", "upn", "pnc_id", "mrn", "person_ref",
    # free text and who wrote it
    "narrative", "summary", "rationale", "reason", "declined_reason", "consent_note", "note", "notes",
    "questions", "attributes", "detail", "details", "description", "comment", "comments", "free_text",
    "display", "check_detail", "referrer", "requester", "responder", "recorded_by", "decided_by",
    "authorised_by", "by", "actor", "actor_name",
    # dates of events in a person's life (not message times)
    "start", "end", "period", "date",
})

#: Message metadata, ids, codes and message times: kept (short scalars, or lists of them).
KEEP_KEYS: frozenset[str] = frozenset({
    # envelope
    "message_id", "correlation_id", "causation_id", "enquiry_id", "message_type", "schema_version",
    "sender", "recipient", "sent_at", "due_at", "rag", "signature",
    # ids
    "referral_id", "response_id", "decision_id", "outcome_id", "escalation_id", "alert_id", "finding_id",
    "event_id", "person_id", "subject_person_id", "record_person_id", "from_person_id", "to_person_id",
    "mother_person_id", "source_record_id", "record_id", "agency_id", "local_authority", "organisation",
    "previous_hash", "hash", "notify",
    # codes
    "system", "scope", "check", "verification", "temporary", "code_set", "agency_kind", "type", "kind", "use",
    "status", "category", "codes", "concerns", "purpose", "lawful_basis", "classification", "outcome",
    "method", "sensitivity", "handling_code", "reliability", "level", "action", "source_system",
    "sequence", "confidence", "candidate", "more_to_follow", "unborn", "postcode_valid",
    "parental_responsibility", "same_household",
    # message times
    "received_at", "requested_at", "responded_at", "decided_at", "raised_at", "occurred_at", "at",
    "parked_at", "replayed_at",
})

#: A kept value longer than this is redacted anyway (an id or code is never this long).
MAX_KEPT = 128
#: A number under an unknown key at least this large is redacted (it may be an NHS number or a phone number).
MAX_KEPT_NUMBER = 10_000
_NOT_JSON = "body is not UTF-8 JSON"


def marker(value: Any) -> str:
    """The stand-in for a redacted leaf: its size, never its content."""
    if isinstance(value, str):
        return f"[redacted: {len(value)} chars]"
    if isinstance(value, bool):
        return "[redacted: boolean]"
    if isinstance(value, (int, float)):
        return "[redacted: number]"
    return "[redacted]"


@cache
def code_values() -> frozenset[str]:
    """Every value of every canonical code list (the enums in ``mashlink.schemas``)."""
    from .. import schemas

    values: set[str] = set()
    for info in pkgutil.iter_modules(schemas.__path__):
        module = importlib.import_module(f"{schemas.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, enum.Enum) and obj.__module__ == module.__name__:
                values.update(str(member.value) for member in obj)
    return frozenset(values)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _all(value: Any) -> Any:
    """Redact every leaf, keeping keys and list lengths."""
    if isinstance(value, Mapping):
        return {str(k): _all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_all(v) for v in value]
    return None if value is None else marker(value)


#: What a kept id or code looks like: no spaces, no free text. Anything else is redacted even under a kept key
#: (a malformed message may carry a name in ``status`` or a sentence in ``codes``).
_ID_LIKE = re.compile(r"^[A-Za-z0-9._:/#@+=-]{1,%d}$" % MAX_KEPT)
#: Digits only, 9 to 12 long (with optional spaces): shaped like an NHS number or a phone number.
_NUMBER_LIKE = re.compile(r"^\d[\d ]{7,13}\d$")


def _kept(value: Any) -> Any:
    if isinstance(value, str):
        if value in code_values():
            return value
        return value if _ID_LIKE.match(value) and not _NUMBER_LIKE.match(value) else marker(value)
    if _scalar(value):
        return value
    if isinstance(value, (list, tuple)) and all(_scalar(v) for v in value):
        return [_kept(v) for v in value]
    return _walk(value)


def _unknown(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        # Counts, scores and small numbers help diagnosis; a long number may be an identifier.
        return value if abs(value) < MAX_KEPT_NUMBER else marker(value)
    if isinstance(value, str):
        return value if value in code_values() else marker(value)
    return _walk(value)


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def _walk(value: Any) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            name = str(key)
            folded = name.lower()
            if folded in REDACT_KEYS:
                out[name] = _all(item)
            elif folded in KEEP_KEYS:
                out[name] = _kept(item)
            elif _FIELD_NAME.match(name):
                out[name] = _unknown(item)
            else:
                # A key that is not a field name may itself be data ({"Ada Testchild 2016-03-14": ...}).
                out[f"[redacted key {index + 1}: {len(name)} chars]"] = _all(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_walk(v) for v in value]
    return _unknown(value)


def fingerprint(raw: bytes) -> dict[str, Any]:
    """What is shown of bytes that are not JSON: length and SHA-256 only."""
    return {"redacted": _NOT_JSON, "length": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


def redact_body(body: bytes | str | Mapping[str, Any] | list[Any]) -> Any:
    """A copy of a parked body with every value that could be personal data replaced by a marker.

    ``body`` is the raw bytes (or text) as parked, or an already decoded
    envelope / canonical dict. Structure, keys, ids, codes and message
    metadata are kept; raw bytes that are not UTF-8 JSON become
    ``{"redacted": ..., "length": n, "sha256": ...}``.
    """
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
        try:
            decoded = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return fingerprint(raw)
        return _walk(decoded)
    return _walk(body)


# ---------------------------------------------------------------------------- parking detail

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_SLUG = re.compile(r"^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)+$")
_DIGITS = re.compile(r"\d[\d ]{4,}\d")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:T[\d:.+\-Z]+)?|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_SQL_TAIL = re.compile(r"\[(?:SQL|parameters):.*", re.DOTALL)
_WORDY_DATE = re.compile(r"\b\d{1,2}(?:st|nd|rd|th)? (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{2,4}\b",
                         re.IGNORECASE)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b", re.IGNORECASE)
#: Two or more capitalised words in a row look like a person's or a place's name; field paths and rule
#: names in mashlink's messages are lower case.
_PROPER_NAMES = re.compile(r"\b[A-Z][a-z'-]+(?: [A-Z][a-z'-]+)+\b")


def redact_detail(detail: str) -> str:
    """The parking detail with anything value-like masked.

    Details are meant to name fields and rules only, but a retried handler's
    last error is ``str(exception)``, which may quote values (an SQL error's
    parameters, a ``repr`` of input). Quoted text (unless a lower-case slug
    such as an agency id or a field path), runs of digits, dates and SQL
    tails are masked; field paths, rule names and counts stay.
    """
    text = _SQL_TAIL.sub("[redacted: SQL]", detail or "")

    def quoted(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1]
        return match.group(0) if _SLUG.match(inner) else marker(inner)

    text = _QUOTED.sub(quoted, text)
    text = _DATE.sub(lambda m: marker(m.group(0)), text)
    text = _WORDY_DATE.sub(lambda m: marker(m.group(0)), text)
    text = _POSTCODE.sub(lambda m: marker(m.group(0)), text)
    text = _PROPER_NAMES.sub(lambda m: marker(m.group(0)), text)
    return _DIGITS.sub(lambda m: marker(m.group(0)), text)


def redacted_parked(parked: ParkedMessage) -> dict[str, Any]:
    """A parked message for ops: its metadata, a redacted detail and the redacted body."""
    data = parked.model_dump(mode="json", exclude={"raw", "detail"})
    data["detail"] = redact_detail(parked.detail)
    data["body"] = redact_body(parked.raw)
    data["redacted"] = True
    return data


def parked_metadata(parked: ParkedMessage) -> dict[str, Any]:
    """A parked message for a listing: metadata and a redacted detail, never the body."""
    data = parked.model_dump(mode="json", exclude={"raw", "detail"})
    data["detail"] = redact_detail(parked.detail)
    return data


__all__ = ["KEEP_KEYS", "MAX_KEPT", "MAX_KEPT_NUMBER", "REDACT_KEYS", "code_values", "fingerprint", "marker", "parked_metadata",
           "redact_body", "redact_detail", "redacted_parked"]
