"""Web-hook delivery over real HTTP on loopback: signatures, retries, answers published as responses."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import httpx
import pytest

from tests.delivery.conftest import AGENCY, HOOK_KEY, Collector, make_enquiry
from mashlink.connectors.delivery.connector import Model3Connector, Model3Delivery, WebhookChannel
from mashlink.connectors.delivery.models import AgencyAnswer, AnswerFinding, AnswerMatch, DeliveryTask
from mashlink.connectors.delivery.pending import PendingStore
from mashlink.connectors.delivery.receiver import AnswerReceiver
from mashlink.connectors.delivery.signing import SignatureError, sign_headers, verify
from mashlink.connectors.delivery.simulators import WebhookAgencySimulator
from mashlink.connectors.delivery.webhook import AnswerServer, DeliveryFailed, WebhookSender
from mashlink.schemas.codes import AgencyKind, ResponseStatus
from mashlink.schemas.enquiry import EnquiryResponse
from mashlink.schemas.person import BirthDate, HumanName, Person


def test_signature_verification_rules() -> None:
    body = b'{"a": 1}'
    headers = sign_headers(HOOK_KEY, body, now=1_700_000_000)
    assert verify(HOOK_KEY, headers, body, now=1_700_000_100) == 1_700_000_000
    for key, data, now, rule in (
        (b"another-key-0a1b2c3d4e012345678", body, 1_700_000_000, "signature_mismatch"),
        (HOOK_KEY, b'{"a": 2}', 1_700_000_000, "signature_mismatch"),
        (HOOK_KEY, body, 1_700_000_000 + 301, "replay_window"),
    ):
        with pytest.raises(SignatureError) as err:
            verify(key, headers, data, now=now)
        assert err.value.rule == rule
    with pytest.raises(SignatureError) as err:
        verify(HOOK_KEY, {}, body)
    assert err.value.rule == "signature_missing"


def _answer(task: DeliveryTask) -> AgencyAnswer:
    record = Person(person_id="MIS-77", names=[HumanName(given=["Ava"], family="Testchild")],
                    birth_date=BirthDate(value=datetime(2015, 4, 1).date()))
    return AgencyAnswer(
        enquiry_id=task.task_id, agency_id=task.agency_id, status=ResponseStatus.INFORMATION_FOUND,
        responder="School safeguarding lead", answered_at=datetime.now(UTC), people=[record],
        matches=[AnswerMatch(subject_person_id="s1", record_person_id="MIS-77", confidence=0.97)],
        findings=[AnswerFinding(finding_id="att-2024", subject_person_id="MIS-77", category="education.attendance",
                                record_id="ATT/2024/77", summary="Attendance 84% this year",
                                attributes={"persistent_absence": True})])


def test_webhook_delivery_retries_then_answer_becomes_response(hub_side: Collector, receiver: AnswerReceiver,
                                                               pending: PendingStore) -> None:
    with AnswerServer(receiver, HOOK_KEY) as answers, \
            WebhookAgencySimulator(HOOK_KEY, HOOK_KEY, _answer, fail_first=2) as agency:
        sender = WebhookSender(agency.task_url, HOOK_KEY, max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.05,
                               rng=random.Random(1))
        connector = Model3Connector(AGENCY, AgencyKind.EDUCATION,
                                    Model3Delivery(AGENCY, WebhookChannel(sender, reply_to=answers.answer_url),
                                                   pending))
        enquiry = make_enquiry()
        [first] = connector.handle(enquiry)
        assert first.status is ResponseStatus.PARTIAL and first.more_to_follow and first.sequence == 1
        assert agency.requests == 3 and sender.attempts_made == 3  # two 503s, then delivered
        assert list(agency.tasks) == [enquiry.enquiry_id]
        connector.handle(enquiry)  # redelivered enquiry: same idempotency key, still one task
        assert len(agency.tasks) == 1
        agency.wait_answers()
        assert [r.status_code for r in agency.answer_replies] == [200]
        [env] = hub_side.until(1)
    response = EnquiryResponse.model_validate(env.body)
    assert env.sender == AGENCY and env.correlation_id == enquiry.referral_id and env.enquiry_id == enquiry.enquiry_id
    assert response.sequence == 2 and response.status is ResponseStatus.INFORMATION_FOUND
    [finding] = response.findings
    assert finding.source.agency_id == AGENCY and finding.source.record_id == "ATT/2024/77"
    assert finding.source.system == "Synthetic MIS"
    assert pending.get(enquiry.enquiry_id).answered == {"1": response.response_id}  # type: ignore[union-attr]


def test_bad_signature_and_invalid_answer_are_refused(hub_side: Collector, receiver: AnswerReceiver,
                                                      pending: PendingStore) -> None:
    enquiry = make_enquiry()
    pending.remember(enquiry, "webhook")
    task = DeliveryTask(task_id=enquiry.enquiry_id, agency_id=AGENCY, delivered_at=datetime.now(UTC),
                        answer_by=enquiry.due_at, enquiry=enquiry)
    body = _answer(task).model_dump_json().encode()
    with AnswerServer(receiver, HOOK_KEY) as server:
        forged = httpx.post(server.answer_url, content=body,
                            headers=sign_headers(b"not-the-agency-key-0a1b2c3d4e012", body))
        assert forged.status_code == 401 and forged.json()["rule"] == "signature_mismatch"
        stale = httpx.post(server.answer_url, content=body,
                           headers=sign_headers(HOOK_KEY, body, now=datetime.now(UTC).timestamp() - 3600))
        assert stale.status_code == 401 and stale.json()["rule"] == "replay_window"
        bad = json.loads(body)
        bad["findings"][0]["category"] = "police.arrest_charge"  # not an education category
        bad_body = json.dumps(bad).encode()
        invalid = httpx.post(server.answer_url, content=bad_body, headers=sign_headers(HOOK_KEY, bad_body))
        assert invalid.status_code == 422
        assert invalid.json()["field"].startswith("$.findings[0]")
        unknown = json.loads(body)
        unknown["enquiry_id"] = "never-sent"
        unknown_body = json.dumps(unknown).encode()
        refused = httpx.post(server.answer_url, content=unknown_body, headers=sign_headers(HOOK_KEY, unknown_body))
        assert refused.status_code == 422 and refused.json()["rule"] == "unknown_enquiry"
        good = httpx.post(server.answer_url, content=body, headers=sign_headers(HOOK_KEY, body))
        assert good.status_code == 200 and good.json()["sequence"] == 2
        repeat = httpx.post(server.answer_url, content=body, headers=sign_headers(HOOK_KEY, body))
        assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
        envelopes = hub_side.until(2)
    # Only the good answer was published; its repeat has the same message id (the hub's inbox drops it).
    assert len({e.message_id for e in envelopes}) == 1


def test_webhook_gives_up_after_attempts_and_refuses_on_4xx() -> None:
    with WebhookAgencySimulator(HOOK_KEY, HOOK_KEY, fail_first=10) as agency:
        sender = WebhookSender(agency.task_url, HOOK_KEY, max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.02)
        enquiry = make_enquiry()
        task = DeliveryTask(task_id=enquiry.enquiry_id, agency_id=AGENCY, delivered_at=datetime.now(UTC),
                            answer_by=enquiry.due_at, enquiry=enquiry)
        with pytest.raises(DeliveryFailed):
            sender.send(task)
        assert agency.requests == 3
        agency.fail_remaining = 0
        wrong_key = WebhookSender(agency.task_url, b"wrong-key-0a0b0c0d0e0f0g0h0i0j0k0", max_attempts=3)
        from mashlink.connectors.delivery.webhook import DeliveryRefused
        with pytest.raises(DeliveryRefused) as refused:
            wrong_key.send(task)
        assert refused.value.status == 401 and agency.rejected_signatures == 1 and agency.tasks == {}
