"""Per-sender Ed25519 signatures: who can sign as whom, and key rotation with overlapping validity.

Each process is wired from its own settings as it is in deployment
(``connector_codec``, ``hub_codec``, the referrer notifier's codecs): it holds
its own private key and the others' public keys only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mashlink.broker import EnvelopeCodec, RejectReason
from mashlink.broker.errors import MessageRejected
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.config.signing import SignerKey, SigningSettings, public_entry
from mashlink.connectors.referrer.notifier import notifier_codec, receipt_broker_factory
from mashlink.connectors.wiring import connector_codec
from mashlink.hub.service import hub_codec
from tests.broker.broker_helpers import enquiry_envelope
from tests.production_support import PRODUCTION_PUBLIC_KEYS, PRODUCTION_SIGNERS, production_signing

OIDC = {"oidc": {"issuer": "https://idp.example.test/realms/mash", "audience": "hub"}}
AMQP = "amqp://x:y@rabbitmq:5672//"
POLICE = "police-synth"


def _process(runs_as: str, **signing: object) -> MashlinkSettings:
    """The production settings of the process that runs as ``runs_as`` (its key, everyone's public keys)."""
    return load_settings(environment="production", security=OIDC, broker_url=AMQP,
                         signing={**production_signing(runs_as), **signing})


def _response(sender: str = POLICE, *, sent_at: datetime | None = None):  # type: ignore[no-untyped-def]
    env = enquiry_envelope(sender=sender, recipient="hub")
    return env.model_copy(update={"sent_at": sent_at or datetime.now(UTC)})


def _rejected(codec: EnvelopeCodec, raw: bytes) -> MessageRejected:
    with pytest.raises(MessageRejected) as info:
        codec.decode(raw)
    return info.value


def test_a_connector_holds_no_hub_key_and_cannot_sign_as_the_hub() -> None:
    police = _process(POLICE)
    codec = connector_codec(police, POLICE)
    with pytest.raises(ValueError, match="differs from this codec's signer"):
        codec.encode(enquiry_envelope(sender="hub"))
    with pytest.raises(ValueError, match="key of sender 'police-synth' but this process signs as 'hub'"):
        police.signer_key("hub")  # its settings hold only its own private key
    with pytest.raises(KeyError):
        police.signing_key("hub")
    # What the connector does sign, the hub verifies.
    hub = hub_codec(_process("hub"))
    assert hub.decode(codec.encode(_response())).sender == POLICE


@pytest.mark.parametrize("key_id", [PRODUCTION_SIGNERS[POLICE].key_id, PRODUCTION_SIGNERS["hub"].key_id])
def test_an_envelope_signed_with_the_connectors_key_but_sender_hub_fails_everywhere(key_id: str) -> None:
    """The forgery a connector could make with HMAC: its own key, ``sender: hub`` (either key id)."""
    own = PRODUCTION_SIGNERS[POLICE]
    forger = EnvelopeCodec(signer=SignerKey("hub", key_id, own.private))
    raw = forger.encode(enquiry_envelope(sender="hub"))
    for verifier in (connector_codec(_process("health-synth"), "health-synth"), hub_codec(_process("hub")),
                     notifier_codec(_process("referrer-notifier"))):
        rejected = _rejected(verifier, raw)
        assert rejected.reason is RejectReason.BAD_SIGNATURE
        assert "sender 'hub'" in rejected.detail


def test_the_referrer_notifier_signs_receipts_with_its_own_key_never_the_hubs() -> None:
    notifier = _process("referrer-notifier")
    broker = receipt_broker_factory(notifier)()
    try:
        codec = broker.codec
    finally:
        broker.close()
    receipt = _response("referrer-notifier")
    raw = codec.encode(receipt)
    decoded = hub_codec(_process("hub")).decode(raw)
    assert decoded.sender == "referrer-notifier"
    assert decoded.key_id == PRODUCTION_SIGNERS["referrer-notifier"].key_id
    with pytest.raises(ValueError):
        codec.encode(enquiry_envelope(sender="hub"))
    with pytest.raises(ValueError):
        notifier_codec(notifier).encode(enquiry_envelope(sender="hub"))  # the outcome consumer signs nothing


def _rotation(now: datetime) -> tuple[SignerKey, SignerKey, dict[str, object]]:
    old = PRODUCTION_SIGNERS[POLICE]
    new = SignerKey.from_secret(POLICE, b"police-rotated-secret-0a1b2c3d", key_id="police-synth-20261207-new")
    keys = {**PRODUCTION_PUBLIC_KEYS, POLICE: [
        public_entry(old, not_before=now - timedelta(days=365), not_after=now + timedelta(days=7)),
        public_entry(new, not_before=now - timedelta(hours=1)),
    ]}
    return old, new, keys


def test_rotation_both_keys_verify_in_the_overlap_and_the_old_is_refused_after_not_after() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old, new, public_keys = _rotation(now)
    hub_settings = _process("hub", public_keys=public_keys)
    during = hub_codec(hub_settings, clock=lambda: now)
    signed_old = EnvelopeCodec(signer=old).encode(_response(sent_at=now))
    signed_new = connector_codec(_process(POLICE, private_key=new.text(), public_keys=public_keys), POLICE) \
        .encode(_response(sent_at=now))
    assert during.decode(signed_old).key_id == old.key_id
    assert during.decode(signed_new).key_id == new.key_id

    after = now + timedelta(days=7, seconds=1)
    later = hub_codec(hub_settings, clock=lambda: after)
    rejected = _rejected(later, EnvelopeCodec(signer=old).encode(_response(sent_at=after)))
    assert rejected.reason is RejectReason.BAD_SIGNATURE and "expired at" in rejected.detail
    assert later.decode(EnvelopeCodec(signer=new).encode(_response(sent_at=after))).key_id == new.key_id


def test_a_key_before_not_before_and_an_unknown_key_id_are_refused_with_the_reason() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    _, new, public_keys = _rotation(now)
    early = hub_codec(_process("hub", public_keys=public_keys), clock=lambda: now - timedelta(hours=2))
    rejected = _rejected(early, EnvelopeCodec(signer=new).encode(_response(sent_at=now - timedelta(hours=2))))
    assert "not valid before" in rejected.detail
    stranger = SignerKey.from_secret(POLICE, b"a-key-nobody-listed-0a1b2c3d4e", key_id="police-synth-unlisted")
    rejected = _rejected(hub_codec(_process("hub")), EnvelopeCodec(signer=stranger).encode(_response()))
    assert rejected.reason is RejectReason.BAD_SIGNATURE
    assert "envelope.key_id 'police-synth-unlisted' is not a key of sender 'police-synth'" in rejected.detail


def test_development_keys_work_with_no_setup_and_are_refused_in_production() -> None:
    dev = load_settings()  # the shipped file: no keys configured
    police = connector_codec(dev, POLICE)
    assert hub_codec(dev).decode(police.encode(_response())).key_id == "dev-insecure-police-synth"
    prod = _process("hub")
    rejected = _rejected(hub_codec(prod), police.encode(_response()))
    assert rejected.reason is RejectReason.BAD_SIGNATURE  # production lists real keys only
    with pytest.raises(ValueError, match="signing.private_key is not set"):
        _without_private_key(prod).signer_key("hub")  # never a silent fall back to the development key


def _without_private_key(settings: MashlinkSettings) -> MashlinkSettings:
    """``settings`` with no private key, built by hand (load_settings refuses it in production)."""
    signing = SigningSettings(**{**settings.signing.model_dump(), "private_key": None})
    return settings.model_copy(update={"signing": signing})


def test_the_hubs_own_messages_are_checked_against_the_listed_key_not_only_its_own() -> None:
    """Own messages are checked by signing again only when the listed key of that id is this process's key."""
    hub_settings = _process("hub")
    own = hub_codec(hub_settings)
    raw = own.encode(enquiry_envelope())
    assert own.verify_bytes(raw)["sender"] == "hub"
    tampered = raw.replace(b'"rag":"green"', b'"rag":"red"', 1)
    assert tampered != raw
    with pytest.raises(MessageRejected):
        own.verify_bytes(tampered)
    # A hub whose configuration lists another public key under its key id cannot vouch for itself.
    other = SignerKey.from_secret("hub", b"someone-elses-hub-key-0a1b2c3d", key_id=PRODUCTION_SIGNERS["hub"].key_id)
    misconfigured = hub_codec(_process("hub", public_keys={**PRODUCTION_PUBLIC_KEYS, "hub": [public_entry(other)]}))
    with pytest.raises(MessageRejected) as info:
        misconfigured.verify_bytes(raw)
    assert info.value.reason is RejectReason.BAD_SIGNATURE
