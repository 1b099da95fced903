"""A person's decision on an uncertain identity match: stored, audited, applied (SQLite and PostgreSQL).

A synthetic referral (child c1 "Ada Testchild") goes to health, which answers
with records it linked to c1 by demographics the hub is not sure of
(candidates, held "for review"). A practitioner confirms one (its child
protection flag joins the chronology) and rejects another (withheld). Also:
an agency whose own practitioner confirmed a match (method manual) is
honoured without re-scoring, unless the hub holds a different NHS number.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mashlink.broker.messages import Delivery, Verdict
from mashlink.config.security import Role
from mashlink.hub.errors import InvalidInput, NotFound
from mashlink.hub.match_review import MatchDecisionRequest
from mashlink.matching.rules import MatchDecision
from mashlink.hub.models import MatchDecisionRow
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.schemas.codes import MatchMethod
from mashlink.schemas.envelope import Envelope, MessageType
from tests.hub.api_support import Tokens, serve
from tests.hub.hub_support import FakeClock, referral_data, synthetic_nhs_number

REF = "REF-0001"
HEALTH = "health-synth"
PAS = "Synth PAS"
CHILD_NHS = synthetic_nhs_number(123456)  # c1's NHS number in referral_data


def _record(pid: str, given: str, dob: str = "2016-03-14", nhs: str | None = None) -> dict[str, Any]:
    person: dict[str, Any] = {"person_id": pid, "names": [{"given": [given], "family": "Testchild"}],
                              "birth_date": {"value": dob}, "sex": "female",
                              "addresses": [{"lines": ["1 Synthetic Row"], "postcode": "ZZ99 1ZZ"}]}
    if nhs:
        person["identifiers"] = [{"system": "nhs_number", "value": nhs}]
    return person


def _claim(pid: str, record_id: str, *, method: str = "demographic", confidence: float = 0.9,
           candidate: bool = False) -> dict[str, Any]:
    return {"subject_person_id": "c1", "record_person_id": pid, "method": method, "confidence": confidence,
            "candidate": candidate,
            "source": {"agency_kind": "health", "agency_id": HEALTH, "system": PAS, "record_id": record_id}}


def _finding(fid: str, pid: str, record_id: str, category: str = "health.child_protection_flag") -> dict[str, Any]:
    return {"finding_id": fid, "subject_person_id": pid, "category": category, "summary": f"synthetic {fid}",
            "start": "2025-04-01",
            "source": {"agency_kind": "health", "agency_id": HEALTH, "system": PAS, "record_id": record_id}}


def _answer(hub: HubService, enquiry_id: str, people: list[dict], matches: list[dict], findings: list[dict]) -> None:
    body = {"response_id": uuid.uuid4().hex, "enquiry_id": enquiry_id, "referral_id": REF, "agency_id": HEALTH,
            "agency_kind": "health", "status": "information_found", "responder": "synthetic safeguarding team",
            "responded_at": "2025-06-02T10:00:00+00:00", "people": people, "matches": matches,
            "findings": findings}
    env = Envelope(message_id=uuid.uuid4().hex, correlation_id=REF, enquiry_id=enquiry_id,
                   message_type=MessageType.ENQUIRY_RESPONSE, sender=HEALTH, recipient="hub",
                   sent_at=datetime(2025, 6, 2, 10, tzinfo=timezone.utc), body=body)
    [verdict] = hub.handle_responses([Delivery(envelope=env, queue="responses", redelivered=False, attempts=1)])
    assert verdict.verdict is Verdict.ACK, verdict


def _referral_with_candidates(hub: HubService) -> None:
    """Health links two records to c1 by demographics; the hub is unsure of both (candidates)."""
    enquiry = hub.submit_referral(referral_data(REF)).enquiry_for(HEALTH).enquiry_id
    _answer(hub, enquiry,
            people=[_record("h1", "Adah"),                   # given-name typo: only a person can tell
                    _record("h2", "Ada", dob="2016-03-15")],  # one digit of the date of birth differs
            matches=[_claim("h1", "PAS-1"), _claim("h2", "PAS-2")],
            findings=[_finding("F-CPP", "h1", "PAS-1"), _finding("F-ED", "h2", "PAS-2", "health.ed_attendance")])


def _request(record_id: str, confirmed: bool, reason: str = "checked with the health visitor",
             **changes: Any) -> MatchDecisionRequest:
    fields = {"subject_person_id": "c1", "agency_id": HEALTH, "source_system": PAS, "record_id": record_id,
              "reason": reason, "confirmed": confirmed, **changes}
    return MatchDecisionRequest(**fields)  # type: ignore[arg-type]


def _placed(hub: HubService) -> tuple[set[str], set[str]]:
    view = hub.linked_view(REF)
    return {e.finding_id for e in view.chronology}, {e.finding_id for e in view.for_review}


# ---------------------------------------------------------------- service
def test_confirm_moves_a_candidate_into_the_chronology(hub: HubService) -> None:
    _referral_with_candidates(hub)
    assert _placed(hub) == (set(), {"F-CPP", "F-ED"})

    stored = hub.decide_match(REF, _request("PAS-1", True), actor="Pat Practitioner (sub-7)")
    assert stored.confirmed and stored.by == "Pat Practitioner (sub-7)" and stored.record_id == "PAS-1"
    assert stored.note == "checked with the health visitor"

    view = hub.linked_view(REF)
    entry = next(e for e in view.chronology if e.finding_id == "F-CPP")
    assert entry.subject_ref == "c1" and entry.match_method is MatchMethod.MANUAL and not entry.candidate
    child = view.person("c1")
    assert child is not None
    [match] = child.matches
    assert match.source.record_id == "PAS-1" and match.decided_by == "Pat Practitioner (sub-7)"
    assert match.method is MatchMethod.MANUAL and "confirmed_by_person" in match.reasons
    assert [e.finding_id for e in view.for_review] == ["F-ED"]  # the other candidate still waits


def test_reject_withholds_the_findings(hub: HubService) -> None:
    _referral_with_candidates(hub)
    hub.decide_match(REF, _request("PAS-1", True), actor="pat")
    hub.decide_match(REF, _request("PAS-2", False, reason="different child: date of birth checked"), actor="sam")
    assert _placed(hub) == ({"F-CPP"}, set())
    view = hub.linked_view(REF)
    child = view.person("c1")
    assert child is not None
    [rejected] = child.rejected
    assert rejected.source.record_id == "PAS-2" and rejected.decided_by == "sam"
    assert any(i.code == "findings_withheld_rejected_match" for i in view.issues)


def test_a_later_decision_supersedes_the_earlier_and_both_are_kept_and_audited(hub: HubService,
                                                                              clock: FakeClock) -> None:
    _referral_with_candidates(hub)
    first = hub.decide_match(REF, _request("PAS-1", True), actor="pat")
    clock.advance(minutes=5)
    second = hub.decide_match(REF, _request("PAS-1", False, reason="GP says a cousin"), actor="manager-mo")
    assert second.at > first.at
    assert _placed(hub) == (set(), {"F-ED"})  # withheld now

    decisions = hub.match_decisions(REF)
    assert [(d.confirmed, d.decided_by, d.current) for d in decisions] == [(True, "pat", False),
                                                                           (False, "manager-mo", True)]
    assert decisions[0].superseded_by == decisions[1].id
    assert decisions[1].reason == "GP says a cousin"

    events = hub.audit_events(referral_id=REF, action="match.*")
    assert [(e.action, e.actor, e.reason) for e in events] == [
        ("match.confirmed", "pat", "checked with the health visitor"),
        ("match.rejected", "manager-mo", "GP says a cousin")]
    assert events[1].detail == {"subject_person_id": "c1", "agency_id": HEALTH, "source_system": PAS,
                                "record_id": "PAS-1", "match_decision_id": decisions[1].id,
                                "supersedes": decisions[0].id}
    assert hub.verify_audit().ok

    hub.decide_match(REF, _request("PAS-1", True, reason="strategy meeting confirmed"), actor="pat")
    assert _placed(hub) == ({"F-CPP"}, {"F-ED"})
    with hub.factory() as session:
        rows = session.execute(select(MatchDecisionRow).order_by(MatchDecisionRow.id)).scalars().all()
        assert [r.superseded_by for r in rows] == [rows[1].id, rows[2].id, None]


@pytest.mark.parametrize(("changes", "field"), [
    ({"subject_person_id": "c9"}, "subject_person_id"),
    ({"subject_person_id": "m1"}, "agency_id"),          # a referral person, but health linked nothing to her
    ({"agency_id": "police-synth"}, "agency_id"),
    ({"source_system": "Other PAS"}, "source_system"),
    ({"record_id": "PAS-404"}, "record_id"),
])
def test_a_link_the_view_does_not_hold_is_refused_naming_the_field(hub: HubService, changes: dict[str, str],
                                                                   field: str) -> None:
    _referral_with_candidates(hub)
    with pytest.raises(InvalidInput) as refused:
        hub.decide_match(REF, _request(**{"record_id": "PAS-1", "confirmed": True, **changes}), actor="pat")
    assert refused.value.problems[0].startswith(f"{field}:"), refused.value.problems
    assert hub.match_decisions(REF) == []
    assert hub.audit_events(referral_id=REF, action="match.*") == []


def test_bad_input_and_unknown_referral(hub: HubService) -> None:
    _referral_with_candidates(hub)
    with pytest.raises(NotFound):
        hub.decide_match("REF-NOPE", _request("PAS-1", True), actor="pat")
    with pytest.raises(NotFound):
        hub.match_decisions("REF-NOPE")
    base = _request("PAS-1", True).model_dump()
    for bad, field in (({**base, "reason": "  "}, "reason"), ({**base, "reason": ""}, "reason"),
                       ({**base, "reason": "x" * 2001}, "reason"), ({**base, "record_id": "PAS\x001"}, "record_id"),
                       ({k: v for k, v in base.items() if k != "confirmed"}, "confirmed")):
        with pytest.raises(InvalidInput) as refused:
            hub.decide_match(REF, bad, actor="pat")
        assert field in str(refused.value)
    with pytest.raises(InvalidInput, match="actor"):
        hub.decide_match(REF, base, actor=" ")
    assert hub.match_decisions(REF) == []


def test_a_decided_referral_still_takes_match_decisions(hub: HubService) -> None:
    _referral_with_candidates(hub)
    hub.record_decision({"decision_id": "D-1", "referral_id": REF, "outcome": "section_17",
                         "rationale": "synthetic", "decided_by": "manager-mo",
                         "decided_at": "2025-06-02T15:00:00+00:00"})
    hub.decide_match(REF, _request("PAS-2", False, reason="found after the decision: another child"), actor="mo")
    assert "F-ED" not in {e.finding_id for e in [*hub.linked_view(REF).chronology, *hub.linked_view(REF).for_review]}


# ---------------------------------------------------------------- the agency's own practitioner confirmed it
def test_an_agency_person_confirmed_match_is_honoured_unless_the_nhs_numbers_conflict(hub: HubService) -> None:
    enquiry = hub.submit_referral(referral_data(REF)).enquiry_for(HEALTH).enquiry_id
    _answer(hub, enquiry,
            people=[_record("h1", "Adah"),                                             # scores a candidate
                    _record("h2", "Ada", nhs=synthetic_nhs_number(777777)),            # another child's NHS no.
                    _record("h3", "Adah")],
            matches=[_claim("h1", "PAS-1", method="manual", confidence=1.0),
                     _claim("h2", "PAS-2", method="manual", confidence=1.0),
                     _claim("h3", "PAS-3", method="manual", confidence=1.0, candidate=True)],
            findings=[_finding("F-CPP", "h1", "PAS-1"), _finding("F-OTHER", "h2", "PAS-2"),
                      _finding("F-UNSURE", "h3", "PAS-3")])
    view = hub.linked_view(REF)
    child = view.person("c1")
    assert child is not None
    [honoured] = child.matches
    assert honoured.source.record_id == "PAS-1" and honoured.decision is MatchDecision.MATCH
    assert honoured.method is MatchMethod.MANUAL and honoured.hub_method is MatchMethod.DEMOGRAPHIC
    assert honoured.hub_confidence < 0.95 and "confirmed_by_agency_person" in honoured.reasons
    assert honoured.decided_by is None  # no hub practitioner decided
    [vetoed] = child.rejected
    assert vetoed.source.record_id == "PAS-2" and "nhs_number_conflict" in vetoed.reasons
    assert "confirmed_by_agency_person" not in vetoed.reasons
    [unsure] = child.candidates  # the agency itself said "not sure": still a person's call here
    assert unsure.source.record_id == "PAS-3"
    assert {e.finding_id for e in view.chronology} == {"F-CPP"}
    assert {e.finding_id for e in view.for_review} == {"F-UNSURE"}

    # A hub practitioner's own decision overrides the agency's either way.
    hub.decide_match(REF, _request("PAS-1", False, reason="agency confirmed the wrong child"), actor="pat")
    hub.decide_match(REF, _request("PAS-2", True, reason="NHS number keyed wrongly at the trust"), actor="pat")
    assert _placed(hub) == ({"F-OTHER"}, {"F-UNSURE"})


def test_an_agency_confirmed_record_claimed_for_two_children_still_needs_a_person(hub: HubService) -> None:
    data = referral_data(REF)
    twin = {**data["subjects"][0], "person_id": "c2", "names": [{"given": ["Adah"], "family": "Testchild"}],
            "identifiers": []}
    data["subjects"].append(twin)
    enquiry = hub.submit_referral(data).enquiry_for(HEALTH).enquiry_id
    _answer(hub, enquiry, people=[_record("h1", "Adah")],
            matches=[_claim("h1", "PAS-1", method="manual", confidence=1.0),
                     {**_claim("h1", "PAS-1", method="manual", confidence=1.0), "subject_person_id": "c2"}],
            findings=[_finding("F-CPP", "h1", "PAS-1")])
    view = hub.linked_view(REF)
    for pid in ("c1", "c2"):
        person = view.person(pid)
        assert person is not None and person.matches == []
        assert "record_matches_several_people" in person.candidates[0].reasons
    assert view.chronology == []


# ---------------------------------------------------------------- HTTP
def test_over_http_a_practitioner_decides_and_others_are_refused(hub: HubService) -> None:
    _referral_with_candidates(hub)
    tokens = Tokens(hub.settings)
    body = {"subject_person_id": "c1", "agency_id": HEALTH, "source_system": PAS, "record_id": "PAS-1",
            "reason": "checked with the health visitor"}
    with serve(build_hub_app(hub)) as client:
        practitioner = tokens(Role.PRACTITIONER, user="pat")
        done = client.post(f"/referrals/{REF}/matches/confirm", json=body, headers=practitioner)
        assert done.status_code == 200, done.text
        assert done.json()["confirmed"] is True and done.json()["by"] == "Test practitioner (pat)"
        view = client.get(f"/referrals/{REF}/linked-view", headers=practitioner).json()
        assert [e["finding_id"] for e in view["chronology"]] == ["F-CPP"]
        assert view["chronology"][0]["match_method"] == "manual"

        forged = client.post(f"/referrals/{REF}/matches/reject", json={**body, "confirmed": True},
                             headers=practitioner)
        assert forged.status_code == 422  # confirmed comes from the route, never the body
        wrong = client.post(f"/referrals/{REF}/matches/reject", json={**body, "record_id": "PAS-404"},
                            headers=practitioner)
        assert wrong.status_code == 422 and wrong.json()["problems"][0].startswith("record_id:")
        missing = client.post("/referrals/REF-NOPE/matches/confirm", json=body, headers=practitioner)
        assert missing.status_code == 404

        ops = client.post(f"/referrals/{REF}/matches/reject", json=body, headers=tokens(Role.OPS))
        assert ops.status_code == 403 and "match.confirm" in ops.json()["detail"]
        elsewhere = client.post(f"/referrals/{REF}/matches/reject", json=body,
                                headers=tokens(Role.PRACTITIONER, user="far", las=["000"]))
        assert elsewhere.status_code == 403

        rejected = client.post(f"/referrals/{REF}/matches/reject", json={**body, "reason": "a cousin"},
                               headers=tokens(Role.MANAGER, user="mo"))
        assert rejected.status_code == 200 and rejected.json()["confirmed"] is False
    assert [(d.confirmed, d.current) for d in hub.match_decisions(REF)] == [(True, False), (False, True)]
    denied = hub.audit_events(referral_id=REF, action="access.denied")
    assert [e.detail["permission"] for e in denied] == ["match.confirm"]  # the out-of-LA attempt


# ---------------------------------------------------------------- CLI
def test_cli_confirms_and_rejects_with_the_shell_user_as_actor(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI opens the configured database (SQLite under a state dir here)."""
    import getpass
    import os

    from mashlink.config.settings import load_settings
    from mashlink.ops.cli import app

    for name in [k for k in os.environ if k.startswith("MASHLINK_")]:
        monkeypatch.delenv(name)
    env = {"MASHLINK_STATE_DIR": str(tmp_path / "cli-state"), "MASHLINK_LOG_LEVEL": "WARNING"}
    service = HubService.open(load_settings(state_dir=env["MASHLINK_STATE_DIR"]))
    try:
        _referral_with_candidates(service)
    finally:
        service.close()
    args = [REF, "--subject", "c1", "--agency", HEALTH, "--system", PAS, "--record", "PAS-1"]

    def run(*extra: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, ["match", *extra], env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    code, out, err = run("confirm", *args, "--reason", "checked with the health visitor")
    assert code == 0, err
    assert "confirmed" in out and f"cli:{getpass.getuser()}" in out
    code, _out, err = run("reject", *args[:-1], "PAS-404", "--reason", "x")
    assert code == 1 and "record_id:" in err
    code, _out, err = run("reject", *args, "--reason", "  ")
    assert code == 2 and "reason" in err
    code, out, err = run("reject", *args, "--reason", "a cousin", "--actor", "mash-manager-2")
    assert code == 0, err

    service = HubService.open(load_settings(state_dir=env["MASHLINK_STATE_DIR"]))
    try:
        assert [(d.confirmed, d.decided_by, d.current) for d in service.match_decisions(REF)] == [
            (True, f"cli:{getpass.getuser()}", False), (False, "mash-manager-2", True)]
        assert "F-CPP" not in {e.finding_id for e in service.linked_view(REF).chronology}
    finally:
        service.close()
