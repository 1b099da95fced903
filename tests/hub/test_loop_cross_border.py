"""A child whose local authority this hub does not serve is accepted, flagged for transfer, and transferred."""

from __future__ import annotations

import pytest

from mashlink.broker.messages import Verdict
from mashlink.config.security import Role
from mashlink.hub.errors import InvalidInput
from mashlink.hub.models import ReferralRow
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.schemas.decision import Outcome
from mashlink.schemas.envelope import MessageType
from tests.hub.api_support import Tokens, serve
from tests.hub.hub_support import referral_data
from tests.hub.loop_support import decide, delivery


def cross_border(referral_id: str = "REF-XB", la: str = "888") -> dict:
    return {**referral_data(referral_id), "local_authority": la}


def test_a_cross_border_referral_is_accepted_worked_here_and_flagged_for_transfer(hub: HubService) -> None:
    result = hub.submit_referral(cross_border())
    assert result.enquiries  # enquiries went out as for any referral
    with hub.factory() as session:
        row = session.get(ReferralRow, "REF-XB")
        assert row is not None and row.local_authority == hub.settings.local_authority.code
        assert row.transfer_to == "888"
    assert hub.referral("REF-XB").local_authority == "888"  # the referral itself is unchanged
    [audited] = hub.audit_events(action="referral.cross_border")
    assert audited.detail == {"home_local_authority": "888", "receiving_local_authority": "999",
                              "contact_configured": True}
    transfer = hub.referral_loop("REF-XB").transfer
    assert transfer is not None and transfer.configured and transfer.name == "Elsewhere Borough Council (synthetic)"
    assert transfer.secure_mailbox == "mash@elsewhere-secure.example" and transfer.phone == "01632 960111"
    assert hub.loop_flags(["REF-XB"])["REF-XB"].transfer_to == "888"
    assert hub.loop_counts().referrals_for_transfer == 1


def test_the_transfer_outcome_carries_the_other_las_contact_details(hub: HubService) -> None:
    outcomes = decide(hub, "REF-XB", outcome="transfer", local_authority="888")
    for row in outcomes.values():
        outcome = Outcome.model_validate(row.body)
        assert outcome.outcome.value == "transfer"
        assert "Elsewhere Borough Council (synthetic) (888)" in outcome.summary
        assert "mash@elsewhere-secure.example" in outcome.summary and "01632 960111" in outcome.summary
    [recorded] = hub.audit_events(action="decision.recorded")
    assert recorded.detail["transfer_to"] == "888"
    assert hub.loop_counts().referrals_for_transfer == 0  # decided


def test_an_unlisted_authority_is_still_accepted_and_says_its_contact_is_missing(hub: HubService) -> None:
    outcomes = decide(hub, "REF-XU", outcome="transfer", local_authority="777")
    transfer = hub.referral_loop("REF-XU").transfer
    assert transfer is not None and not transfer.configured and transfer.to_local_authority == "777"
    summary = Outcome.model_validate(outcomes["referrer"].body).summary
    assert "no contact details configured (other_local_authorities)" in summary


def test_a_transfer_needs_a_cross_border_child(hub: HubService) -> None:
    hub.submit_referral(referral_data())
    with pytest.raises(InvalidInput, match="outcome: transfer"):
        decide(hub, outcome="transfer", submit=False)


def test_an_agency_referral_for_a_cross_border_child_is_accepted(hub: HubService) -> None:
    body = {**cross_border("REF-CCTN-XB"), "source": "6", "referrer": "Synthshire Police (synthetic)"}
    [result] = hub.handle_events([delivery("m-xb", MessageType.REFERRAL, body, sender="police-synth",
                                           correlation_id="REF-CCTN-XB")])
    assert result.verdict is Verdict.ACK
    assert hub.referral_loop("REF-CCTN-XB").transfer is not None


def test_a_practitioner_creates_a_cross_border_referral_over_the_api(hub: HubService) -> None:
    tokens = Tokens(hub.settings)
    with serve(build_hub_app(hub)) as client:
        created = client.post("/referrals", json=cross_border("REF-API-XB"), headers=tokens(Role.PRACTITIONER))
        assert created.status_code == 201, created.text
        receipts = client.get("/referrals/REF-API-XB/receipts", headers=tokens(Role.PRACTITIONER))
        assert receipts.status_code == 200
        assert receipts.json()["transfer"]["to_local_authority"] == "888"
        assert receipts.json()["decision_deadline"]["state"] in ("on_time", "at_risk", "overdue")
