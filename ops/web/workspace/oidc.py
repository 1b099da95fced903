"""Signing in from a browser at the council's identity provider: OpenID Connect code flow with PKCE.

``GET /sign-in`` (``sign_in.py``) calls ``start_sign_in`` when ``security.oidc``
is configured. It reads the IdP's discovery document, then sends the browser
to the ``authorization_endpoint`` with ``response_type=code``, a random
``state`` and ``nonce`` and a PKCE ``code_challenge`` (S256).

What the callback must check later (state, nonce, code verifier, where to go
afterwards, the exact ``redirect_uri``) travels in a short-lived (10 minute)
``HttpOnly`` cookie, encrypted and authenticated with AES-GCM under a key
derived from the hub's signing key: nothing about a sign-in in progress lives
in a hub's memory, so any of several hubs can take the callback, and the
browser can neither read nor alter it.

``GET /sign-in/callback`` then

1. takes the flow cookie (removed whatever happens next: one attempt per
   cookie) and checks ``state``;
2. shows the IdP's own ``error`` / ``error_description`` when it sent one;
3. exchanges the code at the ``token_endpoint`` (httpx, ``ca_file``
   honoured) with the ``code_verifier``, authenticating with
   ``client_secret_basic`` (or ``client_secret_post`` when that is all the IdP
   offers) when a ``client_secret`` is configured, as a public client otherwise;
4. verifies the id token with PyJWT against the same JWKS as every API call:
   signature, ``iss``, ``aud`` = ``client_id``, ``exp``, ``iat``, ``nonce``;
5. verifies the token the session keeps (``token_use``: the access token by
   default) with the app's ``TokenVerifier``, exactly as a bearer token;
6. starts the ``WebSession`` (cookie life = that token's life) and redirects
   (303) to the local page the person asked for (``safe_next``).

Every failure is a 401 page saying which step failed, never a stack trace,
and a WARNING log line naming the step and the rule, without tokens, codes or
anything the IdP said about the person (``error_description`` can carry a
user name, so only the ``error`` code is logged).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import jwt
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from ....config.security import OidcSettings
from ....hub.auth.tokens import AuthenticationError, TokenVerifier
from ..render import render
from ..session import safe_next, sign_in_url
from .common import Workspace

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

FLOW_COOKIE = "mashlink_oidc_flow"
FLOW_TTL_S = 600
CALLBACK_ROUTE = "oidc_sign_in_callback"
_FLOW_KEY_LABEL = b"mashlink-web-oidc-flow-v1"
_FLOW_AAD = b"mashlink_oidc_flow"


class SignInFailed(Exception):
    """One step of the sign-in failed; ``step`` names it on the page and in the log."""

    def __init__(self, step: str, detail: str, *, status: int = 401, idp_error: str | None = None,
                 idp_description: str | None = None) -> None:
        self.step, self.detail, self.status = step, detail, status
        self.idp_error, self.idp_description = idp_error, idp_description
        super().__init__(f"{step}: {detail}")


# -- the identity provider's discovery document ---------------------------------------------------


@dataclass(frozen=True)
class Provider:
    """The endpoints sign-in needs, from ``<issuer>/.well-known/openid-configuration``."""

    authorization_endpoint: str
    token_endpoint: str
    token_auth_methods: tuple[str, ...]
    fetched_at: float


def _http(oidc: OidcSettings) -> httpx.Client:
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(oidc.ca_file)) if oidc.ca_file else True
    return httpx.Client(verify=verify, timeout=10.0, follow_redirects=False)


def _fetch_provider(oidc: OidcSettings) -> Provider:
    url = oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with _http(oidc) as client:
            response = client.get(url)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, OSError, ValueError) as exc:  # OSError: an unreadable ca_file
        raise SignInFailed("discovery", f"the identity provider's discovery document ({url}) could not be read "
                                        f"({type(exc).__name__})", status=503) from None
    if not isinstance(document, dict):
        raise SignInFailed("discovery", f"{url} is not a discovery document", status=503)
    if str(document.get("issuer", "")).rstrip("/") != oidc.issuer.rstrip("/"):
        raise SignInFailed("discovery", f"{url} names another issuer than security.oidc.issuer", status=503)
    endpoints = {name: document.get(name) for name in ("authorization_endpoint", "token_endpoint")}
    for name, value in endpoints.items():
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise SignInFailed("discovery", f"{url} has no {name}", status=503)
    methods = document.get("token_endpoint_auth_methods_supported")
    return Provider(authorization_endpoint=str(endpoints["authorization_endpoint"]),
                    token_endpoint=str(endpoints["token_endpoint"]),
                    token_auth_methods=tuple(m for m in methods if isinstance(m, str))
                    if isinstance(methods, list) else ("client_secret_basic",),
                    fetched_at=time.monotonic())


def provider(request: Request, oidc: OidcSettings) -> Provider:
    """The IdP's endpoints, cached per app for ``jwks_cache_s`` (they are public and change rarely)."""
    cached: Provider | None = getattr(request.app.state, "oidc_provider", None)
    if cached is None or time.monotonic() - cached.fetched_at > oidc.jwks_cache_s:
        cached = _fetch_provider(oidc)
        request.app.state.oidc_provider = cached
    return cached


