"""Sign-in against a real identity provider's keys over HTTP (``mashlink.hub.auth.tokens``).

The IdP is ``IdpSimulator`` (tests/hub/idp_support.py): uvicorn on 127.0.0.1
serving discovery and a JWKS whose keys are generated here and rotated during
a test, counting every fetch. Each case asserts the exact outcome: the
``Principal``, or the ``AuthenticationError`` and the rule its description
names.

PyJWT's ``PyJWKClient`` keeps time with ``time.monotonic``; ``jwks_clock``
moves that clock (for PyJWT's JWKS modules only, never the server's) so a test
can step past the JWKS cache life or the forced-refresh cool-down without
sleeping.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import types
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from mashlink.config.errors import ConfigError
from mashlink.config.security import DevIssuerSettings, OidcSettings, Role
from mashlink.config.settings import MashlinkSettings, load_settings
from mashlink.hub.auth.dev_issuer import DevIssuer, DevIssuerRefused
from mashlink.hub.auth.principal import Principal
from mashlink.hub.auth.tokens import (
    JWKS_REFETCH_COOLDOWN_S,
    AuthenticationError,
    JwksKeySource,
    TokenVerifier,
    verifier_for,
)
from tests.production_support import PRODUCTION_KEYS, set_production_keys
from tests.hub.idp_support import AUDIENCE, DROP, IdpSimulator, b64url_json, hs256_token, new_key, unsigned_token

NOW = lambda: datetime.now(timezone.utc)  # noqa: E731


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _direct_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx (discovery) and urllib (JWKS) honour *_PROXY variables: talk to 127.0.0.1 directly."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def idp() -> Iterator[IdpSimulator]:
    """A running IdP with one RSA key ('rsa-1') and one EC key ('ec-1') published."""
    sim = IdpSimulator()
    sim.add_key("RS256", "rsa-1")
    sim.add_key("ES256", "ec-1")
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


class JwksClock:
    """``time.monotonic`` as PyJWT's JWKS client and cache see it, plus an offset a test can advance."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def jwks_clock(monkeypatch: pytest.MonkeyPatch) -> JwksClock:
    clock = JwksClock()
    fake_time = types.SimpleNamespace(monotonic=clock.monotonic, time=time.time)
    import jwt.api_jwk
    import jwt.jwk_set_cache
    import jwt.jwks_client

    for module in (jwt.jwks_client, jwt.jwk_set_cache, jwt.api_jwk):
        monkeypatch.setattr(module, "time", fake_time)
    return clock


def oidc_settings(tmp_path: Path, idp: IdpSimulator, *, environment: str = "production",
                  **oidc: Any) -> MashlinkSettings:
    section: dict[str, Any] = {"issuer": idp.issuer, "audience": [AUDIENCE], "jwks_url": idp.jwks_url}
    section.update(oidc)
    section = {k: v for k, v in section.items() if v is not DROP}
    keys = PRODUCTION_KEYS if environment == "production" else {}
    return load_settings(state_dir=str(tmp_path / "state"), environment=environment, security={"oidc": section},
                         **({"signing": keys} if keys else {}))


@pytest.fixture
def verifier(tmp_path: Path, idp: IdpSimulator) -> TokenVerifier:
    return verifier_for(oidc_settings(tmp_path, idp))


