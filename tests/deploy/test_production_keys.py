"""No development signing key is used outside environment: development (README "Deployment")."""

from __future__ import annotations

import pytest

from mashlink.config.errors import ConfigError
from mashlink.config.settings import load_settings
from tests.production_support import PRODUCTION_KEYS

OIDC = {"oidc": {"issuer": "https://idp.example.test/realms/mash", "audience": "hub"}}
REAL = PRODUCTION_KEYS
AMQP = "amqp://hub:pw@rabbitmq:5672//"


def test_production_refuses_development_keys_naming_each_sender() -> None:
    keys = {**REAL, "police-synth": "dev-insecure-police-5b1e8d2c90a74f3e"}
    with pytest.raises(ConfigError) as info:
        load_settings(environment="production", security=OIDC, broker_url=AMQP, signing_keys=keys)
    assert [issue.path for issue in info.value.issues] == ["signing_keys.police-synth"]
    assert "MASHLINK_SIGNING_KEYS__POLICE_SYNTH" in str(info.value)
    assert "5b1e8d2c" not in str(info.value)  # the key itself is never printed


def test_production_with_real_keys_loads_and_development_only_warns() -> None:
    ok = load_settings(environment="production", security=OIDC, broker_url=AMQP, signing_keys=REAL)
    assert ok.dev_key_senders() == []
    dev = load_settings(environment="development", broker_url=AMQP)
    assert any("development signing keys" in w for w in dev.warnings())


def test_production_refuses_development_keys_on_memory_too() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environment="production", security=OIDC)
    assert "signing_keys.hub" in [issue.path for issue in info.value.issues]
