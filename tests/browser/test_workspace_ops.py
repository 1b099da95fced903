"""The ops pages of the workspace in a real browser: deadlines, queues, dead letters and the audit chain.

The hub app is served over HTTP on loopback with a real database and a real
broker (memory://, and RabbitMQ for the dead-letter journey): enquiries are
relayed from the hub's outbox onto the agencies' queues, and a referral an
agency sent is parked by the consumer exactly as in production. Ops sign in
from the development link; axe (WCAG 2.2 AA) runs on every page visited, and
no page shows a child's name, date of birth, identifier or address.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from mashlink.broker import Topology
from mashlink.broker.messages import QueueStat
from mashlink.config.settings import load_settings
from mashlink.hub.auth.http import Authenticator
from mashlink.hub.dead_letters import BODY_READ_ACTION, BrokerDeadLetters
from mashlink.hub.disclosures import READ_ACTION
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.ops.web.session import COOKIE, WebSession
from mashlink.ops.web.workspace.ops_pages import MANAGEMENT_ENV, management_endpoint, management_rates
from tests.browser.support import PageLog, axe_check
from tests.hub.api_support import Tokens, serve
from tests.hub.dead_letter_support import PERSONAL, delete_topology, hub_brokers, park_referral
from tests.hub.hub_support import FakeClock, referral_data
from tests.hub.test_api_dead_letters import _with_body_read_for_auditor
from tests.hub.test_hub_service import _response

pytestmark = pytest.mark.browser

OPS_PAGES = ["/workspace/ops/deadlines", "/workspace/ops/queues", "/workspace/ops/dead-letters",
             "/workspace/ops/audit"]


def no_personal_data(text: str) -> None:
    leaked = [p for p in PERSONAL if p in text]
    assert leaked == [], f"personal data on an ops page: {leaked}"


def sign_in(page: Page, site: str, role: str, user: str, next_path: str, agency: str | None = None) -> None:
    agency_param = f"&agency={agency}" if agency else ""
    page.goto(f"{site}/sign-in/dev?role={role}&user={user}{agency_param}&next={next_path}", wait_until="networkidle")


def csrf_token(page: Page, site: Site) -> str:
    """The CSRF token of this browser's session (as a form of any page would carry it)."""
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)
    session = WebSession(Authenticator.__new__(Authenticator), site.hub.settings.signing_key("hub"))
    return session.csrf_token(SimpleNamespace(cookies={COOKIE: cookie}))  # type: ignore[arg-type]


@dataclass
class Site:
    url: str
    hub: HubService
    broker_url: str
    topology: Topology
    clock: FakeClock

    def park(self) -> str:
        return park_referral(self.hub.settings, self.broker_url, self.topology)


def _open_hub(tmp_path_factory: pytest.TempPathFactory, topology: Topology,
              broker_url: str = "memory://") -> tuple[HubService, FakeClock]:
    # Monday 2 June 2025, 10:00 London: a working day.
    clock = FakeClock(datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc))
    settings = load_settings(state_dir=str(tmp_path_factory.mktemp("ops")), broker_url=broker_url)
    service = HubService.open(settings, topology=topology, clock=clock)
    for referral_id, rag in (("REF-OPS-1", "red"), ("REF-OPS-2", "amber"), ("REF-OPS-3", "green")):
        sent = service.submit_referral(referral_data(referral_id, rag=rag))
        if referral_id == "REF-OPS-1":
            service.handle_responses([_response(sent.enquiry_for("police-synth").enquiry_id, "police-synth",
                                                status="information_found", findings=True,
                                                referral_id=referral_id)])
        clock.advance(minutes=30)
    clock.advance(hours=5)  # the red enquiries (4 clock hours) are overdue now
    return service, clock