def refused(verifier: TokenVerifier, token: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        verifier.verify(token)
    return info.value


def person(idp: IdpSimulator, **fields: Any) -> Principal:
    base: dict[str, Any] = dict(subject="a1b2c3-amy", display_name="Amy Example", kind="person",
                                roles=frozenset({Role.PRACTITIONER}), local_authorities=frozenset({"999"}),
                                agency_id=None, issuer=idp.issuer)
    base.update(fields)
    return Principal(**base)


# -- valid tokens: the principal they name -----------------------------------------------------------


def test_valid_rs256_token_gives_the_principal(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    token = idp.token(kid="rsa-1", mashlink_la=["999", "998"])
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert verifier.verify(token) == person(idp, local_authorities=frozenset({"999", "998"}))
    assert idp.jwks_fetches == 1


def test_valid_es256_token_gives_the_principal(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    token = idp.token(kid="ec-1", sub="b2-mo", name="Mo Manager", roles=["manager", "not-a-mashlink-role"],
                      mashlink_la="999 998")
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert verifier.verify(token) == person(idp, subject="b2-mo", display_name="Mo Manager",
                                            roles=frozenset({Role.MANAGER}),
                                            local_authorities=frozenset({"999", "998"}))


def test_keycloak_realm_access_roles_by_dotted_role_claim(tmp_path: Path, idp: IdpSimulator) -> None:
    verifier = verifier_for(oidc_settings(tmp_path, idp, role_claim="realm_access.roles"))
    token = idp.token(kid="rsa-1", roles=["manager"],  # the top-level claim is not the configured one
                      realm_access={"roles": ["auditor", "offline_access", "uma_authorization"]})
    assert verifier.verify(token) == person(idp, roles=frozenset({Role.AUDITOR}))
    no_realm = idp.token(kid="rsa-1", roles=["manager"])
    assert verifier.verify(no_realm).roles == frozenset()


def test_role_map_maps_a_group_id_to_a_role(tmp_path: Path, idp: IdpSimulator) -> None:
    group = "3f6c2a0e-9b1d-4c55-8e0a-7d1f2b9c4e11"  # an Entra ID group object id
    verifier = verifier_for(oidc_settings(tmp_path, idp, role_claim="groups",
                                          role_map={group: "practitioner", "grp-ops": "ops"}))
    token = idp.token(kid="ec-1", roles=DROP, groups=[group, "some-other-group"])
    assert verifier.verify(token) == person(idp, roles=frozenset({Role.PRACTITIONER}))
    both = idp.token(kid="ec-1", roles=DROP, groups=[group, "grp-ops", "auditor"])
    # With a role_map, only mapped values count: a group merely named "auditor" grants nothing.
    assert verifier.verify(both).roles == frozenset({Role.PRACTITIONER, Role.OPS})


def test_agency_only_when_a_configured_agency(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    liaison = idp.token(kid="rsa-1", sub="p-liaison", name="Pat Liaison", roles=["agency_liaison"],
                        mashlink_la=DROP, mashlink_agency="police-synth")
    assert verifier.verify(liaison) == person(idp, subject="p-liaison", display_name="Pat Liaison",
                                              roles=frozenset({Role.AGENCY_LIAISON}),
                                              local_authorities=frozenset(), agency_id="police-synth")
    unknown = idp.token(kid="rsa-1", roles=["agency_liaison"], mashlink_agency="not-an-agency")
    assert verifier.verify(unknown).agency_id is None


def test_system_role_is_a_client(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    token = idp.token(kid="ec-1", sub="svc-health-connector", name=DROP, roles=["system"], mashlink_la=DROP,
                      mashlink_agency="health-synth")
    assert verifier.verify(token) == Principal(
        subject="svc-health-connector", display_name=None, kind="client", roles=frozenset({Role.SYSTEM}),
        local_authorities=frozenset(), agency_id="health-synth", issuer=idp.issuer)


# -- forged and tampered ----------------------------------------------------------------------------


@pytest.mark.parametrize("kid,alg", [("rsa-1", "RS256"), ("ec-1", "ES256")])
def test_forged_with_another_key_under_the_same_kid(verifier: TokenVerifier, idp: IdpSimulator,
                                                    kid: str, alg: str) -> None:
    forged = idp.sign(idp.claims(roles=["manager"]), kid=kid, key=new_key(alg))
    assert refused(verifier, forged).description == "token signature does not verify"


def test_tampered_payload(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    header, payload, signature = idp.token(kid="rsa-1").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["roles"] == ["practitioner"]
    claims["roles"] = ["manager"]
    tampered = f"{header}.{b64url_json(claims)}.{signature}"
    assert refused(verifier, tampered).description == "token signature does not verify"


def test_header_alg_must_match_the_key(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    """An accepted alg in the header that is not the named key's algorithm is refused, not reinterpreted."""
    token = idp.sign(idp.claims(), kid="rsa-1", alg="ES256", key=new_key("ES256"))
    assert refused(verifier, token).description == "token refused (InvalidAlgorithmError)"


# -- time ---------------------------------------------------------------------------------------------


def test_expired(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    token = idp.token(kid="rsa-1", iat=NOW() - timedelta(minutes=20), nbf=NOW() - timedelta(minutes=20),
                      exp=NOW() - timedelta(seconds=120))
    assert refused(verifier, token).description == "token expired"


def test_expired_within_leeway_is_accepted(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    assert verifier.leeway_s == 60
    token = idp.token(kid="rsa-1", iat=NOW() - timedelta(minutes=20), nbf=NOW() - timedelta(minutes=20),
                      exp=NOW() - timedelta(seconds=30))
    assert verifier.verify(token) == person(idp)


def test_not_before_in_the_future(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    beyond = idp.token(kid="ec-1", nbf=NOW() + timedelta(seconds=120))
    assert refused(verifier, beyond).description == "token not yet valid (nbf/iat in the future)"
    within = idp.token(kid="ec-1", nbf=NOW() + timedelta(seconds=30))
    assert verifier.verify(within) == person(idp)


# -- issuer, audience, required claims ------------------------------------------------------------------


def test_wrong_issuer(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    token = idp.token(kid="rsa-1", iss="https://login.example.org/other-tenant/v2.0")
    assert refused(verifier, token).description == "token issuer is not the configured identity provider"


def test_wrong_audience(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    token = idp.token(kid="rsa-1", aud="some-other-app")
    assert refused(verifier, token).description == "token audience is not this hub"


def test_audience_list_containing_the_hub_is_accepted(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    assert verifier.verify(idp.token(kid="rsa-1", aud=["account", AUDIENCE])) == person(idp)


@pytest.mark.parametrize("claim", ["sub", "exp", "iss", "aud"])
def test_missing_required_claim(verifier: TokenVerifier, idp: IdpSimulator, claim: str) -> None:
    token = idp.token(kid="rsa-1", **{claim: DROP})
    assert refused(verifier, token).description == f"token lacks the {claim!r} claim"


@pytest.mark.parametrize("overrides", [{"sub": ""}, {"sub": "s" * 300}],
                         ids=["empty-sub", "long-sub"])
def test_unusable_subject_or_name_is_an_authentication_error(verifier: TokenVerifier, idp: IdpSimulator,
                                                            overrides: dict[str, str]) -> None:
    error = refused(verifier, idp.token(kid="rsa-1", **overrides))
    assert error.error == "invalid_token" and "'sub'" in error.description


def test_overlong_display_name_is_shortened_not_fatal(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    principal = verifier.verify(idp.token(kid="rsa-1", name="n" * 300))
    assert principal.display_name == "n" * 256


# -- algorithms: none and key confusion, refused before any key lookup ---------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_refused_before_any_key_lookup(verifier: TokenVerifier, idp: IdpSimulator, alg: str) -> None:
    token = unsigned_token(idp.claims(roles=["manager"]), alg=alg, kid="rsa-1")
    assert token.endswith(".")
    assert idp.jwks_fetches == 0
    error = refused(verifier, token)
    assert error.description == f"algorithm {alg!r} is not accepted (accepted: RS256, ES256)"
    assert error.error == "invalid_token"
    assert idp.jwks_fetches == 0


def test_hs256_keyed_with_the_public_key_pem_refused(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    """The classic key confusion: an HMAC whose secret is the RSA public key anyone can fetch."""
    pem = idp.public_pem("rsa-1")
    token = hs256_token(idp.claims(roles=["manager"]), pem, kid="rsa-1")
    error = refused(verifier, token)
    assert error.description == "algorithm 'HS256' is not accepted (accepted: RS256, ES256)"
    assert idp.jwks_fetches == 0
    # Even with the key fetched and cached, the same token is refused on its algorithm.
    assert verifier.verify(idp.token(kid="rsa-1")) == person(idp)
    assert refused(verifier, token).description == error.description


def test_symmetric_algorithms_cannot_be_configured(tmp_path: Path, idp: IdpSimulator) -> None:
    with pytest.raises(ValidationError):
        OidcSettings(issuer=idp.issuer, audience=AUDIENCE, algorithms=["HS256"])  # type: ignore[list-item]
    with pytest.raises(ConfigError) as info:
        oidc_settings(tmp_path, idp, algorithms=["RS256", "HS256"])
    assert any(issue.path.startswith("security.oidc.algorithms") for issue in info.value.issues)


def test_token_without_kid_is_refused(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    token = jwt.encode(idp.claims(), idp.private_key("rsa-1"), algorithm="RS256")
    assert "kid" not in jwt.get_unverified_header(token)
    error = refused(verifier, token)
    assert error.description == "token header has no 'kid': cannot choose the issuer's signing key"
    assert idp.jwks_fetches == 0


def test_not_a_jwt(verifier: TokenVerifier) -> None:
    assert refused(verifier, "not-a-token").description.startswith("not a JWT (")


# -- the JWKS: cache, rotation, unknown keys -----------------------------------------------------------


def test_cached_keys_are_reused(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    for i in range(20):
        kid = "rsa-1" if i % 2 else "ec-1"
        assert verifier.verify(idp.token(kid=kid, sub=f"user-{i}")).subject == f"user-{i}"
    assert idp.jwks_fetches == 1


def test_rotation_new_kid_refetched_once_and_accepted(verifier: TokenVerifier, idp: IdpSimulator,
                                                      jwks_clock: JwksClock) -> None:
    """A key first used a few seconds after the last fetch (JWKS_REFETCH_COOLDOWN_S) is fetched and accepted."""
    assert verifier.verify(idp.token(kid="rsa-1")) == person(idp)
    assert idp.jwks_fetches == 1
    idp.add_key("RS256", "rsa-2")
    jwks_clock.advance(JWKS_REFETCH_COOLDOWN_S + 1)
    assert verifier.verify(idp.token(kid="rsa-2")) == person(idp)
    assert idp.jwks_fetches == 2


def test_rotation_after_the_refresh_cooldown(verifier: TokenVerifier, idp: IdpSimulator,
                                             jwks_clock: JwksClock) -> None:
    """The new kid triggers exactly one re-fetch and is accepted; old and new keys are then both cached."""
    assert verifier.verify(idp.token(kid="rsa-1")) == person(idp)
    assert idp.jwks_fetches == 1
    idp.add_key("RS256", "rsa-2")
    jwks_clock.advance(31)  # past PyJWKClient's forced-refresh cool-down, well within the 300 s cache life
    assert verifier.verify(idp.token(kid="rsa-2", sub="after-rotation")).subject == "after-rotation"
    assert idp.jwks_fetches == 2
    for kid in ("rsa-1", "rsa-2", "ec-1", "rsa-2"):
        assert verifier.verify(idp.token(kid=kid)) == person(idp)
    assert idp.jwks_fetches == 2


def test_unknown_kid_refused_naming_the_kid(verifier: TokenVerifier, idp: IdpSimulator,
                                            jwks_clock: JwksClock) -> None:
    stranger = new_key("RS256")
    token = idp.sign(idp.claims(), kid="kid-nobody-published", key=stranger)
    error = refused(verifier, token)
    assert error.description.startswith("no signing key 'kid-nobody-published' at the issuer's JWKS (")
    assert error.error == "invalid_token"
    assert idp.jwks_fetches == 1  # the first fetch; within the cool-down no forced re-fetch
    jwks_clock.advance(31)
    error = refused(verifier, token)
    assert error.description.startswith("no signing key 'kid-nobody-published' at the issuer's JWKS (")
    assert idp.jwks_fetches == 2  # one re-fetch looked for it, and it is in no JWKS


def test_key_removed_from_the_jwks_is_refused_after_the_cache_life(verifier: TokenVerifier, idp: IdpSimulator,
                                                                   jwks_clock: JwksClock) -> None:
    assert verifier.verify(idp.token(kid="rsa-1")) == person(idp)
    idp.unpublish("rsa-1")
    jwks_clock.advance(301)  # jwks_cache_s defaults to 300
    assert verifier.verify(idp.token(kid="ec-1")) == person(idp)  # the cached set expired: fetched again
    assert idp.jwks_fetches == 2
    error = refused(verifier, idp.token(kid="rsa-1"))
    assert "'rsa-1'" in error.description


# -- discovery and an IdP that is down ----------------------------------------------------------------


def test_discovery_reads_jwks_uri(tmp_path: Path, idp: IdpSimulator) -> None:
    settings = oidc_settings(tmp_path, idp, jwks_url=DROP)
    assert settings.security.oidc is not None and settings.security.oidc.jwks_url is None
    verifier = verifier_for(settings)
    assert idp.discovery_fetches == 1
    assert isinstance(verifier.keys, JwksKeySource) and verifier.keys.url == idp.jwks_url
    assert idp.jwks_fetches == 0  # keys are fetched on the first token, not at start
    assert verifier.verify(idp.token(kid="ec-1")) == person(idp)
    assert idp.jwks_fetches == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_idp_at_start_names_jwks_url(tmp_path: Path) -> None:
    issuer = f"http://127.0.0.1:{_closed_port()}"
    settings = load_settings(state_dir=str(tmp_path / "state"), environment="production",
                             security={"oidc": {"issuer": issuer, "audience": AUDIENCE}},
                             signing=PRODUCTION_KEYS)
    with pytest.raises(RuntimeError) as info:
        verifier_for(settings)
    message = str(info.value)
    assert f"{issuer}/.well-known/openid-configuration" in message
    assert "security.oidc.jwks_url" in message


def test_jwks_down_cached_kid_still_accepted(verifier: TokenVerifier, idp: IdpSimulator) -> None:
    assert verifier.verify(idp.token(kid="rsa-1")) == person(idp)
    idp.stop()
    assert verifier.verify(idp.token(kid="rsa-1", sub="while-down")).subject == "while-down"
    assert verifier.verify(idp.token(kid="ec-1")) == person(idp)  # fetched with the set before the outage


def test_jwks_down_unknown_kid(verifier: TokenVerifier, idp: IdpSimulator, jwks_clock: JwksClock) -> None:
    assert verifier.verify(idp.token(kid="rsa-1")) == person(idp)
    idp.add_key("ES256", "ec-new")
    idp.stop()
    token = idp.token(kid="ec-new")
    # Within PyJWKClient's cool-down it does not try the network: refused as an unknown key.
    error = refused(verifier, token)
    assert error.error == "invalid_token"
    assert error.description.startswith("no signing key 'ec-new' at the issuer's JWKS (")
    # After it, the re-fetch fails: the IdP is unavailable, not the token invalid.
    jwks_clock.advance(31)
    error = refused(verifier, token)
    assert error.error == "temporarily_unavailable"
    assert error.description == "the identity provider's keys could not be fetched (PyJWKClientConnectionError)"
    assert idp.jwks_fetches == 1


# -- the development issuer ---------------------------------------------------------------------------


def test_dev_issuer_refused_in_production(tmp_path: Path, idp: IdpSimulator) -> None:
    settings = oidc_settings(tmp_path, idp, environment="production")
    with pytest.raises(DevIssuerRefused, match="runs only with environment: development"):
        DevIssuer.for_settings(settings)
    assert not (tmp_path / "state" / "keys" / "dev-issuer.pem").exists()


def test_production_without_oidc_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(state_dir=str(tmp_path / "state"), environment="production", signing=PRODUCTION_KEYS)
    assert [issue.path for issue in info.value.issues] == ["security.oidc.issuer"]
    assert "security.oidc.issuer" in str(info.value)


def test_dev_verifier_only_in_development(tmp_path: Path) -> None:
    settings = load_settings(state_dir=str(tmp_path / "state"), environment="development")
    assert settings.security.oidc is None
    dev = DevIssuer.for_settings(settings)
    verifier = verifier_for(settings)
    token = dev.mint("amy", [Role.PRACTITIONER], name="Amy", local_authorities=["999"])
    assert verifier.verify(token) == Principal(subject="amy", display_name="Amy", kind="person",
                                               roles=frozenset({Role.PRACTITIONER}),
                                               local_authorities=frozenset({"999"}), agency_id=None,
                                               issuer="urn:mashlink:dev-issuer")


def test_dev_token_refused_by_the_production_verifier(tmp_path: Path, idp: IdpSimulator) -> None:
    dev = DevIssuer(tmp_path / "dev-keys", DevIssuerSettings())
    assert dev.audience == AUDIENCE  # same audience: only the issuer (and key) tell them apart
    token = dev.mint("amy", [Role.MANAGER], local_authorities=["999"])
    verifier = verifier_for(oidc_settings(tmp_path, idp))
    # Its key is in no JWKS of the IdP: refused on the key.
    assert refused(verifier, token).description.startswith(f"no signing key {dev.kid!r} at the issuer's JWKS (")
    # Were the dev key ever published by the IdP (a misconfiguration), the issuer still refuses it.
    idp.publish_jwk(dev.jwks()["keys"][0])
    fresh = verifier_for(oidc_settings(tmp_path, idp))
    assert refused(fresh, token).description == "token issuer is not the configured identity provider"


# -- the CLI: mashlink auth dev-token ----------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "cli-state"
    monkeypatch.setenv("MASHLINK_STATE_DIR", str(state))
    for name in ("MASHLINK_CONFIG", "MASHLINK_ENVIRONMENT", "MASHLINK_SECURITY__OIDC__ISSUER",
                 "MASHLINK_SECURITY__OIDC__AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    return state


def run_cli(*args: str) -> Any:
    from mashlink.ops.cli import app

    return CliRunner().invoke(app, ["auth", "dev-token", *args])


def test_cli_dev_token_is_accepted_by_the_verifier(cli_env: Path) -> None:
    result = run_cli("--role", "practitioner", "--user", "amy")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    assert (cli_env / "keys" / "dev-issuer.pem").exists()
    settings = load_settings(state_dir=str(cli_env))
    assert verifier_for(settings).verify(token) == Principal(
        subject="amy", display_name="amy", kind="person", roles=frozenset({Role.PRACTITIONER}),
        local_authorities=frozenset({"999"}), agency_id=None, issuer="urn:mashlink:dev-issuer")


def test_cli_unknown_role_exits_2(cli_env: Path) -> None:
    result = run_cli("--role", "nonsense", "--user", "amy")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--role: 'nonsense' is not a role" in result.stderr


def test_cli_agency_liaison_needs_agency(cli_env: Path) -> None:
    result = run_cli("--role", "agency_liaison", "--user", "pat")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--agency: required for agency_liaison and system tokens" in result.stderr
    ok = run_cli("--role", "agency_liaison", "--user", "pat", "--agency", "police-synth")
    assert ok.exit_code == 0, ok.output
    principal = verifier_for(load_settings(state_dir=str(cli_env))).verify(ok.stdout.strip())
    assert principal.agency_id == "police-synth" and principal.roles == frozenset({Role.AGENCY_LIAISON})


def test_cli_refuses_in_production(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_ENVIRONMENT", "production")
    set_production_keys(monkeypatch)
    monkeypatch.setenv("MASHLINK_SECURITY__OIDC__ISSUER", "https://login.example.org/tenant/v2.0")
    monkeypatch.setenv("MASHLINK_SECURITY__OIDC__AUDIENCE", json.dumps([AUDIENCE]))
    result = run_cli("--role", "practitioner", "--user", "amy")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "the development token issuer runs only with environment: development" in result.stderr
    assert not (cli_env / "keys" / "dev-issuer.pem").exists()


def test_cli_production_with_a_plain_audience_env_value(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASHLINK_ENVIRONMENT", "production")
    set_production_keys(monkeypatch)
    monkeypatch.setenv("MASHLINK_SECURITY__OIDC__ISSUER", "https://login.example.org/tenant/v2.0")
    monkeypatch.setenv("MASHLINK_SECURITY__OIDC__AUDIENCE", AUDIENCE)
    result = run_cli("--role", "practitioner", "--user", "amy")
    assert result.exit_code == 2, result.output
    assert "runs only with environment: development" in result.stderr
