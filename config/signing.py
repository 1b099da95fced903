"""Envelope signing keys: each process holds only its own Ed25519 private key.

Why asymmetric: with shared HMAC keys the hub held every agency's secret and
every connector held the hub's, so the hub could forge an agency's response
and any connector could sign as the hub (or as the referrer notifier, whose
receipts the hub accepted under the hub's key). Now a sender signs with a
private key only it holds, and everyone else verifies with its public key:

* ``signing.private_key`` (``MASHLINK_SIGNING__PRIVATE_KEY``, a secret): this
  process's own key, written ``ed25519:<sender>:<key_id>:<base64 seed>`` as
  ``mashlink keys generate SENDER`` prints it, so a key given to the wrong
  process (a police connector holding health's key) is refused by name.
* ``signing.public_keys`` (not secret, the same in every process's file):
  ``{sender: [{key_id, public_key, not_before, not_after}]}``. A verifier
  accepts a message signed by any key of its sender that is valid now, so a
  rotation is a period where the old and the new key are both listed.
* ``signing.max_age_s`` / ``signing.max_future_skew_s``: the freshness window
  (see ``broker.codec.Freshness``).

Development runs with no setup: a sender with no configured public keys, and
a process with no private key, use a *development key* derived from the
sender id (``dev-insecure-<sender>``). Anyone can derive it, so production
refuses it (see ``MashlinkSettings``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator, model_validator

from .models import SLUG_PATTERN

#: Every development key (secret or key id) starts with this, so it can be recognised and refused.
DEV_KEY_PREFIX = "dev-insecure-"
PRIVATE_KEY_SCHEME = "ed25519"
KEY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DEFAULT_MAX_AGE_S = 7 * 86_400.0
DEFAULT_MAX_FUTURE_SKEW_S = 300.0
_KEY_ID_RE = re.compile(KEY_ID_PATTERN)
_SENDER_RE = re.compile(SLUG_PATTERN)
_SEED_LABEL = b"mashlink-ed25519-seed-v1:"
_LOCAL_SECRET_LABEL = b"mashlink-local-secret-v1"

SenderId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
KeyId = Annotated[str, StringConstraints(pattern=KEY_ID_PATTERN)]


def b64(data: bytes) -> str:
    """URL-safe base64 without padding: JSON- and shell-safe, no characters a serialiser would escape."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    """Inverse of :func:`b64`; also reads standard base64 and padded forms. ``binascii.Error`` if malformed."""
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9_-]*", cleaned):
        raise binascii.Error("not base64")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))


def private_key_from_secret(secret: bytes) -> Ed25519PrivateKey:
    """A key pair derived from a secret (development keys and tests; never a generated production key)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(_SEED_LABEL + secret).digest())


def dev_secret(sender: str) -> bytes:
    """The development secret of ``sender``: public knowledge, refused in production."""
    return (DEV_KEY_PREFIX + sender).encode("utf-8")


def dev_key_id(sender: str) -> str:
    return DEV_KEY_PREFIX + sender


