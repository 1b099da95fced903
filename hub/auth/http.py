"""HTTP side of authentication: bearer tokens and a TLS proxy's verified client identity.

``Authenticator.principal(request)`` is the one place a request becomes a
principal. Failures raise ``AuthenticationError``; the API turns them into
401 with ``WWW-Authenticate: Bearer`` (RFC 6750) naming what was wrong.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ...config.security import Role, SecuritySettings
from .principal import Principal
from .tokens import AuthenticationError, TokenVerifier

MAX_TOKEN_BYTES = 16_384
REALM = "mashlink"


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthenticationError("a bearer token is required", error="")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Authorization must be 'Bearer <token>'", error="invalid_request")
    token = token.strip()
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthenticationError(f"token longer than {MAX_TOKEN_BYTES} bytes", error="invalid_request")
    return token


def www_authenticate(exc: AuthenticationError) -> str:
    if not exc.error:
        return f'Bearer realm="{REALM}"'
    description = exc.description.replace('"', "'")
    return f'Bearer realm="{REALM}", error="{exc.error}", error_description="{description}"'


class Authenticator:
    def __init__(self, verifier: TokenVerifier, security: SecuritySettings) -> None:
        self.verifier = verifier
        self.security = security

    def principal(self, request: Request) -> Principal:
        """The caller: a client vouched for by the mutual-TLS proxy, else the bearer token's subject."""
        header = self.security.trusted_client_header
        if header and (client := request.headers.get(header)):
            agency_id = self.security.mtls_clients.get(client)
            if agency_id is None:
                raise AuthenticationError("the TLS client identity is not a configured client")
            return Principal(subject=f"mtls:{client}"[:256], display_name=None, kind="client",
                             roles=frozenset({Role.SYSTEM}), agency_id=agency_id, issuer="mtls-proxy")
        return self.verifier.verify(bearer_token(request))

    def metrics_token_ok(self, request: Request) -> bool:
        """True when the request carries the static metrics token (if one is configured)."""
        secret = self.security.metrics.token
        if secret is None:
            return False
        try:
            token = bearer_token(request)
        except AuthenticationError:
            return False
        return hmac.compare_digest(token.encode(), secret.get_secret_value().encode())