# -- the flow cookie: encrypted and authenticated, 10 minutes ------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _flow_cipher(request: Request) -> AESGCM:
    hub_key = Workspace.of(request).hub.service.settings.signing_key("hub")
    return AESGCM(hmac.new(hub_key, _FLOW_KEY_LABEL, hashlib.sha256).digest())


def seal_flow(request: Request, flow: dict[str, Any]) -> str:
    nonce = secrets.token_bytes(12)
    body = json.dumps({**flow, "exp": int(time.time()) + FLOW_TTL_S}, separators=(",", ":")).encode()
    return _b64url(nonce + _flow_cipher(request).encrypt(nonce, body, _FLOW_AAD))


def open_flow(request: Request) -> dict[str, Any]:
    """The sign-in this browser started here (or at another hub with the same key), if still fresh."""
    sealed = request.cookies.get(FLOW_COOKIE)
    if not sealed:
        raise SignInFailed("sign-in state", "no sign-in was in progress in this browser (cookies blocked, "
                                            "or the sign-in page was not opened here first)")
    try:
        raw = _unb64url(sealed)
        flow = json.loads(_flow_cipher(request).decrypt(raw[:12], raw[12:], _FLOW_AAD))
    except (InvalidTag, ValueError, TypeError):
        raise SignInFailed("sign-in state", "the sign-in state cookie was altered or was made with another "
                                            "hub key") from None
    if not isinstance(flow, dict) or not isinstance(flow.get("exp"), int) or flow["exp"] < time.time():
        raise SignInFailed("sign-in state", f"the sign-in took longer than {FLOW_TTL_S // 60} minutes")
    return flow


def _set_flow_cookie(response: Response, value: str, secure: bool) -> None:
    response.set_cookie(FLOW_COOKIE, value, max_age=FLOW_TTL_S, httponly=True, samesite="lax", path="/",
                        secure=secure)


def _clear_flow_cookie(response: Response) -> None:
    response.delete_cookie(FLOW_COOKIE, path="/", httponly=True, samesite="lax")


# -- starting a sign-in ---------------------------------------------------------------------------


def _configured(request: Request) -> OidcSettings:
    oidc = Workspace.of(request).hub.service.settings.security.oidc
    if oidc is None:
        raise SignInFailed("configuration", "this hub has no identity provider (security.oidc)", status=503)
    if not oidc.client_id:
        raise SignInFailed("configuration", "browser sign-in needs security.oidc.client_id, the hub's client "
                                            "(application) id at the identity provider; ask the hub's "
                                            "administrator to set it", status=503)
    return oidc


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(ASCII(code_verifier)))."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def start_sign_in(request: Request, next_url: str) -> Response:
    """Send the browser to the IdP to sign in, then back to ``next_url`` (a local path)."""
    try:
        oidc = _configured(request)
        idp = provider(request, oidc)
    except SignInFailed as failure:
        return _failure_page(request, failure, clear_flow=False, next_url=next_url)
    redirect_uri = oidc.redirect_url or str(request.url_for(CALLBACK_ROUTE))
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    query = urlencode({
        "response_type": "code", "client_id": oidc.client_id, "redirect_uri": redirect_uri,
        "scope": " ".join(dict.fromkeys(oidc.scopes)), "state": state, "nonce": nonce,
        "code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256",
    })
    separator = "&" if "?" in idp.authorization_endpoint else "?"
    response = RedirectResponse(f"{idp.authorization_endpoint}{separator}{query}", status_code=303,
                                headers={"Cache-Control": "no-store"})
    flow = {"state": state, "nonce": nonce, "verifier": verifier, "next": safe_next(next_url),
            "redirect_uri": redirect_uri}
    _set_flow_cookie(response, seal_flow(request, flow),
                     secure=request.url.scheme == "https" or redirect_uri.startswith("https://"))
    return response


