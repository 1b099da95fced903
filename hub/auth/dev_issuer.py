"""The embedded development issuer: signed tokens without an identity provider.

For the demo, the tests and a one-machine trial only. Its ES256 key is
generated on first use into ``state_dir/keys/dev-issuer.pem`` (0600), and the
hub trusts it only when the configuration says ``environment: development``;
under ``production`` it refuses to exist, so a forgotten development setting
cannot become a way in. Printed tokens are short-lived (``token_ttl_s``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from ...config.atomic_files import atomic_create_bytes
from ...config.security import DevIssuerSettings, Role
from ...config.settings import MashlinkSettings

KEY_FILE = "dev-issuer.pem"


class DevIssuerRefused(RuntimeError):
    """The development issuer was asked for outside ``environment: development``."""


def _load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise RuntimeError(f"{path} is not an EC private key; delete it to generate a new one")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    atomic_create_bytes(path, pem, mode=0o600)  # first writer wins; a concurrent start reads the same key
    return _load_or_create_key(path)


class DevIssuer:
    def __init__(self, key_dir: Path, settings: DevIssuerSettings) -> None:
        self.settings = settings
        self.issuer = settings.issuer
        self.audience = settings.audience
        self._key = _load_or_create_key(key_dir / KEY_FILE)
        public = self._key.public_key()
        self._jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(public))
        self.kid = jwt.PyJWK(self._jwk, algorithm="ES256").key_id or _thumbprint(public)
        self._jwk.update({"kid": self.kid, "use": "sig", "alg": "ES256"})

    @classmethod
    def for_settings(cls, settings: MashlinkSettings) -> "DevIssuer":
        if settings.environment != "development":
            raise DevIssuerRefused(
                "the development token issuer runs only with environment: development; "
                "configure security.oidc (issuer, audience) for this environment")
        return cls(settings.state_dir / "keys", settings.security.dev_issuer)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}

    def mint(self, subject: str, roles: Iterable[Role | str], *, name: str | None = None,
             local_authorities: Iterable[str] = (), agency_id: str | None = None, ttl_s: int | None = None,
             now: datetime | None = None, extra: dict[str, Any] | None = None) -> str:
        """A signed token for ``subject`` (short-lived: ``token_ttl_s`` unless ``ttl_s`` says otherwise)."""
        now = now or datetime.now(timezone.utc)
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": subject, "iat": now, "nbf": now,
            "exp": now + timedelta(seconds=ttl_s or self.settings.token_ttl_s),
            "roles": [Role(r).value for r in roles], "mashlink_la": list(local_authorities),
            "jti": uuid.uuid4().hex,
        }
        if name:
            claims["name"] = name
        if agency_id:
            claims["mashlink_agency"] = agency_id
        claims.update(extra or {})
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})


def _thumbprint(public: ec.EllipticCurvePublicKey) -> str:
    import base64
    import hashlib

    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
