"""An education team's tool takes events by web hook: signed, idempotent, receipts back.

A real HTTP server on 127.0.0.1 receives the POSTs; the hub publishes the
outcome; the education agency's ``agency-events`` service consumes it from
memory:// or RabbitMQ.
"""

from __future__ import annotations

from pathlib import Path

from mashlink.connectors.delivery.signing import IDEMPOTENCY_HEADER, verify
from mashlink.connectors.events.channels import WebhookEventChannel
from mashlink.connectors.events.options import WebhookEventsOptions
from tests.events.support import (
    FAST,
    ReceiptTap,
    decide,
    events_loop,
    no_personal_data,
    outcome_envelope,
    parked,
    replay,
    republish,
    start_events,
    wait_for,
)
from tests.referrer.support import Hook, webhook_server

AGENCY = "education-synth"
KEY = b"education-events-hook-key-01234x56789"


def _options() -> WebhookEventsOptions:
    return WebhookEventsOptions(channel="webhook", url="http://127.0.0.1:1/unused", **FAST)


def test_outcome_posted_signed_with_idempotency_key_and_receipt(tmp_path: Path, broker_url: str) -> None:
    hook = Hook()
    with webhook_server(hook) as url, events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, _options(), WebhookEventChannel(url, KEY, timeout_s=5))
        try:
            outcome_id = decide(hub, AGENCY, outcome="section_17")
            wait_for(lambda: tap.statuses() == ["delivered"], 20, "the delivered receipt")
            [(headers, body)] = hook.requests
            verify(KEY, headers, body)  # raises when the signature is wrong
            payload = hook.payloads()[0]
            assert headers[IDEMPOTENCY_HEADER] == payload["event_id"]
            assert (payload["event"], payload["outcome_id"], payload["agency_id"]) == ("outcome", outcome_id, AGENCY)
            for expected in ("child in need assessment", "designated safeguarding lead",
                             "Be ready to share attendance", "Who to contact", "REF-0001"):
                assert expected in payload["text"], expected
            assert no_personal_data(body.decode("utf-8")) == []
            receipt = tap.receipts()[0]
            assert (receipt.channel, receipt.detail, receipt.agency_id, receipt.outcome_id) == (
                "webhook", "http 200", AGENCY, outcome_id)

            # Redelivered: not POSTed again, the same receipt again.
            env, routing_key = outcome_envelope(hub, outcome_id)
            republish(loop, env, routing_key)
            wait_for(lambda: len(tap.receipts()) == 2, 20, "the repeated receipt")
            assert hook.count() == 1 and service.handler.stats.duplicates == 1
            assert tap.receipts()[0].receipt_id == tap.receipts()[1].receipt_id
        finally:
            service.stop()
            tap.close()


def test_http_500_retried_then_failed_and_parked_then_replayed_once(tmp_path: Path, broker_url: str) -> None:
    hook = Hook(statuses=[500, 500, 500])
    with webhook_server(hook) as url, events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, _options(), WebhookEventChannel(url, KEY, timeout_s=5))
        try:
            outcome_id = decide(hub, AGENCY)
            wait_for(lambda: tap.statuses() == ["failed"], 30, "the failed receipt")
            assert hook.count() == 3
            failed = tap.receipts()[0]
            assert failed.outcome_id == outcome_id
            assert failed.detail == "gave up after 3 attempt(s); last error: webhook http 500"
            wait_for(lambda: len(parked(loop, AGENCY)) == 1, 20, "the parked outcome")
            [message] = parked(loop, AGENCY)
            assert message.reason.value == "processing_failure" and "webhook http 500" in message.detail

            replay(loop, AGENCY, message.message_id)  # the tool is back: statuses are empty, so 200
            wait_for(lambda: tap.statuses() == ["failed", "delivered"], 20, "delivery after the replay")
            assert hook.count() == 4 and parked(loop, AGENCY) == []
        finally:
            service.stop()
            tap.close()


def test_http_4xx_is_permanent_failed_at_once(tmp_path: Path, broker_url: str) -> None:
    hook = Hook(statuses=[410])
    with webhook_server(hook) as url, events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        service = start_events(loop, AGENCY, _options(), WebhookEventChannel(url, KEY, timeout_s=5))
        try:
            decide(hub, AGENCY)
            wait_for(lambda: tap.statuses() == ["failed"], 20, "the failed receipt")
            assert hook.count() == 1 and tap.receipts()[0].detail == "webhook http 410"
            wait_for(lambda: len(parked(loop, AGENCY)) == 1, 20, "the parked outcome")
        finally:
            service.stop()
            tap.close()


def test_the_tool_acknowledges_later_with_a_signed_post_to_ack_url(tmp_path: Path, broker_url: str) -> None:
    import httpx

    from mashlink.connectors.delivery.signing import sign_headers

    hook = Hook()
    with webhook_server(hook) as url, events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, AGENCY)
        options = WebhookEventsOptions(channel="webhook", url=url, ack_listen="127.0.0.1:0", **FAST)
        service = start_events(loop, AGENCY, options, WebhookEventChannel(url, KEY, timeout_s=5))
        try:
            decide(hub, AGENCY)
            wait_for(lambda: tap.statuses() == ["delivered"], 20, "the delivered receipt")
            payload = hook.payloads()[0]
            ack_url = payload["ack_url"]
            assert ack_url.startswith("http://127.0.0.1:") and ack_url.endswith("/mashlink/events/ack")

            def post(body: bytes, key: bytes = KEY) -> httpx.Response:
                return httpx.post(ack_url, content=body, headers=sign_headers(key, body), timeout=10)

            assert post(b'{"event_id":"%s"}' % payload["event_id"].encode(), b"x" * 32).status_code == 401
            assert post(b'{"event_id":""}').status_code == 422
            assert post(b'{"event_id":"never-sent"}').status_code == 404
            reply = post(b'{"event_id":"%s"}' % payload["event_id"].encode())
            assert (reply.status_code, reply.json()["status"]) == (200, "acknowledged")
            wait_for(lambda: tap.statuses() == ["delivered", "acknowledged"], 20, "the acknowledged receipt")
            assert tap.receipts()[1].detail == "acknowledged by the agency's tool"
            again = post(b'{"event_id":"%s"}' % payload["event_id"].encode())
            assert (again.status_code, again.json()["status"]) == (200, "already")
            wait_for(lambda: len(tap.receipts()) == 3, 20, "the repeated acknowledgement receipt")
            assert tap.receipts()[2].receipt_id == tap.receipts()[1].receipt_id
        finally:
            service.stop()
            tap.close()


def test_a_2xx_reply_saying_acknowledged_is_an_explicit_acknowledgement(tmp_path: Path, broker_url: str) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = json.dumps({"acknowledged": True}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/events"
    try:
        with events_loop(tmp_path, broker_url) as (loop, hub):
            tap = ReceiptTap(loop, AGENCY)
            service = start_events(loop, AGENCY, _options(), WebhookEventChannel(url, KEY, timeout_s=5))
            try:
                decide(hub, AGENCY)
                wait_for(lambda: tap.statuses() == ["delivered", "acknowledged"], 20, "both receipts")
                assert tap.receipts()[0].detail == "http 201"
            finally:
                service.stop()
                tap.close()
    finally:
        server.shutdown()
        server.server_close()
