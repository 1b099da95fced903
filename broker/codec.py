"""Envelope encoding, signing and verification.

Every message is the JSON of an :class:`Envelope` signed with the *sender's*
Ed25519 private key over ``Envelope.signing_bytes()`` (which include the
``key_id`` the sender signed with); the signature is URL-safe base64. A
verifier holds only public keys, so it can check a sender but never sign as
one: the hub cannot forge an agency's response and a connector cannot sign as
the hub. A sender may have several public keys valid at once (a rotation);
the envelope's ``key_id`` picks one, and a key outside its ``not_before`` /
``not_after`` is refused.

Decoding checks, in this order, so the reason recorded in the DLQ is the most
useful one: JSON well-formed -> JSON object -> schema version known ->
message type known -> envelope valid -> signature valid -> fresh. The
version is checked before anything is interpreted because a newer schema may
change the envelope itself. Error details name fields and positions, never
values (personal data).
"""

from __future__ import annotations

import binascii
import hmac
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Union

from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel, ValidationError

from .errors import MessageRejected, RejectReason
from ..config.settings import MashlinkSettings
from ..config.signing import SignerKey, VerifierKey, b64, unb64
from ..schemas.base import SUPPORTED_SCHEMA_VERSIONS
from ..schemas.envelope import Envelope, MessageType
from ..schemas.registry import BODY_MODELS

_MAX_DETAIL = 900
_SIGNATURE_PREFIX = b',"signature":"'
#: Ed25519 signatures are 64 bytes: 86 characters of unpadded URL-safe base64.
_SIGNATURE_CHARS = 86
_MESSAGE_TYPES = frozenset(t.value for t in MessageType)