def _serve(tmp_path_factory: pytest.TempPathFactory, broker_url: str, *, grant: bool = False) -> Iterator[Site]:
    topology = Topology(f"wsops-{uuid.uuid4().hex[:10]}")
    hub, clock = _open_hub(tmp_path_factory, topology, broker_url)
    if grant:  # a council that grants dlq.body_read (to auditors here); the shipped table grants it to nobody
        hub = _with_body_read_for_auditor(hub)
    settings = hub.settings
    brokers = hub_brokers(settings, broker_url, topology)
    agencies = [a.id for a in settings.agencies]
    relay_broker = brokers()
    try:
        relay_broker.declare(agencies)
        hub.outbox_relay(relay_broker).drain()  # the enquiries go onto the agencies' queues
    finally:
        relay_broker.close()

    def queue_stats() -> list[QueueStat]:
        broker = brokers()
        try:
            broker.declare(agencies)
            return broker.queue_stats()
        finally:
            broker.close()

    app = build_hub_app(hub, dead_letters=BrokerDeadLetters(brokers, agencies), queue_stats=queue_stats)
    try:
        with serve(app) as client:
            yield Site(str(client.base_url).rstrip("/"), hub, broker_url, topology, clock)
    finally:
        delete_topology(settings, broker_url, topology)
        hub.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _serve(tmp_path_factory, "memory://")


# ---------------------------------------------------------------------- deadlines
def test_deadlines_show_the_counts_of_enquiries_stats_and_the_oldest_first(page: Page, site: Site) -> None:
    log = PageLog(page)
    sign_in(page, site.url, "ops", "olu", "/workspace/ops/deadlines")
    assert page.url.endswith("/workspace/ops/deadlines")
    expect(page.get_by_role("heading", level=1)).to_have_text("Deadlines")
    # The same numbers as the API's /enquiries/stats (and /metrics): one service call, two views.
    api = Tokens(site.hub.settings)
    stats = httpx.get(f"{site.url}/enquiries/stats", headers=api("ops")).json()
    assert stats["rows"], stats
    for row in stats["rows"]:
        cells = page.locator(f'#by-agency tr[data-agency="{row["agency_id"]}"][data-rag="{row["rag"]}"]')
        expect(cells.locator('[data-count="open"]')).to_have_text(str(row["open"]))
        expect(cells.locator('[data-count="at_risk"]')).to_have_text(str(row["at_risk"]))
        expect(cells.locator('[data-count="overdue"]')).to_have_text(str(row["overdue"]))
    expect(page.locator("#total-open")).to_have_text(str(sum(r["open"] for r in stats["rows"])))
    overdue = sum(r["overdue"] for r in stats["rows"])
    assert overdue > 0
    expect(page.locator("#total-overdue")).to_have_text(str(overdue))
    metrics = httpx.get(f"{site.url}/metrics", headers=api("ops")).text
    for row in stats["rows"]:
        assert (f'mashlink_enquiries_open{{agency="{row["agency_id"]}",rag="{row["rag"]}"}} '
                f'{float(row["open"])}') in metrics
    # Oldest request first: REF-OPS-1 (red, overdue) leads, RAG as a word, hours overdue shown.
    oldest = page.locator("#oldest tbody tr")
    expect(oldest.first).to_contain_text("REF-OPS-1")
    expect(oldest.first.locator(".govuk-tag").first).to_have_text("Red")
    expect(oldest.first).to_contain_text("Overdue")
    expect(oldest.first).to_contain_text("overdue by")
    expect(page.locator("#oldest")).to_contain_text("working hours left")
    # Answered enquiries are not owed: police answered REF-OPS-1.
    assert "Synthshire Constabulary" not in oldest.filter(has_text="REF-OPS-1").all_inner_texts()
    no_personal_data(page.content())
    axe_check(page)
    assert not log.off_host() and not log.errors and not log.csp_violations(), (log.off_host(), log.errors)


