"""The IdP simulator with browser sign-in: ``/authorize`` and ``/token`` (code flow with PKCE).

``IdpFlowSimulator`` extends ``IdpSimulator`` (tests/hub/idp_support.py: discovery
and JWKS over real HTTP) with the two endpoints a relying party's browser
sign-in uses:

* ``GET /authorize`` records the request and checks it as an IdP would
  (known ``client_id``, ``response_type=code``, a ``redirect_uri``, an S256
  ``code_challenge``); then, like a person who already has a session at the
  IdP, redirects straight back to ``redirect_uri`` with a one-time ``code`` and
  the ``state`` (or with ``error``/``error_description`` when a test set
  ``fail_next_authorize``).
* ``POST /token`` authenticates the client (``client_secret_basic``,
  ``client_secret_post``, or none for a public client), checks the code is
  fresh and unused, that ``client_id`` and ``redirect_uri`` are the ones
  authorised and that ``code_verifier`` hashes to the challenge; then returns
  an ``id_token`` (``aud`` = client id, the authorize request's ``nonce``) and
  an ``access_token`` (``aud`` = the hub) signed with ``signing_kid``.

What the tokens say about the person is ``user`` (claims such as ``roles``,
``mashlink_la``, ``name``, ``sub``); ``id_token_claims`` and
``access_token_claims`` override single claims (``DROP`` removes one) so a
test can send a wrong nonce, audience or issuer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote_plus, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.hub.idp_support import DROP, IdpSimulator, b64url

CLIENT_ID = "mashlink-workspace"


@dataclass
class Grant:
    """An authorization code the simulator issued, and what it was issued for."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    user: dict[str, Any]
    used: bool = False


@dataclass
class TokenRequest:
    form: dict[str, str]
    auth_method: str  # client_secret_basic | client_secret_post | none
    status: int = 0
    error: str | None = None


@dataclass
class FlowState:
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[TokenRequest] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)