#: What a codec may be given per sender: public keys (a verifier), a SignerKey, or a secret to derive a
#: key pair from (tests and development keys only: whoever holds the secret can sign as that sender).
KeyMaterial = Union[Sequence[VerifierKey], SignerKey, bytes, str]


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """Field path + rule for each error, without the rejected input values."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        where = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or "<root>")
        parts.append(f"{where}: {err.get('msg', '')} [{err.get('type', '')}]")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)[:_MAX_DETAIL]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Freshness:
    """How old (or how far in the future) a message's ``sent_at`` may be.

    A validly signed message is otherwise good forever: a year-old response
    with a new id would be taken as new. Not checked for dead-letter replays
    (``replayed``: an operator chose to send it again) nor for senders in
    ``exempt`` (a process's trusted own messages, e.g. the hub's outbox that
    may hold a message for as long as the broker is down).
    """

    max_age: timedelta = timedelta(days=7)
    max_future_skew: timedelta = timedelta(minutes=5)
    exempt: frozenset[str] = field(default_factory=frozenset)

    def problem(self, envelope: Envelope, now: datetime) -> str | None:
        if envelope.sender in self.exempt:
            return None
        age = now - envelope.sent_at
        if age > self.max_age:
            return (f"envelope.sent_at is {_span(age)} old, beyond the freshness window of "
                    f"{_span(self.max_age)} (signing.max_age_s); replay it from the dead-letter queue "
                    "if it is genuine")
        if -age > self.max_future_skew:
            return (f"envelope.sent_at is {_span(-age)} in the future, beyond the allowed clock skew of "
                    f"{_span(self.max_future_skew)} (signing.max_future_skew_s)")
        return None


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86_400:
        return f"{seconds // 86_400} days"
    if seconds >= 7200:
        return f"{seconds // 3600} hours"
    return f"{seconds} s"


class EnvelopeCodec:
    """Signs outgoing envelopes with this process's key and verifies incoming ones with public keys.

    ``keys`` maps sender id -> public keys (``VerifierKey`` list), or a
    ``SignerKey`` / secret bytes, which also allow signing as that sender.
    ``signer``, when given, is the only identity this codec may sign as (a
    sender id, or a ``SignerKey`` which is then also its key): a connector's
    codec cannot sign a message that claims another sender. ``freshness``
    (None: off) parks stale messages; ``clock`` says what "now" is for it and
    for key validity.
    """

    def __init__(self, keys: Mapping[str, KeyMaterial] | None = None, *, signer: str | SignerKey | None = None,
                 freshness: Freshness | None = None, clock: Callable[[], datetime] = _utcnow) -> None:
        self._verifiers: dict[str, tuple[VerifierKey, ...]] = {}
        self._signing: dict[str, SignerKey] = {}
        for sender, material in (keys or {}).items():
            if isinstance(material, (bytes, str)):
                secret = material.encode() if isinstance(material, str) else bytes(material)
                if not secret:
                    raise ValueError(f"signing key for sender {sender!r} is empty")
                material = SignerKey.from_secret(sender, secret)
            if isinstance(material, SignerKey):
                self._signing[sender] = material
                self._verifiers[sender] = (material.verifier(),)
            else:
                self._verifiers[sender] = tuple(material)
        if isinstance(signer, SignerKey):
            self._signing[signer.sender] = signer
            self._verifiers.setdefault(signer.sender, (signer.verifier(),))
            signer = signer.sender
        self._signer = signer
        self.freshness = freshness
        self._clock = clock
        # Own messages (the hub's outbox, its own events) are checked by signing again: Ed25519 is
        # deterministic (RFC 8032), and signing costs a third of verifying. Only where the listed public
        # key of that key id is this codec's own key, so a configuration error is never hidden.
        self._resign: dict[tuple[str, str], SignerKey] = {}
        for sender, key in self._signing.items():
            own_public = key.private.public_key().public_bytes_raw()
            for verifier in self._verifiers.get(sender, ()):
                if verifier.key_id == key.key_id and verifier.public.public_bytes_raw() == own_public:
                    self._resign[(sender, key.key_id)] = key

    @property
    def signer(self) -> str | None:
        return self._signer

    def senders(self) -> frozenset[str]:
        """Sender ids this codec can verify."""
        return frozenset(self._verifiers)

    # -- signing -----------------------------------------------------------------
    def _signing_key(self, sender: str) -> SignerKey:
        if self._signer is not None and sender != self._signer:
            raise ValueError(f"envelope.sender {sender!r} differs from this codec's signer {self._signer!r}")
        key = self._signing.get(sender)
        if key is None:
            raise ValueError(f"no signing key for sender {sender!r} (envelope.sender): this process holds "
                             "only its own private key (signing.private_key)")
        return key

    def _signed(self, envelope: Envelope) -> tuple[bytes, str]:
        key = self._signing_key(envelope.sender)
        if envelope.key_id != key.key_id:
            envelope = envelope.model_copy(update={"key_id": key.key_id})
        signing = envelope.signing_bytes()
        return signing, b64(key.private.sign(signing))

    def sign(self, envelope: Envelope) -> Envelope:
        """Return a copy of ``envelope`` carrying its key id and signature."""
        key = self._signing_key(envelope.sender)
        env = envelope.model_copy(update={"key_id": key.key_id, "signature": None})
        return env.model_copy(update={"signature": b64(key.private.sign(env.signing_bytes()))})

    def encode(self, envelope: Envelope) -> bytes:
        """Sign with the sender's private key and serialise to UTF-8 JSON.

        The wire form is the canonical signing JSON with the signature added
        as one more member, so the envelope is serialised once, not twice.
        """
        signing, signature = self._signed(envelope)
        if not signing.endswith(b"}") or signing == b"{}":  # pragma: no cover - Envelope always has fields
            raise ValueError("Envelope.signing_bytes() must be a non-empty JSON object")
        return signing[:-1] + _SIGNATURE_PREFIX + signature.encode() + b'"}'

    # -- verifying ---------------------------------------------------------------
    def decode(self, raw: bytes, *, replayed: bool = False) -> Envelope:
        """Parse, verify and check freshness; raises :class:`MessageRejected` with the precise reason.

        ``replayed``: the broker layer says this is a dead-letter replay, which
        an operator chose to send again however old it is.
        """
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MessageRejected(
                RejectReason.BAD_FORMAT, f"body is not UTF-8: invalid byte at position {exc.start}"
            ) from None
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MessageRejected(
                RejectReason.BAD_FORMAT,
                f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})",
            ) from None
        if not isinstance(data, dict):
            raise MessageRejected(
                RejectReason.BAD_FORMAT, f"envelope must be a JSON object, got {type(data).__name__}"
            )
        version = data.get("schema_version")
        if not isinstance(version, str) or version not in SUPPORTED_SCHEMA_VERSIONS:
            shown = version if isinstance(version, str) and len(version) <= 16 else "<missing or invalid>"
            raise MessageRejected(
                RejectReason.UNKNOWN_SCHEMA_VERSION,
                f"schema_version {shown!r} is not one of {sorted(SUPPORTED_SCHEMA_VERSIONS)}",
            )
        message_type = data.get("message_type")
        if message_type not in _MESSAGE_TYPES:
            shown = message_type if isinstance(message_type, str) and len(message_type) <= 40 else "<invalid>"
            raise MessageRejected(
                RejectReason.UNKNOWN_MESSAGE_TYPE,
                f"message_type {shown!r} is not one of {sorted(_MESSAGE_TYPES)}",
            )
        try:
            envelope = Envelope.model_validate(data)
        except ValidationError as exc:
            raise MessageRejected(RejectReason.BAD_FORMAT, "envelope: " + describe_validation_error(exc)) from None
        now = self._clock()
        if not self._signed_as_received(raw, envelope, now):
            self._verify(envelope, envelope.signing_bytes(), now)
        self.check_fresh(envelope, replayed=replayed, now=now)
        return envelope

    def check_fresh(self, envelope: Envelope, *, replayed: bool = False, now: datetime | None = None) -> None:
        """Park (``stale``) a message outside the freshness window; replays and exempt senders pass."""
        if self.freshness is None or replayed:
            return
        problem = self.freshness.problem(envelope, now or self._clock())
        if problem:
            raise MessageRejected(RejectReason.STALE, problem)

    def _key_for(self, sender: str, key_id: str | None, now: datetime) -> list[VerifierKey]:
        """The keys that may verify a message of ``sender`` signed with ``key_id`` at ``now``."""
        keys = self._verifiers.get(sender)
        if not keys:
            raise MessageRejected(RejectReason.BAD_SIGNATURE, f"no public key for sender {sender!r}")
        if key_id is not None:
            keys = tuple(k for k in keys if k.key_id == key_id)
            if not keys:
                raise MessageRejected(RejectReason.BAD_SIGNATURE,
                                      f"envelope.key_id {key_id[:64]!r} is not a key of sender {sender!r}")
        valid = [k for k in keys if k.problem_at(now) is None]
        if not valid:
            raise MessageRejected(RejectReason.BAD_SIGNATURE,
                                  f"sender {sender!r}: " + "; ".join(str(k.problem_at(now)) for k in keys))
        return valid

    def _verify(self, envelope: Envelope, signing: bytes, now: datetime) -> None:
        keys = self._key_for(envelope.sender, envelope.key_id, now)
        if not envelope.signature:
            raise MessageRejected(RejectReason.BAD_SIGNATURE, "envelope.signature is missing")
        if not self._check(envelope.sender, keys, envelope.signature, signing):
            raise MessageRejected(
                RejectReason.BAD_SIGNATURE, f"Ed25519 signature does not verify for sender {envelope.sender!r}"
            )

    def _signed_as_received(self, raw: bytes, envelope: Envelope, now: datetime) -> bool:
        """True when the received bytes are exactly what :meth:`encode` signed, with a valid signature.

        Every mashlink sender writes the canonical signing JSON with the
        signature appended as the last member, so the signature can be checked
        over the bytes as received instead of re-serialising the parsed
        envelope (which cost a tenth of a connector's CPU per message). The
        parsed envelope came from these same authenticated bytes. Anything
        else (a sender that serialises differently, or a forgery) falls
        through to the full check, which decides.
        """
        signature = envelope.signature
        if not signature or len(signature) != _SIGNATURE_CHARS:
            return False
        tail = _SIGNATURE_PREFIX + signature.encode("ascii", "replace") + b'"}'
        if not raw.endswith(tail):
            return False
        keys = self._key_for(envelope.sender, envelope.key_id, now)
        return self._check(envelope.sender, keys, signature, raw[: len(raw) - len(tail)] + b"}")

    def verify_bytes(self, raw: bytes) -> dict[str, Any]:
        """Check bytes exactly as :meth:`encode` wrote them, without building an Envelope.

        For messages this process stored itself and now forwards unchanged
        (the hub's outbox): the signature is checked over the stored bytes
        (everything before the trailing ``"signature"`` member, closed with
        ``}``), which is what :meth:`encode` signed. Any edit to those bytes,
        a signature that is not the last member, an unknown sender or key,
        schema version or message type is rejected with
        :class:`MessageRejected`, as :meth:`decode` would. Freshness is not
        checked (an outbox may hold a message as long as the broker is down).
        Returns the parsed JSON object (not validated as an Envelope: the
        bytes are authentic, and every consumer still runs the full
        :meth:`decode`). Much cheaper than :meth:`decode` because nothing is
        re-serialised.
        """
        tail_len = _SIGNATURE_CHARS + 2
        if not raw.endswith(b'"}') or len(raw) < len(_SIGNATURE_PREFIX) + tail_len:
            raise MessageRejected(RejectReason.BAD_SIGNATURE, "no trailing signature member as encode() writes it")
        cut = len(raw) - tail_len - len(_SIGNATURE_PREFIX)
        if raw[cut:cut + len(_SIGNATURE_PREFIX)] != _SIGNATURE_PREFIX:
            raise MessageRejected(RejectReason.BAD_SIGNATURE, "no trailing signature member as encode() writes it")
        signature = raw[cut + len(_SIGNATURE_PREFIX):-2].decode("ascii", "replace")
        try:
            data: Any = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MessageRejected(RejectReason.BAD_FORMAT, f"body is not UTF-8 JSON: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise MessageRejected(RejectReason.BAD_FORMAT, f"envelope must be a JSON object, got {type(data).__name__}")
        if data.get("schema_version") not in SUPPORTED_SCHEMA_VERSIONS:
            raise MessageRejected(RejectReason.UNKNOWN_SCHEMA_VERSION, "schema_version is not supported")
        if data.get("message_type") not in _MESSAGE_TYPES:
            raise MessageRejected(RejectReason.UNKNOWN_MESSAGE_TYPE, "message_type is not known")
        sender = data.get("sender")
        key_id = data.get("key_id")
        if not isinstance(sender, str) or not (key_id is None or isinstance(key_id, str)):
            raise MessageRejected(RejectReason.BAD_SIGNATURE, "envelope.sender or envelope.key_id is not a string")
        keys = self._key_for(sender, key_id, self._clock())
        if data.get("signature") != signature or not self._check(sender, keys, signature, raw[:cut] + b"}"):
            raise MessageRejected(RejectReason.BAD_SIGNATURE, f"Ed25519 signature does not verify for sender {sender!r}")
        return data

    def _check(self, sender: str, keys: Collection[VerifierKey], signature: str, message: bytes) -> bool:
        """Whether ``signature`` is ``sender``'s over ``message`` under one of ``keys`` (already valid now)."""
        for key in keys:
            own = self._resign.get((sender, key.key_id))
            if own is not None:
                expected = b64(own.private.sign(message)).encode("ascii")
                if hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
                    return True
                keys = [k for k in keys if k is not key]
                break
        return _check(keys, signature, message)

    def verify(self, envelope: Envelope) -> None:
        """Check the signature of a parsed envelope (re-serialised); unknown sender or key is bad_signature."""
        self._verify(envelope, envelope.signing_bytes(), self._clock())

    def body(self, envelope: Envelope) -> BaseModel:
        """Validate the body against the model for ``envelope.message_type``."""
        model = BODY_MODELS.get(MessageType(envelope.message_type))
        if model is None:
            raise MessageRejected(
                RejectReason.UNKNOWN_MESSAGE_TYPE, f"no body model for message_type {envelope.message_type!r}"
            )
        try:
            return model.model_validate(envelope.body)
        except ValidationError as exc:
            raise MessageRejected(
                RejectReason.INVALID_BODY, f"{model.__name__}: " + describe_validation_error(exc, "body.")
            ) from None


def settings_codec(settings: MashlinkSettings, *, signs_as: str | None, verifies: Iterable[str],
                   trusted: Collection[str] = (), clock: Callable[[], datetime] = _utcnow) -> EnvelopeCodec:
    """The codec of a process that runs as ``signs_as`` (None: signs nothing) and verifies ``verifies``.

    Holds this process's private key only (``settings.signer_key``) and the
    public keys of the senders it must verify. Freshness comes from
    ``signing.max_age_s`` / ``max_future_skew_s``; senders in ``trusted`` are
    exempt (the hub's own messages, which its outbox may hold for as long
    as the broker is down, and which only the hub can sign). ``clock`` is
    the process's notion of now (the hub's service clock).
    """
    keys: dict[str, KeyMaterial] = {}
    for sender in dict.fromkeys(verifies):
        found = settings.verifier_keys(sender)
        if found:
            keys[sender] = found
    signer = settings.signer_key(signs_as) if signs_as is not None else None
    freshness = Freshness(settings.signing.max_age, settings.signing.max_future_skew, frozenset(trusted))
    return EnvelopeCodec(keys, signer=signer, freshness=freshness, clock=clock)


def _check(keys: Collection[VerifierKey], signature: str, message: bytes) -> bool:
    try:
        raw_signature = unb64(signature)
    except (binascii.Error, ValueError):
        return False
    if len(raw_signature) != 64:
        return False
    for key in keys:
        try:
            key.public.verify(raw_signature, message)
            return True
        except InvalidSignature:
            continue
    return False


__all__ = ["EnvelopeCodec", "Freshness", "KeyMaterial", "describe_validation_error", "settings_codec"]
