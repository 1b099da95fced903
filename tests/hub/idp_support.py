"""A simulated OpenID Connect identity provider for the sign-in tests (a test peer, not an IdP).

``IdpSimulator`` serves, over real HTTP on 127.0.0.1 (uvicorn on an ephemeral
port, in a thread), the two documents a relying party reads from a council's
identity provider:

* ``/.well-known/openid-configuration`` (discovery: ``issuer``, ``jwks_uri``);
* ``/jwks.json`` (the public signing keys).

Keys are generated in the test (RSA 2048 for RS256, EC P-256 for ES256). The
published key set can be changed while the server runs (``add_key``,
``unpublish``, ``publish_jwk``) to simulate rotation, and every fetch is
counted (``jwks_fetches``, ``discovery_fetches``) so a test can prove when the
hub went back to the IdP and when it used its cache. ``stop()`` takes the IdP
off the network (connections refused) while the object keeps its keys, so a
test can still sign tokens for an IdP that is down.

Also here: the hand-made tokens an attacker would send (``unsigned_token``
for ``alg: none``, ``hs256_token`` for an HMAC keyed with public key
material), built without PyJWT because PyJWT rightly refuses to make them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

AUDIENCE = "mashlink-hub"
DROP = object()  # a claim value meaning "leave this claim out"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def new_key(alg: str) -> PrivateKey:
    """A fresh private key for ``alg`` (RS256: RSA 2048; ES256: EC P-256)."""
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"the simulator makes RS256 and ES256 keys, not {alg}")


def public_jwk(key: PrivateKey, kid: str, alg: str) -> dict[str, Any]:
    public = key.public_key()
    text = RSAAlgorithm.to_jwk(public) if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm.to_jwk(public)
    jwk: dict[str, Any] = json.loads(text)
    jwk.update({"kid": kid, "use": "sig", "alg": alg})
    return jwk


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def unsigned_token(claims: Mapping[str, Any], *, alg: str = "none", kid: str | None = None) -> str:
    """``header.payload.`` with an empty signature (the ``alg: none`` attack), by hand."""
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    return f"{b64url_json(header)}.{b64url_json(_json_claims(claims))}."


def hs256_token(claims: Mapping[str, Any], secret: bytes, *, kid: str | None = None) -> str:
    """An HS256 token keyed with ``secret``, by hand (PyJWT refuses a PEM public key as an HMAC secret)."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{b64url_json(header)}.{b64url_json(_json_claims(claims))}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def _json_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    return {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()}


class IdpSimulator:
    """A fake OpenID Connect identity provider on 127.0.0.1: discovery and JWKS, rotatable, counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, PrivateKey]] = {}  # kid -> (alg, private key): what it can sign with
        self._published: dict[str, dict[str, Any]] = {}  # kid -> public JWK: what /jwks.json serves
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- HTTP ---------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self.port is not None, "the IdP simulator has not been started"
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/jwks.json"

    def _app(self) -> Starlette:
        async def discovery(request: Request) -> JSONResponse:
            with self._lock:
                self.discovery_fetches += 1
            return JSONResponse({
                "issuer": self.issuer, "jwks_uri": self.jwks_url,
                "authorization_endpoint": f"{self.base_url}/authorize", "token_endpoint": f"{self.base_url}/token",
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
            })

        async def jwks(request: Request) -> JSONResponse:
            with self._lock:
                self.jwks_fetches += 1
                body = {"keys": [dict(k) for k in self._published.values()]}
            return JSONResponse(body)

        return Starlette(routes=[Route("/.well-known/openid-configuration", discovery),
                                 Route("/jwks.json", jwks)])

    def start(self) -> "IdpSimulator":
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="idp-simulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "IdP simulator did not start"
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Take the IdP off the network (its port then refuses connections); keys stay for signing."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            assert not self._thread.is_alive(), "IdP simulator did not stop"
        self._server = self._thread = None

    # -- keys ---------------------------------------------------------------------------------------

    def add_key(self, alg: str = "RS256", kid: str | None = None, *, publish: bool = True) -> str:
        """Generate a key the IdP signs with; ``publish`` puts its public half in /jwks.json."""
        key = new_key(alg)
        kid = kid or f"{alg.lower()}-{len(self._keys) + 1}"
        with self._lock:
            self._keys[kid] = (alg, key)
            if publish:
                self._published[kid] = public_jwk(key, kid, alg)
        return kid

    def unpublish(self, kid: str) -> None:
        """Remove a key from /jwks.json (retired or compromised); the simulator can still sign with it."""
        with self._lock:
            del self._published[kid]

    def publish_jwk(self, jwk: Mapping[str, Any]) -> None:
        """Serve an extra public key made elsewhere (e.g. the development issuer's)."""
        with self._lock:
            self._published[str(jwk["kid"])] = dict(jwk)

    def published_kids(self) -> list[str]:
        with self._lock:
            return list(self._published)

    def private_key(self, kid: str) -> PrivateKey:
        return self._keys[kid][1]

    def public_pem(self, kid: str) -> bytes:
        return public_pem(self.private_key(kid))

    # -- tokens -------------------------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Standard access-token claims for this IdP (valid now for 10 minutes); ``DROP`` removes one."""
        now = datetime.now(timezone.utc)
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": AUDIENCE, "sub": "a1b2c3-amy", "iat": now, "nbf": now,
            "exp": now + timedelta(minutes=10), "name": "Amy Example", "roles": ["practitioner"],
            "mashlink_la": ["999"],
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not DROP}

    def sign(self, claims: Mapping[str, Any], *, kid: str, key: PrivateKey | None = None,
             alg: str | None = None, headers: Mapping[str, Any] | None = None) -> str:
        """A token signed as this IdP signs: with ``kid``'s key, or ``key`` (a forger's) under that kid."""
        key_alg, own = self._keys[kid] if kid in self._keys else (alg or "RS256", None)
        signing_key = key or own
        assert signing_key is not None, f"no private key for kid {kid!r}"
        return jwt.encode(dict(claims), signing_key, algorithm=alg or key_alg, headers={"kid": kid, **(headers or {})})

    def token(self, *, kid: str, **overrides: Any) -> str:
        return self.sign(self.claims(**overrides), kid=kid)