class IdpFlowSimulator(IdpSimulator):
    """``IdpSimulator`` plus ``/authorize`` and ``/token`` for one registered client."""

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str | None = None,
                 signing_kid: str = "rsa-1") -> None:
        super().__init__()
        self.client_id, self.client_secret, self.signing_kid = client_id, client_secret, signing_kid
        self.flow = FlowState()
        self._flow_lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget requests and test settings (the keys and the server stay)."""
        with self._flow_lock:
            self.flow = FlowState()
        self.user: dict[str, Any] = {}
        self.id_token_claims: dict[str, Any] = {}
        self.access_token_claims: dict[str, Any] = {}
        self.fail_next_authorize: tuple[str, str] | None = None  # (error, error_description)
        self.auth_methods: list[str] | None = None  # token_endpoint_auth_methods_supported, when set

    # -- what the tests look at ------------------------------------------------------------------------

    @property
    def authorize_requests(self) -> list[dict[str, str]]:
        return list(self.flow.authorize_requests)

    @property
    def token_requests(self) -> list[TokenRequest]:
        return list(self.flow.token_requests)

    # -- HTTP ---------------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        app = super()._app()
        discovery = next(r for r in app.router.routes if getattr(r, "path", "") == "/.well-known/openid-configuration")
        base_discovery = discovery.endpoint  # type: ignore[attr-defined]

        async def discovery_with_methods(request: Request) -> Response:
            response: Response = await base_discovery(request)
            if self.auth_methods is None:
                return response
            document = json.loads(bytes(response.body))
            document["token_endpoint_auth_methods_supported"] = self.auth_methods
            return JSONResponse(document)

        app.router.routes.remove(discovery)
        app.router.routes[:0] = [Route("/.well-known/openid-configuration", discovery_with_methods),
                                 Route("/authorize", self._authorize), Route("/token", self._token, methods=["POST"])]
        return app

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        with self._flow_lock:
            self.flow.authorize_requests.append(params)
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id or not redirect_uri.startswith(("http://", "https://")):
            # A real IdP never redirects to an address it cannot trust: it shows its own error page.
            return PlainTextResponse("unknown client or redirect_uri", status_code=400)
        state = params.get("state")
        back: dict[str, str] = {"state": state} if state is not None else {}
        problem = self._authorize_problem(params)
        if self.fail_next_authorize is not None:
            problem, self.fail_next_authorize = self.fail_next_authorize, None
        if problem is not None:
            back.update(error=problem[0], error_description=problem[1])
        else:
            code = secrets.token_urlsafe(24)
            with self._flow_lock:
                self.flow.grants[code] = Grant(client_id=self.client_id, redirect_uri=redirect_uri,
                                               code_challenge=params["code_challenge"], nonce=params.get("nonce"),
                                               user=dict(self.user))
            back["code"] = code
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(back)}", status_code=302)

    @staticmethod
    def _authorize_problem(params: dict[str, str]) -> tuple[str, str] | None:
        if params.get("response_type") != "code":
            return "unsupported_response_type", "only the authorization code flow is offered"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope", "scope must include openid"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "invalid_request", "PKCE with S256 is required"
        return None

    def _client(self, request: Request, form: dict[str, str]) -> tuple[str | None, str | None, str]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return unquote_plus(user), unquote_plus(password), "client_secret_basic"
        if "client_secret" in form:
            return form.get("client_id"), form["client_secret"], "client_secret_post"
        return form.get("client_id"), None, "none"

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        client_id, secret, method = self._client(request, form)
        record = TokenRequest(form=form, auth_method=method)
        with self._flow_lock:
            self.flow.token_requests.append(record)
            grant = self.flow.grants.get(form.get("code", ""))
            fresh = grant is not None and not grant.used
            if grant is not None:
                grant.used = True

        def refuse(error: str, description: str, status: int = 400) -> Response:
            record.status, record.error = status, error
            return JSONResponse({"error": error, "error_description": description}, status_code=status)

        if client_id != self.client_id:
            return refuse("invalid_client", "unknown client", 401)
        if self.client_secret is not None and (secret is None
                                               or not hmac.compare_digest(secret, self.client_secret)):
            return refuse("invalid_client", "client authentication failed", 401)
        if form.get("grant_type") != "authorization_code":
            return refuse("unsupported_grant_type", "only authorization_code")
        if grant is None or not fresh:
            return refuse("invalid_grant", "the code is unknown or was already used")
        if form.get("redirect_uri") != grant.redirect_uri:
            return refuse("invalid_grant", "redirect_uri is not the one the code was issued for")
        if b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest()) != grant.code_challenge:
            return refuse("invalid_grant", "PKCE verification failed: code_verifier does not match the challenge")
        record.status = 200
        return JSONResponse({"token_type": "Bearer", "expires_in": 600, "scope": "openid profile",
                             "id_token": self.id_token(grant), "access_token": self.access_token(grant)})

    # -- the tokens it issues -----------------------------------------------------------------------------

    def id_token(self, grant: Grant) -> str:
        now = datetime.now(timezone.utc)
        person = grant.user
        claims: dict[str, Any] = {"iss": self.issuer, "aud": grant.client_id, "sub": person.get("sub", "a1b2c3-amy"),
                                  "iat": now, "exp": now + timedelta(minutes=10), "nonce": grant.nonce,
                                  "name": person.get("name", "Amy Example")}
        claims.update(self.id_token_claims)
        return self.sign({k: v for k, v in claims.items() if v is not DROP and v is not None},
                         kid=self.signing_kid)

    def access_token(self, grant: Grant) -> str:
        return self.token(kid=self.signing_kid, **{**grant.user, **self.access_token_claims})


@contextmanager
def running_idp(alg: str = "RS256", kid: str = "rsa-1", **options: Any) -> Iterator[IdpFlowSimulator]:
    """An ``IdpFlowSimulator`` on loopback signing with one new ``alg`` key ``kid``, stopped afterwards."""
    sim = IdpFlowSimulator(signing_kid=kid, **options)
    sim.add_key(alg, kid)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