def public_key_text(key: Ed25519PublicKey) -> str:
    return b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def seed_of(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


@dataclass(frozen=True)
class SignerKey:
    """The private key a process signs with, the sender id it belongs to and the id verifiers look it up by."""

    sender: str
    key_id: str
    private: Ed25519PrivateKey
    development: bool = False

    @classmethod
    def development_key(cls, sender: str) -> "SignerKey":
        return cls(sender, dev_key_id(sender), private_key_from_secret(dev_secret(sender)), development=True)

    @classmethod
    def from_secret(cls, sender: str, secret: bytes, key_id: str | None = None) -> "SignerKey":
        """A key pair derived from ``secret`` (tests; a ``dev-insecure-`` secret is a development key)."""
        dev = secret.startswith(DEV_KEY_PREFIX.encode())
        return cls(sender, key_id or (dev_key_id(sender) if dev else f"{sender}-secret"),
                   private_key_from_secret(secret), development=dev)

    @classmethod
    def generate(cls, sender: str, key_id: str) -> "SignerKey":
        return cls(sender, key_id, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str, *, where: str = "signing.private_key") -> "SignerKey":
        """Read ``ed25519:<sender>:<key_id>:<base64 seed>``; ``ValueError`` naming ``where`` and the rule."""
        parts = text.strip().split(":")
        if len(parts) != 4 or parts[0] != PRIVATE_KEY_SCHEME:
            raise ValueError(f"{where}: must be written ed25519:<sender>:<key_id>:<base64 seed> "
                             f"(as `mashlink keys generate SENDER` prints it); got {len(parts)} ':'-separated "
                             "part(s)")
        _, sender, key_id, seed_text = parts
        if not _SENDER_RE.match(sender):
            raise ValueError(f"{where}: part 2 (sender) is not a sender id (lower-case letters, digits, hyphens)")
        if not _KEY_ID_RE.match(key_id):
            raise ValueError(f"{where}: part 3 (key_id) must match {KEY_ID_PATTERN}")
        try:
            seed = unb64(seed_text)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}: part 4 (seed) is not base64") from None
        if len(seed) != 32:
            raise ValueError(f"{where}: part 4 (seed) must be 32 bytes of base64, got {len(seed)}")
        dev_seed = seed_of(private_key_from_secret(dev_secret(sender)))
        return cls(sender, key_id, Ed25519PrivateKey.from_private_bytes(seed),
                   development=key_id.startswith(DEV_KEY_PREFIX) or seed == dev_seed)

    def text(self) -> str:
        """The secret as configured: ``ed25519:<sender>:<key_id>:<base64 seed>``."""
        return f"{PRIVATE_KEY_SCHEME}:{self.sender}:{self.key_id}:{b64(seed_of(self.private))}"

    def verifier(self, not_before: datetime | None = None, not_after: datetime | None = None) -> "VerifierKey":
        return VerifierKey(self.key_id, self.private.public_key(), not_before, not_after)

    def local_secret(self) -> bytes:
        """A symmetric secret for HMACs that never leave this process's trust (session cookies, anchors)."""
        return hashlib.sha256(_LOCAL_SECRET_LABEL + seed_of(self.private)).hexdigest().encode("ascii")