# ---------------------------------------------------------------------- queues
def test_queues_list_every_agency_lane_with_depths_and_say_what_is_missing(page: Page, site: Site) -> None:
    sign_in(page, site.url, "ops", "olu", "/workspace/ops/queues")
    expect(page.get_by_role("heading", level=1)).to_have_text("Queues")
    topology = site.topology
    for agency in site.hub.settings.agencies:
        table = page.locator(f"#queues-{agency.id}")
        expect(table.locator("caption")).to_have_text(f"{agency.name} queues")
        for lane in topology.enquiry_queues(agency.id):
            expect(table.locator(f'tr[data-queue="{lane}"]')).to_have_count(1)
        expect(table.locator(f'tr[data-queue="{topology.agency_events_queue(agency.id)}"]')).to_have_count(1)
    # The relayed enquiries are waiting on the police red lane: the depth is the broker's count.
    red = topology.enquiry_queue("police-synth", "red")
    expect(page.locator(f'tr[data-queue="{red}"] [data-depth]')).to_have_text("1")
    expect(page.locator(f'tr[data-queue="{red}"] .govuk-tag')).to_have_text("Red")
    expect(page.locator(f'#queues-hub tr[data-queue="{topology.responses_queue}"]')).to_have_count(1)
    expect(page.locator(f'#queues-dead-letters tr[data-queue="{topology.dlq_for(topology.events_queue)}"]')) \
        .to_have_count(1)
    # memory:// has no rates and counts no consumers: the page says so instead of inventing numbers.
    expect(page.locator("#rates-note")).to_contain_text("Rates need the RabbitMQ management plugin")
    expect(page.locator("#embedded-note")).to_be_visible()
    expect(page.locator("#connectors ~ p").first).to_contain_text("does not record when a connector was last seen")
    no_personal_data(page.content())
    axe_check(page)


def test_queues_without_a_broker_say_so(page: Page, tmp_path_factory: pytest.TempPathFactory) -> None:
    hub, _clock = _open_hub(tmp_path_factory, Topology(f"wsops-{uuid.uuid4().hex[:10]}"))
    try:
        with serve(build_hub_app(hub)) as client:
            url = str(client.base_url).rstrip("/")
            sign_in(page, url, "ops", "olu", "/workspace/ops/queues")
            expect(page.locator("#no-broker")).to_contain_text("without a broker connection")
            axe_check(page)
            response = page.goto(f"{url}/workspace/ops/dead-letters", wait_until="networkidle")
            assert response is not None and response.status == 503
            expect(page.get_by_role("heading", level=1)).to_have_text("Dead letters need the broker")
            axe_check(page)
            page.goto(f"{url}/workspace/ops/audit", wait_until="networkidle")
            expect(page.locator("#no-check")).to_contain_text("does not run the scheduled audit check")
        # A broker connection that declared nothing names no queue: each is shown as not reported, never as 0.
        with serve(build_hub_app(hub, queue_stats=lambda: [])) as client:
            url = str(client.base_url).rstrip("/")
            sign_in(page, url, "ops", "olu", "/workspace/ops/queues")
            expect(page.locator("#none-reported")).to_be_visible()
            red = hub.topology.enquiry_queue("police-synth", "red")
            expect(page.locator(f'tr[data-queue="{red}"] [data-depth]')).to_have_text("Not reported")
            axe_check(page)
    finally:
        hub.close()


