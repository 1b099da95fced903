"""Security settings: the permission table, the environment rule, OIDC options."""

from __future__ import annotations

import pytest

from mashlink.config.errors import ConfigError
from mashlink.config.security import Permission, Role, default_permissions
from mashlink.config.settings import load_settings
from tests.production_support import PRODUCTION_KEYS


def test_the_shipped_yaml_table_is_the_documented_default() -> None:
    """IG staff read config/mashlink.yaml; it must say exactly what the code would do without it."""
    assert load_settings().security.permissions == default_permissions()


def test_roles_left_out_of_a_table_get_nothing_and_unknown_names_are_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    own = tmp_path / "mashlink.yaml"
    own.write_text("security:\n  permissions:\n    ops: [metrics.read]\n", encoding="utf-8")
    settings = load_settings(own)
    assert settings.security.permissions[Role.OPS] == frozenset({Permission.METRICS_READ})
    assert settings.security.permissions[Role.PRACTITIONER] == frozenset()
    with pytest.raises(ConfigError) as bad:
        load_settings(security={"permissions": {"ops": ["metrics.reed"]}})
    assert "security.permissions.ops" in str(bad.value) and "metrics.reed" in str(bad.value)
    with pytest.raises(ConfigError) as role:
        load_settings(security={"permissions": {"superuser": ["metrics.read"]}})
    assert "superuser" in str(role.value)


def test_production_needs_an_identity_provider_and_refuses_hs256() -> None:
    with pytest.raises(ConfigError) as missing:
        load_settings(environment="production", signing=PRODUCTION_KEYS)
    assert "security.oidc.issuer" in str(missing.value)
    ok = load_settings(environment="production", signing=PRODUCTION_KEYS,
                       security={"oidc": {"issuer": "https://idp.example.test/realms/mash", "audience": "hub"}})
    assert ok.security.oidc is not None and ok.security.oidc.audiences == ["hub"]
    with pytest.raises(ConfigError) as hs:
        load_settings(security={"oidc": {"issuer": "https://idp.example.test", "audience": "hub",
                                         "algorithms": ["HS256"]}})
    assert "security.oidc.algorithms" in str(hs.value)


def test_mtls_clients_need_the_proxy_header() -> None:
    with pytest.raises(ConfigError) as bad:
        load_settings(security={"mtls_clients": {"CN=police-gateway": "police-synth"}})
    assert "trusted_client_header" in str(bad.value)
