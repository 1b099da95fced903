"""The "New referral" form over HTTP (no browser): form fields to the canonical referral, and back to fields.

The hub app is served on loopback with a real database; a practitioner signs
in through the development link and posts the form as a browser would.
All names and numbers are synthetic.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from mashlink.config.lawful_basis import LawfulBasisRules
from mashlink.config.settings import load_settings
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from mashlink.ops.web.workspace.new_referral import DEFAULT_BASIS, default_lawful_basis, new_referral_id
from mashlink.schemas.codes import LawfulBasis, Purpose
from tests.hub.api_support import serve
from tests.hub.hub_support import synthetic_nhs_number
from tests.lawful_support import SAFEGUARDING_BASIS

FORM = "/workspace/referrals/new"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubService]:
    service = HubService.open(load_settings(state_dir=str(tmp_path_factory.mktemp("new-referral-form"))))
    yield service
    service.close()


@pytest.fixture(scope="module")
def client(hub: HubService) -> Iterator[httpx.Client]:
    with serve(build_hub_app(hub)) as http:
        yield http


@pytest.fixture
def amy(client: httpx.Client) -> Iterator[httpx.Client]:
    client.cookies.clear()
    response = client.get("/sign-in/dev", params={"role": "practitioner", "user": "amy", "next": FORM})
    assert response.status_code == 303
    yield client
    client.cookies.clear()


def csrf(client: httpx.Client) -> str:
    page = client.get(FORM)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def form(token: str, **extra: Any) -> dict[str, Any]:
    """A complete form for one born child, one household adult and consent not sought."""
    data: dict[str, Any] = {
        "csrf_token": token, "children": "1", "adults": "1", "la": "999", "source": "3E",
        "referrer": "Synthtown General A&E (synthetic)", "rag": "red", "rag-reason": "Unexplained bruising",
        "concerns": ["physical_abuse", "neglect"], "narrative": "Synthetic: toddler with bruising to both arms.",
        "child-1-given": "Eli  Jon", "child-1-family": "Testchild", "child-1-status": "born",
        "child-1-dob-day": "3", "child-1-dob-month": "04", "child-1-dob-year": "2023", "child-1-sex": "male",
        "child-1-nhs": "999 " + synthetic_nhs_number(777)[3:], "child-1-upn": "", "child-1-la-id": "LA-1234",
        "adult-1-given": "Fay", "adult-1-family": "Testparent", "adult-1-relationship": "partner",
        "lawful-basis": list(SAFEGUARDING_BASIS), "purpose": "strategy_discussion",
        "consent": "not_sought", "consent-reason": "Seeking consent could place the child at risk",
        "consent-decided-by": "Amy, MASH social worker", "consent-authorised-by": "Mira, MASH manager",
        "consent-decided-at-day": "1", "consent-decided-at-month": "6", "consent-decided-at-year": "2025",
        "consent-decided-at-time": "09:15", "action": "submit",
    }
    data.update(extra)
    return data


def summary(page: httpx.Response) -> dict[str, str]:
    """The error summary: link target -> text."""
    return {href: html.unescape(text) for href, text in re.findall(r'<li><a href="#([^"]+)">([^<]+)</a></li>', page.text)}


def created_id(response: httpx.Response) -> str:
    assert response.status_code == 303, summary(response) or response.text[:500]
    location = response.headers["location"]
    assert location.endswith("?updated=created")
    return location.split("/workspace/referrals/", 1)[1].split("?")[0]


def test_the_form_becomes_the_canonical_referral(amy: httpx.Client, hub: HubService) -> None:
    referral_id = created_id(amy.post(FORM, data=form(csrf(amy))))
    assert re.fullmatch(r"MASH-\d{8}-[0-9A-F]{6}", referral_id)
    stored = hub.referral(referral_id)
    assert stored.local_authority == "999" and stored.source.value == "3E"
    assert [c.value for c in stored.concerns] == ["physical_abuse", "neglect"]
    assert stored.purpose is Purpose.STRATEGY_DISCUSSION
    assert {b.value for b in stored.lawful_basis} == set(SAFEGUARDING_BASIS)
    (child,) = stored.subjects
    assert child.person_id == "c1" and child.names[0].given == ["Eli", "Jon"] and child.names[0].family == "Testchild"
    assert child.birth_date is not None and child.birth_date.value == date(2023, 4, 3)
    assert not child.birth_date.estimated and child.sex is not None and child.sex.value == "male"
    nhs, la_id = child.identifiers
    assert (nhs.system.value, nhs.value, nhs.check) == ("nhs_number", synthetic_nhs_number(777), "passed")
    assert (la_id.system.value, la_id.value, la_id.scope) == ("la_child_id", "LA-1234", "999")
    (adult,) = stored.household
    assert adult.person_id == "h1" and adult.birth_date is None
    (relationship,) = stored.relationships
    assert (relationship.from_person_id, relationship.to_person_id, relationship.type.value,
            relationship.same_household) == ("h1", "c1", "partner_of_parent", True)
    (rating,) = stored.rag_history
    assert rating.rag.value == "red" and rating.by == "Amy (amy)" and rating.reason == "Unexplained bruising"
    consent = stored.consent
    assert consent.status.value == "not_sought" and consent.decided_by == "Amy, MASH social worker"
    assert consent.decided_at == datetime(2025, 6, 1, 8, 15, tzinfo=timezone.utc)  # 09:15 BST
    assert len(hub.enquiries(referral_id)) == len(hub.settings.enabled_agencies())
    received = hub.audit_events(action="referral.received", referral_id=referral_id)
    assert received and received[-1].actor == "Amy (amy)"


def test_without_the_csrf_token_nothing_is_stored(amy: httpx.Client, hub: HubService) -> None:
    before = len(hub.audit_events(action="referral.received"))
    for token in ("", "not-the-token"):
        refused = amy.post(FORM, data=form(token))
        assert refused.status_code == 400 and "The form has expired" in refused.text
    assert len(hub.audit_events(action="referral.received")) == before


def test_signed_out_the_form_sends_you_to_sign_in(client: httpx.Client) -> None:
    client.cookies.clear()
    response = client.get(FORM)
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in?next=")


def test_add_another_keeps_values_and_adds_a_blank_block(amy: httpx.Client) -> None:
    page = amy.post(FORM, data=form(csrf(amy), action="add-child"))
    assert page.status_code == 200 and not summary(page)
    assert 'id="child-2-given"' in page.text and 'id="child-3-given"' not in page.text
    assert 'name="children" value="2"' in page.text and 'value="Eli  Jon"' in page.text
    page = amy.post(FORM, data=form(csrf(amy), adults="2", action="add-adult"))
    assert 'id="adult-3-given"' in page.text
    # The mother choice lists household members by name.
    assert "Household member 1: Fay Testparent" in page.text


def test_blank_blocks_are_ignored_and_an_unborn_child_needs_her_mother(amy: httpx.Client, hub: HubService) -> None:
    expected = date.today() + timedelta(days=90)
    unborn = {"children": "3", "adults": "2", "child-2-status": "unborn", "child-2-family": "Testchild",
              "child-2-edd-day": str(expected.day), "child-2-edd-month": str(expected.month),
              "child-2-edd-year": str(expected.year), "child-3-status": "born",
              "adult-2-given": "Gia", "adult-2-family": "Testmother", "adult-2-relationship": "mother"}
    page = amy.post(FORM, data=form(csrf(amy), **unborn))
    assert summary(page) == {"child-2-mother": "Child 2: Choose the unborn child's mother from the household"}
    page = amy.post(FORM, data=form(csrf(amy), **unborn, **{"child-2-mother": "3"}))
    assert "child-2-mother" in summary(page) and "household member 3" in summary(page)["child-2-mother"]
    stored = hub.referral(created_id(amy.post(FORM, data=form(csrf(amy), **unborn, **{"child-2-mother": "2"}))))
    assert [p.person_id for p in stored.subjects] == ["c1", "c2"]
    assert stored.subjects[1].unborn and stored.subjects[1].mother_person_id == "h2"
    assert stored.subjects[1].expected_birth_date == expected and stored.subjects[1].birth_date is None
    assert {(r.from_person_id, r.to_person_id) for r in stored.relationships} == {
        ("h1", "c1"), ("h1", "c2"), ("h2", "c1"), ("h2", "c2")}


@pytest.mark.parametrize(("fields", "expected"), [
    ({"child-1-dob-day": "31", "child-1-dob-month": "2"},
     {"child-1-dob-day": "Child 1: Date of birth must be a real date"}),
    ({"child-1-dob-day": "", "child-1-dob-month": ""},
     {"child-1-dob-day": "Child 1: Date of birth must include a day and a month"}),
    ({"child-1-dob-year": "23"}, {"child-1-dob-year": "Child 1: Date of birth: the year must include 4 numbers"}),
    ({"child-1-dob-year": str(date.today().year + 1)},
     {"child-1-dob-day": "Child 1: Date of birth must be in the past"}),
    ({"child-1-dob-day": "", "child-1-dob-month": "", "child-1-dob-year": ""},
     {"child-1-dob-day": "Child 1: Enter the child's date of birth"}),
    ({"child-1-given": "", "child-1-family": ""},
     {"child-1-given": "Child 1: Enter the child's given name or family name"}),
    ({"child-1-nhs": "12345"}, {"child-1-nhs": "Child 1: NHS number must be 10 digits"}),
    ({"child-1-upn": "A12"}, {"child-1-upn": "Child 1: UPN must be 13 characters: a letter, 11 numbers, "
                                            "then a number or a letter"}),
    ({"consent-reason": " ", "consent-authorised-by": ""},
     {"consent-reason": "Enter why consent was not sought: the reason sharing goes ahead without it",
      "consent-authorised-by": "Enter who authorised the decision"}),
    ({"consent-decided-at-time": "25:00"},
     {"consent-decided-at-time": "Enter the time of the decision, for example 14:30"}),
    ({"la": "998"}, {"la": "Choose the local authority the referral is for"}),
    ({"concerns": [], "rag": "purple"}, {"rag": "Choose the RAG rating", "concerns": "Choose at least one concern"}),
    ({"adult-1-relationship": ""},
     {"adult-1-relationship": "Household member 1: Choose how they are related to the children"}),
    ({"referrer": "x" * 201}, {"referrer": "Referred by: must be 200 characters or fewer"}),
    ({"children": "1", "child-1-given": "", "child-1-family": "", "child-1-dob-day": "", "child-1-dob-month": "",
      "child-1-dob-year": "", "child-1-sex": "", "child-1-nhs": "", "child-1-la-id": ""},
     {"child-1-given": "Enter at least one child"}),
])
def test_each_problem_names_its_field_and_keeps_what_was_typed(amy: httpx.Client, fields: dict[str, Any],
                                                                expected: dict[str, str]) -> None:
    page = amy.post(FORM, data=form(csrf(amy), **fields))
    assert page.status_code == 422
    assert summary(page) == expected
    for target in expected:
        group = re.sub(r"-(day|month|year)$", "", target)
        assert f'id="{group}-error"' in page.text, group  # the message beside the field too
    assert 'value="Synthtown General A&amp;E (synthetic)"' in page.text or "referrer" in fields


def test_lawful_basis_refused_by_the_hub_is_shown_at_the_lawful_basis(amy: httpx.Client) -> None:
    page = amy.post(FORM, data=form(csrf(amy), **{"lawful-basis": ["children_act_2004_s11", "uk_gdpr_art6_1_e"]}))
    assert page.status_code == 422
    errors = summary(page)
    assert set(errors) == {"lawful-basis"}
    assert "Enquiries to police need" in errors["lawful-basis"] and "DPA 2018 s35" in errors["lawful-basis"]
    assert 'id="lawful-basis-error"' in page.text
    # What was ticked stays ticked, and only that.
    assert re.search(r'value="uk_gdpr_art6_1_e" checked', page.text)
    assert not re.search(r'value="dpa2018_s35" checked', page.text)


def test_an_nhs_number_failing_its_check_digit_is_warned_then_kept_flagged(amy: httpx.Client,
                                                                          hub: HubService) -> None:
    bad = "9990000001"  # ten digits, no valid check digit exists for 999000000
    page = amy.post(FORM, data=form(csrf(amy), **{"child-1-nhs": bad}))
    assert page.status_code == 422
    assert "does not pass its check digit" in summary(page)["child-1-nhs"]
    assert f'name="child-1-nhs-accepted" value="{bad}"' in page.text
    # Changed to another failing number: warned again.
    page = amy.post(FORM, data=form(csrf(amy), **{"child-1-nhs": "9990000002", "child-1-nhs-accepted": bad}))
    assert "child-1-nhs" in summary(page)
    stored = hub.referral(created_id(amy.post(FORM, data=form(csrf(amy), **{
        "child-1-nhs": bad, "child-1-nhs-accepted": bad}))))
    nhs = stored.subjects[0].identifiers[0]
    assert (nhs.value, nhs.check, nhs.trusted) == (bad, "failed", False)


def test_the_empty_form_offers_the_principal_s_scope_and_the_default_basis(amy: httpx.Client,
                                                                            hub: HubService) -> None:
    page = amy.get(FORM)
    assert '<option value="999" selected>' in page.text and '<option value="998"' not in page.text
    for code in default_lawful_basis(hub.settings):
        assert f'value="{code.value}" checked' in page.text
    assert "Content-Security-Policy" in page.headers and ' style="' not in page.text
    assert page.headers["cache-control"] == "no-store"


def test_the_default_basis_is_the_documented_one_and_follows_the_rules(hub: HubService) -> None:
    assert [b.value for b in DEFAULT_BASIS] == SAFEGUARDING_BASIS
    assert set(default_lawful_basis(hub.settings)) == set(DEFAULT_BASIS)
    rules = LawfulBasisRules.model_validate({"purposes": {"mash_screening": [
        {"rule": "local_agreement", "need": "the local agreement's gateway", "any_of": ["children_act_2004_s10"]}]}})
    stricter = hub.settings.model_copy(update={"lawful_basis_rules": rules})
    assert LawfulBasis.CHILDREN_ACT_2004_S10 in default_lawful_basis(stricter)


def test_referral_ids_carry_the_uk_date() -> None:
    assert new_referral_id(datetime(2025, 6, 30, 23, 30, tzinfo=timezone.utc)).startswith("MASH-20250701-")
