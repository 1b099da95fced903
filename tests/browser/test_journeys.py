"""Whole journeys in a real browser, against a running hub with real connectors, on memory:// and RabbitMQ.

* A practitioner signs in, creates a referral with the form, watches the
  enquiries go out and the simulated agencies answer (reference connectors
  running their own consumers on the broker), opens the linked picture,
  confirms a for-review match and sees the fact enter the chronology; a
  manager records the decision.
* Ops see a dead letter appear (an agency rotated its signing key before the
  hub knew it, so its answer cannot be verified), the hub is given the key,
  ops replay the message from the browser and the answer goes through.
* An agency liaison cannot open material of a referral that never asked their
  agency: a 403 page, and the attempt is audited.

axe (WCAG 2.2 AA) runs on every page visited; nothing is fetched from
anywhere but the hub.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from mashlink.config.settings import MashlinkSettings
from mashlink.config.signing import SignerKey, SigningSettings, public_entry
from mashlink.connectors.reference.factory import connector_from_config
from mashlink.connectors.runtime import ConnectorRunner
from mashlink.connectors.simulators.population import Scenario
from mashlink.connectors.simulators.referrals import demo_referrals
from mashlink.connectors.wiring import connector_broker_factory
from mashlink.hub.dead_letters import BrokerDeadLetters
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.hub.wiring import hub_broker_factory
from tests.browser.support import PageLog, axe_check
from tests.browser.test_workspace_new_referral import fill_date, fill_referral_details
from tests.e2e.loop import Loop, make_loop, now, wait_for
from tests.hub.api_support import serve

pytestmark = pytest.mark.browser

ROTATED_KEY = "rotated-social-care-key-0a1b2c3d4eabcdef"
ROTATED = SignerKey.from_secret("social-care-synth", ROTATED_KEY.encode(), key_id="social-care-synth-rotated")


def with_signing(settings: MashlinkSettings, **changes: object) -> MashlinkSettings:
    """``settings`` with some ``signing`` options changed (as another process's configuration would be)."""
    return settings.model_copy(update={"signing": SigningSettings(**{**settings.signing.model_dump(), **changes})})


@pytest.fixture(params=["memory", "rabbitmq"])
def loop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Loop]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("amqp_url")
    made = make_loop(tmp_path, broker_url=url, audit_check_interval_s=0)
    try:
        yield made
    finally:
        made.close()


def _app(loop: Loop):  # type: ignore[no-untyped-def]
    assert loop.service is not None
    factory = hub_broker_factory(loop.settings, loop.topology)

    def queue_stats() -> list:  # type: ignore[type-arg]
        broker = factory()
        try:
            queues = loop.topology.queues([a.id for a in loop.settings.agencies])
            return broker.queue_stats([q.name for q in queues])
        finally:
            broker.close()

    return build_hub_app(loop.service, queue_stats=queue_stats,
                         dead_letters=BrokerDeadLetters(factory, [a.id for a in loop.settings.agencies]))


def _sign_in(page: Page, site: str, query: str, next_path: str) -> None:
    page.goto(f"{site}/sign-in/dev?{query}&next={next_path}", wait_until="networkidle")


def test_practitioner_and_manager_journey(page: Page, loop: Loop) -> None:
    service = loop.start_hub()
    loop.start_connectors()
    family = loop.population.by_scenario(Scenario.RED_DOMESTIC_ABUSE)
    child, mother = family.children[0], family.adults[0]
    # Other referrals arrive meanwhile (e.g. from the police connector); one carries an uncertain match.
    others = demo_referrals(loop.population, now())
    for referral in others:
        service.submit_referral(referral, actor="intake")
    log = PageLog(page)
    with serve(_app(loop)) as client:
        site = str(client.base_url).rstrip("/")
        _sign_in(page, site, "role=practitioner&user=amy", "/workspace/referrals/new")
        axe_check(page)
        fill_referral_details(page)
        page.locator("#child-1-given").fill(child.given)
        page.locator("#child-1-family").fill(child.family)
        assert child.birth_date is not None
        fill_date(page, "child-1-dob", child.birth_date)
        if child.nhs_number:
            page.locator("#child-1-nhs").fill(child.nhs_number)
        page.locator("#adult-1-given").fill(mother.given)
        page.locator("#adult-1-family").fill(mother.family)
        if mother.birth_date:
            fill_date(page, "adult-1-dob", mother.birth_date)
        page.locator("#adult-1-relationship").select_option("mother")
        page.get_by_label("Given", exact=True).check()
        page.get_by_role("button", name="Submit referral").click()
        page.wait_for_load_state("networkidle")
        match = re.search(r"/workspace/referrals/([^/?#]+)", page.url)
        errors = page.locator(".govuk-error-summary").all_inner_texts()
        assert match and not page.url.endswith("/new"), (page.url, errors)
        referral_id = match.group(1)
        expect(page.locator("#enquiries + table tbody tr")).to_have_count(4)  # one enquiry per agency
        axe_check(page)

        wait_for(lambda: not service.referral_status(referral_id).outstanding, 60, "every agency to answer", 0.2)
        page.reload(wait_until="networkidle")
        expect(page.locator("#outstanding")).to_have_count(0)
        expect(page.locator("#chronology ~ table").first).to_be_visible()
        axe_check(page)

        # The uncertain match in one of the other referrals: a person decides.
        wait_for(lambda: loop.all_answered([r.referral_id for r in others]), 60, "the other referrals", 0.2)
        uncertain = next(r.referral_id for r in others
                         if any(s.candidates for s in service.linked_view(r.referral_id).subjects))
        page.goto(f"{site}/workspace/referrals/{uncertain}", wait_until="networkidle")
        row = page.locator("table.for-review tbody tr").first
        record = row.locator("td").nth(1).inner_text().split("\n")[0].split()[-1]
        row.get_by_label("Reason").fill("Same child: confirmed with the school (synthetic)")
        row.get_by_role("button", name="Confirm").click()
        page.wait_for_load_state("networkidle")
        expect(page.locator(".govuk-notification-banner--success")).to_contain_text("match decision")
        expect(page.locator("#linked-records ~ table").first).to_contain_text(record)
        axe_check(page)
        view = service.linked_view(uncertain)
        assert any(m.source.record_id == record and m.decided_by == "Amy (amy)"
                   for s in view.subjects for m in s.matches)

        # The manager decides.
        page.context.clear_cookies()
        _sign_in(page, site, "role=manager&user=mira", f"/workspace/referrals/{referral_id}")
        page.get_by_label("Strategy section 47").check()
        page.get_by_label("Reasons for the decision").fill("Police and health information together: strategy")
        page.get_by_role("button", name="Record decision").click()
        page.wait_for_load_state("networkidle")
        expect(page.locator("#decision ~ dl").first).to_contain_text("Mira (mira)")
        axe_check(page)
    assert service.referral_status(referral_id).decision is not None
    assert not log.off_host(), log.off_host()


