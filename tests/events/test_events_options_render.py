"""``options.events`` errors name the field; templates render each event kind, minimised.

No broker here: option models are validated as ``mashlink config check`` and
the connector factory do; rendering uses the shipped templates and a
folder of the operator's own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mashlink.broker.messages import Delivery
from mashlink.config.errors import ConfigError
from mashlink.config.referrer import MashContact
from mashlink.connectors.events.decode import EventRejected, decode_event
from mashlink.connectors.events.hl7_channel import build_mdm_t02
from mashlink.connectors.events.render import EventRenderer, default_agency_templates_dir
from mashlink.mapping.paths.hl7_er7 import FastMessage
from mashlink.schemas.codes import AgencyKind
from mashlink.schemas.envelope import Envelope, MessageType
from tests.wiring.helpers import build, issue_paths, settings_for, write_config

NOW = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)


def _config_error(tmp_path: Path, agency: dict[str, Any]) -> dict[str, str]:
    config = write_config(tmp_path / "c.yaml", [agency])
    with pytest.raises(ConfigError) as exc:
        build(settings_for(config, tmp_path / "state"), agency["id"])
    return issue_paths(exc.value)


@pytest.mark.parametrize(("events", "path", "rule_part"), [
    ({"channel": "sms"}, "events.channel", "must be one of fhir, hl7v2, webhook, drop_folder (got 'sms')"),
    ({}, "events.channel", "channel is required: one of fhir, hl7v2, webhook, drop_folder"),
    ({"channel": "fhir"}, "events", "channel fhir is for health connectors"),
    ({"channel": "drop_folder", "max_attempts": 0}, "events.max_attempts", "greater than or equal to 1"),
    ({"channel": "webhook", "url": "ftp://tool.example"}, "events.url", "http:// or https://"),
    ({"channel": "drop_folder", "colour": "blue"}, "events.colour", "unknown key"),
    ({"channel": "webhook", "url": "https://tool.example/e", "ack_listen": "nowhere"}, "events.ack_listen",
     "must be host:port"),
    ({"channel": "webhook", "url": "https://tool.example/e", "ack_listen": "0.0.0.0:8470"}, "events",
     "ack_url is required when ack_listen binds every interface"),
    ({"channel": "drop_folder", "retry_backoff_s": 10, "retry_backoff_max_s": 1}, "events",
     "retry_backoff_s must not exceed retry_backoff_max_s"),
])
def test_social_care_events_option_errors_name_the_field(tmp_path: Path, events: dict[str, Any], path: str,
                                                         rule_part: str) -> None:
    issues = _config_error(tmp_path, {"id": "sc", "kind": "social_care", "connector": "cin",
                                      "options": {"events": events}})
    assert list(issues) == [f"agencies[0].options.{path}"]
    assert rule_part in issues[f"agencies[0].options.{path}"]


def test_health_connectors_refuse_the_other_trusts_channel(tmp_path: Path) -> None:
    issues = _config_error(tmp_path, {"id": "trust", "kind": "health", "connector": "hl7v2",
                                      "options": {"host": "engine", "port": 2575, "events": {"channel": "fhir"}}})
    assert issues == {"agencies[0].options.events": "channel fhir needs connector: fhir; an HL7 v2 "
                                                    "trust takes hl7v2, webhook or drop_folder"}


def test_webhook_events_need_a_url_and_a_key_from_the_environment(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    no_url = _config_error(tmp_path, {"id": "sc", "kind": "social_care", "connector": "cin",
                                      "options": {"events": {"channel": "webhook"}}})
    assert no_url == {"agencies[0].options.events.url": "required: no delivery web hook to default to"}
    monkeypatch.delenv("MASHLINK_TEST_NO_EVENTS_KEY", raising=False)
    no_key = _config_error(tmp_path, {"id": "sc", "kind": "social_care", "connector": "cin", "options": {
        "events": {"channel": "webhook", "url": "https://tool.example/events", "key_env": "MASHLINK_TEST_NO_EVENTS_KEY"}}})
    assert no_key == {"agencies[0].options.events.key_env":
                      "environment variable MASHLINK_TEST_NO_EVENTS_KEY is not set or empty"}


def test_a_templates_folder_missing_an_event_kind_is_refused_at_start(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "_shared").mkdir(parents=True)
    (templates / "_shared" / "outcome.txt.j2").write_text("Subject: outcome {{ referral_id }}\n\nText\n")
    issues = _config_error(tmp_path, {"id": "sc", "kind": "social_care", "connector": "cin", "options": {
        "events": {"channel": "drop_folder", "templates_dir": str(templates)}}})
    [(path, rule)] = issues.items()
    assert path == "agencies[0].options.events.templates_dir"
    assert rule.startswith("no usable template for decision, escalation, alert, withdrawal in")


def _delivery(message_type: MessageType, body: dict[str, Any], *, recipient: str = "police-x",
              sender: str = "hub") -> Delivery:
    env = Envelope(message_id="m-1", correlation_id=body.get("referral_id", "REF-9"), message_type=message_type,
                   sender=sender, recipient=recipient, sent_at=NOW, body=body)
    return Delivery(envelope=env, queue="q", redelivered=False, attempts=1)


def _renderer(kind: AgencyKind) -> EventRenderer:
    return EventRenderer(default_agency_templates_dir(), kind, MashContact(), "Synthshire County Council")


def test_decision_renders_without_its_rationale() -> None:
    event = decode_event(_delivery(MessageType.DECISION, {
        "decision_id": "D-1", "referral_id": "REF-9", "outcome": "immediate_protection",
        "rationale": "Police intelligence (synthetic) about Ada Testchild's father.", "decided_by": "manager-1",
        "decided_at": NOW.isoformat(), "notify": ["police-x"]}), "police-x", "hub")
    message = _renderer(AgencyKind.POLICE).render(event)
    assert message.subject == "MASH decision on referral REF-9: immediate protection"
    assert "immediate action has been taken" in message.text and "joint investigation" in message.text
    assert "Ada" not in message.text and "intelligence" not in message.text
    assert "Decision (7 December 2026)" in message.text


def test_escalation_alert_and_withdrawal_render_what_the_agency_must_do() -> None:
    renderer = _renderer(AgencyKind.EDUCATION)
    escalation = decode_event(_delivery(MessageType.ESCALATION, {
        "escalation_id": "E-1", "enquiry_id": "ENQ-9", "referral_id": "REF-9", "agency_id": "police-x",
        "rag": "red", "level": "overdue", "due_at": NOW.isoformat(), "raised_at": NOW.isoformat()}), "police-x", "hub")
    text = renderer.render(escalation)
    assert text.subject == "OVERDUE: MASH enquiry ENQ-9 (red) for referral REF-9"
    assert "was due by 10:30 on 7 December 2026" in text.text and "Answer the enquiry" in text.text
    alert = decode_event(_delivery(MessageType.ALERT, {
        "alert_id": "A-1", "kind": "unscheduled_care_attendance", "agency_id": "health-x", "agency_kind": "health",
        "referral_id": "REF-9", "person_ref": "health-x:Patient/1", "occurred_at": NOW.isoformat(),
        "location": "RXX01", "detail": "ED attendance (synthetic)"}), "police-x", "hub")
    message = renderer.render(alert)
    assert message.subject == "MASH alert for referral REF-9: unscheduled care attendance"
    assert "RXX01" in message.text and "health-x:Patient/1" not in message.text


def test_events_not_for_this_agency_are_rejected_with_the_field() -> None:
    outcome = {"outcome_id": "O-1", "referral_id": "REF-9", "decision_id": "D-1", "outcome": "nfa_advice",
               "recipient": "police-x", "sent_at": NOW.isoformat()}
    with pytest.raises(EventRejected) as other:
        decode_event(_delivery(MessageType.OUTCOME, outcome, recipient="health-x"), "police-x", "hub")
    assert other.value.detail == "envelope.recipient is another agency, not police-x"
    with pytest.raises(EventRejected) as forged:
        decode_event(_delivery(MessageType.OUTCOME, outcome, sender="police-x"), "police-x", "hub")
    assert forged.value.reason.value == "processing_failure"
    with pytest.raises(EventRejected) as enquiry:
        decode_event(_delivery(MessageType.ENQUIRY, {"referral_id": "REF-9"}), "police-x", "hub")
    assert enquiry.value.reason.value == "unknown_message_type"
    with pytest.raises(EventRejected) as bad:
        decode_event(_delivery(MessageType.OUTCOME, {**outcome, "outcome": "prison"}), "police-x", "hub")
    assert bad.value.reason.value == "invalid_body" and "body.outcome" in bad.value.detail


def test_mdm_t02_escapes_the_text_and_keeps_one_line_per_repetition() -> None:
    event = decode_event(_delivery(MessageType.OUTCOME, {
        "outcome_id": "O-1", "referral_id": "REF|9^&", "decision_id": "D-1", "outcome": "nfa_advice",
        "recipient": "police-x", "sent_at": NOW.isoformat()}), "police-x", "hub")
    message = _renderer(AgencyKind.HEALTH).render(event)
    parsed = FastMessage.parse(build_mdm_t02(event, message))
    assert (parsed.message_type, parsed.trigger) == ("MDM", "T02")
    assert parsed.value("PID", 3) == "REF|9^&" and parsed.value("TXA", 12) == "m-1"
    lines = [parsed.part(rep) for rep in parsed.repetitions(parsed.raw("OBX", 5))]
    assert lines[0] == message.subject and "\n".join(lines[2:]) == message.text.rstrip("\n")
