"""OAuth 2.0 client credentials with a signed JWT assertion, for trust and NHS FHIR APIs.

NHS England's APIs ("signed JWT authentication") and SMART backend services
work the same way: the client signs a short-lived JWT with its private key
(``iss`` = ``sub`` = its client id, ``aud`` = the token endpoint, a fresh
``jti``, expiry at most five minutes ahead), posts it as a
``client_assertion`` with ``grant_type=client_credentials``, and gets an
access token to send as a bearer token until it expires.

:class:`JwtClientCredentialsAuth` is an ``httpx.Auth``: it fetches a token
before the first request, reuses it until shortly before it expires, and on
a 401 fetches a new one and retries that request once, so a token revoked or
expired early does not fail an enquiry. The private key is a file named in
the configuration (a mounted secret); it is read once at start.
"""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Literal

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: A token is replaced this long before the server says it expires (clock skew, request time).
REFRESH_MARGIN_S = 60.0


class JwtClientCredentials(BaseModel):
    """``oauth`` of a FHIR connector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_url: str = Field(min_length=1, description="The authorisation server's token endpoint")
    client_id: str = Field(min_length=1, max_length=200, description="Issued by the API owner (iss and sub)")
    private_key_file: Path = Field(description="PEM private key whose public key the API owner holds")
    key_id: str | None = Field(default=None, min_length=1, description="'kid' header naming that public key")
    algorithm: Literal["RS512", "RS384", "ES384"] = "RS512"
    scope: str | None = Field(default=None, min_length=1)
    assertion_lifetime_s: int = Field(default=300, ge=30, le=300, description="JWT expiry (at most 5 minutes)")

    @field_validator("token_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an https:// URL (http:// only for a local test server)")
        return value


class TokenResponse(BaseModel):
    """The token endpoint's answer (RFC 6749 section 5.1); other members are ignored."""

    access_token: str = Field(min_length=1)
    expires_in: int = Field(default=300, ge=1)
    token_type: str = "Bearer"


class TokenError(Exception):
    """The token endpoint refused or answered with something that is not a token."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"token endpoint answered {status}: {detail}")
        self.status = status
        self.detail = detail


class JwtClientCredentialsAuth(httpx.Auth):
    def __init__(self, settings: JwtClientCredentials, *, timeout_s: float = 10.0, ca_file: Path | None = None,
                 clock: Callable[[], float] = time.time, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._key = settings.private_key_file.read_text(encoding="utf-8")  # raises for a missing file
        self._clock = clock
        self._http = httpx.Client(timeout=timeout_s, transport=transport,
                                  verify=ssl.create_default_context(cafile=ca_file) if ca_file else True)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetched = 0  # tokens obtained, for operators and tests

    def assertion(self) -> str:
        now = self._clock()
        s = self.settings
        claims = {"iss": s.client_id, "sub": s.client_id, "aud": s.token_url, "jti": uuid.uuid4().hex,
                  "iat": int(now), "exp": int(now) + s.assertion_lifetime_s}
        headers = {"kid": s.key_id} if s.key_id else None
        return jwt.encode(claims, self._key, algorithm=s.algorithm, headers=headers)

    def _fetch(self) -> None:
        form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion()}
        if self.settings.scope:
            form["scope"] = self.settings.scope
        response = self._http.post(self.settings.token_url, data=form, headers={"Accept": "application/json"})
        if response.status_code != 200:
            try:
                error = str(response.json().get("error", ""))[:100]
            except ValueError:
                error = ""
            raise TokenError(response.status_code, error or "no error code")
        try:
            token = TokenResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise TokenError(response.status_code, f"not a token response ({exc.error_count()} problem(s))") from None
        self._token = token.access_token
        self._expires_at = self._clock() + token.expires_in
        self.fetched += 1

    def token(self, *, renew: bool = False) -> str:
        """A current access token (fetched when missing, about to expire, or ``renew``)."""
        with self._lock:
            if renew or self._token is None or self._clock() >= self._expires_at - REFRESH_MARGIN_S:
                self._fetch()
            assert self._token is not None
            return self._token

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: one fresh token, one more try
            request.headers["Authorization"] = f"Bearer {self.token(renew=True)}"
            yield request

    def close(self) -> None:
        self._http.close()
