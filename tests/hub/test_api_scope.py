"""Local-authority scope, break-glass, per-viewer release and the record of reads, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from tests.hub.api_support import Tokens, serve
from tests.hub.hub_support import referral_data
from tests.hub.test_hub_service import _response


@pytest.fixture
def api(hub: HubService) -> Iterator[httpx.Client]:
    with serve(build_hub_app(hub)) as client:
        yield client


@pytest.fixture
def tokens(hub: HubService) -> Tokens:
    return Tokens(hub.settings)


def _answered(hub: HubService, referral_id: str = "REF-0001") -> None:
    """A referral with police and education findings about the child."""
    sent = hub.submit_referral(referral_data(referral_id))
    for agency in ("police-synth", "education-synth"):
        verdicts = hub.handle_responses([_response(sent.enquiry_for(agency).enquiry_id, agency,
                                                   status="information_found", findings=True,
                                                   referral_id=referral_id)])
        assert verdicts[0].verdict.value == "ack", verdicts


def _audit(api: httpx.Client, tokens: Tokens, **params: str) -> list[dict]:
    response = api.get("/audit", params={"limit": 1000, **params}, headers=tokens("auditor"))
    assert response.status_code == 200, response.text
    return response.json()


def test_practitioner_outside_their_la_is_refused_and_the_attempt_audited(api: httpx.Client, tokens: Tokens,
                                                                          hub: HubService) -> None:
    hub.submit_referral(referral_data("REF-LA"))
    elsewhere = tokens("practitioner", user="bo", las=["998"])
    for path in ("/referrals/REF-LA", "/referrals/REF-LA/linked-view"):
        response = api.get(path, headers=elsewhere)
        assert response.status_code == 403, response.text
        assert "X-Break-Glass-Reason" in response.json()["detail"]
        assert "Testchild" not in response.text
    denied = _audit(api, tokens, action="access.denied", referral_id="REF-LA")
    assert [e["actor"] for e in denied] == ["Test practitioner (bo)"] * 2
    assert denied[0]["detail"]["permission"] == "referral.read"
    # Nor may they create a referral for an LA they do not work for.
    data = referral_data("REF-LA-NEW")
    assert api.post("/referrals", json=data, headers=elsewhere).status_code == 403
    assert api.get("/referrals/REF-LA-NEW", headers=tokens("practitioner")).status_code == 404


def test_break_glass_opens_with_a_reason_flagged_and_listed_for_the_auditor(api: httpx.Client, tokens: Tokens,
                                                                            hub: HubService) -> None:
    _answered(hub, "REF-BG")
    headers = {**tokens("practitioner", user="bo", las=["998"]),
               "X-Break-Glass-Reason": "Out-of-hours cover for Synthshire; child at A&E now"}
    view = api.get("/referrals/REF-BG/linked-view", headers=headers)
    assert view.status_code == 200, view.text
    assert view.json()["for_review"], "break-glass shows the picture"
    opened = _audit(api, tokens, action="access.break_glass")
    assert len(opened) == 1
    assert opened[0]["actor"] == "Test practitioner (bo)" and opened[0]["referral_id"] == "REF-BG"
    assert opened[0]["reason"] == "Out-of-hours cover for Synthshire; child at A&E now"
    reads = [e for e in _audit(api, tokens, action="record.read", referral_id="REF-BG")
             if e["actor"] == "Test practitioner (bo)"]
    assert reads and reads[0]["detail"]["break_glass"] is True
    # Blank reasons do not open it; ops and auditors cannot break glass at all.
    blank = {**tokens("practitioner", las=["998"]), "X-Break-Glass-Reason": "-"}
    assert api.get("/referrals/REF-BG/linked-view", headers=blank).status_code == 403
    for role in ("ops", "auditor"):
        response = api.get("/referrals/REF-BG/linked-view",
                           headers={**tokens(role), "X-Break-Glass-Reason": "curious"})
        assert response.status_code == 403


def test_each_viewer_sees_what_policy_releases(api: httpx.Client, tokens: Tokens, hub: HubService) -> None:
    _answered(hub, "REF-REL")
    mash = api.get("/referrals/REF-REL/linked-view", headers=tokens("practitioner")).json()
    assert {e["agency_id"] for e in mash["chronology"] + mash["for_review"]} == {"police-synth", "education-synth"}

    school = api.get("/referrals/REF-REL/linked-view", headers=tokens("agency_liaison", agency="education-synth"))
    assert school.status_code == 200, school.text
    view = school.json()
    assert {e["agency_id"] for e in view["chronology"] + view["for_review"]} == {"education-synth"}
    assert [a["agency_id"] for a in view["agencies"]] == ["education-synth"]
    child = view["subjects"][0]["person"]
    systems = {i["system"] for i in child["identifiers"]}
    assert "nhs_number" not in systems and systems <= {"upn", "school_urn"}
    assert child.get("contacts") in (None, [])
    assert "police" not in school.text

    # A liaison of an agency the referral never asked sees nothing of it.
    hub.submit_referral(referral_data("REF-NOT-ASKED"), agencies=["police-synth"])
    other = api.get("/referrals/REF-NOT-ASKED/linked-view", headers=tokens("agency_liaison", agency="education-synth"))
    assert other.status_code == 403

    status = api.get("/referrals/REF-REL", headers=tokens("agency_liaison", agency="education-synth")).json()
    assert [e["agency_id"] for e in status["enquiries"]] == ["education-synth"]


def test_every_read_is_audited_and_listed_in_the_owning_agencys_disclosure_log(api: httpx.Client, tokens: Tokens,
                                                                              hub: HubService) -> None:
    _answered(hub, "REF-DISC")
    api.get("/referrals/REF-DISC/linked-view", headers=tokens("practitioner", user="amy"))
    api.get("/referrals/REF-DISC/linked-view", headers=tokens("agency_liaison", user="lee", agency="education-synth"))
    reads = _audit(api, tokens, action="record.read", referral_id="REF-DISC")
    by_actor = {e["actor"]: e["detail"] for e in reads}
    assert sorted(by_actor["Test practitioner (amy)"]["agencies_shown"]) == ["education-synth", "police-synth"]
    assert by_actor["Test agency_liaison (lee)"]["agencies_shown"] == ["education-synth"]
    assert by_actor["Test practitioner (amy)"]["role"] == "practitioner"

    police_log = api.get("/disclosures", params={"agency": "police-synth"}, headers=tokens("auditor"))
    assert police_log.status_code == 200, police_log.text
    viewers = [(d["what"], d["role"]) for d in police_log.json() if d["referral_id"] == "REF-DISC"]
    assert ("linked_view", "practitioner") in viewers
    assert all(role != "agency_liaison" for _what, role in viewers), "the school liaison saw no police record"
    # A liaison reads its own agency's log, not another's.
    liaison = tokens("agency_liaison", agency="education-synth")
    assert api.get("/disclosures", params={"agency": "education-synth"}, headers=liaison).status_code == 200
    assert api.get("/disclosures", params={"agency": "police-synth"}, headers=liaison).status_code == 403


def test_decision_and_referral_record_the_signed_in_actor(api: httpx.Client, tokens: Tokens, hub: HubService) -> None:
    created = api.post("/referrals", json=referral_data("REF-ACT"), headers=tokens("practitioner", user="amy"))
    assert created.status_code == 201
    decided = api.post("/referrals/REF-ACT/decision", headers=tokens("manager", user="mira"),
                       json={"outcome": "early_help", "rationale": "Synthetic rationale"})
    assert decided.status_code == 200, decided.text
    spoof = api.post("/referrals/REF-ACT/decision", headers=tokens("manager"),
                     json={"outcome": "early_help", "rationale": "x", "decided_by": "someone else"})
    assert spoof.status_code == 422 and "decided_by" in spoof.text
    events = {e["action"]: e["actor"] for e in _audit(api, tokens, referral_id="REF-ACT")}
    assert events["referral.received"] == "Test practitioner (amy)"
    assert events["decision.recorded"] == "Test manager (mira)"
    status = api.get("/referrals/REF-ACT", headers=tokens("manager")).json()
    assert status["decision"]["decided_by"] == "Test manager (mira)"
    # A practitioner may not decide.
    assert api.post("/referrals/REF-ACT/decision", headers=tokens("practitioner"),
                    json={"outcome": "early_help", "rationale": "x"}).status_code == 403


def test_bounded_inputs_answer_problems_not_500(api: httpx.Client, tokens: Tokens) -> None:
    auditor = tokens("auditor")
    huge = api.get("/audit", params={"after_sequence": "99999999999999999999"}, headers=auditor)
    assert huge.status_code == 422 and "after_sequence" in huge.text
    assert api.get("/audit", params={"limit": 0}, headers=auditor).status_code == 422
    body = b'{"x": "' + b"a" * 2_100_000 + b'"}'
    too_big = api.post("/referrals", content=body, headers={**tokens("practitioner"),
                                                             "Content-Type": "application/json"})
    assert too_big.status_code == 413 and too_big.json()["status"] == 413
    weird = api.get("/referrals/%20bad%20id", headers=tokens("practitioner"))
    assert weird.status_code == 422
    assert api.get("/no-such-route", headers=auditor).headers["content-type"].startswith("application/problem+json")


def test_an_insufficient_lawful_basis_is_refused_naming_what_is_missing(api: httpx.Client, tokens: Tokens,
                                                                       hub: HubService) -> None:
    data = referral_data("REF-BASIS")
    data["lawful_basis"] = ["children_act_1989_s47", "uk_gdpr_art6_1_e"]  # no special-category condition
    refused = api.post("/referrals", json=data, headers=tokens("practitioner"))
    assert refused.status_code == 422, refused.text
    problems = "\n".join(refused.json()["problems"])
    assert "lawful_basis" in problems and "health" in problems and "police" in problems
    assert "dpa2018_sch1_para18" in problems
    assert api.get("/referrals/REF-BASIS", headers=tokens("practitioner")).status_code == 404
    # With the conditions it named, the same referral goes out, and its purpose travels with each enquiry.
    data["lawful_basis"] = referral_data("X")["lawful_basis"]
    accepted = api.post("/referrals", json=data, headers=tokens("practitioner"))
    assert accepted.status_code == 201, accepted.text
    assert {e.purpose for e in hub.enquiries("REF-BASIS")} == {hub.referral("REF-BASIS").purpose}


def test_break_glass_opens_for_reading_only_never_for_changes(api: httpx.Client, tokens: Tokens,
                                                              hub: HubService) -> None:
    hub.submit_referral(referral_data("REF-BG-WRITE"))
    elsewhere = {**tokens("manager", user="max", las=["998"]),
                 "X-Break-Glass-Reason": "Out-of-hours cover, reading the history"}
    for path, body in (("/referrals/REF-BG-WRITE/rerate", {"rag": "green", "reason": "x"}),
                       ("/referrals/REF-BG-WRITE/decision", {"outcome": "nfa_advice", "rationale": "x"})):
        assert api.post(path, json=body, headers=elsewhere).status_code == 403, path
    assert hub.referral_status("REF-BG-WRITE").rag.value == "amber"
    assert api.get("/referrals/REF-BG-WRITE", headers=elsewhere).status_code == 200  # reading is allowed


def test_agencies_see_when_the_rating_changed_not_who_or_why(api: httpx.Client, tokens: Tokens,
                                                            hub: HubService) -> None:
    hub.submit_referral(referral_data("REF-WHY"))
    api.post("/referrals/REF-WHY/rerate", json={"rag": "red", "reason": "Mother disclosed abuse by a partner"},
             headers=tokens("manager", user="mira"))
    liaison = api.get("/referrals/REF-WHY", headers=tokens("agency_liaison", agency="education-synth")).json()
    assert [c["rag"] for c in liaison["rag_history"]][-1] == "red"
    assert all(c["by"] == "MASH" and c["reason"] == "" for c in liaison["rag_history"])
    assert "disclosed" not in str(liaison) and "mira" not in str(liaison)
    mash = api.get("/referrals/REF-WHY", headers=tokens("practitioner")).json()
    assert mash["rag_history"][-1]["reason"] == "Mother disclosed abuse by a partner"


def test_a_second_role_does_not_widen_what_the_first_one_lets_a_viewer_see(api: httpx.Client, tokens: Tokens,
                                                                          hub: HubService) -> None:
    _answered(hub, "REF-TWO-ROLES")
    both = tokens("practitioner", "agency_liaison", las=["998"], agency="education-synth")
    view = api.get("/referrals/REF-TWO-ROLES/linked-view", headers=both).json()
    assert {e["agency_id"] for e in view["chronology"] + view["for_review"]} == {"education-synth"}


def test_an_agency_cannot_search_by_an_identifier_its_policy_withholds(hub: HubService) -> None:
    from mashlink.config.security import Role
    from mashlink.hub.access import AccessService
    from mashlink.hub.auth.principal import Principal
    from mashlink.hub.worklist import WorklistFilter
    from tests.hub.hub_support import synthetic_nhs_number

    hub.submit_referral(referral_data("REF-PROBE"))
    school = Principal(subject="lee", kind="person", roles=frozenset({Role.AGENCY_LIAISON}),
                       agency_id="education-synth", issuer="test")
    access = AccessService(hub)
    assert access.worklist(school, WorklistFilter(text=synthetic_nhs_number(123456))) == []
    assert [r.referral_id for r in access.worklist(school, WorklistFilter(text="A123456789012"))] == ["REF-PROBE"]
    listed = hub.audit_events(action="record.listed")
    assert listed[-1].detail["referral_ids"] == ["REF-PROBE"] and listed[-1].detail["searched"] is True


def test_the_rating_history_names_the_signed_in_submitter(api: httpx.Client, tokens: Tokens,
                                                          hub: HubService) -> None:
    data = referral_data("REF-WHO-RATED")
    data["rag_history"][0]["by"] = "someone else entirely"
    assert api.post("/referrals", json=data, headers=tokens("practitioner", user="amy")).status_code == 201
    assert [c.by for c in hub.referral_status("REF-WHO-RATED").rag_history] == ["Test practitioner (amy)"]
