"""Drop-folder delivery with real files: atomic task files, inbox answers to processed/ or failed/."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from tests.delivery.conftest import AGENCY, Collector, make_enquiry
from mashlink.config.atomic_files import atomic_write_text
from mashlink.connectors.delivery.connector import DropFolderChannel, Model3Connector, Model3Delivery
from mashlink.connectors.delivery.dropfolder import DropFolder, InboxPoller, deliver_task
from mashlink.connectors.delivery.models import AgencyAnswer, DeliveryTask
from mashlink.connectors.delivery.pending import PendingStore
from mashlink.connectors.delivery.receiver import AnswerReceiver
from mashlink.connectors.delivery.simulators import WorklistFolderAnswerer
from mashlink.connectors.files import read_reason
from mashlink.schemas.codes import AgencyKind, ResponseStatus
from mashlink.schemas.enquiry import EnquiryResponse


def test_task_files_are_never_seen_partially_written(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path / "agency")
    enquiry = make_enquiry()
    # Big tasks (many subjects' worth of narrative in questions) make a torn write likely if it could happen.
    stop = threading.Event()
    problems: list[str] = []
    seen: set[str] = set()

    def reader() -> None:
        while not stop.is_set():
            for path in folder.outbox.glob("*.json"):
                try:
                    DeliveryTask.model_validate_json(path.read_bytes())
                    seen.add(path.name)
                except FileNotFoundError:
                    continue
                except Exception as exc:  # noqa: BLE001 - any parse failure is a torn file
                    problems.append(f"{path.name}: {type(exc).__name__}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(150):
            e = enquiry.model_copy(update={"enquiry_id": f"enq-{i % 5}", "questions": ["x" * 20000] * (1 + i % 7)})
            deliver_task(folder, DeliveryTask(task_id=e.enquiry_id, agency_id=AGENCY, delivered_at=datetime.now(UTC),
                                              answer_by=e.due_at, enquiry=e))
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert sorted(p.name for p in folder.outbox.iterdir()) == [f"enq-{i}.json" for i in range(5)]  # no temporaries left
    assert seen


def _good_answer(task: DeliveryTask) -> AgencyAnswer:
    return AgencyAnswer(enquiry_id=task.task_id, agency_id=task.agency_id, status=ResponseStatus.NOT_KNOWN,
                        responder="Education MASH officer", answered_at=datetime.now(UTC),
                        note="No pupil record matches.")


def test_answers_from_the_inbox_become_responses_or_fail_with_reason(
        tmp_path: Path, hub_side: Collector, receiver: AnswerReceiver, pending: PendingStore) -> None:
    folder = DropFolder(tmp_path / "agency")
    connector = Model3Connector(AGENCY, AgencyKind.EDUCATION,
                                Model3Delivery(AGENCY, DropFolderChannel(folder), pending))
    enquiry = make_enquiry()
    [ack] = connector.handle(enquiry)
    assert ack.more_to_follow and "worklist file" in (ack.note or "")
    written = WorklistFolderAnswerer(folder, _good_answer).poll_once()
    assert len(written) == 1

    # An invalid answer (bad status), unparsable JSON, an answer to an unknown enquiry, and a half-written file.
    bad = json.loads(written[0].read_text())
    bad["status"] = "maybe"
    atomic_write_text(folder.inbox / "bad-status.json", json.dumps(bad))
    (folder.inbox / "broken.json").write_text('{"enquiry_id": "x",\n  "status": }')
    stranger = dict(json.loads(written[0].read_text()), enquiry_id="never-delivered")
    atomic_write_text(folder.inbox / "stranger.json", json.dumps(stranger))
    (folder.inbox / ".in-progress.json.tmp").write_text('{"partial": ')
    (folder.inbox / "still-writing.json.tmp").write_text('{"partial": ')

    poller = InboxPoller(folder, receiver)
    result = poller.poll_once()
    assert sorted(result.published) == [written[0].name]
    assert sorted(result.failed) == ["bad-status.json", "broken.json", "stranger.json"]
    assert sorted(p.name for p in folder.inbox.iterdir()) == [".in-progress.json.tmp", "still-writing.json.tmp"]
    assert [p.name for p in folder.processed.iterdir()] == [written[0].name]

    reasons = {p.name: read_reason(p) for p in folder.failed.glob("*.reason.txt")}
    assert reasons["bad-status.json.reason.txt"]["field"] == "$.status"
    assert reasons["bad-status.json.reason.txt"]["rule"] == "enum"
    assert reasons["broken.json.reason.txt"]["rule"] == "json_syntax"
    assert reasons["broken.json.reason.txt"]["position"] == "line 2 column 13"
    assert reasons["stranger.json.reason.txt"]["rule"] == "unknown_enquiry"
    assert (folder.failed / "broken.json").read_text().startswith('{"enquiry_id"')  # kept as received

    [env] = hub_side.until(1)
    response = EnquiryResponse.model_validate(env.body)
    assert response.status is ResponseStatus.NOT_KNOWN and response.sequence == 2
    assert response.enquiry_id == enquiry.enquiry_id and response.referral_id == enquiry.referral_id

    # The same answer dropped again (the tool re-sent it) is processed idempotently: same message id.
    atomic_write_text(folder.inbox / written[0].name, (folder.processed / written[0].name).read_text())
    assert poller.poll_once().published == [written[0].name]
    envelopes = hub_side.until(2)
    assert len(envelopes) == 2 and envelopes[0].message_id == envelopes[1].message_id
    assert sorted(p.name for p in folder.processed.iterdir()) == sorted([written[0].name,
                                                                         written[0].stem + ".1.json"])


def test_answer_stays_in_inbox_when_the_broker_is_unavailable(tmp_path: Path, pending: PendingStore) -> None:
    from mashlink.broker.client import Broker
    from mashlink.broker.codec import EnvelopeCodec
    from mashlink.broker.topology import Topology
    from mashlink.connectors.delivery.answers import AnswerPublisher

    from tests.delivery.conftest import KEYS

    unreachable = AnswerPublisher(lambda: Broker("amqp://guest:guest@127.0.0.1:1//", EnvelopeCodec(KEYS, signer=AGENCY),
                                                 Topology("dlvdown"), confirm_timeout_s=1,
                                                 reconnect_attempts=1, retry_backoff_s=0.05), AGENCY)
    receiver = AnswerReceiver(AGENCY, AgencyKind.EDUCATION, pending, unreachable, system="Synthetic MIS")
    folder = DropFolder(tmp_path / "agency")
    connector = Model3Connector(AGENCY, AgencyKind.EDUCATION, Model3Delivery(AGENCY, DropFolderChannel(folder), pending))
    connector.handle(make_enquiry())
    [answer] = WorklistFolderAnswerer(folder, _good_answer).poll_once()
    result = InboxPoller(folder, receiver).poll_once()
    assert result.retry == [answer.name] and result.published == [] and result.failed == []
    assert answer.exists() and list(folder.failed.iterdir()) == []