class _Management(BaseHTTPRequestHandler):
    """A stand-in RabbitMQ management API: GET /api/queues/<vhost> with basic auth."""

    answers: dict[str, Any] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.answers["path"] = self.path
        self.answers["auth"] = self.headers.get("Authorization")
        body = json.dumps([{"name": "q.red", "message_stats": {"publish_details": {"rate": 2.5},
                                                               "deliver_get_details": {"rate": 1.25}}},
                           {"name": "q.idle"}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_rates_come_from_the_management_api_or_a_note_says_why_not() -> None:
    assert management_endpoint("memory://") is None
    base, auth, vhost = management_endpoint("amqp://ops:s%40cret@rabbit.example:5672/mash", {}) or ("", None, "")
    assert (base, auth, vhost) == ("http://rabbit.example:15672", ("ops", "s@cret"), "mash")
    assert management_endpoint("amqp://g:g@h/", {MANAGEMENT_ENV: "off"}) is None
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Management)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {MANAGEMENT_ENV: f"http://127.0.0.1:{server.server_address[1]}"}
        rates = management_rates("amqp://guest:guest@127.0.0.1:5672/%2F", env)
        assert rates.available and rates.by_queue == {"q.red": (2.5, 1.25), "q.idle": (0.0, 0.0)}
        assert _Management.answers["path"].startswith("/api/queues/%2F?columns=")
        assert _Management.answers["auth"].startswith("Basic ")
        assert "guest" not in rates.source
    finally:
        server.shutdown()
    down = management_rates("amqp://guest:guest@127.0.0.1:5672/", {MANAGEMENT_ENV: "http://127.0.0.1:9"},
                            timeout_s=0.5)
    assert not down.available and down.note.startswith("Rates need the RabbitMQ management plugin")
    assert "memory" in management_rates("memory://").note or "embedded" in management_rates("memory://").note


# ---------------------------------------------------------------------- dead letters
def _dead_letter_journey(page: Page, site: Site) -> None:
    replay_id, discard_id = site.park(), site.park()
    log = PageLog(page)
    sign_in(page, site.url, "ops", "olu", "/workspace/ops/dead-letters")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dead letters")
    rows = page.locator("#parked tbody tr")
    expect(rows.filter(has_text=replay_id)).to_have_count(1)
    expect(rows.filter(has_text=discard_id)).to_have_count(1)
    no_personal_data(page.content())
    axe_check(page)
    # Filters: by the queue it came from, and by reason.
    page.get_by_label("Queue it came from").select_option(site.topology.events_queue)
    page.get_by_label("Why it was parked").select_option("processing_failure")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#parked tbody tr").filter(has_text=replay_id)).to_have_count(1)
    page.get_by_label("Why it was parked").select_option("bad_signature")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#no-parked")).to_be_visible()
    axe_check(page)

    # Its own page: the redacted body (ids and codes), never the child's name.
    page.goto(f"{site.url}/workspace/ops/dead-letters", wait_until="networkidle")
    page.get_by_role("link", name=replay_id).click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_role("heading", level=1)).to_have_text(replay_id)
    body = page.locator("#body")
    expect(body).to_contain_text('"sender": "police-synth"')
    expect(body).to_contain_text("[redacted: 3 chars]")
    no_personal_data(page.content())
    expect(page.get_by_text("Read the full body")).to_have_count(0)  # ops do not hold dlq.body_read
    axe_check(page)
    # A reason is required: the error is shown beside the field and linked from the summary.
    page.get_by_role("button", name="Replay message").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter why you are replaying this message")
    expect(page.locator("#replay-reason-error")).to_be_visible()
    no_personal_data(page.content())
    axe_check(page)
    page.get_by_label("Why replay this message?").fill("hub restarted with the fix")
    page.get_by_role("button", name="Replay message").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(f"{replay_id} was replayed")
    expect(page.locator("#parked tbody tr").filter(has_text=replay_id)).to_have_count(0)
    axe_check(page)
    [event] = [e for e in site.hub.audit_events(action="dlq.replayed") if e.message_id == replay_id]
    assert event.actor == "Olu (olu)"
    assert (event.reason or "").startswith("hub restarted with the fix (queue ")

    # Discard, likewise.
    page.goto(f"{site.url}/workspace/ops/dead-letters/{discard_id}", wait_until="networkidle")
    page.get_by_label("Why discard this message?").fill("test garbage")
    page.get_by_role("button", name="Discard message").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(f"{discard_id} was discarded")
    [event] = [e for e in site.hub.audit_events(action="dlq.discarded") if e.message_id == discard_id]
    assert event.actor == "Olu (olu)"
    # Gone: its page says so with a 404.
    response = page.goto(f"{site.url}/workspace/ops/dead-letters/{discard_id}", wait_until="networkidle")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Message not found")
    axe_check(page)
    assert site.hub.verify_audit().ok
    assert not log.off_host() and not log.errors and not log.csp_violations()


def test_ops_replays_and_discards_a_parked_message_with_a_reason(page: Page, site: Site) -> None:
    _dead_letter_journey(page, site)


