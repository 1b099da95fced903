"""Signing in at the identity provider in a real browser (chromium): the code flow with PKCE, end to end.

The hub and the IdP simulator (tests/hub/idp_flow_support.py) both run on
loopback; chromium follows the redirects to the IdP and back as it would with
a council's IdP where the person already has a session. axe (WCAG 2.2 AA)
checks the failure page, and nothing is fetched from anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import PageLog, axe_check
from tests.hub.idp_flow_support import IdpFlowSimulator, running_idp
from tests.ops.test_oidc_sign_in import PRACTITIONER, _direct_loopback, hub_site  # noqa: F401 (autouse)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def idp() -> Iterator[IdpFlowSimulator]:
    with running_idp("ES256", "ec-1") as sim:  # EC keys here, RSA in tests/ops
        yield sim


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, idp: IdpFlowSimulator) -> Iterator[str]:
    with hub_site(tmp_path_factory.mktemp("oidc-browser"), idp) as url:
        yield url


def test_sign_in_at_the_identity_provider_and_back(page: Page, site: str, idp: IdpFlowSimulator) -> None:
    idp.reset()
    idp.user = dict(PRACTITIONER)
    log = PageLog(page)
    page.goto(f"{site}/workspace/referrals/REF-NONE", wait_until="networkidle")
    # Back from the IdP, signed in, on the page asked for (an unknown referral: its 404 page, as Priya).
    assert page.url == f"{site}/workspace/referrals/REF-NONE"
    expect(page.locator(".mashlink-header__user")).to_contain_text("Priya Practitioner")
    assert [c["name"] for c in page.context.cookies(site)] == ["mashlink_session"]  # the flow cookie is gone
    page.goto(f"{site}/workspace/referrals", wait_until="networkidle")
    expect(page.get_by_role("heading", name="Referrals")).to_be_visible()
    axe_check(page)
    assert not log.off_host() and not log.errors, (log.off_host(), log.errors)


def test_a_refusal_at_the_identity_provider_is_a_clear_accessible_page(page: Page, site: str,
                                                                        idp: IdpFlowSimulator) -> None:
    idp.reset()
    idp.fail_next_authorize = ("access_denied", "You are not assigned to a role for this application")
    page.goto(f"{site}/workspace/referrals", wait_until="networkidle")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in failed")
    expect(page.locator("#idp-error")).to_contain_text("not assigned to a role")
    axe_check(page)
    page.get_by_role("link", name="Try signing in again").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/workspace/referrals")
