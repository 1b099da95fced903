"""The practitioner's workspace in a real browser: sign in, find a referral, read its picture, act on it.

The hub app is served over HTTP on loopback with a real database; agencies'
answers arrive through the hub's own response handler (signed envelopes),
exactly as the broker consumer would deliver them. axe (WCAG 2.2 AA) runs on
every page visited, and nothing is fetched from anywhere but the hub.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from mashlink.config.settings import load_settings
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from tests.browser.support import PageLog, axe_check
from tests.hub.api_support import serve
from tests.hub.hub_support import referral_data
from tests.hub.test_hub_service import _response

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubService]:
    service = HubService.open(load_settings(state_dir=str(tmp_path_factory.mktemp("workspace"))))
    for referral_id, rag in (("REF-WS-1", "red"), ("REF-WS-2", "green")):
        sent = service.submit_referral(referral_data(referral_id, rag=rag))
        for agency in ("police-synth", "education-synth"):
            service.handle_responses([_response(sent.enquiry_for(agency).enquiry_id, agency,
                                                status="information_found", findings=True,
                                                referral_id=referral_id)])
    other = referral_data("REF-WS-998")
    other["local_authority"] = "998"
    service.submit_referral(other)
    yield service
    service.close()


@pytest.fixture(scope="module")
def site(hub: HubService) -> Iterator[str]:
    with serve(build_hub_app(hub)) as client:
        yield str(client.base_url).rstrip("/")


def sign_in(page: Page, site: str, role: str, user: str, agency: str | None = None, next_path: str = "") -> None:
    params = f"role={role}&user={user}" + (f"&agency={agency}" if agency else "")
    if next_path:
        params += f"&next={next_path}"
    page.goto(f"{site}/sign-in/dev?{params}", wait_until="networkidle")


def test_signing_in_from_the_form_lands_on_the_referral_list(page: Page, site: str) -> None:
    log = PageLog(page)
    page.goto(f"{site}/workspace/referrals", wait_until="networkidle")
    assert "/sign-in" in page.url  # no session: sent to sign in, and back afterwards
    axe_check(page)
    page.get_by_label("User name").fill("amy")
    page.get_by_label("Practitioner").check()
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/workspace/referrals")
    expect(page.get_by_role("heading", name="Referrals")).to_be_visible()
    expect(page.locator("#referrals")).to_contain_text("REF-WS-1")
    assert "REF-WS-998" not in page.content(), "another LA's referral is not listed"
    # RAG is a word as well as a colour.
    expect(page.locator("#referrals tbody tr").first.locator(".govuk-tag").first).to_have_text("Red")
    axe_check(page)
    assert not log.off_host() and not log.errors, (log.off_host(), log.errors)


def test_filters_find_a_child_by_name_or_nhs_number_and_by_rag(page: Page, site: str) -> None:
    sign_in(page, site, "practitioner", "amy")
    page.goto(f"{site}/workspace/referrals?rag=green", wait_until="networkidle")
    rows = page.locator("#referrals tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("REF-WS-2")
    page.goto(f"{site}/workspace/referrals?q=testchild", wait_until="networkidle")
    expect(page.locator("#referrals tbody tr")).to_have_count(2)
    page.goto(f"{site}/workspace/referrals?q=Nobody+Atall", wait_until="networkidle")
    expect(page.locator("#no-referrals")).to_be_visible()
    axe_check(page)


def test_referral_page_shows_people_enquiries_chronology_with_provenance(page: Page, site: str) -> None:
    sign_in(page, site, "practitioner", "amy", next_path="/workspace/referrals/REF-WS-1")
    assert page.url.endswith("/workspace/referrals/REF-WS-1")
    expect(page.get_by_role("heading", level=1)).to_contain_text("REF-WS-1")
    expect(page.locator("#people ~ .govuk-grid-row").first).to_contain_text("Ada Testchild")
    enquiries = page.locator("#enquiries + table")
    expect(enquiries).to_contain_text("Synthshire Constabulary")
    for_review = page.locator("#for-review ~ table").first
    expect(for_review).to_contain_text("record R1")
    axe_check(page)
    # A practitioner cannot decide: the form is not offered.
    expect(page.get_by_role("button", name="Record decision")).to_have_count(0)


def test_manager_rerates_and_decides_with_errors_shown_next_to_fields(page: Page, site: str) -> None:
    sign_in(page, site, "manager", "mira", next_path="/workspace/referrals/REF-WS-2")
    page.get_by_text("Change the RAG rating").click()
    page.get_by_label("Amber").check()
    page.get_by_role("button", name="Change rating").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter why the rating is changing")
    expect(page.locator("#rerate-reason-error")).to_be_visible()
    axe_check(page)
    page.get_by_label("Why is the rating changing?").fill("Police report a new incident")
    page.get_by_role("button", name="Change rating").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("rating has changed")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Amber")

    page.get_by_role("button", name="Record decision").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Choose the decision")
    page.locator(".govuk-error-summary a").first.click()
    focused_id = page.evaluate("() => document.activeElement && document.activeElement.id")
    assert focused_id == "decision-outcome"
    page.get_by_label("Early help").check()
    page.get_by_label("Reasons for the decision").fill("Family agrees to early help (synthetic)")
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#decision ~ dl").first).to_contain_text("mira")
    axe_check(page)


def test_outside_the_la_a_practitioner_breaks_glass_with_a_reason(page: Page, site: str, hub: HubService) -> None:
    sign_in(page, site, "practitioner", "amy", next_path="/workspace/referrals/REF-WS-998")
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this referral")
    assert "Ada" not in page.content()
    axe_check(page)
    page.get_by_label("Why do you need to open this referral?").fill("Out-of-hours cover: child at A&E now")
    page.get_by_role("button", name="Open with this reason").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("break-glass")
    events = hub.audit_events(action="access.break_glass", referral_id="REF-WS-998")
    assert events and events[-1].reason == "Out-of-hours cover: child at A&E now"


def test_agency_liaison_sees_only_their_agency_and_a_403_page_elsewhere(page: Page, site: str,
                                                                       hub: HubService) -> None:
    sign_in(page, site, "agency_liaison", "lee", agency="education-synth",
            next_path="/workspace/referrals/REF-WS-1")
    content = page.content()
    assert "Synthshire Education Service" in content and "Synthshire Constabulary" not in content
    assert "nhs_number" not in content.lower() and "Nhs number" not in content
    axe_check(page)
    hub.submit_referral(referral_data("REF-WS-POLICE-ONLY"), agencies=["police-synth"])
    response = page.goto(f"{site}/workspace/referrals/REF-WS-POLICE-ONLY", wait_until="networkidle")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this referral")
    axe_check(page)
    denied = hub.audit_events(action="access.denied", referral_id="REF-WS-POLICE-ONLY")
    assert denied and denied[-1].actor.endswith("(lee)")


def test_printable_chronology_and_sign_out(page: Page, site: str) -> None:
    sign_in(page, site, "practitioner", "amy", next_path="/workspace/referrals/REF-WS-1/chronology")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chronology for referral REF-WS-1")
    expect(page.locator("body")).to_contain_text("OFFICIAL-SENSITIVE")
    page.emulate_media(media="print")
    assert page.locator(".govuk-header").evaluate("e => getComputedStyle(e).display") == "none"
    page.emulate_media(media="screen")
    axe_check(page)
    page.get_by_role("link", name="Sign out").click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{site}/workspace/referrals", wait_until="networkidle")
    assert "/sign-in" in page.url


def test_practitioner_confirms_a_for_review_match_and_the_fact_enters_the_chronology(
        page: Page, tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.hub.test_match_review import _referral_with_candidates

    service = HubService.open(load_settings(state_dir=str(tmp_path_factory.mktemp("matches"))))
    try:
        _referral_with_candidates(service)
        assert not service.linked_view("REF-0001").chronology
        with serve(build_hub_app(service)) as client:
            site = str(client.base_url).rstrip("/")
            sign_in(page, site, "practitioner", "amy", next_path="/workspace/referrals/REF-0001")
            review = page.locator("table.for-review")
            expect(review).to_have_count(1)
            row = review.locator("tbody tr").filter(has_text="PAS-1")
            row.get_by_role("button", name="Confirm").click()  # without a reason: refused, said why
            page.wait_for_load_state("networkidle")
            expect(page.locator(".govuk-error-summary")).to_contain_text("Enter why you confirm")
            axe_check(page)
            row = page.locator("table.for-review tbody tr").filter(has_text="PAS-1")
            row.get_by_label("Reason").fill("Same child: the school confirms the spelling Adah")
            row.get_by_role("button", name="Confirm").click()
            page.wait_for_load_state("networkidle")
            expect(page.locator(".govuk-notification-banner--success")).to_contain_text("match decision")
            expect(page.locator("#chronology ~ table").first).to_contain_text("Child protection flag")
            axe_check(page)
        view = service.linked_view("REF-0001")
        assert any(e.record_id == "PAS-1" for e in view.chronology)
        events = service.audit_events(action="match.confirmed", referral_id="REF-0001")
        assert events and events[-1].actor == "Amy (amy)"
    finally:
        service.close()
