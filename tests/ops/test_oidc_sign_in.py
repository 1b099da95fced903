"""Browser sign-in at the council's identity provider (ops/web/workspace/oidc.py), over real HTTP.

The hub app runs under uvicorn on loopback; the IdP is ``IdpFlowSimulator``
(tests/hub/idp_flow_support.py), also on loopback, whose ``/authorize``
answers at once, like a person already signed in at the IdP. The "browser"
is an httpx client that keeps cookies and follows redirects, so each test
walks the same hops a browser does: page -> /sign-in -> IdP /authorize ->
/sign-in/callback -> the page asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from structlog.testing import capture_logs

from mashlink.config.settings import load_settings
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.ops.web.session import COOKIE as SESSION_COOKIE
from mashlink.ops.web.workspace.oidc import FLOW_COOKIE, pkce_challenge
from tests.hub.api_support import serve
from tests.hub.idp_flow_support import CLIENT_ID, IdpFlowSimulator, running_idp
from tests.hub.idp_support import AUDIENCE

PRACTITIONER = {"sub": "u-priya", "name": "Priya Practitioner", "roles": ["practitioner"], "mashlink_la": ["999"]}
Site = Callable[..., Any]


@pytest.fixture(scope="module", autouse=True)
def _direct_loopback() -> Iterator[None]:
    """httpx (the hub's token exchange, the test's browser) and urllib (JWKS) honour *_PROXY: go direct."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def idp() -> Iterator[IdpFlowSimulator]:
    with running_idp("RS256", "rsa-1") as sim:
        yield sim


@contextmanager
def hub_site(state_dir: Path, idp: IdpFlowSimulator, **oidc: Any) -> Iterator[str]:
    """A hub whose workspace signs people in at ``idp``; yields its base URL."""
    section: dict[str, Any] = {"issuer": idp.issuer, "audience": [AUDIENCE], "jwks_url": idp.jwks_url,
                               "client_id": CLIENT_ID}
    section.update(oidc)
    section = {k: v for k, v in section.items() if v is not None}
    service = HubService.open(load_settings(state_dir=str(state_dir), security={"oidc": section}))
    try:
        with serve(build_hub_app(service)) as client:
            yield str(client.base_url).rstrip("/")
    finally:
        service.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, idp: IdpFlowSimulator) -> Iterator[str]:
    """The usual set-up: a public client (PKCE only) keeping the access token."""
    with hub_site(tmp_path_factory.mktemp("oidc-hub"), idp) as url:
        yield url


@pytest.fixture(autouse=True)
def _fresh_idp(idp: IdpFlowSimulator) -> None:
    idp.reset()
    idp.client_secret = None
    idp.user = dict(PRACTITIONER)


@pytest.fixture
def browser(site: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site, follow_redirects=True, timeout=30) as client:
        yield client


@pytest.fixture
def other_site(tmp_path: Path, idp: IdpFlowSimulator) -> Iterator[Site]:
    """A hub with other OIDC settings, and a browser for it: ``other_site(client_secret=...)`` (once a test)."""
    with ExitStack() as stack:
        def make(**oidc: Any) -> httpx.Client:
            url = stack.enter_context(hub_site(tmp_path / "hub", idp, **oidc))
            return stack.enter_context(httpx.Client(base_url=url, follow_redirects=True, timeout=30))
        yield make


def set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


def hop(history: list[httpx.Response], path: str) -> httpx.Response:
    return next(r for r in history if r.request.url.path == path)


