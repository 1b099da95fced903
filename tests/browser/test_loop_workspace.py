"""Closing the loop in the workspace, in a real browser: who has been told, alerts acknowledged, the worklist."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from mashlink.config.settings import load_settings
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.schemas.envelope import MessageType
from tests.browser.support import PageLog, axe_check
from tests.hub.api_support import serve
from tests.hub.hub_support import referral_data
from tests.hub.loop_support import decide, delivery, receipt

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubService]:
    service = HubService.open(load_settings(state_dir=str(tmp_path_factory.mktemp("loop-workspace"))))
    outcomes = decide(service, "REF-LOOP-1")
    service.handle_events([
        receipt(outcomes["health-synth"], "acknowledged", receipt_id="R-1", channel="fhir-task"),
        receipt(outcomes["police-synth"], "failed", receipt_id="R-2", channel="drop-folder",
                detail="drop folder not writable"),
    ])
    service.submit_referral(referral_data("REF-LOOP-2"))
    service.handle_events([delivery("m-a", MessageType.ALERT, {
        "alert_id": "A-LOOP", "kind": "unscheduled_care_attendance", "agency_id": "health-synth",
        "agency_kind": "health", "referral_id": "REF-LOOP-2", "person_ref": "hub-subject-c1",
        "occurred_at": "2025-06-02T08:40:00+00:00", "location": "RXX01",
        "organisation": "Synthshire Hospitals NHS Foundation Trust (synthetic)"}, sender="health-synth",
        correlation_id="REF-LOOP-2")])
    yield service
    service.close()


@pytest.fixture(scope="module")
def site(hub: HubService) -> Iterator[str]:
    with serve(build_hub_app(hub)) as client:
        yield str(client.base_url).rstrip("/")


def sign_in(page: Page, site: str, next_path: str) -> None:
    page.goto(f"{site}/sign-in/dev?role=practitioner&user=amy&next={next_path}", wait_until="networkidle")


def test_who_has_been_told_shows_each_recipient_with_status_and_reason(page: Page, site: str) -> None:
    log = PageLog(page)
    sign_in(page, site, "/workspace/referrals/REF-LOOP-1")
    told = page.locator("#who-has-been-told + table")
    expect(told).to_be_visible()
    expect(told.locator("#told-health-synth")).to_contain_text("Acknowledged")
    expect(told.locator("#told-police-synth")).to_contain_text("Failed")
    expect(told.locator("#told-police-synth")).to_contain_text("Reason: drop folder not writable")
    expect(told.locator("#told-referrer")).to_contain_text("Sent")
    axe_check(page)
    assert not log.off_host() and not log.errors, (log.off_host(), log.errors)


def test_a_practitioner_acknowledges_an_alert_from_the_referral_page(page: Page, site: str,
                                                                    hub: HubService) -> None:
    sign_in(page, site, "/workspace/referrals/REF-LOOP-2")
    card = page.locator("#alert-A-LOOP")
    expect(card).to_contain_text("Emergency department attendance")
    expect(card).to_contain_text("open MASH referral")
    expect(card).to_contain_text("Not acknowledged")
    axe_check(page)
    card.get_by_label("What you are doing about it (optional)").fill("Called the ward")
    card.get_by_role("button", name="Acknowledge alert").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("alert is acknowledged")
    expect(page.locator("#alert-A-LOOP")).to_contain_text("Called the ward")
    assert hub.alert("A-LOOP").acknowledged_at is not None


def test_the_worklist_flags_failed_deliveries(page: Page, site: str) -> None:
    sign_in(page, site, "/workspace/referrals")
    row = page.locator("#referrals tbody tr", has_text="REF-LOOP-1")
    expect(row).to_contain_text("1 delivery failed")
    expect(row).to_contain_text("not acknowledged")
    axe_check(page)
