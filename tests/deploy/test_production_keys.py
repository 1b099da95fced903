"""No development signing key is used outside environment: development (README "Deployment")."""

from __future__ import annotations

import pytest

from mashlink.config.errors import ConfigError
from mashlink.config.settings import load_settings
from mashlink.config.signing import SignerKey, public_entry
from tests.production_support import PRODUCTION_KEYS, PRODUCTION_PUBLIC_KEYS, production_signing

OIDC = {"oidc": {"issuer": "https://idp.example.test/realms/mash", "audience": "hub"}}
REAL = PRODUCTION_KEYS
AMQP = "amqp://hub:pw@rabbitmq:5672//"


def test_production_refuses_development_public_keys_naming_each_sender() -> None:
    dev_police = public_entry(SignerKey.development_key("police-synth"))
    signing = {**REAL, "public_keys": {**PRODUCTION_PUBLIC_KEYS, "police-synth": [dev_police]}}
    with pytest.raises(ConfigError) as info:
        load_settings(environment="production", security=OIDC, broker_url=AMQP, signing=signing)
    assert [issue.path for issue in info.value.issues] == ["signing.public_keys.police-synth"]
    assert "mashlink keys generate police-synth" in str(info.value)


def test_production_refuses_a_development_key_under_another_key_id() -> None:
    """The development public key is recognised by its value, not only by its dev-insecure- key id."""
    disguised = {**public_entry(SignerKey.development_key("hub")), "key_id": "hub-20261207-aaaaaa"}
    signing = {**REAL, "public_keys": {**PRODUCTION_PUBLIC_KEYS, "hub": [disguised]}}
    with pytest.raises(ConfigError) as info:
        load_settings(environment="production", security=OIDC, broker_url=AMQP, signing=signing)
    assert [issue.path for issue in info.value.issues] == ["signing.public_keys.hub"]


def test_production_refuses_a_development_private_key_and_never_prints_it() -> None:
    dev = SignerKey.development_key("hub").text()
    with pytest.raises(ConfigError) as info:
        load_settings(environment="production", security=OIDC, broker_url=AMQP,
                      signing={**REAL, "private_key": dev})
    assert [issue.path for issue in info.value.issues] == ["signing.private_key"]
    assert dev.rsplit(":", 1)[1] not in str(info.value)  # the seed itself is never printed


def test_production_with_real_keys_loads_and_development_only_warns() -> None:
    ok = load_settings(environment="production", security=OIDC, broker_url=AMQP, signing=REAL)
    assert ok.dev_key_senders() == []
    assert ok.signer_key("hub").key_id == "hub-20261201-test"
    dev = load_settings(environment="development", broker_url=AMQP)
    assert any("development signing keys" in w for w in dev.warnings())


def test_production_refuses_missing_keys_on_memory_too() -> None:
    """No public keys and no private key: production would otherwise fall back to development keys."""
    with pytest.raises(ConfigError) as info:
        load_settings(environment="production", security=OIDC)
    paths = [issue.path for issue in info.value.issues]
    assert "signing.public_keys.hub" in paths
    assert "signing.private_key" in paths


def test_a_process_given_another_senders_private_key_is_refused_by_name() -> None:
    settings = load_settings(environment="production", security=OIDC, broker_url=AMQP,
                             signing=production_signing("health-synth"))
    with pytest.raises(ValueError, match="key of sender 'health-synth' but this process signs as 'police-synth'"):
        settings.signer_key("police-synth")
