"""The connector's durable watch list and Task records, and the `mashlink health` tools as real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from mashlink.connectors.health.adt import AdtFeed, InMemoryWatchList, WatchedSubject
from mashlink.connectors.health.mllp import ThreadedMllpServer
from mashlink.connectors.health.simulators import seeded_patients
from mashlink.connectors.health.state import HealthState
from mashlink.connectors.health.synthetic import corrupt_nhs_number, patient_person
from mashlink.ops.commands.health import split_messages
from mashlink.schemas.codes import AgencyKind, LawfulBasis, Rag
from mashlink.schemas.enquiry import Enquiry
from mashlink.schemas.identifiers import Identifier, IdentifierSystem

MASHLINK = str(Path(sys.executable).with_name("mashlink"))
PATIENTS = seeded_patients()


def _enquiry(enquiry_id: str, referral_id: str, *people) -> Enquiry:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    return Enquiry(enquiry_id=enquiry_id, referral_id=referral_id, agency_id="trust", agency_kind=AgencyKind.HEALTH,
                   subjects=list(people), rag=Rag.RED, requested_at=now, due_at=now + timedelta(hours=4),
                   lawful_basis=[LawfulBasis.CHILDREN_ACT_1989_S47], requester="Synthshire MASH")


def _nhs(value: str) -> Identifier:
    return Identifier(system=IdentifierSystem.NHS_NUMBER, value=value)


def test_watch_list_survives_restart_and_forgets_by_referral(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    a, b = PATIENTS[0], PATIENTS[1]
    state = HealthState(path)
    assert state.watch_enquiry(_enquiry("E1", "R1", patient_person(a, "child-a"))) == 2  # NHS number + MRN
    assert state.watch_enquiry(_enquiry("E1", "R1", patient_person(a, "child-a"))) == 0  # redelivery
    state.watch_enquiry(_enquiry("E2", "R2", patient_person(b, "child-b")))

    reopened = HealthState(path)
    assert reopened.lookup([_nhs(a.nhs_number)]) == [
        WatchedSubject(person_ref="child-a", reason="open_enquiry", referral_id="R1", enquiry_id="E1")]
    mrn = Identifier(system=IdentifierSystem.HOSPITAL_MRN, value=b.mrn, scope="RXX01")
    assert [s.person_ref for s in reopened.lookup([mrn])] == ["child-b"]
    other_scope = Identifier(system=IdentifierSystem.HOSPITAL_MRN, value=b.mrn, scope="RYY01")
    assert reopened.lookup([other_scope]) == []  # a hospital number is only unique inside its trust
    assert reopened.forget_referral("R1") == 2
    assert reopened.lookup([_nhs(a.nhs_number)]) == [] and reopened.watched_count() == 2


def test_untrusted_nhs_number_is_never_watched_nor_matched(tmp_path: Path) -> None:
    state = HealthState(tmp_path / "s.sqlite")
    child = patient_person(PATIENTS[2], "child-c").model_copy(update={"identifiers": [
        _nhs(corrupt_nhs_number(PATIENTS[2].nhs_number))]})
    assert state.watch_enquiry(_enquiry("E3", "R3", child)) == 0
    assert state.lookup([_nhs(corrupt_nhs_number(PATIENTS[2].nhs_number))]) == []


def test_task_records_progress_and_close_with_the_referral(tmp_path: Path) -> None:
    state = HealthState(tmp_path / "t.sqlite")
    e1 = _enquiry("E1", "R1", patient_person(PATIENTS[0]))
    e2 = _enquiry("E2", "R2", patient_person(PATIENTS[1]))
    state.remember_tasks(e1, ["t1"])
    state.remember_tasks(e2, ["t2"])
    state.remember_tasks(e1, ["t-other"])  # redelivery keeps the first record
    assert [(e.enquiry_id, seq) for e, seq in state.open_tasks()] == [("E1", 0), ("E2", 0)]
    state.mark_answered("E1", 2, final=True)
    assert [e.enquiry_id for e, _ in HealthState(tmp_path / "t.sqlite").open_tasks()] == ["E2"]
    assert [e.enquiry_id for e in state.close_referral_tasks("R2", "outcome received")] == ["E2"]
    assert state.open_tasks() == [] and state.task_record("E2") == (0, "outcome received")


def test_split_messages_accepts_lines_crlf_and_mllp_frames() -> None:
    two = "MSH|^~\\&|A|B|||20240101||ADT^A04|1|P|2.4\nPID|1\n\nMSH|^~\\&|A|B|||20240101||ADT^A08|2|P|2.4\r\nPID|1\r\n"
    assert split_messages(two.encode()) == [b"MSH|^~\\&|A|B|||20240101||ADT^A04|1|P|2.4\rPID|1",
                                            b"MSH|^~\\&|A|B|||20240101||ADT^A08|2|P|2.4\rPID|1"]
    framed = b"\x0bMSH|x\rPID|1\x1c\x0d\x0bMSH|y\x1c\x0d"
    assert split_messages(framed) == [b"MSH|x\rPID|1", b"MSH|y"]


def test_sample_adt_then_send_hl7_prints_each_ack(tmp_path: Path) -> None:
    sample = tmp_path / "a04.hl7"
    made = subprocess.run([MASHLINK, "health", "sample-adt", "--index", "0", "--control-id", "CTRL77",
                           "-o", str(sample)], capture_output=True, timeout=60)
    assert made.returncode == 0, made.stderr.decode()
    alerts = []
    watch = InMemoryWatchList()
    watch.watch(_nhs(PATIENTS[0].nhs_number), WatchedSubject(person_ref="child-1", reason="open_enquiry"))
    feed = AdtFeed(agency_id="trust", watch_list=watch, publish_alert=alerts.append)
    with ThreadedMllpServer(feed.receiver()) as server:
        ok = subprocess.run([MASHLINK, "health", "send-hl7", str(sample), "--port", str(server.port)],
                            capture_output=True, timeout=60)
        assert ok.returncode == 0, ok.stderr.decode()
        assert "CTRL77 -> AA (MSA-2 CTRL77)" in ok.stdout.decode()
        assert len(alerts) == 1 and alerts[0].person_ref == "child-1"

        mixed = tmp_path / "mixed.hl7"
        mixed.write_text(sample.read_text() + "MSH|^~\\&|SYNTHPAS|RXX01|||20240101||ADT^A04|BAD1|P|2.4\nEVN|A04\n")
        bad = subprocess.run([MASHLINK, "health", "send-hl7", str(mixed), "--port", str(server.port)],
                             capture_output=True, timeout=60)
        out = bad.stdout.decode()
        assert bad.returncode == 1
        assert "1: CTRL77 -> AA" in out
        assert "2: BAD1 -> AE" in out and "ERR 101" in out  # PID-3 missing, named by the listener
    refused = subprocess.run([MASHLINK, "health", "send-hl7", str(sample), "--port", str(server.port)],
                             capture_output=True, timeout=60)
    assert refused.returncode == 2 and b"MLLP 127.0.0.1" in refused.stderr


def test_fhir_simulator_command_serves_seeded_patients_until_sigterm() -> None:
    proc = subprocess.Popen([MASHLINK, "health", "fhir-simulator", "--port", "0", "--patients", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("FHIR R4 simulator at http://127.0.0.1:"), first
        base = first.split(" at ", 1)[1].split(" ", 1)[0]
        listed = [proc.stdout.readline() for _ in range(4)]
        assert PATIENTS[0].nhs_number in listed[0]
        bundle = httpx.get(f"{base}/Patient", params={
            "identifier": f"https://fhir.nhs.uk/Id/nhs-number|{PATIENTS[0].nhs_number}"}, timeout=10).json()
        assert [e["resource"]["id"] for e in bundle["entry"]] == [f"pat-{PATIENTS[0].nhs_number}"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_mllp_peer_command_answers_ref_i12_with_findings() -> None:
    from mashlink.connectors.health.hl7_connector import Hl7ReferralConnector
    from mashlink.schemas.codes import FindingCategory, ResponseStatus

    proc = subprocess.Popen([MASHLINK, "health", "mllp-peer", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("MLLP trust peer on 127.0.0.1:"), first
        port = int(first.split("127.0.0.1:", 1)[1].split(" ", 1)[0])
        connector = Hl7ReferralConnector("trust", "127.0.0.1", port, timeout=10)
        (response,) = connector.handle(_enquiry("E9", "R9", patient_person(PATIENTS[0], "child-1")))
        assert response.status is ResponseStatus.INFORMATION_FOUND
        assert FindingCategory.HEALTH_CHILD_PROTECTION_FLAG in {f.category for f in response.findings}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "answered 1 REF^I12" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_cp_flag_watch_list_reads_active_child_protection_flags_over_http() -> None:
    from mashlink.connectors.health.adt_service import CompositeWatchList, FhirCpFlagWatchList
    from mashlink.connectors.health.fhir_client import FhirClient, FhirClientSettings
    from mashlink.connectors.health.fhir_simulator import FhirStore, ThreadedFhirSimulator
    from mashlink.connectors.health.simulators import seed_fhir_store

    store = FhirStore()
    seed_fhir_store(store, 3)  # patient 0 has a child-protection Flag, 1 and 2 do not
    with ThreadedFhirSimulator(store) as sim, FhirClient(FhirClientSettings(base_url=sim.base_url)) as client:
        cp = FhirCpFlagWatchList(client, "trust")
        assert cp.lookup([_nhs(PATIENTS[0].nhs_number)]) == [WatchedSubject(
            person_ref=f"trust:Patient/pat-{PATIENTS[0].nhs_number}", reason="child_protection_flag")]
        assert cp.lookup([_nhs(PATIENTS[1].nhs_number)]) == []
        assert cp.lookup([_nhs(corrupt_nhs_number(PATIENTS[0].nhs_number))]) == []  # untrusted: not looked up
        store.resources["Flag"][f"cp-pat-{PATIENTS[0].nhs_number}"]["status"] = "inactive"
        assert cp.lookup([_nhs(PATIENTS[0].nhs_number)]) == []
        watch = InMemoryWatchList()
        watch.watch(_nhs(PATIENTS[1].nhs_number), WatchedSubject(person_ref="child-b", reason="open_enquiry"))
        both = CompositeWatchList([watch, cp])
        assert [s.person_ref for s in both.lookup([_nhs(PATIENTS[1].nhs_number)])] == ["child-b"]
