"""FHIR over OAuth 2.0 client credentials with a signed JWT, against a real HTTP test peer.

The peer (a FastAPI app on a real socket) plays the authorisation server
(verifies the assertion with the registered public key: issuer, subject,
audience, expiry, jti not reused) and the FHIR server (accepts only the
current token). Keys are generated at test time.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mashlink.config.errors import ConfigError
from mashlink.connectors.delivery.webhook import HttpServer
from mashlink.connectors.health.fhir_client import FhirAuthError, FhirClient, FhirClientSettings
from mashlink.connectors.health.oauth import ASSERTION_TYPE, JwtClientCredentials, JwtClientCredentialsAuth
from tests.wiring.helpers import build, settings_for, write_config

CLIENT_ID = "synthetic-mash-client"


def _key_pair(tmp_path: Path) -> tuple[Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "client.key"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


class Peer:
    def __init__(self, public_key: bytes) -> None:
        self.public_key = public_key
        self.issued = itertools.count(1)
        self.current: str | None = None
        self.seen_jti: set[str] = set()
        self.token_requests = 0
        app = FastAPI()

        @app.post("/oauth2/token")
        async def token(request: Request) -> JSONResponse:
            self.token_requests += 1
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            grant_type, client_assertion_type = form.get("grant_type"), form.get("client_assertion_type")
            client_assertion = form.get("client_assertion", "")
            if grant_type != "client_credentials" or client_assertion_type != ASSERTION_TYPE:
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            try:
                claims = jwt.decode(client_assertion, self.public_key, algorithms=["RS512"],
                                    audience=f"{self.url}/oauth2/token", issuer=CLIENT_ID,
                                    options={"require": ["exp", "jti", "sub"]})
            except jwt.PyJWTError:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if claims["sub"] != CLIENT_ID or claims["jti"] in self.seen_jti:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            self.seen_jti.add(claims["jti"])
            self.current = f"synthetic-token-{next(self.issued)}"
            return JSONResponse({"access_token": self.current, "expires_in": 599, "token_type": "bearer"})

        @app.get("/R4/Patient")
        async def patients(request: Request) -> JSONResponse:
            if self.current is None or request.headers.get("authorization") != f"Bearer {self.current}":
                return JSONResponse({"resourceType": "OperationOutcome", "issue": []}, status_code=401)
            return JSONResponse({"resourceType": "Bundle", "type": "searchset", "entry": []})

        self.server = HttpServer(app)
        self.url = ""

    def __enter__(self) -> "Peer":
        self.server.start()
        self.url = self.server.url
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def test_token_fetched_reused_and_renewed_after_a_401(tmp_path: Path) -> None:
    private, public = _key_pair(tmp_path)
    with Peer(public) as peer:
        auth = JwtClientCredentialsAuth(JwtClientCredentials(
            token_url=f"{peer.url}/oauth2/token", client_id=CLIENT_ID, private_key_file=private))
        client = FhirClient(FhirClientSettings(base_url=f"{peer.url}/R4"), auth=auth)
        try:
            assert client.search("Patient", {"family": "Testchild"}) == []
            assert client.search("Patient", {"family": "Testchild"}) == []
            assert auth.fetched == 1  # one token for both requests
            peer.current = "revoked-elsewhere"  # the server drops our token early
            assert client.search("Patient", {"family": "Testchild"}) == []
            assert auth.fetched == 2 and peer.token_requests == 2
        finally:
            client.close()


def test_a_key_the_server_does_not_know_is_an_authorisation_error(tmp_path: Path) -> None:
    _private, public = _key_pair(tmp_path)
    (tmp_path / "other").mkdir()
    other, _unregistered = _key_pair(tmp_path / "other")
    with Peer(public) as peer:
        auth = JwtClientCredentialsAuth(JwtClientCredentials(
            token_url=f"{peer.url}/oauth2/token", client_id=CLIENT_ID, private_key_file=other))
        client = FhirClient(FhirClientSettings(base_url=f"{peer.url}/R4"), auth=auth)
        try:
            with pytest.raises(FhirAuthError, match="invalid_client"):
                client.search("Patient", {"family": "Testchild"})
        finally:
            client.close()


def test_unreadable_or_unusable_key_stops_the_connector_naming_the_option(tmp_path: Path) -> None:
    (tmp_path / "not-a-key.pem").write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    def agency(agency_id: str, key: Path) -> dict:
        return {"id": agency_id, "kind": "health", "connector": "fhir", "options": {
            "base_url": "http://127.0.0.1:9/R4",
            "oauth": {"token_url": "http://127.0.0.1:9/token", "client_id": CLIENT_ID, "private_key_file": str(key)}}}
    config = write_config(tmp_path / "c.yaml", [agency("trust-a", tmp_path / "missing.pem"),
                                                agency("trust-b", tmp_path / "not-a-key.pem")])
    settings = settings_for(config, tmp_path / "state")
    with pytest.raises(ConfigError) as missing:
        build(settings, "trust-a")
    assert "agencies[0].options.oauth.private_key_file" in str(missing.value) and "cannot read" in str(missing.value)
    with pytest.raises(ConfigError) as unusable:
        build(settings, "trust-b")
    assert "agencies[1].options.oauth.private_key_file" in str(unusable.value)
    assert "not a usable RS512 private key" in str(unusable.value)


def test_https_fhir_and_token_endpoint_behind_a_private_ca(tmp_path_factory: pytest.TempPathFactory,
                                                          tmp_path: Path) -> None:
    """A trust's own CA: trusted when named in ca_file, refused otherwise (no silent 'verify off')."""
    from mashlink.connectors.health.fhir_client import FhirUnavailable, RetryPolicy
    from tests.health.pki import make_pki

    pki = make_pki(tmp_path_factory)
    private, public = _key_pair(tmp_path)
    peer = Peer(public)
    peer.server = HttpServer(peer.server.config.app, tls_cert_file=str(pki / "engine.crt"),
                             tls_key_file=str(pki / "engine.key"))
    with peer:
        assert peer.url.startswith("https://127.0.0.1:")
        oauth = JwtClientCredentials(token_url=f"{peer.url}/oauth2/token", client_id=CLIENT_ID,
                                     private_key_file=private)
        trusted = FhirClient(FhirClientSettings(base_url=f"{peer.url}/R4", ca_file=pki / "trust.crt"),
                             auth=JwtClientCredentialsAuth(oauth, ca_file=pki / "trust.crt"))
        try:
            assert trusted.search("Patient", {"family": "Testchild"}) == []
        finally:
            trusted.close()
        no_ca = FhirClient(FhirClientSettings(base_url=f"{peer.url}/R4", retry=RetryPolicy(max_attempts=1)))
        try:
            with pytest.raises(FhirUnavailable):
                no_ca.read("Patient", "p1")
        finally:
            no_ca.close()