def test_a_form_without_its_csrf_token_is_refused(page: Page, site: Site) -> None:
    message_id = site.park()
    sign_in(page, site.url, "ops", "olu", f"/workspace/ops/dead-letters/{message_id}")
    page.locator('input[name="csrf_token"]').first.evaluate("e => e.value = 'forged'")
    page.get_by_label("Why replay this message?").fill("forged")
    page.get_by_role("button", name="Replay message").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_role("heading", level=1)).to_have_text("The form has expired")
    assert not [e for e in site.hub.audit_events(action="dlq.replayed") if e.message_id == message_id]
    page.goto(f"{site.url}/workspace/ops/dead-letters/{message_id}", wait_until="networkidle")
    page.get_by_label("Why discard this message?").fill("cleanup after the test")
    page.get_by_role("button", name="Discard message").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".govuk-notification-banner--success")).to_be_visible()


def test_an_auditor_reads_dead_letters_but_cannot_act(page: Page, site: Site) -> None:
    message_id = site.park()
    sign_in(page, site.url, "auditor", "ida", f"/workspace/ops/dead-letters/{message_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(message_id)
    expect(page.get_by_role("button", name="Replay message")).to_have_count(0)
    no_personal_data(page.content())
    axe_check(page)
    response = page.request.post(f"{site.url}/workspace/ops/dead-letters/{message_id}/discard",
                                 form={"csrf_token": csrf_token(page, site), "reason": "x"})
    assert response.status == 403  # a valid form, but auditors do not hold dlq.act
    assert not [e for e in site.hub.audit_events(action="dlq.discarded") if e.message_id == message_id]
    sign_in(page, site.url, "ops", "olu", f"/workspace/ops/dead-letters/{message_id}")
    page.get_by_label("Why discard this message?").fill("cleanup after the test")
    page.get_by_role("button", name="Discard message").click()
    page.wait_for_load_state("networkidle")


def test_a_granted_full_read_needs_a_reason_and_is_recorded_before_it_is_shown(
        page: Page, tmp_path_factory: pytest.TempPathFactory) -> None:
    for granted in _serve(tmp_path_factory, "memory://", grant=True):
        message_id = granted.park()
        sign_in(page, granted.url, "auditor", "ida", f"/workspace/ops/dead-letters/{message_id}")
        no_personal_data(page.content())
        page.get_by_text("Read the full body").click()
        page.get_by_role("button", name="Show the full body").click()
        page.wait_for_load_state("networkidle")
        expect(page.locator(".govuk-error-summary")).to_contain_text("Enter why you are reading the full body")
        expect(page.get_by_label("Why do you need the full body?")).to_be_visible()  # the details stay open
        no_personal_data(page.content())
        assert granted.hub.audit_events(action=READ_ACTION) == []
        axe_check(page)
        page.get_by_label("Why do you need the full body?").fill("misrouting complaint")
        page.get_by_role("button", name="Show the full body").click()
        page.wait_for_load_state("networkidle")
        expect(page.locator(".govuk-notification-banner")).to_contain_text("recorded")
        expect(page.locator("#body")).to_contain_text('"Ada"')
        axe_check(page)
        [read] = granted.hub.audit_events(action=READ_ACTION)
        assert read.actor == "Ida (ida)" and read.reason == "misrouting complaint"
        [body_read] = granted.hub.audit_events(action=BODY_READ_ACTION)
        assert body_read.message_id == message_id and body_read.detail["role"] == "auditor"
        # Ops in the same hub still see it redacted only, with no way to ask for more.
        sign_in(page, granted.url, "ops", "olu", f"/workspace/ops/dead-letters/{message_id}")
        expect(page.get_by_text("Read the full body")).to_have_count(0)
        no_personal_data(page.content())
        response = page.request.post(f"{granted.url}/workspace/ops/dead-letters/{message_id}/full",
                                     form={"csrf_token": csrf_token(page, granted), "reason": "curious"})
        assert response.status == 403
        no_personal_data(response.text())


# ---------------------------------------------------------------------- audit
def test_audit_page_verifies_now_and_shows_the_anchor(page: Page, site: Site) -> None:
    sign_in(page, site.url, "ops", "olu", "/workspace/ops/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    expect(page.locator("#anchor ~ dl").first).to_contain_text("hub")
    expect(page.locator("#events")).to_have_count(0)  # ops hold audit.verify, not audit.read
    axe_check(page)
    page.get_by_role("button", name="Verify now").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("The audit chain is intact")
    expect(page.locator("#verify-now ~ dl").first).to_contain_text("Intact")
    no_personal_data(page.content())
    axe_check(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download this anchor (JSON)").click()
    anchor = json.loads(download.value.path().read_text())
    assert anchor["signer"] == "hub" and anchor["sequence"] >= 1


def test_an_auditor_sees_recent_events_and_filters_break_glass_and_denied(page: Page, site: Site) -> None:
    # A practitioner of another local authority is refused the child's picture: an access.denied event.
    tokens = Tokens(site.hub.settings)
    refused = httpx.get(f"{site.url}/referrals/REF-OPS-2/linked-view", headers=tokens("practitioner", las=["998"]))
    assert refused.status_code == 403
    sign_in(page, site.url, "auditor", "ida", "/workspace/ops/audit")
    events = page.locator("#event-table tbody tr")
    expect(events.first).to_be_visible()
    newest = site.hub.audit_events(limit=10_000)[-1]
    assert int(events.first.locator("td").first.inner_text()) >= newest.sequence
    no_personal_data(page.content())
    axe_check(page)
    page.get_by_role("link", name="Refused access").click()
    page.wait_for_load_state("networkidle")
    assert "action=access.denied" in page.url
    actions = page.locator("#event-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions and set(actions) == {"access.denied"}
    expect(page.locator("#event-table")).to_contain_text("REF-OPS-2")
    no_personal_data(page.content())
    page.get_by_role("link", name="Break-glass openings").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#event-filters strong")).to_have_text("Break-glass openings")
    axe_check(page)


# ---------------------------------------------------------------------- refusals
def test_a_practitioner_gets_a_403_page_on_every_ops_page(page: Page, site: Site) -> None:
    message_id = site.park()
    sign_in(page, site.url, "practitioner", "amy", "/workspace/referrals")
    nav = page.locator(".govuk-service-navigation")
    expect(nav.get_by_role("link", name="Deadlines")).to_have_count(1)  # practitioners read enquiry stats
    for path in [*OPS_PAGES[1:], f"/workspace/ops/dead-letters/{message_id}"]:
        response = page.goto(f"{site.url}{path}", wait_until="networkidle")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
        no_personal_data(page.content())
        axe_check(page)
    for link in ("Queues", "Dead letters", "Audit"):
        expect(nav.get_by_role("link", name=link)).to_have_count(0)
    for path in (f"/workspace/ops/dead-letters/{message_id}/replay", f"/workspace/ops/dead-letters/{message_id}/full",
                 "/workspace/ops/audit/verify"):
        response = page.request.post(f"{site.url}{path}", form={"csrf_token": csrf_token(page, site), "reason": "x"})
        assert response.status == 403, path
        no_personal_data(response.text())
    # Deadlines are counts and referral ids only: the permission table lets practitioners (and managers) read
    # them (enquiry_stats.read). An agency liaison holds none of the ops permissions: 403 on every page.
    page.goto(f"{site.url}/workspace/ops/deadlines", wait_until="networkidle")
    no_personal_data(page.content())
    sign_in(page, site.url, "agency_liaison", "lee", "/workspace/referrals", agency="education-synth")
    for path in OPS_PAGES:
        response = page.goto(f"{site.url}{path}", wait_until="networkidle")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
    axe_check(page)


# ---------------------------------------------------------------------- RabbitMQ
@pytest.mark.rabbitmq
def test_the_dead_letter_journey_on_rabbitmq(page: Page, tmp_path_factory: pytest.TempPathFactory,
                                             amqp_url: str) -> None:
    for rabbit in _serve(tmp_path_factory, amqp_url):
        _dead_letter_journey(page, rabbit)
        sign_in(page, rabbit.url, "ops", "olu", "/workspace/ops/queues")
        red = rabbit.topology.enquiry_queue("police-synth", "red")
        expect(page.locator(f'tr[data-queue="{red}"] [data-depth]')).to_have_text("1")
        expect(page.locator("#embedded-note")).to_have_count(0)
        # Rates where the management plugin answers, otherwise the page says it is needed (never an error).
        expect(page.locator("#rates-note")).to_contain_text("RabbitMQ management")
        no_personal_data(page.content())
        axe_check(page)