# -- the callback ---------------------------------------------------------------------------------


def _client_auth(oidc: OidcSettings, idp: Provider) -> tuple[dict[str, str], dict[str, str]]:
    """(form fields, headers) authenticating the hub at the token endpoint."""
    assert oidc.client_id is not None
    if oidc.client_secret is None:
        return {"client_id": oidc.client_id}, {}  # public client: PKCE is the proof
    secret = oidc.client_secret.get_secret_value()
    if "client_secret_basic" not in idp.token_auth_methods and "client_secret_post" in idp.token_auth_methods:
        return {"client_id": oidc.client_id, "client_secret": secret}, {}
    # RFC 6749 2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
    pair = f"{quote_plus(oidc.client_id)}:{quote_plus(secret)}".encode()
    return {}, {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def exchange_code(oidc: OidcSettings, idp: Provider, code: str, flow: dict[str, Any]) -> dict[str, Any]:
    """The token endpoint's answer to the code (``SignInFailed`` naming its error otherwise)."""
    fields, headers = _client_auth(oidc, idp)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": str(flow["redirect_uri"]),
            "code_verifier": str(flow["verifier"]), **fields}
    try:
        with _http(oidc) as client:
            response = client.post(idp.token_endpoint, data=form, headers={"Accept": "application/json", **headers})
    except (httpx.HTTPError, OSError) as exc:
        raise SignInFailed("token endpoint", f"the identity provider's token endpoint could not be reached "
                                             f"({type(exc).__name__})") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SignInFailed("token endpoint", f"the token endpoint answered HTTP {response.status_code} "
                                             "without a JSON object")
    if response.status_code != 200 or "error" in body:
        error = str(body.get("error") or f"HTTP {response.status_code}")[:100]
        description = body.get("error_description")
        raise SignInFailed("token endpoint", f"the token endpoint refused the code: {error}", idp_error=error,
                           idp_description=str(description)[:500] if description else None)
    return body


_JWT_REFUSALS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "it has expired"),
    (jwt.ImmatureSignatureError, "it is not valid yet (iat/nbf in the future)"),
    (jwt.InvalidAudienceError, "its audience is not security.oidc.client_id"),
    (jwt.InvalidIssuerError, "its issuer is not security.oidc.issuer"),
    (jwt.InvalidSignatureError, "its signature does not verify"),
)


def verify_id_token(verifier: TokenVerifier, oidc: OidcSettings, id_token: str, nonce: str) -> dict[str, Any]:
    """The id token's claims, checked: signature (the IdP's JWKS), iss, aud = client_id, exp, iat, nonce."""
    def refused(why: str) -> SignInFailed:
        return SignInFailed("id token", f"the id token was refused: {why}")

    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.DecodeError:
        raise refused("it is not a JWT") from None
    if header.get("alg") not in verifier.algorithms:
        raise refused(f"algorithm {header.get('alg')!r} is not accepted")
    kid = header.get("kid")
    try:
        key = verifier.keys.key_for(id_token, kid if isinstance(kid, str) else None)
        claims: dict[str, Any] = jwt.decode(
            id_token, key=key, algorithms=verifier.algorithms, audience=oidc.client_id, issuer=oidc.issuer,
            leeway=oidc.leeway_s, options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]})
    except AuthenticationError as exc:
        raise refused(exc.description) from None
    except jwt.MissingRequiredClaimError as exc:
        raise refused(f"it lacks the {exc.claim!r} claim") from None
    except jwt.PyJWTError as exc:
        raise refused(next((why for kind, why in _JWT_REFUSALS if isinstance(exc, kind)),
                           type(exc).__name__)) from None
    if not hmac.compare_digest(str(claims["nonce"]).encode(), nonce.encode()):
        raise refused("its nonce is not the one this sign-in sent (replayed or injected)")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != oidc.client_id:
        raise refused("it has several audiences and its 'azp' is not security.oidc.client_id")
    return claims


