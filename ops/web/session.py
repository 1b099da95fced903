"""Browser sessions for the workspace: the signed-in token in a cookie, and CSRF protection for forms.

A browser cannot send a bearer header on a link or a form, so after sign-in
the verified access token is kept in an ``HttpOnly``, ``SameSite=Lax`` cookie
(``Secure`` over HTTPS) and re-verified on every request with the same
``Authenticator`` as the API: expiry, issuer, audience and signature hold
for pages exactly as for API calls, and nothing about the session lives in the
hub (any number of hubs can serve the same browser).

Every form carries a CSRF token, an HMAC of the session token under a key
derived from the hub's signing key, checked on every POST: a page elsewhere
cannot make a signed-in browser change a referral.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import Response

from ...hub.auth.http import Authenticator
from ...hub.auth.principal import Principal
from ...hub.auth.tokens import AuthenticationError

COOKIE = "mashlink_session"
CSRF_FIELD = "csrf_token"
SIGN_IN_PATH = "/sign-in"


class SignInRequired(Exception):
    """No usable session: the page redirects to sign-in (and back afterwards)."""

    def __init__(self, next_url: str, reason: str = "") -> None:
        self.next_url = next_url
        self.reason = reason
        super().__init__(reason or "sign-in required")


class CsrfFailed(Exception):
    """A form was posted without this session's CSRF token."""


def safe_next(value: str | None, default: str = "/workspace") -> str:
    """Only a local path may be a post-sign-in destination (no open redirect)."""
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


class WebSession:
    def __init__(self, auth: Authenticator, csrf_key: bytes, *, always_secure: bool = False) -> None:
        self.auth = auth
        # Outside development the cookie is always Secure: behind a TLS-terminating proxy the request
        # may look like plain http to the hub, and a bearer token must never travel in clear.
        self.always_secure = always_secure
        self._csrf_key = hmac.new(csrf_key, b"mashlink-web-csrf-v1", hashlib.sha256).digest()

    def token(self, request: Request) -> str | None:
        value = request.cookies.get(COOKIE)
        return value or None

    def principal(self, request: Request) -> Principal:
        """The signed-in person; ``SignInRequired`` when there is no valid session."""
        token = self.token(request)
        next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if token is None:
            raise SignInRequired(next_url)
        try:
            return self.auth.verifier.verify(token)
        except AuthenticationError as exc:
            raise SignInRequired(next_url, exc.description) from None

    def csrf_token(self, request: Request) -> str:
        token = self.token(request) or ""
        return hmac.new(self._csrf_key, token.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: Request, submitted: str | None) -> None:
        if not submitted or not hmac.compare_digest(submitted, self.csrf_token(request)):
            raise CsrfFailed("the form's security token is missing or out of date; reload the page and try again")

    def start(self, response: Response, request: Request, token: str, max_age_s: int) -> None:
        response.set_cookie(COOKIE, token, max_age=max_age_s, httponly=True, samesite="lax", path="/",
                            secure=self.always_secure or request.url.scheme == "https")

    @staticmethod
    def end(response: Response) -> None:
        response.delete_cookie(COOKIE, path="/")


def sign_in_url(next_url: str) -> str:
    return f"{SIGN_IN_PATH}?next={quote(safe_next(next_url), safe='/')}"