@dataclass(frozen=True)
class VerifierKey:
    """One public key of a sender with its validity (either bound open)."""

    key_id: str
    public: Ed25519PublicKey
    not_before: datetime | None = None
    not_after: datetime | None = None

    def problem_at(self, now: datetime) -> str | None:
        """Why this key may not verify a message received at ``now``, or None."""
        if self.not_before is not None and now < self.not_before:
            return f"key {self.key_id!r} is not valid before {self.not_before.isoformat()}"
        if self.not_after is not None and now >= self.not_after:
            return f"key {self.key_id!r} expired at {self.not_after.isoformat()}"
        return None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class PublicKeyEntry(BaseModel):
    """A sender's public key as every other process configures it (``mashlink keys generate`` prints it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: KeyId = Field(description="Id the signer puts in each envelope's key_id")
    public_key: str = Field(min_length=40, max_length=64, description="Raw Ed25519 public key, base64")
    not_before: datetime | None = Field(default=None, description="Valid from (UTC); unset: always was")
    not_after: datetime | None = Field(default=None, description="Refused from (UTC); unset: until removed")

    @field_validator("public_key")
    @classmethod
    def _ed25519(cls, value: str) -> str:
        try:
            raw = unb64(value)
        except (binascii.Error, ValueError):
            raise ValueError("is not base64") from None
        if len(raw) != 32:
            raise ValueError(f"must be a 32-byte Ed25519 public key in base64, got {len(raw)} bytes")
        return value

    @field_validator("not_before", "not_after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> "PublicKeyEntry":
        if self.not_before and self.not_after and self.not_after <= self.not_before:
            raise ValueError("not_after must be later than not_before")
        return self

    @cached_property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.key_id, Ed25519PublicKey.from_public_bytes(unb64(self.public_key)),
                           self.not_before, self.not_after)


class SigningSettings(BaseModel):
    """``signing:``: this process's private key, everyone's public keys, the freshness window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    private_key: SecretStr | None = Field(
        default=None,
        description="This process's own key, ed25519:<sender>:<key_id>:<base64 seed> "
                    "(MASHLINK_SIGNING__PRIVATE_KEY; from `mashlink keys generate SENDER`). Unset: the "
                    "development key of the sender the process runs as (refused in production)")
    public_keys: dict[SenderId, list[PublicKeyEntry]] = Field(
        default_factory=dict,
        description="Public keys per sender id ('hub', 'referrer-notifier' or an agency id); several "
                    "overlapping entries during a rotation. A sender not listed uses its development key "
                    "(development only)")
    max_age_s: float = Field(
        default=DEFAULT_MAX_AGE_S, ge=60, le=366 * 86_400,
        description="A message whose sent_at is older than this is parked as stale (dead-letter replays "
                    "and the hub's own messages excepted)")
    max_future_skew_s: float = Field(
        default=DEFAULT_MAX_FUTURE_SKEW_S, ge=0, le=86_400,
        description="How far in the future a sent_at may be (clock skew between hosts)")

    @field_validator("private_key")
    @classmethod
    def _parse_private(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                SignerKey.parse(value.get_secret_value(), where="private key")
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("public_keys")
    @classmethod
    def _unique_ids(cls, value: dict[str, list[PublicKeyEntry]]) -> dict[str, list[PublicKeyEntry]]:
        for sender, entries in value.items():
            seen: set[str] = set()
            for entry in entries:
                if entry.key_id in seen:
                    raise ValueError(f"sender {sender!r} lists key_id {entry.key_id!r} twice")
                seen.add(entry.key_id)
            if not entries:
                raise ValueError(f"sender {sender!r} has an empty list (remove it, or list its keys)")
        return value

    @cached_property
    def own_key(self) -> SignerKey | None:
        """The configured private key, parsed (None: not configured)."""
        if self.private_key is None:
            return None
        return SignerKey.parse(self.private_key.get_secret_value())

    def verifiers(self, sender: str, *, development: bool) -> list[VerifierKey]:
        """Public keys of ``sender``: as configured, else (development only) its development key."""
        entries = self.public_keys.get(sender)
        if entries:
            return [e.verifier for e in entries]
        if development:
            return [SignerKey.development_key(sender).verifier()]
        return []

    def development_entries(self) -> list[str]:
        """``public_keys`` entries that are development keys (``sender/key_id``), refused in production."""
        out = []
        for sender, entries in self.public_keys.items():
            dev_public = public_key_text(SignerKey.development_key(sender).private.public_key())
            for entry in entries:
                if entry.key_id.startswith(DEV_KEY_PREFIX) or unb64(entry.public_key) == unb64(dev_public):
                    out.append(f"{sender}/{entry.key_id}")
        return out

    @property
    def max_age(self) -> timedelta:
        return timedelta(seconds=self.max_age_s)

    @property
    def max_future_skew(self) -> timedelta:
        return timedelta(seconds=self.max_future_skew_s)


def new_key_id(sender: str, now: datetime) -> str:
    """``<sender>-<yyyymmdd>-<6 hex>``: sortable by date, unique without coordination."""
    return f"{sender}-{now:%Y%m%d}-{secrets.token_hex(3)}"[:64]


def public_entry(key: SignerKey, not_before: datetime | None = None,
                 not_after: datetime | None = None) -> dict[str, Any]:
    """The ``signing.public_keys.<sender>`` list item for ``key``, as plain data."""
    entry: dict[str, Any] = {"key_id": key.key_id, "public_key": public_key_text(key.private.public_key())}
    if not_before is not None:
        entry["not_before"] = not_before.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if not_after is not None:
        entry["not_after"] = not_after.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return entry


__all__ = [
    "DEV_KEY_PREFIX", "PublicKeyEntry", "SignerKey", "SigningSettings", "VerifierKey", "b64", "dev_key_id",
    "dev_secret", "new_key_id", "private_key_from_secret", "public_entry", "public_key_text", "unb64",
]
