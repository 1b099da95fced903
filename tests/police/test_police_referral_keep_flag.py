"""Keep and flag for referral subjects (issue 18).

A referral an agency connector builds from native data (police CCTN / PPN)
is accepted when a subject's native values are inconsistent: the
contradicted value is left out and ``Referral.issues`` names field and rule.
The strict path (``Referral.model_validate``: the hub's API and form) still
refuses the same data with an error naming the field and the rule.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from mashlink.connectors.police.referrals import CctnReferralBuilder
from mashlink.connectors.police.store import PoleStore
from mashlink.schemas.record import AgencyRecord
from mashlink.schemas.referral import Referral
from tests.hub.hub_support import referral_data


def _dead_before_born() -> dict:
    data = referral_data("REF-KF-1")
    data["subjects"][0]["birth_date"] = {"value": "2015-04-03"}
    data["subjects"][0]["death_date"] = "2012-01-01"
    return data


def test_an_agency_referral_keeps_the_subject_and_flags_the_date() -> None:
    referral = Referral.from_agency(_dead_before_born())
    assert referral.subjects[0].death_date is None                    # the contradicted value is left out
    assert referral.subjects[0].birth_date is not None
    [issue] = referral.issues
    assert (issue.field, issue.rule) == ("subjects[0].death_date", "death_before_birth")
    assert "subjects[0].birth_date" in issue.detail and "2012" not in issue.detail
    # it round-trips (the broker carries it) and stays consistent
    assert Referral.model_validate_json(referral.model_dump_json()) == referral


def test_typed_input_is_refused_naming_field_and_rule() -> None:
    with pytest.raises(ValidationError) as caught:
        Referral.model_validate(_dead_before_born())
    [error] = caught.value.errors()
    assert error["loc"][:3] == ("subjects", 0, "death_date") and error["type"] == "death_before_birth"


def test_other_errors_still_reject_an_agency_referral() -> None:
    data = _dead_before_born()
    del data["source"]
    with pytest.raises(ValidationError) as caught:
        Referral.from_agency(data)
    assert any(e["loc"] == ("source",) for e in caught.value.errors())


def test_cctn_referral_carries_the_childs_kept_and_flagged_issue(example_json) -> None:  # type: ignore[no-untyped-def]
    store = PoleStore.load([example_json])
    builder = CctnReferralBuilder(default_local_authority="999", clock=lambda: datetime(2026, 1, 5, tzinfo=UTC))
    record = next(r for r in store.records if builder.cctn_findings(r))
    data = record.model_dump(mode="json")
    data["person"]["birth_date"] = {"value": "2015-04-03"}
    data["person"]["death_date"] = "2010-02-02"                       # as the force's system holds it
    flagged = AgencyRecord.model_validate(data)
    assert [(i.field, i.rule) for i in flagged.issues] == [("person.death_date", "death_before_birth")]
    referral = builder.build(flagged, builder.cctn_findings(flagged)[0])
    assert referral.subjects[0].person_id == record.person.person_id
    assert referral.subjects[0].death_date is None
    assert [(i.field, i.rule) for i in referral.issues] == [("subjects[0].death_date", "death_before_birth")]
