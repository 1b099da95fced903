"""Model 3 delivery configured in ``options.delivery``: web hook end to end on loopback, drop folder, deliver-only."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mashlink.broker.client import Broker
from mashlink.broker.codec import EnvelopeCodec
from mashlink.broker.messages import Delivery, HandlerResult
from mashlink.broker.topology import Topology
from mashlink.config.settings import MashlinkSettings
from mashlink.connectors.delivery.connector import Model3Connector
from mashlink.connectors.delivery.dropfolder import DropFolder
from mashlink.connectors.delivery.models import AgencyAnswer, AnswerFinding, AnswerMatch, DeliveryTask
from mashlink.connectors.delivery.simulators import WebhookAgencySimulator, WorklistFolderAnswerer
from mashlink.connectors.delivery.wiring import AnswerEndpointService, SearchAndDeliverConnector
from mashlink.connectors.simulators.ctf_writer import ctf_from_population
from mashlink.connectors.simulators.population import generate_population
from mashlink.connectors.social_care.synthetic import write_cin_file
from mashlink.schemas.codes import AgencyKind, HandlingCode, ResponseStatus
from mashlink.schemas.enquiry import EnquiryResponse
from mashlink.schemas.envelope import Envelope
from mashlink.schemas.identifiers import IdentifierSystem
from mashlink.schemas.person import HumanName, Person

from tests.wiring.helpers import build, enquiry_for, settings_for, subject_like, write_config

HOOK_KEY = "synthetic-hook-key-0a1b2c3d4eabcdef"
ANSWER_KEY = "synthetic-answer-key-fedcba98765x43210"


class HubSide:
    """Drains the responses queue as the hub would (memory:// is shared inside the process)."""

    def __init__(self, settings: MashlinkSettings, topology: Topology, agency_id: str) -> None:
        keys = {"hub": settings.signing_key("hub"), agency_id: settings.signing_key(agency_id)}
        self.broker = Broker(settings.broker_url, EnvelopeCodec(keys), topology)
        self.broker.declare([agency_id])
        self.envelopes: list[Envelope] = []
        self.consumer = self.broker.consumer([topology.responses_queue], self._handle, name="test-hub")

    def _handle(self, deliveries: list[Delivery]) -> list[HandlerResult]:
        self.envelopes.extend(d.envelope for d in deliveries)
        return [HandlerResult.ack() for _ in deliveries]

    def until(self, count: int, timeout_s: float = 30.0) -> list[EnquiryResponse]:
        deadline = time.monotonic() + timeout_s
        while len(self.envelopes) < count and time.monotonic() < deadline:
            self.consumer.run_once(0.2)
        return [EnquiryResponse.model_validate(e.body) for e in self.envelopes]


@pytest.fixture
def topology(unique_name: str) -> Topology:
    return Topology(f"twm{unique_name}")


@pytest.fixture
def population():  # type: ignore[no-untyped-def]
    return generate_population(4242, as_of=date.today())


def _team_answer(task: DeliveryTask) -> AgencyAnswer:
    """The education team's answer from its own tool: one record, one finding."""
    record = Person(person_id="TOOL-77", names=[HumanName(given=["Synth"], family="Pupil")])
    return AgencyAnswer(
        enquiry_id=task.task_id, agency_id=task.agency_id, status=ResponseStatus.INFORMATION_FOUND,
        responder="School safeguarding lead", answered_at=datetime.now(UTC), people=[record],
        matches=[AnswerMatch(subject_person_id=task.enquiry.subjects[0].person_id, record_person_id="TOOL-77")],
        findings=[AnswerFinding(finding_id="tool-att-1", subject_person_id="TOOL-77",
                                category="education.attendance", record_id="ATT/77", summary="Attendance 81%")])


@pytest.mark.parametrize("separate_answer_key", [False, True])
def test_webhook_delivery_end_to_end_on_loopback(tmp_path: Path, topology: Topology, population,  # type: ignore[no-untyped-def]
                                                 monkeypatch: pytest.MonkeyPatch, separate_answer_key: bool) -> None:
    monkeypatch.setenv("TEST_EDU_HOOK_KEY", HOOK_KEY)
    key = HOOK_KEY.encode()
    answer_key = ANSWER_KEY.encode() if separate_answer_key else key
    delivery: dict[str, object] = {
        "mode": "webhook", "answer_listen": "127.0.0.1:0", "key_env": "TEST_EDU_HOOK_KEY",
        "backoff_base_s": 0.01, "backoff_max_s": 0.05, "system": "Synth education tool"}
    if separate_answer_key:
        monkeypatch.setenv("TEST_EDU_ANSWER_KEY", ANSWER_KEY)
        delivery["answer_key_env"] = "TEST_EDU_ANSWER_KEY"
    with WebhookAgencySimulator(key, answer_key, _team_answer, fail_first=1) as tool:
        delivery["url"] = tool.task_url
        config = write_config(tmp_path / "c.yaml", [{"id": "edu-x", "kind": "education", "connector": "ctf", "options": {
            "drop_folder": "ctf", "la_code": "999", "delivery": delivery}}])
        settings = settings_for(config, tmp_path / "state")
        hub = HubSide(settings, topology, "edu-x")
        built = build(settings, "edu-x", topology)
        connector = built.connector
        assert isinstance(connector, SearchAndDeliverConnector)
        incoming = tmp_path / "state" / "ctf" / "incoming"
        (incoming / "school.xml").write_bytes(ctf_from_population(population))
        connector.search.ingest_pending()
        child = next(c for c in population.people() if c.upn and not c.unborn)
        (record,) = connector.search.index.by_upn(child.upn)
        enquiry = enquiry_for("edu-x", AgencyKind.EDUCATION, subject_like(record.person))
        built.start_services()
        try:
            endpoint = built.service("answer-server")
            assert isinstance(endpoint, AnswerEndpointService)
            (first,) = connector.handle(enquiry)  # delivered (after one 503) and searched
            assert first.status is ResponseStatus.PARTIAL and first.more_to_follow and first.sequence == 1
            assert first.findings and "delivered" in (first.note or "").lower()
            assert tool.requests == 2 and list(tool.tasks) == [enquiry.enquiry_id]
            assert tool.tasks[enquiry.enquiry_id].reply_to == endpoint.answer_url
            tool.wait_answers()
            assert [r.status_code for r in tool.answer_replies] == [200]
            (second,) = hub.until(1)
            # A forged answer (wrong key) is refused with 401 and publishes nothing.
            forged = tool.answer_task(tool.tasks[enquiry.enquiry_id], key=b"another-key-0a1b2c3d4eabcdef")
            assert forged is not None and forged.status_code == 401
            if separate_answer_key:
                # Whoever holds only the task key cannot answer: answers need the answer key.
                with_task_key = tool.answer_task(tool.tasks[enquiry.enquiry_id], key=key)
                assert with_task_key is not None and with_task_key.status_code == 401
        finally:
            built.stop_services()
            hub.broker.close()
    assert second.enquiry_id == enquiry.enquiry_id and second.sequence == 2
    assert second.status is ResponseStatus.INFORMATION_FOUND and second.responder == "School safeguarding lead"
    (finding,) = second.findings
    assert finding.source.agency_id == "edu-x" and finding.source.system == "Synth education tool"
    assert finding.source.organisation == "999" and finding.source.record_id == "ATT/77"
    assert len(hub.envelopes) == 1


def test_drop_folder_delivery_with_search_for_social_care(tmp_path: Path, topology: Topology) -> None:
    config = write_config(tmp_path / "c.yaml", [{"id": "csc-x", "kind": "social_care", "connector": "cin", "options": {
        "inbox": "inbox", "settle_s": 0,
        "delivery": {"mode": "drop_folder", "path": "worklist", "poll_interval_s": 0.05}}}])
    settings = settings_for(config, tmp_path / "state")
    hub = HubSide(settings, topology, "csc-x")
    built = build(settings, "csc-x", topology)
    connector = built.connector
    assert isinstance(connector, SearchAndDeliverConnector)
    write_cin_file(tmp_path / "state" / "inbox" / "cin.xml", children=3)
    built.service("social-care-ingest").run_once()  # type: ignore[attr-defined]
    (child,) = connector.search.index.by_identifier(IdentifierSystem.LA_CHILD_ID, "CH0000002", scope="999")
    enquiry = enquiry_for("csc-x", AgencyKind.SOCIAL_CARE, subject_like(child.person))
    (first,) = connector.handle(enquiry)
    assert first.status is ResponseStatus.PARTIAL and first.more_to_follow and first.findings
    folder = DropFolder(tmp_path / "state" / "worklist")
    assert [p.name for p in folder.outbox.iterdir()] == [f"{enquiry.enquiry_id}.json"]

    def declined(task: DeliveryTask) -> AgencyAnswer:
        return AgencyAnswer(enquiry_id=task.task_id, agency_id=task.agency_id, status=ResponseStatus.DECLINED,
                            declined_reason="Held under a court order; contact the team manager.",
                            responder="CSC team manager", answered_at=datetime.now(UTC))

    (written,) = WorklistFolderAnswerer(folder, declined).poll_once()
    built.start_services()
    try:
        (second,) = hub.until(1)
    finally:
        built.stop_services()
        hub.broker.close()
    assert second.sequence == 2 and second.status is ResponseStatus.DECLINED
    assert not written.exists() and (folder.processed / written.name).exists()


def test_police_deliver_only_and_dnd_never_leaves_in_the_teams_answer(tmp_path: Path, topology: Topology) -> None:
    config = write_config(tmp_path / "c.yaml", [{"id": "police-x", "kind": "police", "connector": "pole", "options": {
        "contact": "Police MASH, 01632 960000", "force_code": "ZZ",
        "delivery": {"mode": "drop_folder", "path": "worklist", "search": False, "poll_interval_s": 0.05}}}])
    settings = settings_for(config, tmp_path / "state")
    hub = HubSide(settings, topology, "police-x")
    built = build(settings, "police-x", topology)
    assert isinstance(built.connector, Model3Connector) and [s.name for s in built.services] == ["answer-inbox", "agency-events"]
    subject = Person(person_id="child-1", names=[HumanName(given=["Synth"], family="Child")])
    enquiry = enquiry_for("police-x", AgencyKind.POLICE, subject)
    (ack,) = built.connector.handle(enquiry)
    assert ack.status is ResponseStatus.PARTIAL and ack.more_to_follow and not ack.findings

    def with_dnd(task: DeliveryTask) -> AgencyAnswer:
        person = Person(person_id="ZZP1", names=[HumanName(given=["Synth"], family="Child")])
        return AgencyAnswer(
            enquiry_id=task.task_id, agency_id=task.agency_id, status=ResponseStatus.INFORMATION_FOUND,
            responder="Police MASH team", answered_at=datetime.now(UTC), people=[person],
            matches=[AnswerMatch(subject_person_id="child-1", record_person_id="ZZP1")],
            findings=[AnswerFinding(finding_id="intel-1", subject_person_id="ZZP1",
                                    category="police.information_held", record_id="INT/1",
                                    summary="Secret intelligence text", handling_code=HandlingCode.DO_NOT_DISSEMINATE)])

    WorklistFolderAnswerer(DropFolder(tmp_path / "state" / "worklist"), with_dnd).poll_once()
    built.start_services()
    try:
        (answer,) = hub.until(1)
    finally:
        built.stop_services()
        hub.broker.close()
    (finding,) = answer.findings
    assert "Secret" not in finding.summary and finding.contact == "Police MASH, 01632 960000"
    assert finding.source.organisation == "ZZ"
    assert "Secret" not in hub.envelopes[0].model_dump_json()
