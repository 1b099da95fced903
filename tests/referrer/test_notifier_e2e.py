"""A decision on the hub reaches the referrer: real SMTP (aiosmtpd) and a real HTTP web hook.

The hub (HubService + HubRuntime) publishes the Outcome to ``referrer.outcomes``
on memory:// or RabbitMQ; ``NotifierRunner`` consumes it with the broker
consumer, the notifier renders the shipped template and delivers it.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mashlink.connectors.delivery.signing import IDEMPOTENCY_HEADER, verify
from mashlink.connectors.referrer.notifier import NotifierRunner, ReferrerNotifier, notifier_broker_factory
from mashlink.connectors.referrer.receipts import ReceiptStore
from mashlink.hub.service import HubService
from mashlink.schemas.envelope import Envelope
from tests.e2e.loop import Loop, make_loop, wait_for
from tests.hub.hub_support import referral_data, synthetic_nhs_number
from tests.referrer.support import Hook, free_port, smtp_server, webhook_server

REFERRER = "Synthfield Primary School (synthetic)"
#: Everything in the synthetic referral that identifies the child or family, in any spelling we might print.
PERSONAL = ["Ada", "Testchild", "Beth", "Testparent", "2016-03-14", "14 March 2016", "14/03/2016",
            synthetic_nhs_number(123456), synthetic_nhs_number(654321), "A123456789012", "LA-77", "ZZ99 1ZZ",
            "07700 900000", "Synthetic Row", "hungry", "shouting", "neglect", "domestic"]
WEBHOOK_SECRET = "referrer-hook-secret-0a1b2c3d4e"


def personal_in(text: str) -> list[str]:
    """Synthetic personal values in ``text`` as whole words: a random hex id (``3ada91…``) names nobody."""
    return [p for p in PERSONAL if re.search(rf"(?<![0-9A-Za-z]){re.escape(p)}(?![0-9A-Za-z])", text, re.IGNORECASE)]


@pytest.fixture(params=["memory", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("amqp_url"))


def _notify(smtp_port: int, **channels: Any) -> dict[str, Any]:
    return {
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "from_address": "mash-outcomes@synthshire.example",
                 "timeout_s": 5},
        "channels": channels or {"default": {"kind": "email", "to": "mash-outcomes@synthshire.example"},
                                 "by_referrer": {"synthfield primary school  (synthetic)":
                                                 {"kind": "email", "to": "dsl@synthfield.example"}}},
        "max_attempts": 3, "retry_backoff_s": 0.05, "retry_backoff_max_s": 0.2,
    }


@pytest.fixture
def make(tmp_path: Path, broker_url: str) -> Iterator[Any]:
    loops: list[Loop] = []
    runners: list[NotifierRunner] = []

    def build(notify: dict[str, Any]) -> tuple[Loop, HubService]:
        loop = make_loop(tmp_path / uuid.uuid4().hex[:6], broker_url=broker_url, referrer_notify=notify)
        loops.append(loop)
        return loop, loop.start_hub(tick_interval_s=0.05)

    def notifier(loop: Loop) -> tuple[NotifierRunner, ReferrerNotifier]:
        handler = ReferrerNotifier.from_settings(loop.settings)
        runner = NotifierRunner(handler, notifier_broker_factory(loop.settings, topology=loop.topology))
        runner.start()
        runners.append(runner)
        return runner, handler

    build.notifier = notifier  # type: ignore[attr-defined]
    yield build
    for runner in runners:
        runner.stop()
    for loop in loops:
        loop.close()


def _decide(hub: HubService, referral_id: str = "REF-0001", outcome: str = "section_17") -> str:
    hub.submit_referral(referral_data(referral_id))
    done = hub.record_decision({
        "decision_id": f"D-{referral_id}", "referral_id": referral_id, "outcome": outcome,
        "rationale": "Police record of missing episodes (synthetic) for Ada Testchild.",
        "decided_by": "mash-manager-2", "decided_at": "2025-06-02T15:00:00+00:00", "notify": ["referrer"],
    })
    return next(o.outcome_id for o in done.outcomes if o.recipient == "referrer")


def _receipts(loop: Loop) -> list[dict[str, Any]]:
    return ReceiptStore(loop.settings.state_dir / "referrer").rows()


def _parked(loop: Loop) -> list[Any]:
    broker = loop.broker()
    try:
        return broker.dlq_list(loop.topology.referrer_outcomes_queue)
    finally:
        broker.close()


def test_decision_sends_one_minimised_email_and_redelivery_sends_none(make: Any) -> None:
    with smtp_server() as (port, inbox):
        loop, hub = make(_notify(port))
        _runner, handler = make.notifier(loop)
        outcome_id = _decide(hub)
        wait_for(lambda: inbox.count() == 1 and bool(_receipts(loop)), 20, "the referrer's email")
        mail_from, rcpt, message = inbox.messages[0]
        assert (mail_from, rcpt) == ("mash-outcomes@synthshire.example", ["dsl@synthfield.example"])
        assert message["Subject"] == "MASH outcome for referral REF-0001: child in need assessment"
        assert message["X-Mashlink-Outcome-Id"] == outcome_id
        body = message.get_content()
        for expected in ("REF-0001", "child in need assessment", "section 17", "Synthshire MASH", "01632 960000",
                         "mash@synthshire.example", "What we ask of you", "What happens next"):
            assert expected in body, expected
        sent_on = datetime.fromisoformat(_outcome_envelope(hub).body["sent_at"]).astimezone(ZoneInfo("Europe/London"))
        assert f"Decision ({sent_on.day} {sent_on:%B %Y}):" in body  # the outcome's date, as a letter writes it
        text = message.as_string()
        leaked = personal_in(text)
        assert not leaked, leaked
        receipts = _receipts(loop)
        assert [(r["outcome_id"], r["status"], r["channel"], r["kind"]) for r in receipts] == [
            (outcome_id, "delivered", "synthfield primary school  (synthetic)", "email")]
        assert "dsl@" not in json.dumps(receipts)  # channel name, never the address

        # The hub (or an operator) re-sends the very same outcome: acknowledged, no second email.
        env = _outcome_envelope(hub)
        broker = loop.broker()
        try:
            broker.publish([loop.topology.event(env, "outcome.referrer")])
        finally:
            broker.close()
        wait_for(lambda: handler.stats["duplicates"] == 1, 20, "the duplicate to be acknowledged")
        assert inbox.count() == 1 and len(_receipts(loop)) == 1
        assert _parked(loop) == []


def _outcome_envelope(hub: HubService) -> Envelope:
    from sqlalchemy import select

    from mashlink.hub.models import OutboxRow

    with hub.factory() as session:
        rows = session.execute(select(OutboxRow).where(OutboxRow.message_type == "outcome")).scalars().all()
        envs = [hub.codec.decode(bytes(r.payload)) for r in rows]
    return next(e for e in envs if e.recipient == "referrer")


def test_delivered_ids_survive_a_restart(make: Any) -> None:
    with smtp_server() as (port, inbox):
        loop, hub = make(_notify(port))
        runner, _handler = make.notifier(loop)
        _decide(hub)
        wait_for(lambda: inbox.count() == 1 and bool(_receipts(loop)), 20, "the first email")
        runner.stop()
        broker = loop.broker()
        try:
            broker.publish([loop.topology.event(_outcome_envelope(hub), "outcome.referrer")])
        finally:
            broker.close()
        _runner2, handler2 = make.notifier(loop)  # a new process reads the receipts
        wait_for(lambda: handler2.stats["duplicates"] == 1, 20, "the repeat to be recognised")
        assert inbox.count() == 1


def test_smtp_down_is_retried_then_parked_with_reason_and_replayable(make: Any) -> None:
    port = free_port()  # nothing listens here yet
    loop, hub = make(_notify(port))
    _runner, handler = make.notifier(loop)
    outcome_id = _decide(hub)
    wait_for(lambda: len(_parked(loop)) == 1, 30, "the outcome to be parked")
    parked = _parked(loop)[0]
    assert parked.reason.value == "delivery_limit" and parked.attempts == 3
    assert "smtp ConnectionRefusedError" in parked.detail
    assert handler.stats["retried"] == 2
    receipts = _receipts(loop)
    assert [(r["outcome_id"], r["status"]) for r in receipts] == [(outcome_id, "parked")]
    assert "gave up after 3" in receipts[0]["detail"]

    # The mail server is back: the operator replays the parked outcome and it is delivered once.
    with smtp_server(port) as (_port, inbox):
        broker = loop.broker()
        try:
            broker.dlq_replay(parked.message_id, loop.topology.referrer_outcomes_queue)
        finally:
            broker.close()
        wait_for(lambda: inbox.count() == 1, 20, "the replayed email")
        wait_for(lambda: _receipts(loop)[-1]["status"] == "delivered", 10, "the delivered receipt")
    assert _parked(loop) == []


def test_refused_recipient_is_parked_at_once(make: Any) -> None:
    class Refusing:
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                              options: list[str]) -> str:
            return "550 5.1.1 no such mailbox"

    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        loop, hub = make(_notify(port))
        _runner, handler = make.notifier(loop)
        _decide(hub)
        wait_for(lambda: len(_parked(loop)) == 1, 20, "the outcome to be parked")
    finally:
        controller.stop()
    parked = _parked(loop)[0]
    assert parked.reason.value == "processing_failure" and parked.attempts == 1
    assert "smtp recipient refused [550]" in parked.detail
    assert handler.stats["retried"] == 0


def test_webhook_is_signed_with_idempotency_key_and_acked_on_2xx(make: Any) -> None:
    hook = Hook()
    with webhook_server(hook) as url:
        loop, hub = make(_notify(free_port(), default={"kind": "webhook", "url": url, "secret": WEBHOOK_SECRET}))
        _runner, _handler = make.notifier(loop)
        outcome_id = _decide(hub, outcome="early_help")
        wait_for(lambda: hook.count() == 1 and bool(_receipts(loop)), 20, "the web hook call")
    headers, body = hook.requests[0]
    verify(WEBHOOK_SECRET.encode(), headers, body)  # raises if not signed with the channel's secret
    assert headers[IDEMPOTENCY_HEADER] == outcome_id
    payload = json.loads(body)
    assert payload["outcome_id"] == outcome_id and payload["referral_id"] == "REF-0001"
    assert payload["outcome"] == "early_help" and "early help" in payload["subject"]
    assert payload["contact"]["phone"] == "01632 960000"
    leaked = personal_in(body.decode())
    assert not leaked, leaked
    assert [(r["status"], r["channel"], r["kind"], r["detail"]) for r in _receipts(loop)] == [
        ("delivered", "default", "webhook", "http 200")]


def test_webhook_500_is_retried_then_parked(make: Any) -> None:
    hook = Hook(statuses=[500, 503, 500])
    with webhook_server(hook) as url:
        loop, hub = make(_notify(free_port(), default={"kind": "webhook", "url": url, "secret": WEBHOOK_SECRET}))
        _runner, handler = make.notifier(loop)
        _decide(hub)
        wait_for(lambda: len(_parked(loop)) == 1, 30, "the outcome to be parked")
    assert hook.count() == 3
    assert len({h[IDEMPOTENCY_HEADER] for h, _b in hook.requests}) == 1  # same key on every attempt
    parked = _parked(loop)[0]
    assert parked.reason.value == "delivery_limit" and "webhook http 500" in parked.detail
    assert handler.stats["retried"] == 2 and handler.stats["delivered"] == 0


def test_webhook_500_then_200_is_delivered_once(make: Any) -> None:
    hook = Hook(statuses=[500])
    with webhook_server(hook) as url:
        loop, hub = make(_notify(free_port(), default={"kind": "webhook", "url": url, "secret": WEBHOOK_SECRET}))
        _runner, handler = make.notifier(loop)
        _decide(hub)
        wait_for(lambda: handler.stats["delivered"] == 1, 20, "delivery after one retry")
    assert hook.count() == 2 and _parked(loop) == []
    assert [r["attempts"] for r in _receipts(loop)] == [2]


def test_webhook_4xx_is_parked_at_once(make: Any) -> None:
    hook = Hook(statuses=[410])
    with webhook_server(hook) as url:
        loop, hub = make(_notify(free_port(), default={"kind": "webhook", "url": url, "secret": WEBHOOK_SECRET}))
        make.notifier(loop)
        _decide(hub)
        wait_for(lambda: len(_parked(loop)) == 1, 20, "the outcome to be parked")
    parked = _parked(loop)[0]
    assert parked.reason.value == "processing_failure" and parked.detail == "webhook http 410"
    assert hook.count() == 1


def test_referrer_without_channel_and_no_default_is_parked(make: Any) -> None:
    loop, hub = make(_notify(free_port(), default=None, by_referrer={"Another School": {
        "kind": "email", "to": "office@another.example"}}))
    make.notifier(loop)
    _decide(hub)
    wait_for(lambda: len(_parked(loop)) == 1, 20, "the outcome to be parked")
    assert "no channel for this referrer" in _parked(loop)[0].detail


def test_outcome_not_signed_by_the_hub_is_parked_unsent(make: Any) -> None:
    from mashlink.connectors.wiring import connector_broker_factory

    with smtp_server() as (port, inbox):
        loop, hub = make(_notify(port))
        make.notifier(loop)
        _decide(hub)
        wait_for(lambda: inbox.count() == 1, 20, "the genuine email")
        genuine = _outcome_envelope(hub)
        forged = genuine.model_copy(update={"message_id": uuid.uuid4().hex, "sender": "police-synth",
                                            "signature": None,
                                            "body": {**genuine.body, "outcome_id": uuid.uuid4().hex}})
        agency = connector_broker_factory(loop.settings, "police-synth", topology=loop.topology)()
        try:
            agency.publish([loop.topology.event(forged, "outcome.referrer")])
        finally:
            agency.close()
        wait_for(lambda: len(_parked(loop)) == 1, 20, "the forged outcome to be parked")
        assert _parked(loop)[0].reason.value == "bad_signature"
        assert inbox.count() == 1


def test_delivered_and_refused_outcomes_are_reported_to_the_hub_as_receipts(make: Any) -> None:
    from tests.events.support import ReceiptTap

    with smtp_server() as (port, inbox):
        loop, hub = make(_notify(port))
        tap = ReceiptTap(loop, "referrer")
        try:
            _runner, handler = make.notifier(loop)
            outcome_id = _decide(hub)
            wait_for(lambda: len(tap.receipts()) == 1, 20, "the delivered receipt")
            [receipt] = tap.receipts()
            assert (receipt.agency_id, receipt.status.value, receipt.channel, receipt.outcome_id,
                    receipt.referral_id, receipt.detail) == ("referrer", "delivered", "email", outcome_id,
                                                             "REF-0001", "smtp 250")
            env = _outcome_envelope(hub)
            assert receipt.event_message_id == env.message_id
            assert tap.envelopes[0].sender == "referrer-notifier"  # its own key (development), never the hub's
            assert "dsl@" not in tap.envelopes[0].model_dump_json()  # never the address

            # A repeat sends no email; the same receipt goes again (one effect at the hub).
            broker = loop.broker()
            try:
                broker.publish([loop.topology.event(env, "outcome.referrer")])
            finally:
                broker.close()
            wait_for(lambda: len(tap.receipts()) == 2, 20, "the repeated receipt")
            assert inbox.count() == 1 and handler.stats["duplicates"] == 1
            assert tap.receipts()[1].receipt_id == receipt.receipt_id
        finally:
            tap.close()


def test_parked_outcome_is_reported_as_a_failed_receipt(make: Any) -> None:
    from tests.events.support import ReceiptTap

    hook = Hook(statuses=[404])
    with webhook_server(hook) as url:
        loop, hub = make(_notify(free_port(), default={"kind": "webhook", "url": url, "secret": WEBHOOK_SECRET}))
        tap = ReceiptTap(loop, "referrer")
        try:
            make.notifier(loop)
            outcome_id = _decide(hub)
            wait_for(lambda: len(tap.receipts()) == 1, 20, "the failed receipt")
            [receipt] = tap.receipts()
            assert (receipt.status.value, receipt.channel, receipt.outcome_id, receipt.detail) == (
                "failed", "webhook", outcome_id, "webhook http 404")
            wait_for(lambda: len(_parked(loop)) == 1, 20, "the parked outcome")
        finally:
            tap.close()