def test_ops_replays_a_dead_letter_after_the_cause_is_fixed(page: Page, loop: Loop) -> None:
    service = loop.start_hub()
    # The agency signs with its new key; the hub does not list its public key yet.
    rotated = with_signing(loop.settings, private_key=ROTATED.text())
    agency = rotated.agency("social-care-synth")
    runner = ConnectorRunner(connector_from_config(agency, population=loop.population),
                             connector_broker_factory(rotated, agency.id, topology=loop.topology))
    runner.start()
    try:
        referral = demo_referrals(loop.population, now())[0]
        service.submit_referral(referral, agencies=["social-care-synth"])
        broker = loop.broker()
        try:
            wait_for(lambda: len(broker.dlq_list()) >= 1, 60, "the unverifiable answer to be parked", 0.2)
            [parked] = broker.dlq_list()
        finally:
            broker.close()
        with serve(_app(loop)) as client:
            site = str(client.base_url).rstrip("/")
            _sign_in(page, site, "role=ops&user=olu", "/workspace/ops/dead-letters")
            expect(page.locator("main")).to_contain_text(parked.message_id)
            axe_check(page)
            page.get_by_role("link", name=parked.message_id).first.click()
            page.wait_for_load_state("networkidle")
            for person in referral.subjects:
                for name in person.names:
                    for given in name.given:
                        assert given not in page.content()  # ops see the body redacted
            axe_check(page)
        # The fix: the hub is given the agency's new key and restarted.
        loop.stop_hub()
        loop.settings = with_signing(loop.settings, public_keys={"social-care-synth": [public_entry(ROTATED)]})
        service = loop.start_hub()
        with serve(_app(loop)) as client:
            site = str(client.base_url).rstrip("/")
            _sign_in(page, site, "role=ops&user=olu", f"/workspace/ops/dead-letters/{parked.message_id}")
            page.get_by_label("Why replay this message?").fill("Social care rotated its key; the hub has it now")
            page.get_by_role("button", name="Replay message").click()
            page.wait_for_load_state("networkidle")
            axe_check(page)
        wait_for(lambda: service.referral_status(referral.referral_id).outstanding == [], 60,
                 "the replayed answer to be applied", 0.2)
        replayed = service.audit_events(action="dlq.replayed")
        assert [e.message_id for e in replayed] == [parked.message_id]
        assert replayed[0].actor == "Olu (olu)"
    finally:
        runner.stop()


def test_agency_liaison_cannot_open_another_agencys_material(page: Page, loop: Loop) -> None:
    service = loop.start_hub()
    referral = demo_referrals(loop.population, now())[0]
    service.submit_referral(referral, agencies=["police-synth"])
    with serve(_app(loop)) as client:
        site = str(client.base_url).rstrip("/")
        _sign_in(page, site, "role=agency_liaison&user=lee&agency=education-synth",
                 f"/workspace/referrals/{referral.referral_id}")
        expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this referral")
        axe_check(page)
        response = page.goto(f"{site}/workspace/referrals/{referral.referral_id}/chronology",
                             wait_until="networkidle")
        assert response is not None and response.status == 403
        assert "Constabulary" not in page.content()
    denied = service.audit_events(action="access.denied", referral_id=referral.referral_id)
    assert len(denied) == 2 and all(e.actor == "Lee (lee)" for e in denied)