def callback_url(browser: httpx.Client, next_url: str = "/workspace/referrals",
                 tamper: Callable[[dict[str, str]], None] | None = None) -> str:
    """Start a sign-in and let the IdP answer, stopping before the hub's callback; ``tamper`` edits /authorize."""
    start = browser.get("/sign-in", params={"next": next_url}, follow_redirects=False)
    assert start.status_code == 303, start.text
    authorize = urlsplit(start.headers["location"])
    params = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    if tamper is not None:
        tamper(params)
    answer = browser.get(authorize._replace(query=urlencode(params)).geturl(), follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


def with_param(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    params.update(changes)
    return parts._replace(query=urlencode(params)).geturl()


# -- the whole sign-in ------------------------------------------------------------------------------


def test_full_sign_in_lands_on_the_referral_list_as_the_practitioner(browser: httpx.Client, site: str,
                                                                     idp: IdpFlowSimulator) -> None:
    page = browser.get("/workspace/referrals")
    assert page.status_code == 200 and page.url == f"{site}/workspace/referrals"
    assert "Priya Practitioner" in page.text and "(practitioner)" in page.text
    assert [r.request.url.path for r in page.history] == ["/workspace/referrals", "/sign-in", "/authorize",
                                                          "/sign-in/callback"]

    [asked] = idp.authorize_requests
    assert asked["response_type"] == "code" and asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == f"{site}/sign-in/callback"
    assert asked["scope"] == "openid profile" and asked["code_challenge_method"] == "S256"
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32 and asked["state"] != asked["nonce"]
    [exchange] = idp.token_requests
    assert exchange.status == 200 and exchange.auth_method == "none"  # public client: PKCE is the proof
    assert pkce_challenge(exchange.form["code_verifier"]) == asked["code_challenge"]
    assert exchange.form["redirect_uri"] == asked["redirect_uri"]

    # The flow cookie: HttpOnly, Lax, 10 minutes, never readable, and removed by the callback.
    [flow_cookie] = set_cookie_headers(hop(page.history, "/sign-in"), FLOW_COOKIE)
    assert "HttpOnly" in flow_cookie and "SameSite=lax" in flow_cookie and "Max-Age=600" in flow_cookie
    assert asked["state"] not in flow_cookie and asked["nonce"] not in flow_cookie  # encrypted
    callback = hop(page.history, "/sign-in/callback")
    assert callback.status_code == 303 and callback.headers["location"] == "/workspace/referrals"
    assert any("Max-Age=0" in h or "expires=" in h.lower() for h in set_cookie_headers(callback, FLOW_COOKIE))
    assert FLOW_COOKIE not in browser.cookies
    # The session cookie lives as long as the access token (10 minutes at the simulator).
    [session] = set_cookie_headers(callback, SESSION_COOKIE)
    max_age = int(session.split("Max-Age=")[1].split(";")[0])
    assert 590 <= max_age <= 600 and "HttpOnly" in session

    again = browser.get("/workspace/referrals", follow_redirects=False)
    assert again.status_code == 200 and "Priya Practitioner" in again.text


def test_the_code_works_once(browser: httpx.Client) -> None:
    url = callback_url(browser)
    assert browser.get(url).status_code == 200
    replay = browser.get(url, follow_redirects=False)
    assert replay.status_code == 401 and "No sign-in was in progress" in replay.text


def test_open_redirect_next_ends_on_the_workspace(browser: httpx.Client, site: str) -> None:
    for hostile in ("https://evil.example", "//evil.example/x", "/\\evil.example"):
        browser.cookies.clear()
        page = browser.get("/sign-in", params={"next": hostile})
        assert urlsplit(str(page.url)).netloc == urlsplit(site).netloc, hostile
        assert hop(page.history, "/sign-in/callback").headers["location"] == "/workspace"
        assert page.url.path == "/workspace/referrals"  # the practitioner's start page


# -- failures: a 401 page naming the step -----------------------------------------------------------


def test_state_mismatch_is_refused(browser: httpx.Client, idp: IdpFlowSimulator) -> None:
    url = callback_url(browser)
    page = browser.get(with_param(url, state="forged-state"), follow_redirects=False)
    assert page.status_code == 401
    assert "Sign-in failed" in page.text and "state does not match" in page.text
    assert idp.token_requests == []  # the code was never exchanged
    assert FLOW_COOKIE not in browser.cookies


def test_wrong_nonce_in_the_id_token_is_refused(browser: httpx.Client, idp: IdpFlowSimulator) -> None:
    idp.id_token_claims = {"nonce": "a-nonce-from-another-sign-in"}
    page = browser.get("/workspace/referrals")
    assert page.status_code == 401 and page.url.path == "/sign-in/callback"
    assert "id token" in page.text and "nonce is not the one this sign-in sent" in page.text
    assert SESSION_COOKIE not in browser.cookies


def test_id_token_for_another_client_is_refused(browser: httpx.Client, idp: IdpFlowSimulator) -> None:
    idp.id_token_claims = {"aud": "some-other-app"}
    page = browser.get("/workspace/referrals")
    assert page.status_code == 401 and "audience is not security.oidc.client_id" in page.text


def test_wrong_pkce_verifier_is_refused_by_the_token_endpoint(browser: httpx.Client,
                                                              idp: IdpFlowSimulator) -> None:
    def other_challenge(params: dict[str, str]) -> None:
        params["code_challenge"] = pkce_challenge("not-the-verifier-the-hub-keeps-" + "x" * 20)

    page = browser.get(callback_url(browser, tamper=other_challenge), follow_redirects=False)
    assert page.status_code == 401
    assert "token endpoint" in page.text and "invalid_grant" in page.text
    assert "PKCE verification failed" in page.text  # the IdP's error_description, shown to the person
    assert [r.error for r in idp.token_requests] == ["invalid_grant"]


def test_identity_provider_error_is_shown(browser: httpx.Client, idp: IdpFlowSimulator) -> None:
    idp.fail_next_authorize = ("access_denied", "AADSTS50105: the signed in user is not assigned to a role")
    page = browser.get("/workspace/referrals")
    assert page.status_code == 401 and page.url.path == "/sign-in/callback"
    assert "access_denied" in page.text and "not assigned to a role" in page.text
    assert 'href="/sign-in?next=/workspace/referrals"' in page.text  # try again, for the same page
    assert idp.token_requests == []


def test_an_overlong_answer_is_the_same_clear_page(browser: httpx.Client) -> None:
    url = callback_url(browser)
    page = browser.get(with_param(url, error="x" * 5000, error_description="y" * 5000), follow_redirects=False)
    assert page.status_code == 401 and "x" * 100 in page.text and "x" * 101 not in page.text


def test_access_token_for_another_audience_names_the_scope(browser: httpx.Client, idp: IdpFlowSimulator) -> None:
    idp.access_token_claims = {"aud": "https://graph.microsoft.com"}
    page = browser.get("/workspace/referrals")
    assert page.status_code == 401
    assert "access token was refused: token audience is not this hub" in page.text
    assert "security.oidc.scopes" in page.text


def test_altered_or_missing_flow_cookie_is_refused(browser: httpx.Client, site: str) -> None:
    url = callback_url(browser)
    sealed = browser.cookies[FLOW_COOKIE]
    browser.cookies.set(FLOW_COOKIE, sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"),
                        domain=urlsplit(site).hostname or "")
    page = browser.get(url, follow_redirects=False)
    assert page.status_code == 401 and "altered" in page.text
    browser.cookies.clear()
    page = browser.get(url, follow_redirects=False)
    assert page.status_code == 401 and "No sign-in was in progress" in page.text


def test_failures_are_logged_without_tokens_or_personal_data(browser: httpx.Client,
                                                             idp: IdpFlowSimulator) -> None:
    idp.fail_next_authorize = ("access_denied", "user priya@council.example is not assigned")
    with capture_logs() as logs:
        browser.get("/workspace/referrals")
        idp.id_token_claims = {"nonce": "wrong"}
        browser.get("/workspace/referrals")
    failures = [e for e in logs if e["event"] == "workspace.sign_in_failed"]
    assert [(e["log_level"], e["step"]) for e in failures] == [("warning", "identity provider"),
                                                                ("warning", "id token")]
    text = repr(failures)
    assert "priya" not in text.lower() and "eyJ" not in text  # no description, no JWT
    assert failures[0]["idp_error"] == "access_denied"


# -- other configurations ------------------------------------------------------------------------------


@pytest.mark.parametrize("methods, expected", [(None, "client_secret_basic"),
                                               (["client_secret_post"], "client_secret_post")])
def test_confidential_client_authenticates_at_the_token_endpoint(other_site: Site, idp: IdpFlowSimulator,
                                                                 methods: list[str] | None,
                                                                 expected: str) -> None:
    idp.client_secret = "s3cret:with+odd/chars="
    idp.auth_methods = methods
    browser = other_site(client_secret=idp.client_secret)
    page = browser.get("/workspace/referrals")
    assert page.status_code == 200 and page.url.path == "/workspace/referrals"
    assert [(r.auth_method, r.status) for r in idp.token_requests] == [(expected, 200)]

    idp.client_secret = "rotated-at-the-idp"
    browser.cookies.clear()
    page = browser.get("/workspace/referrals")
    assert page.status_code == 401 and "invalid_client" in page.text


def test_keeping_the_id_token(other_site: Site, idp: IdpFlowSimulator) -> None:
    browser = other_site(token_use="id_token", audience=[CLIENT_ID])
    idp.id_token_claims = {"roles": ["manager"], "mashlink_la": ["999"]}
    page = browser.get("/workspace/referrals")
    assert page.status_code == 200 and "(manager)" in page.text


def test_configured_redirect_url_and_scopes_are_sent(other_site: Site, idp: IdpFlowSimulator) -> None:
    browser = other_site(redirect_url="https://mash.example.gov.uk/sign-in/callback",
                         scopes=["openid", "profile", "api://mashlink-hub/.default"])
    start = browser.get("/sign-in", follow_redirects=False)
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["redirect_uri"] == ["https://mash.example.gov.uk/sign-in/callback"]
    assert query["scope"] == ["openid profile api://mashlink-hub/.default"]
    [flow_cookie] = set_cookie_headers(start, FLOW_COOKIE)
    assert "Secure" in flow_cookie  # the browser reaches the hub over https


def test_without_client_id_the_page_says_what_to_set(other_site: Site) -> None:
    browser = other_site(client_id=None)
    page = browser.get("/workspace/referrals")
    assert page.status_code == 503 and "Sign-in is not available" in page.text
    assert "security.oidc.client_id" in page.text
    assert "Traceback" not in page.text


def test_unreachable_identity_provider_is_a_clear_page(other_site: Site, idp: IdpFlowSimulator) -> None:
    browser = other_site(issuer="http://127.0.0.1:9/idp", jwks_url=idp.jwks_url)
    page = browser.get("/sign-in")
    assert page.status_code == 503 and "discovery document" in page.text