def _kept_token(verifier: TokenVerifier, oidc: OidcSettings, tokens: dict[str, Any]) -> tuple[str, int]:
    """The token the session keeps, verified as a bearer token is, and its remaining life in seconds."""
    token = tokens.get(oidc.token_use)
    what = oidc.token_use.replace("_", " ")
    if not isinstance(token, str) or not token:
        raise SignInFailed("session token", f"the token endpoint sent no {what}")
    try:
        principal = verifier.verify(token)
    except AuthenticationError as exc:
        hint = (" (is the hub's API scope in security.oidc.scopes, so the access token is issued for the hub?)"
                if oidc.token_use == "access_token" else "")
        raise SignInFailed("session token", f"the {what} was refused: {exc.description}{hint}") from None
    if principal.kind != "person":
        raise SignInFailed("session token", f"the {what} names a system client, not a person")
    expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
    return token, max(1, int(expires - time.time())) if isinstance(expires, (int, float)) else 1


@router.get("/sign-in/callback", name=CALLBACK_ROUTE)
def sign_in_callback(request: Request, code: str | None = Query(default=None),
                     state: str | None = Query(default=None), error: str | None = Query(default=None),
                     error_description: str | None = Query(default=None)) -> Response:
    # No max_length on the parameters: an over-long one must give the same clear page, not a 422.
    next_url = "/workspace"
    try:
        oidc = _configured(request)
        flow = open_flow(request)
        next_url = safe_next(str(flow.get("next") or ""))
        if not state or not hmac.compare_digest(state.encode(), str(flow.get("state", "")).encode()):
            raise SignInFailed("sign-in state", "the answer from the identity provider does not belong to the "
                                                "sign-in this browser started (state does not match)")
        if error:
            raise SignInFailed("identity provider", "the identity provider did not sign you in",
                               idp_error=error[:100], idp_description=(error_description or "")[:500] or None)
        if not code or len(code) > 8192:
            raise SignInFailed("identity provider", "the identity provider sent no usable authorization code")
        verifier: TokenVerifier = Workspace.of(request).hub.auth.verifier
        tokens = exchange_code(oidc, provider(request, oidc), code, flow)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("id token", "the token endpoint sent no id token (is 'openid' in the scopes?)")
        verify_id_token(verifier, oidc, id_token, str(flow["nonce"]))
        token, life_s = _kept_token(verifier, oidc, tokens)
    except SignInFailed as failure:
        return _failure_page(request, failure, clear_flow=True, next_url=next_url)
    response = RedirectResponse(next_url, status_code=303,
                                headers={"Cache-Control": "no-store"})
    Workspace.of(request).session.start(response, request, token, life_s)
    _clear_flow_cookie(response)
    log.info("workspace.sign_in", issuer=oidc.issuer, token_use=oidc.token_use)
    return response


def _failure_page(request: Request, failure: SignInFailed, *, clear_flow: bool, next_url: str) -> Response:
    log.warning("workspace.sign_in_failed", step=failure.step, reason=failure.detail, idp_error=failure.idp_error,
                status=failure.status)
    workspace = Workspace.of(request)
    heading = "Sign-in is not available" if failure.status >= 500 else "Sign-in failed"
    response = render(request, "workspace/sign_in_error.html", workspace.context(
        request, None, heading, heading=heading, step=failure.step,
        detail=failure.detail[:1].upper() + failure.detail[1:],
        idp_error=failure.idp_error, idp_description=failure.idp_description, retry_url=sign_in_url(next_url)),
        status_code=failure.status)
    if clear_flow:
        _clear_flow_cookie(response)
    return response
