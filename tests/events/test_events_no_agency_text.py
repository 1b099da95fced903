"""Text written by the agency's system never reaches a receipt, a parked message or a WARNING log line.

An HL7 engine's NAK carries free text (MSA-3, ERR-8) that can quote the
record it could not file; a web hook's error body and an OS error's path can
name a person too. The failure reason is logged at WARNING, sent in the
failed receipt and copied into the team's escalation, so it keeps only codes
and fixed descriptions. Real peers (an MLLP engine on TCP, an HTTP server, a
folder) and a real hub and broker (memory:// and RabbitMQ); logs captured
through the production JSON pipeline.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog

from mashlink.connectors.events.channels import DropFolderEventChannel, WebhookEventChannel
from mashlink.connectors.events.fhir_channel import FhirEventChannel
from mashlink.connectors.events.hl7_channel import Hl7EventChannel, ack_reason
from mashlink.connectors.events.options import (
    DropFolderEventsOptions,
    FhirEventsOptions,
    Hl7EventsOptions,
    WebhookEventsOptions,
)
from mashlink.connectors.health.fhir_client import FhirClient, FhirClientSettings
from mashlink.connectors.health.hl7_ack import AckCode, AckError, build_ack
from mashlink.mapping.paths.hl7_er7 import peek_header
from mashlink.connectors.health.mllp import ThreadedMllpServer
from mashlink.config.logging import configure_logging
from tests.events.support import FAST, ReceiptTap, decide, events_loop, parked, start_events, wait_for

#: A synthetic person the agency's system "quotes" in its error text.
NAME = "Ada Testchild"
QUOTES = (NAME, "Testchild", "14/03/2016", "ZZ99 1ZZ")
WARNING_LEVELS = ("warning", "error", "critical", "exception")


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    saved = structlog.get_config()
    configure_logging("DEBUG", json=True)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]

    yield lines
    structlog.configure(**saved)


def _quoted(text: str) -> list[str]:
    return [q for q in QUOTES if q.lower() in text.lower()]


def _assert_no_quotes_at_warning(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    loud = [line for line in lines if str(line.get("level", "")).lower() in WARNING_LEVELS]
    assert loud, "expected the failure to be logged at WARNING or above"
    assert _quoted(json.dumps(loud)) == [], loud
    return loud


class NamingEngine:
    """An HL7 engine that refuses (AR) or fails (AE) every document, quoting the patient in MSA-3 and ERR-8."""

    def __init__(self, code: AckCode, error: int) -> None:
        self.code = code
        self.error = error
        self.received = 0

    def __call__(self, data: bytes) -> str:
        self.received += 1
        control_id, _type, trigger, version = peek_header(data)
        return build_ack(self.code, control_id=control_id, version=version, trigger=trigger,
                         text=f"{NAME} not found", error=AckError(
                             self.error, f"No patient {NAME} born 14/03/2016 at ZZ99 1ZZ", "PID", 1, 3))


@pytest.mark.parametrize("code, error, expected", [
    (AckCode.REJECT, 204, "hl7 AR 204 (application reject; unknown key identifier)"),
    (AckCode.ERROR, 207, "gave up after 3 attempt(s); last error: hl7 AE 207 (application error; "
                         "application internal error)"),
])
def test_hl7_err_text_naming_a_patient_never_reaches_receipt_dlq_or_warning_logs(
        tmp_path: Path, broker_url: str, json_logs: Callable[[], list[dict[str, Any]]],
        code: AckCode, error: int, expected: str) -> None:
    engine = NamingEngine(code, error)
    with ThreadedMllpServer(engine) as server, events_loop(tmp_path, broker_url) as (loop, hub):
        tap = ReceiptTap(loop, "health-synth")
        channel = Hl7EventChannel(server.host, server.port, timeout_s=5)
        service = start_events(loop, "health-synth", Hl7EventsOptions(channel="hl7v2", **FAST), channel)
        try:
            decide(hub, "health-synth")
            wait_for(lambda: tap.statuses() == ["failed"], 30, "the failed receipt")
            [receipt] = tap.receipts()
            assert receipt.detail == expected
            wait_for(lambda: len(parked(loop, "health-synth")) == 1, 20, "the parked event")
            [message] = parked(loop, "health-synth")
            assert _quoted(message.detail) == [] and message.detail == expected
            row = service.handler.store.get(receipt.event_message_id)
            assert row is not None and row.status == "failed" and _quoted(row.detail) == []
            assert engine.received == (1 if code is AckCode.REJECT else 3)
        finally:
            service.stop()
            tap.close()
    loud = _assert_no_quotes_at_warning(json_logs())
    assert any(line["event"] == "events.parked" for line in loud)


@contextmanager
def naming_web_hook(status: int, body: dict[str, Any] | None = None) -> Iterator[str]:
    """A server that refuses every request with an error body quoting a pupil (or ``body``)."""

    class Handler(BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            data = json.dumps(body or {"error": f"pupil {NAME} (born 14/03/2016) is not on roll"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json" if body else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET = do_PUT = _refuse  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/events"
    finally:
        server.shutdown()
        server.server_close()


def test_web_hook_error_body_naming_a_pupil_is_not_repeated(
        tmp_path: Path, json_logs: Callable[[], list[dict[str, Any]]]) -> None:
    with naming_web_hook(422) as url, events_loop(tmp_path, "memory://") as (loop, hub):
        tap = ReceiptTap(loop, "education-synth")
        options = WebhookEventsOptions(channel="webhook", url=url, **FAST)
        service = start_events(loop, "education-synth", options, WebhookEventChannel(url, b"k" * 32, timeout_s=5))
        try:
            decide(hub, "education-synth")
            wait_for(lambda: tap.statuses() == ["failed"], 20, "the failed receipt")
            assert tap.receipts()[0].detail == "webhook http 422"
        finally:
            service.stop()
            tap.close()
    _assert_no_quotes_at_warning(json_logs())


def test_fhir_operation_outcome_naming_a_patient_is_not_repeated(
        tmp_path: Path, json_logs: Callable[[], list[dict[str, Any]]]) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "processing", "expression": ["Communication.about"],
        "diagnostics": f"Referral for {NAME} (born 14/03/2016, ZZ99 1ZZ) is not on this server"}]}
    with naming_web_hook(422, outcome) as url, events_loop(tmp_path, "memory://") as (loop, hub):
        tap = ReceiptTap(loop, "health-synth")
        client = FhirClient(FhirClientSettings(base_url=url.rsplit("/", 1)[0], timeout=5))
        options = FhirEventsOptions(channel="fhir", **FAST)
        service = start_events(loop, "health-synth", options, FhirEventChannel(client))
        try:
            decide(hub, "health-synth")
            wait_for(lambda: tap.statuses() == ["failed"], 20, "the failed receipt")
            assert tap.receipts()[0].detail == "fhir 422: request refused"
        finally:
            service.stop()
            tap.close()
            client.close()
    _assert_no_quotes_at_warning(json_logs())


def test_drop_folder_error_names_the_errno_not_the_path(
        tmp_path: Path, json_logs: Callable[[], list[dict[str, Any]]]) -> None:
    home = tmp_path / f"{NAME} home drive"
    home.mkdir()
    (home / "events").write_text("a file where the share's folder should be\n", encoding="utf-8")
    root = home / "events"
    with events_loop(tmp_path, "memory://") as (loop, hub):
        tap = ReceiptTap(loop, "police-synth")
        options = DropFolderEventsOptions(channel="drop_folder", path=root, **FAST)
        service = start_events(loop, "police-synth", options, DropFolderEventChannel(root))
        try:
            decide(hub, "police-synth")
            wait_for(lambda: tap.statuses() == ["failed"], 20, "the failed receipt")
            detail = tap.receipts()[0].detail
            assert detail == ("gave up after 3 attempt(s); last error: drop folder not writable "
                              "(NotADirectoryError ENOTDIR)"), detail
        finally:
            service.stop()
            tap.close()
    _assert_no_quotes_at_warning(json_logs())


def test_ack_reason_keeps_codes_and_fixed_meanings_only() -> None:
    assert ack_reason("AE", "207") == "hl7 AE 207 (application error; application internal error)"
    assert ack_reason("CR", "9001") == "hl7 CR 9001 (commit reject; error code outside HL7 table 0357)"
    assert ack_reason("AR", f"{NAME}") == "hl7 AR (application reject; non-numeric error code (not shown))"
    assert ack_reason(f"{NAME}", None) == "hl7 ACK (unrecognised MSA-1)"
    assert ack_reason("", "") == "hl7 ACK (no MSA-1)"
