"""The workspace session cookie: Secure outside development even when the hub sees plain http."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from mashlink.ops.web.session import WebSession, safe_next


def _request(scheme: str) -> Request:
    return Request({"type": "http", "scheme": scheme, "path": "/", "headers": [], "query_string": b"",
                    "server": ("127.0.0.1", 8080)})


def _cookie(session: WebSession, scheme: str) -> str:
    response = Response()
    session.start(response, _request(scheme), "token-value", 60)
    return response.headers["set-cookie"]


def test_cookie_is_secure_behind_a_tls_proxy_outside_development() -> None:
    production = WebSession(auth=None, csrf_key=b"k" * 32, always_secure=True)  # type: ignore[arg-type]
    development = WebSession(auth=None, csrf_key=b"k" * 32)  # type: ignore[arg-type]
    assert "secure" in _cookie(production, "http").lower()
    assert "secure" not in _cookie(development, "http").lower()
    assert "secure" in _cookie(development, "https").lower()
    for cookie in (_cookie(production, "http"), _cookie(development, "http")):
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()


def test_only_local_paths_are_destinations_after_sign_in() -> None:
    for hostile in ("https://evil.example/", "//evil.example", "/\\evil", "javascript:alert(1)", ""):
        assert safe_next(hostile) == "/workspace"
    assert safe_next("/workspace/referrals?q=1") == "/workspace/referrals?q=1"
